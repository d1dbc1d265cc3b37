//! GetReport's query parameters: parse, validate, canonicalise.
//!
//! [`parse`] turns the caller's query (and the `{ReportId}` of the `/reports/{ReportId}` route)
//! into a [`GetReportQuery`]: the [`CanonicalParams`] the cache keys on and the gateway sends
//! upstream, plus whether the caller asked for gzip. Anything it cannot vouch for is refused with
//! a [`ParamError`] that names the parameter and says what to fix, never quoting the value.
//!
//! Files: `name.rs` the 21 names; `decode.rs` percent-decoding; `value.rs` and
//! `value/datetime.rs` each value's rules; `report.rs` the [`ReportId`] and [`Format`] types;
//! `canonical.rs` the canonical form; `error.rs` the refusals; `tests.rs` and `proptests.rs`
//! drive [`parse`] end to end.
//!
//! # Rules
//!
//! - The raw query's length is checked before anything else ([`Limits::max_query_bytes`]).
//! - Pairs are split on `&`, then on the first `=`; empty segments (`a=1&&b=2`) are skipped. `+`
//!   is a space; `%` must be followed by two hex digits and the decoded bytes must be UTF-8, or
//!   the query is malformed. A pair with an empty name is malformed.
//! - Names match the 21 GetReport names in any ASCII case. `db`, `Key`, `Signature` and
//!   `access_token` are forbidden: casegate alone chooses the account and the credential.
//! - A name given twice in any spelling is a duplicate, even if either value is empty. The path's
//!   ReportId counts as one.
//! - An empty value means the parameter is absent (`Keywords=`), as apps that called iCasework
//!   directly send it; an empty ReportId is a missing one (upstream error 8003).
//! - Values: ReportId 1 to 18 digits, not 0, without leading zeros; Format csv, json or xml,
//!   lowercased, `xml` when absent (so absent and `xml` key the same); CSVHeader and CSVFooter
//!   yes or true, as `yes`; CSVFields column names, lowercased, spaces around commas dropped;
//!   CSVDelimitor one character; Compression gzip (a flag, not canonical); Units and periodUnits
//!   one of eleven timeframes in the upstream's spelling; Multiples and periodMultiples 1 to
//!   100000; From, Until, periodFrom, periodUntil `YYYY-MM-DD`; FromTime and UntilTime
//!   `YYYY-MM-DD hh:mm:ss`; AttributeFilter 1 to 3 and Keywords free text, kept as given.
//!
//! # Decisions where the brief was silent
//!
//! - **Errors come one at a time**, the first met wins: the path's ReportId, then the pairs in
//!   query order. Per pair: name decoding, empty name, control characters in the name, unknown or
//!   forbidden name, duplicate, value decoding, value length, control characters in the value,
//!   the value's own rules. A missing ReportId is reported last.
//! - **A segment without `=`** (`Keywords`) is a name with an empty value, as in HTML forms.
//! - **Control characters** are Unicode's `Cc` category: C0 and DEL as asked, and C1 as well
//!   (U+0080 to U+009F, e.g. NEL), which some log viewers and terminals also break lines on.
//! - **Names are echoed only when safe**: a name holding a control character or a bad escape is
//!   reported without it. Unknown names are echoed (at most 64 chars), quoted and escaped.
//! - **The path's ReportId is not percent-decoded**: it is the raw route segment, and a ReportId
//!   is ASCII digits, so an escape in it is simply invalid.
//! - **Multiples take digits only**: a sign (`-5`, `%2B5`) is refused rather than normalised.
//! - **No cross-parameter checks.** CSV options are kept when Format is not csv, From may follow
//!   Until, Units may come without Multiples: the upstream defines what those combinations mean
//!   and the gateway does not guess. They do key separate cache entries.
//! - **Dates** take years 0000 to 9999 (four digits, as chrono's calendar allows). Times carry
//!   no zone (`Z`, `+01:00` are refused): the upstream reads them as its own wall-clock time. A
//!   fraction of a second is accepted only after `T`, the ISO 8601 form clients send.
//! - **A fraction of a second is rounded outwards**, never inwards, so the window never shrinks:
//!   FromTime `…T10:00:00.7` becomes `10:00:00` (the fraction truncated: the start moves up to
//!   a second earlier), and UntilTime `…T10:00:00.7` becomes `10:00:01` (the end moves up to a
//!   second later). The window widens by less than a second at each end and never loses a row.
//!   Truncating UntilTime too would have moved the end *earlier* and could drop rows stamped in
//!   that last fraction of a second. At 9999-12-31 23:59:59 the end has nowhere to go and stays.
//! - **CSVDelimitor `,`** is the upstream's default and is dropped from the canonical form, as an
//!   absent Format becomes `xml`: one meaning, one cache key.
//!
//! # Cost
//!
//! [`parse`] borrows from the query wherever a value needs no decoding or rewriting, and the
//! canonical form keeps all its values in one `String`: the typical query allocates once.

