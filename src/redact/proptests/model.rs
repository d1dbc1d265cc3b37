//! The model behind the pipeline properties: a random report, a random grant, how the case is
//! delivered, and the redaction expected of it, computed from the model alone (never from a
//! redactor's output).

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::sample::{select, Index};
use ring::hmac;

use crate::redact::{ColumnAction, Columns};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fmt {
    Xml,
    Json,
    Csv,
}

/// Groups and fields of column names; `Row`/`Rows` make names such as `Row.Id`, whose end tag
/// starts like a row's.
const GROUPS: &[&str] = &["Customer", "CaseDetails", "Row", "Rows", "Case_Status", "X"];
const FIELDS: &[&str] = &[
    "FullName",
    "TotalRedress",
    "Address",
    "Email",
    "Id",
    "Row",
    "a-b",
];

/// What values are made of: every delimiter, quote, line end, markup and escape character that
/// could confuse a redactor, multi-byte UTF-8, and text that looks like markup or escapes.
const FRAGMENTS: &[&str] = &[
    ",",
    ";",
    "|",
    "\t",
    "\"",
    "'",
    "\r\n",
    "\n",
    "\r",
    "<",
    "&",
    ">",
    "]]>",
    "é",
    "日本",
    "😀",
    "\u{2028}",
    "\\",
    "\\n",
    "\\u00e9",
    "\"\\\"",
    " ",
    "Bloggs, Fred",
    "0.00",
    "12",
    "&amp;",
    "&#13;",
    "</Row>",
    "<![CDATA[",
    "{",
    "}",
    "[",
    "]",
    ":",
    "x",
];

/// `mask_with` values (the policy allows any text without control characters).
const MASKS: &[&str] = &["***", "[redacted]", "<x & \"y\">", "a,b;c|d", "é"];

/// A report: column names as it spells them (repeats and case variants included), and rows.
#[derive(Debug, Clone)]
pub(super) struct Report {
    pub(super) columns: Vec<String>,
    pub(super) rows: Vec<Vec<String>>,
}

/// A grant's column rules: an action for some lowercase names; unnamed columns are kept, or
/// dropped in allow-list mode (where a named `Keep` is an `allow`).
#[derive(Debug, Clone)]
pub(super) struct Grant {
    pub(super) named: HashMap<String, ColumnAction>,
    pub(super) allow_list: bool,
    pub(super) mask: &'static str,
}

impl Grant {
    pub(super) fn action(&self, column: &str) -> ColumnAction {
        match self.named.get(&column.to_lowercase()) {
            Some(action) => *action,
            None if self.allow_list => ColumnAction::Drop,
            None => ColumnAction::Keep,
        }
    }

    pub(super) fn keeps_all(&self, report: &Report) -> bool {
        report
            .columns
            .iter()
            .all(|c| self.action(c) == ColumnAction::Keep)
    }
}

/// The pseudonym: HMAC-SHA256 under a fixed test key, 16 hex characters, as the policy's.
pub(super) fn pseudonym(value: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, b"casegate proptest key, 32 bytes+");
    let tag = hmac::sign(&key, value.as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    hex[..16].to_owned()
}

/// The grant as the redactors see it.
#[derive(Debug)]
pub(super) struct Rules(pub(super) Grant);

impl Columns for Rules {
    fn action(&mut self, column: &str) -> ColumnAction {
        self.0.action(column)
    }
    fn mask(&self) -> &str {
        self.0.mask
    }
    fn pseudonym(&self, value: &str) -> String {
        pseudonym(value)
    }
}

/// One generated case: the report, the grant, how it is rendered and delivered.
#[derive(Debug, Clone)]
pub(super) struct Case {
    pub(super) report: Report,
    pub(super) grant: Grant,
    /// Seeds the rendering choices (whitespace, CDATA, escapes, self-closing tags).
    pub(super) style: u64,
    pub(super) delimiter: u8,
    pub(super) header: bool,
    pub(super) footer: bool,
    pub(super) inflate: bool,
    pub(super) deflate: bool,
    /// Where the upstream bytes are split into chunks.
    pub(super) cuts: Vec<Index>,
}

/// The marker planted in some values: unique to its cell, found nowhere else.
pub(super) fn marker(row: usize, column: usize) -> String {
    format!("{{PII-{row}-{column}}}")
}

fn flip_case(name: &str, bits: u32) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| match (bits >> (i % 32)) & 1 {
            1 if c.is_ascii_lowercase() => c.to_ascii_uppercase(),
            1 => c.to_ascii_lowercase(),
            _ => c,
        })
        .collect()
}

