//! Containers for secret material.
//!
//! Every type here zeroizes its memory on drop, is neither `Copy` nor `Clone`
//! (a copy would be a second place to wipe), and prints as `Name([redacted])` in
//! `Debug` output so a stray `{:?}` cannot leak key bytes into a log.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Fills an array with bytes from the operating system's CSPRNG.
///
/// # Panics
/// Panics if the operating system cannot provide randomness. There is no safe
/// fallback for key generation, and this does not depend on user input.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill_random(&mut out);
    out
}

/// Fills `buf` from the OS CSPRNG; see [`random_bytes`] for the panic policy.
pub(crate) fn fill_random(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        panic!("operating system random number generator failed: {e}");
    }
}

/// A 32-byte symmetric key (AES-256 key, KEK, Ed25519 seed, Shamir secret).
///
/// Boxed so moving the value does not leave copies on the stack; wiped on drop.
pub struct SecretKey32(Box<[u8; 32]>);

impl SecretKey32 {
    /// A fresh key from the OS CSPRNG.
    pub fn random() -> Self {
        let mut key = Self::zeroed();
        fill_random(key.0.as_mut_slice());
        key
    }

    /// Copies `b` into a new key. The caller remains responsible for wiping `b`.
    pub fn from_bytes(b: &[u8; 32]) -> Self {
        let mut key = Self::zeroed();
        key.0.copy_from_slice(b);
        key
    }

    /// The raw key bytes. Do not copy them anywhere that outlives this value.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// An all-zero key to be filled in place (KDF output, Shamir result).
    pub(crate) fn zeroed() -> Self {
        Self(Box::new([0u8; 32]))
    }

    /// Mutable access for filling in place.
    pub(crate) fn expose_mut(&mut self) -> &mut [u8; 32] {
        &mut self.0
    }
}

impl Drop for SecretKey32 {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SecretKey32 {}

impl fmt::Debug for SecretKey32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey32([redacted])")
    }
}

/// A byte buffer of plaintext (file content in flight: staging blocks, pieces
/// for the write pipeline), wiped on drop.
///
/// Unlike `Zeroizing<Vec<u8>>`, whose drop wipes element by element with
/// volatile writes (about 3 GB/s), this wipes the initialised bytes and the
/// spare capacity through the `zeroize` crate's slice path (a memset behind an
/// optimisation barrier): staging hundreds of MB per second, the wipe was 2–5 %
/// of the daemon's CPU. Not `Debug`.
pub struct Wiped(Vec<u8>);

impl Wiped {
    /// Takes ownership of `v`.
    pub fn new(v: Vec<u8>) -> Wiped {
        Wiped(v)
    }
}

impl std::ops::Deref for Wiped {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl std::ops::DerefMut for Wiped {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl AsRef<[u8]> for Wiped {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Wiped {
    fn drop(&mut self) {
        self.0.spare_capacity_mut().zeroize();
        self.0.as_mut_slice().zeroize();
    }
}

impl ZeroizeOnDrop for Wiped {}

/// Variable-length secret bytes (decrypted key material, serialized shares,
/// PKCS#8 private keys, decrypted chunks), wiped on drop like [`Wiped`].
pub struct SecretBytes(Wiped);

impl SecretBytes {
    /// Takes ownership of `v`; it is wiped when this value is dropped.
    pub fn new(v: Vec<u8>) -> Self {
        Self(Wiped::new(v))
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes([redacted])")
    }
}

/// A password or passphrase, wiped on drop.
pub struct Password(Zeroizing<String>);

impl Password {
    /// Takes ownership of `s`; it is wiped when this value is dropped.
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }

    /// The password text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_contains_no_secret_bytes() {
        let bytes = [0xA7u8; 32];
        let key = SecretKey32::from_bytes(&bytes);
        let dbg = format!("{key:?}");
        assert_eq!(dbg, "SecretKey32([redacted])");
        assert!(!dbg.to_lowercase().contains("a7"));
        assert!(!dbg.contains("167"));

        let sb = SecretBytes::new(vec![0xA7; 8]);
        let dbg = format!("{sb:?}");
        assert_eq!(dbg, "SecretBytes([redacted])");
        assert!(!dbg.contains("167"));

        let pw = Password::new("hunter2-correct-horse".to_owned());
        let dbg = format!("{pw:?}");
        assert_eq!(dbg, "Password([redacted])");
        assert!(!dbg.contains("hunter2"));
    }

    #[test]
    fn random_keys_differ_and_round_trip() {
        let a = SecretKey32::random();
        let b = SecretKey32::random();
        assert_ne!(a.expose(), b.expose());
        let c = SecretKey32::from_bytes(a.expose());
        assert_eq!(a.expose(), c.expose());
        assert_ne!(random_bytes::<16>(), random_bytes::<16>());
    }
}
