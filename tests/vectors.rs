//! Frozen test vectors: every byte format of the crypto core and the key layer,
//! pinned by files under `tests/vectors/` (file format in
//! `tests/vectors/README.md`, byte layouts in `docs/format.md`).
//!
//! The family tests only read the files and check them, so any change to a
//! format breaks them. `generator_writes_every_vector_of_the_manifest` runs the
//! generator into a temporary directory and checks its output is complete and
//! well-formed; with `BCPVAULT_REGENERATE_VECTORS=1` it writes into
//! `tests/vectors/` instead. That was done once and its output is committed;
//! doing it again replaces every random value (RSA keys, nonces, salts, the
//! ceremony), so only do that for a deliberate format change.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};
use bcpvault::crypto::shamir::Share;
use bcpvault::crypto::{
    self, CryptoError, Envelope, KdfParams, Password, STREAM_CHUNK, SecretKey32, StreamReader,
    StreamWriter, VaultPrivateKey, VaultPublicKey, WrapPurpose, WriterSigningKey,
    WriterVerifyingKey,
};
use bcpvault::keys::{
    Approval, Ceremony, EscrowText, Executive, KeyFiles, KeysError, RecoveryBundle, Unlocker,
    WriterSecrets,
};
use sha2::{Digest, Sha256};

/// Every vector file, in the order they are generated.
const VECTORS: &[&str] = &[
    "rsa-key-a",
    "rsa-key-b",
    "aead-seal",
    "aead-wrong-aad",
    "aead-flipped-tag",
    "wrap-pack-key",
    "wrap-index-key",
    "wrap-object-key",
    "wrap-test",
    "wrap-wrong-label",
    "wrap-wrong-key",
    "wrap-wrong-length",
    "wrap-flipped-byte",
    "envelope-two-recipients",
    "envelope-not-a-recipient",
    "envelope-wrong-purpose",
    "envelope-trailing-byte",
    "envelope-bad-version",
    "stream-empty",
    "stream-one-chunk",
    "stream-full-chunk",
    "stream-multi-chunk",
    "stream-flipped-byte",
    "stream-flipped-header",
    "stream-truncated",
    "stream-truncated-mid-chunk",
    "stream-dropped-chunk",
    "stream-reordered-chunks",
    "stream-wrong-object-id",
    "stream-wrong-key",
    "stream-trailing-data",
    "stream-header-only",
    "stream-bad-magic",
    "stream-bad-version",
    "stream-too-short",
    "argon2id-derive",
    "password-box",
    "password-box-wrong-password",
    "password-box-wrong-aad",
    "password-box-changed-params",
    "password-box-hostile-memory",
    "shamir-2-of-3",
    "shamir-1-of-1",
    "shamir-one-share",
    "shamir-duplicate-share",
    "shamir-index-zero",
    "ed25519-signature",
    "ed25519-bad-signature",
    "writer-secret",
    "writer-secret-flipped-byte",
    "writer-secret-truncated",
    "bundle-2-of-3",
    "bundle-wrong-password",
    "bundle-not-enough-approvals",
    "bundle-unknown-executive",
    "bundle-flipped-byte",
    "escrow-text-2-of-3",
    "escrow-text-typo",
    "escrow-text-missing-line",
    "escrow-text-no-end",
];

/// Raw files the vectors refer to (PKCS#8 DER private keys).
const KEY_FILES: &[&str] = &["rsa2048-a.pk8", "rsa2048-b.pk8"];

/// Files in the directory that are neither vectors nor key files.
const OTHER_FILES: &[&str] = &["README.md", ".gitattributes"];

/// Budget for the whole directory, so the fixtures stay small.
const MAX_TOTAL_BYTES: u64 = 240 * 1024;

fn vector_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ---------------------------------------------------------------------------
// Reading vector files
// ---------------------------------------------------------------------------

/// Header lines, in file order (keys may repeat).
type Header = Vec<(String, String)>;

/// Executive name and password pairs.
type Logins<'a> = &'a [(&'a str, &'a str)];

/// One vector: its header lines and its body (for a derived vector, the base's
/// body with the edits applied).
struct Vector {
    name: String,
    header: Header,
    body: Vec<u8>,
}

