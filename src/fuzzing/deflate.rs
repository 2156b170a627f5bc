//! permessage-deflate: the check of the server's answer, and the bounded inflater fed arbitrary
//! server bytes.

use super::{Chunks, Input};
use crate::deflate::{accept, Deflater, InflateError, Inflater, Params};

/// Input: a selector byte (answer, inflate or round trip, by its value mod 3), then its data.
pub fn deflate(data: &[u8]) {
    let mut input = Input::new(data);
    match input.byte() % 3 {
        0 => answer(&String::from_utf8_lossy(input.rest())),
        1 => inflate(input),
        _ => round_trip(input),
    }
}

/// The answer we would send to say `p`.
fn render(p: &Params) -> String {
    let mut s = format!(
        "permessage-deflate; server_max_window_bits={}; client_max_window_bits={}",
        p.server_max_window_bits, p.client_max_window_bits
    );
    if p.server_no_context_takeover {
        s.push_str("; server_no_context_takeover");
    }
    if p.client_no_context_takeover {
        s.push_str("; client_no_context_takeover");
    }
    s
}

/// accept: deterministic and blind to ASCII case; what it accepts has window bits 8-15 and reads
/// back the same from its canonical form.
fn answer(text: &str) {
    let result = accept(text);
    assert_eq!(result, accept(text));
    let upper = accept(&text.to_ascii_uppercase());
    assert_eq!(result.as_ref().ok(), upper.as_ref().ok(), "case changed the answer to {:?}", text);
    match result {
        Ok(p) => {
            assert!(
                (8..=15).contains(&p.server_max_window_bits) && (8..=15).contains(&p.client_max_window_bits),
                "{:?}",
                p
            );
            assert_eq!(accept(&render(&p)), Ok(p));
        }
        Err(e) => assert!(!e.is_empty()),
    }
}

/// Limits an input may pick (bits 1-2 of its flags byte): a small one from the input, the
/// default `max_message_size`, and the two largest (a C caller may pass UINT64_MAX).
fn limit(pick: u8, small: u16) -> usize {
    match pick & 3 {
        0 => small as usize,
        1 => 64 << 20,
        2 => usize::MAX - 1,
        _ => usize::MAX,
    }
}

/// Input: flags (bit 0 server_no_context_takeover, bits 1-2 the limit), a 16-bit small limit, a
/// 16-bit chunking seed, then messages (16-bit length, payload). The inflater never holds more
/// than limit + 1 bytes, fails a message over the limit as TooBig, and inflates the same
/// whether each message comes whole or in chunks.
fn inflate(mut input: Input) {
    let flags = input.byte();
    let limit = limit(flags >> 1, input.u16());
    let seed = input.u16();
    let messages = input.pieces();
    let p =
        Params { server_no_context_takeover: flags & 1 != 0, ..crate::deflate::accept("permessage-deflate").unwrap() };
    let whole = inflate_all(&p, &messages, limit, Chunks::whole());
    let chunked = inflate_all(&p, &messages, limit, Chunks::new(seed));
    assert_eq!(whole, chunked, "inflating depends on the chunking (seed {})", seed);
}

#[derive(Debug, PartialEq)]
enum Inflated {
    Ok(Vec<u8>),
    TooBig,
    Corrupt,
}

/// Inflates each message, in chunks, until one fails (the connection would close there).
fn inflate_all(p: &Params, messages: &[&[u8]], limit: usize, mut chunks: Chunks) -> Vec<Inflated> {
    let bound = limit.saturating_add(1);
    let mut inflater = Inflater::new(p);
    let mut results = Vec::new();
    for message in messages {
        let mut out = Vec::new();
        let mut result = Ok(());
        for piece in chunks.split(message) {
            result = inflater.inflate(piece, &mut out, limit);
            assert!(out.capacity() <= bound, "holds {} bytes for a limit of {}", out.capacity(), limit);
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            result = inflater.finish(&mut out, limit);
            assert!(out.capacity() <= bound, "holds {} bytes for a limit of {}", out.capacity(), limit);
        }
        let inflated = match result {
            Ok(()) => {
                assert!(out.len() <= limit);
                Inflated::Ok(out)
            }
            Err(InflateError::TooBig) => Inflated::TooBig,
            Err(InflateError::Corrupt(_)) => Inflated::Corrupt,
        };
        let failed = !matches!(inflated, Inflated::Ok(_));
        results.push(inflated);
        if failed {
            break;
        }
    }
    results
}

/// Input: flags (bits 0-2 window bits 9-15, bit 3 client_no_context_takeover), a 16-bit chunking
/// seed, then messages. What the deflater makes of each, the inflater (with the same context
/// rule) gives back exactly, in chunks, with the limit at the message's own size.
fn round_trip(mut input: Input) {
    let flags = input.byte();
    let seed = input.u16();
    let messages = input.pieces();
    let p = Params {
        client_max_window_bits: 9 + (flags & 7).min(6),
        client_no_context_takeover: flags & 8 != 0,
        ..crate::deflate::accept("permessage-deflate").unwrap()
    };
    let mut deflater = Deflater::new(&p);
    assert!(deflater.enabled());
    let mut inflater = Inflater::new(&Params { server_no_context_takeover: p.client_no_context_takeover, ..p });
    let mut chunks = Chunks::new(seed);
    for message in messages {
        let compressed = deflater.compress(message);
        let mut out = Vec::new();
        for piece in chunks.split(&compressed) {
            inflater.inflate(piece, &mut out, message.len()).expect("inflates what we deflated");
        }
        inflater.finish(&mut out, message.len()).expect("inflates what we deflated");
        assert_eq!(out, message);
    }
}
