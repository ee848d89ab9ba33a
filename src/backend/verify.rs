//! Hash verification of content-addressed objects, added by wrapping a backend.
//!
//! Objects under `data/`, `index/` and `snapshots/` are named by the lowercase hex
//! SHA-256 of their bytes (`data/<first byte>/<id>`, `index/<id>`, `snapshots/<id>`),
//! so anyone can check them without a key: a remote (or a USB disk) that flips a bit
//! or swaps objects is caught on read. Other objects (`config`, `keys/…`, `audit/…`)
//! are not content-addressed and are protected by their own formats.

use sha2::{Digest, Sha256};

use super::{
    AdminBackend, BackendError, BackendResult, ObjectInfo, ReadBackend, WriteBackend, WriteOutcome,
};

/// Why an object fails [`check_object`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The name is under a content-addressed directory but is not a valid id there,
    /// so there is nothing to check the bytes against.
    #[error("object {name} is in a content-addressed directory but {reason}")]
    MalformedName {
        /// Object name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The bytes do not hash to the name.
    #[error("object {name} hashes to {actual}, not to its name")]
    Mismatch {
        /// Object name.
        name: String,
        /// Lowercase hex SHA-256 of the bytes.
        actual: String,
    },
}

/// Whether `name` lies in a directory whose objects are named by their SHA-256.
pub fn is_content_addressed(name: &str) -> bool {
    matches!(name.split('/').next(), Some("data" | "index" | "snapshots")) && name.contains('/')
}

/// The SHA-256 that the bytes of `name` must have, or `None` when `name` is not a
/// well-formed content-addressed name (`config`, `keys/recovery`, or a malformed name
/// under `data/`; [`check_object`] tells the two apart).
pub fn content_id_of(name: &str) -> Option<[u8; 32]> {
    parse_content_name(name).ok().flatten()
}

/// `Ok(None)`: not content-addressed. `Err`: in a content-addressed directory but
/// malformed.
fn parse_content_name(name: &str) -> Result<Option<[u8; 32]>, &'static str> {
    if !is_content_addressed(name) {
        return Ok(None);
    }
    let parts: Vec<&str> = name.split('/').collect();
    let id_hex = match parts.as_slice() {
        ["data", prefix, id] => {
            if prefix.len() != 2 || !id.starts_with(prefix) {
                return Err("its directory is not the first byte of its id");
            }
            id
        }
        ["index" | "snapshots", id] => id,
        ["data", ..] => return Err("it is not of the form data/<2 hex>/<64 hex>"),
        _ => return Err("it is not of the form <dir>/<64 hex>"),
    };
    parse_id(id_hex).map(Some)
}

fn parse_id(id_hex: &str) -> Result<[u8; 32], &'static str> {
    // Lowercase only: `hex` accepts uppercase, and two spellings of one id would be
    // two objects on a case-sensitive disk.
    if id_hex.len() != 64
        || !id_hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err("its id is not 64 lowercase hex digits");
    }
    let mut id = [0u8; 32];
    hex::decode_to_slice(id_hex, &mut id).map_err(|_| "its id is not valid hex")?;
    Ok(id)
}

/// Checks that the bytes of a content-addressed object hash to its name. Objects that
/// are not content-addressed pass unchecked.
pub fn check_object(name: &str, bytes: &[u8]) -> Result<(), CheckError> {
    let expected = match parse_content_name(name) {
        Ok(Some(id)) => id,
        Ok(None) => return Ok(()),
        Err(reason) => {
            return Err(CheckError::MalformedName {
                name: name.to_string(),
                reason,
            });
        }
    };
    let actual: [u8; 32] = Sha256::digest(bytes).into();
    if actual == expected {
        Ok(())
    } else {
        Err(CheckError::Mismatch {
            name: name.to_string(),
            actual: hex::encode(actual),
        })
    }
}

/// The object name under which `bytes` is stored in a content-addressed directory
/// (`data`, `index` or `snapshots`).
pub fn content_name(dir: &str, bytes: &[u8]) -> String {
    let id = hex::encode(Sha256::digest(bytes));
    if dir == "data" {
        format!("data/{}/{id}", &id[..2])
    } else {
        format!("{dir}/{id}")
    }
}

