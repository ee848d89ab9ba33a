//! Crash safety of `backup`, end to end on the real binary: `bcpvault backup` is
//! killed with SIGKILL at ≥ 20 random points; after every kill `bcpvault check`
//! must pass, and at the end a backup runs to completion, `check --read-data`
//! passes and `restore` gives back the source tree byte for byte.
//!
//! The pack size is the smallest allowed (1 MiB) so that one run publishes many
//! packs and the kills land between and inside pack publications. The random
//! choices come from a seeded PRNG; set `BCPVAULT_CRASH_SEED` to replay a seed
//! (timing still varies from run to run, so a replay is not exact), and
//! `BCPVAULT_CRASH_KEEP=1` to keep the temp dir (store, source, logs) for a look.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::symlink;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_bcpvault");

/// A private copy of the binary: a `cargo build` elsewhere in the workspace
/// replaces `target/debug/bcpvault` while this long test runs.
static BIN_COPY: OnceLock<PathBuf> = OnceLock::new();

fn bin() -> &'static Path {
    BIN_COPY
        .get()
        .map(PathBuf::as_path)
        .unwrap_or(Path::new(BIN))
}

/// Real mid-run kills wanted (runs that finished before the kill do not count).
const KILLS: usize = 20;
/// Of those, kills after which the run had published new packs (so the kill hit
/// the pack-writing phase rather than start-up or the walk).
const KILLS_AFTER_PACKS: usize = 8;
/// Upper bound on iterations, so a machine on which runs finish too fast fails
/// with a clear message instead of looping.
const MAX_ITERATIONS: usize = 100;
const PASSWORDS: &str = "first exec passphrase 1\nsecond exec passphrase 2\n";
const MIB: usize = 1024 * 1024;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }

    /// Compressible, text-like bytes (words from a small vocabulary).
    fn text(&mut self, len: usize) -> Vec<u8> {
        const WORDS: &[&str] = &[
            "invoice", "keiri", "soumu", "2024", "total", "tax", "yen", "payroll", "contract",
            "\n", "draft", "final", "ledger", "Q3", "approved",
        ];
        let mut out = Vec::with_capacity(len + 16);
        while out.len() < len {
            out.extend_from_slice(WORDS[self.below(WORDS.len() as u64) as usize].as_bytes());
            out.push(b' ');
        }
        out.truncate(len);
        out
    }
}

