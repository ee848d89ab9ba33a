//! Windows file attributes ↔ the vault's file kind and mode bits.
//!
//! Windows has no permission bits; what it shows is a handful of attribute flags.
//! The vault keeps Unix modes (Linux callers set them), so the adapter derives
//! the flags from them: a mode without the owner's write bit is READONLY, and a
//! READONLY set from Windows clears every write bit (clearing it restores the
//! owner's). Names starting with a dot are HIDDEN, as `ls` hides them.

use crate::vfs::{Attr, FileKind};

/// `FILE_ATTRIBUTE_READONLY`.
pub const FILE_ATTRIBUTE_READONLY: u32 = 0x0000_0001;
/// `FILE_ATTRIBUTE_HIDDEN`.
pub const FILE_ATTRIBUTE_HIDDEN: u32 = 0x0000_0002;
/// `FILE_ATTRIBUTE_DIRECTORY`.
pub const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x0000_0010;
/// `FILE_ATTRIBUTE_ARCHIVE`.
pub const FILE_ATTRIBUTE_ARCHIVE: u32 = 0x0000_0020;
/// `FILE_ATTRIBUTE_NORMAL`: valid only alone.
pub const FILE_ATTRIBUTE_NORMAL: u32 = 0x0000_0080;
/// `INVALID_FILE_ATTRIBUTES`: "do not change the attributes" in a set request.
pub const INVALID_FILE_ATTRIBUTES: u32 = u32::MAX;

/// Owner, group and other write bits.
const WRITE_BITS: u32 = 0o222;
/// Mode of a file created from Windows (no umask there): rw-r--r--.
pub const NEW_FILE_MODE: u32 = 0o644;
/// Mode of a directory created from Windows: rwxr-xr-x.
pub const NEW_DIR_MODE: u32 = 0o755;

/// Allocation unit reported to Windows (Explorer's "size on disk").
pub const ALLOCATION_UNIT: u64 = 4096;

/// The attribute flags Windows shows for an entry called `name` (its last
/// component; hidden-ness depends on it).
pub fn attributes(attr: &Attr, name: &[u8]) -> u32 {
    let mut a = match attr.kind {
        FileKind::Dir => FILE_ATTRIBUTE_DIRECTORY,
        // The adapter offers no reparse points, so a symlink shows as a read-only
        // file (its content, the target, is not readable through Windows).
        FileKind::File | FileKind::Symlink => 0,
    };
    if attr.mode & 0o200 == 0 || attr.kind == FileKind::Symlink {
        a |= FILE_ATTRIBUTE_READONLY;
    }
    if name.first() == Some(&b'.') {
        a |= FILE_ATTRIBUTE_HIDDEN;
    }
    if a == 0 { FILE_ATTRIBUTE_NORMAL } else { a }
}

/// The mode after Windows set `requested` attributes on an entry with `mode`;
/// `None` when nothing changes (the "leave unchanged" values 0 and
/// [`INVALID_FILE_ATTRIBUTES`], or READONLY already matching). Only READONLY
/// maps to the mode; HIDDEN, ARCHIVE and the rest are not stored.
pub fn mode_after(mode: u32, requested: u32) -> Option<u32> {
    if requested == 0 || requested == INVALID_FILE_ATTRIBUTES {
        return None;
    }
    let readonly = requested & FILE_ATTRIBUTE_READONLY != 0;
    let new = if readonly {
        mode & !WRITE_BITS
    } else if mode & 0o200 == 0 {
        mode | 0o200
    } else {
        mode
    };
    (new != mode).then_some(new)
}

/// The mode of a new entry created with the `requested` attributes.
pub fn new_mode(dir: bool, requested: u32) -> u32 {
    let base = if dir { NEW_DIR_MODE } else { NEW_FILE_MODE };
    if requested != INVALID_FILE_ATTRIBUTES && requested & FILE_ATTRIBUTE_READONLY != 0 {
        base & !WRITE_BITS
    } else {
        base
    }
}

/// The attributes an overwrite (`CREATE_ALWAYS`, `TRUNCATE_EXISTING`) sets, in the
/// form [`mode_after`] takes. Replacing with no flags means "normal" (not
/// read-only); merging only ever adds, so only an added READONLY matters.
pub fn overwrite_request(requested: u32, replace: bool) -> u32 {
    if replace {
        if requested == 0 {
            FILE_ATTRIBUTE_NORMAL
        } else {
            requested
        }
    } else if requested & FILE_ATTRIBUTE_READONLY != 0 {
        FILE_ATTRIBUTE_READONLY
    } else {
        0
    }
}

