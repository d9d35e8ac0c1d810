/**
 * The file piscina loads in each worker: a CommonJS shim that imports the ESM worker (worker.ts).
 * piscina require()s its worker file first, and on Node 20.19+ require() of an ES module goes
 * through a synchronous facade that aborts the whole process (v8 "Empty MaybeLocal") when the pool
 * is closed while a worker is still loading; a dynamic import is the asynchronous path, which a
 * terminating worker abandons cleanly. Loading starts as soon as the worker does.
 */
type Worker = typeof import('./worker.js');

const handler: Promise<Worker['default']> = import('./worker.js').then((m: Worker) => m.default);
// Reported with the first task; the worker must not die of an unhandled rejection before that.
handler.catch(() => undefined);

module.exports = async function run(task: Parameters<Worker['default']>[0]): Promise<Awaited<ReturnType<Worker['default']>>> {
  return (await handler)(task);
};
