//! `ws_buffered_amount`: per task, the bytes of the messages `ws_send` accepted whose last byte
//! has not reached the kernel yet. One atomic counter per task, readable from any thread without
//! waiting for the loop: `ws_send` adds a message's length before it queues the command, and the
//! message's `Held` takes it off again when its result is decided (written, refused or failed),
//! before the result callback runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One task's count of bytes accepted and not yet written.
pub type Counter = Arc<AtomicU64>;

/// One accepted message's share of its task's counter, given back when dropped.
#[derive(Debug)]
pub struct Held {
    counter: Counter,
    len: u64,
}

impl Held {
    /// Adds `len` to `counter` until the returned value is dropped.
    pub fn new(counter: Counter, len: u64) -> Held {
        counter.fetch_add(len, Ordering::AcqRel);
        Held { counter, len }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.counter.fetch_sub(self.len, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_bytes_count_until_dropped() {
        let counter = Counter::default();
        let a = Held::new(Arc::clone(&counter), 5);
        let b = Held::new(Arc::clone(&counter), 7);
        assert_eq!(counter.load(Ordering::Acquire), 12);
        drop(a);
        assert_eq!(counter.load(Ordering::Acquire), 7);
        drop(b);
        assert_eq!(counter.load(Ordering::Acquire), 0);
    }
}
