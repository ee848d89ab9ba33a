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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bcpvault::profile::Profile;
use bcpvault::repo::{Progress, Repository};
use bcpvault::sync::{Backoff, SyncOptions, last_run, sync_remote, sync_remote_with};

use support::sshd::{Sshd, USER, fingerprint, keygen, keygen_type};
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

/// An SFTP session as the writer's account, bypassing bcpvault entirely.
fn raw_sftp(sshd: &Sshd) -> (ssh2::Session, ssh2::Sftp) {
    let tcp = std::net::TcpStream::connect(("127.0.0.1", sshd.port)).unwrap();
    let mut s = ssh2::Session::new().unwrap();
    s.set_tcp_stream(tcp);
    s.handshake().unwrap();
    s.userauth_pubkey_file(USER, None, &sshd.client_key, None)
        .unwrap();
    let sftp = s.sftp().unwrap();
    (s, sftp)
}

#[test]
fn append_only_account_cannot_destroy_objects() {
    use ssh2::{FileStat, OpenFlags, OpenType};
    use std::io::Write;
    let sshd = Sshd::start();
    let v = vault_for(&sshd, "");
    let src = corpus(&v);
    backup(&v, &src);
    ok(&v.cli(&["sync"], &[], false));
    let before: Vec<(PathBuf, Vec<u8>)> = remote_files(&sshd)
        .into_iter()
        .map(|p| {
            let b = fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    let pack = before
        .iter()
        .find(|(p, _)| p.to_string_lossy().contains("/data/"))
        .map(|(p, _)| p.clone())
        .unwrap();
    let snapshot = before
        .iter()
        .find(|(p, _)| p.to_string_lossy().contains("/snapshots/"))
        .map(|(p, _)| p.clone())
        .unwrap();
    let (_session, sftp) = raw_sftp(&sshd);
    for target in [&pack, &snapshot] {
        assert!(sftp.unlink(target).is_err(), "delete of {target:?} allowed");
        assert!(
            sftp.open_mode(
                target,
                OpenFlags::WRITE | OpenFlags::TRUNCATE,
                0o644,
                OpenType::File
            )
            .is_err(),
            "truncate of {target:?} allowed"
        );
        assert!(
            sftp.open_mode(target, OpenFlags::WRITE, 0o644, OpenType::File)
                .is_err(),
            "overwrite of {target:?} allowed"
        );
        let chmod = FileStat {
            size: None,
            uid: None,
            gid: None,
            perm: Some(0o100644),
            atime: None,
            mtime: None,
        };
        assert!(
            sftp.setstat(target, chmod).is_err(),
            "chmod of {target:?} allowed"
        );
        // Rename a planted file over the object.
        let planted = target.parent().unwrap().join(".tmp-planted");
        let mut f = sftp
            .open_mode(
                &planted,
                OpenFlags::WRITE | OpenFlags::CREATE,
                0o644,
                OpenType::File,
            )
            .expect("creating a new file is allowed");
        f.write_all(b"ransom").unwrap();
        drop(f);
        assert!(
            sftp.rename(&planted, target, None).is_err(),
            "rename over {target:?} allowed"
        );
        assert!(
            sftp.symlink(&planted, &target.with_extension("link"))
                .is_err(),
            "symlink allowed"
        );
    }
    assert!(sftp.rmdir(pack.parent().unwrap()).is_err(), "rmdir allowed");
    for (p, bytes) in &before {
        assert_eq!(&fs::read(p).unwrap(), bytes, "{} changed", p.display());
    }
    let out = ok(&v.cli(&["check"], &["--remote", "dc1"], false));
    assert!(out.contains("no problems"), "{out}");
}

#[test]
fn other_source_address_is_refused() {
    let sshd = Sshd::start();
    // The key is authorized from 127.0.0.1 only.
    let v = vault_for(&sshd, "source_address = \"127.0.0.2\"");
    let src = corpus(&v);
    backup(&v, &src);
    let err = fails(&v.cli(&["sync"], &[], false));
    assert!(err.contains("refused key"), "{err}");
    assert!(err.contains("127.0.0.2"), "{err}");
    assert!(remote_files(&sshd).is_empty());
    // The same profile from the allowed address works.
    let text = fs::read_to_string(&v.profile)
        .unwrap()
        .replace("127.0.0.2", "127.0.0.1");
    fs::write(&v.profile, text).unwrap();
    ok(&v.cli(&["sync"], &[], false));
    assert!(!remote_files(&sshd).is_empty());
}

#[test]
fn unknown_or_changed_host_keys_are_refused() {
    let sshd = Sshd::start();
    let v = vault_for(&sshd, "");
    let src = corpus(&v);
    backup(&v, &src);
    let real = fingerprint(&sshd.host_pub);
    assert!(real.starts_with("SHA256:"), "{real}");

    fs::write(&sshd.known_hosts, "").unwrap();
    let err = fails(&v.cli(&["sync"], &[], false));
    assert!(err.contains("unknown"), "{err}");
    assert!(err.contains(&real), "fingerprint {real} not in: {err}");
    assert_eq!(fs::read_to_string(&sshd.known_hosts).unwrap(), "");

    let other = sshd.dir.path().join("other_host");
    keygen(&other);
    let pinned = format!(
        "[127.0.0.1]:{} {}",
        sshd.port,
        fs::read_to_string(other.with_extension("pub")).unwrap()
    );
    fs::write(&sshd.known_hosts, &pinned).unwrap();
    let err = fails(&v.cli(&["sync"], &[], false));
    assert!(err.contains("HAS CHANGED"), "{err}");
    assert!(err.contains(&real), "{err}");
    assert_eq!(fs::read_to_string(&sshd.known_hosts).unwrap(), pinned);
    assert!(remote_files(&sshd).is_empty(), "something was uploaded");
    // Restore and check refuse the same way.
    let err = fails(&restore_remote(&v, &v.folder("t")));
    assert!(err.contains("HAS CHANGED"), "{err}");
}

/// Kills sshd (from another thread) a moment after 2 MiB went up, while the next
/// pack is being written.
struct Killer {
    sshd: Arc<Sshd>,
    fired: AtomicBool,
    bytes: AtomicU64,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Start sshd again this long after the kill.
    restart_after: Option<Duration>,
}

impl Progress for Killer {
    fn advance(&self, bytes: u64) {
        let total = self.bytes.fetch_add(bytes, Ordering::SeqCst) + bytes;
        if total > 2 * 1024 * 1024 && !self.fired.swap(true, Ordering::SeqCst) {
            let sshd = self.sshd.clone();
            let restart = self.restart_after;
            let handle = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(3));
                sshd.kill();
                if let Some(after) = restart {
                    std::thread::sleep(after);
                    sshd.restart();
                }
            });
            *self.thread.lock().unwrap() = Some(handle);
        }
    }
}

