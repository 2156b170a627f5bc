//! Host name resolution off the loop thread. getaddrinfo blocks, so a few resolver threads do it
//! and post each answer back to the loop as a command. IP literals never come here.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use crate::command::{Command, Queue};

const MAX_THREADS: usize = 4;

struct Lookup {
    task_id: i64,
    host: String,
    port: u16,
}

struct Worker {
    handle: JoinHandle<()>,
    busy: Arc<AtomicBool>,
}

pub struct Resolver {
    queue: Arc<Queue>,
    sender: Option<Sender<Lookup>>,
    receiver: Arc<Mutex<Receiver<Lookup>>>,
    workers: Vec<Worker>,
    pending: usize,
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

impl Resolver {
    pub fn new(queue: Arc<Queue>) -> Resolver {
        let (sender, receiver) = channel();
        Resolver { queue, sender: Some(sender), receiver: Arc::new(Mutex::new(receiver)), workers: Vec::new(), pending: 0 }
    }

    /// Starts a lookup; its answer arrives as `Command::Resolved`. Returns false if no resolver
    /// thread could be started.
    pub fn lookup(&mut self, task_id: i64, host: &str, port: u16) -> bool {
        self.pending += 1;
        if self.workers.len() < self.pending.min(MAX_THREADS) && !self.spawn() && self.workers.is_empty() {
            self.pending -= 1;
            return false;
        }
        let Some(sender) = &self.sender else { return false };
        sender.send(Lookup { task_id, host: host.to_string(), port }).is_ok()
    }

    /// Called by the loop when an answer arrived.
    pub fn answered(&mut self) {
        self.pending = self.pending.saturating_sub(1);
    }

    fn spawn(&mut self) -> bool {
        let receiver = Arc::clone(&self.receiver);
        let queue = Arc::clone(&self.queue);
        let busy = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&busy);
        let spawned = std::thread::Builder::new().name("libws-dns".into()).spawn(move || loop {
            let next = receiver.lock().recv();
            let Ok(lookup) = next else { return };
            flag.store(true, Ordering::Release);
            let addrs = resolve(&lookup.host, lookup.port);
            // The loop may have stopped meanwhile; then nobody wants the answer.
            let _ = queue.push(Command::Resolved { task_id: lookup.task_id, addrs });
            flag.store(false, Ordering::Release);
        });
        match spawned {
            Ok(handle) => {
                self.workers.push(Worker { handle, busy });
                true
            }
            Err(_) => false,
        }
    }

    /// Stops the resolver threads. Idle ones are joined; one stuck in getaddrinfo is left to
    /// finish on its own rather than hold up shutdown.
    pub fn stop(&mut self) {
        self.sender = None;
        for w in self.workers.drain(..) {
            if !w.busy.load(Ordering::Acquire) {
                let _ = w.handle.join();
            }
        }
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
}
