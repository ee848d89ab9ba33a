//! Disaster day on a fresh machine: the file server and its store are gone;
//! `bcpvault mount --recover` serves the vault read-only from the SFTP remote
//! alone (real sshd on loopback, real FUSE mount), sealed until two executives
//! unlock it, fetching packs on demand into a bounded, SHA-256-checked cache.

#[path = "support/mount.rs"]
mod mount;
#[path = "support/sshd.rs"]
mod sshd;
#[path = "support/vault.rs"]
mod vault;

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::symlink;
use std::path::Path;

use mount::{MountedVault, require_fuse};
use sshd::Sshd;
use vault::{fails, noise, ok, run};

const EROFS: i32 = 30;
const EACCES: i32 = 13;
const EIO: i32 = 5;

fn errno(r: std::io::Result<impl Sized>) -> i32 {
    match r {
        Ok(_) => panic!("operation unexpectedly succeeded"),
        Err(e) => e.raw_os_error().unwrap_or(-1),
    }
}

/// Bytes of every file below `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    total
}

/// Ids of the chunks of `content`, as the vault names them.
fn chunk_ids(key: &bcpvault::keys::UnlockedVault, content: &[u8]) -> Vec<bcpvault::repo::BlobId> {
    let hasher = bcpvault::repo::id::BlobHasher::new(&key.writer.dedup_key);
    bcpvault::repo::chunker::chunk_all(key.writer.gear_seed, content)
        .iter()
        .map(|c| hasher.id(c))
        .collect()
}

/// The remote pack holding the one chunk of a small file (`content` below the
/// chunker's minimum, so its chunk is the whole file), with every blob id in it
/// (small files sealed together share a pack).
fn pack_of(
    sshd: &Sshd,
    key: &bcpvault::keys::UnlockedVault,
    content: &[u8],
) -> (std::path::PathBuf, HashSet<bcpvault::repo::BlobId>) {
    let id = bcpvault::repo::id::BlobHasher::new(&key.writer.dedup_key).id(content);
    let mut stack = vec![sshd.repo.join("data")];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
                continue;
            }
            let opened =
                bcpvault::repo::pack::open(&fs::read(e.path()).unwrap(), &key.private_key).unwrap();
            if opened.entries.iter().any(|x| x.id == id) {
                assert!(
                    opened
                        .entries
                        .iter()
                        .all(|x| x.kind == bcpvault::repo::BlobKind::Data),
                    "the file's pack also holds trees"
                );
                return (e.path(), opened.entries.iter().map(|x| x.id).collect());
            }
        }
    }
    panic!("no pack holds the file's chunk")
}

/// Flips one byte of a (read-only) object on the server, as root can.
fn flip_byte(path: &Path) {
    let mut bytes = fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::remove_file(path).unwrap();
    fs::write(path, &bytes).unwrap();
}

