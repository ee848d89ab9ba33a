//! Retention on a remote (`bcpvault forget`), run with the admin credential.
//!
//! **Forget** needs no key: snapshot times are in the public header and every
//! snapshot's signature is checked with the writer's verifying key; snapshots
//! outside the policy are deleted. Snapshots that do not verify (planted, damaged,
//! another vault's) are never deleted by policy: `check --remote` reports them.
//!
//! **Prune** needs the unlocked key, because which chunks a snapshot uses is in its
//! encrypted trees: the trees of every kept snapshot are walked, packs holding no
//! used blob are deleted, and index copies that list a deleted pack are replaced by
//! a new copy of their remaining packs (written before the old one is deleted, so a
//! crash leaves a duplicate, never a gap). Packs that hold some used blobs are kept
//! whole (no repacking). A prune that deleted anything leaves a marker object
//! `pruned/<time µs>` naming what it deleted, so that writers syncing to the remote
//! take the deletions in (see [`super::prunes`]): the writer stops deduplicating
//! against the deleted packs and does not upload them again, unless a snapshot it
//! has not uploaded yet may need them.

use std::collections::{BTreeSet, HashSet};

use chrono::{Datelike, TimeZone};
use chrono_tz::Tz;

use crate::backend::verify::{check_object, content_name};
use crate::backend::{AdminBackend, BackendError, ReadBackend};
use crate::crypto::VaultPublicKey;
use crate::keys::RecoveryBundle;
use crate::profile::Retention;
use crate::repo::id::{BlobId, ObjectId, pack_name};
use crate::repo::index::IndexMap;
use crate::repo::snapshot::Snapshot;
use crate::repo::source::{Keyring, RepoReader};
use crate::repo::tree::NodeKind;
use crate::repo::{RepoError, pack};

use super::error::SyncError;

/// Directory of the markers a prune leaves: `pruned/<time µs>`, a summary line,
/// then one line `deleted <name>` per pack and index copy it deleted (markers of
/// older versions have only the summary line).
pub const PRUNE_MARKER_DIR: &str = "pruned";

/// Line prefix naming a deleted object in a prune marker.
pub const PRUNE_DELETED: &str = "deleted";

/// The objects a prune marker names as deleted; `None` for a marker of an older
/// version, which does not list them.
pub fn parse_prune_marker(text: &str) -> Option<Vec<String>> {
    let names: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix(PRUNE_DELETED)?.strip_prefix(' '))
        .map(str::to_string)
        .collect();
    (!names.is_empty()).then_some(names)
}

/// Directory of the records a forget leaves: `forgotten/<time µs>`, the names of the
/// snapshots it deleted, one a line. `check --remote` accepts a snapshot whose
/// predecessor is missing only when a record names that predecessor, so a snapshot
/// that vanished any other way is still reported as a broken chain.
pub const FORGET_RECORD_DIR: &str = "forgotten";

/// Snapshot names listed by the forget records of `backend` (see
/// [`FORGET_RECORD_DIR`]).
pub fn forgotten_snapshots(backend: &dyn ReadBackend) -> Result<HashSet<String>, BackendError> {
    let mut out = HashSet::new();
    for info in backend.list(FORGET_RECORD_DIR)? {
        let bytes = backend.read(&info.name)?;
        out.extend(
            String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| l.starts_with("snapshots/"))
                .map(str::to_string),
        );
    }
    Ok(out)
}

fn now_us() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

/// What forget decided and did.
#[derive(Debug, Clone, Default)]
pub struct ForgetSummary {
    /// Snapshot object names kept.
    pub kept: Vec<String>,
    /// Snapshot object names deleted.
    pub removed: Vec<String>,
    /// Snapshots left alone because they do not verify.
    pub unverified: Vec<String>,
}

