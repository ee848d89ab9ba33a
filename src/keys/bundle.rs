//! The recovery bundle: everything needed to rebuild the vault's private key from a
//! quorum of executive passwords, and nothing that works without them.
//!
//! Byte layout (all integers big-endian; see docs/format.md §7):
//!
//! | field | size |
//! |---|---|
//! | magic `BCPVRB` | 6 |
//! | version = 1 | 1 |
//! | reserved = 0 | 1 |
//! | vault id | 16 |
//! | generation (1 at init, +1 per rekey) | 4 |
//! | created, Unix seconds | 8 |
//! | vault name length, name (UTF-8) | 1 + n |
//! | threshold m | 1 |
//! | share count n | 1 |
//! | public key length, SPKI DER | 2 + n |
//! | writer verifying key (Ed25519) | 32 |
//! | sealed secret length, nonce (12) ‖ AES-256-GCM(KEK) ciphertext ‖ tag | 4 + n |
//! | n × share: name length, name, index, sealed length, password box | 1+n+1+2+n |
//! | SHA-256 of all preceding bytes | 32 |
//!
//! The sealed secret's associated data is `bcpvault/v1/recovery-secret` ‖ vault id ‖
//! generation; its plaintext is [`SecretPayload`]. Each share's password box (Argon2id,
//! see docs/format.md §4) has associated data `bcpvault/v1/share` ‖ vault id ‖
//! generation ‖ index ‖ name and holds vault id ‖ generation ‖ Shamir share.

use sha2::{Digest, Sha256};

use super::KeysError;
use super::writer::WriterSecrets;
use crate::crypto::{
    SecretBytes, SecretKey32, VaultPrivateKey, VaultPublicKey, WriterVerifyingKey,
};

const MAGIC: &[u8; 6] = b"BCPVRB";
const VERSION: u8 = 1;
const SECRET_AAD: &[u8] = b"bcpvault/v1/recovery-secret";
const SHARE_AAD: &[u8] = b"bcpvault/v1/share";

/// One executive's sealed share inside the bundle.
#[derive(Clone, PartialEq, Eq)]
pub struct ExecutiveShare {
    /// Executive name (the login name they type at unlock).
    pub name: String,
    /// Shamir x coordinate of the share (1..=n).
    pub index: u8,
    /// Argon2id password box holding vault id ‖ generation ‖ share bytes.
    pub sealed: Vec<u8>,
}

/// The recovery bundle (public header, encrypted private key, sealed shares).
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryBundle {
    /// Random vault identity, fixed at the ceremony.
    pub vault_id: [u8; 16],
    /// Key generation: 1 at init, incremented by each rekey.
    pub generation: u32,
    /// Creation time of this generation, Unix seconds.
    pub created: u64,
    /// Vault (profile) name.
    pub vault_name: String,
    /// Number of shares needed to unlock.
    pub threshold: u8,
    /// Vault public key, SubjectPublicKeyInfo DER.
    pub public_key_der: Vec<u8>,
    /// Public half of the writer's snapshot signing key.
    pub writer_verifying_key: [u8; 32],
    /// nonce ‖ AES-256-GCM(KEK, [`SecretPayload`]).
    pub sealed_secret: Vec<u8>,
    /// One sealed share per executive.
    pub shares: Vec<ExecutiveShare>,
}

impl std::fmt::Debug for RecoveryBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryBundle")
            .field("vault_id", &hex::encode(self.vault_id))
            .field("vault_name", &self.vault_name)
            .field("generation", &self.generation)
            .field("threshold", &self.threshold)
            .field("executives", &self.executive_names())
            .finish_non_exhaustive()
    }
}

/// What the KEK protects: the private key and the writer secrets, so a recovery
/// machine can both read old data and keep writing with the same dedup key.
pub struct SecretPayload {
    /// The vault's RSA private key.
    pub private_key: VaultPrivateKey,
    /// Dedup key, chunker seed and snapshot signing key.
    pub writer: WriterSecrets,
}

