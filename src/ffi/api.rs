//! The exported functions. Each checks its arguments, turns the call into a command for the loop
//! thread, and never unwinds into C.

use std::ffi::CStr;
use std::mem::{offset_of, size_of};
use std::os::raw::{c_char, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::panic::guard;
use super::types::*;
use super::versioned::{declared_size, read_sized, zeroed};
use crate::buffered::Held;
use crate::callback::{Listener, ResultCb, SocketHook, UserData};
use crate::close_code::CloseCode;
use crate::command::{Command, ConnectRequest};
use crate::config::Config;
use crate::dispatcher::{self, Dispatcher};
use crate::error::{not_open, Api, Code, Failure};
use crate::handshake::Upgrade;
use crate::log::log;
use crate::options::{check_close, check_group_close, parse_address, parse_url};
use crate::pin::Pin;
use crate::ready_state::ReadyState;
use crate::registry::{absent, Route};
use crate::resolve::parse_answer;
use crate::runtime::{self, Handle};
use crate::shared::Shared;
use crate::tls::TlsOptions;

/// # Safety
///
/// `ptr` is NULL or a NUL-terminated string.
pub(crate) unsafe fn c_bytes<'a>(ptr: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: not NULL here, so a NUL-terminated string (the contract).
    (!ptr.is_null()).then(|| unsafe { CStr::from_ptr(ptr) }.to_bytes())
}

/// # Safety
///
/// `ptr` is NULL or points to `count` values.
pub(crate) unsafe fn c_slice<'a, T>(ptr: *const T, count: usize, what: &str) -> Result<&'a [T], Failure> {
    match (ptr.is_null(), count) {
        (_, 0) => Ok(&[]),
        (true, n) => Err(Failure::new(Code::InvalidArgument, format!("{} is NULL but its count is {}", what, n))),
        // SAFETY: not NULL here, so it points to `n` values (the contract).
        (false, n) => Ok(unsafe { std::slice::from_raw_parts(ptr, n) }),
    }
}

/// Copies `len` bytes of PEM; none when `ptr` is NULL.
///
/// # Safety
///
/// `ptr` is NULL or points to `len` readable bytes.
pub(crate) unsafe fn c_pem(ptr: *const u8, len: usize) -> Vec<u8> {
    if ptr.is_null() {
        Vec::new()
    } else {
        // SAFETY: not NULL here, so it points to `len` readable bytes (the contract).
        unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec()
    }
}

/// The trust fields `ws_config` and `ws_connect_options` share, as `TlsOptions`: extra CA,
/// client certificate and key, pins (named `pins_name` in an errMsg) and the dangerous switch.
pub(crate) struct CTrust {
    pub ca: (*const u8, usize),
    pub client_cert: (*const u8, usize),
    pub client_key: (*const u8, usize),
    pub pins: (*const *const c_char, usize),
    pub skip_verification: bool,
    pub system_roots: bool,
}

impl CTrust {
    /// Copies the fields into `TlsOptions`; fails on a bad pin.
    ///
    /// # Safety
    ///
    /// Each PEM pointer is NULL or points to its length in readable bytes; `pins.0` is NULL or
    /// points to `pins.1` NULL or NUL-terminated strings.
    pub(crate) unsafe fn read(&self, pins_name: &str) -> Result<TlsOptions, Failure> {
        // SAFETY: each PEM pointer is NULL or has its length in bytes (the contract).
        let (ca, cert, key) = unsafe {
            (
                c_pem(self.ca.0, self.ca.1),
                c_pem(self.client_cert.0, self.client_cert.1),
                c_pem(self.client_key.0, self.client_key.1),
            )
        };
        let mut tls = TlsOptions {
            extra_ca_pem: ca,
            system_roots: self.system_roots,
            skip_verification: self.skip_verification,
            client_cert_pem: cert,
            client_key_pem: key,
            ..Default::default()
        };
        // SAFETY: `pins.0` is NULL or has `pins.1` strings (the contract).
        tls.add_pins(unsafe { c_pins(self.pins.0, self.pins.1, pins_name) }?);
        Ok(tls)
    }
}

/// Reads a proxy URL; NULL or "" is none. The errMsg never repeats the URL (it may hold a
/// password).
///
/// # Safety
///
/// `ptr` is NULL or a NUL-terminated string.
pub(crate) unsafe fn c_proxy(ptr: *const c_char, what: &str) -> Result<Option<crate::proxy::Proxy>, Failure> {
    let bad = |why: String| Failure::new(Code::InvalidArgument, format!("{}: {}", what, why));
    // SAFETY: `ptr` is NULL or a NUL-terminated string (the contract).
    match unsafe { c_bytes(ptr) } {
        None | Some(b"") => Ok(None),
        Some(text) => {
            let text = std::str::from_utf8(text).map_err(|_| bad("not UTF-8".into()))?;
            crate::proxy::parse(text).map(Some).map_err(bad)
        }
    }
}

/// Reads `count` pins (`what` names the field in the errMsg).
///
/// # Safety
///
/// `ptr` is NULL or points to `count` NULL or NUL-terminated strings.
pub(crate) unsafe fn c_pins(ptr: *const *const c_char, count: usize, what: &str) -> Result<Vec<Pin>, Failure> {
    let mut pins = Vec::new();
    // SAFETY: `ptr` is NULL or points to `count` pointers (the contract).
    for (i, &p) in unsafe { c_slice(ptr, count, what) }?.iter().enumerate() {
        let bad = |why: String| Failure::new(Code::InvalidArgument, format!("{}[{}]: {}", what, i, why));
        // SAFETY: each of them is NULL or a NUL-terminated string (the contract).
        let text = unsafe { c_bytes(p) }.ok_or_else(|| bad("NULL".into()))?;
        pins.push(crate::pin::parse(text).map_err(bad)?);
    }
    Ok(pins)
}

/// Delivers a failure found on this thread through the loop, like every other result, and
/// returns its code.
fn report(shared: &Shared, task_id: i64, failure: Failure, result: ResultCb) -> i32 {
    let code = failure.code as i32;
    push(shared, Command::Report { task_id, failure, result });
    code
}

/// Queues a command for the loop. The caller holds a `runtime::Handle`, and the loop closes its
/// queue only when no call holds one, so this cannot fail; if it did, the command's result would
/// be reported lost (`ResultCb`'s `Drop`), still on the libws thread.
fn push(shared: &Shared, command: Command) -> i32 {
    match shared.queue.push(command) {
        Ok(()) => WS_OK,
        Err(_) => Code::ShuttingDown as i32,
    }
}

/// The runtime for one call. While `ws_shutdown` runs the call is refused: `WS_ERR_SHUTTING_DOWN`,
/// reported by the loop like any failure. When no runtime can be started (`WS_ERR_RUNTIME`) there
/// is no libws thread to call back on, so the callback is not called.
fn runtime_or_fail(task_id: i64, result: ResultCb) -> Result<(Handle, ResultCb), i32> {
    match runtime::get() {
        Ok(shared) if shared.is_stopping() => Err(report(&shared, task_id, Failure::plain(Code::ShuttingDown), result)),
        Ok(shared) => Ok((shared, result)),
        Err(f) => {
            result.forget();
            Err(f.code as i32)
        }
    }
}