impl Vector {
    fn get(&self, key: &str) -> Option<&str> {
        self.header
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.header
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn req(&self, key: &str) -> Result<&str> {
        self.get(key)
            .ok_or_else(|| anyhow!("header line {key:?} missing"))
    }

    fn hex(&self, key: &str) -> Result<Vec<u8>> {
        hex::decode(self.req(key)?).with_context(|| format!("{key}: not hex"))
    }

    fn array<const N: usize>(&self, key: &str) -> Result<[u8; N]> {
        let v = self.hex(key)?;
        v.as_slice()
            .try_into()
            .map_err(|_| anyhow!("{key}: expected {N} bytes, found {}", v.len()))
    }

    fn num<T: std::str::FromStr>(&self, key: &str) -> Result<T> {
        let text = self.req(key)?;
        text.parse()
            .map_err(|_| anyhow!("{key}: {text:?} is not a number"))
    }

    /// Checks `got` against the hex `payload:` line (SHA-256 of the expected bytes).
    fn check_payload(&self, got: &[u8]) -> Result<()> {
        let want = self.req("payload")?;
        ensure!(
            sha256_hex(got) == want,
            "payload: SHA-256 of the result is {}, expected {want}",
            sha256_hex(got)
        );
        Ok(())
    }

    /// Checks a 32-byte result against `secret:` (hex) and `payload:`.
    fn check_secret(&self, got: &SecretKey32) -> Result<()> {
        let want = self.req("secret")?;
        ensure!(
            hex::encode(got.expose()) == want,
            "secret: got {}, expected {want}",
            hex::encode(got.expose())
        );
        self.check_payload(got.expose())
    }
}

/// Splits a vector file into header lines and the stored body.
fn split_file(bytes: &[u8]) -> Result<(Header, &[u8])> {
    let end = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or_else(|| anyhow!("no blank line after the header"))?;
    let text = std::str::from_utf8(&bytes[..end]).context("header is not UTF-8")?;
    let mut header = Vec::new();
    for line in text.lines() {
        let (key, value) = line
            .split_once(": ")
            .ok_or_else(|| anyhow!("header line {line:?} is not `key: value`"))?;
        header.push((key.to_string(), value.to_string()));
    }
    Ok((header, &bytes[end + 2..]))
}

fn load(name: &str) -> Result<Vector> {
    let path = vector_dir().join(name);
    let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let (header, stored) = split_file(&bytes)?;
    let mut v = Vector {
        name: name.to_string(),
        header,
        body: Vec::new(),
    };
    v.body = match v.get("base") {
        Some(base) => {
            ensure!(
                stored.is_empty(),
                "a derived vector (base: {base}) has no body of its own"
            );
            let mut body = load(base).with_context(|| format!("base {base}"))?.body;
            for edit in v.all("edit") {
                apply_edit(&mut body, edit).with_context(|| format!("edit {edit:?}"))?;
            }
            body
        }
        None => {
            ensure!(v.get("edit").is_none(), "edit: without base:");
            stored.to_vec()
        }
    };
    let want = v.req("body-sha256")?;
    let got = sha256_hex(&v.body);
    ensure!(
        got == want,
        "body-sha256 is {got}, the header says {want} (the file was modified)"
    );
    Ok(v)
}

/// Applies one `edit:` line to a body: `flip OFFSET` (xor 0x01), `set OFFSET HEX`,
/// `truncate LEN`, `delete OFFSET LEN`, `swap A B LEN`, `append HEX`.
fn apply_edit(body: &mut Vec<u8>, edit: &str) -> Result<()> {
    let words: Vec<&str> = edit.split_whitespace().collect();
    let num = |i: usize| -> Result<usize> {
        let w = words
            .get(i)
            .ok_or_else(|| anyhow!("argument {i} missing"))?;
        w.parse().map_err(|_| anyhow!("{w:?} is not a number"))
    };
    let bytes = |i: usize| -> Result<Vec<u8>> {
        let w = words
            .get(i)
            .ok_or_else(|| anyhow!("argument {i} missing"))?;
        hex::decode(w).map_err(|_| anyhow!("{w:?} is not hex"))
    };
    match words.first().copied() {
        Some("flip") => {
            let at = num(1)?;
            *body
                .get_mut(at)
                .ok_or_else(|| anyhow!("offset out of range"))? ^= 0x01;
        }
        Some("set") => {
            let at = num(1)?;
            let b = bytes(2)?;
            ensure!(at + b.len() <= body.len(), "range out of bounds");
            body[at..at + b.len()].copy_from_slice(&b);
        }
        Some("truncate") => {
            let len = num(1)?;
            ensure!(len <= body.len(), "longer than the body");
            body.truncate(len);
        }
        Some("delete") => {
            let (at, len) = (num(1)?, num(2)?);
            ensure!(at + len <= body.len(), "range out of bounds");
            body.drain(at..at + len);
        }
        Some("swap") => {
            let (a, b, len) = (num(1)?, num(2)?, num(3)?);
            ensure!(a + len <= b && b + len <= body.len(), "bad ranges");
            let (left, right) = body.split_at_mut(b);
            left[a..a + len].swap_with_slice(&mut right[..len]);
        }
        Some("append") => body.extend(bytes(1)?),
        _ => bail!("unknown edit"),
    }
    Ok(())
}

/// A key from a `key:`-style line: a `.pk8` file name under `tests/vectors/`.
fn private_key(file: &str) -> Result<VaultPrivateKey> {
    let der = key_file(file)?;
    VaultPrivateKey::from_pkcs8_der(&der).with_context(|| format!("loading {file}"))
}

fn key_file(file: &str) -> Result<Vec<u8>> {
    ensure!(KEY_FILES.contains(&file), "{file} is not a known key file");
    fs::read(vector_dir().join(file)).with_context(|| format!("reading {file}"))
}

fn purpose(name: &str) -> Result<WrapPurpose> {
    Ok(match name {
        "pack-key" => WrapPurpose::PackKey,
        "index-key" => WrapPurpose::IndexKey,
        "object-key" => WrapPurpose::ObjectKey,
        "test" => WrapPurpose::Test,
        _ => bail!("unknown purpose {name:?}"),
    })
}

/// Parses `memory_kib=M iterations=T parallelism=P`.
fn kdf_params(text: &str) -> Result<KdfParams> {
    let mut p = KdfParams {
        memory_kib: 0,
        iterations: 0,
        parallelism: 0,
    };
    for word in text.split_whitespace() {
        let (k, v) = word
            .split_once('=')
            .ok_or_else(|| anyhow!("kdf: {word:?}"))?;
        let v: u32 = v.parse().map_err(|_| anyhow!("kdf: {word:?}"))?;
        match k {
            "memory_kib" => p.memory_kib = v,
            "iterations" => p.iterations = v,
            "parallelism" => p.parallelism = v,
            _ => bail!("kdf: unknown parameter {k:?}"),
        }
    }
    Ok(p)
}

fn kdf_text(p: &KdfParams) -> String {
    format!(
        "memory_kib={} iterations={} parallelism={}",
        p.memory_kib, p.iterations, p.parallelism
    )
}

/// `approve: NAME PASSWORD` lines (the password is the rest of the line).
fn approvals(lines: &[&str]) -> Result<Vec<Approval>> {
    lines
        .iter()
        .map(|l| {
            let (name, pw) = l
                .split_once(' ')
                .ok_or_else(|| anyhow!("approve: {l:?} is not `NAME PASSWORD`"))?;
            Ok(Approval {
                name: name.to_string(),
                password: Password::new(pw.to_string()),
            })
        })
        .collect()
}

/// Every subset of `0..n` with at least `min` elements (in order), then the full
/// set if it was not among them (so a too-small set still gets tried).
fn subsets(n: usize, min: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = (0u32..1 << n)
        .map(|mask| (0..n).filter(|i| mask & (1 << i) != 0).collect::<Vec<_>>())
        .filter(|s| s.len() >= min.max(1))
        .collect();
    out.sort_by_key(|s| (s.len(), s.clone()));
    let full: Vec<usize> = (0..n).collect();
    if !out.contains(&full) {
        out.push(full);
    }
    out
}

// ---------------------------------------------------------------------------
// Expected errors
// ---------------------------------------------------------------------------

/// An error from the code under test, as `expect:` names it.
#[derive(Debug)]
struct LibError {
    /// Which step failed (`parse`, `open`, `read`, `unwrap`, `unlock`, ...).
    stage: &'static str,
    /// Canonical kind, compared with the `expect:` line.
    kind: String,
    /// The error's message, searched for the `detail:` line.
    message: String,
}

/// The outcome of running a vector: `Err` is a library error, to be compared
/// with `expect:`; a failed check of a successful result is an outer error.
type Outcome = std::result::Result<(), LibError>;

trait VectorError: std::fmt::Display {
    fn vector_kind(&self) -> String;
}

impl VectorError for CryptoError {
    fn vector_kind(&self) -> String {
        use CryptoError as E;
        match self {
            E::DecryptionFailed => "decryption-failed".into(),
            E::UnwrapFailed => "unwrap-failed".into(),
            E::WrappedKeyLength { expected, found } => {
                format!("wrapped-key-length({expected},{found})")
            }
            E::NotARecipient { .. } => "not-a-recipient".into(),
            E::DuplicateRecipient { .. } => "duplicate-recipient".into(),
            E::BadMagic { format } => format!("bad-magic({format})"),
            E::UnsupportedVersion { format, version } => {
                format!("unsupported-version({format},{version})")
            }
            E::TooShort {
                format,
                needed,
                found,
            } => format!("too-short({format},{needed},{found})"),
            E::Malformed { format, .. } => format!("malformed({format})"),
            E::TrailingBytes { format, extra } => format!("trailing-bytes({format},{extra})"),
            E::StreamTruncated => "stream-truncated".into(),
            E::StreamTrailingData => "stream-trailing-data".into(),
            E::StreamChunkAuth { index } => format!("stream-chunk-auth({index})"),
            E::StreamTooLong => "stream-too-long".into(),
            E::KdfParamOutOfRange { param, value, .. } => {
                format!("kdf-param-out-of-range({param},{value})")
            }
            E::WrongPassword => "wrong-password".into(),
            E::NotEnoughShares { have, need } => format!("not-enough-shares({have},{need})"),
            E::DuplicateShare { index } => format!("duplicate-share({index})"),
            E::InvalidShare { .. } => "invalid-share".into(),
            E::InvalidVerifyingKey => "invalid-verifying-key".into(),
            E::BadSignature => "bad-signature".into(),
            other => format!("other-crypto-error({other:?})"),
        }
    }
}

impl VectorError for KeysError {
    fn vector_kind(&self) -> String {
        use KeysError as E;
        match self {
            E::WrongPassword { name } => format!("wrong-password({name})"),
            E::NotEnoughApprovals { have, need, .. } => {
                format!("not-enough-approvals({have},{need})")
            }
            E::UnknownExecutive { name, .. } => format!("unknown-executive({name})"),
            E::DuplicateApproval { name } => format!("duplicate-approval({name})"),
            E::SharesDoNotCombine => "shares-do-not-combine".into(),
            E::Malformed { .. } => "malformed".into(),
            E::Crypto(e) => e.vector_kind(),
            other => format!("other-keys-error({other:?})"),
        }
    }
}

impl VectorError for std::io::Error {
    fn vector_kind(&self) -> String {
        match CryptoError::from_io(self) {
            Some(e) => e.vector_kind(),
            None => format!("io({:?})", self.kind()),
        }
    }
}

fn lib_error(stage: &'static str, e: &impl VectorError) -> LibError {
    LibError {
        stage,
        kind: e.vector_kind(),
        message: e.to_string(),
    }
}

/// Unwraps a library result, or ends the vector with that error as its outcome.
macro_rules! attempt {
    ($stage:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(lib_error($stage, &e))),
        }
    };
}

