//! The JSON redactor: GetReport's `Format=json` body is a top-level array of flat objects whose
//! values are all strings, and a key may repeat within one object (`CaseDetails.TotalRedress`).
//!
//! # Why a hand-written scanner and not a crate
//!
//! The redactor must copy kept members byte for byte (escapes such as `\r\n`, `\u00e9`, `\/`
//! untouched), see every occurrence of a repeated key, and take its input in chunks split
//! anywhere. serde_json deserializes whole values and loses the original bytes (or, with
//! `RawValue`, only hands back whole values, not the spans of each key and value); `actson` and
//! `struson` are push/pull tokenizers that report decoded events, not byte spans, so a
//! byte-exact copy would mean re-encoding every kept string. The shape here is so small (one
//! array of flat string-valued objects) that two tiny passes do the job with no dependency
//! beyond `memchr`:
//!
//! 1. a framer ([`JsonRedactor::feed`]) walks the chunks, writes the array's own punctuation and
//!    whitespace, and buffers each object (row) until its closing `}`, aware of strings and
//!    escapes so that a brace inside a value is not mistaken for the end;
//! 2. [`object::redact_object`] parses the whole object strictly (UTF-8, escapes, surrogate
//!    pairs, control characters, strings only) and writes it redacted.
//!
//! # Output
//!
//! Only whole, redacted objects are written; between them the array's bytes (`[`, `,`, `]`,
//! whitespace) are copied as received, so a body with every column kept comes out
//! byte-identical. Inside an object, a dropped member disappears together with its comma and
//! the whitespace before it; a masked or hashed value is written as a freshly escaped JSON
//! string.
//!
//! # Fail closed
//!
//! Anything other than the promised shape is an error, after which the redactor writes nothing
//! more: a top level that is not an array, an element that is not an object, a value that is
//! not a string (object, array, number, `true`, `false`, `null`: GetReport only ever sends
//! strings), invalid escapes or UTF-8, control characters inside strings, trailing commas,
//! data after the array, and a body that ends before its `]` ([`RedactError::Truncated`]).

mod object;
#[cfg(test)]
mod tests;

use std::fmt;

use super::{Columns, RedactError, Redactor, DEFAULT_MAX_ROW_BYTES};

const FORMAT: &str = "json";

fn shape(what: &'static str) -> RedactError {
    RedactError::Shape {
        format: FORMAT,
        what,
    }
}

/// Where the framer is in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Before the `[`.
    Start,
    /// After the `[`: an object or `]`.
    First,
    /// After an object: `,` or `]`.
    AfterRow,
    /// After a `,`: an object.
    AfterComma,
    /// Inside an object, outside its strings.
    Row,
    /// Inside a string of an object; `escape` when the last byte seen was its `\`.
    RowString { escape: bool },
    /// After the `]`: whitespace only.
    Done,
    /// An error was returned; every later call returns it again and writes nothing.
    Failed(RedactError),
}

/// Streaming redactor for GetReport's JSON body. See the module documentation.
pub struct JsonRedactor<C: Columns> {
    columns: C,
    state: State,
    /// The part of the current object seen so far (never more than `max_row_bytes`).
    buf: Vec<u8>,
    max_row_bytes: usize,
    /// Rows written.
    records: u64,
}

impl<C: Columns> fmt::Debug for JsonRedactor<C> {
    // The buffer holds report values: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonRedactor")
            .field("state", &self.state)
            .field("buffered", &self.buf.len())
            .field("max_row_bytes", &self.max_row_bytes)
            .finish_non_exhaustive()
    }
}

impl<C: Columns> JsonRedactor<C> {
    /// A redactor holding rows of up to [`DEFAULT_MAX_ROW_BYTES`].
    pub fn new(columns: C) -> Self {
        Self::with_max_row_bytes(columns, DEFAULT_MAX_ROW_BYTES)
    }

    /// A redactor holding rows (objects, from `{` to `}`) of up to `max_row_bytes`.
    pub fn with_max_row_bytes(columns: C, max_row_bytes: usize) -> Self {
        Self {
            columns,
            state: State::Start,
            buf: Vec::new(),
            max_row_bytes,
            records: 0,
        }
    }