/// What prune did.
#[derive(Debug, Clone, Default)]
pub struct PruneSummary {
    /// Packs deleted.
    pub packs_removed: u64,
    /// Their bytes.
    pub bytes_freed: u64,
    /// Packs kept because a kept snapshot uses some of their blobs.
    pub packs_kept: u64,
    /// Index copies rewritten or deleted.
    pub indexes_replaced: u64,
}

/// Which of `snaps` (name, time in µs) the policy keeps: the newest snapshot of each
/// of the last `keep_daily` days, `keep_weekly` ISO weeks and `keep_monthly` months
/// that have snapshots (in `tz`), the `keep_last` newest, and always the newest.
pub fn select_kept(snaps: &[(String, i64)], policy: &Retention, tz: Tz) -> BTreeSet<String> {
    let mut sorted: Vec<&(String, i64)> = snaps.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    let mut kept = BTreeSet::new();
    if let Some(newest) = sorted.first() {
        kept.insert(newest.0.clone());
    }
    for (i, s) in sorted.iter().enumerate() {
        if (i as u64) < u64::from(policy.keep_last.unwrap_or(0)) {
            kept.insert(s.0.clone());
        }
    }
    type Bucket = fn(chrono::DateTime<Tz>) -> (i32, u32);
    let rules: [(Option<u32>, Bucket); 3] = [
        (policy.keep_daily, |t| (t.year(), t.ordinal())),
        (policy.keep_weekly, |t| {
            let w = t.iso_week();
            (w.year(), w.week())
        }),
        (policy.keep_monthly, |t| (t.year(), t.month())),
    ];
    for (count, bucket) in rules {
        let Some(count) = count else { continue };
        let mut seen = HashSet::new();
        for s in &sorted {
            let Some(t) = tz.timestamp_micros(s.1).single() else {
                continue;
            };
            let b = bucket(t);
            if seen.contains(&b) {
                continue;
            }
            if seen.len() as u32 >= count {
                break;
            }
            seen.insert(b);
            kept.insert(s.0.clone());
        }
    }
    kept
}

/// Deletes the snapshots of `backend` that `policy` does not keep (all kept with
/// `dry_run`). Refuses an empty policy.
pub fn forget(
    backend: &dyn AdminBackend,
    remote: &str,
    bundle: &RecoveryBundle,
    policy: &Retention,
    tz: Tz,
    dry_run: bool,
) -> Result<ForgetSummary, SyncError> {
    let remote_err = |source: BackendError| SyncError::Remote {
        remote: remote.to_string(),
        source,
    };
    if policy.is_empty() {
        return Err(SyncError::Policy {
            remote: remote.to_string(),
            problem: "no retention rule given (--keep-daily/--keep-weekly/--keep-monthly/--keep-last or [retention]); refusing to delete anything".into(),
        });
    }
    let verifier = bundle
        .writer_verifying_key()
        .map_err(|e| SyncError::Policy {
            remote: remote.to_string(),
            problem: e.to_string(),
        })?;
    let mut summary = ForgetSummary::default();
    let mut dated = Vec::new();
    for info in backend.list("snapshots").map_err(remote_err)? {
        let bytes = backend.read(&info.name).map_err(remote_err)?;
        let verified = check_object(&info.name, &bytes).is_ok()
            && matches!(Snapshot::parse_verified(&bytes, &verifier),
                Ok(s) if s.header.vault_id == bundle.vault_id);
        match Snapshot::parse(&bytes) {
            Ok(s) if verified => dated.push((info.name, s.header.time_us)),
            _ => summary.unverified.push(info.name),
        }
    }
    let kept = select_kept(&dated, policy, tz);
    for (name, _) in &dated {
        if kept.contains(name) {
            summary.kept.push(name.clone());
        } else {
            summary.removed.push(name.clone());
        }
    }
    if dry_run || summary.removed.is_empty() {
        return Ok(summary);
    }
    // The record goes first: a crash mid-way leaves it naming a snapshot that is
    // still there (harmless), never a gap in the chain that no record explains.
    let mut record = String::new();
    for name in &summary.removed {
        record.push_str(name);
        record.push('\n');
    }
    backend
        .write_if_absent(
            &format!("{FORGET_RECORD_DIR}/{}", now_us()),
            record.as_bytes(),
        )
        .map_err(remote_err)?;
    for name in &summary.removed {
        backend.delete(name).map_err(remote_err)?;
    }
    Ok(summary)
}

