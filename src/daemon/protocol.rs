//! The control protocol: one JSON request line, one JSON response line, over the
//! daemon's Unix socket. Passwords cross only this local, owner-only socket and are
//! held in zeroizing buffers on both ends.

use serde::{Deserialize, Serialize};

/// A request to the mount daemon.
#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// State of the mount.
    Status,
    /// One executive's approval toward the unlock.
    Approve {
        /// Executive name.
        executive: String,
        /// Their password (moved into a zeroizing buffer on arrival).
        password: String,
    },
    /// Seal now: drop the key.
    Seal,
    /// Commit the live tree as a snapshot.
    Snapshot,
    /// Seal open files, unmount, stop.
    Umount,
    /// Back up sources, snapshot the drive and sync remotes now.
    Sync {
        /// Only this remote (default: all).
        remote: Option<String>,
    },
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Status => f.write_str("Status"),
            Request::Approve { executive, .. } => {
                write!(f, "Approve {{ executive: {executive:?}, .. }}")
            }
            Request::Seal => f.write_str("Seal"),
            Request::Snapshot => f.write_str("Snapshot"),
            Request::Umount => f.write_str("Umount"),
            Request::Sync { remote } => write!(f, "Sync {{ remote: {remote:?} }}"),
        }
    }
}

/// The state a daemon reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Status {
    /// Vault name.
    pub vault: String,
    /// Mount point.
    pub mountpoint: String,
    /// Daemon pid.
    pub pid: u32,
    /// `sealed` or `unlocked`.
    pub state: String,
    /// RFC 3339 end of the unlock, when unlocked.
    pub unlocked_until: Option<String>,
    /// Approvals collected toward an unlock.
    pub approvals: usize,
    /// Approvals needed.
    pub threshold: usize,
    /// Names of executives who approved so far.
    pub approved_by: Vec<String>,
    /// Open file handles.
    pub open_handles: usize,
    /// Stored bytes (packs).
    pub stored_bytes: u64,
    /// Quota, if any.
    pub quota: Option<u64>,
    /// Newest snapshot id, if any.
    pub last_snapshot: Option<String>,
    /// Per remote: last sync (time, result, bytes) and next scheduled run.
    #[serde(default)]
    pub remotes: Vec<String>,
}

/// A daemon's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Response {
    /// The request failed; `message` is one line for the user.
    Error {
        /// What went wrong.
        message: String,
    },
    /// Current state.
    Status(Status),
    /// Approval accepted; `unlocked_until` set once the threshold was reached.
    Approved {
        /// Approvals so far.
        have: usize,
        /// Threshold.
        need: usize,
        /// RFC 3339 end of the unlock when complete.
        unlocked_until: Option<String>,
    },
    /// Done (seal, umount).
    Done {
        /// What happened.
        message: String,
    },
    /// A sync ran; one line per step.
    Synced {
        /// What was done.
        lines: Vec<String>,
    },
    /// A snapshot was committed.
    Snapshot {
        /// Its id.
        id: String,
    },
}
