//! Raw policy -> [`Policy`], reporting every problem with its line: the top level, the hashing
//! key, each grant's name, `who` and what, and grants that an earlier grant makes unreachable.
//! `who` is checked in `who.rs`, columns in `columns.rs`, parameters and limits in `terms.rs`.

mod columns;
mod terms;
pub(crate) use terms::rate_and_burst;
mod who;

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use super::hashing::{self, HashKey};
use super::raw::{List, RawGrant, RawHashing, RawPolicy, RawReports, RawScalar, S};
use super::{Grant, Policy, Reports};
use crate::config::secret::{self, ExposeSecret};
use crate::config::{Problem, Problems, Reporter};
use crate::params::{Format, ReportId};

/// What every grant's checks need to know about the file.
pub(super) struct Ctx<'a> {
    text: &'a str,
    /// The policy's key, when `[hashing]` names one that could be read.
    hash_key: Option<Arc<HashKey>>,
    /// `[hashing] key` is written, even if it could not be read (its problem is reported once).
    hash_key_written: bool,
}

impl Ctx<'_> {
    /// The 1-based line of a byte offset.
    pub(super) fn line(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }
}

pub(super) fn validate(path: &Path, text: &str) -> Result<Policy, Problems> {
    let mut problems = Problems::default();
    let mut r = Reporter::new(path, text, &mut problems);
    let raw: RawPolicy = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            r.at(e.span(), e.message().trim().to_owned());
            return Err(problems);
        }
    };
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let ctx = Ctx {
        text,
        hash_key: raw
            .hashing
            .as_ref()
            .and_then(|h| hash_key(h, base_dir, &mut r)),
        hash_key_written: raw.hashing.as_ref().is_some_and(|h| h.key.is_some()),
    };
    if raw.grant.is_empty() {
        r.at(
            None,
            "the policy has no [[grant]]: every request would be denied; add a grant",
        );
    }
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut grants: Vec<(Grant, Range<usize>)> = Vec::new();
    for g in &raw.grant {
        let name = grant_name(g, &seen, &mut r);
        if let Some((name, span)) = &name {
            seen.push((name.to_ascii_lowercase(), ctx.line(span)));
        }
        if let Some(grant) = grant(g, name.as_ref().map(|(n, _)| n.as_str()), &ctx, &mut r) {
            if let Some((_, span)) = name {
                grants.push((grant, span));
            }
        }
    }
    shadowed(&grants, &mut r);
    if !problems.is_empty() || grants.len() != raw.grant.len() {
        return Err(in_file_order(&problems));
    }
    Ok(Policy {
        grants: grants.into_iter().map(|(g, _)| Arc::new(g)).collect(),
        hash_key: ctx.hash_key,
    })
}

/// The problems sorted by place, as a compiler lists them; the order found is kept within a line.
fn in_file_order(problems: &Problems) -> Problems {
    let mut list: Vec<Problem> = problems.iter().cloned().collect();
    list.sort_by_key(|p| (p.line, p.column));
    let mut sorted = Problems::default();
    for p in list {
        sorted.push(p);
    }
    sorted
}

fn hash_key(h: &RawHashing, base_dir: &Path, r: &mut Reporter<'_>) -> Option<Arc<HashKey>> {
    let length = match &h.length {
        None => Some(hashing::DEFAULT_LENGTH),
        Some(l) => usize::try_from(*l.get_ref())
            .ok()
            .filter(|n| hashing::LENGTHS.contains(n))
            .or_else(|| {
                r.at(
                    Some(l.span()),
                    format!(
                        "hashing.length must be from {} to {} (hex characters of the pseudonym)",
                        hashing::LENGTHS.start(),
                        hashing::LENGTHS.end()
                    ),
                );
                None
            }),
    };
    let Some(key) = &h.key else {
        r.at(
            h.length.as_ref().map(S::span),
            "hashing.key is required: key = { env = \"CASEGATE_HASH_KEY\" } or { file = \"...\" }",
        );
        return None;
    };
    let secret = match secret::resolve(key.get_ref(), base_dir) {
        Ok(secret) => secret,
        Err(e) => {
            r.at(Some(key.span()), format!("hashing.key: {e}"));
            return None;
        }
    };
    let bytes = secret.expose_secret().as_bytes();
    if bytes.len() < hashing::MIN_KEY_BYTES {
        r.at(
            Some(key.span()),
            format!(
                "hashing.key must be at least {} bytes long; make one with `openssl rand -hex 32`",
                hashing::MIN_KEY_BYTES
            ),
        );
        return None;
    }
    Some(Arc::new(HashKey::new(bytes, length?)))
}

/// The grant's name and its span, if it has a valid one (a duplicate is reported, not refused, so
/// that its other problems are found too).
fn grant_name(
    g: &S<RawGrant>,
    seen: &[(String, usize)],
    r: &mut Reporter<'_>,
) -> Option<(String, Range<usize>)> {
    let Some(name) = &g.get_ref().name else {
        r.at(
            Some(g.span()),
            "a grant needs a name (letters, digits, '_', '.', '-'), unique in the policy",
        );
        return None;
    };
    let text = name.get_ref();
    let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    if text.is_empty() || text.len() > 64 || !text.bytes().all(ok) {
        r.at(
            Some(name.span()),
            "a grant's name must be 1 to 64 letters, digits, '_', '.' or '-'",
        );
        return None;
    }
    if let Some((_, line)) = seen.iter().find(|(n, _)| text.eq_ignore_ascii_case(n)) {
        r.at(
            Some(name.span()),
            format!(
                "grant name {text:?} is already used by the grant on line {line} \
                 (names are compared in any letter case); give each grant its own name"
            ),
        );
    }
    Some((text.clone(), name.span()))
}

