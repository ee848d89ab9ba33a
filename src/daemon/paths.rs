//! Where a mount daemon keeps its files inside the store directory.

use std::path::{Path, PathBuf};

/// The control socket (owner-only unless `[mount] control_group` is set).
pub fn socket(store: &Path) -> PathBuf {
    store.join("control.sock")
}

/// The daemon's pid.
pub fn pid_file(store: &Path) -> PathBuf {
    store.join("daemon.pid")
}

/// The log of a background daemon.
pub fn log_file(store: &Path) -> PathBuf {
    store.join("daemon.log")
}
