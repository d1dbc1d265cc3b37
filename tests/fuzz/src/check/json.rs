//! The JSON output, re-read with serde_json: an array of objects whose values are strings.
//! Every member is kept, repeated keys included (a map type would keep only the last one).

use std::fmt;

use casegate::redact::ColumnAction;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::rules::{redacted_value_ok, Rules};

/// One object, every member in order.
struct Row(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Row, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Row;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, String>()? {
                    members.push(member);
                }
                Ok(Row(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// Checks `out`; `complete` when the redactor accepted the whole body.
pub fn check(out: &[u8], complete: bool) {
    let rows: Vec<Row> = if complete {
        serde_json::from_slice(out).expect("the redacted JSON parses")
    } else {
        // Up to the failure: the `[`, whole objects, the commas and whitespace between them.
        let text = out.trim_ascii_end();
        if text.trim_ascii().is_empty() {
            return;
        }
        let text = text.strip_suffix(b",").unwrap_or(text).trim_ascii_end();
        let mut closed = text.to_vec();
        if !closed.ends_with(b"]") {
            closed.push(b']');
        }
        serde_json::from_slice(&closed).expect("the redacted JSON up to a failure parses")
    };
    for Row(members) in rows {
        for (key, value) in members {
            match Rules::of(&key) {
                ColumnAction::Keep => {}
                ColumnAction::Drop => panic!("a dropped column is in the output: {key}"),
                action => assert!(
                    redacted_value_ok(action, value.as_bytes(), false),
                    "a {action:?} column holds something else: {value:?}"
                ),
            }
        }
    }
}