/// Allocation size for `size` bytes: whole allocation units.
pub fn allocation_size(size: u64) -> u64 {
    size.div_ceil(ALLOCATION_UNIT)
        .saturating_mul(ALLOCATION_UNIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: FileKind, mode: u32) -> Attr {
        Attr {
            ino: 7,
            kind,
            size: 10,
            mode,
            uid: 0,
            gid: 0,
            mtime_ns: 0,
            ctime_ns: 0,
            nlink: 1,
        }
    }

    #[test]
    fn files_directories_and_read_only_modes() {
        assert_eq!(
            attributes(&attr(FileKind::File, 0o644), b"a.txt"),
            FILE_ATTRIBUTE_NORMAL
        );
        assert_eq!(
            attributes(&attr(FileKind::Dir, 0o755), b"docs"),
            FILE_ATTRIBUTE_DIRECTORY
        );
        assert_eq!(
            attributes(&attr(FileKind::File, 0o444), b"a.txt"),
            FILE_ATTRIBUTE_READONLY
        );
        // Group write alone does not make it writable for Windows: the owner's bit counts.
        assert_eq!(
            attributes(&attr(FileKind::File, 0o464), b"a.txt"),
            FILE_ATTRIBUTE_READONLY
        );
        assert_eq!(
            attributes(&attr(FileKind::Symlink, 0o777), b"link"),
            FILE_ATTRIBUTE_READONLY
        );
    }

    #[test]
    fn dot_names_are_hidden_and_normal_never_combines() {
        let a = attributes(&attr(FileKind::File, 0o444), b".bcpvault-status");
        assert_eq!(a, FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_HIDDEN);
        assert_eq!(a & FILE_ATTRIBUTE_NORMAL, 0);
        let d = attributes(&attr(FileKind::Dir, 0o755), b".snapshots");
        assert_eq!(d, FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_HIDDEN);
    }

    #[test]
    fn read_only_from_windows_clears_and_restores_write_bits() {
        assert_eq!(mode_after(0o664, FILE_ATTRIBUTE_READONLY), Some(0o444));
        assert_eq!(mode_after(0o444, FILE_ATTRIBUTE_NORMAL), Some(0o644));
        assert_eq!(mode_after(0o644, FILE_ATTRIBUTE_ARCHIVE), None);
        assert_eq!(
            mode_after(0o444, FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_HIDDEN),
            None
        );
        assert_eq!(mode_after(0o444, 0), None);
        assert_eq!(mode_after(0o444, INVALID_FILE_ATTRIBUTES), None);
    }

    #[test]
    fn overwrite_replaces_or_merges_read_only() {
        // CREATE_ALWAYS with FILE_ATTRIBUTE_NORMAL on a read-only file: writable again.
        assert_eq!(
            mode_after(0o444, overwrite_request(FILE_ATTRIBUTE_NORMAL, true)),
            Some(0o644)
        );
        assert_eq!(mode_after(0o444, overwrite_request(0, true)), Some(0o644));
        // Merging never takes READONLY away.
        assert_eq!(mode_after(0o444, overwrite_request(0, false)), None);
        assert_eq!(
            mode_after(0o644, overwrite_request(FILE_ATTRIBUTE_READONLY, false)),
            Some(0o444)
        );
        assert_eq!(
            mode_after(0o644, overwrite_request(FILE_ATTRIBUTE_ARCHIVE, false)),
            None
        );
    }

    #[test]
    fn new_entries_get_default_modes() {
        assert_eq!(new_mode(false, FILE_ATTRIBUTE_NORMAL), 0o644);
        assert_eq!(new_mode(true, FILE_ATTRIBUTE_DIRECTORY), 0o755);
        assert_eq!(new_mode(false, FILE_ATTRIBUTE_READONLY), 0o444);
        assert_eq!(new_mode(false, INVALID_FILE_ATTRIBUTES), 0o644);
    }

    #[test]
    fn allocation_is_whole_units() {
        assert_eq!(allocation_size(0), 0);
        assert_eq!(allocation_size(1), 4096);
        assert_eq!(allocation_size(4096), 4096);
        assert_eq!(allocation_size(4097), 8192);
        assert_eq!(allocation_size(u64::MAX), u64::MAX);
    }
}
