//! The CSV redactor on any bytes, cut into chunks anywhere, with any of four delimiters, with
//! and without the row-count footer: it never panics, fails closed, and what it writes, re-read
//! with the csv crate, holds no dropped column and only masks and pseudonyms in masked and
//! hashed ones.
//!
//! Input: one byte for the chunk sizes, one for the options (bits 0-1 the delimiter, bit 2 the
//! footer, bits 3-7 the row limit as for the other targets), then the body.
#![no_main]

use casegate::redact::csv_report::{CsvOptions, CsvRedactor};
use casegate_fuzz::{check, drive, max_row_bytes, Chunks, Rules};
use libfuzzer_sys::fuzz_target;

const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

fuzz_target!(|data: &[u8]| {
    let [chunks, options, body @ ..] = data else {
        return;
    };
    let delimiter = DELIMITERS[usize::from(options & 3)];
    let footer = options & 4 != 0;
    let options = CsvOptions {
        delimiter,
        // Always: the checker needs the header to know which column a field is.
        emit_header: true,
        footer,
        max_row_bytes: max_row_bytes(options >> 3),
    };
    let mut redactor = CsvRedactor::new(Rules, options);
    let run = drive(&mut redactor, body, Chunks::new(*chunks));
    check::csv::check(&run.out, delimiter, footer, run.complete);
});
