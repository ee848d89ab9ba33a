//! `bcpvault mount --recover`: the daemon of a recovery machine. It needs only
//! the profile's remote (address, key, known_hosts): it fetches the recovery
//! bundle, every snapshot and every index copy, checks each object against its
//! SHA-256 name and each snapshot's signature and chain link, and mounts the
//! newest snapshot read-only and sealed ([`RecoveredFs`]). Executives unlock it
//! through the control socket exactly as on the file server; packs are then
//! fetched on demand into a bounded cache (`<store>/cache`, encrypted packs only).
//!
//! The store directory holds only the cache, the log, the pid file and the
//! control socket — no keys: it never becomes a writer's store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::backend::{CachingBackend, Credential, ReadBackend, open_remote};
use crate::crypto::Password;
use crate::keys::RecoveryBundle;
use crate::profile::{Profile, Remote};
use crate::repo::config::RepoConfig;
use crate::repo::id::ObjectId;
use crate::repo::snapshot::Snapshot;
use crate::vfs::history::SnapshotRoot;
use crate::vfs::{RecoveredFs, RecoveredOptions, RecoveredRepo};

use super::approvals::Approvals;
use super::protocol::{Request, Response, Status};
use super::{DaemonError, control, paths};

/// What to recover from.
#[derive(Debug, Clone)]
pub struct RecoverOptions {
    /// The remote's name in the profile (`None`: the profile's first remote).
    pub remote: Option<String>,
    /// Bound of the local pack cache, in bytes.
    pub cache_bytes: u64,
}

