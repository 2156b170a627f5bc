//! Shared pieces of the benchmark: the message pattern every contender sends and verifies, the
//! command-line arguments every client takes, the `RESULT` line every client prints, and small
//! measurement helpers (monotonic clock, rusage, RSS, percentiles).
//!
//! The C drivers in `bench/c/common.h` implement the same pattern and the same result line.

use std::time::Duration;

/// The payload of message `seq` of `size` bytes: a fixed pseudo-random base (the same for every
/// contender, Rust or C) with the sequence number in its first 8 bytes (little endian). A client
/// checks each echo's length, sequence number and every other byte, so a client that drops,
/// reorders or corrupts messages cannot post a number.
pub struct Pattern {
    pub base: Vec<u8>,
}

/// xorshift64*, seeded the same way in `bench/c/common.h`.
pub fn pattern_bytes(size: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ size as u64;
    (0..size)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

impl Pattern {
    pub fn new(size: usize) -> Pattern {
        assert!(size >= 8, "messages carry an 8-byte sequence number");
        Pattern { base: pattern_bytes(size) }
    }

    pub fn size(&self) -> usize {
        self.base.len()
    }

    /// Message `seq`, written into `buf` (resized to the message size).
    pub fn fill(&self, seq: u64, buf: &mut Vec<u8>) {
        buf.clear();
        buf.extend_from_slice(&self.base);
        buf[..8].copy_from_slice(&seq.to_le_bytes());
    }

    pub fn message(&self, seq: u64) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.base.len());
        self.fill(seq, &mut v);
        v
    }

    /// Checks an echo of message `seq`.
    pub fn check(&self, seq: u64, data: &[u8]) -> Result<(), String> {
        if data.len() != self.base.len() {
            return Err(format!("echo of message {} has {} bytes, expected {}", seq, data.len(), self.base.len()));
        }
        let got = u64::from_le_bytes(data[..8].try_into().unwrap());
        if got != seq {
            return Err(format!("echo carries sequence number {}, expected {}", got, seq));
        }
        if data[8..] != self.base[8..] {
            return Err(format!("echo of message {} is corrupted", seq));
        }
        Ok(())
    }
}

/// The arguments every client takes (Rust and C alike):
/// `--mode latency|throughput --url URL --size N --conns C --count M --warmup W --window K
///  [--ca FILE] [--path cb|thread|dispatch|host] (the C drivers)`.
#[derive(Clone, Debug)]
pub struct Args {
    pub client: String,
    pub mode: String,
    pub url: String,
    pub size: usize,
    pub conns: usize,
    pub count: u64,
    pub warmup: u64,
    pub window: u64,
    pub ca: Option<String>,
    pub timeout: Duration,
    /// Time-to-open runs over wss://: keep one TLS client configuration (and its session cache)
    /// across the connections, so all but the first resume (`--resume 1`).
    pub resume: bool,
}

impl Args {
    pub fn parse() -> Args {
        let mut a = Args {
            client: String::new(),
            mode: "latency".into(),
            url: String::new(),
            size: 32,
            conns: 1,
            count: 1000,
            warmup: 100,
            window: 64,
            ca: None,
            timeout: Duration::from_secs(120),
            resume: false,
        };
        let argv: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        while i < argv.len() {
            let key = argv[i].as_str();
            let val = argv.get(i + 1).cloned().unwrap_or_else(|| die(&format!("{} needs a value", key)));
            match key {
                "--client" => a.client = val,
                "--mode" => a.mode = val,
                "--url" => a.url = val,
                "--size" => a.size = val.parse().unwrap_or_else(|_| die("bad --size")),
                "--conns" => a.conns = val.parse().unwrap_or_else(|_| die("bad --conns")),
                "--count" => a.count = val.parse().unwrap_or_else(|_| die("bad --count")),
                "--warmup" => a.warmup = val.parse().unwrap_or_else(|_| die("bad --warmup")),
                "--window" => a.window = val.parse().unwrap_or_else(|_| die("bad --window")),
                "--ca" => a.ca = Some(val),
                "--timeout" => a.timeout = Duration::from_secs(val.parse().unwrap_or_else(|_| die("bad --timeout"))),
                "--resume" => a.resume = val == "1",
                "--path" => {} // the C libws driver's switch; ignored here
                other => die(&format!("unknown argument {}", other)),
            }
            i += 2;
        }
        if a.url.is_empty() {
            die("--url is required");
        }
        a
    }

