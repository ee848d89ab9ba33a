//! Where the key material lives in a store directory, and how it is written:
//! always to a temporary name first, fsynced, then renamed, so a crash never leaves
//! a half-written bundle.
//!
//! `<store>/keys/recovery`       recovery bundle (current generation)
//! `<store>/keys/writer.secret`  writer secrets, mode 0600

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{KeysError, RecoveryBundle, WriterSecrets};
use crate::crypto::Password;

/// Passwords shorter than this (in characters) are refused.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Applies the ceremony's password policy to one executive's password.
pub fn check_password(name: &str, password: &Password) -> Result<(), KeysError> {
    let pw = password.expose();
    let chars = pw.chars().count();
    let problem = if chars < MIN_PASSWORD_CHARS {
        Some(format!(
            "too short ({chars} characters; at least {MIN_PASSWORD_CHARS} required)"
        ))
    } else if pw.chars().all(|c| c == pw.chars().next().unwrap_or(' ')) {
        Some("a single repeated character is not a password".to_string())
    } else if pw.to_lowercase().contains(&name.to_lowercase()) {
        Some("must not contain the executive's name".to_string())
    } else {
        None
    };
    match problem {
        Some(problem) => Err(KeysError::WeakPassword {
            name: name.to_string(),
            problem,
        }),
        None => Ok(()),
    }
}

/// The key files of one store directory.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    dir: PathBuf,
}

impl KeyFiles {
    /// Key files under `<store>/keys`.
    pub fn new(store: &Path) -> KeyFiles {
        KeyFiles {
            dir: store.join("keys"),
        }
    }

    /// The key directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the recovery bundle.
    pub fn bundle_path(&self) -> PathBuf {
        self.dir.join("recovery")
    }

    /// Path of the writer secrets.
    pub fn writer_path(&self) -> PathBuf {
        self.dir.join("writer.secret")
    }

    /// Whether a vault (a recovery bundle) exists here.
    pub fn exists(&self) -> bool {
        self.bundle_path().exists()
    }

    /// Reads and parses the recovery bundle.
    pub fn load_bundle(&self) -> Result<RecoveryBundle, KeysError> {
        let path = self.bundle_path();
        if !path.exists() {
            return Err(KeysError::NoVault {
                path: self.dir.clone(),
            });
        }
        let bytes = fs::read(&path).map_err(|e| KeysError::io(&path, e))?;
        RecoveryBundle::from_bytes(&bytes, &path.display().to_string())
    }

    /// Reads the writer secrets and checks they belong to the bundle's vault.
    pub fn load_writer(&self, bundle: &RecoveryBundle) -> Result<WriterSecrets, KeysError> {
        let path = self.writer_path();
        let bytes = zeroize::Zeroizing::new(fs::read(&path).map_err(|e| KeysError::io(&path, e))?);
        let writer = WriterSecrets::from_file_bytes(&bytes, &path.display().to_string())?;
        if writer.vault_id != bundle.vault_id {
            return Err(KeysError::Mismatch {
                path,
                found: hex::encode(writer.vault_id),
                expected: hex::encode(bundle.vault_id),
            });
        }
        Ok(writer)
    }

    /// Creates the key directory with both files, atomically: everything is written
    /// into a sibling temporary directory which is renamed into place last.
    pub fn create(&self, bundle: &RecoveryBundle, writer: &WriterSecrets) -> Result<(), KeysError> {
        if self.dir.exists() {
            return Err(KeysError::VaultExists {
                path: self.dir.clone(),
            });
        }
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| KeysError::io(parent, e))?;
        let tmp = parent.join(format!(
            ".keys.tmp-{}",
            hex::encode(crate::crypto::random_bytes::<6>())
        ));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .map_err(|e| KeysError::io(&tmp, e))?;
        let result = (|| {
            write_durable(
                &tmp.join("writer.secret"),
                writer.to_file_bytes().expose(),
                0o600,
            )?;
            write_durable(&tmp.join("recovery"), &bundle.to_bytes(), 0o644)?;
            fsync_dir(&tmp)?;
            fs::rename(&tmp, &self.dir).map_err(|e| KeysError::io(&self.dir, e))?;
            fsync_dir(parent)
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }

    /// Replaces the recovery bundle (rekey) by writing a temporary file and renaming
    /// it over the old one.
    pub fn replace_bundle(&self, bundle: &RecoveryBundle) -> Result<(), KeysError> {
        let path = self.bundle_path();
        let tmp = self.dir.join(".recovery.tmp");
        // A leftover from a crash mid-rekey is garbage: the rename never happened.
        let _ = fs::remove_file(&tmp);
        write_durable(&tmp, &bundle.to_bytes(), 0o644)?;
        fs::rename(&tmp, &path).map_err(|e| KeysError::io(&path, e))?;
        fsync_dir(&self.dir)
    }

    /// Installs a bundle imported from escrow on a machine without one, with fresh
    /// writer secrets taken from the bundle after unlock (see `escrow import`).
    pub fn install_bundle(&self, bundle: &RecoveryBundle) -> Result<(), KeysError> {
        if self.exists() {
            return Err(KeysError::VaultExists {
                path: self.dir.clone(),
            });
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| KeysError::io(&self.dir, e))?;
        self.replace_bundle(bundle)
    }
}

/// Writes a new file (never an existing one), fsyncs it.
pub(crate) fn write_durable(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeysError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => KeysError::FileExists {
                path: path.to_path_buf(),
            },
            _ => KeysError::io(path, e),
        })?;
    file.write_all(bytes).map_err(|e| KeysError::io(path, e))?;
    file.sync_all().map_err(|e| KeysError::io(path, e))
}

fn fsync_dir(dir: &Path) -> Result<(), KeysError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| KeysError::io(dir, e))
}
