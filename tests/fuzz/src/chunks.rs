//! Where a body is cut into chunks, chosen by the fuzzer: upstream's chunks may split a body
//! anywhere (inside a tag, an escape, a UTF-8 sequence, a CRLF), and a redactor must give the
//! same answer however it is cut.

/// The largest chunk each choice of [`Chunks::new`]'s `size` byte allows; 0 means "the whole
/// rest in one chunk".
const MAX_SIZES: [usize; 8] = [1, 2, 3, 7, 16, 61, 4096, 0];

/// A deterministic sequence of chunk sizes.
#[derive(Clone, Copy, Debug)]
pub struct Chunks {
    max: usize,
    state: u32,
}

impl Chunks {
    /// `size` picks the largest chunk (low 3 bits) and seeds the sizes (the rest): chunk sizes
    /// run from 0 (an empty chunk) to that largest one.
    pub fn new(size: u8) -> Chunks {
        Chunks {
            max: MAX_SIZES[usize::from(size & 7)],
            state: u32::from(size >> 3).wrapping_mul(0x9e37_79b9) | 1,
        }
    }

    /// Cuts `body` into chunks: empty ones included, never more than four empty in a row.
    pub fn split(self, body: &[u8]) -> Vec<&[u8]> {
        let mut chunks = Vec::new();
        let mut rest = body;
        let mut state = self.state;
        let mut empty_run = 0;
        while !rest.is_empty() {
            let size = if self.max == 0 {
                rest.len()
            } else {
                // xorshift32: cheap, and the same sizes for the same input.
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let size = state as usize % (self.max + 1);
                if size == 0 && empty_run == 4 {
                    1
                } else {
                    size
                }
            };
            empty_run = if size == 0 { empty_run + 1 } else { 0 };
            let (chunk, tail) = rest.split_at(size.min(rest.len()));
            chunks.push(chunk);
            rest = tail;
        }
        chunks
    }
}
