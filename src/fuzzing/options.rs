//! The checks on what a caller hands `ws_connect` and `ws_close`, against their documented rules.

use tungstenite::http::{HeaderName, HeaderValue, Uri};

use super::handshake::{run, Offer};
use super::{Chunks, Input};
use crate::error::Code;
use crate::ffi::types::WS_MAX_CLOSE_REASON;
use crate::options::{check_close, check_header, check_protocol, parse_url};

/// Input: a selector byte (low 2 bits: url, header, protocols or close; for url, bits 2-3 put a
/// scheme in front so the fuzzer starts past it), then that check's data.
pub fn options(data: &[u8]) {
    let mut input = Input::new(data);
    let selector = input.byte();
    match selector & 3 {
        0 => {
            let prefix = ["", "ws://", "wss://", "ws://h"][(selector >> 2 & 3) as usize];
            url(&format!("{}{}", prefix, String::from_utf8_lossy(input.rest())));
        }
        1 => {
            let name_len = input.byte() as usize;
            let name = input.take(name_len);
            header(name, input.rest());
        }
        2 => protocols(input.rest()),
        _ => {
            let code = input.u32() as i32;
            close(code, input.rest());
        }
    }
}

/// RFC 3986 `pchar` without `%`, plus `/` and `?`: what a request-target holds unescaped.
fn target_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&b)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `%XX` escapes decoded, everything else (a `%` that starts none too) as it is.
fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match (s[i], s.get(i + 1).copied().and_then(hex), s.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// parse_url: deterministic; a failure names the url; a success has a lowercase host, a port,
/// a request-target of only allowed ASCII bytes (every `%` starting an escape) that means what
/// the url's path and query meant, a canonical form that parses back to itself and as an
/// `http::Uri` with the same target, and a Host header value that is valid.
fn url(text: &str) {
    let parsed = parse_url(text);
    assert_eq!(parsed, parse_url(text), "parse_url is not deterministic");
    let url = match parsed {
        Err(f) => {
            assert_eq!(f.code, Code::InvalidUrl);
            assert!(f.detail.starts_with(&format!("invalid url \"{}\": ", text)), "{}", f.detail);
            return;
        }
        Ok(url) => url,
    };
    assert!(!text.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'#'), "accepted {:?}", text);
    let (scheme, rest) = text.split_once("://").expect("accepted a url without ://");
    assert_eq!(url.secure, scheme.eq_ignore_ascii_case("wss"), "{:?}", text);
    assert!(scheme.eq_ignore_ascii_case("ws") || url.secure, "{:?}", text);
    assert!(!url.host.is_empty() && !url.host.bytes().any(|b| b.is_ascii_uppercase()), "{:?}", url);
    if url.host.contains(':') {
        assert!(url.host.parse::<std::net::Ipv6Addr>().is_ok(), "{:?}", url);
    } else {
        assert!(url.host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)), "{:?}", url);
    }
    assert_ne!(url.port, 0);

    let target = url.resource.as_bytes();
    assert!(target.starts_with(b"/"), "{:?}", url);
    for (i, &b) in target.iter().enumerate() {
        let escape = b == b'%' && target.len() > i + 2 && hex(target[i + 1]).is_some() && hex(target[i + 2]).is_some();
        assert!(target_byte(b) || escape, "byte {:#04x} in request-target {:?} of {:?}", b, url.resource, text);
    }
    let path = &rest[rest.find(['/', '?']).unwrap_or(rest.len())..];
    let path = if path.starts_with('/') { path.to_string() } else { format!("/{}", path) };
    assert_eq!(percent_decode(target), percent_decode(path.as_bytes()), "encoding changed the target of {:?}", text);
    if path.bytes().all(target_byte) {
        assert_eq!(url.resource, path, "a plain target was rewritten");
    }

    let canonical = url.to_uri();
    assert_eq!(parse_url(&canonical).as_ref(), Ok(&url), "{:?} does not parse back to itself", canonical);
    let uri: Uri = canonical.parse().unwrap_or_else(|e| panic!("http::Uri refuses {:?}: {}", canonical, e));
    assert_eq!(uri.path_and_query().map(|p| p.as_str()), Some(url.resource.as_str()));
    assert!(HeaderValue::from_str(&url.host_header()).is_ok(), "Host value {:?}", url.host_header());
}

