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

/// An RFC 3339 time from the daemon as the people at the console read it:
/// local time to the minute with the zone ("2026-12-04 18:00 +09:00"); the text
/// as it came when it does not parse.
pub fn local_minute(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::local_minute;

    #[test]
    fn daemon_times_are_shown_to_the_minute_in_local_time() {
        let shown = local_minute("2026-12-04T09:00:00.123456789+00:00");
        // Whatever the local zone, a date, a space, hours:minutes and the zone.
        assert!(shown.starts_with("2026-12-0"), "{shown}");
        assert_eq!(shown.as_bytes()[10], b' ', "{shown}");
        assert!(!shown.contains('T') && !shown.contains(".123"), "{shown}");
        assert_eq!(local_minute("soon"), "soon");
    }
}
