//! casegate's redaction throughput per format beside the bare parser, measured here in a few
//! seconds with the workloads of the criterion bench `redact` (`benches/support/redaction.rs`).

use std::time::{Duration, Instant};

use crate::support::redaction::{bare_parser, parse, redact, report, CHUNK, FORMATS};

pub(crate) struct Row {
    pub(crate) format: &'static str,
    pub(crate) input_bytes: usize,
    /// MiB of input per second.
    pub(crate) redactor: f64,
    pub(crate) parser: f64,
    pub(crate) parser_name: &'static str,
}

/// Each format: the report of `rows` rows, redacted and then parsed for `seconds` each.
pub(crate) fn measure(rows: usize, seconds: f64) -> Vec<Row> {
    let budget = Duration::from_secs_f64(seconds);
    FORMATS
        .into_iter()
        .map(|format| {
            let body = report(rows, format);
            let mut out = Vec::with_capacity(4 * CHUNK);
            Row {
                format,
                input_bytes: body.len(),
                redactor: mib_per_s(body.len(), budget, || redact(format, &body, &mut out)),
                parser: mib_per_s(body.len(), budget, || parse(format, &body)),
                parser_name: bare_parser(format),
            }
        })
        .collect()
}

/// Runs `work` (over `bytes` of input) once to warm up, then until `budget` has passed (at
/// least twice); MiB of input per second.
fn mib_per_s(bytes: usize, budget: Duration, mut work: impl FnMut() -> usize) -> f64 {
    std::hint::black_box(work());
    let started = Instant::now();
    let mut runs = 0u32;
    while runs < 2 || started.elapsed() < budget {
        std::hint::black_box(work());
        runs += 1;
    }
    f64::from(runs) * bytes as f64 / (1024.0 * 1024.0) / started.elapsed().as_secs_f64()
}
