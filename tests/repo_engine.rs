//! The repository engine as a backup user relies on it: what goes in comes back
//! byte for byte with its metadata, unchanged data is not stored twice, and the
//! store holds nothing readable without an executive unlock.

#[path = "support/vault.rs"]
mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use bcpvault::backend::LocalBackend;
use bcpvault::repo::pipeline::prepare_inline;
use bcpvault::repo::restore::restore;
use bcpvault::repo::source::{Keyring, RepoReader};
use bcpvault::repo::{BackupSummary, BlobKind, NoProgress, Repository, WriteOptions, backup};

use support::{TestVault, noise, restored, snapshot_tree};

fn opts() -> WriteOptions {
    WriteOptions {
        compression_level: 3,
        pack_size: 16 * 1024 * 1024,
        quota: None,
        deferred: false,
    }
}

fn run_backup(v: &TestVault, src: &Path) -> BackupSummary {
    let repo = Repository::open(&v.store).unwrap();
    backup(
        &repo,
        &[src.to_path_buf()],
        &opts(),
        "testhost",
        &NoProgress,
    )
    .unwrap()
}

fn restore_latest(v: &TestVault, target: &Path) {
    let unlocked = v.unlock();
    let bundle = bcpvault::keys::KeyFiles::new(&v.store)
        .load_bundle()
        .unwrap();
    let keys = Keyring::new(&unlocked, &bundle).unwrap();
    let backend = LocalBackend::open(&v.store.join("repo")).unwrap();
    let mut reader = RepoReader::open(&backend, &keys).unwrap();
    let s = restore(&mut reader, "latest", None, target, &NoProgress).unwrap();
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert!(s.bad_objects.is_empty(), "{:?}", s.bad_objects);
}

/// A tree with the shapes that break naive backup tools.
fn varied_tree(root: &Path) {
    fs::create_dir_all(root.join("empty-folder")).unwrap();
    fs::write(root.join("empty-file"), b"").unwrap();
    fs::write(root.join("売上報告 2026年度.xlsx"), noise(70_000, 1)).unwrap();
    fs::write(root.join("Ελληνικά – emoji 🎌.txt"), "καλημέρα\n").unwrap();
    fs::write(root.join("big.bin"), noise(100 * 1024 * 1024, 2)).unwrap();
    fs::write(
        root.join("text.log"),
        "line of a very compressible log\n".repeat(50_000),
    )
    .unwrap();
    let mut deep = root.to_path_buf();
    for i in 0..40 {
        deep.push(format!("level-{i}"));
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("bottom.txt"), b"deep").unwrap();
    std::os::unix::fs::symlink("売上報告 2026年度.xlsx", root.join("link-to-report")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", root.join("dangling")).unwrap();
    let script = root.join("run.sh");
    fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o750)).unwrap();
    let old = fs::File::options()
        .write(true)
        .open(root.join("empty-file"))
        .unwrap();
    old.set_modified(std::time::UNIX_EPOCH + std::time::Duration::new(1_000_000_000, 123_456_789))
        .unwrap();
}

fn assert_same_metadata(a: &Path, b: &Path) {
    let mut stack = vec![(a.to_path_buf(), b.to_path_buf())];
    while let Some((x, y)) = stack.pop() {
        let (mx, my) = (
            fs::symlink_metadata(&x).unwrap(),
            fs::symlink_metadata(&y).unwrap(),
        );
        assert_eq!(mx.file_type(), my.file_type(), "{}", x.display());
        if mx.file_type().is_symlink() {
            continue;
        }
        assert_eq!(mx.mode(), my.mode(), "mode of {}", x.display());
        assert_eq!(
            (mx.mtime(), mx.mtime_nsec()),
            (my.mtime(), my.mtime_nsec()),
            "mtime of {}",
            x.display()
        );
        assert_eq!(
            (mx.uid(), mx.gid()),
            (my.uid(), my.gid()),
            "owner of {}",
            x.display()
        );
        if mx.is_dir() {
            for e in fs::read_dir(&x).unwrap() {
                let name = e.unwrap().file_name();
                stack.push((x.join(&name), y.join(&name)));
            }
        }
    }
}

