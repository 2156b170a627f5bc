//! The Rust contenders on the host's path (`--client raw-host|tungstenite-host|tokio-host`): every
//! message is built and sent by the main thread (the "host thread", as a JavaScript engine's
//! thread would), and another thread receives: it checks each echo and hands it back to the
//! host thread, a count per connection under a mutex and a condition variable the host thread
//! waits on (what libws's `--path thread` callback does). One host thread serves every
//! connection.
//!
//! - `raw-host`: raw TCP floor; the host thread writes (64 KiB `BufWriter`, flushed before it
//!   waits), a reader thread per connection reads (64 KiB `BufReader`).
//! - `tungstenite-host`: blocking tungstenite split into two `WebSocket` objects over one socket
//!   (`try_clone`): the host thread writes through one (`write` while the window allows, one
//!   `flush`), a reader thread per connection reads through the other. ws:// only (a rustls
//!   stream cannot be split that way).
//! - `tokio-host`: tokio-tungstenite on a current-thread runtime on its own thread; the host
//!   thread hands each message to a connection's writer task through an unbounded channel (which
//!   wakes the runtime), the writer task `feed`s whatever the channel holds and flushes; a reader
//!   task reads and checks.

use std::io::{BufReader, BufWriter, Read, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use bench::{cpu_time, die, print_latency, print_throughput, Args, Pattern};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::Message;

/// Sends message `seq` (`Some`) or flushes what was sent (`None`), on the host thread.
type Sender = Box<dyn FnMut(Option<u64>)>;

/// Echoes handed back to the host thread: how many each connection received.
struct Mailbox {
    recv: Mutex<Vec<u64>>,
    cv: Condvar,
}

impl Mailbox {
    fn new(conns: usize) -> Arc<Mailbox> {
        Arc::new(Mailbox { recv: Mutex::new(vec![0; conns]), cv: Condvar::new() })
    }
    /// Receiver side: connection `i` got one more checked echo.
    fn hand_back(&self, i: usize) {
        self.recv.lock().unwrap()[i] += 1;
        self.cv.notify_one();
    }
    /// Host side: waits until the counts differ from `seen`, then copies them into it.
    fn wait_change(&self, seen: &mut [u64]) {
        let mut g = self.recv.lock().unwrap();
        while g[..] == seen[..] {
            g = self.cv.wait(g).unwrap();
        }
        seen.copy_from_slice(&g);
    }
}

pub fn run(args: &Args, pat: Arc<Pattern>) {
    let conns = if args.mode == "latency" { 1 } else { args.conns };
    let total = args.warmup + args.count;
    let mb = Mailbox::new(conns);
    let (mut senders, receivers) = match args.client.as_str() {
        "raw-host" => raw(args, &pat, conns, total, &mb),
        "tungstenite-host" => tung(args, &pat, conns, total, &mb),
        "tokio-host" => tokio_side(args, &pat, conns, total, &mb),
        other => die(&format!("unknown client {}", other)),
    };
    match args.mode.as_str() {
        "latency" => latency(args, &mut senders[0], &mb),
        "throughput" => throughput(args, &pat, &mut senders, &mb),
        other => die(&format!("unknown mode {}", other)),
    }
    drop(senders); // ends the tokio writer tasks
    for r in receivers {
        r.join().unwrap_or_else(|_| die("receiver thread panicked"));
    }
}

fn latency(args: &Args, send: &mut Sender, mb: &Mailbox) {
    let mut samples = Vec::with_capacity(args.count as usize);
    let mut seen = [0u64];
    let mut cpu0 = cpu_time();
    for seq in 0..args.warmup + args.count {
        if seq == args.warmup {
            cpu0 = cpu_time();
        }
        let t0 = Instant::now();
        send(Some(seq));
        send(None);
        mb.wait_change(&mut seen);
        let dt = t0.elapsed();
        if seq >= args.warmup {
            samples.push(dt.as_secs_f64() * 1e6);
        }
    }
    print_latency(&mut samples, cpu_time() - cpu0);
}

fn throughput(args: &Args, pat: &Pattern, senders: &mut [Sender], mb: &Mailbox) {
    let mut sent = vec![0u64; senders.len()];
    let mut seen = vec![0u64; senders.len()];
    let mut phase = |to: u64| loop {
        let mut all_done = true;
        for (i, send) in senders.iter_mut().enumerate() {
            let from = sent[i];
            while sent[i] < to && sent[i] - seen[i] < args.window {
                send(Some(sent[i]));
                sent[i] += 1;
            }
            if sent[i] > from {
                send(None);
            }
            all_done &= seen[i] >= to;
        }
        if all_done {
            return;
        }
        mb.wait_change(&mut seen);
    };
    phase(args.warmup);
    let (t0, cpu0) = (Instant::now(), cpu_time());
    phase(args.warmup + args.count);
    let (secs, cpu) = (t0.elapsed().as_secs_f64(), cpu_time() - cpu0);
    print_throughput(args.count * senders.len() as u64, pat.size(), secs, cpu);
}

/// Starts a reader thread for connection `i`: `recv(seq)` reads and checks echo `seq`.
fn reader(i: usize, total: u64, mb: &Arc<Mailbox>, mut recv: impl FnMut(u64) + Send + 'static) -> JoinHandle<()> {
    let mb = Arc::clone(mb);
    std::thread::spawn(move || {
        for seq in 0..total {
            recv(seq);
            mb.hand_back(i);
        }
    })
}

type Sides = (Vec<Sender>, Vec<JoinHandle<()>>);

fn raw(args: &Args, pat: &Arc<Pattern>, conns: usize, total: u64, mb: &Arc<Mailbox>) -> Sides {
    let (mut senders, mut readers) = (Vec::<Sender>::new(), Vec::new());
    for i in 0..conns {
        let s = super::raw_connect(args);
        let mut w = BufWriter::with_capacity(64 * 1024, s.try_clone().unwrap());
        let mut r = BufReader::with_capacity(64 * 1024, s);
        let (pw, pr) = (Arc::clone(pat), Arc::clone(pat));
        let mut buf = vec![0u8; pat.size()];
        senders.push(Box::new(move |seq: Option<u64>| {
            let res = match seq {
                Some(seq) => w.write_all(&pw.message(seq)),
                None => w.flush(),
            };
            res.unwrap_or_else(|e| die(&format!("write: {}", e)));
        }));
        readers.push(reader(i, total, mb, move |seq| {
            r.read_exact(&mut buf).unwrap_or_else(|e| die(&format!("read: {}", e)));
            pr.check(seq, &buf).unwrap_or_else(|e| die(&e));
        }));
    }
    (senders, readers)
}

fn tung(args: &Args, pat: &Arc<Pattern>, conns: usize, total: u64, mb: &Arc<Mailbox>) -> Sides {
    if args.is_tls() {
        die("blocking tungstenite on the host's path over wss:// is not supported (the TLS stream cannot be split into a reader and a writer thread)");
    }
    let (mut senders, mut readers) = (Vec::<Sender>::new(), Vec::new());
    for i in 0..conns {
        let mut ws = super::tung_connect(args);
        let tungstenite::stream::MaybeTlsStream::Plain(tcp) = ws.get_ref() else { unreachable!() };
        let wtcp = tcp.try_clone().unwrap();
        let mut writer = tungstenite::WebSocket::from_raw_socket(wtcp, Role::Client, Some(WebSocketConfig::default()));
        let (pw, pr) = (Arc::clone(pat), Arc::clone(pat));
        senders.push(Box::new(move |seq: Option<u64>| {
            let res = match seq {
                Some(seq) => writer.write(Message::binary(pw.message(seq))),
                None => writer.flush(),
            };
            res.unwrap_or_else(|e| die(&format!("send: {}", e)));
        }));
        readers.push(reader(i, total, mb, move |seq| {
            let echo = super::tung_read(&mut ws);
            pr.check(seq, &echo).unwrap_or_else(|e| die(&e));
        }));
    }
    (senders, readers)
}

fn tokio_side(args: &Args, pat: &Arc<Pattern>, conns: usize, total: u64, mb: &Arc<Mailbox>) -> Sides {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (args2, pat2, mb) = (args.clone(), Arc::clone(pat), Arc::clone(mb));
    let runtime = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let (mut txs, mut tasks) = (Vec::new(), Vec::new());
            for i in 0..conns {
                let (mut sink, mut stream) = super::tokio_client::connect(&args2).await.split();
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
                txs.push(tx);
                tasks.push(tokio::spawn(async move {
                    while let Some(m) = rx.recv().await {
                        sink.feed(Message::binary(m)).await.unwrap_or_else(|e| die(&format!("send: {}", e)));
                        while let Ok(m) = rx.try_recv() {
                            sink.feed(Message::binary(m)).await.unwrap_or_else(|e| die(&format!("send: {}", e)));
                        }
                        sink.flush().await.unwrap_or_else(|e| die(&format!("flush: {}", e)));
                    }
                }));
                let (pat, mb) = (Arc::clone(&pat2), Arc::clone(&mb));
                tasks.push(tokio::spawn(async move {
                    for seq in 0..total {
                        let echo = super::tokio_client::read(&mut stream).await;
                        pat.check(seq, &echo).unwrap_or_else(|e| die(&e));
                        mb.hand_back(i);
                    }
                }));
            }
            ready_tx.send(txs).unwrap();
            for t in tasks {
                t.await.unwrap_or_else(|_| die("connection task failed"));
            }
        });
    });
    let txs = ready_rx.recv().unwrap_or_else(|_| die("the tokio thread failed to connect"));
    let senders = txs
        .into_iter()
        .map(|tx| {
            let pat = Arc::clone(pat);
            Box::new(move |seq: Option<u64>| {
                if let Some(seq) = seq {
                    tx.send(pat.message(seq)).unwrap_or_else(|_| die("the writer task ended"));
                }
            }) as Sender
        })
        .collect();
    (senders, vec![runtime])
}
