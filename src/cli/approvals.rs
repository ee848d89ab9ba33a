//! Collecting executive approvals on the command line and unlocking in memory.

use anyhow::{Result, bail};

use bcpvault::keys::{Approval, KeyFiles, RecoveryBundle, UnlockedVault, Unlocker};
use bcpvault::profile::Profile;

use super::common::ExecutiveArgs;
use super::prompt::PasswordSource;

/// Asks each named executive for their password, then unlocks the vault of
/// `profile` in memory. Fails before prompting when fewer than the threshold are named.
pub fn unlock(profile: &Profile, args: &ExecutiveArgs) -> Result<UnlockedVault> {
    let files = KeyFiles::new(&profile.store);
    unlock_bundle(files.load_bundle()?, args)
}

/// Like [`unlock`], with a bundle from elsewhere (a remote's `keys/recovery`).
pub fn unlock_bundle(bundle: RecoveryBundle, args: &ExecutiveArgs) -> Result<UnlockedVault> {
    let need = bundle.threshold as usize;
    if args.executives.len() < need {
        bail!(
            "vault {} needs {need} executive approval(s), {} named: add --executive NAME (executives: {})",
            bundle.vault_name,
            args.executives.len(),
            bundle.executive_names().join(", ")
        );
    }
    let mut source = PasswordSource::new(args.password_stdin);
    let mut approvals = Vec::with_capacity(args.executives.len());
    for name in &args.executives {
        approvals.push(Approval {
            name: name.clone(),
            password: source.existing(name)?,
        });
    }
    Ok(Unlocker::unlock(bundle, &approvals)?)
}
