//! Why a GetReport query was refused.
//!
//! Messages name the parameter and say what to fix; they never quote the caller's value, which may
//! be personal data (Keywords, AttributeFilter) and ends up in logs.

use std::fmt;

use super::name::Param;

/// The longest caller-spelled name an error keeps, in chars.
const MAX_ECHOED_NAME_CHARS: usize = 64;

/// A GetReport query the gateway will not forward.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// The raw query string is longer than [`Limits::max_query_bytes`](super::Limits).
    #[error("the query string is longer than {limit} bytes; shorten it")]
    QueryTooLong {
        /// The limit in force.
        limit: usize,
    },

    /// No ReportId, or an empty one (upstream error 8003).
    #[error(
        "ReportId is required: give the report's number as ?ReportId=<number> \
         or in the path /reports/<number>"
    )]
    MissingReportId,

    /// A name that is not one of GetReport's parameters.
    #[error(
        "{name:?} is not a GetReport parameter; check its spelling or remove it (the parameters \
         are ReportId, Format, CSVHeader, CSVFooter, CSVFields, CSVDelimitor, Compression, Units, \
         periodUnits, Multiples, periodMultiples, FromTime, From, periodFrom, UntilTime, Until, \
         periodUntil, AttributeFilter, AttributeFilter2, AttributeFilter3, Keywords)"
    )]
    UnknownParameter {
        /// The caller's spelling, cut to 64 chars.
        name: String,
    },

    /// A name that chooses the iCasework account or credential.
    #[error(
        "{name} is not accepted: casegate chooses the iCasework account and credential, \
         and a caller must never choose them; remove it"
    )]
    ForbiddenParameter {
        /// The forbidden name's usual spelling (`db`, `Key`, `Signature`, `access_token`).
        name: &'static str,
    },

    /// The same parameter twice, in any letter case, or in both the path and the query.
    #[error("{param} was given more than once{}; give it once", dup_note(*.in_path))]
    DuplicateParameter {
        /// The repeated parameter.
        param: Param,
        /// The route's `/reports/{ReportId}` supplied one of them.
        in_path: bool,
    },

    /// A value that does not fit its parameter.
    #[error("{param} {reason}")]
    InvalidParameter {
        /// The parameter.
        param: Param,
        /// What the value must look like; completes a sentence starting with the name.
        reason: &'static str,
    },

    /// A control character (C0, DEL or C1: NUL, TAB, CR, LF...) in a decoded name or value.
    #[error(
        "{} contains a control character (such as NUL, TAB, CR or LF); remove it",
        Subject(*.param)
    )]
    ControlCharacter {
        /// The parameter whose value holds it; `None` when it is in a name.
        param: Option<Param>,
    },

    /// A value longer than [`Limits::max_value_bytes`](super::Limits) once decoded.
    #[error("the value of {param} is longer than {limit} bytes once decoded; shorten it")]
    ValueTooLong {
        /// The parameter.
        param: Param,
        /// The limit in force.
        limit: usize,
    },

    /// A pair with a name that is empty (`=5`).
    #[error("the query has a parameter with an empty name (\"=...\"); name it or remove it")]
    EmptyName,

    /// A `%` not followed by two hex digits.
    #[error(
        "{} has an invalid percent-escape; escape every byte as % and two hex digits \
         (write % itself as %25)",
        Subject(*.param)
    )]
    InvalidEscape {
        /// The parameter whose value holds it; `None` when it is in a name.
        param: Option<Param>,
    },

    /// Percent-decoding produced bytes that are not UTF-8.
    #[error("{} is not UTF-8 once percent-decoded; percent-encode UTF-8 text", Subject(*.param))]
    InvalidUtf8 {
        /// The parameter whose value holds it; `None` when it is in a name.
        param: Option<Param>,
    },
}

