//! The "time to open" rows (issue 14): per case, `--warmup` + `--count` connections one after
//! another, each timed by the client from starting its connect to the open (the WebSocket
//! handshake done), then closed; p50 and p90 of the measured ones. Cases: ws://, wss:// with a
//! full TLS handshake every time, wss:// resumed (the client keeps its TLS session cache across
//! the connections, so all but the first resume). Contenders: libws, tokio-tungstenite,
//! libwebsockets, against the same echo server.

use std::process::Command;

use super::{fmt, ratio, Case, Kind, Results, Who};

/// `Case::ca_mode` of the wss:// cases.
const FULL: &str = "full";
const RESUMED: &str = "resumed";

pub fn cases(quick: bool) -> Vec<Case> {
    let (count, warmup) = if quick { (10, 2) } else { (200, 10) };
    [(false, ""), (true, FULL), (true, RESUMED)]
        .into_iter()
        .map(|(tls, ca_mode)| Case {
            kind: Kind::Open,
            tls,
            size: 32,
            conns: 1,
            count,
            warmup,
            ca_mode,
            deflate: false,
        })
        .collect()
}

pub fn id(case: &Case) -> String {
    match (case.tls, case.ca_mode) {
        (false, _) => "open ws".into(),
        (true, mode) => format!("open wss {}", mode),
    }
}

fn label(case: &Case) -> &'static str {
    match (case.tls, case.ca_mode) {
        (false, _) => "ws",
        (true, FULL) => "wss, full TLS 1.3 handshake",
        _ => "wss, resumed (session kept across connections)",
    }
}

pub fn runs(who: Who, case: &Case) -> Result<(), &'static str> {
    match who {
        Who::Lws if case.ca_mode == RESUMED => {
            Err("libwebsockets 4.1.6 keeps no client TLS sessions (its client session cache came with 4.2)")
        }
        Who::LibwsCb | Who::Tokio | Who::Lws => Ok(()),
        _ => Err("time to open: libws, tokio-tungstenite and libwebsockets"),
    }
}

/// The client's arguments for an open case.
pub fn args(case: &Case, cmd: &mut Command) {
    cmd.args(["--resume", if case.ca_mode == RESUMED { "1" } else { "0" }]);
}

pub fn report(cases: &[Case], r: &Results) -> String {
    let open: Vec<&Case> = cases.iter().filter(|c| c.kind == Kind::Open).collect();
    if open.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n### Time to open (a new connection each time, one after another)\n\n");
    s.push_str("From starting the connect to the open (WebSocket handshake done), on 127.0.0.1; each run opens and closes its connections one at a time (median over the runs of each run's p50 and p90). Resumed: the client keeps its TLS session cache across the connections (libws: one runtime; tokio-tungstenite: one shared `rustls::ClientConfig`); full: no session to resume (libws: a fresh runtime whose TLS configuration was built by a connection to the server as `localhost`; tokio-tungstenite: a new `ClientConfig` per connection, built before the clock starts). Each client checks that every measured wss:// connection resumed or did not, as the case says.\n\n");
    s.push_str("| case | contender | p50 µs | p90 µs | p50 ÷ libws p50 | spread % |\n|---|---|---:|---:|---:|---:|\n");
    for c in open {
        let base = r.med(c, Who::LibwsCb, "p50_us");
        for who in [Who::LibwsCb, Who::Tokio, Who::Lws] {
            let name = if who == Who::LibwsCb { "libws" } else { who.name() };
            if let Err(why) = runs(who, c) {
                s.push_str(&format!("| {} | {} | n/a | | | {} |\n", label(c), name, why));
                continue;
            }
            let p50 = r.med(c, who, "p50_us");
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                label(c),
                name,
                fmt(p50, 0),
                fmt(r.med(c, who, "p90_us"), 0),
                fmt(ratio(p50, base), 2),
                fmt(r.spread(c, who, "p50_us"), 0),
            ));
        }
    }
    s
}
