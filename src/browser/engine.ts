import { SealcamError } from '../errors.js';
import { ENGINE_IMPORTS, useWasmModule } from '../engine/wasm.js';
import type { WasmVariant } from '../platform/platform.js';

/**
 * The WASM engine in a browser: the same two builds build:wasm makes (build/*.wasm, copied beside
 * the bundle), compiled and instantiated with WebAssembly.instantiateStreaming while they download,
 * then handed to the binding (engine/wasm.ts), which uses that instance. The relaxed-SIMD build is
 * taken where the browser validates relaxed SIMD, SIMD 1.0 otherwise.
 */

/**
 * The smallest module using a relaxed-SIMD instruction: () -> v128 returning
 * i8x16.relaxed_swizzle(i8x16.splat 1, i8x16.splat 2). It validates only where relaxed SIMD runs.
 */
const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section
  0x0a, 0x0f, 0x01, 0x0d, 0x00, // code section, one body, no locals
  0x41, 0x01, 0xfd, 0x0f, // i32.const 1, i8x16.splat
  0x41, 0x02, 0xfd, 0x0f, // i32.const 2, i8x16.splat
  0xfd, 0x80, 0x02, // i8x16.relaxed_swizzle (0xfd 0x100)
  0x0b, // end
]);

/** Whether this runtime runs relaxed SIMD (feature detection, no download). */
export function relaxedSimdSupported(): boolean {
  return WebAssembly.validate(RELAXED_SIMD_PROBE);
}

export const BUILD_FILES: Readonly<Record<WasmVariant, string>> = { relaxed: 'sealcam-relaxed.wasm', simd: 'sealcam.wasm' };

export interface LoadEngineOptions {
  /** Where the .wasm files are; default beside this module (the bundle's own URL). */
  baseUrl?: string | URL;
  /** A build to use instead of the one feature detection picks (`simd` runs everywhere relaxed does). */
  variant?: WasmVariant;
}

let loaded: Promise<WasmVariant> | undefined;

async function load(options: LoadEngineOptions): Promise<WasmVariant> {
  const variant = options.variant ?? (relaxedSimdSupported() ? 'relaxed' : 'simd');
  const url = new URL(BUILD_FILES[variant], options.baseUrl ?? new URL('./', import.meta.url));
  let source;
  try {
    source = await WebAssembly.instantiateStreaming(fetch(url), ENGINE_IMPORTS);
  } catch (err) {
    throw new SealcamError('ENOWASM', `the WASM engine did not load from ${url.href}: ${(err as Error).message}`);
  }
  useWasmModule(source.module, variant, source.instance);
  return variant;
}

/**
 * Loads the engine once per page (later calls return the first load); everything that seals or
 * opens needs it. Resolves to the build it runs.
 */
export function loadEngine(options: LoadEngineOptions = {}): Promise<WasmVariant> {
  loaded ??= load(options).catch((err: unknown) => {
    loaded = undefined;
    throw err;
  });
  return loaded;
}
