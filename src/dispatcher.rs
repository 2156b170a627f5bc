//! A host's dispatcher: the results and events of the tasks bound to it wait in its queue until
//! the host runs them on its own thread (`ws_dispatch`), so a JavaScript engine, a Looper or a
//! serial queue gets every callback on its own thread, in order, with nothing to copy or relay.
//!
//! - Pushes come from the libws thread. The host learns that the queue became non-empty from a
//!   byte in a pipe (its read end is the fd the host watches) and from its wake callback; both
//!   happen with no lock held, guarded by the `signalled` flag so a busy queue costs one wake.
//! - `ws_dispatch` takes items one at a time and runs each with no lock held. Two threads never
//!   run the same dispatcher at once: the second gets `WS_ERR_BUSY` (it must not wait: the first
//!   may be inside host code waiting for it), so items never run out of order.
//! - Memory is bounded: past `max_pending_bytes` the loop stops reading the bound tasks' sockets
//!   (`pause_if_over`); when the host has dispatched the queue down to half the limit, the loop is
//!   told to read again (`Command::Resume`).
//! - Host-observed state: the loop's state changes of a bound task travel through the queue too,
//!   so the registry's readyState of a bound task is what the host has seen (see `run_event`).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::os::raw::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::ThreadId;

use parking_lot::Mutex;

use crate::callback::{Due, UserData};
use crate::close_code::CloseCode;
use crate::command::{Command, Queue};
use crate::error::{Code, Failure};
use crate::event;
use crate::ffi::types::{ws_wake_cb, WS_LOG_ERROR};
use crate::log::log;
use crate::shared::Shared;
use crate::task::Output;

/// Default `max_pending_bytes`: 16 MiB.
pub const DEFAULT_MAX_PENDING: usize = 16 << 20;

/// What one queued item costs beyond its message bytes (the item itself, its queue slot): counted
/// so a flood of empty messages is bounded too.
const ITEM_COST: usize = 128;

/// One queued callback: a call's result, or an event (or state change) of a bound task.
pub enum Item {
    Result(Due),
    Event { shared: Arc<Shared>, task_id: i64, output: Output },
}

impl Item {
    fn cost(&self) -> usize {
        match self {
            Item::Event { output: Output::Message { data, .. }, .. } => ITEM_COST + data.capacity(),
            _ => ITEM_COST,
        }
    }

    /// An event of `task_id` that an abort drops (its close event and every result stay).
    fn dropped_by_abort(&self, task_id: i64) -> bool {
        matches!(self, Item::Event { task_id: id, output, .. } if *id == task_id && !matches!(output, Output::Close { .. }))
    }
}

#[derive(Default)]
struct State {
    items: VecDeque<Item>,
    /// Bytes of `items` (`Item::cost`).
    pending: usize,
    /// Set when the loop paused reading because of this dispatcher: the queue to tell it to
    /// read again.
    paused_by: Option<Arc<Queue>>,
}

pub struct Dispatcher {
    state: Mutex<State>,
    max_pending: usize,
    /// The pipe: the host watches `read_fd`; a byte in it means "items are pending".
    read_fd: i32,
    write_fd: i32,
    /// A wake (byte and callback) is out that no `ws_dispatch` call has consumed yet.
    signalled: AtomicBool,
    wake: ws_wake_cb,
    wake_user_data: UserData,
    /// The thread running `ws_dispatch` on this dispatcher right now.
    dispatching: Mutex<Option<ThreadId>>,
    /// Tasks bound to it whose close event has not been dispatched yet.
    bound: AtomicUsize,
    /// Groups it is the default dispatcher of.
    defaults: AtomicUsize,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dispatcher(fd {})", self.read_fd)
    }
}

// SAFETY: the wake callback's user_data is opaque and only handed back to that callback, which
// the header says may be called from the libws thread and the dispatching thread.
unsafe impl Send for Dispatcher {}
// SAFETY: the same.
unsafe impl Sync for Dispatcher {}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        // SAFETY: our own descriptors, closed once.
        unsafe {
            libc::close(self.read_fd);
            libc::close(self.write_fd);
        }
    }
}

/// Live dispatchers by the address handed to C, so a freed or foreign pointer is refused rather
/// than used.
static LIVE: Mutex<Option<HashMap<usize, Arc<Dispatcher>>>> = Mutex::new(None);
/// Group defaults (`ws_set_group_dispatcher`); they outlive runtimes, like the dispatchers.
static GROUPS: Mutex<Option<HashMap<u64, Arc<Dispatcher>>>> = Mutex::new(None);

