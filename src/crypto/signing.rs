//! Ed25519 signatures for the writer's snapshots.
//!
//! Formats (`docs/format.md` §6): a signing key is its 32-byte seed (RFC 8032),
//! a verifying key is the 32-byte compressed point, a signature is 64 bytes
//! `R || S`. Verification is strict (`verify_strict`: rejects non-canonical and
//! small-order components), and weak (small-order) verifying keys are refused
//! on load.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::error::CryptoError;
use super::secret::SecretKey32;

/// The writer's Ed25519 signing key. Wiped on drop, no `Clone`, redacted `Debug`.
pub struct WriterSigningKey(SigningKey);

impl WriterSigningKey {
    /// A new key from the OS CSPRNG.
    pub fn generate() -> Self {
        Self::from_secret(&SecretKey32::random())
    }

    /// The key with this 32-byte seed.
    pub fn from_secret(b: &SecretKey32) -> Self {
        Self(SigningKey::from_bytes(b.expose()))
    }

    /// The 32-byte seed (secret: seal it before storing).
    pub fn to_secret(&self) -> SecretKey32 {
        SecretKey32::from_bytes(self.0.as_bytes())
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> WriterVerifyingKey {
        WriterVerifyingKey(self.0.verifying_key())
    }

    /// Signs `msg` (deterministic, RFC 8032).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }
}

impl fmt::Debug for WriterSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WriterSigningKey([redacted])")
    }
}

/// The writer's Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WriterVerifyingKey(VerifyingKey);

impl WriterVerifyingKey {
    /// The 32-byte compressed point.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Parses a 32-byte public key.
    ///
    /// # Errors
    /// [`CryptoError::InvalidVerifyingKey`] if it is not a valid point or is a
    /// weak (small-order) key.
    pub fn from_bytes(b: &[u8; 32]) -> Result<Self, CryptoError> {
        let key = VerifyingKey::from_bytes(b).map_err(|_| CryptoError::InvalidVerifyingKey)?;
        if key.is_weak() {
            return Err(CryptoError::InvalidVerifyingKey);
        }
        Ok(Self(key))
    }

    /// Checks `sig` over `msg`.
    ///
    /// # Errors
    /// [`CryptoError::BadSignature`] if it does not verify.
    pub fn verify(&self, msg: &[u8], sig: &[u8; 64]) -> Result<(), CryptoError> {
        self.0
            .verify_strict(msg, &Signature::from_bytes(sig))
            .map_err(|_| CryptoError::BadSignature)
    }
}

impl fmt::Debug for WriterVerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WriterVerifyingKey({})", hex::encode(self.0.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_key_rejected() {
        // The identity point (small order) encodes as 0x01 followed by zeros.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            WriterVerifyingKey::from_bytes(&identity),
            Err(CryptoError::InvalidVerifyingKey)
        ));
    }

    #[test]
    fn debug_is_redacted() {
        let seed = SecretKey32::from_bytes(&[0x5A; 32]);
        let k = WriterSigningKey::from_secret(&seed);
        let dbg = format!("{k:?}");
        assert_eq!(dbg, "WriterSigningKey([redacted])");
    }
}
