'use strict';
// A Node `ws` server on 127.0.0.1 (port 0) that greets each client with "hello"; the test kills
// this process (SIGKILL) to drop the connection without a close frame.
const { WebSocketServer } = require('ws');

const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
server.on('connection', (ws) => ws.send('hello'));
server.on('listening', () => process.stdout.write(`READY ${server.address().port}\n`));