#[test]
fn a_varied_tree_comes_back_byte_identical_with_metadata() {
    let v = TestVault::new("");
    let src = v.folder("src");
    varied_tree(&src);
    let s = run_backup(&v, &src);
    assert!(s.skipped.is_empty(), "{:?}", s.skipped);
    assert_eq!(s.symlinks, 2);
    let out = v.folder("out");
    restore_latest(&v, &out);
    let back = restored(&out, &src);
    assert_eq!(snapshot_tree(&src), snapshot_tree(&back));
    assert_same_metadata(&src, &back);
}

#[test]
fn unchanged_appended_and_renamed_data_is_not_stored_again() {
    let v = TestVault::new("");
    let src = v.folder("src");
    fs::create_dir_all(src.join("folder-a")).unwrap();
    fs::write(src.join("folder-a/big.bin"), noise(100 * 1024 * 1024, 7)).unwrap();
    for i in 0..50 {
        fs::write(
            src.join(format!("folder-a/small-{i}.txt")),
            noise(3000 + i * 10, i as u64),
        )
        .unwrap();
    }
    let first = run_backup(&v, &src);
    assert!(first.write.new_bytes >= 100 * 1024 * 1024);

    let again = run_backup(&v, &src);
    assert!(
        again.write.new_bytes * 100 < first.write.new_bytes,
        "unchanged tree stored {} new bytes",
        again.write.new_bytes
    );
    assert_eq!(
        again.files_read, 0,
        "unchanged files must come from the files cache"
    );

    let mut f = fs::File::options()
        .append(true)
        .open(src.join("folder-a/big.bin"))
        .unwrap();
    std::io::Write::write_all(&mut f, &noise(1024 * 1024, 99)).unwrap();
    drop(f);
    let appended = run_backup(&v, &src);
    let data_new = appended.write.new_bytes;
    assert!(
        data_new <= 6 * 1024 * 1024,
        "appending 1 MiB stored {data_new} new bytes (expected about one chunk)"
    );
    assert!(data_new >= 1024 * 1024, "the appended MiB must be stored");

    fs::rename(src.join("folder-a"), src.join("folder-renamed")).unwrap();
    let renamed = run_backup(&v, &src);
    let kinds: Vec<BlobKind> = renamed
        .write
        .packs
        .packs
        .values()
        .flat_map(|entries| entries.iter().map(|e| e.kind))
        .collect();
    assert!(!kinds.is_empty(), "the renamed folder needs new trees");
    assert!(
        kinds.iter().all(|k| *k == BlobKind::Tree),
        "renaming a folder stored data blobs: {kinds:?}"
    );

    let out = v.folder("out");
    restore_latest(&v, &out);
    assert_eq!(snapshot_tree(&src), snapshot_tree(&restored(&out, &src)));
}

/// Searches every file under `root` for each marker.
fn find_markers(root: &Path, markers: &[&[u8]]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            for m in markers {
                if name.as_bytes().windows(m.len()).any(|w| w == *m) {
                    hits.push(format!("file name {}", p.display()));
                }
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = fs::read(&p).unwrap();
                for m in markers {
                    if bytes.windows(m.len()).any(|w| w == *m) {
                        hits.push(format!(
                            "{} contains {}",
                            p.display(),
                            String::from_utf8_lossy(m)
                        ));
                    }
                }
            }
        }
    }
    hits
}

#[test]
fn nothing_in_the_store_reveals_names_or_contents() {
    let v = TestVault::new("");
    let src = v.folder("src");
    fs::create_dir_all(src.join("NAMEMARKER-folder-機密")).unwrap();
    fs::write(
        src.join("NAMEMARKER-folder-機密/NAMEMARKER-file.txt"),
        "CONTENTMARKER-secret-merger-plan\n".repeat(1000),
    )
    .unwrap();
    fs::write(src.join("plain.txt"), b"CONTENTMARKER-short").unwrap();
    run_backup(&v, &src);
    run_backup(&v, &src);
    let markers: [&[u8]; 4] = [
        b"NAMEMARKER",
        b"CONTENTMARKER",
        "機密".as_bytes(),
        b"merger-plan",
    ];
    let hits = find_markers(&v.store, &markers);
    assert!(hits.is_empty(), "plaintext found in the store: {hits:?}");
    // The markers really are in the source, so the search can find them.
    assert!(!find_markers(&src, &markers).is_empty());
}

