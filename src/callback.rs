//! Calling into C: the result callback of one call, and event listeners. These are the only
//! places where C code runs, never with a library lock held: on the loop thread, or, for tasks
//! bound to a dispatcher, on the host thread that calls `ws_dispatch`.

use std::cell::RefCell;
use std::ffi::CString;
use std::os::raw::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::buffered::Held;
use crate::dispatcher::{Dispatcher, Item};

use crate::error::{fail_msg, ok_msg, Api, Code, Failure};
use crate::ffi::types::{ws_event, ws_event_cb, ws_result, ws_result_cb, ws_socket_cb};

/// A `void *user_data` handed to us by C. The caller owns what it points to; we only pass it back.
#[derive(Clone, Copy, Debug)]
pub struct UserData(pub *mut c_void);

// SAFETY: the pointer is opaque to us and only ever handed back to the C callback that came with
// it; the header tells callers that callbacks run on the libws thread.
unsafe impl Send for UserData {}
// SAFETY: the same.
unsafe impl Sync for UserData {}

/// Makes a C string from text that may hold NUL bytes (they become U+FFFD).
pub fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', "\u{fffd}")).unwrap_or_default()
}

/// One call's success/fail/complete, to be called exactly once, on the libws thread, or queued on
/// its dispatcher (`ws_dispatch` then calls it on the host's thread).
///
/// "Exactly once" holds by construction: `finish` consumes it, and one dropped without being
/// finished (a panic unwound past it, or a libws bug lost it) still reports `WS_ERR_PANIC`. C is
/// never called from `Drop` itself: on the libws thread the result waits in `LOST` until the
/// loop delivers it (`call_lost`); on any other thread it is handed to the loop as a command.
#[derive(Debug)]
pub struct ResultCb {
    cb: ws_result_cb,
    user_data: UserData,
    api: Api,
    /// The task a lost result is reported for (0 until known, e.g. before a connect has its id).
    task_id: i64,
    /// Where the result goes: None runs it on the libws thread, Some queues it there.
    dispatcher: Option<Arc<Dispatcher>>,
    /// A send's bytes in its task's `ws_buffered_amount`, until its result is decided.
    held: Option<Held>,
}

impl ResultCb {
    pub fn new(api: Api, cb: ws_result_cb, user_data: *mut c_void) -> ResultCb {
        ResultCb { cb, user_data: UserData(user_data), api, task_id: 0, dispatcher: None, held: None }
    }

    /// Routes the result through `dispatcher` (a task bound to one, or a call on the thread
    /// that dispatches it).
    pub fn set_dispatcher(&mut self, dispatcher: Option<Arc<Dispatcher>>) {
        self.dispatcher = dispatcher;
    }

    /// Names the task this result belongs to (for a result reported by `Drop`).
    pub fn set_task(&mut self, task_id: i64) {
        self.task_id = task_id;
    }

    /// Counts a send's bytes in its task's `ws_buffered_amount` until this result is decided.
    pub fn hold(&mut self, held: Held) {
        self.held = Some(held);
    }

    pub fn ok(self, task_id: i64) {
        self.finish(task_id, Ok(()))
    }

    pub fn fail(self, task_id: i64, failure: &Failure) {
        self.finish(task_id, Err(failure))
    }

    pub fn finish(mut self, task_id: i64, outcome: Result<(), &Failure>) {
        // Decided: the bytes leave ws_buffered_amount before the callback runs (or is queued).
        self.held = None;
        let Some(cb) = self.cb.take() else { return };
        let due =
            Due { cb, user_data: self.user_data, api: self.api, task_id, outcome: outcome.map_err(Failure::clone) };
        match self.dispatcher.take() {
            Some(d) => d.push(Item::Result(due)),
            None => due.call(),
        }
    }

    /// Drops the callback uncalled: only for the calls the header says get no callback
    /// (`WS_ERR_RUNTIME`: there is no libws thread to call it on).
    pub fn forget(mut self) {
        self.cb = None;
    }
}

