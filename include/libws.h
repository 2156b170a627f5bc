/*
 * libws: a WebSocket client for mini-program host runtimes.
 *
 * Threads: every function may be called from any thread. One libws thread owns every socket and
 * runs every callback (results and events), never with a library lock held, so a callback may call
 * any ws_* function (including closing its own task) except ws_init and ws_shutdown. Tasks bound
 * to a dispatcher (ws_dispatcher_new) are the exception: their callbacks are queued and run by
 * ws_dispatch on the host's own thread.
 *
 * Pointers: every pointer libws passes to a callback (the event or result struct and whatever it
 * points to) is valid only until the callback returns: copy what you keep. Every pointer you pass
 * in is copied before the call returns, except user_data, which is handed back as is.
 *
 * Results: ws_connect, ws_send, ws_close and ws_close_group take a result callback that is called
 * exactly once, on the libws thread (success/fail/complete in one: success when code == WS_OK),
 * with an errMsg such as "connectSocket:ok" or "sendSocketMessage:fail socket is not OPEN ...".
 * A negative return value means the call was refused, and the callback reports the same code;
 * WS_OK means it was accepted, and the callback still gives the outcome (a send accepted while the
 * socket was OPEN fails if the connection is lost before the message is written).
 *
 * Events of one task arrive in order: open or error, messages, then exactly one close, and nothing
 * after the close. An error event is always followed by the close event.
 */

#ifndef LIBWS_H
#define LIBWS_H

