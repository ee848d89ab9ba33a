//! Hostile input for every parser of untrusted repository bytes.
//!
//! - Arbitrary bytes (and arbitrary bytes behind a valid magic) never panic and
//!   never make a parser allocate more than a small multiple of its input.
//! - Valid objects with random bytes flipped, overwritten, inserted, deleted or cut
//!   off still never panic; a parse-only function returns either result.
//! - Authenticated objects (`pack::open` plus its blobs, `IndexMap::open`,
//!   `Snapshot::parse_verified`) reject every single-byte modification.
//! - Valid objects round-trip, and what the canonical parsers accept re-encodes to
//!   exactly the bytes they were given.
//!
//! One RSA-2048 vault key and one writer key serve the whole file.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::OnceLock;

use bcpvault::crypto::{
    Envelope, SecretKey32, VaultPrivateKey, VaultPublicKey, WrapPurpose, WriterSigningKey,
};
use bcpvault::repo::blob::{self, Compression};
use bcpvault::repo::config::RepoConfig;
use bcpvault::repo::filecache::{self, FileStamp};
use bcpvault::repo::index::{BlobLocation, IndexMap};
use bcpvault::repo::keypool::WrappedKey;
use bcpvault::repo::pack::{self, FinishedPack, PACK_PREFIX, PACK_TARGET, PackBuilder, PackEntry};
use bcpvault::repo::segpack::SegmentWriter;
use bcpvault::repo::snapshot::{Snapshot, SnapshotHeader, SnapshotPrivate};
use bcpvault::repo::tree::{Node, NodeKind, Tree};
use bcpvault::repo::{BlobId, BlobKind, ObjectId};
use proptest::prelude::*;
use proptest::sample::Index;

// ---------------------------------------------------------------------------
// Allocation tracking: the largest single request made by the current thread.

struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|m| {
        if size > m.get() {
            m.set(size);
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the only
// extra work is a const-initialised thread-local `Cell` update, which does not
// allocate.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Runs `f` and checks that no single allocation it made exceeds a small multiple
/// of the input size (an in-memory tree node is ~3× its smallest encoding).
fn bounded<R>(input_len: usize, f: impl FnOnce() -> R) -> R {
    LARGEST.with(|m| m.set(0));
    let r = f();
    let largest = LARGEST.with(|m| m.get());
    let limit = 64 * 1024 + 16 * input_len;
    assert!(
        largest <= limit,
        "a parser allocated {largest} bytes at once for {input_len} input bytes"
    );
    r
}

// ---------------------------------------------------------------------------
// Shared keys and fixtures.

fn vault_key() -> &'static VaultPrivateKey {
    static KEY: OnceLock<VaultPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| VaultPrivateKey::generate(2048).unwrap())
}

fn vault_pub() -> &'static VaultPublicKey {
    static PK: OnceLock<VaultPublicKey> = OnceLock::new();
    PK.get_or_init(|| vault_key().public_key())
}

fn signer() -> &'static WriterSigningKey {
    static SIGNER: OnceLock<WriterSigningKey> = OnceLock::new();
    SIGNER.get_or_init(|| WriterSigningKey::from_secret(&SecretKey32::from_bytes(&[0x5a; 32])))
}

/// The stamp of the test binary (not modified while it runs).
fn stamp() -> FileStamp {
    static STAMP: OnceLock<FileStamp> = OnceLock::new();
    *STAMP.get_or_init(|| {
        FileStamp::of(&std::fs::metadata(std::env::current_exe().unwrap()).unwrap())
    })
}

/// A stamp of a different file (other inode).
fn other_stamp() -> FileStamp {
    static STAMP: OnceLock<FileStamp> = OnceLock::new();
    *STAMP.get_or_init(|| FileStamp::of(&std::fs::metadata("/").unwrap()))
}

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Never write `proptest-regressions/` files next to the tests.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Mutations of valid objects.

