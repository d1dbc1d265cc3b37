//! The XML redactor: GetReport's `<Rows><Row><Group.Column>value</Group.Column>...</Row></Rows>`.
//!
//! The redactor buffers until a whole `<Row>...</Row>` is in hand (found with `memchr`), parses
//! that slice with quick-xml's slice reader and writes the redacted row. Everything outside rows
//! (the declaration, the `Rows` start and end tags, whitespace between rows) is copied byte for
//! byte once it is known to be of the expected shape.
//!
//! Decisions, all fail closed:
//! - Only the XML declaration (first, UTF-8 or no encoding), whitespace and the `Rows` root are
//!   allowed before and after rows. Comments, processing instructions, CDATA and DOCTYPE
//!   anywhere outside a column value are shape errors; so is text between rows, any element in
//!   `Rows` other than `Row`, attributes on `Row` or on a column, and any element, comment or
//!   processing instruction inside a column.
//! - A kept column is copied as received, byte for byte. A dropped column disappears with the
//!   whitespace before it. A masked column becomes `<Name>mask</Name>`; a hashed one
//!   `<Name>pseudonym</Name>` where the pseudonym is of the decoded value (entities and CDATA
//!   resolved, `&#13;` is a CR; line ends are *not* normalised, so the value is the one the JSON
//!   and CSV bodies carry). An empty value of a masked or hashed column stays empty, in the form
//!   it came in (`<Name/>` or `<Name></Name>`): there is nothing to hide and a mask would invent
//!   a value.
//! - Unknown entities are errors in every column; values are decoded (and so must be UTF-8) only
//!   where they are hashed; column names must always be UTF-8.

mod row;
#[cfg(test)]
mod tests;

use std::fmt;

use memchr::memmem;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{Columns, RedactError, Redactor, DEFAULT_MAX_ROW_BYTES};

const FORMAT: &str = "xml";

