//! The clock that stamps sync runs and drives the daemon's schedule. Production
//! uses [`SystemClock`]; the scheduler's tests pass a clock they move by hand, so
//! "due", "missed while off" and "next run" are checked without waiting.

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
