//! Windows FILETIME ↔ the vault's Unix nanoseconds.
//!
//! A FILETIME counts 100 ns ticks since 1601-01-01 UTC; the vault stores
//! nanoseconds since 1970-01-01 UTC in an `i64` (1677–2262). Converting to
//! FILETIME loses the last two decimal digits of the nanoseconds, and rounds
//! down (towards the past) so that a time before 1970 does not move forward.

/// FILETIME ticks between 1601-01-01 and 1970-01-01 (369 years, 89 of them leap).
pub const UNIX_EPOCH_TICKS: u64 = 116_444_736_000_000_000;

/// Nanoseconds per FILETIME tick.
const NS_PER_TICK: i64 = 100;

/// The FILETIME of `ns` nanoseconds since the Unix epoch.
pub fn filetime_from_unix_ns(ns: i64) -> u64 {
    // The earliest i64 time (1677) is still after 1601, so the sum stays positive.
    let ticks = ns.div_euclid(NS_PER_TICK) as i128 + UNIX_EPOCH_TICKS as i128;
    ticks.clamp(0, u64::MAX as i128) as u64
}

/// Unix nanoseconds of a FILETIME, clamped to what an `i64` holds (a FILETIME
/// can say year 30828; the vault's clock ends in 2262).
pub fn unix_ns_from_filetime(ft: u64) -> i64 {
    let ns = (ft as i128 - UNIX_EPOCH_TICKS as i128) * NS_PER_TICK as i128;
    ns.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// The time a `SetFileInformation` (WinFsp `set_basic_info`) asks for: `None` when
/// the field means "leave as is" — 0 (not given) or `u64::MAX` (-1: stop updating
/// this time for the rest of the handle's life, which the vault does not track).
pub fn requested_time(ft: u64) -> Option<i64> {
    match ft {
        0 | u64::MAX => None,
        ft => Some(unix_ns_from_filetime(ft)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unix_epoch_is_the_documented_filetime() {
        assert_eq!(filetime_from_unix_ns(0), UNIX_EPOCH_TICKS);
        assert_eq!(unix_ns_from_filetime(UNIX_EPOCH_TICKS), 0);
        // 11644473600 s between the epochs, as the Windows documentation states.
        assert_eq!(UNIX_EPOCH_TICKS, 11_644_473_600 * 10_000_000);
    }

    #[test]
    fn a_known_date_converts_both_ways() {
        // 2024-01-01T00:00:00Z = 1704067200 s; its FILETIME is 133485408000000000.
        let ns = 1_704_067_200_000_000_000i64;
        assert_eq!(filetime_from_unix_ns(ns), 133_485_408_000_000_000);
        assert_eq!(unix_ns_from_filetime(133_485_408_000_000_000), ns);
    }

    #[test]
    fn sub_tick_nanoseconds_round_down_also_before_1970() {
        assert_eq!(filetime_from_unix_ns(199), UNIX_EPOCH_TICKS + 1);
        assert_eq!(filetime_from_unix_ns(-1), UNIX_EPOCH_TICKS - 1);
        assert_eq!(filetime_from_unix_ns(-100), UNIX_EPOCH_TICKS - 1);
        assert_eq!(filetime_from_unix_ns(-101), UNIX_EPOCH_TICKS - 2);
    }

    #[test]
    fn round_trip_keeps_whole_ticks() {
        for ns in [
            0i64,
            1_700_000_000_123_456_700,
            -86_400_000_000_000,
            i64::MIN / 100 * 100,
            i64::MAX / 100 * 100,
        ] {
            assert_eq!(unix_ns_from_filetime(filetime_from_unix_ns(ns)), ns, "{ns}");
        }
    }

    #[test]
    fn out_of_range_filetimes_clamp() {
        assert_eq!(unix_ns_from_filetime(u64::MAX - 1), i64::MAX);
        assert_eq!(unix_ns_from_filetime(1), i64::MIN);
        assert_eq!(
            filetime_from_unix_ns(i64::MIN),
            UNIX_EPOCH_TICKS - 92_233_720_368_547_759
        );
    }

    #[test]
    fn zero_and_minus_one_mean_leave_unchanged() {
        assert_eq!(requested_time(0), None);
        assert_eq!(requested_time(u64::MAX), None);
        assert_eq!(requested_time(UNIX_EPOCH_TICKS + 10), Some(1000));
    }
}
