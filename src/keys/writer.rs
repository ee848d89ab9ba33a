//! The writer secrets: what the file server needs to add data without any
//! executive — the dedup key (chunk ids are HMACs under it), the FastCDC gear seed
//! (hides chunk boundaries) and the Ed25519 snapshot signing key.
//!
//! None of these decrypts anything. They live in `<store>/keys/writer.secret`
//! (mode 0600) because an unattended writer has no password to protect them with,
//! and a copy sits inside the recovery bundle's sealed secret so a recovery machine
//! keeps deduplicating against the same store.
//!
//! File layout: magic `BCPVWS` (6) ‖ version 1 ‖ 0 ‖ vault id (16) ‖ dedup key (32) ‖
//! gear seed (8, BE) ‖ signing key seed (32) ‖ SHA-256 of the preceding bytes (32).

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::KeysError;
use super::bundle::Reader;
use crate::crypto::{SecretBytes, SecretKey32, WriterSigningKey};

const MAGIC: &[u8; 6] = b"BCPVWS";
/// Length of the secret part (dedup key, gear seed, signing seed).
const SECRET_LEN: usize = 32 + 8 + 32;

/// The writer-side secrets of one vault.
pub struct WriterSecrets {
    /// Vault these secrets belong to.
    pub vault_id: [u8; 16],
    /// HMAC-SHA256 key naming chunks.
    pub dedup_key: SecretKey32,
    /// FastCDC gear seed.
    pub gear_seed: u64,
    /// Ed25519 key signing snapshots.
    pub signing: WriterSigningKey,
}

impl std::fmt::Debug for WriterSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterSecrets")
            .field("vault_id", &hex::encode(self.vault_id))
            .finish_non_exhaustive()
    }
}

impl WriterSecrets {
    /// Fresh random secrets for a new vault.
    pub fn generate(vault_id: [u8; 16]) -> WriterSecrets {
        WriterSecrets {
            vault_id,
            dedup_key: SecretKey32::random(),
            gear_seed: u64::from_be_bytes(crate::crypto::random_bytes()),
            signing: WriterSigningKey::generate(),
        }
    }

    /// The 72 secret bytes (dedup key ‖ gear seed ‖ signing seed).
    pub(crate) fn encode_secret(&self) -> SecretBytes {
        let mut out = Vec::with_capacity(SECRET_LEN);
        out.extend_from_slice(self.dedup_key.expose());
        out.extend_from_slice(&self.gear_seed.to_be_bytes());
        out.extend_from_slice(self.signing.to_secret().expose());
        SecretBytes::new(out)
    }

    /// Inverse of [`Self::encode_secret`].
    pub(crate) fn decode_secret(
        bytes: &[u8],
        vault_id: [u8; 16],
    ) -> Result<WriterSecrets, KeysError> {
        if bytes.len() != SECRET_LEN {
            return Err(KeysError::malformed(
                "writer secrets",
                format!("expected {SECRET_LEN} bytes, found {}", bytes.len()),
            ));
        }
        let dedup: Zeroizing<[u8; 32]> = Zeroizing::new(bytes[..32].try_into().unwrap_or([0; 32]));
        let seed: [u8; 8] = bytes[32..40].try_into().unwrap_or([0; 8]);
        let signing: Zeroizing<[u8; 32]> =
            Zeroizing::new(bytes[40..72].try_into().unwrap_or([0; 32]));
        Ok(WriterSecrets {
            vault_id,
            dedup_key: SecretKey32::from_bytes(&dedup),
            gear_seed: u64::from_be_bytes(seed),
            signing: WriterSigningKey::from_secret(&SecretKey32::from_bytes(&signing)),
        })
    }

    /// The `writer.secret` file bytes.
    pub fn to_file_bytes(&self) -> SecretBytes {
        let mut out = Vec::with_capacity(8 + 16 + SECRET_LEN + 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&self.vault_id);
        out.extend_from_slice(self.encode_secret().expose());
        let sum: [u8; 32] = Sha256::digest(&out).into();
        out.extend_from_slice(&sum);
        SecretBytes::new(out)
    }

    /// Parses a `writer.secret` file; `what` names it in errors.
    pub fn from_file_bytes(bytes: &[u8], what: &str) -> Result<WriterSecrets, KeysError> {
        let expected = 8 + 16 + SECRET_LEN + 32;
        if bytes.len() != expected || !bytes.starts_with(MAGIC) {
            return Err(KeysError::malformed(
                what,
                format!(
                    "not a writer secret file (expected {expected} bytes starting with BCPVWS)"
                ),
            ));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(body).as_slice() != sum {
            return Err(KeysError::malformed(
                what,
                "checksum mismatch: the file is damaged",
            ));
        }
        let mut r = Reader::new(body, what);
        if r.take(8)?[6..] != [1, 0] {
            return Err(KeysError::malformed(
                what,
                "version 1 with reserved byte 0 expected after the magic",
            ));
        }
        let vault_id: [u8; 16] = r.array()?;
        Self::decode_secret(r.take(SECRET_LEN)?, vault_id)
    }
}
