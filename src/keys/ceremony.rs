//! The key ceremony: generate the vault key pair, the KEK that encrypts its
//! private half, and one password-sealed Shamir share of the KEK per executive.
//!
//! The admin running the ceremony ends with nothing that decrypts: the private key
//! and the KEK exist only in this process's memory (zeroized on drop) and leave it
//! only encrypted; each share leaves it only sealed under its executive's password.

use std::time::{SystemTime, UNIX_EPOCH};

use super::bundle::{ExecutiveShare, RecoveryBundle, SecretPayload};
use super::{KeyFiles, KeysError, WriterSecrets, check_password};
use crate::crypto::{self, KdfParams, Password, SecretKey32, VaultPrivateKey};

/// Largest quorum the product supports (SPEC §2: up to 20 executives).
pub const MAX_EXECUTIVES: usize = 20;

/// One executive taking part in a ceremony or rekey.
pub struct Executive {
    /// Executive name, as typed at unlock.
    pub name: String,
    /// Their password (never stored; only seals their share).
    pub password: Password,
}

/// Parameters of a key ceremony.
pub struct Ceremony {
    /// Vault name (from the profile).
    pub vault_name: String,
    /// Executives receiving a share, in order.
    pub executives: Vec<Executive>,
    /// Shares needed to unlock.
    pub threshold: u8,
    /// RSA modulus size: 2048, 3072 (default) or 4096.
    pub key_bits: usize,
    /// Argon2id parameters sealing each share.
    pub kdf: KdfParams,
}

/// What a finished ceremony reports (public facts only).
#[derive(Debug)]
pub struct CeremonyOutcome {
    /// The bundle that was written.
    pub bundle: RecoveryBundle,
    /// SHA-256 of the public key.
    pub fingerprint: [u8; 32],
}

/// Checks executive names (unique, well-formed) and the threshold.
pub fn validate_quorum(names: &[&str], threshold: u8) -> Result<(), KeysError> {
    if names.is_empty() {
        return Err(KeysError::BadQuorum(
            "no executives given: name at least one with --executive".into(),
        ));
    }
    if names.len() > MAX_EXECUTIVES {
        return Err(KeysError::BadQuorum(format!(
            "{} executives given: at most {MAX_EXECUTIVES} are supported",
            names.len()
        )));
    }
    for (i, name) in names.iter().enumerate() {
        let ok = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if !ok {
            return Err(KeysError::BadExecutiveName {
                name: name.to_string(),
            });
        }
        if names[..i].contains(name) {
            return Err(KeysError::BadQuorum(format!(
                "executive {name} is listed twice; each executive holds one share"
            )));
        }
    }
    if threshold == 0 || threshold as usize > names.len() {
        return Err(KeysError::BadQuorum(format!(
            "threshold {threshold} is impossible with {} executive(s): expected 1 to {}",
            names.len(),
            names.len()
        )));
    }
    Ok(())
}

impl Ceremony {
    /// Checks names, threshold, key size and every password before anything is generated.
    pub fn validate(&self) -> Result<(), KeysError> {
        let names: Vec<&str> = self.executives.iter().map(|e| e.name.as_str()).collect();
        validate_quorum(&names, self.threshold)?;
        if ![2048, 3072, 4096].contains(&self.key_bits) {
            return Err(KeysError::BadQuorum(format!(
                "key size {} bits: expected 2048, 3072 or 4096",
                self.key_bits
            )));
        }
        for e in &self.executives {
            check_password(&e.name, &e.password)?;
        }
        Ok(())
    }

    /// Runs the ceremony and writes `<store>/keys`. Refuses an existing vault.
    pub fn run(self, files: &KeyFiles) -> Result<CeremonyOutcome, KeysError> {
        self.validate()?;
        if files.dir().exists() {
            return Err(KeysError::VaultExists {
                path: files.dir().to_path_buf(),
            });
        }
        let vault_id: [u8; 16] = crypto::random_bytes();
        let payload = SecretPayload {
            private_key: VaultPrivateKey::generate(self.key_bits)?,
            writer: WriterSecrets::generate(vault_id),
        };
        let bundle = seal_bundle(
            BundleHeader {
                vault_id,
                generation: 1,
                vault_name: self.vault_name.clone(),
                threshold: self.threshold,
            },
            &self.executives,
            &self.kdf,
            &payload,
        )?;
        files.create(&bundle, &payload.writer)?;
        let fingerprint = bundle.fingerprint();
        Ok(CeremonyOutcome {
            bundle,
            fingerprint,
        })
    }
}

/// The public facts of a bundle generation.
pub(crate) struct BundleHeader {
    pub vault_id: [u8; 16],
    pub generation: u32,
    pub vault_name: String,
    pub threshold: u8,
}

/// Builds a bundle: fresh KEK, payload sealed under it, KEK split and each share
/// sealed under its executive's password. Shared by the ceremony and rekey.
pub(crate) fn seal_bundle(
    header: BundleHeader,
    executives: &[Executive],
    kdf: &KdfParams,
    payload: &SecretPayload,
) -> Result<RecoveryBundle, KeysError> {
    let kek = SecretKey32::random();
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut bundle = RecoveryBundle {
        vault_id: header.vault_id,
        generation: header.generation,
        created,
        vault_name: header.vault_name,
        threshold: header.threshold,
        public_key_der: payload.private_key.public_key().to_der(),
        writer_verifying_key: payload.writer.signing.verifying_key().to_bytes(),
        sealed_secret: Vec::new(),
        shares: Vec::with_capacity(executives.len()),
    };
    bundle.seal_secret(&kek, payload);
    let shares = crypto::shamir::split(&kek, header.threshold, executives.len() as u8)?;
    for (exec, share) in executives.iter().zip(shares) {
        let plain = super::unlock::share_plaintext(&bundle, &share);
        let aad = bundle.share_aad(share.index, &exec.name);
        let sealed = crypto::kdf::password_seal(&exec.password, kdf, &aad, plain.expose())?;
        bundle.shares.push(ExecutiveShare {
            name: exec.name.clone(),
            index: share.index,
            sealed,
        });
    }
    Ok(bundle)
}
