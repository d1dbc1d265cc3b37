//! The whole response pipeline, gunzip → redactor → gzip, on any body: it never panics, fails
//! closed, and when it succeeds the caller's bytes (inflated again if they are gzip) pass the
//! format's checker. A failed run's gzip output cannot be cut at a row, so only its contract
//! is checked.
//!
//! Input: one byte for the chunk sizes; one for the stages (bits 0-1 the format, xml, json, csv
//! and csv with a footer; bit 2 the body is gzip; bit 3 the body given is compressed by the
//! target first, so that the redactor sees a meaningful report, else it goes to the inflater
//! as it is; bit 4 the caller gets gzip); then the body.
#![no_main]

use std::io::{Read, Write};

use casegate::redact::csv_report::{CsvOptions, CsvRedactor};
use casegate::redact::json::JsonRedactor;
use casegate::redact::xml::XmlRedactor;
use casegate::redact::{Pipeline, RedactError, Redactor};
use casegate_fuzz::{check, drive, Chunks, Rules};
use libfuzzer_sys::fuzz_target;

/// The pipeline seen through the redactor interface, so that `drive` can check it.
struct Stages(Pipeline);

impl Redactor for Stages {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), RedactError> {
        self.0.feed(chunk, out)
    }
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), RedactError> {
        self.0.finish(out)
    }
    fn records(&self) -> u64 {
        self.0.records()
    }
}

fuzz_target!(|data: &[u8]| {
    let [chunks, stages, body @ ..] = data else {
        return;
    };
    let format = stages & 3;
    let inflate = stages & 4 != 0;
    let deflate = stages & 16 != 0;
    let footer = format == 3;
    let redactor: Box<dyn Redactor> = match format {
        0 => Box::new(XmlRedactor::new(Rules)),
        1 => Box::new(JsonRedactor::new(Rules)),
        _ => Box::new(CsvRedactor::new(
            Rules,
            CsvOptions {
                footer,
                ..CsvOptions::default()
            },
        )),
    };
    let compressed;
    let body = if inflate && stages & 8 != 0 {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(body).unwrap();
        compressed = gz.finish().unwrap();
        &compressed[..]
    } else {
        body
    };
    let mut pipeline = Stages(Pipeline::new(redactor, inflate, deflate));
    let run = drive(&mut pipeline, body, Chunks::new(*chunks));
    let plain = if deflate {
        let mut plain = Vec::new();
        let inflated = flate2::read::GzDecoder::new(&run.out[..]).read_to_end(&mut plain);
        if !run.complete {
            // A cut gzip stream: inflating must not panic; its rows cannot be told apart.
            return;
        }
        inflated.expect("a complete run's gzip output inflates");
        plain
    } else {
        run.out
    };
    match format {
        0 => check::xml::check(&plain, run.complete),
        1 => check::json::check(&plain, run.complete),
        _ => check::csv::check(&plain, b',', footer, run.complete),
    }
});
