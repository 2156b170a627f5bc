//! The loop thread: polls every socket, runs commands from other threads, fires timers, and
//! delivers each task's outputs (events and results) to C in order, with no lock held, or, for a
//! task bound to a dispatcher, queues them there in order for the host's thread.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};

use crate::callback::{call_lost, Listener, ResultCb};
use crate::close_code::CloseCode;
use crate::command::Command;
use crate::dispatcher::{Dispatcher, Item};
use crate::error::{Api, Code, Failure};
use crate::event;
use crate::ffi::types::{WS_LOG_DEBUG, WS_LOG_ERROR, WS_LOG_INFO, WS_LOG_WARN};
use crate::id_map::IdMap;
use crate::log::log;
use crate::ready_state::ReadyState;
use crate::registry::absent;
use crate::shared::Shared;
use crate::task::{Output, Task};

pub const WAKER: Token = Token(usize::MAX);

/// `runtime::retire`, handed in by the runtime that starts the loop (the loop knows nothing of
/// the process-wide runtime): once nothing is left to run, closes the queue if no call can push.
pub type Retire = fn(&Arc<Shared>) -> Option<Vec<Command>>;

pub struct EventLoop {
    shared: Arc<Shared>,
    retire: Retire,
    poll: Poll,
    tasks: IdMap<Task>,
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
    /// The commands being run (kept for its allocation).
    commands: Vec<Command>,
    /// Tasks bound to a dispatcher, until the loop closes them.
    bound: IdMap<Arc<Dispatcher>>,
    /// Bound tasks whose reading is paused because their dispatcher's queue is over its limit.
    paused: Vec<i64>,
    /// `ws_shutdown_async` results, delivered as the loop's last act.
    done: Vec<ResultCb>,
}

fn no_result(api: Api) -> ResultCb {
    ResultCb::new(api, None, std::ptr::null_mut())
}

impl EventLoop {
    pub fn new(shared: Arc<Shared>, poll: Poll, retire: Retire) -> EventLoop {
        let resolver = crate::dns::Resolver::new(Arc::clone(&shared.queue));
        EventLoop {
            shared,
            retire,
            poll,
            tasks: IdMap::default(),
            timers: BinaryHeap::new(),
            resolver,
            dirty: Vec::new(),
            ready: Vec::new(),
            out: Vec::new(),
            listeners: Vec::new(),
            stopping: None,
            scratch: vec![0; 64 * 1024],
            commands: Vec::new(),
            bound: IdMap::default(),
            paused: Vec::new(),
            done: Vec::new(),
        }
    }

