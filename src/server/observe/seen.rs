//! What the layers below the observe layer learn about a request, written back for it: the
//! observe layer puts a [`Seen`] in the request's extensions before the request goes down, and
//! the notes the stack function runs around the parameter and policy checks (after auth,
//! parameter validation and the policy) fill it in. The first value noted for a field stays.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::Request;

use crate::audit::Auditor;
use crate::auth::Identity;
use crate::params::{CanonicalParams, Format, GetReportQuery, Param, ReportId};
use crate::policy::{Grant, Principal};
use crate::redact::WithheldColumns;

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
    /// Written by the notes while the request goes down, read when its answer comes back: one
    /// uncontended lock each time (four `OnceLock`s cost twice as much).
    notes: Mutex<Notes>,
}

#[derive(Debug, Default)]
pub(super) struct Notes {
    pub(super) report: Option<ReportId>,
    pub(super) identity: Option<Arc<Identity>>,
    pub(super) grant: Option<Arc<Grant>>,
    pub(super) params: Option<Arc<AuditParams>>,
    /// A cached answer's withheld columns (a streamed answer's come with its body).
    pub(super) withheld: Option<WithheldColumns>,
}

/// The request's parameters as the audit log shows them.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct AuditParams {
    pub(super) format: Format,
    pub(super) names: Vec<&'static str>,
    /// Keyed hashes of the values of [`HASHED`], in that order.
    pub(super) hashes: [Option<String>; 4],
}

impl AuditParams {
    fn of(canonical: &CanonicalParams, auditor: &Auditor) -> AuditParams {
        AuditParams {
            format: canonical.format(),
            names: canonical.names().collect(),
            hashes: HASHED.map(|p| canonical.get(p).map(|v| auditor.hash(v))),
        }
    }
}

impl Seen {
    pub(super) fn new(auditor: Option<Arc<Auditor>>) -> Seen {
        Seen {
            auditor,
            notes: Mutex::default(),
        }
    }

