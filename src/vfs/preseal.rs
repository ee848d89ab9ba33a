//! Sealing a small file ahead of its close.
//!
//! A copy program's last write to a file is usually short (its buffer was not
//! filled), and between that write and `close()` it still sets owner, mode and
//! times: two or three round trips during which the daemon would sit idle and a
//! core is free. So a write that looks like a file's last hands a copy of the
//! staged tail to a worker thread, which chunks, names (keyed hash), checks dedup
//! and compresses it ([`Inline`]). The FLUSH that follows encrypts and stores that
//! (a segment of the drive's open pack) if the file has not changed since (same
//! version, same tail); otherwise the work is dropped and the file is sealed from
//! its staging as before.
//!
//! Nothing is published ahead of FLUSH, so what the store holds and when (the
//! close() promise) is exactly as without this; a guess that turns out wrong
//! costs CPU, not correctness. A FLUSH that arrives before the worker started the
//! job takes it over instead of waiting behind other files.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::crypto::Wiped;
use crossbeam_channel::{Sender, TrySendError, bounded};

use crate::repo::pipeline::{Inline, prepare_inline};
use crate::repo::{RepoError, RepoResult, Repository, WriteOptions};

/// Largest tail prepared ahead (bigger files stream, see `stream.rs`).
pub const PRESEAL_MAX: u64 = 1024 * 1024;

/// Jobs waiting for the worker, at most; beyond it files are sealed at FLUSH.
const QUEUE: usize = 16;

/// Whether a write of `len` bytes looks like a file's last: copy programs write
/// whole buffers (multiples of the page size) until the final, shorter one.
pub fn looks_final(len: usize) -> bool {
    !len.is_multiple_of(4096)
}

enum State {
    Queued(Wiped),
    Running,
    Done(RepoResult<Inline>),
    Taken,
}

/// One file's tail being prepared: which content it is, and the outcome.
pub struct PreSeal {
    version: u64,
    base_len: u64,
    len: u64,
    state: Mutex<State>,
    done: Condvar,
}

impl PreSeal {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this is the tail `base_len..base_len + len` of content `version`.
    pub fn matches(&self, version: u64, base_len: u64, len: u64) -> bool {
        self.version == version && self.base_len == base_len && self.len == len
    }

    /// The prepared tail: waits for the worker, or prepares it on this thread
    /// when the worker has not started it yet.
    pub fn take(&self, repo: &Repository, opts: &WriteOptions) -> RepoResult<Inline> {
        let mut state = self.lock();
        loop {
            match std::mem::replace(&mut *state, State::Taken) {
                State::Queued(plain) => {
                    drop(state);
                    return prepare_inline(repo, opts, &plain);
                }
                State::Running => {
                    *state = State::Running;
                    state = self.done.wait(state).unwrap_or_else(|p| p.into_inner());
                }
                State::Done(result) => return result,
                State::Taken => return Err(RepoError::PipelineStopped),
            }
        }
    }

    fn run(&self, repo: &Repository, opts: &WriteOptions) {
        let plain = {
            let mut state = self.lock();
            match std::mem::replace(&mut *state, State::Running) {
                State::Queued(plain) => plain,
                other => {
                    *state = other;
                    return;
                }
            }
        };
        let result = prepare_inline(repo, opts, &plain);
        drop(plain);
        *self.lock() = State::Done(result);
        self.done.notify_all();
    }
}

/// The worker preparing tails for a mount.
pub struct PreSealer {
    tx: Option<Sender<Arc<PreSeal>>>,
    worker: Option<JoinHandle<()>>,
}

impl PreSealer {
    /// Starts the worker thread.
    pub fn start(repo: Arc<Repository>, opts: WriteOptions) -> std::io::Result<PreSealer> {
        let (tx, rx) = bounded::<Arc<PreSeal>>(QUEUE);
        let worker = std::thread::Builder::new()
            .name("bcpvault-preseal".into())
            .spawn(move || {
                for job in rx {
                    job.run(&repo, &opts);
                }
            })?;
        Ok(PreSealer {
            tx: Some(tx),
            worker: Some(worker),
        })
    }

    /// Queues the tail `plain` (at `base_len` of content `version`); `None` when
    /// the queue is full.
    pub fn submit(&self, version: u64, base_len: u64, plain: Wiped) -> Option<Arc<PreSeal>> {
        let job = Arc::new(PreSeal {
            version,
            base_len,
            len: plain.len() as u64,
            state: Mutex::new(State::Queued(plain)),
            done: Condvar::new(),
        });
        match self.tx.as_ref()?.try_send(job.clone()) {
            Ok(()) => Some(job),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => None,
        }
    }
}

impl Drop for PreSealer {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_writes_are_the_short_ones() {
        assert!(!looks_final(128 * 1024));
        assert!(!looks_final(4096));
        assert!(looks_final(128 * 1024 - 1));
        assert!(looks_final(10));
    }

    #[test]
    fn a_preseal_names_one_exact_tail() {
        let p = PreSeal {
            version: 7,
            base_len: 0,
            len: 100,
            state: Mutex::new(State::Taken),
            done: Condvar::new(),
        };
        assert!(p.matches(7, 0, 100));
        assert!(!p.matches(8, 0, 100));
        assert!(!p.matches(7, 4096, 100));
        assert!(!p.matches(7, 0, 101));
    }
}