// ---------------------------------------------------------------------------
// Checking vectors, one function per `kind:`
// ---------------------------------------------------------------------------

fn check(v: &Vector) -> Result<()> {
    let outcome = match v.req("kind")? {
        "rsa-key" => rsa_key(v)?,
        "aead" => aead(v)?,
        "rsa-oaep-wrap" => wrap(v)?,
        "envelope" => envelope(v)?,
        "stream" => stream(v)?,
        "argon2id" => argon2id(v)?,
        "password-box" => password_box(v)?,
        "shamir" => shamir(v)?,
        "ed25519" => ed25519(v)?,
        "writer-secret" => writer_secret(v)?,
        "recovery-bundle" => recovery_bundle(v)?,
        "escrow-text" => escrow_text(v)?,
        other => bail!("unknown kind {other:?}"),
    };
    match (v.req("expect")?, outcome) {
        ("success", Ok(())) => Ok(()),
        ("success", Err(e)) => bail!(
            "expected success, got {} at {}: {}",
            e.kind,
            e.stage,
            e.message
        ),
        (want, Ok(())) => bail!("expected {want}, but everything succeeded"),
        (want, Err(e)) => {
            ensure!(
                e.kind == want,
                "expected {want}, got {} at {}: {}",
                e.kind,
                e.stage,
                e.message
            );
            if let Some(stage) = v.get("stage") {
                ensure!(
                    e.stage == stage,
                    "expected the error at stage {stage}, got it at {}",
                    e.stage
                );
            }
            if let Some(detail) = v.get("detail") {
                ensure!(
                    e.message.contains(detail),
                    "error message {:?} does not contain {detail:?}",
                    e.message
                );
            }
            Ok(())
        }
    }
}

fn rsa_key(v: &Vector) -> Result<Outcome> {
    let file = v.req("private-key")?;
    let der = key_file(file)?;
    ensure!(
        sha256_hex(&der) == v.req("private-key-sha256")?,
        "{file}: SHA-256 differs from private-key-sha256 (the key file was modified)"
    );
    let sk = attempt!("parse", VaultPrivateKey::from_pkcs8_der(&der));
    ensure!(
        sk.to_pkcs8_der().expose() == der.as_slice(),
        "{file}: PKCS#8 re-encoding is not byte-identical"
    );
    let pk = sk.public_key();
    ensure!(pk.bits() == v.num::<usize>("bits")?, "bits");
    ensure!(
        pk.wrapped_len() == v.num::<usize>("wrapped-len")?,
        "wrapped-len"
    );
    ensure!(pk.to_der() == v.body, "SPKI DER of the public key differs");
    let fp = v.req("fingerprint")?;
    ensure!(hex::encode(pk.fingerprint()) == fp, "fingerprint");
    ensure!(
        sha256_hex(&v.body) == fp,
        "fingerprint is not SHA-256(SPKI)"
    );
    let parsed = attempt!("parse", VaultPublicKey::from_der(&v.body));
    ensure!(parsed == pk, "parsed SPKI differs from the private key's");
    Ok(Ok(()))
}

fn aead(v: &Vector) -> Result<Outcome> {
    let key = SecretKey32::from_bytes(&v.array("key")?);
    let nonce: [u8; 12] = v.array("nonce")?;
    let aad = v.hex("aad")?;
    let pt = attempt!("open", crypto::open(&key, &nonce, &aad, &v.body));
    v.check_payload(pt.expose())?;
    let plaintext = v.hex("plaintext")?;
    ensure!(pt.expose() == plaintext.as_slice(), "plaintext");
    ensure!(
        crypto::seal(&key, &nonce, &aad, &plaintext) == v.body,
        "sealing again gives different bytes"
    );
    Ok(Ok(()))
}

fn wrap(v: &Vector) -> Result<Outcome> {
    let sk = private_key(v.req("key")?)?;
    let purpose = purpose(v.req("purpose")?)?;
    ensure!(purpose.label() == v.req("label")?.as_bytes(), "OAEP label");
    let key = attempt!("unwrap", crypto::unwrap_key(&sk, purpose, &v.body));
    v.check_secret(&key)?;
    Ok(Ok(()))
}

fn envelope(v: &Vector) -> Result<Outcome> {
    let purpose = purpose(v.req("purpose")?)?;
    ensure!(purpose.label() == v.req("label")?.as_bytes(), "OAEP label");
    let env = attempt!("parse", Envelope::from_bytes(&v.body));
    ensure!(
        env.to_bytes() == v.body,
        "re-encoding is not byte-identical"
    );
    if let Some(recipients) = v.get("recipients") {
        let mut want = Vec::new();
        for file in recipients.split_whitespace() {
            want.push(private_key(file)?.public_key().fingerprint());
        }
        ensure!(env.fingerprints() == want, "recipient fingerprints");
    }
    for file in v.req("open-with")?.split_whitespace() {
        let sk = private_key(file)?;
        let key = attempt!("open", env.open(&sk, purpose));
        v.check_secret(&key)?;
    }
    Ok(Ok(()))
}

fn stream(v: &Vector) -> Result<Outcome> {
    let key = SecretKey32::from_bytes(&v.array("key")?);
    let object_id = v.hex("object-id")?;
    let mut r = attempt!(
        "open",
        StreamReader::new(Cursor::new(&v.body), &key, &object_id)
    );
    let mut pt = Vec::new();
    attempt!("read", r.read_to_end(&mut pt));
    v.check_payload(&pt)?;
    let len: u64 = v.num("length")?;
    ensure!(pt.len() as u64 == len, "plaintext length");
    ensure!(r.plaintext_len() == len, "plaintext_len()");
    ensure!(
        crypto::stream::encrypted_len(len) == v.body.len() as u64,
        "encrypted_len()"
    );
    // Random access: a few reads at chunk edges must match the full decryption.
    let chunk = STREAM_CHUNK as u64;
    for at in [
        0,
        1,
        chunk - 1,
        chunk,
        chunk + 1,
        len / 2,
        len.saturating_sub(1),
    ] {
        if at >= len {
            continue;
        }
        r.seek(SeekFrom::Start(at))?;
        let mut buf = vec![0u8; 100];
        let n = r.read(&mut buf)?;
        let want = &pt[at as usize..];
        ensure!(
            n > 0 && buf[..n] == want[..n],
            "random-access read at {at} differs"
        );
    }
    r.seek(SeekFrom::End(0))?;
    ensure!(r.read(&mut [0u8; 8])? == 0, "read at the end returned data");
    Ok(Ok(()))
}

fn argon2id(v: &Vector) -> Result<Outcome> {
    let password = Password::new(v.req("password")?.to_string());
    let salt: [u8; 16] = v.array("salt")?;
    let params = kdf_params(v.req("kdf")?)?;
    let key = attempt!("derive", crypto::derive_key(&password, &salt, &params));
    ensure!(
        key.expose().as_slice() == v.body.as_slice(),
        "derived key differs"
    );
    Ok(Ok(()))
}

