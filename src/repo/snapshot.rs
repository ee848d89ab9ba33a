//! Snapshots: the commit point of a backup, signed by the writer and chained to
//! the previous snapshot.
//!
//! ```text
//! "BCPS" ‖ version 1 ‖ vault id (16) ‖ time (i64 BE, microseconds since epoch)
//!   ‖ previous snapshot id (32, zero for the first) ‖ root tree blob id (32)
//!   ‖ files u64 ‖ dirs u64 ‖ logical bytes u64 ‖ u8 length ‖ vault name
//!   ‖ u32 length ‖ envelope (label bcpvault/v1/object-key)
//!   ‖ u32 length ‖ AES-256-GCM(key, nonce 0^12, aad "bcpvault/v1/snapshot",
//!                   u16 host ‖ host ‖ u16 n ‖ n × (u16 length ‖ source path))
//!   ‖ Ed25519 signature (64) over every preceding byte
//! ```
//! Object name: `snapshots/<sha256 of the bytes>`. Host and source paths are names,
//! so they are encrypted; counts and sizes are not secret (pack sizes show them).

use crate::crypto::{
    Envelope, VaultPrivateKey, VaultPublicKey, WrapPurpose, WriterSigningKey, WriterVerifyingKey,
    aead,
};

use super::id::{BlobId, ObjectId};
use super::wire::{FormatError, Wire, put_bytes16, put_bytes32};

const MAGIC: &[u8; 4] = b"BCPS";
const AAD: &[u8] = b"bcpvault/v1/snapshot";

/// The parts of a snapshot readable without a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// Vault the snapshot belongs to.
    pub vault_id: [u8; 16],
    /// Creation time, microseconds since the Unix epoch.
    pub time_us: i64,
    /// Previous snapshot in the chain (zero for the first).
    pub previous: ObjectId,
    /// Root tree blob.
    pub root: BlobId,
    /// Regular files in the snapshot.
    pub files: u64,
    /// Directories in the snapshot.
    pub dirs: u64,
    /// Sum of file sizes.
    pub logical_bytes: u64,
    /// Vault (profile) name.
    pub vault_name: String,
}

/// The encrypted part: names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotPrivate {
    /// Host that made the snapshot.
    pub host: String,
    /// Source paths backed up (empty for a snapshot of the mounted vault).
    pub paths: Vec<String>,
}

/// A parsed snapshot object.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Public header.
    pub header: SnapshotHeader,
    envelope: Envelope,
    private_ct: Vec<u8>,
    signed_len: usize,
    signature: [u8; 64],
}

/// Why a snapshot is not acceptable.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Bad structure.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The signature does not verify with the vault's writer key.
    #[error("signature does not verify with the vault's writer key (planted or altered snapshot)")]
    Signature,
    /// The private part does not decrypt.
    #[error("encrypted part does not open with this vault key")]
    Private,
    /// Encryption failed.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

impl Snapshot {
    /// Builds and signs a snapshot object; returns its bytes and id.
    pub fn create(
        header: &SnapshotHeader,
        private: &SnapshotPrivate,
        recipients: &[&VaultPublicKey],
        signer: &WriterSigningKey,
    ) -> Result<(ObjectId, Vec<u8>), SnapshotError> {
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(MAGIC);
        out.push(1);
        out.extend_from_slice(&header.vault_id);
        out.extend_from_slice(&header.time_us.to_be_bytes());
        out.extend_from_slice(&header.previous.0);
        out.extend_from_slice(&header.root.0);
        for v in [header.files, header.dirs, header.logical_bytes] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        let name = header.vault_name.as_bytes();
        out.push(name.len().min(255) as u8);
        out.extend_from_slice(&name[..name.len().min(255)]);
        let mut body = Vec::new();
        put_bytes16(&mut body, clip(private.host.as_bytes()));
        body.extend_from_slice(&(private.paths.len().min(65535) as u16).to_be_bytes());
        for p in private.paths.iter().take(65535) {
            put_bytes16(&mut body, clip(p.as_bytes()));
        }
        let (key, envelope) = Envelope::seal(recipients, WrapPurpose::ObjectKey)?;
        put_bytes32(&mut out, &envelope.to_bytes());
        put_bytes32(&mut out, &aead::seal(&key, &[0; 12], AAD, &body));
        let sig = signer.sign(&out);
        out.extend_from_slice(&sig);
        Ok((ObjectId::of(&out), out))
    }

