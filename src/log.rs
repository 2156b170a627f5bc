//! The host's logger: libws prints nothing itself; diagnostics go to the callback set with
//! `ws_set_logger` (logcat, os_log...), filtered by level. Off by default.

use std::fmt;
use std::sync::atomic::{AtomicI32, Ordering};

use parking_lot::Mutex;

use crate::callback::{c_string, UserData};
use crate::ffi::types::ws_log_cb;

static LEVEL: AtomicI32 = AtomicI32::new(0);
static LOGGER: Mutex<(ws_log_cb, UserData)> = Mutex::new((None, UserData(std::ptr::null_mut())));

pub fn set(cb: ws_log_cb, user_data: UserData, level: i32) {
    *LOGGER.lock() = (cb, user_data);
    LEVEL.store(if cb.is_some() { level } else { 0 }, Ordering::Release);
}

pub fn enabled(level: i32) -> bool {
    level <= LEVEL.load(Ordering::Relaxed)
}

/// Formats and hands one line to the logger, with no lock held during the call.
pub fn write(level: i32, args: fmt::Arguments<'_>) {
    let (cb, user_data) = *LOGGER.lock();
    if let Some(cb) = cb {
        let line = c_string(&args.to_string());
        // SAFETY: the host's logger with its own user_data; the line lives through the call.
        unsafe { cb(level, line.as_ptr(), user_data.0) };
    }
}

/// `log!(WS_LOG_INFO, "task {} open", id)`: formats only when that level is on.
macro_rules! log {
    ($level:expr, $($arg:tt)*) => {
        if $crate::log::enabled($level) {
            $crate::log::write($level, format_args!($($arg)*))
        }
    };
}
pub(crate) use log;