fn password_box(v: &Vector) -> Result<Outcome> {
    let password = Password::new(v.req("password")?.to_string());
    let aad = v.hex("aad")?;
    let params = attempt!("parse", crypto::kdf::password_box_params(&v.body));
    if let Some(want) = v.get("kdf") {
        ensure!(params == kdf_params(want)?, "stored KDF parameters");
    }
    let pt = attempt!("open", crypto::password_open(&password, &aad, &v.body));
    v.check_payload(pt.expose())?;
    ensure!(pt.expose() == v.hex("plaintext")?.as_slice(), "plaintext");
    Ok(Ok(()))
}

fn shamir(v: &Vector) -> Result<Outcome> {
    let threshold: u8 = v.num("threshold")?;
    let len = crypto::shamir::SHARE_LEN;
    ensure!(
        v.body.len().is_multiple_of(len),
        "body is not a whole number of shares"
    );
    let raw: Vec<&[u8]> = v.body.chunks(len).collect();
    for bytes in &raw {
        let share = attempt!("parse", Share::from_bytes(bytes));
        ensure!(
            share.to_bytes().expose() == *bytes,
            "share re-encoding differs"
        );
    }
    if let Some(indices) = v.get("indices") {
        let got: Vec<String> = raw.iter().map(|b| b[0].to_string()).collect();
        ensure!(got.join(" ") == indices, "share indices");
    }
    for subset in subsets(raw.len(), usize::from(threshold)) {
        let mut shares = Vec::new();
        for &i in &subset {
            shares.push(attempt!("parse", Share::from_bytes(raw[i])));
        }
        let key = attempt!("combine", crypto::combine(&shares, threshold));
        v.check_secret(&key)
            .with_context(|| format!("combining shares {subset:?}"))?;
    }
    Ok(Ok(()))
}

fn ed25519(v: &Vector) -> Result<Outcome> {
    let seed = SecretKey32::from_bytes(&v.array("seed")?);
    let message = v.hex("message")?;
    let vk_bytes: [u8; 32] = v.array("verifying-key")?;
    let sk = WriterSigningKey::from_secret(&seed);
    ensure!(
        sk.verifying_key().to_bytes() == vk_bytes,
        "verifying key of the seed"
    );
    ensure!(sk.to_secret().expose() == seed.expose(), "seed round trip");
    let vk = attempt!("parse", WriterVerifyingKey::from_bytes(&vk_bytes));
    let sig: [u8; 64] = v
        .body
        .as_slice()
        .try_into()
        .map_err(|_| anyhow!("a signature is 64 bytes"))?;
    attempt!("verify", vk.verify(&message, &sig));
    ensure!(
        sk.sign(&message) == sig,
        "signing again gives another signature"
    );
    Ok(Ok(()))
}

fn check_writer_fields(v: &Vector, w: &WriterSecrets) -> Result<()> {
    ensure!(hex::encode(w.vault_id) == v.req("vault-id")?, "vault-id");
    ensure!(
        hex::encode(w.dedup_key.expose()) == v.req("dedup-key")?,
        "dedup-key"
    );
    ensure!(
        hex::encode(w.gear_seed.to_be_bytes()) == v.req("gear-seed")?,
        "gear-seed"
    );
    ensure!(
        hex::encode(w.signing.to_secret().expose()) == v.req("signing-seed")?,
        "signing-seed"
    );
    ensure!(
        hex::encode(w.signing.verifying_key().to_bytes()) == v.req("verifying-key")?,
        "verifying-key"
    );
    Ok(())
}

fn writer_secret(v: &Vector) -> Result<Outcome> {
    let w = attempt!("parse", WriterSecrets::from_file_bytes(&v.body, &v.name));
    ensure!(
        w.to_file_bytes().expose() == v.body.as_slice(),
        "re-encoding is not byte-identical"
    );
    check_writer_fields(v, &w)?;
    Ok(Ok(()))
}

fn recovery_bundle(v: &Vector) -> Result<Outcome> {
    let bundle = attempt!("parse", RecoveryBundle::from_bytes(&v.body, &v.name));
    ensure!(
        bundle.to_bytes() == v.body,
        "re-encoding is not byte-identical"
    );
    ensure!(bundle.vault_name == v.req("vault-name")?, "vault-name");
    ensure!(
        hex::encode(bundle.vault_id) == v.req("vault-id")?,
        "vault-id"
    );
    ensure!(
        bundle.generation == v.num::<u32>("generation")?,
        "generation"
    );
    ensure!(bundle.created == v.num::<u64>("created")?, "created");
    ensure!(bundle.threshold == v.num::<u8>("threshold")?, "threshold");
    let shares: Vec<String> = bundle
        .shares
        .iter()
        .map(|s| format!("{}:{}", s.name, s.index))
        .collect();
    ensure!(shares.join(" ") == v.req("shares")?, "shares");
    let fingerprint = v.req("fingerprint")?;
    ensure!(
        hex::encode(bundle.fingerprint()) == fingerprint,
        "fingerprint"
    );
    ensure!(
        hex::encode(bundle.writer_verifying_key) == v.req("writer-verifying-key")?,
        "writer-verifying-key"
    );
    let pk = attempt!("parse", bundle.public_key());
    ensure!(pk.bits() == v.num::<usize>("bits")?, "bits");
    let kdf = kdf_params(v.req("kdf")?)?;
    for share in &bundle.shares {
        let params = attempt!("parse", crypto::kdf::password_box_params(&share.sealed));
        ensure!(params == kdf, "KDF parameters of {}'s share", share.name);
    }
    let writer = match v.get("writer-secret") {
        Some(name) => {
            let wv = load(name)?;
            Some(
                WriterSecrets::from_file_bytes(&wv.body, name)
                    .with_context(|| format!("parsing {name}"))?,
            )
        }
        None => None,
    };
    let lines = v.all("approve");
    for subset in subsets(lines.len(), usize::from(bundle.threshold)) {
        let chosen: Vec<&str> = subset.iter().map(|&i| lines[i]).collect();
        let unlocked = attempt!(
            "unlock",
            Unlocker::unlock(bundle.clone(), &approvals(&chosen)?)
        );
        let ctx = || format!("unlocking with {chosen:?}");
        ensure!(
            hex::encode(unlocked.fingerprint) == fingerprint,
            "unlocked fingerprint ({})",
            ctx()
        );
        ensure!(unlocked.vault_id == bundle.vault_id, "vault id ({})", ctx());
        ensure!(
            unlocked.private_key.public_key().to_der() == bundle.public_key_der,
            "private key does not match the public key ({})",
            ctx()
        );
        ensure!(
            sha256_hex(unlocked.private_key.to_pkcs8_der().expose())
                == v.req("private-key-sha256")?,
            "private-key-sha256 ({})",
            ctx()
        );
        ensure!(
            unlocked.writer.signing.verifying_key().to_bytes() == bundle.writer_verifying_key,
            "writer signing key does not match the bundle ({})",
            ctx()
        );
        if let Some(w) = &writer {
            ensure!(
                unlocked.writer.vault_id == w.vault_id
                    && unlocked.writer.dedup_key.expose() == w.dedup_key.expose()
                    && unlocked.writer.gear_seed == w.gear_seed
                    && unlocked.writer.signing.to_secret().expose()
                        == w.signing.to_secret().expose(),
                "writer secrets in the bundle differ from writer.secret ({})",
                ctx()
            );
        }
    }
    Ok(Ok(()))
}

