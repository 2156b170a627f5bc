//! Pure checks on what a caller hands us: the URL, extra request headers, subprotocols, and the
//! close code and reason. No I/O here, so all of it is unit-tested below.

use std::net::{IpAddr, SocketAddr};

use crate::close_code::CloseCode;
use crate::error::{Code, Failure};
use crate::ffi::types::WS_MAX_CLOSE_REASON;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub secure: bool,
    /// Host as written, without brackets for IPv6 literals.
    pub host: String,
    pub port: u16,
    /// Path and query as the request line carries them, at least "/" (see `encode_target`).
    pub resource: String,
}

impl Url {
    /// The value of the Host header: brackets around IPv6, port only when not the default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let default_port = if self.secure { 443 } else { 80 };
        if self.port == default_port {
            host
        } else {
            format!("{}:{}", host, self.port)
        }
    }

    /// The URL in canonical form, as the request line's target URI.
    pub fn to_uri(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        format!("{}://{}{}", scheme, self.host_header(), self.resource)
    }
}

/// Bytes a request-target may carry as they are (RFC 3986 `pchar`, `/` and `?`).
fn is_target_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&b)
}

/// The path and query as the request line must carry them: every byte a request-target cannot
/// hold (non-ASCII UTF-8; `"`, `<`, `>`, `\`, `^`, the backquote, `{`, `|`, `}`, `[`, `]`)
/// percent-encoded, as browsers send `/路径` as `/%E8%B7%AF%E5%BE%84`. An escape already there
/// (`%` and two hex digits) is kept as it is; a `%` that starts none is encoded itself.
fn encode_target(resource: &str) -> String {
    let bytes = resource.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        let escape = b == b'%' && bytes.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
        if escape || is_target_byte(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{:02X}", b));
        }
    }
    out
}

fn bad_url(url: &str, why: &str) -> Failure {
    Failure::new(Code::InvalidUrl, format!("invalid url \"{}\": {}", url, why))
}

/// Parses a `ws://` or `wss://` URL. Anything else fails with a detail naming the URL and what is
/// wrong with it.
pub fn parse_url(url: &str) -> Result<Url, Failure> {
    if url.is_empty() {
        return Err(bad_url(url, "empty"));
    }
    if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad_url(url, "contains spaces or control characters"));
    }
    let (scheme, rest) =
        url.split_once("://").ok_or_else(|| bad_url(url, "missing scheme, expected ws:// or wss://"))?;
    let secure = if scheme.eq_ignore_ascii_case("ws") {
        false
    } else if scheme.eq_ignore_ascii_case("wss") {
        true
    } else {
        return Err(bad_url(url, "scheme must be ws:// or wss://"));
    };
    if rest.contains('#') {
        return Err(bad_url(url, "fragments are not allowed"));
    }
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, resource) = rest.split_at(split);
    if authority.contains('@') {
        return Err(bad_url(url, "credentials in the url are not supported"));
    }
    let (host, port_text) = if let Some(after) = authority.strip_prefix('[') {
        let end = after.find(']').ok_or_else(|| bad_url(url, "unterminated IPv6 address"))?;
        let host = &after[..end];
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad_url(url, "bad IPv6 address"));
        }
        let tail = &after[end + 1..];
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':').ok_or_else(|| bad_url(url, "junk after IPv6 address"))?),
        };
        (host, port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        // A name or IPv4 address; a colon here (an IPv6 address needs brackets) is bad too.
        if !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_') {
            return Err(bad_url(url, "bad character in host"));
        }
        (host, port)
    };
    if host.is_empty() {
        return Err(bad_url(url, "missing host"));
    }
    let port = match port_text {
        None => {
            if secure {
                443
            } else {
                80
            }
        }
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && !p.starts_with('+') => n,
            _ => return Err(bad_url(url, "bad port")),
        },
    };
    let resource = if resource.is_empty() {
        "/".to_string()
    } else if resource.starts_with('?') {
        format!("/{}", encode_target(resource))
    } else {
        encode_target(resource)
    };
    Ok(Url { secure, host: host.to_ascii_lowercase(), port, resource })
}

/// Parses one address the host gives for the URL's host (`ws_connect_options.addresses`, a
/// resolver's answer): an IP address, with or without a port (`1.2.3.4`, `1.2.3.4:8443`, `::1`,
/// `[::1]`, `[::1]:8443`); without one, `default_port` (the URL's).
pub fn parse_address(text: &[u8], default_port: u16) -> Result<SocketAddr, String> {
    let shown = String::from_utf8_lossy(text);
    let bad = || format!("\"{}\" is not an IP address (expected e.g. 1.2.3.4, 1.2.3.4:443, ::1 or [::1]:443)", shown);
    let text = std::str::from_utf8(text).map_err(|_| bad())?;
    if let Ok(addr) = text.parse::<SocketAddr>() {
        if addr.port() == 0 {
            return Err(format!("\"{}\": port 0", shown));
        }
        return Ok(addr);
    }
    let bare = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
    bare.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, default_port)).map_err(|_| bad())
}

