//! Proxies: the proxy URL a host gives, and the handshake that opens a tunnel through the proxy
//! to the WebSocket server (HTTP `CONNECT`, or SOCKS5 per RFC 1928 with RFC 1929
//! username/password). Pure: bytes in, bytes out, no I/O; the task drives it over its socket.
//! The target's host name goes to the proxy as a name (the proxy resolves it).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::{Code, Failure};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An HTTP proxy, asked with `CONNECT host:port`.
    Http,
    /// A SOCKS5 proxy.
    Socks5,
}

/// A proxy and its credentials. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    pub kind: Kind,
    /// Host name or IP address (without brackets).
    pub host: String,
    pub port: u16,
    /// User name and password (HTTP Basic, or SOCKS5 username/password).
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self)
    }
}

/// The proxy as errMsgs and logs name it: scheme, host and port, never the credentials.
impl std::fmt::Display for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.kind {
            Kind::Http => "http",
            Kind::Socks5 => "socks5",
        };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        write!(f, "{}://{}:{}", scheme, host, self.port)
    }
}

/// Undoes %XX escapes (user names and passwords may hold `:` or `@` escaped).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses `http://[user:password@]host[:port]` (port 80 by default) or
/// `socks5://[user:password@]host[:port]` (`socks5h://` the same; port 1080 by default). The
/// errors never repeat the credentials.
pub fn parse(text: &str) -> Result<Proxy, String> {
    let (scheme, rest) = text.split_once("://").ok_or("missing scheme: expected http:// or socks5://")?;
    let (kind, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "http" => (Kind::Http, 80),
        "socks5" | "socks5h" => (Kind::Socks5, 1080),
        _ => return Err("scheme must be http://, socks5:// or socks5h://".into()),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (userinfo, authority) = match rest.rsplit_once('@') {
        Some((u, a)) => (Some(u), a),
        None => (None, rest),
    };
    let credentials = match userinfo {
        None => None,
        Some(u) => {
            let (user, password) = u.split_once(':').unwrap_or((u, ""));
            let bad = || "bad percent-escape in the credentials".to_string();
            let (user, password) = (percent_decode(user).ok_or_else(bad)?, percent_decode(password).ok_or_else(bad)?);
            if kind == Kind::Socks5 && (user.is_empty() || user.len() > 255 || password.len() > 255) {
                return Err("SOCKS5 user name must be 1 to 255 bytes and password at most 255".into());
            }
            Some((user, password))
        }
    };
    let url = crate::options::parse_url(&format!("ws://{}", authority))
        .map_err(|_| "bad host or port (expected host, host:port, or [IPv6]:port)".to_string())?;
    if url.resource != "/" {
        return Err("a proxy URL has no path".into());
    }
    let port = if authority.ends_with(&format!(":{}", url.port)) { url.port } else { default_port };
    Ok(Proxy { kind, host: url.host, port, credentials })
}

/// How far the handshake got after some bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Send `to_send()`, then read at most `want()` bytes.
    Continue,
    /// The tunnel is open: the WebSocket (or TLS) handshake goes on over the same socket.
    Open,
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    /// HTTP: waiting for the answer's header.
    HttpAnswer,
    /// SOCKS5: waiting for the chosen method (2 bytes).
    SocksMethod,
    /// SOCKS5: waiting for the username/password verdict (2 bytes).
    SocksAuth,
    /// SOCKS5: waiting for the CONNECT reply (its length depends on its address type).
    SocksReply,
    Open,
}

/// The longest HTTP answer header taken from a proxy.
const MAX_HTTP_ANSWER: usize = 16 * 1024;

/// One tunnel handshake.
pub struct Handshake {
    proxy: Proxy,
    state: State,
    /// The target's host and port.
    host: String,
    port: u16,
    out: Vec<u8>,
    /// Received bytes of the answer in progress.
    got: Vec<u8>,
}

fn proxy_failure(proxy: &Proxy, detail: impl std::fmt::Display) -> Failure {
    Failure::new(Code::Proxy, format!("proxy {}: {}", proxy, detail))
}

/// The name of a SOCKS5 reply code (RFC 1928 §6).
pub fn socks_reply_name(code: u8) -> String {
    let name = match code {
        0 => "succeeded",
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => return format!("unassigned reply code {}", code),
    };
    format!("{} ({})", name, code)
}

/// The first line of an answer, printable and short, for an errMsg.
fn first_line(bytes: &[u8]) -> String {
    let line = bytes.split(|&b| b == b'\r' || b == b'\n').next().unwrap_or(&[]);
    let shown: String =
        line.iter().take(120).map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '.' }).collect();
    if line.len() > 120 {
        format!("{}...", shown)
    } else {
        shown
    }
}

