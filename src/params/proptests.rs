//! Properties of [`parse`](super::parse) over generated queries.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS, NON_ALPHANUMERIC};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use super::{parse, Limits, Param};

/// Escapes only what would break the query's structure: the lightest encoding a client may use.
const MINIMAL: &AsciiSet = &CONTROLS.add(b'%').add(b'&').add(b'+').add(b'=').add(b'#');

/// A valid value for `p`, in one of the spellings callers send.
fn valid_value(p: Param) -> BoxedStrategy<String> {
    let cased = |choices: &'static [&'static str]| {
        (select(choices), any::<u64>())
            .prop_map(|(s, mask)| random_case(s, mask))
            .boxed()
    };
    let date = (1900u32..=2100, 1u32..=12, 1u32..=28)
        .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"));
    match p {
        Param::ReportId => (0usize..3, 1u64..10_000_000)
            .prop_map(|(zeros, n)| format!("{}{n}", "0".repeat(zeros)))
            .boxed(),
        Param::Format => cased(&["csv", "json", "xml"]),
        Param::Compression => cased(&["gzip"]),
        Param::CsvHeader | Param::CsvFooter => cased(&["yes", "true"]),
        Param::CsvFields => prop::collection::btree_set("[a-z][a-z0-9_.-]{0,8}", 1..5)
            .prop_flat_map(|set| {
                let columns: Vec<String> = set.into_iter().collect();
                (Just(columns), any::<u64>(), any::<bool>())
            })
            .prop_map(|(columns, mask, spaced)| {
                let sep = if spaced { " , " } else { "," };
                random_case(&columns.join(sep), mask)
            })
            .boxed(),
        Param::CsvDelimitor => any::<char>()
            .prop_filter("a valid delimiter", |c| {
                c.is_ascii() && *c != '"' && !c.is_control()
            })
            .prop_map(String::from)
            .boxed(),
        Param::Units | Param::PeriodUnits => cased(&[
            "Year to date",
            "Next days",
            "Previous financial year",
            "Today",
        ]),
        Param::Multiples | Param::PeriodMultiples => (0usize..3, 1u32..=100_000)
            .prop_map(|(zeros, n)| format!("{}{n}", "0".repeat(zeros)))
            .boxed(),
        Param::From | Param::Until | Param::PeriodFrom | Param::PeriodUntil => date.boxed(),
        Param::FromTime | Param::UntilTime => (date, 0u32..24, 0u32..60, 0u32..60, 0usize..3)
            .prop_map(|(d, h, m, s, style)| match style {
                0 => format!("{d} {h:02}:{m:02}:{s:02}"),
                1 => format!("{d}T{h:02}:{m:02}:{s:02}"),
                _ => format!("{d}T{h:02}:{m:02}:{s:02}.25"),
            })
            .boxed(),
        Param::AttributeFilter
        | Param::AttributeFilter2
        | Param::AttributeFilter3
        | Param::Keywords => "\\PC{0,24}".boxed(),
    }
}