fn columns() -> impl Strategy<Value = Vec<String>> {
    let base = (select(GROUPS), select(FIELDS)).prop_map(|(g, f)| format!("{g}.{f}"));
    (
        proptest::collection::vec(base, 1..5),
        // Which base name, its letter case, and whether it repeats the previous column's name.
        proptest::collection::vec((any::<Index>(), any::<u32>(), any::<bool>()), 1..9),
    )
        .prop_map(|(bases, picks)| {
            let mut columns: Vec<String> = Vec::new();
            for (pick, bits, repeat) in picks {
                let name = match columns.last() {
                    Some(last) if repeat => last.to_lowercase(),
                    _ => pick.get(&bases).clone(),
                };
                // Keep the spelling as written half the time; the variants differ in case only.
                columns.push(if bits & 1 == 0 {
                    name
                } else {
                    flip_case(&name, bits)
                });
            }
            columns
        })
}

fn value() -> impl Strategy<Value = (Vec<&'static str>, bool)> {
    (
        proptest::collection::vec(select(FRAGMENTS), 0..4),
        any::<bool>(),
    )
}

fn report() -> impl Strategy<Value = Report> {
    columns().prop_flat_map(|columns| {
        let row = proptest::collection::vec(value(), columns.len());
        proptest::collection::vec(row, 0..12).prop_map(move |rows| Report {
            columns: columns.clone(),
            rows: rows
                .into_iter()
                .enumerate()
                .map(|(r, row)| {
                    row.into_iter()
                        .enumerate()
                        .map(|(c, (fragments, planted))| {
                            let mut v = fragments.concat();
                            if planted {
                                v.push_str(&marker(r, c));
                            }
                            v
                        })
                        .collect()
                })
                .collect(),
        })
    })
}

fn grant(report: &Report) -> impl Strategy<Value = Grant> {
    let mut names: Vec<String> = report.columns.iter().map(|c| c.to_lowercase()).collect();
    names.sort();
    names.dedup();
    let action = prop_oneof![
        Just(None),
        Just(Some(ColumnAction::Keep)),
        Just(Some(ColumnAction::Drop)),
        Just(Some(ColumnAction::Mask)),
        Just(Some(ColumnAction::Hash)),
    ];
    (
        proptest::collection::vec(action, names.len()),
        any::<bool>(),
        select(MASKS),
    )
        .prop_map(move |(actions, allow_list, mask)| Grant {
            named: names
                .iter()
                .zip(actions)
                .filter_map(|(name, action)| Some((name.clone(), action?)))
                // Allow-list mode has no `drop` (everything unnamed is dropped already).
                .filter(|(_, action)| !(allow_list && *action == ColumnAction::Drop))
                .collect(),
            allow_list,
            mask,
        })
}

pub(super) fn case() -> impl Strategy<Value = Case> {
    report()
        .prop_flat_map(|report| (grant(&report), Just(report)))
        .prop_flat_map(|(grant, report)| {
            (
                any::<u64>(),
                select(&b",;|\t"[..]),
                any::<(bool, bool, bool, bool)>(),
                proptest::collection::vec(any::<Index>(), 0..12),
            )
                .prop_map(move |(style, delimiter, flags, cuts)| Case {
                    report: report.clone(),
                    grant: grant.clone(),
                    style,
                    delimiter,
                    header: flags.0,
                    footer: flags.1,
                    inflate: flags.2,
                    deflate: flags.3,
                    cuts,
                })
        })
}

/// Each row as its (column, value) pairs in order, duplicates included.
pub(super) type Rows = Vec<Vec<(String, String)>>;

/// What the redacted report must hold: dropped columns gone, masked ones the mask, hashed
/// ones the pseudonym of the value, kept ones the value. XML alone leaves an empty masked or
/// hashed value empty (documented in `xml/mod.rs`: there is nothing to hide).
pub(super) fn expected(fmt: Fmt, report: &Report, grant: &Grant) -> Rows {
    report
        .rows
        .iter()
        .map(|row| {
            report
                .columns
                .iter()
                .zip(row)
                .filter_map(|(name, value)| {
                    let value = match grant.action(name) {
                        ColumnAction::Drop => return None,
                        ColumnAction::Keep => value.clone(),
                        _ if fmt == Fmt::Xml && value.is_empty() => String::new(),
                        ColumnAction::Mask => grant.mask.to_owned(),
                        ColumnAction::Hash => pseudonym(value),
                    };
                    Some((name.clone(), value))
                })
                .collect()
        })
        .collect()
}
