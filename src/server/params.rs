//! Validates the GetReport parameters and puts their canonical form in the request's extensions.
//! A request that fails here never reaches iCasework.

use http::Request;

use super::route::match_path;
use crate::error::Error;
use crate::params::{parse, GetReportQuery, Limits};

/// The parameter check for [`super::check::CheckLayer`].
pub(super) fn validate<B>(
    limits: Limits,
) -> impl FnMut(&mut Request<B>) -> Result<(), Error> + Clone {
    let mut last = Last::default();
    move |request| {
        // The routing check has matched the path already; only the alias's id is needed.
        let path_id = match_path(request.uri().path()).and_then(|r| r.path_report_id);
        let raw = request.uri().query();
        let query = match last.recall(raw, path_id) {
            Some(query) => query,
            None => {
                let query = parse(raw, path_id, &limits)?;
                last.keep(raw, path_id, &query);
                query
            }
        };
        request.extensions_mut().insert(query);
        Ok(())
    }
}

/// The last valid query the connection sent (kept by its copy of the stack) and what it parsed
/// to. A client polling a report sends the same query on its connection again and again;
/// comparing the bytes costs a fraction of parsing them, and parsing depends on nothing else
/// (the limits are fixed for the stack's life). Held in memory only, for the connection's life,
/// like the request itself; never printed.
#[derive(Clone, Default)]
struct Last(Option<Kept>);

#[derive(Clone)]
struct Kept {
    raw: Option<Box<str>>,
    path_id: Option<Box<str>>,
    parsed: GetReportQuery,
}

impl Last {
    fn recall(&self, raw: Option<&str>, path_id: Option<&str>) -> Option<GetReportQuery> {
        let kept = self.0.as_ref()?;
        (kept.raw.as_deref() == raw && kept.path_id.as_deref() == path_id)
            .then(|| kept.parsed.clone())
    }

    fn keep(&mut self, raw: Option<&str>, path_id: Option<&str>, parsed: &GetReportQuery) {
        self.0 = Some(Kept {
            raw: raw.map(Into::into),
            path_id: path_id.map(Into::into),
            parsed: parsed.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ParamError;

    /// Runs `check` on a request for `uri` (routed as the router would) and returns the query
    /// it put in the extensions, or its error.
    fn run(
        check: &mut impl FnMut(&mut Request<()>) -> Result<(), Error>,
        uri: &str,
    ) -> Result<GetReportQuery, Error> {
        let mut request = Request::builder().uri(uri).body(()).unwrap();
        check(&mut request)?;
        Ok(request
            .extensions()
            .get::<GetReportQuery>()
            .unwrap()
            .clone())
    }

    /// What `parse` makes of `uri` on its own.
    fn fresh(uri: &str) -> Result<GetReportQuery, Error> {
        run(&mut validate(Limits::default()), uri)
    }

    #[test]
    fn each_request_gets_what_its_own_query_parses_to_whatever_came_before_it() {
        let mut check = validate::<()>(Limits::default());
        let uris = [
            "/getreport?ReportId=10800&Format=json",
            "/getreport?ReportId=10800&Format=json",
            "/getreport?ReportId=10800&Format=xml",
            "/reports/10800?Format=xml",
            "/reports/10801?Format=xml",
            "/reports/10801",
            "/getreport?ReportId=10801",
            "/getreport?ReportId=10800&Format=json&Compression=gzip",
            "/getreport?ReportId=10800&Format=json",
            "/getreport?ReportId=10800&Format=json&Format=xml",
            "/getreport?ReportId=10800&Format=json",
            "/getreport",
            "/getreport?",
            "/getreport?ReportId=10800&Format=json",
        ];
        for uri in uris {
            match (run(&mut check, uri), fresh(uri)) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{uri}"),
                (Err(got), Err(want)) => assert_eq!(got.to_string(), want.to_string(), "{uri}"),
                (got, want) => panic!("{uri}: {got:?} against {want:?}"),
            }
        }
    }

    #[test]
    fn a_refused_query_is_refused_again_after_a_valid_one() {
        let mut check = validate::<()>(Limits::default());
        run(&mut check, "/getreport?ReportId=10800").unwrap();
        for _ in 0..2 {
            let refused = run(&mut check, "/getreport?ReportId=10800&ReportId=10800");
            assert!(
                matches!(
                    refused,
                    Err(Error::Params(ParamError::DuplicateParameter { .. }))
                ),
                "{refused:?}"
            );
        }
        // The route's ReportId counts as the parameter: the same query on the alias route is a
        // duplicate there, though the bytes of the query match the last valid one.
        run(&mut check, "/getreport?ReportId=10800").unwrap();
        assert!(run(&mut check, "/reports/10800?ReportId=10800").is_err());
    }
}
