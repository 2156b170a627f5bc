//! The panic boundary: every exported function runs inside `guard`, so a bug becomes
//! `WS_ERR_PANIC` (or a safe default) instead of unwinding into C.

use std::panic::{catch_unwind, AssertUnwindSafe};

pub fn guard<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

#[cfg(test)]
mod tests {
    #[test]
    fn panic_becomes_default() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        assert_eq!(super::guard(-22, || -> i32 { panic!("boom") }), -22);
        std::panic::set_hook(prev);
        assert_eq!(super::guard(-22, || 7), 7);
    }
}
