//! The redactors' output read back with the standard parsers (quick-xml, serde_json, the csv
//! crate), each row as its (column, value) pairs in order with repeated columns kept apart.

use std::fmt;

use quick_xml::events::Event;
use quick_xml::Reader;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};

use super::model::Rows;

/// `<Rows><Row><Col>value</Col>...</Row>...</Rows>` and nothing else. Values are decoded
/// without end-of-line normalisation, as the redactor decodes what it hashes.
pub(super) fn xml(body: &[u8]) -> Result<Rows, String> {
    let text = |t: &[u8]| {
        std::str::from_utf8(t)
            .map(str::to_owned)
            .map_err(|e| e.to_string())
    };
    let mut reader = Reader::from_reader(body);
    let mut rows: Rows = Vec::new();
    let mut column: Option<(String, String)> = None;
    let (mut depth, mut root) = (0, false);
    loop {
        let event = reader.read_event().map_err(|e| e.to_string())?;
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Decl(_) if !root => {}
            Event::Start(e) | Event::Empty(e) => {
                let name = text(e.name().as_ref())?;
                match depth {
                    0 if name == "Rows" && !root => root = true,
                    1 if name == "Row" => rows.push(Vec::new()),
                    2 => column = Some((name, String::new())),
                    _ => return Err(format!("unexpected element {name} at depth {depth}")),
                }
                if !empty {
                    depth += 1;
                } else if let Some(done) = column.take() {
                    rows.last_mut().unwrap().push(done);
                }
            }
            Event::End(_) => {
                if let Some(done) = column.take() {
                    rows.last_mut().unwrap().push(done);
                }
                depth -= 1;
            }
            Event::Text(t) => match &mut column {
                Some((_, value)) => value.push_str(&t.decode().map_err(|e| e.to_string())?),
                None if t.iter().all(u8::is_ascii_whitespace) => {}
                None => return Err("text outside a column".into()),
            },
            Event::CData(t) if column.is_some() => column.as_mut().unwrap().1.push_str(&text(&t)?),
            Event::GeneralRef(r) if column.is_some() => {
                let value = &mut column.as_mut().unwrap().1;
                match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => value.push(c),
                    None => value.push_str(
                        quick_xml::escape::resolve_predefined_entity(&text(&r)?)
                            .ok_or("unknown entity")?,
                    ),
                }
            }
            Event::Eof if depth == 0 && root => return Ok(rows),
            other => return Err(format!("unexpected {other:?} at depth {depth}")),
        }
    }
}

/// A top-level array of flat objects with string values; duplicate keys are kept apart (a
/// map would merge them).
pub(super) fn json(body: &[u8]) -> Result<Rows, String> {
    struct RowsVisitor;
    struct Row(Vec<(String, String)>);
    impl<'de> serde::Deserialize<'de> for Row {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Row;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
                    let mut pairs = Vec::new();
                    while let Some(pair) = map.next_entry::<String, String>()? {
                        pairs.push(pair);
                    }
                    Ok(Row(pairs))
                }
            }
            d.deserialize_map(V)
        }
    }
    impl<'de> Visitor<'de> for RowsVisitor {
        type Value = Rows;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Rows, A::Error> {
            let mut rows = Vec::new();
            while let Some(Row(pairs)) = seq.next_element()? {
                rows.push(pairs);
            }
            Ok(rows)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let rows = de.deserialize_seq(RowsVisitor).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(rows)
}

/// Every record as strings (records may differ in length: the footer has one field). Invalid
/// UTF-8 reads as U+FFFD: a body cut inside a character leaves it in a kept value, which the
/// redactor passes on as it came (it decodes only names and values to hash).
pub(super) fn csv(body: &[u8], delimiter: u8) -> Result<Vec<Vec<String>>, String> {
    ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(body)
        .byte_records()
        .map(|r| {
            r.map(|r| {
                r.iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect()
            })
            .map_err(|e| e.to_string())
        })
        .collect()
}
