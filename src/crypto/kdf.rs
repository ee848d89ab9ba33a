//! Password-based keys (Argon2id, version 0x13) and the password box.
//!
//! Password box byte format (all integers big-endian; `docs/format.md` §4):
//!
//! | offset | size | field                         |
//! |--------|------|-------------------------------|
//! | 0      | 4    | magic `BCPK`                  |
//! | 4      | 1    | version `0x01`                |
//! | 5      | 4    | memory_kib (u32)              |
//! | 9      | 4    | iterations (u32)              |
//! | 13     | 4    | parallelism (u32)             |
//! | 17     | 16   | salt                          |
//! | 33     | 12   | AES-GCM nonce                 |
//! | 45     | n+16 | AES-256-GCM `ciphertext||tag` |
//!
//! The key is Argon2id(password, salt, params) → 32 bytes. The AES-GCM
//! associated data is the 45-byte header followed by the caller's `aad`, so
//! changing the stored parameters, salt or nonce fails authentication.

use argon2::{Algorithm, Argon2, Params, Version};

use super::aead::{NONCE_LEN, TAG_LEN};
use super::bytes::ByteReader;
use super::error::CryptoError;
use super::secret::{Password, SecretBytes, SecretKey32, random_bytes};

const MAGIC: &[u8; 4] = b"BCPK";
const VERSION: u8 = 1;
const FORMAT: &str = "password box";
/// Bytes before the ciphertext.
pub const PASSWORD_BOX_HEADER_LEN: usize = 4 + 1 + 4 + 4 + 4 + 16 + NONCE_LEN;

/// Largest accepted memory cost: 4 GiB.
pub const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
/// Largest accepted iteration count.
pub const MAX_ITERATIONS: u32 = 100;
/// Largest accepted parallelism (lanes).
pub const MAX_PARALLELISM: u32 = 64;

/// Argon2id cost parameters, stored in every password box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory cost in KiB (at least 8 × `parallelism`, at most 4 GiB).
    pub memory_kib: u32,
    /// Number of passes (1..=100).
    pub iterations: u32,
    /// Lanes (1..=64).
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane.
    fn default() -> Self {
        Self {
            memory_kib: 65536,
            iterations: 3,
            parallelism: 1,
        }
    }
}

impl KdfParams {
    /// Checks the bounds above, before anything is allocated.
    ///
    /// # Errors
    /// [`CryptoError::KdfParamOutOfRange`] naming the first bad parameter.
    pub fn validate(&self) -> Result<(), CryptoError> {
        let check = |param, value, min, max| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(CryptoError::KdfParamOutOfRange {
                    param,
                    value,
                    min,
                    max,
                })
            }
        };
        check("parallelism", self.parallelism, 1, MAX_PARALLELISM)?;
        check("iterations", self.iterations, 1, MAX_ITERATIONS)?;
        // Argon2 needs at least 8 KiB per lane.
        check(
            "memory_kib",
            self.memory_kib,
            8 * self.parallelism,
            MAX_MEMORY_KIB,
        )
    }
}

/// Derives a 32-byte key from `password` with Argon2id.
///
/// # Errors
/// [`CryptoError::KdfParamOutOfRange`] or [`CryptoError::Kdf`].
pub fn derive_key(
    password: &Password,
    salt: &[u8; 16],
    params: &KdfParams,
) -> Result<SecretKey32, CryptoError> {
    params.validate()?;
    let p = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|e| CryptoError::Kdf {
        reason: e.to_string(),
    })?;
    let mut key = SecretKey32::zeroed();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
        .hash_password_into(password.expose().as_bytes(), salt, key.expose_mut())
        .map_err(|e| CryptoError::Kdf {
            reason: e.to_string(),
        })?;
    Ok(key)
}

fn header(params: &KdfParams, salt: &[u8; 16], nonce: &[u8; NONCE_LEN]) -> Vec<u8> {
    let mut h = Vec::with_capacity(PASSWORD_BOX_HEADER_LEN);
    h.extend_from_slice(MAGIC);
    h.push(VERSION);
    h.extend_from_slice(&params.memory_kib.to_be_bytes());
    h.extend_from_slice(&params.iterations.to_be_bytes());
    h.extend_from_slice(&params.parallelism.to_be_bytes());
    h.extend_from_slice(salt);
    h.extend_from_slice(nonce);
    h
}

fn full_aad(header: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(header.len() + aad.len());
    v.extend_from_slice(header);
    v.extend_from_slice(aad);
    v
}

/// Encrypts `plaintext` under a key derived from `password` (fresh salt and
/// nonce), binding `aad`; returns the password box.
///
/// # Errors
/// [`CryptoError::KdfParamOutOfRange`] or [`CryptoError::Kdf`].
pub fn password_seal(
    password: &Password,
    params: &KdfParams,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let salt: [u8; 16] = random_bytes();
    let nonce: [u8; NONCE_LEN] = random_bytes();
    let key = derive_key(password, &salt, params)?;
    let mut out = header(params, &salt, &nonce);
    let ct = super::aead::seal(&key, &nonce, &full_aad(&out, aad), plaintext);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Parsed, validated header of a password box.
struct BoxHeader<'a> {
    params: KdfParams,
    salt: [u8; 16],
    nonce: [u8; NONCE_LEN],
    header: &'a [u8],
    ct: &'a [u8],
}

