//! The CSV redactor: `csv-core`'s push reader decodes one record at a time from chunks split
//! anywhere; each record is re-written with the redacted values.
//!
//! Re-writing, not copying raw bytes: every field goes out with RFC 4180 quoting only where
//! needed (the field holds the delimiter, a quote, CR or LF), records end in
//! CRLF. The decoded value of a kept field is unchanged; its bytes are too whenever the input was
//! written the same way (the sandbox's is: keep-all output is byte-identical to it). A record
//! holding one empty field is written `""`, so it does not become a blank line a reader skips.
//!
//! The first record is the header. Each column's action is decided once from it, by position, so
//! duplicate names are each handled. With [`CsvOptions::footer`], a record of one field is held
//! back until the next record shows it was not the last one: the last record must be one field
//! of ASCII digits, the number of rows before it, and is passed through unchanged. The count is
//! checked because it is the only thing that tells a body cut inside its footer (`12` cut to
//! `1`), or a one-column body cut after a row of digits, from a complete one.

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

use super::{ColumnAction, Columns, RedactError, Redactor, DEFAULT_MAX_ROW_BYTES};

#[cfg(test)]
mod tests;

const FORMAT: &str = "csv";
const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";
/// First size of the record buffer; it grows (doubling) to the largest record seen.
const INITIAL_RECORD_BYTES: usize = 4 * 1024;
const INITIAL_FIELDS: usize = 64;

/// How the CSV body was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// The field delimiter: the caller's `CSVDelimitor`, `b','` by default. Output uses it too.
    pub delimiter: u8,
    /// Whether the header (without dropped columns) is written. The body must always start with
    /// one: casegate asks iCasework for it because it needs the column names.
    pub emit_header: bool,
    /// `CSVFooter` was asked: the last record is one field of digits, the row count, passed
    /// through unchanged (rows are never removed, so it stays true).
    pub footer: bool,
    /// The largest record held at once, in bytes as they arrive (quotes and terminator included).
    pub max_row_bytes: usize,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            delimiter: b',',
            emit_header: true,
            footer: false,
            max_row_bytes: DEFAULT_MAX_ROW_BYTES,
        }
    }
}

/// The streaming redactor for a CSV body. See the module documentation.
#[derive(Debug)]
pub struct CsvRedactor<C: Columns> {
    columns: C,
    options: CsvOptions,
    reader: Reader,
    /// Decoded bytes of the record being read: `record[..len]`, fields ending at `ends[..nends]`.
    record: Vec<u8>,
    len: usize,
    ends: Vec<usize>,
    nends: usize,
    /// Raw bytes consumed for the record being read.
    raw: usize,
    /// Whether the record being read has begun (bytes other than CR and LF consumed).
    partial: bool,
    /// One action per header column, once the header is read.
    plan: Option<Vec<ColumnAction>>,
    /// A record of one field held back as the possible footer (only with `footer`).
    held: Option<Vec<u8>>,
    /// Data rows written, for the footer's count.
    rows: u64,
    /// The first error: the redactor refuses everything after it.
    failed: Option<RedactError>,
    /// Records written (the header included).
    records: u64,
}

impl<C: Columns> CsvRedactor<C> {
    pub fn new(columns: C, options: CsvOptions) -> Self {
        let reader = ReaderBuilder::new().delimiter(options.delimiter).build();
        Self {
            columns,
            options,
            reader,
            record: vec![0; INITIAL_RECORD_BYTES],
            len: 0,
            ends: vec![0; INITIAL_FIELDS],
            nends: 0,
            raw: 0,
            partial: false,
            plan: None,
            held: None,
            rows: 0,
            failed: None,
            records: 0,
        }
    }

    /// Bytes of the report held right now: the part of the record being read, and a held footer
    /// candidate. Never more than a record (and a one-field record) at a time.
    pub fn buffered(&self) -> usize {
        self.len + self.held.as_ref().map_or(0, Vec::len)
    }

