//! The daemon's side of the control socket: one thread per connection, one
//! request each. The socket is created owner-only (0600); with `[mount]
//! control_group` it is 0660 and owned by that group.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

use crate::crypto::Password;
use crate::vfs::VaultFs;

use super::DaemonError;
use super::approvals::{Approvals, Outcome};
use super::protocol::{Request, Response, Status};

/// Everything a request may touch.
pub struct Shared {
    /// The drive.
    pub vault: Arc<VaultFs>,
    /// Approvals toward an unlock.
    pub approvals: Mutex<Approvals>,
    /// How long an unlock lasts.
    pub unlock_ttl: std::time::Duration,
    /// Mount point (for status).
    pub mountpoint: String,
    /// Set when the daemon should stop.
    pub stop: std::sync::atomic::AtomicBool,
    /// Host name recorded in snapshots.
    pub host: String,
    /// Scheduled and requested syncs.
    pub syncer: super::schedule::Syncer,
}

/// Binds the control socket at `path`, replacing a stale one.
pub fn bind(path: &Path, group: Option<u32>) -> Result<UnixListener, DaemonError> {
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(DaemonError::Refused(format!(
                "{}: another daemon is serving this store",
                path.display()
            )));
        }
        std::fs::remove_file(path)
            .map_err(|e| DaemonError::io(path, "remove a stale socket", e))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| DaemonError::io(path, "bind", e))?;
    let mode = if group.is_some() { 0o660 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| DaemonError::io(path, "chmod", e))?;
    if let Some(gid) = group {
        std::os::unix::fs::chown(path, None, Some(gid))
            .map_err(|e| DaemonError::io(path, "chown to the control group", e))?;
    }
    Ok(listener)
}

/// Serves one connection.
pub fn handle(shared: &Shared, stream: UnixStream) {
    handle_with(stream, |req| answer(shared, req));
}

/// Serves one connection: reads the request line, answers it with `answer`.
pub fn handle_with(stream: UnixStream, answer: impl FnOnce(Request) -> Response) {
    let mut line = Zeroizing::new(String::new());
    if BufReader::new(&stream).read_line(&mut line).is_err() {
        return;
    }
    let response = match serde_json::from_str::<Request>(&line) {
        Ok(req) => {
            tracing::debug!(request = ?req, "control request");
            answer(req)
        }
        Err(e) => Response::Error {
            message: format!("malformed control request: {e}"),
        },
    };
    let mut out = serde_json::to_string(&response).unwrap_or_else(|_| "{}".into());
    out.push('\n');
    let _ = (&stream).write_all(out.as_bytes());
}

/// A time as the control protocol shows it (local RFC 3339).
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono::Local).to_rfc3339()
}

/// The status a `status` request returns.
pub fn status(shared: &Shared) -> Status {
    let vault = &shared.vault;
    let until = vault.unlocked_until();
    let (progress, approved_by) = shared
        .approvals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .progress();
    let last_snapshot = vault
        .repo()
        .local_snapshots()
        .ok()
        .and_then(|s| s.last().map(|s| s.id.to_hex()));
    Status {
        vault: vault.repo().bundle().vault_name.clone(),
        mountpoint: shared.mountpoint.clone(),
        pid: std::process::id(),
        state: if until.is_some() {
            "unlocked"
        } else {
            "sealed"
        }
        .into(),
        unlocked_until: until.map(rfc3339),
        approvals: progress.have,
        threshold: progress.need,
        approved_by,
        open_handles: vault.open_handles(),
        stored_bytes: vault.stored_bytes(),
        quota: vault.quota(),
        last_snapshot,
        remotes: shared.syncer.report(vault, chrono::Utc::now()),
    }
}

fn answer(shared: &Shared, req: Request) -> Response {
    match req {
        Request::Status => Response::Status(status(shared)),
        Request::Approve {
            executive,
            password,
        } => approve(shared, &executive, Password::new(password)),
        Request::Seal => seal_answer(&shared.approvals, || shared.vault.seal()),
        Request::Snapshot => match crate::vfs::snapshot::snapshot_live(&shared.vault, &shared.host)
        {
            Ok(id) => Response::Snapshot { id: id.to_hex() },
            Err(e) => Response::Error {
                message: format!("snapshot failed: {e}"),
            },
        },
        Request::Sync { remote } => {
            let remotes: Vec<_> = shared
                .syncer
                .profile
                .remotes
                .iter()
                .filter(|r| remote.as_ref().is_none_or(|n| &r.name == n))
                .cloned()
                .collect();
            if let Some(n) = &remote
                && remotes.is_empty()
            {
                return Response::Error {
                    message: format!("the profile has no remote named {n:?}"),
                };
            }
            match shared.syncer.run(&shared.vault, &shared.host, &remotes) {
                Ok(lines) => Response::Synced { lines },
                Err(message) => Response::Error { message },
            }
        }
        Request::Umount => {
            shared
                .stop
                .store(true, std::sync::atomic::Ordering::Release);
            Response::Done {
                message: "unmounting".into(),
            }
        }
    }
}

fn approve(shared: &Shared, executive: &str, password: Password) -> Response {
    approve_into(
        &shared.approvals,
        shared.unlock_ttl,
        executive,
        password,
        |key, until| shared.vault.unlock(key, until),
    )
}

/// Drops pending approvals and seals with `seal` (which says whether it was
/// unlocked).
pub fn seal_answer(approvals: &Mutex<Approvals>, seal: impl FnOnce() -> bool) -> Response {
    approvals.lock().unwrap_or_else(|p| p.into_inner()).clear();
    Response::Done {
        message: if seal() {
            "sealed: the key is gone from memory".into()
        } else {
            "already sealed".into()
        },
    }
}

/// Adds one executive's approval; at the threshold, hands the key to `unlock`
/// with the end of the unlock (`unlock_ttl` from now).
pub fn approve_into(
    approvals: &Mutex<Approvals>,
    unlock_ttl: std::time::Duration,
    executive: &str,
    password: Password,
    unlock: impl FnOnce(Arc<crate::keys::UnlockedVault>, chrono::DateTime<chrono::Utc>),
) -> Response {
    let mut approvals = approvals.lock().unwrap_or_else(|p| p.into_inner());
    match approvals.approve(executive, password) {
        Ok(Outcome::Partial(p)) => Response::Approved {
            have: p.have,
            need: p.need,
            unlocked_until: None,
        },
        Ok(Outcome::Unlocked(key)) => {
            let until = chrono::Utc::now()
                + chrono::Duration::from_std(unlock_ttl).unwrap_or(chrono::Duration::hours(24));
            let need = approvals.progress().0.need;
            unlock(Arc::from(key), until);
            Response::Approved {
                have: need,
                need,
                unlocked_until: Some(rfc3339(until)),
            }
        }
        Err(e) => {
            let failures = approvals.failures(executive);
            let message =
                if failures > 0 && matches!(e, crate::keys::KeysError::WrongPassword { .. }) {
                    format!("{e} ({failures} wrong password(s) for {executive} so far)")
                } else {
                    e.to_string()
                };
            Response::Error { message }
        }
    }
}
