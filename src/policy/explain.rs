//! The reviewer's account of one decision (`casegate explain`): which grants were tried and why
//! each did or did not apply, the outcome, and the deciding grant's columns, parameters and limits.
//!
//! The caller's claim and parameter values are not shown, only their names: the text may be
//! pasted into tickets. The policy's own values (matchers, pins) are shown.

use std::fmt::Write as _;

use super::columns::{ColumnMode, RuleAction};
use super::decision::format_list;
use super::{Decision, Grant};
use crate::auth::Identity;
use crate::params::{GetReportQuery, Param};

/// A human-readable, multi-line explanation of `decision` for security reviewers. An
/// [`Decision::Allow`] does not record why earlier grants did not apply;
/// [`Policy::explain`](super::Policy::explain) gives those too.
pub fn explain(identity: &Identity, query: &GetReportQuery, decision: &Decision) -> String {
    let considered = match decision {
        Decision::Deny(d) => Some(d.considered.as_slice()),
        Decision::Allow { .. } => None,
    };
    render(identity, query, decision, considered)
}

pub(crate) fn render(
    identity: &Identity,
    query: &GetReportQuery,
    decision: &Decision,
    considered: Option<&[(String, String)]>,
) -> String {
    let mut out = String::new();
    let canonical = &query.canonical;
    let mut given: Vec<&str> = canonical
        .names()
        .filter(|n| *n != Param::ReportId.name() && *n != Param::Format.name())
        .collect();
    if query.gzip {
        given.push(Param::Compression.name());
    }
    let _ = writeln!(
        out,
        "request: report {} as {}; other parameters: {}",
        canonical.report_id(),
        canonical.format().as_str(),
        if given.is_empty() {
            "none".to_owned()
        } else {
            given.join(", ")
        }
    );
    let claims: Vec<&str> = identity.claims.keys().map(String::as_str).collect();
    let _ = writeln!(
        out,
        "caller: iss {:?}, sub {:?}; claims present: {}",
        identity.issuer,
        identity.subject,
        claims.join(", ")
    );
    let grant = match decision {
        Decision::Allow { grant, .. } => {
            let _ = writeln!(
                out,
                "decision: ALLOWED by grant {:?} (line {})",
                grant.name, grant.line
            );
            Some(grant)
        }
        Decision::Deny(d) => {
            match &d.grant {
                Some(g) => {
                    let _ = writeln!(
                        out,
                        "decision: DENIED ({}) by grant {:?} (line {})",
                        d.code(),
                        g.name,
                        g.line
                    );
                }
                None => {
                    let _ = writeln!(out, "decision: DENIED ({}): no grant applies", d.code());
                }
            }
            let _ = writeln!(out, "  the caller is told: {}", d.detail());
            d.grant.as_ref()
        }
    };
    out.push_str("grants tried, in file order (the first that applies decides):\n");
    match considered {
        Some(list) => {
            for (name, why) in list {
                let _ = writeln!(out, "  - {name:?}: {why}");
            }
        }
        None => out.push_str("  - (grants before the deciding one, if any, did not apply)\n"),
    }
    match grant {
        Some(g) => {
            let _ = writeln!(out, "  - {:?}: applies and decides", g.name);
            describe(&mut out, g, query, decision);
        }
        None if considered.is_some_and(<[_]>::is_empty) => {
            out.push_str("  (the policy has no grants)\n");
        }
        None => {}
    }
    out
}

/// The deciding grant's terms.
fn describe(out: &mut String, g: &Grant, query: &GetReportQuery, decision: &Decision) {
    let _ = writeln!(out, "grant {:?} (line {}):", g.name, g.line);
    if let Some(d) = &g.description {
        let _ = writeln!(out, "  description: {d}");
    }
    let _ = writeln!(out, "  who: {}", g.who);
    let _ = writeln!(
        out,
        "  what: {}; formats {}",
        g.reports,
        format_list(&g.formats)
    );
    let c = &g.columns;
    match c.mode() {
        ColumnMode::DenyList if c.rules().is_empty() => {
            out.push_str("  columns: every column is kept as it is\n");
        }
        ColumnMode::DenyList => out.push_str("  columns: columns no rule names are kept\n"),
        ColumnMode::AllowList => {
            out.push_str("  columns: allow-list mode: columns no rule names are dropped\n");
        }
    }
    for rule in c.rules() {
        let how = match rule.action {
            RuleAction::Allow => "allowed: kept as it is".to_owned(),
            RuleAction::Drop => "dropped".to_owned(),
            RuleAction::Mask => format!("masked: replaced by {:?}", c.mask_with()),
            RuleAction::Hash => format!(
                "hashed: HMAC-SHA256 pseudonym, {} hex characters",
                c.hash_key().map_or(0, |k| k.length())
            ),
        };
        let _ = writeln!(out, "    {} {}: {how}", rule.action.key(), rule.pattern);
    }
    if c.rules().len() > 1 {
        out.push_str("    (a column takes the most specific pattern that matches it)\n");
    }
    let p = &g.parameters;
    let forbidden: Vec<&str> = p.forbidden().iter().map(|p| p.name()).collect();
    let _ = writeln!(
        out,
        "  parameters forbidden: {}",
        if forbidden.is_empty() {
            "none".to_owned()
        } else {
            forbidden.join(", ")
        }
    );
    if p.pins().is_empty() {
        out.push_str("  parameters pinned: none\n");
    }
    for pin in p.pins() {
        let given = query.canonical.get(pin.param);
        let status = match (given, decision) {
            (None, Decision::Allow { .. }) => "added: the caller did not send it",
            (None, Decision::Deny(_)) => "would be added: the caller did not send it",
            (Some(v), _) if Some(v) == pin.canonical.as_deref() => "the caller sent this value",
            (Some(_), _) => "the caller sent another value",
        };
        let _ = writeln!(
            out,
            "  parameter pinned: {} = {:?} ({status})",
            pin.param, pin.value
        );
    }
    let rate = |r: Option<crate::policy::Rate>| {
        r.map_or_else(|| "the gateway's default".to_owned(), |r| r.to_string())
    };
    let key = g.limits.key.as_deref().map_or_else(
        || "subject".to_owned(),
        |k| format!("claim {k:?} (else the subject)"),
    );
    let ttl = match g.limits.cache_ttl {
        None => "the gateway's default".to_owned(),
        Some(d) if d.is_zero() => "never cached".to_owned(),
        Some(d) => humantime::format_duration(d).to_string(),
    };
    let _ = writeln!(
        out,
        "  limits: rate {}; per report {}; to iCasework {}; quotas per caller by {key}; \
         cache TTL {ttl}",
        rate(g.limits.rate),
        rate(g.limits.report_rate),
        rate(g.limits.miss_rate),
    );
}
