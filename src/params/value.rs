//! Each parameter's value: what it may look like, and its one normalised spelling.
//!
//! Values arrive percent-decoded, non-empty, within the size limit and free of control
//! characters. The normalised form is borrowed from the input whenever it is a slice of it (or a
//! static spelling), so the common query allocates nothing before the canonical buffer.

mod datetime;

use std::borrow::Cow;

use super::name::Param;
use super::report::{ReportId, FORMAT};
use datetime::{date, date_time, Round};

/// What a value must look like; completes a sentence that starts with the parameter's name.
pub(crate) type Reason = &'static str;

const CSV_HEADER: Reason = "accepts yes or true; omit it for no header";
const CSV_FOOTER: Reason = "accepts yes or true; omit it for no footer";
const CSV_FIELDS: Reason = "must be a comma-separated list of column names, each made of \
    letters, digits, '_', '.' or '-' (e.g. casedetailscomplaint.details)";
const CSV_FIELDS_EMPTY: Reason = "has an empty column name; remove the extra comma";
const CSV_FIELDS_REPEATED: Reason = "names a column more than once; list each column once";
const CSV_DELIMITOR: Reason = "must be exactly one ASCII character, not a double quote or a \
    line break; omit it for a comma";
const COMPRESSION: Reason = "accepts only gzip; omit it for an uncompressed response";
const UNITS_REASON: Reason = "must be one of: \"Year to date\", \"Month to date\", \
    \"Week to date\", \"Next weeks\", \"Next days\", \"Previous year\", \"Previous month\", \
    \"Previous quarter\", \"Previous financial year\", \"Previous municipal year\", \"Today\"";
const MULTIPLES: Reason = "must be a whole number from 1 to 100000, digits only";

/// The timeframe names of Units and periodUnits, in the upstream's spelling.
const UNITS: [&str; 11] = [
    "Year to date",
    "Month to date",
    "Week to date",
    "Next weeks",
    "Next days",
    "Previous year",
    "Previous month",
    "Previous quarter",
    "Previous financial year",
    "Previous municipal year",
    "Today",
];

const MAX_MULTIPLES: u32 = 100_000;

/// What a valid value contributes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Normalised<'a> {
    /// This spelling goes into the canonical form.
    Value(Cow<'a, str>),
    /// Valid, but the upstream's default, so left out of the canonical form (a comma
    /// CSVDelimitor): both spellings must key the same cache entry.
    Default,
    /// `Compression=gzip`: transport, never part of the canonical form.
    Gzip,
}

/// Checks `value` (percent-decoded, non-empty, free of control characters) against `param` and
/// returns its normalised spelling.
pub(crate) fn normalise(param: Param, value: Cow<'_, str>) -> Result<Normalised<'_>, Reason> {
    let normalised = match param {
        Param::ReportId => {
            let (_, digits) = ReportId::parse_digits(&value)?;
            let zeros = value.len() - digits.len();
            drop_prefix(value, zeros)
        }
        Param::Format => {
            Cow::Borrowed(value.parse::<super::Format>().map_err(|_| FORMAT)?.as_str())
        }
        Param::Compression if value.eq_ignore_ascii_case("gzip") => return Ok(Normalised::Gzip),
        Param::Compression => return Err(COMPRESSION),
        Param::CsvHeader => yes(&value, CSV_HEADER)?,
        Param::CsvFooter => yes(&value, CSV_FOOTER)?,
        Param::CsvFields => csv_fields(value)?,
        Param::CsvDelimitor => return csv_delimitor(value),
        Param::Units | Param::PeriodUnits => units(&value)?,
        Param::Multiples | Param::PeriodMultiples => multiples(value)?,
        Param::From | Param::Until | Param::PeriodFrom | Param::PeriodUntil => date(value)?,
        Param::FromTime => date_time(value, Round::Down)?,
        Param::UntilTime => date_time(value, Round::Up)?,
        // Free text, passed on exactly as given.
        Param::AttributeFilter
        | Param::AttributeFilter2
        | Param::AttributeFilter3
        | Param::Keywords => value,
    };
    Ok(Normalised::Value(normalised))
}

fn yes(value: &str, reason: Reason) -> Result<Cow<'static, str>, Reason> {
    if value.eq_ignore_ascii_case("yes") || value.eq_ignore_ascii_case("true") {
        Ok(Cow::Borrowed("yes"))
    } else {
        Err(reason)
    }
}

