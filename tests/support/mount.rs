//! A real FUSE mount of a test vault, driven through the `bcpvault` CLI exactly as
//! an admin would: `mount`, `unlock`, `seal`, `umount`. Needs `/dev/fuse` and
//! `fusermount3`; a test that cannot mount fails loudly, it never skips.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::vault::{EXECS, TestVault, fails, ok, run};

/// A mounted test vault; unmounted (or killed and cleaned) on drop.
pub struct MountedVault {
    /// The vault (profile, store, temp dir).
    pub vault: TestVault,
    /// The mount point.
    pub mnt: PathBuf,
}

/// Panics with what to install when FUSE is not usable here.
pub fn require_fuse() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: mount tests need FUSE (modprobe fuse; run as root)"
    );
    let which = std::process::Command::new("sh")
        .args(["-c", "command -v fusermount3"])
        .output()
        .expect("sh");
    assert!(
        which.status.success(),
        "fusermount3 is missing: apt-get install -y fuse3 (scripts/test.sh does this)"
    );
}

impl MountedVault {
    /// A new 2-of-3 vault (readers: root) mounted at `<tmp>/mnt`. `extra` goes into
    /// the profile's top level (e.g. `quota = "2 MiB"`); `[mount]` settings can
    /// follow as a table in `table`.
    pub fn new_with(extra: &str, table: &str) -> MountedVault {
        require_fuse();
        // A relative mount point is resolved against the profile's directory:
        // the vault's own temp dir.
        let top = format!("mountpoint = \"mnt\"\nreaders = [\"root\"]\n{extra}");
        let vault = TestVault::new(&top);
        if !table.is_empty() {
            let mut text = fs::read_to_string(&vault.profile).unwrap();
            text.push_str(table);
            fs::write(&vault.profile, text).unwrap();
        }
        let mnt = vault.dir.path().join("mnt");
        let m = MountedVault { vault, mnt };
        m.mount();
        m
    }

    /// A new vault with default settings.
    pub fn new() -> MountedVault {
        MountedVault::new_with("", "")
    }

    fn profile(&self) -> String {
        self.vault.profile.display().to_string()
    }

    /// Runs a bcpvault command on this vault's profile.
    pub fn cli(&self, args: &[&str], stdin: &str) -> Output {
        let mut all: Vec<String> = vec![args[0].to_string(), self.profile()];
        all.extend(args[1..].iter().map(|s| s.to_string()));
        run(&all, stdin)
    }

    /// `bcpvault mount` (background daemon); asserts success.
    pub fn mount(&self) {
        let out = self.cli(&["mount"], "");
        if !out.status.success() {
            let log = fs::read_to_string(self.vault.store.join("daemon.log")).unwrap_or_default();
            panic!(
                "bcpvault mount failed: {}\ndaemon log:\n{log}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            self.mnt.join(".bcpvault-status").exists(),
            "mounted but no status file"
        );
    }

    /// `bcpvault umount`; asserts success.
    pub fn umount(&self) {
        ok(&self.cli(&["umount"], ""));
    }

    /// One executive's approval; returns stdout.
    pub fn approve(&self, who: usize) -> String {
        let (name, pw) = EXECS[who];
        ok(&self.cli(
            &["unlock", "--executive", name, "--password-stdin"],
            &format!("{pw}\n"),
        ))
    }

    /// Unlocks with tanaka and sato.
    pub fn unlock(&self) {
        self.approve(0);
        let out = self.approve(1);
        assert!(out.contains("unlocked until"), "{out}");
    }

    /// `bcpvault seal`.
    pub fn seal(&self) {
        ok(&self.cli(&["seal"], ""));
    }

    /// The daemon's pid.
    pub fn pid(&self) -> i32 {
        fs::read_to_string(self.vault.store.join("daemon.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// `kill -9` of the daemon; waits until it is gone.
    pub fn kill9(&self) {
        let pid = self.pid();
        let status = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let start = Instant::now();
        while Path::new(&format!("/proc/{pid}/status")).exists()
            && fs::read_to_string(format!("/proc/{pid}/status"))
                .map(|s| !s.contains("State:\tZ"))
                .unwrap_or(false)
        {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "daemon survived kill -9"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Path inside the mount.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel)
    }

    /// A failing CLI call's stderr line.
    pub fn cli_fails(&self, args: &[&str], stdin: &str) -> String {
        fails(&self.cli(args, stdin))
    }
}

impl Drop for MountedVault {
    fn drop(&mut self) {
        let pid_file = self.vault.store.join("daemon.pid");
        if pid_file.exists() {
            let _ = run(&["umount".to_string(), self.profile()], "");
        }
        // A daemon killed by a test leaves a dead mount: clear it.
        let _ = std::process::Command::new("fusermount3")
            .args(["-u", "-z"])
            .arg(&self.mnt)
            .stderr(std::process::Stdio::null())
            .status();
    }
}
