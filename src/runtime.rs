//! The process-wide runtime: starts the loop thread on first use (or `ws_init`), hands callers the
//! shared state, and stops it on `ws_shutdown` so it can start again.
//!
//! Every call that may queue a command holds a `Handle` while it does. The loop thread ends by
//! `retire`: under the `RUNTIME` lock, once no call holds a handle and no command waits, it takes
//! its runtime out of `RUNTIME` and closes its queue. So every command a call pushes is run, and
//! every result is delivered on the libws thread, also while `ws_shutdown` runs.

use std::cell::Cell;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use mio::{Poll, Waker};
use parking_lot::Mutex;

use crate::callback::ResultCb;
use crate::command::{Command, Queue};
use crate::config::Config;
use crate::error::{Code, Failure};
use crate::event_loop::{EventLoop, WAKER};
use crate::ffi::types::WS_LOG_INFO;
use crate::log::log;
use crate::registry::Registry;
use crate::shared::Shared;
use crate::tls::TlsOptions;

/// One call's hold on the runtime: while it lives, the loop still takes commands.
pub struct Handle(Arc<Shared>);

impl Deref for Handle {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.calls.fetch_sub(1, Ordering::Release);
    }
}

impl Handle {
    pub fn is_stopping(&self) -> bool {
        self.0.stopping.load(Ordering::Acquire)
    }
}

struct Running {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

static RUNTIME: Mutex<Option<Running>> = Mutex::new(None);
/// Serialises `ws_shutdown` calls so two of them never join the same thread.
static SHUTDOWN: Mutex<()> = Mutex::new(());
/// Threads of runtimes stopped by `ws_shutdown_async`: the next `ws_shutdown` joins them.
static ENDING: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());
/// Stopped runtimes whose bound tasks still wait for their close event on a dispatcher: their
/// listeners can still be called, so `ws_off_event` and `ws_ready_state` look there too.
static RETIRED: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

