//! Pack session keys wrapped ahead of need.
//!
//! Every pack has a fresh random session key wrapped with RSA-OAEP to the vault's
//! public key (see `pack.rs`). The wrap (a 3072-bit modular exponentiation, ~0.15
//! ms) would otherwise sit on the path of whoever starts a pack — a `close()` on
//! the mounted drive when it opens a new open pack (`openpack.rs`), a pipeline's
//! packer. The pool moves that work off it: a background thread keeps a few keys wrapped in advance and
//! [`KeyPool::take`] hands one out. Nothing about the format changes: each key is
//! still random, used for exactly one pack, and wiped on drop (it lives only in
//! memory, in a [`SecretKey32`]).

use std::sync::{Arc, Mutex, MutexGuard};

use crate::crypto::{CryptoError, Envelope, SecretKey32, VaultPublicKey, WrapPurpose};

/// Refill when fewer keys than this are ready.
const LOW_WATER: usize = 8;
/// The filler stops once this many keys are ready.
const HIGH_WATER: usize = 32;

/// A pack session key with its envelope bytes.
pub struct WrappedKey {
    /// The session key (wiped on drop).
    pub key: SecretKey32,
    /// The key wrapped to the recipients, encoded as stored in the pack.
    pub envelope: Vec<u8>,
}

struct Shared {
    recipients: Vec<VaultPublicKey>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    ready: Vec<WrappedKey>,
    filling: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wrap(&self) -> Result<WrappedKey, CryptoError> {
        let recipients: Vec<&VaultPublicKey> = self.recipients.iter().collect();
        let (key, envelope) = Envelope::seal(&recipients, WrapPurpose::PackKey)?;
        Ok(WrappedKey {
            key,
            envelope: envelope.to_bytes(),
        })
    }
}

/// Pack session keys for one set of recipients, wrapped in the background.
pub struct KeyPool {
    shared: Arc<Shared>,
}

impl KeyPool {
    /// A pool wrapping keys to `recipients`. No thread runs until the first
    /// [`Self::take`], so commands that write no pack pay nothing.
    pub fn new(recipients: Vec<VaultPublicKey>) -> KeyPool {
        KeyPool {
            shared: Arc::new(Shared {
                recipients,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// A fresh wrapped key: a ready one if there is one, else wrapped now. Starts
    /// the filler when the pool runs low.
    ///
    /// # Errors
    /// The envelope errors of [`Envelope::seal`] (wrapping now).
    pub fn take(&self) -> Result<WrappedKey, CryptoError> {
        let ready = {
            let mut st = self.shared.lock();
            let ready = st.ready.pop();
            if st.ready.len() < LOW_WATER && !st.filling {
                st.filling = true;
                let shared = self.shared.clone();
                // A failed spawn only means keys are wrapped on the caller's path.
                if std::thread::Builder::new()
                    .name("bcpvault-keys".into())
                    .spawn(move || fill(&shared))
                    .is_err()
                {
                    st.filling = false;
                }
            }
            ready
        };
        match ready {
            Some(k) => Ok(k),
            None => self.shared.wrap(),
        }
    }

    /// Keys wrapped and waiting.
    pub fn ready(&self) -> usize {
        self.shared.lock().ready.len()
    }
}

fn fill(shared: &Shared) {
    loop {
        if shared.lock().ready.len() >= HIGH_WATER {
            break;
        }
        match shared.wrap() {
            Ok(k) => shared.lock().ready.push(k),
            Err(e) => {
                // The caller's own wrap will report it; don't spin.
                tracing::warn!(error = %e, "wrapping pack keys ahead failed");
                break;
            }
        }
    }
    shared.lock().filling = false;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{SecretBytes, VaultPrivateKey};

    fn unwrap_with(sk: &VaultPrivateKey, wk: &WrappedKey) -> SecretBytes {
        let env = Envelope::from_bytes(&wk.envelope).unwrap();
        let key = env.open(sk, WrapPurpose::PackKey).unwrap();
        SecretBytes::new(key.expose().to_vec())
    }

    #[test]
    fn every_key_is_fresh_and_unwraps_to_itself() {
        let sk = VaultPrivateKey::generate(2048).unwrap();
        let pool = KeyPool::new(vec![sk.public_key()]);
        let mut seen = Vec::new();
        for _ in 0..(HIGH_WATER + 5) {
            let wk = pool.take().unwrap();
            assert_eq!(unwrap_with(&sk, &wk).expose(), wk.key.expose());
            assert!(
                !seen.contains(&wk.key.expose().to_vec()),
                "a key was reused"
            );
            seen.push(wk.key.expose().to_vec());
        }
    }

    #[test]
    fn the_pool_fills_in_the_background() {
        let sk = VaultPrivateKey::generate(2048).unwrap();
        let pool = KeyPool::new(vec![sk.public_key()]);
        assert_eq!(pool.ready(), 0, "no work before the first take");
        pool.take().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while pool.ready() < LOW_WATER && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(pool.ready() >= LOW_WATER, "filler did not run");
    }
}
