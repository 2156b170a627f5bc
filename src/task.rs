//! One connection's state machine: resolving → TCP connecting → WebSocket handshake → open →
//! closing → closed. It does I/O on its socket when the loop says it is ready, and reports what
//! happened as `Output`s; it never calls C code itself, so the loop can deliver outputs with no
//! borrow of the task held.

use std::collections::VecDeque;
use std::ffi::CString;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tungstenite::handshake::client::Request;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use crate::callback::{ResultCb, SocketHook};
use crate::handshake::Handshake;
use crate::command::ConnectRequest;
use crate::config::Config;
use crate::error::{Api, Code, Failure};
use crate::ffi::types::{WS_CLOSING, WS_OPEN};
use crate::stream::Stream;
use crate::tls::{tls_detail, TlsStream};

/// How many messages one task may deliver per readiness before others get a turn.
const READ_BUDGET: usize = 64;

/// Close code reported when the connection ended without a close handshake.
const ABNORMAL: u16 = 1006;
/// Close code reported when the server's close frame carried no code.
const NO_STATUS: u16 = 1005;

pub enum Output {
    State(i32),
    Open { headers: Vec<(CString, CString)>, protocol: CString },
    Message(Message),
    Error { failure: Failure, api: Api },
    Close { code: u16, reason: String, clean: bool },
    Result(ResultCb, Result<(), Failure>),
}

enum Phase {
    Resolving,
    Connecting(TcpStream),
    Handshaking(Stream, Box<Handshake>),
    Open(WebSocket<Stream>),
    Closed,
}

/// Optional keep-alive: after `interval` without hearing from the server we ping; without an
/// answer (any frame) within `timeout` the connection is declared dead.
struct Heartbeat {
    interval: Duration,
    timeout: Duration,
    last_heard: Instant,
    ping_sent: Option<Instant>,
    /// When to look next; None until open.
    check_at: Option<Instant>,
}

pub struct Task {
    pub id: i64,
    pub group: u64,
    phase: Phase,
    request: Option<Request>,
    /// For wss://: the TLS configuration and the server name to verify.
    tls: Option<(Arc<ClientConfig>, String)>,
    addrs: VecDeque<SocketAddr>,
    last_connect_error: Option<String>,
    /// The address of the TCP connection in progress, for the error message.
    current_addr: Option<SocketAddr>,
    tcp_no_delay: bool,
    socket_hook: Option<SocketHook>,
    ws_config: WebSocketConfig,
    max_send_queue: usize,
    close_timeout: Duration,
    /// Sends written into tungstenite's buffer but not yet flushed to the kernel.
    pending: Vec<ResultCb>,
    pending_bytes: usize,
    /// The server's close frame: (code, reason), 1005 when it had no code.
    peer_close: Option<(u16, String)>,
    /// The connect timeout, then the close handshake timeout.
    deadline: Option<Instant>,
    new_deadline: bool,
    heartbeat: Option<Heartbeat>,
    /// Set when the read budget ran out with data possibly left in the socket.
    pub more_to_read: bool,
    /// A protocol failure found right after messages that are not delivered yet: it takes effect
    /// on the next read, so replies the host sends to those messages go out first.
    pending_failure: Option<(Failure, Option<u16>)>,
}

fn io_failure(code: Code, e: &io::Error) -> Failure {
    if let Some(detail) = tls_detail(e) {
        return Failure::new(Code::Tls, detail);
    }
    let detail = match e.kind() {
        io::ErrorKind::ConnectionReset => "connection reset by peer".to_string(),
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::BrokenPipe => "broken pipe".to_string(),
        io::ErrorKind::UnexpectedEof => "connection closed by peer".to_string(),
        _ => e.to_string(),
    };
    Failure::new(code, detail)
}

fn would_block(e: &WsError) -> bool {
    matches!(e, WsError::Io(io) if io.kind() == io::ErrorKind::WouldBlock)
}

