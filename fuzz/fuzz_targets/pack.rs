//! Packs: `pack::layout` and `pack::open` on the whole input, and
//! `pack::parse_header` on the input after its first 4 bytes (a big-endian
//! blob-area end), i.e. as if it were a decrypted pack header.

#![no_main]

use std::sync::OnceLock;

use bcpvault::crypto::VaultPrivateKey;
use bcpvault::repo::pack::{self, ENTRY_LEN};
use libfuzzer_sys::fuzz_target;

/// A vault key generated once per fuzzing process.
fn key() -> &'static VaultPrivateKey {
    static KEY: OnceLock<VaultPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| VaultPrivateKey::generate(2048).expect("RSA-2048 key generation"))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(l) = pack::layout(data) {
        assert!(l.header_offset + l.header_len <= data.len());
    }
    if let Some((end, header)) = data.split_first_chunk::<4>() {
        let blob_end = u32::from_be_bytes(*end) as usize;
        if let Ok(entries) = pack::parse_header(header, blob_end) {
            assert_eq!(header.len(), 8 + entries.len() * ENTRY_LEN);
        }
    }
    if let Ok(opened) = pack::open(data, key()) {
        for (i, e) in opened.entries.iter().enumerate() {
            let start = e.offset as usize;
            let ct = data
                .get(start..start + e.length as usize)
                .expect("an opened pack's table lies inside the pack");
            let _ = opened.blob(i, ct);
        }
    }
});
