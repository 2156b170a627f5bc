'use strict';
// libws's C API through koffi (declarations matching include/libws.h; no C of our own) and this
// Node thread's dispatcher: libws queues our tasks' results and events on it and we run them here,
// inside ws_dispatch, when libuv sees its pipe readable; nothing blocks libws's thread or JS.
const koffi = require('koffi');
const net = require('net');
const path = require('path');

const lib = koffi.load(process.env.LIBWS_SO || path.join(__dirname, '..', '..', 'target', 'release', 'libws.so'));
const header = koffi.struct('ws_header', { name: 'const char *', value: 'const char *' });
const profile = koffi.struct('ws_profile', {
  fetch_start_us: 'uint64_t', domain_lookup_start_us: 'uint64_t', domain_lookup_end_us: 'uint64_t',
  connect_start_us: 'uint64_t', tls_start_us: 'uint64_t', tls_end_us: 'uint64_t', connect_end_us: 'uint64_t',
  open_us: 'uint64_t', fetch_start_unix_us: 'int64_t', attempts: 'uint32_t', tls_resumed: 'bool',
  tls_version: 'const char *', tls_cipher: 'const char *', peer_address: 'const char *',
  proxy_start_us: 'uint64_t', proxy_end_us: 'uint64_t',
});
const event = koffi.struct('ws_event', {
  kind: 'uint32_t', task_id: 'int64_t',
  open: koffi.struct({ headers: 'ws_header *', header_count: 'size_t', protocol: 'const char *', extensions: 'const char *', compressed: 'bool' }),
  message: koffi.struct({ data: 'void *', len: 'size_t', kind: 'uint32_t' }),
  error: koffi.struct({ code: 'int32_t', err_msg: 'const char *' }),
  close: koffi.struct({ code: 'uint16_t', reason: 'const char *', reason_len: 'size_t', was_clean: 'bool' }),
  profile: 'ws_profile *',
});
const result = koffi.struct('ws_result', { task_id: 'int64_t', code: 'int32_t', err_msg: 'const char *' });
// user_data is declared intptr_t: we hand libws small integer keys, never JS memory.
const eventCb = koffi.pointer(koffi.proto('void ws_event_cb(const ws_event *event, intptr_t user_data)'));
const resultCb = koffi.pointer(koffi.proto('void ws_result_cb(const ws_result *result, intptr_t user_data)'));
const connectOptions = koffi.struct('ws_connect_options', {
  struct_size: 'uint32_t', url: 'const char *', headers: 'ws_header *', header_count: 'size_t',
  protocols: 'const char **', protocol_count: 'size_t', tcp_no_delay: 'bool', timeout_ms: 'uint32_t',
  on_event: eventCb, event_user_data: 'intptr_t', on_result: resultCb, result_user_data: 'intptr_t',
  group: 'uint64_t', ping_interval_ms: 'uint32_t', pong_timeout_ms: 'uint32_t', on_socket: 'void *',
  socket_user_data: 'void *', ca_pem: 'void *', ca_pem_len: 'size_t',
  dangerous_skip_certificate_verification: 'bool', per_message_deflate: 'bool', dispatcher: 'void *',
  addresses: 'const char **', address_count: 'size_t',
  certificate_pins: 'const char **', certificate_pin_count: 'size_t',
  client_cert_pem: 'void *', client_cert_pem_len: 'size_t', client_key_pem: 'void *', client_key_pem_len: 'size_t',
  proxy: 'const char *', no_proxy: 'bool',
});
// The host's resolver: libws calls it on its own thread; koffi queues the call to this (the JS) thread.
const resolveCb = koffi.pointer(koffi.proto('void ws_resolve_cb(int64_t request_id, const char *host, uint16_t port, intptr_t user_data)'));
const config = koffi.struct('ws_config', {
  struct_size: 'uint32_t', max_connections_per_group: 'uint32_t', max_message_size: 'uint64_t', max_send_queue: 'uint64_t',
  connect_timeout_ms: 'uint32_t', close_timeout_ms: 'uint32_t', ca_pem: 'void *', ca_pem_len: 'size_t',
  use_system_roots: 'bool', dangerous_skip_certificate_verification: 'bool', connection_attempt_delay_ms: 'uint32_t',
  resolver: resolveCb, resolver_user_data: 'intptr_t', certificate_pins: 'const char **', certificate_pin_count: 'size_t',
  client_cert_pem: 'void *', client_cert_pem_len: 'size_t', client_key_pem: 'void *', client_key_pem_len: 'size_t',
  proxy: 'const char *',
});
const c = {
  connect: lib.func('int64_t ws_connect(const ws_connect_options *o)'),
  send: lib.func('int32_t ws_send(int64_t id, const uint8_t *data, size_t len, uint32_t kind, ws_result_cb *cb, intptr_t ud)'),
  close: lib.func('int32_t ws_close(int64_t id, int32_t code, const char *reason, ws_result_cb *cb, intptr_t ud)'),
  readyState: lib.func('int32_t ws_ready_state(int64_t id)'),
  bufferedAmount: lib.func('int64_t ws_buffered_amount(int64_t id)'),
  strerror: lib.func('const char *ws_strerror(int32_t code)'),
  optionsSize: lib.func('size_t ws_connect_options_size(void)'),
  dispatcherNew: lib.func('int32_t ws_dispatcher_new(void *options, _Out_ void **d)'),
  dispatcherFd: lib.func('int32_t ws_dispatcher_fd(void *d)'),
  dispatch: lib.func('int64_t ws_dispatch(void *d, uint32_t max_items)'),
  configSize: lib.func('size_t ws_config_size(void)'),
  init: lib.func('int32_t ws_init(const ws_config *config)'),
  resolveAnswer: lib.func('int32_t ws_resolve_answer(int64_t request_id, const char **addresses, size_t address_count, const char *err_msg)'),
  networkChanged: lib.func('int32_t ws_network_changed(uint64_t group, bool all_groups, uint32_t probe_timeout_ms)'),
};
if (koffi.sizeof(connectOptions) !== Number(c.optionsSize())) throw new Error('ws_connect_options: layout differs from libws');
if (koffi.sizeof(config) !== Number(c.configSize())) throw new Error('ws_config: layout differs from libws');

