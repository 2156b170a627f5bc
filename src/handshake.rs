//! The client side of the opening handshake (RFC 6455 §4.1), non-blocking: write the request, read
//! the response, verify it. Our own rather than tungstenite's so the rules are RFC 6455's and the
//! errMsg names the cause: a server that picks no subprotocol is fine (browsers accept it), a
//! `Connection` header is a token list, and an extension we did not offer fails.
//!
//! What is asked for is one typed `Upgrade`, built from the connect options (`ffi`); the request
//! bytes are written from it and the response is verified against it (the key's accept value,
//! the subprotocols and the extension offered).

use std::io::{self, Read, Write};

use tungstenite::handshake::client::generate_key;
use tungstenite::handshake::derive_accept_key;

use crate::callback::c_string;
use crate::error::{closed_before_answer, handshake_failure, io_failure, Code, Failure};
use crate::options::{check_header, check_protocol, Url};

/// The largest response head we accept; a real one is a few hundred bytes.
const MAX_RESPONSE: usize = 64 * 1024;
/// Headers parsed without allocating; a response with more (any number that fits in
/// MAX_RESPONSE) is parsed again with room for one per line.
const USUAL_HEADERS: usize = 64;

/// A completed handshake: what the open event reports, and the bytes read past the response
/// (frames the server sent right after it).
#[derive(Debug)]
pub struct Opened {
    pub headers: Vec<(std::ffi::CString, std::ffi::CString)>,
    pub protocol: std::ffi::CString,
    /// The server's Sec-WebSocket-Extensions answer ("" if none) and what it negotiated.
    pub extensions: String,
    pub deflate: Option<crate::deflate::Params>,
    pub tail: Vec<u8>,
}

/// The opening handshake a task asks for.
#[derive(Clone, Debug)]
pub struct Upgrade {
    /// The Host header's value: brackets around IPv6, the port unless the default.
    host: String,
    /// The request-target: path and query, percent-encoded (`Url::resource`).
    resource: String,
    /// The caller's extra headers in its order, each checked (`check_header`). Names are sent in
    /// lower case (Origin as "Origin"), as `http::HeaderName` had them.
    headers: Vec<(String, Vec<u8>)>,
    /// Subprotocols offered, each checked (`check_protocol`): the server may choose one of them.
    protocols: Vec<String>,
    /// permessage-deflate offered (`deflate::OFFER`): the only extension the server may choose.
    deflate: bool,
    /// Sec-WebSocket-Key: 16 random bytes in base64.
    key: String,
}

impl Upgrade {
    /// The upgrade of `url` with a fresh key, no extra header, subprotocol or extension.
    pub fn new(url: &Url) -> Upgrade {
        Upgrade::with_key(url, generate_key())
    }

    /// As `new`, with a given key (tests and fuzzing use RFC 6455's example).
    pub fn with_key(url: &Url, key: String) -> Upgrade {
        Upgrade {
            host: url.host_header(),
            resource: url.resource.clone(),
            headers: Vec::new(),
            protocols: Vec::new(),
            deflate: false,
            key,
        }
    }

    /// Adds an extra request header, once checked.
    pub fn header(&mut self, name: &[u8], value: &[u8]) -> Result<(), Failure> {
        check_header(name, value)?;
        let name = String::from_utf8_lossy(&name.to_ascii_lowercase()).into_owned();
        let name = if name == "origin" { "Origin".to_string() } else { name };
        self.headers.push((name, value.to_vec()));
        Ok(())
    }

    /// Offers one more subprotocol, once checked (a token, not offered yet).
    pub fn protocol(&mut self, name: &[u8]) -> Result<(), Failure> {
        check_protocol(name, &self.protocols)?;
        self.protocols.push(String::from_utf8_lossy(name).into_owned());
        Ok(())
    }

    /// Offers permessage-deflate.
    pub fn offer_deflate(&mut self) {
        self.deflate = true;
    }

