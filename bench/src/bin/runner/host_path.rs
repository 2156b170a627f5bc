//! The host's path (issue 16): every contender driven the way a host with its own thread (a
//! JavaScript engine's) drives it. The main thread of the client builds and sends every message;
//! another thread receives, checks each echo and hands it back to the main thread (mutex +
//! condition variable), or, with libws's dispatcher, the main thread runs the events itself. Run
//! for the 32 B and 1 KiB latency and throughput cases over ws:// and the 1 KiB ones over
//! wss:// (where the contender can); reported against the two-thread raw TCP floor and against
//! each peer on the same path.

use super::{fmt, human, ratio, Case, Kind, Results, Who};

/// The host's path contenders as the tables list them: libws first, the floor last.
const HOST: [Who; 6] =
    [Who::LibwsThread, Who::LibwsDispatch, Who::TokioHost, Who::LwsHost, Who::TungHost, Who::RawHost];

/// The other clients on the host's path (the floor is not a peer).
const PEERS: [Who; 3] = [Who::TokioHost, Who::LwsHost, Who::TungHost];

/// The two libws variants on the host's path.
const LIBWS: [Who; 2] = [Who::LibwsThread, Who::LibwsDispatch];

/// The latency target: p50 ≤ this × the two-thread raw TCP floor.
const P50_LIMIT: f64 = 1.25;

/// Whether the host's path runs `case`.
fn is_host_case(c: &Case) -> bool {
    matches!(c.kind, Kind::Latency | Kind::Throughput) && (c.size == 1024 || (c.size == 32 && !c.tls))
}

impl Who {
    /// Contenders that run only the host's path cases.
    pub(super) fn host_only(self) -> bool {
        matches!(self, Who::LibwsDispatch | Who::TokioHost | Who::LwsHost | Who::TungHost | Who::RawHost)
    }

    /// For the host-only contenders, whether they run `case` (and why not); None for the others.
    pub(super) fn host_runs(self, case: &Case) -> Option<Result<(), &'static str>> {
        if !self.host_only() {
            return None;
        }
        Some(match self {
            _ if !is_host_case(case) => Err("the host's path runs the 32 B and 1 KiB latency and throughput cases"),
            Who::RawHost if case.tls => Err("no TLS on the raw floor"),
            Who::TungHost if case.tls => {
                Err("blocking tungstenite cannot split a TLS stream into reader and writer threads")
            }
            _ => Ok(()),
        })
    }

    /// `--path` of the C drivers.
    pub(super) fn driver_path(self) -> &'static str {
        match self {
            Who::LibwsThread => "thread",
            Who::LibwsDispatch => "dispatch",
            Who::LwsHost => "host",
            _ => "cb",
        }
    }

    /// `--client` of rust-client.
    pub(super) fn rust_client(self) -> &'static str {
        match self {
            Who::Tungstenite => "tungstenite",
            Who::Tokio => "tokio",
            Who::TungHost => "tungstenite-host",
            Who::TokioHost => "tokio-host",
            Who::RawHost => "raw-host",
            _ => "raw",
        }
    }

    /// How the contender is driven on the host's path, for the tables.
    fn host_label(self) -> &'static str {
        match self {
            Who::LibwsThread => "libws, callbacks (callback hands back: condvar)",
            Who::LibwsDispatch => "libws, dispatcher (host thread runs ws_dispatch)",
            Who::TokioHost => "tokio-tungstenite 0.30 (channel in, condvar back)",
            Who::LwsHost => "libwebsockets (C) (lws_cancel_service in, condvar back)",
            Who::TungHost => "tungstenite 0.30 blocking (writer = host thread, reader thread)",
            Who::RawHost => "raw TCP, two threads (floor)",
            other => other.name(),
        }
    }

    fn short(self) -> &'static str {
        match self {
            Who::TokioHost => "tokio-tungstenite",
            Who::LwsHost => "libwebsockets",
            Who::TungHost => "tungstenite",
            Who::LibwsThread => "callbacks",
            Who::LibwsDispatch => "dispatcher",
            other => other.name(),
        }
    }
}

fn label(c: &Case) -> String {
    let scheme = if c.tls { "wss" } else { "ws" };
    match c.kind {
        Kind::Throughput => format!("{} {} × {} conn", scheme, human(c.size), c.conns),
        _ => format!("{} {}", scheme, human(c.size)),
    }
}

