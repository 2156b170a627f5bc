//! The C types: option structs, events, results and callback signatures. Names are the C names.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_void};

/// The major version of the library these declarations belong to; `ws_version()` gives the
/// linked library's.
pub const WS_VERSION_MAJOR: u32 = 0;
/// The minor version of the library these declarations belong to.
pub const WS_VERSION_MINOR: u32 = 1;
/// The patch version of the library these declarations belong to.
pub const WS_VERSION_PATCH: u32 = 0;

/// readyState: the connection is being set up (DNS, TCP, WebSocket handshake).
pub const WS_CONNECTING: i32 = 0;
/// readyState: the handshake succeeded; messages flow both ways.
pub const WS_OPEN: i32 = 1;
/// readyState: a close frame was sent or received; waiting for the close handshake to finish.
pub const WS_CLOSING: i32 = 2;
/// readyState: closed; the close event was (or is being) delivered.
pub const WS_CLOSED: i32 = 3;

/// The longest close reason `ws_close` takes, in bytes of UTF-8: a close frame's 125 bytes of
/// payload less the 2-byte code.
pub const WS_MAX_CLOSE_REASON: usize = 123;

/// Message type for `ws_send` and message events: UTF-8 text.
pub const WS_TEXT: u32 = 1;
/// Message type for `ws_send` and message events: binary.
pub const WS_BINARY: u32 = 2;

/// Event kind: the handshake succeeded. See `ws_event.open`.
pub const WS_EVENT_OPEN: u32 = 1;
/// Event kind: a whole message arrived. See `ws_event.message`.
pub const WS_EVENT_MESSAGE: u32 = 2;
/// Event kind: the connection failed; a close event always follows. See `ws_event.error`.
pub const WS_EVENT_ERROR: u32 = 3;
/// Event kind: the task is CLOSED; the last event of the task. See `ws_event.close`.
pub const WS_EVENT_CLOSE: u32 = 4;

/// Success. The `WS_ERR_*` codes below are the failures (`ws_result.code`, `ws_event.error.code`,
/// negative return values); `ws_strerror` turns each into a static message.
pub const WS_OK: i32 = 0;
/// A NULL pointer where one is required, a bad struct_size, an unknown message type, a bad
/// protocol name.
pub const WS_ERR_INVALID_ARGUMENT: i32 = -1;
/// The URL is empty, malformed, or not ws:// / wss://.
pub const WS_ERR_INVALID_URL: i32 = -2;
/// An extra request header is malformed or one the handshake owns (Referer, Host, Upgrade,
/// Connection, Sec-WebSocket-*).
pub const WS_ERR_INVALID_HEADER: i32 = -3;
/// The group already has its maximum of open-or-connecting sockets.
pub const WS_ERR_TOO_MANY_CONNECTIONS: i32 = -4;
/// The socketTaskId was never handed out (0, negative, or not yet issued).
pub const WS_ERR_UNKNOWN_TASK: i32 = -5;
/// The task is CLOSED (a stale id).
pub const WS_ERR_CLOSED: i32 = -6;
/// The task is CONNECTING or CLOSING, so it cannot send.
pub const WS_ERR_NOT_OPEN: i32 = -7;
/// A close code other than 1000 or 3000–4999.
pub const WS_ERR_INVALID_CLOSE_CODE: i32 = -8;
/// A close reason longer than 123 bytes.
pub const WS_ERR_REASON_TOO_LONG: i32 = -9;
/// A text message or close reason that is not valid UTF-8.
pub const WS_ERR_INVALID_UTF8: i32 = -10;
/// A message larger than the configured maximum (sent or received).
pub const WS_ERR_MESSAGE_TOO_BIG: i32 = -11;
/// The task's send queue is over its configured byte limit; nothing queued was dropped.
pub const WS_ERR_QUEUE_FULL: i32 = -12;
/// The connect timeout expired (DNS, TCP and handshake together), or the close handshake did
/// not finish in time.
pub const WS_ERR_TIMEOUT: i32 = -13;
/// The host name could not be resolved.
pub const WS_ERR_DNS: i32 = -14;
/// The TCP connection could not be made (refused, unreachable) on any resolved address.
pub const WS_ERR_CONNECT: i32 = -15;
/// The server's handshake response was not a valid WebSocket upgrade (status, HTTP version,
/// headers, subprotocol).
pub const WS_ERR_HANDSHAKE: i32 = -16;
/// The connection broke (reset, closed without a close frame, I/O error).
pub const WS_ERR_IO: i32 = -17;
/// The server violated the WebSocket protocol.
pub const WS_ERR_PROTOCOL: i32 = -18;
/// TLS failed (wss://).
pub const WS_ERR_TLS: i32 = -19;
/// `ws_shutdown` is in progress.
pub const WS_ERR_SHUTTING_DOWN: i32 = -20;
/// The runtime could not start (thread or poller creation failed).
pub const WS_ERR_RUNTIME: i32 = -21;
/// An internal error was caught before it could cross into C.
pub const WS_ERR_PANIC: i32 = -22;
/// The connection attempt was aborted by `ws_close` before it opened.
pub const WS_ERR_ABORTED: i32 = -23;
/// The call is not allowed from a libws callback (`ws_shutdown`, `ws_init`; also from callbacks
/// run by `ws_dispatch`), or `ws_dispatch` from the libws thread or from inside itself.
pub const WS_ERR_WRONG_THREAD: i32 = -24;
/// `ws_off_event` with a handle that is not registered.
pub const WS_ERR_UNKNOWN_LISTENER: i32 = -25;
/// `ws_init` while the runtime is already running.
pub const WS_ERR_ALREADY_RUNNING: i32 = -26;
/// `ws_dispatcher_free` while the dispatcher is still needed (bound tasks whose close event was
/// not dispatched, queued items, a group default, `ws_dispatch` running), or `ws_dispatch` while
/// another thread runs it on the same dispatcher.
pub const WS_ERR_BUSY: i32 = -27;
/// The proxy (`ws_connect_options.proxy`, `ws_config.proxy`) did not open the tunnel: it
/// refused (an HTTP status other than 2xx, its status line in the errMsg; a SOCKS5 reply code,
/// named), its answer was malformed, it closed the connection, or it did not answer within the
/// connect timeout. The errMsg names the proxy (`proxy http://127.0.0.1:3128: ...`), never its
/// credentials.
pub const WS_ERR_PROXY: i32 = -28;