/// The pack file of the located blob `id`, opened with the vault key; checks
/// that the blob decrypts to `content`.
fn assert_blob_reads_back(
    v: &TestVault,
    repo: &Repository,
    id: &bcpvault::repo::BlobId,
    content: &[u8],
) {
    let loc = repo.locate(id).unwrap().expect("blob is indexed");
    let name = bcpvault::repo::id::pack_name(&loc.pack);
    let bytes = fs::read(v.store.join("repo").join(&name)).unwrap();
    let opened = bcpvault::repo::pack::open(&bytes, &v.unlock().private_key).unwrap();
    let e = &opened.entries[loc.index as usize];
    assert_eq!(e.id, *id);
    let ct = &bytes[e.offset as usize..(e.offset + e.length) as usize];
    assert_eq!(
        opened.blob(loc.index as usize, ct).unwrap().expose(),
        content
    );
}

/// Seals each of `files` as the mount does at close (deferred: a segment of
/// the open pack each); returns their chunk ids.
fn seal_at_close(repo: &Repository, files: &[Vec<u8>]) -> Vec<bcpvault::repo::BlobId> {
    let deferred = WriteOptions {
        deferred: true,
        ..opts()
    };
    files
        .iter()
        .map(|f| {
            let (chunks, stored) = prepare_inline(repo, &deferred, f)
                .unwrap()
                .publish(repo, &deferred)
                .unwrap();
            assert!(stored > f.len() as u64 / 2, "stored {stored}");
            chunks[0].0
        })
        .collect()
}

/// `n` small files of different sizes from `size` up.
fn documents(n: usize, size: usize, seed: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| noise(size + i * 877, seed + i as u64))
        .collect()
}

fn open_dir_files(v: &TestVault) -> Vec<std::path::PathBuf> {
    match fs::read_dir(v.store.join("open")) {
        Ok(list) => list.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn small_files_sealed_at_close_share_one_pack_closed_by_the_group_commit() {
    let v = TestVault::new("");
    let files = documents(6, 5_000, 60);
    let repo = Repository::open(&v.store).unwrap();
    let packs_before = repo.all_packs().unwrap().len();
    let ids = seal_at_close(&repo, &files);
    assert!(repo.contains(&ids[0]).unwrap(), "dedup sees the open pack");
    assert_eq!(open_dir_files(&v).len(), 1, "one open pack file");
    repo.group_commit().unwrap();
    assert!(
        open_dir_files(&v).is_empty(),
        "closed and removed at the commit"
    );
    assert_eq!(repo.all_packs().unwrap().len(), packs_before + 1);
    for (id, f) in ids.iter().zip(&files) {
        assert_blob_reads_back(&v, &repo, id, f);
    }
}

#[test]
fn an_open_pack_left_by_a_crash_is_finished_without_its_key() {
    let v = TestVault::new("");
    let files = documents(5, 10_000, 40);
    let ids = {
        let repo = Repository::open(&v.store).unwrap();
        seal_at_close(&repo, &files)
        // Dropped without a commit, as `kill -9` leaves it: the pack is open and
        // its session key exists nowhere any more.
    };
    let open = open_dir_files(&v);
    assert_eq!(open.len(), 1);
    // A segment torn by the crash after the last journaled one.
    let mut f = fs::OpenOptions::new().append(true).open(&open[0]).unwrap();
    std::io::Write::write_all(&mut f, &noise(3_000, 99)).unwrap();
    drop(f);

    let repo = Repository::open(&v.store).unwrap();
    assert!(
        open_dir_files(&v).is_empty(),
        "finished and removed at open"
    );
    let packs: std::collections::HashSet<_> = ids
        .iter()
        .map(|id| repo.locate(id).unwrap().expect("indexed").pack)
        .collect();
    assert_eq!(packs.len(), 1, "the five files share one pack");
    for (id, f) in ids.iter().zip(&files) {
        assert_blob_reads_back(&v, &repo, id, f);
    }
    let pack = packs.into_iter().next().unwrap();
    let bytes = fs::read(
        v.store
            .join("repo")
            .join(bcpvault::repo::id::pack_name(&pack)),
    )
    .unwrap();
    assert_eq!(
        bcpvault::repo::ObjectId::of(&bytes),
        pack,
        "named by its hash, torn tail cut"
    );
}
