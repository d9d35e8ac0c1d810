import { ENGINES, type EngineName } from '../engine/types.js';
import { wasmVariant } from '../engine/wasm.js';
import { InputError } from '../errors.js';
import { runVectors } from '../vectors/files.js';
import type { FileResult } from '../vectors/run.js';

/**
 * `sealcam vectors`: every known-answer file on the chosen engine(s), as a table or as JSON.
 * Exit code 1 on any failure. Must stay Node 18 compatible at run time (it is also run under an
 * emulated arm64 Node): no toSorted, Map.groupBy, readdir recursive and the like.
 */

export interface VectorsOptions {
  engine?: string;
  json?: boolean;
}

/** How many failure reasons the table view prints; --json has them all. */
const SHOWN_FAILURES = 5;

function enginesFor(choice: string | undefined): readonly EngineName[] {
  if (choice === undefined || choice === 'all') return ENGINES;
  if (choice === 'wasm' || choice === 'native') return [choice];
  throw new InputError(`--engine must be wasm, native or all, got '${choice}'`);
}

function pad(text: string, width: number, right = false): string {
  const fill = ' '.repeat(Math.max(0, width - text.length));
  return right ? fill + text : text + fill;
}

function table(results: FileResult[]): string[] {
  const rows = results.map((r) => [r.file, r.engine, String(r.passed), String(r.failed)]);
  const head = ['file', 'engine', 'passed', 'failed'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  // Text columns left-aligned, counts right-aligned.
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i]!, i >= 2)).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

export async function run(opts: VectorsOptions = {}): Promise<void> {
  const engines = enginesFor(opts.engine);
  // Only touch the WASM build when it is asked for, so `--engine native` works without it.
  const wasmBuild = engines.includes('wasm') ? wasmVariant() : null;
  const results = await runVectors(engines);
  let passed = 0;
  let failed = 0;
  for (const r of results) {
    passed += r.passed;
    failed += r.failed;
  }

  if (opts.json) {
    console.log(JSON.stringify({ wasmBuild, passed, failed, results }, null, 2));
  } else {
    console.log(`sealcam vectors: engines ${engines.join(', ')}; WASM build: ${wasmBuild ?? 'not used'}`);
    console.log('');
    for (const row of table(results)) console.log(row);
    console.log('');
    const shown: string[] = [];
    for (const r of results) {
      for (const f of r.failures) {
        if (shown.length < SHOWN_FAILURES) shown.push(`  ${r.file} [${r.engine}] ${f.id === null ? 'file' : `#${f.id}`}: ${f.reason}`);
      }
    }
    if (shown.length > 0) {
      console.log(`failures${failed > shown.length ? ` (first ${shown.length} of ${failed})` : ''}:`);
      for (const s of shown) console.log(s);
      console.log('');
    }
    console.log(`all files: ${passed} vector checks passed, ${failed} failed`);
  }
  if (failed > 0) process.exitCode = 1;
}
