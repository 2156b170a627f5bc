//! Property checks for fuzzing: each takes arbitrary bytes and panics when a property fails.
//! `fuzz/fuzz_targets/<name>.rs` calls one per target under libFuzzer, and `tests/fuzz_corpus.rs`
//! replays every file of `fuzz/corpus/<name>/` through the same check under `cargo test`.
//!
//! Not part of the C API (cbindgen reads only src/ffi/); `pub` only so fuzz/ and tests/ can reach
//! it. A new target is a module here with its entry in `TARGETS`, a `fuzz/fuzz_targets/<name>.rs`
//! (with its `[[bin]]` in fuzz/Cargo.toml) and a `fuzz/corpus/<name>/` of seeds.

mod decoder;
mod deflate;
mod handshake;
mod options;
mod outbox;

pub use decoder::decoder;
pub use deflate::deflate;
pub use handshake::handshake;
pub use options::options;
pub use outbox::outbox;

/// A check: panics when a property fails for this input.
pub type Check = fn(&[u8]);

/// Every target: its name (of its fuzz target and corpus directory) and its check.
pub const TARGETS: &[(&str, Check)] =
    &[("handshake", handshake), ("options", options), ("deflate", deflate), ("decoder", decoder), ("outbox", outbox)];

/// Reads the fuzzer's bytes as a few parameters and then the data; past the end it reads zeros,
/// so every input is a valid one.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }

    fn byte(&mut self) -> u8 {
        let b = self.data.first().copied().unwrap_or(0);
        self.data = self.data.get(1..).unwrap_or(&[]);
        b
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// Up to `n` bytes.
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// The data as pieces, each a 16-bit little-endian length and that many bytes.
    fn pieces(mut self) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        while !self.data.is_empty() {
            let n = self.u16() as usize;
            out.push(self.take(n));
        }
        out
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// Chunk sizes drawn from a seed: the same seed gives the same sizes. The seed's low 4 bits set
/// the largest size (1 to 2^12 bytes), the rest seed a xorshift generator.
struct Chunks {
    state: u32,
    min: usize,
    max: usize,
}

impl Chunks {
    fn new(seed: u16) -> Chunks {
        Chunks { state: (seed as u32) << 8 | 0x9e, min: 1, max: 1 << (seed & 0xf).min(12) }
    }

    /// Everything at once (as far as the reader's buffer allows).
    fn whole() -> Chunks {
        Chunks { state: 1, min: 1, max: usize::MAX }
    }

    /// No chunk smaller than `min` bytes.
    fn at_least(self, min: usize) -> Chunks {
        Chunks { min, max: self.max.max(min), ..self }
    }

    fn next(&mut self) -> usize {
        if self.max == usize::MAX {
            return usize::MAX;
        }
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        self.min + self.state as usize % (self.max - self.min + 1)
    }

    /// `data` cut into pieces of the next sizes.
    fn split<'a>(&mut self, mut data: &'a [u8]) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let (head, rest) = data.split_at(self.next().min(data.len()));
            out.push(head);
            data = rest;
        }
        out
    }
}
