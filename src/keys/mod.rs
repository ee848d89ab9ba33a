//! Keys: the key ceremony, the recovery bundle and its escrow copies, the writer's
//! secrets, and the executive quorum unlock.
//!
//! Who holds what:
//! - the file server holds the public key, the writer secrets (dedup key, chunker
//!   seed, snapshot signing key) and the recovery bundle — nothing that decrypts;
//! - each executive holds a password that opens one Shamir share of the KEK;
//! - m shares rebuild the KEK, which opens the private key in memory only.

mod bundle;
mod ceremony;
mod error;
mod escrow;
mod files;
mod rekey;
mod unlock;
mod writer;

pub use bundle::{ExecutiveShare, RecoveryBundle, SecretPayload};
pub use ceremony::{Ceremony, CeremonyOutcome, Executive, MAX_EXECUTIVES, validate_quorum};
pub use error::KeysError;
pub use escrow::{EscrowText, escrow_file_names};
pub use files::{KeyFiles, MIN_PASSWORD_CHARS, check_password};
pub use rekey::{Rekey, RekeyOutcome};
pub use unlock::{Approval, OpenedShare, UnlockProgress, UnlockedVault, Unlocker, open_share};
pub use writer::WriterSecrets;

/// Renders a key fingerprint as `SHA256:` and colon-free hex in groups of four,
/// short enough to read aloud during the ceremony.
pub fn format_fingerprint(fp: &[u8; 32]) -> String {
    let hex = hex::encode(fp);
    let groups: Vec<&str> = (0..hex.len()).step_by(4).map(|i| &hex[i..i + 4]).collect();
    format!("SHA256:{}", groups.join(" "))
}
