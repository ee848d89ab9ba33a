//! Public-key key wrapping: RSA-OAEP (SHA-256, MGF1-SHA-256) with a label per
//! purpose, and the multi-recipient [`Envelope`].
//!
//! The label `bcpvault/v1/<purpose>` gives domain separation: a key wrapped as a
//! pack key does not unwrap as an index key, even under the same RSA key pair.
//!
//! Envelope byte format (all integers big-endian; see `docs/format.md` §2):
//!
//! | offset | size | field                                   |
//! |--------|------|-----------------------------------------|
//! | 0      | 4    | magic `BCPE`                            |
//! | 4      | 1    | version `0x01`                          |
//! | 5      | 2    | recipient count `r` (u16, 1..=1024)     |
//! | 7      | …    | `r` recipient entries, in order         |
//!
//! Recipient entry: fingerprint (32 B, SHA-256 of the recipient's SPKI DER),
//! wrapped length `w` (u16), wrapped key (`w` bytes, RSA-OAEP ciphertext of the
//! 32-byte key). Nothing may follow the last entry.

use std::fmt;

use getrandom::SysRng;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, PrivateKey, PublicKey};
use sha2::{Digest, Sha256};

use super::bytes::ByteReader;
use super::error::CryptoError;
use super::secret::{SecretBytes, SecretKey32};

/// What a wrapped key is for; selects the OAEP label `bcpvault/v1/<purpose>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WrapPurpose {
    /// Per-pack session key (label `bcpvault/v1/pack-key`).
    PackKey,
    /// Key of an encrypted index copy (label `bcpvault/v1/index-key`).
    IndexKey,
    /// Key of a single encrypted object (label `bcpvault/v1/object-key`).
    ObjectKey,
    /// Reserved for tests and test vectors (label `bcpvault/v1/test`).
    Test,
}

impl WrapPurpose {
    /// The OAEP label bytes for this purpose.
    pub fn label(self) -> &'static [u8] {
        match self {
            WrapPurpose::PackKey => b"bcpvault/v1/pack-key",
            WrapPurpose::IndexKey => b"bcpvault/v1/index-key",
            WrapPurpose::ObjectKey => b"bcpvault/v1/object-key",
            WrapPurpose::Test => b"bcpvault/v1/test",
        }
    }

    fn oaep(self) -> Oaep<Sha256> {
        // `Oaep<Sha256>` uses SHA-256 for both the label hash and MGF1.
        Oaep::<Sha256>::new_with_label(self.label())
    }
}

/// RSA modulus sizes accepted by [`VaultPrivateKey::generate`].
pub const GENERATE_BITS: [usize; 3] = [2048, 3072, 4096];

/// Smallest modulus accepted when loading a key.
const MIN_LOAD_BITS: usize = 2048;
/// Largest modulus accepted when loading a key (the `rsa` crate's own limit).
const MAX_LOAD_BITS: usize = 8192;

/// The vault's RSA private key. Wiped on drop (by `rsa`), never `Clone`, and
/// `Debug` shows only the public fingerprint.
pub struct VaultPrivateKey {
    key: PrivateKey,
    public: VaultPublicKey,
}

impl VaultPrivateKey {
    /// Generates a new key pair with a modulus of `bits` (2048, 3072 or 4096).
    ///
    /// # Errors
    /// [`CryptoError::UnsupportedKeySize`] for other sizes;
    /// [`CryptoError::KeyGeneration`] if the `rsa` crate fails.
    pub fn generate(bits: usize) -> Result<Self, CryptoError> {
        if !GENERATE_BITS.contains(&bits) {
            return Err(CryptoError::UnsupportedKeySize {
                bits,
                allowed: "2048, 3072 or 4096",
            });
        }
        let key = PrivateKey::new(&mut SysRng, bits).map_err(|e| CryptoError::KeyGeneration {
            reason: e.to_string(),
        })?;
        Self::from_rsa(key)
    }

    /// Serializes the private key as PKCS#8 DER (secret: seal it before storing).
    ///
    /// # Panics
    /// Only if the `rsa` crate cannot encode a key it validated on creation.
    pub fn to_pkcs8_der(&self) -> SecretBytes {
        match self.key.to_pkcs8_der() {
            Ok(doc) => SecretBytes::new(doc.as_bytes().to_vec()),
            Err(e) => panic!("encoding a valid RSA private key as PKCS#8 failed: {e}"),
        }
    }

