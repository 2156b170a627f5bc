//! The incoming half of the message layer (RFC 6455 §5, RFC 7692 §6), pure: bytes from the server
//! in, messages, control frames and protocol errors out. No I/O, no clock.
//!
//! ```ignore
//! let mut decoder = Decoder::new(max_message_size, deflate_params);
//! decoder.feed(bytes, &mut |decoded| match decoded { ... })?; // any chunking, same output
//! ```
//!
//! Payload bytes go straight from the input into the message being built (or into the
//! decompressor), so a frame is never buffered whole, UTF-8 and size limits fail as soon as the
//! bytes that break them arrive, and memory follows the bytes that arrived, never the length a
//! header announces: what it holds stays within `max_message_size` (+1 while inflating, + a control
//! frame's 125 bytes + a split header's 13). An idle decoder holds no buffers.
//!
//! For a fuzz target, what holds for any input: `feed` never panics and nothing is accepted
//! after an error; `held()` stays within `max_message + 1` plus a control frame's buffer (< 256)
//! after every call; a `Message` is never longer than `max_message` and its text is valid UTF-8;
//! the items and the error are the same however the input is split (compressed text with invalid
//! UTF-8 that also inflates past the limit or into corrupt data fails 1007 either way:
//! `inflate_failed`). The `decoder` fuzz target (src/fuzzing/decoder.rs) asserts these.

use std::io::Cursor;

use tungstenite::error::{Error as WsError, ProtocolError};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use crate::close_code::CloseCode;
use crate::deflate::{InflateError, Inflater, Params};
use crate::frame::{parse_close, MAX_HEADER};

/// What the server sent, in wire order.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole data message (decompressed, text checked as UTF-8).
    Message { text: bool, data: Vec<u8> },
    /// A ping: answer with a pong carrying this payload.
    Ping(Vec<u8>),
    /// A pong (the answer to our ping, or unsolicited).
    Pong(Vec<u8>),
    /// The server's close frame: (code, reason), 1005 when it had no code. The decoder ignores
    /// every byte after it.
    Close(CloseCode, String),
}

/// Which rule the server broke, for the error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    Protocol,
    Utf8,
    TooBig,
}

/// The server broke the protocol: what (the errMsg), which kind, and the close code to answer
/// with (1002 protocol, 1007 invalid data, 1009 too big).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub detail: String,
    pub kind: Violation,
    pub close_code: CloseCode,
}

/// The frame whose payload is arriving.
struct FrameIn {
    opcode: OpCode,
    is_final: bool,
    remaining: u64,
}

/// The data message being assembled.
struct MessageIn {
    text: bool,
    compressed: bool,
    data: Vec<u8>,
    /// Bytes received on the wire (compressed size when compressed).
    wire: usize,
    /// `data[..utf8_checked]` is known valid UTF-8 (text only).
    utf8_checked: usize,
}

/// Where the decoder stands after its input so far.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Open,
    /// The close frame arrived: the rest is ignored.
    Closed,
    /// An error was returned: the connection is over, the rest is ignored.
    Failed,
}

/// Decodes the server's side of one connection.
pub struct Decoder {
    max_message: usize,
    /// A frame header split across inputs.
    head: [u8; MAX_HEADER],
    head_len: usize,
    frame: Option<FrameIn>,
    message: Option<MessageIn>,
    control: Vec<u8>,
    inflater: Option<Inflater>,
    end: End,
}

fn violation(kind: Violation, close_code: CloseCode, detail: impl Into<String>) -> DecodeError {
    DecodeError { detail: detail.into(), kind, close_code }
}

fn protocol(detail: impl Into<String>) -> DecodeError {
    violation(Violation::Protocol, CloseCode::PROTOCOL_ERROR, format!("protocol error: {}", detail.into()))
}

impl Decoder {
    /// `max_message`: the largest message (after decompression) accepted; `deflate`: the
    /// negotiated permessage-deflate parameters, if any (RSV1 is a protocol error without).
    pub fn new(max_message: usize, deflate: Option<Params>) -> Decoder {
        Decoder {
            max_message,
            head: [0; MAX_HEADER],
            head_len: 0,
            frame: None,
            message: None,
            control: Vec::new(),
            inflater: deflate.map(|p| Inflater::new(&p)),
            end: End::Open,
        }
    }

    /// The close frame arrived.
    pub fn closed(&self) -> bool {
        self.end == End::Closed
    }

    /// Bytes of memory the decoder holds for a message or control frame in progress (for the
    /// memory bound; the inflater's own window is not counted).
    #[allow(dead_code)] // for the tests and fuzz targets
    pub fn held(&self) -> usize {
        self.message.as_ref().map_or(0, |m| m.data.capacity()) + self.control.capacity()
    }

    /// Decodes `data`, the next bytes from the server, handing each message and control frame
    /// to `out` in order. The output does not depend on how the input is split. After the close
    /// frame, or once an error was returned, further input is ignored.
    pub fn feed(&mut self, mut data: &[u8], out: &mut impl FnMut(Decoded)) -> Result<(), DecodeError> {
        while !data.is_empty() && self.end == End::Open {
            let used = match self.step(data, out) {
                Ok(used) => used,
                Err(e) => {
                    self.end = End::Failed;
                    self.message = None;
                    return Err(e);
                }
            };
            data = &data[used..];
        }
        Ok(())
    }

