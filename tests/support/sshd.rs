//! A real OpenSSH server on loopback for the SFTP tests: its own host key, a client
//! ed25519 key, an sshd_config in a temp dir, a random free port. The writer's key
//! is authorized for the non-root account `bcptest` through the line that
//! `bcpvault server authorize` prints (append-only, `from="127.0.0.1"`).
//!
//! Missing OpenSSH tools fail the test loudly (never a skip).

#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// The unprivileged account the append-only tests log in as.
pub const USER: &str = "bcptest";
const SSHD: &str = "/usr/sbin/sshd";
const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";

/// A running sshd; killed (with its session processes) on drop.
pub struct Sshd {
    /// Temp dir holding keys, config, log and the repository.
    pub dir: tempfile::TempDir,
    /// Listening port on 127.0.0.1.
    pub port: u16,
    /// The server's public host key file.
    pub host_pub: PathBuf,
    /// The writer's private key.
    pub client_key: PathBuf,
    /// The writer's public key.
    pub client_pub: PathBuf,
    /// known_hosts pinning the server's key.
    pub known_hosts: PathBuf,
    /// The server's authorized_keys file (for all users).
    pub authorized_keys: PathBuf,
    /// Repository directory on the "server", owned by `bcptest`.
    pub repo: PathBuf,
    config: PathBuf,
    log: PathBuf,
    child: Mutex<Option<Child>>,
}

fn require_tools() {
    for (path, package) in [
        (SSHD, "openssh-server"),
        (SFTP_SERVER, "openssh-sftp-server"),
        ("/usr/bin/ssh-keygen", "openssh-client"),
    ] {
        if !Path::new(path).exists() {
            panic!(
                "{path} is missing: the SFTP tests need a real OpenSSH server; install it with `apt-get install -y {package}` (scripts/test.sh does this)"
            );
        }
    }
}

/// Creates the unlocked, home-less account `bcptest` once per test process.
pub fn ensure_user() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let exists = Command::new("id")
            .arg("-u")
            .arg(USER)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !exists {
            let st = Command::new("useradd")
                .args(["-M", "-s", "/bin/sh", USER])
                .status()
                .expect("run useradd (package passwd)");
            assert!(
                st.success(),
                "useradd {USER} failed (are the tests run as root?)"
            );
        }
        // A `useradd` account is locked ("!"); sshd refuses locked accounts even
        // for key authentication.
        let st = Command::new("usermod")
            .args(["-p", "*", USER])
            .status()
            .expect("run usermod");
        assert!(st.success(), "usermod -p '*' {USER} failed");
        fs::create_dir_all("/run/sshd").expect("create /run/sshd (privilege separation dir)");
    });
}

/// Generates an ed25519 key pair at `path` (and `path.pub`).
pub fn keygen(path: &Path) {
    keygen_type(path, "ed25519");
}

/// Generates a key pair of type `kind` (`ed25519`, `rsa`) at `path` (and `path.pub`).
pub fn keygen_type(path: &Path, kind: &str) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", "bcpvault-test", "-f"])
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .expect("run ssh-keygen");
    assert!(st.success(), "ssh-keygen failed for {}", path.display());
}

/// The SHA-256 fingerprint `ssh-keygen -lf` prints for a public key file.
pub fn fingerprint(pubkey: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pubkey)
        .output()
        .expect("run ssh-keygen -lf");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .expect("ssh-keygen -lf output")
        .to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `bcpvault server init-repo` for `bcptest`: the directories the append-only