    /// Parses a snapshot object (no key needed).
    pub fn parse(bytes: &[u8]) -> Result<Snapshot, FormatError> {
        let mut w = Wire::new(bytes, "snapshot");
        w.magic(MAGIC)?;
        w.version(1)?;
        let vault_id = w.array()?;
        let time_us = w.i64()?;
        let previous = ObjectId(w.array()?);
        let root = BlobId(w.array()?);
        let (files, dirs, logical_bytes) = (w.u64()?, w.u64()?, w.u64()?);
        let n = w.u8()? as usize;
        let vault_name = String::from_utf8(w.take(n)?.to_vec())
            .map_err(|_| w.error("vault name is not UTF-8"))?;
        let env = w.bytes32()?;
        let envelope = Envelope::from_bytes(env).map_err(|e| w.error(format!("envelope: {e}")))?;
        let private_ct = w.bytes32()?.to_vec();
        let signed_len = w.offset();
        let signature = w.array()?;
        w.finish()?;
        Ok(Snapshot {
            header: SnapshotHeader {
                vault_id,
                time_us,
                previous,
                root,
                files,
                dirs,
                logical_bytes,
                vault_name,
            },
            envelope,
            private_ct,
            signed_len,
            signature,
        })
    }

    /// Parses and verifies the writer's signature over `bytes`.
    pub fn parse_verified(
        bytes: &[u8],
        writer: &WriterVerifyingKey,
    ) -> Result<Snapshot, SnapshotError> {
        let s = Self::parse(bytes)?;
        writer
            .verify(&bytes[..s.signed_len], &s.signature)
            .map_err(|_| SnapshotError::Signature)?;
        Ok(s)
    }

    /// Decrypts host and paths.
    pub fn private(&self, sk: &VaultPrivateKey) -> Result<SnapshotPrivate, SnapshotError> {
        let key = self
            .envelope
            .open(sk, WrapPurpose::ObjectKey)
            .map_err(|_| SnapshotError::Private)?;
        let body = aead::open(&key, &[0; 12], AAD, &self.private_ct)
            .map_err(|_| SnapshotError::Private)?;
        let mut w = Wire::new(body.expose(), "snapshot private part");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let host = text(w.bytes16()?);
        let n = w.u16()? as usize;
        let mut paths = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            paths.push(text(w.bytes16()?));
        }
        w.finish()?;
        Ok(SnapshotPrivate { host, paths })
    }
}

fn clip(b: &[u8]) -> &[u8] {
    &b[..b.len().min(65535)]
}

/// Formats snapshot time as local ISO 8601 (`2026-12-04T10:00:00+09:00`).
pub fn format_time(time_us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(time_us)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        })
        .unwrap_or_else(|| format!("@{time_us}us"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_parse_verify_and_decrypt() {
        let sk = VaultPrivateKey::generate(2048).unwrap();
        let signer = WriterSigningKey::generate();
        let header = SnapshotHeader {
            vault_id: [7; 16],
            time_us: 1_765_000_000_000_000,
            previous: ObjectId([0; 32]),
            root: BlobId([5; 32]),
            files: 3,
            dirs: 1,
            logical_bytes: 99,
            vault_name: "soumu".into(),
        };
        let private = SnapshotPrivate {
            host: "fs1".into(),
            paths: vec!["/srv/share/経理".into()],
        };
        let (id, bytes) =
            Snapshot::create(&header, &private, &[&sk.public_key()], &signer).unwrap();
        assert_eq!(id, ObjectId::of(&bytes));
        let s = Snapshot::parse_verified(&bytes, &signer.verifying_key()).unwrap();
        assert_eq!(s.header, header);
        assert_eq!(s.private(&sk).unwrap(), private);
        let other = WriterSigningKey::generate();
        assert!(matches!(
            Snapshot::parse_verified(&bytes, &other.verifying_key()),
            Err(SnapshotError::Signature)
        ));
        let mut bad = bytes.clone();
        bad[30] ^= 1;
        assert!(Snapshot::parse_verified(&bad, &signer.verifying_key()).is_err());
    }
}
