//! Writes the seed corpora under `corpus/<target>/`: the sandbox's reports in every format,
//! a few hand-made bodies at the edges of each format, queries and tokens. The fuzzer finds
//! the rest. Rerun after changing a target's input layout (the ES256 token comes out different
//! each time: ECDSA signatures are randomised):
//!
//! `cargo run --manifest-path tests/fuzz/Cargo.toml --example seeds`

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use casegate::sandbox::{generated_report_body, report_body, REPORT_EMPTY, REPORT_EXAMPLE};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

const FUZZ: &str = env!("CARGO_MANIFEST_DIR");

fn dir(target: &str) -> PathBuf {
    let dir = Path::new(FUZZ).join("corpus").join(target);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a seed: the prefix bytes the target reads first, then the body.
fn seed(dir: &Path, name: &str, prefix: &[u8], body: &[u8]) {
    let mut data = prefix.to_vec();
    data.extend_from_slice(body);
    std::fs::write(dir.join(name), data).unwrap();
}

fn report(id: u64, format: &str) -> Vec<u8> {
    report_body(id, format).unwrap()
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body).unwrap();
    gz.finish().unwrap()
}

/// Chunk-size bytes: the whole body at once, 1-byte chunks, up to 7, up to 61, up to 4096.
const WHOLE: u8 = 7;
const ONES: u8 = 0;
const SEVENS: u8 = 3 | (5 << 3);
const SIXTIES: u8 = 5 | (9 << 3);
const PAGES: u8 = 6 | (1 << 3);
/// Row-limit byte: 128 bytes (see `max_row_bytes`).
const SMALL_ROWS: u8 = 1 | (3 << 1);

fn redact_xml() {
    let d = dir("redact_xml");
    seed(&d, "example", &[WHOLE, 0], &report(REPORT_EXAMPLE, "xml"));
    seed(
        &d,
        "example-sevens",
        &[SEVENS, 0],
        &report(REPORT_EXAMPLE, "xml"),
    );
    seed(
        &d,
        "example-small-rows",
        &[SIXTIES, SMALL_ROWS],
        &report(REPORT_EXAMPLE, "xml"),
    );
    seed(&d, "empty", &[ONES, 0], &report(REPORT_EMPTY, "xml"));
    seed(
        &d,
        "generated-3",
        &[PAGES, 0],
        &generated_report_body(3, "xml").unwrap(),
    );
    let edges = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<Rows>\n\
        <Row><Customer.FullName>SECRETPII &amp; co</Customer.FullName>\
        <Customer.Phone><![CDATA[SECRETPII 01632 960000]]></Customer.Phone>\
        <Customer.EmailAddress>secretpii&#64;example.org</Customer.EmailAddress>\
        <CaseDetails.Notes><![CDATA[</Row> inside CDATA]]></CaseDetails.Notes>\
        <customer.phone/><CUSTOMER.EMAILADDRESS></CUSTOMER.EMAILADDRESS>\
        <Case.Reference>&lt;1&gt;&#x41;</Case.Reference></Row>\n<Row/>\n<Row >\n</Row >\n</Rows>\n";
    seed(&d, "edges", &[SEVENS, 0], edges.as_bytes());
}

fn redact_json() {
    let d = dir("redact_json");
    seed(&d, "example", &[WHOLE, 0], &report(REPORT_EXAMPLE, "json"));
    seed(
        &d,
        "example-sevens",
        &[SEVENS, 0],
        &report(REPORT_EXAMPLE, "json"),
    );
    seed(
        &d,
        "example-small-rows",
        &[SIXTIES, SMALL_ROWS],
        &report(REPORT_EXAMPLE, "json"),
    );
    seed(&d, "empty", &[ONES, 0], &report(REPORT_EMPTY, "json"));
    seed(
        &d,
        "generated-3",
        &[PAGES, 0],
        &generated_report_body(3, "json").unwrap(),
    );
    let edges = r#"[
 {"Customer.FullName":"SECRETPII {\"}","Customer\u002ePhone" : "SECRETPII\r\n",
  "Customer.EmailAddress":"secretpii\ud83d\ude00@example.org", "Case.Reference":"\/1\u00e9",
  "customer.phone":"", "CaseDetails.TotalRedress":"1", "CaseDetails.TotalRedress":"2"} ,
 {}
]
"#;
    seed(&d, "edges", &[SEVENS, 0], edges.as_bytes());
}

