//! permessage-deflate (RFC 7692): the offer we make, the check of the server's answer, and the
//! compressor and decompressor of one connection.
//!
//! We offer `client_max_window_bits` (no value) so a server may shrink our window to save its
//! memory, and accept every parameter a server may answer with. zlib cannot compress with a
//! 256-byte window, so when a server asks for `client_max_window_bits=8` we send our messages
//! uncompressed (RSV1 clear), which RFC 7692 allows; we still decompress the server's.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The `Sec-WebSocket-Extensions` value of our request.
pub const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// The empty stored block every compressed message ends with; removed by the sender (§7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What was negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: u8,
    pub client_max_window_bits: u8,
}

/// Checks the server's answer (all its Sec-WebSocket-Extensions values, comma-joined) to our
/// offer. The error names what we cannot accept.
pub fn accept(answer: &str) -> Result<Params, String> {
    let mut params: Option<Params> = None;
    for extension in answer.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let mut parts = extension.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        if !name.eq_ignore_ascii_case("permessage-deflate") {
            return Err(format!("the server chose extension \"{}\", which was not offered", name));
        }
        if params.is_some() {
            return Err("the server answered permessage-deflate more than once".into());
        }
        params = Some(parse_params(parts)?);
    }
    params.ok_or_else(|| "the Sec-WebSocket-Extensions answer is empty".into())
}

fn parse_params<'a>(parts: impl Iterator<Item = &'a str>) -> Result<Params, String> {
    let mut p = Params {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    let mut seen: Vec<String> = Vec::new();
    for part in parts {
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (part, None),
        };
        let lower = name.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Err(format!("permessage-deflate parameter \"{}\" appears twice", name));
        }
        seen.push(lower.clone());
        match (lower.as_str(), value) {
            ("server_no_context_takeover", None) => p.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => p.client_no_context_takeover = true,
            ("server_no_context_takeover" | "client_no_context_takeover", Some(_)) => {
                return Err(format!("permessage-deflate parameter \"{}\" takes no value", name))
            }
            ("server_max_window_bits", v) => p.server_max_window_bits = window_bits(name, v)?,
            ("client_max_window_bits", v) => p.client_max_window_bits = window_bits(name, v)?,
            _ => return Err(format!("permessage-deflate parameter \"{}\" is unknown", name)),
        }
    }
    Ok(p)
}

fn window_bits(name: &str, value: Option<&str>) -> Result<u8, String> {
    let Some(value) = value else {
        return Err(format!("permessage-deflate parameter \"{}\" needs a value in the answer", name));
    };
    match value.parse::<u8>() {
        Ok(bits @ 8..=15) if !value.starts_with('0') => Ok(bits),
        _ => Err(format!("permessage-deflate parameter {}={} is not a number from 8 to 15", name, value)),
    }
}

/// Compresses our messages. Created on the first send (zlib's state is ~300 KiB: idle
/// connections should not pay for it).
pub struct Deflater {
    z: Option<Compress>,
    window_bits: u8,
    reset_each: bool,
}

impl Deflater {
    pub fn new(p: &Params) -> Deflater {
        Deflater { z: None, window_bits: p.client_max_window_bits, reset_each: p.client_no_context_takeover }
    }

    /// False when the negotiated window is too small for zlib: messages then go uncompressed.
    pub fn enabled(&self) -> bool {
        self.window_bits >= 9
    }

    /// Compresses one whole message.
    pub fn compress(&mut self, input: &[u8]) -> Vec<u8> {
        let bits = self.window_bits;
        let z = self.z.get_or_insert_with(|| Compress::new_with_window_bits(Compression::default(), false, bits));
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        let start_in = z.total_in();
        loop {
            let consumed = (z.total_in() - start_in) as usize;
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(4096));
            }
            // Sync flush ends the output on a byte boundary with the empty stored block.
            z.compress_vec(&input[consumed..], &mut out, FlushCompress::Sync)
                .expect("deflate with valid state cannot fail");
            let consumed = (z.total_in() - start_in) as usize;
            // Done when all input went in and zlib left room: the flush is complete.
            if consumed == input.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if out.is_empty() {
            // zlib writes nothing for an empty message right after a flush; the receiver appends
            // the tail, so the one byte 0x00 makes that an empty stored block (§7.2.3.6).
            out.push(0);
        }
        if self.reset_each {
            z.reset();
        }
        out
    }
}

