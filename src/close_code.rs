//! Close codes (RFC 6455 section 7.4) by name, and the two rules for which codes may be used: the
//! host's (`from_host`) and the server's (`from_wire`). The number leaves this type only for the
//! wire and for the C close event (`u16::from`).

use std::fmt;

/// A close code, sent or received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseCode(u16);

impl CloseCode {
    pub const NORMAL: CloseCode = CloseCode(1000);
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// Reported when the close frame carried no code; never sent on the wire.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// Reported when the connection ended without a close handshake; never sent on the wire.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// Invalid UTF-8 in a text message or close reason, or corrupt compressed data.
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    pub const TOO_BIG: CloseCode = CloseCode(1009);

    /// The code of a host's close request (`ws_close`), as browsers allow: 1000 or 3000-4999,
    /// 0 meaning 1000. None for any other.
    pub fn from_host(code: i32) -> Option<CloseCode> {
        let code = if code == 0 { 1000 } else { code };
        (code == 1000 || (3000..=4999).contains(&code)).then_some(CloseCode(code as u16))
    }

    /// The code of a server's close frame, if a server may send it (tungstenite's rule: no 1004-1006,
    /// 1015 or other reserved ones).
    pub fn from_wire(code: u16) -> Option<CloseCode> {
        tungstenite::protocol::frame::coding::CloseCode::from(code).is_allowed().then_some(CloseCode(code))
    }

    /// The two bytes that start a close frame's payload.
    pub fn to_be_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::CloseCode;

    #[test]
    fn host_codes_are_1000_or_3000_to_4999() {
        assert_eq!(CloseCode::from_host(0), Some(CloseCode::NORMAL));
        for ok in [1000, 3000, 4999] {
            assert_eq!(CloseCode::from_host(ok).map(u16::from), Some(ok as u16));
        }
        for bad in [-1, 999, 1001, 1005, 1006, 2999, 5000, 65536 + 1000] {
            assert_eq!(CloseCode::from_host(bad), None, "{}", bad);
        }
    }

    #[test]
    fn wire_codes_follow_rfc_6455() {
        for ok in [1000, 1001, 1003, 1007, 1011, 3000, 4999] {
            assert_eq!(CloseCode::from_wire(ok).map(u16::from), Some(ok));
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert_eq!(CloseCode::from_wire(bad), None, "{}", bad);
        }
    }
}