struct Prepared {
    upgrade: Upgrade,
    secure: bool,
    host: String,
    port: u16,
    /// The host's own addresses for `host` (`ws_connect_options.addresses`), if it gave any.
    addresses: Option<Vec<std::net::SocketAddr>>,
}

/// Checks the connect options and builds the handshake request.
///
/// # Safety
///
/// Every pointer of `o` is NULL or valid as its field says (`ws_connect`'s contract).
unsafe fn prepare(o: &ws_connect_options) -> Result<Prepared, Failure> {
    // SAFETY: `url` is NULL or a NUL-terminated string (the contract).
    let url = unsafe { c_bytes(o.url) }.ok_or_else(|| Failure::new(Code::InvalidUrl, "invalid url: url is NULL"))?;
    let url = std::str::from_utf8(url).map_err(|_| Failure::new(Code::InvalidUrl, "invalid url: not valid UTF-8"))?;
    let url = parse_url(url)?;
    let mut upgrade = Upgrade::new(&url);
    // SAFETY: `headers` is NULL or points to `header_count` headers (the contract).
    for header in unsafe { c_slice(o.headers, o.header_count, "headers") }? {
        // SAFETY: a header's name and value are NULL or NUL-terminated strings (the contract).
        let (name, v) = unsafe { (c_bytes(header.name), c_bytes(header.value)) };
        let (Some(name), Some(v)) = (name, v) else {
            return Err(Failure::new(Code::InvalidArgument, "a header name or value is NULL"));
        };
        upgrade.header(name, v)?;
    }
    // SAFETY: `protocols` is NULL or points to `protocol_count` pointers (the contract).
    for &p in unsafe { c_slice(o.protocols, o.protocol_count, "protocols") }? {
        // SAFETY: each of them is NULL or a NUL-terminated string (the contract).
        let p = unsafe { c_bytes(p) }.ok_or_else(|| Failure::new(Code::InvalidArgument, "a protocol is NULL"))?;
        upgrade.protocol(p)?;
    }
    if o.per_message_deflate {
        upgrade.offer_deflate();
    }
    let mut addresses = Vec::new();
    // SAFETY: `addresses` is NULL or points to `address_count` pointers (the contract).
    for (i, &a) in unsafe { c_slice(o.addresses, o.address_count, "addresses") }?.iter().enumerate() {
        // SAFETY: each of them is NULL or a NUL-terminated string (the contract).
        let a = unsafe { c_bytes(a) }
            .ok_or_else(|| Failure::new(Code::InvalidArgument, format!("addresses[{}] is NULL", i)))?;
        let addr = parse_address(a, url.port)
            .map_err(|why| Failure::new(Code::InvalidArgument, format!("addresses[{}]: {}", i, why)))?;
        addresses.push(addr);
    }
    let addresses = (!addresses.is_empty()).then_some(addresses);
    Ok(Prepared { upgrade, secure: url.secure, host: url.host, port: url.port, addresses })
}

/// Where the result of a call about `task_id` goes: the task's dispatcher; for a closed or unknown
/// id, the dispatcher the calling thread runs (if any); else the libws thread.
fn route(task_id: i64, result: &mut ResultCb) {
    let d = match runtime::current().map(|s| s.registry.route(task_id)) {
        Some(Route::Bound(d)) => Some(d),
        Some(Route::Unbound) => None,
        Some(Route::Absent) | None => dispatcher::home(),
    };
    result.set_dispatcher(d);
}

/// `ws_connect` inside its panic guard.
///
/// # Safety
///
/// As `ws_connect`'s.
unsafe fn connect(options: *const ws_connect_options) -> i64 {
    if options.is_null() {
        return Code::InvalidArgument as i64;
    }
    // SAFETY: not NULL, and `struct_size` bytes are readable at `options` (the contract).
    let o = match unsafe { read_sized(options) } {
        Ok(o) => o,
        // SAFETY: as for read_sized.
        Err(f) => return unsafe { refuse_size(options, f) },
    };
    let mut result = ResultCb::new(Api::Connect, o.on_result, o.result_user_data);
    let bound = match dispatcher::bind(o.dispatcher as usize, o.group) {
        Ok(d) => d,
        Err(f) => {
            result.set_dispatcher(dispatcher::home());
            return match runtime_or_fail(0, result) {
                Ok((shared, result)) => report(&shared, 0, f, result) as i64,
                Err(code) => code as i64,
            };
        }
    };
    result.set_dispatcher(bound.clone());
    // SAFETY: `o` is the host's struct, its pointers valid as its fields say (the contract).
    let id = unsafe { connect_bound(&o, result, bound.clone()) };
    // A task that was not made does not hold its dispatcher.
    if id <= 0 {
        if let Some(d) = bound {
            d.unbind();
        }
    }
    id
}

/// # Safety
///
/// As `prepare`'s.
unsafe fn connect_bound(o: &ws_connect_options, result: ResultCb, bound: Option<std::sync::Arc<Dispatcher>>) -> i64 {
    let (shared, result) = match runtime_or_fail(0, result) {
        Ok(r) => r,
        Err(code) => return code as i64,
    };
    // SAFETY: the same contract.
    let prepared = match unsafe { prepare(o) } {
        Ok(p) => p,
        Err(f) => return report(&shared, 0, f, result) as i64,
    };
    let tls = if prepared.secure {
        let trust = CTrust {
            ca: (o.ca_pem, o.ca_pem_len),
            client_cert: (o.client_cert_pem, o.client_cert_pem_len),
            client_key: (o.client_key_pem, o.client_key_pem_len),
            pins: (o.certificate_pins, o.certificate_pin_count),
            skip_verification: o.dangerous_skip_certificate_verification,
            system_roots: false,
        };
        // SAFETY: the options' PEM and pin pointers keep the contract of `connect`.
        let own = match unsafe { trust.read("certificate_pins") } {
            Ok(own) => own,
            Err(f) => return report(&shared, 0, f, result) as i64,
        };
        let own = (own != TlsOptions::default()).then_some(own);
        match shared.tls_config(own) {
            Ok(c) => Some(c),
            Err(f) => return report(&shared, 0, f, result) as i64,
        }
    } else {
        None
    };
    // SAFETY: `proxy` is NULL or a NUL-terminated string (the contract).
    let proxy = match unsafe { c_proxy(o.proxy, "proxy") } {
        Ok(_) if o.no_proxy => None,
        Ok(Some(p)) => Some(p),
        Ok(None) => shared.config.proxy.clone(),
        Err(f) => return report(&shared, 0, f, result) as i64,
    };
    let listener = o.on_event.map(|_| Listener {
        handle: 0,
        task_id: 0,
        cb: o.on_event,
        user_data: UserData(o.event_user_data),
        removed: AtomicBool::new(false),
    });
    let mut result = result;
    let task_id =
        match shared.registry.add_task(o.group, shared.config.max_connections_per_group, listener, bound.clone()) {
            Ok(id) => id,
            Err(f) => return report(&shared, 0, f, result) as i64,
        };
    result.set_task(task_id);
    let timeout = match o.timeout_ms {
        0 => shared.config.connect_timeout,
        ms => Duration::from_millis(ms as u64),
    };
    let request = ConnectRequest {
        task_id,
        group: o.group,
        upgrade: prepared.upgrade,
        host: prepared.host,
        port: prepared.port,
        addresses: prepared.addresses,
        tcp_no_delay: o.tcp_no_delay,
        tls,
        deadline: Instant::now() + timeout,
        profile: crate::profile::Profile::start(),
        ping_interval: (o.ping_interval_ms > 0).then(|| Duration::from_millis(o.ping_interval_ms as u64)),
        pong_timeout: Duration::from_millis(match o.pong_timeout_ms {
            0 => o.ping_interval_ms,
            ms => ms,
        } as u64),
        socket_hook: o.on_socket.map(|_| SocketHook { cb: o.on_socket, user_data: UserData(o.socket_user_data) }),
        dispatcher: bound,
        proxy,
    };
    match push(&shared, Command::Connect(Box::new(request), result)) {
        WS_OK => task_id,
        code => {
            shared.registry.remove_task(task_id);
            shared.registry.closed(task_id);
            code as i64
        }
    }
}