/// Maps a tungstenite error to our failure and the close code we send (if any) before dropping.
fn classify(e: &WsError) -> (Failure, Option<u16>) {
    match e {
        WsError::Io(io) => (io_failure(Code::Io, io), None),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            (Failure::new(Code::Io, "connection closed without a close frame"), None)
        }
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => (
            Failure::new(Code::MessageTooBig, format!("message of {} bytes is larger than the limit of {}", size, max_size)),
            Some(1009),
        ),
        WsError::Capacity(c) => (Failure::new(Code::MessageTooBig, c.to_string()), Some(1009)),
        WsError::Utf8(_) => (Failure::new(Code::InvalidUtf8, "server sent invalid UTF-8 text"), Some(1007)),
        WsError::Protocol(p) => (Failure::new(Code::Protocol, format!("protocol error: {}", p)), Some(1002)),
        WsError::AttackAttempt => (Failure::new(Code::Protocol, "protocol error: attack attempt"), Some(1002)),
        other => (Failure::new(Code::Io, other.to_string()), None),
    }
}

impl Task {
    pub fn new(req: ConnectRequest, config: &Config) -> Task {
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(16 * 1024)
            .write_buffer_size(64 * 1024)
            .max_message_size(Some(config.max_message_size))
            .max_frame_size(Some(config.max_message_size));
        Task {
            id: req.task_id,
            group: req.group,
            phase: Phase::Resolving,
            request: Some(req.request),
            tls: req.tls.map(|c| (c, req.host.clone())),
            addrs: VecDeque::new(),
            last_connect_error: None,
            current_addr: None,
            tcp_no_delay: req.tcp_no_delay,
            socket_hook: req.socket_hook,
            ws_config,
            max_send_queue: config.max_send_queue,
            close_timeout: config.close_timeout,
            pending: Vec::new(),
            pending_bytes: 0,
            peer_close: None,
            deadline: Some(req.deadline),
            new_deadline: true,
            heartbeat: req.ping_interval.map(|interval| Heartbeat {
                interval,
                timeout: req.pong_timeout,
                last_heard: Instant::now(),
                ping_sent: None,
                check_at: None,
            }),
            more_to_read: false,
            pending_failure: None,
        }
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    fn token(&self) -> Token {
        Token(self.id as usize)
    }

    /// A deadline set since the last call, for the loop's timer heap.
    pub fn take_new_deadline(&mut self) -> Option<Instant> {
        if std::mem::take(&mut self.new_deadline) {
            let heartbeat = self.heartbeat.as_ref().and_then(|h| h.check_at);
            match (self.deadline, heartbeat) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        } else {
            None
        }
    }

    fn set_deadline(&mut self, at: Instant) {
        self.deadline = Some(at);
        self.new_deadline = true;
    }

    /// The addresses to try, from DNS or an IP literal.
    pub fn resolved(&mut self, addrs: Result<Vec<SocketAddr>, String>, registry: &Registry, out: &mut Vec<Output>) {
        if !matches!(self.phase, Phase::Resolving) {
            return;
        }
        match addrs {
            Ok(addrs) => {
                self.addrs = addrs.into();
                self.connect_next(registry, out);
            }
            Err(detail) => self.fail(Failure::new(Code::Dns, detail), None, out),
        }
    }

    /// Starts a TCP connection to the next address, or fails when none is left.
    fn connect_next(&mut self, registry: &Registry, out: &mut Vec<Output>) {
        while let Some(addr) = self.addrs.pop_front() {
            let id = self.id;
            let hook = self.socket_hook.map(|h| move |fd: i32| h.call(id, fd));
            let hook_ref = hook.as_ref().map(|h| h as crate::socket::Hook<'_>);
            let attempt = crate::socket::connect(addr, hook_ref).and_then(|mut s| {
                registry.register(&mut s, self.token(), Interest::READABLE | Interest::WRITABLE)?;
                Ok(s)
            });
            match attempt {
                Ok(stream) => {
                    self.current_addr = Some(addr);
                    self.phase = Phase::Connecting(stream);
                    return;
                }
                Err(e) => self.last_connect_error = Some(format!("{}: {}", addr, io_failure(Code::Connect, &e).detail)),
            }
        }
        let detail = self.last_connect_error.take().unwrap_or_else(|| "no address to connect to".into());
        self.fail(Failure::new(Code::Connect, format!("could not connect to {}", detail)), None, out);
    }

    /// The socket is ready (readable, writable or both): make all the progress we can.
    pub fn on_ready(&mut self, registry: &Registry, out: &mut Vec<Output>) {
        if let Phase::Connecting(stream) = &self.phase {
            let error = match stream.take_error() {
                Ok(Some(e)) | Err(e) => Some(e),
                Ok(None) => match stream.peer_addr() {
                    Ok(_) => None,
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                    Err(e) => Some(e),
                },
            };
            if let Some(e) = error {
                let addr = self.current_addr.map(|a| a.to_string()).unwrap_or_else(|| "server".into());
                self.last_connect_error = Some(format!("{}: {}", addr, io_failure(Code::Connect, &e).detail));
                let _ = std::mem::replace(&mut self.phase, Phase::Resolving);
                return self.connect_next(registry, out);
            }
            let Phase::Connecting(stream) = std::mem::replace(&mut self.phase, Phase::Closed) else { unreachable!() };
            if self.tcp_no_delay {
                let _ = stream.set_nodelay(true);
            }
            let stream = match self.tls.take() {
                None => Stream::Plain(stream),
                Some((config, host)) => match TlsStream::new(config, &host, stream) {
                    Ok(tls) => Stream::Tls(Box::new(tls)),
                    Err(f) => return self.fail(f, None, out),
                },
            };
            let request = self.request.take().expect("request is kept until the handshake starts");
            match Handshake::new(request) {
                Ok(hs) => self.handshake(stream, Box::new(hs), out),
                Err(f) => self.fail(f, None, out),
            }
        } else if let Phase::Handshaking(..) = self.phase {
            let Phase::Handshaking(stream, hs) = std::mem::replace(&mut self.phase, Phase::Closed) else { unreachable!() };
            self.handshake(stream, hs, out);
        } else if let Phase::Open(_) = self.phase {
            self.read(out);
            self.flush(out);
        }
    }

    fn handshake(&mut self, mut stream: Stream, mut hs: Box<Handshake>, out: &mut Vec<Output>) {
        match hs.advance(&mut stream) {
            Ok(Some(opened)) => {
                // from_partially_read sizes tungstenite's read buffer from the tail: with no tail
                // it would start at zero capacity and read in tiny steps.
                let ws = if opened.tail.is_empty() {
                    WebSocket::from_raw_socket(stream, Role::Client, Some(self.ws_config))
                } else {
                    WebSocket::from_partially_read(stream, opened.tail, Role::Client, Some(self.ws_config))
                };
                self.phase = Phase::Open(ws);
                self.deadline = None;
                if let Some(h) = &mut self.heartbeat {
                    h.last_heard = Instant::now();
                    h.check_at = Some(h.last_heard + h.interval);
                    self.new_deadline = true;
                }
                out.push(Output::State(WS_OPEN));
                out.push(Output::Open { headers: opened.headers, protocol: opened.protocol });
                // Frames may have arrived with the response; edge-triggered readiness won't repeat.
                self.read(out);
                self.flush(out);
            }
            Ok(None) => self.phase = Phase::Handshaking(stream, hs),
            Err(f) => self.fail(f, None, out),
        }
    }

    fn read(&mut self, out: &mut Vec<Output>) {
        self.more_to_read = false;
        if let Some((failure, send)) = self.pending_failure.take() {
            return self.fail(failure, send, out);
        }
        let mut heard = false;
        let mut delivered = false;
        for _ in 0..READ_BUDGET {
            let Phase::Open(ws) = &mut self.phase else { return };
            let next = ws.read();
            if next.is_ok() && !heard {
                heard = true;
                if let Some(h) = &mut self.heartbeat {
                    h.last_heard = Instant::now();
                }
            }
            match next {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                    delivered = true;
                    out.push(Output::Message(m));
                }
                Ok(Message::Close(frame)) => {
                    self.peer_close = Some(match frame {
                        Some(f) => (u16::from(f.code), f.reason.to_string()),
                        None => (NO_STATUS, String::new()),
                    });
                    if self.deadline.is_none() {
                        out.push(Output::State(WS_CLOSING));
                        self.set_deadline(Instant::now() + self.close_timeout);
                    }
                }
                Ok(_) => {}
                Err(e) if would_block(&e) => return,
                Err(WsError::ConnectionClosed) => return self.finish_clean(out),
                Err(e) => {
                    let (failure, send) = classify(&e);
                    if delivered && send.is_some() {
                        self.pending_failure = Some((failure, send));
                        self.more_to_read = true;
                        return;
                    }
                    return self.fail(failure, send, out);
                }
            }
        }
        self.more_to_read = true;
    }

    /// Writes out everything buffered. When all of it reached the kernel, the pending sends
    /// succeed.
    pub fn flush(&mut self, out: &mut Vec<Output>) {
        let Phase::Open(ws) = &mut self.phase else { return };
        match ws.flush() {
            Ok(()) => {
                self.pending_bytes = 0;
                for cb in self.pending.drain(..) {
                    out.push(Output::Result(cb, Ok(())));
                }
            }
            Err(e) if would_block(&e) => {}
            Err(WsError::ConnectionClosed) => self.finish_clean(out),
            Err(e) => {
                let (failure, _) = classify(&e);
                self.fail(failure, None, out);
            }
        }
    }

    /// Queues a message; its result comes when it is flushed. Returns whether a flush is due.
    pub fn send(&mut self, message: Message, result: ResultCb, out: &mut Vec<Output>) -> bool {
        let Phase::Open(ws) = &mut self.phase else {
            let state = if self.is_closed() { "CLOSED" } else { "CONNECTING" };
            let f = Failure::new(Code::NotOpen, format!("socket is not OPEN (readyState {})", state));
            out.push(Output::Result(result, Err(f)));
            return false;
        };
        if !ws.can_write() {
            let f = Failure::new(Code::NotOpen, "socket is not OPEN (readyState CLOSING)");
            out.push(Output::Result(result, Err(f)));
            return false;
        }
        let len = message.len();
        if self.pending_bytes > 0 && self.pending_bytes + len > self.max_send_queue {
            let f = Failure::new(
                Code::QueueFull,
                format!("send queue full: {} bytes queued, limit {}", self.pending_bytes, self.max_send_queue),
            );
            out.push(Output::Result(result, Err(f)));
            return false;
        }
        match ws.write(message) {
            Ok(()) => {}
            Err(e) if would_block(&e) => {}
            Err(e) => {
                let (failure, send) = classify(&e);
                out.push(Output::Result(result, Err(failure.clone())));
                self.fail(failure, send, out);
                return false;
            }
        }
        self.pending_bytes += len;
        self.pending.push(result);
        true
    }

    /// Starts the close handshake (open), or aborts the attempt (connecting).
    pub fn close(&mut self, code: u16, reason: &str, result: ResultCb, out: &mut Vec<Output>) {
        match &mut self.phase {
            Phase::Closed => {
                out.push(Output::Result(result, Err(Failure::new(Code::Closed, format!("socketTaskId {} is closed", self.id)))));
            }
            Phase::Open(ws) => {
                out.push(Output::Result(result, Ok(())));
                if !ws.can_write() {
                    return; // already closing: the first close wins
                }
                let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                out.push(Output::State(WS_CLOSING));
                let closed = ws.close(Some(frame));
                self.set_deadline(Instant::now() + self.close_timeout);
                match closed {
                    Ok(()) => {}
                    Err(e) if would_block(&e) => {}
                    Err(e) => self.fail(classify(&e).0, None, out),
                }
            }
            _ => {
                out.push(Output::Result(result, Ok(())));
                self.abort(out);
            }
        }
    }

    /// Ends a connection that is not open yet: close 1006, no error event (the caller asked).
    pub fn abort(&mut self, out: &mut Vec<Output>) {
        self.phase = Phase::Closed;
        self.fail_pending(&Failure::new(Code::Aborted, "connection aborted"), out);
        out.push(Output::Close { code: ABNORMAL, reason: String::new(), clean: false });
    }

    /// A timer fired: the connect or close timeout, or a heartbeat check.
    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<Output>) {
        // The heap holds one entry at the earliest of our deadlines; re-arm for the next one.
        self.new_deadline = true;
        self.check_heartbeat(now, out);
        match self.deadline {
            Some(d) if d <= now => {}
            _ => return,
        }
        self.deadline = None;
        match self.phase {
            Phase::Closed => {}
            Phase::Open(_) => {
                if self.peer_close.is_some() {
                    // Close frames were exchanged; the server just never closed TCP.
                    self.finish_clean(out);
                } else {
                    self.fail(Failure::new(Code::Timeout, "timeout: the server did not finish the close handshake"), None, out);
                }
            }
            _ => self.fail(Failure::new(Code::Timeout, "timeout"), None, out),
        }
    }

