//! The key commands as an admin and the executives use them: `init`, `unlock-test`,
//! `rekey`, `escrow`. Runs the real binary; passwords come through `--password-stdin`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use bcpvault::crypto::{Password, aead};
use bcpvault::keys::{Approval, KeyFiles, KeysError, RecoveryBundle, Unlocker};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_bcpvault");

/// A vault profile in a temp dir, with cheap Argon2id settings (the `[kdf]` keys users have).
fn profile(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "name = \"{name}\"\nstore = \"{}\"\n\n[kdf]\nmemory = \"1 MiB\"\niterations = 1\nparallelism = 1\n",
            dir.join(format!("{name}-store")).display()
        ),
    )
    .unwrap();
    path
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bcpvault");
    // A command that refuses before reading its passwords closes stdin early; that
    // broken pipe is the command's business, judged by its exit status below.
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: &str) -> String {
    let out = run(args, stdin);
    assert!(
        out.status.success(),
        "bcpvault {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail; returns its single stderr line.
fn fails(args: &[&str], stdin: &str) -> String {
    let out = run(args, stdin);
    assert!(
        !out.status.success(),
        "bcpvault {args:?} unexpectedly succeeded"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "error must be one line: {err:?}");
    err.trim_end().to_string()
}

const PW: [&str; 3] = [
    "first: correct horse 1",
    "second: battery staple 22",
    "third: tr0ub4dor&3 xx",
];

fn init(dir: &Path, name: &str) -> PathBuf {
    let p = profile(dir, name);
    let out = ok(
        &[
            "init",
            p.to_str().unwrap(),
            "--executive",
            "alice",
            "--executive",
            "bob",
            "--executive",
            "carol",
            "--threshold",
            "2",
            "--key-bits",
            "2048",
            "--password-stdin",
        ],
        &format!("{}\n{}\n{}\n", PW[0], PW[1], PW[2]),
    );
    assert!(
        out.contains("unlock needs 2 of 3 executives: alice, bob, carol"),
        "{out}"
    );
    p
}

/// Every regular file under `root`, with its contents.
fn all_files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn ceremony_then_unlock_test_with_two_of_three() {
    let dir = TempDir::new().unwrap();
    let p = init(dir.path(), "soumu");
    let out = ok(
        &[
            "unlock-test",
            p.to_str().unwrap(),
            "--executive",
            "carol",
            "--executive",
            "alice",
            "--password-stdin",
        ],
        &format!("{}\n{}\n", PW[2], PW[0]),
    );
    assert!(out.starts_with("unlock OK: carol, alice approved"), "{out}");
    let escrow = dir.path().join("soumu-store/escrow");
    assert!(escrow.join("soumu-recovery-g1.bin").is_file());
    assert!(escrow.join("soumu-recovery-g1.txt").is_file());
}

#[test]
fn wrong_password_fails_with_one_line_naming_the_executive() {
    let dir = TempDir::new().unwrap();
    let p = init(dir.path(), "soumu");
    let err = fails(
        &[
            "unlock-test",
            p.to_str().unwrap(),
            "--executive",
            "alice",
            "--executive",
            "bob",
            "--password-stdin",
        ],
        &format!("{}\nnot bob's password at all\n", PW[0]),
    );
    assert_eq!(err, "bcpvault: wrong password for executive bob");
}

#[test]
fn too_few_executives_fail_before_any_prompt() {
    let dir = TempDir::new().unwrap();
    let p = init(dir.path(), "soumu");
    let err = fails(
        &[
            "unlock-test",
            p.to_str().unwrap(),
            "--executive",
            "alice",
            "--password-stdin",
        ],
        "",
    );
    assert_eq!(
        err,
        "bcpvault: vault soumu needs 2 executive approval(s), 1 named: add --executive NAME (executives: alice, bob, carol)"
    );
}

#[test]
fn second_init_is_refused_and_leaves_the_vault_untouched() {
    let dir = TempDir::new().unwrap();
    let p = init(dir.path(), "soumu");
    let before = all_files(&dir.path().join("soumu-store"));
    let err = fails(
        &[
            "init",
            p.to_str().unwrap(),
            "--executive",
            "zed",
            "--threshold",
            "1",
            "--password-stdin",
        ],
        "a new password here\n",
    );
    assert!(
        err.ends_with("already holds a vault (init never overwrites an existing vault)"),
        "{err}"
    );
    assert_eq!(all_files(&dir.path().join("soumu-store")), before);
}

#[test]
fn short_password_is_refused_and_nothing_is_written() {
    let dir = TempDir::new().unwrap();
    let p = profile(dir.path(), "soumu");
    let err = fails(
        &[
            "init",
            p.to_str().unwrap(),
            "--executive",
            "alice",
            "--executive",
            "bob",
            "--password-stdin",
        ],
        "long enough password\nshort\n",
    );
    assert_eq!(
        err,
        "bcpvault: password for executive bob: too short (5 characters; at least 12 required)"
    );
    assert!(!dir.path().join("soumu-store/keys").exists());
}

#[test]
fn missing_password_line_is_a_clear_error() {
    let dir = TempDir::new().unwrap();
    let p = profile(dir.path(), "soumu");
    let err = fails(
        &[
            "init",
            p.to_str().unwrap(),
            "--executive",
            "alice",
            "--executive",
            "bob",
            "--password-stdin",
        ],
        "only one password line\n",
    );
    assert_eq!(
        err,
        "bcpvault: --password-stdin: no line for executive bob (give one password per line, in --executive order)"
    );
}

#[test]
fn rekey_then_escrow_import_on_a_fresh_machine() {
    let dir = TempDir::new().unwrap();
    let p = init(dir.path(), "soumu");
    let out = ok(
        &[
            "rekey",
            p.to_str().unwrap(),
            "--approve",
            "alice",
            "--approve",
            "bob",
            "--executive",
            "bob",
            "--executive",
            "dave",
            "--threshold",
            "2",
            "--password-stdin",
        ],
        &format!(
            "{}\n{}\nthe brand new password\nfourth: secret words 99\n",
            PW[0], PW[1]
        ),
    );
    assert!(out.contains("generation 1 -> 2"), "{out}");
    // A fresh machine: new profile with the same vault name, empty store; type the paper copy back.
    let fresh = TempDir::new().unwrap();
    let p2 = profile(fresh.path(), "soumu");
    let paper = dir.path().join("soumu-store/escrow/soumu-recovery-g2.txt");
    let out = ok(
        &[
            "escrow",
            "import",
            p2.to_str().unwrap(),
            paper.to_str().unwrap(),
        ],
        "",
    );
    assert!(
        out.starts_with("installed recovery bundle of vault soumu"),
        "{out}"
    );
    let out = ok(
        &[
            "unlock-test",
            p2.to_str().unwrap(),
            "--executive",
            "dave",
            "--executive",
            "bob",
            "--password-stdin",
        ],
        "fourth: secret words 99\nthe brand new password\n",
    );
    assert!(out.starts_with("unlock OK"), "{out}");
    // Old passwords no longer count in the new generation.
    let err = fails(
        &[
            "unlock-test",
            p2.to_str().unwrap(),
            "--executive",
            "bob",
            "--executive",
            "alice",
            "--password-stdin",
        ],
        &format!("{}\n{}\n", PW[1], PW[0]),
    );
    assert_eq!(err, "bcpvault: wrong password for executive bob");
}

#[test]
fn escrow_import_names_a_typo_and_installs_nothing() {
    let dir = TempDir::new().unwrap();
    init(dir.path(), "soumu");
    let paper = dir.path().join("soumu-store/escrow/soumu-recovery-g1.txt");
    let text = std::fs::read_to_string(&paper).unwrap();
    let typo_line = text.lines().position(|l| l.starts_with("0005 ")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let l = &mut lines[typo_line];
    let swapped = if l.as_bytes()[5] == b'f' { "e" } else { "f" };
    l.replace_range(5..6, swapped);
    let typed = dir.path().join("typed.txt");
    std::fs::write(&typed, lines.join("\n")).unwrap();
    let fresh = TempDir::new().unwrap();
    let p2 = profile(fresh.path(), "soumu");
    let err = fails(
        &[
            "escrow",
            "import",
            p2.to_str().unwrap(),
            typed.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(
        err,
        format!(
            "bcpvault: {}: line {}: check {} does not match data line 5 (typo on this line)",
            typed.display(),
            typo_line + 1,
            lines[typo_line].split_whitespace().last().unwrap()
        )
    );
    assert!(!fresh.path().join("soumu-store/keys").exists());
}

/// The admin who runs the ceremony keeps every file it wrote, but not the passwords:
/// none of it decrypts. The test (which knows the passwords) checks that no file holds
/// the private key, the KEK or a password, that no 32-byte window of any file opens
/// the sealed private key, and that unlock without the passwords fails.
#[test]
fn the_admin_ends_the_ceremony_with_nothing_that_decrypts() {
    let dir = TempDir::new().unwrap();
    let p = init(dir.path(), "soumu");
    let files = all_files(dir.path());
    let files: BTreeMap<PathBuf, Vec<u8>> =
        files.into_iter().filter(|(path, _)| path != &p).collect();
    assert!(
        files.len() >= 4,
        "ceremony wrote {:?}",
        files.keys().collect::<Vec<_>>()
    );

    let store = dir.path().join("soumu-store");
    let bundle = KeyFiles::new(&store).load_bundle().unwrap();
    let private_der = Unlocker::unlock(
        bundle.clone(),
        &[
            Approval {
                name: "alice".into(),
                password: Password::new(PW[0].into()),
            },
            Approval {
                name: "bob".into(),
                password: Password::new(PW[1].into()),
            },
        ],
    )
    .unwrap()
    .private_key
    .to_pkcs8_der();
    let der = private_der.expose();

    let aad = [
        b"bcpvault/v1/recovery-secret".as_slice(),
        &bundle.vault_id,
        &bundle.generation.to_be_bytes(),
    ]
    .concat();
    let nonce: [u8; 12] = bundle.sealed_secret[..12].try_into().unwrap();
    let sealed = &bundle.sealed_secret[12..];
    for (path, bytes) in &files {
        for pw in PW {
            assert!(
                !contains(bytes, pw.as_bytes()),
                "{} holds a password",
                path.display()
            );
        }
        // The PKCS#8 DER also carries the public modulus and exponent, which the
        // bundle holds in the clear by design; only windows absent from it are secret.
        for window in der
            .chunks(16)
            .filter(|c| c.len() == 16 && !contains(&bundle.public_key_der, c))
        {
            assert!(
                !contains(bytes, window),
                "{} holds private key bytes",
                path.display()
            );
        }
        for start in 0..bytes.len().saturating_sub(31) {
            let key = bcpvault::crypto::SecretKey32::from_bytes(
                bytes[start..start + 32].try_into().unwrap(),
            );
            assert!(
                aead::open(&key, &nonce, &aad, sealed).is_err(),
                "{} byte {start}: a stored 32-byte window opens the private key",
                path.display()
            );
        }
    }
    // Without the passwords there is no unlock, whatever the admin tries.
    for guess in ["", "soumu", "alice", "admin password!"] {
        let err = Unlocker::unlock(
            bundle.clone(),
            &[
                Approval {
                    name: "alice".into(),
                    password: Password::new(guess.into()),
                },
                Approval {
                    name: "bob".into(),
                    password: Password::new(guess.into()),
                },
            ],
        )
        .unwrap_err();
        assert!(matches!(err, KeysError::WrongPassword { .. }), "{err}");
    }
    let parsed =
        RecoveryBundle::from_bytes(&std::fs::read(store.join("keys/recovery")).unwrap(), "x")
            .unwrap();
    assert_eq!(parsed, bundle);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
