//! Calling into C: the result callback of one call, and event listeners. These are the only
//! places where C code runs, always on the loop thread and never with a library lock held.

use std::ffi::CString;
use std::os::raw::c_void;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{fail_msg, ok_msg, Api, Code, Failure};
use crate::ffi::types::{ws_event, ws_event_cb, ws_result, ws_result_cb, ws_socket_cb};

/// A `void *user_data` handed to us by C. The caller owns what it points to; we only pass it back.
#[derive(Clone, Copy, Debug)]
pub struct UserData(pub *mut c_void);

// SAFETY: the pointer is opaque to us and only ever handed back to the C callback that came with
// it; the header tells callers that callbacks run on the libws thread.
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

/// Makes a C string from text that may hold NUL bytes (they become U+FFFD).
pub fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', "\u{fffd}")).unwrap_or_default()
}

/// One call's success/fail/complete, to be called exactly once.
#[derive(Debug)]
pub struct ResultCb {
    cb: ws_result_cb,
    user_data: UserData,
    api: Api,
}

impl ResultCb {
    pub fn new(api: Api, cb: ws_result_cb, user_data: *mut c_void) -> ResultCb {
        ResultCb { cb, user_data: UserData(user_data), api }
    }

    pub fn ok(self, task_id: i64) {
        self.finish(task_id, Ok(()))
    }

    pub fn fail(self, task_id: i64, failure: &Failure) {
        self.finish(task_id, Err(failure))
    }

    pub fn finish(self, task_id: i64, outcome: Result<(), &Failure>) {
        let Some(cb) = self.cb else { return };
        let (code, text) = match outcome {
            Ok(()) => (Code::Ok, ok_msg(self.api)),
            Err(f) => (f.code, fail_msg(self.api, f)),
        };
        let msg = c_string(&text);
        let result = ws_result { task_id, code: code as i32, err_msg: msg.as_ptr() };
        // SAFETY: cb is a C function pointer given for exactly this call; result and msg outlive it.
        unsafe { cb(&result, self.user_data.0) };
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
