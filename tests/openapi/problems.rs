//! Every problem the gateway can answer with, made by the one mapping (`Error::into_response`)
//! and looked up in the description: its status, its `code`, its members and its headers.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use casegate::auth::AuthError;
use casegate::error::Error;
use casegate::limit::Scope;
use casegate::params::{Format, Param, ParamError, ReportId};
use casegate::policy::{Denial, DenyReason};
use casegate::redact::RedactError;
use casegate::upstream::error::{CredentialError, ThrottleReason, TimeoutPhase, UpstreamError};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;

use super::spec::{self, resolve};

/// One error of every kind `Error` can hold, down to the variants of the errors inside it.
fn samples() -> Vec<Error> {
    let denial = |reason| {
        Error::Policy(Denial {
            reason,
            report_id: ReportId::new(10800).unwrap(),
            grant: None,
            considered: Vec::new(),
        })
    };
    let upstream = |e| Error::Upstream(e);
    let secs = Duration::from_secs;
    let mut all = vec![
        Error::Params(ParamError::QueryTooLong { limit: 4096 }),
        Error::Params(ParamError::MissingReportId),
        Error::Params(ParamError::UnknownParameter {
            name: "Colour".into(),
        }),
        Error::Params(ParamError::ForbiddenParameter { name: "db" }),
        Error::Params(ParamError::DuplicateParameter {
            param: Param::ReportId,
            in_path: true,
        }),
        Error::Params(ParamError::InvalidParameter {
            param: Param::Units,
            reason: "must be one of: ...",
        }),
        Error::Params(ParamError::ControlCharacter {
            param: Some(Param::Keywords),
        }),
        Error::Params(ParamError::ValueTooLong {
            param: Param::Keywords,
            limit: 1024,
        }),
        Error::Params(ParamError::EmptyName),
        Error::Params(ParamError::InvalidEscape { param: None }),
        Error::Params(ParamError::InvalidUtf8 {
            param: Some(Param::From),
        }),
        Error::Method,
        Error::NotFound,
        Error::Host("is missing"),
        denial(DenyReason::NoGrant),
        denial(DenyReason::FormatNotAllowed(Format::Csv)),
        denial(DenyReason::ParameterForbidden(Param::Keywords)),
        denial(DenyReason::ParameterPinned(Param::Units)),
        Error::Redact(RedactError::Truncated { format: "json" }),
        Error::ColumnWithheld {
            column: "customer.fullname".into(),
        },
        Error::RateLimited {
            scope: Scope::Report,
            retry_after: Duration::from_millis(1500),
        },
        Error::Internal("a state the stack rules out"),
        upstream(UpstreamError::Refused {
            status: StatusCode::BAD_REQUEST,
            code: Some("8051".into()),
            info: Some("Report not found".into()),
        }),
        upstream(UpstreamError::Credential(CredentialError::NoAccessToken)),
        upstream(UpstreamError::CredentialRefused {
            code: Some("8021".into()),
            info: None,
        }),
        upstream(UpstreamError::WrongEndpoint {
            code: "8001".into(),
            info: None,
        }),
        upstream(UpstreamError::Unreachable("connection refused".into())),
        upstream(UpstreamError::Timeout {
            phase: TimeoutPhase::Connect,
            after: secs(5),
        }),
        upstream(UpstreamError::Timeout {
            phase: TimeoutPhase::FirstByte,
            after: secs(60),
        }),
        upstream(UpstreamError::TooLarge { limit: 1 << 29 }),
        upstream(UpstreamError::Status {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            retry_after: None,
        }),
        upstream(UpstreamError::CircuitOpen {
            retry_after: secs(30),
        }),
        upstream(UpstreamError::Throttled {
            reason: ThrottleReason::GlobalRate,
            retry_after: secs(1),
        }),
        upstream(UpstreamError::Throttled {
            reason: ThrottleReason::Concurrency,
            retry_after: secs(1),
        }),
        upstream(UpstreamError::Throttled {
            reason: ThrottleReason::RetryAfter,
            retry_after: secs(20),
        }),
    ];
    let auth = [
        AuthError::Missing,
        AuthError::Malformed("two Authorization headers"),
        AuthError::Oversized { limit: 8192 },
        AuthError::NoneAlgorithm,
        AuthError::UnknownIssuer,
        AuthError::AlgorithmNotAllowed,
        AuthError::UnknownKid,
        AuthError::BadSignature,
        AuthError::Expired,
        AuthError::NotYetValid,
        AuthError::WrongAudience,
        AuthError::MissingClaim("exp"),
        AuthError::KeysUnavailable,
    ];
    all.extend(auth.into_iter().map(Error::Auth));
    // The wrappers: an error shared by the callers of one cache fill, and one carrying the
    // RateLimit fields of a limited caller.
    all.extend(
        [
            Error::Method,
            Error::Auth(AuthError::Expired),
            Error::RateLimited {
                scope: Scope::Miss,
                retry_after: secs(2),
            },
        ]
        .map(|e| Error::Shared(Arc::new(e))),
    );
    let mut fields = HeaderMap::new();
    for (name, value) in [
        ("ratelimit-limit", "10"),
        ("ratelimit-remaining", "0"),
        ("ratelimit-reset", "6"),
    ] {
        fields.insert(name, value.parse().unwrap());
    }
    all.push(Error::WithHeaders(
        Box::new(Error::RateLimited {
            scope: Scope::Caller,
            retry_after: secs(6),
        }),
        fields,
    ));
    all.iter().for_each(every_variant_is_sampled);
    all
}

