//! Shared test scaffolding: a throw-away vault with cheap Argon2id settings
//! (chosen through the same `[kdf]` profile keys users have) and corpus helpers.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use bcpvault::crypto::{KdfParams, Password};
use bcpvault::keys::{Approval, Ceremony, Executive, KeyFiles, UnlockedVault, Unlocker};

/// The test binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_bcpvault");

/// Executives of every test vault, with their passwords.
pub const EXECS: [(&str, &str); 3] = [
    ("tanaka", "first-password-one"),
    ("sato", "second-password-two"),
    ("suzuki", "third-password-three"),
];

/// A vault in a temp dir: profile file, store, and the dir for sources.
pub struct TestVault {
    pub dir: tempfile::TempDir,
    pub profile: PathBuf,
    pub store: PathBuf,
}

impl TestVault {
    /// Creates profile + 2-of-3 vault (RSA-2048 for speed). `extra` is appended
    /// to the profile (e.g. a quota line before any table).
    pub fn new(extra_top: &str) -> TestVault {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let profile = dir.path().join("vault.toml");
        fs::write(
            &profile,
            format!(
                "name = \"testvault\"\nstore = \"{}\"\n{extra_top}\n[kdf]\nmemory = \"1 MiB\"\niterations = 1\nparallelism = 1\n",
                store.display()
            ),
        )
        .unwrap();
        Ceremony {
            vault_name: "testvault".into(),
            executives: EXECS
                .iter()
                .map(|(n, p)| Executive {
                    name: n.to_string(),
                    password: Password::new(p.to_string()),
                })
                .collect(),
            threshold: 2,
            key_bits: 2048,
            kdf: KdfParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
        }
        .run(&KeyFiles::new(&store))
        .unwrap();
        TestVault {
            dir,
            profile,
            store,
        }
    }

    /// A fresh folder inside the test dir.
    pub fn folder(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        fs::create_dir_all(&p).unwrap();
        p
    }

    /// Unlocks with tanaka and sato.
    pub fn unlock(&self) -> UnlockedVault {
        let bundle = KeyFiles::new(&self.store).load_bundle().unwrap();
        let approvals: Vec<Approval> = EXECS[..2]
            .iter()
            .map(|(n, p)| Approval {
                name: n.to_string(),
                password: Password::new(p.to_string()),
            })
            .collect();
        Unlocker::unlock(bundle, &approvals).unwrap()
    }

    /// Runs the CLI with `args` (the profile is inserted after the command) and
    /// the first two executives' passwords on stdin when `approve` is set.
    pub fn cli(&self, command: &[&str], rest: &[&str], approve: bool) -> Output {
        let mut args: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        args.push(self.profile.display().to_string());
        args.extend(rest.iter().map(|s| s.to_string()));
        let mut stdin = String::new();
        if approve {
            for (n, p) in &EXECS[..2] {
                args.push("--executive".into());
                args.push(n.to_string());
                stdin.push_str(p);
                stdin.push('\n');
            }
            args.push("--password-stdin".into());
        }
        run(&args, &stdin)
    }
}

/// Runs the binary with stdin text.
pub fn run(args: &[String], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bcpvault");
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    child.wait_with_output().unwrap()
}

/// Asserts success and returns stdout.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts failure with exactly one stderr line; returns it.
pub fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "command unexpectedly succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "error must be one line: {err:?}");
    err.trim_end().to_string()
}

/// Deterministic incompressible bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Every file under `root` (relative path → bytes), symlinks as "-> target".
pub fn snapshot_tree(root: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                let t = fs::read_link(&p).unwrap();
                out.insert(rel, format!("-> {}", t.display()).into_bytes());
            } else if ft.is_dir() {
                out.insert(rel, b"<dir>".to_vec());
                stack.push(p);
            } else {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Where a source folder lands inside a restore target (its absolute path).
pub fn restored(target: &Path, source: &Path) -> PathBuf {
    let abs = fs::canonicalize(source).unwrap();
    target.join(abs.strip_prefix("/").unwrap())
}
