//! A repository on an SFTP server (`type = "sftp"` remotes), normally an
//! append-only account set up with `bcpvault server authorize`.
//!
//! Objects are written to a temp name `<dir>/.tmp-<random hex>` in the object's
//! directory, fsynced (`fsync@openssh.com` when the server has it), closed, and
//! renamed to their final name. SFTP v3 `rename` never replaces an existing file
//! (OpenSSH's sftp-server links then unlinks), so a race with another writer ends
//! with the object present, reported as [`WriteOutcome::AlreadyPresent`]. The
//! append-only server refuses to remove files, so a temp file of an interrupted
//! write stays behind; listings skip such dot-names and the admin key can remove
//! them.
//!
//! Calls from several threads at once (restore's pack prefetchers) each get their
//! own SSH connection from a small pool (at most [`MAX_CONNS`], opened on demand,
//! each with the same pinned host-key check and key authentication), so network
//! waits and libssh2's transport decryption run in parallel.
//!
//! A dropped connection is detected on the failing call: the session is discarded
//! (with every idle one, likely dropped too), the call is retried once on a new
//! connection, and when that fails too the error is [`BackendError::Disconnected`]
//! (the caller, e.g. sync, backs off and retries).

mod connect;
mod fail;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

use ssh2::{FileStat, OpenFlags, OpenType};

pub use connect::host_fingerprint;
use connect::{Conn, connect};
use fail::Fail;

use super::{
    AdminBackend, BackendError, BackendResult, ObjectInfo, ReadBackend, WriteBackend, WriteOutcome,
    validate_name,
};
use crate::backend::verify::is_content_addressed;
use crate::profile::SftpRemote;

/// Prefix of in-flight temp files (never a valid object name).
const TMP_PREFIX: &str = ".tmp-";
/// Mode of created objects (the server's umask may remove more).
const OBJECT_MODE: i32 = 0o444;
/// Mode of created directories.
const DIR_MODE: i32 = 0o755;
/// Bytes per SFTP write call.
const WRITE_CHUNK: usize = 256 * 1024;
/// Most SSH connections one backend holds open at once (callers beyond wait).
pub const MAX_CONNS: usize = 3;

/// Which key the backend authenticates with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// The writer's append-only key (`identity`): create, never delete.
    Writer,
    /// The admin key (`admin_identity`): may delete, for retention only.
    Admin,
}

/// A repository directory on an SFTP server.
pub struct SftpBackend {
    cfg: SftpRemote,
    identity: PathBuf,
    credential: Credential,
    description: String,
    pool: Mutex<Pool>,
    freed: Condvar,
}

/// Idle connections, and how many exist (idle or in use).
#[derive(Default)]
struct Pool {
    idle: Vec<Conn>,
    open: usize,
}

impl std::fmt::Debug for SftpBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpBackend")
            .field("remote", &self.description)
            .field("credential", &self.credential)
            .finish()
    }
}

impl SftpBackend {
    /// Connects to remote `name` with the writer's or the admin key. Fails at once
    /// (refused host key, refused key, unreachable host) rather than on first use.
    pub fn connect(
        name: &str,
        cfg: &SftpRemote,
        credential: Credential,
    ) -> BackendResult<SftpBackend> {
        let description = format!(
            "sftp:{name} ({}@{}:{}{})",
            cfg.user, cfg.host, cfg.port, cfg.path
        );
        let identity = match credential {
            Credential::Writer => cfg.identity.clone(),
            Credential::Admin => cfg.admin_identity.clone().ok_or_else(|| {
                BackendError::Connect {
                    backend: description.clone(),
                    reason: "the profile sets no admin_identity for this remote; forget and prune need the admin key (the writer's key cannot delete)".into(),
                }
            })?,
        };
        let backend = SftpBackend {
            cfg: cfg.clone(),
            identity,
            credential,
            description,
            pool: Mutex::new(Pool::default()),
            freed: Condvar::new(),
        };
        let first = connect(&backend.cfg, &backend.identity, &backend.description)?;
        let mut pool = backend.lock();
        pool.idle.push(first);
        pool.open = 1;
        drop(pool);
        Ok(backend)
    }

