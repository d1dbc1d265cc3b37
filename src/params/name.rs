//! The names GetReport accepts, and the ones a caller must never send.

use std::fmt;

/// One of the 21 query parameters of iCasework's GetReport API.
///
/// Declaration order follows the upstream's parameter table; the canonical form orders
/// parameters by the byte order of [`Param::name`] instead
/// (see [`CanonicalParams::iter`](super::CanonicalParams::iter)).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Param {
    /// `ReportId`: the report's number; required.
    ReportId,
    /// `Format`: csv, json or xml (the default).
    Format,
    /// `CSVHeader`: include a header row.
    CsvHeader,
    /// `CSVFooter`: include a row-count footer.
    CsvFooter,
    /// `CSVFields`: the columns to return.
    CsvFields,
    /// `CSVDelimitor` (sic): the CSV delimiter.
    CsvDelimitor,
    /// `Compression`: gzip; transport only, never part of the canonical form.
    Compression,
    /// `Units`: a named timeframe.
    Units,
    /// `periodUnits`: a named timeframe for the period.
    PeriodUnits,
    /// `Multiples`: how many units.
    Multiples,
    /// `periodMultiples`: how many period units.
    PeriodMultiples,
    /// `FromTime`: start date and time.
    FromTime,
    /// `From`: start date.
    From,
    /// `periodFrom`: period start date.
    PeriodFrom,
    /// `UntilTime`: end date and time.
    UntilTime,
    /// `Until`: end date.
    Until,
    /// `periodUntil`: period end date.
    PeriodUntil,
    /// `AttributeFilter`: overrides the first attribute filter rule's value.
    AttributeFilter,
    /// `AttributeFilter2`: overrides the second attribute filter rule's value.
    AttributeFilter2,
    /// `AttributeFilter3`: overrides the third attribute filter rule's value.
    AttributeFilter3,
    /// `Keywords`: overrides the report's keyword filters.
    Keywords,
}

/// The longest name, `AttributeFilter2`.
const MAX_NAME_LEN: usize = 16;

/// How many parameters the canonical form can hold: all but `Compression`.
pub(crate) const CANONICAL_LEN: usize = 20;

/// Names that choose the iCasework account or credential (`db` picks the account on UAT; `Key`,
/// `Signature` and `access_token` authenticate). casegate sets them itself, so a caller sending
/// one is refused outright rather than told the name is merely unknown.
const FORBIDDEN: [&str; 4] = ["db", "Key", "Signature", "access_token"];

impl Param {
    /// Every parameter, in the upstream table's order.
    pub const ALL: [Param; 21] = [
        Param::ReportId,
        Param::Format,
        Param::CsvHeader,
        Param::CsvFooter,
        Param::CsvFields,
        Param::CsvDelimitor,
        Param::Compression,
        Param::Units,
        Param::PeriodUnits,
        Param::Multiples,
        Param::PeriodMultiples,
        Param::FromTime,
        Param::From,
        Param::PeriodFrom,
        Param::UntilTime,
        Param::Until,
        Param::PeriodUntil,
        Param::AttributeFilter,
        Param::AttributeFilter2,
        Param::AttributeFilter3,
        Param::Keywords,
    ];

    /// The parameters that can appear in the canonical form, sorted by the byte order of their
    /// names: the order of [`CanonicalParams::iter`](super::CanonicalParams::iter) and of the
    /// query sent upstream.
    pub(crate) const CANONICAL: [Param; CANONICAL_LEN] = [
        Param::AttributeFilter,
        Param::AttributeFilter2,
        Param::AttributeFilter3,
        Param::CsvDelimitor,
        Param::CsvFields,
        Param::CsvFooter,
        Param::CsvHeader,
        Param::Format,
        Param::From,
        Param::FromTime,
        Param::Keywords,
        Param::Multiples,
        Param::ReportId,
        Param::Units,
        Param::Until,
        Param::UntilTime,
        Param::PeriodFrom,
        Param::PeriodMultiples,
        Param::PeriodUnits,
        Param::PeriodUntil,
    ];