impl Handshake {
    /// Starts a tunnel through `proxy` to `host:port`; the first bytes are ready in `to_send`.
    pub fn new(proxy: Proxy, host: &str, port: u16) -> Handshake {
        let mut hs =
            Handshake { proxy, state: State::Open, host: host.to_string(), port, out: Vec::new(), got: Vec::new() };
        match hs.proxy.kind {
            Kind::Http => {
                let authority =
                    if host.contains(':') { format!("[{}]:{}", host, port) } else { format!("{}:{}", host, port) };
                let mut request = format!("CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n", authority);
                if let Some((user, password)) = &hs.proxy.credentials {
                    let token = STANDARD.encode(format!("{}:{}", user, password));
                    request.push_str(&format!("Proxy-Authorization: Basic {}\r\n", token));
                }
                request.push_str("\r\n");
                hs.out = request.into_bytes();
                hs.state = State::HttpAnswer;
            }
            Kind::Socks5 => {
                // No authentication, and username/password when we have credentials.
                hs.out = match hs.proxy.credentials {
                    Some(_) => vec![5, 2, 0, 2],
                    None => vec![5, 1, 0],
                };
                hs.state = State::SocksMethod;
            }
        }
        hs
    }

    pub fn proxy(&self) -> &Proxy {
        &self.proxy
    }

    /// The connection to the proxy broke (`detail` says how).
    pub fn failed(&self, detail: &str) -> Failure {
        proxy_failure(&self.proxy, detail)
    }

    /// Bytes to write to the proxy now.
    pub fn to_send(&self) -> &[u8] {
        &self.out
    }

    /// `n` bytes of `to_send` were written.
    pub fn sent(&mut self, n: usize) {
        self.out.drain(..n.min(self.out.len()));
    }

    /// How many bytes to read next: never past the end of the proxy's answer, so nothing of
    /// the server's bytes is taken here.
    pub fn want(&self) -> usize {
        match self.state {
            // The header ends with an empty line (CRLF CRLF, or LF LF): after a CR or LF one byte
            // may end it, else two.
            State::HttpAnswer => match self.got.last() {
                Some(b'\r' | b'\n') => 1,
                _ => 2,
            },
            State::SocksMethod | State::SocksAuth => 2 - self.got.len(),
            State::SocksReply => self.socks_reply_len() - self.got.len(),
            State::Open => 0,
        }
    }

    /// The full length of a SOCKS5 reply, as far as its first bytes tell.
    fn socks_reply_len(&self) -> usize {
        match (self.got.get(3), self.got.get(4)) {
            (Some(1), _) => 10,
            (Some(4), _) => 22,
            (Some(3), Some(&len)) => 7 + len as usize,
            (Some(3), None) => 5,
            _ => 4,
        }
    }

    /// The proxy closed the connection before the tunnel was open.
    pub fn closed(&self) -> Failure {
        match (&self.state, self.got.is_empty()) {
            (State::HttpAnswer, false) => {
                proxy_failure(&self.proxy, format!("connection closed inside the answer \"{}\"", first_line(&self.got)))
            }
            _ => proxy_failure(&self.proxy, "connection closed before the proxy answered"),
        }
    }

    /// The proxy did not finish within the connect timeout.
    pub fn timed_out(&self) -> Failure {
        match self.got.is_empty() {
            true => proxy_failure(&self.proxy, "timeout: no answer from the proxy"),
            false => proxy_failure(&self.proxy, format!("timeout inside the answer \"{}\"", first_line(&self.got))),
        }
    }

    /// Takes bytes read from the proxy (at most `want()` of them).
    pub fn received(&mut self, bytes: &[u8]) -> Result<Progress, Failure> {
        self.got.extend_from_slice(bytes);
        if self.state == State::HttpAnswer {
            return self.http_answer();
        }
        if self.want() > 0 {
            return Ok(Progress::Continue);
        }
        let got = std::mem::take(&mut self.got);
        match self.state {
            State::HttpAnswer => unreachable!("handled above"),
            State::SocksMethod => self.socks_method(&got),
            State::SocksAuth => self.socks_auth(&got),
            State::SocksReply => self.socks_reply(&got),
            State::Open => Ok(Progress::Open),
        }
    }

