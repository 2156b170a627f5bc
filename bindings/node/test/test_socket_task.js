'use strict';
// SocketTask and the global API against real servers (ffi-tests/server.py), each case checked
// against the errMsg and the order of events WeChat documents: connectSocket's success/complete,
// then onOpen or onError, messages, exactly one onClose, nothing after it.
const Taro = require('..');
const { test, run, waitFor, busy, sleep, assert, url } = require('./lib/harness');
const { connect, results, global } = require('./lib/record');

const SILENT = `ws://127.0.0.1:${process.env.SILENT_PORT}/`;
const OK = { errMsg: 'connectSocket:ok' };

test('echo: string and ArrayBuffer, readyState as the listeners saw it, close 4000 with a reason', async () => {
  const states = [];
  const t = connect(url('/echo'), (task, log) => {
    task.onOpen(() => { states.push(task.readyState); task.send({ data: 'héllo', ...results(log, 'send') }); });
    task.onMessage((m) => {
      if (typeof m.data === 'string') task.send({ data: new Uint8Array([0, 1, 255]).buffer });
      else { task.close({ code: 4000, reason: 'done', ...results(log, 'close') }); states.push(task.readyState); }
    });
    task.onClose(() => states.push(task.readyState));
  });
  const task = await t.ready;
  assert.strictEqual(task.socketTaskId > 0, true);
  await waitFor(t.closed, 'onClose');
  assert.deepStrictEqual(states, [Taro.SocketTask.OPEN, Taro.SocketTask.CLOSING, Taro.SocketTask.CLOSED]);
  const bin = t.log.find((e) => e[0] === 'message' && e[1].data instanceof ArrayBuffer);
  assert.deepStrictEqual([...new Uint8Array(bin[1].data)], [0, 1, 255]);
  assert.deepStrictEqual(t.log.filter((e) => !e[0].startsWith('send')), [
    ['success', OK], ['complete', OK], ['then', Taro.SocketTask.CONNECTING], ['open', { header: t.log[3][1].header }],
    ['message', { data: 'héllo' }], ['message', bin[1]],
    ['close.success', { errMsg: 'closeSocket:ok' }], ['close.complete', { errMsg: 'closeSocket:ok' }],
    ['close', { code: 4000, reason: 'done' }],
  ]);
  assert.strictEqual(typeof t.log[3][1].header, 'object');
  assert.deepStrictEqual(t.log.filter((e) => e[0] === 'send.success').length, 1);
});

test('6 connections at once: 5 open, the 6th fails "exceed max concurrent count (5)" with no event', async () => {
  const ts = [];
  for (let i = 0; i < 6; i++) ts.push(connect(url('/echo')));
  await Promise.all(ts.map((t) => t.ready));
  await waitFor(() => ts.slice(0, 5).every((t) => t.names().includes('open')), 'five onOpen');
  const fail = { errMsg: 'connectSocket:fail exceed max concurrent count (5)' };
  assert.deepStrictEqual(ts[5].log, [['fail', fail], ['complete', fail], ['rejected', fail]]);
  for (const t of ts.slice(0, 5)) (await t.ready).close();
  await waitFor(() => ts.slice(0, 5).every((t) => t.closed()), 'five onClose');
  await sleep(50);
  assert.deepStrictEqual(ts[5].log.length, 3, 'nothing after the refusal');
});

test('close during CONNECTING (the server never answers): closeSocket:ok, onClose 1006, no onOpen or onError', async () => {
  const t = connect(SILENT, (task, log) => task.close(results(log, 'close')));
  await waitFor(t.closed, 'onClose');
  await sleep(50);
  assert.deepStrictEqual(t.names(), ['success', 'complete', 'then', 'close.success', 'close.complete', 'close']);
  assert.strictEqual(t.log[5][1].code, 1006);
});

test('close before onOpen ran, the handshake done meanwhile (JS busy 100 ms): aborted, never onOpen', async () => {
  const t = connect(url('/echo'), (task, log) => task.close(results(log, 'close')));
  busy(100); // libws opens the socket meanwhile; JS has not seen it
  await waitFor(t.closed, 'onClose');
  await sleep(50);
  assert.deepStrictEqual(t.names(), ['success', 'complete', 'then', 'close.success', 'close.complete', 'close']);
  assert.deepStrictEqual(t.log[5][1], { code: 1006, reason: '' });
});