#[test]
fn the_drive_comes_back_from_the_remote_alone_read_only_and_verified() {
    require_fuse();
    let sshd = Sshd::start();
    let table = format!(
        "\n[repository]\npack_size = \"1 MiB\"\n{}",
        sshd.remote_toml("dc1", "")
    );
    let m = MountedVault::new_with("", &table);

    // The office's files: a multi-chunk file, small files in folders, a symlink.
    let mut expected: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    expected.insert("big.bin".into(), noise(3 * 1024 * 1024 + 12_345, 1));
    for i in 0..12u64 {
        expected.insert(
            format!("総務/d{}/f{i}.bin", i % 3),
            noise(60_000 + i as usize * 1000, 100 + i),
        );
    }
    expected.insert("memo.txt".into(), b"version 1\n".to_vec());
    for (rel, bytes) in &expected {
        let p = m.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, bytes).unwrap();
    }
    symlink("memo.txt", m.path("link")).unwrap();
    ok(&m.cli(&["sync"], ""));
    // A second snapshot: the root shows it, /.snapshots keeps the first.
    expected.insert(
        "memo.txt".into(),
        b"version 2, after the first sync\n".to_vec(),
    );
    fs::write(m.path("memo.txt"), &expected["memo.txt"]).unwrap();
    ok(&m.cli(&["sync"], ""));
    let key = m.vault.unlock();
    m.umount();

    // Disaster: the whole store is gone. The same profile (its remote, key and
    // known_hosts) is all the recovery machine has.
    fs::remove_dir_all(&m.vault.store).unwrap();
    let bound: u64 = 3 * 1024 * 1024;
    let out = ok(&m.cli(&["mount", "--recover", "--cache-size", "3 MiB"], ""));
    assert!(
        out.contains("key") && out.contains("read-only recovery drive"),
        "{out}"
    );

    // Sealed: nothing but the status file and the public snapshot list.
    let mut names: Vec<String> = fs::read_dir(&m.mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".bcpvault-status", ".snapshots"]);
    let status = fs::read_to_string(m.path(".bcpvault-status")).unwrap();
    assert!(
        status.contains("sealed: waiting for 2 executive approvals")
            && status.contains("recovery: from sftp:dc1"),
        "{status}"
    );
    assert_eq!(
        fs::read(m.path("big.bin")).unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    let snapshots: Vec<_> = fs::read_dir(m.path(".snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(snapshots.len(), 2, "{snapshots:?}");
    // A sealed drive cannot even tell whether a name exists; the mount is read-only.
    assert_eq!(errno(fs::write(m.path("new.txt"), b"x")), EACCES);
    assert_eq!(errno(fs::write(m.path(".bcpvault-status"), b"x")), EROFS);
    let cli_status = ok(&m.cli(&["status"], ""));
    assert!(cli_status.contains("sealed"), "{cli_status}");
    let err = m.cli_fails(&["snapshot"], "");
    assert!(err.contains("read-only recovery mount"), "{err}");

    // Someone flips a byte of one file's pack on the server before it is read.
    let victim = "総務/d1/f4.bin";
    let (tampered, in_tampered) = pack_of(&sshd, &key, &expected[victim]);
    flip_byte(&tampered);
    let hit = |bytes: &[u8]| {
        chunk_ids(&key, bytes)
            .iter()
            .any(|id| in_tampered.contains(id))
    };
    assert!(
        expected.values().any(|b| !hit(b)),
        "some file lies outside the tampered pack"
    );

    // Two executives unlock from their own terminals.
    let first = m.approve(0);
    assert!(first.contains("1 of 2"), "{first}");
    let second = m.approve(1);
    assert!(second.contains("unlocked until"), "{second}");

    // Every file is byte-identical, but those with a chunk in the tampered pack
    // (the victim and the small files sealed with it) are refused with EIO.
    for (rel, bytes) in &expected {
        if hit(bytes) {
            assert_eq!(errno(fs::read(m.path(rel))), EIO, "{rel}");
        } else {
            assert_eq!(&fs::read(m.path(rel)).unwrap(), bytes, "{rel} differs");
        }
    }
    assert_eq!(
        fs::read_link(m.path("link")).unwrap(),
        Path::new("memo.txt")
    );
    // Random access into the multi-chunk file, across chunk boundaries.
    let big = &expected["big.bin"];
    let mut f = fs::File::open(m.path("big.bin")).unwrap();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..40 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let at = (state % big.len() as u64) as usize;
        let len = ((state >> 32) % 300_000) as usize;
        let end = (at + len).min(big.len());
        let mut buf = vec![0; end - at];
        f.seek(SeekFrom::Start(at as u64)).unwrap();
        f.read_exact(&mut buf).unwrap();
        assert!(buf == big[at..end], "range {at}..{end} differs");
    }
    drop(f);
    // The older snapshot still has the first memo (unless it was sealed into
    // the tampered pack: then it is refused like the others there).
    let memos: Vec<std::io::Result<Vec<u8>>> = snapshots
        .iter()
        .map(|s| fs::read(s.join("memo.txt")))
        .collect();
    let first: &[u8] = b"version 1\n";
    let has = |want: &[u8]| memos.iter().any(|r| r.as_deref().ok() == Some(want));
    if hit(first) {
        assert!(
            memos
                .iter()
                .any(|r| r.as_ref().err().and_then(|e| e.raw_os_error()) == Some(EIO)),
            "{memos:?}"
        );
    } else {
        assert!(has(first), "{memos:?}");
    }
    assert!(has(&expected["memo.txt"]), "{memos:?}");

    // Read-only while unlocked too.
    assert_eq!(errno(fs::write(m.path("memo.txt"), b"x")), EROFS);
    assert_eq!(errno(fs::create_dir(m.path("new"))), EROFS);
    assert_eq!(errno(fs::remove_file(m.path("memo.txt"))), EROFS);
    assert_eq!(errno(fs::write(m.path("new.txt"), b"x")), EROFS);
    assert_eq!(errno(fs::rename(m.path("memo.txt"), m.path("m2"))), EROFS);

    // The cache held only what fits in its bound, and only encrypted packs.
    let cache = m.vault.store.join("cache");
    let used = dir_bytes(&cache);
    assert!(used > 0 && used <= bound, "cache holds {used} bytes");
    let needle = &expected["総務/d0/f0.bin"][..64];
    let mut stack = vec![cache.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let b = fs::read(e.path()).unwrap();
                assert!(
                    !b.windows(needle.len()).any(|w| w == needle),
                    "plaintext in {}",
                    e.path().display()
                );
            }
        }
    }

    // Seal: the decrypted view is gone again.
    m.seal();
    assert_eq!(
        fs::read(m.path("memo.txt")).unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    m.umount();
    assert!(!m.vault.store.join("daemon.pid").exists());
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        !mounts.contains(&*m.mnt.to_string_lossy()),
        "{mounts}\n{}",
        fs::read_to_string(m.vault.store.join("daemon.log")).unwrap()
    );
    assert!(
        !m.vault.store.join("keys").exists(),
        "the recovery store got keys"
    );
}

