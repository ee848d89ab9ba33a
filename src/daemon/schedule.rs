//! Syncs run by the daemon: on request (`bcpvault sync` while mounted) and on the
//! profile's schedule, including a run missed while the machine was off (caught up
//! at the next start). One sync at a time; each first backs up the profile's
//! `sources`, then commits the live drive as a snapshot, then uploads what each
//! remote lacks (snapshots last).

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::{DateTime, TimeZone, Utc};

use crate::profile::{Profile, Remote};
use crate::repo::{BlobId, NoProgress};
use crate::vfs::VaultFs;
use crate::vfs::inode::{InodeKind, ROOT};

/// The sync lock and the profile it follows.
pub struct Syncer {
    /// The profile (schedule, remotes, sources).
    pub profile: Profile,
    busy: Mutex<()>,
}

/// Every chunk the live drive's files use.
fn live_chunks(vault: &VaultFs) -> HashSet<BlobId> {
    let mut out = HashSet::new();
    let mut dirs = vec![ROOT];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = vault.namespace().list(dir) else {
            continue;
        };
        for (_, inode) in entries {
            match inode.kind {
                InodeKind::File { chunks, .. } => out.extend(chunks.into_iter().map(|(id, _)| id)),
                InodeKind::Dir => dirs.push(inode.ino),
                InodeKind::Symlink { .. } => {}
            }
        }
    }
    out
}

/// The last run of a remote as a time, if any.
fn last_run_time(vault: &VaultFs, remote: &str) -> Option<DateTime<Utc>> {
    crate::sync::last_run(vault.repo().db(), remote)
        .ok()
        .flatten()
        .and_then(|r| Utc.timestamp_opt(r.finished_unix, 0).single())
}

impl Syncer {
    /// A syncer for `profile`.
    pub fn new(profile: Profile) -> Syncer {
        Syncer {
            profile,
            busy: Mutex::new(()),
        }
    }

    /// Backs up sources, snapshots the drive, syncs `remotes`; one line per step.
    /// Fails with the first line that went wrong (later remotes still run).
    pub fn run(
        &self,
        vault: &VaultFs,
        host: &str,
        remotes: &[Remote],
    ) -> Result<Vec<String>, String> {
        let _one = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let mut lines = Vec::new();
        let mut failed = Vec::new();
        // Before the backup and the drive snapshot, so they keep off packs a
        // remote's prune deleted; the drive's live files pin the packs they use.
        let pinned = live_chunks(vault);
        for remote in remotes {
            // An unreachable remote is reported by its sync below.
            if let Ok(p) = crate::sync::take_in_prunes(vault.repo(), remote, Some(&pinned))
                && p.markers > 0
            {
                lines.push(format!(
                    "remote {}: prune taken in: {} deleted pack(s) retired here, {} object(s) to upload again",
                    remote.name, p.retired, p.restored
                ));
            }
        }
        if !self.profile.sources.is_empty() {
            let opts = crate::repo::WriteOptions {
                deferred: false,
                ..vault.write_options().clone()
            };
            match crate::repo::backup(
                vault.repo(),
                &self.profile.sources,
                &opts,
                host,
                &NoProgress,
            ) {
                Ok(s) => lines.push(format!(
                    "sources backed up: snapshot {}",
                    s.snapshot.short()
                )),
                Err(e) => failed.push(format!("backup of sources failed: {e}")),
            }
        }
        match crate::vfs::snapshot::snapshot_live(vault, host) {
            Ok(id) => lines.push(format!("drive snapshot {}", id.short())),
            Err(e) => failed.push(format!("snapshot of the drive failed: {e}")),
        }
        for remote in remotes {
            match crate::sync::sync_remote(vault.repo(), remote, &NoProgress) {
                Ok(s) => lines.push(format!(
                    "remote {}: {} object(s) sent ({} bytes), {} already there, {:.1}s",
                    s.remote,
                    s.uploaded,
                    s.bytes_sent,
                    s.already_present,
                    s.elapsed.as_secs_f64()
                )),
                Err(e) => failed.push(format!("remote {}: {e}", remote.name)),
            }
        }
        for f in &failed {
            tracing::error!(problem = %f, "sync");
        }
        for l in &lines {
            tracing::info!(done = %l, "sync");
        }
        match failed.into_iter().next() {
            Some(first) => Err(first),
            None => Ok(lines),
        }
    }

    /// Remotes whose scheduled run is due (or was missed) now.
    pub fn due(&self, vault: &VaultFs, now: DateTime<Utc>) -> Vec<Remote> {
        if self.profile.schedule.is_empty() {
            return Vec::new();
        }
        self.profile
            .remotes
            .iter()
            .filter(|r| self.profile.missed_run(last_run_time(vault, &r.name), now))
            .cloned()
            .collect()
    }

    /// Per remote: last run (time, result, bytes) and next run, one line each.
    pub fn report(&self, vault: &VaultFs, now: DateTime<Utc>) -> Vec<String> {
        let next = self
            .profile
            .next_run(now)
            .map(|t| t.with_timezone(&self.profile.timezone).to_rfc3339())
            .unwrap_or_else(|| "not scheduled".into());
        self.profile
            .remotes
            .iter()
            .map(|r| {
                let last = match crate::sync::last_run(vault.repo().db(), &r.name)
                    .ok()
                    .flatten()
                {
                    Some(run) => format!(
                        "last {} ({}, {} bytes sent)",
                        Utc.timestamp_opt(run.finished_unix, 0)
                            .single()
                            .map(|t| t.with_timezone(&self.profile.timezone).to_rfc3339())
                            .unwrap_or_default(),
                        if run.ok {
                            "ok".to_string()
                        } else {
                            format!("failed: {}", run.error.unwrap_or_default())
                        },
                        run.bytes_sent
                    ),
                    None => "never synced".into(),
                };
                format!("remote {}: {last}; next {next}", r.name)
            })
            .collect()
    }
}