#[derive(Debug, Clone)]
enum Mutation {
    /// XOR one byte with a non-zero value.
    Flip(Index, u8),
    /// Overwrite bytes in place (length fields, counts).
    Overwrite(Index, Vec<u8>),
    /// Insert bytes.
    Insert(Index, Vec<u8>),
    /// Remove up to this many bytes.
    Delete(Index, usize),
    /// Cut the object off.
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let patch = prop_oneof![
        prop::collection::vec(any::<u8>(), 1..8),
        Just(vec![0xff; 4]),
        Just(vec![0; 4]),
        Just(vec![0x7f, 0xff, 0xff, 0xff]),
        Just(vec![0, 0, 0, 1]),
        Just(vec![0, 0x10, 0, 0]),
    ];
    prop_oneof![
        4 => (any::<Index>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        2 => (any::<Index>(), patch).prop_map(|(i, p)| Mutation::Overwrite(i, p)),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1..64usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..4)
}

fn apply(mut b: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        match m {
            Mutation::Flip(i, x) if !b.is_empty() => {
                let p = i.index(b.len());
                b[p] ^= x;
            }
            Mutation::Overwrite(i, patch) if !b.is_empty() => {
                let p = i.index(b.len());
                for (slot, v) in b.iter_mut().skip(p).zip(patch) {
                    *slot = *v;
                }
            }
            Mutation::Insert(i, bytes) => {
                let p = i.index(b.len() + 1);
                b.splice(p..p, bytes.iter().copied());
            }
            Mutation::Delete(i, n) if !b.is_empty() => {
                let p = i.index(b.len());
                let end = (p + n).min(b.len());
                b.drain(p..end);
            }
            Mutation::Truncate(i) => {
                let p = i.index(b.len() + 1);
                b.truncate(p);
            }
            _ => {}
        }
    }
    b
}

// ---------------------------------------------------------------------------
// Strategies for valid objects.

fn blob_id() -> impl Strategy<Value = BlobId> {
    any::<[u8; 32]>().prop_map(BlobId)
}

fn object_id() -> impl Strategy<Value = ObjectId> {
    any::<[u8; 32]>().prop_map(ObjectId)
}

fn blob_kind() -> impl Strategy<Value = BlobKind> {
    prop_oneof![Just(BlobKind::Data), Just(BlobKind::Tree)]
}

fn compression() -> impl Strategy<Value = Compression> {
    prop_oneof![Just(Compression::Raw), Just(Compression::Zstd)]
}

fn pack_entry() -> impl Strategy<Value = PackEntry> {
    (
        blob_kind(),
        compression(),
        blob_id(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(kind, compression, id, offset, length, raw_len)| PackEntry {
                kind,
                compression,
                id,
                offset,
                length,
                raw_len,
            },
        )
}

fn blob_location() -> impl Strategy<Value = BlobLocation> {
    (object_id(), pack_entry(), any::<u32>()).prop_map(|(pack, entry, index)| BlobLocation {
        pack,
        entry,
        index,
    })
}

/// A valid entry name: 1..24 bytes, no '/' or NUL, not "." or "..".
fn entry_name() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => b'a'..=b'e',
        1 => Just(b'.'),
        2 => any::<u8>().prop_filter("no '/' or NUL", |b| *b != b'/' && *b != 0),
    ];
    prop::collection::vec(byte, 1..24).prop_filter("not . or ..", |n| n != b"." && n != b"..")
}

fn node_kind() -> impl Strategy<Value = NodeKind> {
    prop_oneof![
        (any::<u64>(), prop::collection::vec(blob_id(), 0..6))
            .prop_map(|(size, chunks)| NodeKind::File { size, chunks }),
        blob_id().prop_map(|subtree| NodeKind::Dir { subtree }),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|target| NodeKind::Symlink { target }),
    ]
}

