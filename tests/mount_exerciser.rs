//! A seeded random-operation exerciser of the vault drive through a real FUSE
//! mount, checked against an in-memory model (SPEC §3, sealed semantics).
//!
//! Eight file names in two folders, at most three descriptors open (the same file
//! may be open twice): open (O_RDWR|O_CREAT, with or without O_TRUNC), pwrite at
//! random offsets (past EOF too: sparse), read-back while open, set_len, fsync /
//! fdatasync, close (its FLUSH result checked), rename (over existing and open
//! names too), unlink (open files included), stat, fstat, listing, truncate(2) by
//! path, whole-file read by path. While sealed, opening a closed non-empty file
//! without O_TRUNC, truncating it by path to another non-zero size and reading
//! anything must fail with EACCES (the test first waits, through
//! `/.bcpvault-status`, until the daemon has seen the asynchronous RELEASE of every
//! closed descriptor). Every 2,500 operations all descriptors are closed, the vault
//! is unlocked and every file compared byte for byte with the model; the segment
//! after the first checkpoint (and every fourth after it) runs unlocked
//! (read-modify-write opens). At the end the check is repeated after umount +
//! mount. A second variant runs with a 1 MiB staging budget that an open ballast
//! file nearly fills, so staged blocks spill to the encrypted temp file.
//!
//! `BCPVAULT_EXERCISER_SEED` replays a seed (printed on failure, with the last
//! operations); `BCPVAULT_EXERCISER_OPS` changes the number of operations. The two
//! `repro_` tests at the end are known bugs (ignored until fixed).

#[path = "support/mount.rs"]
mod mount;
#[path = "support/vault.rs"]
mod vault;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use mount::MountedVault;

const DEFAULT_SEED: u64 = 0x5EA1_ED0F_F1CE_2026;
const DEFAULT_OPS: usize = 10_000;
const FOLDERS: [&str; 2] = ["docs", "tmp"];
const FILES: [&str; 4] = ["a.docx", "b.txt", "~WRL0001.tmp", "c.bin"];
const MAX_SIZE: usize = 300 * 1024;
/// Files grow larger in the variant whose staging spills to encrypted temp files.
const MAX_SIZE_SPILLING: usize = 640 * 1024;
/// `[mount] staging_memory` of the spilling variant (bytes; the profile says 1 MiB).
const STAGING_BUDGET: usize = 1024 * 1024;
const MAX_OPEN: usize = 3;
const CHECKPOINT_EVERY: usize = 2_500;
const HISTORY: usize = 40;
/// Once a bug (fixed): fstat/ftruncate of an open file whose name was unlinked
/// (or renamed over) failed with ENOENT. `true` would keep the exerciser from
/// calling them on such files; `BCPVAULT_EXERCISER_UNLINKED_METADATA=1` forces them.
const KNOWN_BUG_UNLINKED_OPEN: bool = false;

/// splitmix64: small, deterministic, good enough for choosing operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// `len` bytes: a mix of a repeating pattern (compressible) and noise.
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        if self.chance(30) {
            let b = self.next() as u8;
            out.resize(len, b);
            return out;
        }
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// One file of the model: its content as a descriptor sees it (staged while open,
/// sealed once every descriptor is closed).
struct Node {
    data: Vec<u8>,
    /// Descriptors of the test open on it.
    open: usize,
    /// Still has a name.
    linked: bool,
}

struct Fd {
    file: File,
    node: usize,
    /// The name it was opened under (for messages).
    opened_as: String,
}

struct Exerciser<'a> {
    m: &'a MountedVault,
    seed: u64,
    rng: Rng,
    op: usize,
    names: BTreeMap<String, usize>,
    nodes: Vec<Node>,
    fds: Vec<Fd>,
    history: VecDeque<String>,
    counts: BTreeMap<&'static str, usize>,
    /// fstat and ftruncate also on open files whose name is gone.
    unlinked_metadata: bool,
    /// The decrypted view is on (every fourth segment between checkpoints).
    unlocked: bool,
    /// Largest file size the operations produce.
    max_size: usize,
    /// Descriptors held open outside the model (the spilling variant's ballast).
    extra_handles: usize,
}

fn all_names() -> Vec<String> {
    FOLDERS
        .iter()
        .flat_map(|d| FILES.iter().map(move |f| format!("{d}/{f}")))
        .collect()
}

