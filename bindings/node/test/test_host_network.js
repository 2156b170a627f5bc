'use strict';
// libws's connect-path extensions in the binding: the host's resolver (setResolver, answered
// later from JS, or with an error), networkChanged (a task whose path died silently fails the
// probe, a healthy one stays open) and the profile's proxy times. Runs in its own process:
// setResolver must come before the first connect.
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');
const Taro = require('..');
const { test, run, waitFor, sleep, assert, url } = require('./lib/harness');
const { connect } = require('./lib/record');

const port = Number(new URL(url('/')).port);
const root = path.join(__dirname, '..', '..', '..');
const asked = [];
const answers = { 'resolver.test': ['127.0.0.1'] };

test('setResolver before any task: 0; the resolver answers later, from JS', async () => {
  assert.strictEqual(Taro.setResolver(async (host, p) => {
    asked.push([host, p]);
    await sleep(30);
    if (!answers[host]) throw new Error('nope');
    return answers[host];
  }), 0);
  const t = connect(`ws://resolver.test:${port}/echo`);
  const task = await t.ready;
  await waitFor(() => t.names().includes('open') || t.closed(), 'onOpen');
  const open = t.log.find((e) => e[0] === 'open');
  assert.ok(open, `opened: ${JSON.stringify(t.log)}`);
  assert.deepStrictEqual(asked, [['resolver.test', port]]);
  const p = open[1].profile;
  assert.strictEqual(p.peerAddress, `127.0.0.1:${port}`);
  assert.ok(p.domainLookUpEnd - p.domainLookUpStart >= 25, `the lookup took the resolver's 30 ms: ${p.domainLookUpEnd - p.domainLookUpStart}`);
  assert.deepStrictEqual([p.proxyStart, p.proxyEnd], [0, 0]);
  task.close();
  await waitFor(t.closed, 'onClose');
  assert.strictEqual(Taro.setResolver(null), -26, 'a second setResolver once the runtime runs');
});

test('the resolver rejects: onError names the host and the reason, then onClose 1006', async () => {
  const t = connect(`ws://bad.test:${port}/echo`);
  await t.ready;
  await waitFor(t.closed, 'onClose');
  assert.deepStrictEqual(t.log.filter((e) => e[0] === 'error' || e[0] === 'close').map((e) => e[1]), [
    { errMsg: 'connectSocket:fail could not resolve host "bad.test": nope' },
    { code: 1006, reason: '' },
  ]);
});

// A relay (ffi-tests/relay.py) whose connections can be frozen: forwarding stops, nothing closes.
function startRelay() {
  const child = spawn(path.join(root, '.venv', 'bin', 'python'), [path.join(root, 'ffi-tests', 'relay.py')],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, RELAY_TARGET: String(port) } });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^READY (\d+) (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]), control: Number(m[2]) });
    });
    child.on('exit', (code) => reject(new Error(`relay.py exited ${code}`)));
  });
}

function freeze(control) {
  return new Promise((resolve, reject) => {
    const s = net.connect(control, '127.0.0.1', () => s.write('freeze\n'));
    let out = '';
    s.on('data', (d) => { out += d; });
    s.on('end', () => resolve(out.trim()));
    s.on('error', reject);
  });
}

test('networkChanged: the task whose path died fails within the probe deadline, the healthy one echoes on', async () => {
  const relay = await startRelay();
  try {
    const dead = connect(`ws://127.0.0.1:${relay.port}/echo`);
    const healthy = connect(url('/echo'));
    const [d, h] = await Promise.all([dead.ready, healthy.ready]);
    await waitFor(() => dead.names().includes('open') && healthy.names().includes('open'), 'both open');
    assert.strictEqual(await freeze(relay.control), 'ok 1');
    const t0 = Date.now();
    assert.strictEqual(Taro.networkChanged({ probeTimeout: 300 }), 0);
    await waitFor(dead.closed, 'the dead task\'s onClose', 5000);
    const took = Date.now() - t0;
    assert.ok(took >= 250 && took < 3000, `failed ${took} ms after the call (deadline 300 ms)`);
    assert.deepStrictEqual(dead.log.filter((e) => e[0] === 'error' || e[0] === 'close').map((e) => e[1]), [
      { errMsg: 'onSocketError:fail network changed: no answer to the probe within 300 ms' },
      { code: 1006, reason: '' },
    ]);
    assert.strictEqual(d.readyState, Taro.SocketTask.CLOSED);
    assert.strictEqual(h.readyState, Taro.SocketTask.OPEN);
    h.send({ data: 'still here' });
    await waitFor(() => healthy.log.some((e) => e[0] === 'message' && e[1].data === 'still here'), 'the echo');
    h.close();
    await waitFor(healthy.closed, 'onClose');
  } finally {
    relay.child.stdin.end();
  }
});

// An HTTP CONNECT proxy on 127.0.0.1 that opens the tunnel to whatever it is asked for.
function startProxy() {
  const server = net.createServer((client) => {
    client.once('data', (head) => {
      const [, host, p] = /^CONNECT ([^:]+):(\d+) /.exec(head.toString()) || [];
      const up = net.connect(Number(p), host, () => {
        client.write('HTTP/1.1 200 Connection established\r\n\r\n');
        client.pipe(up).pipe(client);
      });
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

test('profile through a CONNECT proxy: proxyStart and proxyEnd inside connectStart..connectEnd, the peer is the proxy', async () => {
  const proxy = await startProxy();
  try {
    const t = connect(url('/echo'), null, { proxy: `http://127.0.0.1:${proxy.address().port}` });
    const task = await t.ready;
    await waitFor(() => t.names().includes('open') || t.closed(), 'onOpen');
    const open = t.log.find((e) => e[0] === 'open');
    assert.ok(open, `opened: ${JSON.stringify(t.log)}`);
    const p = open[1].profile;
    assert.ok(p.connectStart <= p.proxyStart && p.proxyStart < p.proxyEnd && p.proxyEnd <= p.connectEnd,
      `connectStart ${p.connectStart} <= proxyStart ${p.proxyStart} < proxyEnd ${p.proxyEnd} <= connectEnd ${p.connectEnd}`);
    assert.strictEqual(p.peerAddress, `127.0.0.1:${proxy.address().port}`);
    task.close();
    await waitFor(t.closed, 'onClose');
  } finally {
    proxy.close();
  }
});

run();