thread_local! {
    /// How many `ws_dispatch` calls are running on this thread (nested ones of other dispatchers).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// The dispatcher this thread last ran (`ws_dispatch`): results of calls on closed or unknown
    /// ids made on this thread go there.
    static HOME: RefCell<Weak<Dispatcher>> = const { RefCell::new(Weak::new()) };
}

/// True while the current thread runs callbacks of some dispatcher (inside `ws_dispatch`).
pub fn in_dispatch() -> bool {
    DEPTH.try_with(|d| d.get() > 0).unwrap_or(false)
}

/// The dispatcher results of this thread's calls on closed or unknown ids go to, if it is live.
pub fn home() -> Option<Arc<Dispatcher>> {
    let d = HOME.try_with(|h| h.borrow().upgrade()).ok().flatten()?;
    let live = LIVE.lock().as_ref().is_some_and(|m| m.contains_key(&key(&d)));
    live.then_some(d)
}

fn key(d: &Arc<Dispatcher>) -> usize {
    Arc::as_ptr(d) as usize
}

fn invalid(what: &str) -> Failure {
    Failure::new(
        Code::InvalidArgument,
        format!("{} is not a live ws_dispatcher (freed, or never made by ws_dispatcher_new)", what),
    )
}

fn pipe() -> std::io::Result<(i32, i32)> {
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for the two descriptors pipe writes; fcntl on descriptors we own.
    unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        for fd in fds {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            let fd_flags = libc::fcntl(fd, libc::F_GETFD);
            if flags < 0
                || fd_flags < 0
                || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) != 0
                || libc::fcntl(fd, libc::F_SETFD, fd_flags | libc::FD_CLOEXEC) != 0
            {
                let e = std::io::Error::last_os_error();
                libc::close(fds[0]);
                libc::close(fds[1]);
                return Err(e);
            }
        }
    }
    Ok((fds[0], fds[1]))
}

/// Makes a dispatcher and returns the address C gets for it.
pub fn create(max_pending: usize, wake: ws_wake_cb, wake_user_data: *mut c_void) -> Result<usize, Failure> {
    let (read_fd, write_fd) =
        pipe().map_err(|e| Failure::new(Code::Runtime, format!("could not create the dispatcher's pipe: {}", e)))?;
    let d = Arc::new(Dispatcher {
        state: Mutex::new(State::default()),
        max_pending: if max_pending == 0 { DEFAULT_MAX_PENDING } else { max_pending },
        read_fd,
        write_fd,
        signalled: AtomicBool::new(false),
        wake,
        wake_user_data: UserData(wake_user_data),
        dispatching: Mutex::new(None),
        bound: AtomicUsize::new(0),
        defaults: AtomicUsize::new(0),
    });
    let k = key(&d);
    LIVE.lock().get_or_insert_with(HashMap::new).insert(k, d);
    Ok(k)
}

/// The live dispatcher at address `ptr`.
pub fn lookup(ptr: usize, what: &str) -> Result<Arc<Dispatcher>, Failure> {
    LIVE.lock().as_ref().and_then(|m| m.get(&ptr).cloned()).ok_or_else(|| invalid(what))
}

/// The dispatcher a new task of `group` is bound to: `ptr` (from its options) or the group's
/// default; counted as bound (see `unbind`) under the lock `free` checks under, so a dispatcher
/// cannot be freed between the look-up and the binding.
pub fn bind(ptr: usize, group: u64) -> Result<Option<Arc<Dispatcher>>, Failure> {
    let live = LIVE.lock();
    let d = if ptr != 0 {
        Some(live.as_ref().and_then(|m| m.get(&ptr).cloned()).ok_or_else(|| invalid("ws_connect_options.dispatcher"))?)
    } else {
        GROUPS.lock().as_ref().and_then(|g| g.get(&group).cloned())
    };
    if let Some(d) = &d {
        d.bound.fetch_add(1, Ordering::AcqRel);
    }
    Ok(d)
}

