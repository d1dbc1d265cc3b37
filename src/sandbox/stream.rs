//! The huge report as it goes out: rendered a frame at a time by the same [`RowWriter`] as
//! every other body, gzipped as it goes when asked, and never whole in memory, so that a report
//! of gigabytes costs the sandbox about one frame and the compressor's window.

use std::io::Write;

use bytes::{Bytes, BytesMut};
use flate2::write::GzEncoder;
use flate2::Compression;

use super::render::{Rendering, RowWriter};
use super::reports::Report;
use super::response::FRAME;

/// A body rendered while it streams: the report's rows, from the first, until at least
/// `min_bytes` of uncompressed body, then the document's proper end.
#[derive(Debug)]
pub(crate) struct ReportStream {
    report: Report,
    writer: RowWriter,
    min_bytes: u64,
    /// Uncompressed bytes rendered so far.
    rendered: u64,
    next_row: usize,
    started: bool,
    /// The tail is rendered (and the gzip trailer written): nothing more will be added.
    finished: bool,
    /// Level 1: the sandbox must outrun the gateway it feeds, and iCasework's own level is not
    /// known anyway.
    gzip: Option<GzEncoder<Vec<u8>>>,
    /// One batch of uncompressed output, reused.
    plain: Vec<u8>,
    /// Output ready to go: less than a frame and a row.
    pending: BytesMut,
}

impl ReportStream {
    pub(crate) fn new(report: Report, rendering: Rendering, min_bytes: u64, gzip: bool) -> Self {
        Self {
            report,
            writer: RowWriter::new(rendering),
            min_bytes,
            rendered: 0,
            next_row: 0,
            started: false,
            finished: false,
            gzip: gzip.then(|| GzEncoder::new(Vec::new(), Compression::fast())),
            plain: Vec::with_capacity(2 * FRAME),
            pending: BytesMut::with_capacity(2 * FRAME),
        }
    }

    /// The next frame of the body, at most [`FRAME`] bytes; `None` once it is complete. Each
    /// call renders about a frame of uncompressed body at most: uncompressed, frames are full;
    /// gzipped, a frame is what one such batch compressed to.
    pub(crate) fn next_frame(&mut self) -> Option<Bytes> {
        let wanted = if self.gzip.is_some() { 1 } else { FRAME };
        while self.pending.len() < wanted && !self.finished {
            self.render_batch();
        }
        if self.pending.is_empty() {
            return None;
        }
        let take = self.pending.len().min(FRAME);
        Some(self.pending.split_to(take).freeze())
    }

    /// Whether every frame has been taken.
    pub(crate) fn is_end_stream(&self) -> bool {
        self.finished && self.pending.is_empty()
    }

    /// Renders whole rows, enough to fill a frame (`pending` included when uncompressed), and
    /// moves them, compressed or not, to `pending`. The rows stop once the body has
    /// `min_bytes`; the tail follows at once.
    fn render_batch(&mut self) {
        let target = match self.gzip {
            Some(_) => FRAME,
            None => FRAME.saturating_sub(self.pending.len()),
        };
        self.plain.clear();
        if !self.started {
            self.started = true;
            self.writer.head(&mut self.plain);
        }
        while self.plain.len() < target {
            if self.rendered + self.plain.len() as u64 >= self.min_bytes {
                self.writer.tail(&mut self.plain);
                self.finished = true;
                break;
            }
            let values = self.report.row(self.next_row);
            self.writer.row(&mut self.plain, &values);
            self.next_row += 1;
        }
        self.rendered += self.plain.len() as u64;
        match &mut self.gzip {
            None => self.pending.extend_from_slice(&self.plain),
            Some(encoder) => {
                encoder
                    .write_all(&self.plain)
                    .expect("writes into a Vec cannot fail");
                if self.finished {
                    encoder.try_finish().expect("writes into a Vec cannot fail");
                }
                self.pending.extend_from_slice(encoder.get_ref());
                encoder.get_mut().clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::super::render::{render, CsvOptions};
    use super::*;

    /// (body, frame sizes, rows)
    fn drain(mut stream: ReportStream) -> (Vec<u8>, Vec<usize>, usize) {
        let (mut body, mut frames) = (Vec::new(), Vec::new());
        while let Some(frame) = stream.next_frame() {
            frames.push(frame.len());
            body.extend_from_slice(&frame);
        }
        assert!(stream.is_end_stream());
        (body, frames, stream.next_row)
    }

    fn renderings() -> [Rendering; 4] {
        [
            Rendering::Xml {
                request_id: "0123456789abcdef0123456789abcd".into(),
            },
            Rendering::Json,
            Rendering::Csv(CsvOptions {
                header: true,
                footer: true,
                ..CsvOptions::default()
            }),
            Rendering::Csv(CsvOptions {
                delimiter: b';',
                fields: Some(vec![7, 90, 95]),
                ..CsvOptions::default()
            }),
        ]
    }

    /// The stream is the whole rendering of as many rows as it took, byte for byte, in frames
    /// of at most 64 KiB; the rows stop at the first that reaches the size.
    #[test]
    fn streams_the_same_bytes_as_a_whole_rendering_of_its_rows() {
        const SIZE: u64 = 300_000;
        for rendering in renderings() {
            let stream = ReportStream::new(Report::Huge, rendering.clone(), SIZE, false);
            let (body, frames, rows) = drain(stream);
            assert!(body.len() as u64 >= SIZE, "{rendering:?}: {}", body.len());
            assert!(frames.iter().all(|&len| len <= FRAME), "{frames:?}");
            assert!(frames.len() > 1);
            assert_eq!(body, render(Report::Generated(rows), &rendering));
            // One row fewer, tail included, is still short of the size (the tails are short).
            let fewer = render(Report::Generated(rows - 1), &rendering);
            assert!((fewer.len() as u64) < SIZE + 16, "{rendering:?}");
        }
    }

    #[test]
    fn gzip_streams_the_same_bytes_compressed() {
        for rendering in renderings() {
            let plain = drain(ReportStream::new(
                Report::Huge,
                rendering.clone(),
                200_000,
                false,
            ))
            .0;
            let (zipped, frames, _) =
                drain(ReportStream::new(Report::Huge, rendering, 200_000, true));
            assert!(frames.iter().all(|&len| len <= FRAME));
            let mut unzipped = Vec::new();
            flate2::read::GzDecoder::new(&zipped[..])
                .read_to_end(&mut unzipped)
                .unwrap();
            assert_eq!(unzipped, plain);
        }
    }

    #[test]
    fn a_size_of_zero_is_an_empty_document() {
        let json = drain(ReportStream::new(Report::Huge, Rendering::Json, 0, false)).0;
        assert_eq!(json, b"[]");
        let csv = Rendering::Csv(CsvOptions {
            footer: true,
            ..CsvOptions::default()
        });
        assert_eq!(
            drain(ReportStream::new(Report::Huge, csv, 0, false)).0,
            b"0\r\n"
        );
    }
}
