//! The blob index: which pack holds each blob.
//!
//! The writer keeps it in the embedded DB (tree `index`: blob id → location) so it
//! can deduplicate without any key. Each commit also writes an encrypted copy of
//! the entries it added as an `index/<sha256>` object, so a recovery machine can
//! rebuild the index from the remote:
//!
//! ```text
//! "BCPI" ‖ version 1 ‖ u32 envelope length ‖ envelope (label bcpvault/v1/index-key)
//!        ‖ AES-256-GCM(key, nonce 0^12, aad "bcpvault/v1/index", body)
//! body:  u32 pack count ‖ per pack: pack id (32) ‖ u32 n ‖ n × pack entry (46 B)
//! ```
//! The key is fresh per object, so the fixed nonce never repeats under a key.

use std::collections::BTreeMap;

use crate::crypto::{Envelope, VaultPrivateKey, VaultPublicKey, WrapPurpose, aead};

use super::id::{BlobId, ObjectId};
use super::pack::{ENTRY_LEN, PackEntry};
use super::wire::{FormatError, Wire, put_bytes32};

const MAGIC: &[u8; 4] = b"BCPI";
const AAD: &[u8] = b"bcpvault/v1/index";
const MAX_PACKS: usize = 1 << 24;

/// Where a blob is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLocation {
    /// Pack holding it.
    pub pack: ObjectId,
    /// Its entry in that pack's table.
    pub entry: PackEntry,
    /// Its position in the pack (nonce counter).
    pub index: u32,
}

impl BlobLocation {
    /// DB value: pack id (32) ‖ blob index u32 ‖ entry (46).
    pub fn to_db(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(32 + 4 + ENTRY_LEN);
        v.extend_from_slice(&self.pack.0);
        v.extend_from_slice(&self.index.to_be_bytes());
        self.entry.encode(&mut v);
        v
    }

    /// Inverse of [`Self::to_db`].
    pub fn from_db(v: &[u8]) -> Result<BlobLocation, FormatError> {
        let mut w = Wire::new(v, "index entry");
        let pack = ObjectId(w.array()?);
        let index = w.u32()?;
        let entry = PackEntry::decode(&mut w)?;
        w.finish()?;
        Ok(BlobLocation { pack, entry, index })
    }
}

/// The blob → location map of one commit (or a whole repository when loaded).
#[derive(Debug, Default, Clone)]
pub struct IndexMap {
    /// Packs and their blob tables, in blob order.
    pub packs: BTreeMap<ObjectId, Vec<PackEntry>>,
}

impl IndexMap {
    /// Adds a pack's table.
    pub fn add_pack(&mut self, pack: ObjectId, entries: Vec<PackEntry>) {
        self.packs.insert(pack, entries);
    }

    /// Every blob's location (later packs win for duplicates, which are equal).
    pub fn locations(&self) -> impl Iterator<Item = (BlobId, BlobLocation)> + '_ {
        self.packs.iter().flat_map(|(pack, entries)| {
            entries.iter().enumerate().map(|(i, e)| {
                (
                    e.id,
                    BlobLocation {
                        pack: *pack,
                        entry: *e,
                        index: i as u32,
                    },
                )
            })
        })
    }

    /// Serializes and encrypts to `recipients`; returns the object bytes.
    ///
    /// # Errors
    /// Envelope errors.
    pub fn seal(
        &self,
        recipients: &[&VaultPublicKey],
    ) -> Result<Vec<u8>, crate::crypto::CryptoError> {
        let mut body = Vec::new();
        body.extend_from_slice(&(self.packs.len() as u32).to_be_bytes());
        for (id, entries) in &self.packs {
            body.extend_from_slice(&id.0);
            body.extend_from_slice(&(entries.len() as u32).to_be_bytes());
            for e in entries {
                e.encode(&mut body);
            }
        }
        let (key, envelope) = Envelope::seal(recipients, WrapPurpose::IndexKey)?;
        let mut out = Vec::with_capacity(body.len() + 1024);
        out.extend_from_slice(MAGIC);
        out.push(1);
        put_bytes32(&mut out, &envelope.to_bytes());
        out.extend_from_slice(&aead::seal(&key, &[0; 12], AAD, &body));
        Ok(out)
    }

    /// Parses the unencrypted frame of an index object (no key needed).
    pub fn check_frame(bytes: &[u8]) -> Result<Envelope, FormatError> {
        let mut w = Wire::new(bytes, "index");
        w.magic(MAGIC)?;
        w.version(1)?;
        let env = w.bytes32()?;
        let envelope = Envelope::from_bytes(env).map_err(|e| w.error(format!("envelope: {e}")))?;
        if w.remaining() < 16 {
            return Err(w.error("ciphertext too short"));
        }
        Ok(envelope)
    }

    /// Decrypts and parses an index object.
    pub fn open(bytes: &[u8], sk: &VaultPrivateKey) -> Result<IndexMap, FormatError> {
        let envelope = Self::check_frame(bytes)?;
        let mut w = Wire::new(bytes, "index");
        w.take(5)?;
        w.bytes32()?;
        let ct = w.take(w.remaining())?;
        let key = envelope
            .open(sk, WrapPurpose::IndexKey)
            .map_err(|e| w.error(format!("key does not open: {e}")))?;
        let body =
            aead::open(&key, &[0; 12], AAD, ct).map_err(|_| w.error("failed authentication"))?;
        Self::parse_body(body.expose())
    }

    /// Parses a decrypted index body.
    pub fn parse_body(body: &[u8]) -> Result<IndexMap, FormatError> {
        let mut w = Wire::new(body, "index body");
        let n = w.count(MAX_PACKS, 36)?;
        let mut map = IndexMap::default();
        for _ in 0..n {
            let id = ObjectId(w.array()?);
            let m = w.count(1 << 20, ENTRY_LEN)?;
            let mut entries = Vec::with_capacity(m);
            for _ in 0..m {
                entries.push(PackEntry::decode(&mut w)?);
            }
            map.packs.insert(id, entries);
        }
        w.finish()?;
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::blob::Compression;
    use crate::repo::id::BlobKind;

    fn sample_entry(id: BlobId) -> PackEntry {
        PackEntry {
            kind: BlobKind::Data,
            compression: Compression::Zstd,
            id,
            offset: 5,
            length: 100,
            raw_len: 200,
        }
    }

    #[test]
    fn db_value_round_trip() {
        let loc = BlobLocation {
            pack: ObjectId([3; 32]),
            index: 7,
            entry: sample_entry(BlobId([4; 32])),
        };
        assert_eq!(BlobLocation::from_db(&loc.to_db()).unwrap(), loc);
        assert!(BlobLocation::from_db(&loc.to_db()[1..]).is_err());
    }

    #[test]
    fn object_round_trip_and_tamper() {
        let sk = VaultPrivateKey::generate(2048).unwrap();
        let pk = sk.public_key();
        let mut map = IndexMap::default();
        map.add_pack(ObjectId([1; 32]), vec![sample_entry(BlobId([2; 32]))]);
        let bytes = map.seal(&[&pk]).unwrap();
        let back = IndexMap::open(&bytes, &sk).unwrap();
        assert_eq!(back.packs, map.packs);
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(IndexMap::open(&bad, &sk).is_err());
    }
}