/// account cannot create usefully itself (its umask makes them read-only).
pub fn init_repo(path: &Path) {
    let out = Command::new(super::vault::BIN)
        .args(["server", "init-repo", "--owner", USER, "--repo"])
        .arg(path)
        .output()
        .expect("run bcpvault server init-repo");
    assert!(
        out.status.success(),
        "server init-repo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Sshd {
    /// Starts a server whose authorized_keys holds the append-only line for the
    /// writer key, valid from 127.0.0.1.
    pub fn start() -> Sshd {
        require_tools();
        ensure_user();
        let dir = tempfile::tempdir().expect("tempdir");
        // sshd reads authorized_keys as the user: the dir must be traversable.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let p = |n: &str| dir.path().join(n);
        keygen(&p("host_ed25519"));
        keygen(&p("client_ed25519"));
        let port = free_port();
        let repo = p("repo");
        fs::create_dir(&repo).unwrap();
        init_repo(&repo);
        let host_pub = p("host_ed25519.pub");
        let known_hosts = p("known_hosts");
        fs::write(
            &known_hosts,
            format!(
                "[127.0.0.1]:{port} {}",
                fs::read_to_string(&host_pub).unwrap()
            ),
        )
        .unwrap();
        let authorized_keys = p("authorized_keys");
        let config = p("sshd_config");
        fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {pid}\n\
                 AuthorizedKeysFile {ak}\nStrictModes no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\n\
                 PermitRootLogin yes\nMaxStartups 50\nLogLevel VERBOSE\n\
                 Subsystem sftp {SFTP_SERVER}\n",
                host = p("host_ed25519").display(),
                pid = p("sshd.pid").display(),
                ak = authorized_keys.display(),
            ),
        )
        .unwrap();
        let sshd = Sshd {
            port,
            host_pub,
            client_key: p("client_ed25519"),
            client_pub: p("client_ed25519.pub"),
            known_hosts,
            authorized_keys,
            repo,
            config,
            log: p("sshd.log"),
            child: Mutex::new(None),
            dir,
        };
        sshd.authorize("127.0.0.1");
        sshd.launch();
        sshd
    }

    /// Replaces authorized_keys with the line `bcpvault server authorize` prints
    /// for the writer key and `ip`.
    pub fn authorize(&self, ip: &str) {
        let out = Command::new(super::vault::BIN)
            .args(["server", "authorize", "--pubkey"])
            .arg(&self.client_pub)
            .args(["--ip", ip, "--repo"])
            .arg(&self.repo)
            .output()
            .expect("run bcpvault server authorize");
        assert!(
            out.status.success(),
            "server authorize failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::write(&self.authorized_keys, &out.stdout).unwrap();
        fs::set_permissions(&self.authorized_keys, fs::Permissions::from_mode(0o644)).unwrap();
    }

    fn launch(&self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "sshd exited with {status} at start; log:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not listen on port {} within 10 s; log:\n{}",
                self.port,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        *self.child.lock().unwrap() = Some(child);
    }

    /// sshd's log so far.
    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Kills sshd and every session process under it (open connections drop). The
    /// listener goes first, so that no new session can start (a client reconnecting
    /// at once) while the old sessions are being killed.
    pub fn kill(&self) {
        let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mut child) = guard.take() {
            let sessions = descendants(child.id());
            let _ = child.kill();
            let _ = child.wait();
            for p in sessions {
                let _ = Command::new("kill")
                    .arg("-9")
                    .arg(p.to_string())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }

    /// Starts it again on the same port with the same keys.
    pub fn restart(&self) {
        self.kill();
        self.launch();
    }

    /// A `[[remote]]` table for this server (`extra` adds keys).
    pub fn remote_toml(&self, name: &str, extra: &str) -> String {
        format!(
            "\n[[remote]]\nname = \"{name}\"\ntype = \"sftp\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{USER}\"\npath = \"{}\"\nidentity = \"{}\"\nknown_hosts = \"{}\"\ntimeout = \"5s\"\n{extra}\n",
            self.port,
            self.repo.display(),
            self.client_key.display(),
            self.known_hosts.display()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every process below `pid`, children first found by their parent id.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid …": comm may hold spaces, so split after ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|s| s.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((p, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for (p, pp) in &parents {
            if *pp == parent && !out.contains(p) {
                out.push(*p);
                frontier.push(*p);
            }
        }
    }
    out
}
