// The echo server of the benchmark's compression rows: Node `ws` 8 with permessage-deflate.
//
//   node bench/node/echo_server.js
//
// Binds 127.0.0.1 on a free port and prints "READY port=<port>" once it listens. Every message is
// echoed with its type. permessage-deflate is accepted whenever the client offers it (context
// takeover both ways, the server's full 15-bit window, zlib's default level 6), with threshold 0
// so every message is compressed; a client that does not offer it gets plain frames from the same
// server. TCP_NODELAY on every socket (ws sets it). Exits when stdin reaches EOF, so it never
// outlives the runner, and after an hour at most.
'use strict';

const { WebSocketServer } = require('ws');

const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    maxPayload: 64 * 1024 * 1024,
    perMessageDeflate: {
        threshold: 0,
        serverNoContextTakeover: false,
        clientNoContextTakeover: false,
        concurrencyLimit: 10,
    },
});

wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', (err) => process.stderr.write(`echo_server: ${err.message}\n`));
});
wss.on('listening', () => process.stdout.write(`READY port=${wss.address().port}\n`));
wss.on('error', (err) => {
    process.stderr.write(`echo_server: ${err.message}\n`);
    process.exit(1);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
setTimeout(() => process.exit(0), 3600 * 1000).unref();
