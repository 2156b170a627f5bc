// The Node `ws` 8 client of the benchmark's compression rows (throughput only).
//
//   node bench/node/client.js --mode throughput --url ws://127.0.0.1:PORT/ --size N --conns C
//        --count M --warmup W --window K --corpus FILE --deflate 0|1 [--timeout S]
//
// The messages are the lines of the corpus file (JSON-like text, each exactly --size bytes); message
// seq is line seq % lines with seq written as 10 digits over bytes 8..18 (the value of its "seq"
// field). Every echo is checked whole. Per connection up to --window messages in flight; warm-up
// first on every connection, then the measured phase. Prints the RESULT line of the other clients
// plus the bytes written to and read from the sockets per measured message (wire_out_per_msg,
// wire_in_per_msg: frames, headers and all, as TCP carried them).
'use strict';

const fs = require('fs');
const WebSocket = require('ws');

const a = { mode: 'throughput', size: 1024, conns: 1, count: 1000, warmup: 100, window: 64, timeout: 120, deflate: 0 };
const argv = process.argv.slice(2);
for (let i = 0; i + 1 < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, ''), v = argv[i + 1];
    if (['size', 'conns', 'count', 'warmup', 'window', 'timeout', 'deflate'].includes(k)) a[k] = Number(v);
    else if (['mode', 'url', 'corpus', 'ca', 'path', 'client'].includes(k)) a[k] = v;
    else die(`unknown argument --${k}`);
}
function die(msg) {
    process.stderr.write(`error: ${msg}\n`);
    process.exit(2);
}
if (a.mode !== 'throughput') die('only --mode throughput');
if (!a.url || !a.corpus) die('--url and --corpus are required');
setTimeout(() => die('timed out'), (a.timeout + 30) * 1000).unref();

const corpus = fs.readFileSync(a.corpus, 'latin1').split('\n').filter((l) => l.length).map((l) => Buffer.from(l, 'latin1'));
for (const m of corpus) if (m.length !== a.size) die(`corpus line of ${m.length} bytes, expected ${a.size}`);
// The corpus is JSON: checked once here (every line parses, seq field where expected).
for (const m of corpus) if (JSON.parse(m.toString('latin1')).seq !== '0000000000') die('corpus line without its seq field');

function message(seq) {
    const b = Buffer.from(corpus[seq % corpus.length]);
    b.write(String(seq).padStart(10, '0'), 8, 'latin1');
    return b;
}

const conns = [];
let phaseTo = 0, done = 0, phase = 0, t0 = 0n, cpu0 = null, wire0 = [0, 0];
function wire() {
    let out = 0, inn = 0;
    for (const c of conns) { out += c.ws._socket.bytesWritten; inn += c.ws._socket.bytesRead; }
    return [out, inn];
}
function pump(c) {
    while (c.sent < phaseTo && c.sent - c.recv < a.window) {
        c.ws.send(message(c.sent), { binary: false });
        c.sent++;
    }
}
function startPhase(p) {
    phase = p;
    phaseTo = p === 0 ? a.warmup : a.warmup + a.count;
    done = 0;
    if (p === 1) {
        wire0 = wire();
        t0 = process.hrtime.bigint();
        cpu0 = process.cpuUsage();
    }
    for (const c of conns) pump(c);
}
function finish() {
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const w = wire();
    const msgs = a.count * a.conns;
    console.log(`RESULT ok=1 msgs=${msgs} secs=${secs.toFixed(6)} msgs_per_s=${(msgs / secs).toFixed(1)} ` +
        `mb_per_s=${(msgs * a.size / secs / 1e6).toFixed(2)} cpu_us_per_msg=${((cpu.user + cpu.system) / msgs).toFixed(3)} ` +
        `wire_out_per_msg=${((w[0] - wire0[0]) / msgs).toFixed(1)} wire_in_per_msg=${((w[1] - wire0[1]) / msgs).toFixed(1)}`);
    for (const c of conns) c.ws.terminate();
    process.exit(0);
}

let opened = 0;
for (let i = 0; i < a.conns; i++) {
    const ws = new WebSocket(a.url, { perMessageDeflate: a.deflate ? { threshold: 0 } : false });
    const c = { ws, sent: 0, recv: 0 };
    conns.push(c);
    ws.on('open', () => {
        ws._socket.setNoDelay(true);
        const got = (ws.extensions || '').includes('permessage-deflate');
        if (got !== !!a.deflate) die(`permessage-deflate ${got ? 'in effect' : 'refused'}, asked ${a.deflate}`);
        if (++opened === a.conns) startPhase(0);
    });
    ws.on('message', (data, isBinary) => {
        const seq = c.recv;
        if (isBinary || !data.equals(message(seq))) die(`bad echo of message ${seq} (${data.length} bytes)`);
        c.recv++;
        if (c.recv === phaseTo) {
            if (++done === a.conns) {
                if (phase === 0) startPhase(1);
                else finish();
            }
        } else {
            pump(c);
        }
    });
    ws.on('error', (e) => die(`connection ${i}: ${e.message}`));
    ws.on('close', () => { if (!(phase === 1 && done === a.conns)) die(`connection ${i} closed`); });
}
