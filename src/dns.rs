//! Host name resolution off the loop thread. getaddrinfo blocks and cannot be cancelled, so each
//! lookup runs on a short-lived thread of its own (`libws-dns`) that posts the answer back to the
//! loop as a command. IP literals never come here.
//!
//! - At most `MAX_LIVE` lookups of live tasks run at once; more wait their turn.
//! - A task that closes takes its lookup along: a waiting one is dropped, a running one is
//!   abandoned (its answer is ignored) and stops counting against `MAX_LIVE`, so lookups stuck on
//!   dead tasks never hold up live ones. `MAX_THREADS` bounds all threads, stuck ones included.
//! - A thread shares only a `Mailbox` with the loop. `stop` empties it, waits for running lookups
//!   until the shutdown deadline and joins their threads; a thread still inside getaddrinfo after
//!   that is left to end on its own, and then touches nothing but its `Mailbox`.

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::command::{Command, Queue};

/// Lookups of live tasks running at once.
const MAX_LIVE: usize = 4;
/// Resolver threads at once, those stuck in lookups of closed tasks included. Generous: a task
/// closed while its lookup waits can still have it started first (the closes of one batch of
/// commands come one by one), and a stuck getaddrinfo ends at the resolver's own timeout.
const MAX_THREADS: usize = 64;

struct Lookup {
    task_id: i64,
    host: String,
    port: u16,
}

/// What resolver threads share with the loop: where answers go (None once the runtime stops),
/// and how many threads have not answered yet.
struct Mailbox {
    queue: Mutex<Option<Arc<Queue>>>,
    running: Mutex<usize>,
    answered: Condvar,
}

struct Running {
    thread: JoinHandle<()>,
    /// Set by the thread once getaddrinfo returned and the answer was posted.
    returned: Arc<AtomicBool>,
    /// Its task closed: the answer is not wanted and the lookup no longer counts as live.
    abandoned: bool,
}

type ResolveFn = fn(&str, u16) -> Result<Vec<SocketAddr>, String>;

pub struct Resolver {
    mailbox: Arc<Mailbox>,
    waiting: VecDeque<Lookup>,
    running: HashMap<i64, Running>,
    /// getaddrinfo (`resolve`); unit tests put a slow one here.
    resolve: ResolveFn,
}

fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    match (host, port).to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(format!("could not resolve host \"{}\": no addresses", host))
            } else {
                Ok(addrs)
            }
        }
        Err(e) => Err(format!("could not resolve host \"{}\": {}", host, e)),
    }
}

impl Mailbox {
    /// Posts an answer, unless the runtime stopped. The lock is held while posting, so once `stop`
    /// has emptied the mailbox no thread is using the queue.
    fn post(&self, task_id: i64, addrs: Result<Vec<SocketAddr>, String>) {
        if let Some(queue) = self.queue.lock().as_ref() {
            let _ = queue.push(Command::Resolved { task_id, addrs, from_host: false });
        }
    }
}

impl Resolver {
    pub fn new(queue: Arc<Queue>) -> Resolver {
        Resolver::with(queue, resolve)
    }

    fn with(queue: Arc<Queue>, resolve: ResolveFn) -> Resolver {
        let mailbox = Mailbox { queue: Mutex::new(Some(queue)), running: Mutex::new(0), answered: Condvar::new() };
        Resolver { mailbox: Arc::new(mailbox), waiting: VecDeque::new(), running: HashMap::new(), resolve }
    }

    /// Starts (or queues) a lookup; its answer arrives as `Command::Resolved`.
    pub fn lookup(&mut self, task_id: i64, host: &str, port: u16) {
        self.waiting.push_back(Lookup { task_id, host: host.to_string(), port });
        self.start_waiting();
    }

    /// Called by the loop for every `Command::Resolved`.
    pub fn answered(&mut self, task_id: i64) {
        if let Some(r) = self.running.remove(&task_id) {
            // It has posted its answer and is returning: the join is immediate.
            let _ = r.thread.join();
        }
        self.start_waiting();
    }

    /// The task closed: its lookup is not wanted any more.
    pub fn forget(&mut self, task_id: i64) {
        self.waiting.retain(|l| l.task_id != task_id);
        if let Some(r) = self.running.get_mut(&task_id) {
            r.abandoned = true;
            self.start_waiting();
        }
    }

    fn start_waiting(&mut self) {
        while self.running.values().filter(|r| !r.abandoned).count() < MAX_LIVE && self.running.len() < MAX_THREADS {
            let Some(lookup) = self.waiting.pop_front() else { return };
            let task_id = lookup.task_id;
            if let Err(e) = self.spawn(lookup) {
                self.mailbox.post(task_id, Err(format!("could not start a resolver thread: {}", e)));
            }
        }
    }