mod canonical;
mod decode;
mod error;
mod name;
mod report;
mod value;

#[cfg(test)]
mod proptests;

use std::borrow::Cow;

pub use canonical::CanonicalParams;
pub use error::ParamError;
pub use name::Param;
pub use report::{Format, ReportId};

use decode::{decode, has_control};
use name::CANONICAL_LEN;
use value::Normalised;

/// Size limits on the caller's query.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Limits {
    /// The longest raw query string accepted, in bytes.
    pub max_query_bytes: usize,
    /// The longest value accepted once percent-decoded, in bytes.
    pub max_value_bytes: usize,
}

impl Default for Limits {
    /// 4 KiB of query, 1 KiB per value.
    fn default() -> Limits {
        Limits {
            max_query_bytes: 4096,
            max_value_bytes: 1024,
        }
    }
}

/// Everything the caller asked for, validated.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GetReportQuery {
    /// The canonical parameters.
    pub canonical: CanonicalParams,
    /// `Compression=gzip` was given. Transport only: not part of the canonical form.
    pub gzip: bool,
}

/// Parses and validates a GetReport request's query.
///
/// `query` is the raw query string without `?`; `path_report_id` is the raw `{ReportId}` segment
/// of the `/reports/{ReportId}` route, which counts as a ReportId parameter.
pub fn parse(
    query: Option<&str>,
    path_report_id: Option<&str>,
    limits: &Limits,
) -> Result<GetReportQuery, ParamError> {
    let query = query.unwrap_or_default();
    if query.len() > limits.max_query_bytes {
        return Err(ParamError::QueryTooLong {
            limit: limits.max_query_bytes,
        });
    }
    let mut parser = Parser::new(limits);
    if let Some(raw) = path_report_id {
        parser.seen |= Param::ReportId.bit();
        parser.accept(Param::ReportId, Cow::Borrowed(raw))?;
    }
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(raw_name, None)?;
        if name.is_empty() {
            return Err(ParamError::EmptyName);
        }
        if has_control(&name) {
            return Err(ParamError::ControlCharacter { param: None });
        }
        let param = Param::from_name(&name).ok_or_else(|| match name::forbidden(&name) {
            Some(name) => ParamError::ForbiddenParameter { name },
            None => ParamError::unknown(&name),
        })?;
        if parser.seen & param.bit() != 0 {
            return Err(ParamError::DuplicateParameter {
                param,
                in_path: param == Param::ReportId && path_report_id.is_some(),
            });
        }
        parser.seen |= param.bit();
        parser.accept(param, decode(raw_value, Some(param))?)?;
    }
    parser.finish()
}

/// The state of one [`parse`].
struct Parser<'q, 'l> {
    limits: &'l Limits,
    /// [`Param::bit`]s of the names met so far, empty values included.
    seen: u32,
    /// Normalised values in [`Param::CANONICAL`] order, mostly borrowed from the query.
    slots: [Option<Cow<'q, str>>; CANONICAL_LEN],
    gzip: bool,
}

impl<'q, 'l> Parser<'q, 'l> {
    fn new(limits: &'l Limits) -> Self {
        Parser {
            limits,
            seen: 0,
            slots: Default::default(),
            gzip: false,
        }
    }

    /// Checks one decoded value and files its normalised form.
    fn accept(&mut self, param: Param, value: Cow<'q, str>) -> Result<(), ParamError> {
        if value.is_empty() {
            return Ok(());
        }
        if value.len() > self.limits.max_value_bytes {
            return Err(ParamError::ValueTooLong {
                param,
                limit: self.limits.max_value_bytes,
            });
        }
        if has_control(&value) {
            return Err(ParamError::ControlCharacter { param: Some(param) });
        }
        match value::normalise(param, value) {
            Ok(Normalised::Value(v)) => {
                if let Some(i) = param.canonical_index() {
                    self.slots[i] = Some(v);
                }
            }
            Ok(Normalised::Default) => {}
            Ok(Normalised::Gzip) => self.gzip = true,
            Err(reason) => return Err(ParamError::invalid(param, reason)),
        }
        Ok(())
    }

    fn finish(mut self) -> Result<GetReportQuery, ParamError> {
        const REPORT_ID: usize = Param::ReportId.slot();
        const FORMAT: usize = Param::Format.slot();
        let report_id = self.slots[REPORT_ID].as_deref();
        let report_id = report_id
            .ok_or(ParamError::MissingReportId)?
            .parse::<ReportId>()?;
        let format = match self.slots[FORMAT].as_deref() {
            Some(format) => format.parse::<Format>()?,
            None => Format::default(),
        };
        // Absent and `Format=xml` are one canonical form.
        self.slots[FORMAT] = Some(Cow::Borrowed(format.as_str()));
        Ok(GetReportQuery {
            canonical: CanonicalParams::from_slots(report_id, format, &self.slots),
            gzip: self.gzip,
        })
    }
}

#[cfg(test)]
mod tests;
