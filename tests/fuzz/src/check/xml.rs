//! The XML output, re-read with quick-xml: every element anywhere (not only at column depth,
//! so a column smuggled inside another is caught too) is judged by the rules.

use casegate::redact::ColumnAction;
use quick_xml::events::Event;
use quick_xml::Reader;

use crate::rules::{redacted_value_ok, Rules};

/// Checks `out`; `complete` when the redactor accepted the whole body.
pub fn check(out: &[u8], complete: bool) {
    let mut reader = Reader::from_reader(out);
    // Open elements; for a masked or hashed one, its action and the text seen so far.
    let mut open: Vec<Option<(ColumnAction, Vec<u8>)>> = Vec::new();
    let mut roots = 0;
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(err) => panic!(
                "the redacted XML does not parse at byte {}: {err}",
                reader.error_position()
            ),
        };
        match event {
            Event::Start(ref tag) | Event::Empty(ref tag) => {
                let empty = matches!(event, Event::Empty(_));
                if open.is_empty() {
                    roots += 1;
                }
                if let Some(Some(_)) = open.last() {
                    panic!("an element inside a masked or hashed column");
                }
                let name = std::str::from_utf8(tag.name().into_inner())
                    .expect("element names in the output are UTF-8");
                let action = Rules::of(name);
                match action {
                    ColumnAction::Drop => panic!("a dropped column is in the output: {name}"),
                    ColumnAction::Keep => {
                        if !empty {
                            open.push(None);
                        }
                    }
                    ColumnAction::Mask | ColumnAction::Hash => {
                        if !empty {
                            open.push(Some((action, Vec::new())));
                        }
                    }
                }
            }
            Event::End(_) => {
                if let Some(Some((action, value))) = open.pop() {
                    assert!(
                        redacted_value_ok(action, &value, true),
                        "a {action:?} column holds something else: {:?}",
                        String::from_utf8_lossy(&value)
                    );
                }
            }
            Event::Text(text) => push(&mut open, &text),
            Event::CData(data) => push(&mut open, &data),
            Event::GeneralRef(entity) => {
                push(&mut open, b"&");
                push(&mut open, &entity);
                push(&mut open, b";");
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {
                if let Some(Some(_)) = open.last() {
                    panic!("markup inside a masked or hashed column");
                }
            }
        }
    }
    assert!(roots <= 1, "more than one root element");
    if complete {
        assert_eq!(roots, 1, "a complete report has its root");
        assert!(open.is_empty(), "a complete report closes every element");
    } else {
        // Whole rows only: at most the root and nothing else is left open.
        assert!(open.len() <= 1, "a failed report ends inside a row");
    }
}

/// Adds text to the value of the masked or hashed column being read, if any.
fn push(open: &mut [Option<(ColumnAction, Vec<u8>)>], text: &[u8]) {
    if let Some(Some((_, value))) = open.last_mut() {
        value.extend_from_slice(text);
    }
}
