//! Key ceremony and quorum unlock, as the executives experience them.

use bcpvault::crypto::{KdfParams, Password};
use bcpvault::keys::{
    Approval, Ceremony, EscrowText, Executive, KeyFiles, KeysError, RecoveryBundle, Rekey,
    Unlocker, open_share,
};
use tempfile::TempDir;

/// Cheap Argon2id settings, chosen through the same parameters users set in `[kdf]`.
fn cheap_kdf() -> KdfParams {
    KdfParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    }
}

fn password_of(name: &str) -> String {
    // Each letter shifted by one, so the password never contains the name (the
    // policy refuses that) yet differs per executive.
    let shifted: String = name
        .chars()
        .map(|c| char::from_u32(c as u32 + 1).unwrap())
        .collect();
    format!("pw of {shifted}!-long-enough")
}

fn executives(names: &[&str]) -> Vec<Executive> {
    names
        .iter()
        .map(|n| Executive {
            name: n.to_string(),
            password: Password::new(password_of(n)),
        })
        .collect()
}

fn approvals(names: &[&str]) -> Vec<Approval> {
    names
        .iter()
        .map(|n| Approval {
            name: n.to_string(),
            password: Password::new(password_of(n)),
        })
        .collect()
}

fn ceremony(
    dir: &TempDir,
    vault: &str,
    names: &[&str],
    threshold: u8,
) -> (KeyFiles, RecoveryBundle) {
    let files = KeyFiles::new(&dir.path().join(vault));
    let outcome = Ceremony {
        vault_name: vault.to_string(),
        executives: executives(names),
        threshold,
        key_bits: 2048,
        kdf: cheap_kdf(),
    }
    .run(&files)
    .expect("ceremony");
    assert_eq!(outcome.bundle, files.load_bundle().unwrap());
    (files, outcome.bundle)
}

/// All k-element subsets of `items`.
fn subsets<'a>(items: &[&'a str], k: usize) -> Vec<Vec<&'a str>> {
    if k == 0 {
        return vec![vec![]];
    }
    if items.len() < k {
        return vec![];
    }
    let mut with: Vec<Vec<&str>> = subsets(&items[1..], k - 1)
        .into_iter()
        .map(|mut s| {
            s.insert(0, items[0]);
            s
        })
        .collect();
    with.extend(subsets(&items[1..], k));
    with
}