fn csv_fields(value: Cow<'_, str>) -> Result<Cow<'_, str>, Reason> {
    let is_column_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    let columns = || value.split(',').map(|c| c.trim_matches(' '));
    for (i, column) in columns().enumerate() {
        if column.is_empty() {
            return Err(CSV_FIELDS_EMPTY);
        }
        if !column.bytes().all(is_column_byte) {
            return Err(CSV_FIELDS);
        }
        // Quadratic, but bounded by max_value_bytes and usually a handful of columns.
        if columns().take(i).any(|c| c.eq_ignore_ascii_case(column)) {
            return Err(CSV_FIELDS_REPEATED);
        }
    }
    // ASCII by now: only letter case and spaces can set it apart from its canonical form.
    if !value.bytes().any(|b| b == b' ' || b.is_ascii_uppercase()) {
        return Ok(value);
    }
    let mut out = String::with_capacity(value.len());
    for column in columns() {
        if !out.is_empty() {
            out.push(',');
        }
        out.extend(column.chars().map(|c| c.to_ascii_lowercase()));
    }
    Ok(Cow::Owned(out))
}

fn csv_delimitor(value: Cow<'_, str>) -> Result<Normalised<'_>, Reason> {
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(','), None) => Ok(Normalised::Default),
        // ASCII only: the CSV redactor splits records on one byte (and every delimiter iCasework
        // documents is ASCII).
        (Some(c), None) if c.is_ascii() && c != '"' && !c.is_control() => {
            Ok(Normalised::Value(value))
        }
        _ => Err(CSV_DELIMITOR),
    }
}

fn units(value: &str) -> Result<Cow<'static, str>, Reason> {
    UNITS
        .into_iter()
        .find(|u| u.eq_ignore_ascii_case(value))
        .map(Cow::Borrowed)
        .ok_or(UNITS_REASON)
}

fn multiples(value: Cow<'_, str>) -> Result<Cow<'_, str>, Reason> {
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MULTIPLES);
    }
    let zeros = value.len() - value.trim_start_matches('0').len();
    match number(&value.as_bytes()[zeros..]) {
        Some(n) if (1..=MAX_MULTIPLES).contains(&n) => Ok(drop_prefix(value, zeros)),
        _ => Err(MULTIPLES),
    }
}