fn shape(what: &'static str) -> RedactError {
    RedactError::Shape {
        format: FORMAT,
        what,
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn all_ws(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| is_ws(b))
}

/// A quick-xml error on a slice that may just be cut short (`None`), or a real error.
fn xml_error(err: &quick_xml::Error) -> Option<RedactError> {
    use quick_xml::errors::IllFormedError;
    match err {
        quick_xml::Error::Syntax(_) => None,
        quick_xml::Error::IllFormed(IllFormedError::MissingEndTag(_)) => None,
        quick_xml::Error::Encoding(_) => Some(RedactError::Utf8 { format: FORMAT }),
        _ => Some(shape("malformed XML")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the `Rows` start tag.
    Prolog,
    /// Inside `Rows`, between rows.
    Rows,
    /// After `</Rows>` (or `<Rows/>`): only whitespace may follow.
    Epilog,
}

/// Whether a step consumed something and may go on, or needs more input.
enum Step {
    Progress,
    NeedMore,
}

/// Streaming column redactor for GetReport's XML bodies. See the module docs for the rules.
pub struct XmlRedactor<C: Columns> {
    columns: C,
    max_row_bytes: usize,
    state: State,
    /// Bytes not yet written: the start of a row (or of the prolog) still incomplete.
    buf: Vec<u8>,
    /// Index into `buf` up to which the current item was already searched for its end.
    scanned: usize,
    /// The first error; the redactor refuses everything after it.
    failed: Option<RedactError>,
    /// Rows written.
    records: u64,
    row_end: memmem::Finder<'static>,
}

impl<C: Columns> fmt::Debug for XmlRedactor<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XmlRedactor")
            .field("max_row_bytes", &self.max_row_bytes)
            .field("state", &self.state)
            .field("buffered", &self.buf.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<C: Columns> XmlRedactor<C> {
    /// A redactor holding rows up to [`DEFAULT_MAX_ROW_BYTES`].
    pub fn new(columns: C) -> Self {
        Self::with_max_row_bytes(columns, DEFAULT_MAX_ROW_BYTES)
    }

    /// A redactor that refuses (with [`RedactError::RowTooLarge`]) rows, or a prolog, longer
    /// than `max_row_bytes`.
    pub fn with_max_row_bytes(columns: C, max_row_bytes: usize) -> Self {
        Self {
            columns,
            max_row_bytes,
            state: State::Prolog,
            buf: Vec::new(),
            scanned: 0,
            failed: None,
            records: 0,
            row_end: memmem::Finder::new(b"</Row").into_owned(),
        }
    }

    /// How many input bytes are held, waiting for the rest of their row.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn too_large(&self) -> RedactError {
        RedactError::RowTooLarge {
            format: FORMAT,
            limit: self.max_row_bytes,
        }
    }

    fn run(&mut self, buf: &[u8], out: &mut Vec<u8>) -> Result<usize, RedactError> {
        let mut pos = 0;
        loop {
            let step = match self.state {
                State::Prolog => self.prolog(buf, &mut pos, out)?,
                State::Rows => self.rows(buf, &mut pos, out)?,
                State::Epilog => {
                    let rest = &buf[pos..];
                    if !all_ws(rest) {
                        return Err(shape("data after the end of Rows"));
                    }
                    out.extend_from_slice(rest);
                    pos = buf.len();
                    Step::NeedMore
                }
            };
            if let Step::NeedMore = step {
                return Ok(pos);
            }
        }
    }

    /// Copies the declaration and the `Rows` start tag once the whole tag is in.
    fn prolog(
        &mut self,
        buf: &[u8],
        pos: &mut usize,
        out: &mut Vec<u8>,
    ) -> Result<Step, RedactError> {
        let data = &buf[*pos..];
        // Nothing can end before the next `>`: don't parse again until one arrives.
        let from = self.scanned.max(*pos);
        let has_gt = memchr::memchr(b'>', &buf[from..]).is_some();
        self.scanned = buf.len();
        if !has_gt {
            return self.need_more(data.len());
        }
        let mut reader = Reader::from_reader(data);
        let mut first = true;
        loop {
            let event = match reader.read_event() {
                Ok(event) => event,
                Err(err) => match xml_error(&err) {
                    None => return self.need_more(data.len()),
                    Some(err) => return Err(err),
                },
            };
            let (start, empty) = match event {
                Event::Decl(decl) if first => {
                    let utf8 = match decl.encoding() {
                        None => true,
                        Some(Ok(enc)) => {
                            enc.eq_ignore_ascii_case(b"utf-8") || enc.eq_ignore_ascii_case(b"utf8")
                        }
                        Some(Err(_)) => false,
                    };
                    if !utf8 {
                        return Err(shape("an encoding other than UTF-8"));
                    }
                    first = false;
                    continue;
                }
                Event::Text(text) if all_ws(&text) => {
                    first = false;
                    continue;
                }
                Event::Eof => return self.need_more(data.len()),
                Event::Start(start) => (start, false),
                Event::Empty(start) => (start, true),
                Event::DocType(_) => return Err(shape("a DOCTYPE")),
                Event::Text(_) | Event::GeneralRef(_) => {
                    return Err(shape("text outside the root element"))
                }
                _ => return Err(shape("markup other than the Rows element at the top level")),
            };
            check_rows(&start)?;
            let end = reader.buffer_position() as usize;
            out.extend_from_slice(&data[..end]);
            *pos += end;
            self.scanned = 0;
            self.state = if empty { State::Epilog } else { State::Rows };
            return Ok(Step::Progress);
        }
    }

    /// Between rows: whitespace, a whole row, or `</Rows>`.
    fn rows(
        &mut self,
        buf: &[u8],
        pos: &mut usize,
        out: &mut Vec<u8>,
    ) -> Result<Step, RedactError> {
        let start = *pos;
        let ws = buf[start..]
            .iter()
            .position(|&b| !is_ws(b))
            .unwrap_or(buf.len() - start);
        out.extend_from_slice(&buf[start..start + ws]);
        *pos += ws;
        let rest = &buf[*pos..];
        match rest.first() {
            None => return Ok(Step::NeedMore),
            Some(b'<') => {}
            Some(_) => return Err(shape("text between rows")),
        }
        if let Some(tail) = rest.strip_prefix(b"</Rows") {
            let Some(gt) = memchr::memchr(b'>', tail) else {
                return self.need_more(rest.len());
            };
            if !all_ws(&tail[..gt]) {
                return Err(shape("malformed end of Rows"));
            }
            let len = 6 + gt + 1;
            out.extend_from_slice(&rest[..len]);
            *pos += len;
            self.state = State::Epilog;
            return Ok(Step::Progress);
        }
        let is_row = rest.len() >= 5
            && rest.starts_with(b"<Row")
            && (is_ws(rest[4]) || matches!(rest[4], b'>' | b'/'));
        if !is_row {
            // Too short to tell yet?
            if (rest.len() < 6 && b"</Rows".starts_with(rest))
                || (rest.len() < 5 && b"<Row".starts_with(rest))
            {
                return Ok(Step::NeedMore);
            }
            return Err(shape("an element other than Row inside Rows"));
        }
        let Some(gt) = memchr::memchr(b'>', rest) else {
            return self.need_more(rest.len());
        };
        let inside = &rest[4..gt];
        if let Some(inside) = inside.strip_suffix(b"/") {
            if !all_ws(inside) {
                return Err(shape("attributes on a Row"));
            }
            out.extend_from_slice(&rest[..=gt]);
            *pos += gt + 1;
            return Ok(Step::Progress);
        }
        if !all_ws(inside) {
            return Err(shape("attributes on a Row"));
        }
        // Each `</Row` followed by `>` (maybe after whitespace) may end the row; one inside a
        // CDATA section is not the end, which the row parser tells us as `Incomplete`.
        let mut from = self.scanned.max(*pos + gt + 1);
        loop {
            let Some(at) = self.row_end.find(&buf[from..]).map(|i| from + i) else {
                self.scanned = buf.len().saturating_sub(4).max(from);
                return self.need_more(rest.len());
            };
            let after = at + 5;
            let end_ws = buf[after..]
                .iter()
                .position(|&b| !is_ws(b))
                .map(|i| after + i);
            let Some(gt_at) = end_ws else {
                self.scanned = at;
                return self.need_more(rest.len());
            };
            if buf[gt_at] != b'>' {
                from = at + 1;
                continue;
            }
            let end = gt_at + 1;
            if end - *pos > self.max_row_bytes {
                return Err(self.too_large());
            }
            match row::redact(&buf[*pos..end], &mut self.columns, out) {
                Ok(()) => {
                    *pos = end;
                    self.scanned = end;
                    self.records += 1;
                    return Ok(Step::Progress);
                }
                Err(row::RowError::Incomplete) => from = at + 1,
                Err(row::RowError::Bad(err)) => return Err(err),
            }
        }
    }

    fn need_more(&self, held: usize) -> Result<Step, RedactError> {
        if held > self.max_row_bytes {
            return Err(self.too_large());
        }
        Ok(Step::NeedMore)
    }

    fn fail(&mut self, err: RedactError) -> RedactError {
        self.failed = Some(err.clone());
        self.buf = Vec::new();
        err
    }
}

/// The root must be `Rows`; its attributes are kept as they are but must be well-formed.
fn check_rows(start: &BytesStart<'_>) -> Result<(), RedactError> {
    if start.name().as_ref() != b"Rows" {
        return Err(shape("a root element other than Rows"));
    }
    for attr in start.attributes().with_checks(true) {
        attr.map_err(|_| shape("malformed attributes on Rows"))?;
    }
    Ok(())
}

impl<C: Columns + Send> Redactor for XmlRedactor<C> {
    fn records(&self) -> u64 {
        self.records
    }

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), RedactError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend_from_slice(chunk);
        match self.run(&buf, out) {
            Ok(consumed) => {
                buf.drain(..consumed);
                self.scanned = self.scanned.saturating_sub(consumed);
                self.buf = buf;
                Ok(())
            }
            // Rows before the failing one were written whole and redacted; the failing one was
            // not written at all.
            Err(err) => Err(self.fail(err)),
        }
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), RedactError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.state != State::Epilog || !self.buf.is_empty() {
            return Err(self.fail(RedactError::Truncated { format: FORMAT }));
        }
        Ok(())
    }
}
