//! Sync to a `type = "local"` remote (a USB disk), retention with `forget`, and the
//! `server` commands: everything that needs no SSH server.

#[path = "support/vault.rs"]
mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::{TestVault, fails, noise, ok, restored, snapshot_tree};

fn vault_with_usb() -> (TestVault, PathBuf) {
    let v = TestVault::new("");
    let usb = v.dir.path().join("usb");
    let mut text = fs::read_to_string(&v.profile).unwrap();
    text.push_str(&format!(
        "\n[repository]\npack_size = \"1 MiB\"\n\n[[remote]]\nname = \"usb\"\ntype = \"local\"\npath = \"{}\"\n",
        usb.display()
    ));
    fs::write(&v.profile, text).unwrap();
    (v, usb)
}

/// Objects sent, from the summary line `remote NAME: N object(s) sent …`.
fn sent(out: &str) -> u64 {
    let line = out.lines().find(|l| l.starts_with("remote ")).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

fn count(dir: &Path) -> usize {
    fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn files_under(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn sync_uses_profile_sources_and_resumes_from_state() {
    let (v, usb) = vault_with_usb();
    let src = v.folder("src");
    fs::write(src.join("a.bin"), noise(300_000, 1)).unwrap();
    // `sync` backs up the profile's sources first.
    let text = fs::read_to_string(&v.profile).unwrap();
    fs::write(
        &v.profile,
        format!("sources = [\"{}\"]\n{text}", src.display()),
    )
    .unwrap();
    let out = ok(&v.cli(&["sync"], &[], false));
    assert!(out.contains("snapshot"), "{out}");
    assert!(out.contains("remote usb:"), "{out}");
    assert_eq!(count(&usb.join("snapshots")), 1);
    assert!(usb.join("keys/recovery").exists());
    assert!(usb.join("keys/recovery-g1").exists());
    // Unchanged sources: only the new snapshot's few objects go up (the state lists
    // what the remote has; the pack of the data is not offered again)…
    let second = ok(&v.cli(&["sync"], &[], false));
    assert!(sent(&second) < sent(&out), "{out}\n{second}");
    assert!(second.contains("1 new snapshot(s)"), "{second}");
    // …but a remote that lost its config is treated as new and gets everything.
    let before = files_under(&usb);
    fs::remove_dir_all(&usb).unwrap();
    ok(&v.cli(&["sync"], &[], false));
    assert!(files_under(&usb) >= before, "remote not refilled");
    let out = ok(&v.cli(&["check"], &["--remote", "usb"], false));
    assert!(out.contains("no problems"), "{out}");
}

#[test]
fn forget_keeps_policy_snapshots_and_prune_frees_unused_packs() {
    let (v, usb) = vault_with_usb();
    let src = v.folder("src");
    for round in 0..3u64 {
        // Each round replaces the whole content: old packs become unused.
        fs::write(src.join("data.bin"), noise(1_500_000, round + 10)).unwrap();
        ok(&v.cli(&["backup"], &[src.to_str().unwrap()], false));
    }
    ok(&v.cli(&["sync"], &[], false));
    assert_eq!(count(&usb.join("snapshots")), 3);
    let err = fails(&v.cli(&["forget"], &["--remote", "usb"], false));
    assert!(err.contains("no retention rule"), "{err}");
    let out = ok(&v.cli(
        &["forget"],
        &["--remote", "usb", "--keep-last", "1", "--dry-run"],
        false,
    ));
    assert!(out.contains("would remove 2"), "{out}");
    assert_eq!(count(&usb.join("snapshots")), 3);
    let packs_before = files_under(&usb.join("data"));
    let out = ok(&v.cli(
        &["forget"],
        &["--remote", "usb", "--keep-last", "1", "--prune"],
        true,
    ));
    assert!(out.contains("kept 1 snapshot(s), removed 2"), "{out}");
    assert_eq!(count(&usb.join("snapshots")), 1);
    let packs_after = files_under(&usb.join("data"));
    assert!(
        packs_after < packs_before,
        "{packs_before} -> {packs_after}: {out}"
    );
    assert_eq!(count(&usb.join("pruned")), 1);
    // The kept snapshot restores completely from the remote alone.
    fs::remove_dir_all(&v.store).unwrap();
    let target = v.folder("restore");
    ok(&v.cli(
        &["restore"],
        &[target.to_str().unwrap(), "--remote", "usb"],
        true,
    ));
    assert_eq!(snapshot_tree(&src), snapshot_tree(&restored(&target, &src)));
}

#[test]
fn server_authorize_prints_the_restricted_line() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pub");
    fs::write(
        &key,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0n writer@fs1\n",
    )
    .unwrap();
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["server", "authorize", "--pubkey", key.to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let out = ok(&support::run(
        &args(&["--ip", "198.51.100.7", "--repo", "/srv/bcp/soumu"]),
        "",
    ));
    assert_eq!(
        out.trim_end(),
        "from=\"198.51.100.7\",restrict,command=\"/usr/lib/openssh/sftp-server -d /srv/bcp/soumu -P remove,rmdir,posix-rename,setstat,fsetstat,symlink,hardlink -u 0222\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0n writer@fs1"
    );
    let err = fails(&support::run(
        &args(&["--ip", "198.51.100.7\" evil", "--repo", "/srv/x"]),
        "",
    ));
    assert!(err.contains("--ip"), "{err}");
    let err = fails(&support::run(
        &args(&["--ip", "10.0.0.1", "--repo", "/srv/x\" ; rm -rf /"]),
        "",
    ));
    assert!(err.contains("--repo"), "{err}");
    fs::write(&key, "-----BEGIN OPENSSH PRIVATE KEY-----\n").unwrap();
    let err = fails(&support::run(
        &args(&["--ip", "10.0.0.1", "--repo", "/srv/x"]),
        "",
    ));
    assert!(err.contains("private key"), "{err}");
}

/// Snapshot object names on `usb`, sorted.
fn snapshot_names(usb: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(usb.join("snapshots"))
        .map(|d| {
            d.flatten()
                .map(|e| format!("snapshots/{}", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn check_accepts_a_chain_cut_by_forget_but_not_a_vanished_or_swapped_snapshot() {
    let (v, usb) = vault_with_usb();
    let src = v.folder("src");
    // Four snapshots, each synced on its own, so their order is known.
    let mut order: Vec<String> = Vec::new();
    for round in 0..4u64 {
        fs::write(src.join("f.bin"), noise(20_000, round + 1)).unwrap();
        ok(&v.cli(&["backup"], &[src.to_str().unwrap()], false));
        ok(&v.cli(&["sync"], &[], false));
        let new: Vec<String> = snapshot_names(&usb)
            .into_iter()
            .filter(|n| !order.contains(n))
            .collect();
        assert_eq!(new.len(), 1, "{new:?}");
        order.extend(new);
    }
    let check = |v: &TestVault| v.cli(&["check"], &["--remote", "usb"], false);
    ok(&check(&v));
    // forget removes the two oldest: the third one's predecessor is gone.
    let out = ok(&v.cli(&["forget"], &["--remote", "usb", "--keep-last", "2"], false));
    assert!(out.contains("removed 2"), "{out}");
    assert_eq!(snapshot_names(&usb), {
        let mut kept = order[2..].to_vec();
        kept.sort();
        kept
    });
    let out = ok(&check(&v));
    assert!(out.contains("no problems"), "{out}");
    assert!(out.contains("2 snapshot"), "{out}");

    let path = |name: &str| usb.join(name);
    let (third, fourth) = (order[2].clone(), order[3].clone());
    let third_bytes = fs::read(path(&third)).unwrap();
    // A swapped snapshot (another valid snapshot's bytes under its name) is named.
    make_writable(&path(&third));
    fs::write(path(&third), fs::read(path(&fourth)).unwrap()).unwrap();
    let err = fails(&check(&v));
    assert!(err.contains(&third), "{err}");
    // A tampered one too.
    let mut flipped = third_bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 1;
    fs::write(path(&third), &flipped).unwrap();
    let err = fails(&check(&v));
    assert!(err.contains(&third), "{err}");
    // A snapshot that vanished without forget breaks the chain of the next one.
    fs::remove_file(path(&third)).unwrap();
    let err = fails(&check(&v));
    assert!(err.contains(&fourth), "{err}");
    assert!(err.contains("broken chain"), "{err}");
    // Put back, everything is fine again.
    fs::write(path(&third), &third_bytes).unwrap();
    ok(&check(&v));
}

fn make_writable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut perm = fs::metadata(p).unwrap().permissions();
    perm.set_mode(0o644);
    fs::set_permissions(p, perm).unwrap();
}
