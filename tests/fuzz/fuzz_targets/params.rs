//! GetReport's query parser on any text: it never panics; an accepted query's canonical form
//! parses back to itself and writes the same query again; its values hold no control
//! character; and neither an error message nor the `Debug` of a result repeats a value.
//!
//! Input: the raw query; text after the first `#` (which a real query never holds) is the
//! `/reports/{ReportId}` path segment. Values are recognised by the marker `SECRETPII`, which
//! the seeds put in values: a message may hold it only if a parameter *name* does (unknown
//! names are echoed, values never).
#![no_main]

use casegate::params::{parse, Limits};
use libfuzzer_sys::fuzz_target;

const MARKER: &str = "SECRETPII";

/// Limits no canonical form can reach: the round trip is about meaning, not size.
const UNLIMITED: Limits = Limits {
    max_query_bytes: usize::MAX,
    max_value_bytes: usize::MAX,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (query, path) = match text.split_once('#') {
        Some((query, path)) => (query, Some(path)),
        None => (&text[..], None),
    };
    // Small limits now and then, to reach the size checks.
    let limits = if data.len().is_multiple_of(7) {
        Limits {
            max_query_bytes: 64,
            max_value_bytes: 16,
        }
    } else {
        Limits::default()
    };
    match parse(Some(query), path, &limits) {
        Ok(parsed) => {
            let debug = format!("{parsed:?}");
            assert!(!debug.contains(MARKER), "Debug shows a value: {debug}");
            for (param, value) in parsed.canonical.iter() {
                assert!(!value.is_empty(), "{param:?} is present but empty");
                assert!(
                    !value.chars().any(char::is_control),
                    "{param:?} holds a control character"
                );
            }
            let mut canonical = String::new();
            parsed.canonical.write_query(&mut canonical);
            let again = parse(Some(&canonical), None, &UNLIMITED)
                .unwrap_or_else(|e| panic!("the canonical query {canonical:?} is refused: {e}"));
            assert_eq!(again.canonical, parsed.canonical, "{canonical:?}");
            assert!(!again.gzip, "Compression is not part of the canonical form");
            let mut rewritten = String::new();
            again.canonical.write_query(&mut rewritten);
            assert_eq!(rewritten, canonical);
        }
        Err(err) => {
            let message = format!("{err} {err:?}");
            if message.contains(MARKER) {
                let in_a_name =
                    form_urlencoded::parse(query.as_bytes()).any(|(name, _)| name.contains(MARKER));
                assert!(in_a_name, "an error repeats a value: {message}");
            }
        }
    }
});
