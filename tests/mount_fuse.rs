//! The vault drive as employees, admins and executives use it, through a real FUSE
//! mount: SPEC §3 (sealed semantics, every bullet) and §5 (decrypted view).

#[path = "support/mount.rs"]
mod mount;
#[path = "support/vault.rs"]
mod vault;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use mount::MountedVault;
use vault::{noise, snapshot_tree};

fn eacces<T: std::fmt::Debug>(r: std::io::Result<T>, what: &str) {
    let e = r.expect_err(&format!("{what}: expected EACCES"));
    assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{what}: {e}");
}

fn errno<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.expect_err("expected an error").raw_os_error().unwrap()
}

fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("経理/2026/深い/もっと深い")).unwrap();
    fs::create_dir_all(root.join("empty-folder")).unwrap();
    fs::write(root.join("empty.txt"), b"").unwrap();
    fs::write(
        root.join("経理/請求書.txt"),
        "請求書 marker-content-keiri".as_bytes(),
    )
    .unwrap();
    fs::write(
        root.join("経理/2026/深い/もっと深い/leaf.bin"),
        noise(70_000, 3),
    )
    .unwrap();
    fs::write(root.join("big.bin"), noise(3 * 1024 * 1024 + 17, 9)).unwrap();
    std::os::unix::fs::symlink("経理/請求書.txt", root.join("link")).unwrap();
    fs::set_permissions(root.join("empty.txt"), fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn a_copied_tree_is_sealed_until_a_quorum_unlocks_and_sealed_again_after() {
    let m = MountedVault::new();
    let src = m.vault.folder("src");
    make_tree(&src);
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(src.join("."))
        .arg(&m.mnt)
        .status()
        .unwrap();
    assert!(st.success(), "cp -a into the mount failed");

    // Listing and stat work while sealed; contents do not.
    let meta = fs::metadata(m.path("big.bin")).unwrap();
    assert_eq!(meta.len(), 3 * 1024 * 1024 + 17);
    assert_eq!(
        fs::metadata(m.path("empty.txt")).unwrap().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(m.path("big.bin")).unwrap().mtime(),
        fs::metadata(src.join("big.bin")).unwrap().mtime(),
        "cp -a keeps mtimes"
    );
    assert_eq!(
        fs::read_link(m.path("link")).unwrap(),
        Path::new("経理/請求書.txt")
    );
    eacces(fs::read(m.path("big.bin")), "read while sealed");

    m.umount();
    m.mount();
    let names: Vec<_> = fs::read_dir(m.path("経理"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "listing survives a remount: {names:?}");
    eacces(fs::read(m.path("経理/請求書.txt")), "read after remount");
    eacces(
        OpenOptions::new().write(true).open(m.path("big.bin")),
        "open for writing without O_TRUNC while sealed",
    );

    // One approval is not enough.
    let out = m.approve(0);
    assert!(out.contains("1 of 2"), "{out}");
    eacces(fs::read(m.path("big.bin")), "read with one approval");
    let status = fs::read_to_string(m.path(".bcpvault-status")).unwrap();
    assert!(status.contains("sealed"), "{status}");
    let out = m.approve(1);
    assert!(out.contains("unlocked until"), "{out}");

    let status = fs::read_to_string(m.path(".bcpvault-status")).unwrap();
    assert!(status.contains("unlocked until"), "{status}");
    let mut mounted = snapshot_tree(&m.mnt);
    mounted.remove(Path::new(".bcpvault-status"));
    // No snapshot was taken: the history folder is there and empty.
    assert_eq!(
        mounted.remove(Path::new(".snapshots")),
        Some(b"<dir>".to_vec())
    );
    assert_eq!(
        mounted,
        snapshot_tree(&src),
        "decrypted view differs from the source"
    );

    // Random access: one byte deep inside the large file.
    let mut f = File::open(m.path("big.bin")).unwrap();
    f.seek(SeekFrom::Start(2 * 1024 * 1024 + 5)).unwrap();
    let mut b = [0u8; 4];
    f.read_exact(&mut b).unwrap();
    let want = noise(3 * 1024 * 1024 + 17, 9);
    assert_eq!(&b, &want[2 * 1024 * 1024 + 5..2 * 1024 * 1024 + 9]);

    // Seal: the key is gone, even an open handle stops reading.
    m.seal();
    f.seek(SeekFrom::Start(0)).unwrap();
    eacces(f.read(&mut b), "read through an open handle after seal");
    eacces(fs::read(m.path("big.bin")), "read after seal");
}

#[test]
fn office_save_pattern_and_editor_pattern_work_while_sealed() {
    let m = MountedVault::new();
    fs::write(m.path("report.docx"), b"version one").unwrap();

    // Office: write temp, rename original away, rename temp over it, delete backup.
    fs::write(m.path("~WRL0001.tmp"), b"version two, longer").unwrap();
    fs::rename(m.path("report.docx"), m.path("~WRL0002.tmp")).unwrap();
    fs::rename(m.path("~WRL0001.tmp"), m.path("report.docx")).unwrap();
    fs::remove_file(m.path("~WRL0002.tmp")).unwrap();
    assert_eq!(fs::metadata(m.path("report.docx")).unwrap().len(), 19);

    // Editor: write, seek back, rewrite the header, read back before close.
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(m.path("draft.txt"))
        .unwrap();
    f.write_all(b"XXXX body of the document").unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.write_all(b"HEAD").unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut back = String::new();
    f.read_to_string(&mut back).unwrap();
    assert_eq!(back, "HEAD body of the document");
    f.sync_all().unwrap();
    drop(f);

    // O_APPEND on a file still open for writing; truncate; sparse write past EOF.
    let mut a = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(m.path("log.txt"))
        .unwrap();
    a.write_all(b"line1\n").unwrap();
    let mut app = OpenOptions::new()
        .append(true)
        .open(m.path("log.txt"))
        .expect("second writer on an open file");
    app.write_all(b"line2\n").unwrap();
    drop(app);
    a.set_len(3).unwrap();
    a.seek(SeekFrom::Start(10)).unwrap();
    a.write_all(b"Z").unwrap();
    a.seek(SeekFrom::Start(0)).unwrap();
    let mut all = Vec::new();
    a.read_to_end(&mut all).unwrap();
    assert_eq!(all, b"lin\0\0\0\0\0\0\0Z");
    drop(a);

    // Overwrite with O_TRUNC creates a new version while sealed.
    fs::write(m.path("draft.txt"), b"second version").unwrap();

    // Metadata on sealed files: chmod, utimens, rename across folders, mkdir, rmdir.
    fs::set_permissions(m.path("draft.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    File::options()
        .write(true)
        .open(m.path("draft.txt"))
        .map(|_| ())
        .expect_err("open for write without O_TRUNC is refused while sealed");
    let st = std::process::Command::new("touch")
        .args(["-m", "-d", "@1700000000"])
        .arg(m.path("draft.txt"))
        .status()
        .unwrap();
    assert!(st.success(), "touch (utimensat) on a sealed file");
    assert_eq!(
        fs::metadata(m.path("draft.txt"))
            .unwrap()
            .modified()
            .unwrap(),
        t
    );
    assert_eq!(
        fs::metadata(m.path("draft.txt")).unwrap().mode() & 0o777,
        0o640
    );
    fs::create_dir_all(m.path("a/b")).unwrap();
    fs::create_dir(m.path("c")).unwrap();
    fs::rename(m.path("draft.txt"), m.path("a/b/draft.txt")).unwrap();
    fs::rename(m.path("a/b"), m.path("c/b")).unwrap();
    assert!(m.path("c/b/draft.txt").exists());
    assert_eq!(errno(fs::remove_dir(m.path("c"))), libc::ENOTEMPTY);
    assert_eq!(
        errno(fs::rename(m.path("c"), m.path("c/b/inside"))),
        libc::EINVAL
    );
    fs::remove_dir(m.path("a")).unwrap();

    // Hard links are refused (EPERM); xattrs are not offered (ENOTSUP).
    assert_eq!(
        errno(fs::hard_link(m.path("log.txt"), m.path("hard"))),
        libc::EPERM
    );
    // The status file is read-only.
    assert_eq!(
        errno(fs::write(m.path(".bcpvault-status"), b"x")),
        libc::EROFS
    );

    // Everything written while sealed reads back once unlocked.
    m.unlock();
    assert_eq!(
        fs::read(m.path("report.docx")).unwrap(),
        b"version two, longer"
    );
    assert_eq!(
        fs::read(m.path("c/b/draft.txt")).unwrap(),
        b"second version"
    );
    assert_eq!(fs::read(m.path("log.txt")).unwrap(), b"lin\0\0\0\0\0\0\0Z");
    assert!(!m.path("~WRL0002.tmp").exists());
}

#[test]
fn dd_with_dup_and_a_flush_before_any_write_is_sealed_at_close() {
    let m = MountedVault::new();
    let src = m.vault.folder("in");
    fs::write(src.join("f"), noise(300_000, 4)).unwrap();
    let st = std::process::Command::new("dd")
        .arg(format!("if={}", src.join("f").display()))
        .arg(format!("of={}", m.path("f").display()))
        .args(["bs=64k", "status=none"])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(fs::metadata(m.path("f")).unwrap().len(), 300_000);
    m.unlock();
    assert_eq!(fs::read(m.path("f")).unwrap(), noise(300_000, 4));
}

#[test]
fn unlocked_readers_only_and_unlock_errors_are_precise() {
    let m = MountedVault::new();
    fs::write(m.path("secret.txt"), b"for readers only").unwrap();
    // A wrong password is refused, counted, and does not count as an approval.
    let (name, _) = vault::EXECS[0];
    let err = m.cli_fails(
        &["unlock", "--executive", name, "--password-stdin"],
        "not-the-password\n",
    );
    assert!(
        err.contains("wrong password") && err.contains("1 wrong"),
        "{err}"
    );
    let err = m.cli_fails(
        &["unlock", "--executive", "nobody", "--password-stdin"],
        "whatever-password\n",
    );
    assert!(err.contains("nobody"), "{err}");
    m.approve(0);
    let err = m.cli_fails(
        &["unlock", "--executive", name, "--password-stdin"],
        &format!("{}\n", vault::EXECS[0].1),
    );
    assert!(err.contains("already approved"), "{err}");
    m.approve(1);
    assert_eq!(fs::read(m.path("secret.txt")).unwrap(), b"for readers only");

    // uid 65534 (nobody) is not in `readers`: EACCES even while unlocked.
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
        .arg(m.path("secret.txt"))
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a non-reader read the decrypted file"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn over_quota_writes_fail_with_enospc_and_nothing_stored_is_harmed() {
    let m = MountedVault::new_with("quota = \"1 MiB\"\n", "");
    fs::write(m.path("small.txt"), b"kept").unwrap();
    let big = noise(2 * 1024 * 1024, 5);
    let r = fs::write(m.path("big.bin"), &big);
    assert_eq!(
        r.expect_err("over quota").raw_os_error(),
        Some(libc::ENOSPC)
    );
    m.unlock();
    assert_eq!(fs::read(m.path("small.txt")).unwrap(), b"kept");
}

#[test]
fn a_snapshot_of_the_live_drive_is_listed_and_checks_clean() {
    let m = MountedVault::new();
    fs::create_dir(m.path("folder")).unwrap();
    fs::write(m.path("folder/a.txt"), b"alpha").unwrap();
    let out = vault::ok(&m.cli(&["snapshot"], ""));
    assert!(out.contains("snapshot"), "{out}");
    let status = vault::ok(&m.cli(&["status", "--json"], ""));
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["state"], "sealed");
    assert!(v["last_snapshot"].as_str().is_some_and(|s| out.contains(s)));

    // /.snapshots lists snapshot times while sealed; their contents need the unlock.
    fs::write(m.path("folder/a.txt"), b"alpha, edited later").unwrap();
    let times: Vec<_> = fs::read_dir(m.path(".snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(times.len(), 1, "{times:?}");
    let snap = m.path(".snapshots").join(&times[0]);
    eacces(
        fs::read_dir(&snap).and_then(|rd| rd.collect::<Result<Vec<_>, _>>()),
        "listing a snapshot while sealed",
    );
    m.unlock();
    assert_eq!(fs::read(snap.join("folder/a.txt")).unwrap(), b"alpha");
    assert_eq!(
        fs::read(m.path("folder/a.txt")).unwrap(),
        b"alpha, edited later"
    );
    assert_eq!(
        errno(fs::write(snap.join("folder/new.txt"), b"x")),
        libc::EROFS
    );
    assert_eq!(
        errno(fs::remove_file(snap.join("folder/a.txt"))),
        libc::EROFS
    );
    assert_eq!(errno(fs::create_dir(m.path(".snapshots/x"))), libc::EROFS);
    m.seal();
    // The store is in use by the daemon; after umount the snapshot restores.
    m.umount();
    let target = m.vault.folder("restored");
    vault::ok(&m.vault.cli(&["restore"], &[target.to_str().unwrap()], true));
    let restored = vault::restored(&target, Path::new("/"));
    assert_eq!(fs::read(restored.join("folder/a.txt")).unwrap(), b"alpha");
    assert!(!restored.join(".snapshots").exists() && !restored.join(".bcpvault-status").exists());
    m.mount();
}

#[test]
fn bad_input_to_the_mount_commands_is_one_line_errors() {
    let m = MountedVault::new();
    let err = m.cli_fails(&["mount"], "");
    assert!(err.contains("already mounted"), "{err}");
    m.umount();
    let err = m.cli_fails(&["status"], "");
    assert!(err.contains("not mounted"), "{err}");
    let err = m.cli_fails(
        &["unlock", "--executive", "tanaka", "--password-stdin"],
        "x\n",
    );
    assert!(err.contains("not mounted"), "{err}");
    m.mount();
}

#[test]
fn the_unlock_expires_at_unlock_ttl_and_the_view_seals_itself() {
    // The shortest TTL a profile accepts is one minute.
    let m = MountedVault::new_with("unlock_ttl = \"1m\"\n", "");
    fs::write(m.path("short.txt"), b"readable for a minute").unwrap();
    m.unlock();
    let mut f = File::open(m.path("short.txt")).unwrap();
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).unwrap();
    assert_eq!(buf, b"readable for a minute");
    std::thread::sleep(std::time::Duration::from_secs(62));
    f.seek(SeekFrom::Start(0)).unwrap();
    eacces(
        f.read(&mut [0u8; 8]),
        "read through an open handle after the TTL",
    );
    eacces(fs::read(m.path("short.txt")), "read after the TTL");
    let status = fs::read_to_string(m.path(".bcpvault-status")).unwrap();
    assert!(status.contains("state: sealed"), "{status}");
}