/// Names every variant without a wildcard, so a new kind of error does not compile here until
/// it is named, and [`samples`] above gets one of it: its problem must be in the description.
fn every_variant_is_sampled(e: &Error) {
    match e {
        Error::Params(
            ParamError::QueryTooLong { .. }
            | ParamError::MissingReportId
            | ParamError::UnknownParameter { .. }
            | ParamError::ForbiddenParameter { .. }
            | ParamError::DuplicateParameter { .. }
            | ParamError::InvalidParameter { .. }
            | ParamError::ControlCharacter { .. }
            | ParamError::ValueTooLong { .. }
            | ParamError::EmptyName
            | ParamError::InvalidEscape { .. }
            | ParamError::InvalidUtf8 { .. },
        )
        | Error::Method
        | Error::NotFound
        | Error::Host(_)
        | Error::Redact(
            RedactError::Shape { .. }
            | RedactError::Utf8 { .. }
            | RedactError::RowTooLarge { .. }
            | RedactError::Truncated { .. },
        )
        | Error::ColumnWithheld { .. }
        | Error::RateLimited { .. }
        | Error::Internal(_)
        | Error::Shared(_)
        | Error::WithHeaders(..) => {}
        Error::Policy(d) => match d.reason {
            DenyReason::NoGrant
            | DenyReason::FormatNotAllowed(_)
            | DenyReason::ParameterForbidden(_)
            | DenyReason::ParameterPinned(_) => {}
        },
        Error::Auth(a) => match a {
            AuthError::Missing
            | AuthError::Malformed(_)
            | AuthError::Oversized { .. }
            | AuthError::NoneAlgorithm
            | AuthError::UnknownIssuer
            | AuthError::AlgorithmNotAllowed
            | AuthError::UnknownKid
            | AuthError::BadSignature
            | AuthError::Expired
            | AuthError::NotYetValid
            | AuthError::WrongAudience
            | AuthError::MissingClaim(_)
            | AuthError::KeysUnavailable => {}
        },
        Error::Upstream(u) => match u {
            UpstreamError::Refused { .. }
            | UpstreamError::Credential(_)
            | UpstreamError::CredentialRefused { .. }
            | UpstreamError::WrongEndpoint { .. }
            | UpstreamError::Unreachable(_)
            | UpstreamError::Timeout { .. }
            | UpstreamError::TooLarge { .. }
            | UpstreamError::Status { .. }
            | UpstreamError::CircuitOpen { .. } => {}
            UpstreamError::Throttled { reason, .. } => match reason {
                ThrottleReason::GlobalRate
                | ThrottleReason::Concurrency
                | ThrottleReason::RetryAfter => {}
            },
        },
    }
}

/// The codes a described problem response allows, and the status it fixes; checks on the way
/// that its schema is the Problem schema narrowed.
fn described_codes(spec: &Value, response: &Value) -> (BTreeSet<String>, Option<u64>) {
    let schema = resolve(
        spec,
        &response["content"]["application/problem+json"]["schema"],
    );
    let mut codes = BTreeSet::new();
    let mut status = None;
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let part = resolve(spec, part);
        if let Some(list) = part["properties"]["code"]["enum"].as_array() {
            codes.extend(list.iter().map(|c| c.as_str().unwrap().to_owned()));
        }
        status = status.or(part["properties"]["status"]["const"].as_u64());
    }
    (codes, status)
}

