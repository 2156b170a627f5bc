'use strict';
// A small test harness: cases run one after another, each bounded (a bug fails, never hangs);
// prints "ok name" / "FAIL name: why" and ends with "N passed, N failed".
const assert = require('assert');

const cases = [];
const CASE_MS = 60000;

function test(name, fn) { cases.push([name, fn]); }

// Resolves once pred() is true (polled every 2 ms), rejects naming `what` after ms.
function waitFor(pred, what, ms = 10000) {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    (function poll() {
      if (pred()) return resolve();
      if (Date.now() > until) return reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      setTimeout(poll, 2);
    })();
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Keeps the JS thread busy (no event loop turn) for ms.
function busy(ms) {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

// Runs fn with console.log recorded into the returned array (the seed samples log their events).
function recordLog() {
  const lines = [];
  const original = console.log;
  console.log = (...args) => lines.push(args.length === 1 ? args[0] : args);
  lines.restore = () => { console.log = original; };
  return lines;
}

async function run() {
  let passed = 0;
  let failed = 0;
  for (const [name, fn] of cases) {
    const started = Date.now();
    let timer;
    try {
      await Promise.race([
        fn(),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`case took over ${CASE_MS} ms`)), CASE_MS); }),
      ]);
      passed++;
      console.log(`ok   ${name} (${Date.now() - started} ms)`);
    } catch (err) {
      failed++;
      console.log(`FAIL ${name}: ${err && err.stack ? err.stack : err}`);
    } finally {
      clearTimeout(timer);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

const WS_BASE = process.env.WS_BASE;
const url = (p) => `${WS_BASE}${p}`;

module.exports = { test, run, waitFor, sleep, busy, recordLog, assert, url };
