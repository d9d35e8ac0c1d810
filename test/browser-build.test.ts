import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { BUILD_FILES, relaxedSimdSupported } from '../src/browser/engine.js';
import { packageRoot, wasmPath } from '../src/paths.js';

/**
 * The browser build (npm run build:browser): sealcam/browser bundled for the browser platform from
 * the compiled dist/src. It must reach no Node API and no Node-only module (the bundler fails on a
 * node: import; this also checks what it took in), and its relaxed-SIMD probe must say what the
 * relaxed build itself says.
 */

describe('the sealcam/browser bundle', () => {
  it('is made from the shared modules, the browser platform, the noble libraries and nothing of Node', async () => {
    const result = await build({
      entryPoints: [join(packageRoot, 'dist', 'src', 'browser', 'index.js')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
      absWorkingDir: packageRoot,
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((p) => !p.startsWith('dist/src/') && !p.startsWith('node_modules/@noble/'))).toEqual([]);
    expect(inputs).toContain('dist/src/platform/browser.js');
    expect(inputs).toContain('dist/src/engine/wasm.js');
    expect(inputs).toContain('dist/src/formats/sealed-header.js');
    // Node-only modules stay out: the Node platform, the key files, the registry's directory source, the vector files on disk.
    for (const nodeOnly of ['platform/node.js', 'platform/node-engine.js', 'platform/okp.js', 'keys/keyfile.js', 'keys/keypair-files.js', 'keys/registry-sources.js', 'vectors/files.js', 'paths.js', 'io/atomic.js']) {
      expect(inputs).not.toContain(`dist/src/${nodeOnly}`);
    }
    const imports = Object.values(result.metafile.inputs).flatMap((input) => input.imports.map((i) => i.path));
    expect(imports.filter((path) => path.startsWith('node:'))).toEqual([]);
  });

  it('is published as sealcam/browser, beside both engine builds', () => {
    const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8'));
    expect(pkg.exports['./browser']).toEqual({ types: './dist/src/browser/index.d.ts', default: './dist/browser/sealcam.js' });
    for (const variant of ['simd', 'relaxed'] as const) {
      expect(readFileSync(join(packageRoot, 'dist', 'browser', BUILD_FILES[variant]))).toEqual(readFileSync(wasmPath(variant)));
    }
  });
});

describe('relaxed-SIMD feature detection', () => {
  it('says what WebAssembly.validate says of the relaxed build: before and after V8 is told to run relaxed SIMD (Node 20 runs it only behind a flag)', () => {
    const relaxed = readFileSync(wasmPath('relaxed'));
    expect(relaxedSimdSupported()).toBe(WebAssembly.validate(relaxed));
    setFlagsFromString('--experimental-wasm-relaxed-simd');
    expect([relaxedSimdSupported(), WebAssembly.validate(relaxed)]).toEqual([true, true]);
  });
});
