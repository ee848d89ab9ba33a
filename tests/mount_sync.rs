//! Syncing a mounted drive: `bcpvault sync` while mounted asks the daemon, which
//! snapshots the live drive and uploads it; the office can then burn down and the
//! files come back from the remote alone.

#[path = "support/mount.rs"]
mod mount;
#[path = "support/vault.rs"]
mod vault;

use std::fs;

use mount::MountedVault;
use vault::{noise, ok};

#[test]
fn a_mounted_drive_syncs_and_restores_from_the_remote_after_the_store_is_gone() {
    let remote_dir = tempfile::tempdir().unwrap();
    let table = format!(
        "[[remote]]\nname = \"usb\"\ntype = \"local\"\npath = \"{}\"\n",
        remote_dir.path().join("repo").display()
    );
    let m = MountedVault::new_with("", &table);
    fs::create_dir(m.path("経理")).unwrap();
    fs::write(m.path("経理/帳簿.bin"), noise(200_000, 1)).unwrap();
    fs::write(m.path("memo.txt"), b"restore me").unwrap();

    let out = ok(&m.cli(&["sync"], ""));
    assert!(
        out.contains("drive snapshot") && out.contains("remote usb"),
        "{out}"
    );
    let status = ok(&m.cli(&["status"], ""));
    assert!(
        status.contains("remote usb: last") && status.contains("ok"),
        "{status}"
    );
    assert!(
        fs::read_dir(remote_dir.path().join("repo/snapshots"))
            .unwrap()
            .count()
            == 1
    );

    // Disaster: the daemon and the whole local store are gone.
    m.kill9();
    let _ = std::process::Command::new("fusermount3")
        .args(["-u", "-z"])
        .arg(&m.mnt)
        .status();
    fs::remove_dir_all(&m.vault.store).unwrap();

    let target = m.vault.folder("recovered");
    ok(&m.vault.cli(
        &["restore"],
        &[target.to_str().unwrap(), "--remote", "usb"],
        true,
    ));
    assert_eq!(
        fs::read(target.join("経理/帳簿.bin")).unwrap(),
        noise(200_000, 1)
    );
    assert_eq!(fs::read(target.join("memo.txt")).unwrap(), b"restore me");
}

#[test]
fn every_pack_the_drive_wrote_is_listed_by_an_index_copy_after_a_snapshot() {
    use bcpvault::repo::index::IndexMap;
    use std::collections::HashSet;

    let m = MountedVault::new();
    for i in 0..6u64 {
        fs::write(
            m.path(&format!("file-{i}.bin")),
            noise(30_000 + i as usize, i),
        )
        .unwrap();
    }
    ok(&m.cli(&["snapshot"], ""));
    fs::write(m.path("after.txt"), b"written after the snapshot").unwrap();
    m.umount();

    let repo_dir = m.vault.store.join("repo");
    let mut packs = HashSet::new();
    for shard in fs::read_dir(repo_dir.join("data")).unwrap() {
        for pack in fs::read_dir(shard.unwrap().path()).unwrap() {
            packs.insert(pack.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    let key = m.vault.unlock();
    let mut listed = HashSet::new();
    for copy in fs::read_dir(repo_dir.join("index")).unwrap() {
        let bytes = fs::read(copy.unwrap().path()).unwrap();
        let map = IndexMap::open(&bytes, &key.private_key).unwrap();
        listed.extend(map.packs.keys().map(|id| id.to_hex()));
    }
    // The six files (sealed into the drive's open pack, closed for the
    // snapshot) and the snapshot's trees are listed; the file written after the
    // snapshot (a pack of its own, closed at unmount) waits for the next one.
    let unlisted: Vec<_> = packs.difference(&listed).collect();
    assert_eq!(
        unlisted.len(),
        1,
        "exactly the later file's pack: {unlisted:?}"
    );
    assert!(listed.is_subset(&packs));
    assert!(packs.len() >= 3, "{} packs", packs.len());
}