fn grant(
    g: &S<RawGrant>,
    name: Option<&str>,
    ctx: &Ctx<'_>,
    r: &mut Reporter<'_>,
) -> Option<Grant> {
    let raw = g.get_ref();
    let label = name.map_or_else(|| "this grant".to_owned(), |n| format!("grant {n:?}"));
    let who = who::who(raw, &label, g.span(), r);
    let reports = reports(raw, &label, g.span(), r);
    let formats = formats(raw.formats.as_ref(), &label, r);
    let columns = columns::columns(raw.columns.as_ref(), ctx, r);
    let parameters = terms::parameters(raw.parameters.as_ref(), ctx, r);
    let limits = terms::limits(raw.limits.as_ref(), r);
    Some(Grant {
        name: name?.to_owned(),
        description: raw.description.as_ref().map(|d| d.get_ref().clone()),
        line: ctx.line(&g.span()),
        who: who?,
        reports: reports?,
        formats: formats?,
        columns: columns?,
        parameters: parameters?,
        limits: limits?,
    })
}

fn reports(
    raw: &RawGrant,
    label: &str,
    grant_span: Range<usize>,
    r: &mut Reporter<'_>,
) -> Option<Reports> {
    let Some(reports) = &raw.reports else {
        r.at(
            Some(grant_span),
            format!("{label} has no reports: list report numbers, e.g. [10800], or write \"all\""),
        );
        return None;
    };
    let list = match reports.get_ref() {
        RawReports::Word(w) if w == "all" => return Some(Reports::All),
        RawReports::Word(_) => {
            r.at(
                Some(reports.span()),
                "reports must be \"all\" or a list of report numbers such as [10800, 10801]",
            );
            return None;
        }
        RawReports::List(list) => list,
    };
    if list.is_empty() {
        r.at(
            Some(reports.span()),
            format!("{label}: reports is empty, so the grant can never apply"),
        );
        return None;
    }
    let mut ids: Vec<ReportId> = Vec::new();
    let mut ok = true;
    for entry in list {
        let id = match entry.get_ref() {
            RawScalar::Integer(n) => u64::try_from(*n).ok().and_then(ReportId::new),
            RawScalar::String(s) => s.parse::<ReportId>().ok(),
            _ => None,
        };
        match id {
            Some(id) if ids.contains(&id) => {
                r.at(Some(entry.span()), format!("report {id} is listed twice"));
                ok = false;
            }
            Some(id) => ids.push(id),
            None => {
                r.at(
                    Some(entry.span()),
                    "a ReportId must be a report number: 1 to 18 digits, greater than 0",
                );
                ok = false;
            }
        }
    }
    ids.sort_by_key(|id| id.get());
    ok.then_some(Reports::Only(ids))
}

fn formats(raw: Option<&List<String>>, label: &str, r: &mut Reporter<'_>) -> Option<Vec<Format>> {
    let Some(list) = raw else {
        return Some(vec![Format::Xml, Format::Json, Format::Csv]);
    };
    if list.get_ref().is_empty() {
        r.at(
            Some(list.span()),
            format!(
                "{label}: formats is empty, so every request it applies to would be refused; \
                 list formats or leave the key out for all"
            ),
        );
        return None;
    }
    let mut formats = Vec::new();
    let mut ok = true;
    for entry in list.get_ref() {
        match entry.get_ref().parse::<Format>() {
            Ok(f) if formats.contains(&f) => {
                r.at(
                    Some(entry.span()),
                    format!("format {} is listed twice", f.as_str()),
                );
                ok = false;
            }
            Ok(f) => formats.push(f),
            Err(_) => {
                r.at(Some(entry.span()), "a format must be one of csv, json, xml");
                ok = false;
            }
        }
    }
    ok.then_some(formats)
}

/// Reports each grant that an earlier grant makes unreachable: the earlier one matches every
/// caller it matches (same or fewer conditions) and covers all its reports, and the first grant
/// that applies decides.
fn shadowed(grants: &[(Grant, Range<usize>)], r: &mut Reporter<'_>) {
    for (j, (later, span)) in grants.iter().enumerate() {
        let earlier = grants[..j]
            .iter()
            .map(|(g, _)| g)
            .find(|g| g.who.covers(&later.who) && g.reports.covers_all(&later.reports));
        if let Some(earlier) = earlier {
            r.at(
                Some(span.clone()),
                format!(
                    "grant {:?} can never apply: grant {:?} (line {}) comes first, matches every \
                     caller it matches and covers all its reports, and the first grant that \
                     applies decides (even when it then refuses the format or a parameter); \
                     move {:?} above it, or merge the two",
                    later.name, earlier.name, earlier.line, later.name
                ),
            );
        }
    }
}
