'use strict';
// SocketTask.bufferedAmount (ws_buffered_amount): bytes sent and not yet written to the kernel.
// A server of this file completes the upgrade and then stops reading, so the sends pile up in
// libws; once it reads again, every send completes and the amount returns to 0.
const net = require('net');
const crypto = require('crypto');
const { test, run, waitFor, assert } = require('./lib/harness');
const { connect } = require('./lib/record');

const MiB = 1 << 20;

// A WebSocket server that answers the upgrade, then pauses its socket (reads nothing) until resumed.
function stalledServer() {
  let peer = null;
  const server = net.createServer((sock) => {
    let head = '';
    sock.on('data', function onData(d) {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      sock.removeListener('data', onData);
      sock.pause();
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head)[1];
      const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      peer = sock;
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    server, port: server.address().port, peer: () => peer,
  })));
}

test('grows while the server does not read, back to 0 once it reads; unknown ids answer 0', async () => {
  const s = await stalledServer();
  const t = connect(`ws://127.0.0.1:${s.port}/`);
  const task = await t.ready;
  await waitFor(() => t.names().includes('open'), 'onOpen');
  assert.strictEqual(task.bufferedAmount, 0, 'nothing sent yet');
  const done = [];
  for (let i = 0; i < 8; i++) {
    task.send({ data: new ArrayBuffer(MiB), success: () => done.push('ok'), fail: (r) => done.push(r.errMsg) });
  }
  // Kernel buffers take a few MiB at most: the rest waits in libws and is counted.
  await waitFor(() => s.peer() !== null, 'the server side of the connection');
  const stalled = task.bufferedAmount;
  assert.ok(stalled >= 2 * MiB && stalled <= 8 * MiB && stalled % MiB === 0, `pending whole messages: ${stalled}`);
  s.peer().on('data', () => {});
  s.peer().resume();
  await waitFor(() => done.length === 8, 'every send\'s result');
  assert.deepStrictEqual(done, Array(8).fill('ok'));
  assert.strictEqual(task.bufferedAmount, 0, 'all written');
  task.close();
  await waitFor(t.closed, 'onClose');
  s.peer().destroy();
  s.server.close();
});

run();
