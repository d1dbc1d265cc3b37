//! The OpenAPI description as JSON, and the look-ups the tests make in it.

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

/// The description, as the admin listener serves it.
pub(crate) const YAML: &str = include_str!("../../src/server/openapi.yaml");

/// The description parsed (YAML 1.2, anchors resolved) into JSON values.
pub(crate) fn load() -> Value {
    let docs = YamlLoader::load_from_str(YAML)
        .unwrap_or_else(|e| panic!("src/server/openapi.yaml is not valid YAML: {e}"));
    assert_eq!(docs.len(), 1, "the description is one YAML document");
    to_json(&docs[0])
}

fn to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Real(s) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| panic!("{s} is not a JSON number")),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(map) => Value::Object(
            map.iter()
                .map(|(k, v)| match k {
                    Yaml::String(k) => (k.clone(), to_json(v)),
                    Yaml::Integer(i) => (i.to_string(), to_json(v)),
                    other => panic!("a mapping key that is not a string: {other:?}"),
                })
                .collect(),
        ),
        Yaml::Null => Value::Null,
        Yaml::Alias(_) | Yaml::BadValue => panic!("an unresolved alias or bad value: {yaml:?}"),
    }
}

/// `value`, or what its `$ref` (a JSON pointer into the description) names, followed to the end.
pub(crate) fn resolve<'a>(spec: &'a Value, mut value: &'a Value) -> &'a Value {
    while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference}: only local references are used"));
        value = spec
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{reference} names nothing in the description"));
    }
    value
}

/// Every `$ref` in `value`, recursively.
pub(crate) fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The HTTP methods an OpenAPI path item may describe.
pub(crate) const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every operation: (path, method, the operation).
pub(crate) fn operations(spec: &Value) -> Vec<(&str, &str, &Value)> {
    let paths = spec["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter_map(move |m| item.get(*m).map(|op| (path.as_str(), *m, op)))
        })
        .collect()
}

/// The parameters of `method` on `path` (the path item's and the operation's), resolved.
pub(crate) fn parameters<'a>(spec: &'a Value, path: &str, method: &str) -> Vec<&'a Value> {
    let item = &spec["paths"][path];
    let listed = |v: &'a Value| v.as_array().into_iter().flatten();
    listed(&item["parameters"])
        .chain(listed(&item[method]["parameters"]))
        .map(|p| resolve(spec, p))
        .collect()
}

/// The names of `method` on `path`'s parameters in `location` ("query", "path", "header").
pub(crate) fn names_in(spec: &Value, path: &str, method: &str, location: &str) -> Vec<String> {
    parameters(spec, path, method)
        .into_iter()
        .filter(|p| p["in"] == location)
        .map(|p| p["name"].as_str().expect("a parameter name").to_owned())
        .collect()
}
