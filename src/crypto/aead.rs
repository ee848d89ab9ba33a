//! Single-shot AES-256-GCM.
//!
//! Output layout: `ciphertext || tag` (tag 16 bytes), the same length as the
//! plaintext plus 16. The nonce is the caller's: 96 random bits are safe as long
//! as one key seals far fewer than 2^32 messages, which holds for the fresh,
//! per-object keys this crate uses. Larger data goes through [`crate::crypto::stream`].

use aes_gcm::aead::{Aead, AeadInOut, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};

use super::error::CryptoError;
use super::secret::{SecretBytes, SecretKey32};

/// Length of the AES-GCM authentication tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;

/// Length of an AES-GCM nonce.
pub const NONCE_LEN: usize = 12;

/// Builds the AES-256-GCM cipher for `key` (the expanded key schedule is
/// wiped on drop: `aes-gcm` is built with its `zeroize` feature).
pub(crate) fn cipher(key: &SecretKey32) -> Aes256Gcm {
    Aes256Gcm::new(key.expose().into())
}

/// Encrypts and authenticates `plaintext`, binding `aad`; returns `ct || tag`.
///
/// # Panics
/// Only if `plaintext` exceeds AES-GCM's limit of 2^36 - 32 bytes (64 GiB),
/// which no caller holds in memory.
pub fn seal(key: &SecretKey32, nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce = Nonce::from(*nonce);
    match cipher(key).encrypt(
        &nonce,
        Payload {
            msg: plaintext,
            aad,
        },
    ) {
        Ok(ct) => ct,
        Err(_) => panic!("AES-GCM plaintext longer than 64 GiB"),
    }
}

/// [`seal`], appending `ciphertext ‖ tag` to `out` and encrypting there, so a
/// pack is built without a separate buffer per blob.
pub fn seal_append(
    key: &SecretKey32,
    nonce: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.extend_from_slice(plaintext);
    let nonce = Nonce::from(*nonce);
    match cipher(key).encrypt_inout_detached(&nonce, aad, (&mut out[start..]).into()) {
        Ok(tag) => out.extend_from_slice(&tag),
        Err(_) => panic!("AES-GCM plaintext longer than 64 GiB"),
    }
}

/// Verifies and decrypts `ct || tag` produced by [`seal`] with the same key,
/// nonce and `aad`.
///
/// # Errors
/// [`CryptoError::DecryptionFailed`] if anything differs or was modified.
pub fn open(
    key: &SecretKey32,
    nonce: &[u8; 12],
    aad: &[u8],
    ct: &[u8],
) -> Result<SecretBytes, CryptoError> {
    let nonce = Nonce::from(*nonce);
    cipher(key)
        .decrypt(&nonce, Payload { msg: ct, aad })
        .map(SecretBytes::new)
        .map_err(|_| CryptoError::DecryptionFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_append_writes_what_seal_returns() {
        let key = SecretKey32::random();
        let mut out = b"prefix".to_vec();
        seal_append(&key, &[3u8; 12], b"aad", b"hello world", &mut out);
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(out[6..], seal(&key, &[3u8; 12], b"aad", b"hello world"));
    }

    #[test]
    fn round_trip_and_tamper() {
        let key = SecretKey32::random();
        let nonce = [7u8; 12];
        let ct = seal(&key, &nonce, b"aad", b"hello");
        assert_eq!(ct.len(), 5 + TAG_LEN);
        assert_eq!(open(&key, &nonce, b"aad", &ct).unwrap().expose(), b"hello");
        assert!(matches!(
            open(&key, &nonce, b"other", &ct),
            Err(CryptoError::DecryptionFailed)
        ));
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(matches!(
            open(&key, &nonce, b"aad", &bad),
            Err(CryptoError::DecryptionFailed)
        ));
        assert!(matches!(
            open(&key, &nonce, b"aad", &ct[..10]),
            Err(CryptoError::DecryptionFailed)
        ));
    }
}