fn random_case(s: &str, mask: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Pairs of a valid query (ReportId always among them), unencoded.
fn valid_pairs() -> impl Strategy<Value = Vec<(Param, String)>> {
    subsequence(Param::ALL.to_vec(), 0..=Param::ALL.len()).prop_flat_map(|mut params| {
        if !params.contains(&Param::ReportId) {
            params.push(Param::ReportId);
        }
        params
            .into_iter()
            .map(|p| valid_value(p).prop_map(move |v| (p, v)))
            .collect::<Vec<_>>()
    })
}

/// The query a careful client writes: upstream spelling, full encoding, `+` for spaces.
fn encode_full(pairs: &[(Param, String)]) -> String {
    let pairs = pairs.iter().map(|(p, v)| {
        let v = utf8_percent_encode(v, NON_ALPHANUMERIC).to_string();
        format!("{}={}", p.name(), v.replace("%20", "+"))
    });
    pairs.collect::<Vec<_>>().join("&")
}

/// The query a sloppy client writes: any name casing, any casing of the values whose case does
/// not matter, only the structural characters escaped.
fn encode_sloppy(pairs: &[(Param, String)], masks: &[u64]) -> String {
    let pairs = pairs.iter().zip(masks).map(|((p, v), mask)| {
        let name = random_case(p.name(), *mask);
        let value = match p {
            Param::Format
            | Param::Compression
            | Param::CsvHeader
            | Param::CsvFooter
            | Param::CsvFields
            | Param::Units
            | Param::PeriodUnits => random_case(v, mask.rotate_left(23)),
            _ => v.clone(),
        };
        format!("{name}={}", utf8_percent_encode(&value, MINIMAL))
    });
    pairs.collect::<Vec<_>>().join("&")
}

proptest! {
    #![proptest_config(crate::proptest_config(256))]
    #[test]
    fn canonical_form_ignores_order_case_and_encoding(
        (pairs, shuffled) in valid_pairs().prop_flat_map(|pairs| {
            (Just(pairs.clone()), Just(pairs).prop_shuffle())
        }),
        masks in prop::collection::vec(any::<u64>(), 21),
    ) {
        let limits = Limits::default();
        let a = parse(Some(&encode_full(&pairs)), None, &limits).unwrap();
        let b = parse(Some(&encode_sloppy(&shuffled, &masks)), None, &limits).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn write_query_parses_back_to_the_same_canonical_form(pairs in valid_pairs()) {
        let limits = Limits::default();
        let first = parse(Some(&encode_full(&pairs)), None, &limits).unwrap();
        let mut query = String::new();
        first.canonical.write_query(&mut query);
        let again = parse(Some(&query), None, &limits).unwrap();
        prop_assert_eq!(&again.canonical, &first.canonical);
        let names: Vec<_> = first.canonical.names().collect();
        prop_assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted: {:?}", names);
        prop_assert!(names.contains(&"ReportId") && names.contains(&"Format"));
        let mut requery = String::new();
        again.canonical.write_query(&mut requery);
        prop_assert_eq!(requery, query);
    }

    #[test]
    fn set_equals_parsing_the_query_with_that_value(
        pairs in valid_pairs(),
        (param, value) in select(Param::ALL.to_vec())
            .prop_filter("Compression is not canonical", |p| *p != Param::Compression)
            .prop_flat_map(|p| (Just(p), valid_value(p)))
            .prop_filter("an empty value is absent", |(_, v)| !v.is_empty()),
    ) {
        let limits = Limits::default();
        let mut set = parse(Some(&encode_full(&pairs)), None, &limits).unwrap().canonical;
        set.set(param, &value).unwrap();
        let mut replaced: Vec<_> = pairs.into_iter().filter(|(p, _)| *p != param).collect();
        replaced.push((param, value));
        let parsed = parse(Some(&encode_full(&replaced)), None, &limits).unwrap().canonical;
        prop_assert_eq!(set, parsed);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_strings(
        query in any::<String>(),
        path in proptest::option::of(any::<String>()),
    ) {
        let _ = parse(Some(&query), path.as_deref(), &Limits::default());
    }

    #[test]
    fn parse_never_panics_on_query_like_strings(
        query in "([a-zA-Z%0-9+ =,.:T-]{0,12}&?){0,12}",
    ) {
        let _ = parse(Some(&query), None, &Limits::default());
    }

    #[test]
    fn parse_never_panics_on_known_names_with_any_value(
        pairs in prop::collection::vec((select(Param::ALL.to_vec()), any::<String>()), 0..6),
    ) {
        let query = pairs
            .iter()
            .map(|(p, v)| format!("{}={}", p.name(), utf8_percent_encode(v, NON_ALPHANUMERIC)))
            .collect::<Vec<_>>()
            .join("&");
        let _ = parse(Some(&query), None, &Limits::default());
    }

    #[test]
    fn debug_never_shows_a_keywords_value(
        pairs in valid_pairs(),
        keywords in "\\PC{12,40}",
    ) {
        let mut pairs: Vec<_> = pairs.into_iter().filter(|(p, _)| *p != Param::Keywords).collect();
        pairs.push((Param::Keywords, keywords.clone()));
        let parsed = parse(Some(&encode_full(&pairs)), None, &Limits::default()).unwrap();
        prop_assert_eq!(parsed.canonical.get(Param::Keywords), Some(keywords.as_str()));
        let shown = format!("{parsed:?}");
        let pretty = format!("{:#?}", parsed.canonical);
        prop_assert!(!shown.contains(&keywords));
        prop_assert!(!pretty.contains(&keywords));
    }

    #[test]
    fn errors_never_show_the_value(
        param in select(Param::ALL.to_vec()),
        secret in "\\PC{12,40}",
        control in prop::sample::select(vec!["", "%00", "%0A", "%7F", "%C2%85", "%", "%FF"]),
    ) {
        let encoded = utf8_percent_encode(&secret, NON_ALPHANUMERIC);
        let query = format!("{}={encoded}{control}&reportid=1", param.name());
        if let Err(err) = parse(Some(&query), None, &Limits::default()) {
            let (shown, debug) = (err.to_string(), format!("{err:?}"));
            prop_assert!(!shown.contains(&secret));
            prop_assert!(!debug.contains(&secret));
        }
    }
}
