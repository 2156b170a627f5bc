//! One connection's state machine: resolving → TCP connecting → (proxy tunnel) → WebSocket
//! handshake → open → closing → closed. It does I/O on its socket when the loop says it is ready, and reports what
//! happened as `Output`s; it never calls C code itself, so the loop can deliver outputs with no
//! borrow of the task held.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::callback::{ResultCb, SocketHook};
use crate::close_code::CloseCode;
use crate::command::ConnectRequest;
use crate::config::Config;
use crate::connection::{Connection, Incoming, ReadError, Violation};
use crate::error::{closed, io_failure, not_open, Api, Code, Failure};
use crate::eyeballs::Schedule;
use crate::handshake::{Handshake, Upgrade};
use crate::profile::{Profile, Report};
use crate::proxy;
use crate::ready_state::ReadyState;
use crate::stream::Stream;
use crate::tls::TlsStream;

/// How many reads (of the loop's 64 KiB buffer) one task may do per readiness before others
/// get a turn.
const READ_BUDGET: usize = 16;

pub enum Output {
    State(ReadyState),
    Open {
        headers: Vec<(CString, CString)>,
        protocol: CString,
        extensions: CString,
        compressed: bool,
        profile: Box<Report>,
    },
    Message {
        text: bool,
        data: Vec<u8>,
    },
    Error {
        failure: Failure,
        api: Api,
    },
    Close {
        code: CloseCode,
        reason: String,
        clean: bool,
    },
    Result(ResultCb, Result<(), Failure>),
}

/// One TCP connection attempt in flight.
struct Attempt {
    addr: SocketAddr,
    stream: TcpStream,
    started: Instant,
}