    /// Room to read the rest of an uncompressed data frame's payload straight into its message,
    /// saving the copy from the read buffer (a whole pass over a large message): the message's
    /// spare capacity, grown by the rule `feed` follows (memory follows the bytes that came), and
    /// never past the frame's end, so no byte of the next frame lands in it. None unless such a
    /// frame is in progress with at least `min` bytes to come. The caller writes bytes from the
    /// wire at its start and passes their count to `direct_filled`.
    pub fn direct_room(&mut self, min: usize) -> Option<&mut [std::mem::MaybeUninit<u8>]> {
        let frame = self.frame.as_ref().filter(|f| matches!(f.opcode, OpCode::Data(_)))?;
        let rest = frame.remaining;
        let m = self.message.as_mut().filter(|m| !m.compressed)?;
        if self.end != End::Open || rest < min as u64 {
            return None;
        }
        if m.data.capacity() - m.data.len() < min {
            m.data.reserve_exact(growth(m.data.len(), 0, rest));
        }
        let room = m.data.spare_capacity_mut();
        let len = room.len().min(usize::try_from(rest).unwrap_or(usize::MAX));
        Some(&mut room[..len])
    }

    /// `n` bytes from the wire were written at the start of what `direct_room` gave: they are
    /// the frame's payload, as if `feed` had been given them.
    pub fn direct_filled(&mut self, n: usize, out: &mut impl FnMut(Decoded)) -> Result<(), DecodeError> {
        let frame = self.frame.as_mut().expect("direct_room found a frame");
        let m = self.message.as_mut().expect("direct_room found a message");
        assert!(n as u64 <= frame.remaining && n <= m.data.capacity() - m.data.len());
        // SAFETY: the caller wrote `n` bytes at the start of the spare capacity (checked above
        // to hold them).
        unsafe { m.data.set_len(m.data.len() + n) };
        frame.remaining -= n as u64;
        let done = frame.remaining == 0;
        let checked = if m.text { check_utf8(m, false) } else { Ok(()) };
        let result = checked.and_then(|()| if done { self.end_frame(out) } else { Ok(()) });
        if result.is_err() {
            self.end = End::Failed;
            self.message = None;
        }
        result
    }

    /// Takes a header or a piece of payload from `data`; returns the bytes used.
    fn step(&mut self, data: &[u8], out: &mut impl FnMut(Decoded)) -> Result<usize, DecodeError> {
        let used = match &mut self.frame {
            None => {
                let used = self.read_header(data)?;
                if self.frame.as_ref().is_none_or(|f| f.remaining > 0) {
                    return Ok(used);
                }
                used
            }
            Some(frame) => {
                let n = (frame.remaining.min(data.len() as u64)) as usize;
                frame.remaining -= n as u64;
                let rest = frame.remaining;
                if matches!(frame.opcode, OpCode::Control(_)) {
                    self.control.extend_from_slice(&data[..n]);
                } else {
                    self.payload(&data[..n], rest)?;
                }
                if rest > 0 {
                    return Ok(n);
                }
                n
            }
        };
        self.end_frame(out)?;
        Ok(used)
    }

    /// Takes a frame header from `data` (completing a split one); returns the bytes used.
    fn read_header(&mut self, data: &[u8]) -> Result<usize, DecodeError> {
        let had = self.head_len;
        let parsed = if had == 0 {
            let mut cursor = Cursor::new(data);
            FrameHeader::parse(&mut cursor).map(|h| h.map(|(h, len)| (h, len, cursor.position() as usize)))
        } else {
            let take = (MAX_HEADER - had).min(data.len());
            self.head[had..had + take].copy_from_slice(&data[..take]);
            let mut cursor = Cursor::new(&self.head[..had + take]);
            FrameHeader::parse(&mut cursor).map(|h| h.map(|(h, len)| (h, len, cursor.position() as usize - had)))
        };
        match parsed {
            Ok(Some((header, len, used))) => {
                self.head_len = 0;
                self.start_frame(header, len)?;
                Ok(used)
            }
            Ok(None) => {
                // Incomplete: keep what we have (at most 13 bytes) for the next input.
                let take = (MAX_HEADER - had).min(data.len());
                if had == 0 {
                    self.head[..take].copy_from_slice(&data[..take]);
                }
                self.head_len = had + take;
                Ok(take)
            }
            Err(WsError::Protocol(ProtocolError::InvalidOpcode(op))) => {
                Err(protocol(format!("reserved opcode {}", op)))
            }
            Err(e) => Err(protocol(e.to_string())),
        }
    }

