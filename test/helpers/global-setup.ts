import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { packageRoot } from '../../src/paths.js';

/**
 * Workers, the CLI and the bench run the compiled dist/ (Node 20 cannot load .ts workers), so a
 * test run on a stale build would test yesterday's code. `npm test` builds first; this refuses, for
 * every test file, a run whose dist/ or WASM builds are older than their sources.
 */

function* files(dir: string, ending: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path, ending);
    else if (entry.name.endsWith(ending) && !entry.name.endsWith('.d.ts')) yield path;
  }
}

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

export default function setup(): void {
  const stale: string[] = [];
  // The dashboard's page is bundled by esbuild into one asset; everything else compiles file by file.
  const page = join(packageRoot, 'src', 'dashboard', 'web');
  const bundle = join(packageRoot, 'dist', 'src', 'dashboard', 'assets', 'app.js');
  for (const tree of ['src', 'bench']) {
    for (const source of files(join(packageRoot, tree), '.ts')) {
      const built = source.startsWith(page) ? bundle : join(packageRoot, 'dist', relative(packageRoot, source)).replace(/\.(c?)ts$/, '.$1js');
      if (mtime(built) < mtime(source)) stale.push(relative(packageRoot, source));
    }
  }
  // The CLI ships as one bundle (npm run build:cli) of everything under src/ it reaches.
  const newestSource = Math.max(...[...files(join(packageRoot, 'src'), '.ts')].filter((f) => !f.startsWith(page)).map(mtime));
  if (mtime(join(packageRoot, 'dist', 'cli', 'main.js')) < newestSource) stale.push('dist/cli (npm run build:cli)');
  const assembly = Math.max(...[...files(join(packageRoot, 'assembly'), '.ts')].map(mtime));
  for (const wasm of ['sealcam.wasm', 'sealcam-relaxed.wasm']) if (mtime(join(packageRoot, 'build', wasm)) < assembly) stale.push(`build/${wasm}`);
  if (stale.length > 0) {
    throw new Error(`the build is older than ${stale.length} source file(s) (${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', ...' : ''}): run npm test, which builds first, or npm run build`);
  }
}