fn redact_csv() {
    let d = dir("redact_csv");
    // Options: bits 0-1 the delimiter (`,` `;` TAB `|`), bit 2 the footer.
    let csv = report(REPORT_EXAMPLE, "csv");
    seed(&d, "example", &[WHOLE, 0], &csv);
    seed(&d, "example-sevens", &[SEVENS, 0], &csv);
    seed(&d, "example-small-rows", &[SIXTIES, SMALL_ROWS << 3], &csv);
    let mut footed = csv.clone();
    footed.extend_from_slice(b"1\r\n");
    seed(&d, "example-footer", &[SEVENS, 4], &footed);
    seed(&d, "empty", &[ONES, 0], &report(REPORT_EMPTY, "csv"));
    seed(
        &d,
        "generated-3",
        &[PAGES, 0],
        &generated_report_body(3, "csv").unwrap(),
    );
    let edges = "\u{feff}Customer.FullName;Customer.Phone;\"Customer.EmailAddress\";Case.Reference;\"Customer.\"\"Notes\"\r\n\
        \"SECRETPII; \"\"quoted\"\"\";SECRETPII 01632;secretpii@example.org;\"multi\r\nline\";x\r\n\
        ;;;;\r\n\
        \"\";\"\";\"\";\"\";\"\"\r\n";
    seed(&d, "edges-semicolon", &[SEVENS, 1], edges.as_bytes());
    seed(
        &d,
        "one-column-footer",
        &[ONES, 2 | 4],
        b"Customer.Reference\r\n214521\r\n\"\"\r\n2\r\n",
    );
    // Byte order marks that once hid a dropped column from the rules.
    let boms = "\u{feff}\u{feff}Customer.Notes,Case.Reference\r\nSECRETPII,1\r\n";
    seed(&d, "double-bom", &[ONES, 0], boms.as_bytes());
    let later = "Customer.Title,\u{feff}Customer.Notes,Case.Reference\r\nMr,SECRETPII,1\r\n";
    seed(&d, "bom-after-dropped", &[WHOLE, 0], later.as_bytes());
}

fn redact_pipeline() {
    let d = dir("redact_pipeline");
    // Stages: bits 0-1 the format (xml, json, csv, csv with a footer), bit 2 gzip from upstream,
    // bit 3 the target compresses the body first, bit 4 gzip to the caller.
    for (format, bits) in [("xml", 0u8), ("json", 1), ("csv", 2)] {
        let body = report(REPORT_EXAMPLE, format);
        seed(&d, &format!("{format}-plain"), &[SEVENS, bits], &body);
        seed(
            &d,
            &format!("{format}-gzip-both"),
            &[SIXTIES, bits | 4 | 8 | 16],
            &body,
        );
        seed(
            &d,
            &format!("{format}-gzip-raw"),
            &[PAGES, bits | 4],
            &gzip(&body),
        );
        seed(
            &d,
            &format!("{format}-gzip-out"),
            &[WHOLE, bits | 16],
            &body,
        );
    }
    let mut footed = report(REPORT_EXAMPLE, "csv");
    footed.extend_from_slice(b"1\r\n");
    seed(&d, "csv-footer-gzip", &[SEVENS, 3 | 4 | 8 | 16], &footed);
}

fn params() {
    let d = dir("params");
    let queries = [
        "ReportId=10800&Format=json",
        "reportid=010800&format=JSON&Compression=gzip",
        "ReportId=10800&Format=csv&CSVHeader=yes&CSVFooter=true&CSVFields=Case.Reference+,+Customer.FullName&CSVDelimitor=%3B",
        "ReportId=1&Units=Year+to+date&Multiples=0005&periodUnits=Today&periodMultiples=100000",
        "ReportId=1&From=2024-02-29&Until=2024-03-01&periodFrom=0000-01-01&periodUntil=9999-12-31",
        "ReportId=1&FromTime=2024-01-01T10:00:00.7&UntilTime=9999-12-31T23:59:59.5",
        "ReportId=1&FromTime=2024-01-01+10:00:00&UntilTime=2024-01-02T00:00:00",
        "ReportId=1&AttributeFilter=SECRETPII+%C3%A9&AttributeFilter2=a%2Bb&AttributeFilter3=%25&Keywords=SECRETPII",
        "ReportId=1&Keywords=SECRETPII%01",
        "ReportId=1&Keywords=SECRETPII%C2%85",
        "ReportId=SECRETPII",
        "ReportId=1&Format=SECRETPII",
        "ReportId=1&reportid=2",
        "ReportId=1&db=other&Key=k&Signature=s",
        "SECRETPIIname=x&ReportId=1",
        "ReportId=1&Keywords=%E2%82&Keywords",
        "Format=csv&CSVDelimitor=%09#10800",
        "ReportId=2#0010800",
        "#SECRETPII",
        "&&ReportId=7&&=x",
    ];
    for (i, query) in queries.iter().enumerate() {
        seed(&d, &format!("query-{i:02}"), &[], query.as_bytes());
    }
}

