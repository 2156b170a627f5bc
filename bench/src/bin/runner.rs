//! The benchmark runner: starts the echo server, runs every contender on every case for N
//! repetitions (interleaved: each repetition runs every contender once, in a rotating order),
//! takes medians and prints the tables as markdown (also written to `--out`).
//!
//! `runner [--quick] [--reps N] [--out FILE] [--only TEXT] [--who NAME,NAME] [--bin-dir DIR] [--c-dir DIR]`
//!
//! `--only` keeps the cases whose name contains TEXT ("latency", "throughput ws 1 MiB", "idle");
//! `--who` keeps the contenders whose name contains one of the words ("libws,tokio").
//!
//! Exit status is non-zero when any run failed or any expected number is missing or zero.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "runner/host_path.rs"]
mod host_path;
#[path = "runner/open.rs"]
mod open;

type Metrics = BTreeMap<String, f64>;

/// Cores other processes kept busy during a run above which the run counts as disturbed.
const DISTURBED: f64 = 0.25;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Latency,
    Throughput,
    Idle,
    /// Throughput of compressible text (the JSON corpus) against the Node `ws` echo server, with
    /// or without permessage-deflate; also bytes on the wire per message.
    Compress,
    /// Time from starting a connect to the open, a new connection each time (runner/open.rs).
    Open,
}

#[derive(Clone, Debug)]
struct Case {
    kind: Kind,
    tls: bool,
    size: usize,
    conns: usize,
    /// Messages measured per connection (latency: round trips).
    count: u64,
    warmup: u64,
    /// Idle cases: "runtime" or "task" (where the CA PEM is given to libws). Open cases over
    /// wss://: "full" or "resumed".
    ca_mode: &'static str,
    /// Compress cases: offer permessage-deflate.
    deflate: bool,
}

impl Case {
    fn id(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        match self.kind {
            Kind::Latency => format!("latency {} {}", scheme, human(self.size)),
            Kind::Throughput => format!("throughput {} {} x{}", scheme, human(self.size), self.conns),
            Kind::Idle => format!("idle {} {} ca={}", scheme, self.conns, self.ca_mode),
            Kind::Compress => format!(
                "compress json {} x{} {}",
                human(self.size),
                self.conns,
                if self.deflate { "deflate" } else { "plain" }
            ),
            Kind::Open => open::id(self),
        }
    }
}

fn human(size: usize) -> String {
    if size >= 1 << 20 && size % (1 << 20) == 0 {
        format!("{} MiB", size >> 20)
    } else if size >= 1024 && size % 1024 == 0 {
        format!("{} KiB", size >> 10)
    } else {
        format!("{} B", size)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    LibwsCb,
    LibwsThread,
    Tungstenite,
    Tokio,
    Lws,
    Raw,
    Node,
    // The host's path (see host_path.rs); LibwsThread is on it too.
    LibwsDispatch,
    TokioHost,
    LwsHost,
    TungHost,
    RawHost,
}

const CONTENDERS: [Who; 12] = [
    Who::LibwsCb,
    Who::LibwsThread,
    Who::Tungstenite,
    Who::Tokio,
    Who::Lws,
    Who::Raw,
    Who::Node,
    Who::LibwsDispatch,
    Who::TokioHost,
    Who::LwsHost,
    Who::TungHost,
    Who::RawHost,
];

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::LibwsCb => "libws (send from callback)",
            Who::LibwsThread => "libws (host path, callbacks)",
            Who::Tungstenite => "tungstenite 0.30 (blocking)",
            Who::Tokio => "tokio-tungstenite 0.30",
            Who::Lws => "libwebsockets (C)",
            Who::Raw => "raw TCP (floor)",
            Who::Node => "Node ws 8 client",
            Who::LibwsDispatch => "libws (host path, dispatcher)",
            Who::TokioHost => "tokio-tungstenite 0.30 (host path)",
            Who::LwsHost => "libwebsockets (C) (host path)",
            Who::TungHost => "tungstenite 0.30 (blocking) (host path)",
            Who::RawHost => "raw TCP (host path floor)",
        }
    }

    /// Whether this contender runs `case` (and why not, for the table).
    fn runs(self, case: &Case) -> Result<(), &'static str> {
        if let Some(r) = self.host_runs(case) {
            return r;
        }
        match (self, case.kind) {
            (_, Kind::Open) => open::runs(self, case),
            (Who::LibwsCb | Who::Node, Kind::Compress) => Ok(()),
            (_, Kind::Compress) => Err("compression rows: libws and the Node ws client"),
            (Who::Node, _) => Err("the Node ws client runs the compression rows only"),
            (Who::LibwsCb, Kind::Idle) => Ok(()),
            (_, Kind::Idle) => Err("idle cases measure libws only"),
            (Who::Raw, _) if case.tls => Err("no TLS on the raw floor"),
            (Who::Tungstenite, Kind::Throughput) if case.tls => {
                Err("blocking tungstenite cannot split a TLS stream into reader and writer threads")
            }
            _ => Ok(()),
        }
    }
}

