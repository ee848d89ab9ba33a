//! Shamir secret sharing of a 32-byte key over GF(256) (via `blahaj`).
//!
//! Each byte of the secret is the constant term of its own random polynomial of
//! degree `threshold - 1` with uniformly random coefficients; share `x` holds the
//! 32 evaluations at `x`. Any `threshold` shares recover the secret; fewer reveal
//! nothing about it.
//!
//! Share byte format (`docs/format.md` §5): `index` (1 byte, x = 1..=255, the
//! dealer hands out 1..=count) followed by the 32 `y` bytes — 33 bytes in all.
//!
//! Threshold 1: `blahaj` handles it natively (the polynomial is the constant
//! secret, so each share's `y` equals the secret; that is inherent to a 1-of-n
//! scheme, and shares are always sealed under an executive's password).
//!
//! `blahaj::Sharks::recover` de-duplicates indices when counting but then
//! interpolates over every share given, so a duplicated share would silently
//! give a wrong secret; [`combine`] rejects duplicates itself first.

use std::fmt;

use blahaj::Sharks;
use getrandom::SysRng;
use rand::rand_core::UnwrapErr;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::error::CryptoError;
use super::secret::{SecretBytes, SecretKey32};

/// Largest number of shares (and threshold) accepted.
pub const MAX_SHARES: u8 = 20;

/// Length of a serialized share.
pub const SHARE_LEN: usize = 1 + 32;

/// One share of a split key. Secret: wiped on drop, no `Clone`, redacted `Debug`.
pub struct Share {
    /// The x coordinate, 1..=255 (never 0: f(0) is the secret).
    pub index: u8,
    y: Box<[u8; 32]>,
}

impl Share {
    /// `index || y` (33 bytes).
    pub fn to_bytes(&self) -> SecretBytes {
        let mut v = Vec::with_capacity(SHARE_LEN);
        v.push(self.index);
        v.extend_from_slice(self.y.as_slice());
        SecretBytes::new(v)
    }

    /// Parses 33 bytes `index || y`.
    ///
    /// # Errors
    /// [`CryptoError::InvalidShare`] for a wrong length or index 0.
    pub fn from_bytes(b: &[u8]) -> Result<Share, CryptoError> {
        if b.len() != SHARE_LEN {
            return Err(CryptoError::InvalidShare {
                reason: "a share is exactly 33 bytes (index + 32)",
            });
        }
        if b[0] == 0 {
            return Err(CryptoError::InvalidShare {
                reason: "share index 0 is not allowed",
            });
        }
        let mut y = Box::new([0u8; 32]);
        y.copy_from_slice(&b[1..]);
        Ok(Share { index: b[0], y })
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.y.zeroize();
    }
}

impl ZeroizeOnDrop for Share {}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Share {{ index: {}, y: [redacted] }}", self.index)
    }
}

fn check_params(threshold: u8, count: u8) -> Result<(), CryptoError> {
    if threshold == 0 || threshold > count || count > MAX_SHARES {
        return Err(CryptoError::ShamirParams { threshold, count });
    }
    Ok(())
}

/// Splits `secret` into `count` shares (indices 1..=count), any `threshold` of
/// which recover it.
///
/// # Errors
/// [`CryptoError::ShamirParams`] unless `1 <= threshold <= count <= 20`.
pub fn split(secret: &SecretKey32, threshold: u8, count: u8) -> Result<Vec<Share>, CryptoError> {
    check_params(threshold, count)?;
    let mut rng = UnwrapErr(SysRng);
    let mut shares = Vec::with_capacity(usize::from(count));
    for share in Sharks(threshold)
        .dealer_rng(secret.expose(), &mut rng)
        .take(usize::from(count))
    {
        let bytes = Zeroizing::new(Vec::<u8>::from(&share));
        shares.push(Share::from_bytes(&bytes)?);
    }
    Ok(shares)
}

/// Recovers the secret from at least `threshold` distinct shares (all given
/// shares are used). Shares from different splits are not detected here:
/// callers authenticate the result (e.g. by opening what it encrypts).
///
/// # Errors
/// [`CryptoError::ShamirParams`] for a threshold outside 1..=20,
/// [`CryptoError::NotEnoughShares`], [`CryptoError::DuplicateShare`],
/// [`CryptoError::InvalidShare`] (index 0).
pub fn combine(shares: &[Share], threshold: u8) -> Result<SecretKey32, CryptoError> {
    check_params(threshold, MAX_SHARES)?;
    if shares.len() < usize::from(threshold) {
        return Err(CryptoError::NotEnoughShares {
            have: shares.len(),
            need: threshold,
        });
    }
    let mut seen = [false; 256];
    for s in shares {
        if s.index == 0 {
            return Err(CryptoError::InvalidShare {
                reason: "share index 0 is not allowed",
            });
        }
        if std::mem::replace(&mut seen[usize::from(s.index)], true) {
            return Err(CryptoError::DuplicateShare { index: s.index });
        }
    }
    let mut theirs = Vec::with_capacity(shares.len());
    for s in shares {
        let bytes = s.to_bytes();
        let share = blahaj::Share::try_from(bytes.expose())
            .map_err(|reason| CryptoError::InvalidShare { reason })?;
        theirs.push(share);
    }
    let secret = Zeroizing::new(Sharks(threshold).recover(theirs.iter()).map_err(|_| {
        CryptoError::NotEnoughShares {
            have: shares.len(),
            need: threshold,
        }
    })?);
    let bytes: &[u8; 32] = secret
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::InvalidShare {
            reason: "recovered secret has the wrong length",
        })?;
    Ok(SecretKey32::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_bounds() {
        let s = SecretKey32::random();
        for (m, n) in [(0, 3), (4, 3), (1, 21), (21, 21), (0, 0)] {
            assert!(matches!(
                split(&s, m, n),
                Err(CryptoError::ShamirParams { .. })
            ));
        }
        assert_eq!(split(&s, 20, 20).unwrap().len(), 20);
    }

    #[test]
    fn share_bytes_layout() {
        let s = SecretKey32::random();
        let shares = split(&s, 2, 3).unwrap();
        for (i, sh) in shares.iter().enumerate() {
            let b = sh.to_bytes();
            assert_eq!(b.len(), SHARE_LEN);
            assert_eq!(b.expose()[0] as usize, i + 1);
            let back = Share::from_bytes(b.expose()).unwrap();
            assert_eq!(back.index, sh.index);
            assert_eq!(back.y, sh.y);
        }
        assert_eq!(
            format!("{:?}", shares[0]),
            "Share { index: 1, y: [redacted] }"
        );
    }
}
