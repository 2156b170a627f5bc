//! The process-wide runtime: starts the loop thread on first use (or `ws_init`), hands callers the
//! shared state, and stops it on `ws_shutdown` so it can start again.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use mio::{Poll, Waker};
use parking_lot::Mutex;

use crate::command::{Command, Queue};
use crate::config::Config;
use crate::error::{Code, Failure};
use crate::event_loop::{EventLoop, WAKER};
use crate::ffi::types::WS_LOG_INFO;
use crate::log::log;
use crate::registry::Registry;
use crate::tls::TlsOptions;

/// What callers on any thread share with the loop thread.
pub struct Shared {
    pub config: Config,
    pub queue: Arc<Queue>,
    pub registry: Registry,
    /// Set when `ws_shutdown` begins: new connects are refused.
    pub stopping: AtomicBool,
    /// The TLS client configuration for `config.tls`, built on first wss:// use.
    tls: Mutex<Option<Arc<rustls::ClientConfig>>>,
}

impl Shared {
    /// The runtime's TLS configuration; with `extra` (a task's own options) a new one merging both.
    pub fn tls_config(&self, extra: Option<TlsOptions>) -> Result<Arc<rustls::ClientConfig>, Failure> {
        if let Some(extra) = extra {
            let mut merged = self.config.tls.clone();
            if !merged.extra_ca_pem.is_empty() {
                merged.extra_ca_pem.push(b'\n');
            }
            merged.extra_ca_pem.extend_from_slice(&extra.extra_ca_pem);
            merged.skip_verification |= extra.skip_verification;
            return crate::tls::client_config(&merged);
        }
        let mut slot = self.tls.lock();
        if let Some(config) = slot.as_ref() {
            return Ok(Arc::clone(config));
        }
        let config = crate::tls::client_config(&self.config.tls)?;
        *slot = Some(Arc::clone(&config));
        Ok(config)
    }
}

struct Running {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

static RUNTIME: Mutex<Option<Running>> = Mutex::new(None);
/// Serialises `ws_shutdown` calls so two of them never join the same thread.
static SHUTDOWN: Mutex<()> = Mutex::new(());

thread_local! {
    static ON_LOOP_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// True on the libws thread, i.e. inside a callback.
pub fn on_loop_thread() -> bool {
    ON_LOOP_THREAD.with(|f| f.get())
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
        tls: Mutex::new(None),
    });
    let for_loop = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("libws".into())
        .spawn(move || {
            ON_LOOP_THREAD.with(|f| f.set(true));
            EventLoop::new(for_loop, poll).run();
        })
        .map_err(|e| runtime_failure("could not start the libws thread", e))?;
    log!(WS_LOG_INFO, "libws {} runtime started", env!("CARGO_PKG_VERSION"));
    Ok(Running { shared, thread: Some(thread) })
}

/// The running runtime, started with the default config if there is none. A runtime whose
/// thread died is replaced.
pub fn get() -> Result<Arc<Shared>, Failure> {
    let mut slot = RUNTIME.lock();
    if let Some(running) = slot.as_mut() {
        if running.shared.stopping.load(Ordering::Acquire) {
            return Err(Failure::plain(Code::ShuttingDown));
        }
        let dead = running.thread.as_ref().is_none_or(|t| t.is_finished());
        if !dead {
            return Ok(Arc::clone(&running.shared));
        }
        if let Some(t) = running.thread.take() {
            let _ = t.join();
        }
    }
    let running = start(Config::default())?;
    let shared = Arc::clone(&running.shared);
    *slot = Some(running);
    Ok(shared)
}

/// The running runtime, if any, without starting one.
pub fn current() -> Option<Arc<Shared>> {
    RUNTIME.lock().as_ref().map(|r| Arc::clone(&r.shared))
}

/// Starts the runtime with `config`. Fails if it is already running.
pub fn init(config: Config) -> Result<(), Failure> {
    if on_loop_thread() {
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
    Ok(())
}

/// Closes every socket (1001), waits for their close events, stops the thread and frees
/// everything. A no-op when nothing runs.
pub fn shutdown() -> Result<(), Failure> {
    if on_loop_thread() {
        return Err(Failure::new(Code::WrongThread, "ws_shutdown may not be called from a libws callback"));
    }
    let _serial = SHUTDOWN.lock();
    let (shared, thread) = {
        let mut slot = RUNTIME.lock();
        let Some(running) = slot.as_mut() else { return Ok(()) };
        running.shared.stopping.store(true, Ordering::Release);
        (Arc::clone(&running.shared), running.thread.take())
    };
    // If the loop is already gone the queue is closed and there is nothing to tell it.
    let _ = shared.queue.push(Command::Shutdown);
    if let Some(thread) = thread {
        let _ = thread.join();
    }
    *RUNTIME.lock() = None;
    log!(WS_LOG_INFO, "libws runtime stopped");
    Ok(())
}
