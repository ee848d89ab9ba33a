//! Profile errors: one line each, naming the file, the key and what was expected.
//!
//! Shapes (a public contract, `bcpvault profile check` prints them verbatim):
//! - `{file}: cannot read: {io error}`
//! - `{file}: line L, column C: {TOML syntax message}`
//! - `{file}: key `{key}`: {problem}` where `key` is a dotted path such as
//!   `remote[1].port`, `schedule[0]` or `kdf.memory`.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read (missing, permissions, not UTF-8).
    ///
    /// The I/O error is part of the message rather than a `source`, so that printing
    /// the error chain does not repeat it.
    #[error("{}: cannot read: {cause}", file.display())]
    Read {
        /// The profile file.
        file: PathBuf,
        /// What the operating system said.
        cause: io::Error,
    },
    /// The file is not valid TOML.
    #[error("{}: line {line}, column {column}: {message}", file.display())]
    Syntax {
        /// The profile file.
        file: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (in characters) of the error.
        column: usize,
        /// First line of the TOML parser's message.
        message: String,
    },
    /// A key is unknown, missing or holds a value that is not allowed.
    #[error("{}: key `{key}`: {problem}", file.display())]
    Key {
        /// The profile file.
        file: PathBuf,
        /// Dotted key path, e.g. `remote[1].port`.
        key: String,
        /// What is wrong with it.
        problem: Problem,
    },
}

impl ProfileError {
    /// The key path an error is about, if it is about a key.
    pub fn key(&self) -> Option<&str> {
        match self {
            ProfileError::Key { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// What is wrong with one key of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The key is not allowed at this place; `expected` lists the allowed keys.
    UnknownKey {
        /// Keys allowed in this table, in documentation order.
        expected: Vec<&'static str>,
    },
    /// A required key is absent.
    Missing {
        /// What kind of value the key needs, e.g. "a directory path".
        expected: String,
    },
    /// The value has the wrong type or is out of range.
    Invalid {
        /// The offending value, rendered as compact TOML.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// The value repeats one that must be unique.
    Duplicate {
        /// The offending value, rendered as compact TOML.
        value: String,
        /// Key path of the earlier occurrence.
        first: String,
    },
    /// The value names a feature that exists in the spec but is not built yet.
    Unsupported {
        /// The offending value, rendered as compact TOML.
        value: String,
        /// What is supported today.
        expected: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::UnknownKey { expected } => {
                write!(f, "unknown key: expected one of {}", expected.join(", "))
            }
            Problem::Missing { expected } => write!(f, "missing: expected {expected}"),
            Problem::Invalid { value, expected } => write!(f, "value {value}: expected {expected}"),
            Problem::Duplicate { value, first } => {
                write!(f, "value {value}: duplicate, already used by `{first}`")
            }
            Problem::Unsupported { value, expected } => {
                write!(f, "value {value}: not supported yet; expected {expected}")
            }
        }
    }
}
