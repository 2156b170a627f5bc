//! Happy Eyeballs v2 (RFC 8305) scheduling: which address to try next and when. Pure: the
//! caller passes `now`, opens the sockets and reports failures; nothing here touches a clock or
//! the network, so the timing rules are unit-tested below.
//!
//! - The addresses are interleaved by family (RFC 8305 §4), starting with the family of the
//!   first address the resolver gave, so a resolver that prefers IPv6 gets IPv6 first, and a
//!   dead IPv6 path costs one Connection Attempt Delay instead of the whole connect timeout.
//! - The first attempt starts at once; each next one after the Connection Attempt Delay, or at
//!   once when an attempt fails (§5). Attempts already started keep running: the caller keeps
//!   every one in flight until one connects, then closes the others.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// RFC 8305 §5's recommended Connection Attempt Delay.
pub const DEFAULT_DELAY: Duration = Duration::from_millis(250);
/// The RFC's floor: a shorter delay would only add load without helping.
pub const MIN_DELAY: Duration = Duration::from_millis(10);

/// Interleaves the families, keeping the resolver's order within each: `[6a, 6b, 4a, 4b]`
/// becomes `[6a, 4a, 6b, 4b]`. The family of the first address goes first.
pub fn interleave(addrs: Vec<SocketAddr>) -> VecDeque<SocketAddr> {
    let Some(first) = addrs.first() else { return VecDeque::new() };
    let first_v6 = first.is_ipv6();
    let (mut lead, mut other): (VecDeque<_>, VecDeque<_>) = addrs.into_iter().partition(|a| a.is_ipv6() == first_v6);
    let mut out = VecDeque::with_capacity(lead.len() + other.len());
    loop {
        match (lead.pop_front(), other.pop_front()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// The attempts not started yet, and when the next one is due.
#[derive(Debug)]
pub struct Schedule {
    queue: VecDeque<SocketAddr>,
    delay: Duration,
    /// None: the next attempt may start at once.
    next_at: Option<Instant>,
}

impl Schedule {
    /// `delay` below `MIN_DELAY` is raised to it.
    pub fn new(addrs: Vec<SocketAddr>, delay: Duration) -> Schedule {
        Schedule { queue: interleave(addrs), delay: delay.max(MIN_DELAY), next_at: None }
    }

    /// The address to try now, if one is due; the one after it is then due a delay later.
    pub fn due(&mut self, now: Instant) -> Option<SocketAddr> {
        if self.next_at.is_some_and(|at| now < at) {
            return None;
        }
        let addr = self.queue.pop_front()?;
        self.next_at = Some(now + self.delay);
        Some(addr)
    }

    /// An attempt failed: the next one may start at once.
    pub fn failed(&mut self) {
        self.next_at = None;
    }

    /// When the next attempt is due (None when none is left, or one is due already).
    pub fn wake_at(&self) -> Option<Instant> {
        if self.queue.is_empty() {
            None
        } else {
            self.next_at
        }
    }

    /// The addresses not tried yet, in order.
    pub fn remaining(&self) -> impl Iterator<Item = &SocketAddr> {
        self.queue.iter()
    }

    /// No address is left to try.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn interleaves_families_starting_with_the_first() {
        let got: Vec<_> =
            interleave(vec![a("[::1]:1"), a("[::2]:1"), a("[::3]:1"), a("1.0.0.1:1"), a("1.0.0.2:1")]).into();
        assert_eq!(got, vec![a("[::1]:1"), a("1.0.0.1:1"), a("[::2]:1"), a("1.0.0.2:1"), a("[::3]:1")]);
        let got: Vec<_> = interleave(vec![a("1.0.0.1:1"), a("1.0.0.2:1"), a("[::1]:1")]).into();
        assert_eq!(got, vec![a("1.0.0.1:1"), a("[::1]:1"), a("1.0.0.2:1")]);
        let one_family = vec![a("1.0.0.1:1"), a("1.0.0.2:1")];
        assert_eq!(Vec::from(interleave(one_family.clone())), one_family);
        assert!(interleave(Vec::new()).is_empty());
    }

    #[test]
    fn next_attempt_after_the_delay() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut s = Schedule::new(vec![a("[::1]:1"), a("[::2]:1"), a("1.0.0.1:1")], Duration::from_millis(250));
        assert_eq!(s.due(t0), Some(a("[::1]:1")), "the first at once");
        assert_eq!(s.due(ms(1)), None, "the next waits for the delay");
        assert_eq!(s.wake_at(), Some(ms(250)));
        assert_eq!(s.due(ms(249)), None);
        assert_eq!(s.due(ms(250)), Some(a("1.0.0.1:1")), "the other family second");
        assert_eq!(s.wake_at(), Some(ms(500)));
        assert_eq!(s.due(ms(600)), Some(a("[::2]:1")));
        assert!(s.is_empty());
        assert_eq!(s.wake_at(), None, "nothing left to wake for");
        assert_eq!(s.due(ms(10_000)), None);
    }

    #[test]
    fn a_failure_starts_the_next_at_once() {
        let t0 = Instant::now();
        let mut s = Schedule::new(vec![a("1.0.0.1:1"), a("1.0.0.2:1"), a("1.0.0.3:1")], Duration::from_secs(5));
        assert_eq!(s.due(t0), Some(a("1.0.0.1:1")));
        assert_eq!(s.due(t0), None);
        s.failed();
        assert_eq!(s.wake_at(), None, "due already");
        assert_eq!(s.due(t0), Some(a("1.0.0.2:1")));
        assert_eq!(s.due(t0 + Duration::from_secs(1)), None, "then the delay again");
    }

    #[test]
    fn delay_has_a_floor() {
        let t0 = Instant::now();
        let mut s = Schedule::new(vec![a("1.0.0.1:1"), a("1.0.0.2:1")], Duration::ZERO);
        s.due(t0);
        assert_eq!(s.wake_at(), Some(t0 + MIN_DELAY));
    }
}