impl SecretPayload {
    /// Plaintext layout: DER length (u16) ‖ PKCS#8 DER ‖ writer secrets (72 bytes).
    fn encode(&self) -> SecretBytes {
        let der = self.private_key.to_pkcs8_der();
        let writer = self.writer.encode_secret();
        let mut out = Vec::with_capacity(2 + der.expose().len() + writer.expose().len());
        out.extend_from_slice(&(der.expose().len() as u16).to_be_bytes());
        out.extend_from_slice(der.expose());
        out.extend_from_slice(writer.expose());
        SecretBytes::new(out)
    }

    fn decode(bytes: &[u8], vault_id: [u8; 16]) -> Result<SecretPayload, KeysError> {
        let bad = || KeysError::SharesDoNotCombine;
        let len = u16::from_be_bytes(
            bytes
                .get(..2)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        ) as usize;
        let der = bytes.get(2..2 + len).ok_or_else(bad)?;
        let private_key = VaultPrivateKey::from_pkcs8_der(der).map_err(|_| bad())?;
        let writer = WriterSecrets::decode_secret(bytes.get(2 + len..).ok_or_else(bad)?, vault_id)?;
        Ok(SecretPayload {
            private_key,
            writer,
        })
    }
}

impl RecoveryBundle {
    /// Names of the executives holding shares, in share order.
    pub fn executive_names(&self) -> Vec<String> {
        self.shares.iter().map(|s| s.name.clone()).collect()
    }

    /// The vault public key.
    pub fn public_key(&self) -> Result<VaultPublicKey, KeysError> {
        Ok(VaultPublicKey::from_der(&self.public_key_der)?)
    }

    /// The writer's snapshot verifying key.
    pub fn writer_verifying_key(&self) -> Result<WriterVerifyingKey, KeysError> {
        Ok(WriterVerifyingKey::from_bytes(&self.writer_verifying_key)?)
    }

    /// SHA-256 of the public key DER, as shown at the ceremony.
    pub fn fingerprint(&self) -> [u8; 32] {
        Sha256::digest(&self.public_key_der).into()
    }

    /// Associated data of the sealed secret.
    pub(crate) fn secret_aad(&self) -> Vec<u8> {
        [SECRET_AAD, &self.vault_id, &self.generation.to_be_bytes()].concat()
    }

    /// Associated data of one executive's share box.
    pub(crate) fn share_aad(&self, index: u8, name: &str) -> Vec<u8> {
        [
            SHARE_AAD,
            &self.vault_id,
            &self.generation.to_be_bytes(),
            &[index],
            name.as_bytes(),
        ]
        .concat()
    }

    /// Encrypts the payload under the KEK into `sealed_secret`.
    pub(crate) fn seal_secret(&mut self, kek: &SecretKey32, payload: &SecretPayload) {
        let nonce: [u8; 12] = crate::crypto::random_bytes();
        let ct =
            crate::crypto::aead::seal(kek, &nonce, &self.secret_aad(), payload.encode().expose());
        self.sealed_secret = [&nonce[..], &ct].concat();
    }