    /// `host:port` of a ws://, wss:// or tcp:// URL.
    pub fn host_port(&self) -> String {
        let rest = self.url.split("://").nth(1).unwrap_or(&self.url);
        rest.split('/').next().unwrap_or(rest).to_string()
    }

    pub fn is_tls(&self) -> bool {
        self.url.starts_with("wss://")
    }
}

pub fn die(msg: &str) -> ! {
    eprintln!("error: {}", msg);
    std::process::exit(2)
}

/// user + system CPU time of this process.
pub fn cpu_time() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Resident set size of this process in bytes.
pub fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

/// Raises RLIMIT_NOFILE's soft limit to the hard limit.
pub fn raise_nofile() -> u64 {
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        rl.rlim_cur = rl.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
    }
    rl.rlim_cur
}

/// The value at quantile `q` (0..=1) of `v` (sorted in place), nearest-rank.
pub fn percentile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// What a latency run measured: round-trip times in µs.
pub fn print_latency(samples_us: &mut [f64], cpu: Duration) {
    let n = samples_us.len();
    let p50 = percentile(samples_us, 0.50);
    let p99 = percentile(samples_us, 0.99);
    println!(
        "RESULT ok=1 msgs={} p50_us={:.2} p99_us={:.2} cpu_us_per_msg={:.3}",
        n,
        p50,
        p99,
        cpu.as_secs_f64() * 1e6 / n.max(1) as f64
    );
}

/// What a time-to-open run measured: µs from starting each connect to its open.
pub fn print_open(samples_us: &mut [f64]) {
    let n = samples_us.len();
    let p50 = percentile(samples_us, 0.50);
    let p90 = percentile(samples_us, 0.90);
    println!("RESULT ok=1 conns={} p50_us={:.2} p90_us={:.2}", n, p50, p90);
}

/// What a throughput run measured: `msgs` echoes of `size` bytes in `secs`, `cpu` spent.
pub fn print_throughput(msgs: u64, size: usize, secs: f64, cpu: Duration) {
    println!(
        "RESULT ok=1 msgs={} secs={:.6} msgs_per_s={:.1} mb_per_s={:.2} cpu_us_per_msg={:.3}",
        msgs,
        secs,
        msgs as f64 / secs,
        msgs as f64 * size as f64 / secs / 1e6,
        cpu.as_secs_f64() * 1e6 / msgs.max(1) as f64
    );
}

/// A rustls client configuration trusting the bench CA (PEM file), with the ring provider (the
/// one libws uses).
pub fn rustls_client_config(ca_file: &str) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let pem = std::fs::read(ca_file).unwrap_or_else(|e| die(&format!("read {}: {}", ca_file, e)));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    std::sync::Arc::new(cfg)
}

/// Offset and width of the sequence number in a JSON corpus message: every message starts with
/// `{"seq":"0000000000",` and message `seq` carries `seq` as 10 zero-padded digits there.
pub const JSON_SEQ_AT: usize = 8;
pub const JSON_SEQ_DIGITS: usize = 10;

/// `n` JSON-like text messages of exactly `size` bytes each (ASCII, no newline): what a chat or
/// game client sends, a batch of chat messages and state updates with varying users, ids,
/// timestamps, numbers and text. Deterministic (the same corpus on every run). Compresses the way
/// such traffic does: repeated keys and structure, varied values.
pub fn json_corpus(size: usize, n: usize) -> Vec<String> {
    assert!(size >= 64, "a JSON corpus message needs at least 64 bytes");
    (0..n).map(|i| json_message(size, i as u64)).collect()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len() as u64) as usize]
    }
}

