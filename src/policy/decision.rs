//! The decision for one request: the first grant that applies decides, else default deny.

use std::fmt;
use std::sync::Arc;

use super::parameters::Refusal;
use super::Grant;
use crate::auth::Identity;
use crate::params::{Format, GetReportQuery, Param, ReportId};

/// What the policy says about one request.
#[derive(Clone, Debug)]
pub enum Decision {
    /// Serve `query` (the caller's, with the grant's pinned values added) under `grant`'s column
    /// rules and limits.
    Allow {
        grant: Arc<Grant>,
        query: GetReportQuery,
    },
    /// Refuse with 403.
    Deny(Denial),
}

/// Why a request was refused, and what was considered on the way (for `explain` and the logs;
/// none of it is shown to the caller but [`Denial::detail`]).
#[derive(Clone, Debug)]
pub struct Denial {
    pub reason: DenyReason,
    /// The report asked for.
    pub report_id: ReportId,
    /// The grant that applied and refused; `None` for [`DenyReason::NoGrant`].
    pub grant: Option<Arc<Grant>>,
    /// The grants tried before a decision, in file order, each with why it did not apply. The
    /// texts name claims and the policy's values, never the caller's claim values.
    pub considered: Vec<(String, String)>,
}

/// The kinds of refusal.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DenyReason {
    /// No grant applies to this caller and report.
    NoGrant,
    /// The grant that applies does not allow this format.
    FormatNotAllowed(Format),
    /// The grant that applies forbids this parameter and the caller sent it.
    ParameterForbidden(Param),
    /// The grant that applies fixes this parameter and the caller sent another value.
    ParameterPinned(Param),
}

impl Denial {
    /// A stable snake_case code for the problem body, logs and metrics.
    pub fn code(&self) -> &'static str {
        match self.reason {
            DenyReason::NoGrant => "no_grant",
            DenyReason::FormatNotAllowed(_) => "format_not_allowed",
            DenyReason::ParameterForbidden(_) => "parameter_forbidden",
            DenyReason::ParameterPinned(_) => "parameter_pinned",
        }
    }

    /// The parameter at fault, for the problem's `parameter` member.
    pub fn parameter(&self) -> Option<Param> {
        match self.reason {
            DenyReason::ParameterForbidden(p) | DenyReason::ParameterPinned(p) => Some(p),
            DenyReason::NoGrant | DenyReason::FormatNotAllowed(_) => None,
        }
    }

    /// What the caller is told: what to fix, and nothing about other grants or reports.
    pub fn detail(&self) -> String {
        let id = self.report_id;
        match self.reason {
            DenyReason::NoGrant => format!(
                "no grant allows this caller to read report {id}; \
                 ask the gateway's operators for access"
            ),
            DenyReason::FormatNotAllowed(format) => {
                let allowed = self
                    .grant
                    .as_ref()
                    .map(|g| format_list(&g.formats))
                    .unwrap_or_default();
                format!(
                    "this caller may not read report {id} as {}; ask for Format {allowed}",
                    format.as_str()
                )
            }
            DenyReason::ParameterForbidden(p) => {
                format!("this caller may not send {p} for report {id}; remove it and try again")
            }
            DenyReason::ParameterPinned(p) => format!(
                "{p} is fixed for this caller by the gateway's policy; \
                 leave it out (the gateway sets it) and try again"
            ),
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail())
    }
}

impl std::error::Error for Denial {}

/// `json, csv` or `json or csv`, as a caller reads it.
pub(crate) fn format_list(formats: &[Format]) -> String {
    let names: Vec<&str> = formats.iter().map(|f| f.as_str()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_owned(),
        None => "(none)".to_owned(),
    }
}

/// Why `grant` does not apply to `identity` asking for `report`; `None` when it applies.
pub(crate) fn why_not(grant: &Grant, identity: &Identity, report: ReportId) -> Option<String> {
    if let Some(why) = grant.who.mismatch(identity) {
        return Some(format!("who does not match: {why}"));
    }
    (!grant.reports.covers(report)).then(|| format!("does not cover report {report}"))
}

/// The decision (see [`Policy::decide`](super::Policy::decide)).
pub(crate) fn decide(
    grants: &[Arc<Grant>],
    identity: &Identity,
    query: &GetReportQuery,
) -> Decision {
    let report = query.canonical.report_id();
    // The common path stays cheap: reasons are only written out for a denial.
    let applies = grants
        .iter()
        .position(|g| g.who.matches(identity) && g.reports.covers(report));
    let considered = |upto: usize| considered(&grants[..upto], identity, report);
    let Some(i) = applies else {
        return Decision::Deny(Denial {
            reason: DenyReason::NoGrant,
            report_id: report,
            grant: None,
            considered: considered(grants.len()),
        });
    };
    let grant = &grants[i];
    let deny = |reason| {
        Decision::Deny(Denial {
            reason,
            report_id: report,
            grant: Some(Arc::clone(grant)),
            considered: considered(i),
        })
    };
    let format = query.canonical.format();
    if !grant.formats.contains(&format) {
        return deny(DenyReason::FormatNotAllowed(format));
    }
    let mut query = query.clone();
    match grant.parameters.apply(&mut query) {
        Ok(()) => Decision::Allow {
            grant: Arc::clone(grant),
            query,
        },
        Err(Refusal::Forbidden(p)) => deny(DenyReason::ParameterForbidden(p)),
        Err(Refusal::Pinned(p)) => deny(DenyReason::ParameterPinned(p)),
    }
}

/// Each of `grants` with why it does not apply.
pub(crate) fn considered(
    grants: &[Arc<Grant>],
    identity: &Identity,
    report: ReportId,
) -> Vec<(String, String)> {
    grants
        .iter()
        .map(|g| {
            let why = why_not(g, identity, report).unwrap_or_else(|| "applies".to_owned());
            (g.name.clone(), why)
        })
        .collect()
}
