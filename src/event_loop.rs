//! The loop thread: polls every socket, runs commands from other threads, fires timers, and
//! delivers each task's outputs (events and results) to C in order, with no lock held.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};

use crate::callback::{Listener, ResultCb};
use crate::command::Command;
use crate::error::{Api, Code, Failure};
use crate::event;
use crate::registry::absent;
use crate::ffi::types::{WS_LOG_DEBUG, WS_LOG_ERROR, WS_LOG_INFO, WS_LOG_WARN};
use crate::log::log;
use crate::runtime::Shared;
use crate::task::{Output, Task};

pub const WAKER: Token = Token(usize::MAX);

pub struct EventLoop {
    shared: Arc<Shared>,
    poll: Poll,
    tasks: HashMap<i64, Task>,
    timers: BinaryHeap<Reverse<(Instant, i64)>>,
    resolver: crate::dns::Resolver,
    /// Tasks with writes buffered since the last flush.
    dirty: Vec<i64>,
    /// Tasks that used up their read budget and may have more to read.
    ready: Vec<i64>,
    out: Vec<Output>,
    listeners: Vec<Arc<Listener>>,
    /// Set by `ws_shutdown`: when to give up on close handshakes.
    stopping: Option<Instant>,
    /// Every task reads into this one buffer; payload moves from it straight into messages, so
    /// idle connections hold no read buffer of their own.
    scratch: Vec<u8>,
}

fn no_result(api: Api) -> ResultCb {
    ResultCb::new(api, None, std::ptr::null_mut())
}

impl EventLoop {
    pub fn new(shared: Arc<Shared>, poll: Poll) -> EventLoop {
        let resolver = crate::dns::Resolver::new(Arc::clone(&shared.queue));
        EventLoop {
            shared,
            poll,
            tasks: HashMap::new(),
            timers: BinaryHeap::new(),
            resolver,
            dirty: Vec::new(),
            ready: Vec::new(),
            out: Vec::new(),
            listeners: Vec::new(),
            stopping: None,
            scratch: vec![0; 64 * 1024],
        }
    }

    /// Runs until shutdown. A panic inside is caught here: the runtime stops taking commands and
    /// frees every slot, so later calls start a fresh runtime instead of hanging.
    pub fn run(mut self) {
        self.shared.queue.set_loop_thread();
        let outcome = catch_unwind(AssertUnwindSafe(|| self.run_inner()));
        let leftovers = self.shared.queue.close();
        let refusal = Failure::plain(Code::ShuttingDown);
        for command in leftovers {
            command.refuse(&refusal);
        }
        if outcome.is_err() {
            log!(WS_LOG_ERROR, "libws thread caught a panic; the runtime stops and will restart on the next call");
            for id in self.tasks.keys() {
                self.shared.registry.remove_task(*id);
            }
        }
        self.resolver.stop();
        self.shared.registry.clear_global();
    }

    fn run_inner(&mut self) {
        let mut events = Events::with_capacity(1024);
        let mut commands = Vec::new();
        loop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            // Tasks that became ready during this round wait for the next one, after the
            // commands their callbacks queued (an echo, say) have run.
            let mut ready = std::mem::take(&mut self.ready);
            for ev in events.iter() {
                if ev.token() != WAKER {
                    // Without a read-closed or error flag, a short read means the socket is drained:
                    // a FIN or bytes arriving later raise a new edge.
                    let short_read_drains = !ev.is_read_closed() && !ev.is_error();
                    self.drive(ev.token().0 as i64, short_read_drains);
                }
            }
            for id in ready.drain(..) {
                self.drive(id, false);
            }
            if self.ready.is_empty() {
                self.ready = ready; // keep the allocation
            }
            self.shared.queue.take(&mut commands);
            for command in commands.drain(..) {
                self.handle(command);
            }
            self.flush_dirty();
            self.fire_timers();
            if let Some(deadline) = self.stopping {
                if Instant::now() >= deadline {
                    self.force_close_all();
                }
                if self.tasks.is_empty() {
                    return;
                }
            }
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        // Commands that callbacks pushed after this round took the queue did not wake us.
        if !self.ready.is_empty() || !self.shared.queue.is_empty() {
            return Some(Duration::ZERO);
        }
        let next = self.timers.peek().map(|Reverse((at, _))| *at);
        let next = match (next, self.stopping) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Round up to the next millisecond so a timer never spins on a sub-ms remainder.
        next.map(|at| at.saturating_duration_since(Instant::now()) + Duration::from_micros(999))
    }

    fn drive(&mut self, id: i64, short_read_drains: bool) {
        let Some(task) = self.tasks.get_mut(&id) else { return };
        task.on_ready(self.poll.registry(), &mut self.scratch, short_read_drains, &mut self.out);
        self.settle(id);
    }

    /// After a task did something: schedule its new deadline, deliver its outputs, and drop it
    /// once it is closed.
    fn settle(&mut self, id: i64) {
        let mut closed = false;
        if let Some(task) = self.tasks.get_mut(&id) {
            if let Some(at) = task.take_new_deadline() {
                self.timers.push(Reverse((at, id)));
            }
            if std::mem::take(&mut task.more_to_read) {
                self.ready.push(id);
            }
            closed = task.is_closed();
        }
        if closed {
            self.tasks.remove(&id);
        }
        self.deliver(id);
    }

