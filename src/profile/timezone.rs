//! The profile's time zone: an explicit IANA name, else the system's local zone.
//!
//! The system zone is found, in order, from the `TZ` environment variable (an IANA
//! name, optionally with a leading `:` or as a path into a `zoneinfo` directory), the
//! target of the `/etc/localtime` symlink, or the contents of `/etc/timezone`. POSIX
//! rule strings such as `TZ=JST-9` are not IANA names and are skipped. When nothing
//! yields a known zone, UTC is used.

use std::fmt;
use std::path::Path;

use chrono_tz::Tz;

/// Where a profile's time zone came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimezoneSource {
    /// The profile's `timezone` key.
    Profile,
    /// The `TZ` environment variable.
    TzVariable,
    /// `/etc/localtime` or `/etc/timezone`.
    SystemConfig,
    /// Nothing usable was found; UTC.
    Fallback,
}

impl fmt::Display for TimezoneSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimezoneSource::Profile => "from the profile",
            TimezoneSource::TzVariable => "from TZ",
            TimezoneSource::SystemConfig => "system default",
            TimezoneSource::Fallback => "no system zone found",
        })
    }
}

/// The system's local time zone and where it was found.
pub fn system_timezone() -> (Tz, TimezoneSource) {
    if let Some(tz) = std::env::var("TZ")
        .ok()
        .as_deref()
        .and_then(zone_from_tz_variable)
    {
        return (tz, TimezoneSource::TzVariable);
    }
    let localtime = std::fs::read_link("/etc/localtime").ok();
    if let Some(tz) = localtime.as_deref().and_then(zone_from_zoneinfo_path) {
        return (tz, TimezoneSource::SystemConfig);
    }
    let etc_timezone = std::fs::read_to_string("/etc/timezone").ok();
    if let Some(tz) = etc_timezone.as_deref().and_then(|s| s.trim().parse().ok()) {
        return (tz, TimezoneSource::SystemConfig);
    }
    (Tz::UTC, TimezoneSource::Fallback)
}

/// Parses `TZ` values: `Asia/Tokyo`, `:Asia/Tokyo`, `/usr/share/zoneinfo/Asia/Tokyo`.
pub fn zone_from_tz_variable(value: &str) -> Option<Tz> {
    let value = value.strip_prefix(':').unwrap_or(value);
    if value.contains("zoneinfo/") {
        return zone_from_zoneinfo_path(Path::new(value));
    }
    value.parse().ok()
}

/// The zone named by a path into a zoneinfo tree, e.g. the `/etc/localtime` target
/// `../usr/share/zoneinfo/Asia/Tokyo` (also under `posix/` or `right/`).
pub fn zone_from_zoneinfo_path(path: &Path) -> Option<Tz> {
    let text = path.to_str()?;
    let (_, name) = text.rsplit_once("zoneinfo/")?;
    let name = name
        .strip_prefix("posix/")
        .or_else(|| name.strip_prefix("right/"))
        .unwrap_or(name);
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tz_variable_forms() {
        assert_eq!(
            zone_from_tz_variable("Asia/Tokyo"),
            Some(chrono_tz::Asia::Tokyo)
        );
        assert_eq!(
            zone_from_tz_variable(":Asia/Tokyo"),
            Some(chrono_tz::Asia::Tokyo)
        );
        assert_eq!(
            zone_from_tz_variable("/usr/share/zoneinfo/Europe/Paris"),
            Some(chrono_tz::Europe::Paris)
        );
        assert_eq!(zone_from_tz_variable("UTC"), Some(chrono_tz::UTC));
        assert_eq!(zone_from_tz_variable("JST-9"), None);
        assert_eq!(zone_from_tz_variable(""), None);
    }

    #[test]
    fn reads_localtime_link_targets() {
        let cases = [
            (
                "/usr/share/zoneinfo/Asia/Tokyo",
                Some(chrono_tz::Asia::Tokyo),
            ),
            (
                "../usr/share/zoneinfo/America/New_York",
                Some(chrono_tz::America::New_York),
            ),
            (
                "/usr/share/zoneinfo/posix/Asia/Tokyo",
                Some(chrono_tz::Asia::Tokyo),
            ),
            (
                "/var/db/timezone/zoneinfo/Etc/UTC",
                Some(chrono_tz::Etc::UTC),
            ),
            ("/etc/localtime", None),
            ("/usr/share/zoneinfo/Not/AZone", None),
        ];
        for (path, want) in cases {
            assert_eq!(zone_from_zoneinfo_path(Path::new(path)), want, "{path}");
        }
    }
}
