//! The repository's error type: each variant names what it concerns.

use std::path::PathBuf;

use crate::backend::BackendError;
use crate::db::DbError;
use crate::keys::KeysError;

use super::wire::FormatError;

/// Errors of the repository engine.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// Storage backend failure (names the object).
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Embedded database failure.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Key material could not be loaded.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// Encryption failed (a bad recipient key).
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    /// A stored object is malformed.
    #[error("{object}: {source}")]
    Malformed {
        /// Object name or DB key.
        object: String,
        /// What was wrong.
        #[source]
        source: FormatError,
    },
    /// A source path could not be read or a target path written.
    #[error("{path}: {what}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A source path given to backup is not usable.
    #[error("{path}: {problem}")]
    BadSource {
        /// The path.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// No snapshot matches.
    #[error("no snapshot {wanted} in {backend} (see `bcpvault snapshots`)")]
    NoSnapshot {
        /// What was asked for (`latest` or an id prefix).
        wanted: String,
        /// Where it was looked for.
        backend: String,
    },
    /// More than one snapshot matches an id prefix.
    #[error(
        "snapshot id prefix {prefix} is ambiguous ({count} snapshots match); give more characters"
    )]
    AmbiguousSnapshot {
        /// The prefix given.
        prefix: String,
        /// How many matched.
        count: usize,
    },
    /// A path inside a snapshot does not exist.
    #[error("{path}: not in snapshot {snapshot}")]
    NoSuchPath {
        /// The path asked for.
        path: String,
        /// Snapshot id (short).
        snapshot: String,
    },
    /// The store belongs to another vault than the keys.
    #[error("{what} belongs to vault {found}, not to this vault {expected}")]
    WrongVault {
        /// Object concerned.
        what: String,
        /// Vault id found (hex).
        found: String,
        /// Vault id expected (hex).
        expected: String,
    },
    /// A needed blob is in no index and no readable pack.
    #[error("blob {0} is missing from the repository (lost or tampered pack)")]
    MissingBlob(String),
    /// A blob could not be read or decrypted.
    #[error("{object}: {problem}")]
    Damaged {
        /// The pack or blob concerned.
        object: String,
        /// What went wrong.
        problem: String,
    },
    /// The storage pipeline stopped early (its own error is reported instead).
    #[error("the storage pipeline stopped")]
    PipelineStopped,
    /// Writing would exceed the profile's quota.
    #[error(
        "quota exceeded: storing {need} more bytes would pass the quota of {quota} bytes ({used} used); nothing already stored was changed"
    )]
    Quota {
        /// Bytes used.
        used: u64,
        /// Bytes requested.
        need: u64,
        /// The quota.
        quota: u64,
    },
}

impl RepoError {
    /// Wraps an I/O error with the path and action.
    pub fn io(path: impl Into<PathBuf>, what: &'static str, source: std::io::Error) -> RepoError {
        RepoError::Io {
            path: path.into(),
            what,
            source,
        }
    }

    /// Wraps a format error with the object name.
    pub fn malformed(object: impl Into<String>, source: FormatError) -> RepoError {
        RepoError::Malformed {
            object: object.into(),
            source,
        }
    }
}

/// Result alias.
pub type RepoResult<T> = Result<T, RepoError>;
