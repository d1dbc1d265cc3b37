//! The audit event of one request, prepared when its response head goes out and written when
//! its body ends (see `crate::audit` for what it holds and never holds).

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Response};

use super::super::stack::id_text;
use super::seen::Seen;
use crate::audit::{Escaped, Record};
use crate::error::ProblemCode;
use crate::redact::Withheld;

/// Problem codes by which the policy refuses a request.
const DENIALS: [&str; 5] = [
    "no_grant",
    "format_not_allowed",
    "parameter_forbidden",
    "parameter_pinned",
    "column_withheld",
];

static NONE: std::sync::LazyLock<Escaped> = std::sync::LazyLock::new(Escaped::default);

/// Everything known at the response head; bytes, duration and ending are added at the end.
#[derive(Debug)]
pub(crate) struct Pending {
    seen: Arc<Seen>,
    request_id: Option<HeaderValue>,
    method: http::Method,
    route: &'static str,
    status: u16,
    cache: &'static str,
    reason: Option<&'static str>,
    /// A streamed answer's withheld columns, complete once its body has ended (a cached
    /// answer's are in the notes).
    streamed: Option<Withheld>,
}

impl Pending {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new<B>(
        seen: Arc<Seen>,
        request_id: Option<HeaderValue>,
        method: http::Method,
        route: &'static str,
        cache: &'static str,
        response: &Response<B>,
    ) -> Box<Pending> {
        let extensions = response.extensions();
        Box::new(Pending {
            seen,
            request_id,
            method,
            route,
            status: response.status().as_u16(),
            cache,
            reason: extensions.get::<ProblemCode>().map(|c| c.0),
            streamed: extensions.get::<Withheld>().cloned(),
        })
    }

    /// Writes the event; `duration` is the time from the request to the body's end.
    pub(super) fn emit(&self, bytes: u64, ending: super::body::Ending, duration: Duration) {
        let seen = &*self.seen;
        let Some(auditor) = &seen.auditor else {
            return; // not audited: no `Pending` is made then
        };
        let notes = seen.notes();
        let identity = notes.identity.as_deref();
        let params = notes.params.as_deref();
        let decision = match (self.reason, &notes.grant) {
            (Some(code), _) if DENIALS.contains(&code) => "deny",
            (_, Some(_)) => "allow",
            (_, None) => "refuse",
        };
        let streamed;
        let columns = match (&notes.withheld, &self.streamed) {
            (Some(cached), _) => cached.joined(),
            (None, Some(withheld)) => {
                streamed = withheld.columns();
                streamed.joined()
            }
            (None, None) => &*NONE,
        };
        let hash = |i: usize| params.and_then(|p| p.hashes[i].as_deref());
        auditor.write(&Record {
            request_id: id_text(self.request_id.as_ref()),
            method: self.method.as_str(),
            route: self.route,
            issuer: identity.map(|i| i.issuer.as_str()),
            subject: identity.map(|i| i.subject.as_str()),
            grant: notes.grant.as_ref().map(|g| g.name.as_str()),
            report_id: notes.report.map(|r| r.get()),
            format: params.map(|p| p.format.as_str()),
            params: params.map(|p| p.names.as_slice()),
            keywords_hash: hash(0),
            attribute_filter_hash: hash(1),
            attribute_filter2_hash: hash(2),
            attribute_filter3_hash: hash(3),
            decision,
            reason: self.reason,
            cache: self.cache,
            columns_withheld: columns,
            status: self.status,
            bytes,
            duration,
            outcome: ending.as_str(),
        });
    }
}
