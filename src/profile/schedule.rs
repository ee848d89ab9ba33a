//! The schedule grammar (SPEC §7) and its canonical text form.
//!
//! ```text
//! once YYYY-MM-DD HH:MM          one run at that local date and time
//! daily HH:MM                    every day
//! weekdays mon,wed,fri HH:MM     on the listed days of the week
//! weekly sun HH:MM               once a week
//! monthly D HH:MM                on day D (1..=31) of every month; in months without
//!                                day D (e.g. 31 in April, 30 in February) the run is
//!                                on the month's last day, so no month is skipped
//! monthly last HH:MM             on the last day of every month
//! every Nm | every Nh            every N minutes (1..=1440) or hours (1..=24)
//! ```
//!
//! Keywords and weekday names are case-insensitive (`Mon` and `monday` are accepted,
//! `mon` is canonical); words are separated by any whitespace; weekday lists may contain
//! spaces after commas. Times are `H:MM` or `HH:MM`, 00:00..=23:59, in the profile's time
//! zone. [`Schedule`]'s `Display` writes the canonical form, which parses back to the
//! same value. When runs fall due is in `occurrence.rs`.

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike, Weekday, WeekdaySet};

/// Example forms, used in error messages.
pub const SCHEDULE_EXAMPLES: &str = "\"daily 02:00\", \"weekdays mon,wed 22:00\", \"weekly sun 03:00\", \"monthly 1 03:00\", \"monthly last 03:00\", \"every 15m\", \"once 2026-12-24 01:00\"";

/// When a remote sync runs. Times are wall-clock times in the profile's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Schedule {
    /// A single run at a local date and time.
    Once(NaiveDateTime),
    /// Every day at a local time.
    Daily(NaiveTime),
    /// On the given days of the week (never empty) at a local time.
    Weekdays(WeekdaySet, NaiveTime),
    /// On one day of the week at a local time.
    Weekly(Weekday, NaiveTime),
    /// On one day of each month at a local time.
    Monthly(DayOfMonth, NaiveTime),
    /// At a fixed interval, aligned to local midnight (see `occurrence.rs`).
    Every(Interval),
}

/// The day of a `monthly` schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayOfMonth {
    /// Day 1..=31; clamped to the month's last day in shorter months.
    Day(u8),
    /// The month's last day.
    Last,
}

/// The period of an `every` schedule, kept in the unit it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interval {
    /// `every Nm`, N in 1..=1440.
    Minutes(u32),
    /// `every Nh`, N in 1..=24.
    Hours(u32),
}

impl Interval {
    /// The period in minutes.
    pub fn minutes(self) -> u32 {
        match self {
            Interval::Minutes(n) => n,
            Interval::Hours(n) => n * 60,
        }
    }
}

/// Why a schedule string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The string is blank.
    #[error("empty schedule")]
    Empty,
    /// The first word is not once/daily/weekdays/weekly/monthly/every.
    #[error("unknown schedule kind {0:?}")]
    UnknownKind(String),
    /// The right keyword with the wrong number of words after it.
    #[error("wrong form; expected {0}")]
    Form(&'static str),
    /// Not an `HH:MM` time from 00:00 to 23:59.
    #[error("bad time {0:?}: expected HH:MM from 00:00 to 23:59")]
    Time(String),
    /// Not a valid `YYYY-MM-DD` date.
    #[error("bad date {0:?}: expected YYYY-MM-DD")]
    Date(String),
    /// Not a day of the week.
    #[error("bad weekday {0:?}: expected mon, tue, wed, thu, fri, sat or sun")]
    Weekday(String),
    /// A weekday appears twice in a `weekdays` list.
    #[error("weekday {0:?} listed twice")]
    DuplicateWeekday(String),
    /// Not 1..=31 or `last`.
    #[error("bad day of month {0:?}: expected 1 to 31 or last")]
    DayOfMonth(String),
    /// Not `Nm` (1..=1440) or `Nh` (1..=24).
    #[error("bad interval {0:?}: expected Nm (1 to 1440) or Nh (1 to 24)")]
    Interval(String),
}