fn jwt_header() {
    let d = dir("jwt_header");
    let keys = Path::new(FUZZ).join("../fixtures/keys");
    let read = |name: &str| std::fs::read(keys.join(name)).unwrap();
    let secret = read("hmac-secret");
    let secret = secret.strip_suffix(b"\n").unwrap_or(&secret).to_vec();
    let hs = EncodingKey::from_secret(&secret);
    let rsa = EncodingKey::from_rsa_pem(&read("rsa-private.pem")).unwrap();
    let ec = EncodingKey::from_ec_pem(&read("ec-private.pem")).unwrap();
    let hmac_iss = "https://hmac.example.org/";
    let pk_iss = "https://login.example.org/";
    // 2100-01-01: the valid seeds stay valid.
    let future = 4_102_444_800u64;
    let sign = |alg: Algorithm, kid: Option<&str>, claims: serde_json::Value, key: &EncodingKey| {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &claims, key).unwrap()
    };
    let claims = |iss: &str, aud: serde_json::Value, exp: u64| json!({"iss": iss, "aud": aud, "sub": "caller", "exp": exp, "iat": 1_700_000_000});
    let tokens = [
        (
            "hs256-valid",
            sign(
                Algorithm::HS256,
                None,
                claims(hmac_iss, json!("casegate"), future),
                &hs,
            ),
        ),
        (
            "hs256-aud-array",
            sign(
                Algorithm::HS256,
                None,
                claims(hmac_iss, json!(["x", "other"]), future),
                &hs,
            ),
        ),
        (
            "hs256-expired",
            sign(
                Algorithm::HS256,
                None,
                claims(hmac_iss, json!("casegate"), 1_700_000_100),
                &hs,
            ),
        ),
        (
            "hs256-wrong-aud",
            sign(
                Algorithm::HS256,
                None,
                claims(hmac_iss, json!("nobody"), future),
                &hs,
            ),
        ),
        (
            "hs512-not-allowed",
            sign(
                Algorithm::HS512,
                None,
                claims(hmac_iss, json!("casegate"), future),
                &hs,
            ),
        ),
        // Valid signatures of the public-key issuer, but never a valid token: expired, or for
        // another audience.
        (
            "rs256-expired",
            sign(
                Algorithm::RS256,
                Some("rsa"),
                claims(pk_iss, json!("casegate"), 1_700_000_100),
                &rsa,
            ),
        ),
        (
            "es256-wrong-aud",
            sign(
                Algorithm::ES256,
                Some("ec"),
                claims(pk_iss, json!("nobody"), future),
                &ec,
            ),
        ),
        // HS256 with the RSA key's kid, at the public-key issuer: the classic confusion.
        (
            "hs256-at-rsa-kid",
            sign(
                Algorithm::HS256,
                Some("rsa"),
                claims(pk_iss, json!("casegate"), future),
                &hs,
            ),
        ),
    ];
    for (name, token) in &tokens {
        seed(&d, name, &[0], token.as_bytes());
    }
    let b64 = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none"})),
        b64(claims(hmac_iss, json!("casegate"), future))
    );
    seed(&d, "alg-none", &[0], none.as_bytes());
    seed(&d, "garbage", &[0], b"Bearer not.a.token");
    // Structured: header JSON, payload JSON, signature (`HS`: the target signs it).
    let structured = [
        (
            "s-valid",
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"iss":"https://hmac.example.org/","aud":"casegate","exp":4102444800}"#,
            "HS",
        ),
        (
            "s-times",
            r#"{"alg":"HS256","kid":"k1"}"#,
            r#"{"iss":"https://hmac.example.org/","aud":["casegate"],"exp":4102444800.5,"nbf":1e9,"iat":-1,"sub":7}"#,
            "HS",
        ),
        (
            "s-crit",
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"{"iss":"https://hmac.example.org/","aud":"casegate","exp":4102444800}"#,
            "HS",
        ),
        (
            "s-dup-alg",
            r#"{"alg":"HS256","alg":"RS256"}"#,
            r#"{"iss":"https://hmac.example.org/","aud":"casegate","exp":4102444800}"#,
            "HS",
        ),
        (
            "s-rs-unsigned",
            r#"{"alg":"RS256","kid":"rsa"}"#,
            r#"{"iss":"https://login.example.org/","aud":"casegate","exp":4102444800}"#,
            "c2ln",
        ),
        (
            "s-none",
            r#"{"alg":"nOnE"}"#,
            r#"{"iss":"https://hmac.example.org/","aud":"casegate","exp":4102444800}"#,
            "",
        ),
        // Once panicked the memo: an exp past what SystemTime holds.
        (
            "s-exp-huge",
            r#"{"alg":"HS256"}"#,
            r#"{"iss":"https://hmac.example.org/","aud":"casegate","exp":1.65e19}"#,
            "HS",
        ),
    ];
    for (name, header, payload, signature) in structured {
        seed(
            &d,
            name,
            &[1],
            format!("{header}\n{payload}\n{signature}").as_bytes(),
        );
    }
}

fn main() {
    redact_xml();
    redact_json();
    redact_csv();
    redact_pipeline();
    params();
    jwt_header();
    println!("seeds written under {FUZZ}/corpus");
}
