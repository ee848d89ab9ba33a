use chrono::{DateTime, Datelike, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use super::{any_missed, earliest_next_run};
use crate::profile::schedule::Schedule;

const TOKYO: Tz = chrono_tz::Asia::Tokyo;
const UTC: Tz = chrono_tz::UTC;
const NEW_YORK: Tz = chrono_tz::America::New_York;
const KOLKATA: Tz = chrono_tz::Asia::Kolkata;

fn s(text: &str) -> Schedule {
    Schedule::parse(text).unwrap()
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

/// An unambiguous local time in `tz`, as UTC.
fn local(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .unwrap()
        .to_utc()
}

fn next(text: &str, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    s(text).next_after(after, tz)
}

#[test]
fn daily_in_utc_is_strictly_after() {
    assert_eq!(
        next("daily 02:00", utc(2026, 3, 10, 1, 0), UTC),
        Some(utc(2026, 3, 10, 2, 0))
    );
    assert_eq!(
        next("daily 02:00", utc(2026, 3, 10, 2, 0), UTC),
        Some(utc(2026, 3, 11, 2, 0))
    );
    assert_eq!(
        next("daily 02:00", utc(2026, 12, 31, 3, 0), UTC),
        Some(utc(2027, 1, 1, 2, 0))
    );
}

#[test]
fn daily_in_tokyo_uses_local_time() {
    // 2026-03-10 00:00Z is 09:00 JST, so today's 02:00 JST has passed.
    let got = next("daily 02:00", utc(2026, 3, 10, 0, 0), TOKYO);
    assert_eq!(got, Some(utc(2026, 3, 10, 17, 0)));
    assert_eq!(got, Some(local(TOKYO, 2026, 3, 11, 2, 0)));
    // 2026-03-09 16:30Z is 01:30 JST on the 10th.
    assert_eq!(
        next("daily 02:00", utc(2026, 3, 9, 16, 30), TOKYO),
        Some(utc(2026, 3, 9, 17, 0))
    );
}

#[test]
fn weekdays_wrap_across_weeks() {
    let friday_late = local(TOKYO, 2026, 3, 13, 23, 0);
    assert_eq!(friday_late.with_timezone(&TOKYO).weekday(), Weekday::Fri);
    let got = next("weekdays mon,wed,fri 22:00", friday_late, TOKYO);
    assert_eq!(got, Some(local(TOKYO, 2026, 3, 16, 22, 0)));
    assert_eq!(got.unwrap().with_timezone(&TOKYO).weekday(), Weekday::Mon);
    // Monday's run done: Wednesday next.
    let got = next(
        "weekdays mon,wed,fri 22:00",
        local(TOKYO, 2026, 3, 16, 22, 0),
        TOKYO,
    );
    assert_eq!(got, Some(local(TOKYO, 2026, 3, 18, 22, 0)));
    // Sunday-only list from a Monday: six days ahead.
    let got = next("weekdays sun 08:00", utc(2026, 3, 16, 0, 0), UTC);
    assert_eq!(got, Some(utc(2026, 3, 22, 8, 0)));
}

#[test]
fn weekly_runs_once_a_week() {
    let got = next("weekly sun 03:00", utc(2026, 3, 15, 3, 0), UTC);
    assert_eq!(got, Some(utc(2026, 3, 22, 3, 0)));
    let got = next("weekly sun 03:00", utc(2026, 3, 15, 2, 59), UTC);
    assert_eq!(got, Some(utc(2026, 3, 15, 3, 0)));
    // 03:00 JST Sunday is 18:00Z Saturday.
    let got = next("weekly sun 03:00", utc(2026, 3, 14, 0, 0), TOKYO);
    assert_eq!(got, Some(utc(2026, 3, 14, 18, 0)));
}

#[test]
fn monthly_day_clamps_to_month_end() {
    // 31st in a 30-day month runs on the 30th.
    assert_eq!(
        next("monthly 31 03:00", utc(2026, 4, 1, 0, 0), UTC),
        Some(utc(2026, 4, 30, 3, 0))
    );
    // February, common and leap years.
    assert_eq!(
        next("monthly 31 03:00", utc(2026, 2, 1, 0, 0), UTC),
        Some(utc(2026, 2, 28, 3, 0))
    );
    assert_eq!(
        next("monthly 31 03:00", utc(2028, 2, 1, 0, 0), UTC),
        Some(utc(2028, 2, 29, 3, 0))
    );
    assert_eq!(
        next("monthly 30 03:00", utc(2028, 2, 1, 0, 0), UTC),
        Some(utc(2028, 2, 29, 3, 0))
    );
    assert_eq!(
        next("monthly 29 03:00", utc(2027, 2, 1, 0, 0), UTC),
        Some(utc(2027, 2, 28, 3, 0))
    );
    assert_eq!(
        next("monthly 29 03:00", utc(2028, 2, 1, 0, 0), UTC),
        Some(utc(2028, 2, 29, 3, 0))
    );
    // After the clamped run, the next one is on the real day again.
    assert_eq!(
        next("monthly 31 03:00", utc(2026, 2, 28, 3, 0), UTC),
        Some(utc(2026, 3, 31, 3, 0))
    );
    // Day 1 across a year end, in Tokyo.
    assert_eq!(
        next("monthly 1 03:00", local(TOKYO, 2026, 12, 1, 3, 0), TOKYO),
        Some(local(TOKYO, 2027, 1, 1, 3, 0))
    );
}

#[test]
fn monthly_last_and_leap_years() {
    assert_eq!(
        next("monthly last 03:00", utc(2028, 2, 1, 0, 0), UTC),
        Some(utc(2028, 2, 29, 3, 0))
    );
    assert_eq!(
        next("monthly last 03:00", utc(2026, 2, 1, 0, 0), UTC),
        Some(utc(2026, 2, 28, 3, 0))
    );
    assert_eq!(
        next("monthly last 03:00", utc(2028, 2, 29, 3, 0), UTC),
        Some(utc(2028, 3, 31, 3, 0))
    );
    assert_eq!(
        next("monthly last 03:00", utc(2026, 4, 2, 0, 0), UTC),
        Some(utc(2026, 4, 30, 3, 0))
    );
    assert_eq!(
        next("monthly last 23:30", utc(2026, 12, 31, 23, 30), UTC),
        Some(utc(2027, 1, 31, 23, 30))
    );
    // 2100 is not a leap year.
    assert_eq!(
        next("monthly last 03:00", utc(2100, 2, 1, 0, 0), UTC),
        Some(utc(2100, 2, 28, 3, 0))
    );
    assert_eq!(
        next("monthly last 03:00", local(TOKYO, 2028, 2, 28, 4, 0), TOKYO),
        Some(local(TOKYO, 2028, 2, 29, 3, 0))
    );
}

#[test]
fn once_runs_once() {
    let at = local(TOKYO, 2026, 12, 24, 1, 0);
    assert_eq!(
        next("once 2026-12-24 01:00", utc(2026, 1, 1, 0, 0), TOKYO),
        Some(at)
    );
    assert_eq!(next("once 2026-12-24 01:00", at, TOKYO), None);
    assert_eq!(
        next("once 2026-12-24 01:00", utc(2027, 1, 1, 0, 0), TOKYO),
        None
    );
    assert_eq!(
        next("once 2028-02-29 00:00", utc(2028, 1, 1, 0, 0), UTC),
        Some(utc(2028, 2, 29, 0, 0))
    );
}

#[test]
fn every_15m_is_aligned_to_the_hour() {
    assert_eq!(
        next("every 15m", utc(2026, 3, 10, 10, 7), UTC),
        Some(utc(2026, 3, 10, 10, 15))
    );
    assert_eq!(
        next("every 15m", utc(2026, 3, 10, 10, 15), UTC),
        Some(utc(2026, 3, 10, 10, 30))
    );
    assert_eq!(
        next("every 15m", utc(2026, 3, 10, 23, 50), UTC),
        Some(utc(2026, 3, 11, 0, 0))
    );
    let after = utc(2026, 3, 10, 10, 7) + chrono::TimeDelta::seconds(30);
    assert_eq!(
        next("every 15m", after, UTC),
        Some(utc(2026, 3, 10, 10, 15))
    );
    assert_eq!(
        next("every 15m", local(TOKYO, 2026, 3, 10, 10, 7), TOKYO),
        Some(local(TOKYO, 2026, 3, 10, 10, 15))
    );
}

#[test]
fn every_aligns_to_local_not_utc_hours() {
    // Kolkata is UTC+05:30: local hours fall on UTC half hours.
    let got = next("every 1h", utc(2026, 3, 10, 4, 0), KOLKATA);
    assert_eq!(got, Some(utc(2026, 3, 10, 4, 30)));
    assert_eq!(got, Some(local(KOLKATA, 2026, 3, 10, 10, 0)));
}

#[test]
fn every_restarts_at_local_midnight() {
    assert_eq!(
        next("every 7h", utc(2026, 3, 10, 14, 0), UTC),
        Some(utc(2026, 3, 10, 21, 0))
    );
    assert_eq!(
        next("every 7h", utc(2026, 3, 10, 21, 0), UTC),
        Some(utc(2026, 3, 11, 0, 0))
    );
    assert_eq!(
        next("every 24h", utc(2026, 3, 10, 0, 0), UTC),
        Some(utc(2026, 3, 11, 0, 0))
    );
    assert_eq!(
        next("every 90m", utc(2026, 3, 10, 1, 0), UTC),
        Some(utc(2026, 3, 10, 1, 30))
    );
}

#[test]
fn dst_gap_runs_when_the_clocks_jump() {
    // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00Z).
    let got = next("daily 02:30", utc(2026, 3, 8, 0, 0), NEW_YORK);
    assert_eq!(got, Some(utc(2026, 3, 8, 7, 0)));
    // The next day is normal again (02:30 EDT = 06:30Z).
    assert_eq!(
        next("daily 02:30", utc(2026, 3, 8, 7, 0), NEW_YORK),
        Some(utc(2026, 3, 9, 6, 30))
    );
    // every 15m: the missing quarter hours collapse into one run at 03:00 EDT.
    let after_last_est = local(NEW_YORK, 2026, 3, 8, 1, 45);
    assert_eq!(
        next("every 15m", after_last_est, NEW_YORK),
        Some(utc(2026, 3, 8, 7, 0))
    );
    assert_eq!(
        next("every 15m", utc(2026, 3, 8, 7, 0), NEW_YORK),
        Some(utc(2026, 3, 8, 7, 15))
    );
}

#[test]
fn dst_overlap_runs_wall_clock_schedules_once_and_intervals_twice() {
    // New York, 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens at
    // 05:30Z (EDT) and 06:30Z (EST).
    let got = next("daily 01:30", utc(2026, 11, 1, 0, 0), NEW_YORK);
    assert_eq!(got, Some(utc(2026, 11, 1, 5, 30)));
    let got = next("daily 01:30", utc(2026, 11, 1, 5, 30), NEW_YORK);
    assert_eq!(got, Some(utc(2026, 11, 2, 6, 30)));
    // every 30m keeps its interval through the repeated hour.
    let mut t = utc(2026, 11, 1, 4, 59);
    let mut runs = Vec::new();
    for _ in 0..6 {
        t = next("every 30m", t, NEW_YORK).unwrap();
        runs.push(t);
    }
    let want: Vec<_> = (0..6)
        .map(|i| utc(2026, 11, 1, 5, 0) + chrono::TimeDelta::minutes(30 * i))
        .collect();
    assert_eq!(runs, want);
}

#[test]
fn missed_runs_are_caught_up() {
    let daily = s("daily 02:00");
    let last = Some(utc(2026, 3, 9, 2, 0));
    assert!(!daily.missed(last, utc(2026, 3, 10, 1, 59), UTC));
    assert!(
        daily.missed(last, utc(2026, 3, 10, 2, 0), UTC),
        "due exactly now counts"
    );
    assert!(daily.missed(last, utc(2026, 3, 12, 9, 0), UTC));
    // Clock went backwards: nothing is owed.
    assert!(!daily.missed(Some(utc(2026, 3, 12, 0, 0)), utc(2026, 3, 11, 0, 0), UTC));
    // Tokyo: off from 01:00 to 03:00 JST skipped the 02:00 JST run.
    let last = Some(local(TOKYO, 2026, 3, 9, 2, 0));
    assert!(daily.missed(last, local(TOKYO, 2026, 3, 10, 3, 0), TOKYO));
    assert!(!daily.missed(last, local(TOKYO, 2026, 3, 10, 1, 0), TOKYO));
}

#[test]
fn missed_without_history_looks_back_24_hours() {
    let now = utc(2026, 3, 10, 3, 0);
    assert!(s("daily 02:00").missed(None, now, UTC));
    // Yesterday's 04:00 is inside the 24-hour window too: a daily schedule with no
    // history always catches up once.
    assert!(s("daily 04:00").missed(None, now, UTC));
    // 2026-03-10 is a Tuesday; a Sunday run is more than a day ago.
    assert!(!s("weekly sun 03:00").missed(None, now, UTC));
    assert!(!s("once 2026-01-01 00:00").missed(None, now, UTC));
    assert!(s("once 2026-01-01 00:00").missed(Some(utc(2025, 12, 31, 0, 0)), now, UTC));
    assert!(!s("once 2026-01-01 00:00").missed(Some(utc(2026, 1, 1, 0, 0)), now, UTC));
}

#[test]
fn earliest_over_several_schedules() {
    let list = [
        s("weekly sun 03:00"),
        s("daily 02:00"),
        s("once 2026-03-10 01:00"),
    ];
    let after = utc(2026, 3, 10, 0, 0);
    assert_eq!(
        earliest_next_run(&list, after, UTC),
        Some(utc(2026, 3, 10, 1, 0))
    );
    assert_eq!(
        earliest_next_run(&list, utc(2026, 3, 10, 1, 0), UTC),
        Some(utc(2026, 3, 10, 2, 0))
    );
    assert_eq!(earliest_next_run(&[], after, UTC), None);
    assert_eq!(
        earliest_next_run(&[s("once 2020-01-01 00:00")], after, UTC),
        None
    );
    assert!(any_missed(
        &list,
        Some(utc(2026, 3, 9, 2, 0)),
        utc(2026, 3, 10, 2, 30),
        UTC
    ));
    assert!(!any_missed(
        &list,
        Some(utc(2026, 3, 10, 2, 0)),
        utc(2026, 3, 10, 2, 30),
        UTC
    ));
    assert!(!any_missed(&[], None, after, UTC));
}
