use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use quick_xml::events::Event;
use quick_xml::Reader;

use super::XmlRedactor;
use crate::redact::{ColumnAction, Columns, RedactError, Redactor};

const EXAMPLE: &[u8] = include_bytes!("../../sandbox/fixtures/example.xml");

/// Lowercase exact names, then lowercase prefixes ending in `*`; everything else kept.
#[derive(Default)]
struct Fake {
    rules: HashMap<String, ColumnAction>,
    /// `h(value)` so tests see the decoded input; otherwise an opaque stand-in.
    reveal: bool,
}

impl Fake {
    fn new(rules: &[(&str, ColumnAction)]) -> Self {
        Self {
            rules: rules.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            reveal: true,
        }
    }

    fn opaque(mut self) -> Self {
        self.reveal = false;
        self
    }
}

impl Columns for Fake {
    fn action(&mut self, column: &str) -> ColumnAction {
        let column = column.to_lowercase();
        if let Some(action) = self.rules.get(&column) {
            return *action;
        }
        self.rules
            .iter()
            .filter_map(|(k, v)| Some((k.strip_suffix('*')?, v)))
            .filter(|(prefix, _)| column.starts_with(prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(ColumnAction::Keep, |(_, v)| *v)
    }

    fn mask(&self) -> &str {
        "<masked & gone>"
    }

    fn pseudonym(&self, value: &str) -> String {
        if self.reveal {
            format!("h({value})")
        } else {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            value.hash(&mut h);
            format!("h{:016x}", h.finish())
        }
    }
}

const MASKED: &str = "&lt;masked &amp; gone&gt;";

fn run_chunks(columns: Fake, body: &[u8], size: usize) -> (Vec<u8>, Result<(), RedactError>) {
    let mut redactor = XmlRedactor::new(columns);
    let mut out = Vec::new();
    for chunk in body.chunks(size.max(1)) {
        if let Err(err) = redactor.feed(chunk, &mut out) {
            return (out, Err(err));
        }
    }
    let result = redactor.finish(&mut out);
    (out, result)
}

fn run(columns: Fake, body: &[u8]) -> Vec<u8> {
    let (out, result) = run_chunks(columns, body, body.len());
    result.unwrap();
    out
}

fn text(out: &[u8]) -> &str {
    std::str::from_utf8(out).unwrap()
}

fn customers(action: ColumnAction) -> Fake {
    Fake::new(&[("customer.*", action)])
}

#[test]
fn keep_all_is_byte_identical() {
    assert_eq!(run(Fake::default(), EXAMPLE), EXAMPLE);
}

#[test]
fn drop_customer_columns() {
    let out = run(customers(ColumnAction::Drop), EXAMPLE);
    let out = text(&out);
    assert!(!out.contains("<Customer."), "{out}");
    for secret in ["Bloggs", "Fred", "prasad", "214521", "csss"] {
        assert!(!out.contains(secret));
    }
    // Dropped with the whitespace before them; the neighbours are untouched.
    assert!(out.contains(
        "</CaseStageOmbudsman.ResponseInTarget>\n\
         <CustomerSatisfaction.OverallRating></CustomerSatisfaction.OverallRating>\n</Row>\n</Rows>"
    ));
    assert!(out.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Rows RequestId=\"51221195af5536c367accafeaedd91\">\n<Row>\n"
    ));
}

#[test]
fn mask_customer_columns() {
    let out = run(customers(ColumnAction::Mask), EXAMPLE);
    let out = text(&out);
    assert!(out.contains(&format!("<Customer.FullName>{MASKED}</Customer.FullName>")));
    assert!(out.contains(&format!("<Customer.Address>{MASKED}</Customer.Address>")));
    // Empty stays empty.
    assert!(out.contains("<Customer.Town></Customer.Town>"));
    for secret in ["Bloggs", "Fred", "prasad", "214521", "csss"] {
        assert!(!out.contains(secret));
    }
}

#[test]
fn hash_customer_columns_from_decoded_values() {
    let out = run(customers(ColumnAction::Hash), EXAMPLE);
    let out = text(&out);
    assert!(out.contains("<Customer.FullName>h(Bloggs, Fred)</Customer.FullName>"));
    assert!(out.contains("<Customer.Address>h(Test\na\nb\ncsss\nd)</Customer.Address>"));
    assert!(out.contains("<Customer.Postcode></Customer.Postcode>"));
}

#[test]
fn repeated_column_is_redacted_everywhere() {
    let fake = Fake::new(&[("casedetails.totalredress", ColumnAction::Mask)]);
    let out = run(fake, EXAMPLE);
    let out = text(&out);
    let masked = format!("<CaseDetails.TotalRedress>{MASKED}</CaseDetails.TotalRedress>");
    assert_eq!(out.matches(&masked).count(), 2);
    assert!(!out.contains("0.00</CaseDetails.TotalRedress>"));
}

const ENTITIES: &[u8] =
    b"<?xml version=\"1.0\"?>\r\n<Rows RequestId=\"a&amp;b\" Other='x>y'>\r\n  <Row >\r\n    \
<S.Hash>x &amp; y &lt;z&gt;&#13;&#x41;<![CDATA[<b>&amp;</b>]]></S.Hash>\r\n    \
<S.Mask>secret&#13;</S.Mask>\r\n    <S.Keep>a &amp; <![CDATA[]]>&#13;b</S.Keep>\r\n    \
<S.Empty/>\r\n    <S.EmptyHash></S.EmptyHash>\r\n    <S.Drop>gone</S.Drop>\r\n    \
<S.DropEmpty/>\r\n    <S.Kept/>\r\n  </Row >\r\n  <Row/>\r\n  <Row></Row>\r\n</Rows >\r\n";

fn entity_rules() -> Fake {
    Fake::new(&[
        ("s.hash", ColumnAction::Hash),
        ("s.mask", ColumnAction::Mask),
        ("s.empty", ColumnAction::Mask),
        ("s.emptyhash", ColumnAction::Hash),
        ("s.drop*", ColumnAction::Drop),
    ])
}

#[test]
fn entities_cdata_and_self_closing() {
    let out = run(entity_rules(), ENTITIES);
    let expected = "<?xml version=\"1.0\"?>\r\n<Rows RequestId=\"a&amp;b\" Other='x>y'>\r\n  <Row >\r\n    \
<S.Hash>h(x &amp; y &lt;z&gt;\rA&lt;b&gt;&amp;amp;&lt;/b&gt;)</S.Hash>\r\n    \
<S.Mask>&lt;masked &amp; gone&gt;</S.Mask>\r\n    <S.Keep>a &amp; <![CDATA[]]>&#13;b</S.Keep>\r\n    \
<S.Empty/>\r\n    <S.EmptyHash></S.EmptyHash>\r\n    <S.Kept/>\r\n  </Row >\r\n  <Row/>\r\n  <Row></Row>\r\n</Rows >\r\n";
    assert_eq!(text(&out), expected);
    assert_eq!(run(Fake::default(), ENTITIES), ENTITIES);
}

#[test]
fn empty_reports() {
    for body in [
        &b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Rows RequestId=\"x\"/>\n"[..],
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Rows RequestId=\"x\"></Rows>",
        b"<Rows>\n</Rows>\n",
    ] {
        assert_eq!(run(customers(ColumnAction::Drop), body), body);
    }
}

#[test]
fn cdata_holding_an_end_of_row() {
    let body = b"<Rows><Row><A><![CDATA[</Row>]]></A><B>s</B></Row></Rows>";
    let fake = Fake::new(&[("a", ColumnAction::Hash), ("b", ColumnAction::Mask)]);
    let out = run(fake, body);
    assert_eq!(
        text(&out),
        format!("<Rows><Row><A>h(&lt;/Row&gt;)</A><B>{MASKED}</B></Row></Rows>")
    );
}

fn mixed() -> Fake {
    Fake::new(&[
        ("customer.*", ColumnAction::Drop),
        ("customer.emailaddress", ColumnAction::Hash),
        ("customer.address", ColumnAction::Hash),
        ("customer.fullname", ColumnAction::Mask),
        ("casedetails.totalredress", ColumnAction::Mask),
        ("s.hash", ColumnAction::Hash),
        ("s.mask", ColumnAction::Mask),
        ("s.drop", ColumnAction::Drop),
    ])
}

/// The first `rows` rows of the large report, closed again.
fn large_slice(rows: usize) -> Vec<u8> {
    let body = crate::sandbox::report_body(10801, "xml").unwrap();
    let finder = memchr::memmem::Finder::new(b"</Row>");
    let end = finder.find_iter(&body).nth(rows - 1).unwrap() + 6;
    let mut slice = body[..end].to_vec();
    slice.extend_from_slice(b"\n</Rows>\n");
    slice
}

#[test]
fn every_chunk_size_gives_the_same_output() {
    for body in [EXAMPLE.to_vec(), ENTITIES.to_vec(), large_slice(6)] {
        let whole = run(mixed(), &body);
        for size in 1..=64 {
            let (out, result) = run_chunks(mixed(), &body, size);
            result.unwrap();
            assert!(out == whole, "chunk size {size}");
        }
    }
}

proptest! {
    #![proptest_config(crate::proptest_config(64))]
    #[test]
    fn random_splits_give_the_same_output(
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..40),
        which in 0..2usize,
    ) {
        let body = [EXAMPLE, ENTITIES][which];
        let whole = run(mixed(), body);
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(body.len() + 1)).collect();
        cuts.sort_unstable();
        let mut redactor = XmlRedactor::new(mixed());
        let mut out = Vec::new();
        let mut from = 0;
        for cut in cuts.into_iter().chain([body.len()]) {
            redactor.feed(&body[from..cut], &mut out).unwrap();
            from = cut;
        }
        redactor.finish(&mut out).unwrap();
        prop_assert!(out == whole);
    }
}