/// Deletes packs no remaining snapshot uses and replaces the index copies that
/// list them. Needs the unlocked key (trees are encrypted).
pub fn prune(
    backend: &dyn AdminBackend,
    remote: &str,
    keys: &Keyring<'_>,
    recipients: &[&VaultPublicKey],
    dry_run: bool,
) -> Result<PruneSummary, SyncError> {
    let remote_err = |source: BackendError| SyncError::Remote {
        remote: remote.to_string(),
        source,
    };
    let repo_err = |e: RepoError| match e {
        RepoError::Backend(source) => remote_err(source),
        other => SyncError::Policy {
            remote: remote.to_string(),
            problem: format!("prune stopped, nothing deleted: {other}"),
        },
    };
    // Every blob a remaining snapshot reaches.
    let mut used: HashSet<BlobId> = HashSet::new();
    {
        let mut reader = RepoReader::open(backend, keys).map_err(repo_err)?;
        let snaps = reader.snapshots().map_err(repo_err)?;
        let mut stack: Vec<BlobId> = snaps.iter().map(|(_, s)| s.header.root).collect();
        while let Some(id) = stack.pop() {
            if !used.insert(id) {
                continue;
            }
            let tree = reader.tree(&id).map_err(repo_err)?;
            for node in &tree.nodes {
                match &node.kind {
                    NodeKind::Dir { subtree } => stack.push(*subtree),
                    NodeKind::File { chunks, .. } => used.extend(chunks.iter().copied()),
                    NodeKind::Symlink { .. } => {}
                }
            }
        }
        if let Some((name, problem)) = reader.bad_objects().iter().next() {
            return Err(SyncError::Policy {
                remote: remote.to_string(),
                problem: format!(
                    "prune refused, nothing deleted: {name} is damaged ({problem}); run check --remote"
                ),
            });
        }
    }
    // Blob tables: from the index copies, else from the packs themselves.
    let mut tables = IndexMap::default();
    let mut index_copies = Vec::new();
    for info in backend.list("index").map_err(remote_err)? {
        let bytes = backend.read(&info.name).map_err(remote_err)?;
        let map = IndexMap::open(&bytes, keys.private)
            .map_err(|e| repo_err(RepoError::malformed(&info.name, e)))?;
        for (p, entries) in &map.packs {
            tables.add_pack(*p, entries.clone());
        }
        index_copies.push((info.name, map));
    }
    let mut summary = PruneSummary::default();
    let mut doomed = Vec::new();
    for info in backend.list("data").map_err(remote_err)? {
        let id = info
            .name
            .rsplit('/')
            .next()
            .and_then(ObjectId::from_hex)
            .unwrap_or_default();
        let entries = match tables.packs.get(&id) {
            Some(e) => e.clone(),
            None => {
                let bytes = backend.read(&info.name).map_err(remote_err)?;
                pack::open(&bytes, keys.private)
                    .map_err(|e| SyncError::Policy {
                        remote: remote.to_string(),
                        problem: format!("prune refused, nothing deleted: {}: {e}", info.name),
                    })?
                    .entries
                    .clone()
            }
        };
        if entries.iter().any(|e| used.contains(&e.id)) {
            summary.packs_kept += 1;
        } else {
            doomed.push((id, info.size));
        }
    }
    // New index copies first, then packs, then the old copies.
    let mut old_indexes = Vec::new();
    for (name, map) in &index_copies {
        if !map.packs.keys().any(|p| doomed.iter().any(|(d, _)| d == p)) {
            continue;
        }
        let mut rest = IndexMap::default();
        for (p, e) in &map.packs {
            if !doomed.iter().any(|(d, _)| d == p) {
                rest.add_pack(*p, e.clone());
            }
        }
        if !rest.packs.is_empty() && !dry_run {
            let bytes = rest.seal(recipients).map_err(|e| SyncError::Policy {
                remote: remote.to_string(),
                problem: format!("cannot seal a new index copy: {e}"),
            })?;
            backend
                .write_if_absent(&content_name("index", &bytes), &bytes)
                .map_err(remote_err)?;
        }
        old_indexes.push(name.clone());
    }
    for (id, size) in &doomed {
        if !dry_run {
            backend.delete(&pack_name(id)).map_err(remote_err)?;
        }
        summary.packs_removed += 1;
        summary.bytes_freed += size;
    }
    for name in &old_indexes {
        if !dry_run {
            backend.delete(name).map_err(remote_err)?;
        }
        summary.indexes_replaced += 1;
    }
    if !dry_run && (summary.packs_removed > 0 || summary.indexes_replaced > 0) {
        let marker = format!("{PRUNE_MARKER_DIR}/{}", now_us());
        let mut text = format!(
            "packs removed {}, index copies replaced {}\n",
            summary.packs_removed, summary.indexes_replaced
        );
        for name in doomed
            .iter()
            .map(|(id, _)| pack_name(id))
            .chain(old_indexes.iter().cloned())
        {
            text.push_str(&format!("{PRUNE_DELETED} {name}\n"));
        }
        backend
            .write_if_absent(&marker, text.as_bytes())
            .map_err(remote_err)?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;

    fn snaps(times: &[i64]) -> Vec<(String, i64)> {
        times
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("s{i}"), *t))
            .collect()
    }

    #[test]
    fn daily_keeps_the_newest_of_each_day() {
        // Two a day for 5 days (UTC), noon and 18:00.
        let mut times = Vec::new();
        for d in 0..5 {
            times.push(d * DAY + DAY / 2);
            times.push(d * DAY + DAY * 3 / 4);
        }
        let all = snaps(&times);
        let policy = Retention {
            keep_daily: Some(3),
            ..Default::default()
        };
        let kept = select_kept(&all, &policy, chrono_tz::UTC);
        let want: BTreeSet<String> = ["s9", "s7", "s5"].iter().map(|s| s.to_string()).collect();
        assert_eq!(kept, want);
    }

    #[test]
    fn newest_is_always_kept_and_rules_add_up() {
        let all = snaps(&[0, 40 * DAY, 80 * DAY, 81 * DAY]);
        let only_last = Retention {
            keep_last: Some(1),
            ..Default::default()
        };
        assert_eq!(select_kept(&all, &only_last, chrono_tz::UTC).len(), 1);
        let monthly = Retention {
            keep_monthly: Some(12),
            ..Default::default()
        };
        // Jan 1, Feb 10, Mar 22 and Mar 23 (1970): three months, newest of each.
        let kept = select_kept(&all, &monthly, chrono_tz::UTC);
        assert_eq!(kept.len(), 3, "{kept:?}");
        assert!(!kept.contains("s2"));
    }

    #[test]
    fn days_follow_the_time_zone() {
        // 14:00 and 16:00 UTC on one day are 23:00 and 01:00 in Tokyo (UTC+9).
        let all = snaps(&[DAY * 10 + DAY * 14 / 24, DAY * 10 + DAY * 16 / 24]);
        let policy = Retention {
            keep_daily: Some(5),
            ..Default::default()
        };
        assert_eq!(select_kept(&all, &policy, chrono_tz::UTC).len(), 1);
        assert_eq!(select_kept(&all, &policy, chrono_tz::Asia::Tokyo).len(), 2);
    }
}