    /// Decrypts `sealed_secret` with a (combined) KEK.
    pub(crate) fn open_secret(&self, kek: &SecretKey32) -> Result<SecretPayload, KeysError> {
        if self.sealed_secret.len() < 12 {
            return Err(KeysError::SharesDoNotCombine);
        }
        let (nonce, ct) = self.sealed_secret.split_at(12);
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| KeysError::SharesDoNotCombine)?;
        let plain = crate::crypto::aead::open(kek, &nonce, &self.secret_aad(), ct)
            .map_err(|_| KeysError::SharesDoNotCombine)?;
        SecretPayload::decode(plain.expose(), self.vault_id)
    }

    /// Serialises the bundle (layout in the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[VERSION, 0]);
        out.extend_from_slice(&self.vault_id);
        out.extend_from_slice(&self.generation.to_be_bytes());
        out.extend_from_slice(&self.created.to_be_bytes());
        put_short(&mut out, self.vault_name.as_bytes());
        out.push(self.threshold);
        out.push(self.shares.len() as u8);
        out.extend_from_slice(&(self.public_key_der.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.public_key_der);
        out.extend_from_slice(&self.writer_verifying_key);
        out.extend_from_slice(&(self.sealed_secret.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.sealed_secret);
        for share in &self.shares {
            put_short(&mut out, share.name.as_bytes());
            out.push(share.index);
            out.extend_from_slice(&(share.sealed.len() as u16).to_be_bytes());
            out.extend_from_slice(&share.sealed);
        }
        let sum: [u8; 32] = Sha256::digest(&out).into();
        out.extend_from_slice(&sum);
        out
    }

    /// Parses and checks a bundle; `what` names the source in errors.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<RecoveryBundle, KeysError> {
        let bad = |problem: String| KeysError::malformed(what, problem);
        if bytes.len() < 32 + MAGIC.len() + 2 {
            return Err(bad(format!(
                "too short ({} bytes) to be a recovery bundle",
                bytes.len()
            )));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        if !bytes.starts_with(MAGIC) {
            return Err(bad("not a recovery bundle (magic BCPVRB missing)".into()));
        }
        if Sha256::digest(body).as_slice() != sum {
            return Err(bad(
                "checksum mismatch: the bundle is damaged or was altered".into(),
            ));
        }
        let mut r = Reader::new(body, what);
        r.take(6)?;
        let version = r.u8()?;
        if version != VERSION {
            return Err(bad(format!(
                "version {version} is not supported (expected {VERSION})"
            )));
        }
        if r.u8()? != 0 {
            return Err(bad("reserved byte 7 must be 0".into()));
        }
        let vault_id: [u8; 16] = r.array()?;
        let generation = r.u32()?;
        let created = r.u64()?;
        let vault_name = r.short_string()?;
        let threshold = r.u8()?;
        let count = r.u8()?;
        let pk_len = r.u16()? as usize;
        let public_key_der = r.take(pk_len)?.to_vec();
        let writer_verifying_key: [u8; 32] = r.array()?;
        let secret_len = r.u32()? as usize;
        let sealed_secret = r.take(secret_len)?.to_vec();
        let mut shares = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let name = r.short_string()?;
            let index = r.u8()?;
            let len = r.u16()? as usize;
            let sealed = r.take(len)?.to_vec();
            shares.push(ExecutiveShare {
                name,
                index,
                sealed,
            });
        }
        if r.remaining() != 0 {
            return Err(bad(format!(
                "{} unexpected bytes after the last share",
                r.remaining()
            )));
        }
        if threshold == 0 || threshold > count {
            return Err(bad(format!(
                "threshold {threshold} does not fit {count} shares"
            )));
        }
        Ok(RecoveryBundle {
            vault_id,
            generation,
            created,
            vault_name,
            threshold,
            public_key_der,
            writer_verifying_key,
            sealed_secret,
            shares,
        })
    }
}

fn put_short(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

/// Bounds-checked big-endian reader whose errors carry the offset.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'a str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'a str) -> Self {
        Reader {
            bytes,
            pos: 0,
            what,
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], KeysError> {
        if self.remaining() < n {
            return Err(KeysError::malformed(
                self.what,
                format!("truncated at byte {} (needed {n} more bytes)", self.pos),
            ));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], KeysError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, KeysError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, KeysError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, KeysError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, KeysError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn short_string(&mut self) -> Result<String, KeysError> {
        let len = self.u8()? as usize;
        let at = self.pos;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| {
            KeysError::malformed(self.what, format!("invalid UTF-8 name at byte {at}"))
        })
    }
}