/// A `ws_connect_options` whose struct_size is wrong. `on_result` reports it when that size covers
/// `on_result` and `result_user_data` (the host vouches for those bytes); otherwise the return
/// value is the only report, and the logger gets the detail.
///
/// # Safety
///
/// `options` is non-NULL and points to at least `struct_size` readable bytes (at least 4).
unsafe fn refuse_size(options: *const ws_connect_options, f: Failure) -> i64 {
    let covered = offset_of!(ws_connect_options, result_user_data) + size_of::<*mut c_void>();
    // SAFETY: non-NULL with at least 4 readable bytes (the contract).
    if unsafe { declared_size(options) } < covered {
        log!(WS_LOG_WARN, "ws_connect refused: {}", f.detail);
        return f.code as i64;
    }
    // SAFETY: `struct_size` covers both fields, so their bytes are readable; read unaligned, and
    // `addr_of!` makes no reference to the rest of a struct that may be shorter than ours.
    let (on_result, user_data) = unsafe {
        (
            std::ptr::addr_of!((*options).on_result).read_unaligned(),
            std::ptr::addr_of!((*options).result_user_data).read_unaligned(),
        )
    };
    match runtime_or_fail(0, ResultCb::new(Api::Connect, on_result, user_data)) {
        Ok((shared, result)) => report(&shared, 0, f, result) as i64,
        Err(code) => code as i64,
    }
}

/// `ws_send` inside its panic guard.
///
/// # Safety
///
/// `data` is NULL or points to `len` readable bytes.
unsafe fn send(task_id: i64, data: *const u8, len: usize, kind: u32, mut result: ResultCb) -> i32 {
    result.set_task(task_id);
    route(task_id, &mut result);
    let (shared, result) = match runtime_or_fail(task_id, result) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let fail = |f: Failure, result| report(&shared, task_id, f, result);
    if kind != WS_TEXT && kind != WS_BINARY {
        return fail(
            Failure::new(Code::InvalidArgument, format!("unknown message type {}: use WS_TEXT or WS_BINARY", kind)),
            result,
        );
    }
    // The size is checked before the bytes are touched: a wrong huge len is refused, not read.
    if len > shared.config.max_message_size {
        let f = Failure::new(
            Code::MessageTooBig,
            format!("message of {} bytes is larger than the limit of {}", len, shared.config.max_message_size),
        );
        return fail(f, result);
    }
    // SAFETY: `data` is NULL or has `len` bytes (the contract).
    let bytes = match unsafe { c_slice(data, len, "data") } {
        Ok(b) => b,
        Err(f) => return fail(f, result),
    };
    let counter = match shared.registry.send_state(task_id) {
        Ok((ReadyState::Open, counter)) => counter,
        Ok((state, _)) => return fail(not_open(state), result),
        Err(f) => return fail(f, result),
    };
    let text = kind == WS_TEXT;
    if text && std::str::from_utf8(bytes).is_err() {
        return fail(Failure::new(Code::InvalidUtf8, "text message is not valid UTF-8"), result);
    }
    let mut result = result;
    // Counted from here until its result is decided (the loop may write it at once).
    result.hold(Held::new(counter, len as u64));
    push(&shared, Command::Send { task_id, text, data: crate::frame::Masked::copy(bytes), result })
}

/// Checks code and reason; on success returns them for the command.
/// `check` is `check_close` (ws_close) or `check_group_close` (ws_close_group, which takes 1001).
///
/// # Safety
///
/// `reason` is NULL or a NUL-terminated string.
unsafe fn close_args(
    code: i32,
    reason: *const c_char,
    check: fn(i32, &[u8]) -> Result<CloseCode, Failure>,
) -> Result<(CloseCode, String), Failure> {
    // SAFETY: NULL or a NUL-terminated string (the contract).
    let reason = unsafe { c_bytes(reason) }.unwrap_or(b"");
    let code = check(code, reason)?;
    Ok((code, String::from_utf8_lossy(reason).into_owned()))
}

/// `ws_close` inside its panic guard.
///
/// # Safety
///
/// `reason` is NULL or a NUL-terminated string.
unsafe fn close(task_id: i64, code: i32, reason: *const c_char, mut result: ResultCb) -> i32 {
    result.set_task(task_id);
    route(task_id, &mut result);
    let (shared, result) = match runtime_or_fail(task_id, result) {
        Ok(r) => r,
        Err(code) => return code,
    };
    // SAFETY: the same contract.
    let (code, reason) = match unsafe { close_args(code, reason, check_close) } {
        Ok(args) => args,
        Err(f) => return report(&shared, task_id, f, result),
    };
    let abort = match shared.registry.begin_close(task_id) {
        Ok(abort) => abort,
        Err(f) => return report(&shared, task_id, f, result),
    };
    // Closed before its host saw the open event: its queued events go, only its close will come.
    if let Some(d) = &abort {
        d.drop_events_of(task_id);
    }
    push(&shared, Command::Close { task_id, code, reason, abort: abort.is_some(), result })
}

/// `ws_close_group` inside its panic guard.
///
/// # Safety
///
/// `reason` is NULL or a NUL-terminated string.
unsafe fn close_group(group: u64, code: i32, reason: *const c_char, mut result: ResultCb) -> i32 {
    result.set_dispatcher(dispatcher::of_group(group).or_else(dispatcher::home));
    let (shared, result) = match runtime_or_fail(0, result) {
        Ok(r) => r,
        Err(code) => return code,
    };
    // SAFETY: the same contract.
    let (code, reason) = match unsafe { close_args(code, reason, check_group_close) } {
        Ok(args) => args,
        Err(f) => return report(&shared, 0, f, result),
    };
    let mut abort = Vec::new();
    for (task_id, d) in shared.registry.begin_close_group(group) {
        d.drop_events_of(task_id);
        abort.push(task_id);
    }
    push(&shared, Command::CloseGroup { group, code, reason, abort, result })
}

/// Fills `config` with the defaults and sets `struct_size`.
///
/// Returns `WS_OK`, or `WS_ERR_INVALID_ARGUMENT` when `config` is NULL.
///
/// # Safety
///
/// `config` is NULL or points to `ws_config_size()` writable bytes, aligned for `ws_config`.
#[no_mangle]
pub unsafe extern "C" fn ws_config_init(config: *mut ws_config) -> i32 {
    guard(WS_ERR_PANIC, || {
        if config.is_null() {
            return WS_ERR_INVALID_ARGUMENT;
        }
        let d = Config::default();
        // Zero is every pointer's and switch's default; only the numbers are spelled out.
        let defaults = ws_config {
            struct_size: size_of::<ws_config>() as u32,
            max_connections_per_group: d.max_connections_per_group,
            max_message_size: d.max_message_size as u64,
            max_send_queue: d.max_send_queue as u64,
            connect_timeout_ms: d.connect_timeout.as_millis() as u32,
            close_timeout_ms: d.close_timeout.as_millis() as u32,
            connection_attempt_delay_ms: d.attempt_delay.as_millis() as u32,
            ..zeroed()
        };
        // SAFETY: not NULL, so room for a `ws_config` (the contract).
        unsafe { config.write(defaults) };
        WS_OK
    })
}

