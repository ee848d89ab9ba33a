//! A bounded local cache of a remote's content-addressed objects, added by
//! wrapping a backend (the recovery mount reads packs through it).
//!
//! Only objects named by their SHA-256 (`data/…`, `index/…`, `snapshots/…`) are
//! cached, and every one is checked against its name when it is fetched **and**
//! again on every cache hit, so a disk that rots or a local attacker who edits
//! the cache is caught exactly like a tampered remote. Packs are encrypted, so the
//! cache writes no plaintext to disk. Other objects (`config`, `keys/…`) are read
//! through uncached: they are small and protected by their own formats.
//!
//! Layout: `<dir>/<object name>` (e.g. `<dir>/data/ab/ab12…`), written under a
//! temporary name `<dir>/tmp-<random>` and renamed into place; leftovers are
//! removed at open. The total size stays within the byte bound: the least
//! recently used objects are evicted first (use order survives a restart through
//! the files' mtimes). An object larger than the whole bound is served without
//! being cached.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use super::verify::{check_object, content_id_of, is_content_addressed};
use super::{BackendError, BackendResult, ObjectInfo, ReadBackend};

/// Default bound of a recovery cache.
pub const DEFAULT_CACHE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

#[derive(Default)]
struct Entries {
    /// Object name → (size, last use).
    objects: HashMap<String, (u64, u64)>,
    total: u64,
    clock: u64,
}

/// A read-through, SHA-256-checked, LRU-bounded cache in front of `inner`.
pub struct CachingBackend<B> {
    inner: B,
    dir: PathBuf,
    bound: u64,
    entries: Mutex<Entries>,
}

fn io_err(dir: &Path, op: &'static str, name: &str, source: std::io::Error) -> BackendError {
    BackendError::Io {
        backend: format!("cache:{}", dir.display()),
        op,
        name: name.to_string(),
        source,
    }
}

