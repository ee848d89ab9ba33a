//! `bcpvault unlock-test <profile> --executive A --executive B`: the ceremony
//! rehearsal. Proves the named executives can unlock, then discards the key.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use bcpvault::keys::format_fingerprint;

use super::approvals::unlock;
use super::common::{ExecutiveArgs, load_profile};

/// Arguments of `unlock-test`.
#[derive(Args, Debug)]
pub struct UnlockTestArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
    #[command(flatten)]
    pub exec: ExecutiveArgs,
}

/// Unlocks in memory, reports, drops (zeroizes) the key.
pub fn run(args: UnlockTestArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    let unlocked = unlock(&profile, &args.exec)?;
    println!(
        "unlock OK: {} approved; vault {} key {} opened in memory and discarded",
        args.exec.executives.join(", "),
        profile.name,
        format_fingerprint(&unlocked.fingerprint)
    );
    drop(unlocked);
    Ok(())
}
