//! Commands from any thread to the loop thread, and the queue that carries them. Pushing wakes
//! the loop only when it is parked (about to sleep in, or sleeping in, its poll): a busy loop
//! drains many commands per wake-up and is never woken by the commands it will run anyway.

use std::net::SocketAddr;
use std::time::Instant;

use mio::Waker;
use parking_lot::Mutex;

use crate::callback::ResultCb;
use crate::close_code::CloseCode;
use crate::error::Failure;
use crate::handshake::Upgrade;

pub struct ConnectRequest {
    pub task_id: i64,
    pub group: u64,
    /// The opening handshake it asks for.
    pub upgrade: Upgrade,
    pub host: String,
    pub port: u16,
    /// The host's own addresses for `host`: no lookup then.
    pub addresses: Option<Vec<SocketAddr>>,
    pub tcp_no_delay: bool,
    /// Set for wss:// URLs.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    pub deadline: Instant,
    /// When `ws_connect` was called: the profile's `fetch_start`.
    pub profile: crate::profile::Profile,
    /// Heartbeat: ping after this long without traffic; fail when no answer within pong_timeout.
    pub ping_interval: Option<std::time::Duration>,
    pub pong_timeout: std::time::Duration,
    pub socket_hook: Option<crate::callback::SocketHook>,
    /// Where its results and events go (None: the libws thread calls them).
    pub dispatcher: Option<std::sync::Arc<crate::dispatcher::Dispatcher>>,
    /// Connect through this proxy: its host is the one resolved and connected to.
    pub proxy: Option<crate::proxy::Proxy>,
}

pub enum Command {
    Connect(Box<ConnectRequest>, ResultCb),
    /// `data` is the message's own copy, masked as it was copied; `text` data is valid UTF-8.
    Send {
        task_id: i64,
        text: bool,
        data: crate::frame::Masked,
        result: ResultCb,
    },
    /// `abort`: a bound task closed before its host saw the open event is dropped like a
    /// connecting one (close 1006), even if the loop has opened it.
    Close {
        task_id: i64,
        code: CloseCode,
        reason: String,
        abort: bool,
        result: ResultCb,
    },
    /// `abort`: the group's tasks to abort (see `Close`).
    CloseGroup {
        group: u64,
        code: CloseCode,
        reason: String,
        abort: Vec<i64>,
        result: ResultCb,
    },
    /// `ws_network_changed`: probe every OPEN task of `group` (None: of every group).
    NetworkChanged {
        group: Option<u64>,
        timeout: std::time::Duration,
    },
    /// A failure found on the calling thread, delivered from the loop like every result.
    Report {
        task_id: i64,
        failure: Failure,
        result: ResultCb,
    },
    /// A DNS answer from a resolver thread, or (`from_host`) the host's `ws_resolve_answer`.
    Resolved {
        task_id: i64,
        addrs: Result<Vec<SocketAddr>, String>,
        from_host: bool,
    },
    /// `ws_shutdown`, or `ws_shutdown_async` with the result that reports the end.
    Shutdown(Option<ResultCb>),
    /// A dispatcher's queue went down: read the sockets paused for it again.
    Resume,
}

impl Command {
    /// The task whose processing this command is part of (0: none), so a panic while running it
    /// fails only that task. Reports and group closes belong to no one task.
    pub fn task_id(&self) -> i64 {
        match self {
            Command::Connect(req, _) => req.task_id,
            Command::Send { task_id, .. } | Command::Close { task_id, .. } | Command::Resolved { task_id, .. } => {
                *task_id
            }
            Command::Report { .. }
            | Command::CloseGroup { .. }
            | Command::NetworkChanged { .. }
            | Command::Shutdown(_)
            | Command::Resume => 0,
        }
    }
}

#[derive(Default)]
struct Inner {
    commands: Vec<Command>,
    closed: bool,
    /// The loop found the queue empty and may be sleeping in its poll: the next push wakes it
    /// (and clears this, so one wake serves every push until the loop parks again).
    parked: bool,
}

pub struct Queue {
    inner: Mutex<Inner>,
    waker: Waker,
}

impl Queue {
    pub fn new(waker: Waker) -> Queue {
        Queue { inner: Mutex::new(Inner::default()), waker }
    }

    /// Queues a command, or hands it back when the loop has stopped taking commands.
    pub fn push(&self, command: Command) -> Result<(), Command> {
        let mut inner = self.inner.lock();
        if inner.closed {
            return Err(command);
        }
        inner.commands.push(command);
        // Decided under the lock `park` takes: either the loop parked before this push (and is
        // woken here) or it parks after it and finds the command. A loop that is running (a
        // callback sending, or a host thread sending while the loop works) is not woken: it
        // takes the queue before it parks, which saves an eventfd write and a poll wake-up.
        let wake = std::mem::take(&mut inner.parked);
        drop(inner);
        if wake {
            // A failed wake can only mean the poller is gone, which closes the queue first.
            let _ = self.waker.wake();
        }
        Ok(())
    }

    /// True when no command waits.
    pub fn is_empty(&self) -> bool {
        self.inner.lock().commands.is_empty()
    }

    /// Called by the loop thread right before it polls with a timeout: true if no command waits,
    /// and then the next push wakes it. False: commands wait, poll without sleeping.
    pub fn park(&self) -> bool {
        let mut inner = self.inner.lock();
        inner.parked = inner.commands.is_empty();
        inner.parked
    }

    /// Called by the loop thread when its poll returned: pushes need not wake it until it parks
    /// again. (A push that still saw it parked only made one wake too many.)
    pub fn unpark(&self) {
        self.inner.lock().parked = false;
    }

    /// Takes every queued command, leaving `spare` (an emptied buffer) in its place.
    pub fn take(&self, spare: &mut Vec<Command>) {
        std::mem::swap(&mut self.inner.lock().commands, spare);
    }

    /// Stops taking commands and returns those still queued. The loop closes its queue only when
    /// no call can still push one (`runtime::retire`), so what comes back is at most a late DNS
    /// answer, a `Resume` or a second `Shutdown`.
    pub fn close(&self) -> Vec<Command> {
        let mut inner = self.inner.lock();
        inner.closed = true;
        std::mem::take(&mut inner.commands)
    }
}
