//! `parse` end to end: each accepted form with its canonical result, each refusal with its code
//! and the parameter it names.

use super::*;

fn canonical(query: &str, path: Option<&str>) -> Result<(String, bool), ParamError> {
    let parsed = parse(Some(query), path, &Limits::default())?;
    let mut out = String::new();
    parsed.canonical.write_query(&mut out);
    Ok((out, parsed.gzip))
}

#[test]
fn valid_queries_and_their_canonical_form() {
    #[rustfmt::skip]
    let table: &[(&str, Option<&str>, &str)] = &[
        ("ReportId=10800", None, "Format=xml&ReportId=10800"),
        ("reportid=010800&FORMAT=JSON", None, "Format=json&ReportId=10800"),
        ("", Some("10800"), "Format=xml&ReportId=10800"),
        ("Format=csv", Some("7"), "Format=csv&ReportId=7"),
        (
            "ReportId=10800&Format=json&From=2024-01-01&Until=2024-01-31&Keywords=a,b",
            None,
            "Format=json&From=2024-01-01&Keywords=a%2Cb&ReportId=10800&Until=2024-01-31",
        ),
        ("&&ReportId=1&&", None, "Format=xml&ReportId=1"),
        ("ReportId=1&Keywords=&AttributeFilter", None, "Format=xml&ReportId=1"),
        ("ReportId=1&Format=", None, "Format=xml&ReportId=1"),
        ("ReportId=1&Keywords=Fred+Bloggs%2C+1%2B1", None, "Format=xml&Keywords=Fred%20Bloggs%2C%201%2B1&ReportId=1"),
        ("ReportId=1&Keywords=caf%C3%A9", None, "Format=xml&Keywords=caf%C3%A9&ReportId=1"),
        ("Report%49d=1", None, "Format=xml&ReportId=1"),
        ("ReportId=1&Keywords=a=b", None, "Format=xml&Keywords=a%3Db&ReportId=1"),
        ("ReportId=1&CSVDelimitor=%2C", None, "Format=xml&ReportId=1"),
        ("ReportId=1&csvdelimitor=%3B", None, "CSVDelimitor=%3B&Format=xml&ReportId=1"),
        ("ReportId=1&CSVHeader=true&csvfooter=YES", None, "CSVFooter=yes&CSVHeader=yes&Format=xml&ReportId=1"),
        ("ReportId=1&CSVFields=A.b+,+c", None, "CSVFields=a.b%2Cc&Format=xml&ReportId=1"),
        ("ReportId=1&units=year+to+date&multiples=02", None, "Format=xml&Multiples=2&ReportId=1&Units=Year%20to%20date"),
        ("ReportId=1&periodunits=Today&periodmultiples=1", None, "Format=xml&ReportId=1&periodMultiples=1&periodUnits=Today"),
        ("ReportId=1&periodFrom=2024-02-29&periodUntil=2024-03-01", None, "Format=xml&ReportId=1&periodFrom=2024-02-29&periodUntil=2024-03-01"),
        ("ReportId=1&FromTime=2022-09-21T00:00:01.5&UntilTime=2022-09-21+23:59:59", None, "Format=xml&FromTime=2022-09-21%2000%3A00%3A01&ReportId=1&UntilTime=2022-09-21%2023%3A59%3A59"),
        ("ReportId=1&AttributeFilter2=x&AttributeFilter3=%20y%20", None, "AttributeFilter2=x&AttributeFilter3=%20y%20&Format=xml&ReportId=1"),
    ];
    for (query, path, want) in table {
        assert_eq!(
            canonical(query, *path),
            Ok(((*want).into(), false)),
            "{query:?}"
        );
    }
    let gzip = canonical("ReportId=1&Compression=GZIP", None);
    assert_eq!(gzip, Ok(("Format=xml&ReportId=1".into(), true)));
    let empty = canonical("ReportId=1&Compression=", None);
    assert_eq!(empty, Ok(("Format=xml&ReportId=1".into(), false)));
}

