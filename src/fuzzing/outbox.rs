//! The outgoing queue (`outbox::Outbox`) driven by an arbitrary sequence of sends, pings, pongs,
//! closes and partial writes, as the I/O driver would (no send after our close; a write never
//! reports more bytes than the slices held). Properties: every send's result is reported exactly
//! once, in order, when its last byte is written; the bytes written parse back into exactly the
//! frames queued (masked, final, a data frame per send carrying its data, compressed when
//! negotiated, a ping per ping, pongs carrying requested payloads, our close last and only once);
//! at most `MAX_WAITING_PONGS` pongs wait (plus one partly written); `queued_bytes` is the payload
//! of the frames queued, and 0 once all is written.

use std::io::IoSlice;

use super::Input;
use crate::close_code::CloseCode;
use crate::deflate::{Inflater, Params};
use crate::frame::apply_mask;
use crate::outbox::{Outbox, MAX_BATCH, MAX_WAITING_PONGS};

/// A frame as the server reads it.
struct Frame {
    first: u8,
    payload: Vec<u8>,
}

/// Parses whole client frames from the front of `bytes`; returns them and the bytes used.
fn parse(mut bytes: &[u8]) -> (Vec<Frame>, usize) {
    let start = bytes.len();
    let mut frames = Vec::new();
    while bytes.len() >= 2 {
        assert_eq!(bytes[1] & 0x80, 0x80, "a client frame is masked");
        let (len, at) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 if bytes.len() >= 10 => (u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize, 10),
            126 | 127 => break,
            n => (n as usize, 2),
        };
        if bytes.len() < at + 4 + len {
            break;
        }
        let mask: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        let mut payload = bytes[at + 4..at + 4 + len].to_vec();
        apply_mask(&mut payload, mask);
        frames.push(Frame { first: bytes[0], payload });
        bytes = &bytes[at + 4 + len..];
    }
    (frames, start - bytes.len())
}

/// The unwritten bytes the outbox offers for one writev.
fn pending(outbox: &Outbox<u32>) -> Vec<u8> {
    let mut slices = [IoSlice::new(&[]); 2 * MAX_BATCH];
    let count = outbox.slices(&mut slices);
    slices[..count].iter().flat_map(|s| s.iter().copied()).collect()
}

/// The server's view of our side: the bytes written so far and what they must hold.
struct Checker {
    /// Written bytes not yet parsed (the frame partly written).
    partial: Vec<u8>,
    /// What each send carried, in order, and the next result to be reported.
    sent: Vec<(bool, Vec<u8>)>,
    reported: u32,
    /// Data frames read so far.
    messages: usize,
    pings: usize,
    pongs_asked: Vec<Vec<u8>>,
    pongs: usize,
    close_asked: Option<(CloseCode, String)>,
    close_seen: bool,
    inflater: Option<Inflater>,
}

impl Checker {
    /// `n` bytes of `offered` were written, and `done` are the (result, payload length) pairs
    /// the outbox reported for them.
    fn written(&mut self, offered: &[u8], n: usize, done: &[(Option<u32>, usize)]) {
        self.partial.extend_from_slice(&offered[..n]);
        let (frames, used) = parse(&self.partial);
        self.partial.drain(..used);
        assert_eq!(frames.len(), done.len(), "frames finished by the write and frames reported differ");
        for (frame, &(result, len)) in frames.iter().zip(done) {
            assert!(!self.close_seen, "a frame after our close");
            assert_eq!(frame.first & 0x80, 0x80, "every frame is final");
            assert_eq!(frame.first & 0x30, 0, "no RSV2/RSV3");
            assert_eq!(frame.payload.len(), len, "reported payload length");
            let opcode = frame.first & 0x0f;
            match opcode {
                1 | 2 => {
                    assert_eq!(result, Some(self.reported), "send results in order, each once");
                    let (text, data) = &self.sent[self.messages];
                    assert_eq!(opcode == 1, *text);
                    let got = if frame.first & 0x40 != 0 {
                        let inflater = self.inflater.as_mut().expect("RSV1 only when negotiated");
                        let mut out = Vec::new();
                        inflater.inflate(&frame.payload, &mut out, usize::MAX).expect("inflates");
                        inflater.finish(&mut out, usize::MAX).expect("inflates");
                        out
                    } else {
                        frame.payload.clone()
                    };
                    assert_eq!(&got, data, "a message's bytes");
                    self.reported += 1;
                    self.messages += 1;
                }
                _ => {
                    assert_eq!(result, None, "a control frame has no result");
                    assert_eq!(frame.first & 0x40, 0, "RSV1 on a control frame");
                    match opcode {
                        9 => self.pings += 1,
                        0xA => {
                            assert!(self.pongs_asked.contains(&frame.payload), "a pong nobody asked for");
                            self.pongs += 1;
                        }
                        8 => {
                            let (code, reason) = self.close_asked.as_ref().expect("a close we did not ask for");
                            let want = [&code.to_be_bytes()[..], reason.as_bytes()].concat();
                            assert_eq!(frame.payload, want);
                            self.close_seen = true;
                        }
                        _ => panic!("opcode {}", opcode),
                    }
                }
            }
        }
    }
}

