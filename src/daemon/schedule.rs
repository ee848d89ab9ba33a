//! Syncs run by the daemon: on request (`bcpvault sync` while mounted) and on the
//! profile's schedule, including a run missed while the machine was off (caught up
//! at the next start). One sync at a time; each first backs up the profile's
//! `sources`, then commits the live drive as a snapshot, then uploads what each
//! remote lacks (snapshots last). Runs are stamped by the syncer's [`Clock`] (the
//! system clock in the daemon), so the schedule can be tested against a clock
//! moved by hand.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};

use crate::profile::{Profile, Remote};
use crate::repo::{BlobId, NoProgress};
use crate::sync::{Clock, SyncOptions, SystemClock};
use crate::vfs::VaultFs;
use crate::vfs::inode::{InodeKind, ROOT};

/// The sync lock, the profile it follows and the clock it runs by.
pub struct Syncer {
    /// The profile (schedule, remotes, sources).
    pub profile: Profile,
    clock: Arc<dyn Clock>,
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
    /// A syncer for `profile` on the system clock.
    pub fn new(profile: Profile) -> Syncer {
        Syncer::with_clock(profile, Arc::new(SystemClock))
    }

    /// A syncer whose runs are stamped by `clock`; [`Self::due`] and
    /// [`Self::report`] must be given times from the same clock.
    pub fn with_clock(profile: Profile, clock: Arc<dyn Clock>) -> Syncer {
        Syncer {
            profile,
            clock,
            busy: Mutex::new(()),
        }
    }

    /// Now, by this syncer's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
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
            let options = SyncOptions {
                clock: self.clock.clone(),
                ..SyncOptions::default()
            };
            match crate::sync::sync_remote_with(vault.repo(), remote, &NoProgress, &options) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{KdfParams, Password};
    use crate::keys::{Ceremony, Executive, KeyFiles};
    use crate::repo::{Repository, WriteOptions};
    use crate::vfs::vault::VaultOptions;
    use chrono::TimeZone;

    /// A clock the test moves by hand.
    #[derive(Debug)]
    struct HandClock(Mutex<DateTime<Utc>>);

    impl Clock for HandClock {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }

