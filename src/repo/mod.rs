//! Repository engine: a content-addressed, deduplicated, append-only store that
//! the writer fills with the vault's public key only.
//!
//! The data path, one module per concept:
//! `chunker` (FastCDC) → `id` (HMAC blob ids) → `blob` (zstd + AES-GCM) → `pack`
//! (blobs + encrypted table + wrapped session key) → `pipeline` (threads) →
//! `repository` (durable publish + DB index) → `tree`, `snapshot`, `commit` →
//! `index` (encrypted copy for recovery). Reading back: `source` (verified reads,
//! pack cache) → `restore`; `check` verifies; `usage` reports sizes.
//! Byte formats are in each module's docs and in `docs/format.md`.

pub mod backup;
pub mod blob;
pub mod check;
pub mod chunker;
pub mod commit;
pub mod config;
pub mod error;
pub mod filecache;
pub mod id;
pub mod index;
pub mod journal;
pub mod keypool;
pub mod openpack;
pub mod pack;
pub mod pipeline;
pub mod progress;
pub mod repository;
pub mod restore;
pub mod segpack;
pub mod snapshot;
pub mod source;
pub mod tree;
pub mod usage;
pub mod wire;

pub use backup::{BackupSummary, backup};
pub use error::{RepoError, RepoResult};
pub use id::{BlobId, BlobKind, ObjectId};
pub use pipeline::{BlobWriter, SealObserver, WriteOptions, WriteStats};
pub use progress::{NoProgress, Progress};
pub use repository::{LocalSnapshot, Repository};
