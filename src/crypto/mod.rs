//! Cryptographic primitives: a small, fenced API in the style of age/rage.
//!
//! - [`secret`]: zeroizing containers ([`SecretKey32`], [`SecretBytes`], [`Wiped`], [`Password`]).
//! - [`aead`]: single-shot AES-256-GCM.
//! - [`envelope`]: RSA-OAEP key wrapping per purpose and multi-recipient [`Envelope`]s.
//! - [`stream`]: chunked AES-256-GCM (STREAM) with random-access reading.
//! - [`kdf`]: Argon2id and password boxes.
//! - [`shamir`]: m-of-n secret sharing of a 32-byte key.
//! - [`signing`]: Ed25519 writer keys.
//!
//! Everything is pure: no I/O beyond the `Read`/`Write`/`Seek` handed in, no
//! printing, no logging. All byte formats are specified in `docs/format.md`.

pub mod aead;
mod bytes;
pub mod envelope;
pub mod error;
pub mod kdf;
pub mod secret;
pub mod shamir;
pub mod signing;
pub mod stream;

pub use aead::{open, seal};
pub use envelope::{Envelope, VaultPrivateKey, VaultPublicKey, WrapPurpose, unwrap_key, wrap_key};
pub use error::CryptoError;
pub use kdf::{KdfParams, derive_key, password_open, password_seal};
pub use secret::{Password, SecretBytes, SecretKey32, Wiped, random_bytes};
pub use shamir::{Share, combine, split};
pub use signing::{WriterSigningKey, WriterVerifyingKey};
pub use stream::{STREAM_CHUNK, StreamReader, StreamWriter};
