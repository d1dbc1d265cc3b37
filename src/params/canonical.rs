//! The canonical form of a GetReport query: what the cache keys on and what is sent upstream.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::decode::has_control;
use super::error::ParamError;
use super::name::{Param, CANONICAL_LEN};
use super::report::{Format, ReportId};
use super::value::{self, Normalised, Reason};

const SET_EMPTY: Reason = "must not be empty (an empty value means the parameter is absent)";
const SET_COMPRESSION: Reason =
    "is transport, not part of the canonical form; set GetReportQuery::gzip instead";

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) is escaped, so the
/// upstream sees one spelling whatever its own decoder makes of `+`, `;` or `,`.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The canonical form: validated, normalised parameters in the byte order of their names.
///
/// Two queries that mean the same thing (names in another case or order, `Format` absent or
/// `xml`, `ReportId=007` or `7`, `CSVDelimitor=,` or absent) have equal, equally hashing
/// canonical forms. It always holds ReportId and Format, and never Compression.
///
/// `Debug` shows ReportId, Format and the names of the other parameters, never their values,
/// which may be personal data.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CanonicalParams {
    report_id: ReportId,
    format: Format,
    /// The values, concatenated in [`Param::CANONICAL`] order: one allocation per query,
    /// shared by its copies (the parameter check's per-connection memo hands one out per
    /// request, and the policy's decision another); a change makes a new one.
    buf: Arc<str>,
    /// `ends[i]` is where the value of `Param::CANONICAL[i]` ends in `buf`; it starts where the
    /// previous one ends. No canonical value is empty, so an empty span means absent.
    ends: [usize; CANONICAL_LEN],
}

impl CanonicalParams {
    /// Builds the form from values already normalised, in [`Param::CANONICAL`] order; the
    /// ReportId and Format slots must hold the spellings of `report_id` and `format`.
    pub(crate) fn from_slots(
        report_id: ReportId,
        format: Format,
        slots: &[Option<Cow<'_, str>>; CANONICAL_LEN],
    ) -> CanonicalParams {
        let len = slots.iter().flatten().map(|v| v.len()).sum();
        let mut buf = String::with_capacity(len);
        let mut ends = [0; CANONICAL_LEN];
        for (end, slot) in ends.iter_mut().zip(slots) {
            if let Some(value) = slot {
                buf.push_str(value);
            }
            *end = buf.len();
        }
        debug_assert_eq!(
            slots[Param::Format.slot()].as_deref(),
            Some(format.as_str())
        );
        debug_assert!(slots[Param::ReportId.slot()].is_some());
        CanonicalParams {
            report_id,
            format,
            buf: buf.into(),
            ends,
        }
    }

    /// The report asked for.
    pub fn report_id(&self) -> ReportId {
        self.report_id
    }

    /// The output format; [`Format::Xml`] when the caller gave none.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The normalised value of `p`, if present. Always `Some` for ReportId and Format, always
    /// `None` for Compression.
    pub fn get(&self, p: Param) -> Option<&str> {
        p.canonical_index().and_then(|i| self.value_at(i))
    }

    /// The parameters present with their normalised values, sorted by the byte order of
    /// [`Param::name`]; ReportId and Format included.
    pub fn iter(&self) -> impl Iterator<Item = (Param, &str)> {
        (0..CANONICAL_LEN).filter_map(|i| self.value_at(i).map(|v| (Param::CANONICAL[i], v)))
    }

    /// The names of the parameters present, in the same order as [`CanonicalParams::iter`]:
    /// safe to log.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.iter().map(|(p, _)| p.name())
    }

