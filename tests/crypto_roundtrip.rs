//! Round trips of every crypto primitive: what goes in comes back out.

use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::sync::OnceLock;

use bcpvault::crypto::{
    self, Envelope, KdfParams, Password, STREAM_CHUNK, SecretKey32, StreamReader, StreamWriter,
    VaultPrivateKey, VaultPublicKey, WrapPurpose, WriterSigningKey, WriterVerifyingKey,
};

/// Cheap Argon2id settings, set the same way a user would configure them.
const CHEAP_KDF: KdfParams = KdfParams {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

fn keys() -> &'static [VaultPrivateKey; 2] {
    static KEYS: OnceLock<[VaultPrivateKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            VaultPrivateKey::generate(2048).unwrap(),
            VaultPrivateKey::generate(2048).unwrap(),
        ]
    })
}

/// Deterministic, non-repeating-looking test data.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(7) as u8)
        .collect()
}

fn encrypt_stream(key: &SecretKey32, object_id: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut w = StreamWriter::new(Vec::new(), key, object_id).unwrap();
    // Odd-sized writes exercise buffering across chunk boundaries.
    for piece in plaintext.chunks(10_007) {
        w.write_all(piece).unwrap();
    }
    w.finish().unwrap()
}

#[test]
fn aead_seal_open() {
    let key = SecretKey32::random();
    let nonce = crypto::random_bytes::<12>();
    let ct = crypto::seal(&key, &nonce, b"object-1", b"attack at dawn");
    let pt = crypto::open(&key, &nonce, b"object-1", &ct).unwrap();
    assert_eq!(pt.expose(), b"attack at dawn");
}

#[test]
fn wrap_unwrap_each_purpose() {
    let sk = &keys()[0];
    let pk = sk.public_key();
    assert_eq!(pk.bits(), 2048);
    assert_eq!(pk.wrapped_len(), 256);
    for purpose in [
        WrapPurpose::PackKey,
        WrapPurpose::IndexKey,
        WrapPurpose::ObjectKey,
        WrapPurpose::Test,
    ] {
        let key = SecretKey32::random();
        let wrapped = crypto::wrap_key(&pk, purpose, &key).unwrap();
        assert_eq!(wrapped.len(), pk.wrapped_len());
        let back = crypto::unwrap_key(sk, purpose, &wrapped).unwrap();
        assert_eq!(back.expose(), key.expose());
    }
}

#[test]
fn envelope_one_recipient() {
    let sk = &keys()[0];
    let pk = sk.public_key();
    let (key, env) = Envelope::seal(&[&pk], WrapPurpose::PackKey).unwrap();
    let parsed = Envelope::from_bytes(&env.to_bytes()).unwrap();
    assert_eq!(parsed, env);
    assert_eq!(parsed.fingerprints(), vec![pk.fingerprint()]);
    let opened = parsed.open(sk, WrapPurpose::PackKey).unwrap();
    assert_eq!(opened.expose(), key.expose());
}

#[test]
fn envelope_two_recipients_each_can_open() {
    let [a, b] = keys();
    let (pa, pb) = (a.public_key(), b.public_key());
    let (key, env) = Envelope::seal(&[&pa, &pb], WrapPurpose::IndexKey).unwrap();
    let bytes = env.to_bytes();
    assert_eq!(bytes.len(), 7 + 2 * (32 + 2 + 256));
    let parsed = Envelope::from_bytes(&bytes).unwrap();
    for sk in [a, b] {
        let opened = parsed.open(sk, WrapPurpose::IndexKey).unwrap();
        assert_eq!(opened.expose(), key.expose());
    }
}

#[test]
fn private_and_public_keys_serialize() {
    let sk = &keys()[0];
    let der = sk.to_pkcs8_der();
    let sk2 = VaultPrivateKey::from_pkcs8_der(der.expose()).unwrap();
    assert_eq!(sk2.public_key(), sk.public_key());
    let pk = sk.public_key();
    let pk2 = VaultPublicKey::from_der(&pk.to_der()).unwrap();
    assert_eq!(pk2, pk);
    assert_eq!(pk2.fingerprint(), pk.fingerprint());
    // Fingerprint is SHA-256 of the SPKI DER.
    use sha2::Digest;
    let expected: [u8; 32] = sha2::Sha256::digest(pk.to_der()).into();
    assert_eq!(pk.fingerprint(), expected);
    // A key wrapped to the re-loaded public key opens with the original private key.
    let (key, env) = Envelope::seal(&[&pk2], WrapPurpose::Test).unwrap();
    assert_eq!(
        env.open(sk, WrapPurpose::Test).unwrap().expose(),
        key.expose()
    );
}

#[test]
fn stream_sizes_round_trip() {
    let key = SecretKey32::random();
    for len in [
        0,
        1,
        STREAM_CHUNK - 1,
        STREAM_CHUNK,
        STREAM_CHUNK + 1,
        1024 * 1024 + 17,
    ] {
        let plaintext = pattern(len);
        let ct = encrypt_stream(&key, b"obj", &plaintext);
        assert_eq!(
            ct.len() as u64,
            crypto::stream::encrypted_len(len as u64),
            "len {len}"
        );
        let mut r = StreamReader::new(Cursor::new(&ct), &key, b"obj").unwrap();
        assert_eq!(r.plaintext_len(), len as u64);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert!(out == plaintext, "round trip of {len} bytes differs");
    }
}

#[test]
fn stream_empty_is_one_empty_final_chunk() {
    let key = SecretKey32::random();
    let ct = encrypt_stream(&key, b"obj", b"");
    assert_eq!(ct.len(), 12 + 16);
    assert_eq!(&ct[..5], b"BCPS\x01");
}

