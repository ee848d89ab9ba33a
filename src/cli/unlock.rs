//! `bcpvault unlock <profile> --executive NAME` (one approval handed to the running
//! mount) and `bcpvault seal <profile>`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use zeroize::Zeroizing;

use bcpvault::daemon::client;
use bcpvault::daemon::protocol::{Request, Response};

use super::common::{ExecutiveArgs, load_profile};
use super::prompt::PasswordSource;

/// Arguments of `unlock`.
#[derive(Args, Debug)]
pub struct UnlockArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
    #[command(flatten)]
    pub exec: ExecutiveArgs,
}

/// Arguments of `seal`.
#[derive(Args, Debug)]
pub struct SealArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
}

/// Sends each named executive's approval to the mount daemon, printing progress.
pub fn run(args: UnlockArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    if args.exec.executives.is_empty() {
        bail!("name the approving executive with --executive NAME");
    }
    let mut source = PasswordSource::new(args.exec.password_stdin);
    for name in &args.exec.executives {
        let password = source.existing(name)?;
        let request = Request::Approve {
            executive: name.clone(),
            password: password.expose().to_string(),
        };
        let answer = client::call(&profile.store, &profile.name, &request);
        // The request held a copy of the password; wipe it.
        if let Request::Approve { password, .. } = request {
            drop(Zeroizing::new(password));
        }
        match answer? {
            Response::Approved {
                unlocked_until: Some(until),
                ..
            } => println!(
                "{name} approved: vault {} unlocked until {}",
                profile.name,
                super::common::local_minute(&until)
            ),
            Response::Approved { have, need, .. } => println!(
                "{name} approved: {have} of {need} approvals; waiting for another executive"
            ),
            other => bail!("unexpected answer from the mount daemon: {other:?}"),
        }
    }
    Ok(())
}

/// Seals the mount now.
pub fn seal(args: SealArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    match client::call(&profile.store, &profile.name, &Request::Seal)? {
        Response::Done { message } => println!("vault {}: {message}", profile.name),
        other => bail!("unexpected answer from the mount daemon: {other:?}"),
    }
    Ok(())
}
