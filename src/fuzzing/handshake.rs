//! The handshake response parser fed arbitrary server bytes in arbitrary chunks. Properties: it
//! ends (each wait for readiness follows a WouldBlock, and every round makes progress), it reads
//! at most the 64 KiB head limit plus one read buffer, and the outcome (the request written, the
//! open with its headers, protocol, extensions and head length, or the failure) does not depend
//! on the chunking. An open keeps exactly the bytes read past the head as its tail (how many
//! depends on the chunking), its head is at most 64 KiB, and it reports only what was offered.

use std::ffi::CString;
use std::io::{self, Read, Write};

use super::{Chunks, Input};
use crate::deflate::Params;
use crate::error::{Code, Failure};
use crate::handshake::{Handshake, Upgrade};
use crate::options::parse_url;

/// The documented limit on a response head (handshake.rs).
const HEAD_LIMIT: usize = 64 * 1024;
/// `Handshake::advance` reads into a buffer this big, so it may read this much past the limit.
const READ_BUFFER: usize = 4096;
/// RFC 6455's example key; its accept value is `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=` (the seeds use it).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// Subprotocols an input may offer (bits 1-3 of its first byte).
const PROTOCOLS: [&str; 3] = ["chat", "superchat", "v2.json"];

/// What the client offered.
pub(super) struct Offer {
    pub protocols: Vec<String>,
    pub deflate: bool,
}

/// How a handshake run ended.
#[derive(Debug)]
pub(super) struct Outcome {
    pub request: Vec<u8>,
    pub result: Result<Open, Failure>,
    /// Bytes of the response the handshake read.
    pub read: usize,
}

#[derive(Debug, PartialEq)]
pub(super) struct Open {
    pub headers: Vec<(CString, CString)>,
    pub protocol: CString,
    pub extensions: String,
    pub deflate: Option<Params>,
    /// The head's length. The tail (what was read past it) depends on the chunking; `run`
    /// checks it is exactly the bytes that follow the head.
    pub head: usize,
}

/// Input: a flags byte (bit 0 offers permessage-deflate, bits 1-3 pick subprotocols, bit 4 pads
/// the head), a 16-bit chunking seed, a 16-bit pad length, then the server's bytes. The pad is a
/// header line of that many bytes after the status line, so small inputs reach the head limit.
pub fn handshake(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let seed = input.u16();
    let pad = input.u16() as usize;
    let mut response = input.rest().to_vec();
    if flags & 0x10 != 0 {
        let at = response.iter().position(|&b| b == b'\n').map_or(response.len(), |i| i + 1);
        let line = [&b"X-Pad: "[..], &vec![b'a'; pad], b"\r\n"].concat();
        response.splice(at..at, line);
    }
    let offer = Offer {
        protocols: PROTOCOLS
            .iter()
            .enumerate()
            .filter(|(i, _)| flags >> (i + 1) & 1 != 0)
            .map(|(_, p)| p.to_string())
            .collect(),
        deflate: flags & 1 != 0,
    };
    let whole = run(&offer, &response, Chunks::whole());
    // Each read parses the head again from its start: keep padded runs to a few dozen reads.
    let smallest = if flags & 0x10 != 0 { 2048 } else { 1 };
    let chunked = run(&offer, &response, Chunks::new(seed).at_least(smallest));
    // How much was read past the head, or before a failure showed, may differ.
    assert_eq!(
        (&whole.request, &whole.result),
        (&chunked.request, &chunked.result),
        "the outcome depends on the chunking (seed {})",
        seed
    );
    check(&offer, &response, &whole);
}

fn check(offer: &Offer, response: &[u8], outcome: &Outcome) {
    assert!(outcome.read <= HEAD_LIMIT + READ_BUFFER, "read {} bytes of the response", outcome.read);
    assert!(outcome.request.starts_with(b"GET / HTTP/1.1\r\n") && outcome.request.ends_with(b"\r\n\r\n"));
    match &outcome.result {
        Ok(open) => {
            assert!(open.head <= HEAD_LIMIT, "opened with a {}-byte head", open.head);
            let head = &response[..open.head];
            assert!(head.ends_with(b"\n\r\n") || head.ends_with(b"\n\n"), "the head ends before its blank line");
            assert!(open.headers.len() >= 3, "opened without Upgrade, Connection and Accept");
            let protocol = open.protocol.to_str().unwrap();
            assert!(protocol.is_empty() || offer.protocols.iter().any(|p| p == protocol), "unoffered {}", protocol);
            assert_eq!(open.deflate.is_some(), !open.extensions.is_empty());
            assert!(offer.deflate || open.extensions.is_empty(), "unoffered extension {}", open.extensions);
        }
        Err(f) => {
            assert_eq!(f.code, Code::Handshake, "{}", f.detail);
            assert!(f.detail.starts_with("handshake failed: "), "{}", f.detail);
        }
    }
}

/// Runs one handshake against `response`, delivered in chunks; the request is taken in chunks too.
pub(super) fn run(offer: &Offer, response: &[u8], mut chunks: Chunks) -> Outcome {
    let mut handshake = Handshake::new(upgrade(offer));
    let mut pipe = Pipe { response, sent: 0, read: 0, room: 0, request: Vec::new(), blocked: false };
    // Every round sends or takes at least one byte, or ends the handshake.
    let rounds = response.len() + 1024;
    for _ in 0..rounds {
        pipe.sent += chunks.next().min(response.len() - pipe.sent);
        pipe.room = chunks.next();
        pipe.blocked = false;
        let result = match handshake.advance(&mut pipe) {
            Ok(None) => {
                assert!(pipe.blocked, "advance waits for readiness though the stream never said WouldBlock");
                continue;
            }
            Ok(Some(o)) => {
                let head = pipe.read.checked_sub(o.tail.len()).expect("a tail longer than what was read");
                assert_eq!(o.tail, &response[head..pipe.read], "the tail is not what follows the head");
                Ok(Open {
                    headers: o.headers,
                    protocol: o.protocol,
                    extensions: o.extensions,
                    deflate: o.deflate,
                    head,
                })
            }
            Err(f) => Err(f),
        };
        return Outcome { request: pipe.request, result, read: pipe.read };
    }
    panic!("the handshake did not end within {} rounds", rounds);
}

/// The upgrade of ws://h/ with RFC 6455's example key and `offer`.
fn upgrade(offer: &Offer) -> Upgrade {
    let mut upgrade = Upgrade::with_key(&parse_url("ws://h/").expect("a valid url"), KEY.to_string());
    for p in &offer.protocols {
        upgrade.protocol(p.as_bytes()).expect("offered protocols are tokens, each once");
    }
    if offer.deflate {
        upgrade.offer_deflate();
    }
    upgrade
}

/// A socket whose server has sent `sent` bytes of `response` and takes `room` more request bytes;
/// past that it would block. Once the whole response was sent and read, the server closes.
struct Pipe<'a> {
    response: &'a [u8],
    sent: usize,
    read: usize,
    room: usize,
    request: Vec<u8>,
    /// It answered WouldBlock in this round.
    blocked: bool,
}

impl Read for Pipe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read == self.response.len() {
            return Ok(0);
        }
        if self.read == self.sent {
            self.blocked = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.sent - self.read);
        buf[..n].copy_from_slice(&self.response[self.read..self.read + n]);
        self.read += n;
        Ok(n)
    }
}

impl Write for Pipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            self.blocked = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        self.request.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