/// Headers the handshake itself writes, or that WeChat forbids (Referer): a caller may not set them.
const FORBIDDEN_HEADERS: [&str; 6] =
    ["host", "upgrade", "connection", "referer", "content-length", "transfer-encoding"];

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks one extra request header: a valid HTTP token as name, not one the handshake owns, and a
/// value an HTTP field may hold (no control byte but tab: so no CR, LF or NUL).
pub fn check_header(name: &[u8], value: &[u8]) -> Result<(), Failure> {
    let shown = String::from_utf8_lossy(name);
    if name.is_empty() || !name.iter().all(|&b| is_token_char(b)) {
        return Err(Failure::new(Code::InvalidHeader, format!("invalid header name \"{}\"", shown)));
    }
    let lower = shown.to_ascii_lowercase();
    if FORBIDDEN_HEADERS.contains(&lower.as_str()) || lower.starts_with("sec-websocket-") {
        return Err(Failure::new(Code::InvalidHeader, format!("header \"{}\" is not allowed", shown)));
    }
    if value.iter().any(|&b| (b < b' ' && b != b'\t') || b == 0x7f) {
        return Err(Failure::new(Code::InvalidHeader, format!("invalid value for header \"{}\"", shown)));
    }
    Ok(())
}

/// Checks one subprotocol name: a non-empty HTTP token, listed once.
pub fn check_protocol(name: &[u8], earlier: &[String]) -> Result<(), Failure> {
    let shown = String::from_utf8_lossy(name);
    if name.is_empty() || !name.iter().all(|&b| is_token_char(b)) {
        return Err(Failure::new(Code::InvalidArgument, format!("invalid protocol \"{}\"", shown)));
    }
    if earlier.iter().any(|p| p.as_bytes() == name) {
        return Err(Failure::new(Code::InvalidArgument, format!("duplicate protocol \"{}\"", shown)));
    }
    Ok(())
}

/// Checks a close request as browsers do: code 1000 or 3000–4999 (0 means the default 1000), and a
/// reason of at most 123 bytes of UTF-8. Returns the code to send.
pub fn check_close(code: i32, reason: &[u8]) -> Result<CloseCode, Failure> {
    let Some(close_code) = CloseCode::from_host(code) else {
        return Err(Failure::new(
            Code::CloseCodeInvalid,
            format!("invalid close code {}: must be 1000 or in 3000-4999", code),
        ));
    };
    if reason.len() > WS_MAX_CLOSE_REASON {
        return Err(Failure::new(
            Code::ReasonTooLong,
            format!("close reason is {} bytes, more than {}", reason.len(), WS_MAX_CLOSE_REASON),
        ));
    }
    if std::str::from_utf8(reason).is_err() {
        return Err(Failure::new(Code::InvalidUtf8, "close reason is not valid UTF-8"));
    }
    Ok(close_code)
}

