import { spawnSync } from 'node:child_process';
import { ENGINES, type EngineName } from '../engine/types.js';
import { wasmVariant, type WasmVariant } from '../engine/wasm.js';
import { InputError, SealcamError } from '../errors.js';
import { runVectorPaths, runVectors, type FileResult } from '../vectors/run.js';
import { reporterFrom } from './output.js';

/**
 * `sealcam vectors [FILE...]`: the built-in known-answer files, or the user's own in the same
 * schemas, on the chosen engine(s) and, for WASM, on both builds (a process compiles one build, so
 * the other runs in a child with SEALCAM_WASM=simd); as a table or as JSON. Exit code 1 on any
 * failure. Must stay Node 18 compatible at run time (it is also run under an emulated arm64 Node):
 * no toSorted, Map.groupBy, readdir recursive and the like.
 */

export interface VectorsOptions {
  engine?: string;
  json?: boolean;
  quiet?: boolean;
}

/** A file's result on one engine, and for WASM the build it ran on. */
export interface BuildResult extends FileResult {
  build: WasmVariant | null;
}

/** How many failure reasons the table view prints; --json has them all. */
const SHOWN_FAILURES = 5;

/** Set in the child that runs the other WASM build, so it does not start another. */
const ONE_BUILD = 'SEALCAM_VECTORS_ONE_BUILD';

function enginesFor(choice: string | undefined): readonly EngineName[] {
  if (choice === undefined || choice === 'all') return ENGINES;
  if (choice === 'wasm' || choice === 'native') return [choice];
  throw new InputError(`--engine must be wasm, native or all, got '${choice}'`);
}

function pad(text: string, width: number, right = false): string {
  const fill = ' '.repeat(Math.max(0, width - text.length));
  return right ? fill + text : text + fill;
}

function table(results: BuildResult[]): string[] {
  const rows = results.map((r) => [r.file, r.engine, r.build ?? '-', String(r.passed), String(r.failed)]);
  const head = ['file', 'engine', 'build', 'passed', 'failed'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  // Text columns left-aligned, counts right-aligned.
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i]!, i >= 3)).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

/** The simd build's WASM results, from a child process that compiles only that build. */
function otherBuild(files: string[]): BuildResult[] {
  const child = spawnSync(process.execPath, [process.argv[1]!, 'vectors', ...files, '--engine', 'wasm', '--json'], {
    env: { ...process.env, SEALCAM_WASM: 'simd', [ONE_BUILD]: '1' },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  try {
    return (JSON.parse(child.stdout) as { results: BuildResult[] }).results;
  } catch {
    throw new SealcamError('EVECTORS', `the simd build's run did not report (exit ${child.status}): ${(child.stderr || '').split('\n')[0]}`);
  }
}

export async function run(files: string[] = [], opts: VectorsOptions = {}): Promise<void> {
  const out = reporterFrom(opts);
  const engines = enginesFor(opts.engine);
  // Only touch the WASM build when it is asked for, so `--engine native` works without it.
  const build = engines.includes('wasm') ? wasmVariant() : null;
  const here = files.length > 0 ? await runVectorPaths(files, engines) : await runVectors(engines);
  let results: BuildResult[] = here.map((r) => ({ ...r, build: r.engine === 'wasm' ? build : null }));
  const builds: WasmVariant[] = build === null ? [] : [build];
  let note: string | undefined;
  if (build !== null && !process.env[ONE_BUILD] && !process.env.SEALCAM_WASM) {
    if (build === 'relaxed') {
      const simd = otherBuild(files);
      builds.push('simd');
      // File by file: each file's native row, then its WASM rows, build by build.
      results = results.flatMap((r) => (r.engine === 'wasm' ? [r, ...simd.filter((s) => s.file === r.file)] : [r]));
    } else note = 'the relaxed-SIMD build cannot run on this Node, so only the simd build was checked';
  }
  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);

  if (out.json) {
    out.record({ wasmBuilds: builds, passed, failed, results });
  } else {
    out.line(`sealcam vectors: engines ${engines.join(', ')}; WASM builds: ${builds.length > 0 ? builds.join(', ') : 'not used'}${files.length > 0 ? `; files: ${files.length} of yours` : ''}`);
    if (note) out.note(`note: ${note}`);
    out.line('');
    for (const row of table(results)) out.line(row);
    out.line('');
    const shown: string[] = [];
    for (const r of results) {
      for (const f of r.failures) {
        if (shown.length < SHOWN_FAILURES) shown.push(`  ${r.file} [${r.engine}${r.build ? ` ${r.build}` : ''}] ${f.id === null ? 'file' : `#${f.id}`}: ${f.reason}`);
      }
    }
    if (shown.length > 0) {
      out.line(`failures${failed > shown.length ? ` (first ${shown.length} of ${failed})` : ''}:`);
      for (const s of shown) out.line(s);
      out.line('');
    }
    out.line(`all files: ${passed} vector checks passed, ${failed} failed`);
  }
  if (failed > 0) process.exitCode = 1;
}
