//! `bcpvault server authorize`: the `authorized_keys` line that gives the writer's
//! key an append-only SFTP account on the backup server.
//!
//! The line pins the client address (`from=`), disables everything but the forced
//! command (`restrict`), and forces OpenSSH's `sftp-server` with the operations
//! that could destroy objects denied (`-P`) and a umask that makes every created
//! file read-only (`-u 0222`). That umask also makes every directory the account
//! creates read-only, so the repository's directories are created beforehand, on
//! the server, by `bcpvault server init-repo`.

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

/// Default path of OpenSSH's SFTP server on Debian and Ubuntu.
pub const DEFAULT_SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";

/// SFTP requests the writer's account must never perform.
pub const DENIED_REQUESTS: &str = "remove,rmdir,posix-rename,setstat,fsetstat,symlink,hardlink";

/// `server …` subcommands.
#[derive(Subcommand, Debug)]
pub enum ServerCommand {
    /// Print the authorized_keys line for a writer key (append-only, address-bound).
    Authorize(AuthorizeArgs),
    /// Create a repository's directories for an append-only account (run as root
    /// on the backup server).
    InitRepo(InitRepoArgs),
}

/// Arguments of `server init-repo`.
#[derive(Args, Debug)]
pub struct InitRepoArgs {
    /// Absolute repository directory on this server.
    #[arg(long, value_name = "PATH")]
    pub repo: String,
    /// The account that will write to it (the writer's SFTP login).
    #[arg(long, value_name = "USER")]
    pub owner: String,
}

/// Directories of a repository (besides `data/00`…`data/ff`).
const REPO_DIRS: &[&str] = &["keys", "index", "snapshots", "audit", "data"];

/// Arguments of `server authorize`.
#[derive(Args, Debug)]
pub struct AuthorizeArgs {
    /// The writer's public key file (e.g. soumu_ed25519.pub).
    #[arg(long, value_name = "FILE")]
    pub pubkey: PathBuf,
    /// The file server's (global) IP address, or a CIDR range, the key is valid from.
    #[arg(long, value_name = "ADDR")]
    pub ip: String,
    /// Absolute repository directory on this server.
    #[arg(long, value_name = "PATH")]
    pub repo: String,
    /// Path of OpenSSH's sftp-server on this server.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SFTP_SERVER)]
    pub sftp_server: String,
}

/// Runs a `server` subcommand.
pub fn run(cmd: ServerCommand) -> Result<()> {
    match cmd {
        ServerCommand::Authorize(a) => {
            println!("{}", authorize_line(&a)?);
            Ok(())
        }
        ServerCommand::InitRepo(a) => init_repo(&a),
    }
}

/// Creates the repository directory tree (mode 0755) owned by the account.
fn init_repo(a: &InitRepoArgs) -> Result<()> {
    check_path("--repo", &a.repo)?;
    let (uid, gid) = lookup_user(&a.owner)?;
    let root = Path::new(&a.repo);
    let mut dirs = vec![root.to_path_buf()];
    dirs.extend(REPO_DIRS.iter().map(|d| root.join(d)));
    dirs.extend((0..=255u8).map(|b| root.join("data").join(hex::encode([b]))));
    let mut created = 0;
    for dir in &dirs {
        match std::fs::create_dir(dir) {
            Ok(()) => created += 1,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
        }
        std::os::unix::fs::chown(dir, Some(uid), Some(gid))
            .with_context(|| format!("cannot give {} to {}", dir.display(), a.owner))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot set the mode of {}", dir.display()))?;
    }
    println!(
        "repository {} ready for {} ({created} director(ies) created)",
        a.repo, a.owner
    );
    Ok(())
}

/// uid and gid of a local account, from /etc/passwd.
fn lookup_user(name: &str) -> Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").context("cannot read /etc/passwd")?;
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 4 && fields[0] == name {
            let uid = fields[2].parse().context("bad uid in /etc/passwd")?;
            let gid = fields[3].parse().context("bad gid in /etc/passwd")?;
            return Ok((uid, gid));
        }
    }
    bail!(
        "--owner {name}: no such account in /etc/passwd (create it first: useradd -M -s /bin/sh {name}; usermod -p '*' {name})"
    )
}

/// Builds the line (validated: nothing in it can break out of the quoting).
pub fn authorize_line(a: &AuthorizeArgs) -> Result<String> {
    let text = std::fs::read_to_string(&a.pubkey)
        .with_context(|| format!("cannot read public key {}", a.pubkey.display()))?;
    let key = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    let Some(key) = key else {
        bail!("{}: no public key in the file", a.pubkey.display());
    };
    let mut parts = key.split_whitespace();
    let (Some(kind), Some(blob)) = (parts.next(), parts.next()) else {
        bail!(
            "{}: not an OpenSSH public key line (\"TYPE BASE64 [COMMENT]\")",
            a.pubkey.display()
        );
    };
    const TYPES: &[&str] = &[
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
    ];
    if !TYPES.contains(&kind) {
        bail!(
            "{}: key type {kind:?} is not an OpenSSH public key type (expected one of {}); is this the private key?",
            a.pubkey.display(),
            TYPES.join(", ")
        );
    }
    if !blob
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
    {
        bail!("{}: the key data is not base64", a.pubkey.display());
    }
    let comment: Vec<&str> = parts.collect();
    let comment = comment.join(" ");
    let comment: String = comment
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .collect();
    check_address(&a.ip)?;
    check_path("--repo", &a.repo)?;
    check_path("--sftp-server", &a.sftp_server)?;
    let mut line = format!(
        "from=\"{}\",restrict,command=\"{} -d {} -P {DENIED_REQUESTS} -u 0222\" {kind} {blob}",
        a.ip, a.sftp_server, a.repo
    );
    if !comment.is_empty() {
        line.push(' ');
        line.push_str(&comment);
    }
    Ok(line)
}

fn check_address(ip: &str) -> Result<()> {
    let (addr, prefix) = match ip.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (ip, None),
    };
    let Ok(parsed) = addr.parse::<IpAddr>() else {
        bail!(
            "--ip {ip:?}: expected an IP address like 198.51.100.7 (or a CIDR range like 198.51.100.0/24)"
        );
    };
    if let Some(p) = prefix {
        let max = if parsed.is_ipv4() { 32 } else { 128 };
        match p.parse::<u8>() {
            Ok(n) if n <= max => {}
            _ => bail!("--ip {ip:?}: the prefix length must be 0 to {max}"),
        }
    }
    Ok(())
}

fn check_path(flag: &str, path: &str) -> Result<()> {
    let plain = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+@".contains(&b));
    if !path.starts_with('/') || !plain || path.split('/').any(|p| p == "..") {
        bail!(
            "{flag} {path:?}: expected an absolute path of letters, digits and / . _ - + @ (it goes into a forced command)"
        );
    }
    Ok(())
}
