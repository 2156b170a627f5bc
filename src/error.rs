//! Result codes and errMsg text: one code per kind of failure, a static message for each
//! (`ws_strerror`), and the platform-format errMsg builders (`connectSocket:fail <detail>`).

use std::io;

use crate::ready_state::ReadyState;
use crate::tls::tls_detail;

/// Every libws result code. `Ok` is 0; failures are negative so a function returning a task id
/// or a listener handle can return them too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Code {
    Ok = 0,
    InvalidArgument = -1,
    InvalidUrl = -2,
    InvalidHeader = -3,
    TooManyConnections = -4,
    UnknownTask = -5,
    Closed = -6,
    NotOpen = -7,
    CloseCodeInvalid = -8,
    ReasonTooLong = -9,
    InvalidUtf8 = -10,
    MessageTooBig = -11,
    QueueFull = -12,
    Timeout = -13,
    Dns = -14,
    Connect = -15,
    Handshake = -16,
    Io = -17,
    Protocol = -18,
    Tls = -19,
    ShuttingDown = -20,
    Runtime = -21,
    Panic = -22,
    Aborted = -23,
    WrongThread = -24,
    UnknownListener = -25,
    AlreadyRunning = -26,
    Busy = -27,
    Proxy = -28,
}

const ALL: [Code; 29] = [
    Code::Ok,
    Code::InvalidArgument,
    Code::InvalidUrl,
    Code::InvalidHeader,
    Code::TooManyConnections,
    Code::UnknownTask,
    Code::Closed,
    Code::NotOpen,
    Code::CloseCodeInvalid,
    Code::ReasonTooLong,
    Code::InvalidUtf8,
    Code::MessageTooBig,
    Code::QueueFull,
    Code::Timeout,
    Code::Dns,
    Code::Connect,
    Code::Handshake,
    Code::Io,
    Code::Protocol,
    Code::Tls,
    Code::ShuttingDown,
    Code::Runtime,
    Code::Panic,
    Code::Aborted,
    Code::WrongThread,
    Code::UnknownListener,
    Code::AlreadyRunning,
    Code::Busy,
    Code::Proxy,
];

impl Code {
    #[cfg(test)]
    pub const ALL: [Code; 29] = ALL;

    pub fn from_i32(value: i32) -> Option<Code> {
        ALL.iter().copied().find(|c| *c as i32 == value)
    }

    /// The static, NUL-terminated message `ws_strerror` returns.
    pub fn message(self) -> &'static str {
        match self {
            Code::Ok => "ok\0",
            Code::InvalidArgument => "invalid argument\0",
            Code::InvalidUrl => "invalid url\0",
            Code::InvalidHeader => "invalid or forbidden request header\0",
            Code::TooManyConnections => "exceed max concurrent count\0",
            Code::UnknownTask => "unknown socketTaskId\0",
            Code::Closed => "socket is closed\0",
            Code::NotOpen => "socket is not OPEN\0",
            Code::CloseCodeInvalid => "close code must be 1000 or in 3000-4999\0",
            Code::ReasonTooLong => "close reason longer than 123 bytes\0",
            Code::InvalidUtf8 => "invalid UTF-8\0",
            Code::MessageTooBig => "message too big\0",
            Code::QueueFull => "send queue full\0",
            Code::Timeout => "timeout\0",
            Code::Dns => "could not resolve host\0",
            Code::Connect => "could not connect\0",
            Code::Handshake => "WebSocket handshake failed\0",
            Code::Io => "connection lost\0",
            Code::Protocol => "WebSocket protocol error\0",
            Code::Tls => "TLS error\0",
            Code::ShuttingDown => "runtime is shutting down\0",
            Code::Runtime => "runtime could not start\0",
            Code::Panic => "internal error (panic caught)\0",
            Code::Aborted => "aborted\0",
            Code::WrongThread => "not allowed on the libws thread\0",
            Code::UnknownListener => "unknown listener handle\0",
            Code::AlreadyRunning => "runtime already running\0",
            Code::Busy => "busy\0",
            Code::Proxy => "proxy failed\0",
        }
    }

    /// The message without its NUL terminator.
    pub fn text(self) -> &'static str {
        let m = self.message();
        &m[..m.len() - 1]
    }
}

