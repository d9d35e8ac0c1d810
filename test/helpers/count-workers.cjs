// Preloaded into a CLI run (NODE_OPTIONS=--require ...): counts the worker threads the process
// starts and prints the count as the last line of stderr, so a test can see whether the pool ran.
const threads = require('node:worker_threads');
const { syncBuiltinESMExports } = require('node:module');

if (threads.isMainThread) {
  let started = 0;
  const Worker = threads.Worker;
  threads.Worker = class extends Worker {
    constructor(...args) {
      super(...args);
      started += 1;
    }
  };
  syncBuiltinESMExports();
  process.on('exit', () => process.stderr.write(`workers started: ${started}\n`));
}
