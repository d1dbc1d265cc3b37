use std::collections::HashMap;
use std::fmt;

use proptest::prelude::*;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};

use super::JsonRedactor;
use crate::redact::{ColumnAction, Columns, RedactError, Redactor};

const EXAMPLE: &[u8] = include_bytes!("../../sandbox/fixtures/example.json");

/// Rules by lowercase name; a name ending in `*` is a prefix. Unnamed columns are kept.
struct Fake {
    rules: HashMap<String, ColumnAction>,
    prefixes: Vec<(String, ColumnAction)>,
}

impl Fake {
    fn new(rules: &[(&str, ColumnAction)]) -> Self {
        let mut fake = Fake {
            rules: HashMap::new(),
            prefixes: Vec::new(),
        };
        for (name, action) in rules {
            match name.strip_suffix('*') {
                Some(prefix) => fake.prefixes.push((prefix.to_lowercase(), *action)),
                None => {
                    fake.rules.insert(name.to_lowercase(), *action);
                }
            }
        }
        fake
    }
}

impl Columns for Fake {
    fn action(&mut self, column: &str) -> ColumnAction {
        let column = column.to_lowercase();
        if let Some(action) = self.rules.get(&column) {
            return *action;
        }
        self.prefixes
            .iter()
            .find(|(prefix, _)| column.starts_with(prefix.as_str()))
            .map_or(ColumnAction::Keep, |(_, action)| *action)
    }
    fn mask(&self) -> &str {
        "***"
    }
    fn pseudonym(&self, value: &str) -> String {
        format!("h({value})")
    }
}

fn redact_chunks(rules: &[(&str, ColumnAction)], body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut redactor = JsonRedactor::new(Fake::new(rules));
    let mut out = Vec::new();
    let mut rest = body;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap()).clamp(1, rest.len());
        redactor.feed(&rest[..n], &mut out).unwrap();
        rest = &rest[n..];
    }
    redactor.finish(&mut out).unwrap();
    out
}

fn redact(rules: &[(&str, ColumnAction)], body: &[u8]) -> Vec<u8> {
    redact_chunks(rules, body, &[usize::MAX])
}

/// Every row as its (key, value) pairs in order, duplicates included: the independent oracle.
type Rows = Vec<Vec<(String, String)>>;