/// A good first row (its customer values must never show) and then `tail`.
fn broken(tail: &[u8]) -> Vec<u8> {
    let mut body = b"<?xml version=\"1.0\"?>\n<Rows RequestId=\"r\">\n<Row>\n\
<Customer.FullName>Fred Secret</Customer.FullName>\n<Customer.Phone>0777 Secret</Customer.Phone>\n\
<Other>kept</Other>\n</Row>\n"
        .to_vec();
    body.extend_from_slice(tail);
    body
}

#[test]
fn fail_closed() {
    use RedactError::*;
    let shape = |e: &RedactError| matches!(e, Shape { .. });
    let utf8 = |e: &RedactError| matches!(e, Utf8 { .. });
    let truncated = |e: &RedactError| matches!(e, Truncated { .. });
    let too_large = |e: &RedactError| matches!(e, RowTooLarge { .. });
    let row = |inner: &str| {
        format!("<Row><Customer.Title>MrSecret</Customer.Title>{inner}</Row>\n</Rows>\n")
    };
    type Check = fn(&RedactError) -> bool;
    let cases: Vec<(Vec<u8>, Check)> = vec![
        (b"<Other><Row><Customer.FullName>Secret</Customer.FullName></Row></Other>".to_vec(), shape),
        (b"<Row><Customer.FullName>Secret</Customer.FullName></Row>".to_vec(), shape),
        (b"<!DOCTYPE Rows [<!ENTITY x \"y\">]><Rows><Row><Customer.FullName>Secret</Customer.FullName></Row></Rows>".to_vec(), shape),
        (b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Rows><Row><Customer.FullName>Secret</Customer.FullName></Row></Rows>".to_vec(), shape),
        (broken(row("<Customer.FullName>Secret<b>x</b></Customer.FullName>").as_bytes()), shape),
        (broken(row("<Customer.FullName><Customer.FullName>Secret</Customer.FullName></Customer.FullName>").as_bytes()), shape),
        (broken(row("Secret<A>1</A>").as_bytes()), shape),
        (broken(row("<!-- Secret --><A>1</A>").as_bytes()), shape),
        (broken(row("<?pi Secret?><A>1</A>").as_bytes()), shape),
        (broken(row("<![CDATA[Secret]]>").as_bytes()), shape),
        (broken(row("<Customer.FullName>x<!-- Secret --></Customer.FullName>").as_bytes()), shape),
        (broken(row("<Customer.FullName>Secret</Customer.Phone>").as_bytes()), shape),
        (broken(row("<Customer.FullName a=\"Secret\">Secret</Customer.FullName>").as_bytes()), shape),
        (broken(row("<Customer.FullName>&secret;</Customer.FullName>").as_bytes()), shape),
        (broken(row("<Customer.FullName>&#0;Secret</Customer.FullName>").as_bytes()), shape),
        (broken(b"<Row><Customer.Title>MrSecret</Customer.Title><Customer.\xff>Secret</Customer.\xff></Row></Rows>"), utf8),
        (broken(b"<Row><Customer.Title>MrSecret</Customer.Title><Customer.EmailAddress>Secret\xff</Customer.EmailAddress></Row></Rows>"), utf8),
        (broken(b"<Row><Customer.Title>MrSecret</Customer.Title>"), truncated),
        (broken(b"<Row><Customer.Title>MrSecret</Customer.Title></Row>\n"), truncated),
        (broken(b"<Row><Customer.Title>MrSecret</Customer.Title></Rows>"), truncated),
        (broken(b"</Rows>\n<Row><Customer.Title>MrSecret</Customer.Title></Row>"), shape),
        (broken(b"</Rows>\nSecret"), shape),
        (broken(b"<Other><Customer.Title>MrSecret</Customer.Title></Other></Rows>"), shape),
        (broken(b"<!DOCTYPE x><Row><Customer.Title>MrSecret</Customer.Title></Row></Rows>"), shape),
        (broken(b"<Row a='1'><Customer.Title>MrSecret</Customer.Title></Row></Rows>"), shape),
        (broken(b"Secret</Rows>"), shape),
        (broken(format!("<Row><Customer.Title>MrSecret</Customer.Title><A>{}</A></Row></Rows>", "x".repeat(5000)).as_bytes()), too_large),
        (broken(format!("<Row><Customer.Title>MrSecret</Customer.Title><A>{}", "x".repeat(5000)).as_bytes()), too_large),
    ];
    for (i, (body, check)) in cases.iter().enumerate() {
        for size in [1, 7, body.len()] {
            let mut redactor = XmlRedactor::with_max_row_bytes(mixed(), 4096);
            let mut out = Vec::new();
            let mut result = Ok(());
            for chunk in body.chunks(size) {
                result = redactor.feed(chunk, &mut out);
                if result.is_err() {
                    break;
                }
            }
            if result.is_ok() {
                result = redactor.finish(&mut out);
            }
            let err = result.expect_err(&format!("case {i} chunk {size}"));
            assert!(check(&err), "case {i} chunk {size}: {err:?}");
            assert!(
                !text_lossy(&out).contains("Secret"),
                "case {i} chunk {size}"
            );
            assert!(!err.to_string().contains("Secret"));
            // Once failed, always failed.
            assert!(redactor.feed(b"<Row></Row>", &mut out).is_err());
        }
    }
}

fn text_lossy(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Every decoded value of every column, by name, collected with quick-xml.
fn values(body: &[u8]) -> Vec<(String, String)> {
    let mut reader = Reader::from_reader(body);
    let mut found = Vec::new();
    let mut name = None;
    let mut value = String::new();
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => {
                name = Some(String::from_utf8(e.name().as_ref().to_vec()).unwrap());
                value.clear();
            }
            Event::Text(t) => value.push_str(&t.decode().unwrap()),
            Event::CData(t) => value.push_str(std::str::from_utf8(&t).unwrap()),
            Event::GeneralRef(r) => match r.resolve_char_ref().unwrap() {
                Some(c) => value.push(c),
                None => value.push_str(
                    quick_xml::escape::resolve_predefined_entity(&r.decode().unwrap()).unwrap(),
                ),
            },
            Event::End(_) => {
                if let Some(name) = name.take() {
                    found.push((name, std::mem::take(&mut value)));
                }
            }
            Event::Eof => return found,
            _ => {}
        }
    }
}

