//! The one table from vault errors to NTSTATUS, the Windows twin of
//! `fuse/errno.rs`. It is platform-free so that it is compiled and tested on Linux,
//! where the Windows adapter itself cannot be built.
//!
//! Each row keeps the meaning of the errno row for the same [`VfsError`]: a sealed
//! vault is "access denied" on both systems, a full quota is "disk full", and so
//! on. The one place Windows says more than errno is damage: EIO on Linux, but
//! `STATUS_DATA_ERROR` ("data error (cyclic redundancy check)") on Windows, which
//! tells a tampered or corrupted object apart from a failing disk or database.

use crate::vfs::VfsError;

/// NTSTATUS values are 32-bit with the severity in the top two bits; the `windows`
/// crate and WinFsp both carry them as `i32`.
const fn nt(code: u32) -> i32 {
    code as i32
}

/// Success.
pub const STATUS_SUCCESS: i32 = 0;
/// A bad argument (EINVAL).
pub const STATUS_INVALID_PARAMETER: i32 = nt(0xC000_000D);
/// The driver does not implement the request; WinFsp's answer for a callback that is
/// not provided.
pub const STATUS_INVALID_DEVICE_REQUEST: i32 = nt(0xC000_0010);
/// A read at or past the end of the file (errno has none: `read` returns 0 bytes).
pub const STATUS_END_OF_FILE: i32 = nt(0xC000_0011);
/// Access denied (EACCES).
pub const STATUS_ACCESS_DENIED: i32 = nt(0xC000_0022);
/// A name that is not valid on this volume (ENAMETOOLONG and other bad names).
pub const STATUS_OBJECT_NAME_INVALID: i32 = nt(0xC000_0033);
/// The last component of a path does not exist (ENOENT).
pub const STATUS_OBJECT_NAME_NOT_FOUND: i32 = nt(0xC000_0034);
/// The name exists already (EEXIST).
pub const STATUS_OBJECT_NAME_COLLISION: i32 = nt(0xC000_0035);
/// A directory on the way to the last component does not exist (ENOENT on Linux;
/// Windows tells "path not found" apart from "file not found").
pub const STATUS_OBJECT_PATH_NOT_FOUND: i32 = nt(0xC000_003A);
/// Stored data failed its check: tampered or corrupted (EIO, damage).
pub const STATUS_DATA_ERROR: i32 = nt(0xC000_003E);
/// The disk or the quota is full (ENOSPC).
pub const STATUS_DISK_FULL: i32 = nt(0xC000_007F);
/// The place is read-only (EROFS).
pub const STATUS_MEDIA_WRITE_PROTECTED: i32 = nt(0xC000_00A2);
/// A directory where a file was expected (EISDIR).
pub const STATUS_FILE_IS_A_DIRECTORY: i32 = nt(0xC000_00BA);
/// An operation the volume does not offer (EPERM for hard links and special files).
pub const STATUS_NOT_SUPPORTED: i32 = nt(0xC000_00BB);
/// Any other I/O failure (EIO: the store, the database, staging files).
pub const STATUS_UNEXPECTED_IO_ERROR: i32 = nt(0xC000_00E9);
/// Delete refused (a read-only file), Windows' own rule with no errno row.
pub const STATUS_CANNOT_DELETE: i32 = nt(0xC000_0121);
/// rmdir of a directory that has entries (ENOTEMPTY).
pub const STATUS_DIRECTORY_NOT_EMPTY: i32 = nt(0xC000_0101);
/// A file where a directory was expected (ENOTDIR).
pub const STATUS_NOT_A_DIRECTORY: i32 = nt(0xC000_0103);

