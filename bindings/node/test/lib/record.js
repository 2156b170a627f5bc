'use strict';
// Records what a task (and the global onSocket* listeners) report, in order.
const Taro = require('../..');

const global = [];
Taro.onSocketOpen((res) => global.push(['open', res]));
Taro.onSocketMessage((res) => global.push(['message', res]));
Taro.onSocketError((res) => global.push(['error', res]));
Taro.onSocketClose((res) => global.push(['close', res]));

// connectSocket(options) with success/fail/complete and every event of the task recorded in
// `log` as [name, res]; `then` runs inside the Promise's reaction (before any event).
function connect(url, then, extra = {}) {
  const log = [];
  const cb = (name) => (res) => log.push([name, res]);
  const p = Taro.connectSocket({ url, success: cb('success'), fail: cb('fail'), complete: cb('complete'), ...extra });
  const ready = p.then((task) => {
    for (const name of ['Open', 'Message', 'Error', 'Close']) task['on' + name](cb(name.toLowerCase()));
    log.push(['then', task.readyState]);
    if (then) then(task, log);
    return task;
  }, (res) => { log.push(['rejected', res]); return null; });
  return { log, ready, names: () => log.map((e) => e[0]), closed: () => log.some((e) => e[0] === 'close') };
}

// A result callback set recording into log under name.
function results(log, name) {
  const cb = (what) => (res) => log.push([`${name}.${what}`, res]);
  return { success: cb('success'), fail: cb('fail'), complete: cb('complete') };
}

module.exports = { connect, results, global };