#[test]
fn sync_killed_midway_resumes_and_checks_clean() {
    let sshd = Arc::new(Sshd::start());
    let v = vault_for(&sshd, "");
    let src = corpus(&v);
    backup(&v, &src);
    let profile = Profile::load(&v.profile).unwrap();
    let remote = &profile.remotes[0];
    {
        let repo = Repository::open(&v.store).unwrap();
        let killer = Killer {
            sshd: sshd.clone(),
            fired: AtomicBool::new(false),
            bytes: AtomicU64::new(0),
            thread: Mutex::new(None),
            restart_after: None,
        };
        let options = SyncOptions {
            backoff: Backoff {
                attempts: 3,
                first_delay: Duration::from_millis(100),
                max_delay: Duration::from_secs(1),
            },
            ..SyncOptions::default()
        };
        let err = sync_remote_with(&repo, remote, &killer, &options).unwrap_err();
        if let Some(t) = killer.thread.lock().unwrap().take() {
            t.join().unwrap();
        }
        assert!(err.to_string().contains("connection"), "{err}");
        assert!(killer.fired.load(Ordering::SeqCst));
        let last = last_run(repo.db(), "dc1").unwrap().unwrap();
        assert!(!last.ok && last.error.is_some(), "{last:?}");
    }
    // Nothing half-written is referenced: no snapshot reached the remote.
    assert!(
        !remote_files(&sshd)
            .iter()
            .any(|p| p.to_string_lossy().contains("/snapshots/"))
    );
    sshd.restart();
    let repo = Repository::open(&v.store).unwrap();
    let done = sync_remote(&repo, remote, &bcpvault::repo::NoProgress).unwrap();
    assert_eq!(done.snapshots, 1, "{done:?}");
    assert!(done.bytes_sent < 7 * 1024 * 1024, "{done:?}");
    drop(repo);
    let out = ok(&v.cli(&["check"], &["--remote", "dc1"], false));
    assert!(out.contains("no problems"), "{out}");
}