/// Zeroes `options` (every option at its default) and sets `struct_size`.
///
/// Returns `WS_OK`, or `WS_ERR_INVALID_ARGUMENT` when `options` is NULL.
///
/// # Safety
///
/// `options` is NULL or points to `ws_connect_options_size()` writable bytes, aligned for
/// `ws_connect_options`.
#[no_mangle]
pub unsafe extern "C" fn ws_connect_options_init(options: *mut ws_connect_options) -> i32 {
    guard(WS_ERR_PANIC, || {
        if options.is_null() {
            return WS_ERR_INVALID_ARGUMENT;
        }
        let mut o: ws_connect_options = zeroed();
        o.struct_size = size_of::<ws_connect_options>() as u32;
        // SAFETY: not NULL, so room for a `ws_connect_options` (the contract).
        unsafe { options.write(o) };
        WS_OK
    })
}

/// `sizeof(ws_config)` in this library, for hosts whose FFI has no `sizeof` (koffi, JNA,
/// ctypes): allocate at least this many bytes, then call `ws_config_init` on them.
#[no_mangle]
pub extern "C" fn ws_config_size() -> usize {
    size_of::<ws_config>()
}

/// `sizeof(ws_connect_options)` in this library, for hosts whose FFI has no `sizeof`: allocate at
/// least this many bytes, then call `ws_connect_options_init` on them. A binding that declares the
/// struct itself can compare its own size with this one to catch a layout mismatch.
#[no_mangle]
pub extern "C" fn ws_connect_options_size() -> usize {
    size_of::<ws_connect_options>()
}

/// Starts the runtime (the libws thread) with `config`; NULL means the defaults. Optional: any
/// other call starts the runtime with the defaults if it is not running. The logger may be
/// called during this call (on this thread, with no libws lock held).
///
/// Returns `WS_OK`; `WS_ERR_ALREADY_RUNNING` if the runtime runs (call `ws_shutdown` first);
/// `WS_ERR_INVALID_ARGUMENT` for a config whose `struct_size` is not the size of a released
/// `ws_config` (see `ws_config.struct_size`), bad CA PEM or a bad pin; `WS_ERR_WRONG_THREAD`
/// from a callback; `WS_ERR_RUNTIME` if the thread or poller could not be created.
/// The library copies the config; the caller keeps ownership of it.
///
/// # Safety
///
/// `config` is NULL or points to a `ws_config` of at least `struct_size` readable bytes (filled
/// by `ws_config_init`), whose pointers are NULL or valid as their fields say (a string
/// NUL-terminated, an array of its count, PEM of its length) until the call returns.
#[no_mangle]
pub unsafe extern "C" fn ws_init(config: *const ws_config) -> i32 {
    guard(WS_ERR_PANIC, || {
        let config = if config.is_null() {
            Ok(Config::default())
        } else {
            // SAFETY: not NULL: `struct_size` bytes are readable at `config`, and its pointers are
            // valid as their fields say (the contract), which is what `from_c` needs.
            unsafe { read_sized(config).and_then(|c| Config::from_c(&c)) }
        };
        let config = match config {
            Ok(c) => c,
            Err(f) => {
                log!(WS_LOG_WARN, "ws_init refused: {}", f.detail);
                return f.code as i32;
            }
        };
        match runtime::init(config) {
            Ok(()) => WS_OK,
            Err(f) => f.code as i32,
        }
    })
}

/// Stops the runtime: every task that is not CLOSED is closed with code 1001 (connecting ones are
/// aborted: close 1006), each delivers its close event, the libws thread is joined and all memory
/// freed. Close handshakes still unfinished after `close_timeout_ms` are cut (error event, then
/// close 1006). Global listeners are removed.
///
/// While it runs, other calls are refused: `ws_connect`, `ws_send`, `ws_close` and
/// `ws_close_group` return `WS_ERR_SHUTTING_DOWN` and their result callback gets that code, on
/// the libws thread, before `ws_shutdown` returns; `ws_on_event` returns `WS_ERR_SHUTTING_DOWN`.
/// A call accepted before that (it returned an id or `WS_OK`) completes as usual: its result, and
/// for a connect its close event, are delivered before `ws_shutdown` returns. A call made once
/// the libws thread is finishing (or after `ws_shutdown` returned) starts a fresh runtime.
///
/// Host name lookups still running get until `close_timeout_ms` to end; a lookup stuck longer in
/// the system resolver (getaddrinfo cannot be cancelled) keeps its `libws-dns` thread until it
/// returns: that thread then holds no socket, descriptor or runtime state, posts nothing and
/// exits. Do not unload the library (dlclose) while such a lookup may still run.
///
/// Tasks bound to a dispatcher: their close events (and results) are queued on it before this
/// returns, and run when the host dispatches them (`ws_ready_state` reports such a task as the
/// host has seen it until then). A host thread that must not block uses `ws_shutdown_async`.
///
/// Blocks until done (about `close_timeout_ms` at most, plus the time callbacks take). Returns
/// `WS_OK` (also when nothing was running), or `WS_ERR_WRONG_THREAD` when called from a libws
/// callback, including one run by `ws_dispatch`.
#[no_mangle]
pub extern "C" fn ws_shutdown() -> i32 {
    guard(WS_ERR_PANIC, || match runtime::shutdown() {
        Ok(()) => WS_OK,
        Err(f) => f.code as i32,
    })
}

/// Answers a request of the host's resolver (`ws_config.resolver`), from any thread, also from
/// inside the resolver callback. `request_id` is the id the resolver was called with (the
/// task's). Either `err_msg` (NUL-terminated UTF-8: the lookup failed; `addresses` is then
/// ignored) or `address_count` addresses (NUL-terminated strings, each an IP address with or
/// without a port, as in `ws_connect_options.addresses`; without one, the URL's port). Everything
/// is copied before the call returns.
///
/// A failed lookup fails the task with `WS_ERR_DNS`: `"connectSocket:fail could not resolve host
/// \"<host>\": <err_msg>"`. The addresses are tried with Happy Eyeballs, in the order given.
///
/// Returns `WS_OK` when the answer was taken (an answer to a task that no longer waits for one,
/// a second answer or one after its connect timeout, is ignored); `WS_ERR_INVALID_ARGUMENT` for
/// an answer with no address and no err_msg, a NULL entry or a string that is not an IP address:
/// the task then fails with `WS_ERR_DNS` ("... the resolver's answer was refused:
/// addresses[1]: \"x\" is not an IP address ..."); `WS_ERR_UNKNOWN_TASK` for an id never
/// handed out; `WS_ERR_CLOSED` when the task is closed (it timed out or was closed);
/// `WS_ERR_SHUTTING_DOWN` while `ws_shutdown` runs.
///
/// # Safety
///
/// `addresses` is NULL or points to `address_count` pointers, each NULL or a NUL-terminated
/// string; `err_msg` is NULL or a NUL-terminated string; all readable until the call returns.
#[no_mangle]
pub unsafe extern "C" fn ws_resolve_answer(
    request_id: i64,
    addresses: *const *const c_char,
    address_count: usize,
    err_msg: *const c_char,
) -> i32 {
    // SAFETY: the same contract.
    guard(WS_ERR_PANIC, || unsafe { resolve_answer(request_id, addresses, address_count, err_msg) })
}

