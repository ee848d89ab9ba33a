//! `bcpvault init <profile> --executive NAME … --threshold M`: the key ceremony.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use bcpvault::keys::{
    Ceremony, EscrowText, Executive, KeyFiles, escrow_file_names, format_fingerprint,
};

use super::common::{kdf_params, load_profile};
use super::prompt::PasswordSource;

/// Arguments of `init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
    /// Executive receiving a key share (repeat for each, up to 20).
    #[arg(long = "executive", value_name = "NAME", required = true)]
    pub executives: Vec<String>,
    /// Approvals needed to unlock (default: 2, or 1 with a single executive).
    #[arg(long)]
    pub threshold: Option<u8>,
    /// RSA key size: 2048, 3072 or 4096.
    #[arg(long, default_value_t = 3072)]
    pub key_bits: usize,
    /// Where to write the escrow copies (default: <store>/escrow).
    #[arg(long)]
    pub escrow_dir: Option<PathBuf>,
    /// Read the new passwords from standard input, one per line, in --executive order.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Runs the ceremony and reports what was written.
pub fn run(args: InitArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    let files = KeyFiles::new(&profile.store);
    let escrow_dir = args
        .escrow_dir
        .clone()
        .unwrap_or_else(|| profile.store.join("escrow"));
    let threshold = args
        .threshold
        .unwrap_or(if args.executives.len() == 1 { 1 } else { 2 });
    // Check everything that can be checked before asking for passwords.
    let names: Vec<&str> = args.executives.iter().map(String::as_str).collect();
    bcpvault::keys::validate_quorum(&names, threshold)?;
    if files.dir().exists() {
        anyhow::bail!(bcpvault::keys::KeysError::VaultExists {
            path: files.dir().to_path_buf()
        });
    }
    let (bin_name, txt_name) = escrow_file_names(&profile.name, 1);
    for name in [&bin_name, &txt_name] {
        let path = escrow_dir.join(name);
        if path.exists() {
            anyhow::bail!(
                "{}: already exists; refusing to overwrite an escrow copy",
                path.display()
            );
        }
    }

    let mut source = PasswordSource::new(args.password_stdin);
    let mut executives = Vec::with_capacity(args.executives.len());
    for name in &args.executives {
        let password = source.new_password(name)?;
        bcpvault::keys::check_password(name, &password)?;
        executives.push(Executive {
            name: name.clone(),
            password,
        });
    }
    let ceremony = Ceremony {
        vault_name: profile.name.clone(),
        executives,
        threshold,
        key_bits: args.key_bits,
        kdf: kdf_params(&profile),
    };
    let outcome = ceremony.run(&files)?;
    write_escrow(&escrow_dir, &bin_name, &txt_name, &outcome.bundle)?;
    println!(
        "Vault {} created in {}",
        profile.name,
        profile.store.display()
    );
    println!(
        "  key: RSA-{} fingerprint {}",
        args.key_bits,
        format_fingerprint(&outcome.fingerprint)
    );
    println!(
        "  unlock needs {} of {} executives: {}",
        threshold,
        args.executives.len(),
        args.executives.join(", ")
    );
    println!("  recovery bundle: {}", files.bundle_path().display());
    println!(
        "  escrow copies: {}, {}",
        escrow_dir.join(&bin_name).display(),
        escrow_dir.join(&txt_name).display()
    );
    println!("Store the escrow copies off site; rehearse with `bcpvault unlock-test`.");
    Ok(())
}

/// Writes the binary and text escrow copies (never over existing files).
pub fn write_escrow(
    dir: &Path,
    bin: &str,
    txt: &str,
    bundle: &bcpvault::keys::RecoveryBundle,
) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create escrow directory", dir.display()))?;
    for (name, bytes) in [
        (bin, bundle.to_bytes()),
        (txt, EscrowText::render(bundle).into_bytes()),
    ] {
        let path = dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("{}: cannot create escrow copy", path.display()))?;
        std::io::Write::write_all(&mut f, &bytes)
            .with_context(|| format!("{}: write failed", path.display()))?;
        f.sync_all()
            .with_context(|| format!("{}: fsync failed", path.display()))?;
    }
    Ok(())
}
