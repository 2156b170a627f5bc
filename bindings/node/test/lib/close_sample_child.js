'use strict';
// One run of the Taro.closeSocket sample in a process of its own (its global listeners are
// process-wide): argv[2] is the URL, argv[3] "busy" keeps JS busy 100 ms after the sample ran.
// Prints one JSON line with the sample's log and what the global listeners saw, when the process
// exits by itself (nothing left open keeps it alive).
const Taro = require('../..');
const { load } = require('./samples');
const { busy } = require('./harness');

const log = [];
const seen = [];
Taro.onSocketOpen((res) => seen.push(['open', Object.keys(res)]));
Taro.onSocketError((res) => seen.push(['error', res.errMsg]));
load('closeSocket-example.js', process.argv[2])(Taro, { log: (...a) => log.push(a.join(' ')) });
Taro.onSocketClose((res) => seen.push(['close', res.code, res.reason]));
if (process.argv[3] === 'busy') busy(100);
process.on('exit', (code) => process.stdout.write(JSON.stringify({ code, log, seen }) + '\n'));