    /// Bytes of the current, incomplete object held between calls.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn run(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), RedactError> {
        // Start of the current object's bytes within `chunk` (0 when it began in an earlier
        // chunk and its head is in `buf`).
        let mut row_start = 0;
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            match self.state {
                State::Start | State::First | State::AfterRow | State::AfterComma | State::Done
                    if is_ws(b) =>
                {
                    out.push(b);
                    i += 1;
                }
                State::Start => {
                    if b != b'[' {
                        return Err(shape("the top level is not an array"));
                    }
                    out.push(b);
                    self.state = State::First;
                    i += 1;
                }
                State::First | State::AfterComma => {
                    if b == b'{' {
                        self.state = State::Row;
                        row_start = i;
                        i += 1;
                    } else if b == b']' && self.state == State::First {
                        out.push(b);
                        self.state = State::Done;
                        i += 1;
                    } else {
                        return Err(shape("an element of the array is not an object"));
                    }
                }
                State::AfterRow => {
                    match b {
                        b',' => self.state = State::AfterComma,
                        b']' => self.state = State::Done,
                        _ => return Err(shape("expected a comma or the end of the array")),
                    }
                    out.push(b);
                    i += 1;
                }
                State::Row | State::RowString { .. } => match self.scan_row(&chunk[i..]) {
                    Some(end) => {
                        let end = i + end + 1;
                        self.check_size(self.buf.len() + (end - row_start))?;
                        if self.buf.is_empty() {
                            object::redact_object(&mut self.columns, &chunk[row_start..end], out)?;
                        } else {
                            self.buf.extend_from_slice(&chunk[row_start..end]);
                            object::redact_object(&mut self.columns, &self.buf, out)?;
                            self.buf.clear();
                        }
                        self.state = State::AfterRow;
                        self.records += 1;
                        i = end;
                    }
                    None => {
                        self.check_size(self.buf.len() + (chunk.len() - row_start))?;
                        self.buf.extend_from_slice(&chunk[row_start..]);
                        return Ok(());
                    }
                },
                State::Done => return Err(shape("data after the end of the array")),
                State::Failed(ref e) => return Err(e.clone()),
            }
        }
        if matches!(self.state, State::Row) && row_start < chunk.len() {
            // The chunk ended right after an object's `{`.
            self.check_size(self.buf.len() + (chunk.len() - row_start))?;
            self.buf.extend_from_slice(&chunk[row_start..]);
        }
        Ok(())
    }

    /// Advances through `bytes` inside an object; `Some(index of its closing '}')` or `None`
    /// when the object goes on past `bytes`. Only strings and braces matter here: the object is
    /// checked in full once it is complete. A nested `{` or `[` fails at once, so a nested
    /// value cannot make the redactor buffer up to its limit first.
    fn scan_row(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        loop {
            match self.state {
                State::RowString { escape } => {
                    if escape {
                        if i >= bytes.len() {
                            return None;
                        }
                        i += 1;
                    }
                    match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                        None => {
                            self.state = State::RowString { escape: false };
                            return None;
                        }
                        Some(at) if bytes[i + at] == b'"' => {
                            self.state = State::Row;
                            i += at + 1;
                        }
                        Some(at) => {
                            self.state = State::RowString { escape: true };
                            i += at + 1;
                        }
                    }
                }
                _ => {
                    // State::Row
                    loop {
                        let &b = bytes.get(i)?;
                        i += 1;
                        match b {
                            b'"' => {
                                self.state = State::RowString { escape: false };
                                break;
                            }
                            b'}' => return Some(i - 1),
                            // Let the strict parse report it; the row ends here.
                            b'{' | b'[' => return Some(i - 1),
                            _ => {}
                        }
                    }
                }
            }
        }
    }

    fn check_size(&self, size: usize) -> Result<(), RedactError> {
        if size > self.max_row_bytes {
            return Err(RedactError::RowTooLarge {
                format: FORMAT,
                limit: self.max_row_bytes,
            });
        }
        Ok(())
    }
}

impl<C: Columns + Send> Redactor for JsonRedactor<C> {
    fn records(&self) -> u64 {
        self.records
    }

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), RedactError> {
        let result = self.run(chunk, out);
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
            self.buf = Vec::new();
        }
        result
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), RedactError> {
        let result = match &self.state {
            State::Done => Ok(()),
            State::Failed(e) => Err(e.clone()),
            _ => Err(RedactError::Truncated { format: FORMAT }),
        };
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        self.buf = Vec::new();
        result
    }
}

/// JSON's insignificant whitespace.
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}
