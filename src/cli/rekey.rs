//! `bcpvault rekey <profile> --approve A --approve B --executive X … --threshold M`:
//! change the executive set or threshold with the current quorum's approval.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use bcpvault::keys::{Approval, Executive, KeyFiles, Rekey, escrow_file_names};

use super::common::{kdf_params, load_profile};
use super::init::write_escrow;
use super::prompt::PasswordSource;

/// Arguments of `rekey`.
#[derive(Args, Debug)]
pub struct RekeyArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
    /// Current executive approving the change (repeat up to the current threshold).
    #[arg(long = "approve", value_name = "NAME", required = true)]
    pub approve: Vec<String>,
    /// Executive of the NEW set (repeat for each); each sets a new password.
    #[arg(long = "executive", value_name = "NAME", required = true)]
    pub executives: Vec<String>,
    /// New threshold.
    #[arg(long)]
    pub threshold: u8,
    /// Where to write the new escrow copies (default: <store>/escrow).
    #[arg(long)]
    pub escrow_dir: Option<PathBuf>,
    /// Read passwords from standard input: first the approvers', then the new executives'.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Runs the rekey and writes new escrow copies.
pub fn run(args: RekeyArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    let files = KeyFiles::new(&profile.store);
    let names: Vec<&str> = args.executives.iter().map(String::as_str).collect();
    bcpvault::keys::validate_quorum(&names, args.threshold)?;
    let current = files.load_bundle()?;
    let mut source = PasswordSource::new(args.password_stdin);
    let mut approvals = Vec::new();
    for name in &args.approve {
        approvals.push(Approval {
            name: name.clone(),
            password: source.existing(name)?,
        });
    }
    let mut executives = Vec::new();
    for name in &args.executives {
        executives.push(Executive {
            name: name.clone(),
            password: source.new_password(name)?,
        });
    }
    let outcome = Rekey {
        approvals,
        executives,
        threshold: args.threshold,
        kdf: kdf_params(&profile),
    }
    .run(&files)?;
    let dir = args
        .escrow_dir
        .unwrap_or_else(|| profile.store.join("escrow"));
    let (bin, txt) = escrow_file_names(&profile.name, outcome.bundle.generation);
    write_escrow(&dir, &bin, &txt, &outcome.bundle)?;
    println!(
        "rekeyed vault {}: generation {} -> {}; unlock now needs {} of {} ({}); previous executives: {}",
        profile.name,
        outcome.old_generation,
        outcome.bundle.generation,
        args.threshold,
        args.executives.len(),
        args.executives.join(", "),
        current.executive_names().join(", ")
    );
    println!(
        "new escrow copies: {}, {}",
        dir.join(bin).display(),
        dir.join(txt).display()
    );
    Ok(())
}
