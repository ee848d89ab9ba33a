//! Trees: `Tree::from_bytes`; whatever it accepts must re-encode to the same bytes.

#![no_main]

use bcpvault::repo::tree::Tree;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tree) = Tree::from_bytes(data) {
        let again = tree.to_bytes().expect("a parsed tree has valid names");
        assert_eq!(again, data, "Tree::from_bytes accepted a non-canonical encoding");
    }
});
