//! The two values the gateway itself acts on: which report, and in what format.

use std::fmt;
use std::str::FromStr;

use super::error::ParamError;
use super::name::Param;
use super::value::Reason;

pub(crate) const REPORT_ID: Reason =
    "must be the report's number: 1 to 18 digits (0-9), greater than 0";
pub(crate) const FORMAT: Reason = "must be one of: csv, json, xml (the default)";

/// An iCasework report's number: 1 to 10^18 - 1.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ReportId(u64);

impl ReportId {
    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }

    /// `n` as a ReportId, if it is one (not 0, at most 18 digits).
    pub fn new(n: u64) -> Option<ReportId> {
        (1..1_000_000_000_000_000_000)
            .contains(&n)
            .then_some(ReportId(n))
    }

    /// Checks 1 to 18 ASCII digits, not all zero; returns the id and its digits without leading
    /// zeros, borrowed from `s`.
    pub(crate) fn parse_digits(s: &str) -> Result<(ReportId, &str), Reason> {
        if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(REPORT_ID);
        }
        let digits = s.trim_start_matches('0');
        // At most 18 digits: no overflow.
        let n = digits
            .bytes()
            .fold(0u64, |n, b| n * 10 + u64::from(b - b'0'));
        ReportId::new(n).map(|id| (id, digits)).ok_or(REPORT_ID)
    }
}

impl fmt::Display for ReportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for ReportId {
    type Err = ParamError;

    /// 1 to 18 ASCII digits, not all zero; leading zeros are dropped (`007` is 7).
    fn from_str(s: &str) -> Result<ReportId, ParamError> {
        ReportId::parse_digits(s)
            .map(|(id, _)| id)
            .map_err(|reason| ParamError::invalid(Param::ReportId, reason))
    }
}

/// The report's output format.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Format {
    /// `xml`, the upstream's default.
    #[default]
    Xml,
    /// `json`.
    Json,
    /// `csv`.
    Csv,
}

impl Format {
    /// The canonical (lowercase) value.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Xml => "xml",
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }

    /// The response's Content-Type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Xml => "text/xml; charset=utf-8",
            Format::Json => "application/json; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

impl FromStr for Format {
    type Err = ParamError;

    /// `csv`, `json` or `xml`, in any letter case.
    fn from_str(s: &str) -> Result<Format, ParamError> {
        [Format::Xml, Format::Json, Format::Csv]
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
            .ok_or(ParamError::invalid(Param::Format, FORMAT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_ids() {
        let table = [
            ("10800", Ok(10800)),
            ("007", Ok(7)),
            ("999999999999999999", Ok(999_999_999_999_999_999)),
            ("000000000000000001", Ok(1)),
            ("0", Err(())),
            ("000", Err(())),
            ("", Err(())),
            ("-1", Err(())),
            ("+1", Err(())),
            (" 1", Err(())),
            ("1e3", Err(())),
            ("１２", Err(())),
            ("1000000000000000000", Err(())),
            ("0000000000000000001", Err(())),
        ];
        for (input, want) in table {
            let got = input.parse::<ReportId>();
            assert_eq!(
                got.as_ref().map(|id| id.get()).map_err(|_| ()),
                want,
                "{input:?}"
            );
            if let Err(err) = got {
                assert_eq!(err.code(), "invalid_parameter");
                assert_eq!(err.parameter(), Some("ReportId"));
            }
        }
        assert_eq!(
            ReportId::new(10800).map(|id| id.to_string()),
            Some("10800".into())
        );
        assert_eq!(ReportId::new(0), None);
        assert_eq!(ReportId::new(1_000_000_000_000_000_000), None);
    }

    #[test]
    fn formats() {
        let table = [
            (Format::Xml, "xml", "text/xml; charset=utf-8"),
            (Format::Json, "json", "application/json; charset=utf-8"),
            (Format::Csv, "csv", "text/csv; charset=utf-8"),
        ];
        for (format, name, content_type) in table {
            assert_eq!(format.as_str(), name);
            assert_eq!(format.content_type(), content_type);
            assert_eq!(name.parse::<Format>(), Ok(format));
            assert_eq!(name.to_ascii_uppercase().parse::<Format>(), Ok(format));
        }
        assert_eq!(Format::default(), Format::Xml);
        for bad in ["yaml", "", "json ", "xm"] {
            assert!(bad
                .parse::<Format>()
                .is_err_and(|e| e.parameter() == Some("Format")));
        }
    }
}