/// The NTSTATUS a Windows caller sees for `e`.
pub fn ntstatus(e: &VfsError) -> i32 {
    // No wildcard arm: a new VfsError variant must get its row here (and in errno.rs).
    match e {
        VfsError::NotFound => STATUS_OBJECT_NAME_NOT_FOUND,
        VfsError::Exists => STATUS_OBJECT_NAME_COLLISION,
        VfsError::NotDir => STATUS_NOT_A_DIRECTORY,
        VfsError::IsDir => STATUS_FILE_IS_A_DIRECTORY,
        VfsError::NotEmpty => STATUS_DIRECTORY_NOT_EMPTY,
        VfsError::Sealed | VfsError::NotReader { .. } => STATUS_ACCESS_DENIED,
        VfsError::ReadOnly => STATUS_MEDIA_WRITE_PROTECTED,
        VfsError::NoSpace(_) => STATUS_DISK_FULL,
        VfsError::BadName => STATUS_OBJECT_NAME_INVALID,
        VfsError::Unsupported(_) => STATUS_NOT_SUPPORTED,
        VfsError::Invalid(_) => STATUS_INVALID_PARAMETER,
        VfsError::Damaged(_) => STATUS_DATA_ERROR,
        VfsError::Repo(_) | VfsError::Io { .. } => STATUS_UNEXPECTED_IO_ERROR,
    }
}

/// Logs a failure as every adapter does ([`crate::mount::report::failure`]) and
/// maps it.
pub fn reported(op: &'static str, e: VfsError) -> i32 {
    crate::mount::report::failure(op, &e);
    ntstatus(&e)
}