/// Arbitrary valid trees: unique valid names, in any order before `Tree::sort`.
fn tree() -> impl Strategy<Value = Tree> {
    let body = (
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<i64>(),
        0..1_000_000_000u32,
        node_kind(),
    );
    prop::collection::hash_map(entry_name(), body, 0..10).prop_map(|m| {
        let mut t = Tree {
            nodes: m
                .into_iter()
                .map(|(name, (mode, uid, gid, mtime, mtime_nsec, kind))| Node {
                    name,
                    mode,
                    uid,
                    gid,
                    mtime,
                    mtime_nsec,
                    kind,
                })
                .collect(),
        };
        t.sort();
        t
    })
}

/// Blobs for a pack: kind, id, plaintext (some compressible, some not).
fn pack_blobs() -> impl Strategy<Value = Vec<(BlobKind, BlobId, Vec<u8>)>> {
    let data = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        (any::<u8>(), 0..2000usize).prop_map(|(b, n)| vec![b; n]),
    ];
    prop::collection::vec((blob_kind(), blob_id(), data), 0..4)
}

fn build_pack(blobs: &[(BlobKind, BlobId, Vec<u8>)]) -> FinishedPack {
    let mut b = PackBuilder::new(&[vault_pub()], PACK_TARGET).unwrap();
    for (kind, id, data) in blobs {
        b.add(&blob::prepare(*kind, *id, data.clone(), 3));
    }
    b.finish()
}

/// Opens `p` with the vault key: its table is `p.entries` and blob i decrypts
/// to `blobs[i]`'s data.
fn assert_opens_to(
    p: &FinishedPack,
    blobs: &[(BlobKind, BlobId, Vec<u8>)],
) -> Result<(), TestCaseError> {
    let opened = pack::open(&p.bytes, vault_key()).unwrap();
    prop_assert_eq!(&opened.entries, &p.entries);
    for (i, (e, (_, _, data))) in opened.entries.iter().zip(blobs).enumerate() {
        let ct = &p.bytes[e.offset as usize..(e.offset + e.length) as usize];
        let plain = opened.blob(i, ct).unwrap();
        prop_assert_eq!(plain.expose(), &data[..]);
    }
    Ok(())
}

/// Parses (possibly mutated) pack bytes as far as they go, within the
/// allocation bound: layout, open, every blob (none may panic).
fn open_every_blob(bytes: &[u8]) {
    let n = bytes.len();
    let _ = bounded(n, || pack::layout(bytes));
    if let Ok(opened) = bounded(n, || pack::open(bytes, vault_key())) {
        for (i, e) in opened.entries.iter().enumerate() {
            let ct = bytes
                .get(e.offset as usize..e.offset as usize + e.length as usize)
                .expect("an opened pack's entries lie inside it");
            let _ = opened.blob(i, ct);
        }
    }
}

/// The decrypted pack header for `entries` (format in `pack.rs`).
fn pack_header(entries: &[PackEntry]) -> Vec<u8> {
    let mut h = b"BCPH".to_vec();
    h.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for e in entries {
        e.encode(&mut h);
    }
    h
}

fn index_map() -> impl Strategy<Value = IndexMap> {
    prop::collection::btree_map(object_id(), prop::collection::vec(pack_entry(), 0..4), 0..4)
        .prop_map(|packs| IndexMap { packs })
}

/// The decrypted index body for `map` (format in `index.rs`).
fn index_body(map: &IndexMap) -> Vec<u8> {
    let mut body = (map.packs.len() as u32).to_be_bytes().to_vec();
    for (id, entries) in &map.packs {
        body.extend_from_slice(&id.0);
        body.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        for e in entries {
            e.encode(&mut body);
        }
    }
    body
}

fn snapshot_parts() -> impl Strategy<Value = (SnapshotHeader, SnapshotPrivate)> {
    let header = (
        any::<[u8; 16]>(),
        any::<i64>(),
        object_id(),
        blob_id(),
        any::<[u64; 3]>(),
        ".{0,40}",
    )
        .prop_map(
            |(vault_id, time_us, previous, root, [files, dirs, logical_bytes], vault_name)| {
                SnapshotHeader {
                    vault_id,
                    time_us,
                    previous,
                    root,
                    files,
                    dirs,
                    logical_bytes,
                    vault_name,
                }
            },
        );
    let private = (".{0,30}", prop::collection::vec(".{0,40}", 0..4))
        .prop_map(|(host, paths)| SnapshotPrivate { host, paths });
    (header, private)
}