    /// Checks a new frame's header against RFC 6455 §5.2-5.5 and RFC 7692 §6.
    fn start_frame(&mut self, h: FrameHeader, len: u64) -> Result<(), DecodeError> {
        if h.rsv2 || h.rsv3 {
            return Err(protocol("reserved bits RSV2/RSV3 set"));
        }
        if h.mask.is_some() {
            return Err(protocol("the server sent a masked frame"));
        }
        match h.opcode {
            OpCode::Control(_) => {
                if !h.is_final {
                    return Err(protocol("fragmented control frame"));
                }
                if len > 125 {
                    return Err(protocol(format!("control frame of {} bytes (the limit is 125)", len)));
                }
                if h.rsv1 {
                    return Err(protocol("RSV1 set on a control frame"));
                }
                self.control.clear();
            }
            OpCode::Data(Data::Continue) => {
                if self.message.is_none() {
                    return Err(protocol("continuation frame with no message to continue"));
                }
                if h.rsv1 {
                    return Err(protocol("RSV1 set on a continuation frame"));
                }
            }
            OpCode::Data(kind) => {
                if self.message.is_some() {
                    return Err(protocol("a new message started before the previous one ended"));
                }
                if h.rsv1 && self.inflater.is_none() {
                    return Err(protocol("RSV1 set but no extension was negotiated"));
                }
                let text = matches!(kind, Data::Text);
                // Nothing is reserved for the announced length: memory follows the bytes (payload).
                self.message = Some(MessageIn { text, compressed: h.rsv1, data: Vec::new(), wire: 0, utf8_checked: 0 });
            }
        }
        if let (OpCode::Data(_), Some(m)) = (h.opcode, &mut self.message) {
            m.wire = m.wire.saturating_add(len.min(usize::MAX as u64) as usize);
            if m.wire > self.max_message {
                return Err(too_big(m.wire, self.max_message, ""));
            }
        }
        self.frame = Some(FrameIn { opcode: h.opcode, is_final: h.is_final, remaining: len });
        Ok(())
    }

    /// A piece of a data frame's payload; `rest` more bytes of the frame are announced.
    fn payload(&mut self, bytes: &[u8], rest: u64) -> Result<(), DecodeError> {
        let m = self.message.as_mut().expect("data frames belong to a message");
        if m.compressed {
            let inflater = self.inflater.as_mut().expect("compressed messages need the extension");
            if let Err(e) = inflater.inflate(bytes, &mut m.data, self.max_message) {
                return Err(inflate_failed(m, e, self.max_message));
            }
        } else {
            if m.data.capacity() - m.data.len() < bytes.len() {
                m.data.reserve_exact(growth(m.data.len(), bytes.len(), rest));
            }
            m.data.extend_from_slice(bytes);
        }
        if m.text {
            check_utf8(m, false)?;
        }
        Ok(())
    }

    fn end_frame(&mut self, out: &mut impl FnMut(Decoded)) -> Result<(), DecodeError> {
        let frame = self.frame.take().expect("a frame is in progress");
        match frame.opcode {
            OpCode::Control(Control::Ping) => out(Decoded::Ping(std::mem::take(&mut self.control))),
            OpCode::Control(Control::Pong) => out(Decoded::Pong(std::mem::take(&mut self.control))),
            OpCode::Control(Control::Close) => {
                let (code, reason) = parse_close(&self.control).map_err(|(detail, code)| {
                    let kind = if code == CloseCode::INVALID_PAYLOAD { Violation::Utf8 } else { Violation::Protocol };
                    violation(kind, code, format!("protocol error: {}", detail))
                })?;
                self.control = Vec::new();
                self.end = End::Closed; // nothing may follow a close frame
                out(Decoded::Close(code, reason));
            }
            OpCode::Control(Control::Reserved(op)) => return Err(protocol(format!("reserved opcode {}", op))),
            OpCode::Data(_) if frame.is_final => {
                let mut m = self.message.take().expect("data frames belong to a message");
                if m.compressed {
                    let inflater = self.inflater.as_mut().expect("compressed messages need the extension");
                    if let Err(e) = inflater.finish(&mut m.data, self.max_message) {
                        return Err(inflate_failed(&mut m, e, self.max_message));
                    }
                }
                if m.text {
                    check_utf8(&mut m, true)?;
                }
                out(Decoded::Message { text: m.text, data: m.data });
            }
            OpCode::Data(_) => {}
        }
        Ok(())
    }
}

/// How much to reserve for `arriving` bytes when `held` are in hand and the frame announces
/// `rest` more: what the frame still holds, but at most doubling what arrived so far (64 KiB at
/// first), so a header announcing 2^62 bytes reserves nothing it has not been sent.
fn growth(held: usize, arriving: usize, rest: u64) -> usize {
    const MIN_STEP: usize = 64 * 1024;
    let step = held.max(MIN_STEP) as u64;
    arriving.max(rest.saturating_add(arriving as u64).min(step) as usize)
}

fn too_big(size: usize, max: usize, what: &str) -> DecodeError {
    violation(
        Violation::TooBig,
        CloseCode::TOO_BIG,
        format!("message of at least {} bytes{} is larger than the limit of {}", size, what, max),
    )
}