fn rows(body: &[u8]) -> Rows {
    struct RowsVisitor;
    struct Row(Vec<(String, String)>);
    impl<'de> serde::Deserialize<'de> for Row {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Row;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
                    let mut pairs = Vec::new();
                    while let Some(pair) = map.next_entry::<String, String>()? {
                        pairs.push(pair);
                    }
                    Ok(Row(pairs))
                }
            }
            d.deserialize_map(V)
        }
    }
    impl<'de> Visitor<'de> for RowsVisitor {
        type Value = Rows;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Rows, A::Error> {
            let mut rows = Vec::new();
            while let Some(Row(pairs)) = seq.next_element()? {
                rows.push(pairs);
            }
            Ok(rows)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let rows = de.deserialize_seq(RowsVisitor).unwrap();
    de.end().unwrap();
    rows
}

fn is_customer(key: &str) -> bool {
    key.to_lowercase().starts_with("customer.")
}

#[test]
fn keep_all_is_byte_identical() {
    assert_eq!(redact(&[], EXAMPLE), EXAMPLE);
    assert_eq!(rows(&redact(&[], EXAMPLE)), rows(EXAMPLE));
    assert_eq!(redact(&[], b" [ ] \n"), b" [ ] \n");
    assert_eq!(redact(&[], b"[{}, { } ]"), b"[{}, { } ]");
}

#[test]
fn drop_mask_hash_customer_columns() {
    let original = rows(EXAMPLE);
    let expect = |f: &dyn Fn(&str, &str) -> Option<String>| -> Rows {
        original
            .iter()
            .map(|row| {
                row.iter()
                    .filter_map(|(k, v)| f(k, v).map(|v| (k.clone(), v)))
                    .collect()
            })
            .collect()
    };
    let keep = |k: &str, v: &str| (!is_customer(k)).then(|| v.to_owned());

    let dropped = redact(&[("Customer.*", ColumnAction::Drop)], EXAMPLE);
    assert_eq!(rows(&dropped), expect(&keep));
    assert!(rows(&dropped)[0]
        .iter()
        .any(|(k, _)| k == "CustomerSatisfaction.OverallRating"));

    let masked = redact(&[("customer.*", ColumnAction::Mask)], EXAMPLE);
    assert_eq!(
        rows(&masked),
        expect(&|k, v| Some(keep(k, v).unwrap_or_else(|| "***".to_owned())))
    );

    let hashed = redact(&[("CUSTOMER.*", ColumnAction::Hash)], EXAMPLE);
    assert_eq!(
        rows(&hashed),
        expect(&|k, v| Some(keep(k, v).unwrap_or_else(|| format!("h({v})"))))
    );
    // Decoded for hashing, escaped again on the way out.
    let text = String::from_utf8(hashed).unwrap();
    assert!(text.contains(r#""Customer.Address": "h(Test\r\na\r\nb\r\ncsss\r\nd)","#));
    assert!(!text.contains("prasad.iyer@civica.co.uk\""));
}

#[test]
fn kept_escapes_are_byte_exact() {
    let text =
        String::from_utf8(redact(&[("Customer.Phone", ColumnAction::Drop)], EXAMPLE)).unwrap();
    assert!(text.contains(r#""Customer.Address": "Test\r\na\r\nb\r\ncsss\r\nd","#));
    let body = br#"[{"a": "caf\u00e9 \/ \ud83d\ude00 \"q\" \\", "b": "caf\u00e9 \/ \ud83d\ude00 \"q\" \\"}]"#;
    let out = redact(&[("b", ColumnAction::Hash)], body);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"[{"a": "caf\u00e9 \/ \ud83d\ude00 \"q\" \\", "b": "h(café / 😀 \"q\" \\)"}]"#
    );
}

#[test]
fn repeated_keys_are_all_redacted() {
    let key = "\"CaseDetails.TotalRedress\"";
    assert_eq!(
        String::from_utf8(EXAMPLE.to_vec())
            .unwrap()
            .matches(key)
            .count(),
        2
    );
    let dropped = redact(&[("CaseDetails.TotalRedress", ColumnAction::Drop)], EXAMPLE);
    assert_eq!(String::from_utf8(dropped).unwrap().matches(key).count(), 0);
    let masked = redact(&[("CaseDetails.TotalRedress", ColumnAction::Mask)], EXAMPLE);
    let masked = String::from_utf8(masked).unwrap();
    assert_eq!(masked.matches(&format!("{key}: \"***\"")).count(), 2);
    let out = redact(
        &[("a", ColumnAction::Hash)],
        br#"[{"a":"1","b":"2","a":"3"}]"#,
    );
    assert_eq!(out, br#"[{"a":"h(1)","b":"2","a":"h(3)"}]"#);
}

#[test]
fn escaped_keys_are_decoded_before_the_rules() {
    let out = redact(
        &[("Customer.Phone", ColumnAction::Drop)],
        br#"[{"Cust\u006fmer.Phone":"SECRET","x":"1"}]"#,
    );
    assert_eq!(out, br#"[{"x":"1"}]"#);
}

#[test]
fn dropping_keeps_commas_right() {
    let body = b"[\n{\n\"a\": \"1\",\n\"b\": \"2\",\n\"c\": \"3\"\n}\n]";
    let drop = |names: &[&str]| {
        let rules: Vec<_> = names.iter().map(|n| (*n, ColumnAction::Drop)).collect();
        String::from_utf8(redact(&rules, body)).unwrap()
    };
    assert_eq!(drop(&["a"]), "[\n{\n\"b\": \"2\",\n\"c\": \"3\"\n}\n]");
    assert_eq!(drop(&["b"]), "[\n{\n\"a\": \"1\",\n\"c\": \"3\"\n}\n]");
    assert_eq!(drop(&["c"]), "[\n{\n\"a\": \"1\",\n\"b\": \"2\"\n}\n]");
    assert_eq!(drop(&["a", "c"]), "[\n{\n\"b\": \"2\"\n}\n]");
    assert_eq!(drop(&["a", "b", "c"]), "[\n{\n}\n]");
    for names in [
        &["a"][..],
        &["b"],
        &["c"],
        &["a", "b"],
        &["b", "c"],
        &["a", "b", "c"],
    ] {
        serde_json::from_str::<serde_json::Value>(&drop(names)).unwrap();
    }
}

const RULES: &[(&str, ColumnAction)] = &[
    ("Customer.*", ColumnAction::Drop),
    ("Customer.Address", ColumnAction::Hash),
    ("Customer.EmailAddress", ColumnAction::Mask),
    ("CaseDetails.TotalRedress", ColumnAction::Drop),
    ("b", ColumnAction::Hash),
];

#[test]
fn every_chunk_size_gives_the_same_output() {
    let whole = redact(RULES, EXAMPLE);
    for size in 1..=64 {
        assert_eq!(
            redact_chunks(RULES, EXAMPLE, &[size]),
            whole,
            "chunk size {size}"
        );
    }
}

/// Three rows with escapes, surrogate pairs and multibyte UTF-8 to split.
const TRICKY: &[u8] = "[ {\"a\":\"x\\\"}{\\\\\",\"b\":\"é\\ud83d\\ude00€😀\",\"Customer.Phone\":\"\\u00e9}\"} ,\n{}, {\"b\" : \"\\r\\n\\/\" , \"c\":\"[1]\"}]\n".as_bytes();

proptest! {
    #![proptest_config(crate::proptest_config(256))]
    #[test]
    fn random_splits_give_the_same_output(
        sizes in proptest::collection::vec(1usize..40, 1..20),
        which in 0usize..2,
    ) {
        let body = [EXAMPLE, TRICKY][which];
        prop_assert_eq!(redact_chunks(RULES, body, &sizes), redact(RULES, body));
    }
}

#[test]
fn tricky_body_redacts_as_expected() {
    let out = String::from_utf8(redact(RULES, TRICKY)).unwrap();
    assert_eq!(
        out,
        "[ {\"a\":\"x\\\"}{\\\\\",\"b\":\"h(é😀€😀)\"} ,\n{}, {\"b\" : \"h(\\r\\n/)\" , \"c\":\"[1]\"}]\n"
    );
}

fn is_shape(e: &RedactError) -> bool {
    matches!(e, RedactError::Shape { .. })
}

type Check = fn(&RedactError) -> bool;

#[test]
fn fails_closed() {
    let truncated: Check = |e| matches!(e, RedactError::Truncated { .. });
    let utf8: Check = |e| matches!(e, RedactError::Utf8 { .. });
    let cases: &[(&[u8], Check)] = &[
        (b"", truncated),
        (b"  ", truncated),
        (br#"{"Customer.Phone":"SECRET"}"#, is_shape),
        (br#""SECRET""#, is_shape),
        (b"[1]", is_shape),
        (br#"["SECRET"]"#, is_shape),
        (br#"[["SECRET"]]"#, is_shape),
        (br#"[{"x":"1","Customer.Phone":"SECRET","n":1}]"#, is_shape),
        (br#"[{"Customer.Phone":"SECRET","n":null}]"#, is_shape),
        (br#"[{"Customer.Phone":"SECRET","n":true}]"#, is_shape),
        (
            br#"[{"Customer.Phone":"SECRET","n":{"b":"SECRET"}}]"#,
            is_shape,
        ),
        (br#"[{"Customer.Phone":"SECRET","n":["SECRET"]}]"#, is_shape),
        (br#"[{"Customer.Phone":"SECRET","x":"\x"}]"#, is_shape),
        (br#"[{"Customer.Phone":"SECRET","x":"\u12"}]"#, is_shape),
        (br#"[{"Customer.Phone":"SECRET","x":"\ud800"}]"#, is_shape),
        (
            br#"[{"Customer.Phone":"SECRET","x":"\udc00\ud800"}]"#,
            is_shape,
        ),
        (b"[{\"Customer.Phone\":\"SECRET\",\"x\":\"\xff\"}]", utf8),
        (
            b"[{\"Customer.Phone\":\"SECRET\",\"x\":\"a\nb\"}]",
            is_shape,
        ),
        (
            br#"[{"Customer.Phone":"SECRET","x":"unterminated}]"#,
            truncated,
        ),
        (br#"[{"Customer.Phone":"SECRET"}"#, truncated),
        (br#"[{"Customer.Phone":"SECRET"},"#, truncated),
        (br#"[{"Customer.Phone":"SECRET"},]"#, is_shape),
        (br#"[{"Customer.Phone":"SECRET",}]"#, is_shape),
        (br#"[{"Customer.Phone" "SECRET"}]"#, is_shape),
        (br#"[{"Customer.Phone":"SECRET"} {"x":"1"}]"#, is_shape),
        (br#"[{"Customer.Phone":"SECRET"}] x"#, is_shape),
        (br#"[{"Customer.Phone":"SECRET"}]]"#, is_shape),
        (br#"[{"Customer.Phone":"SECRET"}][]"#, is_shape),
        (br#"[{Customer.Phone:"SECRET"}]"#, is_shape),
        (b"\xef\xbb\xbf[]", is_shape),
    ];
    for (index, (body, expected)) in cases.iter().enumerate() {
        for size in [body.len().max(1), 1, 3] {
            let mut redactor = JsonRedactor::new(Fake::new(&[
                ("Customer.Phone", ColumnAction::Drop),
                ("x", ColumnAction::Mask),
                ("n", ColumnAction::Hash),
            ]));
            let mut out = Vec::new();
            let mut error = None;
            for chunk in body.chunks(size) {
                if let Err(e) = redactor.feed(chunk, &mut out) {
                    error = Some(e);
                    break;
                }
            }
            let error = match error {
                Some(e) => e,
                None => redactor.finish(&mut out).unwrap_err(),
            };
            assert!(
                expected(&error),
                "case {index}, chunk size {size}: {error:?}"
            );
            assert!(!error.to_string().contains("SECRET"));
            let out = String::from_utf8_lossy(&out);
            assert!(!out.contains("SECRET"), "case {index}: {out}");
            assert!(!out.contains("Customer"), "case {index}: {out}");
            // Once failed, it stays failed and writes nothing more.
            let before = out.len();
            let mut more = Vec::new();
            assert!(redactor.feed(b"[]", &mut more).is_err());
            assert!(redactor.finish(&mut more).is_err());
            assert!(more.is_empty() && before == out.len());
        }
    }
}

#[test]
fn rows_larger_than_the_limit_fail() {
    let mut redactor = JsonRedactor::with_max_row_bytes(Fake::new(&[]), 100);
    let mut out = Vec::new();
    let mut error = None;
    for chunk in EXAMPLE.chunks(7) {
        if let Err(e) = redactor.feed(chunk, &mut out) {
            error = Some(e);
            break;
        }
        assert!(redactor.buffered() <= 100);
    }
    assert_eq!(
        error,
        Some(RedactError::RowTooLarge {
            format: "json",
            limit: 100
        })
    );
    assert_eq!(out, b"[\n");
}

#[test]
fn large_report_redacts_completely_in_bounded_memory() {
    let body = crate::sandbox::report_body(10801, "json").unwrap();
    let original = rows(&body);
    assert_eq!(original.len(), 5000);
    // The largest row, from "\n{" to "\n}": values cannot hold a raw newline.
    let starts = body
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w == b"\n{")
        .map(|(i, _)| i);
    let ends = body
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w == b"\n}")
        .map(|(i, _)| i);
    let largest = starts.zip(ends).map(|(s, e)| e - s).max().unwrap();

    let mut redactor = JsonRedactor::new(Fake::new(RULES));
    let mut out = Vec::new();
    for chunk in body.chunks(64 * 1024) {
        redactor.feed(chunk, &mut out).unwrap();
        assert!(
            redactor.buffered() <= largest,
            "{} > {largest}",
            redactor.buffered()
        );
    }
    redactor.finish(&mut out).unwrap();

    let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(value.as_array().unwrap().len(), 5000);
    let redacted = rows(&out);
    let mut fake = Fake::new(RULES);
    let mut kept_values = std::collections::HashSet::new();
    let mut secret_values = std::collections::HashSet::new();
    for (row, out_row) in original.iter().zip(&redacted) {
        let mut expected = Vec::new();
        for (k, v) in row {
            match fake.action(k) {
                ColumnAction::Keep => {
                    kept_values.insert(v.clone());
                    expected.push((k.clone(), v.clone()));
                }
                ColumnAction::Drop => {
                    secret_values.insert(v.clone());
                }
                ColumnAction::Mask => {
                    secret_values.insert(v.clone());
                    expected.push((k.clone(), "***".to_owned()));
                }
                ColumnAction::Hash => {
                    secret_values.insert(v.clone());
                    expected.push((k.clone(), format!("h({v})")));
                }
            }
        }
        assert_eq!(out_row, &expected);
    }
    // No redacted value is any value of the output (pseudonyms aside: the fake makes them
    // readable on purpose), and the longest ones appear nowhere in its bytes at all (values
    // also held by kept columns cannot be told apart, and searching 20 MB for every one of
    // thousands is too slow for a unit test).
    let secrets: Vec<&String> = secret_values.difference(&kept_values).collect();
    assert!(secrets.len() > 1000, "{}", secrets.len());
    for row in &redacted {
        for (_, v) in row {
            assert!(v.starts_with("h(") || !secret_values.contains(v) || kept_values.contains(v));
        }
    }
    let text = String::from_utf8(out).unwrap();
    let without_pseudonyms: String = text
        .split("\"h(")
        .map(|s| s.split_once(")\"").map_or(s, |(_, rest)| rest))
        .collect();
    let mut longest = secrets;
    longest.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for secret in longest.iter().take(300) {
        let encoded = serde_json::to_string(secret).unwrap();
        let inner = &encoded[1..encoded.len() - 1];
        assert!(
            !without_pseudonyms.contains(inner),
            "a redacted value leaked"
        );
    }
}