    /// Parses a PKCS#8 DER RSA private key (2048 to 8192 bits).
    ///
    /// # Errors
    /// [`CryptoError::InvalidPrivateKey`] if the DER or the key is invalid;
    /// [`CryptoError::UnsupportedKeySize`] if the modulus is out of range.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, CryptoError> {
        let key = PrivateKey::from_pkcs8_der(der).map_err(|e| CryptoError::InvalidPrivateKey {
            reason: e.to_string(),
        })?;
        key.validate().map_err(|e| CryptoError::InvalidPrivateKey {
            reason: e.to_string(),
        })?;
        Self::from_rsa(key)
    }

    fn from_rsa(key: PrivateKey) -> Result<Self, CryptoError> {
        let public = VaultPublicKey::from_rsa(key.to_public_key())?;
        Ok(Self { key, public })
    }

    /// The matching public key.
    pub fn public_key(&self) -> VaultPublicKey {
        self.public.clone()
    }
}

impl fmt::Debug for VaultPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VaultPrivateKey([redacted], public {})",
            hex::encode(self.public.fingerprint())
        )
    }
}

/// An RSA public key with its SPKI DER encoding and fingerprint.
#[derive(Clone)]
pub struct VaultPublicKey {
    key: PublicKey,
    der: Vec<u8>,
    fingerprint: [u8; 32],
}

impl VaultPublicKey {
    fn from_rsa(key: PublicKey) -> Result<Self, CryptoError> {
        let bits = key.n().bit_width() as usize;
        if !(MIN_LOAD_BITS..=MAX_LOAD_BITS).contains(&bits) {
            return Err(CryptoError::UnsupportedKeySize {
                bits,
                allowed: "2048 to 8192",
            });
        }
        let der = key
            .to_public_key_der()
            .map_err(|e| CryptoError::InvalidPublicKey {
                reason: e.to_string(),
            })?
            .into_vec();
        let fingerprint = Sha256::digest(&der).into();
        Ok(Self {
            key,
            der,
            fingerprint,
        })
    }

    /// SubjectPublicKeyInfo DER encoding.
    pub fn to_der(&self) -> Vec<u8> {
        self.der.clone()
    }

    /// Parses a SubjectPublicKeyInfo DER RSA public key (2048 to 8192 bits).
    ///
    /// # Errors
    /// [`CryptoError::InvalidPublicKey`] or [`CryptoError::UnsupportedKeySize`].
    pub fn from_der(d: &[u8]) -> Result<Self, CryptoError> {
        let key = PublicKey::from_public_key_der(d).map_err(|e| CryptoError::InvalidPublicKey {
            reason: e.to_string(),
        })?;
        Self::from_rsa(key)
    }

    /// SHA-256 of the SPKI DER encoding.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.key.n().bit_width() as usize
    }

    /// Length in bytes of every key wrapped to this key (the modulus size).
    pub fn wrapped_len(&self) -> usize {
        self.key.size()
    }
}

impl PartialEq for VaultPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for VaultPublicKey {}

impl fmt::Debug for VaultPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VaultPublicKey(rsa-{}, {})",
            self.bits(),
            hex::encode(self.fingerprint)
        )
    }
}

/// Encrypts `key` to `pk` with RSA-OAEP under the label of `purpose`.
///
/// # Errors
/// [`CryptoError::WrapFailed`] if the RSA operation fails.
pub fn wrap_key(
    pk: &VaultPublicKey,
    purpose: WrapPurpose,
    key: &SecretKey32,
) -> Result<Vec<u8>, CryptoError> {
    pk.key
        .encrypt(&mut SysRng, purpose.oaep(), key.expose())
        .map_err(|_| CryptoError::WrapFailed {
            fingerprint: hex::encode(pk.fingerprint),
        })
}