impl ParamError {
    /// A stable snake_case code for the response body and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ParamError::QueryTooLong { .. } => "query_too_long",
            ParamError::MissingReportId => "missing_report_id",
            ParamError::UnknownParameter { .. } => "unknown_parameter",
            ParamError::ForbiddenParameter { .. } => "forbidden_parameter",
            ParamError::DuplicateParameter { .. } => "duplicate_parameter",
            ParamError::InvalidParameter { .. } => "invalid_parameter",
            ParamError::ControlCharacter { .. } => "control_character",
            ParamError::ValueTooLong { .. } => "value_too_long",
            ParamError::EmptyName
            | ParamError::InvalidEscape { .. }
            | ParamError::InvalidUtf8 { .. } => "malformed_query",
        }
    }

    /// The iCasework error code the upstream would have answered with, where there is one, so
    /// callers written against iCasework keep working: 8003 for a missing ReportId.
    pub fn upstream_code(&self) -> Option<u16> {
        match self {
            ParamError::MissingReportId => Some(8003),
            _ => None,
        }
    }

    /// The parameter at fault: its canonical name, or the caller's spelling (at most 64 chars)
    /// for an unknown one. `None` when the fault is not in one parameter, or is in a name that
    /// cannot be shown (undecodable, or holding control characters).
    pub fn parameter(&self) -> Option<&str> {
        match self {
            ParamError::MissingReportId => Some(Param::ReportId.name()),
            ParamError::UnknownParameter { name } => Some(name),
            ParamError::ForbiddenParameter { name } => Some(name),
            ParamError::DuplicateParameter { param, .. }
            | ParamError::InvalidParameter { param, .. }
            | ParamError::ValueTooLong { param, .. } => Some(param.name()),
            ParamError::ControlCharacter { param }
            | ParamError::InvalidEscape { param }
            | ParamError::InvalidUtf8 { param } => param.map(Param::name),
            ParamError::QueryTooLong { .. } | ParamError::EmptyName => None,
        }
    }

    /// An unknown name, cut to 64 chars.
    pub(crate) fn unknown(name: &str) -> ParamError {
        let name = match name.char_indices().nth(MAX_ECHOED_NAME_CHARS) {
            Some((cut, _)) => &name[..cut],
            None => name,
        };
        ParamError::UnknownParameter {
            name: name.to_owned(),
        }
    }

    pub(crate) fn invalid(param: Param, reason: &'static str) -> ParamError {
        ParamError::InvalidParameter { param, reason }
    }
}

fn dup_note(in_path: bool) -> &'static str {
    if in_path {
        " (the path /reports/{ReportId} already gives it)"
    } else {
        " (names match in any letter case)"
    }
}

/// "the value of X" or "a parameter name".
struct Subject(Option<Param>);

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => write!(f, "the value of {p}"),
            None => f.write_str("a parameter name"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parameters_and_messages() {
        use ParamError as E;
        let table: [(E, &str, Option<&str>, &str); 12] = [
            (
                E::QueryTooLong { limit: 10 },
                "query_too_long",
                None,
                "longer than 10 bytes",
            ),
            (
                E::MissingReportId,
                "missing_report_id",
                Some("ReportId"),
                "ReportId is required",
            ),
            (
                E::unknown("Colour"),
                "unknown_parameter",
                Some("Colour"),
                "\"Colour\" is not a GetReport parameter",
            ),
            (
                E::ForbiddenParameter { name: "db" },
                "forbidden_parameter",
                Some("db"),
                "db is not accepted: casegate chooses the iCasework account and credential",
            ),
            (
                E::DuplicateParameter {
                    param: Param::ReportId,
                    in_path: true,
                },
                "duplicate_parameter",
                Some("ReportId"),
                "ReportId was given more than once (the path",
            ),
            (
                E::DuplicateParameter {
                    param: Param::Format,
                    in_path: false,
                },
                "duplicate_parameter",
                Some("Format"),
                "Format was given more than once (names match in any letter case)",
            ),
            (
                E::invalid(Param::Units, "must be one of: x"),
                "invalid_parameter",
                Some("Units"),
                "Units must be one of: x",
            ),
            (
                E::ControlCharacter {
                    param: Some(Param::Keywords),
                },
                "control_character",
                Some("Keywords"),
                "the value of Keywords contains a control character",
            ),
            (
                E::ControlCharacter { param: None },
                "control_character",
                None,
                "a parameter name contains a control character",
            ),
            (
                E::ValueTooLong {
                    param: Param::Keywords,
                    limit: 1024,
                },
                "value_too_long",
                Some("Keywords"),
                "the value of Keywords is longer than 1024 bytes",
            ),
            (E::EmptyName, "malformed_query", None, "empty name"),
            (
                E::InvalidEscape {
                    param: Some(Param::From),
                },
                "malformed_query",
                Some("From"),
                "the value of From has an invalid percent-escape",
            ),
        ];
        for (err, code, param, message) in table {
            assert_eq!(err.code(), code, "{err:?}");
            assert_eq!(err.parameter(), param, "{err:?}");
            let shown = err.to_string();
            assert!(shown.contains(message), "{shown:?} lacks {message:?}");
            let want_upstream = (code == "missing_report_id").then_some(8003);
            assert_eq!(err.upstream_code(), want_upstream);
        }
        assert_eq!(E::InvalidUtf8 { param: None }.code(), "malformed_query");
    }

    #[test]
    fn unknown_names_are_cut_to_64_chars() {
        let long = "é".repeat(100);
        let err = ParamError::unknown(&long);
        assert_eq!(err.parameter().unwrap().chars().count(), 64);
        let short = ParamError::unknown("abc");
        assert_eq!(short.parameter(), Some("abc"));
    }

    #[test]
    fn unknown_names_are_shown_escaped() {
        // Names never hold control characters by the time they get here, but quotes and
        // backslashes must not let a name pass itself off as part of the message.
        let err = ParamError::unknown("a\"b");
        assert!(err.to_string().starts_with(r#""a\"b" is not"#));
    }
}