    /// The request's bytes: the request line, the five headers the handshake needs, the extra
    /// headers, then the subprotocols and the extension offered.
    fn request(&self) -> Vec<u8> {
        let mut r = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {}\r\n",
            self.resource, self.host, self.key
        )
        .into_bytes();
        for (name, value) in &self.headers {
            r.extend_from_slice(&[name.as_bytes(), b": ", value, b"\r\n"].concat());
        }
        if !self.protocols.is_empty() {
            r.extend_from_slice(format!("Sec-WebSocket-Protocol: {}\r\n", self.protocols.join(", ")).as_bytes());
        }
        if self.deflate {
            r.extend_from_slice(format!("Sec-WebSocket-Extensions: {}\r\n", crate::deflate::OFFER).as_bytes());
        }
        r.extend_from_slice(b"\r\n");
        r
    }
}

pub struct Handshake {
    request: Vec<u8>,
    written: usize,
    response: Vec<u8>,
    accept_key: String,
    /// What was asked for: the response is checked against it.
    offer: Upgrade,
}

/// True when the comma-separated header value holds `token` (case-insensitive).
fn has_token(value: &[u8], token: &str) -> bool {
    value.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

impl Handshake {
    pub fn new(offer: Upgrade) -> Handshake {
        Handshake {
            request: offer.request(),
            written: 0,
            response: Vec::new(),
            accept_key: derive_accept_key(offer.key.as_bytes()),
            offer,
        }
    }

    /// Makes what progress the socket allows: Ok(None) means "wait for readiness".
    pub fn advance<S: Read + Write>(&mut self, stream: &mut S) -> Result<Option<Opened>, Failure> {
        while self.written < self.request.len() {
            match stream.write(&self.request[self.written..]) {
                Ok(0) => return Err(closed_before_answer()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_failure(Code::Handshake, &e)),
            }
        }
        match stream.flush() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(io_failure(Code::Handshake, &e)),
        }
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(opened) = self.parse()? {
                return Ok(Some(opened));
            }
            // parse() saw the first MAX_RESPONSE bytes and found no end of the head in them.
            if self.response.len() >= MAX_RESPONSE {
                return Err(handshake_failure(format!("response head larger than {} bytes", MAX_RESPONSE)));
            }
            match stream.read(&mut chunk) {
                Ok(0) => return Err(closed_before_answer()),
                Ok(n) => self.response.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_failure(Code::Handshake, &e)),
            }
        }
    }

    /// Parses and checks the response once its head is complete. Only the first MAX_RESPONSE
    /// bytes are parsed, so how the bytes arrived cannot decide between a head over the limit
    /// opening and failing.
    fn parse(&mut self) -> Result<Option<Opened>, Failure> {
        let head = &self.response[..self.response.len().min(MAX_RESPONSE)];
        let mut few = [httparse::EMPTY_HEADER; USUAL_HEADERS];
        let mut many;
        let mut response = httparse::Response::new(&mut few);
        let mut parsed = response.parse(head);
        if let Err(httparse::Error::TooManyHeaders) = parsed {
            many = vec![httparse::EMPTY_HEADER; head.iter().filter(|&&b| b == b'\n').count()];
            response = httparse::Response::new(&mut many);
            parsed = response.parse(head);
        }
        let head_len = match parsed {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(handshake_failure(format!("malformed HTTP response ({})", e))),
        };
        let status = response.code.unwrap_or(0);
        if status != 101 {
            let reason = response.reason.unwrap_or("");
            return Err(handshake_failure(
                format!("server answered HTTP {} {} instead of 101", status, reason).trim_end().to_string(),
            ));
        }
        if response.version != Some(1) {
            return Err(handshake_failure("server answered HTTP/1.0 101: a WebSocket upgrade needs HTTP/1.1"));
        }
        let get = |name: &str| response.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value);
        if !get("Upgrade").is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"websocket")) {
            return Err(handshake_failure("the response has no \"Upgrade: websocket\" header"));
        }
        if !get("Connection").is_some_and(|v| has_token(v, "upgrade")) {
            return Err(handshake_failure("the response has no \"Connection: Upgrade\" header"));
        }
        if get("Sec-WebSocket-Accept").map(|v| v.trim_ascii()) != Some(self.accept_key.as_bytes()) {
            return Err(handshake_failure("wrong Sec-WebSocket-Accept key"));
        }
        // The answer may span several header lines: they form one comma-separated list.
        let extensions = response
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Extensions"))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let deflate = match (extensions.is_empty(), self.offer.deflate) {
            (true, _) => None,
            (false, false) => {
                return Err(handshake_failure(format!(
                    "the server chose extension \"{}\", which was not offered",
                    extensions
                )))
            }
            (false, true) => Some(crate::deflate::accept(&extensions).map_err(handshake_failure)?),
        };
        let protocol = match get("Sec-WebSocket-Protocol") {
            None => String::new(),
            Some(p) => {
                let p = String::from_utf8_lossy(p).trim().to_string();
                if !self.offer.protocols.contains(&p) {
                    return Err(handshake_failure(format!(
                        "the server chose subprotocol \"{}\", which was not offered",
                        p
                    )));
                }
                p
            }
        };
        let headers =
            response.headers.iter().map(|h| (c_string(h.name), c_string(&String::from_utf8_lossy(h.value)))).collect();
        let tail = self.response.split_off(head_len);
        Ok(Some(Opened { headers, protocol: c_string(&protocol), extensions, deflate, tail }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A stream that has `input` to read and records what is written.
    struct Pipe {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.input.read(buf)?;
            if n == 0 && !buf.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        }
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// RFC 6455's example key: its accept value is `ACCEPT`.
    fn upgrade(url: &str) -> Upgrade {
        Upgrade::with_key(&crate::options::parse_url(url).unwrap(), "dGhlIHNhbXBsZSBub25jZQ==".into())
    }

    /// Runs a handshake against a canned response, offering `protocols` (comma-separated).
    fn run(protocols: Option<&str>, response: &str) -> Result<Option<Opened>, Failure> {
        let mut offer = upgrade("ws://h/");
        for p in protocols.iter().flat_map(|p| p.split(',')) {
            offer.protocol(p.trim().as_bytes()).unwrap();
        }
        let mut hs = Handshake::new(offer);
        let mut pipe = Pipe { input: Cursor::new(response.as_bytes().to_vec()), output: Vec::new() };
        let out = hs.advance(&mut pipe);
        assert!(String::from_utf8_lossy(&pipe.output).starts_with("GET / HTTP/1.1\r\n"));
        out
    }

    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn ok_response(extra: &str) -> String {
        format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{}\r\n", ACCEPT, extra)
    }

    #[test]
    fn the_request_is_written_from_the_upgrade() {
        let mut offer = upgrade("wss://Example.com:8443/a%20b/路?q=1");
        offer.header(b"X-Token", b"abc").unwrap();
        offer.header(b"origin", b"https://app").unwrap();
        offer.header(b"X-Token", b"two").unwrap();
        offer.protocol(b"chat").unwrap();
        offer.protocol(b"v2").unwrap();
        offer.offer_deflate();
        let want = format!(
            "GET /a%20b/%E8%B7%AF?q=1 HTTP/1.1\r\nHost: example.com:8443\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             x-token: abc\r\nOrigin: https://app\r\nx-token: two\r\nSec-WebSocket-Protocol: chat, v2\r\n\
             Sec-WebSocket-Extensions: {}\r\n\r\n",
            crate::deflate::OFFER
        );
        assert_eq!(String::from_utf8(offer.request()).unwrap(), want);
        let plain = upgrade("ws://[::1]/");
        assert_eq!(
            String::from_utf8(plain.request()).unwrap(),
            "GET / HTTP/1.1\r\nHost: [::1]\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
    }

    #[test]
    fn the_upgrade_takes_only_checked_headers_and_protocols() {
        let mut offer = upgrade("ws://h/");
        assert_eq!(offer.header(b"Host", b"x").unwrap_err().code, Code::InvalidHeader);
        assert_eq!(offer.header(b"X", b"a\x01b").unwrap_err().code, Code::InvalidHeader);
        assert!(offer.header(b"X", b"tab\there \xe9").is_ok(), "tab and obs-text are field bytes");
        assert!(offer.protocol(b"chat").is_ok());
        assert_eq!(offer.protocol(b"chat").unwrap_err().code, Code::InvalidArgument);
        assert_eq!(offer.protocol(b"a b").unwrap_err().code, Code::InvalidArgument);
    }

    #[test]
    fn accepts_a_good_response_and_keeps_the_tail() {
        let resp = ok_response("") + "\u{81}\u{0}";
        let opened = run(None, &resp).unwrap().unwrap();
        assert_eq!(opened.protocol.to_str().unwrap(), "");
        assert_eq!(opened.tail, "\u{81}\u{0}".as_bytes());
        assert!(opened
            .headers
            .iter()
            .any(|(n, v)| n.to_str().unwrap() == "Upgrade" && v.to_str().unwrap() == "websocket"));
    }

    #[test]
    fn subprotocol_rules() {
        // Offered, none chosen: fine (RFC 6455 §4.1 fails only an unoffered choice).
        assert_eq!(run(Some("chat, foo"), &ok_response("")).unwrap().unwrap().protocol.to_str().unwrap(), "");
        let chosen = run(Some("chat, foo"), &ok_response("Sec-WebSocket-Protocol: foo\r\n")).unwrap().unwrap();
        assert_eq!(chosen.protocol.to_str().unwrap(), "foo");
        let e = run(Some("chat"), &ok_response("Sec-WebSocket-Protocol: other\r\n")).unwrap_err();
        assert!(e.detail.contains("\"other\", which was not offered"), "{}", e.detail);
        assert!(run(None, &ok_response("Sec-WebSocket-Protocol: chat\r\n")).is_err());
    }

    #[test]
    fn rejects_bad_responses_with_the_cause() {
        let cases = [
            ("HTTP/1.1 403 Forbidden\r\n\r\n".to_string(), "HTTP 403 Forbidden instead of 101"),
            (ok_response("").replace(ACCEPT, "wrong"), "Sec-WebSocket-Accept"),
            (ok_response("").replace("Upgrade: websocket\r\n", ""), "Upgrade: websocket"),
            (ok_response("").replace("Connection: Upgrade", "Connection: close"), "Connection: Upgrade"),
            (ok_response("Sec-WebSocket-Extensions: permessage-deflate\r\n"), "not offered"),
            ("garbage\r\n\r\n".to_string(), "malformed"),
        ];
        for (resp, want) in cases {
            let e = run(None, &resp).unwrap_err();
            assert_eq!(e.code, Code::Handshake);
            assert!(e.detail.contains(want), "{} does not contain {}", e.detail, want);
        }
    }

    #[test]
    fn any_number_of_headers_up_to_the_head_limit() {
        let filler = |n: usize| (0..n).map(|i| format!("X-Filler-{}: {}\r\n", i, i)).collect::<String>();
        for n in [61, 100, 3000] {
            let opened = run(None, &ok_response(&filler(n))).unwrap().unwrap();
            assert_eq!(opened.headers.len(), n + 3);
            let (name, value) = &opened.headers[n + 2];
            assert_eq!(name.to_str().unwrap(), format!("X-Filler-{}", n - 1));
            assert_eq!(value.to_str().unwrap(), format!("{}", n - 1));
        }
        let e = run(None, &ok_response(&filler(5000))).unwrap_err();
        assert!(e.detail.contains("response head larger than 65536 bytes"), "{}", e.detail);
    }

    #[test]
    fn head_limit_is_exact() {
        let head = |n: usize| ok_response(&format!("X-Pad: {}\r\n", "a".repeat(n - ok_response("X-Pad: \r\n").len())));
        assert!(run(None, &head(MAX_RESPONSE)).unwrap().is_some());
        // Before: 4096-byte reads reached exactly 65536 bytes, so one more read completed and opened.
        for n in [MAX_RESPONSE + 1, MAX_RESPONSE + 100] {
            let e = run(None, &head(n)).unwrap_err();
            assert!(e.detail.contains("response head larger than 65536 bytes"), "{}", e.detail);
        }
    }

    #[test]
    fn http_1_0_is_refused() {
        let e = run(None, &ok_response("").replace("HTTP/1.1 101", "HTTP/1.0 101")).unwrap_err();
        assert_eq!(e.code, Code::Handshake);
        assert!(e.detail.contains("HTTP/1.0 101: a WebSocket upgrade needs HTTP/1.1"), "{}", e.detail);
    }

    #[test]
    fn connection_is_a_token_list_and_partial_waits() {
        assert!(run(None, &ok_response("").replace("Connection: Upgrade", "Connection: keep-alive, upgrade"))
            .unwrap()
            .is_some());
        assert!(run(None, "HTTP/1.1 101 Switching").unwrap().is_none());
    }
}