enum Phase {
    Resolving,
    /// Happy Eyeballs: every attempt started and not failed yet (see `Task::schedule`).
    Connecting(Vec<Attempt>),
    /// Opening the tunnel through the proxy, on the connected socket.
    Proxying(TcpStream, Box<proxy::Handshake>),
    Handshaking(Stream, Box<Handshake>),
    Open(Box<Connection>),
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

/// `ws_network_changed`: a ping went out at `sent`; the server must be heard from by `due`.
struct Probe {
    due: Instant,
    timeout: Duration,
}

pub struct Task {
    pub id: i64,
    pub group: u64,
    phase: Phase,
    upgrade: Option<Upgrade>,
    /// For wss://: the TLS configuration and the server name to verify.
    tls: Option<(Arc<ClientConfig>, String)>,
    /// The host and port to resolve and connect to: the URL's, or the proxy's.
    host: String,
    port: u16,
    /// The tunnel to open through a proxy once connected to it (the task's or the runtime's).
    proxy: Option<Box<proxy::Handshake>>,
    /// Waiting for the host's resolver (`ws_config.resolver`) to answer.
    asked_host: bool,
    /// The addresses not tried yet, and when the next attempt is due.
    schedule: Option<Schedule>,
    attempt_delay: Duration,
    /// "address: cause" of each failed attempt, for the errMsg of a total failure.
    connect_errors: Vec<String>,
    /// When each phase of the set-up happened, for the open event.
    profile: Profile,
    tcp_no_delay: bool,
    socket_hook: Option<SocketHook>,
    max_message: usize,
    max_send_queue: usize,
    close_timeout: Duration,
    /// The server's close frame: (code, reason), 1005 when it had no code.
    peer_close: Option<(CloseCode, String)>,
    /// The connect timeout, then the close handshake timeout.
    deadline: Option<Instant>,
    new_deadline: bool,
    heartbeat: Option<Heartbeat>,
    probe: Option<Probe>,
    /// Set when the read budget ran out with data possibly left in the socket.
    pub more_to_read: bool,
    /// Set by the loop while the task's dispatcher is over its limit: no reading (back-pressure).
    pub read_paused: bool,
    /// A protocol failure found right after messages that are not delivered yet: it takes effect
    /// on the next read, so replies the host sends to those messages go out first.
    pending_failure: Option<(Failure, Option<CloseCode>)>,
}

/// Maps a read failure to our failure and the close code we send (if any) before dropping.
fn classify(e: ReadError) -> (Failure, Option<CloseCode>) {
    match e {
        ReadError::Io(io) => (io_failure(Code::Io, &io), None),
        ReadError::Eof { .. } => (Failure::new(Code::Io, "connection closed without a close frame"), None),
        ReadError::Violation { detail, close_code, kind } => {
            let code = match kind {
                Violation::Protocol => Code::Protocol,
                Violation::Utf8 => Code::InvalidUtf8,
                Violation::TooBig => Code::MessageTooBig,
            };
            (Failure::new(code, detail), Some(close_code))
        }
    }
}

impl Task {
    pub fn new(req: ConnectRequest, config: &Config) -> Task {
        Task {
            id: req.task_id,
            group: req.group,
            phase: Phase::Resolving,
            upgrade: Some(req.upgrade),
            tls: req.tls.map(|c| (c, req.host.clone())),
            host: req.proxy.as_ref().map_or_else(|| req.host.clone(), |p| p.host.clone()),
            port: req.proxy.as_ref().map_or(req.port, |p| p.port),
            proxy: req.proxy.map(|p| Box::new(proxy::Handshake::new(p, &req.host, req.port))),
            asked_host: false,
            schedule: None,
            attempt_delay: config.attempt_delay,
            connect_errors: Vec::new(),
            profile: req.profile,
            tcp_no_delay: req.tcp_no_delay,
            socket_hook: req.socket_hook,
            max_message: config.max_message_size,
            max_send_queue: config.max_send_queue,
            close_timeout: config.close_timeout,
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
            probe: None,
            more_to_read: false,
            read_paused: false,
            pending_failure: None,
        }
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// A deadline set since the last call, for the loop's timer heap.
    pub fn take_new_deadline(&mut self) -> Option<Instant> {
        if std::mem::take(&mut self.new_deadline) {
            let heartbeat = self.heartbeat.as_ref().and_then(|h| h.check_at);
            let attempt = self.schedule.as_ref().and_then(Schedule::wake_at);
            let probe = self.probe.as_ref().map(|p| p.due);
            [self.deadline, heartbeat, attempt, probe].into_iter().flatten().min()
        } else {
            None
        }
    }

    fn set_deadline(&mut self, at: Instant) {
        self.deadline = Some(at);
        self.new_deadline = true;
    }

    /// A lookup (system resolver or the host's) begins now.
    pub fn lookup_started(&mut self) {
        self.profile.lookup_started(Instant::now());
    }

    /// The host's resolver was asked for this task's addresses.
    pub fn ask_host(&mut self) {
        self.asked_host = true;
    }

    /// Waiting for the host resolver's answer.
    pub fn asked_host(&self) -> bool {
        self.asked_host && matches!(self.phase, Phase::Resolving)
    }

    /// The addresses to try, from DNS, the host or an IP literal. Port 0 (an address the host's
    /// resolver gave without a port) means the URL's.
    pub fn resolved(&mut self, addrs: Result<Vec<SocketAddr>, String>, registry: &Registry, out: &mut Vec<Output>) {
        if !matches!(self.phase, Phase::Resolving) {
            return;
        }
        let addrs = match addrs {
            Err(detail) if self.asked_host => Err(format!("could not resolve host \"{}\": {}", self.host, detail)),
            other => other,
        };
        match addrs {
            Ok(mut addrs) => {
                self.profile.lookup_ended(Instant::now());
                for a in addrs.iter_mut().filter(|a| a.port() == 0) {
                    a.set_port(self.port);
                }
                self.schedule = Some(Schedule::new(addrs, self.attempt_delay));
                self.phase = Phase::Connecting(Vec::new());
                self.start_due(Instant::now(), registry, out);
            }
            Err(detail) => self.fail(Failure::new(Code::Dns, detail), None, out),
        }
    }

    /// Starts the attempts that are due (Happy Eyeballs); fails the task when every address
    /// failed.
    fn start_due(&mut self, now: Instant, registry: &Registry, out: &mut Vec<Output>) {
        let (Phase::Connecting(attempts), Some(schedule)) = (&mut self.phase, &mut self.schedule) else { return };
        while let Some(addr) = schedule.due(now) {
            self.profile.attempt_started();
            let started = Instant::now();
            let id = self.id;
            let hook = self.socket_hook.map(|h| move |fd: i32| h.call(id, fd));
            let hook_ref = hook.as_ref().map(|h| h as crate::socket::Hook<'_>);
            let token = Token(id as usize);
            let opened = crate::socket::connect(addr, hook_ref).and_then(|mut s| {
                registry.register(&mut s, token, Interest::READABLE | Interest::WRITABLE)?;
                Ok(s)
            });
            match opened {
                Ok(stream) => attempts.push(Attempt { addr, stream, started }),
                Err(e) => {
                    self.connect_errors.push(format!("{}: {}", addr, io_failure(Code::Connect, &e).detail));
                    schedule.failed();
                }
            }
        }
        self.new_deadline = true;
        if attempts.is_empty() && schedule.is_empty() {
            let detail = match self.connect_errors.is_empty() {
                true => "no address to connect to".to_string(),
                false => self.connect_errors.join(", "),
            };
            let what = self.connect_what();
            self.fail(Failure::new(Code::Connect, format!("could not connect to {}{}", what, detail)), None, out);
        }
    }

    /// "proxy <url> at " when the addresses tried are the proxy's, for the errMsg.
    fn connect_what(&self) -> String {
        self.proxy.as_ref().map(|p| format!("proxy {} at ", p.proxy())).unwrap_or_default()
    }

    /// Looks at every attempt in flight: the first connected one wins and the others are closed;
    /// failed ones are dropped (the next address is then due at once). Returns the winner.
    fn settle_attempts(&mut self, registry: &Registry) -> Option<Attempt> {
        let Phase::Connecting(attempts) = &mut self.phase else { return None };
        let mut winner = None;
        let mut i = 0;
        while i < attempts.len() {
            let stream = &attempts[i].stream;
            let error = match stream.take_error() {
                Ok(Some(e)) | Err(e) => Some(e),
                Ok(None) => match stream.peer_addr() {
                    Ok(_) => None,
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        i += 1;
                        continue;
                    }
                    Err(e) => Some(e),
                },
            };
            let mut attempt = attempts.swap_remove(i);
            match error {
                Some(e) => {
                    let _ = registry.deregister(&mut attempt.stream);
                    self.connect_errors.push(format!("{}: {}", attempt.addr, io_failure(Code::Connect, &e).detail));
                    if let Some(s) = &mut self.schedule {
                        s.failed();
                    }
                }
                None => {
                    winner = Some(attempt);
                    break;
                }
            }
        }
        if winner.is_some() {
            for mut loser in attempts.drain(..) {
                let _ = registry.deregister(&mut loser.stream);
            }
            self.schedule = None;
        }
        winner
    }

    /// The socket is ready (readable, writable or both): make all the progress we can.
    /// `short_read_drains`: the readiness event did not report the peer closed (see
    /// `Connection::read`).
    pub fn on_ready(
        &mut self,
        registry: &Registry,
        scratch: &mut [u8],
        short_read_drains: bool,
        out: &mut Vec<Output>,
    ) {
        if let Phase::Connecting(_) = &self.phase {
            let Some(Attempt { addr, stream, started }) = self.settle_attempts(registry) else {
                return self.start_due(Instant::now(), registry, out);
            };
            self.profile.connected(started, Instant::now(), addr);
            self.phase = Phase::Closed;
            if self.tcp_no_delay {
                let _ = stream.set_nodelay(true);
            }
            match self.proxy.take() {
                Some(hs) => self.tunnel(stream, hs, scratch, short_read_drains, out),
                None => self.start_websocket(stream, scratch, short_read_drains, out),
            }
        } else if let Phase::Proxying(..) = self.phase {
            let Phase::Proxying(stream, hs) = std::mem::replace(&mut self.phase, Phase::Closed) else { unreachable!() };
            self.tunnel(stream, hs, scratch, short_read_drains, out);
        } else if let Phase::Handshaking(..) = self.phase {
            let Phase::Handshaking(stream, hs) = std::mem::replace(&mut self.phase, Phase::Closed) else {
                unreachable!()
            };
            self.handshake(stream, hs, scratch, short_read_drains, out);
        } else if let Phase::Open(_) = self.phase {
            self.read(scratch, short_read_drains, out);
            self.flush(out);
        }
    }

    /// Drives the proxy handshake: writes what it has to say, reads no more than its answer
    /// (the server's first bytes stay in the socket), and once the tunnel is open goes on with
    /// TLS and the WebSocket handshake over the same socket.
    fn tunnel(
        &mut self,
        stream: TcpStream,
        mut hs: Box<proxy::Handshake>,
        scratch: &mut [u8],
        short_read_drains: bool,
        out: &mut Vec<Output>,
    ) {
        loop {
            while !hs.to_send().is_empty() {
                match crate::socket::Writer(&stream).write(hs.to_send()) {
                    Ok(n) => hs.sent(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.phase = Phase::Proxying(stream, hs);
                        return;
                    }
                    Err(e) => return self.fail(hs.failed(&io_failure(Code::Proxy, &e).detail), None, out),
                }
            }
            let want = hs.want().min(scratch.len());
            let got = match (&stream).read(&mut scratch[..want]) {
                Ok(0) => return self.fail(hs.closed(), None, out),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.phase = Phase::Proxying(stream, hs);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.fail(hs.failed(&io_failure(Code::Proxy, &e).detail), None, out),
            };
            match hs.received(&scratch[..got]) {
                Ok(proxy::Progress::Continue) => {}
                Ok(proxy::Progress::Open) => {
                    self.profile.tunnel_opened(Instant::now());
                    return self.start_websocket(stream, scratch, short_read_drains, out);
                }
                Err(f) => return self.fail(f, None, out),
            }
        }
    }

    /// The connection to the server is there (directly or through a tunnel): TLS for wss://,
    /// then the WebSocket handshake.
    fn start_websocket(
        &mut self,
        stream: TcpStream,
        scratch: &mut [u8],
        short_read_drains: bool,
        out: &mut Vec<Output>,
    ) {
        {
            let stream = match self.tls.take() {
                None => Stream::Plain(stream),
                Some((config, host)) => match TlsStream::new(config, &host, stream) {
                    Ok(tls) => Stream::Tls(Box::new(tls)),
                    Err(f) => return self.fail(f, None, out),
                },
            };
            let upgrade = self.upgrade.take().expect("the upgrade is kept until the handshake starts");
            self.handshake(stream, Box::new(Handshake::new(upgrade)), scratch, short_read_drains, out);
        }
    }

    fn handshake(
        &mut self,
        mut stream: Stream,
        mut hs: Box<Handshake>,
        scratch: &mut [u8],
        short_read_drains: bool,
        out: &mut Vec<Output>,
    ) {
        let advanced = hs.advance(&mut stream);
        if let Stream::Tls(tls) = &stream {
            // The TLS handshake is driven by the WebSocket handshake's reads and writes.
            if let Some(info) = tls.handshake_done().filter(|_| self.profile.tls_pending()) {
                self.profile.tls_done(Instant::now(), info);
            }
        }
        match advanced {
            Ok(Some(opened)) => {
                let compressed = opened.deflate.is_some();
                let conn = Connection::new(stream, opened.tail, opened.deflate, self.max_message);
                self.phase = Phase::Open(Box::new(conn));
                self.deadline = None;
                if let Some(h) = &mut self.heartbeat {
                    h.last_heard = Instant::now();
                    h.check_at = Some(h.last_heard + h.interval);
                    self.new_deadline = true;
                }
                out.push(Output::State(ReadyState::Open));
                let extensions = crate::callback::c_string(&opened.extensions);
                let profile = Box::new(self.profile.finish(Instant::now()));
                out.push(Output::Open {
                    headers: opened.headers,
                    protocol: opened.protocol,
                    extensions,
                    compressed,
                    profile,
                });
                // Frames may have arrived with the response; edge-triggered readiness won't repeat.
                self.read(scratch, short_read_drains, out);
                self.flush(out);
            }
            Ok(None) => self.phase = Phase::Handshaking(stream, hs),
            Err(f) => self.fail(f, None, out),
        }
    }

    fn read(&mut self, scratch: &mut [u8], short_read_drains: bool, out: &mut Vec<Output>) {
        self.more_to_read = false;
        if self.read_paused {
            return;
        }
        if let Some((failure, send)) = self.pending_failure.take() {
            return self.fail(failure, send, out);
        }
        let Phase::Open(conn) = &mut self.phase else { return };
        let mut delivered = false;
        let mut peer_close = None;
        let result = conn.read(scratch, READ_BUDGET, short_read_drains, &mut |incoming| match incoming {
            Incoming::Message { text, data } => {
                delivered = true;
                out.push(Output::Message { text, data });
            }
            Incoming::Close(code, reason) => peer_close = Some((code, reason)),
        });
        if let Some(close) = peer_close {
            self.peer_close = Some(close);
            if self.deadline.is_none() {
                out.push(Output::State(ReadyState::Closing));
                self.set_deadline(Instant::now() + self.close_timeout);
            }
        }
        match result {
            Ok(status) => {
                if status.heard {
                    if let Some(h) = &mut self.heartbeat {
                        h.last_heard = Instant::now();
                    }
                    self.probe = None; // the path works: any frame answers the probe
                }
                self.more_to_read = status.more;
            }
            Err(ReadError::Eof { clean: true }) => self.finish_clean(out),
            Err(e) => {
                let (failure, send) = classify(e);
                if delivered && send.is_some() {
                    // Deliver the messages first; fail on the next turn, after the replies the
                    // host sends to them went out.
                    self.pending_failure = Some((failure, send));
                    self.more_to_read = true;
                    return;
                }
                self.fail(failure, send, out);
            }
        }
    }

    /// Writes out what is queued; each send whose bytes all reached the socket succeeds.
    pub fn flush(&mut self, out: &mut Vec<Output>) {
        let Phase::Open(conn) = &mut self.phase else { return };
        // Results go straight to `out`: no Vec to allocate per written message.
        let result = conn.flush(&mut |cb| out.push(Output::Result(cb, Ok(()))));
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // The server closed first and then dropped TCP before taking our answer: clean.
            Err(_) if self.peer_close.is_some() => self.finish_clean(out),
            Err(e) => self.fail(io_failure(Code::Io, &e), None, out),
        }
    }