#[test]
fn no_redacted_value_leaks_from_the_large_report() {
    let body = crate::sandbox::report_body(10801, "xml").unwrap();
    let mut rules = mixed().opaque();
    let out = run(mixed().opaque(), &body);
    let mut secret = HashSet::new();
    let mut kept = HashSet::new();
    for (name, value) in values(&body) {
        if rules.action(&name) == ColumnAction::Keep {
            kept.insert(value);
        } else if !value.is_empty() {
            secret.insert(value);
        }
    }
    assert!(secret.len() > 1000, "{}", secret.len());
    // Every value in the output is a kept value, the mask or a pseudonym: no redacted value
    // can be in it, whole or in part, except inside a value the rules keep.
    let mut out_values = HashSet::new();
    for (name, value) in values(&out) {
        if name == "Row" || name == "Rows" {
            continue;
        }
        match rules.action(&name) {
            ColumnAction::Keep => assert!(kept.contains(&value)),
            ColumnAction::Drop => panic!("a dropped column is in the output"),
            ColumnAction::Mask => assert!(value.is_empty() || value == "<masked & gone>"),
            ColumnAction::Hash => assert!(value.is_empty() || value.len() == 17),
        }
        out_values.insert(value);
    }
    assert!(kept.iter().all(|v| out_values.contains(v)));
    // And, directly, a sample of the longer secrets is nowhere in the bytes.
    let mut sample: Vec<&String> = secret
        .iter()
        .filter(|v| v.len() >= 8 && !kept.contains(*v))
        .collect();
    sample.sort();
    for value in sample.into_iter().step_by(97).take(40) {
        let escaped = quick_xml::escape::partial_escape(value.as_str());
        let found = memchr::memmem::find(&out, escaped.as_bytes()).is_some();
        assert!(!found, "a redacted value leaked");
    }
}

#[test]
fn buffer_stays_below_one_row() {
    let body = crate::sandbox::report_body(10801, "xml").unwrap();
    let max = 64 * 1024;
    let mut redactor = XmlRedactor::with_max_row_bytes(mixed(), max);
    let mut out = Vec::new();
    let mut most = 0;
    for chunk in body.chunks(64 * 1024) {
        redactor.feed(chunk, &mut out).unwrap();
        most = most.max(redactor.buffered());
    }
    redactor.finish(&mut out).unwrap();
    assert!(most <= max, "{most}");
    assert_eq!(redactor.buffered(), 0);
}
