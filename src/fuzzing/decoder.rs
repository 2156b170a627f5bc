//! The frame decoder (`decoder::Decoder`) fed arbitrary server bytes, with and without
//! permessage-deflate, whole and in arbitrary chunks. Properties: it never panics; it holds at
//! most `max_message + 1` bytes plus a control frame's buffer after every call (and, without
//! deflate, about what arrived, whatever a header announces); a message is at most
//! `max_message` bytes and its text is valid UTF-8; nothing follows a close frame or an error;
//! and the output (messages, pings, pongs, the close, the error's kind and close code) is the
//! same whether the bytes come in one piece or in chunks, and whether the rest of a large data
//! frame is read straight into its message (`direct_room`/`direct_filled`, the plain-TCP path)
//! or fed.

use super::{Chunks, Input};
use crate::close_code::CloseCode;
use crate::decoder::{DecodeError, Decoded, Decoder, Violation};
use crate::deflate::Params;

/// A control frame's buffer: 125 bytes, grown geometrically to 128; a little room over that.
const CONTROL_BUFFER: usize = 256;

/// The limits an input may pick (bits 2-3 of its flags): a small one from the input, the
/// default `max_message_size`, and the two largest (a C caller may pass UINT64_MAX).
fn limit(pick: u8, small: u16) -> usize {
    match pick & 3 {
        0 => small as usize,
        1 => 64 << 20,
        2 => usize::MAX - 1,
        _ => usize::MAX,
    }
}

type DecodeResult = Result<(), DecodeError>;

/// How one run ended: everything decoded, then the error (kind and close code) if any.
type Outcome = (Vec<Decoded>, Option<(Violation, CloseCode)>);

/// Input: flags (bit 0 permessage-deflate negotiated, bit 1 server_no_context_takeover, bits 2-3
/// the limit), a 16-bit small limit, a 16-bit chunking seed, then the server's bytes.
pub fn decoder(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let max = limit(flags >> 2, input.u16());
    let seed = input.u16();
    let bytes = input.rest();
    let deflate = (flags & 1 != 0).then(|| Params {
        server_no_context_takeover: flags & 2 != 0,
        ..crate::deflate::accept("permessage-deflate").unwrap()
    });
    let whole = decode(max, deflate, bytes, Chunks::whole(), None);
    let chunked = decode(max, deflate, bytes, Chunks::new(seed), None);
    assert_eq!(whole, chunked, "the output depends on the chunking (seed {}, limit {})", seed, max);
    // Direct reads whenever a frame has at least 1..=16 bytes to come (the connection asks for
    // 32 KiB; a small minimum reaches the same code with small inputs).
    let direct = decode(max, deflate, bytes, Chunks::new(seed), Some(1 + (seed as usize >> 12)));
    assert_eq!(whole, direct, "direct reads change the output (seed {}, limit {})", seed, max);
}

/// Hands `piece` to the decoder as the connection does: straight into the message while
/// `direct_room(min)` offers room, the rest through `feed`.
fn give(d: &mut Decoder, mut piece: &[u8], direct_min: Option<usize>, out: &mut impl FnMut(Decoded)) -> DecodeResult {
    while let Some(room) = direct_min.and_then(|min| d.direct_room(min)) {
        if piece.is_empty() {
            return Ok(());
        }
        let n = room.len().min(piece.len());
        for (slot, b) in room[..n].iter_mut().zip(piece) {
            slot.write(*b);
        }
        piece = &piece[n..];
        d.direct_filled(n, out)?;
    }
    if piece.is_empty() {
        return Ok(());
    }
    d.feed(piece, out)
}

/// Feeds `bytes` in pieces of the chunking's sizes, checking each call, and collects the outcome.
fn decode(max: usize, deflate: Option<Params>, bytes: &[u8], mut chunks: Chunks, direct_min: Option<usize>) -> Outcome {
    let mut d = Decoder::new(max, deflate);
    let mut got = Vec::new();
    let mut error = None;
    let mut arrived = 0usize;
    for piece in chunks.split(bytes) {
        let before = got.len();
        let done = error.is_some() || d.closed();
        let result = give(&mut d, piece, direct_min, &mut |x| got.push(x));
        arrived += piece.len();
        let held = d.held();
        assert!(held <= max.saturating_add(1 + CONTROL_BUFFER), "holds {} bytes for a limit of {}", held, max);
        if deflate.is_none() {
            // Memory follows the bytes, not the announced length: the buffer at most doubles
            // what it holds (64 KiB at first) for the bytes arriving.
            let bound = 2 * arrived + 64 * 1024 + CONTROL_BUFFER;
            assert!(held <= bound, "holds {} bytes after {} arrived", held, arrived);
        }
        if done {
            assert!(result.is_ok() && got.len() == before, "output after the close frame or an error");
        }
        if let Err(e) = result {
            assert!(error.is_none(), "a second error");
            let want = match e.kind {
                // INVALID_PAYLOAD: corrupt compressed data
                Violation::Protocol => [CloseCode::PROTOCOL_ERROR, CloseCode::INVALID_PAYLOAD].as_slice(),
                Violation::Utf8 => &[CloseCode::INVALID_PAYLOAD],
                Violation::TooBig => &[CloseCode::TOO_BIG],
            };
            assert!(want.contains(&e.close_code), "{:?} with close code {}", e.kind, e.close_code);
            assert!(!e.detail.is_empty());
            error = Some((e.kind, e.close_code));
        }
    }
    for (i, item) in got.iter().enumerate() {
        match item {
            Decoded::Message { text, data } => {
                assert!(data.len() <= max, "a message of {} bytes for a limit of {}", data.len(), max);
                assert!(!text || std::str::from_utf8(data).is_ok(), "text that is not UTF-8");
            }
            Decoded::Ping(p) | Decoded::Pong(p) => assert!(p.len() <= 125),
            Decoded::Close(..) => assert_eq!(i, got.len() - 1, "output after the close frame"),
        }
    }
    assert_eq!(d.closed(), matches!(got.last(), Some(Decoded::Close(..))));
    (got, error)
}
