//! Durations as admins write them: `"15m"`, `"24h"`, `"7d"`, `"1h30m"`, `"30s"`.
//!
//! Grammar: one or more `<digits><unit>` parts, unit `d`, `h`, `m` or `s`, units in
//! descending order and each at most once; spaces between parts are allowed
//! (`"1h 30m"`). Values are whole seconds.

use std::fmt;
use std::time::Duration;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing to parse.
    #[error("empty duration")]
    Empty,
    /// A part lacks its number or its unit, or the unit is not d/h/m/s.
    #[error("malformed duration {0:?}")]
    Malformed(String),
    /// Units repeat or are not in descending order (`"30m1h"`).
    #[error("units out of order in duration {0:?}")]
    Order(String),
    /// The total does not fit in 64-bit seconds.
    #[error("duration {0:?} is too large")]
    Overflow(String),
}

const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// Parses a duration such as `"1h30m"`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    let malformed = || DurationError::Malformed(text.into());
    let overflow = || DurationError::Overflow(text.into());
    let mut rest = trimmed;
    let mut total: u64 = 0;
    // Index into UNITS of the smallest unit used so far; the next must be smaller.
    let mut next_allowed = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(malformed());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| overflow())?;
        let unit = rest[digits..].chars().next().ok_or_else(malformed)?;
        let index = UNITS
            .iter()
            .position(|&(u, _)| u == unit)
            .ok_or_else(malformed)?;
        if index < next_allowed {
            return Err(DurationError::Order(text.into()));
        }
        next_allowed = index + 1;
        let seconds = number.checked_mul(UNITS[index].1).ok_or_else(overflow)?;
        total = total.checked_add(seconds).ok_or_else(overflow)?;
        rest = rest[digits + unit.len_utf8()..].trim_start();
    }
    Ok(Duration::from_secs(total))
}

/// A duration that displays canonically in whole seconds: `24h`, `7d`, `1h30m`, `0s`.
///
/// Days are used only for whole numbers of days from two days up, so the common
/// `24h` and `36h` read as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut left = self.0.as_secs();
        if left == 0 {
            return f.write_str("0s");
        }
        let days = left / 86_400;
        if days >= 2 && left.is_multiple_of(86_400) {
            return write!(f, "{days}d");
        }
        for (unit, size) in &UNITS[1..] {
            if left >= *size {
                write!(f, "{}{unit}", left / size)?;
                left %= size;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Result<Duration, DurationError> {
        Ok(Duration::from_secs(s))
    }

    #[test]
    fn parses_forms() {
        assert_eq!(parse_duration("15m"), secs(900));
        assert_eq!(parse_duration("24h"), secs(86_400));
        assert_eq!(parse_duration("7d"), secs(7 * 86_400));
        assert_eq!(parse_duration("1h30m"), secs(5_400));
        assert_eq!(parse_duration("1h 30m"), secs(5_400));
        assert_eq!(parse_duration("30s"), secs(30));
        assert_eq!(parse_duration("90m"), secs(5_400));
        assert_eq!(parse_duration("1d2h3m4s"), secs(93_784));
    }

    #[test]
    fn rejects_bad_forms() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert!(matches!(
            parse_duration("15"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration("m"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration("15x"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration("1.5h"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration("-5m"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration("15 m"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration("30m1h"),
            Err(DurationError::Order(_))
        ));
        assert!(matches!(
            parse_duration("1h1h"),
            Err(DurationError::Order(_))
        ));
        assert!(matches!(
            parse_duration("99999999999999999999d"),
            Err(DurationError::Overflow(_))
        ));
        assert!(matches!(
            parse_duration("999999999999999999d"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn displays_canonically() {
        assert_eq!(
            HumanDuration(Duration::from_secs(5_400)).to_string(),
            "1h30m"
        );
        assert_eq!(
            HumanDuration(Duration::from_secs(86_400)).to_string(),
            "24h"
        );
        assert_eq!(
            HumanDuration(Duration::from_secs(93_784)).to_string(),
            "26h3m4s"
        );
        assert_eq!(
            HumanDuration(Duration::from_secs(30 * 86_400)).to_string(),
            "30d"
        );
        assert_eq!(HumanDuration(Duration::ZERO).to_string(), "0s");
        for text in ["15m", "24h", "7d", "1h30m", "30s"] {
            let d = parse_duration(text)
                .map(HumanDuration)
                .map(|h| h.to_string());
            assert_eq!(d.as_deref(), Ok(text));
        }
    }
}
