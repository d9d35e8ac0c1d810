/**
 * Start-up probe for bench/whole-process.ts, run as a fresh process each time: how long until
 * sealcam has sealed its first message, in steps. Nothing is imported statically, so the first
 * figure is Node's own bootstrap (performance.now() counts from process start).
 */
const nodeBootMs = performance.now();
const t0 = performance.now();
const engine = await import('../src/engine/eax.js'); // what sealing an image needs
const wasm = await import('../src/engine/wasm.js');
const t1 = performance.now();
await import('../src/index.js'); // the rest of the public API: formats, pool, keys, storage, notify
const t2 = performance.now();
wasm.wasmModule(); // reads the .wasm file and compiles it (once per process)
const t3 = performance.now();
const eax = engine.createEax(new Uint8Array(16)); // instantiates the module, runs the key schedule
const t4 = performance.now();
eax.encrypt(new Uint8Array(16), new Uint8Array(1024));
const t5 = performance.now();
console.log(
  JSON.stringify({
    nodeBootMs,
    engineImportMs: t1 - t0,
    libraryImportMs: t2 - t1,
    wasmCompileMs: t3 - t2,
    firstInstanceMs: t4 - t3,
    firstMessageMs: t5 - t4,
  }),
);
