//! Errors of the mount daemon and of talking to it.

use std::path::PathBuf;

/// A daemon failure, one line each.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// No daemon answers on the socket.
    #[error("vault {vault} is not mounted (no daemon at {socket}): run `bcpvault mount` first")]
    NotRunning {
        /// Vault name.
        vault: String,
        /// The socket tried.
        socket: PathBuf,
    },
    /// The mount point is in use.
    #[error("{mountpoint}: already mounted (vault {vault}); `bcpvault umount` it first")]
    AlreadyMounted {
        /// Vault name.
        vault: String,
        /// The mount point.
        mountpoint: PathBuf,
    },
    /// The profile has no mount point.
    #[error("{profile}: key `mountpoint` is missing: set the directory to mount the vault on")]
    NoMountpoint {
        /// Profile file.
        profile: PathBuf,
    },
    /// The daemon answered with an error.
    #[error("{0}")]
    Refused(String),
    /// The daemon's answer could not be understood.
    #[error("the mount daemon sent an unreadable answer: {0}")]
    Protocol(String),
    /// Local I/O.
    #[error("{path}: {what}: {source}")]
    Io {
        /// Path concerned.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The vault filesystem failed to open.
    #[error(transparent)]
    Vfs(#[from] crate::vfs::VfsError),
    /// The store failed to open.
    #[error(transparent)]
    Repo(#[from] crate::repo::RepoError),
}

impl DaemonError {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, what: &'static str, source: std::io::Error) -> DaemonError {
        DaemonError::Io {
            path: path.into(),
            what,
            source,
        }
    }
}