    /// Pushes `input` through the reader, handling each record it completes.
    fn read(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), RedactError> {
        loop {
            let (res, nin, nout, nend) = self.reader.read_record(
                input,
                &mut self.record[self.len..],
                &mut self.ends[self.nends..],
            );
            let consumed = &input[..nin];
            input = &input[nin..];
            self.raw += nin;
            self.len += nout;
            self.nends += nend;
            if self.raw > self.options.max_row_bytes {
                return Err(self.too_large());
            }
            match res {
                ReadRecordResult::InputEmpty => {
                    self.partial =
                        self.partial || consumed.iter().any(|&b| b != b'\r' && b != b'\n');
                    return Ok(());
                }
                ReadRecordResult::OutputFull => {
                    // Decoded bytes never outnumber raw ones, so `max_row_bytes` is enough.
                    let grown = (self.record.len() * 2).min(self.options.max_row_bytes);
                    if grown <= self.record.len() {
                        return Err(self.too_large());
                    }
                    self.record.resize(grown, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    // Every field but the last takes a raw delimiter byte.
                    let grown = (self.ends.len() * 2).min(self.options.max_row_bytes + 1);
                    if grown <= self.ends.len() {
                        return Err(self.too_large());
                    }
                    self.ends.resize(grown, 0);
                }
                ReadRecordResult::Record => {
                    self.record_done(out)?;
                    self.records += 1;
                    self.len = 0;
                    self.nends = 0;
                    self.raw = 0;
                    self.partial = false;
                }
                ReadRecordResult::End => return Ok(()),
            }
        }
    }

    fn too_large(&self) -> RedactError {
        RedactError::RowTooLarge {
            format: FORMAT,
            limit: self.options.max_row_bytes,
        }
    }

    fn record_done(&mut self, out: &mut Vec<u8>) -> Result<(), RedactError> {
        let Some(plan) = &self.plan else {
            return self.header(out);
        };
        let fields = Fields {
            record: &self.record[..self.len],
            ends: &self.ends[..self.nends],
        };
        if let Some(held) = self.held.take() {
            if plan.len() != 1 {
                return Err(shape(
                    "a record has a different number of fields than the header",
                ));
            }
            write_row(
                self.options.delimiter,
                &self.columns,
                plan,
                [&held[..]],
                out,
            )?;
            self.rows += 1;
        }
        if self.options.footer && fields.ends.len() == 1 {
            self.held = Some(fields.get(0).to_vec());
            return Ok(());
        }
        if fields.ends.len() != plan.len() {
            return Err(shape(
                "a record has a different number of fields than the header",
            ));
        }
        // Room for the row as read plus its delimiters and terminator: the common case then
        // never reallocates while the fields are written.
        out.reserve(fields.record.len() + fields.ends.len() + 2);
        write_row(
            self.options.delimiter,
            &self.columns,
            plan,
            fields.iter(),
            out,
        )?;
        self.rows += 1;
        Ok(())
    }

    fn header(&mut self, out: &mut Vec<u8>) -> Result<(), RedactError> {
        let fields = Fields {
            record: &self.record[..self.len],
            ends: &self.ends[..self.nends],
        };
        let name = |i: usize| {
            // csv-core strips a BOM only if the first chunk holds all of it. Every leading BOM
            // of every name goes: a client's reader drops one at the start of the body, and
            // dropped columns before it can put any name there, so the action must be decided
            // on, and the header written with, the name without them.
            let mut name = fields.get(i);
            while let Some(rest) = name.strip_prefix(UTF8_BOM) {
                name = rest;
            }
            std::str::from_utf8(name).map_err(|_| RedactError::Utf8 { format: FORMAT })
        };
        let mut plan = Vec::with_capacity(fields.ends.len());
        for i in 0..fields.ends.len() {
            plan.push(self.columns.action(name(i)?));
        }
        if self.options.emit_header {
            let mut w = Output::new(self.options.delimiter, out);
            for (i, action) in plan.iter().enumerate() {
                if *action != ColumnAction::Drop {
                    w.field(name(i)?.as_bytes());
                }
            }
            w.end_record();
        }
        self.plan = Some(plan);
        Ok(())
    }

    fn finish_inner(&mut self, out: &mut Vec<u8>) -> Result<(), RedactError> {
        if self.partial {
            // The reader accepts an unterminated quote at the end of input; a terminator tells
            // the two apart: it ends an unquoted record, but is swallowed by an open quote.
            self.read(b"\r\n", out)?;
            if self.partial {
                return Err(RedactError::Truncated { format: FORMAT });
            }
        }
        self.read(&[], out)?;
        if self.plan.is_none() {
            return Err(shape("the body has no header"));
        }
        if self.options.footer {
            let footer = self.held.take().ok_or(shape("the footer is missing"))?;
            if footer.is_empty() || !footer.iter().all(u8::is_ascii_digit) {
                return Err(shape("the last record is not a row count"));
            }
            let count = std::str::from_utf8(&footer)
                .ok()
                .and_then(|c| c.parse().ok());
            if count != Some(self.rows) {
                return Err(shape("the footer does not hold the number of rows"));
            }
            let mut w = Output::new(self.options.delimiter, out);
            w.field(&footer);
            w.end_record();
        }
        Ok(())
    }

    fn guarded(
        &mut self,
        out: &mut Vec<u8>,
        step: impl FnOnce(&mut Self, &mut Vec<u8>) -> Result<(), RedactError>,
    ) -> Result<(), RedactError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = step(self, out);
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }
}