/// An HTTP token (RFC 9110 `tchar`), written out apart from options.rs.
fn token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// check_header: accepts exactly a token name the handshake does not own with a value free of
/// control bytes but tab (so of CR, LF and NUL), whatever the name's case; what it accepts `http`
/// takes as a header name and value and cannot split into a second header line.
fn header(name: &[u8], value: &[u8]) {
    let result = check_header(name, value);
    let lower = name.to_ascii_lowercase();
    let owned = [&b"host"[..], b"upgrade", b"connection", b"referer", b"content-length", b"transfer-encoding"]
        .contains(&&lower[..])
        || lower.starts_with(b"sec-websocket-");
    let clean = !value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f);
    assert_eq!(result.is_ok(), token(name) && !owned && clean, "{:?}: {:?}", String::from_utf8_lossy(name), result);
    assert_eq!(result.is_ok(), check_header(&name.to_ascii_uppercase(), value).is_ok());
    match result {
        Ok(()) => {
            assert!(HeaderName::from_bytes(name).is_ok() && HeaderValue::from_bytes(value).is_ok());
            let line = [name, b": ", value, b"\r\n"].concat();
            assert_eq!(line.iter().filter(|&&b| b == b'\n' || b == b'\r').count(), 2);
        }
        Err(f) => {
            assert_eq!(f.code, Code::InvalidHeader);
            assert!(f.detail.contains(&format!("\"{}\"", String::from_utf8_lossy(name))), "{}", f.detail);
        }
    }
}

/// check_protocol over a NUL-separated list: accepts exactly a token not listed before; the
/// accepted list joined as the request sends it is a valid header value that splits back into
/// the same list, and a server choosing the last one opens the handshake with it.
fn protocols(data: &[u8]) {
    let mut accepted: Vec<String> = Vec::new();
    for name in data.split(|&b| b == 0) {
        let result = check_protocol(name, &accepted);
        let listed = accepted.iter().any(|p| p.as_bytes() == name);
        assert_eq!(result.is_ok(), token(name) && !listed, "{:?}: {:?}", String::from_utf8_lossy(name), result);
        match result {
            Ok(()) => accepted.push(String::from_utf8(name.to_vec()).expect("a token is ASCII")),
            Err(f) => assert_eq!(f.code, Code::InvalidArgument),
        }
    }
    let Some(last) = accepted.last() else { return };
    let joined = accepted.join(", ");
    assert!(HeaderValue::from_str(&joined).is_ok());
    assert_eq!(joined.split(',').map(str::trim).collect::<Vec<_>>(), accepted);
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: {}\r\n\r\n",
        last
    );
    let offer = Offer { protocols: accepted.clone(), deflate: false };
    let outcome = run(&offer, response.as_bytes(), Chunks::whole());
    assert_eq!(outcome.result.expect("the handshake opens").protocol.to_str(), Ok(last.as_str()));
}

/// check_close: code 0 means 1000; only 1000 and 3000-4999 pass, then a reason of at most 123
/// bytes, then valid UTF-8, each failure with its own code; what passes fits a close frame.
fn close(code: i32, reason: &[u8]) {
    let result = check_close(code, reason);
    let sent = if code == 0 { 1000 } else { code };
    let expected = if sent != 1000 && !(3000..=4999).contains(&sent) {
        Err(Code::CloseCodeInvalid)
    } else if reason.len() > 123 {
        Err(Code::ReasonTooLong)
    } else if std::str::from_utf8(reason).is_err() {
        Err(Code::InvalidUtf8)
    } else {
        Ok(sent as u16)
    };
    assert_eq!(
        result.as_ref().map(|c| u16::from(*c)).map_err(|f| f.code),
        expected,
        "code {} reason {:?}",
        code,
        reason
    );
    assert_eq!(WS_MAX_CLOSE_REASON, 123);
    if result.is_ok() {
        assert!(2 + reason.len() <= 125, "a close frame's payload is at most 125 bytes");
    }
}
