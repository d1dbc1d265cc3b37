//! Which endpoint a request is for: `GET /getreport?...` or its alias `GET /reports/{ReportId}?...`.
//! Anything else is answered here, before any other work.

use http::{Method, Request};

use crate::error::Error;

/// The matched route, in the request's extensions for later layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The `{ReportId}` path segment of the alias route, as sent.
    pub path_report_id: Option<String>,
}

/// Matches a path exactly: no trailing slash, no `//`, no dot segments, no percent-encoding
/// in the routing part, so there is one spelling of each endpoint.
pub fn match_path(path: &str) -> Option<Route> {
    if path == "/getreport" {
        return Some(Route {
            path_report_id: None,
        });
    }
    let id = path.strip_prefix("/reports/")?;
    (!id.is_empty() && !id.contains('/')).then(|| Route {
        path_report_id: Some(id.to_owned()),
    })
}

/// The routing check: unknown paths are 404, methods other than GET and HEAD are refused.
pub(super) fn route<B>(request: &mut Request<B>) -> Result<(), Error> {
    let route = match_path(request.uri().path()).ok_or(Error::NotFound)?;
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Err(Error::Method);
    }
    request.extensions_mut().insert(route);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_paths_only() {
        assert_eq!(match_path("/getreport").unwrap().path_report_id, None);
        assert_eq!(
            match_path("/reports/10800")
                .unwrap()
                .path_report_id
                .as_deref(),
            Some("10800")
        );
        for path in [
            "/",
            "/getreport/",
            "//getreport",
            "/getreport/..",
            "/GetReport",
            "/reports/",
            "/reports/1/2",
            "/reports",
            "/getreport%2f",
        ] {
            assert!(match_path(path).is_none(), "{path}");
        }
    }

    #[test]
    fn unknown_paths_come_before_methods() {
        let mut post = Request::post("/elsewhere").body(()).unwrap();
        assert!(matches!(route(&mut post), Err(Error::NotFound)));
        let mut post = Request::post("/getreport").body(()).unwrap();
        assert!(matches!(route(&mut post), Err(Error::Method)));
        let mut head = Request::head("/reports/7").body(()).unwrap();
        route(&mut head).unwrap();
        assert_eq!(
            head.extensions()
                .get::<Route>()
                .unwrap()
                .path_report_id
                .as_deref(),
            Some("7")
        );
    }
}