impl<C: Columns + Send> Redactor for CsvRedactor<C> {
    fn records(&self) -> u64 {
        self.records
    }

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), RedactError> {
        if chunk.is_empty() {
            // An empty input means end of data to csv-core; here it means nothing.
            return Ok(());
        }
        self.guarded(out, |this, out| this.read(chunk, out))
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), RedactError> {
        self.guarded(out, Self::finish_inner)?;
        // Nothing may follow the end.
        self.failed = Some(RedactError::Truncated { format: FORMAT });
        Ok(())
    }
}

fn shape(what: &'static str) -> RedactError {
    RedactError::Shape {
        format: FORMAT,
        what,
    }
}

/// One decoded record: `ends` are the end offsets of its fields in `record`.
struct Fields<'a> {
    record: &'a [u8],
    ends: &'a [usize],
}

impl<'a> Fields<'a> {
    fn get(&self, i: usize) -> &'a [u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.record[start..self.ends[i]]
    }

    fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (0..self.ends.len()).map(|i| self.get(i))
    }
}

/// Writes one data row: each field as its column's action says. Nothing is written on error.
fn write_row<'a, C: Columns>(
    delimiter: u8,
    columns: &C,
    plan: &[ColumnAction],
    fields: impl IntoIterator<Item = &'a [u8]>,
    out: &mut Vec<u8>,
) -> Result<(), RedactError> {
    let mut w = Output::new(delimiter, out);
    for (action, field) in plan.iter().zip(fields) {
        match action {
            ColumnAction::Keep => w.field(field),
            ColumnAction::Drop => {}
            ColumnAction::Mask => w.field(columns.mask().as_bytes()),
            ColumnAction::Hash => match std::str::from_utf8(field) {
                Ok(value) => w.field(columns.pseudonym(value).as_bytes()),
                Err(_) => {
                    w.discard();
                    return Err(RedactError::Utf8 { format: FORMAT });
                }
            },
        }
    }
    w.end_record();
    Ok(())
}

/// One record being appended to `out`, quoted as RFC 4180 and csv-core's `QuoteStyle::Necessary`
/// quote: only a field holding the delimiter, a quote, CR or LF is quoted, its quotes doubled;
/// a record with nothing in it is written `""` so that it stays a record. Written here rather
/// than through `csv_core::Writer`, whose per-field state machine and zero-filled output room
/// cost more than the parse itself (`cargo bench --bench redact -- csv`); the unit tests hold
/// the output byte-identical to the csv crate's writer.
struct Output<'w> {
    out: &'w mut Vec<u8>,
    delimiter: u8,
    /// Where the record starts in `out`.
    start: usize,
    first: bool,
}

impl<'w> Output<'w> {
    fn new(delimiter: u8, out: &'w mut Vec<u8>) -> Self {
        let start = out.len();
        Self {
            out,
            delimiter,
            start,
            first: true,
        }
    }

    fn field(&mut self, value: &[u8]) {
        if !self.first {
            self.out.push(self.delimiter);
        }
        self.first = false;
        let delimiter = self.delimiter;
        // Without early exit, so the compiler can compare many bytes at once: values are short
        // and almost never need quotes.
        let special = value.iter().fold(false, |special, &b| {
            special | (b == delimiter) | (b == b'"') | (b == b'\r') | (b == b'\n')
        });
        if !special {
            self.out.extend_from_slice(value);
            return;
        }
        self.out.push(b'"');
        for (i, part) in value.split(|&b| b == b'"').enumerate() {
            if i > 0 {
                self.out.extend_from_slice(b"\"\"");
            }
            self.out.extend_from_slice(part);
        }
        self.out.push(b'"');
    }

    fn end_record(self) {
        if self.out.len() == self.start {
            self.out.extend_from_slice(b"\"\"");
        }
        self.out.extend_from_slice(b"\r\n");
    }

    /// Drops the record written so far.
    fn discard(self) {
        self.out.truncate(self.start);
    }
}
