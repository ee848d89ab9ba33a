//! The command-line interface: argument parsing and one module per command.
//! This is the only layer that prints to the terminal or uses `anyhow`.

mod approvals;
mod backup;
mod check;
mod common;
mod demo;
mod escrow;
mod forget;
mod init;
mod logging;
mod mount;
mod profile_cmd;
mod progress_bar;
mod prompt;
mod rekey;
mod remotes;
mod restore;
mod server;
mod snapshots;
mod status;
mod sync;
mod unlock;
mod unlock_test;
mod usage;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// BCP Vault: write-only encrypted business-continuity backups with quorum unlock.
#[derive(Parser)]
#[command(name = "bcpvault", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the demo on the embedded demo profile (ceremony + unlock rehearsal).
    Demo(demo::DemoArgs),
    /// Key ceremony: create the vault key pair and the executives' shares.
    Init(init::InitArgs),
    /// Rehearse an unlock with the named executives; the key is discarded.
    UnlockTest(unlock_test::UnlockTestArgs),
    /// Change the executive set or threshold (needs the current quorum).
    Rekey(rekey::RekeyArgs),
    /// Escrow copies of the recovery bundle.
    #[command(subcommand)]
    Escrow(escrow::EscrowCommand),
    /// Back up folders of the file server into the store (no executive needed).
    Backup(backup::BackupArgs),
    /// List snapshots.
    Snapshots(snapshots::SnapshotsArgs),
    /// Unlock in memory and restore a snapshot, or one path of it.
    Restore(restore::RestoreArgs),
    /// Verify the store (hashes, structure, signatures; --read-data decrypts all).
    Check(check::CheckArgs),
    /// Logical and stored size, dedup and compression, quota.
    Usage(usage::UsageArgs),
    /// Mount the vault drive (sealed until executives unlock it).
    Mount(mount::MountArgs),
    /// Seal open files and unmount the vault drive.
    Umount(mount::UmountArgs),
    /// Hand one executive's approval to the running mount.
    Unlock(unlock::UnlockArgs),
    /// Seal the mounted vault now (drop the key).
    Seal(unlock::SealArgs),
    /// State of the mounted vault.
    Status(status::StatusArgs),
    /// Commit the mounted drive as a snapshot.
    Snapshot(status::SnapshotArgs),
    /// Back up the profile's sources, then copy what each remote lacks (snapshots last).
    Sync(sync::SyncArgs),
    /// Retention on a remote with the admin key: delete snapshots outside the policy.
    Forget(forget::ForgetArgs),
    /// Backup-server setup (authorized_keys line for the append-only account).
    #[command(subcommand)]
    Server(server::ServerCommand),
    /// Vault profiles.
    #[command(subcommand)]
    Profile(profile_cmd::ProfileCommand),
}

/// Parse arguments, run the command, map any error to one stderr line and exit 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bcpvault: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Demo(args) => demo::run(args),
        Command::Init(args) => init::run(args),
        Command::UnlockTest(args) => unlock_test::run(args),
        Command::Rekey(args) => rekey::run(args),
        Command::Escrow(cmd) => escrow::run(cmd),
        Command::Profile(cmd) => profile_cmd::run(cmd),
        Command::Backup(args) => backup::run(args),
        Command::Snapshots(args) => snapshots::run(args),
        Command::Restore(args) => restore::run(args),
        Command::Check(args) => check::run(args),
        Command::Usage(args) => usage::run(args),
        Command::Mount(args) => mount::run(args),
        Command::Umount(args) => mount::umount(args),
        Command::Unlock(args) => unlock::run(args),
        Command::Seal(args) => unlock::seal(args),
        Command::Status(args) => status::run(args),
        Command::Snapshot(args) => status::snapshot(args),
        Command::Sync(args) => sync::run(args),
        Command::Forget(args) => forget::run(args),
        Command::Server(cmd) => server::run(cmd),
    }
}

/// Joins an error chain into one line: "outer: cause: root cause".
fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string().replace('\n', " ");
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}
