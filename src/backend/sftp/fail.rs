//! How SFTP failures become [`BackendError`]s: SFTP status codes for refusals and
//! missing files, libssh2 session errors (and I/O errors after which the server no
//! longer answers) for a lost connection, `statvfs@openssh.com` to recognise a full
//! disk behind OpenSSH's generic `SSH_FX_FAILURE`.

use std::io;

use ssh2::ErrorCode;

use super::connect::Conn;
use crate::backend::BackendError;

// SFTP v3 status codes (draft-ietf-secsh-filexfer-02) and later extensions.
const FX_NO_SUCH_FILE: i32 = 2;
const FX_PERMISSION_DENIED: i32 = 3;
const FX_FAILURE: i32 = 4;
const FX_NO_CONNECTION: i32 = 6;
const FX_CONNECTION_LOST: i32 = 7;
const FX_OP_UNSUPPORTED: i32 = 8;
const FX_NO_SUCH_PATH: i32 = 10;
const FX_WRITE_PROTECT: i32 = 12;
const FX_NO_SPACE_ON_FILESYSTEM: i32 = 14;
const FX_QUOTA_EXCEEDED: i32 = 15;

/// A failed SFTP operation, before it is mapped.
#[derive(Debug)]
pub enum Fail {
    /// An error from libssh2 with its code.
    Ssh(ssh2::Error),
    /// An error from reading or writing a remote file (libssh2 codes are lost here).
    Io(io::Error),
    /// A range read past the end of an object of `size` bytes.
    Short {
        /// The object's size.
        size: u64,
    },
    /// The server's filesystem is full.
    NoSpace,
}

impl Fail {
    fn sftp_code(&self) -> Option<i32> {
        match self {
            Fail::Ssh(e) => match e.code() {
                ErrorCode::SFTP(c) => Some(c),
                ErrorCode::Session(_) => None,
            },
            _ => None,
        }
    }

    /// Whether the file or directory does not exist.
    pub fn is_not_found(&self) -> bool {
        match self {
            Fail::Io(e) => e.kind() == io::ErrorKind::NotFound,
            _ => matches!(self.sftp_code(), Some(FX_NO_SUCH_FILE | FX_NO_SUCH_PATH)),
        }
    }

    /// Whether the server does not implement the operation.
    pub fn is_unsupported(&self) -> bool {
        self.sftp_code() == Some(FX_OP_UNSUPPORTED)
    }

    fn is_denied(&self) -> bool {
        match self {
            Fail::Io(e) => e.kind() == io::ErrorKind::PermissionDenied,
            _ => matches!(
                self.sftp_code(),
                Some(FX_PERMISSION_DENIED | FX_WRITE_PROTECT)
            ),
        }
    }

    /// Whether the session is unusable. Ambiguous I/O errors are settled by asking
    /// the server something harmless.
    pub fn is_connection(&self, conn: &Conn) -> bool {
        match self {
            Fail::Ssh(e) => match e.code() {
                ErrorCode::Session(_) => true,
                ErrorCode::SFTP(c) => matches!(c, FX_NO_CONNECTION | FX_CONNECTION_LOST),
            },
            Fail::Io(e) => match e.kind() {
                io::ErrorKind::TimedOut
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe => true,
                io::ErrorKind::NotFound
                | io::ErrorKind::AlreadyExists
                | io::ErrorKind::PermissionDenied => false,
                _ => conn.sftp.realpath(std::path::Path::new(".")).is_err(),
            },
            Fail::Short { .. } | Fail::NoSpace => false,
        }
    }

    /// After a failed write: OpenSSH reports ENOSPC as a generic failure, so a
    /// failure with less free space than the object needs is a full disk.
    pub fn with_space_check(self, file: &mut ssh2::File, needed: u64) -> Fail {
        let generic = match &self {
            Fail::Io(e) => e.kind() == io::ErrorKind::Other,
            Fail::Ssh(_) => self.sftp_code() == Some(FX_FAILURE),
            _ => false,
        };
        if matches!(
            self.sftp_code(),
            Some(FX_NO_SPACE_ON_FILESYSTEM | FX_QUOTA_EXCEEDED)
        ) {
            return Fail::NoSpace;
        }
        if generic
            && let Ok(vfs) = file.statvfs()
            && vfs.f_bavail.saturating_mul(vfs.f_frsize.max(1)) < needed
        {
            return Fail::NoSpace;
        }
        self
    }

    /// The backend error; `dead` when the connection was lost (after the retry).
    pub fn into_backend(
        self,
        backend: &str,
        op: &'static str,
        name: &str,
        dead: bool,
    ) -> BackendError {
        let backend_s = backend.to_string();
        let name_s = if name.is_empty() {
            "repository root".to_string()
        } else {
            name.to_string()
        };
        if dead {
            return BackendError::Disconnected {
                backend: backend_s,
                reason: format!(
                    "connection lost during {op} of {name_s}: {}",
                    self.message()
                ),
            };
        }
        if matches!(self, Fail::NoSpace)
            || matches!(
                self.sftp_code(),
                Some(FX_NO_SPACE_ON_FILESYSTEM | FX_QUOTA_EXCEEDED)
            )
        {
            return BackendError::NoSpace {
                backend: backend_s,
                name: name_s,
            };
        }
        if let Fail::Short { size } = self {
            return BackendError::ShortRead {
                backend: backend_s,
                name: name_s,
                offset: 0,
                len: 0,
                size,
            };
        }
        if self.is_not_found() && matches!(op, "read" | "stat" | "delete") {
            return BackendError::NotFound {
                backend: backend_s,
                name: name_s,
            };
        }
        if self.is_denied() {
            return BackendError::PermissionDenied {
                backend: backend_s,
                op,
                name: name_s,
            };
        }
        BackendError::Io {
            backend: backend_s,
            op,
            name: name_s,
            source: io::Error::other(self.message()),
        }
    }

    fn message(&self) -> String {
        match self {
            Fail::Ssh(e) => match e.code() {
                ErrorCode::SFTP(FX_FAILURE) => {
                    "the server reported a failure (SSH_FX_FAILURE)".to_string()
                }
                ErrorCode::SFTP(c) => format!("{} (SFTP status {c})", e.message()),
                ErrorCode::Session(c) => format!("{} (libssh2 error {c})", e.message()),
            },
            Fail::Io(e) => e.to_string(),
            Fail::Short { size } => format!("object is only {size} bytes"),
            Fail::NoSpace => "no space left".to_string(),
        }
    }
}
