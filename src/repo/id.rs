//! Object and blob identifiers: 32-byte values shown as lowercase hex.
//!
//! - [`BlobId`]: HMAC-SHA256(dedup key, plaintext) of a chunk or tree; needs the
//!   writer's dedup key to compute, reveals nothing about the plaintext without it.
//! - [`ObjectId`]: SHA-256 of a stored object's bytes (pack, index, snapshot); it is
//!   the object's name, so anyone can check integrity without a key.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::crypto::SecretKey32;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// Lowercase hex (64 characters).
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// Parses 64 hex characters.
            pub fn from_hex(s: &str) -> Option<Self> {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out).ok()?;
                Some(Self(out))
            }

            /// The first 8 hex characters, for messages and listings.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..4])
            }

            /// Whether this is the all-zero id (used as "none" in formats).
            pub fn is_zero(&self) -> bool {
                self.0 == [0u8; 32]
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
    };
}

id_type!(
    /// Keyed hash naming a blob (chunk or tree) by its plaintext.
    BlobId
);
id_type!(
    /// SHA-256 of an object's bytes: the object's name on every backend.
    ObjectId
);

impl ObjectId {
    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> ObjectId {
        ObjectId(Sha256::digest(bytes).into())
    }
}

/// Computes blob ids under the vault's dedup key.
pub struct BlobHasher {
    mac: Hmac<Sha256>,
}

impl BlobHasher {
    /// A hasher keyed with the writer's dedup key.
    pub fn new(dedup_key: &SecretKey32) -> BlobHasher {
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(dedup_key.expose())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        BlobHasher { mac }
    }

    /// HMAC-SHA256(dedup key, plaintext).
    pub fn id(&self, plaintext: &[u8]) -> BlobId {
        let mut mac = self.mac.clone();
        mac.update(plaintext);
        BlobId(mac.finalize().into_bytes().into())
    }
}

/// What a blob holds; bound into its encryption so a tree cannot pass as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobKind {
    /// A chunk of file content.
    Data,
    /// A serialized directory listing.
    Tree,
}

impl BlobKind {
    /// Wire byte: 0 data, 1 tree.
    pub fn byte(self) -> u8 {
        match self {
            BlobKind::Data => 0,
            BlobKind::Tree => 1,
        }
    }

    /// Inverse of [`Self::byte`].
    pub fn from_byte(b: u8) -> Option<BlobKind> {
        match b {
            0 => Some(BlobKind::Data),
            1 => Some(BlobKind::Tree),
            _ => None,
        }
    }
}

/// Object name of a pack: `data/<first 2 hex>/<64 hex>`.
pub fn pack_name(id: &ObjectId) -> String {
    let hex = id.to_hex();
    format!("data/{}/{}", &hex[..2], hex)
}

/// Object name of an index copy: `index/<64 hex>`.
pub fn index_name(id: &ObjectId) -> String {
    format!("index/{id}")
}

/// Object name of a snapshot: `snapshots/<64 hex>`.
pub fn snapshot_name(id: &ObjectId) -> String {
    format!("snapshots/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_names() {
        let id = ObjectId::of(b"abc");
        assert_eq!(
            id.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(ObjectId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(ObjectId::from_hex("xyz"), None);
        assert!(pack_name(&id).starts_with("data/ba/ba7816"));
    }

    #[test]
    fn blob_ids_depend_on_the_key() {
        let a = BlobHasher::new(&SecretKey32::from_bytes(&[1; 32]));
        let b = BlobHasher::new(&SecretKey32::from_bytes(&[2; 32]));
        assert_eq!(a.id(b"x"), a.id(b"x"));
        assert_ne!(a.id(b"x"), b.id(b"x"));
        assert_ne!(a.id(b"x"), a.id(b"y"));
    }
}