/// Decrypts a key wrapped by [`wrap_key`] for the same key pair and purpose.
///
/// # Errors
/// [`CryptoError::WrappedKeyLength`] if `wrapped` cannot be a ciphertext of this
/// key; [`CryptoError::UnwrapFailed`] for any other failure (wrong key, wrong
/// purpose, modified bytes).
pub fn unwrap_key(
    sk: &VaultPrivateKey,
    purpose: WrapPurpose,
    wrapped: &[u8],
) -> Result<SecretKey32, CryptoError> {
    let expected = sk.key.size();
    if wrapped.len() != expected {
        return Err(CryptoError::WrappedKeyLength {
            expected,
            found: wrapped.len(),
        });
    }
    let plain = SecretBytes::new(
        sk.key
            .decrypt_blinded(&mut SysRng, purpose.oaep(), wrapped)
            .map_err(|_| CryptoError::UnwrapFailed)?,
    );
    let bytes: &[u8; 32] = plain
        .expose()
        .try_into()
        .map_err(|_| CryptoError::UnwrapFailed)?;
    Ok(SecretKey32::from_bytes(bytes))
}

const MAGIC: &[u8; 4] = b"BCPE";
const VERSION: u8 = 1;
const FORMAT: &str = "envelope";
/// Fixed part before the entries: magic, version, count.
const HEADER_LEN: usize = 4 + 1 + 2;
/// Upper bound on recipients, so a hostile count cannot drive allocation.
const MAX_RECIPIENTS: usize = 1024;

/// A fresh symmetric key wrapped to one or more RSA recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    recipients: Vec<([u8; 32], Vec<u8>)>,
}

impl Envelope {
    /// Generates a random key and wraps it to every recipient under `purpose`.
    /// Returns the key (for the caller to encrypt with) and the envelope.
    ///
    /// # Errors
    /// [`CryptoError::NoRecipients`], [`CryptoError::DuplicateRecipient`],
    /// or [`CryptoError::WrapFailed`].
    pub fn seal(
        recipients: &[&VaultPublicKey],
        purpose: WrapPurpose,
    ) -> Result<(SecretKey32, Envelope), CryptoError> {
        if recipients.is_empty() {
            return Err(CryptoError::NoRecipients);
        }
        if recipients.len() > MAX_RECIPIENTS {
            return Err(CryptoError::Malformed {
                format: FORMAT,
                reason: "more than 1024 recipients",
            });
        }
        let key = SecretKey32::random();
        let mut entries: Vec<([u8; 32], Vec<u8>)> = Vec::with_capacity(recipients.len());
        for pk in recipients {
            let fp = pk.fingerprint();
            if entries.iter().any(|(f, _)| *f == fp) {
                return Err(CryptoError::DuplicateRecipient {
                    fingerprint: hex::encode(fp),
                });
            }
            entries.push((fp, wrap_key(pk, purpose, &key)?));
        }
        Ok((
            key,
            Envelope {
                recipients: entries,
            },
        ))
    }

    /// Unwraps the key with `sk`, using the entry whose fingerprint matches
    /// `sk`'s public key.
    ///
    /// # Errors
    /// [`CryptoError::NotARecipient`] if there is no such entry; otherwise the
    /// errors of [`unwrap_key`].
    pub fn open(
        &self,
        sk: &VaultPrivateKey,
        purpose: WrapPurpose,
    ) -> Result<SecretKey32, CryptoError> {
        let fp = sk.public.fingerprint();
        let (_, wrapped) = self
            .recipients
            .iter()
            .find(|(f, _)| *f == fp)
            .ok_or_else(|| CryptoError::NotARecipient {
                fingerprint: hex::encode(fp),
            })?;
        unwrap_key(sk, purpose, wrapped)
    }

    /// Fingerprints of the recipients, in envelope order.
    pub fn fingerprints(&self) -> Vec<[u8; 32]> {
        self.recipients.iter().map(|(f, _)| *f).collect()
    }