/// The remote `wanted` names (or the profile's first), as a one-line error when
/// there is none.
pub fn pick_remote<'p>(
    profile: &'p Profile,
    wanted: Option<&str>,
) -> Result<&'p Remote, DaemonError> {
    let Some(name) = wanted else {
        return profile.remotes.first().ok_or_else(|| {
            DaemonError::Refused(format!(
                "{}: nothing to recover from: the profile has no [[remote]] table",
                profile.origin.display()
            ))
        });
    };
    profile.remote(name).ok_or_else(|| {
        DaemonError::Refused(if profile.remotes.is_empty() {
            format!(
                "{}: no remote {name}: the profile has no [[remote]] table",
                profile.origin.display()
            )
        } else {
            format!(
                "{}: no remote {name} (remotes: {})",
                profile.origin.display(),
                profile
                    .remotes
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    })
}

/// The newest recovery bundle on a remote (`keys/recovery` and
/// `keys/recovery-g<N>`), checked against the remote's `config`.
pub fn fetch_bundle(backend: &dyn ReadBackend) -> Result<RecoveryBundle, DaemonError> {
    let fail = |what: String| DaemonError::Refused(what);
    let mut best: Option<RecoveryBundle> = None;
    for info in backend.list("keys").map_err(|e| fail(e.to_string()))? {
        let bytes = backend.read(&info.name).map_err(|e| fail(e.to_string()))?;
        let what = format!("{} on {}", info.name, backend.describe());
        let bundle = RecoveryBundle::from_bytes(&bytes, &what).map_err(|e| fail(e.to_string()))?;
        if best
            .as_ref()
            .is_none_or(|b| bundle.generation > b.generation)
        {
            best = Some(bundle);
        }
    }
    let Some(bundle) = best else {
        return Err(fail(format!(
            "{} holds no recovery bundle (keys/recovery): was it ever synced? Import an escrow copy instead (bcpvault escrow import)",
            backend.describe()
        )));
    };
    let config = backend
        .read("config")
        .map_err(|e| fail(e.to_string()))
        .and_then(|b| {
            RepoConfig::from_bytes(&b)
                .map_err(|e| fail(format!("config on {}: {e}", backend.describe())))
        })?;
    if config.vault_id != bundle.vault_id || config.fingerprint != bundle.fingerprint() {
        return Err(fail(format!(
            "config on {} describes another vault or key than its keys/recovery; refusing",
            backend.describe()
        )));
    }
    Ok(bundle)
}

/// Connects to the remote and fetches its bundle: what `mount --recover` checks
/// before it starts the daemon, so a wrong name or an unreachable server is one
/// line at the terminal.
pub fn preflight(
    profile: &Profile,
    opts: &RecoverOptions,
) -> Result<(String, RecoveryBundle), DaemonError> {
    let remote = pick_remote(profile, opts.remote.as_deref())?;
    let backend =
        open_remote(remote, Credential::Writer).map_err(|e| DaemonError::Refused(e.to_string()))?;
    let bundle = fetch_bundle(&backend)?;
    Ok((backend.describe(), bundle))
}

/// Fetches and verifies what the recovery drive needs before the unlock.
fn fetch(profile: &Profile, opts: &RecoverOptions) -> Result<RecoveredRepo, DaemonError> {
    let remote = pick_remote(profile, opts.remote.as_deref())?;
    let refused = |e: crate::backend::BackendError| DaemonError::Refused(e.to_string());
    let inner = open_remote(remote, Credential::Writer).map_err(refused)?;
    let cache_dir = profile.store.join("cache");
    let backend =
        Arc::new(CachingBackend::open(inner, &cache_dir, opts.cache_bytes).map_err(refused)?);
    let bundle = fetch_bundle(backend.as_ref())?;
    tracing::info!(
        remote = %backend.describe(),
        vault = %bundle.vault_name,
        key = %crate::keys::format_fingerprint(&bundle.fingerprint()),
        "recovery bundle fetched (compare the key with the ceremony record)"
    );
    let mut problems = Vec::new();
    let verifier = bundle
        .writer_verifying_key()
        .map_err(|e| DaemonError::Refused(e.to_string()))?;
    let mut snapshots: Vec<(ObjectId, Snapshot)> = Vec::new();
    for info in backend.list("snapshots").map_err(refused)? {
        // A damaged or planted snapshot is refused by name; the others still serve.
        let checked = backend
            .read(&info.name)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                let s = Snapshot::parse_verified(&bytes, &verifier).map_err(|e| e.to_string())?;
                if s.header.vault_id != bundle.vault_id {
                    return Err("belongs to another vault".to_string());
                }
                Ok((ObjectId::of(&bytes), s))
            });
        match checked {
            Ok(s) => snapshots.push(s),
            Err(problem) => problems.push(format!("refused {}: {problem}", info.name)),
        }
    }
    snapshots.sort_by_key(|(_, s)| s.header.time_us);
    for (id, s) in &snapshots {
        let prev = s.header.previous;
        if !prev.is_zero() && !snapshots.iter().any(|(i, _)| *i == prev) {
            problems.push(format!(
                "snapshot {}: previous snapshot {} is missing (broken chain)",
                id.short(),
                prev.short()
            ));
        }
    }
    let mut index_copies = Vec::new();
    for info in backend.list("index").map_err(refused)? {
        match backend.read(&info.name) {
            Ok(bytes) => index_copies.push((info.name, bytes)),
            Err(e) => problems.push(format!("refused {}: {e}", info.name)),
        }
    }
    let packs = backend
        .list("data")
        .map_err(refused)?
        .iter()
        .filter_map(|i| i.name.rsplit('/').next().and_then(ObjectId::from_hex))
        .collect();
    for p in &problems {
        tracing::warn!(problem = %p, "recovery: object refused or chain broken");
    }
    Ok(RecoveredRepo {
        backend,
        bundle,
        snapshots: snapshots
            .iter()
            .map(|(id, s)| SnapshotRoot {
                id: *id,
                time_us: s.header.time_us,
                tree: s.header.root,
            })
            .collect(),
        index_copies,
        packs,
        problems,
    })
}

/// What the recovery daemon's requests touch.
struct Shared {
    fs: Arc<RecoveredFs>,
    approvals: Mutex<Approvals>,
    unlock_ttl: Duration,
    mountpoint: String,
    stop: AtomicBool,
}

