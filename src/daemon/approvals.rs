//! Collecting executive approvals inside the daemon: approvals arrive from separate
//! `bcpvault unlock` invocations, possibly from different terminals, and accumulate
//! until the threshold; a partial set expires 15 minutes after the first approval
//! so a forgotten half-unlock does not linger. Wrong passwords are counted per
//! executive and reported.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::crypto::Password;
use crate::keys::{KeysError, RecoveryBundle, UnlockProgress, UnlockedVault, Unlocker};

/// How long approvals wait for the rest of the quorum.
pub const PARTIAL_TTL: Duration = Duration::from_secs(15 * 60);

/// What one approval achieved.
pub enum Outcome {
    /// More approvals are needed.
    Partial(UnlockProgress),
    /// The threshold was reached: the key.
    Unlocked(Box<UnlockedVault>),
}

/// Approvals collected so far.
pub struct Approvals {
    bundle: RecoveryBundle,
    pending: Option<(Unlocker, Instant)>,
    failures: HashMap<String, u32>,
}

impl Approvals {
    /// No approvals yet.
    pub fn new(bundle: RecoveryBundle) -> Approvals {
        Approvals {
            bundle,
            pending: None,
            failures: HashMap::new(),
        }
    }

    fn expire(&mut self) {
        if self
            .pending
            .as_ref()
            .is_some_and(|(_, started)| started.elapsed() > PARTIAL_TTL)
        {
            tracing::info!("partial approvals expired after 15 minutes");
            self.pending = None;
        }
    }

    /// Progress of the pending unlock (0 of m when none).
    pub fn progress(&mut self) -> (UnlockProgress, Vec<String>) {
        self.expire();
        match &self.pending {
            Some((u, _)) => (u.progress(), u.approved()),
            None => (
                UnlockProgress {
                    have: 0,
                    need: self.bundle.threshold as usize,
                },
                Vec::new(),
            ),
        }
    }

    /// Wrong passwords seen for `name` since the daemon started.
    pub fn failures(&self, name: &str) -> u32 {
        self.failures.get(name).copied().unwrap_or(0)
    }

    /// Drops pending approvals (seal).
    pub fn clear(&mut self) {
        self.pending = None;
    }

    /// Adds `name`'s approval (runs Argon2id on the password).
    pub fn approve(&mut self, name: &str, password: Password) -> Result<Outcome, KeysError> {
        self.expire();
        let (unlocker, _) = self
            .pending
            .get_or_insert_with(|| (Unlocker::new(self.bundle.clone()), Instant::now()));
        let approval = crate::keys::Approval {
            name: name.to_string(),
            password,
        };
        match unlocker.approve(&approval) {
            Ok(progress) if progress.complete() => {
                let (unlocker, _) = self.pending.take().expect("pending was just set");
                Ok(Outcome::Unlocked(Box::new(unlocker.finish()?)))
            }
            Ok(progress) => Ok(Outcome::Partial(progress)),
            Err(e) => {
                if matches!(e, KeysError::WrongPassword { .. }) {
                    *self.failures.entry(name.to_string()).or_default() += 1;
                    tracing::warn!(
                        executive = name,
                        failures = self.failures(name),
                        "unlock approval with a wrong password"
                    );
                }
                Err(e)
            }
        }
    }
}