/// A tmpfs mounted over the remote repository; unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(st.success(), "mount -t tmpfs failed (the test needs root)");
        support::sshd::init_repo(at);
        Tmpfs(at.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let st = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("run mount");
        assert!(st.success(), "remount failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn full_remote_disk_is_one_clear_error_and_recovers() {
    let sshd = Sshd::start();
    let tmpfs = Tmpfs::mount(&sshd.repo, "2m");
    let v = vault_for(&sshd, "");
    let src = corpus(&v);
    backup(&v, &src);
    let err = fails(&v.cli(&["sync"], &[], false));
    eprintln!("{err}");
    assert!(err.contains("no space left"), "{err}");
    assert!(err.contains("sftp:dc1"), "{err}");
    // The local store is untouched and fine.
    let out = ok(&v.cli(&["check"], &[], false));
    assert!(out.contains("no problems"), "{out}");
    tmpfs.resize("64m");
    ok(&v.cli(&["sync"], &[], false));
    let out = ok(&v.cli(&["check"], &["--remote", "dc1"], false));
    assert!(out.contains("no problems"), "{out}");
    let target = v.folder("restore");
    ok(&restore_remote(&v, &target));
    assert_eq!(snapshot_tree(&src), snapshot_tree(&restored(&target, &src)));
    drop(sshd);
}

#[test]
fn tampered_remote_pack_is_named_and_refused() {
    let sshd = Sshd::start();
    let v = vault_for(&sshd, "");
    let src = corpus(&v);
    backup(&v, &src);
    ok(&v.cli(&["sync"], &[], false));
    // A pack of file data only (a tree pack would hide whole folders).
    let unlocked = v.unlock();
    let pack = remote_files(&sshd)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/data/"))
        .find(|p| {
            let opened =
                bcpvault::repo::pack::open(&fs::read(p).unwrap(), &unlocked.private_key).unwrap();
            opened
                .entries
                .iter()
                .all(|e| e.kind == bcpvault::repo::BlobKind::Data)
        })
        .expect("a pack of data blobs");
    let name = pack
        .strip_prefix(&sshd.repo)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut bytes = fs::read(&pack).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(&pack, &bytes).unwrap();

    let out = v.cli(&["check"], &["--remote", "dc1"], false);
    let err = fails(&out);
    assert!(err.contains(&name), "{err}");

    let target = v.folder("restore");
    let out = restore_remote(&v, &target);
    let err = fails(&out);
    assert!(err.contains(&name), "{err}");
    // Everything restored is intact, and more than nothing was restored.
    let original = snapshot_tree(&src);
    let back = snapshot_tree(&restored(&target, &src));
    let files = back.iter().filter(|(p, _)| p.extension().is_some()).count();
    assert!(files > 10, "only {files} files restored");
    assert!(back.len() < original.len(), "nothing was refused");
    for (p, b) in &back {
        assert_eq!(original.get(p), Some(b), "{} differs", p.display());
    }
    let _ = (EXECS, run);
}

#[test]
fn forget_needs_the_admin_key() {
    let sshd = Sshd::start();
    let v = vault_for(&sshd, "");
    let err = fails(&v.cli(&["forget"], &["--remote", "dc1", "--keep-last", "1"], false));
    assert!(err.contains("admin_identity"), "{err}");
}

#[test]
fn sync_reconnects_when_the_server_comes_back_during_backoff() {
    let sshd = Arc::new(Sshd::start());
    let v = vault_for(&sshd, "");
    let src = corpus(&v);
    backup(&v, &src);
    let profile = Profile::load(&v.profile).unwrap();
    let repo = Repository::open(&v.store).unwrap();
    let killer = Killer {
        sshd: sshd.clone(),
        fired: AtomicBool::new(false),
        bytes: AtomicU64::new(0),
        thread: Mutex::new(None),
        restart_after: Some(Duration::from_millis(300)),
    };
    // Default backoff: 0.5 s, 1 s, … — the server is back before the second retry.
    let done = sync_remote(&repo, &profile.remotes[0], &killer).unwrap();
    if let Some(t) = killer.thread.lock().unwrap().take() {
        t.join().unwrap();
    }
    assert!(killer.fired.load(Ordering::SeqCst));
    assert_eq!(done.snapshots, 1, "{done:?}");
    // It waited for the server to come back (and did not finish before the kill).
    assert!(done.elapsed >= Duration::from_millis(300), "{done:?}");
    drop(repo);
    let out = ok(&v.cli(&["check"], &["--remote", "dc1"], false));
    assert!(out.contains("no problems"), "{out}");
}

#[test]
fn unprepared_append_only_repository_is_explained() {
    let sshd = Sshd::start();
    // As if `server init-repo` had not been run: only the (writable) root exists.
    for d in ["keys", "index", "snapshots", "audit", "data"] {
        fs::remove_dir_all(sshd.repo.join(d)).unwrap();
    }
    let v = vault_for(&sshd, "");
    let err = fails(&v.cli(&["sync"], &[], false));
    assert!(err.contains("permission denied"), "{err}");
    assert!(err.contains("server init-repo"), "{err}");
}

#[test]
fn rsa_writer_key_works_too() {
    let mut sshd = Sshd::start();
    let rsa = sshd.dir.path().join("client_rsa");
    keygen_type(&rsa, "rsa");
    sshd.client_key = rsa.clone();
    sshd.client_pub = rsa.with_extension("pub");
    sshd.authorize("127.0.0.1");
    let v = vault_for(&sshd, "");
    let src = v.folder("small");
    fs::write(src.join("x.txt"), b"rsa").unwrap();
    backup(&v, &src);
    let out = ok(&v.cli(&["sync"], &[], false));
    assert!(out.contains("1 new snapshot(s)"), "{out}");
}

/// [`vault_for`] with an admin key: same account, no forced command, from this
/// machine only.
fn vault_with_admin(sshd: &Sshd) -> TestVault {
    let admin = sshd.dir.path().join("admin_ed25519");
    keygen(&admin);
    let mut keys = fs::read_to_string(&sshd.authorized_keys).unwrap();
    keys.push_str(&format!(
        "from=\"127.0.0.1\" {}",
        fs::read_to_string(admin.with_extension("pub")).unwrap()
    ));
    fs::write(&sshd.authorized_keys, keys).unwrap();
    vault_for(sshd, &format!("admin_identity = \"{}\"", admin.display()))
}

#[test]
fn admin_key_forgets_and_prunes_and_sync_restores_what_the_store_needs() {
    let sshd = Sshd::start();
    let v = vault_with_admin(&sshd);
    let src = v.folder("src");
    for round in 0..3u64 {
        fs::write(src.join("data.bin"), noise(1_500_000, round + 10)).unwrap();
        backup(&v, &src);
        ok(&v.cli(&["sync"], &[], false));
    }
    let snaps = |sshd: &Sshd| fs::read_dir(sshd.repo.join("snapshots")).unwrap().count();
    let packs = |sshd: &Sshd| {
        remote_files(sshd)
            .iter()
            .filter(|p| p.to_string_lossy().contains("/data/"))
            .count()
    };
    assert_eq!(snaps(&sshd), 3);
    let before = packs(&sshd);
    let out = ok(&v.cli(
        &["forget"],
        &["--remote", "dc1", "--keep-last", "1", "--prune"],
        true,
    ));
    assert!(out.contains("removed 2"), "{out}");
    assert_eq!(snaps(&sshd), 1);
    let after = packs(&sshd);
    assert!(after < before, "{before} -> {after}: {out}");
    // The kept snapshot restores from the remote.
    let target = v.folder("restore");
    ok(&restore_remote(&v, &target));
    assert_eq!(snapshot_tree(&src), snapshot_tree(&restored(&target, &src)));
    // The writer still deduplicates against the pruned packs: the next sync sees
    // the prune marker and puts back what the remote lost, so a new snapshot never
    // references a missing pack.
    fs::write(src.join("data.bin"), noise(1_500_000, 10)).unwrap();
    backup(&v, &src);
    ok(&v.cli(&["sync"], &[], false));
    assert!(packs(&sshd) > after);
    let target = v.folder("restore2");
    ok(&restore_remote(&v, &target));
    assert_eq!(snapshot_tree(&src), snapshot_tree(&restored(&target, &src)));
    let out = ok(&v.cli(&["check"], &["--remote", "dc1", "--read-data"], true));
    assert!(out.contains("no problems"), "{out}");
}

/// The remote's pack objects: name (`data/..`) and size.
fn remote_packs(sshd: &Sshd) -> std::collections::BTreeMap<String, u64> {
    remote_files(sshd)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/data/"))
        .map(|p| {
            let size = fs::metadata(&p).unwrap().len();
            let name = p
                .strip_prefix(&sshd.repo)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, size)
        })
        .collect()
}