fn create_snapshot(header: &SnapshotHeader, private: &SnapshotPrivate) -> Vec<u8> {
    Snapshot::create(header, private, &[vault_pub()], signer())
        .unwrap()
        .1
}

fn repo_config() -> impl Strategy<Value = RepoConfig> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 32]>(),
        any::<[u32; 3]>(),
        ".{0,60}",
    )
        .prop_map(
            |(vault_id, fingerprint, chunk_sizes, vault_name)| RepoConfig {
                vault_id,
                fingerprint,
                chunk_sizes,
                vault_name,
            },
        )
}

// ---------------------------------------------------------------------------
// Every parser on given bytes: must not panic, must stay within the allocation
// bound, and the canonical ones must re-encode what they accept byte for byte.

fn parse_all(bytes: &[u8]) {
    let n = bytes.len();
    let _ = bounded(n, || pack::layout(bytes));
    let blob_end = bytes.get(..4).map_or(PACK_PREFIX, |b| {
        u32::from_be_bytes(b.try_into().unwrap()) as usize
    });
    let _ = bounded(n, || pack::parse_header(bytes, blob_end));
    let _ = bounded(n, || pack::parse_header(bytes, usize::MAX));
    let _ = bounded(n, || pack::open(bytes, vault_key()));
    let _ = bounded(n, || IndexMap::check_frame(bytes));
    let _ = bounded(n, || IndexMap::parse_body(bytes));
    let _ = bounded(n, || IndexMap::open(bytes, vault_key()));
    if let Ok(loc) = bounded(n, || BlobLocation::from_db(bytes)) {
        assert_eq!(loc.to_db(), bytes, "BlobLocation::from_db is not canonical");
    }
    if let Ok(t) = bounded(n, || Tree::from_bytes(bytes)) {
        assert_eq!(
            t.to_bytes().unwrap(),
            bytes,
            "Tree::from_bytes is not canonical"
        );
    }
    if let Ok(s) = bounded(n, || Snapshot::parse(bytes)) {
        let _ = s.private(vault_key());
    }
    let _ = bounded(n, || {
        Snapshot::parse_verified(bytes, &signer().verifying_key())
    });
    if let Ok(c) = bounded(n, || RepoConfig::from_bytes(bytes)) {
        assert_eq!(
            c.to_bytes(),
            bytes,
            "RepoConfig::from_bytes is not canonical"
        );
    }
    if let Some(chunks) = bounded(n, || filecache::lookup(bytes, &stamp())) {
        assert_eq!(filecache::encode(&stamp(), &chunks), bytes);
    }
}

/// Magics of every format, so arbitrary bytes get past the first check.
const PREFIXES: &[&[u8]] = &[
    b"",
    b"BCPK\x01",
    b"BCPH",
    b"BCPI\x01",
    b"BCPT\x01",
    b"BCPS\x01",
    b"BCPC\x01",
];

proptest! {
    #![proptest_config(cfg(1024))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        parse_all(&bytes);
    }

    #[test]
    fn arbitrary_bytes_behind_a_magic_never_panic(
        prefix in prop::sample::select(PREFIXES),
        // Small counts and lengths are likelier to be consistent with the rest.
        small in prop::collection::vec(0..8u8, 0..64),
        bytes in prop::collection::vec(any::<u8>(), 0..1024),
    ) {
        let mut b = prefix.to_vec();
        b.extend_from_slice(&small);
        b.extend_from_slice(&bytes);
        parse_all(&b);
    }

    #[test]
    fn arbitrary_pack_frames_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..512),
        header_len in 0..600u32,
        env_len in prop_oneof![0..600u32, Just(u32::MAX), Just(u32::MAX - 11)],
    ) {
        let mut b = b"BCPK\x01".to_vec();
        b.extend_from_slice(&body);
        b.extend_from_slice(&header_len.to_be_bytes());
        b.extend_from_slice(&env_len.to_be_bytes());
        b.extend_from_slice(b"BCPK");
        parse_all(&b);
    }
}

