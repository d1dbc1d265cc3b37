//! `[grant.parameters]` and `[grant.limits]`: the terms a grant sets on the requests it allows.

use std::ops::Range;

use super::super::columns::glob_matches;
use super::super::limits::{self, Limits, Rate};
use super::super::parameters::{ParameterRules, Pin};
use super::super::raw::{RawLimits, RawParameters, RawScalar, S};
use super::Ctx;
use crate::config::Reporter;
use crate::params::{self, Param};

pub(super) fn parameters(
    raw: Option<&RawParameters>,
    ctx: &Ctx<'_>,
    r: &mut Reporter<'_>,
) -> Option<ParameterRules> {
    let Some(p) = raw else {
        return Some(ParameterRules::default());
    };
    let mut ok = true;
    // Each forbidden parameter with the entry that forbids it.
    let mut forbidden: Vec<(Param, &S<String>)> = Vec::new();
    let mut entries: Vec<&S<String>> = Vec::new();
    for entry in p.forbid.iter().flat_map(|l| l.get_ref()) {
        let text = entry.get_ref();
        if let Some(first) = entries
            .iter()
            .find(|e| e.get_ref().eq_ignore_ascii_case(text))
        {
            r.at(
                Some(entry.span()),
                format!(
                    "parameters.forbid lists {text} twice (also on line {})",
                    ctx.line(&first.span())
                ),
            );
            ok = false;
            continue;
        }
        entries.push(entry);
        match forbid_entry(text) {
            Ok(params) => forbidden.extend(params.into_iter().map(|p| (p, entry))),
            Err(why) => {
                r.at(Some(entry.span()), why);
                ok = false;
            }
        }
    }
    let mut pins: Vec<Pin> = Vec::new();
    let mut pin_spans: Vec<Range<usize>> = Vec::new();
    for (name, value) in p.pin.iter().flatten() {
        let Some(pin) = pin(name, value, r) else {
            ok = false;
            continue;
        };
        if let Some(i) = pins.iter().position(|p| p.param == pin.param) {
            r.at(
                Some(name.span()),
                format!(
                    "{} is pinned twice (also on line {}; names match in any letter case)",
                    pin.param,
                    ctx.line(&pin_spans[i])
                ),
            );
            ok = false;
            continue;
        }
        if let Some((_, entry)) = forbidden.iter().find(|(f, _)| *f == pin.param) {
            r.at(
                Some(name.span()),
                format!(
                    "{} is both pinned and forbidden (by parameters.forbid entry {:?} on line {}); \
                     a pinned parameter may be sent with its pinned value, so keep one of them",
                    pin.param,
                    entry.get_ref(),
                    ctx.line(&entry.span())
                ),
            );
            ok = false;
            continue;
        }
        pins.push(pin);
        pin_spans.push(name.span());
    }
    if !ok {
        return None;
    }
    let mut forbidden: Vec<Param> = forbidden.into_iter().map(|(p, _)| p).collect();
    forbidden.sort_by_key(|&p| p as usize);
    forbidden.dedup();
    pins.sort_by_key(|pin| pin.param as usize);
    Some(ParameterRules { forbidden, pins })
}

/// The parameters a `forbid` entry names: one name, or a `*` glob over names, in any letter case.
/// A glob skips ReportId and Format, which every request has.
fn forbid_entry(text: &str) -> Result<Vec<Param>, String> {
    if !text.contains('*') {
        return match Param::from_name(text) {
            Some(p @ Param::ReportId) => Err(format!(
                "{p} cannot be forbidden: every request has one; limit the reports with reports"
            )),
            Some(p @ Param::Format) => Err(format!(
                "{p} cannot be forbidden: a request without it asks for xml; \
                 limit the formats with formats"
            )),
            Some(p) => Ok(vec![p]),
            None => Err(format!(
                "parameters.forbid: {text:?} is not a GetReport parameter"
            )),
        };
    }
    let params: Vec<Param> = Param::ALL
        .into_iter()
        .filter(|p| !matches!(p, Param::ReportId | Param::Format))
        .filter(|p| glob_matches(text, p.name()))
        .collect();
    if params.is_empty() {
        return Err(format!(
            "parameters.forbid: {text:?} matches no GetReport parameter \
             (ReportId and Format cannot be forbidden)"
        ));
    }
    Ok(params)
}

