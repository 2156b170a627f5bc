//! The Rust contenders, one process per run:
//! - `--client tungstenite`: blocking tungstenite 0.30 over std `TcpStream`. Latency: one thread
//!   sends and reads. Throughput: per connection a writer thread and a reader thread over one
//!   socket (`try_clone`), since a single blocking thread deadlocks once the window outgrows the
//!   socket buffers. wss:// throughput is not run (a rustls stream cannot be split that way).
//! - `--client tokio`: tokio-tungstenite 0.30 on a current-thread tokio runtime; per connection a
//!   writer and a reader future over `split()` halves, `feed` while the window allows and one
//!   flush before waiting.
//! - `--client raw`: raw TCP, the same byte counts with no framing (floor); per connection a
//!   writer thread (buffered, flushed before waiting) and a reader thread.
//!
//! - `--client raw-host|tungstenite-host|tokio-host`: the same clients on the host's path (the
//!   main thread sends, another thread receives and hands each echo back): see `host.rs`.
//!
//! Every contender: TCP_NODELAY, the same window, warm-up messages first (not measured), every
//! echo checked (length, sequence number, content). Prints one `RESULT ...` line.

use std::io::{BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::time::{Duration, Instant};

use bench::{cpu_time, die, print_latency, print_throughput, Args, Pattern};

#[path = "rust_client/open.rs"]
mod open;
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::Message;

#[path = "rust_client/host.rs"]
mod host;

/// Received-message counter that the writer waits on for window credit.
struct Credit {
    recv: Mutex<u64>,
    cv: Condvar,
}

impl Credit {
    fn new() -> Arc<Credit> {
        Arc::new(Credit { recv: Mutex::new(0), cv: Condvar::new() })
    }
    fn add(&self) {
        let mut r = self.recv.lock().unwrap();
        *r += 1;
        self.cv.notify_one();
    }
    fn get(&self) -> u64 {
        *self.recv.lock().unwrap()
    }
    /// Waits until at least `n` messages were received.
    fn wait_for(&self, n: u64) {
        let mut r = self.recv.lock().unwrap();
        while *r < n {
            r = self.cv.wait(r).unwrap();
        }
    }
}

fn watchdog(timeout: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(timeout);
        eprintln!("error: timed out after {:?}", timeout);
        std::process::exit(3);
    });
}

// ---------------------------------------------------------------- blocking tungstenite

fn tung_connect(args: &Args) -> tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>> {
    let stream = TcpStream::connect(args.host_port()).unwrap_or_else(|e| die(&format!("connect: {}", e)));
    stream.set_nodelay(true).unwrap();
    let config = WebSocketConfig::default();
    let connector = args
        .ca
        .as_ref()
        .filter(|_| args.is_tls())
        .map(|ca| tungstenite::Connector::Rustls(bench::rustls_client_config(ca)));
    let (ws, _) = tungstenite::client_tls_with_config(args.url.as_str(), stream, Some(config), connector)
        .unwrap_or_else(|e| die(&format!("handshake: {}", e)));
    ws
}

fn tung_read<S: Read + Write>(ws: &mut tungstenite::WebSocket<S>) -> Vec<u8> {
    loop {
        match ws.read() {
            Ok(Message::Binary(b)) => return b.to_vec(),
            Ok(Message::Text(t)) => return t.as_bytes().to_vec(),
            Ok(_) => continue,
            Err(e) => die(&format!("read: {}", e)),
        }
    }
}

fn tung_latency(args: &Args, pat: &Pattern) {
    let mut ws = tung_connect(args);
    let mut samples = Vec::with_capacity(args.count as usize);
    let mut cpu0 = cpu_time();
    for seq in 0..args.warmup + args.count {
        if seq == args.warmup {
            cpu0 = cpu_time();
        }
        let t0 = Instant::now();
        ws.send(Message::binary(pat.message(seq))).unwrap_or_else(|e| die(&format!("send: {}", e)));
        let echo = tung_read(&mut ws);
        let dt = t0.elapsed();
        pat.check(seq, &echo).unwrap_or_else(|e| die(&e));
        if seq >= args.warmup {
            samples.push(dt.as_secs_f64() * 1e6);
        }
    }
    print_latency(&mut samples, cpu_time() - cpu0);
}