#[test]
fn recover_with_a_wrong_remote_or_an_unreachable_server_is_one_line() {
    require_fuse();
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let profile = dir.path().join("vault.toml");
    let key = dir.path().join("id_ed25519");
    sshd::keygen(&key);
    fs::write(dir.path().join("known_hosts"), "").unwrap();
    fs::write(
        &profile,
        format!(
            "name = \"testvault\"\nstore = \"{}\"\nmountpoint = \"mnt\"\n\n[[remote]]\nname = \"dc1\"\ntype = \"sftp\"\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"nobody\"\npath = \"/srv/none\"\nidentity = \"{}\"\nknown_hosts = \"{}\"\ntimeout = \"2s\"\n",
            dir.path().join("store").display(),
            key.display(),
            dir.path().join("known_hosts").display()
        ),
    )
    .unwrap();
    let p = profile.display().to_string();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    let err = fails(&run(&s(&["mount", "--recover", "--remote", "dc9", &p]), ""));
    assert!(
        err.contains("no remote dc9") && err.contains("dc1"),
        "{err}"
    );
    let err = fails(&run(&s(&["mount", "--recover", &p]), ""));
    assert!(err.contains("127.0.0.1") || err.contains("dc1"), "{err}");
    let err = fails(&run(
        &s(&["mount", "--recover", "--cache-size", "lots", &p]),
        "",
    ));
    assert!(err.contains("--cache-size"), "{err}");
    assert!(!dir.path().join("store/daemon.pid").exists());

    // A machine that still has the vault's store mounts it normally instead.
    let v = vault::TestVault::new("mountpoint = \"mnt\"\n");
    let err = fails(&v.cli(&["mount"], &["--recover"], false));
    assert!(err.contains("holds a vault"), "{err}");
}
