//! Cryptographic primitives (filled by the crypto work).
