//! `[[remote]]` tables: where synced copies of the repository go.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::error::ProfileError;
use super::names::{is_valid_host, is_valid_name, is_valid_ssh_user};
use super::reader::{Field, Section};

/// Default SSH port.
pub const DEFAULT_SSH_PORT: u16 = 22;
/// Default SFTP connect/IO timeout.
pub const DEFAULT_SFTP_TIMEOUT: Duration = Duration::from_secs(30);

/// One remote of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// Unique within the profile: 1..=63 of `a-z`, `0-9`, `-`.
    pub name: String,
    /// Where and how to reach it.
    pub kind: RemoteKind,
}

/// The kinds of remote (`type = "sftp" | "local"`; `"s3"` is planned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteKind {
    /// An append-only SFTP account on a backup server.
    Sftp(SftpRemote),
    /// A directory on this machine (USB disk, NFS mount, the demo).
    Local(LocalRemote),
}

impl RemoteKind {
    /// The `type` value as written in the profile.
    pub fn type_name(&self) -> &'static str {
        match self {
            RemoteKind::Sftp(_) => "sftp",
            RemoteKind::Local(_) => "local",
        }
    }
}

/// `type = "sftp"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpRemote {
    /// Server host name or IP address.
    pub host: String,
    /// SSH port (default 22).
    pub port: u16,
    /// Login on the server (the writer's append-only account).
    pub user: String,
    /// Absolute repository path on the server (a POSIX path, not resolved locally).
    pub path: String,
    /// Writer's private key file (ed25519).
    pub identity: PathBuf,
    /// Pinned host keys; unknown or changed keys are refused.
    pub known_hosts: PathBuf,
    /// Local address to connect from (the one the server's `from=` allows).
    pub source_address: Option<IpAddr>,
    /// Admin key used only by forget/prune (the writer's cannot delete).
    pub admin_identity: Option<PathBuf>,
    /// Connect and I/O timeout (default 30 s).
    pub timeout: Duration,
}

/// `type = "local"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRemote {
    /// Repository directory, resolved against the profile's directory.
    pub path: PathBuf,
}

const TYPE_EXPECTED: &str = "\"sftp\" or \"local\"";
pub(crate) const SFTP_KEYS: &[&str] = &[
    "name",
    "type",
    "host",
    "port",
    "user",
    "path",
    "identity",
    "known_hosts",
    "source_address",
    "admin_identity",
    "timeout",
];
pub(crate) const LOCAL_KEYS: &[&str] = &["name", "type", "path"];

/// Reads the `remote` array of tables, checking names are unique.
pub(crate) fn read_remotes(field: &Field<'_>) -> Result<Vec<Remote>, ProfileError> {
    let mut remotes: Vec<Remote> = Vec::new();
    let mut first_use: HashMap<String, String> = HashMap::new();
    for item in field.array("an array of tables ([[remote]])")? {
        let section = item.table_unchecked()?;
        let remote = read_remote(&section)?;
        if let Some(first) = first_use.get(&remote.name) {
            // The name field exists: read_remote required it.
            if let Some(name_field) = section.get("name") {
                return Err(name_field.duplicate(first));
            }
        }
        first_use.insert(remote.name.clone(), section.path("name"));
        remotes.push(remote);
    }
    Ok(remotes)
}

fn read_remote(section: &Section<'_>) -> Result<Remote, ProfileError> {
    let type_field = section.require("type", TYPE_EXPECTED)?;
    let kind = match type_field.str(TYPE_EXPECTED)? {
        "sftp" => "sftp",
        "local" => "local",
        "s3" => return Err(type_field.unsupported(TYPE_EXPECTED)),
        _ => return Err(type_field.invalid(TYPE_EXPECTED)),
    };
    section.check_keys(if kind == "sftp" {
        SFTP_KEYS
    } else {
        LOCAL_KEYS
    })?;

    let name_expected =
        "a remote name of 1 to 63 characters a-z, 0-9 and '-', starting with a letter or digit";
    let name_field = section.require("name", name_expected)?;
    let name = name_field.str(name_expected)?;
    if !is_valid_name(name) {
        return Err(name_field.invalid(name_expected));
    }

    let kind = if kind == "sftp" {
        RemoteKind::Sftp(read_sftp(section)?)
    } else {
        let expected = "a directory path";
        RemoteKind::Local(LocalRemote {
            path: section.require("path", expected)?.path(expected)?,
        })
    };
    Ok(Remote {
        name: name.to_string(),
        kind,
    })
}

fn read_sftp(section: &Section<'_>) -> Result<SftpRemote, ProfileError> {
    let host_expected = "a host name or IP address";
    let host_field = section.require("host", host_expected)?;
    let host = host_field.str(host_expected)?;
    if !is_valid_host(host) {
        return Err(host_field.invalid(host_expected));
    }

    let port = match section.get("port") {
        // The range check makes the conversion infallible.
        Some(f) => u16::try_from(f.int(1, 65535)?).unwrap_or(DEFAULT_SSH_PORT),
        None => DEFAULT_SSH_PORT,
    };

    let user_expected = "a user name on the server";
    let user_field = section.require("user", user_expected)?;
    let user = user_field.str(user_expected)?;
    if !is_valid_ssh_user(user) {
        return Err(user_field.invalid(user_expected));
    }

    let path_expected = "an absolute path on the server like \"/srv/bcp/soumu\"";
    let path_field = section.require("path", path_expected)?;
    let path = path_field.str(path_expected)?;
    let absolute_clean = path.starts_with('/')
        && !path.split('/').any(|part| part == "..")
        && !path.contains(|c: char| c.is_control());
    if !absolute_clean {
        return Err(path_field.invalid(path_expected));
    }

    let file = "a file path";
    let identity = section.require("identity", file)?.path(file)?;
    let known_hosts = section.require("known_hosts", file)?.path(file)?;

    let source_address = match section.get("source_address") {
        Some(f) => {
            let expected = "an IP address like \"198.51.100.7\"";
            let text = f.str(expected)?;
            Some(text.parse::<IpAddr>().map_err(|_| f.invalid(expected))?)
        }
        None => None,
    };

    let admin_identity = section
        .get("admin_identity")
        .map(|f| f.path(file))
        .transpose()?;

    let timeout = match section.get("timeout") {
        Some(f) => f.duration(
            Duration::from_secs(1),
            Duration::from_secs(3600),
            "\"30s\" or \"2m\"",
        )?,
        None => DEFAULT_SFTP_TIMEOUT,
    };

    Ok(SftpRemote {
        host: host.to_string(),
        port,
        user: user.to_string(),
        path: path.to_string(),
        identity,
        known_hosts,
        source_address,
        admin_identity,
        timeout,
    })
}
