//! Sync to a real OpenSSH server on loopback: full cycle, incremental bytes,
//! append-only refusals, address and host-key pinning, faults, tampering.

mod support {
    #[path = "sshd.rs"]
    pub mod sshd;
    #[path = "vault.rs"]
    pub mod vault;
}

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bcpvault::profile::Profile;
use bcpvault::repo::{Progress, Repository};
use bcpvault::sync::{Backoff, SyncOptions, last_run, sync_remote, sync_remote_with};

use support::sshd::{Sshd, USER, fingerprint, keygen};
use support::vault::{EXECS, TestVault, fails, noise, ok, restored, run, snapshot_tree};

/// A vault with 1 MiB packs and the server as remote `dc1` (`extra` goes into the
/// remote table).
fn vault_for(sshd: &Sshd, extra: &str) -> TestVault {
    let v = TestVault::new("");
    let mut text = fs::read_to_string(&v.profile).unwrap();
    text.push_str("\n[repository]\npack_size = \"1 MiB\"\n");
    text.push_str(&sshd.remote_toml("dc1", extra));
    fs::write(&v.profile, text).unwrap();
    v
}

/// ~6 MiB in 96 files of 64 KiB (incompressible) plus a few small ones.
fn corpus(v: &TestVault) -> PathBuf {
    let src = v.folder("src");
    for i in 0..96u64 {
        let sub = src.join(format!("d{}", i % 4));
        fs::create_dir_all(&sub).unwrap();
        fs::write(sub.join(format!("f{i}.bin")), noise(64 * 1024, i + 1)).unwrap();
    }
    fs::write(src.join("readme.txt"), b"hello from the file server\n").unwrap();
    std::os::unix::fs::symlink("readme.txt", src.join("link")).unwrap();
    src
}

fn backup(v: &TestVault, src: &Path) {
    ok(&v.cli(&["backup"], &[src.to_str().unwrap()], false));
}

fn remote_files(sshd: &Sshd) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![sshd.repo.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn restore_remote(v: &TestVault, target: &Path) -> std::process::Output {
    v.cli(
        &["restore"],
        &[target.to_str().unwrap(), "--remote", "dc1"],
        true,
    )
}

#[test]
fn full_cycle_restores_from_the_remote_alone() {
    let sshd = Sshd::start();
    let v = vault_for(&sshd, "");
    let src = corpus(&v);
    backup(&v, &src);
    let out = ok(&v.cli(&["sync"], &[], false));
    assert!(out.contains("remote dc1:"), "{out}");
    let remote = remote_files(&sshd);
    assert!(
        remote.iter().any(|p| p.ends_with("keys/recovery")),
        "{remote:?}"
    );
    assert!(
        remote
            .iter()
            .any(|p| p.to_string_lossy().contains("/snapshots/"))
    );
    // Every object is read-only (the server's umask 0222) and owned by the account.
    for p in &remote {
        let mode = fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o222, 0, "{} is writable: {mode:o}", p.display());
    }
    // Disaster: the whole local store is gone.
    fs::remove_dir_all(&v.store).unwrap();
    let target = v.folder("restore");
    let out = ok(&restore_remote(&v, &target));
    assert!(out.contains("restored snapshot"), "{out}");
    assert_eq!(snapshot_tree(&src), snapshot_tree(&restored(&target, &src)));
    // The remote alone also verifies, decrypting every blob.
    let out = ok(&v.cli(&["check"], &["--remote", "dc1", "--read-data"], true));
    assert!(out.contains("no problems"), "{out}");
}

#[test]
fn incremental_sync_sends_only_new_packs() {
    let sshd = Sshd::start();
    let v = vault_for(&sshd, "");
    let src = corpus(&v);
    backup(&v, &src);
    let profile = Profile::load(&v.profile).unwrap();
    let remote = &profile.remotes[0];
    let first = {
        let repo = Repository::open(&v.store).unwrap();
        sync_remote(&repo, remote, &bcpvault::repo::NoProgress).unwrap()
    };
    assert!(first.bytes_sent > 6 * 1024 * 1024, "{first:?}");
    assert_eq!(first.snapshots, 1);
    // Nothing new: nothing sent.
    let again = {
        let repo = Repository::open(&v.store).unwrap();
        sync_remote(&repo, remote, &bcpvault::repo::NoProgress).unwrap()
    };
    assert_eq!(again.bytes_sent, 0, "{again:?}");
    assert_eq!(again.uploaded, 0, "{again:?}");
    // Change 1 of 96 files.
    fs::write(src.join("d1/f1.bin"), noise(64 * 1024, 999)).unwrap();
    backup(&v, &src);
    let repo = Repository::open(&v.store).unwrap();
    let second = sync_remote(&repo, remote, &bcpvault::repo::NoProgress).unwrap();
    assert_eq!(second.snapshots, 1, "{second:?}");
    assert!(
        second.bytes_sent < first.bytes_sent / 20,
        "incremental sync sent {} bytes, the first {}",
        second.bytes_sent,
        first.bytes_sent
    );
    assert!(second.bytes_sent > 64 * 1024, "{second:?}");
    let last = last_run(repo.db(), "dc1").unwrap().unwrap();
    assert!(last.ok);
    assert_eq!(last.bytes_sent, second.bytes_sent);
}
