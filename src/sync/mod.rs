//! Sync: copy the local store's repository to a remote, whatever the remote lacks.
//!
//! Order: `config`, the recovery bundle (`keys/recovery`, and `keys/recovery-g<N>`
//! for the current generation, so a rekeyed bundle reaches the append-only remote
//! too), packs (`data/`), index copies (`index/`), `audit/`, and **snapshots last**:
//! a snapshot is the commit point and is only uploaded after everything it
//! references. Snapshots are listed *before* packs and indexes, so a backup running
//! during the sync cannot get a snapshot uploaded ahead of its packs.
//!
//! Objects already uploaded are recorded per remote in the embedded DB
//! ([`state`]), so a re-run lists only the local store and uploads only what is new,
//! and an interrupted sync resumes where it stopped. Lost connections are retried
//! with exponential backoff ([`Backoff`]). Each object is checked against its
//! SHA-256 name before upload: local damage is never copied to a remote.

pub mod error;
pub mod forget;
pub mod retry;
pub mod state;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::backend::verify::check_object;
use crate::backend::{
    BackendError, Credential, ReadBackend, RemoteBackend, WriteBackend, WriteOutcome, open_remote,
};
use crate::keys::KeyFiles;
use crate::profile::Remote;
use crate::repo::{Progress, Repository};

pub use error::SyncError;
pub use retry::Backoff;
pub use state::{LastRun, last_run};

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Remote name.
    pub remote: String,
    /// Objects uploaded.
    pub uploaded: u64,
    /// Objects offered that the remote already had.
    pub already_present: u64,
    /// Bytes uploaded.
    pub bytes_sent: u64,
    /// Snapshots uploaded (newly committed on the remote).
    pub snapshots: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// Options of [`sync_remote_with`].
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Retry policy for lost connections.
    pub backoff: Backoff,
}

/// Syncs the store of `repo` to `remote` with the default retry policy, and records
/// the outcome (see [`last_run`]).
pub fn sync_remote(
    repo: &Repository,
    remote: &Remote,
    progress: &dyn Progress,
) -> Result<SyncSummary, SyncError> {
    sync_remote_with(repo, remote, progress, &SyncOptions::default())
}

/// [`sync_remote`] with explicit options.
pub fn sync_remote_with(
    repo: &Repository,
    remote: &Remote,
    progress: &dyn Progress,
    options: &SyncOptions,
) -> Result<SyncSummary, SyncError> {
    let start = Instant::now();
    let mut summary = SyncSummary {
        remote: remote.name.clone(),
        ..Default::default()
    };
    let result = run(repo, remote, progress, options, &mut summary);
    summary.elapsed = start.elapsed();
    let run = LastRun {
        finished_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
        ok: result.is_ok(),
        objects: summary.uploaded,
        bytes_sent: summary.bytes_sent,
        elapsed_ms: summary.elapsed.as_millis() as u64,
        error: result.as_ref().err().map(|e| e.to_string()),
    };
    state::record_run(repo.db(), &remote.name, &run)?;
    result.map(|()| summary)
}

