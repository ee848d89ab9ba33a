//! Every file under `tests/profiles/bad/` is a profile a user could plausibly write by
//! mistake. Its first line, `# expect: …`, is the exact one-line error `bcpvault profile
//! check` must print after the `bcpvault: <file>: ` prefix, with a non-zero exit.

use std::path::Path;
use std::process::Command;

#[test]
fn every_bad_profile_is_refused_with_its_exact_message() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/profiles/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/profiles/bad exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "need at least 10 bad profiles, found {}",
        files.len()
    );

    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: first line must be `# expect: …`", file.display()));
        let rel = file.strip_prefix(root).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_bcpvault"))
            .current_dir(root)
            .args(["profile", "check"])
            .arg(rel)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: accepted", rel.display());
        assert_eq!(
            stderr,
            format!("bcpvault: {}: {expect}\n", rel.display()),
            "{}",
            rel.display()
        );
        assert!(
            out.stdout.is_empty(),
            "{}: printed on stdout",
            rel.display()
        );
    }
}

#[test]
fn shipped_profiles_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in [
        "mount-profiles/demo.toml",
        "mount-profiles/example-sftp.toml",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_bcpvault"))
            .current_dir(root)
            .args(["profile", "check", name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
