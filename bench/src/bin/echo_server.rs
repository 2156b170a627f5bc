//! The one echo server every contender talks to, on 127.0.0.1 only:
//! - ws://  : tokio-tungstenite, echoes every text/binary message back;
//! - wss:// : the same behind tokio-rustls (a CA and a server certificate generated at start,
//!   the CA written to `--ca-out` for the clients to trust);
//! - raw TCP: echoes bytes as they come (the floor: same byte counts, no framing).
//!
//! Echoes are batched the way a fast server does it: every message already readable is queued
//! (`feed`) before one flush, so the server spends one write per batch, not per message.
//!
//! Prints one line `PORTS ws=N wss=N raw=N` when it listens, then runs until killed (or until
//! `--max-secs` passes, so a lost runner never leaves it behind).

use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

fn tls_acceptor(ca_out: &str) -> tokio_rustls::TlsAcceptor {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name.push(DnType::CommonName, "libws bench CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");

    let key = KeyPair::generate().expect("server key");
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &ca_cert, &ca_key).expect("server certificate");
    std::fs::write(ca_out, ca_cert.pem()).expect("write CA PEM");

    let chain = vec![cert.der().clone(), ca_cert.der().clone()];
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .expect("server TLS config");
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

static READ_BUFFER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(16 * 1024);

async fn echo_ws<S: AsyncRead + AsyncWrite + Unpin>(stream: S) {
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER.load(std::sync::atomic::Ordering::Relaxed));
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else { return };
    loop {
        let msg = match ws.next().await {
            Some(Ok(m)) => m,
            _ => return,
        };
        if !queue(&mut ws, msg).await {
            return;
        }
        // Everything already readable goes out with the same flush.
        while let Some(next) = ws.next().now_or_never() {
            match next {
                Some(Ok(m)) => {
                    if !queue(&mut ws, m).await {
                        return;
                    }
                }
                _ => return,
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}

/// Queues the echo of one message; false when the connection is done.
async fn queue<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
    msg: Message,
) -> bool {
    match msg {
        Message::Text(_) | Message::Binary(_) => ws.feed(msg).await.is_ok(),
        // Pings are answered by tungstenite itself; a close is echoed by it too.
        Message::Close(_) => {
            let _ = ws.flush().await;
            true
        }
        _ => true,
    }
}

async fn echo_raw(mut stream: TcpStream) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn main() {
    let mut ca_out = String::from("bench-ca.pem");
    let mut threads = 1usize;
    let mut max_secs = 3600u64;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        match (pair[0].as_str(), pair.get(1)) {
            ("--ca-out", Some(v)) => ca_out = v.clone(),
            ("--threads", Some(v)) => threads = v.parse().expect("--threads"),
            ("--max-secs", Some(v)) => max_secs = v.parse().expect("--max-secs"),
            ("--read-buffer", Some(v)) => {
                READ_BUFFER.store(v.parse().expect("--read-buffer"), std::sync::atomic::Ordering::Relaxed)
            }
            _ => bench::die("usage: echo-server [--ca-out FILE] [--threads N] [--max-secs S]"),
        }
    }
    bench::raise_nofile();
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
    }
    .expect("tokio runtime");
    rt.block_on(async move {
        let acceptor = tls_acceptor(&ca_out);
        // A deep backlog: the idle-memory case opens thousands of connections quickly.
        let listen = || {
            let s = tokio::net::TcpSocket::new_v4().unwrap();
            s.set_reuseaddr(true).unwrap();
            s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            s.listen(4096).unwrap()
        };
        let ws_l = listen();
        let wss_l = listen();
        let raw_l = listen();
        println!(
            "PORTS ws={} wss={} raw={}",
            ws_l.local_addr().unwrap().port(),
            wss_l.local_addr().unwrap().port(),
            raw_l.local_addr().unwrap().port()
        );
        use std::io::Write;
        std::io::stdout().flush().unwrap();

        tokio::spawn(async move {
            while let Ok((s, _)) = ws_l.accept().await {
                let _ = s.set_nodelay(true);
                tokio::spawn(echo_ws(s));
            }
        });
        tokio::spawn(async move {
            while let Ok((s, _)) = wss_l.accept().await {
                let _ = s.set_nodelay(true);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(s).await {
                        echo_ws(tls).await;
                    }
                });
            }
        });
        tokio::spawn(async move {
            while let Ok((s, _)) = raw_l.accept().await {
                let _ = s.set_nodelay(true);
                tokio::spawn(echo_raw(s));
            }
        });
        tokio::time::sleep(Duration::from_secs(max_secs)).await;
    });
}