impl<B: ReadBackend> CachingBackend<B> {
    /// Opens (creating) the cache directory `dir` in front of `inner`, keeping at
    /// most `bound` bytes. Objects already cached are kept in their old use order
    /// (up to the bound); anything that is not a well-named object is removed.
    pub fn open(inner: B, dir: &Path, bound: u64) -> BackendResult<CachingBackend<B>> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, "create", "", e))?;
        let mut found: Vec<(SystemTime, String, u64)> = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let listing = std::fs::read_dir(&d).map_err(|e| io_err(dir, "list", "", e))?;
            for entry in listing.flatten() {
                let path = entry.path();
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    stack.push(path);
                    continue;
                }
                let name = path
                    .strip_prefix(dir)
                    .ok()
                    .and_then(|p| p.to_str())
                    .unwrap_or("")
                    .to_string();
                if content_id_of(&name).is_none() {
                    // A temp file of an interrupted fetch, or a stranger.
                    let _ = std::fs::remove_file(&path);
                    continue;
                }
                let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                found.push((used, name, meta.len()));
            }
        }
        found.sort();
        let cache = CachingBackend {
            inner,
            dir: dir.to_path_buf(),
            bound,
            entries: Mutex::new(Entries::default()),
        };
        {
            let mut e = cache.lock();
            for (_, name, size) in found {
                e.clock += 1;
                let clock = e.clock;
                e.objects.insert(name, (size, clock));
                e.total += size;
            }
            cache.evict(&mut e, 0);
        }
        Ok(cache)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// Bytes held in the cache now.
    pub fn cached_bytes(&self) -> u64 {
        self.lock().total
    }

    /// The byte bound.
    pub fn bound(&self) -> u64 {
        self.bound
    }

    /// Evicts least recently used objects until `incoming` more bytes fit.
    fn evict(&self, e: &mut Entries, incoming: u64) {
        while e.total + incoming > self.bound {
            let Some(oldest) = e
                .objects
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(n, _)| n.clone())
            else {
                return;
            };
            if let Some((size, _)) = e.objects.remove(&oldest) {
                e.total -= size;
            }
            let _ = std::fs::remove_file(self.dir.join(&oldest));
        }
    }

    /// A cached copy that still hashes to its name, if any. A copy that does not
    /// is dropped (and reported) so the caller fetches it again.
    fn hit(&self, name: &str) -> Option<Vec<u8>> {
        if !self.lock().objects.contains_key(name) {
            return None;
        }
        let path = self.dir.join(name);
        let bytes = std::fs::read(&path).ok();
        let mut e = self.lock();
        match bytes {
            Some(b) if check_object(name, &b).is_ok() => {
                e.clock += 1;
                let clock = e.clock;
                if let Some(entry) = e.objects.get_mut(name) {
                    entry.1 = clock;
                }
                // Keep the use order for the next start.
                if let Ok(f) = std::fs::File::options().write(true).open(&path) {
                    let _ = f.set_modified(SystemTime::now());
                }
                Some(b)
            }
            other => {
                if other.is_some() {
                    tracing::warn!(object = name, cache = %self.dir.display(),
                        "cached copy fails its SHA-256 check (local damage); fetching it again");
                }
                if let Some((size, _)) = e.objects.remove(name) {
                    e.total -= size;
                }
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores a verified object, evicting older ones to stay within the bound.
    /// Failing to cache is not an error for the reader: it is logged.
    fn store(&self, name: &str, bytes: &[u8]) {
        let size = bytes.len() as u64;
        if size > self.bound {
            return;
        }
        {
            let mut e = self.lock();
            if e.objects.contains_key(name) {
                return;
            }
            self.evict(&mut e, size);
            // Reserve the room now, so concurrent fetches cannot overshoot the bound.
            e.clock += 1;
            let clock = e.clock;
            e.objects.insert(name.to_string(), (size, clock));
            e.total += size;
        }
        if let Err(err) = self.write_file(name, bytes) {
            tracing::warn!(object = name, error = %err, "cannot keep an object in the recovery cache");
            let mut e = self.lock();
            if let Some((size, _)) = e.objects.remove(name) {
                e.total -= size;
            }
        }
    }

    fn write_file(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = self.dir.join(format!(
            "tmp-{}",
            hex::encode(crate::crypto::random_bytes::<8>())
        ));
        let result = (|| {
            let mut f = std::fs::File::create_new(&tmp)?;
            f.write_all(bytes)?;
            std::fs::rename(&tmp, &path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

impl<B: ReadBackend> ReadBackend for CachingBackend<B> {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    /// Content-addressed objects come from the cache when a verified copy is there,
    /// else from the remote, checked, then cached; a remote copy that fails its
    /// check is refused as [`BackendError::Tampered`] and not cached.
    fn read(&self, name: &str) -> BackendResult<Vec<u8>> {
        if !is_content_addressed(name) {
            return self.inner.read(name);
        }
        if let Some(bytes) = self.hit(name) {
            return Ok(bytes);
        }
        let bytes = self.inner.read(name)?;
        check_object(name, &bytes).map_err(|e| match e {
            super::verify::CheckError::MalformedName { name, reason } => {
                BackendError::InvalidName { name, reason }
            }
            super::verify::CheckError::Mismatch { name, actual } => BackendError::Tampered {
                backend: self.inner.describe(),
                name,
                actual,
            },
        })?;
        self.store(name, &bytes);
        Ok(bytes)
    }

    /// A range of a content-addressed object is cut from the whole, verified
    /// object (a range alone cannot be checked); other objects pass through.
    fn read_range(&self, name: &str, offset: u64, len: u64) -> BackendResult<Vec<u8>> {
        if !is_content_addressed(name) {
            return self.inner.read_range(name, offset, len);
        }
        let bytes = self.read(name)?;
        let size = bytes.len() as u64;
        match offset.checked_add(len) {
            Some(end) if end <= size => Ok(bytes[offset as usize..end as usize].to_vec()),
            _ => Err(BackendError::ShortRead {
                backend: self.inner.describe(),
                name: name.to_string(),
                offset,
                len,
                size,
            }),
        }
    }

    fn list(&self, dir: &str) -> BackendResult<Vec<ObjectInfo>> {
        self.inner.list(dir)
    }

    fn stat(&self, name: &str) -> BackendResult<Option<ObjectInfo>> {
        self.inner.stat(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::verify::content_name;
    use crate::backend::{LocalBackend, WriteBackend};

    fn object(i: u8, len: usize) -> (String, Vec<u8>) {
        let bytes = vec![i; len];
        (content_name("data", &bytes), bytes)
    }

    #[test]
    fn caches_verified_objects_within_the_bound_lru_first() {
        let remote_dir = tempfile::tempdir().unwrap();
        let remote = LocalBackend::open(remote_dir.path()).unwrap();
        let objs: Vec<_> = (0..4).map(|i| object(i, 1000)).collect();
        for (n, b) in &objs {
            remote.write_if_absent(n, b).unwrap();
        }
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = CachingBackend::open(remote, cache_dir.path(), 2500).unwrap();
        assert_eq!(cache.read(&objs[0].0).unwrap(), objs[0].1);
        assert_eq!(cache.read(&objs[1].0).unwrap(), objs[1].1);
        // Touch 0, so 1 is the oldest when 2 arrives.
        cache.read(&objs[0].0).unwrap();
        cache.read(&objs[2].0).unwrap();
        assert_eq!(cache.cached_bytes(), 2000);
        assert!(cache_dir.path().join(&objs[0].0).exists());
        assert!(!cache_dir.path().join(&objs[1].0).exists());
        assert!(cache_dir.path().join(&objs[2].0).exists());
        // Ranges come from the verified whole.
        assert_eq!(cache.read_range(&objs[2].0, 10, 5).unwrap(), vec![2; 5]);
        assert!(cache.read_range(&objs[2].0, 999, 5).is_err());
        // Reopening keeps what fits, in use order.
        drop(cache);
        let remote = LocalBackend::open(remote_dir.path()).unwrap();
        let cache = CachingBackend::open(remote, cache_dir.path(), 1500).unwrap();
        assert_eq!(cache.cached_bytes(), 1000);
        assert!(cache_dir.path().join(&objs[2].0).exists());
    }

    #[test]
    fn a_damaged_cached_copy_is_fetched_again_and_a_tampered_remote_refused() {
        let remote_dir = tempfile::tempdir().unwrap();
        let remote = LocalBackend::open(remote_dir.path()).unwrap();
        let (name, bytes) = object(7, 500);
        remote.write_if_absent(&name, &bytes).unwrap();
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = CachingBackend::open(remote, cache_dir.path(), 10_000).unwrap();
        cache.read(&name).unwrap();
        let cached = cache_dir.path().join(&name);
        let mut bad = bytes.clone();
        bad[3] ^= 1;
        std::fs::write(&cached, &bad).unwrap();
        assert_eq!(cache.read(&name).unwrap(), bytes);
        assert_eq!(std::fs::read(&cached).unwrap(), bytes);

        // The remote copy flips a byte; the cache is emptied: refused, not cached.
        let remote_file = remote_dir.path().join(&name);
        let mut perms = std::fs::metadata(&remote_file).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&remote_file, perms).unwrap();
        std::fs::write(&remote_file, &bad).unwrap();
        std::fs::remove_file(&cached).unwrap();
        let cache = CachingBackend::open(
            LocalBackend::open(remote_dir.path()).unwrap(),
            cache_dir.path(),
            10_000,
        )
        .unwrap();
        assert!(matches!(
            cache.read(&name),
            Err(BackendError::Tampered { .. })
        ));
        assert!(!cached.exists());
        assert_eq!(cache.cached_bytes(), 0);
    }
}