#[test]
fn stream_random_access() {
    let key = SecretKey32::random();
    let len = 3 * STREAM_CHUNK + 1234;
    let plaintext = pattern(len);
    let ct = encrypt_stream(&key, b"random-access", &plaintext);
    let mut r = StreamReader::new(Cursor::new(&ct), &key, b"random-access").unwrap();
    // A fixed pseudo-random walk over offsets, including chunk edges and the end.
    let mut offsets: Vec<u64> = vec![
        0,
        STREAM_CHUNK as u64 - 1,
        STREAM_CHUNK as u64,
        2 * STREAM_CHUNK as u64 + 5,
        len as u64 - 1,
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..40 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        offsets.push(x % len as u64);
    }
    for off in offsets {
        assert_eq!(r.seek(SeekFrom::Start(off)).unwrap(), off);
        let want = (len - off as usize).min(100_000);
        let mut buf = vec![0u8; want];
        r.read_exact(&mut buf).unwrap();
        assert!(
            buf[..] == plaintext[off as usize..off as usize + want],
            "read at {off}"
        );
    }
    // Relative seeks and seeking past the end.
    r.seek(SeekFrom::End(-10)).unwrap();
    let mut tail = Vec::new();
    r.read_to_end(&mut tail).unwrap();
    assert_eq!(tail, plaintext[len - 10..]);
    r.seek(SeekFrom::Start(20)).unwrap();
    assert_eq!(r.seek(SeekFrom::Current(5)).unwrap(), 25);
    let mut one = [0u8; 1];
    r.read_exact(&mut one).unwrap();
    assert_eq!(one[0], plaintext[25]);
    assert_eq!(
        r.seek(SeekFrom::Start(len as u64 + 100)).unwrap(),
        len as u64 + 100
    );
    assert_eq!(r.read(&mut one).unwrap(), 0);
    assert!(r.seek(SeekFrom::Current(-(len as i64) - 1000)).is_err());
}

#[test]
fn stream_reader_starts_at_current_position() {
    let key = SecretKey32::random();
    let plaintext = pattern(5000);
    let mut data = b"some prefix".to_vec();
    data.extend(encrypt_stream(&key, b"o", &plaintext));
    let mut cur = Cursor::new(data);
    cur.seek(SeekFrom::Start(11)).unwrap();
    let mut r = StreamReader::new(cur, &key, b"o").unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    assert_eq!(out, plaintext);
}

#[test]
fn kdf_seal_open() {
    let pw = Password::new("correct horse battery staple".to_owned());
    let sealed = crypto::password_seal(&pw, &CHEAP_KDF, b"share:alice", b"the share").unwrap();
    assert_eq!(sealed.len(), 45 + 9 + 16);
    assert_eq!(
        crypto::kdf::password_box_params(&sealed).unwrap(),
        CHEAP_KDF
    );
    let opened = crypto::password_open(&pw, b"share:alice", &sealed).unwrap();
    assert_eq!(opened.expose(), b"the share");
}

#[test]
fn kdf_default_params() {
    assert_eq!(
        KdfParams::default(),
        KdfParams {
            memory_kib: 65536,
            iterations: 3,
            parallelism: 1
        }
    );
}

/// Every subset of exactly `m` shares (and all `n`) recovers the secret.
fn check_all_subsets(m: u8, n: u8) {
    let secret = SecretKey32::random();
    let shares = crypto::split(&secret, m, n).unwrap();
    assert_eq!(shares.len(), usize::from(n));
    let indices: Vec<u8> = shares.iter().map(|s| s.index).collect();
    assert_eq!(indices, (1..=n).collect::<Vec<u8>>());
    let mut tried = 0;
    for mask in 0u32..(1 << n) {
        if mask.count_ones() < u32::from(m) {
            continue;
        }
        let subset: Vec<crypto::Share> = shares
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, s)| crypto::Share::from_bytes(s.to_bytes().expose()).unwrap())
            .collect();
        let got = crypto::combine(&subset, m).unwrap();
        assert_eq!(got.expose(), secret.expose(), "{m}-of-{n}, subset {mask:b}");
        tried += 1;
    }
    assert!(tried > 0);
}

#[test]
fn shamir_2_of_3_every_subset() {
    check_all_subsets(2, 3);
}

#[test]
fn shamir_3_of_5_every_subset() {
    check_all_subsets(3, 5);
}

#[test]
fn shamir_1_of_1() {
    check_all_subsets(1, 1);
}

#[test]
fn shamir_other_shapes() {
    for (m, n) in [(1, 3), (3, 3), (4, 7), (5, 8)] {
        check_all_subsets(m, n);
    }
    // Largest allowed shape, one subset.
    let secret = SecretKey32::random();
    let shares = crypto::split(&secret, 20, 20).unwrap();
    assert_eq!(
        crypto::combine(&shares, 20).unwrap().expose(),
        secret.expose()
    );
}

#[test]
fn signing_round_trip() {
    let sk = WriterSigningKey::generate();
    let vk = sk.verifying_key();
    let sig = sk.sign(b"snapshot 42");
    vk.verify(b"snapshot 42", &sig).unwrap();
    let vk2 = WriterVerifyingKey::from_bytes(&vk.to_bytes()).unwrap();
    vk2.verify(b"snapshot 42", &sig).unwrap();
    // The seed reproduces the same key pair.
    let sk2 = WriterSigningKey::from_secret(&sk.to_secret());
    assert_eq!(sk2.verifying_key(), vk);
    assert_eq!(sk2.sign(b"snapshot 42"), sig);
}