    /// Looks at the answer so far: complete, incomplete, or not HTTP (shown up to its first
    /// line end, so the errMsg says what the proxy sent).
    fn http_answer(&mut self) -> Result<Progress, Failure> {
        let answer = &self.got;
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let status = match response.parse(answer) {
            Ok(httparse::Status::Complete(_)) => response.code.unwrap_or(0),
            Ok(httparse::Status::Partial) if answer.len() <= MAX_HTTP_ANSWER => return Ok(Progress::Continue),
            Ok(httparse::Status::Partial) => {
                return Err(proxy_failure(&self.proxy, format!("answer header longer than {} bytes", MAX_HTTP_ANSWER)))
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(proxy_failure(&self.proxy, "answer with more than 64 header lines"))
            }
            Err(_) if !answer.contains(&b'\n') && answer.len() < 120 => return Ok(Progress::Continue),
            Err(_) => {
                return Err(proxy_failure(&self.proxy, format!("not an HTTP answer: \"{}\"", first_line(answer))))
            }
        };
        if !(200..300).contains(&status) {
            let hint = match status {
                401 | 407 if self.proxy.credentials.is_some() => " (the proxy refused the credentials)",
                401 | 407 => " (the proxy wants credentials: give them in the proxy URL)",
                _ => "",
            };
            return Err(proxy_failure(&self.proxy, format!("refused the tunnel: \"{}\"{}", first_line(answer), hint)));
        }
        self.got.clear();
        self.state = State::Open;
        Ok(Progress::Open)
    }

    fn check_socks_version(&self, got: &[u8], version: u8) -> Result<(), Failure> {
        if got[0] != version {
            return Err(proxy_failure(&self.proxy, format!("not a SOCKS5 proxy (answered version {})", got[0])));
        }
        Ok(())
    }

    fn socks_method(&mut self, got: &[u8]) -> Result<Progress, Failure> {
        self.check_socks_version(got, 5)?;
        match (got[1], &self.proxy.credentials) {
            (0, _) => self.socks_connect(),
            (2, Some((user, password))) => {
                let mut out = vec![1, user.len() as u8];
                out.extend_from_slice(user.as_bytes());
                out.push(password.len() as u8);
                out.extend_from_slice(password.as_bytes());
                self.out = out;
                self.state = State::SocksAuth;
                Ok(Progress::Continue)
            }
            (0xff, creds) => {
                let offered =
                    if creds.is_some() { "no authentication, username/password" } else { "no authentication" };
                Err(proxy_failure(
                    &self.proxy,
                    format!("accepts none of the authentication methods offered ({})", offered),
                ))
            }
            (m, _) => {
                Err(proxy_failure(&self.proxy, format!("chose authentication method {}, which was not offered", m)))
            }
        }
    }

    fn socks_auth(&mut self, got: &[u8]) -> Result<Progress, Failure> {
        self.check_socks_version(got, 1).map_err(|_| proxy_failure(&self.proxy, "bad username/password reply"))?;
        if got[1] != 0 {
            return Err(proxy_failure(&self.proxy, format!("refused the user name and password (status {})", got[1])));
        }
        self.socks_connect()
    }