test('close(999) and a 200-byte reason fail with libws\'s errMsg; the task stays OPEN; then close() works', async () => {
  let task;
  const t = connect(url('/echo'), (tk) => { task = tk; });
  await waitFor(() => t.names().includes('open'), 'onOpen');
  const log = [];
  task.close({ code: 999, ...results(log, 'c999') });
  task.close({ code: 1000, reason: 'x'.repeat(200), ...results(log, 'c200') });
  await waitFor(() => log.length === 4, 'both results');
  const bad = { errMsg: 'closeSocket:fail invalid close code 999: must be 1000 or in 3000-4999' };
  const long = { errMsg: 'closeSocket:fail close reason is 200 bytes, more than 123' };
  assert.deepStrictEqual(log, [['c999.fail', bad], ['c999.complete', bad], ['c200.fail', long], ['c200.complete', long]]);
  assert.strictEqual(task.readyState, Taro.SocketTask.OPEN);
  task.close();
  await waitFor(t.closed, 'onClose');
  assert.deepStrictEqual(t.log[t.log.length - 1], ['close', { code: 1000, reason: '' }]);
});

test('send after close(): "not OPEN"; after onClose: "socketTaskId N is closed"', async () => {
  let task;
  const t = connect(url('/echo'), (tk) => { task = tk; });
  await waitFor(() => t.names().includes('open'), 'onOpen');
  const log = [];
  task.close();
  task.send({ data: 'late', ...results(log, 'closing') });
  await waitFor(t.closed, 'onClose');
  task.send({ data: 'later', ...results(log, 'closed') });
  await waitFor(() => log.length === 4, 'both results');
  assert.deepStrictEqual(log.map((e) => e[0]), ['closing.fail', 'closing.complete', 'closed.fail', 'closed.complete']);
  assert.match(log[0][1].errMsg, /^sendSocketMessage:fail socket is not OPEN/);
  assert.strictEqual(log[2][1].errMsg, `sendSocketMessage:fail socketTaskId ${task.socketTaskId} is closed`);
  assert.strictEqual(task.readyState, Taro.SocketTask.CLOSED);
  assert.ok(!t.log.some((e) => e[0] === 'message'), 'no echo of a refused send');
});

test('unreachable URL: connectSocket:ok, onError "connectSocket:fail ...", onClose 1006 (task and global listeners)', async () => {
  global.length = 0;
  const t = connect('ws://127.0.0.1:1/');
  await waitFor(t.closed, 'onClose');
  assert.deepStrictEqual(t.names(), ['success', 'complete', 'then', 'error', 'close']);
  assert.match(t.log[3][1].errMsg, /^connectSocket:fail .*refused/);
  assert.deepStrictEqual(t.log[4][1], { code: 1006, reason: '' });
  assert.deepStrictEqual(global, [['error', t.log[3][1]], ['close', t.log[4][1]]]);
});

test('sendSocketMessage and closeSocket act on the last task; their Promises settle after the callbacks', async () => {
  const t = connect(url('/echo'));
  await waitFor(() => t.names().includes('open'), 'onOpen');
  const order = [];
  const sent = await Taro.sendSocketMessage({ data: 'g', success: () => order.push('success') });
  order.push('resolved');
  assert.deepStrictEqual(sent, { errMsg: 'sendSocketMessage:ok' });
  await waitFor(() => t.names().includes('message'), 'echo');
  assert.deepStrictEqual(await Taro.closeSocket({ code: 4001, reason: 'g' }), { errMsg: 'closeSocket:ok' });
  await waitFor(t.closed, 'onClose');
  assert.deepStrictEqual(order, ['success', 'resolved']);
  assert.deepStrictEqual(t.log[t.log.length - 1], ['close', { code: 4001, reason: 'g' }]);
  await assert.rejects(Taro.closeSocket(), { errMsg: `closeSocket:fail socketTaskId ${(await t.ready).socketTaskId} is closed` });
});

test('every callback so far ran inside ws_dispatch on this thread, none relayed from libws\'s thread', async () => {
  const { calls } = require('../ffi');
  assert.ok(calls.inside > 20, `only ${calls.inside} callbacks seen`);
  assert.strictEqual(calls.outside, 0);
});

run();