/// One HTTP header: two NUL-terminated strings.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ws_header {
    pub name: *const c_char,
    pub value: *const c_char,
}

/// The outcome of one call (`ws_connect`, `ws_send`, `ws_close`, `ws_close_group`).
///
/// `err_msg` is NUL-terminated UTF-8 in the mini-program format: `"connectSocket:ok"`,
/// `"sendSocketMessage:fail socket is not OPEN"`, `"closeSocket:fail invalid close code 999: ..."`.
/// The struct and its string are valid only for the duration of the callback: copy what you keep.
#[repr(C)]
pub struct ws_result {
    /// The task the call was about (0 for `ws_close_group`).
    pub task_id: i64,
    /// `WS_OK` (success) or a negative `WS_ERR_*` code (fail).
    pub code: i32,
    pub err_msg: *const c_char,
}

/// Called exactly once per call that takes it, on the libws thread (or, for a task bound to a
/// dispatcher, inside `ws_dispatch` on the host's thread), with no library lock held.
/// Plays the role of success/fail/complete: success when `result->code == WS_OK`.
pub type ws_result_cb = Option<unsafe extern "C" fn(result: *const ws_result, user_data: *mut c_void)>;

/// `WS_EVENT_OPEN`: response headers and the subprotocol the server chose ("" if none).
#[repr(C)]
pub struct ws_open_event {
    pub headers: *const ws_header,
    pub header_count: usize,
    pub protocol: *const c_char,
    /// The extensions in effect, as the server's Sec-WebSocket-Extensions header named them ("" if
    /// none), like the browser's `WebSocket.extensions`: e.g.
    /// `"permessage-deflate; client_max_window_bits=15"`.
    pub extensions: *const c_char,
    /// True when permessage-deflate was negotiated (the task asked with
    /// `ws_connect_options.per_message_deflate` and the server agreed).
    pub compressed: bool,
}