/// `value` without its first `n` bytes, still borrowed if it was.
fn drop_prefix(value: Cow<'_, str>, n: usize) -> Cow<'_, str> {
    match value {
        Cow::Borrowed(s) => Cow::Borrowed(&s[n..]),
        Cow::Owned(mut s) => {
            s.drain(..n);
            Cow::Owned(s)
        }
    }
}

/// The number written in `digits`: 1 to 6 ASCII digits.
fn number(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 6 {
        return None;
    }
    digits.iter().try_fold(0u32, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use Normalised::{Default as Dflt, Gzip};

    fn value(s: &str) -> Normalised<'_> {
        Normalised::Value(Cow::Borrowed(s))
    }

    #[test]
    fn valid_values_and_their_canonical_form() {
        use Param as P;
        #[rustfmt::skip]
        let table: &[(Param, &str, Normalised<'_>)] = &[
            (P::ReportId, "10800", value("10800")),
            (P::ReportId, "0010800", value("10800")),
            (P::Format, "json", value("json")),
            (P::Format, "CSV", value("csv")),
            (P::Format, "Xml", value("xml")),
            (P::Compression, "gzip", Gzip),
            (P::Compression, "GZip", Gzip),
            (P::CsvHeader, "yes", value("yes")),
            (P::CsvHeader, "TRUE", value("yes")),
            (P::CsvFooter, "True", value("yes")),
            (P::CsvFields, "casedetailscomplaint.details", value("casedetailscomplaint.details")),
            (P::CsvFields, "CaseDetails.CaseId , customer.full_name-x", value("casedetails.caseid,customer.full_name-x")),
            (P::CsvFields, " a,B ", value("a,b")),
            (P::CsvDelimitor, "*", value("*")),
            (P::CsvDelimitor, " ", value(" ")),
            (P::CsvDelimitor, ",", Dflt),
            (P::Units, "Year to date", value("Year to date")),
            (P::Units, "next DAYS", value("Next days")),
            (P::PeriodUnits, "previous municipal year", value("Previous municipal year")),
            (P::PeriodUnits, "TODAY", value("Today")),
            (P::Multiples, "5", value("5")),
            (P::Multiples, "0005", value("5")),
            (P::PeriodMultiples, "100000", value("100000")),
            (P::From, "2022-09-21", value("2022-09-21")),
            (P::PeriodUntil, "2024-02-29", value("2024-02-29")),
            (P::FromTime, "2022-09-21T00:00:01.9", value("2022-09-21 00:00:01")),
            (P::UntilTime, "2022-09-21T00:00:01.9", value("2022-09-21 00:00:02")),
            (P::Keywords, "icasework,civica,great", value("icasework,civica,great")),
            (P::Keywords, " Fred Bloggs ", value(" Fred Bloggs ")),
            (P::AttributeFilter, "36512", value("36512")),
            (P::AttributeFilter2, "a=b&c", value("a=b&c")),
            (P::AttributeFilter3, "∑ ünïcode", value("∑ ünïcode")),
        ];
        for (param, input, want) in table {
            let got = normalise(*param, Cow::Borrowed(input));
            assert_eq!(got.as_ref(), Ok(want), "{param} = {input:?}");
            // An owned input (it needed percent-decoding) normalises the same way.
            let owned = normalise(*param, Cow::Owned((*input).to_owned()));
            assert_eq!(owned.as_ref(), Ok(want), "{param} = {input:?} (owned)");
        }
    }

    #[test]
    fn the_common_forms_do_not_allocate() {
        let table = [
            (Param::ReportId, "0010800"),
            (Param::Format, "JSON"),
            (Param::Keywords, "a,b"),
            (Param::From, "2024-01-01"),
            (Param::FromTime, "2024-01-01 10:00:00"),
            (Param::Multiples, "05"),
            (Param::CsvFields, "a.b,c"),
            (Param::Units, "today"),
        ];
        for (param, input) in table {
            let got = normalise(param, Cow::Borrowed(input));
            assert!(
                matches!(got, Ok(Normalised::Value(Cow::Borrowed(_)))),
                "{param}: {got:?}"
            );
        }
    }

    #[test]
    fn rejected_values_and_the_reason() {
        use Param as P;
        let table: &[(Param, &str, Reason)] = &[
            (P::ReportId, "0", super::super::report::REPORT_ID),
            (P::Format, "html", FORMAT),
            (P::Compression, "deflate", COMPRESSION),
            (P::Compression, "gzip,br", COMPRESSION),
            (P::CsvHeader, "no", CSV_HEADER),
            (P::CsvHeader, "1", CSV_HEADER),
            (P::CsvFooter, "y", CSV_FOOTER),
            (P::CsvFields, "a,,b", CSV_FIELDS_EMPTY),
            (P::CsvFields, "a,", CSV_FIELDS_EMPTY),
            (P::CsvFields, " ", CSV_FIELDS_EMPTY),
            (P::CsvFields, "a b", CSV_FIELDS),
            (P::CsvFields, "a;b", CSV_FIELDS),
            (P::CsvFields, "naïve", CSV_FIELDS),
            (P::CsvFields, "a,b,A", CSV_FIELDS_REPEATED),
            (P::CsvDelimitor, "\"", CSV_DELIMITOR),
            (P::CsvDelimitor, "é", CSV_DELIMITOR),
            (P::CsvDelimitor, "\t", CSV_DELIMITOR),
            (P::CsvDelimitor, "\r", CSV_DELIMITOR),
            (P::CsvDelimitor, ";;", CSV_DELIMITOR),
            (P::CsvDelimitor, ",,", CSV_DELIMITOR),
            (P::Units, "Year  to date", UNITS_REASON),
            (P::Units, "Years", UNITS_REASON),
            (P::PeriodUnits, "Next days“", UNITS_REASON),
            (P::Multiples, "0", MULTIPLES),
            (P::Multiples, "000", MULTIPLES),
            (P::Multiples, "100001", MULTIPLES),
            (P::Multiples, "1000000", MULTIPLES),
            (P::Multiples, "-5", MULTIPLES),
            (P::Multiples, "1.5", MULTIPLES),
            (P::PeriodMultiples, "99999999999999999999", MULTIPLES),
        ];
        for (param, input, want) in table {
            let got = normalise(*param, Cow::Borrowed(input));
            assert_eq!(got, Err(*want), "{param} = {input:?}");
        }
        // Dates and times have their own table in datetime.rs; check the dispatch only.
        let date = normalise(P::Until, Cow::Borrowed("2023-02-29"));
        assert!(date.is_err_and(|r| r.contains("calendar date")));
        let time = normalise(P::FromTime, Cow::Borrowed("2023-02-28"));
        assert!(time.is_err_and(|r| r.contains("date and time")));
    }

    #[test]
    fn every_units_spelling_is_its_own_canonical_form() {
        for unit in UNITS {
            let upper = unit.to_ascii_uppercase();
            let got = normalise(Param::PeriodUnits, Cow::Owned(upper));
            assert_eq!(got, Ok(value(unit)));
            assert!(UNITS_REASON.contains(&format!("\"{unit}\"")), "{unit}");
        }
    }
}