/// `ws_resolve_answer` inside its panic guard.
///
/// # Safety
///
/// As `ws_resolve_answer`'s.
unsafe fn resolve_answer(task_id: i64, addresses: *const *const c_char, count: usize, err_msg: *const c_char) -> i32 {
    let shared = match runtime::get() {
        Ok(s) => s,
        Err(f) => return f.code as i32,
    };
    if shared.is_stopping() {
        return WS_ERR_SHUTTING_DOWN;
    }
    if let Err(f) = shared.registry.live_state(task_id) {
        return f.code as i32;
    }
    let refused = |why: String| (Err(format!("the resolver's answer was refused: {}", why)), WS_ERR_INVALID_ARGUMENT);
    // SAFETY: `err_msg` is NULL or a NUL-terminated string (the contract).
    let (addrs, code) = match unsafe { c_bytes(err_msg) } {
        Some(msg) => (Err(String::from_utf8_lossy(msg).into_owned()), WS_OK),
        // SAFETY: `addresses` is NULL or points to `count` pointers (the contract).
        None => match unsafe { c_slice(addresses, count, "addresses") } {
            Err(f) => refused(f.detail),
            // SAFETY: each of them is NULL or a NUL-terminated string (the contract).
            Ok(list) => match parse_answer(list.iter().map(|&p| unsafe { c_bytes(p) })) {
                Ok(a) => (Ok(a), WS_OK),
                Err(why) => refused(why),
            },
        },
    };
    match push(&shared, Command::Resolved { task_id, addrs, from_host: true }) {
        WS_OK => code,
        other => other,
    }
}

/// Opens a WebSocket (the mini-program `connectSocket`).
///
/// Returns the new task's `socketTaskId` (> 0), unique for the life of the process, or a negative
/// `WS_ERR_*` code when the call is refused. `options` and everything it points to are copied
/// before the call returns.
///
/// `options->on_result` is called exactly once, on the libws thread (never inside this call):
/// `"connectSocket:ok"` once the connection attempt has started (as on WeChat, success does not
/// mean open), or `"connectSocket:fail <detail>"` with the same code this function returned:
/// invalid url, forbidden header, `exceed max concurrent count (5)`, runtime is shutting down
/// (`WS_ERR_SHUTTING_DOWN`, while `ws_shutdown` runs)... There is no callback only when `options`
/// is NULL, when its `struct_size` is wrong and too small to cover `on_result` and
/// `result_user_data` (0 when unset), or for `WS_ERR_RUNTIME` (the libws thread could not be
/// created): then the return value is the only report.
///
/// When an id is returned, `options->on_event` (and any listener added later) gets, in order: open
/// or error, messages, then exactly one close event, and nothing after it. Network failures while
/// connecting (DNS, refused, timeout, handshake) are an error event
/// (`"connectSocket:fail <detail>"`) followed by close 1006.
///
/// # Safety
///
/// `options` is NULL or points to a `ws_connect_options` of at least `struct_size` readable
/// bytes (filled by `ws_connect_options_init`), whose pointers are NULL or valid as their fields
/// say (a string NUL-terminated, an array of its count, PEM of its length) until the call
/// returns.
#[no_mangle]
pub unsafe extern "C" fn ws_connect(options: *const ws_connect_options) -> i64 {
    // SAFETY: the same contract.
    guard(WS_ERR_PANIC as i64, || unsafe { connect(options) })
}

/// Sends one message (`SocketTask.send`). `kind` is `WS_TEXT` (data must be UTF-8) or
/// `WS_BINARY`. `data` may be NULL when `len` is 0. The bytes are copied before the call returns.
///
/// Returns `WS_OK` if the message was queued, or the negative code of the failure. `on_result`
/// (may be NULL) is called exactly once on the libws thread, never inside this call (so the caller
/// may hold a lock of its own that the callback takes): `"sendSocketMessage:ok"` when the whole
/// message has been written to the socket, or `"sendSocketMessage:fail <detail>"`: socket is not
/// OPEN (readyState CONNECTING/CLOSING), socketTaskId N is closed, unknown socketTaskId, text
/// message is not valid UTF-8, message too big, send queue full, runtime is shutting down, or the
/// connection was lost before the message was written. Only a call that returns `WS_ERR_RUNTIME`
/// (the libws thread could not be created) gets no callback.
///
/// # Safety
///
/// `data` is NULL or points to `len` readable bytes until the call returns (`len` is checked
/// against `max_message_size` before `data` is read).
#[no_mangle]
pub unsafe extern "C" fn ws_send(
    task_id: i64,
    data: *const u8,
    len: usize,
    kind: u32,
    on_result: ws_result_cb,
    user_data: *mut c_void,
) -> i32 {
    // SAFETY: the same contract.
    guard(WS_ERR_PANIC, || unsafe { send(task_id, data, len, kind, ResultCb::new(Api::Send, on_result, user_data)) })
}

/// Closes a task (`SocketTask.close`). `code` is 1000 or 3000–4999 (0 means 1000); `reason` is a
/// NUL-terminated UTF-8 string of at most 123 bytes, or NULL for none. The reason is copied.
///
/// An OPEN task is CLOSING as soon as this returns (sends are refused from then on) and starts the
/// close handshake (the close event follows when the server
/// answers, or after `close_timeout_ms`). A CONNECTING task is aborted: close event 1006 with no
/// error event. A task already CLOSING is left as it is. A task bound to a dispatcher whose open
/// event has not been dispatched yet is CONNECTING for this rule and is aborted, even if it has
/// opened meanwhile: its queued events are dropped and its close event is 1006, never an open
/// after this call; one whose close event is queued but not dispatched gets `"closeSocket:ok"`.
///
/// Returns `WS_OK` or the negative code of the failure. `on_result` (may be NULL) is called once on
/// the libws thread, never inside this call: `"closeSocket:ok"`, or `"closeSocket:fail <detail>"`
/// (invalid close code, reason too long or not UTF-8, socketTaskId N is closed, unknown
/// socketTaskId, runtime is shutting down); a failed close sends nothing. Only a call that returns
/// `WS_ERR_RUNTIME` gets no callback.
///
/// # Safety
///
/// `reason` is NULL or a NUL-terminated string, readable until the call returns.
#[no_mangle]
pub unsafe extern "C" fn ws_close(
    task_id: i64,
    code: i32,
    reason: *const c_char,
    on_result: ws_result_cb,
    user_data: *mut c_void,
) -> i32 {
    // SAFETY: the same contract.
    guard(WS_ERR_PANIC, || unsafe { close(task_id, code, reason, ResultCb::new(Api::Close, on_result, user_data)) })
}

