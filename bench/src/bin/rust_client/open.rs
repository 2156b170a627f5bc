//! Time to open (`--mode open`) for tokio-tungstenite: `--warmup` + `--count` connections, one
//! after another, each timed from the connect call to the finished WebSocket handshake, then
//! closed. wss://: with `--resume 1` one `rustls::ClientConfig` (and its default in-memory
//! session cache) serves every connection, so all but the first resume; with `--resume 0` each
//! connection gets a configuration of its own (built before the clock starts), so each is a full
//! handshake. Which one happened is checked on every measured connection.

use std::sync::Arc;
use std::time::Instant;

use bench::{die, print_open, Args};
use futures_util::StreamExt;
use rustls::HandshakeKind;
use tokio_tungstenite::{Connector, MaybeTlsStream};

pub async fn tokio(args: Args) {
    let ca = args.ca.clone().filter(|_| args.is_tls());
    let shared = ca.as_deref().map(bench::rustls_client_config);
    let mut samples = Vec::with_capacity(args.count as usize);
    for i in 0..args.warmup + args.count {
        let config = match (&shared, args.resume) {
            (Some(c), true) => Some(Arc::clone(c)),
            (Some(_), false) => ca.as_deref().map(bench::rustls_client_config),
            (None, _) => None,
        };
        let t0 = Instant::now();
        let (mut ws, _) = tokio_tungstenite::connect_async_tls_with_config(
            args.url.as_str(),
            None,
            true,
            config.map(Connector::Rustls),
        )
        .await
        .unwrap_or_else(|e| die(&format!("connect: {}", e)));
        let dt = t0.elapsed();
        if let MaybeTlsStream::Rustls(tls) = ws.get_ref() {
            let kind = tls.get_ref().1.handshake_kind();
            let want = if args.resume { HandshakeKind::Resumed } else { HandshakeKind::Full };
            if i >= args.warmup && kind != Some(want) {
                die(&format!("connection {}: TLS handshake {:?}, expected {:?}", i, kind, want));
            }
        }
        ws.close(None).await.unwrap_or_else(|e| die(&format!("close: {}", e)));
        while let Some(Ok(_)) = ws.next().await {}
        if i >= args.warmup {
            samples.push(dt.as_secs_f64() * 1e6);
        }
    }
    print_open(&mut samples);
}
