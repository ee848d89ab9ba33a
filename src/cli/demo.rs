//! `bcpvault demo`: the README's first command. Runs the key ceremony (once) and an
//! unlock rehearsal on the embedded demo profile, which needs no server.
//! The demo executives' passwords are printed on purpose: this vault is a toy.

use anyhow::Result;
use clap::Args;

use bcpvault::crypto::Password;
use bcpvault::keys::{Approval, Ceremony, Executive, KeyFiles, Unlocker, format_fingerprint};
use bcpvault::profile::Profile;

use super::common::kdf_params;

/// Demo executives and their (public, demo-only) passwords.
const DEMO_EXECUTIVES: [(&str, &str); 3] = [
    ("alice", "demo: sakura-umbrella-42"),
    ("bob", "demo: fuji-lantern-1985"),
    ("carol", "demo: kyoto-harbour-77"),
];

/// Arguments of `demo` (none yet; the mount joins later).
#[derive(Args, Debug)]
pub struct DemoArgs {}

/// Runs the demo.
pub fn run(_args: DemoArgs) -> Result<()> {
    let profile = Profile::demo();
    let files = KeyFiles::new(&profile.store);
    println!(
        "BCP Vault demo — profile mount-profiles/demo.toml (embedded), store {}",
        profile.store.display()
    );
    if files.exists() {
        println!("1. key ceremony: already done earlier (init never overwrites a vault)");
    } else {
        println!("1. key ceremony: RSA-3072 key pair, KEK split 2 of 3 for alice, bob, carol ...");
        let executives = DEMO_EXECUTIVES
            .iter()
            .map(|(name, pw)| Executive {
                name: name.to_string(),
                password: Password::new(pw.to_string()),
            })
            .collect();
        let outcome = Ceremony {
            vault_name: profile.name.clone(),
            executives,
            threshold: 2,
            key_bits: 3072,
            kdf: kdf_params(&profile),
        }
        .run(&files)?;
        println!(
            "   key fingerprint {}",
            format_fingerprint(&outcome.fingerprint)
        );
    }
    let bundle = files.load_bundle()?;
    println!(
        "2. the file server now holds {} (public key, encrypted private key, sealed shares) and nothing that decrypts",
        files.bundle_path().display()
    );
    println!("3. one approval is not enough:");
    let one = Unlocker::unlock(bundle.clone(), &[approval(0)]);
    match one {
        Ok(_) => {
            anyhow::bail!("demo vault unlocked with a single approval: the threshold is broken")
        }
        Err(e) => println!("   alice alone: {e}"),
    }
    println!("4. alice and carol approve together:");
    let unlocked = Unlocker::unlock(bundle, &[approval(0), approval(2)])?;
    println!(
        "   unlocked in memory: key {}; discarding it again",
        format_fingerprint(&unlocked.fingerprint)
    );
    drop(unlocked);
    println!(
        "Try it yourself (demo passwords: {}):",
        DEMO_EXECUTIVES
            .map(|(n, p)| format!("{n} = {p:?}"))
            .join(", ")
    );
    println!("   bcpvault unlock-test mount-profiles/demo.toml --executive bob --executive carol");
    Ok(())
}

fn approval(i: usize) -> Approval {
    let (name, pw) = DEMO_EXECUTIVES[i];
    Approval {
        name: name.to_string(),
        password: Password::new(pw.to_string()),
    }
}
