'use strict';
// The two samples of the seed documents, kept verbatim in test/samples/, run with `Taro` bound to
// the binding and only their URL replaced.
const assert = require('assert');
const fs = require('fs');
const path = require('path');

const URLS = { 'connectSocket-example2.js': "'ws://echo.websocket.org/echo'", 'closeSocket-example.js': "'test.php'" };
// The seeds beside the repository (../shared/seeds, as CI lays them), or where LIBWS_SEEDS says.
const SEEDS = process.env.LIBWS_SEEDS || path.join(__dirname, '..', '..', '..', '..', '..', 'shared', 'seeds');

function text(name) { return fs.readFileSync(path.join(__dirname, '..', 'samples', name), 'utf8'); }

// A function (Taro, console) running the sample against `url`.
function load(name, url) {
  const code = text(name);
  assert(code.includes(URLS[name]), `${name} holds its URL ${URLS[name]}`);
  return new Function('Taro', 'console', code.replace(URLS[name], JSON.stringify(url)));
}

// Where the seed documents are beside the repository: each sample file appears in one of them
// character for character. Returns false when the seeds are not there.
function matchesSeeds() {
  if (!fs.existsSync(SEEDS)) return false;
  const seeds = fs.readdirSync(SEEDS).map((f) => fs.readFileSync(path.join(SEEDS, f), 'utf8'));
  for (const name of Object.keys(URLS)) assert(seeds.some((s) => s.includes(text(name))), `${name} is verbatim in a seed`);
  return true;
}

module.exports = { load, matchesSeeds };