/// A backend whose whole-object reads of content-addressed objects are checked
/// against their names, and whose writes refuse data that does not match its name.
///
/// `read_range` cannot be checked (a range says nothing about the whole object's
/// hash) and passes through unchecked; callers that need the guarantee read whole
/// objects. Pack contents are additionally authenticated by AES-GCM when decrypted.
#[derive(Debug, Clone)]
pub struct VerifyingBackend<B> {
    inner: B,
}

impl<B> VerifyingBackend<B> {
    /// Wraps `inner`.
    pub fn new(inner: B) -> Self {
        VerifyingBackend { inner }
    }

    /// The wrapped backend, for operations that must bypass verification.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// Unwraps the backend.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: ReadBackend> VerifyingBackend<B> {
    fn check_error(&self, e: CheckError, writing: bool) -> BackendError {
        match e {
            CheckError::MalformedName { name, reason } => {
                BackendError::InvalidName { name, reason }
            }
            CheckError::Mismatch { name, actual } if writing => BackendError::Misnamed {
                backend: self.inner.describe(),
                name,
                actual,
            },
            CheckError::Mismatch { name, actual } => BackendError::Tampered {
                backend: self.inner.describe(),
                name,
                actual,
            },
        }
    }
}

impl<B: ReadBackend> ReadBackend for VerifyingBackend<B> {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn read(&self, name: &str) -> BackendResult<Vec<u8>> {
        let bytes = self.inner.read(name)?;
        check_object(name, &bytes).map_err(|e| self.check_error(e, false))?;
        Ok(bytes)
    }

    /// Unchecked: see the type's documentation.
    fn read_range(&self, name: &str, offset: u64, len: u64) -> BackendResult<Vec<u8>> {
        self.inner.read_range(name, offset, len)
    }

    fn list(&self, dir: &str) -> BackendResult<Vec<ObjectInfo>> {
        self.inner.list(dir)
    }

    fn stat(&self, name: &str) -> BackendResult<Option<ObjectInfo>> {
        self.inner.stat(name)
    }
}

impl<B: WriteBackend> WriteBackend for VerifyingBackend<B> {
    /// Refuses before touching the backend when the data does not hash to a
    /// content-addressed name: a misnamed object would be reported as tampered by
    /// every later read, and would block the correct object from ever being written.
    fn write_if_absent(&self, name: &str, data: &[u8]) -> BackendResult<WriteOutcome> {
        check_object(name, data).map_err(|e| self.check_error(e, true))?;
        self.inner.write_if_absent(name, data)
    }
}

impl<B: AdminBackend> AdminBackend for VerifyingBackend<B> {
    fn delete(&self, name: &str) -> BackendResult<()> {
        self.inner.delete(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn content_ids_come_from_the_last_component() {
        let id = content_id_of(&format!("data/e3/{EMPTY}")).unwrap();
        assert_eq!(hex::encode(id), EMPTY);
        assert!(content_id_of(&format!("index/{EMPTY}")).is_some());
        assert!(content_id_of(&format!("snapshots/{EMPTY}")).is_some());
        for plain in ["config", "keys/recovery", "audit/x", "data", "index"] {
            assert!(!is_content_addressed(plain), "{plain}");
            assert_eq!(content_id_of(plain), None, "{plain}");
            assert_eq!(check_object(plain, b"anything"), Ok(()), "{plain}");
        }
    }

    #[test]
    fn malformed_content_names_are_refused() {
        let upper = EMPTY.to_uppercase();
        for bad in [
            format!("data/ab/{EMPTY}"),
            format!("data/{EMPTY}"),
            format!("data/e3/x/{EMPTY}"),
            format!("data/E3/{upper}"),
            format!("index/{upper}"),
            format!("index/{}", &EMPTY[..63]),
            format!("snapshots/x/{EMPTY}"),
        ] {
            assert_eq!(content_id_of(&bad), None, "{bad}");
            assert!(
                matches!(
                    check_object(&bad, b""),
                    Err(CheckError::MalformedName { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn check_object_compares_the_hash() {
        assert_eq!(check_object(&format!("data/e3/{EMPTY}"), b""), Ok(()));
        let err = check_object(&format!("index/{EMPTY}"), b"x").unwrap_err();
        assert!(matches!(&err, CheckError::Mismatch { actual, .. } if actual.len() == 64));
        assert_eq!(content_name("data", b""), format!("data/e3/{EMPTY}"));
        assert_eq!(content_name("snapshots", b""), format!("snapshots/{EMPTY}"));
    }
}