    /// Queues a message; its result comes when it is flushed. Returns whether a flush is due.
    pub fn send(&mut self, text: bool, data: crate::frame::Masked, result: ResultCb, out: &mut Vec<Output>) -> bool {
        let Phase::Open(conn) = &mut self.phase else {
            let state = if self.is_closed() { ReadyState::Closed } else { ReadyState::Connecting };
            out.push(Output::Result(result, Err(not_open(state))));
            return false;
        };
        if !conn.can_write() {
            out.push(Output::Result(result, Err(not_open(ReadyState::Closing))));
            return false;
        }
        let queued = conn.queued_bytes();
        if queued > 0 && queued + data.len() > self.max_send_queue {
            let f = Failure::new(
                Code::QueueFull,
                format!("send queue full: {} bytes queued, limit {}", queued, self.max_send_queue),
            );
            out.push(Output::Result(result, Err(f)));
            return false;
        }
        conn.send(text, data, result);
        true
    }

    /// Starts the close handshake (open), or aborts the attempt (connecting).
    pub fn close(&mut self, code: CloseCode, reason: &str, result: ResultCb, out: &mut Vec<Output>) {
        match &mut self.phase {
            Phase::Closed => {
                out.push(Output::Result(result, Err(closed(self.id))));
            }
            Phase::Open(conn) => {
                out.push(Output::Result(result, Ok(())));
                if !conn.can_write() {
                    return; // already closing: the first close wins
                }
                out.push(Output::State(ReadyState::Closing));
                conn.close(code, reason);
                self.set_deadline(Instant::now() + self.close_timeout);
                self.flush(out);
            }
            _ => {
                out.push(Output::Result(result, Ok(())));
                self.abort(out);
            }
        }
    }