    fn check_heartbeat(&mut self, now: Instant, out: &mut Vec<Output>) {
        let Phase::Open(ws) = &mut self.phase else { return };
        let Some(h) = &mut self.heartbeat else { return };
        match h.check_at {
            Some(at) if at <= now => {}
            _ => return,
        }
        if !ws.can_write() {
            // Closing: the close timeout bounds the wait from here; no more pings.
            h.check_at = None;
            return;
        }
        if let Some(sent) = h.ping_sent {
            if h.last_heard >= sent {
                h.ping_sent = None; // answered (or other traffic arrived)
            } else if now >= sent + h.timeout {
                let detail = format!("heartbeat timeout: no answer to ping within {} ms", h.timeout.as_millis());
                return self.fail(Failure::new(Code::Timeout, detail), None, out);
            } else {
                h.check_at = Some(sent + h.timeout);
                self.new_deadline = true;
                return;
            }
        }
        if now >= h.last_heard + h.interval {
            h.ping_sent = Some(now);
            h.check_at = Some(now + h.timeout);
            match ws.write(Message::Ping(Default::default())).and_then(|_| ws.flush()) {
                Ok(()) => {}
                Err(e) if would_block(&e) => {}
                Err(e) => {
                    let (failure, send) = classify(&e);
                    return self.fail(failure, send, out);
                }
            }
        } else {
            h.check_at = Some(h.last_heard + h.interval);
        }
        self.new_deadline = true;
    }