#[test]
fn rejected_queries_with_code_and_parameter() {
    let long_value = format!("ReportId=1&Keywords={}", "k".repeat(1025));
    #[rustfmt::skip]
    let table: &[(&str, Option<&str>, &str, Option<&str>)] = &[
        ("", None, "missing_report_id", Some("ReportId")),
        ("ReportId=", None, "missing_report_id", Some("ReportId")),
        ("ReportId", None, "missing_report_id", Some("ReportId")),
        ("Format=json", None, "missing_report_id", Some("ReportId")),
        ("", Some(""), "missing_report_id", Some("ReportId")),
        (
            "ReportId=1&reportid=2",
            None,
            "duplicate_parameter",
            Some("ReportId"),
        ),
        (
            "Format=xml&format=xml",
            None,
            "duplicate_parameter",
            Some("Format"),
        ),
        (
            "ReportId=1&Keywords=&KEYWORDS=a",
            None,
            "duplicate_parameter",
            Some("Keywords"),
        ),
        (
            "ReportId=",
            Some("1"),
            "duplicate_parameter",
            Some("ReportId"),
        ),
        (
            "ReportId=1",
            Some("1"),
            "duplicate_parameter",
            Some("ReportId"),
        ),
        (
            "ReportId=1&Colour=red",
            None,
            "unknown_parameter",
            Some("Colour"),
        ),
        (
            "ReportId=1&AttributeFilter4=x",
            None,
            "unknown_parameter",
            Some("AttributeFilter4"),
        ),
        (
            "ReportId=1&db=acme",
            None,
            "forbidden_parameter",
            Some("db"),
        ),
        ("ReportId=1&KEY=k", None, "forbidden_parameter", Some("Key")),
        (
            "ReportId=1&signature=s",
            None,
            "forbidden_parameter",
            Some("Signature"),
        ),
        (
            "ReportId=1&Access_Token=",
            None,
            "forbidden_parameter",
            Some("access_token"),
        ),
        ("ReportId=0", None, "invalid_parameter", Some("ReportId")),
        ("", Some("%31"), "invalid_parameter", Some("ReportId")),
        (
            "ReportId=1&Format=pdf",
            None,
            "invalid_parameter",
            Some("Format"),
        ),
        (
            "ReportId=1&Compression=br",
            None,
            "invalid_parameter",
            Some("Compression"),
        ),
        (
            "ReportId=1&From=2023-02-29",
            None,
            "invalid_parameter",
            Some("From"),
        ),
        (
            "ReportId=1&Units=Fortnight",
            None,
            "invalid_parameter",
            Some("Units"),
        ),
        (
            "ReportId=1&Keywords=a%0Ab",
            None,
            "control_character",
            Some("Keywords"),
        ),
        (
            "ReportId=1&Keywords=a%00",
            None,
            "control_character",
            Some("Keywords"),
        ),
        (
            "ReportId=1&Keywords=%09",
            None,
            "control_character",
            Some("Keywords"),
        ),
        (
            "ReportId=1&Keywords=%7F",
            None,
            "control_character",
            Some("Keywords"),
        ),
        (
            "ReportId=1&Keywords=%C2%85",
            None,
            "control_character",
            Some("Keywords"),
        ),
        ("", Some("1\r"), "control_character", Some("ReportId")),
        ("ReportId=1&Key%0Dwords=a", None, "control_character", None),
        (&long_value, None, "value_too_long", Some("Keywords")),
        ("=1&ReportId=1", None, "malformed_query", None),
        ("ReportId=1&=", None, "malformed_query", None),
        (
            "ReportId=1&Keywords=100%",
            None,
            "malformed_query",
            Some("Keywords"),
        ),
        (
            "ReportId=1&Keywords=%zz",
            None,
            "malformed_query",
            Some("Keywords"),
        ),
        (
            "ReportId=1&Keywords=%4",
            None,
            "malformed_query",
            Some("Keywords"),
        ),
        (
            "ReportId=1&Keywords=%C3",
            None,
            "malformed_query",
            Some("Keywords"),
        ),
        (
            "ReportId=1&Keywords=%FF+",
            None,
            "malformed_query",
            Some("Keywords"),
        ),
        ("ReportId=1&Rep%ortId=1", None, "malformed_query", None),
        // The first fault in query order wins.
        (
            "Colour=red&ReportId=0",
            None,
            "unknown_parameter",
            Some("Colour"),
        ),
        (
            "ReportId=0&Colour=red",
            None,
            "invalid_parameter",
            Some("ReportId"),
        ),
    ];
    for (query, path, code, param) in table {
        let err = parse(Some(query), *path, &Limits::default()).unwrap_err();
        assert_eq!(
            (err.code(), err.parameter()),
            (*code, *param),
            "{query:?} {path:?}: {err}"
        );
    }
}

#[test]
fn query_length_is_checked_first() {
    let limits = Limits {
        max_query_bytes: 8,
        max_value_bytes: 1024,
    };
    let err = parse(Some("%zz&db=1&="), None, &limits).unwrap_err();
    assert_eq!(err.code(), "query_too_long");
    assert!(parse(Some("ReportId"), None, &limits).is_err_and(|e| e.code() == "missing_report_id"));
    assert!(parse(None, Some("1"), &limits).is_ok());
}

#[test]
fn messages_say_what_to_fix_without_the_value() {
    let table = [
        (
            "ReportId=1&Units=Secret+Name",
            "Units must be one of: \"Year to date\", \"Month to date\"",
        ),
        (
            "ReportId=1&From=Secret",
            "From must be a calendar date YYYY-MM-DD",
        ),
        (
            "ReportId=1&db=Secret",
            "db is not accepted: casegate chooses the iCasework account and credential",
        ),
        (
            "ReportId=1&CSVHeader=Secret",
            "CSVHeader accepts yes or true; omit it for no header",
        ),
        (
            "ReportId=1&Keywords=Secret%0A",
            "the value of Keywords contains a control character",
        ),
        (
            "ReportId=1&Keywords=Secret%",
            "the value of Keywords has an invalid percent-escape",
        ),
    ];
    for (query, want) in table {
        let shown = parse(Some(query), None, &Limits::default())
            .unwrap_err()
            .to_string();
        assert!(shown.starts_with(want), "{shown}");
        assert!(!shown.contains("Secret"), "{shown}");
    }
}