// ---------------------------------------------------------------------------
// Trees.

proptest! {
    #![proptest_config(cfg(512))]

    #[test]
    fn tree_round_trip(t in tree()) {
        let bytes = t.to_bytes().unwrap();
        prop_assert_eq!(Tree::from_bytes(&bytes).unwrap(), t);
    }

    #[test]
    fn tree_mutations_never_panic(t in tree(), ms in mutations()) {
        parse_all(&apply(t.to_bytes().unwrap(), &ms));
    }

    #[test]
    fn tree_out_of_order_or_duplicate_names_are_refused(
        t in tree().prop_filter("two entries", |t| t.nodes.len() >= 2),
        i in any::<Index>(),
        duplicate in any::<bool>(),
    ) {
        let mut bad = t.clone();
        let k = i.index(bad.nodes.len() - 1);
        if duplicate {
            bad.nodes[k + 1].name = bad.nodes[k].name.clone();
        } else {
            bad.nodes.swap(k, k + 1);
        }
        prop_assert!(Tree::from_bytes(&bad.to_bytes().unwrap()).is_err());
    }

    #[test]
    fn tree_refuses_to_write_bad_names(
        t in tree(),
        name in prop_oneof![
            Just(Vec::new()),
            Just(b".".to_vec()),
            Just(b"..".to_vec()),
            Just(b"a/b".to_vec()),
            Just(b"a\0b".to_vec()),
            Just(vec![b'x'; 65536]),
        ],
    ) {
        let mut bad = t;
        bad.nodes.push(Node {
            name,
            mode: 0,
            uid: 0,
            gid: 0,
            mtime: 0,
            mtime_nsec: 0,
            kind: NodeKind::Dir { subtree: BlobId([0; 32]) },
        });
        prop_assert!(bad.to_bytes().is_err());
    }
}

// ---------------------------------------------------------------------------
// Packs.

proptest! {
    #![proptest_config(cfg(128))]

    #[test]
    fn pack_round_trip(blobs in pack_blobs()) {
        let p = build_pack(&blobs);
        prop_assert_eq!(p.id, ObjectId::of(&p.bytes));
        let l = pack::layout(&p.bytes).unwrap();
        let blob_area: usize = p.entries.iter().map(|e| e.length as usize).sum();
        prop_assert_eq!(l.header_offset(), Some(PACK_PREFIX + blob_area));
        assert_opens_to(&p, &blobs)?;
        let header = pack_header(&p.entries);
        prop_assert_eq!(pack::parse_header(&header, l.header_offset().unwrap()).unwrap(), p.entries);
    }

    #[test]
    fn pack_mutations_never_panic(blobs in pack_blobs(), ms in mutations()) {
        let p = build_pack(&blobs);
        open_every_blob(&apply(p.bytes.clone(), &ms));
        let blob_end = pack::layout(&p.bytes).unwrap().header_offset().unwrap();
        let header = apply(pack_header(&p.entries), &ms);
        let _ = bounded(header.len(), || pack::parse_header(&header, blob_end));
    }

    /// Outside the blob area `open` itself fails; inside it `open` succeeds (blobs
    /// are authenticated one by one) and the blob holding the byte fails.
    #[test]
    fn pack_rejects_any_single_byte_change(
        blobs in pack_blobs(),
        at in any::<Index>(),
        x in 1..=255u8,
    ) {
        let p = build_pack(&blobs);
        let mut bad = p.bytes.clone();
        let pos = at.index(bad.len());
        bad[pos] ^= x;
        prop_assert!(!pack_reads_back(&p, &bad), "change at byte {pos} accepted");
    }
}

