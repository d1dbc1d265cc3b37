//! The JSON redactor on any bytes, cut into chunks anywhere: it never panics, fails closed, and
//! what it writes, re-read with serde_json, holds no dropped column and only masks and
//! pseudonyms in masked and hashed ones.
//!
//! Input: one byte for the chunk sizes, one for the row limit, then the body.
#![no_main]

use casegate::redact::json::JsonRedactor;
use casegate_fuzz::{check, drive, max_row_bytes, Chunks, Rules};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [chunks, limit, body @ ..] = data else {
        return;
    };
    let mut redactor = JsonRedactor::with_max_row_bytes(Rules, max_row_bytes(*limit));
    let run = drive(&mut redactor, body, Chunks::new(*chunks));
    check::json::check(&run.out, run.complete);
});