/// The connection profile of `WS_EVENT_OPEN` (`ws_event.profile`): when each phase of the
/// set-up happened and what the connection turned out to be. Every `*_us` field is a timestamp in
/// microseconds on libws's monotonic clock (one clock for every task of the process, its origin
/// just before the first `ws_connect`: compare them with each other, not with other clocks); a
/// phase that did not happen has the time of the phase before it, as in WeChat, except the TLS
/// times of ws://, which are 0. In order: `fetch_start_us <= domain_lookup_start_us <=
/// domain_lookup_end_us <= connect_start_us <= tls_start_us <= tls_end_us == connect_end_us <=
/// open_us` (for ws://, `connect_end_us` is when TCP connected).
///
/// WeChat's `SocketTask.onOpen` `res.profile` (numbers in milliseconds; its timestamps are Unix
/// epoch milliseconds) is filled from it as follows, with `ms(t) = (fetch_start_unix_us + (t -
/// fetch_start_us)) / 1000.0`:
///
/// | WeChat              | from `ws_profile`                                  |
/// |---------------------|----------------------------------------------------|
/// | `fetchStart`        | `ms(fetch_start_us)`                               |
/// | `domainLookUpStart` | `ms(domain_lookup_start_us)`                       |
/// | `domainLookUpEnd`   | `ms(domain_lookup_end_us)`                         |
/// | `connectStart`      | `ms(connect_start_us)`                             |
/// | `connectEnd`        | `ms(connect_end_us)` (TLS included, as WeChat's)   |
/// | `rtt`               | `(connect_end_us - connect_start_us) / 1000.0`     |
/// | `handshakeCost`     | `(open_us - connect_end_us) / 1000.0`              |
/// | `cost`              | `(open_us - fetch_start_us) / 1000.0`              |
///
/// `rtt` is WeChat's "time of one connection, connect and TLS included"; `handshakeCost` its
/// "handshake time", here the WebSocket upgrade (request sent to response checked); `cost` its
/// "time from the request to the answer".
#[repr(C)]
pub struct ws_profile {
    /// `ws_connect` was called.
    pub fetch_start_us: u64,
    /// The lookup of the URL's host began (system resolver or `ws_config.resolver`);
    /// `fetch_start_us` when none was made (an IP address URL, `ws_connect_options.addresses`).
    pub domain_lookup_start_us: u64,
    /// The addresses arrived; `domain_lookup_start_us` when no lookup was made.
    pub domain_lookup_end_us: u64,
    /// The TCP connection attempt that won began (Happy Eyeballs may have started others
    /// earlier: see `attempts`), like WeChat's connectStart after a transport error.
    pub connect_start_us: u64,
    /// wss://: the TLS handshake began (TCP connected); 0 for ws://.
    pub tls_start_us: u64,
    /// wss://: the TLS handshake finished; 0 for ws://.
    pub tls_end_us: u64,
    /// The connection was ready for the WebSocket handshake: TLS finished (wss://) or TCP
    /// connected (ws://).
    pub connect_end_us: u64,
    /// The server's handshake response was checked: the task became OPEN.
    pub open_us: u64,
    /// The wall-clock time at `fetch_start_us`, in microseconds since the Unix epoch: the anchor
    /// that turns the monotonic timestamps into WeChat's (see above).
    pub fetch_start_unix_us: i64,
    /// The TCP connection attempts made (one per address tried, the winner included).
    pub attempts: u32,
    /// wss://: the TLS session was resumed (an abbreviated handshake with a session ticket from
    /// an earlier connection to the server); false for a full handshake and for ws://.
    pub tls_resumed: bool,
    /// wss://: the TLS version, `"TLSv1.3"` or `"TLSv1.2"`; `""` for ws://.
    pub tls_version: *const c_char,
    /// wss://: the cipher suite's IANA name (as OpenSSL names TLS 1.3 suites), e.g.
    /// `"TLS_AES_256_GCM_SHA384"`; `""` for ws://.
    pub tls_cipher: *const c_char,
    /// The address connected to, `"127.0.0.1:8080"` or `"[::1]:8080"` (with a proxy: the proxy's).
    pub peer_address: *const c_char,
    /// With a proxy (`ws_connect_options.proxy` / `ws_config.proxy`): the tunnel exchange began
    /// (TCP to the proxy connected), so `connect_start_us`..`proxy_start_us` is the connection to
    /// the proxy; 0 without a proxy. Appended after `peer_address` (issue 15): the profile is
    /// libws's, so a host that reads only the members before it is not affected.
    pub proxy_start_us: u64,
    /// With a proxy: the proxy opened the tunnel (CONNECT answered 2xx, SOCKS5 succeeded); TLS
    /// (wss://) starts here and `connect_end_us` includes the tunnel. 0 without a proxy.
    pub proxy_end_us: u64,
}

