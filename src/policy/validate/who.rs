//! `[grant.who]`: claim matchers, and matchers that can never match.

use std::ops::Range;

use super::super::matcher::{ClaimMatcher, ClaimValue, Matcher, Who};
use super::super::raw::{List, RawGrant, RawMatcher, RawScalar, S};
use crate::config::Reporter;

pub(super) fn who(
    raw: &RawGrant,
    label: &str,
    grant_span: Range<usize>,
    r: &mut Reporter<'_>,
) -> Option<Who> {
    let Some(who) = &raw.who else {
        r.at(
            Some(grant_span),
            format!(
                "{label} has no who: say which callers it is for, e.g. \
                 who = {{ sub = \"svc-analytics\" }} or who = {{ groups = {{ contains = \"...\" }} }}"
            ),
        );
        return None;
    };
    if who.is_empty() {
        r.at(
            Some(grant_span),
            format!(
                "{label}: who is empty; a grant for every caller is refused, \
                 match at least the issuer (iss = \"...\")"
            ),
        );
        return None;
    }
    let mut matchers = Vec::new();
    let mut ok = true;
    for (claim, m) in who {
        match matcher(claim, m, r) {
            Some(matcher) => matchers.push(ClaimMatcher {
                claim: claim.get_ref().clone(),
                matcher,
            }),
            None => ok = false,
        }
    }
    ok.then(|| Who::new(matchers))
}

fn matcher(claim: &S<String>, m: &S<RawMatcher>, r: &mut Reporter<'_>) -> Option<Matcher> {
    let name = claim.get_ref().as_str();
    if name.is_empty() {
        r.at(Some(claim.span()), "a claim name must not be empty");
        return None;
    }
    let matcher = match m.get_ref() {
        RawMatcher::Value(v) => Matcher::Equals(claim_value(name, v, m.span(), r)?),
        RawMatcher::Table(t) => {
            let given = [t.equals.is_some(), t.one_of.is_some(), t.contains.is_some()];
            if given.iter().filter(|&&g| g).count() != 1 {
                r.at(
                    Some(m.span()),
                    format!(
                        "the matcher for claim {name} must have exactly one of equals, one_of, \
                         contains"
                    ),
                );
                return None;
            }
            if let Some(v) = &t.equals {
                Matcher::Equals(claim_value(name, v.get_ref(), v.span(), r)?)
            } else if let Some(v) = &t.contains {
                Matcher::Contains(claim_value(name, v.get_ref(), v.span(), r)?)
            } else {
                one_of(name, t.one_of.as_ref()?, r)?
            }
        }
    };
    if matches!(name, "iss" | "sub") {
        let never = match &matcher {
            Matcher::Contains(_) => Some("it is a string, never an array: contains never matches"),
            Matcher::Equals(v) if !matches!(v, ClaimValue::String(_)) => {
                Some("it is always a string: a number or boolean never matches")
            }
            Matcher::OneOf(vs) if vs.iter().any(|v| !matches!(v, ClaimValue::String(_))) => {
                Some("it is always a string: the numbers and booleans in one_of never match")
            }
            _ => None,
        };
        if let Some(never) = never {
            r.at(
                Some(m.span()),
                format!("this matcher on {name} can never match: {never}"),
            );
            return None;
        }
    }
    Some(matcher)
}

fn one_of(name: &str, list: &List<RawScalar>, r: &mut Reporter<'_>) -> Option<Matcher> {
    if list.get_ref().is_empty() {
        r.at(
            Some(list.span()),
            format!("one_of for claim {name} is empty: this matcher can never match"),
        );
        return None;
    }
    let values: Vec<_> = list
        .get_ref()
        .iter()
        .map(|v| claim_value(name, v.get_ref(), v.span(), r))
        .collect();
    values
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .map(Matcher::one_of)
}

fn claim_value(
    name: &str,
    v: &RawScalar,
    span: Range<usize>,
    r: &mut Reporter<'_>,
) -> Option<ClaimValue> {
    match v {
        RawScalar::String(s) => Some(ClaimValue::String(s.clone())),
        RawScalar::Integer(n) => Some(ClaimValue::Integer(*n)),
        RawScalar::Bool(b) => Some(ClaimValue::Bool(*b)),
        RawScalar::Float(_) => {
            r.at(
                Some(span),
                format!(
                    "claim {name}: compare with a string, an integer or a boolean; \
                     numbers with a fraction do not compare reliably"
                ),
            );
            None
        }
    }
}
