//! The connection profile of the open event (WeChat's `SocketTask.onOpen` `profile`, and more):
//! when each phase of the set-up began and ended, on one monotonic clock, and what the
//! connection turned out to be. The task records the times at its phase transitions; this module
//! only keeps and reports them (no I/O).

use std::ffi::CString;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What the TLS handshake settled on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// "TLSv1.3", "TLSv1.2".
    pub version: String,
    /// The IANA name of the cipher suite, e.g. "TLS_AES_128_GCM_SHA256".
    pub cipher: String,
    pub resumed: bool,
}

/// Names a TLS version and suite the way OpenSSL and the IANA registry do (rustls calls the
/// TLS 1.3 suites `TLS13_*`).
pub fn tls_info(
    version: Option<rustls::ProtocolVersion>,
    suite: Option<rustls::SupportedCipherSuite>,
    resumed: bool,
) -> TlsInfo {
    let version = match version {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(other) => format!("{:?}", other),
        None => String::new(),
    };
    let cipher = suite.map(|s| format!("{:?}", s.suite())).unwrap_or_default();
    let cipher = cipher.strip_prefix("TLS13_").map(|rest| format!("TLS_{}", rest)).unwrap_or(cipher);
    TlsInfo { version, cipher, resumed }
}

/// The clock's origin: one instant, a second before the first task's first timestamp (so no
/// timestamp is 0, which means "did not happen").
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(|| {
        let now = Instant::now();
        now.checked_sub(std::time::Duration::from_secs(1)).unwrap_or(now)
    })
}

/// Microseconds since the origin; never 0 (see `origin`).
fn micros(t: Instant) -> u64 {
    (t.saturating_duration_since(origin()).as_micros() as u64).max(1)
}

/// The times of one task's set-up, filled in as it goes.
#[derive(Debug)]
pub struct Profile {
    fetch_start: Instant,
    fetch_start_wall: SystemTime,
    /// A lookup (system resolver or the host's) began and ended.
    lookup_start: Option<Instant>,
    lookup_end: Option<Instant>,
    /// Connection attempts started (Happy Eyeballs), and when the winning one started.
    attempts: u32,
    connect_start: Option<Instant>,
    tcp_end: Option<Instant>,
    peer: Option<SocketAddr>,
    /// With a proxy: the tunnel through it opened (CONNECT answered 2xx, SOCKS5 succeeded).
    tunnel_end: Option<Instant>,
    tls_end: Option<Instant>,
    tls: Option<TlsInfo>,
}

/// The finished profile, as the open event reports it (see `ws_profile` in the header).
#[derive(Debug)]
pub struct Report {
    pub fetch_start: u64,
    pub lookup_start: u64,
    pub lookup_end: u64,
    pub connect_start: u64,
    pub tls_start: u64,
    pub tls_end: u64,
    pub connect_end: u64,
    pub proxy_start: u64,
    pub proxy_end: u64,
    pub open: u64,
    pub fetch_start_unix_us: i64,
    pub attempts: u32,
    pub resumed: bool,
    pub tls_version: CString,
    pub cipher: CString,
    pub peer: CString,
}

impl Profile {
    /// The host asked for the connection now (`ws_connect`).
    pub fn start() -> Profile {
        origin();
        Profile {
            fetch_start: Instant::now(),
            fetch_start_wall: SystemTime::now(),
            lookup_start: None,
            lookup_end: None,
            attempts: 0,
            connect_start: None,
            tcp_end: None,
            peer: None,
            tunnel_end: None,
            tls_end: None,
            tls: None,
        }
    }

    pub fn lookup_started(&mut self, at: Instant) {
        self.lookup_start = Some(at);
    }

    /// The addresses arrived (from a lookup, or given: then no lookup began).
    pub fn lookup_ended(&mut self, at: Instant) {
        if self.lookup_start.is_some() {
            self.lookup_end = Some(at);
        }
    }

    pub fn attempt_started(&mut self) {
        self.attempts += 1;
    }

    /// The attempt that started at `started` connected to `peer`.
    pub fn connected(&mut self, started: Instant, at: Instant, peer: SocketAddr) {
        self.connect_start = Some(started);
        self.tcp_end = Some(at);
        self.peer = Some(peer);
    }

    /// The proxy opened the tunnel: TLS (wss://) and the WebSocket handshake start now.
    pub fn tunnel_opened(&mut self, at: Instant) {
        self.tunnel_end = Some(at);
    }

    /// The TLS handshake finished.
    pub fn tls_done(&mut self, at: Instant, info: TlsInfo) {
        self.tls_end = Some(at);
        self.tls = Some(info);
    }

    pub fn tls_pending(&self) -> bool {
        self.tls_end.is_none()
    }