/// `WS_EVENT_MESSAGE`: one whole message. `data` is not NUL-terminated; it may be NULL when
/// `len` is 0. Text is valid UTF-8.
#[repr(C)]
pub struct ws_message_event {
    pub data: *const u8,
    pub len: usize,
    /// `WS_TEXT` or `WS_BINARY`.
    pub kind: u32,
}

/// `WS_EVENT_ERROR`: why the connection failed; a close event follows.
#[repr(C)]
pub struct ws_error_event {
    /// A negative `WS_ERR_*` code.
    pub code: i32,
    /// `"connectSocket:fail <detail>"` while connecting, `"onSocketError:fail <detail>"` after open.
    pub err_msg: *const c_char,
}

/// `WS_EVENT_CLOSE`: the task is CLOSED. `code` is the server's close code (or, for a client
/// close, the code the server echoed), 1005 when the close frame had none, 1006 when the
/// connection dropped or was aborted without a close handshake.
#[repr(C)]
pub struct ws_close_event {
    pub code: u16,
    /// NUL-terminated UTF-8; "" when there is none. A NUL byte inside the server's reason is
    /// replaced with U+FFFD.
    pub reason: *const c_char,
    /// Bytes in `reason` (strlen(reason)).
    pub reason_len: usize,
    /// True when the close handshake completed.
    pub was_clean: bool,
}

/// One event of one task. Only the member named by `kind` is meaningful; the others are zeroed.
/// The struct and everything it points to are valid only for the duration of the callback.
#[repr(C)]
pub struct ws_event {
    /// `WS_EVENT_OPEN`, `WS_EVENT_MESSAGE`, `WS_EVENT_ERROR` or `WS_EVENT_CLOSE`.
    pub kind: u32,
    pub task_id: i64,
    pub open: ws_open_event,
    pub message: ws_message_event,
    pub error: ws_error_event,
    pub close: ws_close_event,
    /// `WS_EVENT_OPEN`: the connection profile (see `ws_profile`); NULL for the other kinds.
    /// Appended after `close` in libws 0.1 (issue 14): the event is libws's, so a host built
    /// against an older header, which reads only the members before it, is not affected.
    pub profile: *const ws_profile,
}

/// Called for each event, on the libws thread (or, for a task bound to a dispatcher, inside
/// `ws_dispatch` on the host's thread), with no library lock held. It may call any `ws_*`
/// function except `ws_init` and `ws_shutdown`. It must return (not longjmp or throw).
pub type ws_event_cb = Option<unsafe extern "C" fn(event: *const ws_event, user_data: *mut c_void)>;

/// The socket hook: called on the libws thread with each TCP socket of a task after it is created
/// and before it connects (one call per address tried), so a host can bind it to a network
/// (Android `Network.bindSocket`, WeChat's forceCellularNetwork) or set options. Return 0 to go
/// on; any other value refuses the socket and the task fails with `WS_ERR_CONNECT`. Do not close
/// the fd.
pub type ws_socket_cb = Option<unsafe extern "C" fn(task_id: i64, fd: i32, user_data: *mut c_void) -> i32>;

/// Log level for `ws_set_logger` (a logger set at level N gets messages of levels 1..=N):
/// something went wrong inside libws (e.g. the libws thread caught a panic).
pub const WS_LOG_ERROR: i32 = 1;
/// Log level: a task failed (its error event's errMsg), or a call was refused with no result
/// callback to say why.
pub const WS_LOG_WARN: i32 = 2;
/// Log level: the life of the runtime and of tasks (started, open, closed with code and reason).
pub const WS_LOG_INFO: i32 = 3;
/// Log level: details for debugging (e.g. where a task connects).
pub const WS_LOG_DEBUG: i32 = 4;

