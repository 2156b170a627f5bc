// A Node `ws` echo server with permessage-deflate, for ffi-tests/test_deflate.c.
//
//   node ffi-tests/node/echo_server.js [PORT]
//
// Binds 127.0.0.1 (port 0, the default, picks a free one) and prints "READY <port>" once it
// listens. Every connection on any path: each message is echoed back with its type (text as text,
// binary as binary). permessage-deflate is accepted whenever the client offers it, with threshold
// 0 so that every message, however small, is compressed (RSV1 set). maxPayload 64 MiB, so 16 MiB
// messages pass. Exits when stdin reaches EOF (it never outlives the test that started it).
'use strict';

const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 0);
const wss = new WebSocketServer({
    host: '127.0.0.1',
    port,
    maxPayload: 64 * 1024 * 1024,
    perMessageDeflate: {
        threshold: 0,
        // Context takeover both ways (the defaults), the server's full 15-bit window.
        serverNoContextTakeover: false,
        clientNoContextTakeover: false,
        concurrencyLimit: 10,
    },
});

wss.on('connection', (ws, req) => {
    ws.on('message', (data, isBinary) => {
        ws.send(data, { binary: isBinary, compress: true });
    });
    ws.on('error', (err) => {
        process.stderr.write(`connection ${req.url}: ${err.message}\n`);
    });
});

wss.on('listening', () => {
    process.stdout.write(`READY ${wss.address().port}\n`);
});

wss.on('error', (err) => {
    process.stderr.write(`server: ${err.message}\n`);
    process.exit(1);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