/// Closes every task of `group` (the host's mini-program went to the background or exited), as
/// `ws_close` would each one, with the same code and reason rules plus 1001 ("going away": for
/// when the mini-program exits; `ws_close` refuses it for a single task). Its OPEN tasks are
/// CLOSING as soon as this returns (sends are refused from then on), its CONNECTING ones are
/// aborted. Each task delivers its own close event. `on_result` (may be NULL) is called once with
/// task_id 0: `"closeSocket:ok"`, or `"closeSocket:fail <detail>"` for a bad code or reason (then
/// nothing is closed).
///
/// # Safety
///
/// `reason` is NULL or a NUL-terminated string, readable until the call returns.
#[no_mangle]
pub unsafe extern "C" fn ws_close_group(
    group: u64,
    code: i32,
    reason: *const c_char,
    on_result: ws_result_cb,
    user_data: *mut c_void,
) -> i32 {
    // SAFETY: the same contract.
    guard(WS_ERR_PANIC, || unsafe { close_group(group, code, reason, ResultCb::new(Api::Close, on_result, user_data)) })
}

/// The device's network changed (Wi-Fi to cellular, a new default network from Android's
/// `ConnectivityManager.NetworkCallback`, iOS `NWPathMonitor`): connections on the old path may
/// be dead without a sign, and TCP would take minutes to notice. Every OPEN task of `group` (of
/// every group when `all_groups` is true; `group` is then ignored) sends a ping at once and must
/// hear anything from the server (its pong, a message) within `probe_timeout_ms` (0: 3000);
/// a task that does not fails with an error event `WS_ERR_TIMEOUT` (`"onSocketError:fail network
/// changed: no answer to the probe within N ms"`) and close 1006. Tasks that answer carry on
/// untouched; CONNECTING and CLOSING tasks are left to their own timeouts. A task whose reading is
/// paused by its dispatcher (`ws_dispatcher_options.max_pending_bytes`) when its deadline comes is
/// not failed. A second call while a task's probe is out keeps the earlier deadline.
///
/// Returns `WS_OK` (also when no runtime is running: there is nothing to probe, and none is
/// started), or `WS_ERR_SHUTTING_DOWN` once `ws_shutdown` has stopped taking commands. No result
/// callback. May be called from any thread, including from inside a libws callback.
#[no_mangle]
pub extern "C" fn ws_network_changed(group: u64, all_groups: bool, probe_timeout_ms: u32) -> i32 {
    guard(WS_ERR_PANIC, || {
        // Not runtime::get(): no runtime is started just for this.
        let Some(shared) = runtime::current() else { return WS_OK };
        let timeout = Duration::from_millis(match probe_timeout_ms {
            0 => DEFAULT_PROBE_TIMEOUT_MS,
            ms => ms,
        } as u64);
        push(&shared, Command::NetworkChanged { group: (!all_groups).then_some(group), timeout })
    })
}

/// `ws_network_changed`'s deadline when the host gives none.
const DEFAULT_PROBE_TIMEOUT_MS: u32 = 3000;

/// Adds an event listener for one task (`task_id` > 0: `SocketTask.onOpen/onMessage/...`) or for
/// every task (`task_id` == 0: the global `onSocket*` listeners). Listeners are called on the
/// libws thread in the order they were added, a task's own before the global ones; for a task
/// bound to a dispatcher, inside `ws_dispatch` (global listeners included), looked up when the
/// event is dispatched, so one added before that gets it.
///
/// Returns a handle (> 0) for `ws_off_event`, or `WS_ERR_INVALID_ARGUMENT` (NULL callback),
/// `WS_ERR_CLOSED` (the task is already CLOSED), `WS_ERR_UNKNOWN_TASK`, `WS_ERR_SHUTTING_DOWN`
/// (while `ws_shutdown` runs). `user_data` is passed back
/// as is; the caller owns it and may free it once `ws_off_event` returned or the task's close
/// event was delivered.
#[no_mangle]
pub extern "C" fn ws_on_event(task_id: i64, on_event: ws_event_cb, user_data: *mut c_void) -> i64 {
    guard(WS_ERR_PANIC as i64, || {
        if on_event.is_none() {
            return WS_ERR_INVALID_ARGUMENT as i64;
        }
        if task_id < 0 {
            return WS_ERR_UNKNOWN_TASK as i64;
        }
        let shared = match runtime::get() {
            Ok(s) if s.is_stopping() => return WS_ERR_SHUTTING_DOWN as i64,
            Ok(s) => s,
            Err(f) => return f.code as i64,
        };
        let listener = Listener {
            handle: 0,
            task_id,
            cb: on_event,
            user_data: UserData(user_data),
            removed: AtomicBool::new(false),
        };
        match shared.registry.add_listener(listener) {
            Ok(handle) => handle,
            Err(f) => f.code as i64,
        }
    })
}

/// Removes a listener added by `ws_on_event`. After it returns, the listener is not called again;
/// called from another thread, it first waits for a call of that listener in progress to
/// return. Called from a callback (also one run by `ws_dispatch`), it returns at once (no
/// deadlock; a call running on another thread may then still be finishing). This holds while the task's
/// close event is being delivered too: a task's listener that has not got the close event yet
/// (or is getting it) is removed, and is not called with it.
///
/// Returns `WS_OK` or `WS_ERR_UNKNOWN_LISTENER` (never added, already removed, or its task closed
/// and the listener got the close event).
#[no_mangle]
pub extern "C" fn ws_off_event(handle: i64) -> i32 {
    guard(WS_ERR_PANIC, || {
        // A stopped runtime's listeners may still get close events queued on a dispatcher.
        for shared in runtime::all() {
            if let Some(listener) = shared.registry.remove_listener(handle) {
                listener.removed.store(true, Ordering::Release);
                if !runtime::in_callback() {
                    shared.registry.wait_not_calling(handle);
                }
                return WS_OK;
            }
        }
        WS_ERR_UNKNOWN_LISTENER
    })
}

/// The task's readyState: `WS_CONNECTING`, `WS_OPEN`, `WS_CLOSING` or `WS_CLOSED` (also for every
/// id that was issued and has closed). `WS_ERR_UNKNOWN_TASK` for an id never issued. Any thread.
/// For a task bound to a dispatcher, the state its host has seen: OPEN once the open event was
/// dispatched, CLOSED once the close event was (`ws_send` and `ws_close` go by the same state).
#[no_mangle]
pub extern "C" fn ws_ready_state(task_id: i64) -> i32 {
    guard(WS_ERR_PANIC, || {
        // A bound task of a stopped runtime is what its host has seen until its close event
        // is dispatched.
        let state = runtime::all()
            .iter()
            .find_map(|shared| shared.registry.live_state(task_id).ok())
            .ok_or_else(|| absent(task_id));
        match state {
            Ok(s) => s.into(),
            Err(f) if f.code == Code::Closed => ReadyState::Closed.into(),
            Err(f) => f.code as i32,
        }
    })
}