fn call(
    cb: unsafe extern "C" fn(*const ws_result, *mut c_void),
    user_data: UserData,
    api: Api,
    task_id: i64,
    outcome: Result<(), &Failure>,
) {
    let (code, text) = match outcome {
        Ok(()) => (Code::Ok, ok_msg(api)),
        Err(f) => (f.code, fail_msg(api, f)),
    };
    let msg = c_string(&text);
    let result = ws_result { task_id, code: code as i32, err_msg: msg.as_ptr() };
    // SAFETY: cb is a C function pointer given for exactly this call; result and msg outlive it.
    unsafe { cb(&result, user_data.0) };
}

/// A result ready to be called: on the libws thread, or from a dispatcher's queue.
#[derive(Debug)]
pub struct Due {
    cb: unsafe extern "C" fn(*const ws_result, *mut c_void),
    user_data: UserData,
    api: Api,
    task_id: i64,
    outcome: Result<(), Failure>,
}

impl Due {
    pub fn call(self) {
        call(self.cb, self.user_data, self.api, self.task_id, self.outcome.as_ref().map(|_| ()));
    }
}

/// A result callback that was dropped unfinished on the libws thread, waiting for `call_lost`.
struct Lost {
    due: Due,
    dispatcher: Option<Arc<Dispatcher>>,
}

thread_local! {
    static LOST: RefCell<Vec<Lost>> = const { RefCell::new(Vec::new()) };
}

fn lost_failure() -> Failure {
    Failure::new(Code::Panic, "internal error: libws lost the result of this call")
}

impl Drop for ResultCb {
    fn drop(&mut self) {
        let Some(cb) = self.cb.take() else { return };
        if crate::runtime::on_loop_thread() {
            let due = Due {
                cb,
                user_data: self.user_data,
                api: self.api,
                task_id: self.task_id,
                outcome: Err(lost_failure()),
            };
            let lost = Lost { due, dispatcher: self.dispatcher.take() };
            let _ = LOST.try_with(|l| l.borrow_mut().push(lost));
        } else {
            let result = ResultCb {
                cb: Some(cb),
                user_data: self.user_data,
                api: self.api,
                task_id: self.task_id,
                dispatcher: self.dispatcher.take(),
                held: None,
            };
            crate::runtime::report_lost(self.task_id, lost_failure(), result);
        }
    }
}

/// Delivers (or queues on its dispatcher), with `WS_ERR_PANIC`, every result dropped unfinished
/// on this (the libws) thread. The loop calls it after each step, with no lock held.
pub fn call_lost() {
    loop {
        let batch = LOST.try_with(|l| std::mem::take(&mut *l.borrow_mut())).unwrap_or_default();
        if batch.is_empty() {
            return;
        }
        for lost in batch {
            match lost.dispatcher {
                Some(d) => d.push(Item::Result(lost.due)),
                None => lost.due.call(),
            }
        }
    }
}

/// An event listener: one task's or global. `removed` is set by `ws_off_event`.
#[derive(Debug)]
pub struct Listener {
    pub handle: i64,
    /// The task it listens to; 0 for every task.
    pub task_id: i64,
    pub cb: ws_event_cb,
    pub user_data: UserData,
    pub removed: AtomicBool,
}

impl Listener {
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// Calls the listener. The caller guarantees `event` is valid for the call.
    pub fn call(&self, event: &ws_event) {
        if let Some(cb) = self.cb {
            // SAFETY: a C function pointer registered for events, with its own user_data.
            unsafe { cb(event, self.user_data.0) };
        }
    }
}

/// A task's socket hook (`ws_connect_options.on_socket`).
#[derive(Clone, Copy, Debug)]
pub struct SocketHook {
    pub cb: ws_socket_cb,
    pub user_data: UserData,
}

impl SocketHook {
    pub fn call(&self, task_id: i64, fd: i32) -> i32 {
        match self.cb {
            // SAFETY: a C function pointer given for this task, with its own user_data.
            Some(cb) => unsafe { cb(task_id, fd, self.user_data.0) },
            None => 0,
        }
    }
}
