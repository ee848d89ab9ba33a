//! Rekey: change the executive set or threshold without touching data.
//!
//! The current quorum unlocks the private key in memory; a new KEK is generated,
//! split for the new executives and the private key re-sealed under it; the bundle's
//! generation goes up by one so shares of the old generation are refused.
//! Copies of the old bundle that already left the machine (remotes are append-only,
//! escrow prints) still open with the old quorum: to cut an executive off for good,
//! rotate the key pair for new data as well (see docs/threat-model.md).

use super::bundle::{RecoveryBundle, SecretPayload};
use super::ceremony::{BundleHeader, Executive, seal_bundle, validate_quorum};
use super::{Approval, KeyFiles, KeysError, Unlocker, check_password};
use crate::crypto::KdfParams;

/// A rekey request.
pub struct Rekey {
    /// Approvals from the current quorum.
    pub approvals: Vec<Approval>,
    /// The new executive set, each with a (new) password.
    pub executives: Vec<Executive>,
    /// The new threshold.
    pub threshold: u8,
    /// Argon2id parameters for the new shares.
    pub kdf: KdfParams,
}

/// Result of a rekey.
#[derive(Debug)]
pub struct RekeyOutcome {
    /// The generation that was replaced.
    pub old_generation: u32,
    /// The new bundle, already written.
    pub bundle: RecoveryBundle,
}

impl Rekey {
    /// Validates the new quorum, unlocks with the current one, writes the new bundle.
    pub fn run(self, files: &KeyFiles) -> Result<RekeyOutcome, KeysError> {
        let names: Vec<&str> = self.executives.iter().map(|e| e.name.as_str()).collect();
        validate_quorum(&names, self.threshold)?;
        for e in &self.executives {
            check_password(&e.name, &e.password)?;
        }
        let old = files.load_bundle()?;
        let unlocked = Unlocker::unlock(old.clone(), &self.approvals)?;
        let payload = SecretPayload {
            private_key: unlocked.private_key,
            writer: unlocked.writer,
        };
        let bundle = seal_bundle(
            BundleHeader {
                vault_id: old.vault_id,
                generation: old.generation + 1,
                vault_name: old.vault_name.clone(),
                threshold: self.threshold,
            },
            &self.executives,
            &self.kdf,
            &payload,
        )?;
        files.replace_bundle(&bundle)?;
        Ok(RekeyOutcome {
            old_generation: old.generation,
            bundle,
        })
    }
}
