//! Storage backends: where repository objects live (local directory, SFTP, later S3).
//!
//! Objects are immutable and named by a relative path such as `config`,
//! `keys/recovery`, `data/ab/<64 hex>`, `index/<id>`, `snapshots/<id>`.
//! The writer's path never overwrites or deletes: [`WriteBackend::write_if_absent`]
//! is the only mutation. Deletion exists only on [`AdminBackend`], which is used
//! with the admin credential for retention (`forget --prune`).
//!
//! Behaviour such as hash verification or caching is added by wrapping a backend
//! (see rustic_core), not by putting it inside each implementation.

use std::io;

pub mod cache;
pub mod local;
pub mod remote;
pub mod sftp;
pub mod verify;

pub use cache::CachingBackend;
pub use local::LocalBackend;
pub use remote::{RemoteBackend, open_remote};
pub use sftp::{Credential, SftpBackend};
pub use verify::VerifyingBackend;

/// One stored object as seen by `list`/`stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Relative object name, e.g. `data/ab/ab12…`.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}

/// What `write_if_absent` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The object was created.
    Written,
    /// An object of that name already existed; it was left untouched.
    AlreadyPresent,
}

/// Errors from any backend. Each names the object or remote it concerns.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The object does not exist.
    #[error("object {name} not found on {backend}")]
    NotFound {
        /// Backend description (e.g. `local:/media/usb`).
        backend: String,
        /// Object name.
        name: String,
    },
    /// The destination has no space left (ENOSPC / SFTP failure with a full disk).
    #[error("no space left on {backend} while writing {name}")]
    NoSpace {
        /// Backend description.
        backend: String,
        /// Object name.
        name: String,
    },
    /// The backend refused the operation (append-only server, permissions).
    #[error("{backend} refused {op} of {name}: permission denied")]
    PermissionDenied {
        /// Backend description.
        backend: String,
        /// Operation attempted (`write`, `delete`, …).
        op: &'static str,
        /// Object name.
        name: String,
    },
    /// An object name that is not a valid repository path.
    #[error("invalid object name {name:?}: {reason}")]
    InvalidName {
        /// Offending name.
        name: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// Connecting or authenticating to a remote failed.
    #[error("cannot connect to {backend}: {reason}")]
    Connect {
        /// Backend description.
        backend: String,
        /// Human-readable reason (host key mismatch, auth refused, timeout…).
        reason: String,
    },
    /// The connection to a remote was lost or could not be made (refused, reset,
    /// timed out): worth retrying later, unlike [`BackendError::Connect`].
    #[error("connection to {backend} failed: {reason}")]
    Disconnected {
        /// Backend description.
        backend: String,
        /// What happened.
        reason: String,
    },
    /// A range read reaching past the end of the object: the caller's offsets (from an
    /// index or pack header) disagree with the stored object.
    #[error(
        "object {name} on {backend} is {size} bytes: cannot read {len} bytes at offset {offset}"
    )]
    ShortRead {
        /// Backend description.
        backend: String,
        /// Object name.
        name: String,
        /// Requested offset.
        offset: u64,
        /// Requested length.
        len: u64,
        /// Actual size of the object.
        size: u64,
    },
    /// A content-addressed object whose bytes do not hash to its name.
    #[error(
        "object {name} on {backend} failed its SHA-256 check (content hashes to {actual}): tampered or damaged"
    )]
    Tampered {
        /// Backend description.
        backend: String,
        /// Object name.
        name: String,
        /// Lowercase hex SHA-256 of the bytes actually read.
        actual: String,
    },
    /// A write to a content-addressed name whose data hashes to something else. This
    /// is a writer bug; the object was not written.
    #[error(
        "refusing to write {name} to {backend}: the data hashes to {actual}, not to its name (writer bug; nothing written)"
    )]
    Misnamed {
        /// Backend description.
        backend: String,
        /// Object name the caller asked for.
        name: String,
        /// Lowercase hex SHA-256 of the data.
        actual: String,
    },
    /// Any other I/O failure.
    #[error("{backend}: {op} {name}: {source}")]
    Io {
        /// Backend description.
        backend: String,
        /// Operation attempted.
        op: &'static str,
        /// Object name.
        name: String,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
}

impl BackendError {
    /// Whether retrying later may succeed (a lost or refused connection).
    pub fn is_transient(&self) -> bool {
        matches!(self, BackendError::Disconnected { .. })
    }
}

/// Result alias for backend operations.
pub type BackendResult<T> = Result<T, BackendError>;

/// Read access to a repository location.
pub trait ReadBackend: Send + Sync {
    /// Short description for messages, e.g. `local:/media/usb` or `sftp:dc1`.
    fn describe(&self) -> String;
    /// Read a whole object.
    fn read(&self, name: &str) -> BackendResult<Vec<u8>>;
    /// Read `len` bytes at `offset` of an object.
    fn read_range(&self, name: &str, offset: u64, len: u64) -> BackendResult<Vec<u8>>;
    /// List objects under a directory prefix (`data`, `snapshots`, …), recursively.
    fn list(&self, dir: &str) -> BackendResult<Vec<ObjectInfo>>;
    /// Size of an object, or `None` when absent.
    fn stat(&self, name: &str) -> BackendResult<Option<ObjectInfo>>;
}

/// The writer's access: create objects, never overwrite or delete.
pub trait WriteBackend: ReadBackend {
    /// Create `name` with `data` atomically (temp name, fsync, rename) unless it exists.
    fn write_if_absent(&self, name: &str, data: &[u8]) -> BackendResult<WriteOutcome>;
}

/// The admin's access, used only for retention with the admin credential.
pub trait AdminBackend: WriteBackend {
    /// Delete an object.
    fn delete(&self, name: &str) -> BackendResult<()>;
}

/// Checks that `name` is a relative repository path without `..`, empty or hidden parts.
pub fn validate_name(name: &str) -> BackendResult<()> {
    let bad = |reason| {
        Err(BackendError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.starts_with('/') {
        return bad("absolute path");
    }
    for part in name.split('/') {
        if part.is_empty() {
            return bad("empty path component");
        }
        if part.starts_with('.') {
            return bad("component starts with '.'");
        }
        if !part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return bad("only a-z, A-Z, 0-9, '-', '_' and '/' are allowed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_relative_and_plain() {
        assert!(validate_name("data/ab/ab12").is_ok());
        assert!(validate_name("keys/recovery").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "data//x",
            "../x",
            "data/.tmp",
            "a b",
            "x/",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
