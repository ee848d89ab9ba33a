//! The one error type of the crypto module.
//!
//! Each variant is one distinct failure, so callers (and tests) can tell a wrong
//! password from a truncated stream from a forged signature. Variants never carry
//! secret material: only sizes, indices, fingerprints and format names.
//!
//! Where the cryptography cannot tell two causes apart (for instance a wrong
//! password and a modified password box both fail the same AEAD tag check), the
//! variant documents every cause it covers instead of guessing.

use std::io;

/// Everything that can go wrong in [`crate::crypto`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The operating system's random number generator failed.
    #[error("the operating system random number generator failed")]
    Rng,

    /// An RSA key size other than the supported ones was requested or loaded.
    #[error("unsupported RSA key size {bits} bits (allowed: {allowed})")]
    UnsupportedKeySize {
        /// The offending modulus size in bits.
        bits: usize,
        /// Human-readable list of allowed sizes.
        allowed: &'static str,
    },

    /// RSA key generation failed inside the `rsa` crate.
    #[error("RSA key generation failed: {reason}")]
    KeyGeneration {
        /// Description from the `rsa` crate (contains no key material).
        reason: String,
    },

    /// A PKCS#8 private key could not be decoded or is not a valid RSA key.
    #[error("invalid RSA private key (PKCS#8 DER): {reason}")]
    InvalidPrivateKey {
        /// What was wrong (from the decoder; contains no key material).
        reason: String,
    },

    /// A SubjectPublicKeyInfo public key could not be decoded or is not a valid RSA key.
    #[error("invalid RSA public key (SPKI DER): {reason}")]
    InvalidPublicKey {
        /// What was wrong.
        reason: String,
    },

    /// RSA-OAEP encryption of a key failed (e.g. the public key is unusable).
    #[error("wrapping a key to RSA public key {fingerprint} failed")]
    WrapFailed {
        /// Hex SHA-256 fingerprint of the recipient public key.
        fingerprint: String,
    },

    /// A wrapped key has the wrong length for the private key that should open it.
    #[error("wrapped key is {found} bytes, the {expected}-byte RSA key cannot have produced it")]
    WrappedKeyLength {
        /// Length a ciphertext under this key must have (modulus size in bytes).
        expected: usize,
        /// Length found.
        found: usize,
    },

    /// RSA-OAEP decryption failed: the wrapped key was made for another key pair or
    /// another purpose label, or it was modified. OAEP deliberately does not say which.
    #[error("cannot unwrap key: wrong private key, wrong purpose, or corrupted wrapped key")]
    UnwrapFailed,

    /// An envelope holds no entry for the given private key.
    #[error("not a recipient: the envelope has no entry for key {fingerprint}")]
    NotARecipient {
        /// Hex SHA-256 fingerprint of the private key's public key.
        fingerprint: String,
    },

    /// `Envelope::seal` was called without any recipient.
    #[error("an envelope needs at least one recipient")]
    NoRecipients,

    /// The same public key appears twice among an envelope's recipients.
    #[error("recipient {fingerprint} appears twice in the envelope")]
    DuplicateRecipient {
        /// Hex SHA-256 fingerprint of the repeated key.
        fingerprint: String,
    },

    /// Serialized data does not start with the expected magic bytes.
    #[error("{format}: bad magic bytes (not a {format})")]
    BadMagic {
        /// Which format was being parsed (e.g. "envelope", "stream header").
        format: &'static str,
    },

    /// Serialized data has a version this build does not understand.
    #[error("{format}: unsupported version {version}")]
    UnsupportedVersion {
        /// Which format was being parsed.
        format: &'static str,
        /// The version byte found.
        version: u8,
    },

    /// Serialized data ends before a field it must contain.
    #[error("{format}: too short (needs at least {needed} bytes, has {found})")]
    TooShort {
        /// Which format was being parsed.
        format: &'static str,
        /// Minimum number of bytes required at the point parsing stopped.
        needed: usize,
        /// Number of bytes available.
        found: usize,
    },

    /// Serialized data is structurally invalid (a field value is impossible).
    #[error("{format}: malformed: {reason}")]
    Malformed {
        /// Which format was being parsed.
        format: &'static str,
        /// What is wrong.
        reason: &'static str,
    },

    /// Serialized data continues after its last field.
    #[error("{format}: {extra} unexpected trailing bytes")]
    TrailingBytes {
        /// Which format was being parsed.
        format: &'static str,
        /// Number of extra bytes.
        extra: usize,
    },

    /// Single-shot AES-256-GCM decryption failed: wrong key, nonce or associated
    /// data, or the ciphertext was modified.
    #[error("decryption failed: wrong key or associated data, or modified ciphertext")]
    DecryptionFailed,

    /// The encrypted stream ends without its final chunk: it was cut at a chunk
    /// boundary, or what remains after the last whole chunk is shorter than a tag.
    #[error("encrypted stream is truncated (its final chunk is missing)")]
    StreamTruncated,

    /// Bytes follow the final chunk of an encrypted stream.
    #[error("encrypted stream has data after its final chunk")]
    StreamTrailingData,

    /// A stream chunk failed authentication: it was modified, moved (dropped,
    /// reordered), copied from another object, header or key, or cut mid-chunk.
    #[error("encrypted stream chunk {index} failed authentication")]
    StreamChunkAuth {
        /// Zero-based chunk number.
        index: u64,
    },

    /// A stream would need more chunks than the 32-bit chunk counter allows.
    #[error("encrypted stream too long (more than 2^32 chunks)")]
    StreamTooLong,

    /// Argon2id parameters outside the accepted range (checked before any
    /// memory is allocated, so a hostile header cannot exhaust memory).
    #[error("KDF parameter {param} = {value} out of range {min}..={max}")]
    KdfParamOutOfRange {
        /// Parameter name (`memory_kib`, `iterations`, `parallelism`).
        param: &'static str,
        /// Value found.
        value: u32,
        /// Smallest accepted value.
        min: u32,
        /// Largest accepted value.
        max: u32,
    },

    /// The Argon2 implementation reported an error.
    #[error("Argon2id key derivation failed: {reason}")]
    Kdf {
        /// Description from the `argon2` crate.
        reason: String,
    },

    /// A password box did not open: the password is wrong, or the box (including
    /// its stored KDF parameters) or its associated data was modified.
    #[error("wrong password (or the sealed data was modified)")]
    WrongPassword,

    /// Shamir parameters outside `1 <= threshold <= count <= 20`.
    #[error(
        "invalid Shamir parameters: threshold {threshold} of {count} (need 1 <= threshold <= count <= 20)"
    )]
    ShamirParams {
        /// Requested threshold m.
        threshold: u8,
        /// Requested share count n.
        count: u8,
    },

    /// Fewer shares than the threshold were given to `combine`.
    #[error("not enough shares: {have} given, {need} needed")]
    NotEnoughShares {
        /// Number of shares given.
        have: usize,
        /// Threshold.
        need: u8,
    },

    /// Two shares with the same index were given to `combine`.
    #[error("share {index} given twice")]
    DuplicateShare {
        /// The repeated share index.
        index: u8,
    },

    /// A share is unusable (index 0 would be the secret itself).
    #[error("invalid share: {reason}")]
    InvalidShare {
        /// What is wrong.
        reason: &'static str,
    },

    /// A 32-byte string is not a valid Ed25519 public key (or is a weak,
    /// small-order point).
    #[error("invalid Ed25519 verifying key")]
    InvalidVerifyingKey,

    /// An Ed25519 signature does not verify for this message and key.
    #[error("signature verification failed")]
    BadSignature,
}

impl CryptoError {
    /// Wraps this error in an [`io::Error`] (kind `Other`), as the stream
    /// reader and writer do, so it can travel through `Read`/`Write`.
    pub fn into_io(self) -> io::Error {
        io::Error::other(self)
    }

    /// Finds the `CryptoError` inside an [`io::Error`] produced by the stream
    /// reader or writer, if there is one.
    pub fn from_io(err: &io::Error) -> Option<&CryptoError> {
        err.get_ref()?.downcast_ref::<CryptoError>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_round_trip_keeps_variant() {
        let io = CryptoError::StreamChunkAuth { index: 7 }.into_io();
        assert!(matches!(
            CryptoError::from_io(&io),
            Some(CryptoError::StreamChunkAuth { index: 7 })
        ));
        let plain = io::Error::other("unrelated");
        assert!(CryptoError::from_io(&plain).is_none());
    }
}