/// The mini-program API whose errMsg a result carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Connect,
    Send,
    Close,
    /// An error event on a task that was open (not the result of one call).
    Socket,
    /// The end of `ws_shutdown_async`.
    Shutdown,
}

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::Connect => "connectSocket",
            Api::Send => "sendSocketMessage",
            Api::Close => "closeSocket",
            Api::Socket => "onSocketError",
            Api::Shutdown => "shutdown",
        }
    }
}

/// A failure: its code and the detail that follows `<api>:fail `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub code: Code,
    pub detail: String,
}

impl Failure {
    pub fn new(code: Code, detail: impl Into<String>) -> Failure {
        Failure { code, detail: detail.into() }
    }

    /// A failure whose detail is the code's own message.
    pub fn plain(code: Code) -> Failure {
        Failure::new(code, code.text())
    }
}

/// "socketTaskId N is closed": a call about a task that has closed.
pub fn closed(task_id: i64) -> Failure {
    Failure::new(Code::Closed, format!("socketTaskId {} is closed", task_id))
}

/// "socket is not OPEN (readyState X)": a send on a task in `state`.
pub fn not_open(state: ReadyState) -> Failure {
    Failure::new(Code::NotOpen, format!("socket is not OPEN (readyState {})", state.name()))
}

/// "handshake failed: <detail>": every failed opening handshake.
pub fn handshake_failure(detail: impl Into<String>) -> Failure {
    Failure::new(Code::Handshake, format!("handshake failed: {}", detail.into()))
}

/// The opening handshake ended because the server closed the connection (EOF, reset).
pub fn closed_before_answer() -> Failure {
    handshake_failure("the server closed the connection before answering")
}

/// A failed read or write, as a failure with `code` (the phase's kind of failure) and a detail
/// that names the cause. A TLS failure is `Code::Tls` with its cause whatever the phase. In the
/// opening handshake (`Code::Handshake`) a connection the server closed is said so.
pub fn io_failure(code: Code, e: &io::Error) -> Failure {
    use io::ErrorKind::*;
    if let Some(detail) = tls_detail(e) {
        return Failure::new(Code::Tls, detail);
    }
    if code == Code::Handshake {
        return match e.kind() {
            UnexpectedEof | ConnectionReset | BrokenPipe => closed_before_answer(),
            _ => handshake_failure(e.to_string()),
        };
    }
    let detail = match e.kind() {
        ConnectionReset => "connection reset by peer".to_string(),
        ConnectionRefused => "connection refused".to_string(),
        BrokenPipe => "broken pipe".to_string(),
        UnexpectedEof => "connection closed by peer".to_string(),
        _ => e.to_string(),
    };
    Failure::new(code, detail)
}

/// `<api>:ok`
pub fn ok_msg(api: Api) -> String {
    format!("{}:ok", api.name())
}

/// `<api>:fail <detail>`
pub fn fail_msg(api: Api, failure: &Failure) -> String {
    format!("{}:fail {}", api.name(), failure.detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_have_messages() {
        for code in ALL {
            assert_eq!(Code::from_i32(code as i32), Some(code));
            assert!(code.message().ends_with('\0'));
            assert!(!code.text().is_empty());
            assert!(!code.text().contains('\0'));
        }
        assert_eq!(Code::from_i32(1), None);
        assert_eq!(Code::from_i32(-1000), None);
    }

    #[test]
    fn err_msg_format() {
        assert_eq!(ok_msg(Api::Connect), "connectSocket:ok");
        assert_eq!(ok_msg(Api::Send), "sendSocketMessage:ok");
        let f = Failure::new(Code::InvalidUrl, "invalid url \"x\"");
        assert_eq!(fail_msg(Api::Connect, &f), "connectSocket:fail invalid url \"x\"");
        assert_eq!(fail_msg(Api::Close, &Failure::plain(Code::Closed)), "closeSocket:fail socket is closed");
    }
}
