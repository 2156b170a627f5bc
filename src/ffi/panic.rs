//! The panic boundary: every exported function runs inside `guard`, so a bug becomes
//! `WS_ERR_PANIC` (or a safe default) instead of unwinding into C.
//!
//! Rust's default panic hook prints to stderr, and libws never writes there. On first use libws
//! installs a hook that, for panics on a libws thread or inside an exported call, keeps the
//! message for the host's logger (sent after the panic is caught, with no lock held) and prints
//! nothing; every other panic of the process goes to the hook that was installed before.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

use crate::ffi::types::WS_LOG_ERROR;
use crate::log::log;

thread_local! {
    /// > 0 while this thread runs libws code: a libws thread (for its whole life) or an exported call.
    static INSIDE: Cell<u32> = const { Cell::new(0) };
    /// The message of the last panic caught on this thread, until someone logs it.
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

fn describe(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    match info.location() {
        Some(at) => format!("{} at {}:{}", what, at.file(), at.line()),
        None => what.to_string(),
    }
}

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// A hook that keeps the message of a panic inside libws and hands every other to `previous`.
fn quiet_hook(previous: Hook) -> Hook {
    Box::new(move |info| {
        if INSIDE.try_with(|d| d.get() > 0).unwrap_or(false) {
            let text = describe(info);
            let _ = LAST.try_with(|l| *l.borrow_mut() = Some(text));
        } else {
            previous(info);
        }
    })
}

/// Installs the quiet hook once per process, chained to the hook it replaces.
pub fn install_hook() {
    INSTALL.call_once(|| std::panic::set_hook(quiet_hook(std::panic::take_hook())));
}

/// Marks the calling thread as a libws thread for the rest of its life.
pub fn mark_libws_thread() {
    install_hook();
    INSIDE.with(|d| d.set(d.get() + 1));
}

/// The message of the last panic caught on this thread, once.
pub fn take_last_panic() -> String {
    LAST.try_with(|l| l.borrow_mut().take()).ok().flatten().unwrap_or_else(|| "(no message)".into())
}

pub fn guard<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    install_hook();
    INSIDE.with(|d| d.set(d.get() + 1));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    INSIDE.with(|d| d.set(d.get() - 1));
    outcome.unwrap_or_else(|_| {
        log!(WS_LOG_ERROR, "internal error caught at the C boundary: {}", take_last_panic());
        on_panic
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn panic_becomes_default() {
        assert_eq!(super::guard(-22, || -> i32 { panic!("boom") }), -22);
        assert_eq!(super::guard(-22, || 7), 7);
    }

    #[test]
    fn quiet_hook_keeps_libws_panics_and_passes_on_the_others() {
        let previous_calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&previous_calls);
        let saved = std::panic::take_hook();
        std::panic::set_hook(super::quiet_hook(Box::new(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        })));
        let inside = std::thread::spawn(|| {
            super::mark_libws_thread();
            assert!(std::panic::catch_unwind(|| panic!("inside libws")).is_err());
            super::take_last_panic()
        })
        .join()
        .unwrap();
        let calls_after_inside = previous_calls.load(Ordering::SeqCst);
        let outside = std::thread::spawn(|| {
            assert!(std::panic::catch_unwind(|| panic!("host code")).is_err());
            super::take_last_panic()
        })
        .join()
        .unwrap();
        std::panic::set_hook(saved);
        assert!(inside.contains("inside libws") && inside.contains("panic.rs"), "{}", inside);
        assert_eq!(calls_after_inside, 0, "a libws panic reached the previous hook (stderr)");
        assert_eq!(previous_calls.load(Ordering::SeqCst), 1, "a host panic must reach the previous hook");
        assert_eq!(outside, "(no message)");
    }
}
