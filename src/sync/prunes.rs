//! Taking in a prune of the remote (`forget --prune`, run with the admin key).
//!
//! The prune leaves a marker `pruned/<time>` naming every pack and index copy it
//! deleted ([`super::forget::PRUNE_MARKER_DIR`]). The writer's store still holds
//! those packs, and its sync state says the remote has them. For each new marker:
//!
//! - If no snapshot of this store is waiting to be uploaded to the remote (and no
//!   `pinned` blob, e.g. a file on the live drive, lives in a deleted pack), the
//!   deleted packs are **retired** in the store ([`Repository::retire_packs`]): new
//!   snapshots no longer deduplicate against them, so nothing uploaded later needs
//!   them, and they stay recorded as "on the remote" so they are never offered
//!   again. A blob needed again is stored anew in a new pack and uploaded as new.
//! - A snapshot already committed locally but not yet uploaded may use any pack
//!   the store had when it was made (the writer cannot read the encrypted trees to
//!   tell which), so then every deleted pack goes up again, with the index copies
//!   that listed them. `bcpvault sync` and the daemon take prunes in *before*
//!   their backup, so this only happens when backups ran between the prune and
//!   the next sync.
//! - A pack holding a pinned blob goes up again.
//!
//! Markers of older versions name nothing; for them the writer lists the remote and
//! re-uploads every pack and index copy the remote lost.

use std::collections::HashSet;

use crate::backend::{BackendError, ReadBackend, RemoteBackend};
use crate::repo::{BlobId, ObjectId, Repository};

use super::error::SyncError;
use super::forget::{PRUNE_MARKER_DIR, parse_prune_marker};
use super::retry::Backoff;
use super::state::RemoteState;

/// What taking in the remote's prunes did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneIntake {
    /// New prune markers seen.
    pub markers: u64,
    /// Deleted packs retired locally (never uploaded again).
    pub retired: u64,
    /// Deleted packs (and index copies) queued for upload again.
    pub restored: u64,
}

/// A failure while taking in prunes: on the remote or in the local DB.
pub(crate) enum IntakeError {
    /// The remote failed.
    Backend(BackendError),
    /// The store or its DB failed.
    Local(SyncError),
}

impl From<SyncError> for IntakeError {
    fn from(e: SyncError) -> IntakeError {
        IntakeError::Local(e)
    }
}

/// Takes in the prune markers of `target` not seen before (see the module docs).
pub(crate) fn take_in(
    repo: &Repository,
    target: &RemoteBackend,
    backoff: &Backoff,
    state: &RemoteState,
    pinned: Option<&HashSet<BlobId>>,
) -> Result<PruneIntake, IntakeError> {
    let mut intake = PruneIntake::default();
    let mut markers = Vec::new();
    for m in backoff
        .run("list pruned", || target.list(PRUNE_MARKER_DIR))
        .map_err(IntakeError::Backend)?
    {
        if !state.has(&m.name)? {
            markers.push(m);
        }
    }
    if markers.is_empty() {
        return Ok(intake);
    }
    markers.sort_by(|a, b| a.name.cmp(&b.name));
    let waiting = {
        let mut any = false;
        for o in repo.backend().list("snapshots").map_err(SyncError::Local)? {
            if !state.has(&o.name)? {
                any = true;
                break;
            }
        }
        any
    };
    for m in markers {
        let text = backoff
            .run(&m.name, || target.read(&m.name))
            .map_err(IntakeError::Backend)?;
        match parse_prune_marker(&String::from_utf8_lossy(&text)) {
            None => intake.restored += restore_lost(target, backoff, state)?,
            Some(names) => {
                let packs: Vec<(String, ObjectId)> = names
                    .iter()
                    .filter(|n| n.starts_with("data/"))
                    .filter_map(|n| Some((n.clone(), ObjectId::from_hex(n.rsplit('/').next()?)?)))
                    .collect();
                let needed = needed_packs(repo, &packs, waiting, pinned)?;
                let mut retire = Vec::new();
                for (name, id) in &packs {
                    if needed.contains(id) {
                        state.unmark(name)?;
                        intake.restored += 1;
                    } else {
                        // Recorded as present: the store has it, the remote must
                        // not get it back.
                        state.mark(name, 0)?;
                        retire.push(*id);
                    }
                }
                // The deleted index copies list deleted packs: they go back only
                // when all of those do (a waiting snapshot), else the prune's
                // replacement copies cover what is left.
                for name in names.iter().filter(|n| n.starts_with("index/")) {
                    if waiting {
                        state.unmark(name)?;
                        intake.restored += 1;
                    } else {
                        state.mark(name, 0)?;
                    }
                }
                repo.retire_packs(&retire)
                    .map_err(|e| SyncError::Store(Box::new(e)))?;
                intake.retired += retire.len() as u64;
            }
        }
        state.mark(&m.name, m.size)?;
        intake.markers += 1;
    }
    Ok(intake)
}

/// Which of the deleted `packs` a snapshot still to be uploaded may need: all of
/// them when one is waiting, else those holding a pinned blob.
fn needed_packs(
    repo: &Repository,
    packs: &[(String, ObjectId)],
    waiting: bool,
    pinned: Option<&HashSet<BlobId>>,
) -> Result<HashSet<ObjectId>, SyncError> {
    if waiting {
        return Ok(packs.iter().map(|(_, id)| *id).collect());
    }
    let Some(pinned) = pinned.filter(|p| !p.is_empty()) else {
        return Ok(HashSet::new());
    };
    let deleted: HashSet<ObjectId> = packs.iter().map(|(_, id)| *id).collect();
    let mut needed = HashSet::new();
    for id in pinned {
        let loc = repo.locate(id).map_err(|e| SyncError::Store(Box::new(e)))?;
        if let Some(loc) = loc.filter(|l| deleted.contains(&l.pack)) {
            needed.insert(loc.pack);
        }
    }
    Ok(needed)
}

/// For a marker that names nothing: every pack and index copy this store uploaded
/// that the remote no longer has is uploaded again.
fn restore_lost(
    target: &RemoteBackend,
    backoff: &Backoff,
    state: &RemoteState,
) -> Result<u64, IntakeError> {
    let mut restored = 0;
    for dir in ["data", "index"] {
        let present: HashSet<String> = backoff
            .run("list", || target.list(dir))
            .map_err(IntakeError::Backend)?
            .into_iter()
            .map(|o| o.name)
            .collect();
        for name in state.names_under(dir)? {
            if !present.contains(&name) {
                state.unmark(&name)?;
                restored += 1;
            }
        }
    }
    Ok(restored)
}