#[test]
fn sync_after_prune_uploads_only_what_is_new() {
    let sshd = Sshd::start();
    let v = vault_with_admin(&sshd);
    let src = v.folder("src");
    // `sync` backs up the profile's sources first.
    let text = fs::read_to_string(&v.profile).unwrap();
    fs::write(
        &v.profile,
        format!("sources = [\"{}\"]\n{text}", src.display()),
    )
    .unwrap();
    const SIZE: usize = 1_500_000;
    for round in 0..3u64 {
        fs::write(src.join("data.bin"), noise(SIZE, round + 10)).unwrap();
        ok(&v.cli(&["sync"], &[], false));
    }
    let before = remote_packs(&sshd);
    let out = ok(&v.cli(
        &["forget"],
        &["--remote", "dc1", "--keep-last", "1", "--prune"],
        true,
    ));
    assert!(out.contains("removed 2"), "{out}");
    let kept = remote_packs(&sshd);
    let pruned: Vec<&String> = before.keys().filter(|n| !kept.contains_key(*n)).collect();
    assert!(pruned.len() >= 2, "{before:?} -> {kept:?}");

    // The file goes back to the content of the first round, whose packs the prune
    // deleted (the store still has them), and a small new file appears.
    fs::write(src.join("data.bin"), noise(SIZE, 10)).unwrap();
    fs::write(src.join("new.txt"), b"written after the prune\n").unwrap();
    let out = ok(&v.cli(&["sync"], &[], false));
    assert!(out.contains("prune taken in"), "{out}");
    let after = remote_packs(&sshd);
    for name in &pruned {
        assert!(
            !after.contains_key(*name),
            "pruned pack {name} uploaded again"
        );
    }
    let new_bytes: u64 = after
        .iter()
        .filter(|(n, _)| !kept.contains_key(*n))
        .map(|(_, s)| s)
        .sum();
    let sent = {
        let repo = Repository::open(&v.store).unwrap();
        last_run(repo.db(), "dc1").unwrap().unwrap().bytes_sent
    };
    // The reverted content goes up once, in new packs; nothing else big does (the
    // two pruned rounds were 3 MB).
    assert!(new_bytes >= SIZE as u64, "{new_bytes}");
    assert!(new_bytes < SIZE as u64 + 200_000, "{new_bytes}");
    assert!(
        sent >= new_bytes && sent < new_bytes + 100_000,
        "sent {sent}, new packs {new_bytes}"
    );
    // Nothing changed: the next sync sends no data (at most a small pack of tree
    // blobs: the parent folders' mtimes, /tmp's among them, change under parallel
    // tests).
    ok(&v.cli(&["sync"], &[], false));
    let again: u64 = remote_packs(&sshd)
        .iter()
        .filter(|(n, _)| !after.contains_key(*n))
        .map(|(_, s)| s)
        .sum();
    assert!(again < 20_000, "{again} bytes of new packs");

    let out = ok(&v.cli(&["check"], &["--remote", "dc1", "--read-data"], true));
    assert!(out.contains("no problems"), "{out}");
    let target = v.folder("restore");
    ok(&restore_remote(&v, &target));
    assert_eq!(snapshot_tree(&src), snapshot_tree(&restored(&target, &src)));
    // The store keeps its history: every local snapshot still decrypts completely.
    let out = ok(&v.cli(&["check"], &["--read-data"], true));
    assert!(out.contains("no problems"), "{out}");
}