#[test]
fn two_of_three_unlocks_with_every_pair_and_yields_the_same_key() {
    let dir = TempDir::new().unwrap();
    let names = ["alice", "bob", "carol"];
    let (files, bundle) = ceremony(&dir, "soumu", &names, 2);
    let writer = files.load_writer(&bundle).unwrap();
    let mut ders = Vec::new();
    for pair in subsets(&names, 2) {
        let unlocked = Unlocker::unlock(bundle.clone(), &approvals(&pair)).expect("pair unlocks");
        assert_eq!(unlocked.fingerprint, bundle.fingerprint());
        assert_eq!(
            unlocked.writer.dedup_key.expose(),
            writer.dedup_key.expose()
        );
        ders.push(unlocked.private_key.to_pkcs8_der().expose().to_vec());
    }
    assert!(ders.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn three_of_five_unlocks_with_any_three_not_two() {
    let dir = TempDir::new().unwrap();
    let names = ["a1", "b2", "c3", "d4", "e5"];
    let (_, bundle) = ceremony(&dir, "keiri", &names, 3);
    for trio in subsets(&names, 3) {
        Unlocker::unlock(bundle.clone(), &approvals(&trio)).expect("any three unlock");
    }
    for pair in subsets(&names, 2) {
        let err = Unlocker::unlock(bundle.clone(), &approvals(&pair)).unwrap_err();
        assert!(
            matches!(
                err,
                KeysError::NotEnoughApprovals {
                    have: 2,
                    need: 3,
                    missing: 1
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn one_of_one_is_allowed_for_small_firms() {
    let dir = TempDir::new().unwrap();
    let (_, bundle) = ceremony(&dir, "small", &["owner"], 1);
    Unlocker::unlock(bundle.clone(), &approvals(&["owner"])).expect("1 of 1");
    let err = Unlocker::unlock(bundle, &[]).unwrap_err();
    assert!(matches!(
        err,
        KeysError::NotEnoughApprovals {
            have: 0,
            need: 1,
            ..
        }
    ));
}

#[test]
fn wrong_password_is_named_and_reveals_nothing() {
    let dir = TempDir::new().unwrap();
    let (_, bundle) = ceremony(&dir, "soumu", &["alice", "bob", "carol"], 2);
    let mut unlocker = Unlocker::new(bundle);
    unlocker.approve(&approvals(&["alice"])[0]).unwrap();
    let err = unlocker
        .approve(&Approval {
            name: "bob".into(),
            password: Password::new("definitely not bob's pw".into()),
        })
        .unwrap_err();
    assert!(
        matches!(&err, KeysError::WrongPassword { name } if name == "bob"),
        "{err}"
    );
    assert_eq!(err.to_string(), "wrong password for executive bob");
    assert_eq!(
        unlocker.progress().have,
        1,
        "a failed approval must not count"
    );
}

#[test]
fn duplicate_approval_counts_once() {
    let dir = TempDir::new().unwrap();
    let (_, bundle) = ceremony(&dir, "soumu", &["alice", "bob", "carol"], 2);
    let err = Unlocker::unlock(bundle.clone(), &approvals(&["alice", "alice"])).unwrap_err();
    assert!(
        matches!(&err, KeysError::DuplicateApproval { name } if name == "alice"),
        "{err}"
    );
    // Also when the duplicate arrives as an already opened share.
    let mut unlocker = Unlocker::new(bundle.clone());
    let pw = Password::new(password_of("alice"));
    unlocker
        .add(open_share(&bundle, "alice", &pw).unwrap())
        .unwrap();
    let err = unlocker
        .add(open_share(&bundle, "alice", &pw).unwrap())
        .unwrap_err();
    assert!(matches!(err, KeysError::DuplicateApproval { .. }));
}

#[test]
fn share_from_another_vault_is_refused() {
    let dir = TempDir::new().unwrap();
    let names = ["alice", "bob", "carol"];
    let (_, ours) = ceremony(&dir, "soumu", &names, 2);
    let (_, theirs) = ceremony(&dir, "keiri", &names, 2);
    let mut unlocker = Unlocker::new(ours.clone());
    unlocker
        .add(open_share(&ours, "alice", &Password::new(password_of("alice"))).unwrap())
        .unwrap();
    let foreign = open_share(&theirs, "bob", &Password::new(password_of("bob"))).unwrap();
    let err = unlocker.add(foreign).unwrap_err();
    assert!(
        matches!(&err, KeysError::ForeignShare { name, .. } if name == "bob"),
        "{err}"
    );
    assert_eq!(unlocker.progress().have, 1);
}

#[test]
fn a_share_transplanted_into_another_bundle_does_not_open() {
    let dir = TempDir::new().unwrap();
    let names = ["alice", "bob", "carol"];
    let (_, ours) = ceremony(&dir, "soumu", &names, 2);
    let (_, theirs) = ceremony(&dir, "keiri", &names, 2);
    let mut forged = ours.clone();
    forged.shares[1] = theirs.shares[1].clone();
    let err = open_share(&forged, "bob", &Password::new(password_of("bob"))).unwrap_err();
    assert!(matches!(err, KeysError::WrongPassword { .. }), "{err}");
}

#[test]
fn unknown_executive_is_named_with_the_known_ones() {
    let dir = TempDir::new().unwrap();
    let (_, bundle) = ceremony(&dir, "soumu", &["alice", "bob"], 2);
    let err = Unlocker::unlock(bundle, &approvals(&["alice", "mallory"])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "executive mallory holds no share of vault soumu (known: alice, bob)"
    );
}

#[test]
fn init_never_overwrites_an_existing_vault() {
    let dir = TempDir::new().unwrap();
    let (files, bundle) = ceremony(&dir, "soumu", &["alice", "bob"], 2);
    let before = std::fs::read(files.bundle_path()).unwrap();
    let err = Ceremony {
        vault_name: "soumu".into(),
        executives: executives(&["alice", "bob"]),
        threshold: 2,
        key_bits: 2048,
        kdf: cheap_kdf(),
    }
    .run(&files)
    .unwrap_err();
    assert!(matches!(err, KeysError::VaultExists { .. }), "{err}");
    assert_eq!(std::fs::read(files.bundle_path()).unwrap(), before);
    Unlocker::unlock(bundle, &approvals(&["alice", "bob"])).unwrap();
}

#[test]
fn ceremony_refuses_bad_quorums_and_weak_passwords_before_writing() {
    let dir = TempDir::new().unwrap();
    let files = KeyFiles::new(&dir.path().join("v"));
    let run = |execs: Vec<Executive>, threshold: u8, bits: usize| {
        Ceremony {
            vault_name: "v".into(),
            executives: execs,
            threshold,
            key_bits: bits,
            kdf: cheap_kdf(),
        }
        .run(&files)
        .unwrap_err()
        .to_string()
    };
    assert_eq!(
        run(executives(&["a", "b"]), 3, 2048),
        "threshold 3 is impossible with 2 executive(s): expected 1 to 2"
    );
    assert_eq!(
        run(executives(&["a", "a"]), 1, 2048),
        "executive a is listed twice; each executive holds one share"
    );
    assert_eq!(
        run(executives(&["Alice"]), 1, 2048),
        "executive name \"Alice\": expected 1-32 characters of a-z, 0-9, '.', '_' or '-'"
    );
    assert_eq!(
        run(executives(&["a"]), 1, 1024),
        "key size 1024 bits: expected 2048, 3072 or 4096"
    );
    let many: Vec<String> = (0..21).map(|i| format!("e{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(
        run(executives(&many), 2, 2048),
        "21 executives given: at most 20 are supported"
    );
    let short = vec![Executive {
        name: "alice".into(),
        password: Password::new("short pw".into()),
    }];
    assert_eq!(
        run(short, 1, 2048),
        "password for executive alice: too short (8 characters; at least 12 required)"
    );
    assert!(
        !files.dir().exists(),
        "nothing may be written for refused input"
    );
}

#[test]
fn rekey_changes_the_quorum_and_old_shares_stop_counting() {
    let dir = TempDir::new().unwrap();
    let (files, old) = ceremony(&dir, "soumu", &["alice", "bob", "carol"], 2);
    let old_der = Unlocker::unlock(old.clone(), &approvals(&["alice", "bob"]))
        .unwrap()
        .private_key
        .to_pkcs8_der()
        .expose()
        .to_vec();
    let outcome = Rekey {
        approvals: approvals(&["alice", "carol"]),
        executives: executives(&["bob", "dave", "erin", "frank"]),
        threshold: 3,
        kdf: cheap_kdf(),
    }
    .run(&files)
    .expect("rekey");
    assert_eq!(outcome.old_generation, 1);
    let new = files.load_bundle().unwrap();
    assert_eq!(new.generation, 2);
    assert_eq!(
        new.public_key_der, old.public_key_der,
        "data stays readable: same key pair"
    );
    let unlocked = Unlocker::unlock(new.clone(), &approvals(&["dave", "erin", "frank"])).unwrap();
    assert_eq!(unlocked.private_key.to_pkcs8_der().expose(), &old_der[..]);
    // alice is no longer an executive of the current bundle.
    let err = Unlocker::unlock(new.clone(), &approvals(&["alice", "dave", "erin"])).unwrap_err();
    assert!(matches!(err, KeysError::UnknownExecutive { .. }), "{err}");
    // bob's generation-1 share is refused by name, not silently combined.
    let mut unlocker = Unlocker::new(new);
    let stale = open_share(&old, "bob", &Password::new(password_of("bob"))).unwrap();
    let err = unlocker.add(stale).unwrap_err();
    assert!(
        matches!(
            err,
            KeysError::StaleShare {
                share: 1,
                current: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn rekey_without_the_current_quorum_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let (files, old) = ceremony(&dir, "soumu", &["alice", "bob", "carol"], 2);
    let err = Rekey {
        approvals: approvals(&["alice"]),
        executives: executives(&["mallory"]),
        threshold: 1,
        kdf: cheap_kdf(),
    }
    .run(&files)
    .unwrap_err();
    assert!(matches!(err, KeysError::NotEnoughApprovals { .. }), "{err}");
    assert_eq!(files.load_bundle().unwrap(), old);
}

#[test]
fn every_flipped_byte_of_the_bundle_is_detected() {
    let dir = TempDir::new().unwrap();
    let (_, bundle) = ceremony(&dir, "soumu", &["alice", "bob"], 2);
    let bytes = bundle.to_bytes();
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        assert!(
            RecoveryBundle::from_bytes(&bad, "test").is_err(),
            "flip at byte {i} of {} went unnoticed",
            bytes.len()
        );
    }
    for cut in [0, 1, 10, bytes.len() / 2, bytes.len() - 1] {
        assert!(RecoveryBundle::from_bytes(&bytes[..cut], "test").is_err());
    }
}

#[test]
fn a_bundle_with_a_damaged_sealed_secret_never_yields_a_key() {
    let dir = TempDir::new().unwrap();
    let (_, bundle) = ceremony(&dir, "soumu", &["alice", "bob"], 2);
    for i in [0, 12, 40, bundle.sealed_secret.len() - 1] {
        let mut bad = bundle.clone();
        bad.sealed_secret[i] ^= 0x80;
        let err = Unlocker::unlock(bad, &approvals(&["alice", "bob"])).unwrap_err();
        assert!(
            matches!(err, KeysError::SharesDoNotCombine),
            "byte {i}: {err}"
        );
    }
}

#[test]
fn escrow_text_round_trips_and_names_the_mistyped_line() {
    let dir = TempDir::new().unwrap();
    let (_, bundle) = ceremony(&dir, "soumu", &["alice", "bob", "carol"], 2);
    let text = EscrowText::render(&bundle);
    assert!(
        text.lines().all(|l| l.len() <= 100),
        "printable: lines fit on paper"
    );
    assert_eq!(EscrowText::parse(&text, "paper").unwrap(), bundle);
    // Upper case and extra blank lines are fine when typing it back.
    let retyped = text
        .to_uppercase()
        .replace("BCPVAULT RECOVERY BUNDLE V1", "BCPVAULT RECOVERY BUNDLE v1");
    let retyped = retyped.replace("VAULT:", "vault:").replace("END", "\nEND");
    assert_eq!(EscrowText::parse(&retyped, "paper").unwrap(), bundle);
    // A single typo on data line 3 is reported with its line.
    let lines: Vec<&str> = text.lines().collect();
    let first_data = lines.iter().position(|l| l.starts_with("0001 ")).unwrap();
    let mut typo: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    let target = &mut typo[first_data + 2];
    let pos = 6;
    let c = target.as_bytes()[pos];
    let replacement = if c == b'0' { '1' } else { '0' };
    target.replace_range(pos..pos + 1, &replacement.to_string());
    let err = EscrowText::parse(&typo.join("\n"), "paper")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("paper: line {}: check", first_data + 3)),
        "{err}"
    );
    // A missing line is reported too.
    let mut missing = lines.clone();
    missing.remove(first_data + 1);
    let err = EscrowText::parse(&missing.join("\n"), "paper")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data line 3 found where line 2 was expected"),
        "{err}"
    );
    // Binary form via parse_any.
    assert_eq!(
        EscrowText::parse_any(&bundle.to_bytes(), "bin").unwrap(),
        bundle
    );
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let dir = TempDir::new().unwrap();
    let (files, bundle) = ceremony(&dir, "soumu", &["alice", "bob"], 2);
    let unlocked = Unlocker::unlock(bundle.clone(), &approvals(&["alice", "bob"])).unwrap();
    let der = unlocked.private_key.to_pkcs8_der();
    let debug = format!(
        "{unlocked:?} {:?} {:?}",
        files.load_writer(&bundle).unwrap(),
        unlocked.private_key
    );
    assert!(
        !debug.contains(&hex::encode(&der.expose()[40..56])),
        "private key bytes in Debug"
    );
    assert!(
        !debug.contains(&hex::encode(unlocked.writer.dedup_key.expose())),
        "dedup key in Debug"
    );
    assert!(!debug.contains(&format!("{:?}", &unlocked.writer.dedup_key.expose()[..8])));
}
