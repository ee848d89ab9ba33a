//! Per-remote sync state in the embedded DB.
//!
//! Tree `sync:<remote>`: one key per object name known to be on the remote (value:
//! its size, u64 big-endian), plus the key `\0target` holding the remote's
//! description; when the description changes (the remote now points elsewhere) or
//! the remote lost its `config`, the tree is cleared and everything is offered
//! again (`write_if_absent` skips what is there). Tree `sync-runs`: the last run of
//! each remote as JSON ([`LastRun`]).

use serde::{Deserialize, Serialize};

use crate::db::Db;

use super::error::SyncError;

const TARGET_KEY: &[u8] = b"\0target";
const RUNS_TREE: &str = "sync-runs";

/// The outcome of the latest sync of one remote (for status displays).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    /// When it ended, seconds since the Unix epoch.
    pub finished_unix: i64,
    /// Whether it completed.
    pub ok: bool,
    /// Objects uploaded.
    pub objects: u64,
    /// Bytes uploaded.
    pub bytes_sent: u64,
    /// Duration in milliseconds.
    pub elapsed_ms: u64,
    /// The error line when it failed.
    pub error: Option<String>,
}

/// The uploaded-objects list of one remote.
pub struct RemoteState {
    db: Db,
    tree: sled::Tree,
}

impl RemoteState {
    /// Opens the state of `remote`; clears it when `target` (the backend
    /// description) differs from the recorded one or `fresh` (the remote has no
    /// `config`) is set.
    pub fn open(
        db: &Db,
        remote: &str,
        target: &str,
        fresh: bool,
    ) -> Result<RemoteState, SyncError> {
        let tree = db.tree(&format!("sync:{remote}"))?;
        let recorded = tree.get(TARGET_KEY).map_err(|e| db.err(e))?;
        if fresh || recorded.as_deref() != Some(target.as_bytes()) {
            tree.clear().map_err(|e| db.err(e))?;
            tree.insert(TARGET_KEY, target.as_bytes())
                .map_err(|e| db.err(e))?;
            db.flush()?;
        }
        Ok(RemoteState {
            db: db.clone(),
            tree,
        })
    }

    /// Whether `name` was uploaded before.
    pub fn has(&self, name: &str) -> Result<bool, SyncError> {
        Ok(self
            .tree
            .contains_key(name.as_bytes())
            .map_err(|e| self.db.err(e))?)
    }

    /// Records `name` as present on the remote (durably).
    pub fn mark(&self, name: &str, size: u64) -> Result<(), SyncError> {
        self.tree
            .insert(name.as_bytes(), &size.to_be_bytes())
            .map_err(|e| self.db.err(e))?;
        self.tree.flush().map_err(|e| self.db.err(e))?;
        Ok(())
    }

    /// Recorded object names under `dir/`.
    pub fn names_under(&self, dir: &str) -> Result<Vec<String>, SyncError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(format!("{dir}/").as_bytes()) {
            let (k, _) = item.map_err(|e| self.db.err(e))?;
            out.push(String::from_utf8_lossy(&k).into_owned());
        }
        Ok(out)
    }

    /// Forgets `name` (deleted from the remote by retention).
    pub fn unmark(&self, name: &str) -> Result<(), SyncError> {
        self.tree
            .remove(name.as_bytes())
            .map_err(|e| self.db.err(e))?;
        Ok(())
    }
}

/// Records the outcome of a sync of `remote`.
pub fn record_run(db: &Db, remote: &str, run: &LastRun) -> Result<(), SyncError> {
    let tree = db.tree(RUNS_TREE)?;
    let json = serde_json::to_vec(run).unwrap_or_default();
    tree.insert(remote.as_bytes(), json)
        .map_err(|e| db.err(e))?;
    db.flush()?;
    Ok(())
}

/// The latest sync of `remote`, if any ran from this store.
pub fn last_run(db: &Db, remote: &str) -> Result<Option<LastRun>, SyncError> {
    let tree = db.tree(RUNS_TREE)?;
    Ok(tree
        .get(remote.as_bytes())
        .map_err(|e| db.err(e))?
        .and_then(|v| serde_json::from_slice(&v).ok()))
}