fn write_profile(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    fs::write(
        &path,
        format!(
            "name = \"{name}\"\nstore = \"{}\"\n\n[kdf]\nmemory = \"1 MiB\"\niterations = 1\nparallelism = 1\n\n[repository]\npack_size = \"1 MiB\"\n",
            dir.join(format!("{name}-store")).display()
        ),
    )
    .unwrap();
    path
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bcpvault");
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: &str, context: &str) -> String {
    let out = run(args, stdin);
    assert!(
        out.status.success(),
        "{context}: bcpvault {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn init(dir: &Path, name: &str) -> PathBuf {
    let p = write_profile(dir, name);
    ok(
        &[
            "init",
            p.to_str().unwrap(),
            "--executive",
            "tanaka",
            "--executive",
            "sato",
            "--threshold",
            "2",
            "--key-bits",
            "2048",
            "--password-stdin",
        ],
        PASSWORDS,
        "init",
    );
    p
}

/// The source corpus: a few MiB-sized random files and a few hundred small
/// files in nested folders, plus an empty folder and a symlink. ~41 MiB.
struct Corpus {
    root: PathBuf,
    big: Vec<PathBuf>,
    small: Vec<PathBuf>,
}

impl Corpus {
    fn create(root: &Path, rng: &mut Rng) -> Corpus {
        let mut c = Corpus {
            root: root.to_path_buf(),
            big: Vec::new(),
            small: Vec::new(),
        };
        for (name, mib) in [
            ("big/archive-a.bin", 12),
            ("big/archive-b.bin", 10),
            ("big/archive-c.bin", 8),
            ("media/scan.bin", 6),
        ] {
            let path = root.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, rng.bytes(mib * MIB)).unwrap();
            c.big.push(path);
        }
        for i in 0..320 {
            let path = root.join(format!(
                "docs/dept-{:02}/year-{}/file-{i:03}.txt",
                i % 12,
                2020 + i % 5
            ));
            c.write_small(&path, rng);
            c.small.push(path);
        }
        fs::create_dir_all(root.join("docs/empty-folder")).unwrap();
        symlink("../big/archive-a.bin", root.join("docs/link-to-archive")).unwrap();
        c
    }

    /// Writes a small file of random length; returns the length.
    fn write_small(&self, path: &Path, rng: &mut Rng) -> u64 {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let len = match rng.below(10) {
            0 => 0,
            1..=5 => rng.below(4096) as usize,
            _ => rng.below(48 * 1024) as usize,
        };
        let data = if rng.below(2) == 0 {
            rng.text(len)
        } else {
            rng.bytes(len)
        };
        fs::write(path, &data).unwrap();
        data.len() as u64
    }

    /// Changes the corpus so the next runs have new data to store. `heavy`
    /// rewrites a whole big file (6-12 MiB of new chunks).
    fn mutate(&mut self, rng: &mut Rng, heavy: bool, generation: usize) -> Change {
        let mut did = Vec::new();
        let mut new_bytes = 0;
        let mut touched = 0;
        if heavy {
            let i = rng.below(self.big.len() as u64) as usize;
            let len = fs::metadata(&self.big[i]).unwrap().len() as usize;
            fs::write(&self.big[i], rng.bytes(len)).unwrap();
            new_bytes += len as u64;
            touched += len as u64;
            did.push(format!("rewrote {}", self.rel(&self.big[i])));
        } else {
            // Patch 64 KiB in the middle of a big file: most chunks dedup.
            let i = rng.below(self.big.len() as u64) as usize;
            let mut data = fs::read(&self.big[i]).unwrap();
            let at = rng.below((data.len() - 65536) as u64) as usize;
            data[at..at + 65536].copy_from_slice(&rng.bytes(65536));
            fs::write(&self.big[i], &data).unwrap();
            // The chunk (~1 MiB) holding the patch, maybe its neighbour.
            new_bytes += 2 * MIB as u64;
            touched += data.len() as u64;
            did.push(format!("patched {}", self.rel(&self.big[i])));
        }
        for _ in 0..5 {
            let i = rng.below(self.small.len() as u64) as usize;
            let path = self.small[i].clone();
            let len = self.write_small(&path, rng);
            new_bytes += len;
            touched += len;
        }
        let new = self.root.join(format!("docs/new/gen-{generation:03}.txt"));
        let len = self.write_small(&new, rng);
        new_bytes += len;
        touched += len;
        self.small.push(new);
        let gone = self
            .small
            .swap_remove(rng.below(self.small.len() as u64) as usize);
        fs::remove_file(&gone).unwrap();
        did.push(format!(
            "changed 5 small files, added 1, removed {}",
            self.rel(&gone)
        ));
        Change {
            what: did.join("; "),
            new_bytes,
            touched,
        }
    }

    /// Bytes of all files.
    fn bytes(&self) -> u64 {
        self.big
            .iter()
            .chain(&self.small)
            .map(|p| fs::metadata(p).unwrap().len())
            .sum()
    }

    fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.root).unwrap().display().to_string()
    }
}

/// What [`Corpus::mutate`] did.
struct Change {
    what: String,
    /// About how many bytes of new chunks it made.
    new_bytes: u64,
    /// Bytes of the files it changed (the next run reads them whole).
    touched: u64,
}

/// Mirrors `from` at `to` with hard links: new paths (so the files cache
/// misses) for the same contents (so every chunk dedups).
fn link_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let ft = entry.file_type().unwrap();
        if ft.is_symlink() {
            symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if ft.is_dir() {
            link_tree(&src, &dst);
        } else {
            fs::hard_link(&src, &dst).unwrap();
        }
    }
}