const callbacks = new Map(); // user_data key -> JS function, until libws calls it (once)
// pending: results and close events still to come; the pipe keeps Node alive while > 0.
let nextKey = 1, pending = 0, yieldAsked = false;
const calls = { inside: 0, outside: 0 }; let dispatching = false; // callbacks run only inside ws_dispatch
function expect(n) { pending += n; if (pending > 0) pipe.ref(); else pipe.unref(); }
function keep(fn) { const key = nextKey++; callbacks.set(key, fn); expect(1); return key; }
const onResult = koffi.register((r, key) => {
  calls[dispatching ? 'inside' : 'outside']++;
  const fn = callbacks.get(key); callbacks.delete(key); expect(-1);
  const res = koffi.decode(r, result);
  fn({ taskId: Number(res.task_id), code: res.code, errMsg: res.err_msg });
}, resultCb);
// A call refused with WS_ERR_RUNTIME (no libws thread) gets no result callback: report it here.
function noThread(rc, key, api) {
  if (rc === -21) { const fn = callbacks.get(key); callbacks.delete(key); expect(-1); setImmediate(fn, { taskId: 0, code: rc, errMsg: `${api}:fail ${c.strerror(rc)}` }); }
  return Number(rc);
}
// WeChat's SocketTask.onOpen res.profile from ws_profile, as the header maps it: timestamps in
// Unix milliseconds, durations in milliseconds; then what WeChat lacks.
function wechatProfile(p) {
  const us = (v) => Number(v), base = us(p.fetch_start_us), unix = us(p.fetch_start_unix_us);
  const at = (v) => (unix + us(v) - base) / 1000, span = (a, b) => (us(b) - us(a)) / 1000;
  return {
    fetchStart: at(p.fetch_start_us), domainLookUpStart: at(p.domain_lookup_start_us),
    domainLookUpEnd: at(p.domain_lookup_end_us), connectStart: at(p.connect_start_us),
    connectEnd: at(p.connect_end_us), rtt: span(p.connect_start_us, p.connect_end_us),
    handshakeCost: span(p.connect_end_us, p.open_us), cost: span(p.fetch_start_us, p.open_us),
    tlsStart: us(p.tls_start_us) ? at(p.tls_start_us) : 0, tlsEnd: us(p.tls_end_us) ? at(p.tls_end_us) : 0,
    tlsResumed: p.tls_resumed, tlsVersion: p.tls_version, tlsCipher: p.tls_cipher,
    peerAddress: p.peer_address, attempts: p.attempts,
    proxyStart: us(p.proxy_start_us) ? at(p.proxy_start_us) : 0, proxyEnd: us(p.proxy_end_us) ? at(p.proxy_end_us) : 0,
  };
}
let onTaskEvent = () => {};
const onEvent = koffi.register((p) => {
  calls[dispatching ? 'inside' : 'outside']++;
  const e = koffi.decode(p, event), m = e.message;
  const ev = { kind: e.kind, taskId: Number(e.task_id) };
  if (e.kind === 1) ev.header = Object.fromEntries((e.open.header_count ? koffi.decode(e.open.headers, header, Number(e.open.header_count)) : []).map((h) => [h.name, h.value]));
  if (e.kind === 1 && e.profile) ev.profile = wechatProfile(koffi.decode(e.profile, profile));
  if (e.kind === 2) ev.data = m.kind === 1 ? (m.len ? koffi.decode(m.data, 'char', Number(m.len)) : '') : (m.len ? koffi.view(m.data, Number(m.len)).slice(0) : new ArrayBuffer(0));
  if (e.kind === 3) ev.error = { code: e.error.code, errMsg: e.error.err_msg };
  if (e.kind === 4) { ev.code = e.close.code; ev.reason = e.close.reason; expect(-1); }
  onTaskEvent(ev);
}, eventCb);

