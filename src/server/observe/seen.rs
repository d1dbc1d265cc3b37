//! What the layers below the observe layer learn about a request, written back for it: the
//! observe layer puts a [`Seen`] in the request's extensions before the request goes down, and
//! the notes the stack function runs around the parameter and policy checks (after auth,
//! parameter validation and the policy) fill it in. Each field is set at most once (`OnceLock`), so no lock is taken.

use std::sync::{Arc, OnceLock};

use http::Request;

use crate::audit::Auditor;
use crate::auth::Identity;
use crate::params::{Format, GetReportQuery, Param, ReportId};
use crate::policy::{Grant, Principal};

/// The parameters whose values the audit log shows only as keyed hashes.
pub(super) const HASHED: [Param; 4] = [
    Param::Keywords,
    Param::AttributeFilter,
    Param::AttributeFilter2,
    Param::AttributeFilter3,
];

#[derive(Debug)]
pub(crate) struct Seen {
    /// Set when the request is audited: only then are identity, grant and parameters kept.
    pub(super) auditor: Option<Arc<Auditor>>,
    pub(super) report: OnceLock<ReportId>,
    pub(super) identity: OnceLock<Arc<Identity>>,
    pub(super) grant: OnceLock<Arc<Grant>>,
    pub(super) params: OnceLock<AuditParams>,
}

/// The request's parameters as the audit log shows them.
#[derive(Debug)]
pub(super) struct AuditParams {
    pub(super) format: Format,
    pub(super) names: Vec<&'static str>,
    /// Keyed hashes of the values of [`HASHED`], in that order.
    pub(super) hashes: [Option<String>; 4],
}

impl Seen {
    pub(super) fn new(auditor: Option<Arc<Auditor>>) -> Seen {
        Seen {
            auditor,
            report: OnceLock::new(),
            identity: OnceLock::new(),
            grant: OnceLock::new(),
            params: OnceLock::new(),
        }
    }
}

fn seen<B>(request: &Request<B>) -> Option<&Arc<Seen>> {
    request.extensions().get::<Arc<Seen>>()
}

/// After authentication: who the caller is (audited requests only).
pub fn note_identity<B>(request: &Request<B>) {
    if let Some(seen) = seen(request).filter(|s| s.auditor.is_some()) {
        if let Some(identity) = request.extensions().get::<Arc<Identity>>() {
            let _ = seen.identity.set(Arc::clone(identity));
        }
    }
}

/// After parameter validation: the ReportId (for the report label), and for audited requests
/// the parameter names and the keyed hashes of the values that may name people.
pub fn note_query<B>(request: &Request<B>) {
    if let (Some(seen), Some(query)) = (seen(request), request.extensions().get::<GetReportQuery>())
    {
        let canonical = &query.canonical;
        let _ = seen.report.set(canonical.report_id());
        if let Some(auditor) = &seen.auditor {
            let _ = seen.params.set(AuditParams {
                format: canonical.format(),
                names: canonical.names().collect(),
                hashes: HASHED.map(|p| canonical.get(p).map(|v| auditor.hash(v))),
            });
        }
    }
}

/// After the policy allowed the request: the deciding grant (audited requests only).
pub fn note_grant<B>(request: &Request<B>) {
    if let Some(seen) = seen(request).filter(|s| s.auditor.is_some()) {
        if let Some(principal) = request.extensions().get::<Principal>() {
            let _ = seen.grant.set(Arc::clone(&principal.grant));
        }
    }
}