/// Runs the two phases (warm-up, measured) of a windowed throughput test over `conns`
/// connections, each with a writer and a reader thread; `start` makes them for one connection.
fn threaded_throughput<W, R>(args: &Args, start: impl Fn() -> (W, R)) -> (f64, Duration)
where
    W: FnMut(u64) + Send + 'static,
    R: FnMut(u64) + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(args.conns + 1));
    let mut handles = Vec::new();
    for _ in 0..args.conns {
        let (mut send, mut recv) = start();
        let credit = Credit::new();
        let (warmup, count, window) = (args.warmup, args.count, args.window);
        let c2 = Arc::clone(&credit);
        let reader = std::thread::spawn(move || {
            for seq in 0..warmup + count {
                recv(seq);
                c2.add();
            }
        });
        let b3 = Arc::clone(&barrier);
        let writer = std::thread::spawn(move || {
            let phase = |from: u64, to: u64, send: &mut W| {
                let mut seq = from;
                while seq < to {
                    let recv = credit.get();
                    let allowed = (recv + window).min(to);
                    if seq >= allowed {
                        send(u64::MAX); // flush before waiting
                        credit.wait_for(seq + 1 - window);
                        continue;
                    }
                    while seq < allowed {
                        send(seq);
                        seq += 1;
                    }
                }
                send(u64::MAX);
                credit.wait_for(to);
            };
            phase(0, warmup, &mut send);
            b3.wait(); // all connections warmed up
            b3.wait(); // the clock started
            phase(warmup, warmup + count, &mut send);
        });
        handles.push((writer, reader));
    }
    barrier.wait();
    let (t0, cpu0) = (Instant::now(), cpu_time());
    barrier.wait();
    for (w, r) in handles {
        w.join().unwrap_or_else(|_| die("writer thread panicked"));
        r.join().unwrap_or_else(|_| die("reader thread panicked"));
    }
    (t0.elapsed().as_secs_f64(), cpu_time() - cpu0)
}

fn tung_throughput(args: &Args, pat: Arc<Pattern>) {
    if args.is_tls() {
        die("blocking tungstenite throughput over wss:// is not supported (the TLS stream cannot be split into a reader and a writer thread)");
    }
    let (secs, cpu) = threaded_throughput(args, || {
        let ws = tung_connect(args);
        let tungstenite::stream::MaybeTlsStream::Plain(tcp) = ws.get_ref() else { unreachable!() };
        let wtcp = tcp.try_clone().unwrap();
        let mut writer = tungstenite::WebSocket::from_raw_socket(wtcp, Role::Client, Some(WebSocketConfig::default()));
        let mut reader = ws;
        let (pw, pr) = (Arc::clone(&pat), Arc::clone(&pat));
        let send = move |seq: u64| {
            let r = if seq == u64::MAX { writer.flush() } else { writer.write(Message::binary(pw.message(seq))) };
            r.unwrap_or_else(|e| die(&format!("send: {}", e)));
        };
        let recv = move |seq: u64| {
            let echo = tung_read(&mut reader);
            pr.check(seq, &echo).unwrap_or_else(|e| die(&e));
        };
        (send, recv)
    });
    print_throughput(args.count * args.conns as u64, pat.size(), secs, cpu);
}

// ---------------------------------------------------------------- raw TCP

fn raw_connect(args: &Args) -> TcpStream {
    let s = TcpStream::connect(args.host_port()).unwrap_or_else(|e| die(&format!("connect: {}", e)));
    s.set_nodelay(true).unwrap();
    s
}

fn raw_latency(args: &Args, pat: &Pattern) {
    let mut s = raw_connect(args);
    let mut buf = vec![0u8; pat.size()];
    let mut samples = Vec::with_capacity(args.count as usize);
    let mut cpu0 = cpu_time();
    for seq in 0..args.warmup + args.count {
        if seq == args.warmup {
            cpu0 = cpu_time();
        }
        let msg = pat.message(seq);
        let t0 = Instant::now();
        s.write_all(&msg).unwrap_or_else(|e| die(&format!("write: {}", e)));
        s.read_exact(&mut buf).unwrap_or_else(|e| die(&format!("read: {}", e)));
        let dt = t0.elapsed();
        pat.check(seq, &buf).unwrap_or_else(|e| die(&e));
        if seq >= args.warmup {
            samples.push(dt.as_secs_f64() * 1e6);
        }
    }
    print_latency(&mut samples, cpu_time() - cpu0);
}

fn raw_throughput(args: &Args, pat: Arc<Pattern>) {
    let (secs, cpu) = threaded_throughput(args, || {
        let s = raw_connect(args);
        let mut w = BufWriter::with_capacity(64 * 1024, s.try_clone().unwrap());
        let mut r = BufReader::with_capacity(64 * 1024, s);
        let (pw, pr) = (Arc::clone(&pat), Arc::clone(&pat));
        let mut buf = vec![0u8; pat.size()];
        let send = move |seq: u64| {
            let res = if seq == u64::MAX { w.flush() } else { w.write_all(&pw.message(seq)) };
            res.unwrap_or_else(|e| die(&format!("write: {}", e)));
        };
        let recv = move |seq: u64| {
            r.read_exact(&mut buf).unwrap_or_else(|e| die(&format!("read: {}", e)));
            pr.check(seq, &buf).unwrap_or_else(|e| die(&e));
        };
        (send, recv)
    });
    print_throughput(args.count * args.conns as u64, pat.size(), secs, cpu);
}

// ---------------------------------------------------------------- tokio-tungstenite

