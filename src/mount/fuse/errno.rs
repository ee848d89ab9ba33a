//! The one table from vault errors to errno.

use fuser::Errno;

use crate::vfs::VfsError;

/// The errno the kernel returns for `e`.
pub fn errno(e: &VfsError) -> Errno {
    match e {
        VfsError::NotFound => Errno::ENOENT,
        VfsError::Exists => Errno::EEXIST,
        VfsError::NotDir => Errno::ENOTDIR,
        VfsError::IsDir => Errno::EISDIR,
        VfsError::NotEmpty => Errno::ENOTEMPTY,
        VfsError::Sealed | VfsError::NotReader { .. } => Errno::EACCES,
        VfsError::ReadOnly => Errno::EROFS,
        VfsError::NoSpace(_) => Errno::ENOSPC,
        VfsError::BadName => Errno::ENAMETOOLONG,
        VfsError::Unsupported(_) => Errno::EPERM,
        VfsError::Invalid(_) => Errno::EINVAL,
        VfsError::Damaged(_) | VfsError::Repo(_) | VfsError::Io { .. } => Errno::EIO,
    }
}

/// Logs failures the caller cannot see the reason of (damage, I/O) and maps them.
pub fn reported(op: &'static str, e: VfsError) -> Errno {
    crate::mount::report::failure(op, &e);
    errno(&e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_content_is_eacces_and_quota_is_enospc() {
        assert_eq!(errno(&VfsError::Sealed), Errno::EACCES);
        assert_eq!(errno(&VfsError::NotReader { uid: 5 }), Errno::EACCES);
        assert_eq!(errno(&VfsError::NoSpace("quota".into())), Errno::ENOSPC);
        assert_eq!(errno(&VfsError::NotEmpty), Errno::ENOTEMPTY);
    }
}
