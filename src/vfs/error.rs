//! What can go wrong in the vault filesystem. Platform adapters map each variant
//! to one errno (Linux) or NTSTATUS (Windows) in a single table, so the reason for
//! a failure is decided here, once, and never flattened to "I/O error".

use crate::repo::RepoError;

/// A filesystem operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum VfsError {
    /// No such file or directory.
    #[error("no such file or directory")]
    NotFound,
    /// The name exists already.
    #[error("file exists")]
    Exists,
    /// A directory was expected.
    #[error("not a directory")]
    NotDir,
    /// A non-directory was expected.
    #[error("is a directory")]
    IsDir,
    /// rmdir (or rename over) a directory that has entries.
    #[error("directory not empty")]
    NotEmpty,
    /// The vault is sealed: content cannot be read back.
    #[error("the vault is sealed: file contents cannot be read until executives unlock it")]
    Sealed,
    /// The caller may not read decrypted content (not a reader / grant expired).
    #[error("uid {uid} may not read the decrypted vault")]
    NotReader {
        /// The caller.
        uid: u32,
    },
    /// A read-only place (snapshots, the status file).
    #[error("read-only file")]
    ReadOnly,
    /// The quota or the disk is full.
    #[error("no space: {0}")]
    NoSpace(String),
    /// A name longer than the format allows, or with a NUL or '/'.
    #[error("file name too long or invalid")]
    BadName,
    /// An operation the vault does not offer (hard links, xattrs, special files).
    #[error("operation not supported by the vault: {0}")]
    Unsupported(&'static str),
    /// An argument out of range (negative offset, bad handle).
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
    /// Stored data is damaged or was tampered with.
    #[error("stored data damaged: {0}")]
    Damaged(String),
    /// The repository or the database failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// Local I/O (staging files) failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl VfsError {
    /// Wraps a local I/O error, keeping a full disk recognisable.
    pub fn io(what: &'static str, source: std::io::Error) -> VfsError {
        if source.raw_os_error() == Some(libc::ENOSPC) {
            return VfsError::NoSpace(format!("{what}: {source}"));
        }
        VfsError::Io { what, source }
    }

    /// Classifies a repository error: quota and full disks stay "no space",
    /// damaged objects stay "damaged".
    pub fn from_repo(e: RepoError) -> VfsError {
        match e {
            RepoError::Quota { .. } => VfsError::NoSpace(e.to_string()),
            RepoError::Backend(crate::backend::BackendError::NoSpace { .. }) => {
                VfsError::NoSpace(e.to_string())
            }
            RepoError::Damaged { .. } | RepoError::MissingBlob(_) => {
                VfsError::Damaged(e.to_string())
            }
            other => VfsError::Repo(other),
        }
    }
}

impl From<crate::db::DbError> for VfsError {
    fn from(e: crate::db::DbError) -> Self {
        VfsError::Repo(RepoError::from(e))
    }
}

/// Result of a filesystem operation.
pub type VfsResult<T> = Result<T, VfsError>;
