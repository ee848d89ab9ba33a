//! Small records: the repository `config` object (`RepoConfig::from_bytes`) and a
//! files-cache DB value (`filecache::lookup`). Both are canonical: what they
//! accept re-encodes to the same bytes.

#![no_main]

use std::sync::OnceLock;

use bcpvault::repo::config::RepoConfig;
use bcpvault::repo::filecache::{self, FileStamp};
use libfuzzer_sys::fuzz_target;

/// The stamp of the fuzzer binary; the first 40 bytes of an input must match it
/// for `lookup` to get past the stamp comparison (libFuzzer finds them quickly).
fn stamp() -> FileStamp {
    static STAMP: OnceLock<FileStamp> = OnceLock::new();
    *STAMP.get_or_init(|| {
        let exe = std::env::current_exe().expect("path of the fuzzer binary");
        FileStamp::of(&std::fs::metadata(exe).expect("stat of the fuzzer binary"))
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(config) = RepoConfig::from_bytes(data) {
        assert_eq!(config.to_bytes(), data, "RepoConfig::from_bytes is not canonical");
    }
    if let Some(chunks) = filecache::lookup(data, &stamp()) {
        assert_eq!(filecache::encode(&stamp(), &chunks), data);
    }
});
