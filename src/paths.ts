import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The sealcam package root, found from this file whether it runs from src/ (tests) or dist/src/. */
export const packageRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('sealcam: cannot find package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
})();

/** The engine builds (see asconfig.json): `simd` is WebAssembly SIMD 1.0, `relaxed` adds relaxed SIMD. */
export function wasmPath(variant: 'simd' | 'relaxed'): string {
  return join(packageRoot, 'build', variant === 'simd' ? 'sealcam.wasm' : 'sealcam-relaxed.wasm');
}
export const vectorsDir = join(packageRoot, 'vectors');
