//! Errors of the key layer. Each names the file, executive or field concerned and
//! never includes secret material.

use std::path::PathBuf;

use crate::crypto::CryptoError;

/// Everything that can go wrong in the ceremony, bundle handling or unlock.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The store already holds a vault; `init` never overwrites one.
    #[error("{path} already holds a vault (init never overwrites an existing vault)")]
    VaultExists {
        /// The existing key directory.
        path: PathBuf,
    },
    /// The store holds no vault yet.
    #[error(
        "{path}: no vault here (run `bcpvault init` first, or `bcpvault escrow import` on a recovery machine)"
    )]
    NoVault {
        /// The missing key directory.
        path: PathBuf,
    },
    /// The executive list or threshold is unusable.
    #[error("{0}")]
    BadQuorum(String),
    /// An executive name is not acceptable.
    #[error("executive name {name:?}: expected 1-32 characters of a-z, 0-9, '.', '_' or '-'")]
    BadExecutiveName {
        /// The rejected name.
        name: String,
    },
    /// A password does not meet the policy.
    #[error("password for executive {name}: {problem}")]
    WeakPassword {
        /// Executive whose password was refused.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The executive is not part of this vault's quorum.
    #[error("executive {name} holds no share of vault {vault} (known: {known})")]
    UnknownExecutive {
        /// Name given.
        name: String,
        /// Vault name.
        vault: String,
        /// Comma-separated list of executives of the vault.
        known: String,
    },
    /// The password did not open the executive's share.
    #[error("wrong password for executive {name}")]
    WrongPassword {
        /// Executive whose password failed.
        name: String,
    },
    /// The same executive approved twice.
    #[error("executive {name} already approved; each executive counts once")]
    DuplicateApproval {
        /// Executive who approved twice.
        name: String,
    },
    /// A share opened from a different vault's bundle.
    #[error("the share of {name} belongs to another vault ({other}), not {this}")]
    ForeignShare {
        /// Executive whose share it is.
        name: String,
        /// Vault id the share belongs to (hex).
        other: String,
        /// Vault id being unlocked (hex).
        this: String,
    },
    /// A share from an older or newer bundle generation (after a rekey).
    #[error(
        "the share of {name} is from key generation {share}, but the vault is at generation {current}"
    )]
    StaleShare {
        /// Executive whose share it is.
        name: String,
        /// Generation of the share.
        share: u32,
        /// Generation of the bundle in use.
        current: u32,
    },
    /// Fewer approvals than the threshold.
    #[error("{have} of {need} approvals: {missing} more executive(s) needed")]
    NotEnoughApprovals {
        /// Approvals so far.
        have: usize,
        /// Threshold.
        need: usize,
        /// How many more are needed.
        missing: usize,
    },
    /// The shares combined, but the result does not open the private key.
    #[error("the combined shares do not open the vault key (a share or the bundle is corrupted)")]
    SharesDoNotCombine,
    /// A recovery bundle, writer-secret file or escrow text is malformed.
    #[error("{what}: {problem}")]
    Malformed {
        /// What was being parsed (file name or "recovery bundle").
        what: String,
        /// What is wrong, with offset or line where known.
        problem: String,
    },
    /// The bundle and the writer secrets belong to different vaults.
    #[error("{path}: writer secrets are for vault {found}, but the bundle is for {expected}")]
    Mismatch {
        /// The writer secret file.
        path: PathBuf,
        /// Vault id found (hex).
        found: String,
        /// Vault id expected (hex).
        expected: String,
    },
    /// A file that would be written already exists.
    #[error("{path} already exists; refusing to overwrite it")]
    FileExists {
        /// The existing file.
        path: PathBuf,
    },
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// File or directory concerned.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A cryptographic operation failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl KeysError {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> KeysError {
        KeysError::Io {
            path: path.into(),
            source,
        }
    }

    /// A malformed-input error.
    pub fn malformed(what: impl Into<String>, problem: impl Into<String>) -> KeysError {
        KeysError::Malformed {
            what: what.into(),
            problem: problem.into(),
        }
    }
}
