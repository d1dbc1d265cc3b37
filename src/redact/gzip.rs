//! gzip on either side of a redactor: iCasework's compressed body is inflated before redaction,
//! and the redacted output is compressed again when the caller asked for gzip. Both are plain
//! push-style stages over byte chunks, like the redactors.

use std::io::Write;

use flate2::write::{GzDecoder, GzEncoder};

use super::RedactError;

const FORMAT: &str = "gzip";

/// Inflates a gzip body fed in chunks. A truncated stream, a corrupt one, or bytes after its end
/// are errors: a report that cannot be read whole is not passed on.
pub struct Gunzip {
    decoder: GzDecoder<Vec<u8>>,
}

impl std::fmt::Debug for Gunzip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gunzip").finish_non_exhaustive()
    }
}

impl Default for Gunzip {
    fn default() -> Self {
        Self {
            decoder: GzDecoder::new(Vec::new()),
        }
    }
}

impl Gunzip {
    /// Inflates `chunk`; the plain bytes produced so far are moved into `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), RedactError> {
        self.decoder
            .write_all(chunk)
            .map_err(|_| RedactError::Shape {
                format: FORMAT,
                what: "the compressed body is corrupt or has data after its end",
            })?;
        out.append(self.decoder.get_mut());
        Ok(())
    }

    /// The compressed body ended: it must have ended complete.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), RedactError> {
        self.decoder
            .try_finish()
            .map_err(|_| RedactError::Truncated { format: FORMAT })?;
        out.append(self.decoder.get_mut());
        Ok(())
    }
}

/// Compresses output for callers that asked for gzip. Level 1: redaction and compression run
/// on the request path, and level 1 keeps most of the size benefit at several times the speed
/// (see ../shared/performance.md).
pub struct Gzip {
    encoder: Option<GzEncoder<Vec<u8>>>,
}

impl std::fmt::Debug for Gzip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gzip").finish_non_exhaustive()
    }
}

impl Default for Gzip {
    fn default() -> Self {
        Self {
            encoder: Some(GzEncoder::new(Vec::new(), flate2::Compression::fast())),
        }
    }
}

impl Gzip {
    /// Compresses `plain`; the compressed bytes produced so far are moved into `out`.
    pub fn feed(&mut self, plain: &[u8], out: &mut Vec<u8>) {
        if let Some(encoder) = &mut self.encoder {
            // Writing into a Vec cannot fail.
            let _ = encoder.write_all(plain);
            out.append(encoder.get_mut());
        }
    }

    /// Ends the gzip stream (its trailer carries the length and CRC).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if let Some(encoder) = self.encoder.take() {
            if let Ok(mut rest) = encoder.finish() {
                out.append(&mut rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut gz = Gzip::default();
        gz.feed(data, &mut out);
        gz.finish(&mut out);
        out
    }

    #[test]
    fn round_trip_in_any_chunking() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let compressed = gzip(&data);
        let mut check = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut check)
            .unwrap();
        assert_eq!(check, data);
        for size in [1, 7, 4096, 65536] {
            let mut gunzip = Gunzip::default();
            let mut out = Vec::new();
            for chunk in compressed.chunks(size) {
                gunzip.feed(chunk, &mut out).unwrap();
            }
            gunzip.finish(&mut out).unwrap();
            assert_eq!(out, data, "chunk size {size}");
        }
    }

    #[test]
    fn truncated_corrupt_and_trailing_streams_are_errors() {
        let compressed = gzip(&vec![b'x'; 50_000]);
        let mut gunzip = Gunzip::default();
        let mut out = Vec::new();
        gunzip
            .feed(&compressed[..compressed.len() - 8], &mut out)
            .unwrap();
        assert_eq!(
            gunzip.finish(&mut out),
            Err(RedactError::Truncated { format: FORMAT })
        );

        let mut gunzip = Gunzip::default();
        assert!(gunzip.feed(b"this is not gzip", &mut Vec::new()).is_err());

        let mut trailing = compressed.clone();
        trailing.extend_from_slice(b"<Row>smuggled</Row>");
        let mut gunzip = Gunzip::default();
        let mut out = Vec::new();
        let fed = gunzip.feed(&trailing, &mut out);
        assert!(fed.is_err() || gunzip.finish(&mut out).is_err());
    }
}