    /// Which key this backend uses.
    pub fn credential(&self) -> Credential {
        self.credential
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        // A panic while holding the lock leaves at worst a miscounted pool.
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection, or a new one when fewer than [`MAX_CONNS`] exist (else
    /// waits for one to be returned). `fresh`: drop the idle ones and connect anew.
    fn checkout(&self, fresh: bool) -> BackendResult<Conn> {
        let mut pool = self.lock();
        if fresh {
            let stale = pool.idle.len();
            pool.idle.clear();
            pool.open -= stale;
        }
        loop {
            if let Some(conn) = pool.idle.pop() {
                return Ok(conn);
            }
            if pool.open < MAX_CONNS {
                pool.open += 1;
                drop(pool);
                let made = connect(&self.cfg, &self.identity, &self.description);
                if made.is_err() {
                    self.lock().open -= 1;
                    self.freed.notify_one();
                }
                return made;
            }
            pool = self.freed.wait(pool).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Returns a connection to the pool (`None`: it was broken and is dropped).
    fn checkin(&self, conn: Option<Conn>) {
        let mut pool = self.lock();
        match conn {
            Some(c) => pool.idle.push(c),
            None => pool.open -= 1,
        }
        drop(pool);
        self.freed.notify_one();
    }

    fn path(&self, name: &str) -> PathBuf {
        if name.is_empty() {
            PathBuf::from(&self.cfg.path)
        } else {
            Path::new(&self.cfg.path).join(name)
        }
    }

    /// Runs `f` on a live connection; on a connection-level failure the session is
    /// dropped and `f` is retried once on a fresh one.
    fn with_conn<T>(
        &self,
        op: &'static str,
        name: &str,
        mut f: impl FnMut(&Conn) -> Result<T, Fail>,
    ) -> BackendResult<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let conn = self.checkout(attempt > 1)?;
            // Sends an SSH keepalive when the interval has passed (cheap otherwise);
            // a failure here shows up on the real call below.
            let _ = conn.session.keepalive_send();
            match f(&conn) {
                Ok(v) => {
                    self.checkin(Some(conn));
                    return Ok(v);
                }
                Err(e) => {
                    let dead = e.is_connection(&conn);
                    self.checkin((!dead).then_some(conn));
                    if dead && attempt < 2 {
                        tracing::info!(backend = %self.description, op, object = name,
                            "connection lost; reconnecting");
                        continue;
                    }
                    return Err(e.into_backend(&self.description, op, name, dead));
                }
            }
        }
    }
}

/// `stat` of a path: `None` when missing.
fn stat_opt(conn: &Conn, path: &Path) -> Result<Option<FileStat>, Fail> {
    match conn.sftp.stat(path) {
        Ok(st) => Ok(Some(st)),
        Err(e) => {
            let f = Fail::Ssh(e);
            if f.is_not_found() { Ok(None) } else { Err(f) }
        }
    }
}

impl ReadBackend for SftpBackend {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn read(&self, name: &str) -> BackendResult<Vec<u8>> {
        validate_name(name)?;
        let path = self.path(name);
        self.with_conn("read", name, |conn| {
            let mut file = conn.sftp.open(&path).map_err(Fail::Ssh)?;
            // One buffer of the object's size: large reads let libssh2 keep many
            // read requests in flight (read_to_end would start with tiny ones).
            let size = file.stat().map_err(Fail::Ssh)?.size.unwrap_or(0);
            let mut buf = vec![0u8; usize::try_from(size).map_err(|_| Fail::Short { size })?];
            let mut filled = 0;
            while filled < buf.len() {
                match file.read(&mut buf[filled..]).map_err(Fail::Io)? {
                    0 => break,
                    n => filled += n,
                }
            }
            buf.truncate(filled);
            // Grown since the stat (not for immutable objects, but be exact).
            file.read_to_end(&mut buf).map_err(Fail::Io)?;
            Ok(buf)
        })
    }

    fn read_range(&self, name: &str, offset: u64, len: u64) -> BackendResult<Vec<u8>> {
        validate_name(name)?;
        let path = self.path(name);
        self.with_conn("read", name, |conn| {
            let mut file = conn.sftp.open(&path).map_err(Fail::Ssh)?;
            let size = file.stat().map_err(Fail::Ssh)?.size.unwrap_or(0);
            if offset.checked_add(len).is_none_or(|end| end > size) {
                return Err(Fail::Short { size });
            }
            let mut buf = vec![0u8; usize::try_from(len).map_err(|_| Fail::Short { size })?];
            file.seek(SeekFrom::Start(offset)).map_err(Fail::Io)?;
            file.read_exact(&mut buf).map_err(Fail::Io)?;
            Ok(buf)
        })
        .map_err(|e| match e {
            BackendError::ShortRead { size, .. } => BackendError::ShortRead {
                backend: self.description.clone(),
                name: name.to_string(),
                offset,
                len,
                size,
            },
            other => other,
        })
    }

    /// Regular files under `dir`, recursively; dot-names (temp files) and names that
    /// are not valid object names are skipped.
    fn list(&self, dir: &str) -> BackendResult<Vec<ObjectInfo>> {
        if !dir.is_empty() {
            validate_name(dir)?;
        }
        let start = self.path(dir);
        self.with_conn("list", dir, |conn| {
            let mut out = Vec::new();
            let mut pending = vec![(start.clone(), dir.to_string())];
            while let Some((path, prefix)) = pending.pop() {
                let entries = match conn.sftp.readdir(&path) {
                    Ok(e) => e,
                    Err(e) => {
                        let f = Fail::Ssh(e);
                        if f.is_not_found() {
                            continue;
                        }
                        return Err(f);
                    }
                };
                for (entry, st) in entries {
                    let Some(file_name) = entry.file_name().and_then(|n| n.to_str()) else {
                        continue;
                    };
                    if validate_name(file_name).is_err() {
                        continue;
                    }
                    let name = if prefix.is_empty() {
                        file_name.to_string()
                    } else {
                        format!("{prefix}/{file_name}")
                    };
                    if st.is_dir() {
                        pending.push((entry, name));
                    } else if st.is_file() {
                        out.push(ObjectInfo {
                            name,
                            size: st.size.unwrap_or(0),
                        });
                    }
                }
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
    }

    fn stat(&self, name: &str) -> BackendResult<Option<ObjectInfo>> {
        validate_name(name)?;
        let path = self.path(name);
        self.with_conn("stat", name, |conn| {
            Ok(stat_opt(conn, &path)?
                .filter(|st| st.is_file())
                .map(|st| ObjectInfo {
                    name: name.to_string(),
                    size: st.size.unwrap_or(0),
                }))
        })
    }
}

impl WriteBackend for SftpBackend {
    fn write_if_absent(&self, name: &str, data: &[u8]) -> BackendResult<WriteOutcome> {
        validate_name(name)?;
        let path = self.path(name);
        let outcome = self.with_conn("write", name, |conn| {
            write_object(conn, &self.cfg.path, name, &path, data)
        })?;
        match outcome {
            Written::New => Ok(WriteOutcome::Written),
            Written::Present(size) if size == data.len() as u64 || !is_content_addressed(name) => {
                Ok(WriteOutcome::AlreadyPresent)
            }
            Written::Present(size) => Err(BackendError::Io {
                backend: self.description.clone(),
                op: "write",
                name: name.to_string(),
                source: std::io::Error::other(format!(
                    "an object of {size} bytes exists under this name, not {} bytes: damaged or tampered (run check --remote)",
                    data.len()
                )),
            }),
        }
    }
}

impl AdminBackend for SftpBackend {
    fn delete(&self, name: &str) -> BackendResult<()> {
        validate_name(name)?;
        if self.credential != Credential::Admin {
            return Err(BackendError::PermissionDenied {
                backend: self.description.clone(),
                op: "delete",
                name: name.to_string(),
            });
        }
        let path = self.path(name);
        self.with_conn("delete", name, |conn| {
            conn.sftp.unlink(&path).map_err(Fail::Ssh)
        })
    }
}

/// What the write found or did.
enum Written {
    New,
    Present(u64),
}

fn write_object(
    conn: &Conn,
    root: &str,
    name: &str,
    path: &Path,
    data: &[u8],
) -> Result<Written, Fail> {
    if let Some(st) = stat_opt(conn, path)? {
        return Ok(Written::Present(st.size.unwrap_or(0)));
    }
    let dir = create_parent_dirs(conn, root, name)?;
    let mut random = [0u8; 12];
    getrandom::fill(&mut random).map_err(|e| Fail::Io(std::io::Error::other(e.to_string())))?;
    let tmp = dir.join(format!("{TMP_PREFIX}{}", hex::encode(random)));
    let mut file = conn
        .sftp
        .open_mode(
            &tmp,
            OpenFlags::WRITE | OpenFlags::EXCLUSIVE,
            OBJECT_MODE,
            OpenType::File,
        )
        .map_err(Fail::Ssh)?;
    let written = (|| {
        for chunk in data.chunks(WRITE_CHUNK) {
            file.write_all(chunk).map_err(Fail::Io)?;
        }
        file.flush().map_err(Fail::Io)?;
        if let Err(e) = file.fsync() {
            let e = Fail::Ssh(e);
            // Servers without fsync@openssh.com: the close below is all there is.
            if !e.is_unsupported() {
                return Err(e);
            }
        }
        Ok(())
    })();
    let written = match written {
        Ok(()) => file.close().map_err(Fail::Ssh),
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        let e = e.with_space_check(&mut file, data.len() as u64);
        drop(file);
        // Refused on an append-only server; the leftover is skipped by listings.
        let _ = conn.sftp.unlink(&tmp);
        return Err(e);
    }
    drop(file);
    if let Err(e) = conn.sftp.rename(&tmp, path, None) {
        let _ = conn.sftp.unlink(&tmp);
        return match stat_opt(conn, path)? {
            Some(st) => Ok(Written::Present(st.size.unwrap_or(0))),
            None => Err(Fail::Ssh(e)),
        };
    }
    Ok(Written::New)
}

/// Creates the missing directories of `name` below `root`; returns the object's
/// directory. `mkdir` of an existing directory fails with a generic SFTP failure, so
/// every failure is checked with a `stat`.
fn create_parent_dirs(conn: &Conn, root: &str, name: &str) -> Result<PathBuf, Fail> {
    let mut dir = PathBuf::from(root);
    let parts: Vec<&str> = name.split('/').collect();
    ensure_dir(conn, &dir)?;
    for part in &parts[..parts.len() - 1] {
        dir = dir.join(part);
        ensure_dir(conn, &dir)?;
    }
    Ok(dir)
}

fn ensure_dir(conn: &Conn, dir: &Path) -> Result<(), Fail> {
    if let Some(st) = stat_opt(conn, dir)? {
        return if st.is_dir() {
            Ok(())
        } else {
            Err(Fail::Io(std::io::Error::other(format!(
                "{} exists and is not a directory",
                dir.display()
            ))))
        };
    }
    match conn.sftp.mkdir(dir, DIR_MODE) {
        Ok(()) => Ok(()),
        Err(e) => match stat_opt(conn, dir)? {
            Some(st) if st.is_dir() => Ok(()),
            _ => Err(Fail::Ssh(e)),
        },
    }
}
