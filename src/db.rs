//! The embedded database (sled) kept in the store directory.
//!
//! Each concern owns one named tree (`index`, `vfs-inodes`, `users`, …); this module
//! only opens the database and maps its errors.

use std::path::{Path, PathBuf};

/// Errors opening or using the embedded database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// sled reported an error.
    #[error("database {path}: {source}")]
    Sled {
        /// Database directory.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: sled::Error,
    },
}

/// Handle to the store's embedded database.
#[derive(Clone)]
pub struct Db {
    inner: sled::Db,
    path: PathBuf,
}

impl Db {
    /// Directory of the database inside a store directory.
    pub fn path_in(store: &Path) -> PathBuf {
        store.join("db")
    }

    /// Open (or create) the database of a store directory.
    pub fn open(store: &Path) -> Result<Db, DbError> {
        let path = Self::path_in(store);
        let inner = sled::Config::new()
            .path(&path)
            // sled's default 1 GiB cache would dominate the writer's memory; the
            // index is read mostly by key, so a small cache suffices.
            .cache_capacity(32 * 1024 * 1024)
            .open()
            .map_err(|source| DbError::Sled {
                path: path.clone(),
                source,
            })?;
        Ok(Db { inner, path })
    }

    /// A named tree (table).
    pub fn tree(&self, name: &str) -> Result<sled::Tree, DbError> {
        self.inner.open_tree(name).map_err(|e| self.err(e))
    }

    /// Flush everything to disk (fsync).
    pub fn flush(&self) -> Result<(), DbError> {
        self.inner.flush().map(|_| ()).map_err(|e| self.err(e))
    }

    /// The raw sled handle, for multi-tree transactions.
    pub fn raw(&self) -> &sled::Db {
        &self.inner
    }

    /// Wrap a sled error with this database's path.
    pub fn err(&self, source: sled::Error) -> DbError {
        DbError::Sled {
            path: self.path.clone(),
            source,
        }
    }
}