/// A logger: `message` is a NUL-terminated UTF-8 line without newline, valid during the call.
/// Called from libws threads (the loop thread, resolver threads) and from the thread calling
/// `ws_*`, possibly concurrently: it must be thread-safe. It may not call `ws_set_logger`.
pub type ws_log_cb = Option<unsafe extern "C" fn(level: i32, message: *const c_char, user_data: *mut c_void)>;

/// Runtime configuration for `ws_init`. Fill with `ws_config_init`, then change fields; every
/// zero field means its default.
#[repr(C)]
pub struct ws_config {
    /// `sizeof(ws_config)`: set by `ws_config_init`. Fields are only ever appended, so a struct
    /// from an older header (a smaller size some release had) still works, the fields it lacks at
    /// their defaults. Any other size (one that ends inside a field, or a newer header's, larger
    /// than this library knows) makes `ws_init` return `WS_ERR_INVALID_ARGUMENT`.
    pub struct_size: u32,
    /// Open-or-connecting sockets per group. Default 5 (WeChat's limit).
    pub max_connections_per_group: u32,
    /// Largest message sent or received, in bytes. Default 64 MiB.
    pub max_message_size: u64,
    /// Bytes a task may have queued but not yet written to the kernel. A send that would pass it
    /// fails with `WS_ERR_QUEUE_FULL` (one message up to `max_message_size` is always accepted
    /// into an empty queue). Default 64 MiB.
    pub max_send_queue: u64,
    /// Default connect timeout (DNS + TCP + handshake) for tasks that give none. Default 60000.
    pub connect_timeout_ms: u32,
    /// How long to wait for the server's side of the close handshake before dropping the
    /// connection (and during `ws_shutdown`). Default 5000.
    pub close_timeout_ms: u32,
    /// wss://: extra CA certificates to trust (`ca_pem_len` bytes of PEM, one or more
    /// CERTIFICATE blocks), beside the Mozilla roots built into the library. Copied by `ws_init`.
    pub ca_pem: *const u8,
    pub ca_pem_len: usize,
    /// wss://: also trust the operating system's certificate store where it can be read
    /// (Linux files, macOS/iOS keychain, Windows store; not Android). Default false.
    pub use_system_roots: bool,
    /// DANGEROUS, development only: accept any server certificate (unknown issuer, wrong host,
    /// expired) for every wss:// task, like the "don't verify" switch of WeChat's developer tools.
    /// Anyone on the network path can then read and change the traffic. Default false.
    pub dangerous_skip_certificate_verification: bool,
    /// Happy Eyeballs (RFC 8305): how long, in ms, a connection attempt to one address runs
    /// alone before the next address is tried in parallel (an attempt that fails starts the
    /// next at once). Attempts already started keep running until one connects; the others are
    /// then closed. Addresses are tried with the families interleaved, starting with the family
    /// of the resolver's first address. Default 250 (the RFC's); values below 10 are raised to
    /// 10 (the RFC's floor). A `ws_config` of the earlier layout, without this field and the
    /// ones after it, is still accepted.
    pub connection_attempt_delay_ms: u32,
    /// The host's resolver (see `ws_resolve_cb`), asked for the host name of every task whose
    /// URL names a host (not an IP address) and that gave no `ws_connect_options.addresses`.
    /// NULL (the default): libws resolves names with the system's resolver (getaddrinfo, on
    /// threads of its own).
    pub resolver: ws_resolve_cb,
    pub resolver_user_data: *mut c_void,
    /// wss://: public key pins for every task (`certificate_pin_count` NUL-terminated strings),
    /// each `sha256/<base64>`: the SHA-256 of a certificate's SubjectPublicKeyInfo, as OkHttp's
    /// `CertificatePinner` and HPKP write it (`openssl x509 -pubkey -noout | openssl pkey -pubin
    /// -outform der | openssl dgst -sha256 -binary | base64`). The chain is verified as usual
    /// first; then one certificate of it (the server's, an intermediate, or the trusted root the
    /// chain leads to) must match a pin, or the task fails with `WS_ERR_TLS`
    /// (`"connectSocket:fail certificate: pinning failed: ... the chain's pins (server first):
    /// sha256/..., ...; pinned: sha256/..."`). Pins never weaken verification; with
    /// `dangerous_skip_certificate_verification` they are still checked, against the
    /// certificates the server sent. A task's own pins (`ws_connect_options.certificate_pins`)
    /// are added to these. A string that is not a pin makes `ws_init` return
    /// `WS_ERR_INVALID_ARGUMENT`. NULL / 0 (the default): no pinning. Copied by `ws_init`.
    pub certificate_pins: *const *const c_char,
    pub certificate_pin_count: usize,
    /// wss://, mutual TLS: the client certificate for every task, presented when a server asks
    /// for one: `client_cert_pem_len` bytes of PEM, the certificate first, then any
    /// intermediates. Needs `client_key_pem`. A task's own
    /// (`ws_connect_options.client_cert_pem`) replaces it. NULL / 0 (the default): none; a
    /// server that requires one then refuses the handshake (`WS_ERR_TLS`). Copied by `ws_init`.
    pub client_cert_pem: *const u8,
    pub client_cert_pem_len: usize,
    /// The private key of `client_cert_pem`: `client_key_pem_len` bytes of unencrypted PEM,
    /// PKCS#8 (`BEGIN PRIVATE KEY`), SEC1 (`BEGIN EC PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE
    /// KEY`). A key that does not parse or does not match the certificate, a certificate that
    /// does not parse, or one given without the other makes `ws_init` return
    /// `WS_ERR_INVALID_ARGUMENT`. Copied by `ws_init`; libws keeps the key in memory while a
    /// configuration uses it.
    pub client_key_pem: *const u8,
    pub client_key_pem_len: usize,
    /// The proxy every task connects through (unless it sets its own, or `no_proxy`), as a
    /// NUL-terminated URL: `http://[user:password@]host[:port]` (HTTP `CONNECT`, port 80 by
    /// default; credentials sent as Basic) or `socks5://[user:password@]host[:port]` (RFC 1928
    /// with RFC 1929 username/password; port 1080 by default; `socks5h://` the same). User name
    /// and password may be %-escaped. ws:// and wss:// both go through the tunnel (TLS runs end
    /// to end with the server). The proxy's host is resolved (and its addresses tried with Happy
    /// Eyeballs, each socket through the socket hook); the server's name goes to the proxy,
    /// which resolves it. The connect timeout covers the proxy's answer. A proxy that refuses,
    /// answers garbage, closes or does not answer in time fails the task with `WS_ERR_PROXY`.
    /// Credentials never appear in errMsgs or logs. A URL that does not parse makes `ws_init`
    /// return `WS_ERR_INVALID_ARGUMENT`. NULL or "" (the default): no proxy. Copied by
    /// `ws_init`.
    pub proxy: *const c_char,
}