    fn spawn(&mut self, lookup: Lookup) -> std::io::Result<()> {
        let mailbox = Arc::clone(&self.mailbox);
        let returned = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&returned);
        *mailbox.running.lock() += 1;
        let task_id = lookup.task_id;
        let resolve = self.resolve;
        let spawned = std::thread::Builder::new().name("libws-dns".into()).spawn(move || {
            crate::ffi::panic::mark_libws_thread();
            let addrs = resolve(&lookup.host, lookup.port);
            mailbox.post(lookup.task_id, addrs);
            flag.store(true, Ordering::Release);
            *mailbox.running.lock() -= 1;
            mailbox.answered.notify_all();
        });
        match spawned {
            Ok(thread) => {
                self.running.insert(task_id, Running { thread, returned, abandoned: false });
                Ok(())
            }
            Err(e) => {
                *self.mailbox.running.lock() -= 1;
                Err(e)
            }
        }
    }

    /// Stops at shutdown: no answer is posted any more; running lookups get until `deadline` to
    /// return and their threads are joined. A thread still inside getaddrinfo then is left to
    /// end on its own: it holds only its `Mailbox` (no socket, no runtime state) and its strings.
    /// Returns how many were left.
    pub fn stop(&mut self, deadline: Instant) -> usize {
        self.waiting.clear();
        *self.mailbox.queue.lock() = None;
        let mut running = self.mailbox.running.lock();
        while *running > 0 && !self.mailbox.answered.wait_until(&mut running, deadline).timed_out() {}
        drop(running);
        let mut left = 0;
        for (_, r) in self.running.drain() {
            if r.returned.load(Ordering::Acquire) {
                let _ = r.thread.join();
            } else {
                left += 1; // dropping the handle detaches the thread
            }
        }
        left
    }
}

impl Drop for Resolver {
    /// If the loop ends without `stop` (it panicked), threads still running post nothing.
    fn drop(&mut self) {
        *self.mailbox.queue.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_localhost_and_reports_failure() {
        let addrs = resolve("localhost", 80).unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
        let err = resolve("no-such-host.invalid", 80).unwrap_err();
        assert!(err.contains("no-such-host.invalid"), "{}", err);
    }

    /// Names starting with "slow" take 2 s; others answer at once.
    fn fake(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        if host.starts_with("slow") {
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
        Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
    }

    fn queue() -> (Arc<Queue>, mio::Poll) {
        let poll = mio::Poll::new().unwrap();
        let waker = mio::Waker::new(poll.registry(), mio::Token(0)).unwrap();
        (Arc::new(Queue::new(waker)), poll)
    }

    /// Waits (bounded) for the Resolved answers of `ids`, telling the resolver of each.
    fn answers(r: &mut Resolver, q: &Queue, ids: &[i64], within: std::time::Duration) -> Vec<i64> {
        let until = Instant::now() + within;
        let mut got = Vec::new();
        let mut buf = Vec::new();
        while Instant::now() < until && !ids.iter().all(|id| got.contains(id)) {
            q.take(&mut buf);
            for c in buf.drain(..) {
                if let Command::Resolved { task_id, .. } = c {
                    r.answered(task_id);
                    got.push(task_id);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        got
    }

    #[test]
    fn lookups_of_closed_tasks_do_not_hold_up_live_ones() {
        let (q, _poll) = queue();
        let mut r = Resolver::with(Arc::clone(&q), fake);
        for id in 1..=16 {
            r.lookup(id, "slow.example", 80);
        }
        assert_eq!(r.running.len(), MAX_LIVE, "at most {} live lookups at once", MAX_LIVE);
        for id in (1..=16).rev() {
            r.forget(id); // the waiting ones first: they are dropped, never started
        }
        assert!(r.waiting.is_empty());
        assert_eq!(r.running.len(), MAX_LIVE, "lookups of closed tasks were not started");
        r.lookup(17, "fast.example", 80);
        let got = answers(&mut r, &q, &[17], std::time::Duration::from_millis(1500));
        assert!(got.contains(&17), "the live lookup is answered while the dead ones still run");
        assert!(r.stop(Instant::now() + std::time::Duration::from_secs(10)) == 0, "every thread joined");
        assert!(r.running.is_empty());
    }

    #[test]
    fn stop_leaves_a_stuck_lookup_that_posts_nothing() {
        let (q, _poll) = queue();
        let mut r = Resolver::with(Arc::clone(&q), fake);
        r.lookup(1, "slow.example", 80);
        assert_eq!(r.stop(Instant::now()), 1, "a lookup inside getaddrinfo is left to end on its own");
        std::thread::sleep(std::time::Duration::from_millis(2500));
        assert!(q.is_empty(), "its answer went nowhere");
        assert_eq!(Arc::strong_count(&q), 1, "no thread holds the queue");
    }
}