const NAMES: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia",
    "peggy", "rupert", "sybil", "trent", "victor", "walter", "xiao", "yusuf", "zoe", "amara", "bjorn", "chen",
    "dmitri", "elif", "fatima", "goran", "hana", "isabel", "jamal", "kenji", "lena", "mateo", "nadia", "oskar",
    "priya",
];
const WORDS: &[&str] = &[
    "the",
    "a",
    "to",
    "and",
    "of",
    "in",
    "is",
    "it",
    "you",
    "that",
    "for",
    "on",
    "with",
    "this",
    "we",
    "be",
    "at",
    "have",
    "are",
    "not",
    "but",
    "what",
    "so",
    "can",
    "just",
    "now",
    "will",
    "meeting",
    "deploy",
    "build",
    "test",
    "release",
    "server",
    "client",
    "lunch",
    "tomorrow",
    "today",
    "please",
    "thanks",
    "sure",
    "maybe",
    "later",
    "sounds",
    "good",
    "great",
    "ok",
    "fixed",
    "broken",
    "again",
    "check",
    "review",
    "merge",
    "branch",
    "ticket",
    "bug",
    "feature",
    "done",
    "waiting",
    "ready",
    "soon",
    "call",
    "room",
    "link",
    "doc",
    "update",
    "status",
    "latency",
    "numbers",
    "graph",
    "looks",
    "weird",
    "coffee",
    "afternoon",
    "morning",
    "weekend",
    "train",
    "late",
    "sorry",
    "here",
    "there",
    "who",
    "why",
    "when",
    "how",
    "ping",
    "me",
    "again",
    "haha",
    "lol",
    "nice",
    "agreed",
    "let's",
    "ship",
    "it",
    "first",
    "then",
    "after",
    "before",
    "quick",
    "question",
    "answer",
    "config",
    "cache",
    "restart",
    "logs",
    "error",
    "timeout",
];
const ROOMS: &[&str] =
    &["general", "random", "dev", "ops", "design", "support", "sales", "lobby", "raid-7", "guild-hall"];
const STATUS: &[&str] = &["online", "away", "busy", "offline", "in-game"];
const EMOJI: &[&str] = &["thumbsup", "heart", "laugh", "eyes", "rocket", "tada", "thinking"];

fn json_event(r: &mut Rng, ts: &mut u64) -> String {
    *ts += 1 + r.below(4000);
    let user = r.pick(NAMES);
    let uid = 1000 + r.below(90000);
    if r.below(3) == 0 {
        // A state update (presence / position), as a game or collaboration client sends.
        format!(
            "{{\"type\":\"state\",\"user\":{{\"id\":{},\"name\":\"{}\",\"status\":\"{}\"}},\"ts\":{},\"pos\":{{\"x\":{}.{:02},\"y\":{}.{:02},\"z\":{}}},\"hp\":{},\"seq\":{}}}",
            uid,
            user,
            r.pick(STATUS),
            ts,
            r.below(2000),
            r.below(100),
            r.below(2000),
            r.below(100),
            r.below(64),
            r.below(101),
            r.below(1 << 20)
        )
    } else {
        let words = 3 + r.below(14) as usize;
        let text: Vec<&str> = (0..words).map(|_| r.pick(WORDS)).collect();
        let mut reactions = String::new();
        let first_emoji = r.below(EMOJI.len() as u64) as usize;
        for k in 0..r.below(3) as usize {
            if k > 0 {
                reactions.push(',');
            }
            reactions.push_str(&format!("\"{}\":{}", EMOJI[(first_emoji + k) % EMOJI.len()], 1 + r.below(9)));
        }
        format!(
            "{{\"type\":\"chat\",\"id\":\"m-{:08x}\",\"room\":\"{}\",\"user\":{{\"id\":{},\"name\":\"{}\"}},\"ts\":{},\"text\":\"{}\",\"reactions\":{{{}}},\"edited\":{}}}",
            r.next() as u32,
            r.pick(ROOMS),
            uid,
            user,
            ts,
            text.join(" "),
            reactions,
            r.below(8) == 0
        )
    }
}

fn json_message(size: usize, i: u64) -> String {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15 ^ (i.wrapping_mul(0x1000_0000_01B3) + size as u64));
    let mut ts = 1_732_375_000_000 + r.below(1_000_000);
    let mut s = format!("{{\"seq\":\"{:010}\",\"kind\":\"batch\",\"ts\":{},\"events\":[", 0, ts);
    let tail = "],\"pad\":\"\"}";
    let mut first = true;
    loop {
        let e = json_event(&mut r, &mut ts);
        if s.len() + e.len() + 1 + tail.len() > size {
            break;
        }
        if !first {
            s.push(',');
        }
        first = false;
        s.push_str(&e);
    }
    s.push_str("],\"pad\":\"");
    // Fill the rest with words, cut to the exact size.
    let room = size - s.len() - 2;
    let mut pad = String::new();
    while pad.len() < room {
        if !pad.is_empty() {
            pad.push(' ');
        }
        pad.push_str(r.pick(WORDS));
    }
    pad.truncate(room);
    s.push_str(&pad);
    s.push_str("\"}");
    assert_eq!(s.len(), size);
    s
}
