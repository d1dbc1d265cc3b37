//! One whole `<Row>...</Row>` slice: parse it with quick-xml and write it redacted.

use quick_xml::escape::partial_escape;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{all_ws, shape, xml_error, FORMAT};
use crate::redact::{ColumnAction, Columns, RedactError};

pub(super) enum RowError {
    /// The slice ended inside the row (its `</Row>` was inside CDATA): try a longer slice.
    Incomplete,
    Bad(RedactError),
}

impl From<RedactError> for RowError {
    fn from(err: RedactError) -> Self {
        Self::Bad(err)
    }
}

type Result<T> = std::result::Result<T, RowError>;

/// Writes the redacted row to `out`, or nothing at all on an error.
pub(super) fn redact<C: Columns>(row: &[u8], columns: &mut C, out: &mut Vec<u8>) -> Result<()> {
    let mark = out.len();
    let result = redact_row(row, columns, out);
    if result.is_err() {
        out.truncate(mark);
    }
    result
}

fn next<'a>(reader: &mut Reader<&'a [u8]>) -> Result<Event<'a>> {
    match reader.read_event() {
        Ok(Event::Eof) => Err(RowError::Incomplete),
        Ok(event) => Ok(event),
        Err(err) => Err(xml_error(&err).map_or(RowError::Incomplete, RowError::Bad)),
    }
}

fn redact_row<C: Columns>(row: &[u8], columns: &mut C, out: &mut Vec<u8>) -> Result<()> {
    let mut reader = Reader::from_reader(row);
    // The caller checked `<Row>` (no attributes); quick-xml checks the names of end tags.
    match next(&mut reader)? {
        Event::Start(start) if start.name().as_ref() == b"Row" => {}
        _ => return Err(shape("malformed Row").into()),
    }
    let mut at = reader.buffer_position() as usize;
    out.extend_from_slice(&row[..at]);
    // Whitespace before the next column, written only if that column is.
    let mut pending: Option<(usize, usize)> = None;
    let mut value = String::new();
    loop {
        let event = next(&mut reader)?;
        let end = reader.buffer_position() as usize;
        let start = at;
        at = end;
        let (tag, self_closing) = match event {
            Event::Text(text) => {
                if !all_ws(&text) {
                    return Err(shape("text directly inside a Row").into());
                }
                pending = Some((pending.map_or(start, |p| p.0), end));
                continue;
            }
            Event::End(_) => {
                if end != row.len() {
                    return Err(shape("malformed Row").into());
                }
                flush(row, &mut pending, out);
                out.extend_from_slice(&row[start..end]);
                return Ok(());
            }
            Event::Start(tag) => (tag, false),
            Event::Empty(tag) => (tag, true),
            Event::DocType(_) => return Err(shape("a DOCTYPE").into()),
            Event::GeneralRef(_) => return Err(shape("text directly inside a Row").into()),
            _ => {
                return Err(shape(
                    "a comment, processing instruction or CDATA directly inside a Row",
                )
                .into())
            }
        };
        let name = column_name(&tag)?;
        let action = columns.action(name);
        value.clear();
        let empty = if self_closing {
            true
        } else {
            let empty = read_value(&mut reader, action == ColumnAction::Hash, &mut value)?;
            at = reader.buffer_position() as usize;
            empty
        };
        match action {
            ColumnAction::Drop => {
                pending = None;
                continue;
            }
            ColumnAction::Keep => {
                flush(row, &mut pending, out);
                out.extend_from_slice(&row[start..at]);
            }
            ColumnAction::Mask | ColumnAction::Hash => {
                flush(row, &mut pending, out);
                let name = tag.name();
                let name = name.as_ref();
                if empty {
                    write_empty(name, self_closing, out);
                } else {
                    let text = if action == ColumnAction::Mask {
                        columns.mask().to_owned()
                    } else {
                        columns.pseudonym(&value)
                    };
                    out.push(b'<');
                    out.extend_from_slice(name);
                    out.push(b'>');
                    out.extend_from_slice(partial_escape(text.as_str()).as_bytes());
                    out.extend_from_slice(b"</");
                    out.extend_from_slice(name);
                    out.push(b'>');
                }
            }
        }
    }
}

fn flush(row: &[u8], pending: &mut Option<(usize, usize)>, out: &mut Vec<u8>) {
    if let Some((start, end)) = pending.take() {
        out.extend_from_slice(&row[start..end]);
    }
}

fn write_empty(name: &[u8], self_closing: bool, out: &mut Vec<u8>) {
    out.push(b'<');
    out.extend_from_slice(name);
    if self_closing {
        out.extend_from_slice(b"/>");
    } else {
        out.extend_from_slice(b"></");
        out.extend_from_slice(name);
        out.push(b'>');
    }
}

fn column_name<'t>(tag: &'t BytesStart<'_>) -> Result<&'t str> {
    if !all_ws(tag.attributes_raw()) {
        return Err(shape("attributes on a column").into());
    }
    std::str::from_utf8(tag.name().into_inner())
        .map_err(|_| RedactError::Utf8 { format: FORMAT }.into())
}

fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|_| RedactError::Utf8 { format: FORMAT }.into())
}

/// Reads a column's content up to its end tag; decodes it into `value` if `decode`. Returns
/// whether the value is empty.
fn read_value(reader: &mut Reader<&[u8]>, decode: bool, value: &mut String) -> Result<bool> {
    let mut empty = true;
    loop {
        match next(reader)? {
            Event::Text(text) => {
                empty &= text.is_empty();
                if decode {
                    value.push_str(utf8(&text)?);
                }
            }
            Event::CData(data) => {
                empty &= data.is_empty();
                if decode {
                    value.push_str(utf8(&data)?);
                }
            }
            Event::GeneralRef(entity) => {
                empty = false;
                let undecodable = || RowError::Bad(shape("an undecodable entity"));
                let ch = entity.resolve_char_ref().map_err(|_| undecodable())?;
                match ch {
                    Some(ch) => {
                        if decode {
                            value.push(ch);
                        }
                    }
                    None => {
                        let name = utf8(&entity)?;
                        let text = resolve_predefined_entity(name).ok_or_else(undecodable)?;
                        if decode {
                            value.push_str(text);
                        }
                    }
                }
            }
            Event::End(_) => return Ok(empty),
            Event::Start(_) | Event::Empty(_) => {
                return Err(shape("an element nested inside a column").into())
            }
            Event::DocType(_) => return Err(shape("a DOCTYPE").into()),
            _ => return Err(shape("a comment or processing instruction inside a column").into()),
        }
    }
}
