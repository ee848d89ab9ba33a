//! From TOML text to a validated [`Profile`]: syntax errors with line and column, then
//! the top-level keys in documentation order.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use toml::Table;

use super::error::ProfileError;
use super::names::{is_valid_name, is_valid_os_name, parse_drive};
use super::reader::{Ctx, Section};
use super::remote::read_remotes;
use super::schedule::{SCHEDULE_EXAMPLES, Schedule};
use super::settings::{
    KDF_KEYS, MOUNT_KEYS, REPOSITORY_KEYS, RETENTION_KEYS, read_kdf, read_mount, read_repository,
    read_retention,
};
use super::size::MIB;
use super::timezone::{TimezoneSource, system_timezone};
use super::{DEFAULT_UNLOCK_TTL, Profile};

/// Top-level keys, in documentation order (also the order of checks).
pub(crate) const TOP_KEYS: &[&str] = &[
    "name",
    "store",
    "mountpoint",
    "drive",
    "quota",
    "unlock_ttl",
    "readers",
    "sources",
    "schedule",
    "timezone",
    "remote",
    "retention",
    "kdf",
    "repository",
    "mount",
];

const DIRECTORY: &str = "a directory path";

pub(crate) fn parse(text: &str, origin: &Path) -> Result<Profile, ProfileError> {
    let table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| syntax_error(text, origin, &e))?;
    let ctx = Ctx::new(origin);
    let root = ctx.root(&table, TOP_KEYS)?;

    let name_expected =
        "a vault name of 1 to 63 characters a-z, 0-9 and '-', starting with a letter or digit";
    let name_field = root.require("name", name_expected)?;
    let name = name_field.str(name_expected)?;
    if !is_valid_name(name) {
        return Err(name_field.invalid(name_expected));
    }

    let store = root.require("store", DIRECTORY)?.path(DIRECTORY)?;
    let mountpoint = match root.get("mountpoint") {
        Some(f) => {
            let mountpoint = f.path(DIRECTORY)?;
            if overlaps(&mountpoint, &store) {
                return Err(f.invalid("a directory outside `store` that does not contain it"));
            }
            Some(mountpoint)
        }
        None => None,
    };
    let drive = match root.get("drive") {
        Some(f) => {
            let expected = "a drive letter like \"V:\"";
            Some(parse_drive(f.str(expected)?).ok_or_else(|| f.invalid(expected))?)
        }
        None => None,
    };
    let quota = root
        .get("quota")
        .map(|f| f.size(MIB, None, "\"5 GiB\", \"500 MiB\" or \"2 GB\""))
        .transpose()?;
    let unlock_ttl = match root.get("unlock_ttl") {
        Some(f) => f.duration(
            Duration::from_secs(60),
            Duration::from_secs(30 * 86_400),
            "\"15m\", \"24h\", \"7d\" or \"1h30m\"",
        )?,
        None => DEFAULT_UNLOCK_TTL,
    };

    let readers = read_readers(&root)?;
    let sources = match root.get("sources") {
        Some(f) => f
            .array("an array of directory paths")?
            .iter()
            .map(|item| item.path(DIRECTORY))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let schedule = read_schedules(&root)?;

    let (timezone, timezone_source) = match root.get("timezone") {
        Some(f) => {
            let expected = "an IANA time zone name like \"Asia/Tokyo\" or \"UTC\"";
            let tz: Tz = f.str(expected)?.parse().map_err(|_| f.invalid(expected))?;
            (tz, TimezoneSource::Profile)
        }
        None => system_timezone(),
    };

    let remotes = match root.get("remote") {
        Some(f) => read_remotes(&f)?,
        None => Vec::new(),
    };
    let retention = match root.get("retention") {
        Some(f) => read_retention(&f.table(RETENTION_KEYS)?)?,
        None => Default::default(),
    };
    let kdf = match root.get("kdf") {
        Some(f) => read_kdf(&f.table(KDF_KEYS)?)?,
        None => Default::default(),
    };
    let repository = match root.get("repository") {
        Some(f) => read_repository(&f.table(REPOSITORY_KEYS)?)?,
        None => Default::default(),
    };
    let mount = match root.get("mount") {
        Some(f) => read_mount(&f.table(MOUNT_KEYS)?)?,
        None => Default::default(),
    };

    Ok(Profile {
        origin: origin.to_path_buf(),
        name: name.to_string(),
        store,
        mountpoint,
        drive,
        quota,
        unlock_ttl,
        readers,
        sources,
        schedule,
        timezone,
        timezone_source,
        remotes,
        retention,
        kdf,
        repository,
        mount,
    })
}

fn read_readers(root: &Section<'_>) -> Result<Vec<String>, ProfileError> {
    let Some(field) = root.get("readers") else {
        return Ok(Vec::new());
    };
    let mut readers = Vec::new();
    let mut first_use: HashMap<&str, String> = HashMap::new();
    for item in field.array("an array of OS user names")? {
        let expected = "an OS user name";
        let user = item.str(expected)?;
        if !is_valid_os_name(user) {
            return Err(item.invalid(expected));
        }
        if let Some(first) = first_use.get(user) {
            return Err(item.duplicate(first));
        }
        first_use.insert(user, item.key.clone());
        readers.push(user.to_string());
    }
    Ok(readers)
}

fn read_schedules(root: &Section<'_>) -> Result<Vec<Schedule>, ProfileError> {
    let Some(field) = root.get("schedule") else {
        return Ok(Vec::new());
    };
    let expected = format!("a schedule like {SCHEDULE_EXAMPLES}");
    field
        .array("an array of schedules like [\"daily 02:00\", \"every 15m\"]")?
        .iter()
        .map(|item| {
            let text = item.str(&expected)?;
            Schedule::parse(text).map_err(|_| item.invalid(&expected))
        })
        .collect()
}

/// True when one path equals or contains the other (component-wise, after removing
/// `.` components; `..` is compared literally).
fn overlaps(a: &Path, b: &Path) -> bool {
    let clean =
        |p: &Path| -> PathBuf { p.components().filter(|c| *c != Component::CurDir).collect() };
    let (a, b) = (clean(a), clean(b));
    a.starts_with(&b) || b.starts_with(&a)
}

/// `{file}: line L, column C: {first line of the parser's message}`.
fn syntax_error(text: &str, origin: &Path, error: &toml::de::Error) -> ProfileError {
    let mut offset = error.span().map_or(0, |s| s.start).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let message = error
        .message()
        .lines()
        .next()
        .unwrap_or("invalid TOML")
        .trim()
        .to_string();
    ProfileError::Syntax {
        file: origin.to_path_buf(),
        line,
        column,
        message,
    }
}