/// Whether `bytes` opens and every blob of it decrypts: how a reader accepts a pack.
/// Also checks that a change confined to the blob area is caught by that blob.
fn pack_reads_back(original: &FinishedPack, bytes: &[u8]) -> bool {
    let Ok(opened) = pack::open(bytes, vault_key()) else {
        return false;
    };
    assert_eq!(opened.entries, original.entries);
    let mut all = true;
    for (i, e) in opened.entries.iter().enumerate() {
        let range = e.offset as usize..e.offset as usize + e.length as usize;
        let changed = bytes[range.clone()] != original.bytes[range.clone()];
        let ok = opened.blob(i, &bytes[range]).is_ok();
        assert_eq!(ok, !changed, "blob {i}: changed {changed}, opened {ok}");
        all &= ok;
    }
    all
}

#[test]
fn pack_rejects_every_single_byte_change() {
    let blobs = [
        (BlobKind::Data, BlobId([1; 32]), b"quarterly ".repeat(20)),
        (BlobKind::Tree, BlobId([2; 32]), vec![7, 1, 9]),
    ];
    let p = build_pack(&blobs);
    assert!(pack_reads_back(&p, &p.bytes));
    for pos in 0..p.bytes.len() {
        let mut bad = p.bytes.clone();
        bad[pos] ^= 0x80;
        assert!(!pack_reads_back(&p, &bad), "change at byte {pos} accepted");
    }
}

// ---------------------------------------------------------------------------
// Index objects and DB values.

proptest! {
    #![proptest_config(cfg(512))]

    #[test]
    fn index_body_round_trip(map in index_map()) {
        let body = index_body(&map);
        prop_assert_eq!(IndexMap::parse_body(&body).unwrap().packs, map.packs);
    }

    #[test]
    fn index_body_mutations_never_panic(map in index_map(), ms in mutations()) {
        let body = apply(index_body(&map), &ms);
        let _ = bounded(body.len(), || IndexMap::parse_body(&body));
    }

    #[test]
    fn blob_location_round_trip(loc in blob_location()) {
        prop_assert_eq!(BlobLocation::from_db(&loc.to_db()).unwrap(), loc);
    }

    #[test]
    fn blob_location_mutations_never_panic(loc in blob_location(), ms in mutations()) {
        parse_all(&apply(loc.to_db(), &ms));
    }
}

proptest! {
    #![proptest_config(cfg(128))]

    #[test]
    fn index_object_round_trip(map in index_map()) {
        let bytes = map.seal(&[vault_pub()]).unwrap();
        prop_assert!(IndexMap::check_frame(&bytes).is_ok());
        prop_assert_eq!(IndexMap::open(&bytes, vault_key()).unwrap().packs, map.packs);
    }

    #[test]
    fn index_object_mutations_never_panic(map in index_map(), ms in mutations()) {
        let bytes = apply(map.seal(&[vault_pub()]).unwrap(), &ms);
        let n = bytes.len();
        let _ = bounded(n, || IndexMap::check_frame(&bytes));
        let _ = bounded(n, || IndexMap::open(&bytes, vault_key()));
    }

    #[test]
    fn index_object_rejects_any_single_byte_change(
        map in index_map(),
        at in any::<Index>(),
        x in 1..=255u8,
    ) {
        let mut bad = map.seal(&[vault_pub()]).unwrap();
        let pos = at.index(bad.len());
        bad[pos] ^= x;
        prop_assert!(IndexMap::open(&bad, vault_key()).is_err(), "change at byte {} accepted", pos);
    }
}