/* Generated from the Rust sources by cbindgen (build.rs). Do not edit by hand. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// The major version of the library these declarations belong to; `ws_version()` gives the
// linked library's.
#define WS_VERSION_MAJOR 0

// The minor version of the library these declarations belong to.
#define WS_VERSION_MINOR 1

// The patch version of the library these declarations belong to.
#define WS_VERSION_PATCH 0

// readyState: the connection is being set up (DNS, TCP, WebSocket handshake).
#define WS_CONNECTING 0

// readyState: the handshake succeeded; messages flow both ways.
#define WS_OPEN 1

// readyState: a close frame was sent or received; waiting for the close handshake to finish.
#define WS_CLOSING 2

// readyState: closed; the close event was (or is being) delivered.
#define WS_CLOSED 3

// The longest close reason `ws_close` takes, in bytes of UTF-8: a close frame's 125 bytes of
// payload less the 2-byte code.
#define WS_MAX_CLOSE_REASON 123

// Message type for `ws_send` and message events: UTF-8 text.
#define WS_TEXT 1

// Message type for `ws_send` and message events: binary.
#define WS_BINARY 2

// Event kind: the handshake succeeded. See `ws_event.open`.
#define WS_EVENT_OPEN 1

// Event kind: a whole message arrived. See `ws_event.message`.
#define WS_EVENT_MESSAGE 2

// Event kind: the connection failed; a close event always follows. See `ws_event.error`.
#define WS_EVENT_ERROR 3

// Event kind: the task is CLOSED; the last event of the task. See `ws_event.close`.
#define WS_EVENT_CLOSE 4

// Success. The `WS_ERR_*` codes below are the failures (`ws_result.code`, `ws_event.error.code`,
// negative return values); `ws_strerror` turns each into a static message.
#define WS_OK 0

// A NULL pointer where one is required, a bad struct_size, an unknown message type, a bad
// protocol name.
#define WS_ERR_INVALID_ARGUMENT (-1)

// The URL is empty, malformed, or not ws:// / wss://.
#define WS_ERR_INVALID_URL (-2)

// An extra request header is malformed or one the handshake owns (Referer, Host, Upgrade,
// Connection, Sec-WebSocket-*).
#define WS_ERR_INVALID_HEADER (-3)

// The group already has its maximum of open-or-connecting sockets.
#define WS_ERR_TOO_MANY_CONNECTIONS (-4)

// The socketTaskId was never handed out (0, negative, or not yet issued).
#define WS_ERR_UNKNOWN_TASK (-5)

// The task is CLOSED (a stale id).
#define WS_ERR_CLOSED (-6)

// The task is CONNECTING or CLOSING, so it cannot send.
#define WS_ERR_NOT_OPEN (-7)

// A close code other than 1000 or 3000–4999.
#define WS_ERR_INVALID_CLOSE_CODE (-8)

// A close reason longer than 123 bytes.
#define WS_ERR_REASON_TOO_LONG (-9)

// A text message or close reason that is not valid UTF-8.
#define WS_ERR_INVALID_UTF8 (-10)

// A message larger than the configured maximum (sent or received).
#define WS_ERR_MESSAGE_TOO_BIG (-11)

// The task's send queue is over its configured byte limit; nothing queued was dropped.
#define WS_ERR_QUEUE_FULL (-12)

// The connect timeout expired (DNS, TCP and handshake together), or the close handshake did
// not finish in time.
#define WS_ERR_TIMEOUT (-13)

// The host name could not be resolved.
#define WS_ERR_DNS (-14)

// The TCP connection could not be made (refused, unreachable) on any resolved address.
#define WS_ERR_CONNECT (-15)

// The server's handshake response was not a valid WebSocket upgrade (status, HTTP version,
// headers, subprotocol).
#define WS_ERR_HANDSHAKE (-16)

// The connection broke (reset, closed without a close frame, I/O error).
#define WS_ERR_IO (-17)

// The server violated the WebSocket protocol.
#define WS_ERR_PROTOCOL (-18)

// TLS failed (wss://).
#define WS_ERR_TLS (-19)

// `ws_shutdown` is in progress.
#define WS_ERR_SHUTTING_DOWN (-20)

// The runtime could not start (thread or poller creation failed).
#define WS_ERR_RUNTIME (-21)

// An internal error was caught before it could cross into C.
#define WS_ERR_PANIC (-22)

// The connection attempt was aborted by `ws_close` before it opened.
#define WS_ERR_ABORTED (-23)

// The call is not allowed from a libws callback (`ws_shutdown`, `ws_init`; also from callbacks
// run by `ws_dispatch`), or `ws_dispatch` from the libws thread or from inside itself.
#define WS_ERR_WRONG_THREAD (-24)

// `ws_off_event` with a handle that is not registered.
#define WS_ERR_UNKNOWN_LISTENER (-25)

// `ws_init` while the runtime is already running.
#define WS_ERR_ALREADY_RUNNING (-26)

// `ws_dispatcher_free` while the dispatcher is still needed (bound tasks whose close event was
// not dispatched, queued items, a group default, `ws_dispatch` running), or `ws_dispatch` while
// another thread runs it on the same dispatcher.
#define WS_ERR_BUSY (-27)

// The proxy (`ws_connect_options.proxy`, `ws_config.proxy`) did not open the tunnel: it
// refused (an HTTP status other than 2xx, its status line in the errMsg; a SOCKS5 reply code,
// named), its answer was malformed, it closed the connection, or it did not answer within the
// connect timeout. The errMsg names the proxy (`proxy http://127.0.0.1:3128: ...`), never its
// credentials.
#define WS_ERR_PROXY (-28)

// Log level for `ws_set_logger` (a logger set at level N gets messages of levels 1..=N):
// something went wrong inside libws (e.g. the libws thread caught a panic).
#define WS_LOG_ERROR 1

// Log level: a task failed (its error event's errMsg), or a call was refused with no result
// callback to say why.
#define WS_LOG_WARN 2

// Log level: the life of the runtime and of tasks (started, open, closed with code and reason).
#define WS_LOG_INFO 3

// Log level: details for debugging (e.g. where a task connects).
#define WS_LOG_DEBUG 4

// A dispatcher (opaque): a queue of results and events that the host runs on its own thread
// with `ws_dispatch`. Made by `ws_dispatcher_new`, freed by `ws_dispatcher_free`.
typedef struct ws_dispatcher ws_dispatcher;

// The host's resolver (`ws_config.resolver`), e.g. an HTTP DNS client: called on the libws
// thread with the task's id (the request id to answer), its URL's host name (NUL-terminated,
// valid during the call) and port. It must not block: it starts the lookup and returns; the
// host answers later, from any thread (or from inside this call), with `ws_resolve_answer`.
// The task's connect timeout keeps running meanwhile: without an answer in time the task fails
// with `WS_ERR_TIMEOUT` (`"connectSocket:fail timeout: no answer from the resolver for
// \"host\""`). The URL's host stays the TLS server name and the Host header.
typedef void (*ws_resolve_cb)(int64_t request_id, const char *host, uint16_t port, void *user_data);

// Runtime configuration for `ws_init`. Fill with `ws_config_init`, then change fields; every
// zero field means its default.
typedef struct ws_config {
  // `sizeof(ws_config)`: set by `ws_config_init`. Fields are only ever appended, so a struct
  // from an older header (a smaller size some release had) still works, the fields it lacks at
  // their defaults. Any other size (one that ends inside a field, or a newer header's, larger
  // than this library knows) makes `ws_init` return `WS_ERR_INVALID_ARGUMENT`.
  uint32_t struct_size;
  // Open-or-connecting sockets per group. Default 5 (WeChat's limit).
  uint32_t max_connections_per_group;
  // Largest message sent or received, in bytes. Default 64 MiB.
  uint64_t max_message_size;
  // Bytes a task may have queued but not yet written to the kernel. A send that would pass it
  // fails with `WS_ERR_QUEUE_FULL` (one message up to `max_message_size` is always accepted
  // into an empty queue). Default 64 MiB.
  uint64_t max_send_queue;
  // Default connect timeout (DNS + TCP + handshake) for tasks that give none. Default 60000.
  uint32_t connect_timeout_ms;
  // How long to wait for the server's side of the close handshake before dropping the
  // connection (and during `ws_shutdown`). Default 5000.
  uint32_t close_timeout_ms;
  // wss://: extra CA certificates to trust (`ca_pem_len` bytes of PEM, one or more
  // CERTIFICATE blocks), beside the Mozilla roots built into the library. Copied by `ws_init`.
  const uint8_t *ca_pem;
  size_t ca_pem_len;
  // wss://: also trust the operating system's certificate store where it can be read
  // (Linux files, macOS/iOS keychain, Windows store; not Android). Default false.
  bool use_system_roots;
  // DANGEROUS, development only: accept any server certificate (unknown issuer, wrong host,
  // expired) for every wss:// task, like the "don't verify" switch of WeChat's developer tools.
  // Anyone on the network path can then read and change the traffic. Default false.
  bool dangerous_skip_certificate_verification;
  // Happy Eyeballs (RFC 8305): how long, in ms, a connection attempt to one address runs
  // alone before the next address is tried in parallel (an attempt that fails starts the
  // next at once). Attempts already started keep running until one connects; the others are
  // then closed. Addresses are tried with the families interleaved, starting with the family
  // of the resolver's first address. Default 250 (the RFC's); values below 10 are raised to
  // 10 (the RFC's floor). A `ws_config` of the earlier layout, without this field and the
  // ones after it, is still accepted.
  uint32_t connection_attempt_delay_ms;
  // The host's resolver (see `ws_resolve_cb`), asked for the host name of every task whose
  // URL names a host (not an IP address) and that gave no `ws_connect_options.addresses`.
  // NULL (the default): libws resolves names with the system's resolver (getaddrinfo, on
  // threads of its own).
  ws_resolve_cb resolver;
  void *resolver_user_data;
  // wss://: public key pins for every task (`certificate_pin_count` NUL-terminated strings),
  // each `sha256/<base64>`: the SHA-256 of a certificate's SubjectPublicKeyInfo, as OkHttp's
  // `CertificatePinner` and HPKP write it (`openssl x509 -pubkey -noout | openssl pkey -pubin
  // -outform der | openssl dgst -sha256 -binary | base64`). The chain is verified as usual
  // first; then one certificate of it (the server's, an intermediate, or the trusted root the
  // chain leads to) must match a pin, or the task fails with `WS_ERR_TLS`
  // (`"connectSocket:fail certificate: pinning failed: ... the chain's pins (server first):
  // sha256/..., ...; pinned: sha256/..."`). Pins never weaken verification; with
  // `dangerous_skip_certificate_verification` they are still checked, against the
  // certificates the server sent. A task's own pins (`ws_connect_options.certificate_pins`)
  // are added to these. A string that is not a pin makes `ws_init` return
  // `WS_ERR_INVALID_ARGUMENT`. NULL / 0 (the default): no pinning. Copied by `ws_init`.
  const char *const *certificate_pins;
  size_t certificate_pin_count;
  // wss://, mutual TLS: the client certificate for every task, presented when a server asks
  // for one: `client_cert_pem_len` bytes of PEM, the certificate first, then any
  // intermediates. Needs `client_key_pem`. A task's own
  // (`ws_connect_options.client_cert_pem`) replaces it. NULL / 0 (the default): none; a
  // server that requires one then refuses the handshake (`WS_ERR_TLS`). Copied by `ws_init`.
  const uint8_t *client_cert_pem;
  size_t client_cert_pem_len;
  // The private key of `client_cert_pem`: `client_key_pem_len` bytes of unencrypted PEM,
  // PKCS#8 (`BEGIN PRIVATE KEY`), SEC1 (`BEGIN EC PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE
  // KEY`). A key that does not parse or does not match the certificate, a certificate that
  // does not parse, or one given without the other makes `ws_init` return
  // `WS_ERR_INVALID_ARGUMENT`. Copied by `ws_init`; libws keeps the key in memory while a
  // configuration uses it.
  const uint8_t *client_key_pem;
  size_t client_key_pem_len;
  // The proxy every task connects through (unless it sets its own, or `no_proxy`), as a
  // NUL-terminated URL: `http://[user:password@]host[:port]` (HTTP `CONNECT`, port 80 by
  // default; credentials sent as Basic) or `socks5://[user:password@]host[:port]` (RFC 1928
  // with RFC 1929 username/password; port 1080 by default; `socks5h://` the same). User name
  // and password may be %-escaped. ws:// and wss:// both go through the tunnel (TLS runs end
  // to end with the server). The proxy's host is resolved (and its addresses tried with Happy
  // Eyeballs, each socket through the socket hook); the server's name goes to the proxy,
  // which resolves it. The connect timeout covers the proxy's answer. A proxy that refuses,
  // answers garbage, closes or does not answer in time fails the task with `WS_ERR_PROXY`.
  // Credentials never appear in errMsgs or logs. A URL that does not parse makes `ws_init`
  // return `WS_ERR_INVALID_ARGUMENT`. NULL or "" (the default): no proxy. Copied by
  // `ws_init`.
  const char *proxy;
} ws_config;

// One HTTP header: two NUL-terminated strings.
typedef struct ws_header {
  const char *name;
  const char *value;
} ws_header;

// `WS_EVENT_OPEN`: response headers and the subprotocol the server chose ("" if none).
typedef struct ws_open_event {
  const struct ws_header *headers;
  size_t header_count;
  const char *protocol;
  // The extensions in effect, as the server's Sec-WebSocket-Extensions header named them ("" if
  // none), like the browser's `WebSocket.extensions`: e.g.
  // `"permessage-deflate; client_max_window_bits=15"`.
  const char *extensions;
  // True when permessage-deflate was negotiated (the task asked with
  // `ws_connect_options.per_message_deflate` and the server agreed).
  bool compressed;
} ws_open_event;

// `WS_EVENT_MESSAGE`: one whole message. `data` is not NUL-terminated; it may be NULL when
// `len` is 0. Text is valid UTF-8.
typedef struct ws_message_event {
  const uint8_t *data;
  size_t len;
  // `WS_TEXT` or `WS_BINARY`.
  uint32_t kind;
} ws_message_event;

// `WS_EVENT_ERROR`: why the connection failed; a close event follows.
typedef struct ws_error_event {
  // A negative `WS_ERR_*` code.
  int32_t code;
  // `"connectSocket:fail <detail>"` while connecting, `"onSocketError:fail <detail>"` after open.
  const char *err_msg;
} ws_error_event;

// `WS_EVENT_CLOSE`: the task is CLOSED. `code` is the server's close code (or, for a client
// close, the code the server echoed), 1005 when the close frame had none, 1006 when the
// connection dropped or was aborted without a close handshake.
typedef struct ws_close_event {
  uint16_t code;
  // NUL-terminated UTF-8; "" when there is none. A NUL byte inside the server's reason is
  // replaced with U+FFFD.
  const char *reason;
  // Bytes in `reason` (strlen(reason)).
  size_t reason_len;
  // True when the close handshake completed.
  bool was_clean;
} ws_close_event;

// The connection profile of `WS_EVENT_OPEN` (`ws_event.profile`): when each phase of the
// set-up happened and what the connection turned out to be. Every `*_us` field is a timestamp in
// microseconds on libws's monotonic clock (one clock for every task of the process, its origin
// just before the first `ws_connect`: compare them with each other, not with other clocks); a
// phase that did not happen has the time of the phase before it, as in WeChat, except the TLS
// times of ws://, which are 0. In order: `fetch_start_us <= domain_lookup_start_us <=
// domain_lookup_end_us <= connect_start_us <= tls_start_us <= tls_end_us == connect_end_us <=
// open_us` (for ws://, `connect_end_us` is when TCP connected).
//
// WeChat's `SocketTask.onOpen` `res.profile` (numbers in milliseconds; its timestamps are Unix
// epoch milliseconds) is filled from it as follows, with `ms(t) = (fetch_start_unix_us + (t -
// fetch_start_us)) / 1000.0`:
//
// | WeChat              | from `ws_profile`                                  |
// |---------------------|----------------------------------------------------|
// | `fetchStart`        | `ms(fetch_start_us)`                               |
// | `domainLookUpStart` | `ms(domain_lookup_start_us)`                       |
// | `domainLookUpEnd`   | `ms(domain_lookup_end_us)`                         |
// | `connectStart`      | `ms(connect_start_us)`                             |
// | `connectEnd`        | `ms(connect_end_us)` (TLS included, as WeChat's)   |
// | `rtt`               | `(connect_end_us - connect_start_us) / 1000.0`     |
// | `handshakeCost`     | `(open_us - connect_end_us) / 1000.0`              |
// | `cost`              | `(open_us - fetch_start_us) / 1000.0`              |
//
// `rtt` is WeChat's "time of one connection, connect and TLS included"; `handshakeCost` its
// "handshake time", here the WebSocket upgrade (request sent to response checked); `cost` its
// "time from the request to the answer".
typedef struct ws_profile {
  // `ws_connect` was called.
  uint64_t fetch_start_us;
  // The lookup of the URL's host began (system resolver or `ws_config.resolver`);
  // `fetch_start_us` when none was made (an IP address URL, `ws_connect_options.addresses`).
  uint64_t domain_lookup_start_us;
  // The addresses arrived; `domain_lookup_start_us` when no lookup was made.
  uint64_t domain_lookup_end_us;
  // The TCP connection attempt that won began (Happy Eyeballs may have started others
  // earlier: see `attempts`), like WeChat's connectStart after a transport error.
  uint64_t connect_start_us;
  // wss://: the TLS handshake began (TCP connected); 0 for ws://.
  uint64_t tls_start_us;
  // wss://: the TLS handshake finished; 0 for ws://.
  uint64_t tls_end_us;
  // The connection was ready for the WebSocket handshake: TLS finished (wss://) or TCP
  // connected (ws://).
  uint64_t connect_end_us;
  // The server's handshake response was checked: the task became OPEN.
  uint64_t open_us;
  // The wall-clock time at `fetch_start_us`, in microseconds since the Unix epoch: the anchor
  // that turns the monotonic timestamps into WeChat's (see above).
  int64_t fetch_start_unix_us;
  // The TCP connection attempts made (one per address tried, the winner included).
  uint32_t attempts;
  // wss://: the TLS session was resumed (an abbreviated handshake with a session ticket from
  // an earlier connection to the server); false for a full handshake and for ws://.
  bool tls_resumed;
  // wss://: the TLS version, `"TLSv1.3"` or `"TLSv1.2"`; `""` for ws://.
  const char *tls_version;
  // wss://: the cipher suite's IANA name (as OpenSSL names TLS 1.3 suites), e.g.
  // `"TLS_AES_256_GCM_SHA384"`; `""` for ws://.
  const char *tls_cipher;
  // The address connected to, `"127.0.0.1:8080"` or `"[::1]:8080"` (with a proxy: the proxy's).
  const char *peer_address;
  // With a proxy (`ws_connect_options.proxy` / `ws_config.proxy`): the tunnel exchange began
  // (TCP to the proxy connected), so `connect_start_us`..`proxy_start_us` is the connection to
  // the proxy; 0 without a proxy. Appended after `peer_address` (issue 15): the profile is
  // libws's, so a host that reads only the members before it is not affected.
  uint64_t proxy_start_us;
  // With a proxy: the proxy opened the tunnel (CONNECT answered 2xx, SOCKS5 succeeded); TLS
  // (wss://) starts here and `connect_end_us` includes the tunnel. 0 without a proxy.
  uint64_t proxy_end_us;
} ws_profile;

// One event of one task. Only the member named by `kind` is meaningful; the others are zeroed.
// The struct and everything it points to are valid only for the duration of the callback.
typedef struct ws_event {
  // `WS_EVENT_OPEN`, `WS_EVENT_MESSAGE`, `WS_EVENT_ERROR` or `WS_EVENT_CLOSE`.
  uint32_t kind;
  int64_t task_id;
  struct ws_open_event open;
  struct ws_message_event message;
  struct ws_error_event error;
  struct ws_close_event close;
  // `WS_EVENT_OPEN`: the connection profile (see `ws_profile`); NULL for the other kinds.
  // Appended after `close` in libws 0.1 (issue 14): the event is libws's, so a host built
  // against an older header, which reads only the members before it, is not affected.
  const struct ws_profile *profile;
} ws_event;

// Called for each event, on the libws thread (or, for a task bound to a dispatcher, inside
// `ws_dispatch` on the host's thread), with no library lock held. It may call any `ws_*`
// function except `ws_init` and `ws_shutdown`. It must return (not longjmp or throw).
typedef void (*ws_event_cb)(const struct ws_event *event, void *user_data);

// The outcome of one call (`ws_connect`, `ws_send`, `ws_close`, `ws_close_group`).
//
// `err_msg` is NUL-terminated UTF-8 in the mini-program format: `"connectSocket:ok"`,
// `"sendSocketMessage:fail socket is not OPEN"`, `"closeSocket:fail invalid close code 999: ..."`.
// The struct and its string are valid only for the duration of the callback: copy what you keep.
typedef struct ws_result {
  // The task the call was about (0 for `ws_close_group`).
  int64_t task_id;
  // `WS_OK` (success) or a negative `WS_ERR_*` code (fail).
  int32_t code;
  const char *err_msg;
} ws_result;

// Called exactly once per call that takes it, on the libws thread (or, for a task bound to a
// dispatcher, inside `ws_dispatch` on the host's thread), with no library lock held.
// Plays the role of success/fail/complete: success when `result->code == WS_OK`.
typedef void (*ws_result_cb)(const struct ws_result *result, void *user_data);

// The socket hook: called on the libws thread with each TCP socket of a task after it is created
// and before it connects (one call per address tried), so a host can bind it to a network
// (Android `Network.bindSocket`, WeChat's forceCellularNetwork) or set options. Return 0 to go
// on; any other value refuses the socket and the task fails with `WS_ERR_CONNECT`. Do not close
// the fd.
typedef int32_t (*ws_socket_cb)(int64_t task_id, int32_t fd, void *user_data);

// Options for `ws_connect`. Fill with `ws_connect_options_init`, then set fields; zero values
// are the defaults. The library copies everything it needs before `ws_connect` returns.
typedef struct ws_connect_options {
  // `sizeof(ws_connect_options)`: set by `ws_connect_options_init`. Fields are only ever
  // appended, so a struct from an older header (a smaller size some release had) still works,
  // the fields it lacks at their defaults. Any other size (one that ends inside a field, or a
  // newer header's, larger than this library knows) is refused: `ws_connect` returns
  // `WS_ERR_INVALID_ARGUMENT` and, if the size covers `on_result` and `result_user_data`, calls
  // `on_result` with `"connectSocket:fail ws_connect_options.struct_size is N, ..."`.
  uint32_t struct_size;
  // NUL-terminated `ws://` or `wss://` URL. Required. Its path and query may hold any UTF-8:
  // bytes a request line cannot carry are sent percent-encoded (`/路径?q=值` as
  // `/%E8%B7%AF%E5%BE%84?q=%E5%80%BC`, as browsers do); escapes already there are kept.
  const char *url;
  // Extra request headers (`header_count` of them). Referer, Host, Upgrade, Connection and
  // Sec-WebSocket-* are refused with `WS_ERR_INVALID_HEADER`.
  const struct ws_header *headers;
  size_t header_count;
  // Subprotocols to offer (`protocol_count` NUL-terminated tokens).
  const char *const *protocols;
  size_t protocol_count;
  // Set TCP_NODELAY on the socket. Default false, as WeChat.
  bool tcp_no_delay;
  // Connect timeout in ms covering DNS, TCP and the handshake. 0 = the runtime default
  // (60000 unless configured).
  uint32_t timeout_ms;
  // The first listener of this task, registered before any event can fire. May be NULL.
  ws_event_cb on_event;
  void *event_user_data;
  // Called once with the result of this call. May be NULL.
  ws_result_cb on_result;
  void *result_user_data;
  // The mini-program instance this socket counts against (the per-group limit and
  // `ws_close_group`). Any value; 0 is a group like the others.
  uint64_t group;
  // Heartbeat: after this many ms without any frame from the server, send a ping. 0 = off
  // (the default).
  uint32_t ping_interval_ms;
  // Heartbeat: if nothing arrives within this many ms after a ping, the connection is dead:
  // error `WS_ERR_TIMEOUT` ("onSocketError:fail heartbeat timeout ...") then close 1006.
  // 0 = the ping interval.
  uint32_t pong_timeout_ms;
  // Optional socket hook (see `ws_socket_cb`) and its user_data.
  ws_socket_cb on_socket;
  void *socket_user_data;
  // wss://: extra CA certificates (PEM) trusted for this task only, on top of the runtime's.
  const uint8_t *ca_pem;
  size_t ca_pem_len;
  // DANGEROUS, development only: accept any server certificate for this task. See
  // `ws_config.dangerous_skip_certificate_verification`.
  bool dangerous_skip_certificate_verification;
  // perMessageDeflate: offer permessage-deflate compression (RFC 7692) in the handshake.
  // When the server agrees, messages are compressed and decompressed transparently (the open
  // event's `compressed` says so); a decompressed message over `max_message_size` closes the
  // connection with 1009. Default false, as WeChat.
  bool per_message_deflate;
  // The dispatcher this task's results and events go to (see `ws_dispatcher_new`): they are
  // queued there and run on the host thread that calls `ws_dispatch`, never on the libws
  // thread, and the task's readyState follows what was dispatched. NULL (the default): the
  // group's default dispatcher (`ws_set_group_dispatcher`) if it has one, else callbacks run
  // on the libws thread. A pointer that is not a live dispatcher is refused with
  // `WS_ERR_INVALID_ARGUMENT`. A struct of the earlier layout without this field (struct_size
  // 144 on 64-bit targets) is still accepted: no dispatcher named.
  struct ws_dispatcher *dispatcher;
  // The host's own addresses for the URL's host (`address_count` NUL-terminated strings), e.g.
  // from its HTTP DNS service or cache: each an IP address with or without a port (`1.2.3.4`,
  // `1.2.3.4:8443`, `::1`, `[::1]:8443`; without one, the URL's port). libws then does no
  // lookup of its own and tries them with Happy Eyeballs (see
  // `ws_config.connection_attempt_delay_ms`), the families interleaved starting with the first
  // address's. The URL's host stays the TLS server name and the Host header. A string that is
  // not an IP address is refused with `WS_ERR_INVALID_ARGUMENT`
  // (`"connectSocket:fail addresses[1]: \"x\" is not an IP address ..."`). NULL / 0 (the
  // default): the runtime's resolver (`ws_config.resolver`), else the system's. Copied by
  // `ws_connect`. Struct sizes of earlier layouts without these fields are still accepted.
  const char *const *addresses;
  size_t address_count;
  // wss://: public key pins for this task (`sha256/<base64>` strings), added to the runtime's
  // (`ws_config.certificate_pins`, which says how they are checked). A string that is not a
  // pin is refused with `WS_ERR_INVALID_ARGUMENT` (`"connectSocket:fail certificate_pins[0]:
  // \"x\" is not a pin ..."`). NULL / 0 (the default): only the runtime's pins. Copied by
  // `ws_connect`.
  const char *const *certificate_pins;
  size_t certificate_pin_count;
  // wss://, mutual TLS: this task's client certificate and key (PEM, as
  // `ws_config.client_cert_pem` / `client_key_pem` describe), replacing the runtime's. A bad
  // or mismatched pair is refused at the call with `WS_ERR_INVALID_ARGUMENT`
  // (`"connectSocket:fail client certificate: the private key does not match the
  // certificate"`). NULL / 0 (the default): the runtime's, if any. Copied by `ws_connect`.
  const uint8_t *client_cert_pem;
  size_t client_cert_pem_len;
  const uint8_t *client_key_pem;
  size_t client_key_pem_len;
  // This task's proxy URL (the forms of `ws_config.proxy`), used instead of the runtime's.
  // With a proxy, `addresses` are not used (the proxy resolves the server's name). A URL that
  // does not parse is refused with `WS_ERR_INVALID_ARGUMENT` (`"connectSocket:fail proxy:
  // scheme must be http://, socks5:// or socks5h://"`; the URL itself is not repeated, it
  // may hold a password). NULL or "" (the default): the runtime's proxy, if any. Copied by
  // `ws_connect`.
  const char *proxy;
  // Connect directly even if the runtime has a proxy (`ws_config.proxy`), e.g. for a server
  // on the local network. Default false.
  bool no_proxy;
} ws_connect_options;

// A logger: `message` is a NUL-terminated UTF-8 line without newline, valid during the call.
// Called from libws threads (the loop thread, resolver threads) and from the thread calling
// `ws_*`, possibly concurrently: it must be thread-safe. It may not call `ws_set_logger`.
typedef void (*ws_log_cb)(int32_t level, const char *message, void *user_data);

// The dispatcher's wake callback: called when its queue goes from empty to non-empty (on the
// libws thread), and at the end of a `ws_dispatch` call that leaves items queued (on the thread
// that called it). It must not block and must not call `ws_dispatch` itself: it should only
// tell the host's thread to call `ws_dispatch` soon (`uv_async_send`, `Handler.post`,
// `dispatch_async`, `Executor.execute`). No library lock is held while it runs.
typedef void (*ws_wake_cb)(void *user_data);

// Options for `ws_dispatcher_new`. Fill with `ws_dispatcher_options_init`, then set fields;
// zero values are the defaults.
typedef struct ws_dispatcher_options {
  // `sizeof(ws_dispatcher_options)`: set by `ws_dispatcher_options_init` (versioned like
  // `ws_connect_options.struct_size`).
  uint32_t struct_size;
  // Back-pressure: bytes of queued, not yet dispatched items (message bytes plus about 128
  // per item) past which libws stops reading the sockets of the tasks bound to this
  // dispatcher, so the server is held back by TCP. Reading resumes when `ws_dispatch` has
  // brought the queue down to half of it. A soft bound: a read pass under way ends first (up
  // to 1 MiB per task), and a message being received is held by its task (up to
  // `max_message_size`) until it is whole. While reading is paused, frames behind the queued
  // data (pings, the server's close) are not seen: pings are answered and the close handshake
  // finishes once the host dispatches; the heartbeat does not count the pause as the
  // server's silence; connect and close timeouts keep running. 0 = 16 MiB.
  uint64_t max_pending_bytes;
  // Optional: see `ws_wake_cb`.
  ws_wake_cb on_wake;
  void *wake_user_data;
} ws_dispatcher_options;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

// Fills `config` with the defaults and sets `struct_size`.
//
// Returns `WS_OK`, or `WS_ERR_INVALID_ARGUMENT` when `config` is NULL.
//
// # Safety
//
// `config` is NULL or points to `ws_config_size()` writable bytes, aligned for `ws_config`.
int32_t ws_config_init(struct ws_config *config);

// Zeroes `options` (every option at its default) and sets `struct_size`.
//
// Returns `WS_OK`, or `WS_ERR_INVALID_ARGUMENT` when `options` is NULL.
//
// # Safety
//
// `options` is NULL or points to `ws_connect_options_size()` writable bytes, aligned for
// `ws_connect_options`.
int32_t ws_connect_options_init(struct ws_connect_options *options);

// `sizeof(ws_config)` in this library, for hosts whose FFI has no `sizeof` (koffi, JNA,
// ctypes): allocate at least this many bytes, then call `ws_config_init` on them.
size_t ws_config_size(void);

// `sizeof(ws_connect_options)` in this library, for hosts whose FFI has no `sizeof`: allocate at
// least this many bytes, then call `ws_connect_options_init` on them. A binding that declares the
// struct itself can compare its own size with this one to catch a layout mismatch.
size_t ws_connect_options_size(void);

// Starts the runtime (the libws thread) with `config`; NULL means the defaults. Optional: any
// other call starts the runtime with the defaults if it is not running. The logger may be
// called during this call (on this thread, with no libws lock held).
//
// Returns `WS_OK`; `WS_ERR_ALREADY_RUNNING` if the runtime runs (call `ws_shutdown` first);
// `WS_ERR_INVALID_ARGUMENT` for a config whose `struct_size` is not the size of a released
// `ws_config` (see `ws_config.struct_size`), bad CA PEM or a bad pin; `WS_ERR_WRONG_THREAD`
// from a callback; `WS_ERR_RUNTIME` if the thread or poller could not be created.
// The library copies the config; the caller keeps ownership of it.
//
// # Safety
//
// `config` is NULL or points to a `ws_config` of at least `struct_size` readable bytes (filled
// by `ws_config_init`), whose pointers are NULL or valid as their fields say (a string
// NUL-terminated, an array of its count, PEM of its length) until the call returns.
int32_t ws_init(const struct ws_config *config);

// Stops the runtime: every task that is not CLOSED is closed with code 1001 (connecting ones are
// aborted: close 1006), each delivers its close event, the libws thread is joined and all memory
// freed. Close handshakes still unfinished after `close_timeout_ms` are cut (error event, then
// close 1006). Global listeners are removed.
//
// While it runs, other calls are refused: `ws_connect`, `ws_send`, `ws_close` and
// `ws_close_group` return `WS_ERR_SHUTTING_DOWN` and their result callback gets that code, on
// the libws thread, before `ws_shutdown` returns; `ws_on_event` returns `WS_ERR_SHUTTING_DOWN`.
// A call accepted before that (it returned an id or `WS_OK`) completes as usual: its result, and
// for a connect its close event, are delivered before `ws_shutdown` returns. A call made once
// the libws thread is finishing (or after `ws_shutdown` returned) starts a fresh runtime.
//
// Host name lookups still running get until `close_timeout_ms` to end; a lookup stuck longer in
// the system resolver (getaddrinfo cannot be cancelled) keeps its `libws-dns` thread until it
// returns: that thread then holds no socket, descriptor or runtime state, posts nothing and
// exits. Do not unload the library (dlclose) while such a lookup may still run.
//
// Tasks bound to a dispatcher: their close events (and results) are queued on it before this
// returns, and run when the host dispatches them (`ws_ready_state` reports such a task as the
// host has seen it until then). A host thread that must not block uses `ws_shutdown_async`.
//
// Blocks until done (about `close_timeout_ms` at most, plus the time callbacks take). Returns
// `WS_OK` (also when nothing was running), or `WS_ERR_WRONG_THREAD` when called from a libws
// callback, including one run by `ws_dispatch`.
int32_t ws_shutdown(void);

// Answers a request of the host's resolver (`ws_config.resolver`), from any thread, also from
// inside the resolver callback. `request_id` is the id the resolver was called with (the
// task's). Either `err_msg` (NUL-terminated UTF-8: the lookup failed; `addresses` is then
// ignored) or `address_count` addresses (NUL-terminated strings, each an IP address with or
// without a port, as in `ws_connect_options.addresses`; without one, the URL's port). Everything
// is copied before the call returns.
//
// A failed lookup fails the task with `WS_ERR_DNS`: `"connectSocket:fail could not resolve host
// \"<host>\": <err_msg>"`. The addresses are tried with Happy Eyeballs, in the order given.
//
// Returns `WS_OK` when the answer was taken (an answer to a task that no longer waits for one,
// a second answer or one after its connect timeout, is ignored); `WS_ERR_INVALID_ARGUMENT` for
// an answer with no address and no err_msg, a NULL entry or a string that is not an IP address:
// the task then fails with `WS_ERR_DNS` ("... the resolver's answer was refused:
// addresses[1]: \"x\" is not an IP address ..."); `WS_ERR_UNKNOWN_TASK` for an id never
// handed out; `WS_ERR_CLOSED` when the task is closed (it timed out or was closed);
// `WS_ERR_SHUTTING_DOWN` while `ws_shutdown` runs.
//
// # Safety
//
// `addresses` is NULL or points to `address_count` pointers, each NULL or a NUL-terminated
// string; `err_msg` is NULL or a NUL-terminated string; all readable until the call returns.
int32_t ws_resolve_answer(int64_t request_id,
                          const char *const *addresses,
                          size_t address_count,
                          const char *err_msg);

// Opens a WebSocket (the mini-program `connectSocket`).
//
// Returns the new task's `socketTaskId` (> 0), unique for the life of the process, or a negative
// `WS_ERR_*` code when the call is refused. `options` and everything it points to are copied
// before the call returns.
//
// `options->on_result` is called exactly once, on the libws thread (never inside this call):
// `"connectSocket:ok"` once the connection attempt has started (as on WeChat, success does not
// mean open), or `"connectSocket:fail <detail>"` with the same code this function returned:
// invalid url, forbidden header, `exceed max concurrent count (5)`, runtime is shutting down
// (`WS_ERR_SHUTTING_DOWN`, while `ws_shutdown` runs)... There is no callback only when `options`
// is NULL, when its `struct_size` is wrong and too small to cover `on_result` and
// `result_user_data` (0 when unset), or for `WS_ERR_RUNTIME` (the libws thread could not be
// created): then the return value is the only report.
//
// When an id is returned, `options->on_event` (and any listener added later) gets, in order: open
// or error, messages, then exactly one close event, and nothing after it. Network failures while
// connecting (DNS, refused, timeout, handshake) are an error event
// (`"connectSocket:fail <detail>"`) followed by close 1006.
//
// # Safety
//
// `options` is NULL or points to a `ws_connect_options` of at least `struct_size` readable
// bytes (filled by `ws_connect_options_init`), whose pointers are NULL or valid as their fields
// say (a string NUL-terminated, an array of its count, PEM of its length) until the call
// returns.
int64_t ws_connect(const struct ws_connect_options *options);

// Sends one message (`SocketTask.send`). `kind` is `WS_TEXT` (data must be UTF-8) or
// `WS_BINARY`. `data` may be NULL when `len` is 0. The bytes are copied before the call returns.
//
// Returns `WS_OK` if the message was queued, or the negative code of the failure. `on_result`
// (may be NULL) is called exactly once on the libws thread, never inside this call (so the caller
// may hold a lock of its own that the callback takes): `"sendSocketMessage:ok"` when the whole
// message has been written to the socket, or `"sendSocketMessage:fail <detail>"`: socket is not
// OPEN (readyState CONNECTING/CLOSING), socketTaskId N is closed, unknown socketTaskId, text
// message is not valid UTF-8, message too big, send queue full, runtime is shutting down, or the
// connection was lost before the message was written. Only a call that returns `WS_ERR_RUNTIME`
// (the libws thread could not be created) gets no callback.
//
// # Safety
//
// `data` is NULL or points to `len` readable bytes until the call returns (`len` is checked
// against `max_message_size` before `data` is read).
int32_t ws_send(int64_t task_id,
                const uint8_t *data,
                size_t len,
                uint32_t kind,
                ws_result_cb on_result,
                void *user_data);

// Closes a task (`SocketTask.close`). `code` is 1000 or 3000–4999 (0 means 1000); `reason` is a
// NUL-terminated UTF-8 string of at most 123 bytes, or NULL for none. The reason is copied.
//
// An OPEN task is CLOSING as soon as this returns (sends are refused from then on) and starts the
// close handshake (the close event follows when the server
// answers, or after `close_timeout_ms`). A CONNECTING task is aborted: close event 1006 with no
// error event. A task already CLOSING is left as it is. A task bound to a dispatcher whose open
// event has not been dispatched yet is CONNECTING for this rule and is aborted, even if it has
// opened meanwhile: its queued events are dropped and its close event is 1006, never an open
// after this call; one whose close event is queued but not dispatched gets `"closeSocket:ok"`.
//
// Returns `WS_OK` or the negative code of the failure. `on_result` (may be NULL) is called once on
// the libws thread, never inside this call: `"closeSocket:ok"`, or `"closeSocket:fail <detail>"`
// (invalid close code, reason too long or not UTF-8, socketTaskId N is closed, unknown
// socketTaskId, runtime is shutting down); a failed close sends nothing. Only a call that returns
// `WS_ERR_RUNTIME` gets no callback.
//
// # Safety
//
// `reason` is NULL or a NUL-terminated string, readable until the call returns.
int32_t ws_close(int64_t task_id,
                 int32_t code,
                 const char *reason,
                 ws_result_cb on_result,
                 void *user_data);

// Closes every task of `group` (the host's mini-program went to the background or exited), as
// `ws_close` would each one, with the same code and reason rules plus 1001 ("going away": for
// when the mini-program exits; `ws_close` refuses it for a single task). Its OPEN tasks are
// CLOSING as soon as this returns (sends are refused from then on), its CONNECTING ones are
// aborted. Each task delivers its own close event. `on_result` (may be NULL) is called once with
// task_id 0: `"closeSocket:ok"`, or `"closeSocket:fail <detail>"` for a bad code or reason (then
// nothing is closed).
//
// # Safety
//
// `reason` is NULL or a NUL-terminated string, readable until the call returns.
int32_t ws_close_group(uint64_t group,
                       int32_t code,
                       const char *reason,
                       ws_result_cb on_result,
                       void *user_data);

// The device's network changed (Wi-Fi to cellular, a new default network from Android's
// `ConnectivityManager.NetworkCallback`, iOS `NWPathMonitor`): connections on the old path may
// be dead without a sign, and TCP would take minutes to notice. Every OPEN task of `group` (of
// every group when `all_groups` is true; `group` is then ignored) sends a ping at once and must
// hear anything from the server (its pong, a message) within `probe_timeout_ms` (0: 3000);
// a task that does not fails with an error event `WS_ERR_TIMEOUT` (`"onSocketError:fail network
// changed: no answer to the probe within N ms"`) and close 1006. Tasks that answer carry on
// untouched; CONNECTING and CLOSING tasks are left to their own timeouts. A task whose reading is
// paused by its dispatcher (`ws_dispatcher_options.max_pending_bytes`) when its deadline comes is
// not failed. A second call while a task's probe is out keeps the earlier deadline.
//
// Returns `WS_OK` (also when no runtime is running: there is nothing to probe, and none is
// started), or `WS_ERR_SHUTTING_DOWN` once `ws_shutdown` has stopped taking commands. No result
// callback. May be called from any thread, including from inside a libws callback.
int32_t ws_network_changed(uint64_t group, bool all_groups, uint32_t probe_timeout_ms);

// Adds an event listener for one task (`task_id` > 0: `SocketTask.onOpen/onMessage/...`) or for
// every task (`task_id` == 0: the global `onSocket*` listeners). Listeners are called on the
// libws thread in the order they were added, a task's own before the global ones; for a task
// bound to a dispatcher, inside `ws_dispatch` (global listeners included), looked up when the
// event is dispatched, so one added before that gets it.
//
// Returns a handle (> 0) for `ws_off_event`, or `WS_ERR_INVALID_ARGUMENT` (NULL callback),
// `WS_ERR_CLOSED` (the task is already CLOSED), `WS_ERR_UNKNOWN_TASK`, `WS_ERR_SHUTTING_DOWN`
// (while `ws_shutdown` runs). `user_data` is passed back
// as is; the caller owns it and may free it once `ws_off_event` returned or the task's close
// event was delivered.
int64_t ws_on_event(int64_t task_id, ws_event_cb on_event, void *user_data);

// Removes a listener added by `ws_on_event`. After it returns, the listener is not called again;
// called from another thread, it first waits for a call of that listener in progress to
// return. Called from a callback (also one run by `ws_dispatch`), it returns at once (no
// deadlock; a call running on another thread may then still be finishing). This holds while the task's
// close event is being delivered too: a task's listener that has not got the close event yet
// (or is getting it) is removed, and is not called with it.
//
// Returns `WS_OK` or `WS_ERR_UNKNOWN_LISTENER` (never added, already removed, or its task closed
// and the listener got the close event).
int32_t ws_off_event(int64_t handle);

// The task's readyState: `WS_CONNECTING`, `WS_OPEN`, `WS_CLOSING` or `WS_CLOSED` (also for every
// id that was issued and has closed). `WS_ERR_UNKNOWN_TASK` for an id never issued. Any thread.
// For a task bound to a dispatcher, the state its host has seen: OPEN once the open event was
// dispatched, CLOSED once the close event was (`ws_send` and `ws_close` go by the same state).
int32_t ws_ready_state(int64_t task_id);

// The task's `bufferedAmount` (the browser's `WebSocket.bufferedAmount`, OkHttp's
// `WebSocket.queueSize()`): how many bytes of the messages `ws_send` accepted (returned `WS_OK`)
// have not been written to the kernel yet, for a host that wants to slow down before sends fail
// with `WS_ERR_QUEUE_FULL`. Counted are the message payloads as given to `ws_send` (before
// permessage-deflate compression; no frame headers, pings or close frames). A message counts in
// full until its last byte reached the socket (over wss://: until rustls has written its last
// record to the socket), then it is taken off before its `on_result` callback runs; a message
// refused later (send queue full, the connection lost) is taken off when its failure is reported.
// Bytes already in the kernel's socket buffer are not counted.
//
// Returns the byte count (>= 0); 0 for a task that is CLOSED (every id that was issued and has
// closed: nothing more will be written) and for one with nothing waiting;
// `WS_ERR_UNKNOWN_TASK` for an id never issued. May be called from any thread, including from
// inside a libws callback; it never waits for the libws thread (one short table lookup and an
// atomic read), so the value may be stale by the time it is returned.
int64_t ws_buffered_amount(int64_t task_id);

// A static, NUL-terminated English message for a `WS_OK`/`WS_ERR_*` code ("unknown error code"
// for others). Never NULL; never free it.
const char *ws_strerror(int32_t code);

// Routes libws diagnostics to `logger` for levels up to `max_level` (`WS_LOG_ERROR` ..
// `WS_LOG_DEBUG`); a NULL logger or level 0 turns logging off (the default). libws never writes
// to stdout or stderr itself. `user_data` is passed back as is. The logger runs on the libws
// thread or on the thread whose call started the runtime, never with a libws lock held, so it
// may call ws_* functions.
//
// Returns `WS_OK`, or `WS_ERR_INVALID_ARGUMENT` for a level outside 0..=4.
int32_t ws_set_logger(ws_log_cb logger, void *user_data, int32_t max_level);

// Fills `options` with the defaults (zeroes) and sets `struct_size`.
//
// Returns `WS_OK`, or `WS_ERR_INVALID_ARGUMENT` when `options` is NULL.
//
// # Safety
//
// `options` is NULL or points to `ws_dispatcher_options_size()` writable bytes, aligned for
// `ws_dispatcher_options`.
int32_t ws_dispatcher_options_init(struct ws_dispatcher_options *options);

// `sizeof(ws_dispatcher_options)` in this library, for hosts whose FFI has no `sizeof` (see
// `ws_connect_options_size`).
size_t ws_dispatcher_options_size(void);

// Makes a dispatcher: a queue for the results and events of the tasks bound to it (by
// `ws_connect_options.dispatcher` or `ws_set_group_dispatcher`), which the host runs on its own
// thread with `ws_dispatch` instead of libws calling them on the libws thread. Make one per
// thread that runs host code (a JavaScript engine's thread, a Looper, a serial queue).
// `options` may be NULL (the defaults) and is copied. On success `*out` is the dispatcher; the
// caller owns it and frees it with `ws_dispatcher_free`. Dispatchers live independently of the
// runtime: they survive `ws_shutdown`.
//
// Returns `WS_OK`, `WS_ERR_INVALID_ARGUMENT` (`out` NULL, or a `struct_size` that is not the size
// of a released `ws_dispatcher_options`), or `WS_ERR_RUNTIME` (the pipe could not be made, e.g.
// out of file descriptors). Any thread.
//
// # Safety
//
// `options` is NULL or points to a `ws_dispatcher_options` of at least `struct_size` readable
// bytes (filled by `ws_dispatcher_options_init`); `out` is NULL or points to a writable
// `ws_dispatcher *`.
int32_t ws_dispatcher_new(const struct ws_dispatcher_options *options, struct ws_dispatcher **out);

// The dispatcher's file descriptor: the read end of a non-blocking, close-on-exec pipe that is
// readable while items wait for `ws_dispatch` (libws writes a byte when the queue becomes
// non-empty; `ws_dispatch` empties it). Watch it for readability (`uv_poll`, `ALooper_addFd`,
// `dispatch_source`, `poll`) and call `ws_dispatch` when it is; never read, write or close it.
// It may be readable with nothing queued (then `ws_dispatch` returns 0).
//
// Returns the fd (>= 0), or `WS_ERR_INVALID_ARGUMENT` for NULL or a freed dispatcher. Any
// thread.
int32_t ws_dispatcher_fd(const struct ws_dispatcher *dispatcher);

// Runs queued results and events on the calling thread, in the order libws queued them: up to
// `max_items`, or with 0 every item queued when the call began (items queued meanwhile wait for
// the next call, which the fd and the wake callback announce). They are the same `ws_result_cb`
// and `ws_event_cb` calls, with the same arguments and the same rule: what they point to is
// valid until the callback returns. No library lock is held while they run, and they count as
// "from a callback": `ws_off_event` returns at once, `ws_shutdown` and `ws_init` are refused
// (`WS_ERR_WRONG_THREAD`), `ws_shutdown_async` is fine.
//
// For a bound task, the readyState `ws_ready_state`, `ws_send` and `ws_close` go by is what has
// been dispatched: OPEN once its open event ran here, CLOSED once its close event ran here
// (the task's listeners run with the task already CLOSED, its group slot free).
//
// Returns the number of items run (>= 0); `WS_ERR_INVALID_ARGUMENT` (NULL or freed dispatcher);
// `WS_ERR_WRONG_THREAD` from the libws thread or from a callback this dispatcher is running;
// `WS_ERR_BUSY` while another thread runs `ws_dispatch` on the same dispatcher (it does not
// wait: the items run there, in order).
int64_t ws_dispatch(struct ws_dispatcher *dispatcher, uint32_t max_items);

// Frees a dispatcher. Refused with `WS_ERR_BUSY` while it is still needed: a task bound to it
// has not had its close event dispatched, items are queued, it is a group's default, or
// `ws_dispatch` runs on it. To free one: close its tasks (or `ws_shutdown`), dispatch until
// their close events ran, unset it as group default, then free it (from the thread that
// dispatches it).
//
// Returns `WS_OK`, `WS_ERR_BUSY`, or `WS_ERR_INVALID_ARGUMENT` (NULL or already freed).
int32_t ws_dispatcher_free(struct ws_dispatcher *dispatcher);

// Makes `dispatcher` the default of `group`: tasks connected later in that group with a NULL
// `ws_connect_options.dispatcher` are bound to it, and `ws_close_group(group, ...)` reports its
// result there. NULL unsets it. Tasks connected earlier keep what they had. The setting
// survives `ws_shutdown`.
//
// Returns `WS_OK`, or `WS_ERR_INVALID_ARGUMENT` for a freed dispatcher. Any thread.
int32_t ws_set_group_dispatcher(uint64_t group, struct ws_dispatcher *dispatcher);

// Starts `ws_shutdown` and returns at once, from any thread, callbacks included (a host thread
// must never wait for the network or for its own callbacks). Everything happens as in
// `ws_shutdown` (tasks closed with 1001, connecting ones aborted, calls refused with
// `WS_ERR_SHUTTING_DOWN` while it runs), on the libws thread.
//
// `on_done` (may be NULL) is called once, with task_id 0 and `"shutdown:ok"`, when the runtime
// has stopped: queued on `dispatcher` as its last item if it is not NULL (after the close events
// of its tasks), else on the libws thread as its last act. Close events of tasks bound to other
// dispatchers are queued there before the runtime stops. The libws thread is joined by the next
// `ws_shutdown` (or left to end on its own); a call made after `on_done` starts a fresh runtime.
// With no runtime running, one is started and stopped, so `on_done` still comes.
//
// Returns `WS_OK`, `WS_ERR_INVALID_ARGUMENT` (a freed dispatcher), or `WS_ERR_RUNTIME` (no
// libws thread could be started: `on_done` is not called).
int32_t ws_shutdown_async(struct ws_dispatcher *dispatcher, ws_result_cb on_done, void *user_data);

// The library version as a static NUL-terminated string, e.g. "0.1.0".
const char *ws_version(void);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* LIBWS_H */