/// `ws_close_group`'s check: as `check_close`, and 1001 (going away) too, because closing a whole
/// group means the mini-program is exiting, which is what 1001 says.
pub fn check_group_close(code: i32, reason: &[u8]) -> Result<CloseCode, Failure> {
    if code == 1001 {
        return check_close(1000, reason).map(|_| CloseCode::GOING_AWAY);
    }
    check_close(code, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_good_urls() {
        let u = parse_url("ws://127.0.0.1:8080/chat?room=1").unwrap();
        assert_eq!(u, Url { secure: false, host: "127.0.0.1".into(), port: 8080, resource: "/chat?room=1".into() });
        let u = parse_url("WSS://Example.COM").unwrap();
        assert_eq!((u.secure, u.host.as_str(), u.port, u.resource.as_str()), (true, "example.com", 443, "/"));
        let u = parse_url("ws://[::1]:9000?x").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.resource.as_str()), ("::1", 9000, "/?x"));
        assert_eq!(u.host_header(), "[::1]:9000");
        assert_eq!(parse_url("ws://h/").unwrap().host_header(), "h");
        assert_eq!(parse_url("ws://h:81/a").unwrap().to_uri(), "ws://h:81/a");
    }

    #[test]
    fn path_and_query_are_percent_encoded() {
        let resource = |url: &str| parse_url(url).unwrap().resource;
        assert_eq!(resource("ws://h/路径?q=值"), "/%E8%B7%AF%E5%BE%84?q=%E5%80%BC");
        assert_eq!(resource("ws://h?值"), "/?%E5%80%BC");
        assert_eq!(resource("ws://h/a%20b/%e8%b7%af?x=%41&p=50%&z=%4"), "/a%20b/%e8%b7%af?x=%41&p=50%25&z=%254");
        assert_eq!(resource("ws://h/{a}|b\\c^`?d=\"<e>\"[]"), "/%7Ba%7D%7Cb%5Cc%5E%60?d=%22%3Ce%3E%22%5B%5D");
        let plain = "/p;a=1,b/c:d@e!$&'()*+~-._?q=/?:@x";
        assert_eq!(resource(&format!("ws://h{}", plain)), plain);
        assert_eq!(parse_url("ws://h:81/é").unwrap().to_uri(), "ws://h:81/%C3%A9");
    }

    #[test]
    fn rejects_bad_urls() {
        for (url, why) in [
            ("", "empty"),
            ("http://example.com", "scheme"),
            ("example.com", "missing scheme"),
            ("ws://", "missing host"),
            ("ws://:80/", "missing host"),
            ("ws://host:0/", "bad port"),
            ("ws://host:65536/", "bad port"),
            ("ws://host:x/", "bad port"),
            ("ws://ho st/", "spaces"),
            ("ws://host/#frag", "fragments"),
            ("ws://user@host/", "credentials"),
            ("ws://[::1/", "unterminated"),
            ("ws://[zz]/", "IPv6"),
            ("ws://ho%st/", "bad character"),
            ("ws://a:b:80/", "bad character"),
            ("ws://::1/", "bad character"),
        ] {
            let err = parse_url(url).unwrap_err();
            assert_eq!(err.code, Code::InvalidUrl, "{}", url);
            assert!(err.detail.contains(why), "{}: {}", url, err.detail);
            assert!(err.detail.contains(&format!("\"{}\"", url)));
        }
    }

    #[test]
    fn address_rules() {
        let ok = |t: &str| parse_address(t.as_bytes(), 80).unwrap().to_string();
        assert_eq!(ok("1.2.3.4"), "1.2.3.4:80");
        assert_eq!(ok("1.2.3.4:8443"), "1.2.3.4:8443");
        assert_eq!(ok("::1"), "[::1]:80");
        assert_eq!(ok("[::1]"), "[::1]:80");
        assert_eq!(ok("[::1]:9"), "[::1]:9");
        for bad in ["", "example.com", "1.2.3", "1.2.3.4:", "1.2.3.4:x", "[::1", "::1]:9", " 1.2.3.4"] {
            let e = parse_address(bad.as_bytes(), 80).unwrap_err();
            assert!(e.contains("is not an IP address"), "{}: {}", bad, e);
        }
        assert!(parse_address(b"1.2.3.4:0", 80).unwrap_err().contains("port 0"));
        assert!(parse_address(b"\xff", 80).is_err());
    }

    #[test]
    fn header_rules() {
        assert!(check_header(b"X-Token", b"abc def").is_ok());
        for name in ["Referer", "host", "Sec-WebSocket-Key", "sec-websocket-protocol", "Connection", "Upgrade"] {
            let e = check_header(name.as_bytes(), b"v").unwrap_err();
            assert_eq!(e.code, Code::InvalidHeader);
            assert!(e.detail.contains("not allowed"), "{}", e.detail);
        }
        assert!(check_header(b"", b"v").is_err());
        assert!(check_header(b"Bad Name", b"v").is_err());
        assert!(check_header(b"X", b"a\r\nInjected: 1").unwrap_err().detail.contains("invalid value"));
    }

    #[test]
    fn protocol_rules() {
        assert!(check_protocol(b"chat", &[]).is_ok());
        assert!(check_protocol(b"", &[]).is_err());
        assert!(check_protocol(b"a,b", &[]).is_err());
        assert!(check_protocol(b"chat", &["chat".to_string()]).unwrap_err().detail.contains("duplicate"));
    }

    #[test]
    fn close_rules() {
        assert_eq!(check_close(0, b"").map(u16::from), Ok(1000));
        assert_eq!(check_close(1000, b"bye").map(u16::from), Ok(1000));
        assert_eq!(check_close(3000, b"").map(u16::from), Ok(3000));
        assert_eq!(check_close(4999, &[b'a'; 123]).map(u16::from), Ok(4999));
        for code in [999, 1001, 1005, 1006, 2999, 5000, -1, 65536 + 1000] {
            assert_eq!(check_close(code, b"").unwrap_err().code, Code::CloseCodeInvalid, "{}", code);
        }
        assert_eq!(check_close(1000, &[b'a'; 124]).unwrap_err().code, Code::ReasonTooLong);
        assert_eq!(check_close(1000, b"\xff").unwrap_err().code, Code::InvalidUtf8);
        // 41 three-byte characters are 123 bytes; one more is too long.
        assert!(check_close(1000, "中".repeat(41).as_bytes()).is_ok());
        assert!(check_close(1000, "中".repeat(42).as_bytes()).is_err());
        assert_eq!(check_close(1001, b"").unwrap_err().code, Code::CloseCodeInvalid);
        assert_eq!(check_group_close(1001, b"exit").map(u16::from), Ok(1001));
        assert_eq!(check_group_close(0, b"").map(u16::from), Ok(1000));
        assert_eq!(check_group_close(1001, &[b'a'; 124]).unwrap_err().code, Code::ReasonTooLong);
        assert_eq!(check_group_close(1002, b"").unwrap_err().code, Code::CloseCodeInvalid);
    }
}
