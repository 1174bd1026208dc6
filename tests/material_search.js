// Material for MkDocs' own search worker (the installed package's workers/search.*.min.js), run in Node the way
// the search dialog runs it in a browser (tests/test_search_errors.py):
//   node material_search.js WORKER.js INDEX.json < queries      (one JSON string per line)
// prints one JSON line per query: the result groups (one per page), each a list of {location, title, score} in
// the order the dialog lists them; the first item of the first group is the first result a reader sees.
"use strict";
const fs = require("fs");
const vm = require("vm");
const [worker, indexPath] = process.argv.slice(2);
const listeners = [];
const replies = [];
const context = {
  console, Promise, Map, Set, Object, Array, Math, JSON, RegExp, String, Number, Symbol, Error, TypeError,
  addEventListener: (type, fn) => listeners.push(fn),
  postMessage: (msg) => replies.push(msg),
  importScripts: () => {},
};
context.self = context;
vm.createContext(context);
vm.runInContext(fs.readFileSync(worker, "utf8"), context);
async function send(data) {
  replies.length = 0;
  for (const fn of listeners) fn({ data });
  for (let i = 0; i < 1000 && !replies.length; i++) await new Promise((r) => setImmediate(r));
  return replies[0];
}
(async () => {
  const index = JSON.parse(fs.readFileSync(indexPath, "utf8"));
  await send({ type: 0, data: Object.assign({ options: { suggest: true } }, index) });
  const queries = fs.readFileSync(0, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  for (const q of queries) {
    const reply = await send({ type: 2, data: q });
    const groups = reply.data.items.map((g) => g.map((d) => ({ location: d.location, title: d.title, score: d.score })));
    process.stdout.write(JSON.stringify(groups) + "\n");
  }
})();