fn run(
    repo: &Repository,
    remote: &Remote,
    progress: &dyn Progress,
    options: &SyncOptions,
    summary: &mut SyncSummary,
) -> Result<(), SyncError> {
    let remote_err = |source: BackendError| SyncError::Remote {
        remote: remote.name.clone(),
        source,
    };
    let backoff = options.backoff;
    let target = backoff
        .run("connect", || open_remote(remote, Credential::Writer))
        .map_err(remote_err)?;
    let fresh = backoff
        .run("stat config", || target.stat("config"))
        .map_err(remote_err)?
        .is_none();
    let state = state::RemoteState::open(repo.db(), &remote.name, &target.describe(), fresh)?;
    reconcile_after_prune(&target, &backoff, &state).map_err(|e| match e {
        Reconcile::Backend(source) => remote_err(source),
        Reconcile::State(e) => e,
    })?;

    let local = repo.backend();
    // Snapshots first: everything they reference is already in the store.
    let snapshots = local.list("snapshots").map_err(SyncError::Local)?;
    let mut plan: Vec<(String, u64)> = Vec::new();
    for dir in ["data", "index", "audit"] {
        for o in local.list(dir).map_err(SyncError::Local)? {
            plan.push((o.name, o.size));
        }
    }
    plan.extend(snapshots.into_iter().map(|o| (o.name, o.size)));
    let mut todo = Vec::new();
    for (name, size) in plan {
        if !state.has(&name)? {
            todo.push((name, size));
        }
    }

    // Small, always offered (a stat each): the remote must be usable for recovery.
    let files = KeyFiles::new(repo.store());
    let bundle_bytes = std::fs::read(files.bundle_path()).map_err(|source| SyncError::KeyFile {
        path: files.bundle_path(),
        source,
    })?;
    let config = local.read("config").map_err(SyncError::Local)?;
    let bundle_gen = format!("keys/recovery-g{}", repo.bundle().generation);
    let head: Vec<(String, Vec<u8>)> = vec![
        ("config".to_string(), config),
        ("keys/recovery".to_string(), bundle_bytes.clone()),
        (bundle_gen, bundle_bytes),
    ];

    progress.total(
        head.iter().map(|(_, b)| b.len() as u64).sum::<u64>()
            + todo.iter().map(|(_, s)| s).sum::<u64>(),
    );
    for (name, bytes) in &head {
        upload(&target, &backoff, remote, name, bytes, summary)?;
        progress.advance(bytes.len() as u64);
    }
    for (name, _) in &todo {
        let bytes = local.read(name).map_err(SyncError::Local)?;
        if let Err(e) = check_object(name, &bytes) {
            return Err(SyncError::LocalDamaged {
                remote: remote.name.clone(),
                name: name.clone(),
                problem: e.to_string(),
            });
        }
        let written = upload(&target, &backoff, remote, name, &bytes, summary)?;
        if written && name.starts_with("snapshots/") {
            summary.snapshots += 1;
        }
        state.mark(name, bytes.len() as u64)?;
        progress.advance(bytes.len() as u64);
    }
    Ok(())
}

enum Reconcile {
    Backend(BackendError),
    State(SyncError),
}

/// A prune on the remote (recorded as a `pruned/<time>` marker by
/// [`forget::prune`]) deleted packs and index copies this store had uploaded; the
/// writer still deduplicates against them, so each one the remote lost is
/// forgotten here and uploaded again. Snapshots removed by `forget` stay removed.
fn reconcile_after_prune(
    target: &RemoteBackend,
    backoff: &Backoff,
    state: &state::RemoteState,
) -> Result<(), Reconcile> {
    let markers = backoff
        .run("list pruned", || target.list(forget::PRUNE_MARKER_DIR))
        .map_err(Reconcile::Backend)?;
    let mut new_markers = Vec::new();
    for m in markers {
        if !state.has(&m.name).map_err(Reconcile::State)? {
            new_markers.push(m);
        }
    }
    if new_markers.is_empty() {
        return Ok(());
    }
    for dir in ["data", "index"] {
        let present: std::collections::HashSet<String> = backoff
            .run("list", || target.list(dir))
            .map_err(Reconcile::Backend)?
            .into_iter()
            .map(|o| o.name)
            .collect();
        for name in state.names_under(dir).map_err(Reconcile::State)? {
            if !present.contains(&name) {
                state.unmark(&name).map_err(Reconcile::State)?;
            }
        }
    }
    for m in new_markers {
        state.mark(&m.name, m.size).map_err(Reconcile::State)?;
    }
    Ok(())
}

/// Uploads one object unless present; `true` when it was written now.
fn upload(
    target: &RemoteBackend,
    backoff: &Backoff,
    remote: &Remote,
    name: &str,
    bytes: &[u8],
    summary: &mut SyncSummary,
) -> Result<bool, SyncError> {
    let outcome = backoff
        .run(name, || target.write_if_absent(name, bytes))
        .map_err(|source| match source {
            BackendError::PermissionDenied { .. } => SyncError::WriteRefused {
                remote: remote.name.clone(),
                source,
            },
            source => SyncError::Remote {
                remote: remote.name.clone(),
                source,
            },
        })?;
    match outcome {
        WriteOutcome::Written => {
            summary.uploaded += 1;
            summary.bytes_sent += bytes.len() as u64;
            Ok(true)
        }
        WriteOutcome::AlreadyPresent => {
            summary.already_present += 1;
            Ok(false)
        }
    }
}