fn parse(sealed: &[u8]) -> Result<BoxHeader<'_>, CryptoError> {
    let mut r = ByteReader::new(sealed, FORMAT);
    if r.take(4)? != MAGIC {
        return Err(CryptoError::BadMagic { format: FORMAT });
    }
    let version = r.u8()?;
    if version != VERSION {
        return Err(CryptoError::UnsupportedVersion {
            format: FORMAT,
            version,
        });
    }
    let params = KdfParams {
        memory_kib: r.u32()?,
        iterations: r.u32()?,
        parallelism: r.u32()?,
    };
    let mut salt = [0u8; 16];
    salt.copy_from_slice(r.take(16)?);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(r.take(NONCE_LEN)?);
    let ct = r.rest();
    if ct.len() < TAG_LEN {
        return Err(CryptoError::TooShort {
            format: FORMAT,
            needed: PASSWORD_BOX_HEADER_LEN + TAG_LEN,
            found: sealed.len(),
        });
    }
    params.validate()?;
    Ok(BoxHeader {
        params,
        salt,
        nonce,
        header: &sealed[..PASSWORD_BOX_HEADER_LEN],
        ct,
    })
}

/// Reads the KDF parameters stored in a password box without deriving anything
/// (e.g. to warn that opening will need a lot of memory).
///
/// # Errors
/// The parse errors of [`password_open`].
pub fn password_box_params(sealed: &[u8]) -> Result<KdfParams, CryptoError> {
    parse(sealed).map(|h| h.params)
}

/// Opens a box made by [`password_seal`] with the same password and `aad`.
///
/// # Errors
/// [`CryptoError::WrongPassword`] when authentication fails (wrong password, or
/// the box or `aad` changed); [`CryptoError::BadMagic`],
/// [`CryptoError::UnsupportedVersion`], [`CryptoError::TooShort`] or
/// [`CryptoError::KdfParamOutOfRange`] for a malformed box (checked before
/// running Argon2).
pub fn password_open(
    password: &Password,
    aad: &[u8],
    sealed: &[u8],
) -> Result<SecretBytes, CryptoError> {
    let h = parse(sealed)?;
    let key = derive_key(password, &h.salt, &h.params)?;
    super::aead::open(&key, &h.nonce, &full_aad(h.header, aad), h.ct)
        .map_err(|_| CryptoError::WrongPassword)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: KdfParams = KdfParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn header_layout() {
        let h = header(&CHEAP, &[0xAA; 16], &[0xBB; 12]);
        assert_eq!(h.len(), PASSWORD_BOX_HEADER_LEN);
        assert_eq!(PASSWORD_BOX_HEADER_LEN, 45);
        assert_eq!(&h[..5], b"BCPK\x01");
        assert_eq!(&h[5..9], &1024u32.to_be_bytes());
        assert_eq!(&h[9..13], &1u32.to_be_bytes());
        assert_eq!(&h[13..17], &1u32.to_be_bytes());
        assert_eq!(&h[17..33], &[0xAA; 16]);
        assert_eq!(&h[33..45], &[0xBB; 12]);
    }

    #[test]
    fn validate_bounds() {
        assert!(KdfParams::default().validate().is_ok());
        assert!(CHEAP.validate().is_ok());
        let bad = [
            (
                KdfParams {
                    iterations: 0,
                    ..CHEAP
                },
                "iterations",
            ),
            (
                KdfParams {
                    iterations: 101,
                    ..CHEAP
                },
                "iterations",
            ),
            (
                KdfParams {
                    parallelism: 0,
                    ..CHEAP
                },
                "parallelism",
            ),
            (
                KdfParams {
                    parallelism: 65,
                    ..CHEAP
                },
                "parallelism",
            ),
            (
                KdfParams {
                    memory_kib: MAX_MEMORY_KIB + 1,
                    ..CHEAP
                },
                "memory_kib",
            ),
            (
                KdfParams {
                    memory_kib: 15,
                    parallelism: 2,
                    ..CHEAP
                },
                "memory_kib",
            ),
        ];
        for (p, name) in bad {
            match p.validate() {
                Err(CryptoError::KdfParamOutOfRange { param, .. }) => assert_eq!(param, name),
                other => panic!("{p:?}: expected {name} out of range, got {other:?}"),
            }
        }
    }

    #[test]
    fn derive_is_deterministic_and_salted() {
        let pw = Password::new("pw".into());
        let a = derive_key(&pw, &[1; 16], &CHEAP).unwrap();
        let b = derive_key(&pw, &[1; 16], &CHEAP).unwrap();
        let c = derive_key(&pw, &[2; 16], &CHEAP).unwrap();
        assert_eq!(a.expose(), b.expose());
        assert_ne!(a.expose(), c.expose());
    }
}