    /// The upstream's exact spelling of the name.
    pub const fn name(self) -> &'static str {
        match self {
            Param::ReportId => "ReportId",
            Param::Format => "Format",
            Param::CsvHeader => "CSVHeader",
            Param::CsvFooter => "CSVFooter",
            Param::CsvFields => "CSVFields",
            Param::CsvDelimitor => "CSVDelimitor",
            Param::Compression => "Compression",
            Param::Units => "Units",
            Param::PeriodUnits => "periodUnits",
            Param::Multiples => "Multiples",
            Param::PeriodMultiples => "periodMultiples",
            Param::FromTime => "FromTime",
            Param::From => "From",
            Param::PeriodFrom => "periodFrom",
            Param::UntilTime => "UntilTime",
            Param::Until => "Until",
            Param::PeriodUntil => "periodUntil",
            Param::AttributeFilter => "AttributeFilter",
            Param::AttributeFilter2 => "AttributeFilter2",
            Param::AttributeFilter3 => "AttributeFilter3",
            Param::Keywords => "Keywords",
        }
    }

    /// The parameter called `name`, matched ASCII-case-insensitively (`reportid`, `REPORTID`).
    pub fn from_name(name: &str) -> Option<Param> {
        // Every request looks up each of its names: lowercase into a stack buffer and let the
        // compiler build the comparison tree, rather than scan 21 names.
        let mut buf = [0u8; MAX_NAME_LEN];
        let lower = buf.get_mut(..name.len())?;
        lower.copy_from_slice(name.as_bytes());
        lower.make_ascii_lowercase();
        Some(match &*lower {
            b"reportid" => Param::ReportId,
            b"format" => Param::Format,
            b"csvheader" => Param::CsvHeader,
            b"csvfooter" => Param::CsvFooter,
            b"csvfields" => Param::CsvFields,
            b"csvdelimitor" => Param::CsvDelimitor,
            b"compression" => Param::Compression,
            b"units" => Param::Units,
            b"periodunits" => Param::PeriodUnits,
            b"multiples" => Param::Multiples,
            b"periodmultiples" => Param::PeriodMultiples,
            b"fromtime" => Param::FromTime,
            b"from" => Param::From,
            b"periodfrom" => Param::PeriodFrom,
            b"untiltime" => Param::UntilTime,
            b"until" => Param::Until,
            b"perioduntil" => Param::PeriodUntil,
            b"attributefilter" => Param::AttributeFilter,
            b"attributefilter2" => Param::AttributeFilter2,
            b"attributefilter3" => Param::AttributeFilter3,
            b"keywords" => Param::Keywords,
            _ => return None,
        })
    }

    /// This parameter's slot in [`Param::CANONICAL`]; `None` for `Compression`.
    pub(crate) const fn canonical_index(self) -> Option<usize> {
        Some(match self {
            Param::AttributeFilter => 0,
            Param::AttributeFilter2 => 1,
            Param::AttributeFilter3 => 2,
            Param::CsvDelimitor => 3,
            Param::CsvFields => 4,
            Param::CsvFooter => 5,
            Param::CsvHeader => 6,
            Param::Format => 7,
            Param::From => 8,
            Param::FromTime => 9,
            Param::Keywords => 10,
            Param::Multiples => 11,
            Param::ReportId => 12,
            Param::Units => 13,
            Param::Until => 14,
            Param::UntilTime => 15,
            Param::PeriodFrom => 16,
            Param::PeriodMultiples => 17,
            Param::PeriodUnits => 18,
            Param::PeriodUntil => 19,
            Param::Compression => return None,
        })
    }

    /// The canonical slot of a parameter that has one, for constants: naming Compression here
    /// fails the build.
    pub(crate) const fn slot(self) -> usize {
        match self.canonical_index() {
            Some(i) => i,
            None => panic!("Compression has no canonical slot"),
        }
    }

    /// A bit of its own, for the parser's seen-set.
    pub(crate) const fn bit(self) -> u32 {
        1 << self as u32
    }
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The canonical spelling of `name` if it is a forbidden (account or credential) name, matched
/// ASCII-case-insensitively.
pub(crate) fn forbidden(name: &str) -> Option<&'static str> {
    FORBIDDEN.into_iter().find(|f| f.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_any_case() {
        for p in Param::ALL {
            let name = p.name();
            for spelling in [
                name.to_owned(),
                name.to_ascii_lowercase(),
                name.to_ascii_uppercase(),
            ] {
                assert_eq!(Param::from_name(&spelling), Some(p), "{spelling}");
            }
        }
    }

    #[test]
    fn from_name_agrees_with_a_plain_scan() {
        assert_eq!(
            Param::ALL.iter().map(|p| p.name().len()).max(),
            Some(MAX_NAME_LEN)
        );
        let spellings = Param::ALL.iter().flat_map(|p| {
            let name = p.name();
            [
                format!("{name}x"),
                name[1..].to_owned(),
                name.to_ascii_uppercase(),
            ]
        });
        for spelling in spellings.chain(["ReportİD".into(), "x".repeat(100)]) {
            let scan = Param::ALL
                .into_iter()
                .find(|p| p.name().eq_ignore_ascii_case(&spelling));
            assert_eq!(Param::from_name(&spelling), scan, "{spelling:?}");
        }
    }

    #[test]
    fn upstream_spellings() {
        let table = [
            (Param::CsvHeader, "CSVHeader"),
            (Param::CsvDelimitor, "CSVDelimitor"),
            (Param::PeriodUnits, "periodUnits"),
            (Param::PeriodMultiples, "periodMultiples"),
            (Param::FromTime, "FromTime"),
            (Param::AttributeFilter3, "AttributeFilter3"),
        ];
        for (p, name) in table {
            assert_eq!(p.name(), name);
        }
    }

    #[test]
    fn unknown_and_near_misses() {
        for name in [
            "",
            "Report",
            "ReportIds",
            "Report_Id",
            "AttributeFilter4",
            "CSVDelimiter",
            " Format",
            "db",
        ] {
            assert_eq!(Param::from_name(name), None, "{name:?}");
        }
    }

    #[test]
    fn all_is_complete_and_distinct() {
        for (i, p) in Param::ALL.into_iter().enumerate() {
            assert_eq!(p as usize, i, "ALL follows declaration order");
        }
    }

    #[test]
    fn canonical_is_sorted_by_name_and_indexed() {
        let names: Vec<_> = Param::CANONICAL.iter().map(|p| p.name()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for (i, p) in Param::CANONICAL.into_iter().enumerate() {
            assert_eq!(p.canonical_index(), Some(i));
        }
        let missing: Vec<_> = Param::ALL
            .into_iter()
            .filter(|p| p.canonical_index().is_none())
            .collect();
        assert_eq!(missing, [Param::Compression]);
    }

    #[test]
    fn forbidden_names_in_any_case() {
        let table = [
            ("db", Some("db")),
            ("DB", Some("db")),
            ("key", Some("Key")),
            ("SIGNATURE", Some("Signature")),
            ("Access_Token", Some("access_token")),
            ("accesstoken", None),
            ("ReportId", None),
        ];
        for (name, want) in table {
            assert_eq!(forbidden(name), want, "{name}");
        }
    }
}