/// Frees the dispatcher at `ptr`, unless something still needs it.
pub fn free(ptr: usize) -> Result<(), Failure> {
    let mut live = LIVE.lock();
    let d = live.as_ref().and_then(|m| m.get(&ptr).cloned()).ok_or_else(|| invalid("the dispatcher"))?;
    let busy = |why: String| Err(Failure::new(Code::Busy, why));
    let bound = d.bound.load(Ordering::Acquire);
    if bound > 0 {
        return busy(format!("{} task(s) bound to it have not had their close event dispatched", bound));
    }
    let pending = d.state.lock().items.len();
    if pending > 0 {
        return busy(format!("{} item(s) are still queued: dispatch them first", pending));
    }
    if d.defaults.load(Ordering::Acquire) > 0 {
        return busy("it is the default dispatcher of a group: unset it with ws_set_group_dispatcher".into());
    }
    if d.dispatching.lock().is_some() {
        return busy("ws_dispatch is running on it".into());
    }
    live.as_mut().map(|m| m.remove(&ptr));
    Ok(())
}

/// Makes `ptr` (0: none) the default dispatcher of `group`.
pub fn set_group(group: u64, ptr: usize) -> Result<(), Failure> {
    let live = LIVE.lock();
    let d = match ptr {
        0 => None,
        p => Some(live.as_ref().and_then(|m| m.get(&p).cloned()).ok_or_else(|| invalid("the dispatcher"))?),
    };
    let mut groups = GROUPS.lock();
    let groups = groups.get_or_insert_with(HashMap::new);
    let old = match d {
        Some(d) => {
            d.defaults.fetch_add(1, Ordering::AcqRel);
            groups.insert(group, d)
        }
        None => groups.remove(&group),
    };
    if let Some(old) = old {
        old.defaults.fetch_sub(1, Ordering::AcqRel);
    }
    Ok(())
}

/// The default dispatcher of `group`, if any.
pub fn of_group(group: u64) -> Option<Arc<Dispatcher>> {
    GROUPS.lock().as_ref().and_then(|g| g.get(&group).cloned())
}

/// Ends `ws_dispatch`'s claim on a dispatcher even if a callback's caller unwinds.
struct Claim<'a>(&'a Dispatcher);

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let _ = DEPTH.try_with(|d| d.set(d.get() - 1));
        *self.0.dispatching.lock() = None;
    }
}

impl Dispatcher {
    pub fn fd(&self) -> i32 {
        self.read_fd
    }

    /// A task bound to it had its close event dispatched, or never started.
    pub fn unbind(&self) {
        self.bound.fetch_sub(1, Ordering::AcqRel);
    }

    /// Queues an item (from the libws thread) and wakes the host if the queue was idle.
    pub fn push(&self, item: Item) {
        let signal = {
            let mut s = self.state.lock();
            s.pending += item.cost();
            s.items.push_back(item);
            !self.signalled.swap(true, Ordering::AcqRel)
        };
        if signal {
            self.signal();
        }
    }

    /// The byte in the pipe and the wake callback, with no lock held.
    fn signal(&self) {
        let byte = 1u8;
        // SAFETY: writes one byte from a local to our own non-blocking pipe. A full pipe
        // (EAGAIN) already holds a byte, which is all the host needs.
        unsafe { libc::write(self.write_fd, &byte as *const u8 as *const c_void, 1) };
        if let Some(wake) = self.wake {
            // SAFETY: the host's wake callback with its own user_data; it must not block.
            unsafe { wake(self.wake_user_data.0) };
        }
    }

    /// Empties the pipe. Called with the state lock held, so no push's byte can be lost between
    /// the host's dispatch and the pipe going quiet (a byte written after this only causes a
    /// spurious, harmless wake). A read of a pipe returns all it holds up to the buffer's size,
    /// so a short read emptied it: only a full buffer needs another read (this saves the read
    /// that would only return EAGAIN, one per dispatch).
    fn drain_pipe(&self) {
        let mut buf = [0u8; 64];
        // SAFETY: reads into a local buffer from our own non-blocking pipe.
        while unsafe { libc::read(self.read_fd, buf.as_mut_ptr() as *mut c_void, buf.len()) } == buf.len() as isize {}
    }

    /// Whether the loop should stop reading this dispatcher's tasks: if its queue is over the
    /// limit, the loop's `queue` is remembered to tell it when to read again.
    pub fn pause_if_over(&self, queue: &Arc<Queue>) -> bool {
        let mut s = self.state.lock();
        if s.pending <= self.max_pending {
            return false;
        }
        s.paused_by = Some(Arc::clone(queue));
        true
    }

