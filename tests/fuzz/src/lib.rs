//! What the fuzz targets share: the column rules they redact with, how an input is cut into
//! chunks, the driver that checks the redactors fail closed, and one checker per format that
//! re-reads the output with the format's standard parser (quick-xml, serde_json, csv).

pub mod check;
pub mod chunks;
pub mod rules;

use casegate::redact::{Redactor, DEFAULT_MAX_ROW_BYTES};

pub use chunks::Chunks;
pub use rules::Rules;

/// The row limit a byte of input chooses: the default (4 MiB) when its low bit is 0, else a
/// small one (16 to 2048 bytes) so that [`RowTooLarge`](casegate::redact::RedactError) is
/// reached on the way.
pub fn max_row_bytes(choice: u8) -> usize {
    if choice & 1 == 0 {
        DEFAULT_MAX_ROW_BYTES
    } else {
        16 << ((choice >> 1) & 7)
    }
}

/// How a redactor's run over one input ended.
#[derive(Debug)]
pub struct Run {
    /// Everything the redactor wrote, whatever the outcome.
    pub out: Vec<u8>,
    /// Every `feed` and the `finish` returned `Ok`.
    pub complete: bool,
}

/// Feeds `body` to `redactor` in `chunks`, then finishes it, and checks the fail-closed
/// contract: after the first `Err`, every later `feed` of a non-empty chunk and the `finish`
/// return `Err`, and none of them appends a byte.
pub fn drive(redactor: &mut dyn Redactor, body: &[u8], chunks: Chunks) -> Run {
    let mut out = Vec::new();
    let mut failed_at = None;
    for chunk in chunks.split(body) {
        let result = redactor.feed(chunk, &mut out);
        match failed_at {
            None if result.is_err() => failed_at = Some(out.len()),
            None => {}
            Some(len) => {
                assert!(
                    result.is_err() || chunk.is_empty(),
                    "feed returned Ok after an earlier Err"
                );
                assert_eq!(out.len(), len, "feed wrote after an earlier Err");
            }
        }
    }
    let result = redactor.finish(&mut out);
    if let Some(len) = failed_at {
        assert!(result.is_err(), "finish returned Ok after an earlier Err");
        assert_eq!(out.len(), len, "finish wrote after an earlier Err");
    }
    Run {
        complete: failed_at.is_none() && result.is_ok(),
        out,
    }
}