/// NTSTATUS of a failed lookup of a directory on the way to the last component:
/// "path not found" instead of "name not found", as NTFS answers.
pub fn on_the_way(e: &VfsError) -> i32 {
    match e {
        VfsError::NotFound => STATUS_OBJECT_PATH_NOT_FOUND,
        other => ntstatus(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One value of every variant. The match makes this fail to compile when a
    /// variant is added without a test row.
    fn every_variant() -> Vec<VfsError> {
        let all = vec![
            VfsError::NotFound,
            VfsError::Exists,
            VfsError::NotDir,
            VfsError::IsDir,
            VfsError::NotEmpty,
            VfsError::Sealed,
            VfsError::NotReader { uid: 1001 },
            VfsError::ReadOnly,
            VfsError::NoSpace("quota".into()),
            VfsError::BadName,
            VfsError::Unsupported("hard links"),
            VfsError::Invalid("bad handle"),
            VfsError::Damaged("pack hash mismatch".into()),
            VfsError::Repo(crate::repo::RepoError::BadSource {
                path: "/x".into(),
                problem: "gone".into(),
            }),
            VfsError::Io {
                what: "staging",
                source: std::io::Error::other("disk on fire"),
            },
        ];
        for e in &all {
            match e {
                VfsError::NotFound
                | VfsError::Exists
                | VfsError::NotDir
                | VfsError::IsDir
                | VfsError::NotEmpty
                | VfsError::Sealed
                | VfsError::NotReader { .. }
                | VfsError::ReadOnly
                | VfsError::NoSpace(_)
                | VfsError::BadName
                | VfsError::Unsupported(_)
                | VfsError::Invalid(_)
                | VfsError::Damaged(_)
                | VfsError::Repo(_)
                | VfsError::Io { .. } => {}
            }
        }
        all
    }

    #[test]
    fn each_variant_maps_to_its_documented_status() {
        let expected = [
            STATUS_OBJECT_NAME_NOT_FOUND,
            STATUS_OBJECT_NAME_COLLISION,
            STATUS_NOT_A_DIRECTORY,
            STATUS_FILE_IS_A_DIRECTORY,
            STATUS_DIRECTORY_NOT_EMPTY,
            STATUS_ACCESS_DENIED,
            STATUS_ACCESS_DENIED,
            STATUS_MEDIA_WRITE_PROTECTED,
            STATUS_DISK_FULL,
            STATUS_OBJECT_NAME_INVALID,
            STATUS_NOT_SUPPORTED,
            STATUS_INVALID_PARAMETER,
            STATUS_DATA_ERROR,
            STATUS_UNEXPECTED_IO_ERROR,
            STATUS_UNEXPECTED_IO_ERROR,
        ];
        let all = every_variant();
        assert_eq!(all.len(), expected.len());
        for (e, want) in all.iter().zip(expected) {
            assert_eq!(ntstatus(e), want, "{e:?}");
        }
    }

    #[test]
    fn the_constants_are_the_windows_sdk_values() {
        // A few spelled out against ntstatus.h, so a typo in a hex literal fails.
        assert_eq!(STATUS_ACCESS_DENIED as u32, 0xC000_0022);
        assert_eq!(STATUS_OBJECT_NAME_NOT_FOUND as u32, 0xC000_0034);
        assert_eq!(STATUS_DIRECTORY_NOT_EMPTY as u32, 0xC000_0101);
        assert_eq!(STATUS_DISK_FULL as u32, 0xC000_007F);
        assert_eq!(STATUS_MEDIA_WRITE_PROTECTED as u32, 0xC000_00A2);
        assert_eq!(STATUS_END_OF_FILE as u32, 0xC000_0011);
    }

    #[test]
    fn every_failure_is_an_error_status_and_never_success() {
        for e in every_variant() {
            let s = ntstatus(&e) as u32;
            // Severity "error" is the top two bits set (0xC...).
            assert_eq!(s >> 30, 0b11, "{e:?} maps to a non-error status {s:#x}");
        }
        assert_ne!(ntstatus(&VfsError::NotFound), STATUS_SUCCESS);
    }

    #[test]
    fn a_missing_directory_on_the_way_is_path_not_found() {
        assert_eq!(
            on_the_way(&VfsError::NotFound),
            STATUS_OBJECT_PATH_NOT_FOUND
        );
        assert_eq!(on_the_way(&VfsError::NotDir), STATUS_NOT_A_DIRECTORY);
        assert_eq!(on_the_way(&VfsError::Sealed), STATUS_ACCESS_DENIED);
    }

    /// The errno and NTSTATUS tables must say the same thing for each variant.
    /// `meaning` pairs each errno with the statuses that carry its meaning; every
    /// variant's (errno, status) pair must be one of them.
    #[cfg(target_os = "linux")]
    #[test]
    fn errno_and_ntstatus_tables_agree() {
        use crate::mount::fuse::errno;
        use fuser::Errno;

        let meaning: &[(Errno, &[i32])] = &[
            (Errno::ENOENT, &[STATUS_OBJECT_NAME_NOT_FOUND]),
            (Errno::EEXIST, &[STATUS_OBJECT_NAME_COLLISION]),
            (Errno::ENOTDIR, &[STATUS_NOT_A_DIRECTORY]),
            (Errno::EISDIR, &[STATUS_FILE_IS_A_DIRECTORY]),
            (Errno::ENOTEMPTY, &[STATUS_DIRECTORY_NOT_EMPTY]),
            (Errno::EACCES, &[STATUS_ACCESS_DENIED]),
            (Errno::EROFS, &[STATUS_MEDIA_WRITE_PROTECTED]),
            (Errno::ENOSPC, &[STATUS_DISK_FULL]),
            (Errno::ENAMETOOLONG, &[STATUS_OBJECT_NAME_INVALID]),
            (Errno::EPERM, &[STATUS_NOT_SUPPORTED]),
            (Errno::EINVAL, &[STATUS_INVALID_PARAMETER]),
            (Errno::EIO, &[STATUS_DATA_ERROR, STATUS_UNEXPECTED_IO_ERROR]),
        ];
        for e in every_variant() {
            let (en, st) = (errno(&e), ntstatus(&e));
            let row = meaning
                .iter()
                .find(|(x, _)| *x == en)
                .unwrap_or_else(|| panic!("{e:?}: errno {en:?} has no row in the meaning table"));
            assert!(
                row.1.contains(&st),
                "{e:?}: errno {en:?} but NTSTATUS {:#x}",
                st as u32
            );
        }
        // And no status stands for two different errnos.
        for (i, (_, a)) in meaning.iter().enumerate() {
            for (_, b) in &meaning[i + 1..] {
                assert!(a.iter().all(|s| !b.contains(s)));
            }
        }
    }
}