/// The host's resolver (`ws_config.resolver`), e.g. an HTTP DNS client: called on the libws
/// thread with the task's id (the request id to answer), its URL's host name (NUL-terminated,
/// valid during the call) and port. It must not block: it starts the lookup and returns; the
/// host answers later, from any thread (or from inside this call), with `ws_resolve_answer`.
/// The task's connect timeout keeps running meanwhile: without an answer in time the task fails
/// with `WS_ERR_TIMEOUT` (`"connectSocket:fail timeout: no answer from the resolver for
/// \"host\""`). The URL's host stays the TLS server name and the Host header.
pub type ws_resolve_cb =
    Option<unsafe extern "C" fn(request_id: i64, host: *const c_char, port: u16, user_data: *mut c_void)>;

/// Options for `ws_connect`. Fill with `ws_connect_options_init`, then set fields; zero values
/// are the defaults. The library copies everything it needs before `ws_connect` returns.
#[repr(C)]
pub struct ws_connect_options {
    /// `sizeof(ws_connect_options)`: set by `ws_connect_options_init`. Fields are only ever
    /// appended, so a struct from an older header (a smaller size some release had) still works,
    /// the fields it lacks at their defaults. Any other size (one that ends inside a field, or a
    /// newer header's, larger than this library knows) is refused: `ws_connect` returns
    /// `WS_ERR_INVALID_ARGUMENT` and, if the size covers `on_result` and `result_user_data`, calls
    /// `on_result` with `"connectSocket:fail ws_connect_options.struct_size is N, ..."`.
    pub struct_size: u32,
    /// NUL-terminated `ws://` or `wss://` URL. Required. Its path and query may hold any UTF-8:
    /// bytes a request line cannot carry are sent percent-encoded (`/路径?q=值` as
    /// `/%E8%B7%AF%E5%BE%84?q=%E5%80%BC`, as browsers do); escapes already there are kept.
    pub url: *const c_char,
    /// Extra request headers (`header_count` of them). Referer, Host, Upgrade, Connection and
    /// Sec-WebSocket-* are refused with `WS_ERR_INVALID_HEADER`.
    pub headers: *const ws_header,
    pub header_count: usize,
    /// Subprotocols to offer (`protocol_count` NUL-terminated tokens).
    pub protocols: *const *const c_char,
    pub protocol_count: usize,
    /// Set TCP_NODELAY on the socket. Default false, as WeChat.
    pub tcp_no_delay: bool,
    /// Connect timeout in ms covering DNS, TCP and the handshake. 0 = the runtime default
    /// (60000 unless configured).
    pub timeout_ms: u32,
    /// The first listener of this task, registered before any event can fire. May be NULL.
    pub on_event: ws_event_cb,
    pub event_user_data: *mut c_void,
    /// Called once with the result of this call. May be NULL.
    pub on_result: ws_result_cb,
    pub result_user_data: *mut c_void,
    /// The mini-program instance this socket counts against (the per-group limit and
    /// `ws_close_group`). Any value; 0 is a group like the others.
    pub group: u64,
    /// Heartbeat: after this many ms without any frame from the server, send a ping. 0 = off
    /// (the default).
    pub ping_interval_ms: u32,
    /// Heartbeat: if nothing arrives within this many ms after a ping, the connection is dead:
    /// error `WS_ERR_TIMEOUT` ("onSocketError:fail heartbeat timeout ...") then close 1006.
    /// 0 = the ping interval.
    pub pong_timeout_ms: u32,
    /// Optional socket hook (see `ws_socket_cb`) and its user_data.
    pub on_socket: ws_socket_cb,
    pub socket_user_data: *mut c_void,
    /// wss://: extra CA certificates (PEM) trusted for this task only, on top of the runtime's.
    pub ca_pem: *const u8,
    pub ca_pem_len: usize,
    /// DANGEROUS, development only: accept any server certificate for this task. See
    /// `ws_config.dangerous_skip_certificate_verification`.
    pub dangerous_skip_certificate_verification: bool,
    /// perMessageDeflate: offer permessage-deflate compression (RFC 7692) in the handshake.
    /// When the server agrees, messages are compressed and decompressed transparently (the open
    /// event's `compressed` says so); a decompressed message over `max_message_size` closes the
    /// connection with 1009. Default false, as WeChat.
    pub per_message_deflate: bool,
    /// The dispatcher this task's results and events go to (see `ws_dispatcher_new`): they are
    /// queued there and run on the host thread that calls `ws_dispatch`, never on the libws
    /// thread, and the task's readyState follows what was dispatched. NULL (the default): the
    /// group's default dispatcher (`ws_set_group_dispatcher`) if it has one, else callbacks run
    /// on the libws thread. A pointer that is not a live dispatcher is refused with
    /// `WS_ERR_INVALID_ARGUMENT`. A struct of the earlier layout without this field (struct_size
    /// 144 on 64-bit targets) is still accepted: no dispatcher named.
    pub dispatcher: *mut ws_dispatcher,
    /// The host's own addresses for the URL's host (`address_count` NUL-terminated strings), e.g.
    /// from its HTTP DNS service or cache: each an IP address with or without a port (`1.2.3.4`,
    /// `1.2.3.4:8443`, `::1`, `[::1]:8443`; without one, the URL's port). libws then does no
    /// lookup of its own and tries them with Happy Eyeballs (see
    /// `ws_config.connection_attempt_delay_ms`), the families interleaved starting with the first
    /// address's. The URL's host stays the TLS server name and the Host header. A string that is
    /// not an IP address is refused with `WS_ERR_INVALID_ARGUMENT`
    /// (`"connectSocket:fail addresses[1]: \"x\" is not an IP address ..."`). NULL / 0 (the
    /// default): the runtime's resolver (`ws_config.resolver`), else the system's. Copied by
    /// `ws_connect`. Struct sizes of earlier layouts without these fields are still accepted.
    pub addresses: *const *const c_char,
    pub address_count: usize,
    /// wss://: public key pins for this task (`sha256/<base64>` strings), added to the runtime's
    /// (`ws_config.certificate_pins`, which says how they are checked). A string that is not a
    /// pin is refused with `WS_ERR_INVALID_ARGUMENT` (`"connectSocket:fail certificate_pins[0]:
    /// \"x\" is not a pin ..."`). NULL / 0 (the default): only the runtime's pins. Copied by
    /// `ws_connect`.
    pub certificate_pins: *const *const c_char,
    pub certificate_pin_count: usize,
    /// wss://, mutual TLS: this task's client certificate and key (PEM, as
    /// `ws_config.client_cert_pem` / `client_key_pem` describe), replacing the runtime's. A bad
    /// or mismatched pair is refused at the call with `WS_ERR_INVALID_ARGUMENT`
    /// (`"connectSocket:fail client certificate: the private key does not match the
    /// certificate"`). NULL / 0 (the default): the runtime's, if any. Copied by `ws_connect`.
    pub client_cert_pem: *const u8,
    pub client_cert_pem_len: usize,
    pub client_key_pem: *const u8,
    pub client_key_pem_len: usize,
    /// This task's proxy URL (the forms of `ws_config.proxy`), used instead of the runtime's.
    /// With a proxy, `addresses` are not used (the proxy resolves the server's name). A URL that
    /// does not parse is refused with `WS_ERR_INVALID_ARGUMENT` (`"connectSocket:fail proxy:
    /// scheme must be http://, socks5:// or socks5h://"`; the URL itself is not repeated, it
    /// may hold a password). NULL or "" (the default): the runtime's proxy, if any. Copied by
    /// `ws_connect`.
    pub proxy: *const c_char,
    /// Connect directly even if the runtime has a proxy (`ws_config.proxy`), e.g. for a server
    /// on the local network. Default false.
    pub no_proxy: bool,
}

