//! Opening an SSH connection for the SFTP backend: TCP from the configured source
//! address with a connect timeout and TCP keepalive, the SSH handshake, the host key
//! checked against the pinned `known_hosts` file, and public-key authentication.
//!
//! The host key is never accepted on first use and `known_hosts` is never written:
//! an unknown key is refused with its SHA-256 fingerprint (to compare out of band,
//! e.g. `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the server), a changed
//! key is refused as a possible man in the middle.

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use socket2::{Domain, Protocol, SockAddr, Socket, TcpKeepalive, Type};
use ssh2::{CheckResult, HashType, KnownHostFileKind, Session};

use crate::backend::BackendError;
use crate::profile::SftpRemote;

/// Seconds between SSH keepalive messages (sent while the session is used) and the
/// idle time before TCP keepalive probes.
const KEEPALIVE_SECS: u32 = 15;

/// An authenticated SSH session with its SFTP channel.
pub struct Conn {
    /// The SSH session (keepalives); lives as long as the SFTP channel.
    pub session: Session,
    /// The SFTP subsystem channel.
    pub sftp: ssh2::Sftp,
}

/// Connects and authenticates with `identity`. `describe` names the remote in errors.
pub fn connect(cfg: &SftpRemote, identity: &Path, describe: &str) -> Result<Conn, BackendError> {
    let transient = |reason: String| BackendError::Disconnected {
        backend: describe.to_string(),
        reason,
    };
    let permanent = |reason: String| BackendError::Connect {
        backend: describe.to_string(),
        reason,
    };
    let tcp = tcp_connect(cfg).map_err(|e| {
        transient(format!(
            "TCP connection to {}:{}{} failed: {e}",
            cfg.host,
            cfg.port,
            cfg.source_address
                .map(|a| format!(" from {a}"))
                .unwrap_or_default()
        ))
    })?;
    let mut session = Session::new().map_err(|e| transient(format!("SSH session: {e}")))?;
    session.set_tcp_stream(tcp);
    session.set_timeout(timeout_ms(cfg.timeout));
    session
        .handshake()
        .map_err(|e| transient(format!("SSH handshake failed: {e}")))?;
    check_host_key(&session, cfg).map_err(permanent)?;
    session.set_keepalive(false, KEEPALIVE_SECS);
    if !identity.exists() {
        return Err(permanent(format!(
            "identity file {} does not exist",
            identity.display()
        )));
    }
    session
        .userauth_pubkey_file(&cfg.user, None, identity, None)
        .map_err(|e| {
            permanent(format!(
                "the server refused key {} for user {} ({}): is the public key in the server's authorized_keys, and does its from=\"…\" allow this machine's address{}?",
                identity.display(),
                cfg.user,
                e.message(),
                cfg.source_address.map(|a| format!(" ({a})")).unwrap_or_default()
            ))
        })?;
    if !session.authenticated() {
        return Err(permanent(format!(
            "the server did not accept key {} for user {}",
            identity.display(),
            cfg.user
        )));
    }
    let sftp = session
        .sftp()
        .map_err(|e| transient(format!("cannot start the SFTP subsystem: {e}")))?;
    Ok(Conn { session, sftp })
}

fn timeout_ms(timeout: Duration) -> u32 {
    u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX)
}

/// TCP connection with an optional bound source address. `std::net::TcpStream` cannot
/// bind before connecting, hence `socket2` (see docs/dependencies.md).
fn tcp_connect(cfg: &SftpRemote) -> std::io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = (cfg.host.as_str(), cfg.port).to_socket_addrs()?.collect();
    let mut last = None;
    for addr in addrs {
        if let Some(src) = cfg.source_address
            && src.is_ipv4() != addr.is_ipv4()
        {
            continue;
        }
        match tcp_connect_one(addr, cfg.source_address, cfg.timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no address of the host matches the source address family",
        )
    }))
}

fn tcp_connect_one(
    addr: SocketAddr,
    source: Option<IpAddr>,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if let Some(src) = source {
        socket
            .bind(&SockAddr::from(SocketAddr::new(src, 0)))
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot bind to {src}: {e}")))?;
    }
    socket.set_tcp_keepalive(
        &TcpKeepalive::new()
            .with_time(Duration::from_secs(KEEPALIVE_SECS.into()))
            .with_interval(Duration::from_secs(KEEPALIVE_SECS.into())),
    )?;
    socket.connect_timeout(&SockAddr::from(addr), timeout)?;
    socket.set_nodelay(true)?;
    socket.set_read_timeout(Some(timeout))?;
    socket.set_write_timeout(Some(timeout))?;
    Ok(socket.into())
}

/// OpenSSH-style fingerprint of the server's host key: `SHA256:<base64, no padding>`.
pub fn host_fingerprint(session: &Session) -> String {
    match session.host_key_hash(HashType::Sha256) {
        Some(hash) => format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash)
        ),
        None => "SHA256:(unavailable)".to_string(),
    }
}

fn check_host_key(session: &Session, cfg: &SftpRemote) -> Result<(), String> {
    let (key, _kind) = session
        .host_key()
        .ok_or_else(|| "the server sent no host key".to_string())?;
    let fingerprint = host_fingerprint(session);
    let mut known = session
        .known_hosts()
        .map_err(|e| format!("cannot read known hosts: {e}"))?;
    if !cfg.known_hosts.exists() {
        return Err(format!(
            "known_hosts file {} does not exist; the server's host key is {fingerprint}: verify it out of band and add the key to that file (it is never added automatically)",
            cfg.known_hosts.display()
        ));
    }
    known
        .read_file(&cfg.known_hosts, KnownHostFileKind::OpenSSH)
        .map_err(|e| {
            format!(
                "cannot read known_hosts file {}: {}",
                cfg.known_hosts.display(),
                e.message()
            )
        })?;
    let host = if cfg.port == 22 {
        cfg.host.clone()
    } else {
        format!("[{}]:{}", cfg.host, cfg.port)
    };
    match known.check_port(&cfg.host, cfg.port, key) {
        CheckResult::Match => Ok(()),
        CheckResult::NotFound => Err(format!(
            "host key of {host} is unknown: it is not in {}; the server presented {fingerprint}: verify it out of band and add it (never added automatically)",
            cfg.known_hosts.display()
        )),
        CheckResult::Mismatch => Err(format!(
            "HOST KEY OF {host} HAS CHANGED: the server presented {fingerprint}, which does not match the key pinned in {}; possible man-in-the-middle attack, refusing to connect",
            cfg.known_hosts.display()
        )),
        CheckResult::Failure => Err(format!(
            "cannot check the host key of {host} ({fingerprint}) against {}",
            cfg.known_hosts.display()
        )),
    }
}
