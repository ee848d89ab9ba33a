//! The optional tables: `[retention]`, `[kdf]`, `[repository]`, `[mount]`.

use super::error::ProfileError;
use super::names::is_valid_os_name;
use super::reader::Section;
use super::size::{GIB, MIB};

/// `[retention]`: how many snapshots `forget` keeps. Unset keys keep nothing extra.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep the last snapshot of each of this many days.
    pub keep_daily: Option<u32>,
    /// Keep the last snapshot of each of this many weeks.
    pub keep_weekly: Option<u32>,
    /// Keep the last snapshot of each of this many months.
    pub keep_monthly: Option<u32>,
    /// Keep this many most recent snapshots.
    pub keep_last: Option<u32>,
}

impl Retention {
    /// True when no rule is set (then `forget` must refuse to delete anything).
    pub fn is_empty(&self) -> bool {
        *self == Retention::default()
    }
}

/// `[kdf]`: Argon2id cost of the executives' password KDF, as plain numbers so the
/// profile does not depend on `crypto`. Tests pick cheap values through this table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfSettings {
    /// Memory in KiB (`memory = "64 MiB"`; 1 MiB..=4 GiB).
    pub memory_kib: u32,
    /// Passes over memory (`iterations`, 1..=100).
    pub iterations: u32,
    /// Lanes (`parallelism`, 1..=64).
    pub parallelism: u32,
}

impl Default for KdfSettings {
    fn default() -> Self {
        KdfSettings {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

/// `[repository]`: how new packs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepositorySettings {
    /// zstd level, 1..=19 (default 3).
    pub compression_level: i32,
    /// Target pack size in bytes, 1 MiB..=256 MiB (default 16 MiB).
    pub pack_size: u64,
}

impl Default for RepositorySettings {
    fn default() -> Self {
        RepositorySettings {
            compression_level: 3,
            pack_size: 16 * MIB,
        }
    }
}

/// `[mount]`: settings of the mounted drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSettings {
    /// Bytes of open-file plaintext kept in memory before spilling to an encrypted
    /// temporary file, 1 MiB..=64 GiB (default 64 MiB).
    pub staging_memory: u64,
    /// OS group allowed to use the daemon's control socket (default: owner only).
    pub control_group: Option<String>,
    /// Mount with FUSE `allow_other` so other users reach the drive (default false;
    /// needs `user_allow_other` in `/etc/fuse.conf` when not root).
    pub allow_other: bool,
}

impl Default for MountSettings {
    fn default() -> Self {
        MountSettings {
            staging_memory: 64 * MIB,
            control_group: None,
            allow_other: false,
        }
    }
}

pub(crate) const RETENTION_KEYS: &[&str] =
    &["keep_daily", "keep_weekly", "keep_monthly", "keep_last"];
pub(crate) const KDF_KEYS: &[&str] = &["memory", "iterations", "parallelism"];
pub(crate) const REPOSITORY_KEYS: &[&str] = &["compression_level", "pack_size"];
pub(crate) const MOUNT_KEYS: &[&str] = &["staging_memory", "control_group", "allow_other"];

fn opt_u32(
    section: &Section<'_>,
    key: &str,
    lo: u32,
    hi: u32,
) -> Result<Option<u32>, ProfileError> {
    // The range fits u32 by construction, so the conversion cannot fail.
    section
        .get(key)
        .map(|f| {
            f.int(lo.into(), hi.into())
                .map(|n| u32::try_from(n).unwrap_or(hi))
        })
        .transpose()
}

pub(crate) fn read_retention(section: &Section<'_>) -> Result<Retention, ProfileError> {
    Ok(Retention {
        keep_daily: opt_u32(section, "keep_daily", 0, u32::MAX)?,
        keep_weekly: opt_u32(section, "keep_weekly", 0, u32::MAX)?,
        keep_monthly: opt_u32(section, "keep_monthly", 0, u32::MAX)?,
        keep_last: opt_u32(section, "keep_last", 0, u32::MAX)?,
    })
}

pub(crate) fn read_kdf(section: &Section<'_>) -> Result<KdfSettings, ProfileError> {
    let default = KdfSettings::default();
    let memory_kib = match section.get("memory") {
        Some(field) => {
            let bytes = field.size(MIB, Some(4 * GIB), "\"64 MiB\"")?;
            if !bytes.is_multiple_of(1024) {
                return Err(field.invalid("a whole number of KiB like \"64 MiB\""));
            }
            // At most 4 GiB / 1 KiB = 4 Mi, which fits u32.
            u32::try_from(bytes / 1024).unwrap_or(u32::MAX)
        }
        None => default.memory_kib,
    };
    Ok(KdfSettings {
        memory_kib,
        iterations: opt_u32(section, "iterations", 1, 100)?.unwrap_or(default.iterations),
        parallelism: opt_u32(section, "parallelism", 1, 64)?.unwrap_or(default.parallelism),
    })
}

pub(crate) fn read_repository(section: &Section<'_>) -> Result<RepositorySettings, ProfileError> {
    let default = RepositorySettings::default();
    let compression_level = match section.get("compression_level") {
        Some(f) => i32::try_from(f.int(1, 19)?).unwrap_or(default.compression_level),
        None => default.compression_level,
    };
    let pack_size = match section.get("pack_size") {
        Some(f) => f.size(MIB, Some(256 * MIB), "\"16 MiB\"")?,
        None => default.pack_size,
    };
    Ok(RepositorySettings {
        compression_level,
        pack_size,
    })
}

pub(crate) fn read_mount(section: &Section<'_>) -> Result<MountSettings, ProfileError> {
    let default = MountSettings::default();
    let staging_memory = match section.get("staging_memory") {
        Some(f) => f.size(MIB, Some(64 * GIB), "\"64 MiB\"")?,
        None => default.staging_memory,
    };
    let control_group = match section.get("control_group") {
        Some(f) => {
            let expected = "an OS group name";
            let name = f.str(expected)?;
            if !is_valid_os_name(name) {
                return Err(f.invalid(expected));
            }
            Some(name.to_string())
        }
        None => None,
    };
    let allow_other = match section.get("allow_other") {
        Some(f) => f.bool()?,
        None => default.allow_other,
    };
    Ok(MountSettings {
        staging_memory,
        control_group,
        allow_other,
    })
}
