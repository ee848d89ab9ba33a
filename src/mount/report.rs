//! Logging of failed filesystem requests, shared by every adapter so that Linux
//! and Windows log the same failures at the same level.

use crate::vfs::VfsError;

/// Logs a failed request: at error level when the caller cannot see the reason
/// (damage, I/O, a full disk or quota), at debug level for ordinary refusals
/// (not found, exists, sealed — the vault logs those itself where they matter).
pub fn failure(op: &'static str, e: &VfsError) {
    match e {
        VfsError::Damaged(_) | VfsError::Repo(_) | VfsError::Io { .. } | VfsError::NoSpace(_) => {
            tracing::error!(op, error = %e, "operation failed");
        }
        _ => tracing::debug!(op, error = %e, "operation refused"),
    }
}
