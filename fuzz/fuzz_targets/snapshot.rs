//! Snapshots: `Snapshot::parse` and `Snapshot::parse_verified` with a fixed
//! writer key (the signature check runs on everything that parses).

#![no_main]

use std::sync::OnceLock;

use bcpvault::crypto::{SecretKey32, WriterSigningKey, WriterVerifyingKey};
use bcpvault::repo::snapshot::Snapshot;
use libfuzzer_sys::fuzz_target;

fn writer() -> &'static WriterVerifyingKey {
    static KEY: OnceLock<WriterVerifyingKey> = OnceLock::new();
    KEY.get_or_init(|| {
        WriterSigningKey::from_secret(&SecretKey32::from_bytes(&[0x5a; 32])).verifying_key()
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = Snapshot::parse(data);
    let _ = Snapshot::parse_verified(data, writer());
});