    fn deliver(&mut self, id: i64) {
        let mut out = std::mem::take(&mut self.out);
        for output in out.drain(..) {
            match output {
                Output::State(state) => self.shared.registry.set_state(id, state),
                Output::Result(cb, outcome) => cb.finish(id, outcome.as_ref().map(|_| ())),
                Output::Close { ref code, ref reason, ref clean } => {
                    log!(WS_LOG_INFO, "task {} closed: code {} reason \"{}\" clean {}", id, code, reason, clean);
                    let listeners = self.shared.registry.remove_task(id);
                    event::dispatch(&self.shared.registry, id, &output, &listeners);
                }
                other => {
                    match &other {
                        Output::Open { protocol, .. } => log!(WS_LOG_INFO, "task {} open, protocol {:?}", id, protocol),
                        Output::Error { failure, api } => {
                            log!(WS_LOG_WARN, "task {}: {}", id, crate::error::fail_msg(*api, failure))
                        }
                        _ => {}
                    }
                    let mut listeners = std::mem::take(&mut self.listeners);
                    self.shared.registry.listeners(id, &mut listeners);
                    event::dispatch(&self.shared.registry, id, &other, &listeners);
                    listeners.clear();
                    self.listeners = listeners;
                }
            }
        }
        // Outputs pushed by callbacks cannot exist (callbacks only queue commands), so the
        // buffer is empty here and its capacity is reused.
        self.out = out;
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Connect(req, result) => self.connect(*req, result),
            Command::Send { task_id, text, data, result } => match self.tasks.get_mut(&task_id) {
                Some(task) => {
                    if task.send(text, data, result, &mut self.out) {
                        self.dirty.push(task_id);
                    }
                    self.settle(task_id);
                }
                None => result.fail(task_id, &absent(task_id)),
            },
            Command::Close { task_id, code, reason, result } => match self.tasks.get_mut(&task_id) {
                Some(task) => {
                    task.close(code, &reason, result, &mut self.out);
                    self.settle(task_id);
                }
                None => result.fail(task_id, &absent(task_id)),
            },
            Command::CloseGroup { group, code, reason, result } => {
                let mut ids: Vec<i64> = self.tasks.values().filter(|t| t.group == group).map(|t| t.id).collect();
                ids.sort_unstable();
                result.ok(0);
                for id in ids {
                    if let Some(task) = self.tasks.get_mut(&id) {
                        task.close(code, &reason, no_result(Api::Close), &mut self.out);
                        self.settle(id);
                    }
                }
            }
            Command::Report { task_id, failure, result } => result.fail(task_id, &failure),
            Command::Resolved { task_id, addrs } => {
                self.resolver.answered();
                if let Some(task) = self.tasks.get_mut(&task_id) {
                    task.resolved(addrs, self.poll.registry(), &mut self.out);
                    self.settle(task_id);
                }
            }
            Command::Shutdown => self.begin_shutdown(),
        }
    }

    fn connect(&mut self, req: crate::command::ConnectRequest, result: ResultCb) {
        let id = req.task_id;
        let (host, port) = (req.host.clone(), req.port);
        let mut task = Task::new(req, &self.shared.config);
        if self.stopping.is_some() {
            result.fail(id, &Failure::plain(Code::ShuttingDown));
            task.abort(&mut self.out);
            self.tasks.insert(id, task);
            return self.settle(id);
        }
        log!(WS_LOG_DEBUG, "task {} connecting to {}:{}", id, host, port);
        result.ok(id);
        self.tasks.insert(id, task);
        let task = self.tasks.get_mut(&id).expect("just inserted");
        if let Ok(ip) = host.parse::<IpAddr>() {
            task.resolved(Ok(vec![SocketAddr::new(ip, port)]), self.poll.registry(), &mut self.out);
        } else if !self.resolver.lookup(id, &host, port) {
            task.resolved(Err("could not start a resolver thread".into()), self.poll.registry(), &mut self.out);
        }
        self.settle(id);
    }

    fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for id in dirty.drain(..) {
            if let Some(task) = self.tasks.get_mut(&id) {
                task.flush(&mut self.out);
                self.settle(id);
            }
        }
        self.dirty = dirty;
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        // Take the due entries first: a timer re-armed while firing waits for the next round,
        // so no task can keep this loop busy.
        let mut due = Vec::new();
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            due.push(id);
        }
        due.sort_unstable();
        due.dedup();
        for id in due {
            if let Some(task) = self.tasks.get_mut(&id) {
                task.on_timer(now, &mut self.out);
                self.settle(id);
            }
        }
    }

    fn begin_shutdown(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        self.stopping = Some(Instant::now() + self.shared.config.close_timeout);
        let mut ids: Vec<i64> = self.tasks.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(task) = self.tasks.get_mut(&id) {
                task.close(1001, "", no_result(Api::Close), &mut self.out);
                self.settle(id);
            }
        }
    }

    fn force_close_all(&mut self) {
        let mut ids: Vec<i64> = self.tasks.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(task) = self.tasks.get_mut(&id) {
                let f = Failure::new(Code::ShuttingDown, "runtime shut down before the close handshake finished");
                task.fail(f, None, &mut self.out);
                self.settle(id);
            }
        }
    }
}
