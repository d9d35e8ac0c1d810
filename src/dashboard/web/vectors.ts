import { loadEngine, runPublishedVectors, type BrowserVectorResults } from '/assets/sealcam.js';
import { byId, el } from './dom.js';

/**
 * The vectors page: loads the WASM engine as the "Open a file" page does (the build feature
 * detection picks, or `?build=simd` / `?build=relaxed`) and runs every published vector in this
 * browser (sealcam/browser runPublishedVectors over /vectors/files/), then shows a row per file.
 * `data-state` on the summary says `passed` or `failed` when done, for the tests.
 */

const engine = byId('engine');
const summary = byId('summary');

function render(results: BrowserVectorResults, variant: string): void {
  const rows = [
    ...results.engine.map((r) => ({ ...r, on: `WASM engine (${variant})` })),
    ...results.publicKey.map((r) => ({ ...r, on: 'browser primitives (noble)' })),
  ];
  byId('results')
    .querySelector('tbody')!
    .replaceChildren(
      ...rows.map((r) => {
        const tr = el('tr');
        const failed = el('td', 'failed-count', String(r.failed));
        failed.dataset.failed = String(r.failed);
        const first = r.failures[0];
        tr.append(el('td', undefined, r.file), el('td', undefined, r.on), el('td', undefined, String(r.passed)), failed, el('td', undefined, first ? `${first.id ?? 'file'}: ${first.reason}` : ''));
        return tr;
      }),
    );
  summary.textContent = `${results.passed} checks passed, ${results.failed} failed`;
  summary.dataset.state = results.failed === 0 && results.passed > 0 ? 'passed' : 'failed';
  summary.dataset.passed = String(results.passed);
}

async function run(): Promise<void> {
  const build = new URLSearchParams(location.search).get('build');
  const variant = await loadEngine(build === 'simd' || build === 'relaxed' ? { variant: build } : {});
  engine.dataset.state = 'live';
  engine.textContent = `WASM engine ready (${variant === 'relaxed' ? 'relaxed SIMD' : 'SIMD 1.0'})`;
  const results = await runPublishedVectors(new URL('/vectors/files/', location.href), (file) => (summary.textContent = `running ${file}`));
  render(results, variant);
}

run().catch((err: Error) => {
  summary.textContent = `stopped: ${err.message}`;
  summary.dataset.state = 'failed';
});