    /// The profile of a task that opened at `open`. Phases that did not happen take the time of
    /// the one before them, as WeChat's do (no lookup: `domainLookUpStart == fetchStart`), except
    /// the TLS times of ws://, which are 0.
    pub fn finish(&self, open: Instant) -> Report {
        let fetch = micros(self.fetch_start);
        let lookup_start = self.lookup_start.map_or(fetch, micros);
        let lookup_end = self.lookup_end.map_or(lookup_start, micros);
        let connect_start = self.connect_start.map_or(lookup_end, micros).max(lookup_end);
        let tcp_end = self.tcp_end.map_or(connect_start, micros);
        // With a proxy, TCP reaches the proxy and the tunnel follows; TLS starts after it.
        let (proxy_start, proxy_end) = match self.tunnel_end {
            Some(end) => (tcp_end, micros(end).max(tcp_end)),
            None => (0, 0),
        };
        let ready = if proxy_end > 0 { proxy_end } else { tcp_end };
        let (tls_start, tls_end) = match self.tls_end {
            Some(end) => (ready, micros(end)),
            None => (0, 0),
        };
        let tls = self.tls.clone().unwrap_or(TlsInfo { version: String::new(), cipher: String::new(), resumed: false });
        let unix = self.fetch_start_wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
        Report {
            fetch_start: fetch,
            lookup_start,
            lookup_end,
            connect_start,
            tls_start,
            tls_end,
            connect_end: tls_end.max(ready),
            proxy_start,
            proxy_end,
            open: micros(open),
            fetch_start_unix_us: unix,
            attempts: self.attempts,
            resumed: tls.resumed,
            tls_version: crate::callback::c_string(&tls.version),
            cipher: crate::callback::c_string(&tls.cipher),
            peer: crate::callback::c_string(&self.peer.map(|p| p.to_string()).unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn without_a_lookup_the_lookup_times_are_fetch_start() {
        let mut p = Profile::start();
        let t0 = p.fetch_start;
        p.lookup_ended(t0 + Duration::from_millis(1)); // given addresses: no lookup began
        p.attempt_started();
        p.connected(t0 + Duration::from_millis(2), t0 + Duration::from_millis(3), "127.0.0.1:80".parse().unwrap());
        let r = p.finish(t0 + Duration::from_millis(5));
        assert_eq!((r.lookup_start, r.lookup_end), (r.fetch_start, r.fetch_start));
        assert_eq!(r.connect_start - r.fetch_start, 2000);
        assert_eq!(r.connect_end - r.connect_start, 1000);
        assert_eq!((r.tls_start, r.tls_end), (0, 0), "ws://");
        assert_eq!(r.open - r.connect_end, 2000);
        assert_eq!(r.peer.to_str().unwrap(), "127.0.0.1:80");
        assert_eq!(r.attempts, 1);
    }

    #[test]
    fn tls_sits_between_tcp_and_connect_end() {
        let mut p = Profile::start();
        let t0 = p.fetch_start;
        p.lookup_started(t0);
        p.lookup_ended(t0 + Duration::from_millis(1));
        p.connected(t0 + Duration::from_millis(2), t0 + Duration::from_millis(3), "[::1]:443".parse().unwrap());
        let info = TlsInfo { version: "TLSv1.3".into(), cipher: "TLS_AES_128_GCM_SHA256".into(), resumed: true };
        p.tls_done(t0 + Duration::from_millis(4), info);
        let r = p.finish(t0 + Duration::from_millis(6));
        assert_eq!(r.lookup_end - r.lookup_start, 1000);
        assert_eq!(r.tls_start - r.connect_start, 1000);
        assert_eq!((r.tls_end, r.connect_end), (r.tls_start + 1000, r.tls_start + 1000));
        assert!(r.resumed);
        assert_eq!(r.peer.to_str().unwrap(), "[::1]:443");
    }

    #[test]
    fn a_tunnel_sits_between_tcp_and_tls() {
        let mut p = Profile::start();
        let t0 = p.fetch_start;
        p.connected(t0 + Duration::from_millis(1), t0 + Duration::from_millis(2), "127.0.0.1:3128".parse().unwrap());
        p.tunnel_opened(t0 + Duration::from_millis(4));
        let info = TlsInfo { version: "TLSv1.3".into(), cipher: "TLS_AES_128_GCM_SHA256".into(), resumed: false };
        p.tls_done(t0 + Duration::from_millis(7), info);
        let r = p.finish(t0 + Duration::from_millis(8));
        assert_eq!(r.proxy_start - r.connect_start, 1000, "the tunnel starts when TCP to the proxy connected");
        assert_eq!(r.proxy_end - r.proxy_start, 2000);
        assert_eq!(r.tls_start, r.proxy_end, "TLS runs through the tunnel, after it");
        assert_eq!((r.tls_end - r.tls_start, r.connect_end), (3000, r.tls_end));
        // ws:// through a proxy: connect_end is the tunnel's end; without one, no proxy times.
        let mut p = Profile::start();
        let t0 = p.fetch_start;
        p.connected(t0, t0 + Duration::from_millis(1), "127.0.0.1:1080".parse().unwrap());
        p.tunnel_opened(t0 + Duration::from_millis(3));
        let r = p.finish(t0 + Duration::from_millis(4));
        assert_eq!((r.tls_start, r.connect_end), (0, r.proxy_end));
        let r = Profile::start().finish(Instant::now());
        assert_eq!((r.proxy_start, r.proxy_end), (0, 0));
    }

    #[test]
    fn tls_names_are_openssls() {
        let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256;
        let info = tls_info(Some(rustls::ProtocolVersion::TLSv1_3), Some(suite), false);
        assert_eq!((info.version.as_str(), info.cipher.as_str()), ("TLSv1.3", "TLS_AES_128_GCM_SHA256"));
        let suite = rustls::crypto::ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256;
        let info = tls_info(Some(rustls::ProtocolVersion::TLSv1_2), Some(suite), false);
        assert_eq!(info.cipher, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    }
}