    /// Appends the canonical query (`Format=json&ReportId=10800&...`) to `out`, without a leading
    /// `&`: names in the upstream's spelling, sorted, values percent-encoded except for RFC 3986's
    /// unreserved characters.
    pub fn write_query(&self, out: &mut String) {
        // Names average ~10 bytes; values may grow when escaped, which push_str absorbs.
        out.reserve(self.buf.len() + 12 * self.iter().count());
        for (i, (param, value)) in self.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(param.name());
            out.push('=');
            out.extend(utf8_percent_encode(value, ESCAPED));
        }
    }

    /// Sets `p` to `value` as if the caller had sent it: checked and normalised by the same rules
    /// as [`parse`](super::parse) (control characters refused, `007` becomes `7`, a comma
    /// CSVDelimitor is the default and so leaves the form), replacing any value `p` had. The
    /// order of the form is kept. Size limits are the caller's and are not applied here.
    ///
    /// Refused, leaving the form unchanged: an empty value, a value its parameter does not
    /// accept, and Compression, which is transport and never part of the canonical form.
    pub fn set(&mut self, p: Param, value: &str) -> Result<(), ParamError> {
        if value.is_empty() {
            return Err(ParamError::invalid(p, SET_EMPTY));
        }
        if has_control(value) {
            return Err(ParamError::ControlCharacter { param: Some(p) });
        }
        let Some(i) = p.canonical_index() else {
            return Err(ParamError::invalid(p, SET_COMPRESSION));
        };
        let normalised = match value::normalise(p, Cow::Borrowed(value)) {
            Ok(Normalised::Value(v)) => v,
            Ok(Normalised::Default) => Cow::Borrowed(""),
            Ok(Normalised::Gzip) => return Err(ParamError::invalid(p, SET_COMPRESSION)),
            Err(reason) => return Err(ParamError::invalid(p, reason)),
        };
        match p {
            Param::ReportId => self.report_id = normalised.parse()?,
            Param::Format => self.format = normalised.parse()?,
            _ => {}
        }
        self.replace_value(i, &normalised);
        Ok(())
    }

    /// Puts `value` (empty: absent) in slot `i`, moving the values after it.
    fn replace_value(&mut self, i: usize, value: &str) {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        let old_end = self.ends[i];
        let mut buf = String::with_capacity(self.buf.len() - (old_end - start) + value.len());
        buf.push_str(&self.buf[..start]);
        buf.push_str(value);
        buf.push_str(&self.buf[old_end..]);
        self.buf = buf.into();
        let new_end = start + value.len();
        // Every later end is at least old_end: shift them all by the same amount.
        for end in &mut self.ends[i..] {
            *end = *end - old_end + new_end;
        }
    }

    fn value_at(&self, i: usize) -> Option<&str> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        let end = self.ends[i];
        (start < end).then(|| &self.buf[start..end])
    }
}

