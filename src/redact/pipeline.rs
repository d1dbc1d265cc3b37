//! One response's stages: upstream bytes → (gunzip) → redactor → (gzip) → caller bytes.

use super::gzip::{Gunzip, Gzip};
use super::{RedactError, Redactor};

pub struct Pipeline {
    gunzip: Option<Gunzip>,
    redactor: Box<dyn Redactor>,
    gzip: Option<Gzip>,
    plain: Vec<u8>,
    redacted: Vec<u8>,
    /// The first error of any stage: every later call returns it and writes nothing. The
    /// redactors keep their own, but a chunk the inflater turns into no plain bytes never
    /// reaches the redactor, and the inflater may accept bytes after its own error.
    failed: Option<RedactError>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("gunzip", &self.gunzip.is_some())
            .field("gzip", &self.gzip.is_some())
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// `inflate`: the upstream body is gzip; `deflate`: the caller gets gzip.
    pub fn new(redactor: Box<dyn Redactor>, inflate: bool, deflate: bool) -> Self {
        Self {
            gunzip: inflate.then(Gunzip::default),
            redactor,
            gzip: deflate.then(Gzip::default),
            plain: Vec::new(),
            redacted: Vec::new(),
            failed: None,
        }
    }

    /// Runs `chunk` through every stage; what is ready for the caller is appended to `out`.
    /// After an error, every call returns it again and writes nothing (fail closed).
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), RedactError> {
        self.guarded(|this| this.feed_inner(chunk, out))
    }

    /// The upstream body ended: every stage must end complete.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), RedactError> {
        self.guarded(|this| this.finish_inner(out))
    }

    fn guarded(
        &mut self,
        step: impl FnOnce(&mut Self) -> Result<(), RedactError>,
    ) -> Result<(), RedactError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = step(self);
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    fn feed_inner(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), RedactError> {
        let plain = match &mut self.gunzip {
            Some(gunzip) => {
                gunzip.feed(chunk, &mut self.plain)?;
                std::mem::take(&mut self.plain)
            }
            None => chunk.to_vec(),
        };
        let result = self.redact(&plain, out, false);
        if self.gunzip.is_some() {
            // Keep the allocation for the next chunk.
            self.plain = plain;
            self.plain.clear();
        }
        result
    }

    /// Records the redactor has written so far (see [`Redactor::records`]).
    pub fn records(&self) -> u64 {
        self.redactor.records()
    }

    fn finish_inner(&mut self, out: &mut Vec<u8>) -> Result<(), RedactError> {
        let mut plain = Vec::new();
        if let Some(gunzip) = &mut self.gunzip {
            gunzip.finish(&mut plain)?;
        }
        self.redact(&plain, out, true)
    }

    fn redact(&mut self, plain: &[u8], out: &mut Vec<u8>, last: bool) -> Result<(), RedactError> {
        let target = if self.gzip.is_some() {
            &mut self.redacted
        } else {
            &mut *out
        };
        if !plain.is_empty() {
            self.redactor.feed(plain, target)?;
        }
        if last {
            self.redactor.finish(target)?;
        }
        if let Some(gzip) = &mut self.gzip {
            gzip.feed(&self.redacted, out);
            self.redacted.clear();
            if last {
                gzip.finish(out);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// A stand-in redactor: writes input in upper case, and refuses the byte `!`.
    struct Upper;

    impl Redactor for Upper {
        fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), RedactError> {
            if chunk.contains(&b'!') {
                return Err(RedactError::Shape {
                    format: "test",
                    what: "a bang",
                });
            }
            out.extend(chunk.iter().map(u8::to_ascii_uppercase));
            Ok(())
        }
        fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), RedactError> {
            out.extend_from_slice(b".");
            Ok(())
        }
        fn records(&self) -> u64 {
            0
        }
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn run(pipeline: &mut Pipeline, input: &[u8], chunk: usize) -> Result<Vec<u8>, RedactError> {
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            pipeline.feed(c, &mut out)?;
        }
        pipeline.finish(&mut out)?;
        Ok(out)
    }

    #[test]
    fn every_combination_of_stages() {
        let text = b"rows of report text ".repeat(5000);
        let mut expect = text.to_ascii_uppercase();
        expect.push(b'.');
        for (inflate, deflate) in [(false, false), (true, false), (false, true), (true, true)] {
            let input = if inflate { gz(&text) } else { text.clone() };
            let mut p = Pipeline::new(Box::new(Upper), inflate, deflate);
            let out = run(&mut p, &input, 777).unwrap();
            let plain = if deflate {
                let mut v = Vec::new();
                flate2::read::GzDecoder::new(&out[..])
                    .read_to_end(&mut v)
                    .unwrap();
                v
            } else {
                out
            };
            assert_eq!(plain, expect, "inflate {inflate} deflate {deflate}");
        }
    }

    /// Upper, refusing everything after its first error, as the real redactors do.
    struct Sticky(Upper, Option<RedactError>);

    impl Redactor for Sticky {
        fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), RedactError> {
            if let Some(e) = &self.1 {
                return Err(e.clone());
            }
            let result = self.0.feed(chunk, out);
            self.1 = result.clone().err();
            result
        }
        fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), RedactError> {
            match &self.1 {
                Some(e) => Err(e.clone()),
                None => self.0.finish(out),
            }
        }
        fn records(&self) -> u64 {
            0
        }
    }

    /// Found by the `redact_pipeline` fuzz target: after the redactor's error, a gzip chunk that
    /// inflated to no plain bytes never reached the (sticky) redactor, and `feed` said `Ok`.
    /// The pipeline does not rely on its redactor to remember an error either.
    #[test]
    fn an_error_is_final_whatever_follows() {
        let text = b"a bad byte! then rows that are fine ".repeat(2000);
        for (inflate, sticky) in [(true, true), (true, false), (false, false)] {
            let input = if inflate { gz(&text) } else { text.clone() };
            let redactor: Box<dyn Redactor> = if sticky {
                Box::new(Sticky(Upper, None))
            } else {
                Box::new(Upper)
            };
            let mut p = Pipeline::new(redactor, inflate, false);
            let mut out = Vec::new();
            // One byte at a time: after the bang, many a compressed byte inflates to nothing.
            let mut chunks = input.chunks(1);
            let error = chunks
                .by_ref()
                .find_map(|c| p.feed(c, &mut out).err())
                .expect("the bang fails");
            let written = out.len();
            for chunk in chunks.chain([&b"fine"[..], &[]]) {
                let fed = p.feed(chunk, &mut out);
                assert_eq!(
                    fed,
                    Err(error.clone()),
                    "inflate {inflate}, sticky {sticky}"
                );
            }
            assert_eq!(p.finish(&mut out), Err(error.clone()));
            assert_eq!(out.len(), written, "nothing is written after the error");
        }
    }

    #[test]
    fn a_truncated_upstream_gzip_or_a_redaction_error_fails() {
        let input = gz(&b"abc".repeat(10_000));
        let mut p = Pipeline::new(Box::new(Upper), true, false);
        assert!(run(&mut p, &input[..input.len() - 4], 100).is_err());
        let mut p = Pipeline::new(Box::new(Upper), false, true);
        assert!(run(&mut p, b"fine, then bad!", 4).is_err());
    }
}