/// One `pin` entry, its value checked by the rules the caller's values meet.
fn pin(name: &S<String>, value: &S<RawScalar>, r: &mut Reporter<'_>) -> Option<Pin> {
    let Some(param) = Param::from_name(name.get_ref()) else {
        r.at(
            Some(name.span()),
            format!(
                "parameters.pin: {:?} is not a GetReport parameter",
                name.get_ref()
            ),
        );
        return None;
    };
    let refuse = match param {
        Param::ReportId => Some("limit the reports with reports"),
        Param::Format => Some("limit the formats with formats"),
        Param::Compression => Some("it is transport, not part of the report asked for"),
        _ => None,
    };
    if let Some(instead) = refuse {
        r.at(
            Some(name.span()),
            format!("{param} cannot be pinned: {instead}"),
        );
        return None;
    }
    let text = match value.get_ref() {
        RawScalar::String(s) => s.clone(),
        RawScalar::Integer(n) => n.to_string(),
        RawScalar::Bool(_) | RawScalar::Float(_) => {
            r.at(
                Some(value.span()),
                format!("the pinned value of {param} must be a string (or a whole number)"),
            );
            return None;
        }
    };
    // The same check and normal form as a caller's value gets, on a scratch query.
    let scratch = params::parse(Some("ReportId=1"), None, &params::Limits::default());
    let Ok(mut scratch) = scratch else {
        return None;
    };
    if let Err(e) = scratch.canonical.set(param, &text) {
        r.at(
            Some(value.span()),
            format!("the pinned value is not valid: {e}"),
        );
        return None;
    }
    Some(Pin {
        param,
        canonical: scratch.canonical.get(param).map(str::to_owned),
        value: text,
    })
}

pub(super) fn limits(raw: Option<&RawLimits>, r: &mut Reporter<'_>) -> Option<Limits> {
    let Some(l) = raw else {
        return Some(Limits::default());
    };
    let rate = rate_and_burst(&l.rate, &l.burst, "limits.rate", "limits.burst", r);
    let report_rate = rate_and_burst(
        &l.report_rate,
        &l.report_burst,
        "limits.report_rate",
        "limits.report_burst",
        r,
    );
    let miss_rate = rate_and_burst(
        &l.miss_rate,
        &l.miss_burst,
        "limits.miss_rate",
        "limits.miss_burst",
        r,
    );
    let key = match &l.key {
        None => Ok(None),
        Some(k) => {
            let name = k.get_ref();
            if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
                r.at(
                    Some(k.span()),
                    "limits.key must name a claim (1 to 256 characters, no control characters), \
                     such as \"org\": callers whose tokens carry the same value share quotas",
                );
                Err(())
            } else {
                Ok(Some(name.clone()))
            }
        }
    };
    let mut ok = true;
    let cache_ttl = match &l.cache_ttl {
        None => None,
        Some(s) => match humantime::parse_duration(s.get_ref()) {
            Ok(d) if d <= limits::MAX_CACHE_TTL => Some(d),
            _ => {
                r.at(
                    Some(s.span()),
                    format!(
                        "limits.cache_ttl must be a duration such as \"5m\" or \"1h\", at most \
                         {} (\"0s\": never cache)",
                        humantime::format_duration(limits::MAX_CACHE_TTL)
                    ),
                );
                ok = false;
                None
            }
        },
    };
    Some(Limits {
        key: key.ok()?,
        rate: rate.ok()?,
        report_rate: report_rate.ok()?,
        miss_rate: miss_rate.ok()?,
        cache_ttl: ok.then_some(cache_ttl)?,
        cache_refresh: l.cache_refresh.unwrap_or(false),
    })
}

/// A rate (`"N/unit"`) and its burst, as a grant's `[grant.limits]` and the configuration's
/// `[limits]` write them: `rate_name`/`burst_name` are the keys' names for the messages. `Err`
/// once every problem is reported.
pub(crate) fn rate_and_burst(
    rate: &Option<S<String>>,
    burst: &Option<S<i64>>,
    rate_name: &str,
    burst_name: &str,
    r: &mut Reporter<'_>,
) -> Result<Option<Rate>, ()> {
    let mut ok = true;
    let mut parsed = match rate {
        None => None,
        Some(s) => {
            let parsed = Rate::parse(s.get_ref());
            if parsed.is_none() {
                r.at(
                    Some(s.span()),
                    format!("{rate_name} {}", limits::RATE_SYNTAX),
                );
                ok = false;
            }
            parsed
        }
    };
    if let Some(b) = burst {
        let n = u32::try_from(*b.get_ref())
            .ok()
            .filter(|n| (1..=limits::MAX_COUNT).contains(n));
        match (n, &mut parsed) {
            (None, _) => {
                r.at(
                    Some(b.span()),
                    format!("{burst_name} must be from 1 to {}", limits::MAX_COUNT),
                );
                ok = false;
            }
            (Some(_), None) if rate.is_none() => {
                r.at(
                    Some(b.span()),
                    format!(
                        "{burst_name} needs {rate_name}: the burst is how far above the rate a \
                         caller may go at once"
                    ),
                );
                ok = false;
            }
            (Some(n), Some(rate)) => rate.burst = n,
            (Some(_), None) => {}
        }
    }
    if ok {
        Ok(parsed)
    } else {
        Err(())
    }
}