/// Whether `body` fits the problem schema of `response`: every `allOf` part's required members
/// present, its `const`s and `enum`s met, and nothing the Problem schema does not name.
fn fits(spec: &Value, response: &Value, body: &Value) -> Result<(), String> {
    let schema = resolve(
        spec,
        &response["content"]["application/problem+json"]["schema"],
    );
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let part = resolve(spec, part);
        for required in part["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap();
            if body.get(name).is_none() {
                return Err(format!("lacks the required member {name}"));
            }
        }
        let properties = part["properties"].as_object();
        for (name, rule) in properties.into_iter().flatten() {
            let Some(value) = body.get(name) else {
                continue;
            };
            if rule.get("const").is_some_and(|c| c != value) {
                return Err(format!(
                    "{name} is {value}, the description says {}",
                    rule["const"]
                ));
            }
            if let Some(allowed) = rule.get("enum").and_then(Value::as_array) {
                if !allowed.contains(value) {
                    return Err(format!("{name} {value} is not among {allowed:?}"));
                }
            }
        }
        if part["additionalProperties"] == false {
            let named = properties.unwrap();
            if let Some(extra) = body
                .as_object()
                .unwrap()
                .keys()
                .find(|k| !named.contains_key(*k))
            {
                return Err(format!(
                    "has the member {extra}, which the description does not name"
                ));
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn every_problem_the_gateway_answers_with_is_described_with_its_status_and_headers() {
    let spec = spec::load();
    let operations = spec::operations(&spec);
    let mut produced = BTreeSet::new();
    for error in samples() {
        let shown = format!("{error:?}");
        let response = error.into_response("req-1");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        let code = body["code"].as_str().unwrap().to_owned();
        assert_eq!(
            body["type"],
            format!("urn:casegate:problem:{code}"),
            "{shown}"
        );
        assert_eq!(body["status"], status, "{shown}");
        assert_eq!(body["request_id"], "req-1", "{shown}");
        assert_eq!(
            headers["content-type"], "application/problem+json",
            "{shown}"
        );
        produced.insert(code.clone());

        // Some operation describes this status with this code...
        let described: Vec<&Value> = operations
            .iter()
            .filter_map(|(_, _, op)| op["responses"].get(status.to_string()))
            .map(|r| resolve(&spec, r))
            .filter(|r| described_codes(&spec, r).0.contains(&code))
            .collect();
        let response = *described.first().unwrap_or_else(|| {
            panic!("{shown}: no response {status} in src/server/openapi.yaml lists code {code}")
        });
        assert_eq!(
            described_codes(&spec, response).1,
            Some(u64::from(status)),
            "{shown}"
        );
        // ...in a body of the described shape...
        fits(&spec, response, &body).unwrap_or_else(|e| panic!("{shown}: the body {e}"));
        // ...and with every header it carries described, and every required one there.
        let documented = response["headers"].as_object().expect("headers");
        let documented_lower: BTreeSet<String> =
            documented.keys().map(|k| k.to_ascii_lowercase()).collect();
        for name in headers.keys().filter(|n| *n != "content-type") {
            assert!(
                documented_lower.contains(name.as_str()),
                "{shown}: header {name} is not described for {status} {code}"
            );
        }
        for (name, header) in documented {
            // The request id is added by the stack's request-id layer, outside this mapping.
            if resolve(&spec, header)["required"] == true && name != "X-Request-Id" {
                assert!(
                    headers.contains_key(name.as_str()),
                    "{shown}: the description requires {name} on {status} {code}"
                );
            }
        }
    }

    // And nothing is described that the gateway never answers with.
    let enum_codes: BTreeSet<String> = spec["components"]["schemas"]["ProblemCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        enum_codes, produced,
        "ProblemCode lists exactly the codes produced"
    );
    let mut per_status = BTreeSet::new();
    for (_, _, op) in &operations {
        for response in op["responses"].as_object().unwrap().values() {
            per_status.extend(described_codes(&spec, resolve(&spec, response)).0);
        }
    }
    assert_eq!(
        per_status, produced,
        "the responses list exactly the codes produced"
    );
}
