//! The policy file as written: serde structs that accept exactly the documented keys.
//!
//! Every value keeps its place in the file (`Spanned`) so that `validate` can report each problem
//! with its line. Tables do not: TOML creates a table implicitly for `[grant.parameters.pin]` or
//! `limits.rate = ...`, and such a table cannot carry a span. Where TOML allows more than one shape (a claim matcher is a value or a table,
//! `reports` is `"all"` or a list), a hand-written visitor reads the shape while staying inside
//! the TOML deserializer, so the values within keep their spans too.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_spanned::Spanned;

use crate::config::RawSecret;

pub(crate) type S<T> = Spanned<T>;

/// A list whose entries keep their places.
pub(crate) type List<T> = S<Vec<S<T>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub(crate) hashing: Option<RawHashing>,
    #[serde(default)]
    pub(crate) grant: Vec<S<RawGrant>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHashing {
    pub(crate) key: Option<S<RawSecret>>,
    pub(crate) length: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGrant {
    pub(crate) name: Option<S<String>>,
    pub(crate) description: Option<S<String>>,
    pub(crate) who: Option<BTreeMap<S<String>, S<RawMatcher>>>,
    pub(crate) reports: Option<S<RawReports>>,
    pub(crate) formats: Option<List<String>>,
    pub(crate) columns: Option<RawColumns>,
    pub(crate) parameters: Option<RawParameters>,
    pub(crate) limits: Option<RawLimits>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawColumns {
    pub(crate) drop: Option<List<String>>,
    pub(crate) mask: Option<List<String>>,
    pub(crate) hash: Option<List<String>>,
    pub(crate) allow: Option<List<String>>,
    pub(crate) mask_with: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawParameters {
    pub(crate) forbid: Option<List<String>>,
    pub(crate) pin: Option<BTreeMap<S<String>, S<RawScalar>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub(crate) key: Option<S<String>>,
    pub(crate) rate: Option<S<String>>,
    pub(crate) burst: Option<S<i64>>,
    pub(crate) report_rate: Option<S<String>>,
    pub(crate) report_burst: Option<S<i64>>,
    pub(crate) miss_rate: Option<S<String>>,
    pub(crate) miss_burst: Option<S<i64>>,
    pub(crate) cache_ttl: Option<S<String>>,
    pub(crate) cache_refresh: Option<bool>,
}

/// A single TOML value as a matcher, a ReportId or a pinned value take it. Floats are kept so that
/// `validate` can say why they are refused, with their line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawScalar {
    String(String),
    Integer(i64),
    Bool(bool),
    Float(f64),
}

impl<'de> Deserialize<'de> for RawScalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = RawScalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, an integer or a boolean")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawScalar, E> {
        Ok(RawScalar::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<RawScalar, E> {
        Ok(RawScalar::String(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawScalar, E> {
        Ok(RawScalar::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawScalar, E> {
        i64::try_from(v)
            .map(RawScalar::Integer)
            .map_err(|_| E::custom("integer out of range"))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawScalar, E> {
        Ok(RawScalar::Bool(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawScalar, E> {
        Ok(RawScalar::Float(v))
    }
}

/// A claim matcher: a plain value (shorthand for `equals`) or a table with one of `equals`,
/// `one_of`, `contains`.
#[derive(Debug)]
pub(crate) enum RawMatcher {
    Value(RawScalar),
    Table(RawMatcherTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatcherTable {
    pub(crate) equals: Option<S<RawScalar>>,
    pub(crate) one_of: Option<List<RawScalar>>,
    pub(crate) contains: Option<S<RawScalar>>,
}

impl<'de> Deserialize<'de> for RawMatcher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MatcherVisitor)
    }
}

struct MatcherVisitor;

impl<'de> Visitor<'de> for MatcherVisitor {
    type Value = RawMatcher;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a claim matcher: a value, { one_of = [...] }, { contains = ... } or { equals = ... }",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawMatcher, E> {
        ScalarVisitor.visit_str(v).map(RawMatcher::Value)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<RawMatcher, E> {
        Ok(RawMatcher::Value(RawScalar::String(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawMatcher, E> {
        Ok(RawMatcher::Value(RawScalar::Integer(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawMatcher, E> {
        ScalarVisitor.visit_u64(v).map(RawMatcher::Value)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawMatcher, E> {
        Ok(RawMatcher::Value(RawScalar::Bool(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawMatcher, E> {
        Ok(RawMatcher::Value(RawScalar::Float(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<RawMatcher, A::Error> {
        Err(de::Error::custom(
            "a list is not a claim matcher: write { one_of = [...] } for \"any of these values\" \
             or { contains = ... } for an array claim",
        ))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawMatcher, A::Error> {
        RawMatcherTable::deserialize(MapAccessDeserializer::new(map)).map(RawMatcher::Table)
    }
}

/// `reports`: the word `"all"`, or a list of ReportIds.
#[derive(Debug)]
pub(crate) enum RawReports {
    Word(String),
    List(Vec<S<RawScalar>>),
}

impl<'de> Deserialize<'de> for RawReports {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ReportsVisitor)
    }
}

struct ReportsVisitor;

impl<'de> Visitor<'de> for ReportsVisitor {
    type Value = RawReports;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"all\" or a list of report numbers such as [10800, 10801]")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawReports, E> {
        Ok(RawReports::Word(v.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawReports, A::Error> {
        let mut list = Vec::new();
        while let Some(id) = seq.next_element::<S<RawScalar>>()? {
            list.push(id);
        }
        Ok(RawReports::List(list))
    }
}
