'use strict';
// A server process killed while the socket is open: onOpen, the message, then onError
// ("onSocketError:fail ...") and onClose 1006, nothing after; the process then exits by itself.
const { spawn } = require('child_process');
const path = require('path');
const { test, run, waitFor, sleep, assert } = require('./lib/harness');
const { connect } = require('./lib/record');

test('server killed (SIGKILL) while OPEN: onError then onClose 1006', async () => {
  const server = spawn(process.execPath, [path.join(__dirname, 'lib', 'drop_server.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  server.stdout.on('data', (d) => { out += d; });
  try {
    await waitFor(() => /READY \d+/.test(out), 'the server\'s READY line');
    const port = out.match(/READY (\d+)/)[1];
    const t = connect(`ws://127.0.0.1:${port}/`);
    await waitFor(() => t.names().includes('message'), 'the greeting');
    server.kill('SIGKILL');
    await waitFor(t.closed, 'onClose');
    await sleep(50);
    assert.deepStrictEqual(t.names(), ['success', 'complete', 'then', 'open', 'message', 'error', 'close']);
    assert.deepStrictEqual(t.log[4][1], { data: 'hello' });
    assert.match(t.log[5][1].errMsg, /^onSocketError:fail /);
    assert.deepStrictEqual(t.log[6][1], { code: 1006, reason: '' });
  } finally {
    server.kill('SIGKILL');
  }
});

run();
