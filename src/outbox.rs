//! The outgoing half of the message layer, pure: messages and control frames in, masked wire
//! bytes out (compressed when permessage-deflate was negotiated), and which sends were fully
//! written once the driver says how many bytes the socket took. No I/O.
//!
//! ```ignore
//! outbox.send(text, data, result);
//! let count = outbox.slices(&mut slices);          // up to MAX_BATCH frames for one writev
//! let n = stream.write_vectored(&slices[..count])?;
//! outbox.written(n, &mut |result, payload_len| ...); // each frame n finished, in order
//! ```

use std::collections::VecDeque;
use std::io::IoSlice;

use tungstenite::protocol::frame::coding::Control;

use crate::close_code::CloseCode;
use crate::deflate::{Deflater, Params};
use crate::frame::{Masked, OutFrame};

/// Frames gathered into one writev.
pub const MAX_BATCH: usize = 64;

/// Pongs that may wait to be written: each ping gets its own answer (Autobahn 2.10 sends 10
/// at once and wants 10), yet a ping flood stays bounded.
pub const MAX_WAITING_PONGS: usize = 16;

/// One queued frame and the result to report once it is written.
struct Queued<R> {
    frame: OutFrame,
    result: Option<R>,
    /// The answer to a ping (a newer ping may replace it while unstarted).
    pong: bool,
}

/// The frames of one connection waiting to be written, in the order they go out. `R` is what
/// a send reports when it was written (`ResultCb` in libws).
pub struct Outbox<R> {
    deflater: Option<Deflater>,
    queue: VecDeque<Queued<R>>,
    /// Payload bytes of `queue` (what `max_send_queue` bounds, with the driver's in-flight bytes).
    queued_bytes: usize,
    close_sent: bool,
}

impl<R> Outbox<R> {
    /// `deflate`: the negotiated permessage-deflate parameters, if any.
    pub fn new(deflate: Option<Params>) -> Outbox<R> {
        Outbox {
            deflater: deflate.map(|p| Deflater::new(&p)),
            queue: VecDeque::new(),
            queued_bytes: 0,
            close_sent: false,
        }
    }

    /// False once our close frame was queued: no more messages may go out.
    pub fn can_write(&self) -> bool {
        !self.close_sent
    }

    /// Payload bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues a message (compressed when negotiated and possible); `result` is reported when
    /// all of it was written.
    pub fn send(&mut self, text: bool, data: Vec<u8>, result: R) {
        let frame = match &mut self.deflater {
            Some(deflater) if deflater.enabled() => OutFrame::data(text, true, deflater.compress(&data)),
            _ => OutFrame::data(text, false, data),
        };
        self.push(frame, Some(result));
    }

    /// Queues a message `ws_send` masked as it copied it (unmasked again to be compressed when
    /// that was negotiated); `result` is reported when all of it was written.
    pub fn send_masked(&mut self, text: bool, data: Masked, result: R) {
        match &self.deflater {
            Some(deflater) if deflater.enabled() => self.send(text, data.into_plain(), result),
            _ => self.push(OutFrame::premasked(text, data), Some(result)),
        }
    }

    /// Queues a ping (the heartbeat); none after our close.
    pub fn ping(&mut self) {
        if !self.close_sent {
            self.push(OutFrame::control(Control::Ping, Vec::new()), None);
        }
    }

    /// Queues our close frame after everything already queued; the first close wins.
    pub fn close(&mut self, code: CloseCode, reason: &str) {
        if !self.close_sent {
            self.close_sent = true;
            self.push(OutFrame::close(code, reason), None);
        }
    }

    fn push(&mut self, frame: OutFrame, result: Option<R>) {
        self.queued_bytes += frame.payload.len();
        self.queue.push_back(Queued { frame, result, pong: false });
    }

    /// Queues the answer to a ping at the next frame boundary, after the pongs already waiting
    /// and ahead of queued messages; none after our close. At most `MAX_WAITING_PONGS` wait:
    /// past that a newer ping replaces the newest waiting pong (RFC 6455 §5.5.3 lets us answer
    /// only the most recent ping), so a peer flooding pings that never reads costs a few frames,
    /// not one per ping. A pong partly written is finished first.
    ///
    /// The waiting pongs sit together at the first unstarted position (0, or 1 behind a frame
    /// partly written): they are only ever put there, and only frames in front of them leave.
    pub fn pong(&mut self, payload: Vec<u8>) {
        if self.close_sent {
            return;
        }
        let first = match self.queue.front() {
            Some(q) if q.frame.started() => 1,
            _ => 0,
        };
        let waiting = self.queue.range(first..).take(MAX_WAITING_PONGS).take_while(|q| q.pong).count();
        let frame = OutFrame::control(Control::Pong, payload);
        self.queued_bytes += frame.payload.len();
        if waiting < MAX_WAITING_PONGS {
            self.queue.insert(first + waiting, Queued { frame, result: None, pong: true });
        } else {
            let newest = &mut self.queue[first + waiting - 1];
            self.queued_bytes -= newest.frame.payload.len();
            newest.frame = frame;
        }
    }