thread_local! {
    static ON_LOOP_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// True on the libws thread, i.e. inside a callback.
pub fn on_loop_thread() -> bool {
    ON_LOOP_THREAD.try_with(|f| f.get()).unwrap_or(false)
}

fn start(config: Config) -> Result<Running, Failure> {
    let runtime_failure = |what: &str, e: std::io::Error| Failure::new(Code::Runtime, format!("{}: {}", what, e));
    let poll = Poll::new().map_err(|e| runtime_failure("could not create the poller", e))?;
    let waker = Waker::new(poll.registry(), WAKER).map_err(|e| runtime_failure("could not create the waker", e))?;
    let shared = Arc::new(Shared {
        config,
        queue: Arc::new(Queue::new(waker)),
        registry: Registry::default(),
        stopping: AtomicBool::new(false),
        calls: AtomicUsize::new(0),
        tls: Mutex::new(Vec::new()),
    });
    let for_loop = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("libws".into())
        .spawn(move || {
            ON_LOOP_THREAD.with(|f| f.set(true));
            crate::ffi::panic::mark_libws_thread();
            EventLoop::new(for_loop, poll, retire).run();
        })
        .map_err(|e| runtime_failure("could not start the libws thread", e))?;
    Ok(Running { shared, thread: Some(thread) })
}

/// Logged by whoever started the runtime once it no longer holds `RUNTIME`: the host's logger may
/// call any ws_* function, and those take that lock.
fn log_started() {
    log!(WS_LOG_INFO, "libws {} runtime started", env!("CARGO_PKG_VERSION"));
}

/// Takes the runtime out of `slot` if it is `shared`'s. The caller drops what it returns after
/// unlocking: dropping a runtime may drop commands, and their results must not run into this lock.
fn take_if(slot: &mut Option<Running>, shared: &Arc<Shared>) -> Option<Running> {
    if slot.as_ref().is_some_and(|r| Arc::ptr_eq(&r.shared, shared)) {
        slot.take()
    } else {
        None
    }
}

/// A handle on the runtime, started with the default config if there is none. It may be
/// stopping (`Handle::is_stopping`): the call is then refused, through the loop. A runtime whose
/// thread died is replaced.
pub fn get() -> Result<Handle, Failure> {
    loop {
        let mut slot = RUNTIME.lock();
        let mut dead = None;
        if let Some(running) = slot.as_mut() {
            let stopping = running.shared.stopping.load(Ordering::Acquire);
            if stopping || !running.thread.as_ref().is_some_and(|t| t.is_finished()) {
                running.shared.calls.fetch_add(1, Ordering::AcqRel);
                return Ok(Handle(Arc::clone(&running.shared)));
            }
            dead = slot.take();
        }
        let started = start(Config::default()).map(|running| *slot = Some(running));
        drop(slot);
        if let Some(mut dead) = dead {
            if let Some(t) = dead.thread.take() {
                let _ = t.join();
            }
        }
        started?;
        log_started();
        // And take the handle on the next turn, with the lock.
    }
}

/// The running runtime, if any, without starting one.
pub fn current() -> Option<Arc<Shared>> {
    RUNTIME.lock().as_ref().map(|r| Arc::clone(&r.shared))
}

/// The running runtime, then the stopped ones whose close events wait on a dispatcher.
pub fn all() -> Vec<Arc<Shared>> {
    let mut all: Vec<Arc<Shared>> = current().into_iter().collect();
    all.extend(RETIRED.lock().iter().filter_map(Weak::upgrade));
    all
}

/// True where a blocking call would wait on host code: on the libws thread, or inside a
/// callback run by `ws_dispatch`.
pub fn in_callback() -> bool {
    on_loop_thread() || crate::dispatcher::in_dispatch()
}

/// Hands a result that was dropped unfinished on a caller's thread to the loop, which reports it
/// (`ResultCb`'s `Drop`). With no runtime there is no libws thread to report it on.
pub fn report_lost(task_id: i64, failure: Failure, result: ResultCb) {
    match current() {
        Some(shared) => {
            if let Err(Command::Report { result, .. }) = shared.queue.push(Command::Report { task_id, failure, result })
            {
                result.forget();
            }
        }
        None => result.forget(),
    }
}

/// Called by the loop thread when it has nothing left to run. If no call holds a `Handle` and no
/// command waits, takes its runtime out of `RUNTIME` (the next call starts a fresh one), closes its
/// queue and returns what was still in it; otherwise `None`: a call is about to push, so the loop
/// must run once more. Calls take handles under the same lock, so none can slip in between.
pub fn retire(shared: &Arc<Shared>) -> Option<Vec<Command>> {
    let mut slot = RUNTIME.lock();
    if shared.calls.load(Ordering::Acquire) != 0 || !shared.queue.is_empty() {
        return None;
    }
    let retired = take_if(&mut slot, shared);
    let leftovers = shared.queue.close();
    drop(slot);
    let mut stopped = RETIRED.lock();
    stopped.retain(|w| w.strong_count() > 0);
    stopped.push(Arc::downgrade(shared));
    drop(stopped);
    drop(retired);
    Some(leftovers)
}

/// Starts the runtime with `config`. Fails if it is already running.
pub fn init(config: Config) -> Result<(), Failure> {
    if in_callback() {
        return Err(Failure::new(Code::WrongThread, "ws_init may not be called from a libws callback"));
    }
    let mut slot = RUNTIME.lock();
    if slot.is_some() {
        return Err(Failure::new(Code::AlreadyRunning, "the runtime is already running; call ws_shutdown first"));
    }
    let tls_given = config.tls != TlsOptions::default();
    let running = start(config)?;
    // Bad CA PEM is the caller's error: report it from ws_init rather than at the first connect.
    if tls_given {
        if let Err(f) = running.shared.tls_config(None) {
            *slot = Some(running);
            drop(slot);
            let _ = shutdown();
            return Err(f);
        }
    }
    *slot = Some(running);
    drop(slot);
    log_started();
    Ok(())
}

/// Closes every socket (1001), waits for their close events, stops the thread and frees
/// everything. A no-op when nothing runs.
pub fn shutdown() -> Result<(), Failure> {
    if in_callback() {
        return Err(Failure::new(
            Code::WrongThread,
            "ws_shutdown may not be called from a libws callback: use ws_shutdown_async",
        ));
    }
    let _serial = SHUTDOWN.lock();
    let ending = std::mem::take(&mut *ENDING.lock());
    for thread in ending {
        let _ = thread.join();
    }
    let (shared, thread) = {
        let mut slot = RUNTIME.lock();
        let Some(running) = slot.as_mut() else { return Ok(()) };
        running.shared.stopping.store(true, Ordering::Release);
        (Arc::clone(&running.shared), running.thread.take())
    };
    // If the loop is already gone the queue is closed and there is nothing to tell it.
    let _ = shared.queue.push(Command::Shutdown(None));
    if let Some(thread) = thread {
        let _ = thread.join();
    }
    // The loop retired its runtime before it ended; if it died before it could, do it here.
    let stale = take_if(&mut RUNTIME.lock(), &shared);
    drop(stale);
    log!(WS_LOG_INFO, "libws runtime stopped");
    Ok(())
}

/// Starts a shutdown and returns at once; `done` is called (or queued on its dispatcher) as the
/// loop's last act. With no runtime running, one is started to stop, so `done` still comes from a
/// libws thread. The thread is joined by the next `ws_shutdown`.
pub fn shutdown_async(done: ResultCb) -> Result<(), Failure> {
    let handle = match get() {
        Ok(h) => h,
        Err(f) => {
            done.forget();
            return Err(f);
        }
    };
    {
        let mut slot = RUNTIME.lock();
        if let Some(running) = slot.as_mut().filter(|r| Arc::ptr_eq(&r.shared, &handle.0)) {
            running.shared.stopping.store(true, Ordering::Release);
            if let Some(thread) = running.thread.take() {
                ENDING.lock().push(thread);
            }
        }
    }
    // The handle keeps the queue open, so the command is run.
    if let Err(Command::Shutdown(Some(done))) = handle.queue.push(Command::Shutdown(Some(done))) {
        done.forget();
    }
    Ok(())
}