const out = [null];
if (c.dispatcherNew(null, out) !== 0) throw new Error('ws_dispatcher_new failed'); // default options
const dispatcher = out[0];
dispatching = true; c.dispatch(dispatcher, 0); dispatching = false; // makes it this thread's: results of calls on unknown ids come here too
const pipe = new net.Socket({ fd: c.dispatcherFd(dispatcher), readable: true, writable: false });
pipe.unref();
// One item at a time, so a callback can ask to let promise reactions run before the next item
// (connectSocket's .then must add onOpen before the open event is dispatched).
function drain() {
  dispatching = true; try { while (!yieldAsked && c.dispatch(dispatcher, 1) > 0); } finally { dispatching = false; }
  if (yieldAsked) { yieldAsked = false; setImmediate(drain); }
}
pipe.on('data', drain);

let resolver = null; // (host, port, answer(err, addresses)) => void
const onResolve = koffi.register((id, host, port) => {
  resolver(host, port, (err, addresses) => (err != null
    ? c.resolveAnswer(id, null, 0, String(err))
    : c.resolveAnswer(id, addresses, addresses.length, null)));
}, resolveCb);

module.exports = {
  onTaskEvent(fn) { onTaskEvent = fn; },
  calls, // for tests: callbacks run inside ws_dispatch and outside it (must stay 0)
  yieldAfterThis() { yieldAsked = true; },
  readyState: (id) => c.readyState(id),
  // ws_init with the host's resolver (null: the system's): before the first connect, else
  // WS_ERR_ALREADY_RUNNING (-26).
  init(resolve) {
    const rc = c.init({ struct_size: koffi.sizeof(config), resolver: resolve ? onResolve : null, resolver_user_data: 0 });
    if (rc === 0) resolver = resolve; // refused (runtime running): the one in use stays
    return rc;
  },
  networkChanged: (probeTimeoutMs) => c.networkChanged(0, true, probeTimeoutMs),
  bufferedAmount: (id) => Number(c.bufferedAmount(id)),
  connect(o, done) {
    const key = keep(done);
    const id = c.connect({ ...o, struct_size: koffi.sizeof(connectOptions), on_event: onEvent, event_user_data: 0, on_result: onResult, result_user_data: key, dispatcher });
    if (id > 0) expect(1); // its close event
    return noThread(Number(id), key, 'connectSocket');
  },
  send(id, bytes, kind, done) { const key = keep(done); return noThread(c.send(id, bytes, bytes.length, kind, onResult, key), key, 'sendSocketMessage'); },
  close(id, code, reason, done) { const key = keep(done); return noThread(c.close(id, code, reason, onResult, key), key, 'closeSocket'); },
};
