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

pub mod clock;
pub mod error;
pub mod forget;
pub mod prunes;
pub mod retry;
pub mod state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::verify::check_object;
use crate::backend::{
    BackendError, Credential, ReadBackend, RemoteBackend, WriteBackend, WriteOutcome, open_remote,
};
use crate::keys::KeyFiles;
use crate::profile::Remote;
use crate::repo::{Progress, Repository};

pub use clock::{Clock, SystemClock};
pub use error::SyncError;
pub use prunes::PruneIntake;
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
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Retry policy for lost connections.
    pub backoff: Backoff,
    /// Stamps the recorded run ([`LastRun::finished_unix`]), which the daemon's
    /// schedule compares with its own clock.
    pub clock: Arc<dyn Clock>,
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions {
            backoff: Backoff::default(),
            clock: Arc::new(SystemClock),
        }
    }
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

/// Takes in the prunes done on `remote` since the last sync (see [`prunes`]),
/// before a backup: run first, they keep the new snapshot off the deleted packs so
/// the next sync uploads only what is new. `pinned` blobs (the live drive's) keep
/// the deleted packs holding them queued for upload again.
pub fn take_in_prunes(
    repo: &Repository,
    remote: &Remote,
    pinned: Option<&std::collections::HashSet<crate::repo::BlobId>>,
) -> Result<PruneIntake, SyncError> {
    let remote_err = |source: BackendError| SyncError::Remote {
        remote: remote.name.clone(),
        source,
    };
    let backoff = Backoff::default();
    let (target, fresh) = connect(remote, &backoff).map_err(remote_err)?;
    if fresh {
        // A new or emptied remote gets everything anyway.
        return Ok(PruneIntake::default());
    }
    let state = state::RemoteState::open(repo.db(), &remote.name, &target.describe(), fresh)?;
    prunes::take_in(repo, &target, &backoff, &state, pinned).map_err(|e| match e {
        prunes::IntakeError::Backend(source) => remote_err(source),
        prunes::IntakeError::Local(e) => e,
    })
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
        finished_unix: options.clock.now().timestamp(),
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
    let (target, fresh) = connect(remote, &backoff).map_err(remote_err)?;
    let state = state::RemoteState::open(repo.db(), &remote.name, &target.describe(), fresh)?;
    prunes::take_in(repo, &target, &backoff, &state, None).map_err(|e| match e {
        prunes::IntakeError::Backend(source) => remote_err(source),
        prunes::IntakeError::Local(e) => e,
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

/// Opens `remote` with the writer's credential; `true` when it has no `config`
/// (new or emptied: its sync state starts over).
fn connect(remote: &Remote, backoff: &Backoff) -> Result<(RemoteBackend, bool), BackendError> {
    let target = backoff.run("connect", || open_remote(remote, Credential::Writer))?;
    let fresh = backoff
        .run("stat config", || target.stat("config"))?
        .is_none();
    Ok((target, fresh))
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
