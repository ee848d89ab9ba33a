//! Sealed or unlocked: which view the drive shows, and until when.
//!
//! While sealed the daemon holds no private key at all. An unlock installs the key
//! (inside a [`Decryptor`]) with an expiry; sealing — by command, at the expiry, or
//! when the daemon stops — drops the decryptor, and with its last reference the
//! key and every cached plaintext are zeroized.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use super::decrypt::Decryptor;

/// The current view.
#[derive(Default)]
pub struct ViewState {
    inner: RwLock<Option<Unlocked>>,
}

#[derive(Clone)]
struct Unlocked {
    decryptor: Arc<Decryptor>,
    until: DateTime<Utc>,
}

impl ViewState {
    /// Shows the decrypted view until `until`.
    pub fn unlock(&self, decryptor: Decryptor, until: DateTime<Utc>) {
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = Some(Unlocked {
            decryptor: Arc::new(decryptor),
            until,
        });
    }

    /// Seals; returns whether it was unlocked.
    pub fn seal(&self) -> bool {
        self.inner
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .is_some()
    }

    /// The decryptor while unlocked and not expired (an expired unlock is sealed here).
    pub fn decryptor(&self) -> Option<Arc<Decryptor>> {
        let current = self.inner.read().unwrap_or_else(|p| p.into_inner()).clone();
        match current {
            Some(u) if u.until > Utc::now() => Some(u.decryptor),
            Some(_) => {
                if self.seal() {
                    tracing::info!("unlock expired: the vault is sealed again");
                }
                None
            }
            None => None,
        }
    }

    /// When the current unlock ends, if unlocked.
    pub fn until(&self) -> Option<DateTime<Utc>> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|u| u.until)
    }

    /// "unlocked until <local time>" while the unlock lasts (the status files of
    /// the live and the recovery drive both show it).
    pub fn unlocked_text(&self) -> Option<String> {
        self.until().filter(|u| *u > Utc::now()).map(|until| {
            format!(
                "unlocked until {}",
                until
                    .with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M %Z")
            )
        })
    }
}
