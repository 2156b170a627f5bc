//! The WebSocket message layer of one open connection (RFC 6455 §5, RFC 7692 §6): frames in
//! through tungstenite's header codec, messages out as masked frames through one writev.
//!
//! Incoming payload bytes go straight from the loop's read buffer into the message being built
//! (or into the decompressor), so a frame is never buffered whole, UTF-8 and size limits fail
//! as soon as the bytes that break them arrive, and an idle connection holds no buffers.

use std::collections::VecDeque;
use std::io::{self, Cursor, IoSlice, Read, Write};

use tungstenite::error::{Error as WsError, ProtocolError};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use crate::callback::ResultCb;
use crate::deflate::{Deflater, InflateError, Inflater, Params};
use crate::frame::{parse_close, OutFrame, MAX_HEADER};
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

/// Which kind of violation, for the error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    Protocol,
    Utf8,
    TooBig,
}

/// How a read pass ended.
pub struct ReadStatus {
    /// Bytes arrived (for the heartbeat).
    pub heard: bool,
    /// The read budget ran out with data possibly left in the socket.
    pub more: bool,
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

/// One queued outgoing frame and the result to report once it is written.
struct Queued {
    frame: OutFrame,
    result: Option<ResultCb>,
    /// The answer to a ping (a newer ping may replace it while unstarted).
    pong: bool,
}

pub struct Connection {
    stream: Stream,
    max_message: usize,
    /// A frame header split across reads.
    head: [u8; MAX_HEADER],
    head_len: usize,
    frame: Option<FrameIn>,
    message: Option<MessageIn>,
    control: Vec<u8>,
    /// Bytes read with the handshake response, parsed before the socket.
    tail: Vec<u8>,
    deflate: Option<(Deflater, Inflater)>,
    queue: VecDeque<Queued>,
    /// wss://: frames rustls took whole, with their payload length, until it has written their
    /// records to the socket. Always empty for ws://.
    in_flight: VecDeque<(Option<ResultCb>, usize)>,
    /// Payload bytes of `queue` and `in_flight`: what `max_send_queue` bounds.
    queued_bytes: usize,
    close_sent: bool,
    close_received: bool,
}

fn violation(kind: Violation, close_code: u16, detail: impl Into<String>) -> ReadError {
    ReadError::Violation { detail: detail.into(), close_code, kind }
}

fn protocol(detail: impl Into<String>) -> ReadError {
    violation(Violation::Protocol, 1002, format!("protocol error: {}", detail.into()))
}

impl Connection {
    pub fn new(stream: Stream, tail: Vec<u8>, deflate: Option<Params>, max_message: usize) -> Connection {
        Connection {
            stream,
            max_message,
            head: [0; MAX_HEADER],
            head_len: 0,
            frame: None,
            message: None,
            control: Vec::new(),
            tail,
            deflate: deflate.map(|p| (Deflater::new(&p), Inflater::new(&p))),
            queue: VecDeque::new(),
            in_flight: VecDeque::new(),
            queued_bytes: 0,
            close_sent: false,
            close_received: false,
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
                Ok(0) => return Err(ReadError::Eof { clean: self.close_received }),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadStatus { heard, more: false }),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Once the server's close frame arrived the handshake is done on its side; a
                // server that then aborts (RST) instead of FIN still closed cleanly (RFC 6455
                // §7.1.5: the code is the one received).
                Err(_) if self.close_received => return Err(ReadError::Eof { clean: true }),
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

    /// Parses bytes from the wire.
    fn consume(&mut self, mut data: &[u8], deliver: &mut dyn FnMut(Incoming)) -> Result<(), ReadError> {
        while !data.is_empty() {
            if self.close_received {
                return Ok(()); // nothing may follow a close frame
            }
            match &mut self.frame {
                None => {
                    let used = self.read_header(data)?;
                    data = &data[used..];
                    if self.frame.as_ref().is_some_and(|f| f.remaining == 0) {
                        self.end_frame(deliver)?;
                    }
                }
                Some(frame) => {
                    let n = (frame.remaining.min(data.len() as u64)) as usize;
                    frame.remaining -= n as u64;
                    let rest = frame.remaining;
                    let is_control = matches!(frame.opcode, OpCode::Control(_));
                    if is_control {
                        self.control.extend_from_slice(&data[..n]);
                    } else {
                        self.payload(&data[..n], rest)?;
                    }
                    data = &data[n..];
                    if rest == 0 {
                        self.end_frame(deliver)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Takes a frame header from `data` (completing a split one); returns the bytes used.
    fn read_header(&mut self, data: &[u8]) -> Result<usize, ReadError> {
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
                // Incomplete: keep what we have (at most 13 bytes) for the next read.
                let take = (MAX_HEADER - had).min(data.len());
                if had == 0 {
                    self.head[..take].copy_from_slice(&data[..take]);
                }
                self.head_len = had + take;
                Ok(take)
            }
            Err(WsError::Protocol(ProtocolError::InvalidOpcode(op))) => Err(protocol(format!("reserved opcode {}", op))),
            Err(e) => Err(protocol(e.to_string())),
        }
    }

    /// Checks a new frame's header against RFC 6455 §5.2-5.5 and RFC 7692 §6.
    fn start_frame(&mut self, h: FrameHeader, len: u64) -> Result<(), ReadError> {
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
                if h.rsv1 && self.deflate.is_none() {
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
    fn payload(&mut self, bytes: &[u8], rest: u64) -> Result<(), ReadError> {
        let m = self.message.as_mut().expect("data frames belong to a message");
        if m.compressed {
            let (_, inflater) = self.deflate.as_mut().expect("compressed messages need the extension");
            inflater.inflate(bytes, &mut m.data, self.max_message).map_err(|e| inflate_error(e, self.max_message))?;
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

    fn end_frame(&mut self, deliver: &mut dyn FnMut(Incoming)) -> Result<(), ReadError> {
        let frame = self.frame.take().expect("a frame is in progress");
        match frame.opcode {
            OpCode::Control(Control::Ping) => {
                let payload = std::mem::take(&mut self.control);
                if !self.close_sent {
                    self.pong(payload);
                }
            }
            OpCode::Control(Control::Pong) => {}
            OpCode::Control(Control::Close) => {
                let (code, reason) = parse_close(&self.control).map_err(|(detail, code)| {
                    let kind = if code == 1007 { Violation::Utf8 } else { Violation::Protocol };
                    violation(kind, code, format!("protocol error: {}", detail))
                })?;
                self.close_received = true;
                if !self.close_sent {
                    // Echo the code (RFC 6455 §5.5.1); an empty close is answered empty.
                    self.close(code, "");
                }
                deliver(Incoming::Close(code, reason));
            }
            OpCode::Control(Control::Reserved(op)) => return Err(protocol(format!("reserved opcode {}", op))),
            OpCode::Data(_) if frame.is_final => {
                let mut m = self.message.take().expect("data frames belong to a message");
                if m.compressed {
                    let (_, inflater) = self.deflate.as_mut().expect("compressed messages need the extension");
                    inflater.finish(&mut m.data, self.max_message).map_err(|e| inflate_error(e, self.max_message))?;
                }
                if m.text {
                    check_utf8(&mut m, true)?;
                }
                deliver(Incoming::Message { text: m.text, data: m.data });
            }
            OpCode::Data(_) => {}
        }
        Ok(())
    }

    /// Queues a message; `result` is reported when all of it was written.
    pub fn send(&mut self, text: bool, data: Vec<u8>, result: ResultCb) {
        let frame = match &mut self.deflate {
            Some((deflater, _)) if deflater.enabled() => {
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

fn growth(held: usize, arriving: usize, rest: u64) -> usize {
    const MIN_STEP: usize = 64 * 1024;
    let step = held.max(MIN_STEP) as u64;
    arriving.max(rest.saturating_add(arriving as u64).min(step) as usize)
}

fn too_big(size: usize, max: usize, what: &str) -> ReadError {
    violation(
        Violation::TooBig,
        1009,
        format!("message of at least {} bytes{} is larger than the limit of {}", size, what, max),
    )
}

fn inflate_error(e: InflateError, max: usize) -> ReadError {
    match e {
        InflateError::TooBig => too_big(max.saturating_add(1), max, " after decompression"),
        InflateError::Corrupt(detail) => {
            violation(Violation::Protocol, 1007, format!("protocol error: corrupt compressed data ({})", detail))
        }
    }
}

/// Checks the text received so far; incomplete trailing sequences wait for more bytes unless
/// the message ended.
fn check_utf8(m: &mut MessageIn, end: bool) -> Result<(), ReadError> {
    match std::str::from_utf8(&m.data[m.utf8_checked..]) {
        Ok(_) => m.utf8_checked = m.data.len(),
        Err(e) if e.error_len().is_none() && !end => m.utf8_checked += e.valid_up_to(),
        Err(_) => return Err(violation(Violation::Utf8, 1007, "server sent invalid UTF-8 text")),
    }
    Ok(())
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

    #[test]
    fn growth_follows_the_bytes_not_the_announced_length() {
        // A frame announcing 2^62 bytes: 64 KiB at first, then doubling with what arrived.
        assert_eq!(growth(0, 100, 1 << 62), 64 * 1024);
        assert_eq!(growth(1 << 20, 64 * 1024, u64::MAX), 1 << 20);
        // A small or a last piece: exactly what the frame still holds.
        assert_eq!(growth(0, 32, 0), 32);
        assert_eq!(growth(4 << 20, 65536, 1000), 66536);
        // Never less than the bytes in hand.
        assert_eq!(growth(0, 1 << 20, 0), 1 << 20);
    }
}
