//! Windows file names ↔ the byte names [`crate::vfs::VaultFs`] uses.
//!
//! WinFsp hands the adapter whole paths relative to the volume root, in UTF-16
//! and separated by backslashes (`\Reports\2024\q1.xlsx`). The vault names
//! entries with bytes, UTF-8 by convention (that is what Linux callers write).
//! A path is split here into UTF-8 components; a UTF-16 name with an unpaired
//! surrogate has no UTF-8 form and is refused as a bad name rather than stored
//! under a lossy substitute that could collide with another name.

use crate::vfs::VfsError;

const BACKSLASH: u16 = b'\\' as u16;
const SLASH: u16 = b'/' as u16;

/// A path split for the vault: the directories to walk from the root, and the
/// last component (`None` for the root itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitPath {
    /// Directory names from the root down to the parent of `name`.
    pub dirs: Vec<Vec<u8>>,
    /// The last component.
    pub name: Option<Vec<u8>>,
}

/// Splits a WinFsp path (UTF-16, backslash-separated, usually with a leading
/// backslash) into UTF-8 components. Empty components (leading, doubled or
/// trailing separators) are skipped; `.`, `..`, forward slashes, NULs and names
/// that are not valid UTF-16 are refused with [`VfsError::BadName`], since the
/// vault could store them but Windows would mean something else by them.
pub fn split(path: &[u16]) -> Result<SplitPath, VfsError> {
    let mut parts = Vec::new();
    for comp in path.split(|&c| c == BACKSLASH) {
        if comp.is_empty() {
            continue;
        }
        parts.push(component(comp)?);
    }
    let name = parts.pop();
    Ok(SplitPath { dirs: parts, name })
}

/// One UTF-16 name component as vault bytes.
pub fn component(comp: &[u16]) -> Result<Vec<u8>, VfsError> {
    if comp.contains(&SLASH) || comp.contains(&0) || comp.contains(&BACKSLASH) {
        return Err(VfsError::BadName);
    }
    let s = String::from_utf16(comp).map_err(|_| VfsError::BadName)?;
    if s == "." || s == ".." {
        return Err(VfsError::BadName);
    }
    Ok(s.into_bytes())
}

/// The UTF-16 form of a vault name for a directory listing, or `None` when
/// Windows cannot show it: bytes that are not UTF-8 (written by a Linux program
/// in another encoding), or a name with a backslash, which Windows would read
/// as a path. Such entries stay reachable from Linux.
pub fn wide_name(name: &[u8]) -> Option<Vec<u16>> {
    let s = std::str::from_utf8(name).ok()?;
    if s.contains('\\') || s.contains('\0') {
        return None;
    }
    Some(s.encode_utf16().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn the_root_has_no_components() {
        for root in ["", "\\", "\\\\"] {
            let p = split(&w(root)).unwrap();
            assert!(p.dirs.is_empty());
            assert_eq!(p.name, None);
        }
    }

    #[test]
    fn a_nested_path_splits_into_utf8_components() {
        let p = split(&w("\\総務\\2024\\見積書.xlsx")).unwrap();
        assert_eq!(p.dirs, vec!["総務".as_bytes().to_vec(), b"2024".to_vec()]);
        assert_eq!(p.name, Some("見積書.xlsx".as_bytes().to_vec()));
    }

    #[test]
    fn doubled_and_trailing_separators_are_ignored() {
        let p = split(&w("\\a\\\\b\\")).unwrap();
        assert_eq!(p.dirs, vec![b"a".to_vec()]);
        assert_eq!(p.name, Some(b"b".to_vec()));
    }

    #[test]
    fn characters_outside_the_bmp_survive() {
        let p = split(&w("\\📁\\😀.txt")).unwrap();
        assert_eq!(p.name, Some("😀.txt".as_bytes().to_vec()));
    }

    #[test]
    fn dots_slashes_nuls_and_lone_surrogates_are_bad_names() {
        for bad in ["\\a\\..\\b", "\\.", "\\a/b", "\\a\0b"] {
            assert!(matches!(split(&w(bad)), Err(VfsError::BadName)), "{bad:?}");
        }
        let mut lone = w("\\x");
        lone.push(0xD800);
        assert!(matches!(split(&lone), Err(VfsError::BadName)));
    }

    #[test]
    fn listing_names_round_trip_and_unshowable_ones_are_none() {
        let name = "議事録 (最終).docx".as_bytes();
        let wide = wide_name(name).unwrap();
        assert_eq!(component(&wide).unwrap(), name);
        assert_eq!(wide_name(b"\xff\xfe.bin"), None);
        assert_eq!(wide_name(b"a\\b"), None);
    }
}
