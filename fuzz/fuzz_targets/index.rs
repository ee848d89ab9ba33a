//! Index objects and index DB values: `IndexMap::check_frame`, `IndexMap::open`,
//! `IndexMap::parse_body` (the input as a decrypted body) and
//! `BlobLocation::from_db` (canonical: what it accepts re-encodes identically).

#![no_main]

use std::sync::OnceLock;

use bcpvault::crypto::VaultPrivateKey;
use bcpvault::repo::index::{BlobLocation, IndexMap};
use libfuzzer_sys::fuzz_target;

/// A vault key generated once per fuzzing process.
fn key() -> &'static VaultPrivateKey {
    static KEY: OnceLock<VaultPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| VaultPrivateKey::generate(2048).expect("RSA-2048 key generation"))
}

fuzz_target!(|data: &[u8]| {
    let _ = IndexMap::check_frame(data);
    let _ = IndexMap::open(data, key());
    let _ = IndexMap::parse_body(data);
    if let Ok(loc) = BlobLocation::from_db(data) {
        assert_eq!(loc.to_db(), data, "BlobLocation::from_db is not canonical");
    }
});