struct Env {
    server_pid: u32,
    /// The core the client and the server are pinned to (`--pin same`), None for `--pin none`.
    pin: Option<usize>,
    bin_dir: PathBuf,
    c_dir: PathBuf,
    ports: BTreeMap<String, u16>,
    ca: PathBuf,
    window: u64,
    idle_secs: f64,
    timeout: u64,
    /// The Node `ws` echo server of the compression rows: its pid and port.
    node_server: Option<(u32, u16)>,
    /// bench/node (client.js).
    node_dir: PathBuf,
    /// The JSON corpus file of each message size.
    corpus: BTreeMap<usize, PathBuf>,
}

/// Restricts a process (0 = this one) to the given cores.
fn set_affinity(pid: libc::pid_t, cores: &[usize]) -> bool {
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cores {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// `--pin same`: the server (its one runtime thread) and every client on the last core, the
/// runner on the others. Returns the core, or None when it cannot pin.
fn pin_setup(server_pid: u32) -> Option<usize> {
    let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let core = n - 1;
    if !set_affinity(server_pid as libc::pid_t, &[core]) {
        eprintln!("warning: cannot pin the server; running unpinned");
        return None;
    }
    if n > 1 {
        let others: Vec<usize> = (0..core).collect();
        set_affinity(0, &others);
    }
    Some(core)
}

fn command(env: &Env, who: Who, case: &Case) -> Command {
    let mut cmd = command_unpinned(env, who, case);
    if let Some(core) = env.pin {
        use std::os::unix::process::CommandExt;
        // SAFETY: sched_setaffinity is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(core, &mut set);
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd
}

fn command_unpinned(env: &Env, who: Who, case: &Case) -> Command {
    let mut cmd;
    let scheme = if case.tls { "wss" } else { "ws" };
    let url = match who {
        _ if case.kind == Kind::Compress => format!("ws://127.0.0.1:{}/", env.node_server.map_or(0, |(_, p)| p)),
        Who::Raw | Who::RawHost => format!("tcp://127.0.0.1:{}", env.ports["raw"]),
        _ => format!("{}://127.0.0.1:{}/", scheme, env.ports[scheme]),
    };
    match who {
        Who::LibwsCb | Who::LibwsThread | Who::LibwsDispatch => {
            cmd = Command::new(env.c_dir.join("libws_driver"));
            cmd.args(["--path", who.driver_path()]);
        }
        Who::Lws | Who::LwsHost => {
            cmd = Command::new(env.c_dir.join("lws_driver"));
            cmd.args(["--path", who.driver_path()]);
        }
        Who::Node => {
            cmd = Command::new("node");
            cmd.arg(env.node_dir.join("client.js"));
        }
        Who::Tungstenite | Who::Tokio | Who::Raw | Who::TungHost | Who::TokioHost | Who::RawHost => {
            cmd = Command::new(env.bin_dir.join("rust-client"));
            cmd.args(["--client", who.rust_client()]);
        }
    }
    let mode = match case.kind {
        Kind::Latency => "latency",
        Kind::Throughput | Kind::Compress => "throughput",
        Kind::Idle => "idle",
        Kind::Open => "open",
    };
    cmd.args(["--mode", mode, "--url", &url]);
    cmd.args(["--size", &case.size.to_string(), "--conns", &case.conns.to_string()]);
    cmd.args(["--count", &case.count.to_string(), "--warmup", &case.warmup.to_string()]);
    cmd.args(["--window", &env.window.to_string(), "--timeout", &env.timeout.to_string()]);
    if case.tls {
        cmd.args(["--ca", env.ca.to_str().unwrap()]);
    }
    if case.kind == Kind::Idle {
        cmd.args(["--idle-secs", &env.idle_secs.to_string(), "--ca-mode", case.ca_mode]);
    }
    if case.kind == Kind::Open {
        open::args(case, &mut cmd);
    }
    if case.kind == Kind::Compress {
        cmd.args([
            "--corpus",
            env.corpus[&case.size].to_str().unwrap(),
            "--deflate",
            if case.deflate { "1" } else { "0" },
        ]);
    }
    cmd
}

/// CPU ticks (1/100 s) of a process from /proc/PID/stat (utime + stime).
fn proc_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid)).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn self_cpu_secs() -> f64 {
    bench::cpu_time().as_secs_f64()
}

/// Runs one client to completion (killed after the time limit) and parses its RESULT line. Also
/// says how many cores other processes (not the client, the server or the runner) kept busy
/// while it ran, from /proc/stat: a run that shared the machine is retried.
fn run_one(env: &Env, who: Who, case: &Case) -> Result<(Metrics, f64), String> {
    let mut cmd = command(env, who, case);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
    let (busy0, _) = cpu_jiffies(env.pin);
    let server_pid = match (case.kind, env.node_server) {
        (Kind::Compress, Some((pid, _))) => pid,
        _ => env.server_pid,
    };
    let server0 = proc_ticks(server_pid);
    let self0 = self_cpu_secs();
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {:?}: {}", cmd.get_program(), e))?;
    let limit = Duration::from_secs(env.timeout + 60);
    let pid = child.id() as libc::pid_t;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let mut wstatus: libc::c_int = 0;
    loop {
        let r = unsafe { libc::wait4(pid, &mut wstatus, libc::WNOHANG, &mut ru) };
        if r == pid {
            break;
        }
        if r < 0 {
            return Err(format!("wait4: {}", std::io::Error::last_os_error()));
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            unsafe { libc::wait4(pid, &mut wstatus, 0, &mut ru) };
            return Err(format!("killed after {:?}", limit));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let wall = started.elapsed().as_secs_f64();
    let (busy1, _) = cpu_jiffies(env.pin);
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    let child_s = tv(ru.ru_utime) + tv(ru.ru_stime);
    let server_s = (proc_ticks(server_pid).saturating_sub(server0)) as f64 / 100.0;
    // Pinned, the runner runs on the other cores and does not count against the benchmark's core.
    let runner_s = if env.pin.is_some() { 0.0 } else { self_cpu_secs() - self0 };
    let others_s = (busy1.saturating_sub(busy0)) as f64 / 100.0 - child_s - server_s - runner_s;
    let others_cores = (others_s / wall).max(0.0);
    let status_ok = libc::WIFEXITED(wstatus) && libc::WEXITSTATUS(wstatus) == 0;
    let mut out = String::new();
    let mut err = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).ok();
    child.stderr.take().unwrap().read_to_string(&mut err).ok();
    if !status_ok {
        return Err(format!("exit status {:#x}: {}", wstatus, err.trim()));
    }
    let line = out
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .ok_or_else(|| format!("no RESULT line; stderr: {}", err.trim()))?;
    let mut m = Metrics::new();
    for kv in line.split_whitespace().skip(1) {
        if let Some((k, v)) = kv.split_once('=') {
            if let Ok(v) = v.parse::<f64>() {
                m.insert(k.to_string(), v);
            }
        }
    }
    if m.get("ok") != Some(&1.0) {
        return Err(format!("result not ok: {}", line));
    }
    let required: &[&str] = match case.kind {
        Kind::Latency => &["p50_us", "p99_us", "cpu_us_per_msg"],
        Kind::Throughput => &["msgs_per_s", "mb_per_s", "cpu_us_per_msg"],
        Kind::Idle => &["kib_per_conn", "opened"],
        Kind::Compress => &["msgs_per_s", "mb_per_s", "cpu_us_per_msg", "wire_out_per_msg", "wire_in_per_msg"],
        Kind::Open => &["p50_us", "p90_us"],
    };
    for k in required {
        match m.get(*k) {
            Some(v) if *v > 0.0 && v.is_finite() => {}
            _ => return Err(format!("{} missing or zero in: {}", k, line)),
        }
    }
    if case.kind == Kind::Idle && m["opened"] as usize != case.conns {
        return Err(format!("opened {} of {} connections", m["opened"], case.conns));
    }
    m.insert("others_cores".into(), others_cores);
    Ok((m, others_cores))
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

struct Results {
    /// (case id, contender) -> the metrics of each repetition.
    runs: BTreeMap<(String, usize), Vec<Metrics>>,
    failures: Vec<String>,
}

impl Results {
    fn values(&self, case: &Case, who: Who, key: &str) -> Vec<f64> {
        let idx = CONTENDERS.iter().position(|w| *w == who).unwrap();
        self.runs
            .get(&(case.id(), idx))
            .map(|v| v.iter().filter_map(|m| m.get(key).copied()).collect())
            .unwrap_or_default()
    }
    fn med(&self, case: &Case, who: Who, key: &str) -> Option<f64> {
        let v = self.values(case, who, key);
        (!v.is_empty()).then(|| median(&v))
    }
    /// (max - min) / median of a metric, in percent.
    fn spread(&self, case: &Case, who: Who, key: &str) -> Option<f64> {
        let v = self.values(case, who, key);
        if v.len() < 2 {
            return None;
        }
        let max = v.iter().cloned().fold(f64::MIN, f64::max);
        let min = v.iter().cloned().fold(f64::MAX, f64::min);
        Some((max - min) / median(&v) * 100.0)
    }
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => {
            if x >= 10000.0 && digits == 0 {
                let s = format!("{:.0}", x);
                // thousands separators
                let mut out = String::new();
                for (i, c) in s.chars().enumerate() {
                    if i > 0 && (s.len() - i) % 3 == 0 {
                        out.push(',');
                    }
                    out.push(c);
                }
                out
            } else {
                format!("{:.*}", digits, x)
            }
        }
        _ => "—".into(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// (busy, total) jiffies of all CPUs, or of one core, from /proc/stat.
fn cpu_jiffies(core: Option<usize>) -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let name = core.map(|c| format!("cpu{}", c)).unwrap_or_else(|| "cpu".to_string());
    let line = stat.lines().find(|l| l.split_whitespace().next() == Some(name.as_str())).unwrap_or("");
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// Waits (at most `max`) until the machine (or the benchmark's core) is quiet: over 50 ms,
/// other processes kept less than a fifth of one core busy. Returns whether it was quiet. Other engineers run their
/// tests on the same machine; a benchmark run that shares its two cores with them measures
/// the scheduler, not the client.
fn wait_quiet(max: Duration, core: Option<usize>) -> bool {
    let ncpu =
        if core.is_some() { 1.0 } else { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64 };
    let start = Instant::now();
    loop {
        let (b0, t0) = cpu_jiffies(core);
        std::thread::sleep(Duration::from_millis(50));
        let (b1, t1) = cpu_jiffies(core);
        let busy_cores = if t1 > t0 { (b1 - b0) as f64 / (t1 - t0) as f64 * ncpu } else { 0.0 };
        if busy_cores < 0.2 {
            return true;
        }
        if start.elapsed() >= max {
            return false;
        }
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2");
    format!(
        "- CPU: {} × {} (nproc {}), memory {}\n- kernel: {}; {}\n- {}; libwebsockets {} (Debian package); tungstenite / tokio-tungstenite 0.30; Node {}, ws {} (compression rows)\n- libws: {} (commit {})\n- load average (1, 5, 15 min) at start: {}\n",
        sh("nproc --all"),
        cpu.trim(),
        sh("nproc --all"),
        sh("free -h | awk '/Mem:/ {print $2}'"),
        sh("uname -sr"),
        sh(". /etc/os-release && echo $PRETTY_NAME"),
        sh("rustc --version"),
        sh("pkg-config --modversion libwebsockets").trim_end_matches('-').to_string(),
        sh("node --version"),
        sh("grep -m1 '\"version\"' bench/node/node_modules/ws/package.json | cut -d'\"' -f4"),
        sh("grep -m1 '^version' Cargo.toml | cut -d'\"' -f2"),
        sh("git rev-parse --short HEAD"),
        loadavg(),
    )
}

fn start_server(env_bin: &Path, ca: &Path) -> (Child, BTreeMap<String, u16>) {
    let mut child = Command::new(env_bin.join("echo-server"))
        .args(["--ca-out", ca.to_str().unwrap(), "--max-secs", "3600"])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start echo-server: {}", e));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("echo-server ports");
    let ports = line
        .split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.parse().unwrap())))
        .collect::<BTreeMap<String, u16>>();
    if ports.len() != 3 {
        panic!("echo-server said {:?}", line);
    }
    (child, ports)
}

fn cases(quick: bool) -> Vec<Case> {
    let mut v = Vec::new();
    let (lat_n, lat_w) = if quick { (200, 20) } else { (10000, 1000) };
    for (size, tls) in [(32, false), (1024, false), (16384, false), (1024, true)] {
        v.push(Case {
            kind: Kind::Latency,
            tls,
            size,
            conns: 1,
            count: lat_n,
            warmup: lat_w,
            ca_mode: "",
            deflate: false,
        });
    }
    // Total measured messages per case (split over the connections), ~256 MiB for large sizes.
    let total = |size: usize| -> u64 {
        if quick {
            match size {
                s if s >= 1 << 20 => 20,
                s if s >= 65536 => 100,
                _ => 2000,
            }
        } else {
            match size {
                32 => 200_000,
                1024 => 100_000,
                s => ((256usize << 20) / s) as u64,
            }
        }
    };
    for (sizes, tls) in [(&[32usize, 1024, 65536, 1 << 20][..], false), (&[1024usize, 1 << 20][..], true)] {
        for &size in sizes {
            for conns in [1usize, 5] {
                let per = (total(size) / conns as u64).max(1);
                let warmup = (per / 10).max(if quick { 2 } else { 10 });
                v.push(Case {
                    kind: Kind::Throughput,
                    tls,
                    size,
                    conns,
                    count: per,
                    warmup,
                    ca_mode: "",
                    deflate: false,
                });
            }
        }
    }
    let idle: &[(usize, bool, &'static str)] = if quick {
        &[(50, false, "runtime"), (50, true, "runtime")]
    } else {
        &[
            (1000, false, "runtime"),
            (10000, false, "runtime"),
            (1000, true, "runtime"),
            (10000, true, "runtime"),
            (1000, true, "task"),
        ]
    };
    for &(conns, tls, ca_mode) in idle {
        v.push(Case { kind: Kind::Idle, tls, size: 32, conns, count: 1, warmup: 1, ca_mode, deflate: false });
    }
    // Compressible text against the Node ws server, each size with and without permessage-deflate.
    for size in [1024usize, 65536] {
        let count: u64 = match (quick, size) {
            (true, 1024) => 200,
            (true, _) => 20,
            // Node's deflate runs on its zlib thread pool, a hand-off per message: the Node rows
            // with compression run at a few thousand 1 KiB messages/s, so smaller counts than
            // the other throughput rows.
            (false, 1024) => 5_000,
            (false, _) => 300,
        };
        let warmup = (count / 10).max(if quick { 2 } else { 10 });
        for deflate in [false, true] {
            v.push(Case { kind: Kind::Compress, tls: false, size, conns: 1, count, warmup, ca_mode: "", deflate });
        }
    }
    v.extend(open::cases(quick));
    v
}

/// Starts the Node ws echo server (bench/node/echo_server.js), pinned to `core` (all its threads,
/// zlib's worker threads included). Err when node or the ws package is missing.
fn start_node_server(node_dir: &Path, core: Option<usize>) -> Result<(Child, u16), String> {
    if !node_dir.join("node_modules/ws").is_dir() {
        return Err(format!("{} has no node_modules/ws (bench/run.sh installs it with npm ci)", node_dir.display()));
    }
    let mut cmd = Command::new("node");
    cmd.arg(node_dir.join("echo_server.js")).stdout(Stdio::piped()).stdin(Stdio::piped());
    if let Some(core) = core {
        use std::os::unix::process::CommandExt;
        // SAFETY: sched_setaffinity is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(core, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot start node: {}", e))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).map_err(|e| e.to_string())?;
    match line.trim().strip_prefix("READY port=").and_then(|p| p.parse::<u16>().ok()) {
        Some(port) => Ok((child, port)),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("the Node echo server said {:?}", line.trim()))
        }
    }
}

fn main() {
    let mut quick = false;
    let mut reps: Option<usize> = None;
    let mut out: Option<PathBuf> = None;
    let mut only: Option<String> = None;
    let mut who_filter: Option<Vec<String>> = None;
    let mut pin_same = true;
    let exe = std::env::current_exe().unwrap();
    let mut bin_dir = exe.parent().unwrap().to_path_buf();
    let mut c_dir = bin_dir.join("../c");
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let val = || argv.get(i + 1).cloned().unwrap_or_else(|| bench::die("missing value"));
        match argv[i].as_str() {
            "--quick" => {
                quick = true;
                i += 1;
                continue;
            }
            "--reps" => reps = Some(val().parse().unwrap_or_else(|_| bench::die("bad --reps"))),
            "--out" => out = Some(PathBuf::from(val())),
            "--only" => only = Some(val()),
            "--pin" => {
                pin_same = match val().as_str() {
                    "same" => true,
                    "none" => false,
                    _ => bench::die("--pin same|none"),
                }
            }
            "--who" => who_filter = Some(val().split(',').map(|w| w.trim().to_lowercase()).collect()),
            "--bin-dir" => bin_dir = PathBuf::from(val()),
            "--c-dir" => c_dir = PathBuf::from(val()),
            other => bench::die(&format!("unknown argument {}", other)),
        }
        i += 2;
    }
    let reps = reps.unwrap_or(if quick { 1 } else { 7 });
    bench::raise_nofile();

    let tmp = std::env::temp_dir().join(format!("libws-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let ca = tmp.join("ca.pem");
    let (mut server, ports) = start_server(&bin_dir, &ca);
    let pin_core = if pin_same { pin_setup(server.id()) } else { None };
    let mut all_cases: Vec<Case> =
        cases(quick).into_iter().filter(|c| only.as_ref().map_or(true, |o| c.id().contains(o.as_str()))).collect();
    // The compression rows need node and bench/node's ws package (bench/run.sh installs it). No
    // node on the machine: the rows are left out, said so in the report. Any other trouble with
    // the Node server is a failure.
    let mut setup_failures = Vec::new();
    let mut notes = String::new();
    let node_dir = bin_dir.join("../../node");
    let mut node_server = None;
    let mut corpus = BTreeMap::new();
    if all_cases.iter().any(|c| c.kind == Kind::Compress) {
        let have_node = Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !have_node {
            eprintln!("warning: node not found: the compression rows are left out");
            notes.push_str("- compression rows left out: node not found on this machine\n");
            all_cases.retain(|c| c.kind != Kind::Compress);
        } else {
            match start_node_server(&node_dir, pin_core) {
                Ok(s) => node_server = Some(s),
                Err(e) => {
                    eprintln!("FAILED the Node ws echo server: {}", e);
                    setup_failures.push(format!("the Node ws echo server: {}", e));
                    all_cases.retain(|c| c.kind != Kind::Compress);
                }
            }
            for c in all_cases.iter().filter(|c| c.kind == Kind::Compress) {
                corpus.entry(c.size).or_insert_with(|| {
                    let path = tmp.join(format!("json-{}.txt", c.size));
                    let n = if c.size <= 4096 { 256 } else { 64 };
                    std::fs::write(&path, bench::json_corpus(c.size, n).join("\n") + "\n").unwrap();
                    path
                });
            }
        }
    }
    let env = Env {
        node_server: node_server.as_ref().map(|(c, p): &(Child, u16)| (c.id(), *p)),
        node_dir,
        corpus,
        pin: pin_core,
        server_pid: server.id(),
        bin_dir,
        c_dir,
        ports,
        ca,
        window: 64,
        idle_secs: if quick { 0.3 } else { 2.0 },
        timeout: if quick { 30 } else { 120 },
    };
    let header = machine();
    let started = Instant::now();

    let mut results = Results { runs: BTreeMap::new(), failures: setup_failures };
    let (mut quiet_runs, mut all_runs) = (0usize, 0usize);
    // At most this much waiting for quiet and retrying in the whole run, so a busy machine
    // cannot stretch it much.
    let mut wait_budget = Duration::from_secs(if quick { 0 } else { 45 });
    let mut retry_budget = Duration::from_secs(if quick { 0 } else { 120 });
    let (mut retried, mut disturbed_kept) = (0usize, 0usize);
    for case in &all_cases {
        eprintln!("[{:>6.1}s] {} (load average {})", started.elapsed().as_secs_f64(), case.id(), loadavg());
        // Latency runs are short and the most sensitive to other processes: twice the
        // repetitions.
        let case_reps = if case.kind == Kind::Latency { reps * 2 } else { reps };
        for rep in 0..case_reps {
            for k in 0..CONTENDERS.len() {
                // Rotate the order every repetition so no contender always runs first or last.
                let idx = (k + rep) % CONTENDERS.len();
                let who = CONTENDERS[idx];
                if who.runs(case).is_err() {
                    continue;
                }
                if let Some(f) = &who_filter {
                    if !f.iter().any(|w| who.name().to_lowercase().contains(w.as_str())) {
                        continue;
                    }
                }
                all_runs += 1;
                if !quick {
                    let w = Instant::now();
                    if wait_quiet(wait_budget.min(Duration::from_secs(3)), env.pin) {
                        quiet_runs += 1;
                    }
                    wait_budget = wait_budget.saturating_sub(w.elapsed());
                }
                // A run during which other processes kept half a core or more busy is retried
                // (up to twice, within a budget); the least disturbed attempt is kept.
                let mut best: Option<(Metrics, f64)> = None;
                let mut failure = None;
                for attempt in 0..3 {
                    let t = Instant::now();
                    match run_one(&env, who, case) {
                        Ok((m, others)) => {
                            eprintln!(
                                "[{:>6.1}s] {:<28} rep {} {:<34} {:.2}s {}{}",
                                started.elapsed().as_secs_f64(),
                                case.id(),
                                rep + 1,
                                who.name(),
                                t.elapsed().as_secs_f64(),
                                m.iter()
                                    .filter(|(k, _)| *k != "ok")
                                    .map(|(k, v)| format!("{}={:.3}", k, v))
                                    .collect::<Vec<_>>()
                                    .join(" "),
                                if others > DISTURBED { "  (disturbed)" } else { "" }
                            );
                            if best.as_ref().map_or(true, |(_, o)| others < *o) {
                                best = Some((m, others));
                            }
                        }
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                    let disturbed = best.as_ref().map_or(false, |(_, o)| *o > DISTURBED);
                    // Idle cases measure memory and the runtime's own CPU: others do not change them.
                    if !disturbed || quick || retry_budget.is_zero() || case.kind == Kind::Idle {
                        break;
                    }
                    retried += 1;
                    retry_budget = retry_budget.saturating_sub(t.elapsed());
                    let _ = attempt;
                }
                match (best, failure) {
                    (_, Some(e)) => {
                        let msg = format!("{} / {} rep {}: {}", case.id(), who.name(), rep + 1, e);
                        eprintln!("FAILED {}", msg);
                        results.failures.push(msg);
                    }
                    (Some((m, others)), None) => {
                        if others > DISTURBED {
                            disturbed_kept += 1;
                        }
                        results.runs.entry((case.id(), idx)).or_default().push(m);
                    }
                    (None, None) => unreachable!(),
                }
            }
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    if let Some((mut node, _)) = node_server {
        let _ = node.kill();
        let _ = node.wait();
    }
    let _ = std::fs::remove_dir_all(&tmp);

    results.failures.extend(missing_rows(&all_cases, &results, who_filter.as_deref()));

    let elapsed = started.elapsed().as_secs_f64();
    let quiet = if quick {
        "not checked in quick mode".to_string()
    } else {
        format!(
            "{} of {} (quiet = other processes used < 0.2 core over 50 ms{}; the runner waits up to 3 s for that before each run, 45 s in all)\n- runs disturbed by other processes (they kept > {} core busy{} during the run): {} retried (120 s budget), {} of {} kept disturbed\n- placement: {}",
            quiet_runs, all_runs, if env.pin.is_some() { " on the benchmark's core" } else { "" }, DISTURBED, if env.pin.is_some() { " on the benchmark's core" } else { "" }, retried, disturbed_kept, all_runs,
            match env.pin { Some(c) => format!("client and server pinned to core {} (`--pin same`), the runner on the other cores", c), None => "unpinned (`--pin none`)".into() }
        )
    };
    let header = format!(
        "{}- load average at end: {}\n- runs that started on a quiet machine: {}\n{}",
        header,
        loadavg(),
        quiet,
        notes
    );
    let md = report(&all_cases, &results, &header, reps, quick, elapsed, env.window);
    println!("{}", md);
    if let Some(path) = out {
        std::fs::write(&path, &md).unwrap_or_else(|e| bench::die(&format!("write {}: {}", path.display(), e)));
        eprintln!("wrote {}", path.display());
    }
    let passed: usize = results.runs.values().map(|v| v.len()).sum();
    // The closing line test runners read.
    println!("{} passed, {} failed", passed, results.failures.len());
    if !results.failures.is_empty() {
        eprintln!("{} run(s) failed:", results.failures.len());
        for f in &results.failures {
            eprintln!("  {}", f);
        }
        std::process::exit(1);
    }
    eprintln!("benchmark complete: every contender produced every expected number");
}

/// Every (case, contender) that should have run (it runs the case and passes `--who`) and has no
/// result: a row the tables would show empty, so a failure.
fn missing_rows(cases: &[Case], r: &Results, who_filter: Option<&[String]>) -> Vec<String> {
    let mut missing = Vec::new();
    for c in cases {
        for (idx, who) in CONTENDERS.iter().enumerate() {
            let wanted = who_filter.map_or(true, |f| f.iter().any(|w| who.name().to_lowercase().contains(w.as_str())));
            let failed = r.failures.iter().any(|f| f.starts_with(&format!("{} / {} ", c.id(), who.name())));
            if who.runs(c).is_ok() && wanted && !failed && r.runs.get(&(c.id(), idx)).map_or(true, |v| v.is_empty()) {
                missing.push(format!("{} / {}: no result", c.id(), who.name()));
            }
        }
    }
    missing
}

fn report(cases: &[Case], r: &Results, header: &str, reps: usize, quick: bool, elapsed: f64, window: u64) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "## Results{}\n\n{}- repetitions: {} per contender and case, 2× that for latency (medians shown; \"spread\" = (max−min)/median of the main number); window {} messages per connection; run took {:.0} s\n- other processes may have been running on the machine during the run\n\n",
        if quick { " (quick mode: tiny counts, not for conclusions)" } else { "" },
        header,
        reps,
        window,
        elapsed
    ));

    s.push_str("### Round-trip latency (one connection, one message in flight)\n\n");
    s.push_str("| case | contender | p50 µs | p99 µs | p50 ÷ libws p50 | spread % | CPU µs/msg |\n|---|---|---:|---:|---:|---:|---:|\n");
    for c in cases.iter().filter(|c| c.kind == Kind::Latency) {
        let base = r.med(c, Who::LibwsCb, "p50_us");
        for who in CONTENDERS.into_iter().filter(|w| !w.host_only()) {
            if let Err(why) = who.runs(c) {
                let _ = why;
                continue;
            }
            let p50 = r.med(c, who, "p50_us");
            s.push_str(&format!(
                "| {} {} | {} | {} | {} | {} | {} | {} |\n",
                if c.tls { "wss" } else { "ws" },
                human(c.size),
                who.name(),
                fmt(p50, 1),
                fmt(r.med(c, who, "p99_us"), 1),
                fmt(ratio(p50, base), 2),
                fmt(r.spread(c, who, "p50_us"), 0),
                fmt(r.med(c, who, "cpu_us_per_msg"), 2),
            ));
        }
    }

    s.push_str("\n### Echo throughput (windowed: up to 64 messages in flight per connection)\n\n");
    s.push_str(
        "| case | contender | msg/s | MB/s | ÷ libws | spread % | CPU µs/msg |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    for c in cases.iter().filter(|c| c.kind == Kind::Throughput) {
        let base = r.med(c, Who::LibwsCb, "msgs_per_s");
        for who in CONTENDERS.into_iter().filter(|w| *w != Who::Node && !w.host_only()) {
            let label = format!("{} {} × {} conn", if c.tls { "wss" } else { "ws" }, human(c.size), c.conns);
            if let Err(why) = who.runs(c) {
                s.push_str(&format!("| {} | {} | n/a | | | | {} |\n", label, who.name(), why));
                continue;
            }
            let v = r.med(c, who, "msgs_per_s");
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                label,
                who.name(),
                fmt(v, 0),
                fmt(r.med(c, who, "mb_per_s"), 1),
                fmt(ratio(v, base), 2),
                fmt(r.spread(c, who, "msgs_per_s"), 0),
                fmt(r.med(c, who, "cpu_us_per_msg"), 2),
            ));
        }
    }

    s.push_str("\n### Idle connections held by one libws runtime (one loop thread)\n\n");
    s.push_str("| scheme | CA given | connections | opened | KiB per connection | spread % | idle CPU % of one core | connect all (s) |\n|---|---|---:|---:|---:|---:|---:|---:|\n");
    for c in cases.iter().filter(|c| c.kind == Kind::Idle) {
        let who = Who::LibwsCb;
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            if c.tls { "wss" } else { "ws" },
            if !c.tls {
                "—"
            } else if c.ca_mode == "task" {
                "per task (ws_connect_options.ca_pem)"
            } else {
                "runtime (ws_config.ca_pem)"
            },
            c.conns,
            fmt(r.med(c, who, "opened"), 0),
            fmt(r.med(c, who, "kib_per_conn"), 1),
            fmt(r.spread(c, who, "kib_per_conn"), 0),
            fmt(r.med(c, who, "idle_cpu_pct"), 2),
            fmt(r.med(c, who, "connect_s"), 2),
        ));
    }

    if cases.iter().any(|c| c.kind == Kind::Compress) {
        s.push_str("\n### Compressible text: JSON-like messages, echoed by the Node ws 8 server (permessage-deflate, threshold 0)\n\n");
        s.push_str("Both libws rows and both Node rows against the same server; the plain rows did not offer permessage-deflate. Wire bytes: what TCP carried per measured message (frame headers and all): out = client to server, in = server to client; ÷ payload = (out + in) ÷ (2 × message size).\n\n");
        s.push_str("| message | contender | permessage-deflate | msg/s | MB/s (payload) | spread % | CPU µs/msg | wire bytes out/msg | wire bytes in/msg | wire ÷ payload |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
        let mut sizes: Vec<(usize, usize)> =
            cases.iter().filter(|c| c.kind == Kind::Compress).map(|c| (c.size, c.conns)).collect();
        sizes.dedup();
        for (size, conns) in sizes {
            for who in [Who::LibwsCb, Who::Node] {
                for c in cases.iter().filter(|c| c.kind == Kind::Compress && c.size == size && c.conns == conns) {
                    let out = r.med(c, who, "wire_out_per_msg");
                    let inn = r.med(c, who, "wire_in_per_msg");
                    let wire = match (out, inn) {
                        (Some(o), Some(i)) => Some((o + i) / (2.0 * size as f64)),
                        _ => None,
                    };
                    s.push_str(&format!(
                        "| JSON {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                        human(size),
                        if conns > 1 { format!(" × {} conn", conns) } else { String::new() },
                        if who == Who::LibwsCb { "libws" } else { who.name() },
                        if c.deflate { "on" } else { "off" },
                        fmt(r.med(c, who, "msgs_per_s"), 0),
                        fmt(r.med(c, who, "mb_per_s"), 1),
                        fmt(r.spread(c, who, "msgs_per_s"), 0),
                        fmt(r.med(c, who, "cpu_us_per_msg"), 2),
                        fmt(out, 0),
                        fmt(inn, 0),
                        fmt(wire, 3),
                    ));
                }
            }
        }
    }

    s.push_str(&host_path::report(cases, r));
    s.push_str(&open::report(cases, r));

    s.push_str("\n### Targets (libws = the send-from-callback path; the host path with callbacks in brackets)\n\n");
    s.push_str("| target | case | measured | verdict |\n|---|---|---|---|\n");
    let verdict = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    };
    for c in cases.iter().filter(|c| c.kind == Kind::Latency && !c.tls) {
        let raw = r.med(c, Who::Raw, "p50_us");
        let a = ratio(r.med(c, Who::LibwsCb, "p50_us"), raw);
        let b = ratio(r.med(c, Who::LibwsThread, "p50_us"), raw);
        s.push_str(&format!(
            "| p50 round trip ≤ 1.3× raw TCP | {} | {}× ({}×) | {} |\n",
            human(c.size),
            fmt(a, 2),
            fmt(b, 2),
            verdict(a.map(|x| x <= 1.3))
        ));
    }
    for c in cases.iter().filter(|c| c.kind == Kind::Throughput) {
        for (other, min) in [(Who::Tokio, 1.0), (Who::Lws, 1.0), (Who::Tungstenite, 0.9)] {
            if other.runs(c).is_err() {
                continue;
            }
            let o = r.med(c, other, "msgs_per_s");
            let a = ratio(r.med(c, Who::LibwsCb, "msgs_per_s"), o);
            let b = ratio(r.med(c, Who::LibwsThread, "msgs_per_s"), o);
            s.push_str(&format!(
                "| throughput ≥ {:.1}× {} | {} {} × {} | {}× ({}×) | {} |\n",
                min,
                other.name(),
                if c.tls { "wss" } else { "ws" },
                human(c.size),
                c.conns,
                fmt(a, 2),
                fmt(b, 2),
                verdict(a.map(|x| x >= min))
            ));
        }
    }
    for c in cases.iter().filter(|c| c.kind == Kind::Idle) {
        let kib = r.med(c, Who::LibwsCb, "kib_per_conn");
        let limit = if c.tls { 64.0 } else { 24.0 };
        s.push_str(&format!(
            "| ≤ {} KiB per idle {}:// connection{} | {} connections | {} KiB | {} |\n",
            limit,
            if c.tls { "wss" } else { "ws" },
            if c.ca_mode == "task" { " (CA per task)" } else { "" },
            c.conns,
            fmt(kib, 1),
            verdict(kib.map(|k| k <= limit))
        ));
        if c.conns >= 10000 {
            let opened = r.med(c, Who::LibwsCb, "opened");
            s.push_str(&format!(
                "| {} connections on one loop thread | {} | {} open | {} |\n",
                c.conns,
                if c.tls { "wss" } else { "ws" },
                fmt(opened, 0),
                verdict(opened.map(|o| o as usize == c.conns))
            ));
        }
        if c.conns == 1000 && c.ca_mode == "runtime" {
            let cpu = r.med(c, Who::LibwsCb, "idle_cpu_pct");
            s.push_str(&format!(
                "| no busy loop: < 1% of a core idle with 1,000 open | {} | {}% | {} |\n",
                if c.tls { "wss" } else { "ws" },
                fmt(cpu, 2),
                verdict(cpu.map(|x| x < 1.0))
            ));
        }
    }
    if !r.failures.is_empty() {
        s.push_str("\n### Failed runs\n\n");
        for f in &r.failures {
            s.push_str(&format!("- {}\n", f));
        }
    }
    s
}
