//! Which endpoint a request is for: `GET /getreport?...` or its alias `GET /reports/{ReportId}?...`.
//! Anything else is answered here, before any other work.

use http::header::HOST;
use http::uri::Authority;
use http::{Method, Request, Version};

use crate::error::Error;

/// The matched route of a path (the parameter check matches it again for the alias's
/// ReportId: a comparison of a few bytes, cheaper than carrying it in the extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route<'a> {
    /// The `{ReportId}` path segment of the alias route, as sent.
    pub path_report_id: Option<&'a str>,
}

/// Matches a path exactly: no trailing slash, no `//`, no dot segments, no percent-encoding
/// in the routing part, so there is one spelling of each endpoint.
pub fn match_path(path: &str) -> Option<Route<'_>> {
    if path == "/getreport" {
        return Some(Route {
            path_report_id: None,
        });
    }
    let id = path.strip_prefix("/reports/")?;
    (!id.is_empty() && !id.contains('/')).then_some(Route {
        path_report_id: Some(id),
    })
}

/// The routing check: a Host that is missing (HTTP/1.1), repeated or not a host is refused,
/// unknown paths are 404, methods other than GET and HEAD are refused. Each connection's copy
/// remembers the last Host it found valid: clients send the same one on every request.
pub(super) fn route<B>() -> impl FnMut(&mut Request<B>) -> Result<(), Error> + Clone {
    let mut known = KnownHost::default();
    move |request| {
        check_host(request, &mut known)?;
        match_path(request.uri().path()).ok_or(Error::NotFound)?;
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return Err(Error::Method);
        }
        Ok(())
    }
}

/// The bytes of the last Host header found valid on a connection: the same bytes are valid
/// again without being parsed.
#[derive(Clone, Default)]
struct KnownHost(Option<Box<[u8]>>);

/// RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without a Host header, with
/// more than one, or with an invalid one. casegate builds nothing from the Host, but whatever
/// stands in front of it (a proxy, a cache, a WAF) may read the first where another reads the
/// last, so an ambiguous request is not served at all.
fn check_host<B>(request: &Request<B>, known: &mut KnownHost) -> Result<(), Error> {
    let mut hosts = request.headers().get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (_, Some(_)) => Err(Error::Host("is given more than once")),
        (None, _) if request.version() == Version::HTTP_11 => Err(Error::Host("is missing")),
        (None, _) => Ok(()),
        // Empty is what a client sends when the target has no authority (RFC 9112 §3.2).
        (Some(host), None) if host.is_empty() => Ok(()),
        (Some(host), None) if known.0.as_deref() == Some(host.as_bytes()) => Ok(()),
        (Some(host), None) => {
            let valid = Authority::try_from(host.as_bytes())
                .is_ok_and(|a| !a.as_str().contains('@') && !a.host().is_empty());
            if !valid {
                return Err(Error::Host("is not a host name with an optional port"));
            }
            known.0 = Some(host.as_bytes().into());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_paths_only() {
        assert_eq!(match_path("/getreport").unwrap().path_report_id, None);
        assert_eq!(
            match_path("/reports/10800").unwrap().path_report_id,
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
    fn one_valid_host() {
        let request = |hosts: &[&str], version| {
            let mut r = Request::get("/getreport").version(version);
            for h in hosts {
                r = r.header(HOST, *h);
            }
            r.body(()).unwrap()
        };
        for (hosts, version) in [
            (&["gateway.example"][..], Version::HTTP_11),
            (&["127.0.0.1:8080"], Version::HTTP_11),
            (&["[::1]:8080"], Version::HTTP_11),
            (&[""], Version::HTTP_11),
            (&[], Version::HTTP_10),
            (&[], Version::HTTP_2),
        ] {
            let mut known = KnownHost::default();
            assert!(
                check_host(&request(hosts, version), &mut known).is_ok(),
                "{hosts:?}"
            );
        }
        for hosts in [
            &[][..],
            &["a.example", "b.example"],
            &["a.example", "a.example"],
            &["evil.example/x"],
            &["user@gateway.example"],
            &["a b"],
            &[":80"],
        ] {
            assert!(
                matches!(
                    check_host(&request(hosts, Version::HTTP_11), &mut KnownHost::default()),
                    Err(Error::Host(_))
                ),
                "{hosts:?}"
            );
        }
    }

    #[test]
    fn a_remembered_host_is_only_ever_the_same_bytes() {
        let request = |hosts: &[&str]| {
            let mut r = Request::get("/getreport");
            for h in hosts {
                r = r.header(HOST, *h);
            }
            r.body(()).unwrap()
        };
        let mut known = KnownHost::default();
        // One connection, valid and invalid Hosts in turn: each judged on its own.
        for (hosts, valid) in [
            (&["gateway.example"][..], true),
            (&["gateway.example"], true),
            (&["gateway.example", "gateway.example"], false),
            (&["user@gateway.example"], false),
            (&["gateway.example"], true),
            (&["gateway.example/x"], false),
            (&[], false),
            (&["other.example:8443"], true),
            (&["gateway.example "], false),
            (&["gateway.example"], true),
        ] {
            assert_eq!(
                check_host(&request(hosts), &mut known).is_ok(),
                valid,
                "{hosts:?}"
            );
        }
    }

    #[test]
    fn unknown_paths_come_before_methods() {
        let request = |method: Method, path| {
            let request = Request::builder().method(method).uri(path);
            request.header(HOST, "gateway.test").body(()).unwrap()
        };
        let mut route = route();
        let mut post = request(Method::POST, "/elsewhere");
        assert!(matches!(route(&mut post), Err(Error::NotFound)));
        let mut post = request(Method::POST, "/getreport");
        assert!(matches!(route(&mut post), Err(Error::Method)));
        let mut head = request(Method::HEAD, "/reports/7");
        route(&mut head).unwrap();
        let mut get = request(Method::GET, "/getreport");
        route(&mut get).unwrap();
    }
}
