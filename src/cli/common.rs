//! Helpers shared by commands: loading profiles, turning profile settings into
//! library parameters, the executive options.

use std::path::Path;

use anyhow::Result;
use clap::Args;

use bcpvault::crypto::KdfParams;
use bcpvault::profile::Profile;

/// Loads and validates a profile file (the error is already one line naming file and key).
pub fn load_profile(path: &Path) -> Result<Profile> {
    Ok(Profile::load(path)?)
}

/// The Argon2id parameters the profile asks for (`[kdf]`, default 64 MiB, t=3, p=1).
pub fn kdf_params(profile: &Profile) -> KdfParams {
    let k = profile.kdf_params();
    KdfParams {
        memory_kib: k.memory_kib,
        iterations: k.iterations,
        parallelism: k.parallelism,
    }
}

/// `--executive NAME` (repeatable) and `--password-stdin`.
#[derive(Args, Debug, Clone)]
pub struct ExecutiveArgs {
    /// Executive approving (repeat for each); each is asked for their password.
    #[arg(long = "executive", value_name = "NAME")]
    pub executives: Vec<String>,
    /// Read passwords from standard input, one per line, in --executive order.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Write-pipeline settings from the profile (`[repository]`, `quota`).
pub fn write_options(profile: &Profile) -> bcpvault::repo::WriteOptions {
    bcpvault::repo::WriteOptions {
        compression_level: profile.repository.compression_level,
        pack_size: profile.repository.pack_size as usize,
        quota: profile.quota,
        deferred: false,
    }
}