    /// Runs until shutdown. A panic is contained to the task it happened in (`contained`); one
    /// outside any task fails every task, and the runtime stops so that the next call starts a
    /// fresh one.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let failure = match catch_unwind(AssertUnwindSafe(|| self.run_inner(&mut events))) {
            Ok(()) => Failure::new(Code::Runtime, "the libws thread stopped: its poller failed"),
            Err(_) => {
                log!(
                    WS_LOG_ERROR,
                    "libws thread caught a panic outside any task ({}); every task is failed and the runtime stops",
                    crate::ffi::panic::take_last_panic()
                );
                Failure::new(Code::Panic, "internal error (panic caught); the libws thread stopped")
            }
        };
        // After a shutdown there is no task left; after a panic or a failed poll, each still gets
        // its error and close events, and calls are refused until the next call starts afresh.
        self.shared.stopping.store(true, std::sync::atomic::Ordering::Release);
        self.fail_all(|| failure.clone());
        self.finish(&mut events);
    }

    fn run_inner(&mut self, events: &mut Events) {
        loop {
            let timeout = self.poll_timeout();
            let polled = self.poll.poll(events, timeout);
            if timeout != Some(Duration::ZERO) {
                self.shared.queue.unpark();
            }
            if let Err(e) = polled {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                log!(WS_LOG_ERROR, "poll failed: {}; the runtime stops", e);
                return;
            }
            // Tasks that became ready during this round wait for the next one, after the
            // commands their callbacks queued (an echo, say) have run.
            let mut ready = std::mem::take(&mut self.ready);
            for ev in events.iter() {
                if ev.token() != WAKER {
                    // Without a read-closed or error flag, a short read means the socket is drained:
                    // a FIN or bytes arriving later raise a new edge.
                    let short_read_drains = !ev.is_read_closed() && !ev.is_error();
                    let id = ev.token().0 as i64;
                    self.contained(id, |lp| lp.drive(id, short_read_drains));
                }
            }
            for id in ready.drain(..) {
                self.contained(id, |lp| lp.drive(id, false));
            }
            if self.ready.is_empty() {
                self.ready = ready; // keep the allocation
            }
            self.run_commands();
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

    /// The end, once every task is closed: lookups still running get until the shutdown deadline,
    /// then commands are run until no call can push one more (`runtime::retire`), so every call's
    /// result is delivered here, on this thread.
    fn finish(&mut self, events: &mut Events) {
        let deadline = *self.stopping.get_or_insert_with(Instant::now);
        let left = self.resolver.stop(deadline);
        if left > 0 {
            log!(WS_LOG_WARN, "{} host name lookups still running at shutdown are left to end on their own", left);
        }
        let leftovers = loop {
            self.run_commands();
            if let Some(leftovers) = (self.retire)(&self.shared) {
                break leftovers;
            }
            // A call is between its checks and its push (it runs no host code): wait for the push.
            let _ = self.poll.poll(events, Some(Duration::from_millis(1)));
        };
        for command in leftovers {
            self.contained(command.task_id(), |lp| lp.handle(command));
        }
        self.fail_all(|| Failure::plain(Code::ShuttingDown));
        // Bound tasks whose close event waits on a dispatcher still need the global listeners;
        // they go with this runtime's registry when the last of those is dispatched.
        if self.shared.registry.is_empty() {
            self.shared.registry.clear_global();
        }
        call_lost();
        for done in std::mem::take(&mut self.done) {
            done.ok(0);
        }
        call_lost();
    }

    /// Runs every queued command, then writes what they queued.
    fn run_commands(&mut self) {
        let mut commands = std::mem::take(&mut self.commands);
        self.shared.queue.take(&mut commands);
        for command in commands.drain(..) {
            self.contained(command.task_id(), |lp| lp.handle(command));
        }
        self.commands = commands;
        self.flush_dirty();
    }

    /// Runs one step for task `id` (0: for no task in particular). A panic inside fails only that
    /// task: it is dropped (its pending results report `WS_ERR_PANIC`, see `ResultCb`) and gets an
    /// error event and its close event, unless it had closed already. Other tasks go on.
    fn contained(&mut self, id: i64, step: impl FnOnce(&mut EventLoop)) {
        if catch_unwind(AssertUnwindSafe(|| step(self))).is_err() {
            log!(
                WS_LOG_ERROR,
                "task {}: internal error (panic caught: {}); the task is failed",
                id,
                crate::ffi::panic::take_last_panic()
            );
            // Outputs of the interrupted step: their results are reported lost.
            self.out.clear();
            let failure = Failure::new(Code::Panic, "internal error (panic caught); the connection was dropped");
            if id > 0 && catch_unwind(AssertUnwindSafe(|| self.fail_task(id, failure))).is_err() {
                self.out.clear();
                self.shared.registry.remove_task(id);
                self.shared.registry.closed(id);
            }
        }
        call_lost();
    }

    /// Drops task `id` and delivers, as `Task::fail` does, `failure`, the results of its pending
    /// sends (reported lost: `WS_ERR_PANIC`) and its close event (1006), unless it has closed.
    fn fail_task(&mut self, id: i64, failure: Failure) {
        let task = self.tasks.remove(&id);
        self.resolver.forget(id);
        let api = match self.shared.registry.loop_state(id) {
            Ok(ReadyState::Connecting) => Api::Connect,
            Ok(_) => Api::Socket,
            Err(_) => return, // its close event was delivered already
        };
        self.out.push(Output::Error { failure, api });
        self.deliver(id);
        drop(task);
        call_lost();
        self.out.push(Output::Close { code: CloseCode::ABNORMAL, reason: String::new(), clean: false });
        self.deliver(id);
    }

    /// Fails every task left (after a panic outside any task, or a failed poll).
    fn fail_all(&mut self, failure: impl Fn() -> Failure) {
        let mut ids: Vec<i64> = self.tasks.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.contained(id, |lp| lp.fail_task(id, failure()));
        }
    }

    /// How long the next poll may sleep. Unless that is zero, the queue is parked: commands
    /// pushed from here on wake the poll, and those pushed before (by callbacks, or by other
    /// threads while this round ran, neither of which woke us) make it zero.
    fn poll_timeout(&self) -> Option<Duration> {
        if !self.ready.is_empty() || !self.shared.queue.park() {
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
        // Back-pressure: a bound task is not read while its dispatcher's queue is over the limit
        // (checked before each read pass, so a pass under way ends first: a soft bound).
        if let Some(d) = self.bound.get(&id) {
            if !task.read_paused && d.pause_if_over(&self.shared.queue) {
                log!(WS_LOG_DEBUG, "task {}: reading paused, its dispatcher's queue is over its limit", id);
                task.read_paused = true;
                self.paused.push(id);
            }
        }
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
            self.resolver.forget(id);
        }
        self.deliver(id);
    }

    fn deliver(&mut self, id: i64) {
        let mut out = std::mem::take(&mut self.out);
        let bound = self.bound.get(&id).cloned();
        for output in out.drain(..) {
            if let Some(d) = &bound {
                self.queue_output(d, id, output);
                continue;
            }
            match output {
                Output::State(state) => self.shared.registry.set_state(id, state),
                Output::Result(cb, outcome) => cb.finish(id, outcome.as_ref().map(|_| ())),
                Output::Close { ref code, ref reason, ref clean } => {
                    log!(WS_LOG_INFO, "task {} closed: code {} reason \"{}\" clean {}", id, code, reason, clean);
                    let listeners = self.shared.registry.remove_task(id);
                    event::dispatch(&self.shared.registry, id, &output, &listeners);
                    self.shared.registry.closed(id);
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

    /// Queues an output of a bound task on its dispatcher. Its results are routed by their
    /// `ResultCb`. At its close the loop is done with it: its group slot is freed now (so a close
    /// callback may connect again) while the host still sees it until the close is dispatched.
    fn queue_output(&mut self, d: &Arc<Dispatcher>, id: i64, output: Output) {
        match &output {
            Output::Result(..) => {
                let Output::Result(cb, outcome) = output else { unreachable!() };
                return cb.finish(id, outcome.as_ref().map(|_| ()));
            }
            Output::Close { code, reason, clean } => {
                log!(WS_LOG_INFO, "task {} closed: code {} reason \"{}\" clean {}", id, code, reason, clean);
                self.shared.registry.release_slot(id);
                self.bound.remove(&id);
            }
            Output::Open { protocol, .. } => log!(WS_LOG_INFO, "task {} open, protocol {:?}", id, protocol),
            Output::Error { failure, api } => {
                log!(WS_LOG_WARN, "task {}: {}", id, crate::error::fail_msg(*api, failure))
            }
            _ => {}
        }
        d.push(Item::Event { shared: Arc::clone(&self.shared), task_id: id, output });
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Connect(req, result) => self.connect(*req, result),
            Command::Send { task_id, text, data, result } => match self.tasks.get_mut(&task_id) {
                Some(task) => {
                    #[cfg(test)]
                    tests::maybe_panic(&data);
                    if task.send(text, data, result, &mut self.out) {
                        self.dirty.push(task_id);
                    }
                    self.settle(task_id);
                }
                None => result.fail(task_id, &absent(task_id)),
            },
            Command::Close { task_id, code, reason, abort, result } => match self.tasks.get_mut(&task_id) {
                Some(task) if abort => {
                    result.ok(task_id);
                    task.abort(&mut self.out);
                    self.settle(task_id);
                }
                Some(task) => {
                    task.close(code, &reason, result, &mut self.out);
                    self.settle(task_id);
                }
                // A bound task the loop closed, whose close event the host has not run yet: the
                // close is under way, as for a task already CLOSING.
                None if self.shared.registry.live_state(task_id).is_ok() => result.ok(task_id),
                None => result.fail(task_id, &absent(task_id)),
            },
            Command::CloseGroup { group, code, reason, abort, result } => {
                let mut ids: Vec<i64> = self.tasks.values().filter(|t| t.group == group).map(|t| t.id).collect();
                ids.sort_unstable();
                result.ok(0);
                for id in ids {
                    self.contained(id, |lp| {
                        if let Some(task) = lp.tasks.get_mut(&id) {
                            if abort.contains(&id) {
                                task.abort(&mut lp.out);
                            } else {
                                task.close(code, &reason, no_result(Api::Close), &mut lp.out);
                            }
                            lp.settle(id);
                        }
                    });
                }
            }
            Command::NetworkChanged { group, timeout } => {
                let mut ids: Vec<i64> =
                    self.tasks.values().filter(|t| group.is_none_or(|g| t.group == g)).map(|t| t.id).collect();
                ids.sort_unstable();
                for id in ids {
                    self.contained(id, |lp| {
                        if let Some(task) = lp.tasks.get_mut(&id) {
                            task.probe(timeout, &mut lp.out);
                            lp.settle(id);
                        }
                    });
                }
            }
            Command::Report { task_id, failure, result } => result.fail(task_id, &failure),
            Command::Resolved { task_id, addrs, from_host } => {
                if !from_host {
                    self.resolver.answered(task_id);
                }
                if let Some(task) = self.tasks.get_mut(&task_id) {
                    if from_host && !task.asked_host() {
                        return; // not a task waiting for the host's answer
                    }
                    task.resolved(addrs, self.poll.registry(), &mut self.out);
                    self.settle(task_id);
                }
            }
            Command::Shutdown(done) => {
                self.done.extend(done);
                self.begin_shutdown();
            }
            Command::Resume => self.resume(),
        }
    }

    /// Reads again the paused tasks whose dispatcher is under its limit (they may have missed
    /// readiness edges, so each gets a read pass).
    fn resume(&mut self) {
        for id in std::mem::take(&mut self.paused) {
            let Some(task) = self.tasks.get_mut(&id) else { continue };
            if self.bound.get(&id).is_some_and(|d| d.pause_if_over(&self.shared.queue)) {
                self.paused.push(id);
                continue;
            }
            task.read_paused = false;
            self.ready.push(id);
        }
    }

    fn connect(&mut self, mut req: crate::command::ConnectRequest, result: ResultCb) {
        let id = req.task_id;
        if let Some(d) = req.dispatcher.take() {
            self.bound.insert(id, d);
        }
        // Through a proxy, the proxy's name is resolved (the proxy resolves the server's) and
        // the host's addresses for the server do not apply.
        let (host, port) = match &req.proxy {
            Some(p) => (p.host.clone(), p.port),
            None => (req.host.clone(), req.port),
        };
        let target = format!("{}:{}", req.host, req.port);
        let via = req.proxy.as_ref().map(|p| format!(" through proxy {}", p)).unwrap_or_default();
        let addresses = req.addresses.take().filter(|_| req.proxy.is_none());
        let mut task = Task::new(req, &self.shared.config);
        result.ok(id);
        if self.stopping.is_some() {
            // Its call returned the id before ws_shutdown began: like every task ws_shutdown
            // finds connecting, it is aborted (close 1006).
            task.abort(&mut self.out);
            self.tasks.insert(id, task);
            return self.settle(id);
        }
        log!(WS_LOG_DEBUG, "task {} connecting to {}{}", id, target, via);
        self.tasks.insert(id, task);
        let task = self.tasks.get_mut(&id).expect("just inserted");
        if let Some(addrs) = addresses {
            task.resolved(Ok(addrs), self.poll.registry(), &mut self.out);
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            task.resolved(Ok(vec![SocketAddr::new(ip, port)]), self.poll.registry(), &mut self.out);
        } else if let Some(resolver) = self.shared.config.resolver {
            task.lookup_started();
            task.ask_host();
            self.settle(id);
            // Host code, with no borrow of the task held: it may answer from inside.
            return resolver.ask(id, &host, port);
        } else {
            task.lookup_started();
            self.resolver.lookup(id, &host, port);
        }
        self.settle(id);
    }

    fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for id in dirty.drain(..) {
            self.contained(id, |lp| {
                if let Some(task) = lp.tasks.get_mut(&id) {
                    task.flush(&mut lp.out);
                    lp.settle(id);
                }
            });
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
            self.contained(id, |lp| {
                if let Some(task) = lp.tasks.get_mut(&id) {
                    task.on_timer(now, lp.poll.registry(), &mut lp.out);
                    lp.settle(id);
                }
            });
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
            self.contained(id, |lp| {
                if let Some(task) = lp.tasks.get_mut(&id) {
                    task.close(CloseCode::GOING_AWAY, "", no_result(Api::Close), &mut lp.out);
                    lp.settle(id);
                }
            });
        }
    }

    fn force_close_all(&mut self) {
        let mut ids: Vec<i64> = self.tasks.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.contained(id, |lp| {
                if let Some(task) = lp.tasks.get_mut(&id) {
                    let f = Failure::new(Code::ShuttingDown, "runtime shut down before the close handshake finished");
                    task.fail(f, None, &mut lp.out);
                    lp.settle(id);
                }
            });
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::os::raw::c_void;
    use std::time::{Duration, Instant};

    use parking_lot::Mutex;

    use crate::ffi::api::{ws_close, ws_connect, ws_connect_options_init, ws_send, ws_shutdown};
    use crate::ffi::types::*;

    const PANIC_PAYLOAD: &[u8] = b"libws unit test: panic here";

    /// A send of `PANIC_PAYLOAD` panics inside the loop (test builds only).
    pub fn maybe_panic(data: &crate::frame::Masked) {
        if data.len() == PANIC_PAYLOAD.len() && data.clone_plain() == PANIC_PAYLOAD {
            panic!("injected by a unit test");
        }
    }

    /// (tag, what, code): what is an event kind, or 100 for a result.
    static SEEN: Mutex<Vec<(usize, u32, i32)>> = Mutex::new(Vec::new());

    unsafe extern "C" fn on_event(e: *const ws_event, user_data: *mut c_void) {
        // SAFETY: libws calls back with an event valid until the callback returns.
        let e = unsafe { &*e };
        let code = match e.kind {
            WS_EVENT_ERROR => e.error.code,
            WS_EVENT_CLOSE => e.close.code as i32,
            _ => 0,
        };
        SEEN.lock().push((user_data as usize, e.kind, code));
    }

    unsafe extern "C" fn on_result(r: *const ws_result, user_data: *mut c_void) {
        // SAFETY: libws calls back with a result valid until the callback returns.
        let code = unsafe { (*r).code };
        SEEN.lock().push((user_data as usize, 100, code));
    }

    fn seen(tag: usize) -> Vec<(u32, i32)> {
        SEEN.lock().iter().filter(|s| s.0 == tag).map(|s| (s.1, s.2)).collect()
    }

    fn wait_until(what: &str, done: impl Fn() -> bool) {
        let until = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < until, "timed out waiting for {}", what);
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn echo_server() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                std::thread::spawn(move || {
                    let Ok(mut ws) = tungstenite::accept(stream) else { return };
                    while let Ok(m) = ws.read() {
                        if (m.is_text() || m.is_binary()) && ws.send(m).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        port
    }

    fn connect(url: &std::ffi::CString, tag: usize) -> i64 {
        let mut o = std::mem::MaybeUninit::<ws_connect_options>::zeroed();
        unsafe { ws_connect_options_init(o.as_mut_ptr()) };
        let mut o = unsafe { o.assume_init() };
        o.url = url.as_ptr();
        o.on_event = Some(on_event);
        o.event_user_data = tag as *mut c_void;
        unsafe { ws_connect(&o) }
    }

    #[test]
    fn a_panic_fails_only_its_task_and_its_result_still_comes() {
        let url = std::ffi::CString::new(format!("ws://127.0.0.1:{}/", echo_server())).unwrap();
        let (a, b) = (connect(&url, 1), connect(&url, 2));
        assert!(a > 0 && b > 0);
        wait_until("both open", || seen(1).contains(&(WS_EVENT_OPEN, 0)) && seen(2).contains(&(WS_EVENT_OPEN, 0)));

        let rc = unsafe {
            ws_send(a, PANIC_PAYLOAD.as_ptr(), PANIC_PAYLOAD.len(), WS_BINARY, Some(on_result), 10 as *mut c_void)
        };
        assert_eq!(rc, WS_OK);
        wait_until("task 1 closes", || seen(1).iter().any(|s| s.0 == WS_EVENT_CLOSE));
        assert_eq!(seen(1), vec![(WS_EVENT_OPEN, 0), (WS_EVENT_ERROR, WS_ERR_PANIC), (WS_EVENT_CLOSE, 1006)]);
        wait_until("the lost send's result", || !seen(10).is_empty());
        assert_eq!(seen(10), vec![(100, WS_ERR_PANIC)], "the send's result, exactly once");

        // The other task goes on.
        let rc = unsafe { ws_send(b, b"hi".as_ptr(), 2, WS_TEXT, Some(on_result), 20 as *mut c_void) };
        assert_eq!(rc, WS_OK);
        wait_until("the echo on task 2", || seen(2).contains(&(WS_EVENT_MESSAGE, 0)));
        assert_eq!(seen(20), vec![(100, WS_OK)]);
        assert_eq!(unsafe { ws_close(b, 1000, std::ptr::null(), Some(on_result), 30 as *mut c_void) }, WS_OK);
        wait_until("task 2 closes", || seen(2).iter().any(|s| s.0 == WS_EVENT_CLOSE));
        assert_eq!(seen(2).last(), Some(&(WS_EVENT_CLOSE, 1000)));
        assert_eq!(seen(30), vec![(100, WS_OK)]);
        assert_eq!(ws_shutdown(), WS_OK);
        assert_eq!(seen(1).len(), 3, "nothing after the close event");
    }
}
