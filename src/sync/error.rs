//! Errors of sync and retention: each names the remote or the object concerned.

use std::path::PathBuf;

use crate::backend::BackendError;
use crate::db::DbError;

/// Why a sync (or forget) failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The remote refused, failed or could not be reached (after retries).
    #[error("remote {remote}: {source}")]
    Remote {
        /// Remote name from the profile.
        remote: String,
        /// What the backend reported.
        #[source]
        source: BackendError,
    },
    /// The remote refused to create an object. On an append-only account this
    /// usually means the repository directories were not prepared.
    #[error(
        "remote {remote}: {source} (an append-only account cannot create usable directories itself: run `bcpvault server init-repo --repo PATH --owner USER` on the server)"
    )]
    WriteRefused {
        /// Remote name from the profile.
        remote: String,
        /// What the backend reported.
        #[source]
        source: BackendError,
    },
    /// Reading the local store failed.
    #[error("local store: {0}")]
    Local(#[source] BackendError),
    /// The local repository failed (its DB index, while taking in a prune).
    #[error("local store: {0}")]
    Store(#[source] Box<crate::repo::RepoError>),
    /// An object of the local store does not hash to its name; it is not uploaded
    /// (damage is never copied to a remote).
    #[error(
        "local object {name} is damaged ({problem}); not uploading it to remote {remote}: run `bcpvault check`"
    )]
    LocalDamaged {
        /// Remote name.
        remote: String,
        /// Object name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// A key file of the store could not be read.
    #[error("{path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The embedded database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Retention was asked of a remote with nothing to keep or a bad policy.
    #[error("remote {remote}: {problem}")]
    Policy {
        /// Remote name.
        remote: String,
        /// What is wrong.
        problem: String,
    },
}