mod tokio_client {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    pub(crate) async fn connect(args: &Args) -> Ws {
        let config = WebSocketConfig::default();
        let connector = args
            .ca
            .as_ref()
            .filter(|_| args.is_tls())
            .map(|ca| tokio_tungstenite::Connector::Rustls(bench::rustls_client_config(ca)));
        let (ws, _) =
            tokio_tungstenite::connect_async_tls_with_config(args.url.as_str(), Some(config), true, connector)
                .await
                .unwrap_or_else(|e| die(&format!("connect: {}", e)));
        ws
    }

    pub(crate) async fn read<S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin>(
        s: &mut S,
    ) -> Vec<u8> {
        loop {
            match s.next().await {
                Some(Ok(Message::Binary(b))) => return b.to_vec(),
                Some(Ok(Message::Text(t))) => return t.as_bytes().to_vec(),
                Some(Ok(_)) => continue,
                Some(Err(e)) => die(&format!("read: {}", e)),
                None => die("connection closed"),
            }
        }
    }

    pub async fn latency(args: Args, pat: Arc<Pattern>) {
        let mut ws = connect(&args).await;
        let mut samples = Vec::with_capacity(args.count as usize);
        let mut cpu0 = cpu_time();
        for seq in 0..args.warmup + args.count {
            if seq == args.warmup {
                cpu0 = cpu_time();
            }
            let t0 = Instant::now();
            ws.send(Message::binary(pat.message(seq))).await.unwrap_or_else(|e| die(&format!("send: {}", e)));
            let echo = read(&mut ws).await;
            let dt = t0.elapsed();
            pat.check(seq, &echo).unwrap_or_else(|e| die(&e));
            if seq >= args.warmup {
                samples.push(dt.as_secs_f64() * 1e6);
            }
        }
        print_latency(&mut samples, cpu_time() - cpu0);
    }

    /// One phase on one connection: send `from..to` keeping at most `window` in flight, read and
    /// check every echo.
    async fn phase<K, R>(sink: &mut K, stream: &mut R, pat: &Pattern, from: u64, to: u64, window: u64)
    where
        K: SinkExt<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
        R: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
    {
        let credit = tokio::sync::Semaphore::new(window as usize);
        let writer = async {
            for seq in from..to {
                let permit = match credit.try_acquire() {
                    Ok(p) => p,
                    Err(_) => {
                        sink.flush().await.unwrap_or_else(|e| die(&format!("flush: {}", e)));
                        credit.acquire().await.unwrap()
                    }
                };
                permit.forget();
                sink.feed(Message::binary(pat.message(seq))).await.unwrap_or_else(|e| die(&format!("send: {}", e)));
            }
            sink.flush().await.unwrap_or_else(|e| die(&format!("flush: {}", e)));
        };
        let reader = async {
            for seq in from..to {
                let echo = read(stream).await;
                pat.check(seq, &echo).unwrap_or_else(|e| die(&e));
                credit.add_permits(1);
            }
        };
        tokio::join!(writer, reader);
    }

    pub async fn throughput(args: Args, pat: Arc<Pattern>) {
        let barrier = Arc::new(tokio::sync::Barrier::new(args.conns + 1));
        let mut tasks = Vec::new();
        for _ in 0..args.conns {
            let ws = connect(&args).await;
            let (pat, barrier, args) = (Arc::clone(&pat), Arc::clone(&barrier), args.clone());
            tasks.push(tokio::spawn(async move {
                let (mut sink, mut stream) = ws.split();
                phase(&mut sink, &mut stream, &pat, 0, args.warmup, args.window).await;
                barrier.wait().await;
                barrier.wait().await;
                phase(&mut sink, &mut stream, &pat, args.warmup, args.warmup + args.count, args.window).await;
            }));
        }
        barrier.wait().await;
        let (t0, cpu0) = (Instant::now(), cpu_time());
        barrier.wait().await;
        for t in tasks {
            t.await.unwrap_or_else(|_| die("connection task failed"));
        }
        let (secs, cpu) = (t0.elapsed().as_secs_f64(), cpu_time() - cpu0);
        print_throughput(args.count * args.conns as u64, pat.size(), secs, cpu);
    }
}

fn main() {
    let args = Args::parse();
    watchdog(args.timeout);
    let pat = Arc::new(Pattern::new(args.size));
    match (args.client.as_str(), args.mode.as_str()) {
        (c, _) if c.ends_with("-host") => host::run(&args, pat),
        ("tungstenite", "latency") => tung_latency(&args, &pat),
        ("tungstenite", "throughput") => tung_throughput(&args, pat),
        ("raw", "latency") => raw_latency(&args, &pat),
        ("raw", "throughput") => raw_throughput(&args, pat),
        ("tokio", mode) => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            match mode {
                "latency" => rt.block_on(tokio_client::latency(args.clone(), pat)),
                "throughput" => rt.block_on(tokio_client::throughput(args.clone(), pat)),
                "open" => rt.block_on(open::tokio(args.clone())),
                other => die(&format!("unknown mode {}", other)),
            }
        }
        (c, m) => die(&format!("unknown client/mode {}/{}", c, m)),
    }
}