    /// The notes so far. Nothing panics while holding them; a poisoned lock is taken anyway.
    pub(super) fn notes(&self) -> MutexGuard<'_, Notes> {
        self.notes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn seen<B>(request: &Request<B>) -> Option<&Arc<Seen>> {
    request.extensions().get::<Arc<Seen>>()
}

/// After authentication: who the caller is (audited requests only).
pub fn note_identity<B>(request: &Request<B>) {
    if let Some(seen) = seen(request).filter(|s| s.auditor.is_some()) {
        if let Some(identity) = request.extensions().get::<Arc<Identity>>() {
            seen.notes()
                .identity
                .get_or_insert_with(|| Arc::clone(identity));
        }
    }
}

/// After parameter validation: the ReportId (for the report label), and for audited requests
/// the parameter names and the keyed hashes of the values that may name people.
///
/// Each connection's copy remembers the last query's audit form: a client polling a report
/// sends the same query again and again, and the same parameters give the same names and
/// hashes (under the same auditor's key), so they are not hashed again.
pub fn note_query<B>() -> impl FnMut(&Request<B>) + Clone {
    let mut last: Option<(Arc<Auditor>, CanonicalParams, Arc<AuditParams>)> = None;
    move |request| {
        let (Some(seen), Some(query)) =
            (seen(request), request.extensions().get::<GetReportQuery>())
        else {
            return;
        };
        let canonical = &query.canonical;
        let mut notes = seen.notes();
        notes.report.get_or_insert(canonical.report_id());
        let Some(auditor) = &seen.auditor else {
            return;
        };
        let params = match &last {
            Some((kept_auditor, kept, params))
                if Arc::ptr_eq(kept_auditor, auditor) && kept == canonical =>
            {
                Arc::clone(params)
            }
            _ => {
                let params = Arc::new(AuditParams::of(canonical, auditor));
                last = Some((Arc::clone(auditor), canonical.clone(), Arc::clone(&params)));
                params
            }
        };
        notes.params.get_or_insert(params);
    }
}

/// After the policy allowed the request: the deciding grant (audited requests only).
pub fn note_grant<B>(request: &Request<B>) {
    if let Some(seen) = seen(request).filter(|s| s.auditor.is_some()) {
        if let Some(principal) = request.extensions().get::<Principal>() {
            seen.notes()
                .grant
                .get_or_insert_with(|| Arc::clone(&principal.grant));
        }
    }
}

/// When a cached answer is made: the columns it withholds (audited requests only; a grant that
/// withholds nothing notes nothing).
pub fn note_withheld<B>(request: &Request<B>, columns: &WithheldColumns) {
    if columns.is_empty() {
        return;
    }
    if let Some(seen) = seen(request).filter(|s| s.auditor.is_some()) {
        seen.notes().withheld.get_or_insert_with(|| columns.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditConfig;

    fn auditor(key: &str) -> Arc<Auditor> {
        let config = AuditConfig {
            hash_key: Some(key.to_owned().into()),
            ..AuditConfig::default()
        };
        Arc::new(Auditor::with_output(&config, None))
    }

    /// A request as the parameter check leaves it, with a fresh `Seen` for `auditor`.
    fn request(query: &str, auditor: &Arc<Auditor>) -> (Request<()>, Arc<Seen>) {
        let mut request = Request::new(());
        let seen = Arc::new(Seen::new(Some(Arc::clone(auditor))));
        let limits = crate::params::Limits::default();
        let parsed = crate::params::parse(Some(query), None, &limits).unwrap();
        request.extensions_mut().insert(Arc::clone(&seen));
        request.extensions_mut().insert(parsed);
        (request, seen)
    }

    #[test]
    fn a_connection_s_remembered_query_notes_what_a_fresh_one_would() {
        let (first, second) = (auditor("key-one"), auditor("key-two"));
        let mut note = note_query::<()>();
        let mut previous: Option<Arc<AuditParams>> = None;
        // One connection's queries in turn: repeats, another query, another auditor's key.
        for (query, auditor, same_as_previous) in [
            ("ReportId=1&Keywords=Bloggs", &first, false),
            ("ReportId=1&Keywords=Bloggs", &first, true),
            ("keywords=Bloggs&reportid=1", &first, true),
            ("ReportId=1&Keywords=Smith", &first, false),
            ("ReportId=1&Keywords=Smith&Format=json", &first, false),
            ("ReportId=1&Keywords=Smith&Format=json", &second, false),
            ("ReportId=2", &second, false),
            ("ReportId=2", &second, true),
        ] {
            let (request, seen) = request(query, auditor);
            note(&request);
            let notes = seen.notes();
            let params = Arc::clone(notes.params.as_ref().unwrap());
            let fresh = AuditParams::of(
                &request
                    .extensions()
                    .get::<GetReportQuery>()
                    .unwrap()
                    .canonical,
                auditor,
            );
            assert_eq!(*params, fresh, "{query}");
            assert_eq!(notes.report, Some(fresh_report(query)), "{query}");
            let reused = previous.as_ref().is_some_and(|p| Arc::ptr_eq(p, &params));
            assert_eq!(reused, same_as_previous, "{query}");
            previous = Some(params);
        }
    }

    fn fresh_report(query: &str) -> ReportId {
        let limits = crate::params::Limits::default();
        let parsed = crate::params::parse(Some(query), None, &limits).unwrap();
        parsed.canonical.report_id()
    }

    #[test]
    fn notes_keep_the_first_value_and_an_unaudited_request_keeps_only_its_report() {
        let auditor = auditor("key");
        let (request, seen) = request("ReportId=3&Keywords=x", &auditor);
        let mut note = note_query::<()>();
        note(&request);
        let noted = Arc::clone(seen.notes().params.as_ref().unwrap());
        let (other, _) = self::request("ReportId=4", &auditor);
        let mut request = request;
        request
            .extensions_mut()
            .insert(other.extensions().get::<GetReportQuery>().unwrap().clone());
        note(&request);
        let notes = seen.notes();
        assert_eq!(notes.report.map(|r| r.get()), Some(3));
        assert!(Arc::ptr_eq(notes.params.as_ref().unwrap(), &noted));
        drop(notes);

        let mut unaudited = Request::new(());
        let seen = Arc::new(Seen::new(None));
        unaudited.extensions_mut().insert(Arc::clone(&seen));
        unaudited
            .extensions_mut()
            .insert(other.extensions().get::<GetReportQuery>().unwrap().clone());
        note(&unaudited);
        let notes = seen.notes();
        assert_eq!(notes.report.map(|r| r.get()), Some(4));
        assert!(notes.params.is_none());
    }

    #[test]
    fn a_cached_answer_s_withheld_columns_are_noted_once_and_only_when_audited() {
        let columns = |names: &[&str]| WithheldColumns::new(names.iter().map(|n| n.to_string()));
        let auditor = auditor("key");
        let (request, seen) = request("ReportId=3", &auditor);
        note_withheld(&request, &columns(&[]));
        assert!(
            seen.notes().withheld.is_none(),
            "nothing withheld, nothing noted"
        );
        note_withheld(&request, &columns(&["Customer.Email", "Customer.Name"]));
        note_withheld(&request, &columns(&["Customer.Phone"]));
        let noted = seen.notes().withheld.clone().unwrap();
        assert_eq!(
            noted.joined(),
            &crate::audit::Escaped::new("Customer.Email,Customer.Name")
        );

        let mut unaudited = Request::new(());
        let seen = Arc::new(Seen::new(None));
        unaudited.extensions_mut().insert(Arc::clone(&seen));
        note_withheld(&unaudited, &columns(&["Customer.Email"]));
        assert!(seen.notes().withheld.is_none());
    }
}
