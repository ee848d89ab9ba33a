//! Platform adapters: thin translations of the operating system's filesystem
//! requests into [`crate::vfs::VaultFs`] calls. All filesystem logic lives in
//! `vfs`; an adapter only converts types and maps errors through its one table.

#[cfg(target_os = "linux")]
pub mod fuse;
pub mod ntstatus;
pub mod report;
pub mod users;
pub mod winattr;
// Off by default (GPL-3.0 crate, see docs/dependencies.md); the only module
// allowed `unsafe` (WinFsp callbacks and the caller's access token).
#[cfg(all(windows, feature = "winfsp"))]
#[allow(unsafe_code)]
pub mod winfsp;
pub mod winopen;
pub mod winpath;
pub mod winsid;
pub mod wintime;