/// A node of a tree as compared after restore.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Dir,
    File(u64),
    Symlink(PathBuf),
}

/// Every entry under `root` (relative path → kind), not following symlinks.
fn listing(root: &Path) -> BTreeMap<PathBuf, Kind> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let kind = if meta.file_type().is_symlink() {
                Kind::Symlink(fs::read_link(&path).unwrap())
            } else if meta.is_dir() {
                stack.push(path);
                Kind::Dir
            } else {
                Kind::File(meta.len())
            };
            out.insert(rel, kind);
        }
    }
    out
}

/// Every file of the repository directory whose name starts with `.tmp-`.
fn temp_leftovers(repo: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![repo.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                out.push(path);
            }
        }
    }
    out
}

/// Names (relative to the repository) of the published objects under `sub`.
fn objects(repo: &Path, sub: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![repo.join(sub)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else if !entry.file_name().to_string_lossy().starts_with('.') {
                out.insert(path.strip_prefix(repo).unwrap().display().to_string());
            }
        }
    }
    out
}

/// Starts `backup` with its output going to files (a pipe nobody drains could
/// stall the child and skew where the kill lands).
fn spawn_backup(profile: &Path, src: &Path, logs: &Path) -> Child {
    Command::new(bin())
        .args(["backup", profile.to_str().unwrap(), src.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(File::create(logs.join("backup.out")).unwrap())
        .stderr(File::create(logs.join("backup.err")).unwrap())
        .spawn()
        .expect("spawn bcpvault backup")
}

fn logs_of(logs: &Path) -> String {
    format!(
        "stdout: {}\nstderr: {}",
        fs::read_to_string(logs.join("backup.out")).unwrap_or_default(),
        fs::read_to_string(logs.join("backup.err")).unwrap_or_default()
    )
}

fn backup_to_completion(profile: &Path, src: &Path, logs: &Path, context: &str) -> Duration {
    let start = Instant::now();
    let status = spawn_backup(profile, src, logs).wait().unwrap();
    let took = start.elapsed();
    assert!(
        status.success(),
        "{context}: backup failed ({status}):\n{}",
        logs_of(logs)
    );
    took
}

fn check(profile: &Path, context: &str) -> String {
    ok(&["check", profile.to_str().unwrap()], "", context)
}

/// How one run under the kill timer ended.
enum Ending {
    /// SIGKILL arrived mid-run.
    Killed,
    /// The run exited on its own first, after this long.
    Finished(ExitStatus, Duration),
}

/// Runs `backup` and sends SIGKILL after `delay` unless it exits first. Polls, so
/// a run that finishes early is timed to a few milliseconds.
fn backup_killed_after(profile: &Path, src: &Path, logs: &Path, delay: Duration) -> Ending {
    let start = Instant::now();
    let mut child = spawn_backup(profile, src, logs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Ending::Finished(status, start.elapsed());
        }
        let elapsed = start.elapsed();
        if elapsed >= delay {
            child.kill().unwrap();
            let status = child.wait().unwrap();
            // The child may have exited between try_wait and kill.
            return match status.signal() {
                Some(9) => Ending::Killed,
                _ => Ending::Finished(status, elapsed),
            };
        }
        std::thread::sleep((delay - elapsed).min(Duration::from_millis(2)));
    }
}

#[test]
fn backup_killed_at_random_points_leaves_a_checkable_store_and_a_rerun_completes() {
    let seed = std::env::var("BCPVAULT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_bc9a_u64);
    eprintln!("repo_crash: seed {seed} (set BCPVAULT_CRASH_SEED to replay)");
    let mut rng = Rng::new(seed);
    let mut tmp = TempDir::with_prefix("repo_crash-").unwrap();
    if std::env::var_os("BCPVAULT_CRASH_KEEP").is_some() {
        tmp.disable_cleanup(true);
        eprintln!("repo_crash: keeping {}", tmp.path().display());
    }
    // Restore puts sources under their absolute path: use the canonical one.
    let dir = tmp.path().canonicalize().unwrap();
    let copy = dir.join("bcpvault");
    fs::copy(BIN, &copy).unwrap();
    BIN_COPY.set(copy).unwrap();
    let src = dir.join("share");
    let logs = dir.join("logs");
    fs::create_dir_all(&logs).unwrap();
    let mut corpus = Corpus::create(&src, &mut rng);
    let started = Instant::now();

    // How long one full backup of the corpus takes here: on a throw-away vault,
    // so the vault under test starts empty and its first runs are full length.
    let probe = init(&dir, "probe");
    let full = backup_to_completion(&probe, &src, &logs, "probe backup");
    // One with nothing new (every file cached): the fixed cost of a run.
    let idle = backup_to_completion(&probe, &src, &logs, "probe backup, again");
    // One that reads every file but stores nothing (new paths, known chunks).
    let links = dir.join("links");
    link_tree(&src, &links);
    let reread = backup_to_completion(&probe, &links, &logs, "probe backup, hard links");
    fs::remove_dir_all(&links).unwrap();
    fs::remove_dir_all(dir.join("probe-store")).unwrap();
    eprintln!(
        "repo_crash: a full backup takes {full:.2?}, re-reading known content {reread:.2?}, \
         one with nothing new {idle:.2?}"
    );

    let profile = init(&dir, "soumu");
    let repo = dir.join("soumu-store/repo");
    // Kill delays are uniform in [0, window), the window being about how long
    // this run would take uninterrupted, plus 30% so that some kills land in
    // the commit at the end and some runs finish. A run after a kill or a
    // small change is much shorter than a full one: the files cache skips
    // files unchanged since the last finished run, and chunks already in a
    // pack are not stored again. So the estimate is the fixed cost, plus
    // reading the `uncached` bytes, plus storing the `backlog` (new content
    // not yet in any pack), at the rates the probe runs showed.
    let corpus_bytes = corpus.bytes() as f64;
    let read_rate = reread.saturating_sub(idle).as_secs_f64() / corpus_bytes;
    let store_rate = full.saturating_sub(reread).as_secs_f64() / corpus_bytes;
    let fixed = idle.max(Duration::from_millis(10));
    let mut uncached = corpus.bytes();
    let mut backlog = corpus.bytes();
    let mut kills = 0;
    let mut finished = 0;
    let mut kills_with_temp_files = 0;
    let mut kills_after_new_packs = 0;
    let mut kills_after_new_snapshot = 0;
    let mut packs = objects(&repo, "data");
    let mut snapshots = objects(&repo, "snapshots");
    let mut iteration = 0;
    while kills < KILLS || kills_after_new_packs < KILLS_AFTER_PACKS {
        iteration += 1;
        assert!(
            iteration <= MAX_ITERATIONS,
            "only {kills} runs were killed mid-run ({kills_after_new_packs} after publishing \
             packs) in {MAX_ITERATIONS} iterations; want {KILLS} ({KILLS_AFTER_PACKS}); one \
             full backup took {full:.2?}, one with nothing new {idle:.2?}"
        );
        let window = (fixed
            + Duration::from_secs_f64(read_rate * uncached as f64 + store_rate * backlog as f64))
        .mul_f64(1.3);
        let delay = Duration::from_micros(rng.below(window.as_micros() as u64));
        let ending = backup_killed_after(&profile, &src, &logs, delay);
        let leftovers = temp_leftovers(&repo);
        let packs_now = objects(&repo, "data");
        let snapshots_now = objects(&repo, "snapshots");
        let killed = matches!(ending, Ending::Killed);
        let context = match &ending {
            Ending::Killed => {
                kills += 1;
                kills_with_temp_files += usize::from(!leftovers.is_empty());
                kills_after_new_packs += usize::from(packs_now.len() > packs.len());
                kills_after_new_snapshot += usize::from(snapshots_now.len() > snapshots.len());
                let stored: u64 = packs_now
                    .difference(&packs)
                    .map(|name| fs::metadata(repo.join(name)).unwrap().len())
                    .sum();
                backlog = backlog.saturating_sub(stored);
                format!("iteration {iteration}: killed after {delay:.0?} of {window:.0?}")
            }
            Ending::Finished(status, took) => {
                let context = format!(
                    "iteration {iteration}: finished in {took:.0?} before the kill at \
                     {delay:.0?} of {window:.0?}"
                );
                assert!(
                    status.success(),
                    "{context}: backup failed ({status}):\n{}",
                    logs_of(&logs)
                );
                finished += 1;
                backlog = 0;
                uncached = 0;
                context
            }
        };
        let report = check(&profile, &context);
        assert!(report.contains("no problems"), "{context}: {report}");
        // The store only grows: a crash and the recovery after it never lose a
        // published object, and opening the store removes every temp file.
        let packs_after = objects(&repo, "data");
        let snapshots_after = objects(&repo, "snapshots");
        assert!(
            packs_after.is_superset(&packs),
            "{context}: packs disappeared: {:?}",
            packs.difference(&packs_after).collect::<Vec<_>>()
        );
        assert!(
            snapshots_after.is_superset(&snapshots),
            "{context}: snapshots disappeared: {:?}",
            snapshots.difference(&snapshots_after).collect::<Vec<_>>()
        );
        let still = temp_leftovers(&repo);
        assert!(
            still.is_empty(),
            "{context}: temp files left after check opened the store: {still:?}"
        );
        eprintln!(
            "repo_crash: {context}: {} temp file(s) before check, {} packs (+{}), {} snapshots",
            leftovers.len(),
            packs_after.len(),
            packs_after.len() - packs.len(),
            snapshots_after.len()
        );
        packs = packs_after;
        snapshots = snapshots_after;
        // New data for later runs: a lot after a run that finished (its files
        // are cached now), a little every third iteration otherwise.
        if !killed || iteration % 3 == 0 {
            let change = corpus.mutate(&mut rng, !killed, iteration);
            backlog += change.new_bytes;
            uncached += change.touched;
            eprintln!("repo_crash: source changed: {}", change.what);
        }
    }

    // A run to completion after all that, then the full verification.
    let took = backup_to_completion(&profile, &src, &logs, "final backup");
    let leftovers = temp_leftovers(&repo);
    assert!(
        leftovers.is_empty(),
        "temp files left after a successful run: {leftovers:?}"
    );
    let p = profile.to_str().unwrap();
    let report = ok(
        &[
            "check",
            p,
            "--read-data",
            "--executive",
            "tanaka",
            "--executive",
            "sato",
            "--password-stdin",
        ],
        PASSWORDS,
        "final check --read-data",
    );
    assert!(report.contains("no problems"), "{report}");
    let out = dir.join("restored");
    ok(
        &[
            "restore",
            p,
            out.to_str().unwrap(),
            "--executive",
            "tanaka",
            "--executive",
            "sato",
            "--password-stdin",
        ],
        PASSWORDS,
        "restore",
    );
    let restored = out.join(src.strip_prefix("/").unwrap());
    let want = listing(&src);
    let got = listing(&restored);
    for (path, kind) in &want {
        assert_eq!(got.get(path), Some(kind), "restored {}", path.display());
    }
    for path in got.keys() {
        assert!(
            want.contains_key(path),
            "restored {} that is not in the source",
            path.display()
        );
    }
    for (path, kind) in &want {
        if let Kind::File(_) = kind {
            assert!(
                fs::read(src.join(path)).unwrap() == fs::read(restored.join(path)).unwrap(),
                "restored {} differs from the source",
                path.display()
            );
        }
    }
    eprintln!(
        "repo_crash: {kills} kills ({kills_with_temp_files} left temp files, \
         {kills_after_new_packs} after new packs were published, {kills_after_new_snapshot} \
         after a new snapshot was published), {finished} runs finished before the kill, \
         final backup {took:.2?}, {} packs, {} snapshots, {} entries restored; total {:.1?}",
        packs.len(),
        snapshots.len(),
        want.len(),
        started.elapsed()
    );
}
