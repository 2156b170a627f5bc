//! The I/O driver of one open connection: moves bytes from the `Stream` into the `Decoder`
//! and from the outgoing queue to the `Stream` through one writev, answers pings and the
//! close frame, and over wss:// holds a send's result until rustls has written its records.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};

use tungstenite::protocol::frame::coding::Control;

use crate::callback::ResultCb;
use crate::decoder::{DecodeError, Decoded, Decoder};
use crate::deflate::{Deflater, Params};
use crate::frame::OutFrame;
use crate::stream::Stream;

/// Frames gathered into one writev.
const MAX_BATCH: usize = 64;

/// Pongs that may wait to be written: each ping gets its own answer (Autobahn 2.10 sends 10
/// at once and wants 10), yet a ping flood stays bounded.
const MAX_WAITING_PONGS: usize = 16;

/// What the server sent.
pub enum Incoming {
    Message { text: bool, data: Vec<u8> },
    /// The server's close frame: (code, reason), 1005 when it had no code.
    Close(u16, String),
}

/// Why reading stopped for good.
pub enum ReadError {
    Io(io::Error),
    /// TCP closed: `clean` when the close frames were exchanged first.
    Eof { clean: bool },
    /// The server broke the protocol: what, the errMsg code, and the close code we answer with.
    Violation { detail: String, close_code: u16, kind: Violation },
}

pub use crate::decoder::Violation;

impl From<DecodeError> for ReadError {
    fn from(e: DecodeError) -> ReadError {
        ReadError::Violation { detail: e.detail, close_code: e.close_code, kind: e.kind }
    }
}

/// How a read pass ended.
pub struct ReadStatus {
    /// Bytes arrived (for the heartbeat).
    pub heard: bool,
    /// The read budget ran out with data possibly left in the socket.
    pub more: bool,
}

/// One queued outgoing frame and the result to report once it is written.
struct Queued {
    frame: OutFrame,
    result: Option<ResultCb>,
    /// The answer to a ping (a newer ping may replace it while unstarted).
    pong: bool,
}

pub struct Connection {
    stream: Stream,
    decoder: Decoder,
    /// Bytes read with the handshake response, parsed before the socket.
    tail: Vec<u8>,
    deflater: Option<Deflater>,
    queue: VecDeque<Queued>,
    /// wss://: frames rustls took whole, with their payload length, until it has written their
    /// records to the socket. Always empty for ws://.
    in_flight: VecDeque<(Option<ResultCb>, usize)>,
    /// Payload bytes of `queue` and `in_flight`: what `max_send_queue` bounds.
    queued_bytes: usize,
    close_sent: bool,
}

impl Connection {
    pub fn new(stream: Stream, tail: Vec<u8>, deflate: Option<Params>, max_message: usize) -> Connection {
        Connection {
            stream,
            decoder: Decoder::new(max_message, deflate),
            tail,
            deflater: deflate.map(|p| Deflater::new(&p)),
            queue: VecDeque::new(),
            in_flight: VecDeque::new(),
            queued_bytes: 0,
            close_sent: false,
        }
    }

    /// False once a close frame was sent or queued: no more messages may go out.
    pub fn can_write(&self) -> bool {
        !self.close_sent
    }

