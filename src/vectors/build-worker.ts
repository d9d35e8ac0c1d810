import { parentPort, workerData } from 'node:worker_threads';
import { runVectorPaths, runVectors } from './files.js';

/**
 * Runs the WASM known-answer files on the one build this thread compiles (its SEALCAM_WASM, set by
 * `sealcam vectors`). A thread rather than a child process: a Node started under qemu user-mode
 * emulation cannot exec its own binary, and a thread also skips a second Node start-up.
 */
const { files } = workerData as { files: string[] };
const results = files.length > 0 ? await runVectorPaths(files, ['wasm']) : await runVectors(['wasm']);
parentPort!.postMessage(results);
