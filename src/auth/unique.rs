//! JSON read with every object's names unique, at every depth.
//!
//! serde_json keeps the last of a repeated name, other JWT libraries keep the first or refuse:
//! a signed payload with `"sub"` twice would name one caller to casegate and another to the
//! identity provider's own tools (or `"exp"` twice, an expired and a current time). Such a
//! token is refused, whatever its signature. serde_json has no setting for it; this visitor
//! is the whole of the check.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A [`Value`] whose objects had no repeated name.
#[derive(Debug)]
pub(crate) struct Unique(pub(crate) Value);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Unique;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON without repeated names in an object")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Unique, E> {
        Ok(Unique(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Unique, E> {
        Ok(Unique(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Unique, E> {
        Ok(Unique(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Unique, E> {
        Ok(Unique(Value::from(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Unique, E> {
        Ok(Unique(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Unique, E> {
        Ok(Unique(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Unique, E> {
        Ok(Unique(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Unique(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
        let mut object = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if object.contains_key(&name) {
                // The name is the caller's; never repeated in an error.
                return Err(de::Error::custom("a name is repeated in an object"));
            }
            let Unique(value) = map.next_value()?;
            object.insert(name, value);
        }
        Ok(Unique(Value::Object(object)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Option<Value> {
        serde_json::from_str::<Unique>(text).ok().map(|u| u.0)
    }

    #[test]
    fn values_read_as_serde_json_reads_them() {
        let text = r#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}],"c":"\u00e9"}"#;
        assert_eq!(read(text), serde_json::from_str(text).ok());
    }

    #[test]
    fn repeated_names_are_refused_at_any_depth() {
        for text in [
            r#"{"sub":"a","sub":"b"}"#,
            r#"{"exp":1,"iat":2,"exp":3}"#,
            r#"{"org":{"id":1,"id":2}}"#,
            r#"{"groups":[{"n":1,"n":1}]}"#,
        ] {
            assert_eq!(read(text), None, "{text}");
        }
        // The same name in sibling objects is not a repeat.
        assert!(read(r#"{"a":{"n":1},"b":{"n":2}}"#).is_some());
    }
}