/// The task's `bufferedAmount` (the browser's `WebSocket.bufferedAmount`, OkHttp's
/// `WebSocket.queueSize()`): how many bytes of the messages `ws_send` accepted (returned `WS_OK`)
/// have not been written to the kernel yet, for a host that wants to slow down before sends fail
/// with `WS_ERR_QUEUE_FULL`. Counted are the message payloads as given to `ws_send` (before
/// permessage-deflate compression; no frame headers, pings or close frames). A message counts in
/// full until its last byte reached the socket (over wss://: until rustls has written its last
/// record to the socket), then it is taken off before its `on_result` callback runs; a message
/// refused later (send queue full, the connection lost) is taken off when its failure is reported.
/// Bytes already in the kernel's socket buffer are not counted.
///
/// Returns the byte count (>= 0); 0 for a task that is CLOSED (every id that was issued and has
/// closed: nothing more will be written) and for one with nothing waiting;
/// `WS_ERR_UNKNOWN_TASK` for an id never issued. May be called from any thread, including from
/// inside a libws callback; it never waits for the libws thread (one short table lookup and an
/// atomic read), so the value may be stale by the time it is returned.
#[no_mangle]
pub extern "C" fn ws_buffered_amount(task_id: i64) -> i64 {
    guard(WS_ERR_PANIC as i64, || {
        let amount = runtime::all().iter().find_map(|shared| shared.registry.buffered_amount(task_id));
        match amount {
            Some(n) => i64::try_from(n).unwrap_or(i64::MAX),
            None => match absent(task_id).code {
                Code::Closed => 0,
                code => code as i64,
            },
        }
    })
}

/// A static, NUL-terminated English message for a `WS_OK`/`WS_ERR_*` code ("unknown error code"
/// for others). Never NULL; never free it.
#[no_mangle]
pub extern "C" fn ws_strerror(code: i32) -> *const c_char {
    let text = Code::from_i32(code).map(Code::message).unwrap_or("unknown error code\0");
    text.as_ptr() as *const c_char
}

/// Routes libws diagnostics to `logger` for levels up to `max_level` (`WS_LOG_ERROR` ..
/// `WS_LOG_DEBUG`); a NULL logger or level 0 turns logging off (the default). libws never writes
/// to stdout or stderr itself. `user_data` is passed back as is. The logger runs on the libws
/// thread or on the thread whose call started the runtime, never with a libws lock held, so it
/// may call ws_* functions.
///
/// Returns `WS_OK`, or `WS_ERR_INVALID_ARGUMENT` for a level outside 0..=4.
#[no_mangle]
pub extern "C" fn ws_set_logger(logger: ws_log_cb, user_data: *mut c_void, max_level: i32) -> i32 {
    guard(WS_ERR_PANIC, || {
        if !(0..=WS_LOG_DEBUG).contains(&max_level) {
            return WS_ERR_INVALID_ARGUMENT;
        }
        crate::log::set(logger, UserData(user_data), max_level);
        WS_OK
    })
}

/// Fills `options` with the defaults (zeroes) and sets `struct_size`.
///
/// Returns `WS_OK`, or `WS_ERR_INVALID_ARGUMENT` when `options` is NULL.
///
/// # Safety
///
/// `options` is NULL or points to `ws_dispatcher_options_size()` writable bytes, aligned for
/// `ws_dispatcher_options`.
#[no_mangle]
pub unsafe extern "C" fn ws_dispatcher_options_init(options: *mut ws_dispatcher_options) -> i32 {
    guard(WS_ERR_PANIC, || {
        if options.is_null() {
            return WS_ERR_INVALID_ARGUMENT;
        }
        let mut o: ws_dispatcher_options = zeroed();
        o.struct_size = size_of::<ws_dispatcher_options>() as u32;
        // SAFETY: not NULL, so room for a `ws_dispatcher_options` (the contract).
        unsafe { options.write(o) };
        WS_OK
    })
}

/// `sizeof(ws_dispatcher_options)` in this library, for hosts whose FFI has no `sizeof` (see
/// `ws_connect_options_size`).
#[no_mangle]
pub extern "C" fn ws_dispatcher_options_size() -> usize {
    size_of::<ws_dispatcher_options>()
}

/// Makes a dispatcher: a queue for the results and events of the tasks bound to it (by
/// `ws_connect_options.dispatcher` or `ws_set_group_dispatcher`), which the host runs on its own
/// thread with `ws_dispatch` instead of libws calling them on the libws thread. Make one per
/// thread that runs host code (a JavaScript engine's thread, a Looper, a serial queue).
/// `options` may be NULL (the defaults) and is copied. On success `*out` is the dispatcher; the
/// caller owns it and frees it with `ws_dispatcher_free`. Dispatchers live independently of the
/// runtime: they survive `ws_shutdown`.
///
/// Returns `WS_OK`, `WS_ERR_INVALID_ARGUMENT` (`out` NULL, or a `struct_size` that is not the size
/// of a released `ws_dispatcher_options`), or `WS_ERR_RUNTIME` (the pipe could not be made, e.g.
/// out of file descriptors). Any thread.
///
/// # Safety
///
/// `options` is NULL or points to a `ws_dispatcher_options` of at least `struct_size` readable
/// bytes (filled by `ws_dispatcher_options_init`); `out` is NULL or points to a writable
/// `ws_dispatcher *`.
#[no_mangle]
pub unsafe extern "C" fn ws_dispatcher_new(options: *const ws_dispatcher_options, out: *mut *mut ws_dispatcher) -> i32 {
    guard(WS_ERR_PANIC, || {
        if out.is_null() {
            return WS_ERR_INVALID_ARGUMENT;
        }
        let o = if options.is_null() {
            zeroed()
        } else {
            // SAFETY: not NULL, and `struct_size` bytes are readable at `options` (the contract).
            match unsafe { read_sized(options) } {
                Ok(o) => o,
                Err(f) => {
                    log!(WS_LOG_WARN, "ws_dispatcher_new refused: {}", f.detail);
                    return f.code as i32;
                }
            }
        };
        let max = usize::try_from(o.max_pending_bytes).unwrap_or(usize::MAX);
        match dispatcher::create(max, o.on_wake, o.wake_user_data) {
            Ok(ptr) => {
                // SAFETY: not NULL, so a writable `ws_dispatcher *` (the contract).
                unsafe { out.write(ptr as *mut ws_dispatcher) };
                WS_OK
            }
            Err(f) => f.code as i32,
        }
    })
}

/// The dispatcher's file descriptor: the read end of a non-blocking, close-on-exec pipe that is
/// readable while items wait for `ws_dispatch` (libws writes a byte when the queue becomes
/// non-empty; `ws_dispatch` empties it). Watch it for readability (`uv_poll`, `ALooper_addFd`,
/// `dispatch_source`, `poll`) and call `ws_dispatch` when it is; never read, write or close it.
/// It may be readable with nothing queued (then `ws_dispatch` returns 0).
///
/// Returns the fd (>= 0), or `WS_ERR_INVALID_ARGUMENT` for NULL or a freed dispatcher. Any
/// thread.
#[no_mangle]
pub extern "C" fn ws_dispatcher_fd(dispatcher: *const ws_dispatcher) -> i32 {
    guard(WS_ERR_PANIC, || match dispatcher::lookup(dispatcher as usize, "the dispatcher") {
        Ok(d) => d.fd(),
        Err(f) => f.code as i32,
    })
}

