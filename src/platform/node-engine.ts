import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { SealcamError } from '../errors.js';
import { wasmPath } from '../paths.js';
import type { CompiledEngine, WasmVariant } from './platform.js';

/**
 * The WASM engine on Node: read from build/ and compiled synchronously, once per thread (workers
 * may be handed the module instead: engine/wasm.ts useWasmModule).
 *
 * Node >= 22 runs relaxed SIMD by default; Node 20 has it behind a V8 flag, which is turned on
 * before compiling. SEALCAM_WASM=simd forces the baseline build.
 */

function readBuild(variant: WasmVariant): Uint8Array {
  const path = wasmPath(variant);
  try {
    return readFileSync(path);
  } catch {
    throw new SealcamError('ENOWASM', `the WASM engine is not built (${path} is missing): run npm run build`);
  }
}

function relaxedSimdAvailable(probe: Uint8Array): boolean {
  if (WebAssembly.validate(probe)) return true;
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false;
  }
  return WebAssembly.validate(probe);
}

function chooseVariant(): WasmVariant {
  const wanted = process.env.SEALCAM_WASM;
  if (wanted !== undefined && wanted !== '' && wanted !== 'simd' && wanted !== 'relaxed') {
    throw new SealcamError('EINPUT', `SEALCAM_WASM must be 'simd' or 'relaxed', got '${wanted}'`);
  }
  if (wanted === 'simd') return 'simd';
  return relaxedSimdAvailable(readBuild('relaxed')) ? 'relaxed' : 'simd';
}

/**
 * Compile with every function optimised up front. V8's default (dynamic tiering) starts each
 * function in its baseline compiler and optimises it only once hot, so the first tens of MB of a
 * fresh process ran slower (the bench's streamed rows, each in a fresh child, show it). The module
 * is small; the flag is V8-wide, so it is set only around this compile.
 */
function compileEagerly(bytes: Uint8Array): WebAssembly.Module {
  try {
    setFlagsFromString('--no-wasm-dynamic-tiering');
    return new WebAssembly.Module(bytes);
  } finally {
    setFlagsFromString('--wasm-dynamic-tiering');
  }
}

/** The build this process runs (relaxed SIMD when V8 takes it), compiled. */
export function compileEngine(): CompiledEngine {
  const variant = chooseVariant();
  return { module: compileEagerly(readBuild(variant)), variant };
}

export function compileEngineBuild(variant: WasmVariant): WebAssembly.Module {
  const bytes = readBuild(variant);
  if (variant === 'relaxed' && !relaxedSimdAvailable(bytes)) throw new SealcamError('ENOWASM', 'this runtime cannot run relaxed SIMD');
  return compileEagerly(bytes);
}