    /// Frames queued (control frames included).
    pub fn frames(&self) -> usize {
        self.queue.len()
    }

    /// Fills `slices` with the unwritten bytes of up to `slices.len() / 2` frames (header and
    /// payload of each, empty parts left out; pass `2 * MAX_BATCH` for a full batch) for one
    /// writev; returns how many it filled.
    pub fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let mut count = 0;
        for q in self.queue.iter().take(slices.len() / 2) {
            let (head, payload) = q.frame.remaining();
            for part in [head, payload] {
                if !part.is_empty() {
                    slices[count] = IoSlice::new(part);
                    count += 1;
                }
            }
        }
        count
    }

    /// Records that the first `n` bytes of what `slices` gave were written: each frame that
    /// is now whole leaves the queue and goes to `done` with its result (None for control
    /// frames) and payload length, in order. Frames with nothing left (empty) finish here too.
    pub fn written(&mut self, mut n: usize, done: &mut impl FnMut(Option<R>, usize)) {
        while let Some(q) = self.queue.front_mut() {
            let Some(rest) = q.frame.advance(n) else { break };
            n = rest;
            let q = self.queue.pop_front().expect("front exists");
            let len = q.frame.payload.len();
            self.queued_bytes -= len;
            done(q.result, len);
        }
    }

    /// The connection is over: the results of every queued send, in order.
    pub fn take_results(&mut self) -> impl Iterator<Item = R> + '_ {
        self.queued_bytes = 0;
        self.queue.drain(..).filter_map(|q| q.result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::Inflater;
    use crate::frame::apply_mask;

    /// A frame as the server reads it: first byte, mask key, unmasked payload.
    #[derive(Debug, PartialEq)]
    struct Wire {
        first: u8,
        header_len: usize,
        mask: [u8; 4],
        masked: Vec<u8>,
        payload: Vec<u8>,
    }

    /// Parses our frames back (by hand, independent of the code under test).
    fn parse(mut bytes: &[u8]) -> Vec<Wire> {
        let mut frames = Vec::new();
        while !bytes.is_empty() {
            let first = bytes[0];
            assert_eq!(bytes[1] & 0x80, 0x80, "client frames are masked");
            let (len, at) = match bytes[1] & 0x7f {
                126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
                127 => (u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize, 10),
                n => (n as usize, 2),
            };
            let mask: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
            let masked = bytes[at + 4..at + 4 + len].to_vec();
            let payload: Vec<u8> = masked.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
            frames.push(Wire { first, header_len: at + 4, mask, masked, payload });
            bytes = &bytes[at + 4 + len..];
        }
        frames
    }

    /// A finished frame: its result, payload length, and the bytes written when it finished.
    type Done = (Option<u32>, usize, usize);

    /// Writes everything, `step` bytes at a time; returns the bytes and the finished frames.
    fn drain(outbox: &mut Outbox<u32>, step: usize) -> (Vec<u8>, Vec<Done>) {
        let mut wire = Vec::new();
        let mut done = Vec::new();
        while !outbox.is_empty() {
            let mut slices = [IoSlice::new(&[]); 2 * MAX_BATCH];
            let count = outbox.slices(&mut slices);
            let all: Vec<u8> = slices[..count].iter().flat_map(|s| s.iter().copied()).collect();
            let n = step.min(all.len());
            wire.extend_from_slice(&all[..n]);
            let total = wire.len();
            outbox.written(n, &mut |r, len| done.push((r, len, total)));
        }
        (wire, done)
    }

    #[test]
    fn every_length_encoding_masked() {
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 100_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut outbox = Outbox::new(None);
            outbox.send(false, payload.clone(), 7);
            assert_eq!(outbox.queued_bytes(), len);
            let (wire, done) = drain(&mut outbox, usize::MAX);
            let frames = parse(&wire);
            assert_eq!(frames.len(), 1);
            let f = &frames[0];
            assert_eq!(f.first, 0x82, "final binary, no RSV");
            assert_eq!(
                f.header_len,
                if len <= 125 {
                    6
                } else if len <= 65535 {
                    8
                } else {
                    14
                },
                "{}",
                len
            );
            // Unmasking with the frame's key gives the payload back.
            assert_eq!(f.payload, payload);
            let mut again = f.masked.clone();
            apply_mask(&mut again, f.mask);
            assert_eq!(again, payload);
            assert_eq!(done, vec![(Some(7), len, wire.len())]);
            assert_eq!(outbox.queued_bytes(), 0);
        }
    }

    #[test]
    fn masks_are_fresh_per_frame() {
        let mut outbox = Outbox::new(None);
        for i in 0..8 {
            outbox.send(true, b"same".to_vec(), i);
        }
        let frames = parse(&drain(&mut outbox, usize::MAX).0);
        assert!(frames.iter().all(|f| f.payload == b"same" && f.first == 0x81));
        let masks: std::collections::HashSet<[u8; 4]> = frames.iter().map(|f| f.mask).collect();
        assert!(masks.len() > 1, "eight frames, one mask");
    }

    #[test]
    fn a_send_is_done_when_its_last_byte_is_written() {
        for step in [1usize, 2, 3, 5, 7, 13, 64, 1000] {
            let mut outbox = Outbox::new(None);
            outbox.send(true, b"hello".to_vec(), 1);
            outbox.send(false, Vec::new(), 2);
            outbox.ping();
            outbox.send(false, vec![9; 300], 3);
            assert_eq!(outbox.queued_bytes(), 305);
            let (wire, done) = drain(&mut outbox, step);
            let ends: Vec<usize> = {
                let mut at = 0;
                parse(&wire)
                    .iter()
                    .map(|f| {
                        at += f.header_len + f.payload.len();
                        at
                    })
                    .collect()
            };
            // Each frame finishes with the write that took its last byte, in order.
            let want: Vec<Done> = [(Some(1), 5), (Some(2), 0), (None, 0), (Some(3), 300)]
                .iter()
                .zip(&ends)
                .map(|(&(r, len), &end)| (r, len, end.div_ceil(step).saturating_mul(step).min(wire.len())))
                .collect();
            assert_eq!(done, want, "step {}", step);
        }
    }

    #[test]
    fn one_writev_takes_at_most_a_batch() {
        let mut outbox = Outbox::new(None);
        for i in 0..100 {
            outbox.send(true, b"x".to_vec(), i);
        }
        outbox.send(true, Vec::new(), 100);
        let mut slices = [IoSlice::new(&[]); 2 * MAX_BATCH];
        assert_eq!(outbox.slices(&mut slices), 2 * MAX_BATCH);
        let mut done = Vec::new();
        outbox.written(MAX_BATCH * 7, &mut |r, _| done.push(r.unwrap()));
        assert_eq!(done, (0..MAX_BATCH as u32).collect::<Vec<_>>());
        assert_eq!(outbox.queued_bytes(), 100 - MAX_BATCH);
        // The empty message has a header only: one slice.
        let mut slices = [IoSlice::new(&[]); 2 * MAX_BATCH];
        assert_eq!(outbox.slices(&mut slices), 2 * (100 - MAX_BATCH) + 1);
        let results: Vec<u32> = outbox.take_results().collect();
        assert_eq!(results, (MAX_BATCH as u32..=100).collect::<Vec<_>>());
        assert_eq!(outbox.queued_bytes(), 0);
    }

    #[test]
    fn close_frames() {
        let mut outbox: Outbox<u32> = Outbox::new(None);
        outbox.send(true, b"last".to_vec(), 1);
        outbox.close(CloseCode::NORMAL, "bye");
        assert!(!outbox.can_write());
        outbox.close(CloseCode::GOING_AWAY, "second"); // the first close wins
        outbox.ping();
        outbox.pong(b"late".to_vec());
        let frames = parse(&drain(&mut outbox, usize::MAX).0);
        assert_eq!(frames.len(), 2);
        assert_eq!((frames[1].first, &frames[1].payload[..]), (0x88, &b"\x03\xe8bye"[..]));
        // 1005 (no code) goes out as an empty close.
        let mut outbox: Outbox<u32> = Outbox::new(None);
        outbox.close(CloseCode::NO_STATUS, "");
        assert_eq!(parse(&drain(&mut outbox, usize::MAX).0)[0].payload, b"");
    }

    #[test]
    fn premasked_sends_go_out_as_sent() {
        for (text, len) in [(true, 0usize), (false, 5), (false, 300), (true, 70_000)] {
            let payload: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut outbox = Outbox::new(None);
            outbox.send_masked(text, Masked::copy(&payload), 1);
            assert_eq!(outbox.queued_bytes(), len);
            let (wire, done) = drain(&mut outbox, 1000);
            let f = &parse(&wire)[0];
            assert_eq!((f.first, &f.payload), (if text { 0x81 } else { 0x82 }, &payload));
            assert_eq!(done, vec![(Some(1), len, wire.len())]);
        }
        // With permessage-deflate the bytes are unmasked and compressed like any send.
        let p = crate::deflate::accept("permessage-deflate").unwrap();
        let text = b"compress me compress me compress me compress me".to_vec();
        let mut outbox = Outbox::new(Some(p));
        outbox.send_masked(true, Masked::copy(&text), 1);
        let f = &parse(&drain(&mut outbox, usize::MAX).0)[0];
        assert_eq!(f.first, 0xc1, "final text with RSV1");
        let (mut inflater, mut out) = (Inflater::new(&p), Vec::new());
        inflater.inflate(&f.payload, &mut out, 1 << 20).unwrap();
        inflater.finish(&mut out, 1 << 20).unwrap();
        assert_eq!(out, text);
    }

    #[test]
    fn compressed_when_negotiated() {
        let p = crate::deflate::accept("permessage-deflate").unwrap();
        let mut outbox = Outbox::new(Some(p));
        let text = b"compress me compress me compress me compress me".to_vec();
        outbox.send(true, text.clone(), 1);
        outbox.send(true, text.clone(), 2);
        outbox.ping();
        let frames = parse(&drain(&mut outbox, 10).0);
        let mut inflater = Inflater::new(&p);
        for f in &frames[..2] {
            assert_eq!(f.first, 0xc1, "final text with RSV1");
            assert!(f.payload.len() < text.len());
            let mut out = Vec::new();
            inflater.inflate(&f.payload, &mut out, 1 << 20).unwrap();
            inflater.finish(&mut out, 1 << 20).unwrap();
            assert_eq!(out, text);
        }
        assert_eq!(frames[2].first, 0x89, "control frames are never compressed");
        // A server asking for an 8-bit window gets uncompressed messages.
        let p8 = crate::deflate::accept("permessage-deflate; client_max_window_bits=8").unwrap();
        let mut outbox = Outbox::new(Some(p8));
        outbox.send(true, text.clone(), 1);
        let f = &parse(&drain(&mut outbox, usize::MAX).0)[0];
        assert_eq!((f.first, &f.payload), (0x81, &text));
    }

    fn pongs(outbox: &Outbox<u32>) -> Vec<(bool, usize)> {
        outbox.queue.iter().filter(|q| q.pong).map(|q| (q.frame.started(), q.frame.payload.len())).collect()
    }

    #[test]
    fn pongs_are_bounded_and_the_newest_ping_is_answered() {
        let mut outbox = Outbox::new(None);
        for n in 0..10 {
            outbox.pong(vec![b'a'; n]);
        }
        // Ten pings at once: ten pongs, in order.
        assert_eq!(pongs(&outbox), (0..10).map(|n| (false, n)).collect::<Vec<_>>());
        for _ in 0..100_000 {
            outbox.pong(b"b".to_vec());
        }
        outbox.pong(b"newest".to_vec());
        let waiting = pongs(&outbox);
        assert_eq!(waiting.len(), MAX_WAITING_PONGS);
        assert_eq!(waiting[..10], (0..10).map(|n| (false, n)).collect::<Vec<_>>()[..]);
        assert_eq!(waiting.last(), Some(&(false, 6)));
        assert_eq!(outbox.queued_bytes(), waiting.iter().map(|p| p.1).sum::<usize>());
        // On the wire: the sixteen, the last one answering the newest ping.
        let frames = parse(&drain(&mut outbox, usize::MAX).0);
        assert_eq!(frames.len(), MAX_WAITING_PONGS);
        assert!(frames.iter().all(|f| f.first == 0x8a));
        assert_eq!(frames.last().unwrap().payload, b"newest");
    }

    #[test]
    fn a_started_pong_is_finished_and_messages_wait_behind_pongs() {
        let mut outbox = Outbox::new(None);
        outbox.pong(b"aa".to_vec());
        outbox.written(1, &mut |_, _| panic!("not done"));
        outbox.pong(b"ccc".to_vec());
        assert_eq!(pongs(&outbox), [(true, 2), (false, 3)]);
        outbox.send(true, b"message".to_vec(), 1);
        outbox.pong(b"e".to_vec());
        assert_eq!(pongs(&outbox), [(true, 2), (false, 3), (false, 1)]);
        assert!(!outbox.queue[3].pong);
        // A message started is finished before a new pong; one not started waits behind it.
        let mut done = Vec::new();
        // Left: 7 of the first pong (6 + 2, one written), 6 + 3, 6 + 1, then 1 of the message.
        outbox.written(7 + 9 + 7 + 1, &mut |r, len| done.push((r, len)));
        assert_eq!(done, [(None, 2), (None, 3), (None, 1)]);
        assert!(outbox.queue[0].frame.started());
        outbox.pong(b"ff".to_vec());
        assert!(!outbox.queue[0].pong && outbox.queue[1].pong);
        assert_eq!(outbox.queued_bytes(), 7 + 2);
        let mut fresh = Outbox::new(None);
        fresh.send(true, b"message".to_vec(), 1);
        fresh.pong(b"ff".to_vec());
        assert!(fresh.queue[0].pong && !fresh.queue[1].pong);
    }
}