    /// Ends a connection that is not open yet: close 1006, no error event (the caller asked).
    pub fn abort(&mut self, out: &mut Vec<Output>) {
        self.fail_pending(&Failure::new(Code::Aborted, "connection aborted"), out);
        self.phase = Phase::Closed;
        out.push(Output::Close { code: CloseCode::ABNORMAL, reason: String::new(), clean: false });
    }

    /// A timer fired: the connect or close timeout, or a heartbeat check.
    pub fn on_timer(&mut self, now: Instant, registry: &Registry, out: &mut Vec<Output>) {
        // The heap holds one entry at the earliest of our deadlines; re-arm for the next one.
        self.new_deadline = true;
        self.check_heartbeat(now, out);
        self.check_probe(now, out);
        if matches!(self.phase, Phase::Connecting(_)) && self.deadline.is_some_and(|d| d > now) {
            return self.start_due(now, registry, out);
        }
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
                    self.fail(
                        Failure::new(Code::Timeout, "timeout: the server did not finish the close handshake"),
                        None,
                        out,
                    );
                }
            }
            Phase::Resolving if self.asked_host => {
                let detail = format!("timeout: no answer from the resolver for \"{}\"", self.host);
                self.fail(Failure::new(Code::Timeout, detail), None, out)
            }
            Phase::Connecting(ref attempts) => {
                let mut causes = self.connect_errors.clone();
                causes.extend(attempts.iter().map(|a| format!("{}: no answer", a.addr)));
                let untried = self.schedule.as_ref().map(|s| s.remaining()).into_iter().flatten();
                causes.extend(untried.map(|a| format!("{}: not tried", a)));
                let what = self.connect_what();
                let f =
                    Failure::new(Code::Timeout, format!("timeout: could not connect to {}{}", what, causes.join(", ")));
                self.fail(f, None, out)
            }
            Phase::Proxying(_, ref hs) => {
                let f = hs.timed_out();
                self.fail(f, None, out)
            }
            _ => self.fail(Failure::new(Code::Timeout, "timeout"), None, out),
        }
    }

    fn check_heartbeat(&mut self, now: Instant, out: &mut Vec<Output>) {
        let Phase::Open(conn) = &mut self.phase else { return };
        let Some(h) = &mut self.heartbeat else { return };
        if self.read_paused {
            // We are not reading: the silence is ours, not the server's.
            h.last_heard = now;
        }
        match h.check_at {
            Some(at) if at <= now => {}
            _ => return,
        }
        if !conn.can_write() {
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
            conn.ping();
            self.new_deadline = true;
            return self.flush(out);
        } else {
            h.check_at = Some(h.last_heard + h.interval);
        }
        self.new_deadline = true;
    }

    /// The device's network changed (`ws_network_changed`): an OPEN task pings at once and must
    /// hear from the server within `timeout`, else it fails. A task not OPEN (or CLOSING) is left
    /// alone; a second call while a probe is out keeps the earlier deadline.
    pub fn probe(&mut self, timeout: Duration, out: &mut Vec<Output>) {
        let Phase::Open(conn) = &mut self.phase else { return };
        if !conn.can_write() || self.probe.is_some() {
            return;
        }
        conn.ping();
        self.probe = Some(Probe { due: Instant::now() + timeout, timeout });
        self.new_deadline = true;
        self.flush(out);
    }

    fn check_probe(&mut self, now: Instant, out: &mut Vec<Output>) {
        let Some(probe) = &self.probe else { return };
        if probe.due > now {
            return;
        }
        let timeout = probe.timeout;
        self.probe = None;
        let Phase::Open(conn) = &self.phase else { return };
        if self.read_paused || !conn.can_write() {
            // Not reading (the host's dispatcher is behind), or closing under the close timeout:
            // the silence says nothing about the path.
            return;
        }
        let detail = format!("network changed: no answer to the probe within {} ms", timeout.as_millis());
        self.fail(Failure::new(Code::Timeout, detail), None, out);
    }

    /// The close handshake completed.
    fn finish_clean(&mut self, out: &mut Vec<Output>) {
        self.fail_pending(&Failure::new(Code::Closed, "socket closed before the message was sent"), out);
        self.phase = Phase::Closed;
        let (code, reason) = self.peer_close.take().unwrap_or((CloseCode::NO_STATUS, String::new()));
        out.push(Output::Close { code, reason, clean: true });
    }

    /// Fails the connection: error event, the pending sends fail, close event. `send` is the
    /// close code to tell the server first (protocol errors), reported as the close code too.
    pub fn fail(&mut self, failure: Failure, send: Option<CloseCode>, out: &mut Vec<Output>) {
        let api = match self.phase {
            Phase::Open(_) => Api::Socket,
            _ => Api::Connect,
        };
        let mut written = Vec::new();
        let mut unsent = Vec::new();
        if let Phase::Open(conn) = &mut self.phase {
            if let Some(code) = send {
                conn.close(code, "");
                let _ = conn.flush(&mut |cb| written.push(cb)); // best effort: the server learns why
            }
            unsent = conn.take_results(&mut written);
        }
        self.phase = Phase::Closed;
        for cb in written {
            out.push(Output::Result(cb, Ok(())));
        }
        out.push(Output::Error { failure: failure.clone(), api });
        let unsent_failure = Failure::new(failure.code, format!("message not sent: {}", failure.detail));
        for cb in unsent {
            out.push(Output::Result(cb, Err(unsent_failure.clone())));
        }
        out.push(Output::Close { code: send.unwrap_or(CloseCode::ABNORMAL), reason: String::new(), clean: false });
    }

    fn fail_pending(&mut self, failure: &Failure, out: &mut Vec<Output>) {
        if let Phase::Open(conn) = &mut self.phase {
            let mut written = Vec::new();
            let unsent = conn.take_results(&mut written);
            for cb in written {
                out.push(Output::Result(cb, Ok(())));
            }
            for cb in unsent {
                out.push(Output::Result(cb, Err(failure.clone())));
            }
        }
    }
}