impl Schedule {
    /// Parses one schedule string, e.g. `"weekdays mon,wed,fri 22:00"`.
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let Some((kind, args)) = words.split_first() else {
            return Err(ScheduleError::Empty);
        };
        match kind.to_ascii_lowercase().as_str() {
            "once" => match args {
                [date, time] => Ok(Schedule::Once(
                    parse_date(date)?.and_time(parse_time(time)?),
                )),
                _ => Err(ScheduleError::Form("once YYYY-MM-DD HH:MM")),
            },
            "daily" => match args {
                [time] => Ok(Schedule::Daily(parse_time(time)?)),
                _ => Err(ScheduleError::Form("daily HH:MM")),
            },
            "weekdays" => match args {
                [days @ .., time] if !days.is_empty() => Ok(Schedule::Weekdays(
                    parse_weekday_list(&days.concat())?,
                    parse_time(time)?,
                )),
                _ => Err(ScheduleError::Form("weekdays mon,wed,fri HH:MM")),
            },
            "weekly" => match args {
                [day, time] => Ok(Schedule::Weekly(parse_weekday(day)?, parse_time(time)?)),
                _ => Err(ScheduleError::Form("weekly sun HH:MM")),
            },
            "monthly" => match args {
                [day, time] => Ok(Schedule::Monthly(
                    parse_day_of_month(day)?,
                    parse_time(time)?,
                )),
                _ => Err(ScheduleError::Form("monthly D HH:MM or monthly last HH:MM")),
            },
            "every" => match args {
                [interval] => Ok(Schedule::Every(parse_interval(interval)?)),
                _ => Err(ScheduleError::Form("every Nm or every Nh")),
            },
            _ => Err(ScheduleError::UnknownKind((*kind).into())),
        }
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Schedule::parse(s)
    }
}

fn parse_time(word: &str) -> Result<NaiveTime, ScheduleError> {
    let bad = || ScheduleError::Time(word.into());
    let (h, m) = word.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !(1..=2).contains(&h.len()) || m.len() != 2 || !digits(h) || !digits(m) {
        return Err(bad());
    }
    let hour = h.parse().map_err(|_| bad())?;
    let minute = m.parse().map_err(|_| bad())?;
    NaiveTime::from_hms_opt(hour, minute, 0).ok_or_else(bad)
}

fn parse_date(word: &str) -> Result<NaiveDate, ScheduleError> {
    let bad = || ScheduleError::Date(word.into());
    let parts: Vec<&str> = word.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let well_formed = [(y, 4), (m, 2), (d, 2)]
        .iter()
        .all(|(s, len)| s.len() == *len && s.bytes().all(|b| b.is_ascii_digit()));
    if !well_formed {
        return Err(bad());
    }
    let year = y.parse().map_err(|_| bad())?;
    let month = m.parse().map_err(|_| bad())?;
    let day = d.parse().map_err(|_| bad())?;
    NaiveDate::from_ymd_opt(year, month, day).ok_or_else(bad)
}

fn parse_weekday(word: &str) -> Result<Weekday, ScheduleError> {
    word.parse()
        .map_err(|_| ScheduleError::Weekday(word.into()))
}

fn parse_weekday_list(list: &str) -> Result<WeekdaySet, ScheduleError> {
    let mut set = WeekdaySet::EMPTY;
    for word in list.split(',') {
        if !set.insert(parse_weekday(word)?) {
            return Err(ScheduleError::DuplicateWeekday(word.into()));
        }
    }
    Ok(set)
}

fn parse_day_of_month(word: &str) -> Result<DayOfMonth, ScheduleError> {
    if word.eq_ignore_ascii_case("last") {
        return Ok(DayOfMonth::Last);
    }
    let bad = || ScheduleError::DayOfMonth(word.into());
    if word.is_empty() || word.len() > 2 || !word.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match word.parse::<u8>() {
        Ok(day @ 1..=31) => Ok(DayOfMonth::Day(day)),
        _ => Err(bad()),
    }
}

fn parse_interval(word: &str) -> Result<Interval, ScheduleError> {
    let bad = || ScheduleError::Interval(word.into());
    let split = word.len().checked_sub(1).ok_or_else(bad)?;
    if !word.is_char_boundary(split) {
        return Err(bad());
    }
    let (number, unit) = word.split_at(split);
    if number.is_empty() || number.len() > 4 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u32 = number.parse().map_err(|_| bad())?;
    match unit {
        "m" | "M" if (1..=1440).contains(&n) => Ok(Interval::Minutes(n)),
        "h" | "H" if (1..=24).contains(&n) => Ok(Interval::Hours(n)),
        _ => Err(bad()),
    }
}

/// Lower-case three-letter weekday name (`mon`).
pub(crate) fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

struct Hm(NaiveTime);

