//! Retrying remote operations that failed because the connection was lost, with
//! exponential backoff.

use std::time::Duration;

use crate::backend::{BackendError, BackendResult};

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in total (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub first_delay: Duration,
    /// Upper bound of one wait.
    pub max_delay: Duration,
}

impl Default for Backoff {
    /// 5 attempts waiting 0.5 s, 1 s, 2 s, 4 s (7.5 s in all) between them.
    fn default() -> Self {
        Backoff {
            attempts: 5,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// Runs `f` until it succeeds, fails with a non-transient error, or the attempts
    /// are used up.
    pub fn run<T>(&self, what: &str, mut f: impl FnMut() -> BackendResult<T>) -> BackendResult<T> {
        let mut delay = self.first_delay;
        let mut attempt = 1;
        loop {
            match f() {
                Err(e) if e.is_transient() && attempt < self.attempts.max(1) => {
                    tracing::warn!(%what, attempt, error = %e, delay_ms = delay.as_millis() as u64,
                        "remote operation failed; retrying");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(self.max_delay);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Whether an error is worth a later retry (for callers outside this module).
pub fn is_transient(e: &BackendError) -> bool {
    e.is_transient()
}