/// The peer libws fares worst against on `key` (`higher`: more is better): (ratio libws ÷ peer,
/// the peer), over the peers that ran.
fn worst(r: &Results, c: &Case, libws: Who, key: &str, higher: bool) -> Option<(f64, Who)> {
    let mine = r.med(c, libws, key);
    PEERS
        .into_iter()
        .filter(|p| p.runs(c).is_ok())
        .filter_map(|p| ratio(mine, r.med(c, p, key)).map(|x| (x, p)))
        .reduce(|a, b| if (b.0 < a.0) == higher { b } else { a })
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

/// The host's path tables: latency against the floor, throughput against each peer, targets.
pub(super) fn report(cases: &[Case], r: &Results) -> String {
    let cases: Vec<&Case> = cases.iter().filter(|c| is_host_case(c)).collect();
    if cases.is_empty() {
        return String::new();
    }
    let mut s = String::new();
    s.push_str("\n### Host's path: round-trip latency (sent from the host thread, echo handed back to it)\n\n");
    s.push_str("| case | contender | p50 µs | p99 µs | p50 ÷ two-thread raw TCP p50 | spread % | CPU µs/msg |\n|---|---|---:|---:|---:|---:|---:|\n");
    for c in cases.iter().filter(|c| c.kind == Kind::Latency) {
        let floor = r.med(c, Who::RawHost, "p50_us");
        for who in HOST.into_iter().filter(|w| w.runs(c).is_ok()) {
            let p50 = r.med(c, who, "p50_us");
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                label(c),
                who.host_label(),
                fmt(p50, 1),
                fmt(r.med(c, who, "p99_us"), 1),
                fmt(ratio(p50, floor), 2),
                fmt(r.spread(c, who, "p50_us"), 0),
                fmt(r.med(c, who, "cpu_us_per_msg"), 2),
            ));
        }
    }

    s.push_str("\n### Host's path: echo throughput (windowed, every message sent from the host thread)\n\n");
    s.push_str("Ratios: libws's msg/s ÷ this row's (above 1: libws is faster) and libws's CPU µs/msg ÷ this row's (below 1: libws spends less).\n\n");
    s.push_str("| case | contender | msg/s | MB/s | spread % | CPU µs/msg | callbacks msg/s ÷ | callbacks CPU ÷ | dispatcher msg/s ÷ | dispatcher CPU ÷ |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for c in cases.iter().filter(|c| c.kind == Kind::Throughput) {
        for who in HOST {
            if let Err(why) = who.runs(c) {
                s.push_str(&format!("| {} | {} | n/a | | | | | | | {} |\n", label(c), who.host_label(), why));
                continue;
            }
            let (v, cpu) = (r.med(c, who, "msgs_per_s"), r.med(c, who, "cpu_us_per_msg"));
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                label(c),
                who.host_label(),
                fmt(v, 0),
                fmt(r.med(c, who, "mb_per_s"), 1),
                fmt(r.spread(c, who, "msgs_per_s"), 0),
                fmt(cpu, 2),
                fmt(ratio(r.med(c, Who::LibwsThread, "msgs_per_s"), v), 2),
                fmt(ratio(r.med(c, Who::LibwsThread, "cpu_us_per_msg"), cpu), 2),
                fmt(ratio(r.med(c, Who::LibwsDispatch, "msgs_per_s"), v), 2),
                fmt(ratio(r.med(c, Who::LibwsDispatch, "cpu_us_per_msg"), cpu), 2),
            ));
        }
    }

    s.push_str("\n### Host's path: targets (libws with callbacks / with the dispatcher)\n\n");
    s.push_str("Against every peer: the ratio against the peer libws fares worst against, named.\n\n");
    s.push_str("| target | case | libws, callbacks | libws, dispatcher | verdict (callbacks / dispatcher) |\n|---|---|---|---|---|\n");
    for c in cases.iter().filter(|c| c.kind == Kind::Latency && !c.tls) {
        let floor = r.med(c, Who::RawHost, "p50_us");
        let v: Vec<Option<f64>> = LIBWS.iter().map(|w| ratio(r.med(c, *w, "p50_us"), floor)).collect();
        s.push_str(&format!(
            "| p50 round trip ≤ {}× two-thread raw TCP | {} | {}× | {}× | {} / {} |\n",
            P50_LIMIT,
            label(c),
            fmt(v[0], 2),
            fmt(v[1], 2),
            verdict(v[0].map(|x| x <= P50_LIMIT)),
            verdict(v[1].map(|x| x <= P50_LIMIT)),
        ));
    }
    let mut target = |what: &str, c: &Case, key: &str, higher: bool| {
        let v: Vec<Option<(f64, Who)>> = LIBWS.iter().map(|w| worst(r, c, *w, key, higher)).collect();
        let cell = |x: Option<(f64, Who)>| x.map_or("—".to_string(), |(x, p)| format!("{:.2}× ({})", x, p.short()));
        let ok = |x: Option<(f64, Who)>| verdict(x.map(|(x, _)| if higher { x >= 1.0 } else { x <= 1.0 }));
        let case = if c.kind == Kind::Latency { format!("{} round trip", label(c)) } else { label(c) };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} / {} |\n",
            what,
            case,
            cell(v[0]),
            cell(v[1]),
            ok(v[0]),
            ok(v[1])
        ));
    };
    for c in cases.iter().filter(|c| c.kind == Kind::Throughput) {
        target("throughput ≥ 1.0× every peer on the host's path", c, "msgs_per_s", true);
    }
    for c in &cases {
        target("CPU per message ≤ 1.0× every peer on the host's path", c, "cpu_us_per_msg", false);
    }
    s
}