    /// Serializes the envelope (format in the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let body: usize = self.recipients.iter().map(|(_, w)| 32 + 2 + w.len()).sum();
        let mut out = Vec::with_capacity(HEADER_LEN + body);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        // Counts and lengths fit: `seal` and `from_bytes` bound them.
        out.extend_from_slice(&(self.recipients.len() as u16).to_be_bytes());
        for (fp, wrapped) in &self.recipients {
            out.extend_from_slice(fp);
            out.extend_from_slice(&(wrapped.len() as u16).to_be_bytes());
            out.extend_from_slice(wrapped);
        }
        out
    }

    /// Parses an envelope; rejects bad magic, unknown versions, zero or
    /// duplicate recipients, empty wrapped keys and trailing bytes.
    ///
    /// # Errors
    /// [`CryptoError::BadMagic`], [`CryptoError::UnsupportedVersion`],
    /// [`CryptoError::TooShort`], [`CryptoError::Malformed`],
    /// [`CryptoError::DuplicateRecipient`], [`CryptoError::TrailingBytes`].
    pub fn from_bytes(b: &[u8]) -> Result<Envelope, CryptoError> {
        let mut r = ByteReader::new(b, FORMAT);
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
        let count = usize::from(r.u16()?);
        if count == 0 {
            return Err(CryptoError::Malformed {
                format: FORMAT,
                reason: "zero recipients",
            });
        }
        if count > MAX_RECIPIENTS {
            return Err(CryptoError::Malformed {
                format: FORMAT,
                reason: "more than 1024 recipients",
            });
        }
        let mut recipients: Vec<([u8; 32], Vec<u8>)> = Vec::new();
        for _ in 0..count {
            let mut fp = [0u8; 32];
            fp.copy_from_slice(r.take(32)?);
            let len = usize::from(r.u16()?);
            if len == 0 {
                return Err(CryptoError::Malformed {
                    format: FORMAT,
                    reason: "empty wrapped key",
                });
            }
            let wrapped = r.take(len)?.to_vec();
            if recipients.iter().any(|(f, _)| *f == fp) {
                return Err(CryptoError::DuplicateRecipient {
                    fingerprint: hex::encode(fp),
                });
            }
            recipients.push((fp, wrapped));
        }
        r.finish()?;
        Ok(Envelope { recipients })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct() {
        let all = [
            WrapPurpose::PackKey,
            WrapPurpose::IndexKey,
            WrapPurpose::ObjectKey,
            WrapPurpose::Test,
        ];
        for (i, a) in all.iter().enumerate() {
            assert!(a.label().starts_with(b"bcpvault/v1/"));
            for b in &all[i + 1..] {
                assert_ne!(a.label(), b.label());
            }
        }
    }

    #[test]
    fn generate_rejects_unsupported_sizes() {
        for bits in [0, 1024, 2047, 2049, 8192] {
            assert!(matches!(
                VaultPrivateKey::generate(bits),
                Err(CryptoError::UnsupportedKeySize { .. })
            ));
        }
    }

    #[test]
    fn envelope_parse_rejects_structural_errors() {
        let entry = |fp: u8| {
            let mut v = vec![fp; 32];
            v.extend_from_slice(&[0, 3, 1, 2, 3]);
            v
        };
        let mut good = b"BCPE\x01\x00\x02".to_vec();
        good.extend(entry(1));
        good.extend(entry(2));
        let env = Envelope::from_bytes(&good).unwrap();
        assert_eq!(env.to_bytes(), good);
        assert_eq!(env.fingerprints(), vec![[1u8; 32], [2u8; 32]]);

        let mut dup = b"BCPE\x01\x00\x02".to_vec();
        dup.extend(entry(1));
        dup.extend(entry(1));
        assert!(matches!(
            Envelope::from_bytes(&dup),
            Err(CryptoError::DuplicateRecipient { .. })
        ));
        assert!(matches!(
            Envelope::from_bytes(b"BCPE\x01\x00\x00"),
            Err(CryptoError::Malformed { .. })
        ));
        assert!(matches!(
            Envelope::from_bytes(b"BCPX\x01\x00\x01"),
            Err(CryptoError::BadMagic { .. })
        ));
        assert!(matches!(
            Envelope::from_bytes(b"BCPE\x02\x00\x01"),
            Err(CryptoError::UnsupportedVersion { version: 2, .. })
        ));
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(
            Envelope::from_bytes(&trailing),
            Err(CryptoError::TrailingBytes { extra: 1, .. })
        ));
        assert!(matches!(
            Envelope::from_bytes(&good[..good.len() - 1]),
            Err(CryptoError::TooShort { .. })
        ));
    }
}