/// Runs queued results and events on the calling thread, in the order libws queued them: up to
/// `max_items`, or with 0 every item queued when the call began (items queued meanwhile wait for
/// the next call, which the fd and the wake callback announce). They are the same `ws_result_cb`
/// and `ws_event_cb` calls, with the same arguments and the same rule: what they point to is
/// valid until the callback returns. No library lock is held while they run, and they count as
/// "from a callback": `ws_off_event` returns at once, `ws_shutdown` and `ws_init` are refused
/// (`WS_ERR_WRONG_THREAD`), `ws_shutdown_async` is fine.
///
/// For a bound task, the readyState `ws_ready_state`, `ws_send` and `ws_close` go by is what has
/// been dispatched: OPEN once its open event ran here, CLOSED once its close event ran here
/// (the task's listeners run with the task already CLOSED, its group slot free).
///
/// Returns the number of items run (>= 0); `WS_ERR_INVALID_ARGUMENT` (NULL or freed dispatcher);
/// `WS_ERR_WRONG_THREAD` from the libws thread or from a callback this dispatcher is running;
/// `WS_ERR_BUSY` while another thread runs `ws_dispatch` on the same dispatcher (it does not
/// wait: the items run there, in order).
#[no_mangle]
pub extern "C" fn ws_dispatch(dispatcher: *mut ws_dispatcher, max_items: u32) -> i64 {
    guard(WS_ERR_PANIC as i64, || {
        let d = match dispatcher::lookup(dispatcher as usize, "the dispatcher") {
            Ok(d) => d,
            Err(f) => return f.code as i64,
        };
        if runtime::on_loop_thread() {
            return WS_ERR_WRONG_THREAD as i64;
        }
        match d.dispatch(max_items) {
            Ok(n) => n as i64,
            Err(f) => f.code as i64,
        }
    })
}

/// Frees a dispatcher. Refused with `WS_ERR_BUSY` while it is still needed: a task bound to it
/// has not had its close event dispatched, items are queued, it is a group's default, or
/// `ws_dispatch` runs on it. To free one: close its tasks (or `ws_shutdown`), dispatch until
/// their close events ran, unset it as group default, then free it (from the thread that
/// dispatches it).
///
/// Returns `WS_OK`, `WS_ERR_BUSY`, or `WS_ERR_INVALID_ARGUMENT` (NULL or already freed).
#[no_mangle]
pub extern "C" fn ws_dispatcher_free(dispatcher: *mut ws_dispatcher) -> i32 {
    guard(WS_ERR_PANIC, || match dispatcher::free(dispatcher as usize) {
        Ok(()) => WS_OK,
        Err(f) => {
            log!(WS_LOG_WARN, "ws_dispatcher_free refused: {}", f.detail);
            f.code as i32
        }
    })
}

/// Makes `dispatcher` the default of `group`: tasks connected later in that group with a NULL
/// `ws_connect_options.dispatcher` are bound to it, and `ws_close_group(group, ...)` reports its
/// result there. NULL unsets it. Tasks connected earlier keep what they had. The setting
/// survives `ws_shutdown`.
///
/// Returns `WS_OK`, or `WS_ERR_INVALID_ARGUMENT` for a freed dispatcher. Any thread.
#[no_mangle]
pub extern "C" fn ws_set_group_dispatcher(group: u64, dispatcher: *mut ws_dispatcher) -> i32 {
    guard(WS_ERR_PANIC, || match dispatcher::set_group(group, dispatcher as usize) {
        Ok(()) => WS_OK,
        Err(f) => f.code as i32,
    })
}

/// Starts `ws_shutdown` and returns at once, from any thread, callbacks included (a host thread
/// must never wait for the network or for its own callbacks). Everything happens as in
/// `ws_shutdown` (tasks closed with 1001, connecting ones aborted, calls refused with
/// `WS_ERR_SHUTTING_DOWN` while it runs), on the libws thread.
///
/// `on_done` (may be NULL) is called once, with task_id 0 and `"shutdown:ok"`, when the runtime
/// has stopped: queued on `dispatcher` as its last item if it is not NULL (after the close events
/// of its tasks), else on the libws thread as its last act. Close events of tasks bound to other
/// dispatchers are queued there before the runtime stops. The libws thread is joined by the next
/// `ws_shutdown` (or left to end on its own); a call made after `on_done` starts a fresh runtime.
/// With no runtime running, one is started and stopped, so `on_done` still comes.
///
/// Returns `WS_OK`, `WS_ERR_INVALID_ARGUMENT` (a freed dispatcher), or `WS_ERR_RUNTIME` (no
/// libws thread could be started: `on_done` is not called).
#[no_mangle]
pub extern "C" fn ws_shutdown_async(
    dispatcher: *mut ws_dispatcher,
    on_done: ws_result_cb,
    user_data: *mut c_void,
) -> i32 {
    guard(WS_ERR_PANIC, || {
        let mut done = ResultCb::new(Api::Shutdown, on_done, user_data);
        if !dispatcher.is_null() {
            match dispatcher::lookup(dispatcher as usize, "the dispatcher") {
                Ok(d) => done.set_dispatcher(Some(d)),
                Err(f) => {
                    done.forget();
                    return f.code as i32;
                }
            }
        }
        match runtime::shutdown_async(done) {
            Ok(()) => WS_OK,
            Err(f) => f.code as i32,
        }
    })
}

/// The library version as a static NUL-terminated string, e.g. "0.1.0".
#[no_mangle]
pub extern "C" fn ws_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_constants_match_codes() {
        let constants = [
            WS_OK,
            WS_ERR_INVALID_ARGUMENT,
            WS_ERR_INVALID_URL,
            WS_ERR_INVALID_HEADER,
            WS_ERR_TOO_MANY_CONNECTIONS,
            WS_ERR_UNKNOWN_TASK,
            WS_ERR_CLOSED,
            WS_ERR_NOT_OPEN,
            WS_ERR_INVALID_CLOSE_CODE,
            WS_ERR_REASON_TOO_LONG,
            WS_ERR_INVALID_UTF8,
            WS_ERR_MESSAGE_TOO_BIG,
            WS_ERR_QUEUE_FULL,
            WS_ERR_TIMEOUT,
            WS_ERR_DNS,
            WS_ERR_CONNECT,
            WS_ERR_HANDSHAKE,
            WS_ERR_IO,
            WS_ERR_PROTOCOL,
            WS_ERR_TLS,
            WS_ERR_SHUTTING_DOWN,
            WS_ERR_RUNTIME,
            WS_ERR_PANIC,
            WS_ERR_ABORTED,
            WS_ERR_WRONG_THREAD,
            WS_ERR_UNKNOWN_LISTENER,
            WS_ERR_ALREADY_RUNNING,
            WS_ERR_BUSY,
            WS_ERR_PROXY,
        ];
        let codes: Vec<i32> = Code::ALL.iter().map(|c| *c as i32).collect();
        assert_eq!(constants.to_vec(), codes);
    }

    #[test]
    fn version_macros_match_the_crate() {
        let v = format!("{}.{}.{}", WS_VERSION_MAJOR, WS_VERSION_MINOR, WS_VERSION_PATCH);
        assert_eq!(v, env!("CARGO_PKG_VERSION"));
        assert_eq!(unsafe { CStr::from_ptr(ws_version()) }.to_str().unwrap(), v);
    }

    #[test]
    fn strerror_is_static_and_total() {
        let s = unsafe { CStr::from_ptr(ws_strerror(WS_ERR_TOO_MANY_CONNECTIONS)) };
        assert_eq!(s.to_str().unwrap(), "exceed max concurrent count");
        let s = unsafe { CStr::from_ptr(ws_strerror(12345)) };
        assert_eq!(s.to_str().unwrap(), "unknown error code");
    }
}
