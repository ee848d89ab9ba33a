//! BCP Vault: a business-continuity backup vault.
//!
//! The module order follows the data path: files are written, encrypted to the
//! vault's public key (`crypto`), stored in a deduplicated repository (`repo`) on a
//! storage backend (`backend`), synced to remotes, fetched back, verified, unlocked
//! by a quorum of executives (`keys`), decrypted and read.
//!
//! Layering (each module only uses the ones listed after it):
//! `cli` → `keys`, `repo` → `backend`, `crypto`, `profile`, `db`.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
pub mod crypto;
pub mod daemon;
pub mod db;
pub mod keys;
pub mod mount;
pub mod profile;
pub mod repo;
pub mod sync;
pub mod vfs;