fn answer(shared: &Shared, req: Request) -> Response {
    match req {
        Request::Status => {
            let fs = &shared.fs;
            let until = fs.unlocked_until();
            let (progress, approved_by) = shared
                .approvals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .progress();
            Response::Status(Status {
                vault: fs.vault_name().to_string(),
                mountpoint: shared.mountpoint.clone(),
                pid: std::process::id(),
                state: if until.is_some() {
                    "unlocked"
                } else {
                    "sealed"
                }
                .into(),
                unlocked_until: until.map(control::rfc3339),
                approvals: progress.have,
                threshold: progress.need,
                approved_by,
                open_handles: fs.open_handles(),
                stored_bytes: fs.stored_bytes(),
                quota: None,
                last_snapshot: fs.latest().map(|s| s.id.to_hex()),
                remotes: vec![format!(
                    "recovery mount of {} (read-only); cache {} of {} bytes",
                    fs.remote(),
                    fs.stored_bytes(),
                    fs.quota().unwrap_or(0)
                )],
            })
        }
        Request::Approve {
            executive,
            password,
        } => control::approve_into(
            &shared.approvals,
            shared.unlock_ttl,
            &executive,
            Password::new(password),
            |key, until| shared.fs.unlock(key, until),
        ),
        Request::Seal => control::seal_answer(&shared.approvals, || shared.fs.seal()),
        Request::Snapshot | Request::Sync { .. } => Response::Error {
            message: format!(
                "vault {} is a read-only recovery mount of {}: snapshots and syncs run on a writer's store",
                shared.fs.vault_name(),
                shared.fs.remote()
            ),
        },
        Request::Umount => {
            shared.stop.store(true, Ordering::Release);
            Response::Done {
                message: "unmounting".into(),
            }
        }
    }
}

/// Serves the recovery drive of `profile` until told to stop.
pub fn serve_recovered(profile: &Profile, opts: &RecoverOptions) -> Result<(), DaemonError> {
    let prelude = super::prepare_mount(profile)?;
    std::fs::create_dir_all(&profile.store)
        .map_err(|e| DaemonError::io(&profile.store, "create the store", e))?;
    if crate::keys::KeyFiles::new(&profile.store).exists() {
        return Err(DaemonError::Refused(format!(
            "{}: store {} holds a vault: mount it without --recover",
            profile.origin.display(),
            profile.store.display()
        )));
    }
    let repo = fetch(profile, opts)?;
    let bundle = repo.bundle.clone();
    let fs = Arc::new(RecoveredFs::new(
        repo,
        RecoveredOptions {
            readers: prelude.readers,
            root_owner: prelude.owner,
        },
    ));
    let socket = paths::socket(&profile.store);
    let listener = control::bind(&socket, prelude.control_group)?;
    let mountpoint = prelude.mountpoint;
    let (session, pid_file) = super::mount_drive(fs.clone(), &mountpoint, profile)?;
    tracing::info!(vault = %profile.name, mountpoint = %mountpoint.display(), remote = %fs.remote(),
        "recovery drive mounted (read-only, sealed)");
    let shared = Arc::new(Shared {
        fs: fs.clone(),
        approvals: Mutex::new(Approvals::new(bundle)),
        unlock_ttl: profile.unlock_ttl,
        mountpoint: mountpoint.display().to_string(),
        stop: AtomicBool::new(false),
    });
    let stopped = || shared.stop.load(Ordering::Acquire) || session.guard.is_finished();
    super::accept_loop(
        &listener,
        &socket,
        &stopped,
        |stream| {
            let shared = shared.clone();
            std::thread::spawn(move || control::handle_with(stream, |req| answer(&shared, req)));
        },
        || {
            // Checking the view seals an expired unlock.
            fs.unlocked_until();
            let (p, _) = shared
                .approvals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .progress();
            fs.set_status_note(format!("approvals: {} of {}\n", p.have, p.need));
        },
    )?;
    tracing::info!("stopping: sealing and unmounting the recovery drive");
    fs.seal();
    if let Err(e) = session.umount_and_join() {
        tracing::warn!(error = %e, "unmount reported an error");
    }
    let _ = std::fs::remove_file(&socket);
    let _ = std::fs::remove_file(&pid_file);
    Ok(())
}