/// The inflater stopped, past the limit or at corrupt data, with what it inflated so far in
/// `m.data`. Text is checked first, so invalid UTF-8 in those bytes fails 1007 however the input
/// was split: the inflater always stops at the same output (exactly limit + 1 bytes, or the bytes
/// before the corruption), and a split input may have inflated and checked them in an earlier
/// piece already. (Checking after would make it 1009, or corrupt data (kind Protocol), in one
/// piece and 1007 in small ones.) Like the fail-fast UTF-8 rule: the first violation in the
/// message's bytes decides.
fn inflate_failed(m: &mut MessageIn, e: InflateError, max: usize) -> DecodeError {
    if m.text {
        if let Err(invalid) = check_utf8(m, false) {
            return invalid;
        }
    }
    inflate_error(e, max)
}

fn inflate_error(e: InflateError, max: usize) -> DecodeError {
    match e {
        InflateError::TooBig => too_big(max.saturating_add(1), max, " after decompression"),
        InflateError::Corrupt(detail) => violation(
            Violation::Protocol,
            CloseCode::INVALID_PAYLOAD,
            format!("protocol error: corrupt compressed data ({})", detail),
        ),
    }
}

/// Checks the text received so far; incomplete trailing sequences wait for more bytes unless
/// the message ended.
fn check_utf8(m: &mut MessageIn, end: bool) -> Result<(), DecodeError> {
    match std::str::from_utf8(&m.data[m.utf8_checked..]) {
        Ok(_) => m.utf8_checked = m.data.len(),
        Err(e) if e.error_len().is_none() && !end => m.utf8_checked += e.valid_up_to(),
        Err(_) => return Err(violation(Violation::Utf8, CloseCode::INVALID_PAYLOAD, "server sent invalid UTF-8 text")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::Deflater;

    const FIN: u8 = 0x80;
    const RSV1: u8 = 0x40;
    const TEXT: u8 = 0x1;
    const BINARY: u8 = 0x2;
    const CONT: u8 = 0x0;
    const CLOSE: u8 = 0x8;
    const PING: u8 = 0x9;
    const PONG: u8 = 0xA;

    /// A server frame (unmasked), its length in the shortest encoding.
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![first];
        f.extend(length(payload.len() as u64));
        f.extend_from_slice(payload);
        f
    }

    fn length(len: u64) -> Vec<u8> {
        match len {
            0..=125 => vec![len as u8],
            126..=65535 => [&[126u8][..], &(len as u16).to_be_bytes()].concat(),
            _ => [&[127u8][..], &len.to_be_bytes()].concat(),
        }
    }

    fn deflate_params() -> Params {
        crate::deflate::accept("permessage-deflate").unwrap()
    }

    /// Compresses like a server would (context kept across calls of one `Deflater`).
    fn compressed(deflater: &mut Deflater, message: &[u8]) -> Vec<u8> {
        deflater.compress(message)
    }

    type Outcome = (Vec<Decoded>, Option<DecodeError>);

    /// Feeds `input` in pieces of `chunk` bytes and collects the output; stops at an error.
    fn decode(max: usize, deflate: Option<Params>, input: &[u8], chunk: usize) -> Outcome {
        let mut d = Decoder::new(max, deflate);
        let mut got = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            if let Err(e) = d.feed(piece, &mut |x| got.push(x)) {
                return (got, Some(e));
            }
        }
        (got, None)
    }

    fn whole(input: &[u8]) -> Outcome {
        decode(1 << 20, None, input, usize::MAX)
    }

    fn message(text: bool, data: &[u8]) -> Decoded {
        Decoded::Message { text, data: data.to_vec() }
    }

    /// The same outcome whatever the chunk size, and for every split into two pieces.
    fn same_for_every_chunking(max: usize, deflate: Option<Params>, input: &[u8]) -> Outcome {
        let want = decode(max, deflate, input, usize::MAX);
        for chunk in 1..=input.len().min(300) {
            assert_eq!(decode(max, deflate, input, chunk), want, "chunks of {}", chunk);
        }
        for at in 0..=input.len().min(2000) {
            let mut d = Decoder::new(max, deflate);
            let mut got = Vec::new();
            let r = d.feed(&input[..at], &mut |x| got.push(x)).and_then(|_| d.feed(&input[at..], &mut |x| got.push(x)));
            assert_eq!((got, r.err()), want, "split at {}", at);
        }
        want
    }

    /// Feeds `input` as the connection does on plain TCP: straight into the message whenever
    /// `direct_room(min)` offers room, else through `feed`; `step` bytes at most per call.
    fn decode_direct(max: usize, input: &[u8], step: usize, min: usize) -> (Outcome, usize) {
        let mut d = Decoder::new(max, None);
        let mut got = Vec::new();
        let (mut at, mut direct, mut most_held) = (0, 0, 0);
        while at < input.len() {
            let r = if let Some(room) = d.direct_room(min) {
                let n = room.len().min(step).min(input.len() - at);
                for (slot, b) in room[..n].iter_mut().zip(&input[at..at + n]) {
                    slot.write(*b);
                }
                at += n;
                direct += n;
                d.direct_filled(n, &mut |x| got.push(x))
            } else {
                let n = step.min(input.len() - at);
                at += n;
                d.feed(&input[at - n..at], &mut |x| got.push(x))
            };
            most_held = most_held.max(d.held());
            if let Err(e) = r {
                return ((got, Some(e)), direct);
            }
        }
        assert!(most_held <= max + 256, "held {} with a limit of {}", most_held, max);
        ((got, None), direct)
    }

    #[test]
    fn direct_reads_decode_like_feed() {
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let text = "\u{e9}".repeat(40_000); // two bytes each: odd steps split characters
        let mut input = frame(FIN | BINARY, &big);
        input.extend(frame(TEXT, &text.as_bytes()[..50_001]));
        input.extend(frame(FIN | PING, b"p"));
        input.extend(frame(FIN | CONT, &text.as_bytes()[50_001..]));
        input.extend(frame(FIN | BINARY, b"small"));
        let want = whole(&input);
        assert_eq!(want.0.len(), 4, "{:?}", want.1);
        for step in [1000usize, 4095, 65536, 70_001, usize::MAX] {
            let (got, direct) = decode_direct(1 << 20, &input, step, 1024);
            assert_eq!(got, want, "step {}", step);
            assert!(step == usize::MAX || direct > 100_000, "step {}: {} bytes read directly", step, direct);
        }
        // Invalid UTF-8 arriving directly fails as through feed; a message over the limit is
        // refused at its header, before any room is offered.
        let mut bad = text.as_bytes().to_vec();
        bad[60_000] = 0xff;
        let input = frame(FIN | TEXT, &bad);
        assert_eq!(decode_direct(1 << 20, &input, 4096, 1024).0, whole(&input));
        assert_eq!(decode_direct(1 << 20, &input, 4096, 1024).0 .1.unwrap().close_code, CloseCode::INVALID_PAYLOAD);
        let input = frame(FIN | BINARY, &big);
        let ((got, e), direct) = decode_direct(100_000, &input, 4096, 1024);
        assert!(got.is_empty() && e.unwrap().close_code == CloseCode::TOO_BIG && direct == 0);
    }

    #[test]
    fn every_length_encoding() {
        // 7-bit up to 125, 16-bit from 126 to 65535, 64-bit from 65536.
        for len in [0usize, 1, 124, 125, 126, 127, 65534, 65535, 65536, 65537, 200_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let input = frame(FIN | BINARY, &payload);
            let header = input.len() - len;
            assert_eq!(
                header,
                if len <= 125 {
                    2
                } else if len <= 65535 {
                    4
                } else {
                    10
                },
                "{}",
                len
            );
            assert_eq!(whole(&input), (vec![message(false, &payload)], None), "{}", len);
            // Header split at every byte.
            for chunk in 1..=header {
                assert_eq!(
                    decode(1 << 20, None, &input, chunk).0,
                    vec![message(false, &payload)],
                    "{} by {}",
                    len,
                    chunk
                );
            }
        }
    }

    #[test]
    fn fragments_with_control_frames_between() {
        let input = [
            frame(TEXT, b"Hel"),
            frame(FIN | PING, b"p1"),
            frame(CONT, b""),
            frame(FIN | PONG, b"p2"),
            frame(CONT, b"lo"),
            frame(FIN | PING, b""),
            frame(FIN | CONT, b"!"),
            frame(BINARY, &[1, 2]),
            frame(FIN | CONT, &[3]),
            frame(FIN | CLOSE, &[0x03, 0xe8, b'b', b'y', b'e']),
        ]
        .concat();
        let want = vec![
            Decoded::Ping(b"p1".to_vec()),
            Decoded::Pong(b"p2".to_vec()),
            Decoded::Ping(Vec::new()),
            message(true, b"Hello!"),
            message(false, &[1, 2, 3]),
            Decoded::Close(CloseCode::NORMAL, "bye".into()),
        ];
        assert_eq!(same_for_every_chunking(1 << 20, None, &input), (want, None));
    }

    #[test]
    fn protocol_errors_and_their_close_codes() {
        let long_ping = vec![0u8; 126];
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("continuation first", frame(FIN | CONT, b"x"), "continuation frame with no message"),
            ("new message inside one", [frame(TEXT, b"a"), frame(FIN | TEXT, b"b")].concat(), "new message started"),
            ("fragmented ping", frame(PING, b""), "fragmented control frame"),
            ("ping of 126 bytes", frame(FIN | PING, &long_ping), "control frame of 126 bytes"),
            ("RSV1 on a ping", frame(FIN | RSV1 | PING, b""), "RSV1 set on a control frame"),
            ("RSV1 without deflate", frame(FIN | RSV1 | TEXT, b"a"), "no extension was negotiated"),
            ("RSV2", frame(FIN | 0x20 | TEXT, b"a"), "RSV2/RSV3"),
            ("RSV3", frame(FIN | 0x10 | TEXT, b"a"), "RSV2/RSV3"),
            ("masked", vec![FIN | TEXT, 0x81, 1, 2, 3, 4, b'a' ^ 1], "masked frame"),
        ];
        for (name, input, want) in cases {
            let (got, e) = same_for_every_chunking(1 << 20, None, &input);
            let e = e.unwrap_or_else(|| panic!("{}: no error", name));
            assert!(got.is_empty(), "{}", name);
            assert_eq!((e.kind, e.close_code), (Violation::Protocol, CloseCode::PROTOCOL_ERROR), "{}", name);
            assert!(e.detail.contains(want), "{}: {}", name, e.detail);
        }
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            let e = whole(&frame(FIN | op, b"")).1.unwrap();
            assert_eq!(e.close_code, CloseCode::PROTOCOL_ERROR, "opcode {}", op);
            assert!(e.detail.contains("reserved opcode"), "{}", e.detail);
        }
    }

    #[test]
    fn utf8_split_at_every_byte() {
        let text = "aé€😀z".as_bytes(); // 1-, 2-, 3- and 4-byte sequences
        for at in 0..=text.len() {
            // Split across two frames of a message, and the whole across every chunking.
            let input = [frame(TEXT, &text[..at]), frame(FIN | CONT, &text[at..])].concat();
            assert_eq!(same_for_every_chunking(1 << 20, None, &input), (vec![message(true, text)], None), "at {}", at);
        }
        let invalid: [&[u8]; 7] = [
            &[0xff],
            &[0x80],
            &[0xc0, 0xaf],             // overlong '/'
            &[0xe0, 0x80, 0xaf],       // overlong
            &[0xed, 0xa0, 0x80],       // a surrogate
            &[0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
            &[0xce, 0xba, 0xe1, 0xbd], // ends inside a sequence (below: no more bytes come)
        ];
        for bad in invalid {
            let text = [b"ab", bad, b"cd"].concat();
            for at in 0..=text.len() {
                let input = [frame(TEXT, &text[..at]), frame(FIN | CONT, &text[at..])].concat();
                let (got, e) = same_for_every_chunking(1 << 20, None, &input);
                let e = e.unwrap_or_else(|| panic!("{:?} at {}: accepted", bad, at));
                assert!(got.is_empty());
                assert_eq!((e.kind, e.close_code), (Violation::Utf8, CloseCode::INVALID_PAYLOAD));
            }
        }
        // A sequence cut by the end of the message.
        let e = whole(&frame(FIN | TEXT, &[b'a', 0xe2, 0x82])).1.unwrap();
        assert_eq!(e.close_code, CloseCode::INVALID_PAYLOAD);
        // Invalid bytes fail at once, before the message ends (fail fast, Autobahn 6.4.x).
        let e = whole(&frame(TEXT, &[b'a', 0xff])).1.unwrap();
        assert_eq!(e.close_code, CloseCode::INVALID_PAYLOAD);
        let mut partial = frame(FIN | TEXT, &[b'a', 0xc0, b'b', b'c']);
        partial.truncate(4);
        assert_eq!(whole(&partial).1.unwrap().close_code, CloseCode::INVALID_PAYLOAD);
        // Binary messages are not checked.
        assert_eq!(whole(&frame(FIN | BINARY, &[0xff])).0, vec![message(false, &[0xff])]);
    }

    #[test]
    fn close_payload_rules() {
        let code = |c: u16, reason: &[u8]| frame(FIN | CLOSE, &[&c.to_be_bytes()[..], reason].concat());
        let wire = |c| CloseCode::from_wire(c).unwrap();
        let ok: Vec<(Vec<u8>, CloseCode, &str)> = vec![
            (frame(FIN | CLOSE, b""), CloseCode::NO_STATUS, ""),
            (code(1000, b""), wire(1000), ""),
            (code(1001, "bye é".as_bytes()), wire(1001), "bye é"),
            (code(1003, b""), wire(1003), ""),
            (code(1007, b""), wire(1007), ""),
            (code(1011, b""), wire(1011), ""),
            (code(3000, b""), wire(3000), ""),
            (code(4999, b""), wire(4999), ""),
            (code(1000, &[b'x'; 123]), wire(1000), std::str::from_utf8(&[b'x'; 123]).unwrap()),
        ];
        for (input, c, reason) in ok {
            assert_eq!(same_for_every_chunking(1 << 20, None, &input), (vec![Decoded::Close(c, reason.into())], None));
        }
        let bad: Vec<(Vec<u8>, CloseCode)> = vec![
            (frame(FIN | CLOSE, &[0x03]), CloseCode::PROTOCOL_ERROR),
            (code(0, b""), CloseCode::PROTOCOL_ERROR),
            (code(999, b""), CloseCode::PROTOCOL_ERROR),
            (code(1004, b""), CloseCode::PROTOCOL_ERROR),
            (code(1005, b""), CloseCode::PROTOCOL_ERROR),
            (code(1006, b""), CloseCode::PROTOCOL_ERROR),
            (code(1015, b""), CloseCode::PROTOCOL_ERROR),
            (code(1016, b""), CloseCode::PROTOCOL_ERROR),
            (code(2999, b""), CloseCode::PROTOCOL_ERROR),
            (code(5000, b""), CloseCode::PROTOCOL_ERROR),
            (code(1000, &[0xff]), CloseCode::INVALID_PAYLOAD),
            (code(1000, &[0xe2, 0x82]), CloseCode::INVALID_PAYLOAD),
        ];
        for (input, want) in bad {
            let e = whole(&input).1.unwrap_or_else(|| panic!("{:?} accepted", input));
            assert_eq!(e.close_code, want, "{:?}", input);
            assert_eq!(e.kind, if want == CloseCode::INVALID_PAYLOAD { Violation::Utf8 } else { Violation::Protocol });
        }
    }

    #[test]
    fn nothing_after_the_close_frame() {
        let input = [frame(FIN | CLOSE, b""), frame(FIN | TEXT, b"late"), vec![0xff; 20]].concat();
        let mut d = Decoder::new(1 << 20, None);
        let mut got = Vec::new();
        assert!(d.feed(&input, &mut |x| got.push(x)).is_ok());
        assert!(d.closed());
        assert!(d.feed(&frame(FIN | TEXT, b"later"), &mut |x| got.push(x)).is_ok());
        assert_eq!(got, vec![Decoded::Close(CloseCode::NO_STATUS, String::new())]);
        assert_eq!(same_for_every_chunking(1 << 20, None, &input).0, got);
    }

    #[test]
    fn an_error_ends_the_decoder() {
        let mut d = Decoder::new(1 << 20, None);
        let mut got = Vec::new();
        assert!(d.feed(&frame(FIN | CONT, b""), &mut |x| got.push(x)).is_err());
        assert!(d.feed(&frame(FIN | TEXT, b"a"), &mut |x| got.push(x)).is_ok());
        assert!(got.is_empty() && !d.closed());
    }

    #[test]
    fn oversize_messages_fail_with_1009_from_the_header() {
        let max = 1000;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("one frame", [&[FIN | BINARY], &length(1001)[..]].concat()),
            ("2^63 announced", [&[FIN | BINARY], &length(1 << 63)[..]].concat()),
            ("u64::MAX announced", [&[FIN | BINARY], &length(u64::MAX)[..]].concat()),
            ("fragments", [frame(TEXT, &[b'a'; 600]), [&[FIN | CONT], &length(401)[..]].concat()].concat()),
        ];
        for (name, input) in cases {
            let (got, e) = same_for_every_chunking(max, None, &input);
            let e = e.unwrap_or_else(|| panic!("{}: accepted", name));
            assert!(got.is_empty());
            assert_eq!((e.kind, e.close_code), (Violation::TooBig, CloseCode::TOO_BIG), "{}", name);
        }
        // Exactly the limit passes, in one frame or two.
        assert_eq!(decode(max, None, &frame(FIN | BINARY, &[7; 1000]), 100).0, vec![message(false, &[7; 1000])]);
        let two = [frame(BINARY, &[7; 500]), frame(FIN | CONT, &[7; 500])].concat();
        assert_eq!(decode(max, None, &two, 100).0, vec![message(false, &[7; 1000])]);
    }

    #[test]
    fn memory_follows_the_bytes_not_the_announced_length() {
        // A frame announcing 2^62 bytes under no limit: what is held stays near what arrived.
        let mut d = Decoder::new(usize::MAX, None);
        let mut out = |_: Decoded| panic!("nothing is complete");
        d.feed(&[[BINARY].as_slice(), &length(1 << 62)].concat(), &mut out).unwrap();
        assert_eq!(d.held(), 0);
        let piece = vec![0u8; 4096];
        let mut arrived = 0;
        for _ in 0..256 {
            d.feed(&piece, &mut out).unwrap();
            arrived += piece.len();
            assert!(d.held() <= (2 * arrived).max(64 * 1024) + piece.len(), "{} held for {}", d.held(), arrived);
        }
        assert_eq!(growth(0, 100, 1 << 62), 64 * 1024);
        assert_eq!(growth(1 << 20, 64 * 1024, u64::MAX), 1 << 20);
        assert_eq!(growth(0, 32, 0), 32);
        assert_eq!(growth(4 << 20, 65536, 1000), 66536);
        assert_eq!(growth(0, 1 << 20, 0), 1 << 20);
    }

    #[test]
    fn compressed_messages_across_frames_and_chunks() {
        let p = deflate_params();
        let mut server = Deflater::new(&p);
        let hello = compressed(&mut server, b"hello hello hello hello");
        let again = compressed(&mut server, b"hello hello hello hello"); // uses the context
        let empty = compressed(&mut server, b"");
        let (a, b) = hello.split_at(hello.len() / 2);
        let input = [
            frame(RSV1 | TEXT, a),
            frame(FIN | PING, b"x"),
            frame(FIN | CONT, b),
            frame(FIN | RSV1 | BINARY, &again),
            frame(FIN | TEXT, b"plain"),
            frame(FIN | RSV1 | TEXT, &empty),
        ]
        .concat();
        let want = vec![
            Decoded::Ping(b"x".to_vec()),
            message(true, b"hello hello hello hello"),
            message(false, b"hello hello hello hello"),
            message(true, b"plain"),
            message(true, b""),
        ];
        assert_eq!(same_for_every_chunking(1 << 20, Some(p), &input), (want, None));
        // RSV1 on a continuation frame, corrupt data, and invalid UTF-8 inside compressed text.
        let e = whole_deflate(&[frame(RSV1 | TEXT, a), frame(FIN | RSV1 | CONT, b)].concat()).unwrap();
        assert_eq!(e.close_code, CloseCode::PROTOCOL_ERROR);
        let e = whole_deflate(&frame(FIN | RSV1 | TEXT, &[0xff; 8])).unwrap();
        assert_eq!((e.kind, e.close_code), (Violation::Protocol, CloseCode::INVALID_PAYLOAD));
        let bad_text = compressed(&mut Deflater::new(&p), &[b'a', 0xff]);
        let e = whole_deflate(&frame(FIN | RSV1 | TEXT, &bad_text)).unwrap();
        assert_eq!((e.kind, e.close_code), (Violation::Utf8, CloseCode::INVALID_PAYLOAD));
    }

    /// What the decoder fuzz target's chunking property checks (seeds decoder/crash_invalid_text_*):
    /// compressed text with an invalid byte early that also inflates past the limit failed 1009
    /// when it came in one piece (the limit stopped the inflater before the text was checked) and
    /// 1007 in small pieces (the invalid byte was inflated and checked first). The same for text
    /// with an invalid byte followed by corrupt data: Protocol in one piece, Utf8 in small ones.
    #[test]
    fn invalid_text_wins_over_the_inflater_stopping_for_any_chunking() {
        let p = deflate_params();
        // Letters that compress little (5000 to about 3000 bytes, under the limit of 4000 on the
        // wire), so small pieces inflate a few bytes each.
        let mut seed = 1u32;
        let letters: Vec<u8> = (0..5000)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                b'a' + (seed >> 16) as u8 % 26
            })
            .collect();
        let text = [&[b'a', 0xff][..], &letters].concat();
        let over = frame(FIN | RSV1 | TEXT, &compressed(&mut Deflater::new(&p), &text));
        let (got, e) = same_for_every_chunking(4000, Some(p), &over);
        assert!(got.is_empty());
        let e = e.unwrap();
        assert_eq!((e.kind, e.close_code), (Violation::Utf8, CloseCode::INVALID_PAYLOAD), "{}", e.detail);
        // Valid text past the limit stays too big, and invalid text within it stays invalid.
        let valid = [&b"ab"[..], &letters].concat();
        let e = same_for_every_chunking(
            4000,
            Some(p),
            &frame(FIN | RSV1 | TEXT, &compressed(&mut Deflater::new(&p), &valid)),
        )
        .1
        .unwrap();
        assert_eq!((e.kind, e.close_code), (Violation::TooBig, CloseCode::TOO_BIG));
        let e = same_for_every_chunking(10_000, Some(p), &over).1.unwrap();
        assert_eq!((e.kind, e.close_code), (Violation::Utf8, CloseCode::INVALID_PAYLOAD));
        // Invalid text, then a block of the reserved type 3.
        let mut corrupt = compressed(&mut Deflater::new(&p), &text[..300]);
        corrupt.extend_from_slice(&[0, 0, 0xff, 0xff, 0xff, 0xff]);
        let e = same_for_every_chunking(1 << 20, Some(p), &frame(FIN | RSV1 | TEXT, &corrupt)).1.unwrap();
        assert_eq!((e.kind, e.close_code), (Violation::Utf8, CloseCode::INVALID_PAYLOAD), "{}", e.detail);
    }

    fn whole_deflate(input: &[u8]) -> Option<DecodeError> {
        decode(1 << 20, Some(deflate_params()), input, usize::MAX).1
    }

    #[test]
    fn a_zip_bomb_stops_at_the_limit() {
        let p = deflate_params();
        let max = 1 << 20;
        let bomb = compressed(&mut Deflater::new(&p), &vec![0u8; 50 << 20]);
        assert!(bomb.len() < 100 << 10);
        let input = frame(FIN | RSV1 | BINARY, &bomb);
        for chunk in [1 << 20, 4096, 1000] {
            let mut d = Decoder::new(max, Some(p));
            let mut result = Ok(());
            for piece in input.chunks(chunk) {
                result = d.feed(piece, &mut |_| panic!("the bomb is not delivered"));
                assert!(d.held() <= max + 1, "held {}", d.held());
                if result.is_err() {
                    break;
                }
            }
            let e = result.unwrap_err();
            assert_eq!((e.kind, e.close_code), (Violation::TooBig, CloseCode::TOO_BIG));
        }
        // Exactly the limit inflates.
        let fits = compressed(&mut Deflater::new(&p), &vec![0u8; max]);
        let (got, e) = decode(max, Some(p), &frame(FIN | RSV1 | BINARY, &fits), 777);
        assert!(e.is_none());
        assert!(matches!(&got[..], [Decoded::Message { data, .. }] if data.len() == max));
    }
}
