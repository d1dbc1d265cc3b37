use secrecy::SecretSlice;

use super::*;

const NAME: &str = "ns:v1:entry:abc:def";

fn key(id: &str, byte: u8) -> EncryptionKey {
    EncryptionKey {
        id: id.to_owned(),
        secret: SecretSlice::from(vec![byte; 32]),
    }
}

fn ring(keys: &[EncryptionKey]) -> Keyring {
    Keyring::new(keys).unwrap()
}

fn report(body: &str) -> Entry {
    let plain = Bytes::from(body.to_owned());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &plain).unwrap();
    let gzip = Bytes::from(gz.finish().unwrap());
    let now = SystemTime::now();
    Entry::new(
        Stored::Report(Report {
            content_type: http::HeaderValue::from_static("application/json; charset=utf-8"),
            withheld: 3,
            columns: crate::redact::WithheldColumns::new(["Customer.Phone".to_owned()]),
            plain: Representation::new(plain, ""),
            gzip: Representation::new(gzip, "-gzip"),
        }),
        Lifetime::new(
            now,
            Duration::from_secs(60),
            Duration::from_secs(30),
            Duration::from_secs(300),
            None,
        ),
    )
}

#[test]
fn a_report_round_trips_with_the_same_etags_and_lifetime() {
    let keys = ring(&[key("k1", 7)]);
    let entry = report("[{\"Customer.FullName\":\"Bloggs, Fred\"}]");
    let sealed = keys.seal(NAME, &entry).unwrap();
    assert!(!sealed.windows(6).any(|w| w == b"Bloggs"));
    assert!(sealed.starts_with(b"cg\x01\x02k1"));
    let opened = keys.open(NAME, &sealed, 1 << 20).unwrap();
    let (Stored::Report(a), Stored::Report(b)) = (&entry.stored, &opened.stored) else {
        panic!("a report");
    };
    assert_eq!(a.plain.bytes, b.plain.bytes);
    assert_eq!(a.plain.etag, b.plain.etag);
    assert_eq!(a.gzip.etag, b.gzip.etag);
    assert_eq!(a.content_type, b.content_type);
    assert_eq!(b.withheld, 3);
    assert_eq!(&*b.columns.names()[0], "Customer.Phone");
    assert_eq!(
        millis(opened.lifetime.stale_until),
        millis(entry.lifetime.stale_until)
    );
    assert_eq!(
        millis(opened.lifetime.fresh_until),
        millis(entry.lifetime.fresh_until)
    );
    // A fresh nonce every time.
    assert_ne!(keys.seal(NAME, &entry).unwrap(), sealed);
}

#[test]
fn a_remembered_not_found_round_trips() {
    let keys = ring(&[key("k1", 7)]);
    let entry = Entry::new(
        Stored::NotFound {
            status: http::StatusCode::BAD_REQUEST,
            info: Some("Report not found".into()),
        },
        Lifetime::new(
            SystemTime::now(),
            Duration::from_secs(30),
            Duration::ZERO,
            Duration::ZERO,
            None,
        ),
    );
    let opened = keys
        .open(NAME, &keys.seal(NAME, &entry).unwrap(), 0)
        .unwrap();
    let Stored::NotFound { status, info } = opened.stored else {
        panic!("not found");
    };
    assert_eq!(status, 400);
    assert_eq!(info.as_deref(), Some("Report not found"));
}

#[test]
fn tampering_anywhere_fails_authentication() {
    let keys = ring(&[key("k1", 7)]);
    let sealed = keys.seal(NAME, &report("secret body")).unwrap();
    let header = 2 + 2 + 2;
    for at in [header, header + NONCE_LEN + 3, sealed.len() - 1] {
        let mut bad = sealed.clone();
        bad[at] ^= 1;
        assert_eq!(
            keys.open(NAME, &bad, 1 << 20).unwrap_err(),
            CodecError::Authentication,
            "byte {at}"
        );
    }
    // Another key name: the entry cannot be replayed under a key it was not written for.
    assert_eq!(
        keys.open("ns:v1:entry:abc:000", &sealed, 1 << 20)
            .unwrap_err(),
        CodecError::Authentication
    );
    // The same id with another secret.
    let other = ring(&[key("k1", 8)]);
    assert_eq!(
        other.open(NAME, &sealed, 1 << 20).unwrap_err(),
        CodecError::Authentication
    );
    // Truncated or foreign values.
    assert!(matches!(
        keys.open(NAME, &sealed[..10], 1 << 20),
        Err(CodecError::Format(_))
    ));
    assert!(matches!(
        keys.open(NAME, b"{\"json\":1}", 1 << 20),
        Err(CodecError::Format(_))
    ));
}

#[test]
fn keys_rotate_by_id() {
    let old = ring(&[key("k1", 7)]);
    let sealed = old.seal(NAME, &report("body")).unwrap();
    // New key first (it seals from now on), the old one still opens what it sealed.
    let rotated = ring(&[key("k2", 9), key("k1", 7)]);
    assert!(rotated.open(NAME, &sealed, 1 << 20).is_ok());
    assert!(rotated
        .seal(NAME, &report("body"))
        .unwrap()
        .starts_with(b"cg\x01\x02k2"));
    // Once the old key is gone its entries are misses.
    let retired = ring(&[key("k2", 9)]);
    assert_eq!(
        retired.open(NAME, &sealed, 1 << 20).unwrap_err(),
        CodecError::UnknownKey("k1".into())
    );
}

#[test]
fn bodies_larger_than_the_entry_limit_are_refused() {
    let keys = ring(&[key("k1", 7)]);
    let sealed = keys.seal(NAME, &report(&"x".repeat(1000))).unwrap();
    assert!(keys.open(NAME, &sealed, 1000).is_ok());
    assert_eq!(keys.open(NAME, &sealed, 999).unwrap_err(), CodecError::Body);
}

#[test]
fn the_keyring_never_prints_a_secret() {
    let keys = ring(&[key("k1", b'A')]);
    let printed = format!("{keys:?} {:?}", key("k1", b'A'));
    assert!(printed.contains("k1"));
    assert!(!printed.contains("AAAA") && !printed.contains("65, 65"));
}
