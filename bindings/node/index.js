'use strict';
// The mini-program WebSocket API (WeChat's wx.*, as Taro exposes it) on libws: connectSocket,
// SocketTask, closeSocket, sendSocketMessage and the onSocket* listeners. Every errMsg is libws's,
// unchanged. Results and events run on this (the JS) thread, in the order libws produced them,
// through the dispatcher in ffi.js.
const ffi = require('./ffi');

const WS_TEXT = 1;
const WS_BINARY = 2;
const NAMES = { 1: 'open', 2: 'message', 3: 'error', 4: 'close' };
const tasks = new Map(); // socketTaskId -> SocketTask, until its close event
const globalListeners = { open: [], message: [], error: [], close: [] };
let current = 0; // the task closeSocket and sendSocketMessage act on: the last one connected

// A listener or callback that throws is reported as Node reports any uncaught exception, after
// the dispatch in progress: an exception must not unwind through libws.
function call(fn, arg) {
  if (typeof fn !== 'function') return;
  try {
    fn(arg);
  } catch (err) {
    process.nextTick(() => { throw err; });
  }
}

// success/fail/complete, as the mini-program calls them, with { errMsg } (plus socketTaskId for
// connectSocket's).
function settle(options, res) {
  const out = { errMsg: res.errMsg };
  call(res.code === 0 ? options.success : options.fail, out);
  call(options.complete, out);
  return out;
}

function toBytes(data) {
  if (typeof data === 'string') return [Buffer.from(data, 'utf8'), WS_TEXT];
  if (data instanceof ArrayBuffer) return [Buffer.from(data), WS_BINARY];
  if (ArrayBuffer.isView(data)) return [Buffer.from(data.buffer, data.byteOffset, data.byteLength), WS_BINARY];
  return null;
}

class SocketTask {
  constructor(id) {
    this.socketTaskId = id;
    this.listeners = { open: [], message: [], error: [], close: [] };
  }

  // As libws reports it for this thread: OPEN only once onOpen ran, CLOSED once onClose ran.
  get readyState() { return Math.max(ffi.readyState(this.socketTaskId), 0); }
  // Bytes of accepted sends not yet written to the kernel (ws_buffered_amount); 0 once CLOSED.
  get bufferedAmount() { return Math.max(ffi.bufferedAmount(this.socketTaskId), 0); }

  send(options = {}, onDone) {
    const bytes = toBytes(options.data);
    const done = (res) => (onDone || settle)(options, res);
    if (!bytes) {
      // Not a type libws takes: its own errMsg for an unknown message kind.
      return ffi.send(this.socketTaskId, Buffer.alloc(0), 0, done);
    }
    return ffi.send(this.socketTaskId, bytes[0], bytes[1], done);
  }

  close(options = {}, onDone) {
    const reason = options.reason === undefined ? null : String(options.reason);
    return ffi.close(this.socketTaskId, options.code || 0, reason, (res) => (onDone || settle)(options, res));
  }

  onOpen(fn) { this.listeners.open.push(fn); }
  onMessage(fn) { this.listeners.message.push(fn); }
  onError(fn) { this.listeners.error.push(fn); }
  onClose(fn) { this.listeners.close.push(fn); }
}
for (const [name, value] of [['CONNECTING', 0], ['OPEN', 1], ['CLOSING', 2], ['CLOSED', 3]]) {
  SocketTask[name] = value;
  SocketTask.prototype[name] = value;
}

ffi.onTaskEvent((ev) => {
  const task = tasks.get(ev.taskId);
  const name = NAMES[ev.kind];
  let arg;
  if (name === 'open') arg = { header: ev.header, profile: ev.profile };
  else if (name === 'message') arg = { data: ev.data };
  else if (name === 'error') arg = { errMsg: ev.error.errMsg };
  else arg = { code: ev.code, reason: ev.reason };
  if (name === 'close') tasks.delete(ev.taskId);
  for (const fn of task ? task.listeners[name].slice() : []) call(fn, arg);
  for (const fn of globalListeners[name].slice()) call(fn, arg);
});

// The Promise settles with the result (fail: rejected); the callbacks run first.
function withPromise(start) {
  return new Promise((resolve, reject) => {
    start((options, res) => {
      const out = settle(options, res);
      ffi.yieldAfterThis(); // let .then run before the next item is dispatched
      (res.code === 0 ? resolve : reject)(out);
    });
  });
}

// Taro.connectSocket: a Promise of the SocketTask, resolved on "connectSocket:ok" (the attempt
// started; onOpen follows) before any event of the task is dispatched, so listeners added in
// .then miss nothing. Rejected with { errMsg } on "connectSocket:fail ...".
function connectSocket(options = {}) {
  let task = null;
  return new Promise((resolve, reject) => {
    const header = Object.entries(options.header || {}).map(([name, value]) => ({ name, value: String(value) }));
    const protocols = options.protocols || [];
    const id = ffi.connect({
      url: String(options.url),
      headers: header.length ? header : null,
      header_count: header.length,
      protocols: protocols.length ? protocols : null,
      protocol_count: protocols.length,
      tcp_no_delay: !!options.tcpNoDelay,
      timeout_ms: options.timeout || 0,
      per_message_deflate: !!options.perMessageDeflate,
      proxy: options.proxy || null, // libws's own: "http://host:port" or "socks5://host:port"
    }, (res) => {
      const out = settle(options, res);
      ffi.yieldAfterThis();
      if (res.code === 0) resolve(Object.assign(task, { errMsg: out.errMsg }));
      else reject(out);
    });
    if (id > 0) {
      task = new SocketTask(id);
      tasks.set(id, task);
      current = id;
    }
  });
}

function closeSocket(options = {}) {
  return withPromise((done) => new SocketTask(current).close(options, done));
}

function sendSocketMessage(options = {}) {
  return withPromise((done) => new SocketTask(current).send(options, done));
}

// libws's own: the host's resolver (an HTTP DNS client, say) for every task whose URL names a
// host: resolve(host, port) returns the addresses (IP strings, "[::1]:8080" with a port) or a
// Promise of them; a throw or rejection fails the task ("could not resolve host ..."). The URL's
// host stays the TLS server name and Host header. Call before the first connectSocket; returns 0,
// or -26 (WS_ERR_ALREADY_RUNNING) when tasks were already made. null: the system's resolver.
function setResolver(resolve) {
  return ffi.init(resolve && ((host, port, answer) => {
    Promise.resolve().then(() => resolve(host, port)).then(
      (addresses) => answer(null, Array.from(addresses, String)),
      (err) => answer((err && err.message) || String(err)),
    );
  }));
}

// libws's own: the device's network changed (Wi-Fi to cellular...): every open task is probed
// with a ping; one that does not answer within probeTimeout ms (default 3000) fails with onError
// "onSocketError:fail network changed: no answer to the probe within N ms" and onClose 1006.
function networkChanged(options = {}) {
  return ffi.networkChanged(options.probeTimeout || 0);
}

module.exports = {
  connectSocket,
  setResolver,
  networkChanged,
  closeSocket,
  sendSocketMessage,
  onSocketOpen: (fn) => globalListeners.open.push(fn),
  onSocketMessage: (fn) => globalListeners.message.push(fn),
  onSocketError: (fn) => globalListeners.error.push(fn),
  onSocketClose: (fn) => globalListeners.close.push(fn),
  SocketTask,
};
