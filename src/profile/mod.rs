//! Vault profiles: one TOML file per vault (`mount-profiles/*.toml`, SPEC §10) and the
//! schedule grammar (SPEC §7).
//!
//! [`Profile::load`] reads and validates a file; every problem is a one-line
//! [`ProfileError`] naming the file, the key and what was expected. Unknown keys are
//! errors at every level. Relative local paths are resolved against the directory of
//! the profile file (paths on an SFTP server must be absolute and are kept as written).
//!
//! This module sits below `crypto`: it hands KDF costs over as plain numbers
//! ([`KdfSettings`]).

mod duration;
mod error;
mod load;
mod names;
mod occurrence;
mod reader;
mod remote;
mod schedule;
mod settings;
mod size;
mod summary;
mod timezone;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use duration::{DurationError, HumanDuration, parse_duration};
pub use error::{Problem, ProfileError};
pub use names::{is_valid_name, is_valid_os_name};
pub use occurrence::{FIRST_RUN_LOOKBACK, any_missed, earliest_next_run};
pub use remote::{
    DEFAULT_SFTP_TIMEOUT, DEFAULT_SSH_PORT, LocalRemote, Remote, RemoteKind, SftpRemote,
};
pub use schedule::{DayOfMonth, Interval, SCHEDULE_EXAMPLES, Schedule, ScheduleError};
pub use settings::{KdfSettings, MountSettings, RepositorySettings, Retention};
pub use size::{GIB, MIB, Size, SizeError, parse_size};
pub use timezone::{TimezoneSource, system_timezone};

/// The embedded default profile (`bcpvault` without a profile file runs the demo).
pub const DEMO_PROFILE: &str = include_str!("../../mount-profiles/demo.toml");

/// The path shown for the embedded demo profile.
pub const DEMO_ORIGIN: &str = "mount-profiles/demo.toml";

/// Default `unlock_ttl`.
pub const DEFAULT_UNLOCK_TTL: Duration = Duration::from_secs(24 * 3600);

/// A validated vault profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The file it was read from (used in messages).
    pub origin: PathBuf,
    /// Vault name: 1..=63 of `a-z`, `0-9`, `-`, starting with a letter or digit.
    pub name: String,
    /// Local encrypted store and embedded DB directory.
    pub store: PathBuf,
    /// Linux mount point.
    pub mountpoint: Option<PathBuf>,
    /// Windows drive letter, upper-case (`"V:"`).
    pub drive: Option<String>,
    /// Quota in bytes (at least 1 MiB); `None` is unlimited.
    pub quota: Option<u64>,
    /// How long an executive unlock lasts (1 minute..=30 days, default 24 h).
    pub unlock_ttl: Duration,
    /// OS users who may read the unlocked view.
    pub readers: Vec<String>,
    /// Folders backed up on schedule.
    pub sources: Vec<PathBuf>,
    /// When syncs run.
    pub schedule: Vec<Schedule>,
    /// Time zone of the schedules.
    pub timezone: Tz,
    /// Whether `timezone` was configured or taken from the system.
    pub timezone_source: TimezoneSource,
    /// Sync targets, in file order.
    pub remotes: Vec<Remote>,
    /// `[retention]`.
    pub retention: Retention,
    /// `[kdf]`.
    pub kdf: KdfSettings,
    /// `[repository]`.
    pub repository: RepositorySettings,
    /// `[mount]`.
    pub mount: MountSettings,
}

impl Profile {
    /// Reads and validates a profile file.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ProfileError::Read {
            file: path.to_path_buf(),
            cause,
        })?;
        Profile::from_str_at(&text, path)
    }

    /// Validates profile text; `origin` is the file path used in messages and as the
    /// base of relative paths.
    pub fn from_str_at(text: &str, origin: &Path) -> Result<Profile, ProfileError> {
        load::parse(text, origin)
    }

    /// The embedded demo profile ([`DEMO_PROFILE`]).
    ///
    /// # Panics
    /// Never in a tested build: `tests/profile_check.rs` and this module's tests parse
    /// the embedded text.
    pub fn demo() -> Profile {
        match Profile::from_str_at(DEMO_PROFILE, Path::new(DEMO_ORIGIN)) {
            Ok(profile) => profile,
            Err(e) => panic!("embedded demo profile is invalid: {e}"),
        }
    }

    /// KDF costs for the executives' password KDF, as plain numbers.
    pub fn kdf_params(&self) -> KdfSettings {
        self.kdf
    }

    /// The remote called `name`.
    pub fn remote(&self, name: &str) -> Option<&Remote> {
        self.remotes.iter().find(|r| r.name == name)
    }

    /// The earliest scheduled sync strictly after `after`, in UTC.
    pub fn next_run(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        earliest_next_run(&self.schedule, after, self.timezone)
    }

    /// True when a scheduled sync came due after `last_run` and at or before `now`
    /// (see [`Schedule::missed`]).
    pub fn missed_run(&self, last_run: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        any_missed(&self.schedule, last_run, now, self.timezone)
    }

    /// A few human lines describing the profile, with next runs from now; printed by
    /// `bcpvault profile check` on success.
    pub fn summary(&self) -> String {
        self.summary_at(Utc::now())
    }

    /// [`Profile::summary`] with next runs computed from `now`.
    pub fn summary_at(&self, now: DateTime<Utc>) -> String {
        summary::render(self, now)
    }
}

impl std::str::FromStr for Profile {
    type Err = ProfileError;
    /// Parses profile text whose origin is unknown (shown as `<profile>`).
    fn from_str(text: &str) -> Result<Profile, ProfileError> {
        Profile::from_str_at(text, Path::new("<profile>"))
    }
}

#[cfg(test)]
mod tests;
