'use strict';
// The Taro samples of the seed documents, verbatim but for the URL: connectSocket example 2 and
// the closeSocket example, 50 runs each, and 50 more with JS busy for 100 ms right after the call.
// No run may lose onOpen (before the dispatcher, 42 of 50 runs of example 2 did: the open event
// reached JS before the Promise's .then added onOpen).
const { execFile } = require('child_process');
const path = require('path');
const Taro = require('..');
const { test, run, waitFor, busy, assert, url } = require('./lib/harness');
const { load, matchesSeeds } = require('./lib/samples');

const RUNS = 50;

test('the sample files are the seed documents\' text', () => {
  if (!matchesSeeds()) console.log('     (seed documents not beside the repository: not compared)');
});

async function connectExample(busyMs) {
  const sample = load('connectSocket-example2.js', url('/echo'));
  for (let i = 0; i < RUNS; i++) {
    const log = [];
    sample(Taro, { log: (...a) => log.push(a) });
    if (busyMs) busy(busyMs);
    await waitFor(() => log.some((l) => l[0] === 'onClose: '), `run ${i}: onClose`);
    assert.deepStrictEqual(log, [
      ['connect success'],
      ['onOpen'],
      ['onMessage: ', { data: 'xxx' }],
      ['onClose: ', { code: 1000, reason: '' }],
    ], `run ${i}`);
  }
}

test(`connectSocket example 2, ${RUNS} runs: connect success, onOpen, onMessage xxx, onClose 1000`, () => connectExample(0));
test(`connectSocket example 2, ${RUNS} runs, JS busy 100 ms after the call`, () => connectExample(100));

function child(busyArg) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(__dirname, 'lib', 'close_sample_child.js'), url('/echo'), busyArg],
      { timeout: 20000 }, (err, stdout, stderr) => {
        if (err) return reject(new Error(`child: ${err.message} ${stderr}`));
        resolve(JSON.parse(stdout.trim().split('\n').pop()));
      });
  });
}

async function closeExample(busyArg) {
  // 4 processes at a time; each must exit by itself, with status 0, once its socket closed.
  for (let i = 0; i < RUNS; i += 4) {
    const outs = await Promise.all([0, 1, 2, 3].filter((k) => i + k < RUNS).map(() => child(busyArg)));
    for (const out of outs) {
      assert.deepStrictEqual(out, {
        code: 0,
        log: ['WebSocket Disabled!'],
        seen: [['open', ['header', 'profile']], ['close', 1000, '']],
      }, `run ${i}`);
    }
  }
}

test(`closeSocket example, ${RUNS} processes: onSocketOpen, closeSocket, onSocketClose 1000, exit 0`, () => closeExample(''));
test(`closeSocket example, ${RUNS} processes, JS busy 100 ms after the call`, () => closeExample('busy'));

run();
