//! The local-directory backend and the verifying wrapper, on a real filesystem
//! (including a deliberately tiny tmpfs for the full-disk case).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use bcpvault::backend::verify::{check_object, content_name};
use bcpvault::backend::{
    AdminBackend, BackendError, LocalBackend, ReadBackend, VerifyingBackend, WriteBackend,
    WriteOutcome,
};

fn repo() -> (tempfile::TempDir, LocalBackend) {
    let dir = tempfile::tempdir().unwrap();
    let backend = LocalBackend::open(&dir.path().join("repo")).unwrap();
    (dir, backend)
}

/// Every file under `dir`, hidden ones included, relative to `dir`.
fn all_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else {
                out.push(
                    entry
                        .path()
                        .strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

fn leftover_temps(dir: &Path) -> Vec<String> {
    all_files(dir)
        .into_iter()
        .filter(|f| f.rsplit('/').next().unwrap().starts_with(".tmp-"))
        .collect()
}

#[test]
fn open_creates_the_root_and_describes_it_absolutely() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a/b/repo");
    let backend = LocalBackend::open(&root).unwrap();
    assert!(root.is_dir());
    assert_eq!(backend.describe(), format!("local:{}", root.display()));
    assert!(backend.root().is_absolute());
    // Opening an existing repository is fine too.
    LocalBackend::open(&root).unwrap();

    let file = dir.path().join("plain-file");
    fs::write(&file, b"x").unwrap();
    assert!(LocalBackend::open(&file).is_err());
}

#[test]
fn round_trip() {
    let (_dir, b) = repo();
    assert_eq!(
        b.write_if_absent("config", b"hello").unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(b.read("config").unwrap(), b"hello");
    let name = content_name("data", b"pack bytes");
    assert_eq!(
        b.write_if_absent(&name, b"pack bytes").unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(b.read(&name).unwrap(), b"pack bytes");
    assert_eq!(
        b.write_if_absent("empty", b"").unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(b.read("empty").unwrap(), b"");
    assert!(leftover_temps(b.root()).is_empty());
}

#[test]
fn missing_object_is_not_found_and_named() {
    let (_dir, b) = repo();
    let err = b.read("keys/recovery").unwrap_err();
    assert!(matches!(err, BackendError::NotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("keys/recovery") && msg.contains(&b.describe()),
        "{msg}"
    );
    assert!(matches!(
        b.read_range("keys/recovery", 0, 1),
        Err(BackendError::NotFound { .. })
    ));
}

#[test]
fn second_write_keeps_the_first_content() {
    let (_dir, b) = repo();
    assert_eq!(
        b.write_if_absent("keys/recovery", b"first").unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(
        b.write_if_absent("keys/recovery", b"second").unwrap(),
        WriteOutcome::AlreadyPresent
    );
    assert_eq!(b.read("keys/recovery").unwrap(), b"first");
    assert!(leftover_temps(b.root()).is_empty());
}

#[test]
fn racing_writers_publish_exactly_one_object() {
    let (_dir, b) = repo();
    let outcomes: Vec<(u8, WriteOutcome)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                let b = &b;
                s.spawn(move || (i, b.write_if_absent("config", &[i; 4096]).unwrap()))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<u8> = outcomes
        .iter()
        .filter(|(_, o)| *o == WriteOutcome::Written)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert_eq!(b.read("config").unwrap(), vec![winners[0]; 4096]);
    assert!(leftover_temps(b.root()).is_empty());
}

#[test]
fn objects_are_read_only() {
    let (_dir, b) = repo();
    let name = content_name("snapshots", b"snap");
    b.write_if_absent(&name, b"snap").unwrap();
    let mode = fs::metadata(b.root().join(&name))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o444, "mode {mode:o}");
}

#[test]
fn list_and_stat() {
    let (_dir, b) = repo();
    let mut data_names = Vec::new();
    for i in 0..5u8 {
        let bytes = vec![i; 100 + i as usize];
        let name = content_name("data", &bytes);
        b.write_if_absent(&name, &bytes).unwrap();
        data_names.push((name, bytes.len() as u64));
    }
    let index = content_name("index", b"idx");
    b.write_if_absent(&index, b"idx").unwrap();
    b.write_if_absent("config", b"cfg").unwrap();
    // Litter that must not show up as objects.
    fs::write(b.root().join("data/.tmp-deadbeef"), b"partial").unwrap();
    fs::create_dir_all(b.root().join(".Trash-1000/files")).unwrap();
    fs::write(b.root().join(".Trash-1000/files/x"), b"x").unwrap();
    fs::create_dir_all(b.root().join("lost+found")).unwrap();
    fs::write(b.root().join("lost+found/x"), b"x").unwrap();

    data_names.sort();
    let listed = b.list("data").unwrap();
    let got: Vec<(String, u64)> = listed.iter().map(|o| (o.name.clone(), o.size)).collect();
    assert_eq!(got, data_names);

    let everything: Vec<String> = b.list("").unwrap().into_iter().map(|o| o.name).collect();
    let mut expected: Vec<String> = data_names.iter().map(|(n, _)| n.clone()).collect();
    expected.push(index.clone());
    expected.push("config".into());
    expected.sort();
    assert_eq!(everything, expected);

    assert!(b.list("snapshots").unwrap().is_empty(), "missing dir");
    let index_list = b.list("index").unwrap();
    assert_eq!(index_list.len(), 1);
    assert_eq!(index_list[0].name, index);

    let st = b.stat(&data_names[0].0).unwrap().unwrap();
    assert_eq!(st.name, data_names[0].0);
    assert_eq!(st.size, data_names[0].1);
    assert_eq!(b.stat("config").unwrap().unwrap().size, 3);
    assert_eq!(b.stat("snapshots/nothing").unwrap(), None);
    assert_eq!(
        b.stat("data").unwrap(),
        None,
        "a directory is not an object"
    );
}

#[test]
fn read_range_reads_exactly_or_names_the_short_object() {
    let (_dir, b) = repo();
    let bytes: Vec<u8> = (0..=255u8).collect();
    let name = content_name("data", &bytes);
    b.write_if_absent(&name, &bytes).unwrap();

    assert_eq!(
        b.read_range(&name, 10, 5).unwrap(),
        vec![10, 11, 12, 13, 14]
    );
    assert_eq!(b.read_range(&name, 0, 256).unwrap(), bytes);
    assert_eq!(b.read_range(&name, 250, 6).unwrap(), &bytes[250..]);
    assert!(b.read_range(&name, 256, 0).unwrap().is_empty());

    let err = b.read_range(&name, 250, 7).unwrap_err();
    match &err {
        BackendError::ShortRead {
            name: n,
            offset,
            len,
            size,
            ..
        } => {
            assert_eq!(
                (n.as_str(), *offset, *len, *size),
                (name.as_str(), 250, 7, 256)
            );
        }
        other => panic!("expected ShortRead, got {other:?}"),
    }
    let msg = err.to_string();
    for part in [&name, "250", "7", "256", &b.describe()] {
        assert!(msg.contains(part), "{msg:?} lacks {part:?}");
    }
    assert!(matches!(
        b.read_range(&name, u64::MAX, 2),
        Err(BackendError::ShortRead { .. })
    ));
    assert!(matches!(
        b.read_range(&name, 1000, 0),
        Err(BackendError::ShortRead { .. })
    ));
}

#[test]
fn invalid_names_are_refused_everywhere() {
    let (dir, b) = repo();
    for bad in [
        "",
        "/etc/passwd",
        "../escape",
        "data/../../x",
        "data/.tmp-1",
        "a b",
    ] {
        let is_invalid =
            |r: Result<(), BackendError>| matches!(r, Err(BackendError::InvalidName { .. }));
        assert!(
            is_invalid(b.write_if_absent(bad, b"x").map(|_| ())),
            "{bad:?}"
        );
        assert!(is_invalid(b.read(bad).map(|_| ())), "{bad:?}");
        assert!(is_invalid(b.read_range(bad, 0, 1).map(|_| ())), "{bad:?}");
        assert!(is_invalid(b.stat(bad).map(|_| ())), "{bad:?}");
        assert!(is_invalid(b.delete(bad)), "{bad:?}");
        if !bad.is_empty() {
            assert!(is_invalid(b.list(bad).map(|_| ())), "{bad:?}");
        }
    }
    assert!(!dir.path().join("escape").exists());
    assert!(all_files(b.root()).is_empty());
}

#[test]
fn leftovers_are_cleaned() {
    let (_dir, b) = repo();
    let name = content_name("data", b"keep me");
    b.write_if_absent(&name, b"keep me").unwrap();
    let shard = b.root().join(&name).parent().unwrap().to_path_buf();
    fs::write(b.root().join(".tmp-0001"), b"crash").unwrap();
    fs::write(shard.join(".tmp-0002"), b"crash").unwrap();
    fs::create_dir_all(b.root().join("index")).unwrap();
    fs::write(b.root().join("index/.tmp-0003"), b"crash").unwrap();
    // Not ours: hidden files that are not temp files stay.
    fs::write(b.root().join(".keep"), b"x").unwrap();

    assert_eq!(b.cleanup_leftovers().unwrap(), 3);
    assert!(leftover_temps(b.root()).is_empty());
    assert_eq!(b.cleanup_leftovers().unwrap(), 0);
    assert_eq!(b.read(&name).unwrap(), b"keep me");
    assert!(b.root().join(".keep").exists());
}

#[test]
fn delete_removes_and_reports_missing() {
    let (_dir, b) = repo();
    let name = content_name("snapshots", b"old");
    b.write_if_absent(&name, b"old").unwrap();
    b.delete(&name).unwrap();
    assert_eq!(b.stat(&name).unwrap(), None);
    let err = b.delete(&name).unwrap_err();
    assert!(matches!(err, BackendError::NotFound { .. }), "{err:?}");
    // Deleted objects can be written again.
    assert_eq!(
        b.write_if_absent(&name, b"old").unwrap(),
        WriteOutcome::Written
    );
}

/// Flips one byte of a stored object, which is read-only on purpose.
fn flip_byte(path: &Path, at: usize) {
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x01;
    fs::write(path, &bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o444)).unwrap();
}

#[test]
fn verifying_backend_detects_a_flipped_byte() {
    let (_dir, local) = repo();
    let root = local.root().to_path_buf();
    let v = VerifyingBackend::new(local);
    let bytes = vec![7u8; 10_000];
    let name = content_name("data", &bytes);
    assert_eq!(
        v.write_if_absent(&name, &bytes).unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(v.read(&name).unwrap(), bytes);

    flip_byte(&root.join(&name), 5_000);
    let err = v.read(&name).unwrap_err();
    let BackendError::Tampered {
        name: n, actual, ..
    } = &err
    else {
        panic!("expected Tampered, got {err:?}");
    };
    assert_eq!(n, &name);
    assert_eq!(actual.len(), 64);
    assert_ne!(&name[name.len() - 64..], actual.as_str());
    let msg = err.to_string();
    for part in [name.as_str(), "SHA-256", "tampered", &v.describe(), actual] {
        assert!(msg.contains(part), "{msg:?} lacks {part:?}");
    }
    assert!(check_object(&name, &v.inner().read(&name).unwrap()).is_err());
    // A range cannot be checked against the whole-object hash and passes through.
    assert_eq!(v.read_range(&name, 4_999, 3).unwrap(), vec![7, 6, 7]);

    // Objects that are not content-addressed are not hash-checked.
    v.write_if_absent("config", b"cfg").unwrap();
    flip_byte(&root.join("config"), 0);
    assert_eq!(v.read("config").unwrap(), b"bfg");
}

#[test]
fn verifying_backend_refuses_misnamed_writes() {
    let (_dir, local) = repo();
    let v = VerifyingBackend::new(local);
    let name = content_name("data", b"what the name says");
    let err = v.write_if_absent(&name, b"something else").unwrap_err();
    assert!(matches!(err, BackendError::Misnamed { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&name) && msg.contains("refusing"), "{msg}");
    assert_eq!(v.stat(&name).unwrap(), None, "nothing may be published");
    assert!(all_files(v.inner().root()).is_empty());

    // A name in a content-addressed directory that is not an id at all.
    let err = v.write_if_absent("index/not-a-hash", b"x").unwrap_err();
    assert!(matches!(err, BackendError::InvalidName { .. }), "{err:?}");
    let other = content_name("data", b"x");
    let wrong_shard = format!("data/zz/{}", &other[8..]);
    assert!(matches!(
        v.write_if_absent(&wrong_shard, b"x"),
        Err(BackendError::InvalidName { .. })
    ));
}

/// A tmpfs of a fixed size, unmounted when dropped (before its directory is removed).
struct SmallTmpfs {
    dir: tempfile::TempDir,
}

impl SmallTmpfs {
    fn mount(size: &str) -> SmallTmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => SmallTmpfs { dir },
            Ok(o) => panic!(
                "the full-disk test needs to mount a {size} tmpfs on {} (run as root): mount failed: {}",
                dir.path().display(),
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!("the full-disk test needs mount(8) to create a small tmpfs: {e}"),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "umount {} failed; detaching lazily",
                self.dir.path().display()
            );
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

#[test]
fn full_disk_is_no_space_and_leaves_nothing_behind() {
    let fs_guard = SmallTmpfs::mount("2m");
    let mount = fs_guard.path();
    let local = LocalBackend::open(&mount.join("repo")).unwrap();
    let b = VerifyingBackend::new(local);

    let mut written: Vec<(String, Vec<u8>)> = Vec::new();
    let mut failure = None;
    for i in 0..64u8 {
        let bytes = vec![i; 300 * 1024];
        let name = content_name("data", &bytes);
        match b.write_if_absent(&name, &bytes) {
            Ok(WriteOutcome::Written) => written.push((name, bytes)),
            Ok(WriteOutcome::AlreadyPresent) => panic!("{name} was already present"),
            Err(e) => {
                failure = Some((name, e));
                break;
            }
        }
    }
    let (failed_name, err) = failure.expect("a 2 MiB tmpfs never filled up");
    assert!(
        matches!(&err, BackendError::NoSpace { name, .. } if *name == failed_name),
        "expected NoSpace for {failed_name}, got {err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&failed_name) && msg.contains("no space") && msg.contains(&b.describe()),
        "{msg}"
    );
    assert!(!written.is_empty(), "nothing fit before the disk was full");

    assert!(
        leftover_temps(&mount).is_empty(),
        "temp files left: {:?}",
        leftover_temps(&mount)
    );
    assert_eq!(
        b.stat(&failed_name).unwrap(),
        None,
        "partial object published"
    );
    for (name, bytes) in &written {
        assert_eq!(&b.read(name).unwrap(), bytes, "{name} damaged");
    }
    let listed: Vec<String> = b
        .list("data")
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    let mut expected: Vec<String> = written.iter().map(|(n, _)| n.clone()).collect();
    expected.sort();
    assert_eq!(listed, expected);

    // Once retention frees space, the same write goes through.
    b.delete(&written[0].0).unwrap();
    b.delete(&written[1].0).unwrap();
    let bytes = vec![written.len() as u8; 300 * 1024];
    assert_eq!(
        b.write_if_absent(&failed_name, &bytes).unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(b.read(&failed_name).unwrap(), bytes);
    drop(b);
    drop(fs_guard);
}

#[test]
fn a_directory_removed_behind_the_backend_is_made_again() {
    let (dir, backend) = repo();
    let a = b"first object".to_vec();
    let b = b"second object".to_vec();
    let (name_a, name_b) = (content_name("data", &a), content_name("data", &b));
    assert_eq!(
        backend.write_unsynced(&name_a, &a).unwrap(),
        WriteOutcome::Written
    );
    // Another process (an admin's prune) empties and removes the shard directories.
    fs::remove_dir_all(dir.path().join("repo/data")).unwrap();
    assert_eq!(
        backend.write_unsynced(&name_b, &b).unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(backend.read(&name_b).unwrap(), b);
    backend.sync_file(&name_b).unwrap();
}