fn escrow_text(v: &Vector) -> Result<Outcome> {
    let text = std::str::from_utf8(&v.body).context("escrow text is not UTF-8")?;
    let parsed = attempt!("parse", EscrowText::parse(text, &v.name));
    let any = attempt!("parse", EscrowText::parse_any(&v.body, &v.name));
    ensure!(any == parsed, "parse_any differs from parse");
    let name = v.req("bundle")?;
    let bv = load(name)?;
    let bundle =
        RecoveryBundle::from_bytes(&bv.body, name).with_context(|| format!("parsing {name}"))?;
    ensure!(parsed == bundle, "the text does not hold {name}");
    ensure!(
        EscrowText::render(&bundle) == text,
        "rendering {name} again gives different text"
    );
    Ok(Ok(()))
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

/// Runs every vector whose name starts with one of `prefixes`.
fn run(prefixes: &[&str]) {
    let names: Vec<&str> = VECTORS
        .iter()
        .copied()
        .filter(|n| prefixes.iter().any(|p| n.starts_with(p)))
        .collect();
    assert!(!names.is_empty(), "no vectors for {prefixes:?}");
    let failures: Vec<String> = names
        .iter()
        .filter_map(|name| {
            load(name)
                .and_then(|v| check(&v))
                .err()
                .map(|e| format!("{name}: {e:#}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}

const FAMILIES: &[&str] = &[
    "rsa-key-",
    "aead-",
    "wrap-",
    "envelope-",
    "stream-",
    "argon2id-",
    "password-box",
    "shamir-",
    "ed25519-",
    "writer-secret",
    "bundle-",
    "escrow-text-",
];

#[test]
fn rsa_key_vectors() {
    run(&["rsa-key-"]);
}

#[test]
fn aead_vectors() {
    run(&["aead-"]);
}

#[test]
fn rsa_oaep_wrap_vectors() {
    run(&["wrap-"]);
}

#[test]
fn envelope_vectors() {
    run(&["envelope-"]);
}

#[test]
fn stream_vectors() {
    run(&["stream-"]);
}

#[test]
fn argon2id_and_password_box_vectors() {
    run(&["argon2id-", "password-box"]);
}

#[test]
fn shamir_vectors() {
    run(&["shamir-"]);
}

#[test]
fn ed25519_vectors() {
    run(&["ed25519-"]);
}

#[test]
fn writer_secret_vectors() {
    run(&["writer-secret"]);
}

#[test]
fn recovery_bundle_vectors() {
    run(&["bundle-"]);
}

#[test]
fn escrow_text_vectors() {
    run(&["escrow-text-"]);
}

/// The directory holds exactly the listed files (a deleted or stray vector is
/// noticed), every vector belongs to a family test, and the total stays small.
#[test]
fn directory_matches_manifest() {
    let mut found = BTreeSet::new();
    let mut total = 0;
    for entry in fs::read_dir(vector_dir()).expect("tests/vectors") {
        let entry = entry.expect("directory entry");
        total += entry.metadata().expect("metadata").len();
        found.insert(entry.file_name().to_string_lossy().into_owned());
    }
    let listed: BTreeSet<String> = VECTORS
        .iter()
        .chain(KEY_FILES)
        .chain(OTHER_FILES)
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, listed, "tests/vectors/ differs from the manifest");
    for name in VECTORS {
        assert!(
            FAMILIES.iter().any(|f| name.starts_with(f)),
            "{name} belongs to no family test"
        );
    }
    assert!(
        total <= MAX_TOTAL_BYTES,
        "tests/vectors/ holds {total} bytes, more than the {MAX_TOTAL_BYTES}-byte budget"
    );
}

// ---------------------------------------------------------------------------
// The generator (run once; its output is committed)
// ---------------------------------------------------------------------------

/// Writes vector files and remembers their bodies for derived vectors.
struct Gen {
    dir: PathBuf,
    bodies: HashMap<String, Vec<u8>>,
    written: Vec<String>,
}

/// A header line for [`Gen`].
fn h(key: &str, value: impl Into<String>) -> (String, String) {
    (key.to_string(), value.into())
}

impl Gen {
    /// A key the generator wrote earlier in this run (not the committed one).
    fn private_key(&self, file: &str) -> VaultPrivateKey {
        let der = fs::read(self.dir.join(file)).expect("generated key file");
        VaultPrivateKey::from_pkcs8_der(&der).expect("generated key")
    }

    fn raw(&mut self, name: &str, bytes: &[u8]) {
        fs::write(self.dir.join(name), bytes).expect("write key file");
    }

    fn write(
        &mut self,
        name: &str,
        expect: &str,
        kind: &str,
        header: &[(String, String)],
        body: &[u8],
    ) {
        self.emit(name, expect, kind, &[], header, body, body);
    }

    fn derive(
        &mut self,
        name: &str,
        expect: &str,
        kind: &str,
        base: &str,
        edits: &[String],
        header: &[(String, String)],
    ) {
        let mut body = self.bodies[base].clone();
        for e in edits {
            apply_edit(&mut body, e).expect("edit");
        }
        let mut lines = vec![h("base", base)];
        lines.extend(edits.iter().map(|e| h("edit", e.as_str())));
        self.emit(name, expect, kind, &lines, header, &body, &[]);
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        name: &str,
        expect: &str,
        kind: &str,
        derivation: &[(String, String)],
        header: &[(String, String)],
        body: &[u8],
        stored: &[u8],
    ) {
        let mut out = format!("expect: {expect}\nkind: {kind}\n");
        for (k, v) in derivation.iter().chain(header) {
            assert!(!v.contains('\n') && !v.is_empty(), "{name}: bad {k}");
            out.push_str(&format!("{k}: {v}\n"));
        }
        out.push_str(&format!("body-sha256: {}\n\n", sha256_hex(body)));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(stored);
        let mut f = fs::File::create(self.dir.join(name)).expect("create vector");
        f.write_all(&bytes).expect("write vector");
        self.bodies.insert(name.to_string(), body.to_vec());
        self.written.push(name.to_string());
    }
}

/// Deterministic test data (not all one value, not periodic within a chunk).
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(7) as u8)
        .collect()
}

/// A fixed 32-byte value derived from a label, for keys and ids.
fn fixed32(label: &str) -> [u8; 32] {
    Sha256::digest(label.as_bytes()).into()
}

const CHEAP_KDF: KdfParams = KdfParams {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

/// Executives of the vector vault and their passwords (carol's is Japanese, to
/// pin that passwords are used as UTF-8 bytes without normalization).
const EXECUTIVES: [(&str, &str); 3] = [
    ("alice", "Tr0ub4dor&3 apples"),
    ("bob", "correct horse battery staple"),
    ("carol", "ハンター2 の合言葉です"),
];

/// The generator writes exactly the manifest's vectors, each well-formed (header,
/// `expect:`, a body matching its `body-sha256`). Into a temporary directory,
/// unless `BCPVAULT_REGENERATE_VECTORS=1` asks to replace the frozen files.
#[test]
fn generator_writes_every_vector_of_the_manifest() {
    let regenerate = std::env::var_os("BCPVAULT_REGENERATE_VECTORS").is_some();
    let scratch = tempfile::tempdir().expect("temp dir");
    let dir = if regenerate {
        vector_dir()
    } else {
        scratch.path().to_path_buf()
    };
    fs::create_dir_all(&dir).expect("create the vector directory");
    let mut g = Gen {
        dir,
        bodies: HashMap::new(),
        written: Vec::new(),
    };
    gen_rsa(&mut g);
    gen_aead(&mut g);
    gen_wrap(&mut g);
    gen_envelope(&mut g);
    gen_stream(&mut g);
    gen_kdf(&mut g);
    gen_shamir(&mut g);
    gen_ed25519(&mut g);
    gen_keys(&mut g);
    assert_eq!(
        g.written, VECTORS,
        "the generator and the manifest disagree"
    );
    for file in KEY_FILES {
        assert!(g.dir.join(file).is_file(), "{file} not written");
    }
    for name in VECTORS {
        let bytes = fs::read(g.dir.join(name)).expect("written vector");
        let (header, stored) = split_file(&bytes).expect("well-formed vector file");
        let get = |k: &str| {
            header
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        assert!(get("expect").is_some(), "{name}: no expect: line");
        let want = get("body-sha256").expect("body-sha256 line");
        let body = if get("base").is_some() {
            &g.bodies[*name][..]
        } else {
            stored
        };
        assert_eq!(
            sha256_hex(body),
            want,
            "{name}: body does not match its hash"
        );
    }
}

fn gen_rsa(g: &mut Gen) {
    for (suffix, file) in [("a", KEY_FILES[0]), ("b", KEY_FILES[1])] {
        let sk = VaultPrivateKey::generate(2048).expect("RSA key");
        let der = sk.to_pkcs8_der();
        g.raw(file, der.expose());
        let pk = sk.public_key();
        g.write(
            &format!("rsa-key-{suffix}"),
            "success",
            "rsa-key",
            &[
                h(
                    "comment",
                    "RSA-2048 test key: PKCS#8 file, SPKI body, fingerprint",
                ),
                h("private-key", file),
                h("private-key-sha256", sha256_hex(der.expose())),
                h("bits", pk.bits().to_string()),
                h("wrapped-len", pk.wrapped_len().to_string()),
                h("fingerprint", hex::encode(pk.fingerprint())),
            ],
            &pk.to_der(),
        );
    }
}

fn gen_aead(g: &mut Gen) {
    let key: [u8; 32] = std::array::from_fn(|i| i as u8);
    let nonce: [u8; 12] = std::array::from_fn(|i| 0xA0 + i as u8);
    let aad = b"bcpvault/test-vector/aead";
    let plaintext = b"attack at dawn; back up the ledger first";
    let ct = crypto::seal(&SecretKey32::from_bytes(&key), &nonce, aad, plaintext);
    let common = [h("key", hex::encode(key)), h("nonce", hex::encode(nonce))];
    let mut header = common.to_vec();
    header.extend([
        h("aad", hex::encode(aad)),
        h("plaintext", hex::encode(plaintext)),
        h("payload", sha256_hex(plaintext)),
    ]);
    g.write("aead-seal", "success", "aead", &header, &ct);
    let mut header = common.to_vec();
    header.push(h("aad", hex::encode(b"bcpvault/test-vector/other")));
    g.derive(
        "aead-wrong-aad",
        "decryption-failed",
        "aead",
        "aead-seal",
        &[],
        &header,
    );
    let mut header = common.to_vec();
    header.push(h("aad", hex::encode(aad)));
    g.derive(
        "aead-flipped-tag",
        "decryption-failed",
        "aead",
        "aead-seal",
        &[format!("flip {}", ct.len() - 1)],
        &header,
    );
}

fn purpose_header(name: &str) -> [(String, String); 2] {
    let p = purpose(name).expect("purpose");
    [
        h("purpose", name),
        h(
            "label",
            String::from_utf8(p.label().to_vec()).expect("ASCII"),
        ),
    ]
}

fn gen_wrap(g: &mut Gen) {
    let pk = g.private_key(KEY_FILES[0]).public_key();
    for name in ["pack-key", "index-key", "object-key", "test"] {
        let secret = fixed32(&format!("bcpvault/test-vector/wrapped/{name}"));
        let wrapped = crypto::wrap_key(
            &pk,
            purpose(name).expect("purpose"),
            &SecretKey32::from_bytes(&secret),
        )
        .expect("wrap");
        let mut header = vec![h("key", KEY_FILES[0])];
        header.extend(purpose_header(name));
        header.extend([
            h("secret", hex::encode(secret)),
            h("payload", sha256_hex(&secret)),
        ]);
        g.write(
            &format!("wrap-{name}"),
            "success",
            "rsa-oaep-wrap",
            &header,
            &wrapped,
        );
    }
    let with = |key: &str, purpose: &str| {
        let mut header = vec![h("key", key)];
        header.extend(purpose_header(purpose));
        header
    };
    g.derive(
        "wrap-wrong-label",
        "unwrap-failed",
        "rsa-oaep-wrap",
        "wrap-pack-key",
        &[],
        &with(KEY_FILES[0], "index-key"),
    );
    g.derive(
        "wrap-wrong-key",
        "unwrap-failed",
        "rsa-oaep-wrap",
        "wrap-pack-key",
        &[],
        &with(KEY_FILES[1], "pack-key"),
    );
    g.derive(
        "wrap-wrong-length",
        "wrapped-key-length(256,255)",
        "rsa-oaep-wrap",
        "wrap-pack-key",
        &["truncate 255".to_string()],
        &with(KEY_FILES[0], "pack-key"),
    );
    g.derive(
        "wrap-flipped-byte",
        "unwrap-failed",
        "rsa-oaep-wrap",
        "wrap-pack-key",
        &["flip 100".to_string()],
        &with(KEY_FILES[0], "pack-key"),
    );
}

fn gen_envelope(g: &mut Gen) {
    let a = g.private_key(KEY_FILES[0]).public_key();
    let b = g.private_key(KEY_FILES[1]).public_key();
    let both = format!("{} {}", KEY_FILES[0], KEY_FILES[1]);

    let (key, env) = Envelope::seal(&[&a, &b], WrapPurpose::PackKey).expect("seal");
    let mut header = purpose_header("pack-key").to_vec();
    header.extend([
        h("recipients", both.as_str()),
        h("open-with", both.as_str()),
        h("secret", hex::encode(key.expose())),
        h("payload", sha256_hex(key.expose())),
    ]);
    g.write(
        "envelope-two-recipients",
        "success",
        "envelope",
        &header,
        &env.to_bytes(),
    );

    let (_, env_b) = Envelope::seal(&[&b], WrapPurpose::PackKey).expect("seal");
    let mut header = purpose_header("pack-key").to_vec();
    header.extend([h("recipients", KEY_FILES[1]), h("open-with", KEY_FILES[0])]);
    g.write(
        "envelope-not-a-recipient",
        "not-a-recipient",
        "envelope",
        &header,
        &env_b.to_bytes(),
    );

    let mut header = purpose_header("index-key").to_vec();
    header.push(h("open-with", KEY_FILES[0]));
    g.derive(
        "envelope-wrong-purpose",
        "unwrap-failed",
        "envelope",
        "envelope-two-recipients",
        &[],
        &header,
    );
    let mut header = purpose_header("pack-key").to_vec();
    header.push(h("open-with", KEY_FILES[0]));
    g.derive(
        "envelope-trailing-byte",
        "trailing-bytes(envelope,1)",
        "envelope",
        "envelope-two-recipients",
        &["append 00".to_string()],
        &header,
    );
    g.derive(
        "envelope-bad-version",
        "unsupported-version(envelope,2)",
        "envelope",
        "envelope-two-recipients",
        &["set 4 02".to_string()],
        &header,
    );
}

fn gen_stream(g: &mut Gen) {
    let key = fixed32("bcpvault/test-vector/stream-key");
    let object_id = fixed32("bcpvault/test-vector/object-id");
    let chunk = STREAM_CHUNK;
    let ct_chunk = chunk + 16;
    let k = SecretKey32::from_bytes(&key);
    let ids = |key: &[u8; 32], oid: &[u8; 32]| {
        vec![h("key", hex::encode(key)), h("object-id", hex::encode(oid))]
    };
    for (name, len, comment) in [
        (
            "stream-empty",
            0,
            "empty plaintext: one final chunk of 16 tag bytes",
        ),
        ("stream-one-chunk", 1000, "one short final chunk"),
        (
            "stream-full-chunk",
            chunk,
            "exactly one full chunk, which is the final one",
        ),
        (
            "stream-multi-chunk",
            2 * chunk + 100,
            "two full chunks and a 100-byte final chunk",
        ),
    ] {
        let pt = pattern(len);
        let mut w = StreamWriter::new(Vec::new(), &k, &object_id).expect("writer");
        for piece in pt.chunks(10_007) {
            w.write_all(piece).expect("write");
        }
        let body = w.finish().expect("finish");
        let mut header = vec![h("comment", comment)];
        header.extend(ids(&key, &object_id));
        header.extend([h("length", len.to_string()), h("payload", sha256_hex(&pt))]);
        g.write(name, "success", "stream", &header, &body);
    }
    let multi = "stream-multi-chunk";
    let failing: Vec<(&str, &str, &str, &str, Vec<String>)> = vec![
        (
            "stream-flipped-byte",
            "stream-chunk-auth(0)",
            "read",
            multi,
            vec!["flip 1000".into()],
        ),
        (
            "stream-flipped-header",
            "stream-chunk-auth(0)",
            "open",
            "stream-one-chunk",
            vec!["flip 8".into()],
        ),
        (
            "stream-truncated",
            "stream-truncated",
            "open",
            multi,
            vec![format!("truncate {}", 12 + 2 * ct_chunk)],
        ),
        (
            "stream-truncated-mid-chunk",
            "stream-chunk-auth(2)",
            "open",
            multi,
            vec![format!("truncate {}", 12 + 2 * ct_chunk + 66)],
        ),
        (
            "stream-dropped-chunk",
            "stream-chunk-auth(1)",
            "open",
            multi,
            vec![format!("delete {} {ct_chunk}", 12 + ct_chunk)],
        ),
        (
            "stream-reordered-chunks",
            "stream-chunk-auth(0)",
            "read",
            multi,
            vec![format!("swap 12 {} {ct_chunk}", 12 + ct_chunk)],
        ),
        (
            "stream-wrong-object-id",
            "stream-chunk-auth(2)",
            "open",
            multi,
            vec![],
        ),
        (
            "stream-wrong-key",
            "stream-chunk-auth(0)",
            "open",
            "stream-one-chunk",
            vec![],
        ),
        (
            "stream-trailing-data",
            "stream-trailing-data",
            "open",
            "stream-full-chunk",
            vec![format!("append {}", hex::encode([0u8; 17]))],
        ),
        (
            "stream-header-only",
            "stream-truncated",
            "open",
            "stream-empty",
            vec!["truncate 12".into()],
        ),
        (
            "stream-bad-magic",
            "bad-magic(stream header)",
            "open",
            "stream-empty",
            vec!["set 0 58".into()],
        ),
        (
            "stream-bad-version",
            "unsupported-version(stream header,2)",
            "open",
            "stream-empty",
            vec!["set 4 02".into()],
        ),
        (
            "stream-too-short",
            "too-short(stream header,12,5)",
            "open",
            "stream-empty",
            vec!["truncate 5".into()],
        ),
    ];
    for (name, expect, stage, base, edits) in &failing {
        let (key, oid) = match *name {
            "stream-wrong-object-id" => (key, fixed32("bcpvault/test-vector/other-object")),
            "stream-wrong-key" => (fixed32("bcpvault/test-vector/other-key"), object_id),
            _ => (key, object_id),
        };
        let mut header = ids(&key, &oid);
        header.push(h("stage", *stage));
        g.derive(name, expect, "stream", base, edits, &header);
    }
}

fn gen_kdf(g: &mut Gen) {
    let password = "correct horse battery staple";
    let salt: [u8; 16] = std::array::from_fn(|i| 0x10 + i as u8);
    let key =
        crypto::derive_key(&Password::new(password.into()), &salt, &CHEAP_KDF).expect("Argon2id");
    g.write(
        "argon2id-derive",
        "success",
        "argon2id",
        &[
            h(
                "comment",
                "Argon2id v0x13, 32-byte output, no secret or associated data",
            ),
            h("password", password),
            h("salt", hex::encode(salt)),
            h("kdf", kdf_text(&CHEAP_KDF)),
        ],
        key.expose(),
    );

    let aad = b"bcpvault/test-vector/password-box";
    let plaintext = b"a sealed Shamir share would live here";
    let sealed = crypto::password_seal(&Password::new(password.into()), &CHEAP_KDF, aad, plaintext)
        .expect("seal");
    g.write(
        "password-box",
        "success",
        "password-box",
        &[
            h("password", password),
            h("aad", hex::encode(aad)),
            h("kdf", kdf_text(&CHEAP_KDF)),
            h("plaintext", hex::encode(plaintext)),
            h("payload", sha256_hex(plaintext)),
        ],
        &sealed,
    );
    let with = |pw: &str, aad: &[u8]| vec![h("password", pw), h("aad", hex::encode(aad))];
    g.derive(
        "password-box-wrong-password",
        "wrong-password",
        "password-box",
        "password-box",
        &[],
        &with("correct horse battery stable", aad),
    );
    g.derive(
        "password-box-wrong-aad",
        "wrong-password",
        "password-box",
        "password-box",
        &[],
        &with(password, b"bcpvault/test-vector/other"),
    );
    let mut header = with(password, aad);
    header.push(h(
        "kdf",
        kdf_text(&KdfParams {
            iterations: 2,
            ..CHEAP_KDF
        }),
    ));
    g.derive(
        "password-box-changed-params",
        "wrong-password",
        "password-box",
        "password-box",
        &["set 12 02".to_string()],
        &header,
    );
    let mut header = with(password, aad);
    header.push(h("stage", "parse"));
    g.derive(
        "password-box-hostile-memory",
        "kdf-param-out-of-range(memory_kib,4294967295)",
        "password-box",
        "password-box",
        &["set 5 ffffffff".to_string()],
        &header,
    );
}

fn gen_shamir(g: &mut Gen) {
    let secret = fixed32("bcpvault/test-vector/shamir-secret");
    let key = SecretKey32::from_bytes(&secret);
    let shares = crypto::split(&key, 2, 3).expect("split");
    let body: Vec<u8> = shares
        .iter()
        .flat_map(|s| s.to_bytes().expose().to_vec())
        .collect();
    let secret_lines = |threshold: u8| {
        vec![
            h("threshold", threshold.to_string()),
            h("secret", hex::encode(secret)),
            h("payload", sha256_hex(&secret)),
        ]
    };
    let mut header = vec![h(
        "comment",
        "three shares; every 2 or more of them combine to the secret",
    )];
    header.extend(secret_lines(2));
    header.push(h("indices", "1 2 3"));
    g.write("shamir-2-of-3", "success", "shamir", &header, &body);

    let one = crypto::split(&key, 1, 1).expect("split");
    let mut header = vec![h(
        "comment",
        "threshold 1: the share's 32 y bytes equal the secret",
    )];
    header.extend(secret_lines(1));
    header.push(h("indices", "1"));
    g.write(
        "shamir-1-of-1",
        "success",
        "shamir",
        &header,
        one[0].to_bytes().expose(),
    );

    g.derive(
        "shamir-one-share",
        "not-enough-shares(1,2)",
        "shamir",
        "shamir-2-of-3",
        &["truncate 33".to_string()],
        &secret_lines(2),
    );
    let first = shares[0].to_bytes();
    let twice = [first.expose(), first.expose()].concat();
    g.write(
        "shamir-duplicate-share",
        "duplicate-share(1)",
        "shamir",
        &secret_lines(2),
        &twice,
    );
    let mut header = secret_lines(2);
    header.push(h("stage", "parse"));
    g.derive(
        "shamir-index-zero",
        "invalid-share",
        "shamir",
        "shamir-2-of-3",
        &["set 0 00".to_string()],
        &header,
    );
}

fn gen_ed25519(g: &mut Gen) {
    let seed = fixed32("bcpvault/test-vector/ed25519-seed");
    let sk = WriterSigningKey::from_secret(&SecretKey32::from_bytes(&seed));
    let message = b"bcpvault snapshot: root tree, time, host, previous snapshot id";
    let sig = sk.sign(message);
    let header = [
        h("seed", hex::encode(seed)),
        h("verifying-key", hex::encode(sk.verifying_key().to_bytes())),
        h("message", hex::encode(message)),
    ];
    g.write("ed25519-signature", "success", "ed25519", &header, &sig);
    g.derive(
        "ed25519-bad-signature",
        "bad-signature",
        "ed25519",
        "ed25519-signature",
        &["flip 40".to_string()],
        &header,
    );
}

/// The key ceremony of a 2-of-3 vault: writer.secret, the recovery bundle and its
/// escrow text all come from this one vault.
fn gen_keys(g: &mut Gen) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let files = KeyFiles::new(&tmp.path().join("store"));
    let outcome = Ceremony {
        vault_name: "vectors".to_string(),
        executives: EXECUTIVES
            .iter()
            .map(|(name, pw)| Executive {
                name: name.to_string(),
                password: Password::new(pw.to_string()),
            })
            .collect(),
        threshold: 2,
        key_bits: 2048,
        kdf: CHEAP_KDF,
    }
    .run(&files)
    .expect("ceremony");
    let bundle = outcome.bundle;
    let bundle_bytes = fs::read(files.bundle_path()).expect("bundle file");
    assert_eq!(bundle_bytes, bundle.to_bytes());
    let writer_bytes = fs::read(files.writer_path()).expect("writer.secret");
    let writer = WriterSecrets::from_file_bytes(&writer_bytes, "writer.secret").expect("writer");

    // writer.secret
    let writer_header = [
        h(
            "comment",
            "keys/writer.secret of the vault in bundle-2-of-3",
        ),
        h("vault-id", hex::encode(writer.vault_id)),
        h("dedup-key", hex::encode(writer.dedup_key.expose())),
        h("gear-seed", hex::encode(writer.gear_seed.to_be_bytes())),
        h(
            "signing-seed",
            hex::encode(writer.signing.to_secret().expose()),
        ),
        h(
            "verifying-key",
            hex::encode(writer.signing.verifying_key().to_bytes()),
        ),
    ];
    g.write(
        "writer-secret",
        "success",
        "writer-secret",
        &writer_header,
        &writer_bytes,
    );
    g.derive(
        "writer-secret-flipped-byte",
        "malformed",
        "writer-secret",
        "writer-secret",
        &["flip 30".to_string()],
        &[h("detail", "checksum mismatch")],
    );
    g.derive(
        "writer-secret-truncated",
        "malformed",
        "writer-secret",
        "writer-secret",
        &[format!("truncate {}", writer_bytes.len() - 1)],
        &[h("detail", "not a writer secret file")],
    );

    // The recovery bundle.
    let first_two: Vec<String> = EXECUTIVES[..2]
        .iter()
        .map(|(n, p)| format!("{n} {p}"))
        .collect();
    let first_two: Vec<&str> = first_two.iter().map(String::as_str).collect();
    let unlocked = Unlocker::unlock(bundle.clone(), &approvals(&first_two).expect("approvals"))
        .expect("unlock");
    let shares: Vec<String> = bundle
        .shares
        .iter()
        .map(|s| format!("{}:{}", s.name, s.index))
        .collect();
    let facts = vec![
        h("vault-name", bundle.vault_name.as_str()),
        h("vault-id", hex::encode(bundle.vault_id)),
        h("generation", bundle.generation.to_string()),
        h("created", bundle.created.to_string()),
        h("threshold", bundle.threshold.to_string()),
        h("shares", shares.join(" ")),
        h("bits", "2048"),
        h("fingerprint", hex::encode(bundle.fingerprint())),
        h(
            "writer-verifying-key",
            hex::encode(bundle.writer_verifying_key),
        ),
        h(
            "private-key-sha256",
            sha256_hex(unlocked.private_key.to_pkcs8_der().expose()),
        ),
        h("kdf", kdf_text(&CHEAP_KDF)),
        h("writer-secret", "writer-secret"),
    ];
    let approve = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, p)| h("approve", format!("{n} {p}")))
            .collect()
    };
    let mut header = vec![h(
        "comment",
        "2-of-3 vault; every 2 or 3 of the approvals unlock it",
    )];
    header.extend(facts.iter().cloned());
    header.extend(approve(&EXECUTIVES));
    g.write(
        "bundle-2-of-3",
        "success",
        "recovery-bundle",
        &header,
        &bundle_bytes,
    );
    let failing: [(&str, &str, Logins); 3] = [
        (
            "bundle-wrong-password",
            "wrong-password(alice)",
            &[("alice", "Tr0ub4dor&3 apple"), EXECUTIVES[1]],
        ),
        (
            "bundle-not-enough-approvals",
            "not-enough-approvals(1,2)",
            &[EXECUTIVES[2]],
        ),
        (
            "bundle-unknown-executive",
            "unknown-executive(dave)",
            &[("dave", "not one of the three"), EXECUTIVES[0]],
        ),
    ];
    for (name, expect, pairs) in failing {
        let mut header = facts.clone();
        header.extend(approve(pairs));
        g.derive(
            name,
            expect,
            "recovery-bundle",
            "bundle-2-of-3",
            &[],
            &header,
        );
    }
    g.derive(
        "bundle-flipped-byte",
        "malformed",
        "recovery-bundle",
        "bundle-2-of-3",
        &["flip 200".to_string()],
        &[h("detail", "checksum mismatch")],
    );

    // The escrow text of the same bundle.
    let text = EscrowText::render(&bundle);
    let bundle_ref = [h("bundle", "bundle-2-of-3")];
    g.write(
        "escrow-text-2-of-3",
        "success",
        "escrow-text",
        &bundle_ref,
        text.as_bytes(),
    );
    let line5 = text.find("\n0005 ").expect("data line 5") + 1;
    let line6 = text.find("\n0006 ").expect("data line 6") + 1;
    let digit = line5 + 5;
    let new_digit = if text.as_bytes()[digit] == b'0' {
        b'1'
    } else {
        b'0'
    };
    let text_line = text[..line5].matches('\n').count() + 1;
    let mut header = bundle_ref.to_vec();
    header.push(h("detail", format!("line {text_line}: check")));
    g.derive(
        "escrow-text-typo",
        "malformed",
        "escrow-text",
        "escrow-text-2-of-3",
        &[format!("set {digit} {}", hex::encode([new_digit]))],
        &header,
    );
    let mut header = bundle_ref.to_vec();
    header.push(h("detail", "data line 6 found where line 5 was expected"));
    g.derive(
        "escrow-text-missing-line",
        "malformed",
        "escrow-text",
        "escrow-text-2-of-3",
        &[format!("delete {line5} {}", line6 - line5)],
        &header,
    );
    let end = text.find("\nEND\n").expect("END") + 1;
    let mut header = bundle_ref.to_vec();
    header.push(h("detail", "END line missing"));
    g.derive(
        "escrow-text-no-end",
        "malformed",
        "escrow-text",
        "escrow-text-2-of-3",
        &[format!("truncate {end}")],
        &header,
    );
}