#[test]
fn index_object_rejects_every_truncation_and_extension() {
    let mut map = IndexMap::default();
    map.add_pack(
        ObjectId([1; 32]),
        vec![PackEntry {
            kind: BlobKind::Data,
            compression: Compression::Zstd,
            id: BlobId([2; 32]),
            offset: 5,
            length: 100,
            raw_len: 200,
        }],
    );
    let bytes = map.seal(&[vault_pub()]).unwrap();
    for n in 0..bytes.len() {
        assert!(
            IndexMap::open(&bytes[..n], vault_key()).is_err(),
            "cut at {n}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(IndexMap::open(&longer, vault_key()).is_err());
}

// ---------------------------------------------------------------------------
// Snapshots.

proptest! {
    #![proptest_config(cfg(256))]

    #[test]
    fn snapshot_round_trip((header, private) in snapshot_parts()) {
        let bytes = create_snapshot(&header, &private);
        let s = Snapshot::parse_verified(&bytes, &signer().verifying_key()).unwrap();
        prop_assert_eq!(&s.header, &header);
        prop_assert_eq!(s.private(vault_key()).unwrap(), private);
    }

    #[test]
    fn snapshot_mutations_never_panic((header, private) in snapshot_parts(), ms in mutations()) {
        let bytes = apply(create_snapshot(&header, &private), &ms);
        let n = bytes.len();
        if let Ok(s) = bounded(n, || Snapshot::parse(&bytes)) {
            let _ = s.private(vault_key());
        }
        let _ = bounded(n, || Snapshot::parse_verified(&bytes, &signer().verifying_key()));
    }

    #[test]
    fn snapshot_rejects_any_single_byte_change(
        (header, private) in snapshot_parts(),
        at in any::<Index>(),
        x in 1..=255u8,
    ) {
        let mut bad = create_snapshot(&header, &private);
        let pos = at.index(bad.len());
        bad[pos] ^= x;
        prop_assert!(
            Snapshot::parse_verified(&bad, &signer().verifying_key()).is_err(),
            "change at byte {} accepted", pos
        );
    }
}

#[test]
fn snapshot_rejects_every_single_byte_change_truncation_and_extension() {
    let header = SnapshotHeader {
        vault_id: [7; 16],
        time_us: 1_765_000_000_000_000,
        previous: ObjectId([3; 32]),
        root: BlobId([5; 32]),
        files: 3,
        dirs: 1,
        logical_bytes: 99,
        vault_name: "soumu".into(),
    };
    let private = SnapshotPrivate {
        host: "fs1".into(),
        paths: vec!["/srv/share/経理".into()],
    };
    let bytes = create_snapshot(&header, &private);
    let writer = signer().verifying_key();
    assert!(Snapshot::parse_verified(&bytes, &writer).is_ok());
    for pos in 0..bytes.len() {
        for x in [0x01, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[pos] ^= x;
            assert!(
                Snapshot::parse_verified(&bad, &writer).is_err(),
                "change {x:#04x} at byte {pos} accepted"
            );
        }
    }
    for n in 0..bytes.len() {
        assert!(Snapshot::parse(&bytes[..n]).is_err(), "cut at {n}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Snapshot::parse(&longer).is_err());
}

// ---------------------------------------------------------------------------
// Config objects and files-cache values.

proptest! {
    #![proptest_config(cfg(512))]

    #[test]
    fn config_round_trip(c in repo_config()) {
        prop_assert_eq!(RepoConfig::from_bytes(&c.to_bytes()).unwrap(), c);
    }

    #[test]
    fn config_mutations_never_panic(c in repo_config(), ms in mutations()) {
        parse_all(&apply(c.to_bytes(), &ms));
    }

    #[test]
    fn filecache_round_trip(chunks in prop::collection::vec(blob_id(), 0..8)) {
        let value = filecache::encode(&stamp(), &chunks);
        prop_assert_eq!(filecache::lookup(&value, &stamp()), Some(chunks));
        prop_assert_eq!(filecache::lookup(&value, &other_stamp()), None);
    }

    #[test]
    fn filecache_mutations_never_panic(
        chunks in prop::collection::vec(blob_id(), 0..8),
        ms in mutations(),
    ) {
        parse_all(&apply(filecache::encode(&stamp(), &chunks), &ms));
    }
}

#[test]
fn stamps_of_different_files_differ() {
    assert_ne!(stamp(), other_stamp());
}

/// The allocation bound used throughout is really enforced.
#[test]
#[should_panic(expected = "allocated")]
fn allocation_bound_is_enforced() {
    let v = bounded(16, || vec![0u8; 1 << 20]);
    drop(v);
}

// ---------------------------------------------------------------------------
// Segmented packs (format version 2, `segpack.rs`).

/// A segmented pack of `blobs`, a new segment starting at each index in `cuts`;
/// also the pack's length after each segment.
fn build_segmented(
    blobs: &[(BlobKind, BlobId, Vec<u8>)],
    cuts: &[usize],
) -> (FinishedPack, Vec<usize>) {
    let (key, envelope) = Envelope::seal(&[vault_pub()], WrapPurpose::PackKey).unwrap();
    let wrapped = WrappedKey {
        key,
        envelope: envelope.to_bytes(),
    };
    let (mut w, mut bytes) = SegmentWriter::start(wrapped);
    let mut entries = Vec::new();
    let mut ends = Vec::new();
    let mut group = Vec::new();
    for (i, (kind, id, data)) in blobs.iter().enumerate() {
        group.push(blob::prepare(*kind, *id, data.clone(), 3));
        if i + 1 == blobs.len() || cuts.contains(&(i + 1)) {
            let (seg, table) = w.segment(&group);
            bytes.extend_from_slice(&seg);
            entries.extend(table);
            ends.push(bytes.len());
            group.clear();
        }
    }
    let pack = FinishedPack {
        id: ObjectId::of(&bytes),
        bytes,
        entries,
    };
    (pack, ends)
}

fn segmented_blobs() -> impl Strategy<Value = Vec<(BlobKind, BlobId, Vec<u8>)>> {
    let data = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        (any::<u8>(), 0..2000usize).prop_map(|(b, n)| vec![b; n]),
    ];
    prop::collection::vec((blob_kind(), blob_id(), data), 1..6)
}

proptest! {
    #![proptest_config(cfg(64))]

    /// Every prefix that ends after a whole segment is itself a valid pack
    /// holding exactly the blobs written so far: what a crash leaves behind.
    #[test]
    fn segmented_pack_round_trip_and_every_segment_prefix_opens(
        blobs in segmented_blobs(),
        cuts in prop::collection::vec(1..6usize, 0..4),
    ) {
        let (p, ends) = build_segmented(&blobs, &cuts);
        let l = pack::layout(&p.bytes).unwrap();
        prop_assert_eq!(l.header_offset(), None);
        prop_assert_eq!(l.segments().len(), ends.len());
        assert_opens_to(&p, &blobs)?;
        for &end in &ends {
            let prefix = pack::open(&p.bytes[..end], vault_key()).unwrap();
            let inside = p.entries.iter().filter(|e| (e.offset + e.length) as usize <= end);
            prop_assert_eq!(prefix.entries, inside.cloned().collect::<Vec<_>>());
        }
    }

    #[test]
    fn segmented_pack_mutations_never_panic(
        blobs in segmented_blobs(),
        cuts in prop::collection::vec(1..6usize, 0..4),
        ms in mutations(),
    ) {
        let (p, _) = build_segmented(&blobs, &cuts);
        open_every_blob(&apply(p.bytes.clone(), &ms));
    }
}

#[test]
fn segmented_pack_rejects_every_single_byte_change_and_torn_tails() {
    let blobs = [
        (BlobKind::Data, BlobId([1; 32]), b"quarterly ".repeat(20)),
        (BlobKind::Data, BlobId([2; 32]), vec![7, 1, 9]),
        (BlobKind::Tree, BlobId([3; 32]), b"tree".to_vec()),
    ];
    let (p, ends) = build_segmented(&blobs, &[1]);
    assert_eq!(ends.len(), 2);
    assert!(pack_reads_back(&p, &p.bytes));
    for pos in 0..p.bytes.len() {
        let mut bad = p.bytes.clone();
        bad[pos] ^= 0x80;
        assert!(!pack_reads_back(&p, &bad), "change at byte {pos} accepted");
    }
    for cut in 0..p.bytes.len() {
        if !ends.contains(&cut) {
            assert!(
                pack::open(&p.bytes[..cut], vault_key()).is_err(),
                "a pack torn at byte {cut} opened"
            );
        }
    }
}
