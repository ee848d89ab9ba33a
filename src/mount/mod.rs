//! Platform adapters: thin translations of the operating system's filesystem
//! requests into [`crate::vfs::VaultFs`] calls. All filesystem logic lives in
//! `vfs`; an adapter only converts types and maps errors through its one table.

#[cfg(target_os = "linux")]
pub mod fuse;
pub mod users;
