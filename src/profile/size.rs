//! Byte sizes as admins write them: `"5 GiB"`, `"2 GB"`, `"500 MiB"`, `"1 TB"`, `"1024"`.
//!
//! Binary units (KiB, MiB, GiB, TiB) are powers of 1024, decimal units (KB, MB, GB, TB)
//! powers of 1000, a bare number or `B` is bytes. Units are case-insensitive, the space
//! between number and unit is optional, and a decimal fraction is allowed when the
//! result is a whole number of bytes (`"1.5 GiB"`).

use std::fmt;

const KIB: u64 = 1024;
/// One mebibyte (1024 × 1024 bytes).
pub const MIB: u64 = 1024 * KIB;
/// One gibibyte.
pub const GIB: u64 = 1024 * MIB;
const TIB: u64 = 1024 * GIB;

/// Units in the order tried when formatting; binary first so that ties prefer them.
const UNITS: [(&str, u64); 9] = [
    ("TiB", TIB),
    ("GiB", GIB),
    ("MiB", MIB),
    ("KiB", KIB),
    ("TB", 1_000_000_000_000),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("KB", 1_000),
    ("B", 1),
];

/// Why a size string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// No digits where the number should be.
    #[error("no number in size {0:?}")]
    NoNumber(String),
    /// The unit is not one of B, KB, MB, GB, TB, KiB, MiB, GiB, TiB.
    #[error("unknown unit {0:?}")]
    UnknownUnit(String),
    /// The size does not fit in 64 bits.
    #[error("size {0:?} is too large")]
    Overflow(String),
    /// The fraction does not come out as whole bytes (e.g. `"0.1 KiB"`).
    #[error("size {0:?} is not a whole number of bytes")]
    PartialByte(String),
}

/// Parses a size such as `"5 GiB"` into bytes.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit = unit.trim_start();
    let multiplier = unit_multiplier(unit).ok_or_else(|| SizeError::UnknownUnit(unit.into()))?;

    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    if whole.is_empty() || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return Err(SizeError::NoNumber(text.into()));
    }
    let overflow = || SizeError::Overflow(text.into());
    let whole: u128 = whole.parse().map_err(|_| overflow())?;
    let mut bytes = whole
        .checked_mul(u128::from(multiplier))
        .ok_or_else(overflow)?;
    if !fraction.is_empty() {
        // More than 19 fraction digits cannot matter for a u64 and would overflow 10^n.
        if fraction.len() > 19 {
            return Err(SizeError::PartialByte(text.into()));
        }
        let digits: u128 = fraction.parse().map_err(|_| overflow())?;
        let scale = 10u128.pow(fraction.len() as u32);
        let scaled = digits * u128::from(multiplier);
        if !scaled.is_multiple_of(scale) {
            return Err(SizeError::PartialByte(text.into()));
        }
        bytes += scaled / scale;
    }
    u64::try_from(bytes).map_err(|_| overflow())
}

fn unit_multiplier(unit: &str) -> Option<u64> {
    if unit.is_empty() {
        return Some(1);
    }
    UNITS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))
        .map(|&(_, m)| m)
}

/// A byte count that displays in its shortest exact unit (`2 GiB`, `2 GB`, `1500 B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0;
        if bytes == 0 {
            return f.write_str("0 B");
        }
        let mut best = (bytes, "B");
        for (name, m) in UNITS {
            if bytes.is_multiple_of(m) && bytes / m < best.0 {
                best = (bytes / m, name);
            }
        }
        write!(f, "{} {}", best.0, best.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_and_decimal_units() {
        assert_eq!(parse_size("5 GiB"), Ok(5 * GIB));
        assert_eq!(parse_size("2 GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("500 MiB"), Ok(500 * MIB));
        assert_eq!(parse_size("1 TB"), Ok(1_000_000_000_000));
        assert_eq!(parse_size("1 TiB"), Ok(TIB));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("64mib"), Ok(64 * MIB));
        assert_eq!(parse_size(" 3 kb "), Ok(3000));
        assert_eq!(parse_size("7 B"), Ok(7));
        assert_eq!(parse_size("1.5 GiB"), Ok(3 * GIB / 2));
    }

    #[test]
    fn rejects_bad_sizes() {
        assert!(matches!(parse_size("lots"), Err(SizeError::UnknownUnit(_))));
        assert!(matches!(parse_size(""), Err(SizeError::NoNumber(_))));
        assert!(matches!(
            parse_size("GiB"),
            Err(SizeError::UnknownUnit(_)) | Err(SizeError::NoNumber(_))
        ));
        assert!(matches!(
            parse_size("5 GB GB"),
            Err(SizeError::UnknownUnit(_))
        ));
        assert!(matches!(parse_size("5 G"), Err(SizeError::UnknownUnit(_))));
        assert!(matches!(
            parse_size("-5 GiB"),
            Err(SizeError::UnknownUnit(_))
        ));
        assert!(matches!(parse_size(".5 GiB"), Err(SizeError::NoNumber(_))));
        assert!(matches!(
            parse_size("1.2.3 MiB"),
            Err(SizeError::NoNumber(_))
        ));
        assert!(matches!(
            parse_size("0.1 KiB"),
            Err(SizeError::PartialByte(_))
        ));
        assert!(matches!(
            parse_size("16 EiB"),
            Err(SizeError::UnknownUnit(_))
        ));
        assert!(matches!(
            parse_size("20000000 TiB"),
            Err(SizeError::Overflow(_))
        ));
        assert!(matches!(
            parse_size("99999999999999999999999999999999999999999"),
            Err(SizeError::Overflow(_))
        ));
    }

    #[test]
    fn displays_shortest_exact_unit() {
        assert_eq!(Size(2 * GIB).to_string(), "2 GiB");
        assert_eq!(Size(2_000_000_000).to_string(), "2 GB");
        assert_eq!(Size(1_000_000_000_000).to_string(), "1 TB");
        assert_eq!(Size(1500).to_string(), "1500 B");
        assert_eq!(Size(0).to_string(), "0 B");
        assert_eq!(Size(3 * GIB / 2).to_string(), "1536 MiB");
    }

    #[test]
    fn display_round_trips() {
        for bytes in [
            1,
            999,
            1024,
            4096,
            1_000_000,
            5 * GIB,
            12_345_678_901,
            u64::MAX,
        ] {
            assert_eq!(parse_size(&Size(bytes).to_string()), Ok(bytes));
        }
    }
}
