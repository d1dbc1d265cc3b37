//! The OpenAPI 3.1 description of the public API (`src/server/openapi.yaml`) against the code:
//! it parses and every reference resolves; every problem the gateway can answer with is in it
//! with its status, members and headers (`openapi/problems.rs`); its parameters and their rules
//! are the validator's (`openapi/rules.rs`); the admin listener serves it; and schemathesis finds
//! a real gateway in front of the sandbox true to it (`openapi/contract.rs`, needs schemathesis
//! from PyPI, which `.ci/run` installs).

mod common;

#[path = "openapi/contract.rs"]
mod contract;
#[path = "openapi/problems.rs"]
mod problems;
#[path = "openapi/rules.rs"]
mod rules;
#[path = "openapi/spec.rs"]
mod spec;

use common::*;

#[test]
fn the_description_is_openapi_3_1_of_this_version_and_every_reference_resolves() {
    let spec = spec::load();
    assert_eq!(spec["openapi"], "3.1.0");
    assert_eq!(spec["info"]["version"], env!("CARGO_PKG_VERSION"));
    let mut refs = Vec::new();
    spec::refs(&spec, &mut refs);
    assert!(refs.len() > 100, "{} references", refs.len());
    for r in &refs {
        spec::resolve(&spec, &serde_json::json!({ "$ref": r }));
    }
    // Every operation answers with something, and operation ids are unique.
    let operations = spec::operations(&spec);
    let mut ids: Vec<&str> = operations
        .iter()
        .filter_map(|(_, _, op)| op["operationId"].as_str())
        .collect();
    let named = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), named, "operation ids are unique");
    for (path, method, op) in &operations {
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} has no responses"
        );
    }
    // The routes are the gateway's: each path matches, and GET and HEAD are described.
    for path in ["/getreport", "/reports/{ReportId}"] {
        let concrete = path.replace("{ReportId}", "10800");
        assert!(
            casegate::server::route::match_path(&concrete).is_some(),
            "{path}"
        );
        assert!(spec["paths"][path]["get"].is_object() && spec["paths"][path]["head"].is_object());
    }
    assert_eq!(spec["paths"].as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn the_admin_listener_serves_the_description() {
    let upstream = FakeUpstream::start().await;
    let gateway = TestGateway::start(&config_toml(&upstream.base_url(), "", "")).await;
    let got = get(&format!("http://{}/openapi.yaml", gateway.admin_addr)).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("application/yaml"));
    assert_eq!(got.text(), spec::YAML);
    // Not on the public listener, whose paths are iCasework's.
    let public = get(&gateway.url("/openapi.yaml")).await;
    assert_eq!(public.status, 404);
}