    /// Payload bytes queued and not yet written to the socket (over wss://, including those
    /// rustls holds as records).
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Reads what the socket has, at most `budget` reads into `scratch`, handing each message and
    /// the close frame to `deliver`. `short_read_drains`: the readiness event did not report the
    /// peer closed, so a short read of plain TCP ends the pass (anything arriving later raises a
    /// new edge) and saves the read that would only return WouldBlock. Otherwise read on: a FIN
    /// that came with the last bytes raises no new edge.
    pub fn read(
        &mut self,
        scratch: &mut [u8],
        budget: usize,
        short_read_drains: bool,
        deliver: &mut dyn FnMut(Incoming),
    ) -> Result<ReadStatus, ReadError> {
        let mut heard = false;
        if !self.tail.is_empty() {
            let tail = std::mem::take(&mut self.tail);
            heard = true;
            self.consume(&tail, deliver)?;
        }
        for _ in 0..budget {
            let n = match self.stream.read(scratch) {
                Ok(0) => return Err(ReadError::Eof { clean: self.decoder.closed() }),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadStatus { heard, more: false }),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Once the server's close frame arrived the handshake is done on its side; a
                // server that then aborts (RST) instead of FIN still closed cleanly (RFC 6455
                // §7.1.5: the code is the one received).
                Err(_) if self.decoder.closed() => return Err(ReadError::Eof { clean: true }),
                Err(e) => return Err(ReadError::Io(e)),
            };
            heard = true;
            self.consume(&scratch[..n], deliver)?;
            // TLS may hold decrypted bytes back, so only plain TCP stops here.
            if short_read_drains && n < scratch.len() && matches!(self.stream, Stream::Plain(_)) {
                return Ok(ReadStatus { heard, more: false });
            }
        }
        Ok(ReadStatus { heard, more: true })
    }

    /// Hands bytes from the wire to the decoder; answers pings and the close frame.
    fn consume(&mut self, data: &[u8], deliver: &mut dyn FnMut(Incoming)) -> Result<(), ReadError> {
        let mut pongs = Vec::new();
        let mut close = None;
        let result = self.decoder.feed(data, &mut |decoded| match decoded {
            Decoded::Message { text, data } => deliver(Incoming::Message { text, data }),
            Decoded::Ping(payload) => pongs.push(payload),
            Decoded::Pong(_) => {}
            Decoded::Close(code, reason) => close = Some((code, reason)),
        });
        for payload in pongs {
            if !self.close_sent {
                self.pong(payload);
            }
        }
        if let Some((code, reason)) = close {
            if !self.close_sent {
                // Echo the code (RFC 6455 §5.5.1); an empty close is answered empty.
                self.close(code, "");
            }
            deliver(Incoming::Close(code, reason));
        }
        result.map_err(ReadError::from)
    }

    /// Queues a message; `result` is reported when all of it was written.
    pub fn send(&mut self, text: bool, data: Vec<u8>, result: ResultCb) {
        let frame = match &mut self.deflater {
            Some(deflater) if deflater.enabled() => {
                let compressed = deflater.compress(&data);
                OutFrame::data(text, true, compressed)
            }
            _ => OutFrame::data(text, false, data),
        };
        self.push(frame, Some(result));
    }

    /// Queues a ping (the heartbeat).
    pub fn ping(&mut self) {
        if !self.close_sent {
            self.push(OutFrame::control(Control::Ping, Vec::new()), None);
        }
    }

    /// Queues our close frame after everything already queued; the first close wins.
    pub fn close(&mut self, code: u16, reason: &str) {
        if !self.close_sent {
            self.close_sent = true;
            self.push(OutFrame::close(code, reason), None);
        }
    }

    fn push(&mut self, frame: OutFrame, result: Option<ResultCb>) {
        self.queued_bytes += frame.payload.len();
        self.queue.push_back(Queued { frame, result, pong: false });
    }

    /// Queues the answer to a ping at the next frame boundary, after the pongs already waiting
    /// and ahead of queued messages. At most `MAX_WAITING_PONGS` wait: past that a newer ping
    /// replaces the newest waiting pong (RFC 6455 §5.5.3 lets us answer only the most recent
    /// ping), so a peer flooding pings that never reads costs a few frames, not one per ping.
    /// A pong partly written is finished first.
    ///
    /// The waiting pongs sit together at the first unstarted position (0, or 1 behind a frame
    /// partly written): they are only ever put there, and only frames in front of them leave.
    fn pong(&mut self, payload: Vec<u8>) {
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

    /// Writes queued frames until done or the socket is full; each send whose bytes all reached
    /// the socket goes to `done`. `WouldBlock` means "wait for writable".
    pub fn flush(&mut self, done: &mut Vec<ResultCb>) -> io::Result<()> {
        loop {
            if !self.in_flight.is_empty() {
                // wss://: these are written once rustls holds no more records.
                self.stream.flush()?;
                for (result, len) in self.in_flight.drain(..) {
                    self.queued_bytes -= len;
                    done.extend(result);
                }
            }
            if self.queue.is_empty() {
                return self.stream.flush();
            }
            let mut slices: [IoSlice<'_>; 2 * MAX_BATCH] = [IoSlice::new(&[]); 2 * MAX_BATCH];
            let mut count = 0;
            for q in self.queue.iter().take(MAX_BATCH) {
                let (head, payload) = q.frame.remaining();
                for part in [head, payload] {
                    if !part.is_empty() {
                        slices[count] = IoSlice::new(part);
                        count += 1;
                    }
                }
            }
            let mut n = match self.stream.write_vectored(&slices[..count]) {
                Ok(0) if count > 0 => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let held = self.stream.holds_unsent();
            // Frames with nothing left (empty payloads) finish here too.
            while let Some(q) = self.queue.front_mut() {
                match q.frame.advance(n) {
                    Some(rest) => {
                        n = rest;
                        let q = self.queue.pop_front().expect("front exists");
                        let len = q.frame.payload.len();
                        if held {
                            self.in_flight.push_back((q.result, len));
                        } else {
                            self.queued_bytes -= len;
                            done.extend(q.result);
                        }
                    }
                    None => break,
                }
            }
        }
    }

    /// The connection is over: the results of sends whose bytes all reached the socket go to
    /// `written` (a read may have written rustls's last records since the last flush); the
    /// results of the others, which never will, are returned. Both in send order.
    pub fn take_results(&mut self, written: &mut Vec<ResultCb>) -> Vec<ResultCb> {
        self.queued_bytes = 0;
        let mut unsent = Vec::new();
        let in_flight = self.in_flight.drain(..).filter_map(|(result, _)| result);
        if self.stream.holds_unsent() {
            unsent.extend(in_flight);
        } else {
            written.extend(in_flight);
        }
        unsent.extend(self.queue.drain(..).filter_map(|q| q.result));
        unsent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> Connection {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sock = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        Connection::new(Stream::Plain(mio::net::TcpStream::from_std(sock)), Vec::new(), None, 1 << 20)
    }

    fn ping(conn: &mut Connection, payload: &[u8]) {
        let frame = [&[0x89, payload.len() as u8][..], payload].concat();
        assert!(conn.consume(&frame, &mut |_| panic!("a ping delivers nothing")).is_ok());
    }

    fn pongs(conn: &Connection) -> Vec<(bool, usize)> {
        conn.queue.iter().filter(|q| q.pong).map(|q| (q.frame.started(), q.frame.payload.len())).collect()
    }

    #[test]
    fn pongs_are_bounded_and_the_newest_ping_is_answered() {
        let mut conn = connection();
        for n in 0..10 {
            ping(&mut conn, &vec![b'a'; n]);
        }
        // Ten pings at once: ten pongs, in order.
        assert_eq!(pongs(&conn), (0..10).map(|n| (false, n)).collect::<Vec<_>>());
        for _ in 0..100_000 {
            ping(&mut conn, b"b");
        }
        ping(&mut conn, b"newest");
        let waiting = pongs(&conn);
        assert_eq!(waiting.len(), MAX_WAITING_PONGS);
        assert_eq!(waiting[..10], (0..10).map(|n| (false, n)).collect::<Vec<_>>()[..]);
        assert_eq!(waiting.last(), Some(&(false, 6)));
        assert_eq!(conn.queued_bytes(), waiting.iter().map(|p| p.1).sum::<usize>());
    }

    #[test]
    fn a_started_pong_is_finished_and_messages_wait_behind_pongs() {
        let mut conn = connection();
        ping(&mut conn, b"aa");
        conn.queue[0].frame.advance(1);
        ping(&mut conn, b"ccc");
        assert_eq!(pongs(&conn), [(true, 2), (false, 3)]);
        conn.push(OutFrame::data(true, false, b"message".to_vec()), None);
        ping(&mut conn, b"e");
        assert_eq!(pongs(&conn), [(true, 2), (false, 3), (false, 1)]);
        assert!(!conn.queue[3].pong);
        // Ahead of a message not started yet.
        conn.queue.drain(..3);
        ping(&mut conn, b"ff");
        assert!(conn.queue[0].pong && !conn.queue[1].pong);
        assert_eq!(conn.queued_bytes(), 2 + 3 + 7 + 1 + 2);
    }

}
