//! The executive unlock: open shares with passwords, combine m of them into the
//! KEK, decrypt the private key into memory.
//!
//! Approvals may arrive at different times (the mount daemon collects them), so
//! opening a share ([`open_share`]) is separate from combining ([`Unlocker`]). An
//! opened share carries the vault id and generation it belongs to, so a share from
//! another vault, or from before a rekey, is refused by name rather than producing a
//! wrong key.

use super::bundle::{RecoveryBundle, SecretPayload};
use super::{KeysError, WriterSecrets};
use crate::crypto::{self, CryptoError, Password, SecretBytes, VaultPrivateKey, shamir::Share};

/// One executive's approval: name and password.
pub struct Approval {
    /// Executive name.
    pub name: String,
    /// Their password.
    pub password: Password,
}

/// A share opened with its executive's password, not yet combined.
pub struct OpenedShare {
    /// Executive who opened it.
    pub name: String,
    /// Vault the share belongs to (from inside the sealed share).
    pub vault_id: [u8; 16],
    /// Bundle generation the share belongs to.
    pub generation: u32,
    share: Share,
}

impl std::fmt::Debug for OpenedShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedShare")
            .field("name", &self.name)
            .field("vault_id", &hex::encode(self.vault_id))
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// Share plaintext: vault id (16) ‖ generation (4, BE) ‖ Shamir share bytes.
pub(crate) fn share_plaintext(bundle: &RecoveryBundle, share: &Share) -> SecretBytes {
    let bytes = share.to_bytes();
    let mut out = Vec::with_capacity(20 + bytes.expose().len());
    out.extend_from_slice(&bundle.vault_id);
    out.extend_from_slice(&bundle.generation.to_be_bytes());
    out.extend_from_slice(bytes.expose());
    SecretBytes::new(out)
}

/// Opens `name`'s share in `bundle` with `password` (runs Argon2id).
pub fn open_share(
    bundle: &RecoveryBundle,
    name: &str,
    password: &Password,
) -> Result<OpenedShare, KeysError> {
    let entry = bundle
        .shares
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| KeysError::UnknownExecutive {
            name: name.to_string(),
            vault: bundle.vault_name.clone(),
            known: bundle.executive_names().join(", "),
        })?;
    let aad = bundle.share_aad(entry.index, name);
    let plain = crypto::kdf::password_open(password, &aad, &entry.sealed).map_err(|e| match e {
        CryptoError::WrongPassword => KeysError::WrongPassword {
            name: name.to_string(),
        },
        other => KeysError::Crypto(other),
    })?;
    let bytes = plain.expose();
    if bytes.len() < 21 {
        return Err(KeysError::malformed(
            format!("share of {name}"),
            "too short to hold a share",
        ));
    }
    let mut vault_id = [0u8; 16];
    vault_id.copy_from_slice(&bytes[..16]);
    let mut generation = [0u8; 4];
    generation.copy_from_slice(&bytes[16..20]);
    Ok(OpenedShare {
        name: name.to_string(),
        vault_id,
        generation: u32::from_be_bytes(generation),
        share: Share::from_bytes(&bytes[20..])?,
    })
}

/// Approval progress: `have` of `need`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnlockProgress {
    /// Approvals collected.
    pub have: usize,
    /// Threshold.
    pub need: usize,
}

impl UnlockProgress {
    /// Whether the threshold is reached.
    pub fn complete(&self) -> bool {
        self.have >= self.need
    }
}

/// The result of a successful unlock: the private key in memory (zeroized on drop).
pub struct UnlockedVault {
    /// Vault id.
    pub vault_id: [u8; 16],
    /// SHA-256 of the public key.
    pub fingerprint: [u8; 32],
    /// The vault's private key.
    pub private_key: VaultPrivateKey,
    /// The writer secrets (for a recovery machine that keeps writing).
    pub writer: WriterSecrets,
}

impl std::fmt::Debug for UnlockedVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnlockedVault")
            .field("vault_id", &hex::encode(self.vault_id))
            .finish_non_exhaustive()
    }
}

/// Collects opened shares for one bundle until the threshold is reached.
pub struct Unlocker {
    bundle: RecoveryBundle,
    shares: Vec<OpenedShare>,
}

impl Unlocker {
    /// Starts collecting approvals for `bundle`.
    pub fn new(bundle: RecoveryBundle) -> Unlocker {
        Unlocker {
            bundle,
            shares: Vec::new(),
        }
    }

    /// The bundle being unlocked.
    pub fn bundle(&self) -> &RecoveryBundle {
        &self.bundle
    }

    /// Current progress.
    pub fn progress(&self) -> UnlockProgress {
        UnlockProgress {
            have: self.shares.len(),
            need: self.bundle.threshold as usize,
        }
    }

    /// Names of the executives who approved so far.
    pub fn approved(&self) -> Vec<String> {
        self.shares.iter().map(|s| s.name.clone()).collect()
    }

    /// Adds one opened share after checking it belongs here and is not a repeat.
    pub fn add(&mut self, share: OpenedShare) -> Result<UnlockProgress, KeysError> {
        if share.vault_id != self.bundle.vault_id {
            return Err(KeysError::ForeignShare {
                name: share.name,
                other: hex::encode(share.vault_id),
                this: hex::encode(self.bundle.vault_id),
            });
        }
        if share.generation != self.bundle.generation {
            return Err(KeysError::StaleShare {
                name: share.name,
                share: share.generation,
                current: self.bundle.generation,
            });
        }
        if self
            .shares
            .iter()
            .any(|s| s.name == share.name || s.share.index == share.share.index)
        {
            return Err(KeysError::DuplicateApproval { name: share.name });
        }
        self.shares.push(share);
        Ok(self.progress())
    }

    /// Opens `approval`'s share and adds it.
    pub fn approve(&mut self, approval: &Approval) -> Result<UnlockProgress, KeysError> {
        if self.shares.iter().any(|s| s.name == approval.name) {
            return Err(KeysError::DuplicateApproval {
                name: approval.name.clone(),
            });
        }
        let share = open_share(&self.bundle, &approval.name, &approval.password)?;
        self.add(share)
    }

    /// Combines the shares and decrypts the private key. Needs the threshold.
    pub fn finish(self) -> Result<UnlockedVault, KeysError> {
        let progress = self.progress();
        if !progress.complete() {
            return Err(KeysError::NotEnoughApprovals {
                have: progress.have,
                need: progress.need,
                missing: progress.need - progress.have,
            });
        }
        let shares: Vec<Share> = self.shares.into_iter().map(|s| s.share).collect();
        let kek = crypto::shamir::combine(&shares, self.bundle.threshold)?;
        let SecretPayload {
            private_key,
            writer,
        } = self.bundle.open_secret(&kek)?;
        if private_key.public_key().to_der() != self.bundle.public_key_der {
            return Err(KeysError::SharesDoNotCombine);
        }
        Ok(UnlockedVault {
            vault_id: self.bundle.vault_id,
            fingerprint: self.bundle.fingerprint(),
            private_key,
            writer,
        })
    }

    /// One-shot unlock with all approvals at hand (CLI `unlock-test`, `restore`).
    pub fn unlock(
        bundle: RecoveryBundle,
        approvals: &[Approval],
    ) -> Result<UnlockedVault, KeysError> {
        let mut unlocker = Unlocker::new(bundle);
        for approval in approvals {
            unlocker.approve(approval)?;
        }
        unlocker.finish()
    }
}