    /// The queue to tell that reading may resume, once pending bytes are down to half the limit
    /// (half, so a host dispatching one message at a time does not pause and resume the loop
    /// per message).
    fn resume_due(&self, s: &mut State) -> Option<Arc<Queue>> {
        if s.pending <= self.max_pending / 2 {
            s.paused_by.take()
        } else {
            None
        }
    }

    /// `ws_close` before the host saw the open event: drops the task's queued events (not its
    /// close event, which the loop may have queued already, nor any result).
    pub fn drop_events_of(&self, task_id: i64) {
        let resume = {
            let mut s = self.state.lock();
            let mut freed = 0;
            s.items.retain(|item| {
                let drop = item.dropped_by_abort(task_id);
                if drop {
                    freed += item.cost();
                }
                !drop
            });
            s.pending -= freed;
            self.resume_due(&mut s)
        };
        if let Some(queue) = resume {
            let _ = queue.push(Command::Resume);
        }
    }

    /// `ws_dispatch`: runs up to `max` items (0: those queued when the call began) on this
    /// thread. Returns how many ran.
    pub fn dispatch(self: &Arc<Self>, max: u32) -> Result<usize, Failure> {
        {
            let mut owner = self.dispatching.lock();
            match *owner {
                Some(t) if t == std::thread::current().id() => {
                    return Err(Failure::new(Code::WrongThread, "ws_dispatch called from a callback it is running"))
                }
                Some(_) => {
                    return Err(Failure::new(Code::Busy, "another thread is running ws_dispatch on this dispatcher"))
                }
                None => *owner = Some(std::thread::current().id()),
            }
        }
        let _ = DEPTH.try_with(|d| d.set(d.get() + 1));
        let claim = Claim(self);
        let _ = HOME.try_with(|h| *h.borrow_mut() = Arc::downgrade(self));
        let count = {
            let s = self.state.lock();
            // The wake is consumed here: a push from now on wakes the host again.
            self.signalled.store(false, Ordering::Release);
            self.drain_pipe();
            match max {
                0 => s.items.len(),
                m => s.items.len().min(m as usize),
            }
        };
        let mut ran = 0;
        while ran < count {
            let (item, resume) = {
                let mut s = self.state.lock();
                let Some(item) = s.items.pop_front() else { break };
                s.pending -= item.cost();
                let resume = self.resume_due(&mut s);
                (item, resume)
            };
            if let Some(queue) = resume {
                let _ = queue.push(Command::Resume);
            }
            ran += 1;
            // A panic in our own code around a callback loses that item only.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run(item))).is_err() {
                log!(
                    WS_LOG_ERROR,
                    "ws_dispatch caught a panic ({}); the item is lost",
                    crate::ffi::panic::take_last_panic()
                );
            }
        }
        drop(claim);
        // Items left (max reached, or queued while we ran) get a wake of their own if none is out.
        let signal = {
            let s = self.state.lock();
            !s.items.is_empty() && !self.signalled.swap(true, Ordering::AcqRel)
        };
        if signal {
            self.signal();
        }
        Ok(ran)
    }

    fn run(&self, item: Item) {
        match item {
            Item::Result(due) => due.call(),
            Item::Event { shared, task_id, output } => self.run_event(&shared, task_id, output),
        }
    }

    /// Runs one event of a bound task, and makes it what the host has seen: a state change sets
    /// the readyState now, the close event removes the task (CLOSED) before its listeners run. The
    /// listeners are looked up now, so one the host added after an earlier item still gets this
    /// event. A task closed before its open was dispatched (aborted) gets only its close, 1006.
    fn run_event(&self, shared: &Shared, task_id: i64, output: Output) {
        let registry = &shared.registry;
        match output {
            Output::State(state) => {
                if !registry.is_aborted(task_id) {
                    registry.set_state(task_id, state);
                }
            }
            Output::Close { code, reason, clean } => {
                let close = if registry.is_aborted(task_id) {
                    Output::Close { code: CloseCode::ABNORMAL, reason: String::new(), clean: false }
                } else {
                    Output::Close { code, reason, clean }
                };
                let listeners = registry.remove_task(task_id);
                self.unbind();
                event::dispatch(registry, task_id, &close, &listeners);
                registry.closed(task_id);
            }
            other => {
                let mut listeners = Vec::new();
                if !registry.listeners(task_id, &mut listeners) {
                    event::dispatch(registry, task_id, &other, &listeners);
                }
            }
        }
    }
}
