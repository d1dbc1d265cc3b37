//! Strict parse and redaction of one complete object (row): `{ "key": "value", ... }`.

use std::borrow::Cow;
use std::ops::Range;

use super::{is_ws, shape, FORMAT};
use crate::redact::{ColumnAction, Columns, RedactError};

/// Redacts `obj`, which runs from its `{` to its `}`, into `out`. On error nothing of it has
/// been written that was not already redacted, and the caller stops the body.
pub(super) fn redact_object<C: Columns>(
    columns: &mut C,
    obj: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RedactError> {
    // Outside strings JSON is ASCII, so checking the whole object at once covers every key and
    // value, and slicing `text` at quotes and punctuation is always on a char boundary.
    let text = std::str::from_utf8(obj).map_err(|_| RedactError::Utf8 { format: FORMAT })?;
    let mark = out.len();
    let result = members(columns, text, out);
    if result.is_err() {
        // A member kept before the fault must not go out without the rest of its row checked.
        out.truncate(mark);
    }
    result
}

fn members<C: Columns>(columns: &mut C, text: &str, out: &mut Vec<u8>) -> Result<(), RedactError> {
    let obj = text.as_bytes();
    debug_assert_eq!(obj.first(), Some(&b'{'));
    out.push(b'{');
    let mut p = skip_ws(obj, 1);
    if obj.get(p) == Some(&b'}') {
        out.extend_from_slice(&obj[1..=p]);
        return end(obj, p);
    }
    // Whitespace after the last kept member, written only if another kept member follows (with
    // the comma) so that a dropped member takes its comma and whitespace with it.
    let mut pending: Option<Range<usize>> = None;
    let mut lead_start = 1;
    loop {
        if obj.get(p) != Some(&b'"') {
            return Err(shape("expected a column name"));
        }
        let key_start = p;
        let (key_end, key_escaped) = string(obj, p)?;
        p = skip_ws(obj, key_end);
        if obj.get(p) != Some(&b':') {
            return Err(shape("expected a colon after a column name"));
        }
        p = skip_ws(obj, p + 1);
        if obj.get(p) != Some(&b'"') {
            return Err(shape("a value is not a string"));
        }
        let value_start = p;
        let (value_end, value_escaped) = string(obj, p)?;
        p = skip_ws(obj, value_end);
        let last = match obj.get(p) {
            Some(b',') => false,
            Some(b'}') => true,
            _ => return Err(shape("expected a comma or the end of an object")),
        };

        let key = decode(&text[key_start + 1..key_end - 1], key_escaped)?;
        let action = columns.action(&key);
        if action != ColumnAction::Drop {
            if let Some(ws) = pending.take() {
                out.extend_from_slice(&obj[ws]);
                out.push(b',');
            }
            out.extend_from_slice(&obj[lead_start..value_start]);
            match action {
                ColumnAction::Keep => out.extend_from_slice(&obj[value_start..value_end]),
                ColumnAction::Mask => write_string(out, columns.mask()),
                ColumnAction::Hash => {
                    let value = decode(&text[value_start + 1..value_end - 1], value_escaped)?;
                    write_string(out, &columns.pseudonym(&value));
                }
                ColumnAction::Drop => unreachable!(),
            }
            pending = Some(value_end..p);
        }
        if last {
            out.extend_from_slice(&obj[value_end..=p]);
            return end(obj, p);
        }
        lead_start = p + 1;
        p = skip_ws(obj, p + 1);
    }
}

/// The object must end at its closing brace (the framer cut it there).
fn end(obj: &[u8], p: usize) -> Result<(), RedactError> {
    if p + 1 != obj.len() {
        return Err(shape("data after the end of an object"));
    }
    Ok(())
}

fn skip_ws(obj: &[u8], mut p: usize) -> usize {
    while p < obj.len() && is_ws(obj[p]) {
        p += 1;
    }
    p
}

/// Checks the string whose opening quote is at `p`; returns the index just past its closing
/// quote and whether it holds escapes.
fn string(obj: &[u8], p: usize) -> Result<(usize, bool), RedactError> {
    let mut q = p + 1;
    let mut escaped = false;
    loop {
        let Some(at) = memchr::memchr2(b'"', b'\\', &obj[q..]) else {
            return Err(shape("an unterminated string"));
        };
        if obj[q..q + at].iter().any(|&b| b < 0x20) {
            return Err(shape("a control character inside a string"));
        }
        q += at;
        if obj[q] == b'"' {
            return Ok((q + 1, escaped));
        }
        escaped = true;
        q = escape(obj, q)?.1;
    }
}

/// Reads the escape whose `\` is at `q`: the char it stands for and the index after it.
fn escape(obj: &[u8], q: usize) -> Result<(char, usize), RedactError> {
    let bad = || shape("an invalid escape in a string");
    let c = match obj.get(q + 1).ok_or_else(bad)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let high = hex4(obj, q + 2).ok_or_else(bad)?;
            return match high {
                0xD800..=0xDBFF => {
                    if obj.get(q + 6) != Some(&b'\\') || obj.get(q + 7) != Some(&b'u') {
                        return Err(bad());
                    }
                    let low = hex4(obj, q + 8).ok_or_else(bad)?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return Err(bad());
                    }
                    let c = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                    Ok((char::from_u32(c).ok_or_else(bad)?, q + 12))
                }
                _ => Ok((char::from_u32(high).ok_or_else(bad)?, q + 6)),
            };
        }
        _ => return Err(bad()),
    };
    Ok((c, q + 2))
}

fn hex4(obj: &[u8], at: usize) -> Option<u32> {
    let digits = obj.get(at..at + 4)?;
    digits
        .iter()
        .try_fold(0u32, |acc, &d| Some(acc * 16 + char::from(d).to_digit(16)?))
}

/// The text a string's contents (between its quotes, already checked) stands for.
fn decode(raw: &str, escaped: bool) -> Result<Cow<'_, str>, RedactError> {
    if !escaped {
        return Ok(Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    let mut decoded = String::with_capacity(raw.len());
    let mut from = 0;
    while let Some(at) = memchr::memchr(b'\\', &bytes[from..]) {
        decoded.push_str(&raw[from..from + at]);
        let (c, next) = escape(bytes, from + at)?;
        decoded.push(c);
        from = next;
    }
    decoded.push_str(&raw[from..]);
    Ok(Cow::Owned(decoded))
}

/// Writes `s` as a JSON string.
pub(super) fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[from..i]);
        if escaped.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escaped);
        }
        from = i + 1;
    }
    out.extend_from_slice(&bytes[from..]);
    out.push(b'"');
}
