//! The I/O driver of one open connection: moves bytes from the `Stream` into the `Decoder`
//! (which parses them) and from the `Outbox` (which frames and masks) to the `Stream` through
//! one writev; answers pings and the close frame; and over wss:// holds a send's result until
//! rustls has written its records.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};

use crate::callback::ResultCb;
use crate::close_code::CloseCode;
use crate::decoder::{DecodeError, Decoded, Decoder};
use crate::deflate::Params;
use crate::frame::Masked;
use crate::outbox::{Outbox, MAX_BATCH};
use crate::socket;
use crate::stream::Stream;

/// Frames written from a small slice array (more take the full `MAX_BATCH` one).
const FEW: usize = 4;

/// What the server sent.
pub enum Incoming {
    Message {
        text: bool,
        data: Vec<u8>,
    },
    /// The server's close frame: (code, reason), 1005 when it had no code.
    Close(CloseCode, String),
}

/// Why reading stopped for good.
pub enum ReadError {
    Io(io::Error),
    /// TCP closed: `clean` when the close frames were exchanged first.
    Eof {
        clean: bool,
    },
    /// The server broke the protocol: what, the errMsg code, and the close code we answer with.
    Violation {
        detail: String,
        close_code: CloseCode,
        kind: Violation,
    },
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

pub struct Connection {
    stream: Stream,
    decoder: Decoder,
    /// Bytes read with the handshake response, parsed before the socket.
    tail: Vec<u8>,
    outbox: Outbox<ResultCb>,
    /// wss://: frames rustls took whole (their results, None for control frames) until it has
    /// written their records to the socket. Always empty for ws://.
    in_flight: VecDeque<Option<ResultCb>>,
    /// Payload bytes of `in_flight` (counted against `max_send_queue` with the outbox's).
    in_flight_bytes: usize,
}

/// Frames left for a direct read before it is used (see `Decoder::direct_room`): below this
/// the read buffer, which may also take the next frames in the same read, is as good.
const DIRECT_MIN: usize = 32 * 1024;

/// Where a decoded frame goes: messages and the close to `deliver`; pings and the close are
/// answered through the outbox.
fn route(decoded: Decoded, outbox: &mut Outbox<ResultCb>, deliver: &mut dyn FnMut(Incoming)) {
    match decoded {
        Decoded::Message { text, data } => deliver(Incoming::Message { text, data }),
        Decoded::Ping(payload) => outbox.pong(payload),
        Decoded::Pong(_) => {}
        Decoded::Close(code, reason) => {
            // Echo the code (RFC 6455 §5.5.1); an empty close is answered empty.
            outbox.close(code, "");
            deliver(Incoming::Close(code, reason));
        }
    }
}

impl Connection {
    pub fn new(stream: Stream, tail: Vec<u8>, deflate: Option<Params>, max_message: usize) -> Connection {
        Connection {
            stream,
            decoder: Decoder::new(max_message, deflate),
            tail,
            outbox: Outbox::new(deflate),
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
        }
    }

    /// False once a close frame was sent or queued: no more messages may go out.
    pub fn can_write(&self) -> bool {
        self.outbox.can_write()
    }

    /// Payload bytes queued and not yet written to the socket (over wss://, including those
    /// rustls holds as records).
    pub fn queued_bytes(&self) -> usize {
        self.outbox.queued_bytes() + self.in_flight_bytes
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
            // Plain TCP, the rest of a large frame: read it straight into its message.
            if let (Stream::Plain(sock), Some(room)) = (&self.stream, self.decoder.direct_room(DIRECT_MIN)) {
                let room_len = room.len();
                let n = match socket::recv_uninit(sock, room) {
                    Ok(0) => return Err(ReadError::Eof { clean: self.decoder.closed() }),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadStatus { heard, more: false }),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(ReadError::Io(e)),
                };
                heard = true;
                let outbox = &mut self.outbox;
                self.decoder.direct_filled(n, &mut |decoded| route(decoded, outbox, deliver))?;
                if short_read_drains && n < room_len {
                    return Ok(ReadStatus { heard, more: false });
                }
                continue;
            }
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

    /// Hands bytes from the wire to the decoder; queues the answers to pings and the close.
    fn consume(&mut self, data: &[u8], deliver: &mut dyn FnMut(Incoming)) -> Result<(), ReadError> {
        let outbox = &mut self.outbox;
        self.decoder.feed(data, &mut |decoded| route(decoded, outbox, deliver))?;
        Ok(())
    }

    /// Queues a message; `result` is reported when all of it was written.
    pub fn send(&mut self, text: bool, data: Masked, result: ResultCb) {
        self.outbox.send_masked(text, data, result);
    }

    /// Queues a ping (the heartbeat).
    pub fn ping(&mut self) {
        self.outbox.ping();
    }

    /// Queues our close frame after everything already queued; the first close wins.
    pub fn close(&mut self, code: CloseCode, reason: &str) {
        self.outbox.close(code, reason);
    }

    /// Writes queued frames until done or the socket is full; each send whose bytes all reached
    /// the socket goes to `done`. `WouldBlock` means "wait for writable".
    pub fn flush(&mut self, done: &mut dyn FnMut(ResultCb)) -> io::Result<()> {
        loop {
            if !self.in_flight.is_empty() {
                // wss://: these are written once rustls holds no more records.
                self.stream.flush()?;
                self.in_flight_bytes = 0;
                self.in_flight.drain(..).flatten().for_each(&mut *done);
            }
            if self.outbox.is_empty() {
                return self.stream.flush();
            }
            // A few frames (the usual case: one message, maybe a pong) fill a small array; the
            // full batch's 128 slices cost about 200 instructions just to clear.
            let (mut few, mut batch);
            let slices: &mut [IoSlice] = if self.outbox.frames() <= FEW {
                few = [IoSlice::new(&[]); 2 * FEW];
                &mut few
            } else {
                batch = [IoSlice::new(&[]); 2 * MAX_BATCH];
                &mut batch
            };
            let count = self.outbox.slices(slices);
            let n = match self.stream.write_vectored(&slices[..count]) {
                Ok(0) if count > 0 => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            // wss://: rustls took the frames as plaintext; they are written once it holds no
            // records (ws:// writes straight to the kernel).
            let held = self.stream.holds_unsent();
            let (in_flight, in_flight_bytes) = (&mut self.in_flight, &mut self.in_flight_bytes);
            self.outbox.written(n, &mut |result, len| {
                if held {
                    *in_flight_bytes += len;
                    in_flight.push_back(result);
                } else if let Some(result) = result {
                    done(result);
                }
            });
        }
    }

    /// The connection is over: the results of sends whose bytes all reached the socket go to
    /// `written` (a read may have written rustls's last records since the last flush); the
    /// results of the others, which never will, are returned. Both in send order.
    pub fn take_results(&mut self, written: &mut Vec<ResultCb>) -> Vec<ResultCb> {
        self.in_flight_bytes = 0;
        let mut unsent = Vec::new();
        let in_flight = self.in_flight.drain(..).flatten();
        if self.stream.holds_unsent() {
            unsent.extend(in_flight);
        } else {
            written.extend(in_flight);
        }
        unsent.extend(self.outbox.take_results());
        unsent
    }
}
