//! When schedules fall due: next run, catch-up of missed runs, earliest of several.
//!
//! Rules (all wall-clock times are in the profile's time zone):
//! - **Strictly after**: [`Schedule::next_after`] never returns `after` itself, so a
//!   scheduler that passes the time of the run it just did gets the following one.
//! - **`once`** returns `None` once its instant is not after `after`.
//! - **`monthly D`** in a month without day D runs on the month's last day
//!   (`monthly 31` runs on 30 April and on 28/29 February).
//! - **`every N`** runs at the local wall-clock times whose minutes since local midnight
//!   are a multiple of N: `every 15m` at :00, :15, :30, :45 of each hour, `every 2h` at
//!   00:00, 02:00, … Intervals that do not divide a day restart at each local midnight
//!   (`every 7h`: 00:00, 07:00, 14:00, 21:00, then 00:00).
//! - **DST gap** (spring forward, e.g. 02:00→03:00): a time inside the gap does not
//!   exist; the run happens at the moment the clocks jump (the first valid instant
//!   after the gap), so a daily 02:30 run is not lost. Several `every` slots inside one
//!   gap collapse into that single run.
//! - **DST overlap** (fall back, a local hour happens twice): a daily/weekly/monthly/
//!   once run happens at the first occurrence only; `every` runs in both passes, so the
//!   interval between runs never grows.
//! - **Catch-up**: [`Schedule::missed`] is true when a run fell due after the last run
//!   and at or before now. With no recorded last run the window starts
//!   [`FIRST_RUN_LOOKBACK`] (24 hours) before now: a fresh install does not replay old
//!   `once` dates, but a vault whose first daily run was missed yesterday night catches
//!   up.

use chrono::{
    DateTime, Datelike, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone,
    Utc,
};
use chrono_tz::Tz;

use super::schedule::{DayOfMonth, Schedule};

/// How far back [`Schedule::missed`] looks when there is no recorded last run.
pub const FIRST_RUN_LOOKBACK: TimeDelta = TimeDelta::hours(24);

/// Days scanned before giving up; every repeating schedule has a run within 62 days.
const MAX_SCAN_DAYS: usize = 400;

/// How to treat a local time that happens twice (DST fall-back).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Overlap {
    Earliest,
    Both,
}

impl Schedule {
    /// The first run strictly after `after`, or `None` for a past `once`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        if let Schedule::Once(local) = *self {
            return instants(tz, local, Overlap::Earliest)
                .into_iter()
                .flatten()
                .find(|t| *t > after);
        }
        // Start a day early: in an overlap the local date of `after` can lag behind
        // runs that still count as later instants.
        let start = after.with_timezone(&tz).date_naive().pred_opt()?;
        let mut best: Option<DateTime<Utc>> = None;
        let mut days_since_found = 0;
        for date in start.iter_days().take(MAX_SCAN_DAYS) {
            if let Some(t) = self.first_on(date, tz, after) {
                best = Some(best.map_or(t, |b| b.min(t)));
            }
            // A gap at midnight can move a day's run into the next day, so look at
            // one more day before settling.
            if best.is_some() {
                days_since_found += 1;
                if days_since_found > 1 {
                    break;
                }
            }
        }
        best
    }

    /// True when a run fell due after `last_run` and at or before `now` (the machine
    /// was off or the daemon not running). `None` means no run was ever recorded; the
    /// window then starts [`FIRST_RUN_LOOKBACK`] before `now`.
    pub fn missed(&self, last_run: Option<DateTime<Utc>>, now: DateTime<Utc>, tz: Tz) -> bool {
        let since = match last_run {
            Some(t) => t,
            None => now - FIRST_RUN_LOOKBACK,
        };
        since < now && self.next_after(since, tz).is_some_and(|t| t <= now)
    }

    /// The earliest run of this schedule on local `date` that is after `after`.
    fn first_on(&self, date: NaiveDate, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (times, overlap): (Vec<NaiveTime>, Overlap) = match *self {
            Schedule::Once(_) => return None,
            Schedule::Daily(t) => (vec![t], Overlap::Earliest),
            Schedule::Weekdays(days, t) => {
                (only_if(days.contains(date.weekday()), t), Overlap::Earliest)
            }
            Schedule::Weekly(day, t) => (only_if(date.weekday() == day, t), Overlap::Earliest),
            Schedule::Monthly(day, t) => {
                let last = last_day_of_month(date);
                let wanted = match day {
                    DayOfMonth::Day(d) => u32::from(d).min(last),
                    DayOfMonth::Last => last,
                };
                (only_if(date.day() == wanted, t), Overlap::Earliest)
            }
            Schedule::Every(interval) => {
                let step = interval.minutes();
                let times = (0..24 * 60)
                    .step_by(step as usize)
                    .filter_map(|m| NaiveTime::from_hms_opt(m / 60, m % 60, 0))
                    .collect();
                (times, Overlap::Both)
            }
        };
        times
            .into_iter()
            .flat_map(|t| instants(tz, date.and_time(t), overlap))
            .flatten()
            .filter(|t| *t > after)
            .min()
    }
}

/// The earliest run over several schedules strictly after `after`.
pub fn earliest_next_run(
    schedules: &[Schedule],
    after: DateTime<Utc>,
    tz: Tz,
) -> Option<DateTime<Utc>> {
    schedules
        .iter()
        .filter_map(|s| s.next_after(after, tz))
        .min()
}

/// True when any of the schedules missed a run (see [`Schedule::missed`]).
pub fn any_missed(
    schedules: &[Schedule],
    last_run: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    tz: Tz,
) -> bool {
    schedules.iter().any(|s| s.missed(last_run, now, tz))
}

fn only_if(condition: bool, t: NaiveTime) -> Vec<NaiveTime> {
    if condition { vec![t] } else { Vec::new() }
}

/// The number of the last day of `date`'s month (28..=31).
pub(crate) fn last_day_of_month(date: NaiveDate) -> u32 {
    let (y, m) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|first| first.pred_opt())
        .map_or(28, |last| last.day())
}

/// The instants a local wall-clock time stands for (see the module rules for gaps and
/// overlaps). At most two.
fn instants(tz: Tz, local: NaiveDateTime, overlap: Overlap) -> [Option<DateTime<Utc>>; 2] {
    match tz.from_local_datetime(&local) {
        MappedLocalTime::Single(t) => [Some(t.to_utc()), None],
        MappedLocalTime::Ambiguous(first, second) => match overlap {
            Overlap::Earliest => [Some(first.to_utc()), None],
            Overlap::Both => [Some(first.to_utc()), Some(second.to_utc())],
        },
        MappedLocalTime::None => {
            // Inside a gap: the first existing local minute is the moment the clocks
            // jumped. Real gaps last at most a day (Samoa, 2011).
            let mut probe = local;
            for _ in 0..(26 * 60) {
                probe += TimeDelta::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return [Some(t.to_utc()), None];
                }
            }
            [None, None]
        }
    }
}

#[cfg(test)]
mod tests;
