//! Progress reporting as a trait, so the engine has no UI dependency; the CLI
//! implements it with a progress bar.

use std::path::Path;

/// Receives progress events from long operations. All methods default to no-ops.
pub trait Progress: Send + Sync {
    /// The total amount of work in bytes, when known.
    fn total(&self, _bytes: u64) {}
    /// `bytes` more were processed.
    fn advance(&self, _bytes: u64) {}
    /// Work on a file started.
    fn file(&self, _path: &Path) {}
    /// A non-fatal problem (an unreadable source file, a damaged object).
    fn warn(&self, _message: &str) {}
}

/// Ignores every event.
pub struct NoProgress;

impl Progress for NoProgress {}