    /// The close handshake completed.
    fn finish_clean(&mut self, out: &mut Vec<Output>) {
        self.phase = Phase::Closed;
        self.fail_pending(&Failure::new(Code::Closed, "socket closed before the message was sent"), out);
        let (code, reason) = self.peer_close.take().unwrap_or((NO_STATUS, String::new()));
        out.push(Output::Close { code, reason, clean: true });
    }

    /// Fails the connection: error event, the pending sends fail, close event. `send` is the
    /// close code to tell the server first (protocol errors), reported as the close code too.
    pub fn fail(&mut self, failure: Failure, send: Option<u16>, out: &mut Vec<Output>) {
        let api = match self.phase {
            Phase::Open(_) => Api::Socket,
            _ => Api::Connect,
        };
        if let (Phase::Open(ws), Some(code)) = (&mut self.phase, send) {
            let frame = CloseFrame { code: CloseCode::from(code), reason: "".into() };
            let _ = ws.close(Some(frame));
            let _ = ws.flush();
        }
        self.phase = Phase::Closed;
        out.push(Output::Error { failure: failure.clone(), api });
        self.fail_pending(&Failure::new(failure.code, format!("message not sent: {}", failure.detail)), out);
        out.push(Output::Close { code: send.unwrap_or(ABNORMAL), reason: String::new(), clean: false });
    }

    fn fail_pending(&mut self, failure: &Failure, out: &mut Vec<Output>) {
        self.pending_bytes = 0;
        for cb in self.pending.drain(..) {
            out.push(Output::Result(cb, Err(failure.clone())));
        }
    }
}
