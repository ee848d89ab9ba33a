//! How a Windows open request becomes a vault [`OpenMode`], and how a WinFsp
//! write request is placed in the file.
//!
//! Windows opens files far more often than it reads them: Explorer, antivirus and
//! `dir` open for attributes only. Such an open must work on a sealed vault, so
//! only an open that asks for data (read, write or append) becomes a
//! [`crate::vfs::VaultFs::open`]; the others need no vault handle at all.

use crate::vfs::OpenMode;

/// `FILE_READ_DATA` (also `FILE_LIST_DIRECTORY`).
pub const FILE_READ_DATA: u32 = 0x0001;
/// `FILE_WRITE_DATA`.
pub const FILE_WRITE_DATA: u32 = 0x0002;
/// `FILE_APPEND_DATA`.
pub const FILE_APPEND_DATA: u32 = 0x0004;
/// `FILE_EXECUTE`: running a program reads its content.
pub const FILE_EXECUTE: u32 = 0x0020;

/// `FILE_DIRECTORY_FILE` create option: the caller wants a directory.
pub const FILE_DIRECTORY_FILE: u32 = 0x0000_0001;
/// `FILE_NON_DIRECTORY_FILE` create option: the caller wants a file.
pub const FILE_NON_DIRECTORY_FILE: u32 = 0x0000_0040;

/// Disposition `FILE_SUPERSEDE` (replace the file).
pub const FILE_SUPERSEDE: u32 = 0;
/// Disposition `FILE_OPEN`.
pub const FILE_OPEN: u32 = 1;
/// Disposition `FILE_CREATE`.
pub const FILE_CREATE: u32 = 2;
/// Disposition `FILE_OPEN_IF`.
pub const FILE_OPEN_IF: u32 = 3;
/// Disposition `FILE_OVERWRITE` (truncate an existing file).
pub const FILE_OVERWRITE: u32 = 4;
/// Disposition `FILE_OVERWRITE_IF` (truncate, or create).
pub const FILE_OVERWRITE_IF: u32 = 5;

/// The disposition in the top byte of NtCreateFile's create options, which
/// WinFsp passes to the file system's `open` unchanged.
pub fn disposition(create_options: u32) -> u32 {
    (create_options >> 24) & 0xff
}

/// Whether the open replaces the content (`CREATE_ALWAYS`, `TRUNCATE_EXISTING`):
/// WinFsp calls `open` and then `overwrite`. The vault must know at `open` time,
/// because a sealed file can be opened for writing only to be replaced.
pub fn replaces_content(create_options: u32) -> bool {
    matches!(
        disposition(create_options),
        FILE_SUPERSEDE | FILE_OVERWRITE | FILE_OVERWRITE_IF
    )
}

/// The vault open mode for `granted_access` and `create_options`, or `None` when
/// the caller asked for no data at all (attributes, delete, security only).
pub fn open_mode(granted_access: u32, create_options: u32) -> Option<OpenMode> {
    let truncate = replaces_content(create_options);
    let read = granted_access & (FILE_READ_DATA | FILE_EXECUTE) != 0;
    let write_data = granted_access & FILE_WRITE_DATA != 0;
    let append_only = granted_access & FILE_APPEND_DATA != 0 && !write_data;
    // Overwriting writes even when the caller asked for less (WinFsp checks
    // FILE_WRITE_DATA for it but may not grant it).
    let write = write_data || append_only || truncate;
    if !read && !write {
        return None;
    }
    Some(OpenMode {
        read,
        write,
        truncate,
        // FILE_APPEND_DATA without FILE_WRITE_DATA is Windows' O_APPEND.
        append: append_only && !truncate,
    })
}

/// Where a WinFsp write lands: `(offset, length)` of the bytes to write into a
/// file of `size` bytes, or `None` when nothing is to be written.
///
/// `to_eof` asks to append whatever the offset says. `constrained` is paging
/// I/O from the cache manager, which may not grow the file: the write is cut at
/// the current end.
pub fn write_span(
    offset: u64,
    len: usize,
    size: u64,
    to_eof: bool,
    constrained: bool,
) -> Option<(u64, usize)> {
    let offset = if to_eof { size } else { offset };
    let len = if constrained {
        if offset >= size {
            return None;
        }
        len.min(usize::try_from(size - offset).unwrap_or(usize::MAX))
    } else {
        len
    };
    (len > 0).then_some((offset, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(disposition: u32) -> u32 {
        (disposition << 24) | FILE_NON_DIRECTORY_FILE
    }

    #[test]
    fn attribute_only_opens_need_no_vault_handle() {
        // FILE_READ_ATTRIBUTES | SYNCHRONIZE, DELETE: no data.
        assert!(open_mode(0x0080 | 0x0010_0000, opts(FILE_OPEN)).is_none());
        assert!(open_mode(0x0001_0000, opts(FILE_OPEN)).is_none());
    }

    #[test]
    fn read_write_and_execute_opens() {
        let r = open_mode(FILE_READ_DATA, opts(FILE_OPEN)).unwrap();
        assert!(r.read && !r.write && !r.truncate && !r.append);
        let x = open_mode(FILE_EXECUTE, opts(FILE_OPEN)).unwrap();
        assert!(x.read && !x.write);
        let rw = open_mode(FILE_READ_DATA | FILE_WRITE_DATA, opts(FILE_OPEN_IF)).unwrap();
        assert!(rw.read && rw.write && !rw.truncate && !rw.append);
    }

    #[test]
    fn append_data_alone_is_append() {
        let a = open_mode(FILE_APPEND_DATA, opts(FILE_OPEN)).unwrap();
        assert!(a.write && a.append && !a.read);
        let w = open_mode(FILE_WRITE_DATA | FILE_APPEND_DATA, opts(FILE_OPEN)).unwrap();
        assert!(w.write && !w.append);
    }

    #[test]
    fn overwrite_dispositions_truncate_and_write() {
        for d in [FILE_SUPERSEDE, FILE_OVERWRITE, FILE_OVERWRITE_IF] {
            assert!(replaces_content(opts(d)), "{d}");
            let m = open_mode(FILE_READ_DATA, opts(d)).unwrap();
            assert!(m.truncate && m.write, "{d}");
        }
        for d in [FILE_OPEN, FILE_CREATE, FILE_OPEN_IF] {
            assert!(!replaces_content(opts(d)), "{d}");
        }
        assert_eq!(disposition(opts(FILE_OVERWRITE_IF)), FILE_OVERWRITE_IF);
    }

    #[test]
    fn write_spans() {
        assert_eq!(write_span(10, 5, 3, false, false), Some((10, 5)));
        assert_eq!(write_span(10, 5, 3, true, false), Some((3, 5)));
        // Paging I/O never grows the file.
        assert_eq!(write_span(0, 10, 4, false, true), Some((0, 4)));
        assert_eq!(write_span(4, 10, 4, false, true), None);
        assert_eq!(write_span(2, 10, 4, true, true), None);
        assert_eq!(write_span(0, 0, 4, false, false), None);
    }
}