impl fmt::Debug for CanonicalParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// The other parameters' names, never their values.
        struct Names<'a>(&'a CanonicalParams);
        impl fmt::Debug for Names<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let shown = [Param::ReportId.name(), Param::Format.name()];
                let others = self.0.names().filter(|name| !shown.contains(name));
                f.debug_list().entries(others).finish()
            }
        }
        f.debug_struct("CanonicalParams")
            .field("report_id", &self.report_id.get())
            .field("format", &self.format)
            .field("params", &Names(self))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(pairs: &[(Param, &'static str)]) -> CanonicalParams {
        let mut slots: [Option<Cow<'_, str>>; CANONICAL_LEN] = Default::default();
        for &(p, v) in pairs {
            slots[p.slot()] = Some(Cow::Borrowed(v));
        }
        let id = slots[Param::ReportId.slot()]
            .as_deref()
            .unwrap()
            .parse()
            .unwrap();
        let format = slots[Param::Format.slot()]
            .as_deref()
            .unwrap()
            .parse()
            .unwrap();
        CanonicalParams::from_slots(id, format, &slots)
    }

    fn typical() -> CanonicalParams {
        build(&[
            (Param::ReportId, "10800"),
            (Param::Keywords, "Fred Bloggs, 1 High St"),
            (Param::Format, "json"),
            (Param::UntilTime, "2024-01-31 23:59:59"),
            (Param::AttributeFilter, "36512"),
            (Param::PeriodUnits, "Previous month"),
        ])
    }

    #[test]
    fn accessors() {
        let c = typical();
        assert_eq!(c.report_id().get(), 10800);
        assert_eq!(c.format(), Format::Json);
        let table = [
            (Param::ReportId, Some("10800")),
            (Param::Format, Some("json")),
            (Param::Keywords, Some("Fred Bloggs, 1 High St")),
            (Param::AttributeFilter, Some("36512")),
            (Param::AttributeFilter2, None),
            (Param::Compression, None),
            (Param::From, None),
            (Param::PeriodUntil, None),
        ];
        for (p, want) in table {
            assert_eq!(c.get(p), want, "{p}");
        }
    }

    #[test]
    fn iter_and_names_are_sorted_by_name() {
        let c = typical();
        let names: Vec<_> = c.names().collect();
        assert_eq!(
            names,
            [
                "AttributeFilter",
                "Format",
                "Keywords",
                "ReportId",
                "UntilTime",
                "periodUnits"
            ]
        );
        let pairs: Vec<_> = c.iter().collect();
        assert_eq!(pairs[0], (Param::AttributeFilter, "36512"));
        assert_eq!(pairs[5], (Param::PeriodUnits, "Previous month"));
    }

    #[test]
    fn write_query_encodes_all_but_unreserved() {
        let mut out = String::from("prefix?");
        typical().write_query(&mut out);
        assert_eq!(
            out,
            "prefix?AttributeFilter=36512&Format=json&Keywords=Fred%20Bloggs%2C%201%20High%20St\
             &ReportId=10800&UntilTime=2024-01-31%2023%3A59%3A59&periodUnits=Previous%20month"
        );
        let odd = build(&[
            (Param::ReportId, "1"),
            (Param::Format, "xml"),
            (Param::Keywords, "a-b.c_d~e+f&g=h%i/j?k#l;m'n*é"),
        ]);
        let mut out = String::new();
        odd.write_query(&mut out);
        assert_eq!(
            out,
            "Format=xml&Keywords=a-b.c_d~e%2Bf%26g%3Dh%25i%2Fj%3Fk%23l%3Bm%27n%2A%C3%A9&ReportId=1"
        );
    }

    #[test]
    fn debug_shows_names_not_values() {
        let shown = format!("{:?}", typical());
        assert_eq!(
            shown,
            "CanonicalParams { report_id: 10800, format: Json, params: [\"AttributeFilter\", \
             \"Keywords\", \"UntilTime\", \"periodUnits\"] }"
        );
        for secret in ["Fred", "High St", "36512", "Previous month", "2024"] {
            assert!(!shown.contains(secret), "{secret}");
        }
    }

    #[test]
    fn set_normalises_replaces_and_keeps_the_order() {
        #[rustfmt::skip]
        let table: &[(Param, &str, &str)] = &[
            // Added before, between and after the values present.
            (Param::AttributeFilter2, "7", "AttributeFilter=36512&AttributeFilter2=7&Format=json&Keywords=Fred%20Bloggs%2C%201%20High%20St&ReportId=10800&UntilTime=2024-01-31%2023%3A59%3A59&periodUnits=Previous%20month"),
            (Param::Units, "previous MONTH", "AttributeFilter=36512&Format=json&Keywords=Fred%20Bloggs%2C%201%20High%20St&ReportId=10800&Units=Previous%20month&UntilTime=2024-01-31%2023%3A59%3A59&periodUnits=Previous%20month"),
            (Param::PeriodUntil, "2024-02-29", "AttributeFilter=36512&Format=json&Keywords=Fred%20Bloggs%2C%201%20High%20St&ReportId=10800&UntilTime=2024-01-31%2023%3A59%3A59&periodUnits=Previous%20month&periodUntil=2024-02-29"),
            // Replaced: shorter, longer, first slot.
            (Param::Keywords, "x", "AttributeFilter=36512&Format=json&Keywords=x&ReportId=10800&UntilTime=2024-01-31%2023%3A59%3A59&periodUnits=Previous%20month"),
            (Param::AttributeFilter, "1234567890", "AttributeFilter=1234567890&Format=json&Keywords=Fred%20Bloggs%2C%201%20High%20St&ReportId=10800&UntilTime=2024-01-31%2023%3A59%3A59&periodUnits=Previous%20month"),
            // Normalised as the caller's values are.
            (Param::ReportId, "007", "AttributeFilter=36512&Format=json&Keywords=Fred%20Bloggs%2C%201%20High%20St&ReportId=7&UntilTime=2024-01-31%2023%3A59%3A59&periodUnits=Previous%20month"),
            (Param::Format, "CSV", "AttributeFilter=36512&Format=csv&Keywords=Fred%20Bloggs%2C%201%20High%20St&ReportId=10800&UntilTime=2024-01-31%2023%3A59%3A59&periodUnits=Previous%20month"),
            (Param::UntilTime, "2024-01-31T10:00:00.5", "AttributeFilter=36512&Format=json&Keywords=Fred%20Bloggs%2C%201%20High%20St&ReportId=10800&UntilTime=2024-01-31%2010%3A00%3A01&periodUnits=Previous%20month"),
            (Param::CsvHeader, "TRUE", "AttributeFilter=36512&CSVHeader=yes&Format=json&Keywords=Fred%20Bloggs%2C%201%20High%20St&ReportId=10800&UntilTime=2024-01-31%2023%3A59%3A59&periodUnits=Previous%20month"),
            // The default delimiter is no value at all.
            (Param::CsvDelimitor, ",", "AttributeFilter=36512&Format=json&Keywords=Fred%20Bloggs%2C%201%20High%20St&ReportId=10800&UntilTime=2024-01-31%2023%3A59%3A59&periodUnits=Previous%20month"),
        ];
        for (p, value, want) in table {
            let mut c = typical();
            c.set(*p, value).unwrap();
            let mut out = String::new();
            c.write_query(&mut out);
            assert_eq!(out, *want, "{p} = {value:?}");
            let parsed = crate::params::parse(Some(want), None, &Default::default()).unwrap();
            assert_eq!(
                c, parsed.canonical,
                "{p} = {value:?}: equal to the parsed form"
            );
        }
        let mut c = typical();
        c.set(Param::ReportId, "42").unwrap();
        c.set(Param::Format, "xml").unwrap();
        assert_eq!((c.report_id().get(), c.format()), (42, Format::Xml));
        c.set(Param::CsvDelimitor, ";").unwrap();
        c.set(Param::CsvDelimitor, ",").unwrap();
        assert_eq!(c.get(Param::CsvDelimitor), None);
    }

    #[test]
    fn set_refuses_what_parse_refuses_and_changes_nothing() {
        let table: &[(Param, &str, &str)] = &[
            (Param::Units, "Fortnight", "invalid_parameter"),
            (Param::ReportId, "0", "invalid_parameter"),
            (Param::Format, "html", "invalid_parameter"),
            (Param::Keywords, "", "invalid_parameter"),
            (Param::Keywords, "a\nb", "control_character"),
            (Param::Compression, "gzip", "invalid_parameter"),
            (Param::From, "2023-02-29", "invalid_parameter"),
        ];
        for (p, value, code) in table {
            let mut c = typical();
            let err = c.set(*p, value).unwrap_err();
            assert_eq!((err.code(), err.parameter()), (*code, Some(p.name())));
            assert_eq!(c, typical(), "{p} = {value:?}");
        }
    }

    #[test]
    fn equal_content_is_equal_whatever_the_build_order() {
        let a = build(&[
            (Param::ReportId, "1"),
            (Param::Format, "xml"),
            (Param::From, "2024-01-01"),
        ]);
        let b = build(&[
            (Param::From, "2024-01-01"),
            (Param::Format, "xml"),
            (Param::ReportId, "1"),
        ]);
        assert_eq!(a, b);
        // Same bytes, different split between values: not equal.
        let c = build(&[
            (Param::ReportId, "1"),
            (Param::Format, "xml"),
            (Param::FromTime, "2024-01-01"),
        ]);
        assert_ne!(a, c);
    }
}
