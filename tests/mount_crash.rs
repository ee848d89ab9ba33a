//! What the vault drive promises when things go wrong, through a real FUSE mount:
//! closed files survive `kill -9` of the daemon, and no plaintext content ever
//! reaches the disk (sealed files, files still open, files large enough to spill
//! out of memory).

#[path = "support/mount.rs"]
mod mount;
#[path = "support/vault.rs"]
mod vault;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use mount::MountedVault;
use vault::noise;

fn content(i: usize) -> Vec<u8> {
    let mut v = format!("file {i} ").into_bytes();
    v.extend(noise(1000 + i * 997, i as u64));
    v
}

#[test]
fn a_hundred_closed_files_survive_kill_9_of_the_daemon() {
    let m = MountedVault::new();
    fs::create_dir(m.path("docs")).unwrap();
    for i in 0..100 {
        fs::write(m.path(&format!("docs/f{i:03}.bin")), content(i)).unwrap();
    }
    // No umount, no sync: the daemon dies right after the last close() returned.
    m.kill9();
    m.mount();
    let names = fs::read_dir(m.path("docs")).unwrap().count();
    assert_eq!(names, 100, "files lost by the crash");
    m.unlock();
    for i in 0..100 {
        assert_eq!(
            fs::read(m.path(&format!("docs/f{i:03}.bin"))).unwrap(),
            content(i),
            "file {i} differs after the crash"
        );
    }
    // The store is consistent: umount, then `check` passes.
    m.umount();
    vault::ok(&m.vault.cli(&["check"], &[], false));
    m.mount();
}

/// Every regular file below `dir` (the store: repository, DB, journal, staging).
fn files_below(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            files_below(&p, out);
        } else if ft.is_file() {
            out.push(p);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_plaintext_content_reaches_the_disk_and_no_name_leaves_the_machine() {
    // 1 MiB of staging memory, so a 4 MiB open file spills to its encrypted temp file.
    let m = MountedVault::new_with("", "[mount]\nstaging_memory = \"1 MiB\"\n");
    let marker = b"MARKER-CONTENT-7d1c9e";
    let name_marker = "NAMEMARKER-4b2a";
    let mut small = b"head ".to_vec();
    small.extend_from_slice(marker);
    fs::write(m.path(&format!("{name_marker}.txt")), &small).unwrap();
    fs::create_dir(m.path(&format!("{name_marker}-folder"))).unwrap();

    // A large file still open for writing, full of markers between noise.
    let mut big = Vec::new();
    while big.len() < 4 * 1024 * 1024 {
        big.extend_from_slice(marker);
        big.extend(noise(4000, big.len() as u64));
    }
    let mut open = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(m.path("open-large.bin"))
        .unwrap();
    open.write_all(&big).unwrap();
    // A sealed large file too.
    fs::write(m.path("sealed-large.bin"), &big).unwrap();
    vault::ok(&m.cli(&["snapshot"], ""));

    let mut files = Vec::new();
    files_below(&m.vault.store, &mut files);
    assert!(files.len() > 5, "store looks empty: {files:?}");
    // The spill file is unlinked at creation: reach it through the daemon's fds.
    let pid = m.pid();
    let mut spill_seen = false;
    for fd in fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
        let target = fs::read_link(fd.path()).unwrap_or_default();
        if target.to_string_lossy().contains("staging") {
            spill_seen = true;
            files.push(fd.path());
        }
    }
    assert!(
        spill_seen,
        "the open 4 MiB file did not spill to an encrypted temp file"
    );
    for f in &files {
        let bytes = fs::read(f).unwrap_or_default();
        assert!(
            !contains(&bytes, marker),
            "plaintext content found in {}",
            f.display()
        );
        let leaves = f.starts_with(m.vault.store.join("repo"));
        if leaves {
            assert!(
                !contains(&bytes, name_marker.as_bytes()),
                "a file name appears in {}, which is synced off the machine",
                f.display()
            );
        }
    }
    drop(open);
    m.unlock();
    assert_eq!(fs::read(m.path("open-large.bin")).unwrap(), big);
    assert_eq!(
        fs::read(m.path(&format!("{name_marker}.txt"))).unwrap(),
        small
    );
}

/// Every blob of a local pack is authenticated on its own when read (AES-GCM,
/// then its keyed-hash id), so a damaged byte costs the file holding it, not the
/// other files sealed into the same pack.
#[test]
fn a_damaged_byte_in_a_local_pack_refuses_only_the_file_it_belongs_to() {
    let m = MountedVault::new();
    let (hit, spared) = (content(7), content(8));
    fs::write(m.path("hit.bin"), &hit).unwrap();
    fs::write(m.path("spared.bin"), &spared).unwrap();
    m.umount();

    let key = m.vault.unlock();
    let id = bcpvault::repo::id::BlobHasher::new(&key.writer.dedup_key).id(&hit);
    let spared_id = bcpvault::repo::id::BlobHasher::new(&key.writer.dedup_key).id(&spared);
    let mut packs = Vec::new();
    files_below(&m.vault.store.join("repo/data"), &mut packs);
    let (pack, entry, shared) = packs
        .iter()
        .find_map(|p| {
            let opened = bcpvault::repo::pack::open(&fs::read(p).ok()?, &key.private_key).ok()?;
            let e = *opened.entries.iter().find(|e| e.id == id)?;
            let shared = opened.entries.iter().any(|e| e.id == spared_id);
            Some((p.clone(), e, shared))
        })
        .expect("a pack holds the file");
    assert!(shared, "both small files were sealed into one pack");
    let mut bytes = fs::read(&pack).unwrap();
    bytes[(entry.offset + entry.length / 2) as usize] ^= 0x20;
    fs::remove_file(&pack).unwrap();
    fs::write(&pack, &bytes).unwrap();

    m.mount();
    m.unlock();
    let err = fs::read(m.path("hit.bin")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(5), "{err}");
    assert_eq!(fs::read(m.path("spared.bin")).unwrap(), spared);
}
