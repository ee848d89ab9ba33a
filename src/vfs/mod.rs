//! The vault drive, platform-free: namespace, open-file table, staging, sealing,
//! sealed and decrypted views. No FUSE or WinFsp type appears here; the adapters
//! in `mount` translate requests into [`VaultFs`] calls.
//!
//! Data path of a write: `write` → [`staging`] (memory, then an encrypted temp
//! file) → FLUSH/RELEASE seals it: chunk → compress → encrypt to the public key →
//! pack in the store (`repo`) → the inode's chunk list ([`namespace`]), journaled →
//! group commit (fsync) within a second or at `fsync()`.
//! Data path of a read (unlocked): inode chunk list → [`decrypt`] (pack verified by
//! its SHA-256, session key unwrapped once, blob decrypted and checked) → caller.

pub mod attr;
pub mod decrypt;
pub mod drive;
pub mod error;
pub mod handles;
pub mod history;
pub mod inode;
pub mod namespace;
pub mod preseal;
pub mod readback;
pub mod recovered;
pub mod sealer;
pub mod snapshot;
pub mod staging;
pub mod stream;
pub mod vault;
pub mod view;

pub use attr::{Attr, FileKind};
pub use drive::Drive;
pub use error::{VfsError, VfsResult};
pub use inode::{Ino, ROOT};
pub use namespace::AttrChange;
pub use recovered::{RecoveredFs, RecoveredOptions, RecoveredRepo};
pub use vault::{OpenMode, STATUS_INO, STATUS_NAME, VaultFs, VaultOptions};