    impl HandClock {
        fn set(&self, t: DateTime<Utc>) {
            *self.0.lock().unwrap() = t;
        }
    }

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap()
    }

    /// A real store and drive, scheduled `daily 02:00` (UTC) to a local remote
    /// `usb` at `remote`.
    struct Rig {
        _dir: tempfile::TempDir,
        remote: std::path::PathBuf,
        clock: Arc<HandClock>,
        syncer: Syncer,
        vault: VaultFs,
    }

    impl Rig {
        fn new(start: DateTime<Utc>) -> Rig {
            let dir = tempfile::tempdir().unwrap();
            let store = dir.path().join("store");
            let remote = dir.path().join("usb");
            // One executive and the cheapest KDF: the schedule is under test.
            let kdf = KdfParams {
                parallelism: 1,
                iterations: 1,
                memory_kib: 1024,
            };
            let tanaka = Executive {
                name: "tanaka".into(),
                password: Password::new("first-password-one".into()),
            };
            Ceremony {
                key_bits: 2048,
                threshold: 1,
                executives: vec![tanaka],
                vault_name: "sched".into(),
                kdf,
            }
            .run(&KeyFiles::new(&store))
            .unwrap();
            let text = format!(
                "name = \"sched\"\nstore = \"{}\"\nschedule = [\"daily 02:00\"]\ntimezone = \"UTC\"\n\n[[remote]]\nname = \"usb\"\ntype = \"local\"\npath = \"{}\"\n",
                store.display(),
                remote.display()
            );
            let profile: Profile = text.parse().unwrap();
            let repo = Arc::new(Repository::open(&store).unwrap());
            let vault = VaultFs::new(
                repo,
                VaultOptions {
                    write: WriteOptions {
                        compression_level: 3,
                        pack_size: 1 << 20,
                        quota: None,
                        deferred: true,
                    },
                    staging_memory: 1 << 20,
                    readers: Default::default(),
                    root_owner: (0, 0),
                },
            )
            .unwrap();
            let clock = Arc::new(HandClock(Mutex::new(start)));
            let syncer = Syncer::with_clock(profile, clock.clone());
            Rig {
                _dir: dir,
                remote,
                clock,
                syncer,
                vault,
            }
        }

        /// Remote names due now by the hand clock.
        fn due(&self) -> Vec<String> {
            let now = self.syncer.now();
            self.syncer
                .due(&self.vault, now)
                .into_iter()
                .map(|r| r.name)
                .collect()
        }

        /// Runs what is due, as the daemon's loop does; the result if anything ran.
        fn tick(&self) -> Option<Result<Vec<String>, String>> {
            let due = self.syncer.due(&self.vault, self.syncer.now());
            (!due.is_empty()).then(|| self.syncer.run(&self.vault, "host", &due))
        }

        fn report(&self) -> String {
            self.syncer
                .report(&self.vault, self.syncer.now())
                .join("\n")
        }

        fn remote_snapshots(&self) -> usize {
            std::fs::read_dir(self.remote.join("snapshots"))
                .map(|d| d.count())
                .unwrap_or(0)
        }
    }

    #[test]
    fn a_due_run_fires_once_and_the_next_run_is_reported() {
        let rig = Rig::new(at(2, 1, 0));
        // First start: yesterday's 02:00 lies in the first-run look-back.
        assert_eq!(rig.due(), ["usb"]);
        rig.tick().unwrap().unwrap();
        assert_eq!(rig.remote_snapshots(), 1);
        assert!(rig.due().is_empty());
        let report = rig.report();
        assert!(
            report.contains("last 2026-03-02T01:00:00+00:00 (ok"),
            "{report}"
        );
        assert!(
            report.contains("next 2026-03-02T02:00:00+00:00"),
            "{report}"
        );

        rig.clock.set(at(2, 1, 59));
        assert!(rig.tick().is_none());
        rig.clock.set(at(2, 2, 0));
        rig.tick().unwrap().unwrap();
        assert_eq!(rig.remote_snapshots(), 2);
        // Once: later ticks the same night do nothing.
        for m in [0, 1, 30] {
            rig.clock.set(at(2, 2, m));
            assert!(rig.tick().is_none(), "ran again at 02:{m:02}");
        }
        rig.clock.set(at(3, 1, 59));
        assert!(rig.tick().is_none());
        assert_eq!(rig.remote_snapshots(), 2);
        let report = rig.report();
        assert!(
            report.contains("next 2026-03-03T02:00:00+00:00"),
            "{report}"
        );
    }

    #[test]
    fn runs_missed_while_off_are_caught_up_exactly_once() {
        let rig = Rig::new(at(2, 2, 0));
        rig.tick().unwrap().unwrap();
        // Off for three nights; started again mid-morning.
        rig.clock.set(at(5, 9, 30));
        assert_eq!(rig.due(), ["usb"]);
        rig.tick().unwrap().unwrap();
        assert_eq!(rig.remote_snapshots(), 2, "one catch-up run, not three");
        rig.clock.set(at(5, 9, 31));
        assert!(rig.tick().is_none());
        let report = rig.report();
        assert!(
            report.contains("last 2026-03-05T09:30:00+00:00 (ok"),
            "{report}"
        );
        assert!(
            report.contains("next 2026-03-06T02:00:00+00:00"),
            "{report}"
        );
    }

    #[test]
    fn a_failed_run_is_reported_and_retried_at_the_next_occurrence() {
        let rig = Rig::new(at(2, 2, 0));
        // The remote's path is a file: every sync to it fails.
        std::fs::write(&rig.remote, b"not a directory").unwrap();
        let err = rig.tick().unwrap().unwrap_err();
        assert!(err.contains("remote usb"), "{err}");
        let report = rig.report();
        assert!(report.contains("failed: "), "{report}");
        assert!(
            report.contains("next 2026-03-03T02:00:00+00:00"),
            "{report}"
        );
        // Not retried in a loop before the next occurrence…
        rig.clock.set(at(2, 2, 5));
        assert!(rig.tick().is_none());
        rig.clock.set(at(3, 1, 59));
        assert!(rig.tick().is_none());
        // …but at it, and then it succeeds.
        std::fs::remove_file(&rig.remote).unwrap();
        rig.clock.set(at(3, 2, 0));
        rig.tick().unwrap().unwrap();
        // The failed night's drive snapshot goes up too.
        assert_eq!(rig.remote_snapshots(), 2);
        let report = rig.report();
        assert!(
            report.contains("last 2026-03-03T02:00:00+00:00 (ok"),
            "{report}"
        );
    }
}
