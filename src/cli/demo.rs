//! `bcpvault demo`: the README's first command. Runs the key ceremony (once), an
//! unlock rehearsal, and mounts the demo vault drive on the embedded demo profile,
//! which needs no server (its remote is a local directory).
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

/// Arguments of `demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Only the ceremony and the rehearsal; do not mount the drive.
    #[arg(long)]
    pub no_mount: bool,
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> Result<()> {
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
    let passwords = DEMO_EXECUTIVES
        .map(|(n, p)| format!("{n} = {p:?}"))
        .join(", ");
    if args.no_mount {
        println!("Try it yourself (demo passwords: {passwords}):");
        println!(
            "   bcpvault unlock-test mount-profiles/demo.toml --executive bob --executive carol"
        );
        return Ok(());
    }
    mount_demo(&profile, &passwords)
}

/// Step 5: mount the drive, drop a file in, show it sealed, say how to unlock.
fn mount_demo(profile: &Profile, passwords: &str) -> Result<()> {
    let dir = profile
        .store
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| profile.store.clone());
    let profile_path = dir.join("demo.toml");
    std::fs::write(&profile_path, bcpvault::profile::DEMO_PROFILE)?;
    let mountpoint = profile
        .mountpoint
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the demo profile has no mountpoint"))?;
    let p = profile_path.display();
    let exe = std::env::current_exe()
        .map(|e| e.display().to_string())
        .unwrap_or_else(|_| "bcpvault".into());
    if bcpvault::daemon::is_mounted(&mountpoint) {
        println!(
            "5. the demo drive is already mounted at {}",
            mountpoint.display()
        );
    } else {
        println!("5. mounting the vault drive (sealed):");
        print!("   ");
        super::mount::run(super::mount::MountArgs::background(profile_path.clone()))?;
    }
    let welcome = mountpoint.join("welcome.txt");
    if !welcome.exists() {
        std::fs::write(
            &welcome,
            "Welcome to the BCP vault. Only a quorum of executives can read this.\n",
        )?;
    }
    match std::fs::read(&welcome) {
        Err(e) => println!(
            "6. wrote {} through the drive; reading it back while sealed: {e}",
            welcome.display()
        ),
        Ok(_) => println!(
            "6. {} is readable: the demo vault is unlocked right now",
            welcome.display()
        ),
    }
    println!("Try it (demo passwords: {passwords}):");
    println!(
        "   cp -a /etc/ssl {}/          # files go in, encrypted to the public key",
        mountpoint.display()
    );
    println!(
        "   cat {}                      # Permission denied: sealed",
        welcome.display()
    );
    println!("   {exe} unlock {p} --executive alice   # 1 of 2 approvals");
    println!("   {exe} unlock {p} --executive bob     # unlocked until …");
    println!(
        "   cat {}                      # readable now",
        welcome.display()
    );
    println!("   {exe} seal {p}; {exe} umount {p}");
    Ok(())
}

fn approval(i: usize) -> Approval {
    let (name, pw) = DEMO_EXECUTIVES[i];
    Approval {
        name: name.to_string(),
        password: Password::new(pw.to_string()),
    }
}