/// Input: flags (bit 0 permessage-deflate, bit 1 client_no_context_takeover), then operations,
/// each a byte (its value mod 6: send, ping, pong, close, a partial write, a full write) and its
/// arguments (a send: a length byte, 0-127 times 8 bytes, 128-249 times 512, 250-255 just over
/// 64 KiB, the kind from the op byte's bit 7; a pong: a length byte mod 126; a close: a reason length mod 124; a partial write:
/// a 16-bit count).
pub fn outbox(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let deflate = (flags & 1 != 0).then(|| Params {
        client_no_context_takeover: flags & 2 != 0,
        ..crate::deflate::accept("permessage-deflate").unwrap()
    });
    let mut outbox: Outbox<u32> = Outbox::new(deflate);
    let mut check = Checker {
        partial: Vec::new(),
        sent: Vec::new(),
        reported: 0,
        messages: 0,
        pings: 0,
        pongs_asked: Vec::new(),
        pongs: 0,
        close_asked: None,
        close_seen: false,
        inflater: deflate
            .map(|p| Inflater::new(&Params { server_no_context_takeover: p.client_no_context_takeover, ..p })),
    };
    let mut pings = 0;
    let mut counter = 0u8;
    while !input.is_empty() {
        let op = input.byte();
        match op % 6 {
            0 => {
                let n = input.byte() as usize;
                // Mostly short; some with a 16-bit length; a few with a 64-bit one.
                let len = match n {
                    0..=127 => n * 8,
                    128..=249 => (n - 128) * 512,
                    _ => 65536 + (n - 250) * 8,
                };
                if outbox.can_write() {
                    counter = counter.wrapping_add(1);
                    let text = op & 0x80 != 0;
                    let bytes: Vec<u8> =
                        (0..len).map(|i| if text { b'a' + (i % 26) as u8 } else { counter ^ i as u8 }).collect();
                    check.sent.push((text, bytes.clone()));
                    outbox.send(text, bytes, check.sent.len() as u32 - 1);
                }
            }
            1 => {
                if outbox.can_write() {
                    pings += 1;
                }
                outbox.ping();
            }
            2 => {
                let payload = vec![counter; input.byte() as usize % 126];
                counter = counter.wrapping_add(1);
                if outbox.can_write() {
                    check.pongs_asked.push(payload.clone());
                }
                outbox.pong(payload);
            }
            3 => {
                let reason = "r".repeat(input.byte() as usize % 124);
                if check.close_asked.is_none() {
                    check.close_asked = Some((CloseCode::NORMAL, reason.clone()));
                }
                outbox.close(CloseCode::NORMAL, &reason);
                assert!(!outbox.can_write());
            }
            op => {
                let offered = pending(&outbox);
                let n = if op == 4 { (input.u16() as usize).min(offered.len()) } else { offered.len() };
                write(&mut outbox, &mut check, &offered, n);
            }
        }
        invariants(&outbox, &check);
    }
    while !outbox.is_empty() {
        let offered = pending(&outbox);
        write(&mut outbox, &mut check, &offered, offered.len());
        invariants(&outbox, &check);
    }
    assert_eq!(outbox.queued_bytes(), 0, "queue accounting after everything was written");
    assert!(check.partial.is_empty(), "a frame left half written");
    assert_eq!(check.reported as usize, check.sent.len(), "every send reported");
    assert_eq!(check.pings, pings, "a frame per ping");
    assert!(check.pongs <= check.pongs_asked.len());
    assert_eq!(check.close_seen, check.close_asked.is_some());
}

fn write(outbox: &mut Outbox<u32>, check: &mut Checker, offered: &[u8], n: usize) {
    let mut done = Vec::new();
    outbox.written(n, &mut |result, len| done.push((result, len)));
    check.written(offered, n, &done);
}

/// What is queued: whole frames after the partly written one's written part; at most
/// `MAX_WAITING_PONGS` pongs waiting (one more partly written); `queued_bytes` their payload.
fn invariants(outbox: &Outbox<u32>, check: &Checker) {
    let queued = [&check.partial[..], &pending(outbox)].concat();
    let (frames, used) = parse(&queued);
    assert_eq!(used, queued.len(), "the queue holds whole frames");
    let pongs = frames.iter().filter(|f| f.first & 0x0f == 0xA).count();
    assert!(pongs <= MAX_WAITING_PONGS + 1, "{} pongs waiting", pongs);
    let payload: usize = frames.iter().map(|f| f.payload.len()).sum();
    if frames.len() < MAX_BATCH {
        assert_eq!(outbox.queued_bytes(), payload, "queued_bytes");
    } else {
        assert!(outbox.queued_bytes() >= payload, "queued_bytes");
    }
    assert_eq!(outbox.is_empty(), frames.is_empty());
}