    /// The CONNECT request: the target by name (the proxy resolves it), or by address.
    fn socks_connect(&mut self) -> Result<Progress, Failure> {
        let mut out = vec![5, 1, 0];
        match self.host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip)) => {
                out.push(1);
                out.extend_from_slice(&ip.octets());
            }
            Ok(std::net::IpAddr::V6(ip)) => {
                out.push(4);
                out.extend_from_slice(&ip.octets());
            }
            Err(_) => {
                if self.host.len() > 255 {
                    return Err(proxy_failure(&self.proxy, "host name longer than 255 bytes"));
                }
                out.push(3);
                out.push(self.host.len() as u8);
                out.extend_from_slice(self.host.as_bytes());
            }
        }
        out.extend_from_slice(&self.port.to_be_bytes());
        self.out = out;
        self.state = State::SocksReply;
        Ok(Progress::Continue)
    }

    fn socks_reply(&mut self, got: &[u8]) -> Result<Progress, Failure> {
        self.check_socks_version(got, 5)?;
        if got[1] != 0 {
            let target = format!("{}:{}", self.host, self.port);
            return Err(proxy_failure(
                &self.proxy,
                format!("could not connect to {}: {}", target, socks_reply_name(got[1])),
            ));
        }
        if ![1, 3, 4].contains(&got[3]) {
            return Err(proxy_failure(&self.proxy, format!("reply with unknown address type {}", got[3])));
        }
        self.state = State::Open;
        Ok(Progress::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(text: &str) -> Proxy {
        parse(text).unwrap_or_else(|e| panic!("{}: {}", text, e))
    }

    /// Feeds `answer` as the task would: at most `want()` bytes at a time.
    fn feed(hs: &mut Handshake, mut answer: &[u8]) -> Result<Progress, Failure> {
        loop {
            let n = hs.want().min(answer.len());
            if n == 0 {
                return Ok(Progress::Continue);
            }
            let progress = hs.received(&answer[..n])?;
            answer = &answer[n..];
            if progress == Progress::Open {
                return Ok(progress);
            }
        }
    }

    #[test]
    fn parses_proxy_urls() {
        let p = proxy("http://127.0.0.1:3128");
        assert_eq!((p.kind, p.host.as_str(), p.port, p.credentials), (Kind::Http, "127.0.0.1", 3128, None));
        assert_eq!(proxy("http://proxy.example").port, 80);
        assert_eq!(proxy("socks5://[::1]").port, 1080);
        assert_eq!(proxy("SOCKS5H://h:1/").kind, Kind::Socks5);
        let p = proxy("http://us%40er:p%3Ass@h:8080");
        assert_eq!(p.credentials, Some(("us@er".into(), "p:ss".into())));
        assert_eq!(format!("{:?} {}", p, p), "http://h:8080 http://h:8080", "no credentials shown");
        for (bad, why) in [
            ("127.0.0.1:3128", "missing scheme"),
            ("https://h:1", "scheme must be"),
            ("http://", "bad host"),
            ("http://h:0", "bad host"),
            ("http://h:1/path", "no path"),
            ("http://u:%zz@h", "percent-escape"),
            ("socks5://:pw@h", "SOCKS5 user name"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(why), "{}: {}", bad, e);
            assert!(!e.contains("pw"), "{}", e);
        }
    }

    #[test]
    fn http_connect() {
        let mut hs = Handshake::new(proxy("http://u:p@127.0.0.1:3128"), "example.com", 443);
        let request = String::from_utf8(hs.to_send().to_vec()).unwrap();
        assert_eq!(
            request,
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Authorization: Basic dTpw\r\n\r\n"
        );
        hs.sent(request.len());
        // Byte by byte, as a hostile proxy may split it: never reads past the header.
        let answer = b"HTTP/1.1 200 Connection established\r\nX: y\r\n\r\n";
        for (i, b) in answer.iter().enumerate() {
            assert!(hs.want() >= 1);
            let progress = hs.received(&[*b]).unwrap();
            assert_eq!(progress == Progress::Open, i == answer.len() - 1);
        }
        assert_eq!(hs.want(), 0);
        let v6 = Handshake::new(proxy("http://h:1"), "::1", 80);
        assert!(v6.to_send().starts_with(b"CONNECT [::1]:80 HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"));
    }

    #[test]
    fn http_refusals_name_the_status_line() {
        let cases: [(&str, &[u8], &str); 5] = [
            (
                "http://h:1",
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
                "refused the tunnel: \"HTTP/1.1 407 Proxy Authentication Required\" (the proxy wants credentials",
            ),
            ("http://u:bad@h:1", b"HTTP/1.1 407 Nope\r\n\r\n", "(the proxy refused the credentials)"),
            (
                "http://h:1",
                b"HTTP/1.0 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
                "refused the tunnel: \"HTTP/1.0 502 Bad Gateway\"",
            ),
            ("http://h:1", b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP answer: \"SSH-2.0-OpenSSH\""),
            ("http://h:1", b"\x00\x01garbage\r\n\r\n", "not an HTTP answer: \"..garbage\""),
        ];
        for (url, answer, want) in cases {
            let mut hs = Handshake::new(proxy(url), "t", 80);
            let f = feed(&mut hs, answer).unwrap_err();
            assert_eq!(f.code, Code::Proxy);
            assert!(f.detail.starts_with("proxy http://h:1: "), "{}", f.detail);
            assert!(f.detail.contains(want), "{}", f.detail);
            assert!(!f.detail.contains("bad"), "no credentials: {}", f.detail);
        }
        let mut hs = Handshake::new(proxy("http://h:1"), "t", 80);
        let mut endless = b"HTTP/1.1 200 OK\r\n".to_vec();
        endless.extend(std::iter::repeat_n(b'y', MAX_HTTP_ANSWER));
        assert!(feed(&mut hs, &endless).unwrap_err().detail.contains("longer than"));
        let mut hs = Handshake::new(proxy("http://h:1"), "t", 80);
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        many.extend(std::iter::repeat_n(b"X: y\r\n".iter().copied(), 100).flatten());
        assert!(feed(&mut hs, &many).unwrap_err().detail.contains("more than 64 header lines"));
        let mut hs = Handshake::new(proxy("http://h:1"), "t", 80);
        assert_eq!(feed(&mut hs, b"HTTP/1.1 200 OK\n\n"), Ok(Progress::Open), "bare LF line ends");
        let mut hs = Handshake::new(proxy("http://h:1"), "t", 80);
        feed(&mut hs, b"HTTP/1.1 200").unwrap();
        assert!(hs.closed().detail.contains("connection closed inside the answer \"HTTP/1.1 200\""));
        assert!(hs.timed_out().detail.contains("timeout"));
    }

    #[test]
    fn socks5_with_password_and_remote_name() {
        let mut hs = Handshake::new(proxy("socks5://user:pw@h:1080"), "example.com", 443);
        assert_eq!(hs.to_send(), &[5, 2, 0, 2]);
        hs.sent(4);
        assert_eq!(feed(&mut hs, &[5, 2]), Ok(Progress::Continue));
        assert_eq!(hs.to_send(), b"\x01\x04user\x02pw");
        hs.sent(9);
        assert_eq!(feed(&mut hs, &[1, 0]), Ok(Progress::Continue));
        assert_eq!(hs.to_send(), b"\x05\x01\x00\x03\x0bexample.com\x01\xbb");
        hs.sent(hs.to_send().len());
        // A domain-name reply, fed byte by byte.
        let reply = b"\x05\x00\x00\x03\x04host\x00\x50";
        for (i, b) in reply.iter().enumerate() {
            assert!((1..=reply.len() - i).contains(&hs.want()), "never reads past the reply");
            let p = hs.received(&[*b]).unwrap();
            assert_eq!(p == Progress::Open, i == reply.len() - 1);
        }
    }

    #[test]
    fn socks5_without_password_and_ip_targets() {
        let mut hs = Handshake::new(proxy("socks5://h:1"), "10.0.0.1", 80);
        assert_eq!(hs.to_send(), &[5, 1, 0]);
        hs.sent(3);
        feed(&mut hs, &[5, 0]).unwrap();
        assert_eq!(hs.to_send(), &[5, 1, 0, 1, 10, 0, 0, 1, 0, 80]);
        hs.sent(10);
        assert_eq!(
            feed(&mut hs, &[5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80]),
            Ok(Progress::Open)
        );
        let hs = Handshake::new(proxy("socks5://h:1"), "::1", 80);
        let mut hs = hs;
        hs.sent(3);
        feed(&mut hs, &[5, 0]).unwrap();
        assert_eq!(&hs.to_send()[..4], &[5, 1, 0, 4]);
    }

    #[test]
    fn socks5_failures_are_named() {
        for code in 1..=9u8 {
            let mut hs = Handshake::new(proxy("socks5://h:1"), "t.example", 80);
            feed(&mut hs, &[5, 0]).unwrap();
            let f = feed(&mut hs, &[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap_err();
            assert_eq!(f.code, Code::Proxy);
            assert!(
                f.detail.contains(&format!("could not connect to t.example:80: {}", socks_reply_name(code))),
                "{}",
                f.detail
            );
        }
        assert_eq!(socks_reply_name(5), "connection refused (5)");
        assert_eq!(socks_reply_name(9), "unassigned reply code 9");
        let mut hs = Handshake::new(proxy("socks5://u:secret@h:1"), "t", 80);
        assert!(feed(&mut hs, &[5, 0xff])
            .unwrap_err()
            .detail
            .contains("accepts none of the authentication methods offered (no authentication, username/password)"));
        let mut hs = Handshake::new(proxy("socks5://u:secret@h:1"), "t", 80);
        feed(&mut hs, &[5, 2]).unwrap();
        let f = feed(&mut hs, &[1, 1]).unwrap_err();
        assert!(f.detail.contains("refused the user name and password (status 1)") && !f.detail.contains("secret"));
        let mut hs = Handshake::new(proxy("socks5://h:1"), "t", 80);
        assert!(feed(&mut hs, b"HT").unwrap_err().detail.contains("not a SOCKS5 proxy (answered version 72)"));
        let mut hs = Handshake::new(proxy("socks5://h:1"), "t", 80);
        assert!(feed(&mut hs, &[5, 2])
            .unwrap_err()
            .detail
            .contains("chose authentication method 2, which was not offered"));
        assert!(Handshake::new(proxy("socks5://h:1"), "t", 80).closed().detail.contains("before the proxy answered"));
    }
}