/// Why inflating failed.
#[derive(Debug, PartialEq, Eq)]
pub enum InflateError {
    /// The message grew past the limit (we stopped there).
    TooBig,
    Corrupt(String),
}

/// Decompresses the server's messages, piece by piece as frames arrive, never past a limit.
pub struct Inflater {
    z: Option<Decompress>,
    reset_each: bool,
    /// The current message hit a final deflate block: the rest of its bytes are ignored.
    ended: bool,
}

impl Inflater {
    pub fn new(p: &Params) -> Inflater {
        Inflater { z: None, reset_each: p.server_no_context_takeover, ended: false }
    }

    /// Inflates one piece of a message's payload onto `out`, failing once `out` would pass
    /// `limit` bytes.
    pub fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        if self.ended {
            return Ok(());
        }
        // A 15-bit window decodes data from any smaller window too.
        let z = self.z.get_or_insert_with(|| Decompress::new_with_window_bits(false, 15));
        let start_in = z.total_in();
        loop {
            let consumed = (z.total_in() - start_in) as usize;
            let spare = out.capacity() - out.len();
            if spare == 0 {
                if out.len() > limit {
                    return Err(InflateError::TooBig);
                }
                // Grow geometrically, but never past one byte over the limit: a zip bomb stops here.
                // Saturating: a limit of usize::MAX ("none") once wrapped to no room, and spun.
                let room = (limit.saturating_add(1) - out.len()).min(out.capacity().max(input.len() * 4).max(4096));
                out.reserve_exact(room);
            }
            let before_out = out.len();
            let status = match z.decompress_vec(&input[consumed..], out, FlushDecompress::None) {
                Ok(status) => status,
                // zlib may read past a full output to bad data; the limit was passed first, as
                // smaller reads would have seen.
                Err(_) if out.len() > limit => return Err(InflateError::TooBig),
                Err(e) => return Err(InflateError::Corrupt(e.to_string())),
            };
            if out.len() > limit {
                return Err(InflateError::TooBig);
            }
            let now_consumed = (z.total_in() - start_in) as usize;
            if status == Status::StreamEnd {
                // A final block ends this deflate stream; the next message starts a new one.
                self.ended = true;
                return Ok(());
            }
            let progress = now_consumed > consumed || out.len() > before_out;
            let room_left = out.capacity() > out.len();
            if now_consumed == input.len() && room_left {
                return Ok(());
            }
            if !progress && room_left {
                return Err(InflateError::Corrupt("no progress".into()));
            }
        }
    }

    /// Ends a message: feeds the stripped tail and resets when context takeover is off.
    pub fn finish(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        let result = self.inflate(&TAIL, out, limit);
        let ended = std::mem::take(&mut self.ended);
        if result.is_ok() && (self.reset_each || ended) {
            if let Some(z) = &mut self.z {
                z.reset(false);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &str) -> Result<Params, String> {
        accept(s)
    }

    #[test]
    fn accepts_valid_answers() {
        let p = params("permessage-deflate").unwrap();
        assert_eq!((p.server_max_window_bits, p.client_max_window_bits), (15, 15));
        let p = params("permessage-deflate; server_no_context_takeover; client_max_window_bits=9").unwrap();
        assert!(p.server_no_context_takeover && !p.client_no_context_takeover);
        assert_eq!(p.client_max_window_bits, 9);
        assert_eq!(params("Permessage-Deflate; server_max_window_bits=\"12\"").unwrap().server_max_window_bits, 12);
    }

    #[test]
    fn rejects_bad_answers_with_the_cause() {
        let cases = [
            ("x-foo", "\"x-foo\", which was not offered"),
            ("permessage-deflate, permessage-deflate", "more than once"),
            ("permessage-deflate; foo", "\"foo\" is unknown"),
            ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", "appears twice"),
            ("permessage-deflate; server_max_window_bits=7", "not a number from 8 to 15"),
            ("permessage-deflate; server_max_window_bits=16", "not a number from 8 to 15"),
            ("permessage-deflate; server_max_window_bits=010", "not a number from 8 to 15"),
            ("permessage-deflate; server_max_window_bits", "needs a value"),
            ("permessage-deflate; client_max_window_bits", "needs a value"),
            ("permessage-deflate; client_no_context_takeover=1", "takes no value"),
        ];
        for (answer, want) in cases {
            let e = params(answer).unwrap_err();
            assert!(e.contains(want), "{}: {}", answer, e);
        }
    }

    fn roundtrip(p: &Params, messages: &[Vec<u8>]) {
        let (mut d, mut i) = (
            Deflater::new(p),
            Inflater::new(&Params { server_no_context_takeover: p.client_no_context_takeover, ..*p }),
        );
        for m in messages {
            let c = d.compress(m);
            let mut out = Vec::new();
            // Feed in small pieces, as frames arrive.
            for piece in c.chunks(7) {
                i.inflate(piece, &mut out, usize::MAX).unwrap(); // no limit: the host raised it to UINT64_MAX
            }
            i.finish(&mut out, usize::MAX).unwrap();
            assert_eq!(&out, m);
        }
    }

    #[test]
    fn compresses_and_inflates_with_and_without_context() {
        let msgs: Vec<Vec<u8>> = (0..50)
            .map(|n| format!("{{\"seq\":{},\"text\":\"hello hello hello\"}}", n).repeat(n % 7).into_bytes())
            .collect();
        let base = params("permessage-deflate").unwrap();
        roundtrip(&base, &msgs);
        roundtrip(&params("permessage-deflate; client_no_context_takeover").unwrap(), &msgs);
        roundtrip(&Params { client_max_window_bits: 9, ..base }, &msgs);
        let big: Vec<u8> = (0..300_000u32).map(|n| (n.wrapping_mul(2654435761) >> 13) as u8).collect();
        roundtrip(&base, &[big.clone(), big]);
    }

    #[test]
    fn stops_a_zip_bomb_at_the_limit() {
        let base = params("permessage-deflate").unwrap();
        let bomb = Deflater::new(&base).compress(&vec![0u8; 50 << 20]);
        assert!(bomb.len() < 100 << 10);
        let mut out = Vec::new();
        let mut i = Inflater::new(&base);
        assert_eq!(i.inflate(&bomb, &mut out, 1 << 20), Err(InflateError::TooBig));
        assert!(out.capacity() <= (1 << 20) + 1, "grew to {}", out.capacity());
    }

    #[test]
    fn no_limit_inflates() {
        let base = params("permessage-deflate").unwrap();
        let compressed = Deflater::new(&base).compress(b"hello hello hello");
        let mut out = Vec::new();
        let mut i = Inflater::new(&base);
        i.inflate(&compressed, &mut out, usize::MAX).unwrap();
        i.finish(&mut out, usize::MAX).unwrap();
        assert_eq!(out, b"hello hello hello");
    }

    #[test]
    fn corrupt_data_is_an_error() {
        let mut i = Inflater::new(&params("permessage-deflate").unwrap());
        let mut out = Vec::new();
        let r = i.inflate(&[0xff, 0xff, 0xff, 0xff, 0xff], &mut out, 1000).and_then(|_| i.finish(&mut out, 1000));
        assert!(matches!(r, Err(InflateError::Corrupt(_))), "{:?}", r);
    }

    #[test]
    fn eight_bit_window_sends_uncompressed() {
        let p = params("permessage-deflate; client_max_window_bits=8").unwrap();
        assert!(!Deflater::new(&p).enabled());
    }
}