impl fmt::Display for Hm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0.hour(), self.0.minute())
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Schedule::Once(at) => {
                write!(f, "once {} {}", at.date().format("%Y-%m-%d"), Hm(at.time()))
            }
            Schedule::Daily(t) => write!(f, "daily {}", Hm(t)),
            Schedule::Weekdays(days, t) => {
                let names: Vec<&str> = days.iter(Weekday::Mon).map(weekday_name).collect();
                write!(f, "weekdays {} {}", names.join(","), Hm(t))
            }
            Schedule::Weekly(day, t) => write!(f, "weekly {} {}", weekday_name(day), Hm(t)),
            Schedule::Monthly(DayOfMonth::Day(d), t) => write!(f, "monthly {d} {}", Hm(t)),
            Schedule::Monthly(DayOfMonth::Last, t) => write!(f, "monthly last {}", Hm(t)),
            Schedule::Every(Interval::Minutes(n)) => write!(f, "every {n}m"),
            Schedule::Every(Interval::Hours(n)) => write!(f, "every {n}h"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn parses_every_form() {
        let once = NaiveDate::from_ymd_opt(2026, 12, 24)
            .unwrap()
            .and_time(t(1, 0));
        let cases = [
            ("once 2026-12-24 01:00", Schedule::Once(once)),
            ("daily 02:00", Schedule::Daily(t(2, 0))),
            (
                "weekdays mon,wed,fri 22:00",
                Schedule::Weekdays(
                    WeekdaySet::from_array([Weekday::Mon, Weekday::Wed, Weekday::Fri]),
                    t(22, 0),
                ),
            ),
            ("weekly sun 03:00", Schedule::Weekly(Weekday::Sun, t(3, 0))),
            (
                "monthly 1 03:00",
                Schedule::Monthly(DayOfMonth::Day(1), t(3, 0)),
            ),
            (
                "monthly 31 23:59",
                Schedule::Monthly(DayOfMonth::Day(31), t(23, 59)),
            ),
            (
                "monthly last 03:00",
                Schedule::Monthly(DayOfMonth::Last, t(3, 0)),
            ),
            ("every 15m", Schedule::Every(Interval::Minutes(15))),
            ("every 2h", Schedule::Every(Interval::Hours(2))),
            ("every 1440m", Schedule::Every(Interval::Minutes(1440))),
        ];
        for (text, want) in cases {
            let got = Schedule::parse(text);
            assert_eq!(got, Ok(want), "{text}");
            assert_eq!(want.to_string(), text, "canonical form of {text}");
        }
    }

    #[test]
    fn accepts_loose_spellings_and_prints_canonically() {
        let cases = [
            ("  Daily   2:05 ", "daily 02:05"),
            ("WEEKDAYS Fri,Mon 07:30", "weekdays mon,fri 07:30"),
            ("weekdays sun, sat 07:30", "weekdays sat,sun 07:30"),
            ("weekly Sunday 03:00", "weekly sun 03:00"),
            ("monthly LAST 03:00", "monthly last 03:00"),
            ("monthly 01 03:00", "monthly 1 03:00"),
            ("every 015m", "every 15m"),
            ("Every 3H", "every 3h"),
        ];
        for (text, canonical) in cases {
            let got = Schedule::parse(text).map(|s| s.to_string());
            assert_eq!(got.as_deref(), Ok(canonical), "{text}");
        }
    }

    #[test]
    fn rejects_bad_forms() {
        use ScheduleError as E;
        type Check = fn(&ScheduleError) -> bool;
        let cases: [(&str, Check); 24] = [
            ("", |e| *e == E::Empty),
            ("   ", |e| *e == E::Empty),
            ("hourly", |e| matches!(e, E::UnknownKind(_))),
            ("daily", |e| matches!(e, E::Form(_))),
            ("daily 02:00 03:00", |e| matches!(e, E::Form(_))),
            ("daily 24:00", |e| matches!(e, E::Time(_))),
            ("daily 02:60", |e| matches!(e, E::Time(_))),
            ("daily 2", |e| matches!(e, E::Time(_))),
            ("daily 02:0", |e| matches!(e, E::Time(_))),
            ("daily 002:00", |e| matches!(e, E::Time(_))),
            ("daily +2:00", |e| matches!(e, E::Time(_))),
            ("once 2026-02-30 01:00", |e| matches!(e, E::Date(_))),
            ("once 2026-2-3 01:00", |e| matches!(e, E::Date(_))),
            ("once 2026-12-24", |e| matches!(e, E::Form(_))),
            ("weekdays 22:00", |e| matches!(e, E::Form(_))),
            ("weekdays mon,,fri 22:00", |e| matches!(e, E::Weekday(_))),
            ("weekdays mon,xyz 22:00", |e| matches!(e, E::Weekday(_))),
            ("weekdays mon,mon 22:00", |e| {
                matches!(e, E::DuplicateWeekday(_))
            }),
            ("weekly funday 03:00", |e| matches!(e, E::Weekday(_))),
            ("monthly 0 03:00", |e| matches!(e, E::DayOfMonth(_))),
            ("monthly 32 03:00", |e| matches!(e, E::DayOfMonth(_))),
            ("every 0m", |e| matches!(e, E::Interval(_))),
            ("every 25h", |e| matches!(e, E::Interval(_))),
            ("every 15", |e| matches!(e, E::Interval(_))),
        ];
        for (text, ok) in cases {
            match Schedule::parse(text) {
                Err(e) => assert!(ok(&e), "{text}: unexpected error {e:?}"),
                Ok(s) => panic!("{text}: accepted as {s:?}"),
            }
        }
        for text in [
            "every 1441m",
            "every m",
            "every 15s",
            "every -5m",
            "every 1é",
            "every",
        ] {
            assert!(Schedule::parse(text).is_err(), "{text}");
        }
    }
}