/// Index of the first differing byte, for messages.
fn first_diff(a: &[u8], b: &[u8]) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!(
            "first difference at byte {i} ({:#04x} vs {:#04x})",
            a[i], b[i]
        ),
        None => format!("lengths {} vs {}", a.len(), b.len()),
    }
}

impl<'a> Exerciser<'a> {
    fn new(m: &'a MountedVault, seed: u64, max_size: usize) -> Exerciser<'a> {
        Exerciser {
            m,
            seed,
            rng: Rng(seed),
            op: 0,
            names: BTreeMap::new(),
            nodes: Vec::new(),
            fds: Vec::new(),
            history: VecDeque::new(),
            counts: BTreeMap::new(),
            unlinked_metadata: !KNOWN_BUG_UNLINKED_OPEN
                || std::env::var_os("BCPVAULT_EXERCISER_UNLINKED_METADATA").is_some(),
            unlocked: false,
            max_size,
            extra_handles: 0,
        }
    }

    fn note(&mut self, kind: &'static str, what: String) {
        *self.counts.entry(kind).or_default() += 1;
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(format!("#{} {what}", self.op));
    }

    #[track_caller]
    fn fail(&self, msg: String) -> ! {
        let hist: Vec<&str> = self.history.iter().map(|s| s.as_str()).collect();
        panic!(
            "exerciser failed at operation {} (seed {:#x}; replay with BCPVAULT_EXERCISER_SEED={}):\n{msg}\nlast operations:\n  {}",
            self.op,
            self.seed,
            self.seed,
            hist.join("\n  ")
        );
    }

    /// Unwraps an I/O result or fails with context.
    #[track_caller]
    fn io<T>(&self, r: std::io::Result<T>, what: &str) -> T {
        match r {
            Ok(v) => v,
            Err(e) => self.fail(format!("{what}: unexpected error {e} ({e:?})")),
        }
    }

    fn open_descriptors_of_mount(&self) -> usize {
        let text = fs::read_to_string(self.m.path(".bcpvault-status"))
            .unwrap_or_else(|e| self.fail(format!("reading the status file: {e}")));
        text.lines()
            .find_map(|l| l.strip_prefix("open handles: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| self.fail(format!("no 'open handles' in the status file:\n{text}")))
    }

    /// Waits until the daemon has processed the (asynchronous) RELEASE of every
    /// closed descriptor, so that "closed" in the model is closed in the daemon.
    fn wait_released(&self) {
        let start = Instant::now();
        loop {
            let n = self.open_descriptors_of_mount();
            if n == self.fds.len() + self.extra_handles {
                return;
            }
            if start.elapsed() > Duration::from_secs(10) {
                self.fail(format!(
                    "the daemon still shows {n} open handles 10 s after closing; the test has {}",
                    self.fds.len() + self.extra_handles
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn run(&mut self, ops: usize) {
        let names = all_names();
        while self.op < ops {
            self.op += 1;
            self.step(&names);
            if self.op.is_multiple_of(CHECKPOINT_EVERY) && self.op < ops {
                // Segment 1 of every 4 runs unlocked: opening without O_TRUNC then
                // loads the decrypted content (read-modify-write).
                let unlocked_next = (self.op / CHECKPOINT_EVERY) % 4 == 1;
                self.checkpoint(!unlocked_next);
            }
        }
    }

    fn step(&mut self, names: &[String]) {
        // Weights: open, write, read, set_len, close, fsync, rename, unlink, stat,
        // fstat, listing, truncate(2) by path, read of a whole file by path.
        let have_fd = !self.fds.is_empty();
        let can_open = self.fds.len() < MAX_OPEN;
        let weights = [
            if can_open { 14 } else { 0 },
            if have_fd { 26 } else { 0 },
            if have_fd { 12 } else { 0 },
            if have_fd { 6 } else { 0 },
            if have_fd { 11 } else { 0 },
            if have_fd { 3 } else { 0 },
            7,
            4,
            10,
            if have_fd { 4 } else { 0 },
            3,
            3,
            3,
        ];
        let total: usize = weights.iter().sum();
        let mut pick = self.rng.below(total);
        let mut which = 0;
        while pick >= weights[which] {
            pick -= weights[which];
            which += 1;
        }
        match which {
            0 => {
                let name = names[self.rng.below(names.len())].clone();
                let trunc = self.rng.chance(45);
                self.open(&name, trunc);
            }
            1 => self.write(),
            2 => self.read(),
            3 => self.set_len(),
            4 => {
                let i = self.rng.below(self.fds.len());
                self.close(i);
            }
            5 => self.fsync(),
            6 => {
                let from = names[self.rng.below(names.len())].clone();
                let to = names[self.rng.below(names.len())].clone();
                self.rename(&from, &to);
            }
            7 => {
                let name = names[self.rng.below(names.len())].clone();
                self.unlink(&name);
            }
            8 => {
                let name = names[self.rng.below(names.len())].clone();
                self.stat(&name);
            }
            9 => self.fstat(),
            10 => self.listing(),
            11 => {
                let name = names[self.rng.below(names.len())].clone();
                self.truncate_path(&name);
            }
            _ => {
                let name = names[self.rng.below(names.len())].clone();
                self.read_path(&name);
            }
        }
    }

    fn open(&mut self, name: &str, trunc: bool) {
        let existing = self.names.get(name).copied();
        // A closed, non-empty file cannot be opened for writing without O_TRUNC
        // while sealed (its content would have to be decrypted).
        let refused = match existing {
            Some(n) => {
                !self.unlocked
                    && !trunc
                    && self.nodes[n].open == 0
                    && !self.nodes[n].data.is_empty()
            }
            None => false,
        };
        if refused {
            self.wait_released();
        }
        let r = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(trunc)
            .open(self.m.path(name));
        let how = if trunc { "O_TRUNC" } else { "no O_TRUNC" };
        if refused {
            self.note(
                "open refused (EACCES)",
                format!("open {name} ({how}) -> EACCES expected"),
            );
            match r {
                Err(e) if e.raw_os_error() == Some(libc::EACCES) => return,
                Err(e) => self.fail(format!(
                    "open {name} without O_TRUNC while sealed: expected EACCES, got {e}"
                )),
                Ok(_) => self.fail(format!(
                    "open {name} without O_TRUNC of a closed file of {} bytes succeeded while sealed",
                    self.nodes[existing.unwrap()].data.len()
                )),
            }
        }
        let shared = existing.is_some_and(|n| self.nodes[n].open > 0);
        self.note(
            if shared {
                "open (file already open)"
            } else {
                "open"
            },
            format!("open {name} ({how})"),
        );
        let file = self.io(r, &format!("open {name} ({how})"));
        let node = match existing {
            Some(n) => n,
            None => {
                self.nodes.push(Node {
                    data: Vec::new(),
                    open: 0,
                    linked: true,
                });
                let n = self.nodes.len() - 1;
                self.names.insert(name.to_string(), n);
                n
            }
        };
        if trunc {
            self.nodes[node].data.clear();
        }
        self.nodes[node].open += 1;
        self.fds.push(Fd {
            file,
            node,
            opened_as: name.to_string(),
        });
    }

    fn pick_fd(&mut self) -> usize {
        self.rng.below(self.fds.len())
    }

    fn write(&mut self) {
        let i = self.pick_fd();
        let node = self.fds[i].node;
        let size = self.nodes[node].data.len();
        let len = if self.rng.chance(70) {
            self.rng.range(1, 4096)
        } else {
            self.rng.range(4097, 96 * 1024)
        };
        let offset = match self.rng.below(10) {
            // Append at EOF.
            0..=2 => size,
            // Past EOF: a hole.
            3 => size + self.rng.range(1, 80 * 1024),
            // Inside.
            _ => self.rng.range(0, size),
        };
        let offset = offset.min(self.max_size.saturating_sub(len));
        let data = self.rng.bytes(len);
        self.note(
            if self.nodes[node].linked {
                "write"
            } else {
                "write (unlinked file)"
            },
            format!(
                "pwrite {} bytes at {offset} to fd {i} ({}, size {size})",
                len, self.fds[i].opened_as
            ),
        );
        let r = self.fds[i].file.write_all_at(&data, offset as u64);
        self.io(r, &format!("pwrite {len} bytes at {offset}"));
        let d = &mut self.nodes[node].data;
        if d.len() < offset + len {
            d.resize(offset + len, 0);
        }
        d[offset..offset + len].copy_from_slice(&data);
    }

    fn read(&mut self) {
        let i = self.pick_fd();
        let node = self.fds[i].node;
        let size = self.nodes[node].data.len();
        let offset = if self.rng.chance(10) {
            size + self.rng.range(0, 1000)
        } else {
            self.rng.range(0, size)
        };
        let len = if self.rng.chance(25) {
            size + 10
        } else {
            self.rng.range(1, 64 * 1024)
        };
        self.note(
            "read",
            format!(
                "pread {len} at {offset} from fd {i} ({}, size {size})",
                self.fds[i].opened_as
            ),
        );
        let mut buf = vec![0u8; len];
        let mut got = 0;
        while got < len {
            let r = self.fds[i]
                .file
                .read_at(&mut buf[got..], (offset + got) as u64);
            let n = self.io(r, &format!("pread {len} at {offset}"));
            if n == 0 {
                break;
            }
            got += n;
        }
        buf.truncate(got);
        let d = &self.nodes[node].data;
        let want = &d[offset.min(d.len())..(offset + len).min(d.len())];
        if buf != want {
            self.fail(format!(
                "read-back of {} ({len} bytes at {offset}, staged size {}) differs from the model: got {} bytes, want {}; {}",
                self.fds[i].opened_as,
                d.len(),
                buf.len(),
                want.len(),
                first_diff(&buf, want)
            ));
        }
    }

    /// A descriptor for fstat/ftruncate: one whose file still has a name unless
    /// `unlinked_metadata` (see [`KNOWN_BUG_UNLINKED_OPEN`]).
    fn pick_fd_for_metadata(&mut self) -> Option<usize> {
        let ok: Vec<usize> = (0..self.fds.len())
            .filter(|&i| self.unlinked_metadata || self.nodes[self.fds[i].node].linked)
            .collect();
        if ok.is_empty() {
            return None;
        }
        Some(ok[self.rng.below(ok.len())])
    }

    fn set_len(&mut self) {
        let Some(i) = self.pick_fd_for_metadata() else {
            return self.write();
        };
        let node = self.fds[i].node;
        let size = self.nodes[node].data.len();
        let new = match self.rng.below(4) {
            0 => 0,
            1 => self.rng.range(0, size),
            _ => self.rng.range(0, self.max_size),
        };
        self.note(
            "set_len",
            format!(
                "set_len {new} on fd {i} ({}, size {size}, linked {})",
                self.fds[i].opened_as, self.nodes[node].linked
            ),
        );
        let r = self.fds[i].file.set_len(new as u64);
        self.io(r, &format!("set_len {new}"));
        self.nodes[node].data.resize(new, 0);
    }

    fn close(&mut self, i: usize) {
        let fd = self.fds.swap_remove(i);
        self.note("close", format!("close fd {i} ({})", fd.opened_as));
        // close(2) reports what FLUSH (the seal) returned; File's drop ignores it.
        use std::os::fd::IntoRawFd;
        let raw = fd.file.into_raw_fd();
        // SAFETY: `raw` was just released by its File and is closed exactly once.
        let rc = unsafe { libc::close(raw) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            self.fail(format!("close of {}: {e}", fd.opened_as));
        }
        self.nodes[fd.node].open -= 1;
    }

    fn fsync(&mut self) {
        let i = self.pick_fd();
        let data_only = self.rng.chance(30);
        self.note(
            "fsync",
            format!(
                "{} fd {i} ({})",
                if data_only { "fdatasync" } else { "fsync" },
                self.fds[i].opened_as
            ),
        );
        let r = if data_only {
            self.fds[i].file.sync_data()
        } else {
            self.fds[i].file.sync_all()
        };
        self.io(r, "fsync");
    }

    fn rename(&mut self, from: &str, to: &str) {
        let src = self.names.get(from).copied();
        self.note(
            "rename",
            format!(
                "rename {from} -> {to} ({})",
                match (src, self.names.contains_key(to)) {
                    (None, _) => "source missing",
                    (Some(_), true) => "over an existing name",
                    (Some(_), false) => "to a free name",
                }
            ),
        );
        let r = fs::rename(self.m.path(from), self.m.path(to));
        let Some(n) = src else {
            match r {
                Err(e) if e.kind() == ErrorKind::NotFound => return,
                other => self.fail(format!(
                    "rename of missing {from} -> {to}: expected ENOENT, got {other:?}"
                )),
            }
        };
        self.io(r, &format!("rename {from} -> {to}"));
        if from == to {
            return;
        }
        self.names.remove(from);
        if let Some(old) = self.names.insert(to.to_string(), n) {
            self.nodes[old].linked = false;
        }
    }

    fn unlink(&mut self, name: &str) {
        let r = fs::remove_file(self.m.path(name));
        match self.names.remove(name) {
            Some(n) => {
                self.note(
                    "unlink",
                    format!("unlink {name} (open descriptors: {})", self.nodes[n].open),
                );
                self.io(r, &format!("unlink {name}"));
                self.nodes[n].linked = false;
            }
            None => {
                self.note("unlink", format!("unlink {name} (missing)"));
                match r {
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    other => self.fail(format!(
                        "unlink of missing {name}: expected ENOENT, got {other:?}"
                    )),
                }
            }
        }
    }

    fn stat(&mut self, name: &str) {
        self.note("stat", format!("stat {name}"));
        let r = fs::metadata(self.m.path(name));
        match self.names.get(name) {
            Some(&n) => {
                let meta = self.io(r, &format!("stat {name}"));
                let want = self.nodes[n].data.len() as u64;
                if !meta.is_file() || meta.len() != want {
                    self.fail(format!(
                        "stat {name}: size {} (file: {}), model {want} (open descriptors {})",
                        meta.len(),
                        meta.is_file(),
                        self.nodes[n].open
                    ));
                }
            }
            None => match r {
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                other => self.fail(format!(
                    "stat of missing {name}: expected ENOENT, got {other:?}"
                )),
            },
        }
    }

    fn fstat(&mut self) {
        let Some(i) = self.pick_fd_for_metadata() else {
            return self.read();
        };
        let node = self.fds[i].node;
        self.note(
            "fstat",
            format!(
                "fstat fd {i} ({}, linked {})",
                self.fds[i].opened_as, self.nodes[node].linked
            ),
        );
        let r = self.fds[i].file.metadata();
        let meta = self.io(r, "fstat");
        let want = self.nodes[node].data.len() as u64;
        if meta.len() != want {
            self.fail(format!(
                "fstat of fd {i} ({}): size {}, model {want}",
                self.fds[i].opened_as,
                meta.len()
            ));
        }
    }

    fn listing(&mut self) {
        self.note("listing", "list both folders".to_string());
        for dir in FOLDERS {
            let r = fs::read_dir(self.m.path(dir));
            let entries = self.io(r, &format!("read_dir {dir}"));
            let got: BTreeSet<String> = entries
                .map(|e| {
                    let e = self.io(e, "read_dir entry");
                    format!("{dir}/{}", e.file_name().to_string_lossy())
                })
                .collect();
            let want: BTreeSet<String> = self
                .names
                .keys()
                .filter(|k| k.starts_with(&format!("{dir}/")))
                .cloned()
                .collect();
            if got != want {
                self.fail(format!("listing of {dir}: {got:?}, model {want:?}"));
            }
        }
    }

    /// truncate(2) by path: an open file's staging changes; a closed file can be
    /// emptied while sealed, other sizes need its content (EACCES while sealed).
    fn truncate_path(&mut self, name: &str) {
        let node = self.names.get(name).copied();
        let new = match (self.rng.below(3), node) {
            (0, _) => 0,
            (1, Some(n)) => self.nodes[n].data.len(),
            _ => self.rng.range(0, self.max_size),
        };
        let refused = node.is_some_and(|n| {
            let nd = &self.nodes[n];
            !self.unlocked
                && nd.open == 0
                && new != nd.data.len()
                && new != 0
                && !nd.data.is_empty()
        });
        if refused {
            self.wait_released();
        }
        self.note(
            "truncate(path)",
            format!(
                "truncate {name} to {new} ({})",
                match node {
                    None => "missing".to_string(),
                    Some(n) => format!(
                        "size {}, open descriptors {}{}",
                        self.nodes[n].data.len(),
                        self.nodes[n].open,
                        if refused { ", EACCES expected" } else { "" }
                    ),
                }
            ),
        );
        let c = std::ffi::CString::new(self.m.path(name).into_os_string().into_encoded_bytes())
            .unwrap();
        // SAFETY: a valid NUL-terminated path.
        let rc = unsafe { libc::truncate(c.as_ptr(), new as libc::off_t) };
        let r = if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        };
        match node {
            None => match r {
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                other => self.fail(format!("truncate of missing {name}: expected ENOENT, got {other:?}")),
            },
            Some(_) if refused => match r {
                Err(e) if e.raw_os_error() == Some(libc::EACCES) => {}
                other => self.fail(format!(
                    "truncate of closed non-empty {name} to {new} while sealed: expected EACCES, got {other:?}"
                )),
            },
            Some(n) => {
                self.io(r, &format!("truncate {name} to {new}"));
                self.nodes[n].data.resize(new, 0);
            }
        }
    }

    /// Reads a whole file by path (O_RDONLY): EACCES while sealed (open or not),
    /// the model's bytes (staged ones for an open file) while unlocked.
    fn read_path(&mut self, name: &str) {
        let node = self.names.get(name).copied();
        self.note(
            "read(path)",
            format!(
                "read {name} ({})",
                if self.unlocked { "unlocked" } else { "sealed" }
            ),
        );
        let r = fs::read(self.m.path(name));
        match node {
            None => match r {
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                other => self.fail(format!(
                    "read of missing {name}: expected ENOENT, got {:?}",
                    other.map(|d| d.len())
                )),
            },
            Some(_) if !self.unlocked => match r {
                Err(e) if e.raw_os_error() == Some(libc::EACCES) => {}
                other => self.fail(format!(
                    "read of {name} while sealed: expected EACCES, got {:?}",
                    other.map(|d| d.len())
                )),
            },
            Some(n) => {
                let got = self.io(r, &format!("read {name}"));
                let want = &self.nodes[n].data;
                if &got != want {
                    self.fail(format!(
                        "read of {name} while unlocked: {} bytes, model {} ({}; open descriptors {})",
                        got.len(),
                        want.len(),
                        first_diff(&got, want),
                        self.nodes[n].open
                    ));
                }
            }
        }
    }

    fn close_all(&mut self) {
        while !self.fds.is_empty() {
            let last = self.fds.len() - 1;
            self.close(last);
        }
        self.wait_released();
    }

    /// Closes everything, unlocks, compares every file and the listings with the
    /// model; reseals when `reseal` (the run goes on sealed).
    fn checkpoint(&mut self, reseal: bool) {
        self.close_all();
        if !self.unlocked {
            self.m.unlock();
            self.unlocked = true;
        }
        self.verify("checkpoint (unlocked)");
        if reseal {
            self.m.seal();
            self.unlocked = false;
        }
    }

    fn verify(&mut self, when: &str) {
        self.note("verify", format!("verify: {when}"));
        self.listing();
        let names: Vec<(String, usize)> = self.names.iter().map(|(k, v)| (k.clone(), *v)).collect();
        for (name, n) in names {
            let r = fs::read(self.m.path(&name));
            let got = self.io(r, &format!("{when}: read {name}"));
            let want = &self.nodes[n].data;
            if &got != want {
                self.fail(format!(
                    "{when}: content of {name} differs from the model ({} vs {} bytes; {})",
                    got.len(),
                    want.len(),
                    first_diff(&got, want)
                ));
            }
        }
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        }
        Err(_) => default,
    }
}

/// Runs `ops` operations from `seed` on a fresh mount made by `mount`, then checks
/// everything unlocked, and again after umount + mount. With `ballast`, a file
/// of that many bytes stays open (staged) during the run, outside the model's
/// folders. Returns whether staging spilled to the store's `staging/` directory
/// (the daemon clears it at start).
fn exercise(
    label: &str,
    m: &MountedVault,
    seed: u64,
    ops: usize,
    max_size: usize,
    ballast: usize,
) -> bool {
    eprintln!("{label}: seed {seed:#x} ({seed}), {ops} operations");
    let start = Instant::now();
    for dir in FOLDERS {
        fs::create_dir(m.path(dir)).unwrap();
    }
    let mut ex = Exerciser::new(m, seed, max_size);
    let ballast_data = vault::noise(ballast, seed);
    let ballast_file = (ballast > 0).then(|| {
        let f = File::create(m.path("ballast.bin")).unwrap();
        f.write_all_at(&ballast_data, 0).unwrap();
        ex.extra_handles = 1;
        f
    });
    ex.run(ops);

    let spilled = m.vault.store.join("staging").exists();
    if let Some(f) = ballast_file {
        f.sync_all().unwrap();
        drop(f);
        ex.extra_handles = 0;
    }
    ex.checkpoint(false);
    if ballast > 0 {
        let got = fs::read(m.path("ballast.bin")).unwrap();
        assert!(
            got == ballast_data,
            "ballast: {}",
            first_diff(&got, &ballast_data)
        );
    }
    m.umount();
    m.mount();
    ex.unlocked = false;
    // The unlock does not outlive the daemon: sealed again after a remount.
    if let Some(name) = ex.names.keys().next() {
        match fs::read(m.path(name)) {
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => {}
            other => ex.fail(format!(
                "read of {name} after a remount: expected EACCES (sealed), got {:?}",
                other.map(|d| d.len())
            )),
        }
    }
    m.unlock();
    ex.unlocked = true;
    ex.verify("after umount + mount");
    eprintln!(
        "{label}: {} operations in {:.1} s, {} files at the end ({} bytes); {:?}",
        ex.op,
        start.elapsed().as_secs_f64(),
        ex.names.len(),
        ex.names
            .values()
            .map(|&n| ex.nodes[n].data.len())
            .sum::<usize>(),
        ex.counts
    );
    spilled
}

fn seed_and_ops(default_ops: usize) -> (u64, usize) {
    let seed = env_or("BCPVAULT_EXERCISER_SEED", DEFAULT_SEED);
    let ops = env_or("BCPVAULT_EXERCISER_OPS", default_ops as u64) as usize;
    (seed, ops)
}

#[test]
fn random_operations_through_the_mount_match_the_model() {
    let (seed, ops) = seed_and_ops(DEFAULT_OPS);
    let m = MountedVault::new();
    let _ = exercise("mount exerciser", &m, seed, ops, MAX_SIZE, 0);
}

/// The same with a 1 MiB staging budget of which an open "ballast" file takes all
/// but one 64 KiB block, and larger files: staged blocks spill to the encrypted
/// temp file and come back from it.
#[test]
fn random_operations_with_staging_spilled_to_encrypted_temp_files() {
    let (seed, ops) = seed_and_ops(DEFAULT_OPS / 2);
    let m = MountedVault::new_with("", "\n[mount]\nstaging_memory = \"1 MiB\"\n");
    let spilled = exercise(
        "mount exerciser (spilling)",
        &m,
        seed ^ 0x5111,
        ops,
        MAX_SIZE_SPILLING,
        STAGING_BUDGET - 64 * 1024,
    );
    assert!(spilled, "staging never spilled to the encrypted temp files");
}

/// POSIX: a file unlinked while open keeps working through its descriptor,
/// metadata included (editors and `tmpfile`-style code rely on it).
#[test]
fn repro_fstat_and_ftruncate_of_an_unlinked_open_file() {
    let m = MountedVault::new();
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(m.path("x"))
        .unwrap();
    f.write_all_at(b"hello", 0).unwrap();
    fs::remove_file(m.path("x")).unwrap();
    let size = f.metadata().map(|m| m.len());
    let truncated = f.set_len(2);
    let mut b = [0u8; 8];
    let n = f.read_at(&mut b, 0).unwrap();
    assert_eq!(&b[..n], b"he", "ftruncate took effect");
    assert_eq!(size.ok(), Some(5), "fstat of an unlinked open file");
    truncated.expect("ftruncate of an unlinked open file");
    assert_eq!(f.metadata().unwrap().len(), 2);
}

/// RELEASE is asynchronous: an open for writing without O_TRUNC sent right after
/// a close() can race the daemon's RELEASE of the last handle. It must then either
/// be refused (EACCES) or see the file's whole content — never an empty staging
/// that the next write and close would seal over the file. (The exerciser waits
/// for RELEASE before its EACCES checks, so it does not meet this race.)
#[test]
fn repro_open_without_truncate_racing_release_never_loses_the_content() {
    let m = MountedVault::new();
    let content = vault::noise(5000, 1);
    let mut shared = 0;
    for i in 0..3000 {
        let p = m.path(&format!("f{}", i % 3));
        fs::write(&p, &content).unwrap();
        match OpenOptions::new().read(true).write(true).open(&p) {
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EACCES), "iteration {i}: {e}"),
            Ok(f) => {
                // Still staged by the handle being released: must be the content.
                shared += 1;
                let len = f.metadata().unwrap().len();
                let mut got = vec![0u8; 6000];
                let n = f.read_at(&mut got, 0).unwrap();
                got.truncate(n);
                assert!(
                    len == 5000 && got == content,
                    "iteration {i}: opened without O_TRUNC while sealed, the staged view has {} bytes (fstat {len}) of a 5000-byte file; a write and close would now seal it over the file",
                    got.len()
                );
            }
        }
    }
    eprintln!("{shared} of 3000 opens without O_TRUNC raced RELEASE and shared the staging");
}