/// A dispatcher (opaque): a queue of results and events that the host runs on its own thread
/// with `ws_dispatch`. Made by `ws_dispatcher_new`, freed by `ws_dispatcher_free`.
pub struct ws_dispatcher {
    _private: [u8; 0],
}

/// The dispatcher's wake callback: called when its queue goes from empty to non-empty (on the
/// libws thread), and at the end of a `ws_dispatch` call that leaves items queued (on the thread
/// that called it). It must not block and must not call `ws_dispatch` itself: it should only
/// tell the host's thread to call `ws_dispatch` soon (`uv_async_send`, `Handler.post`,
/// `dispatch_async`, `Executor.execute`). No library lock is held while it runs.
pub type ws_wake_cb = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// Options for `ws_dispatcher_new`. Fill with `ws_dispatcher_options_init`, then set fields;
/// zero values are the defaults.
#[repr(C)]
pub struct ws_dispatcher_options {
    /// `sizeof(ws_dispatcher_options)`: set by `ws_dispatcher_options_init` (versioned like
    /// `ws_connect_options.struct_size`).
    pub struct_size: u32,
    /// Back-pressure: bytes of queued, not yet dispatched items (message bytes plus about 128
    /// per item) past which libws stops reading the sockets of the tasks bound to this
    /// dispatcher, so the server is held back by TCP. Reading resumes when `ws_dispatch` has
    /// brought the queue down to half of it. A soft bound: a read pass under way ends first (up
    /// to 1 MiB per task), and a message being received is held by its task (up to
    /// `max_message_size`) until it is whole. While reading is paused, frames behind the queued
    /// data (pings, the server's close) are not seen: pings are answered and the close handshake
    /// finishes once the host dispatches; the heartbeat does not count the pause as the
    /// server's silence; connect and close timeouts keep running. 0 = 16 MiB.
    pub max_pending_bytes: u64,
    /// Optional: see `ws_wake_cb`.
    pub on_wake: ws_wake_cb,
    pub wake_user_data: *mut c_void,
}
