import { parseArgs } from 'node:util';
import type { StreamConfig } from './stream.js';
import { BUFFER_SIZE, STREAM_SIZES } from './targets.js';

/** The command line of the suite and what each mode runs. */

const KiB = 1024;
const MiB = 1024 * KiB;
/** The reference camera image's size. */
export const IMAGE_BYTES = 1_671_137;

export interface BenchArgs {
  quick: boolean;
  /** Tiny sizes for CI under emulation: proves the suite and every cross-check run, times nothing useful. */
  tiny: boolean;
  /** Case-insensitive regular expression on row names (`<implementation> <operation>`). */
  filter: string | null;
  sizes: number[] | null;
  /** Directory for the .json, .md and .svg; default bench/out (git ignores it; bench/results keeps committed reference runs). */
  out: string | null;
  compare: [string, string] | null;
  /** Whole-process figures: null = the mode's default (on in a full run). */
  hyperfine: boolean | null;
  maxWorkers: number | null;
  /** Print the targets table (console and .md); the JSON always has the verdicts. */
  targets?: boolean;
}

export class UsageError extends Error {}

export const USAGE = `usage: node dist/bench/run.js [--quick] [--tiny] [--filter REGEX] [--sizes 1671137,16MiB] [--out DIR]
                             [--hyperfine | --no-hyperfine] [--max-workers N] [--targets]
       node dist/bench/run.js --compare A.json B.json`;

export function parseSize(s: string): number {
  const m = /^([\d_]+)\s*(B|KiB|MiB|GiB)?$/i.exec(s.trim());
  if (!m) throw new UsageError(`cannot read size '${s}' (examples: 1671137, 1_671_137, 64KiB, 16MiB)`);
  const unit = { b: 1, kib: KiB, mib: MiB, gib: 1024 * MiB }[(m[2] ?? 'b').toLowerCase()]!;
  return Number(m[1]!.replace(/_/g, '')) * unit;
}

export function parseBenchArgs(argv: string[]): BenchArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        quick: { type: 'boolean' },
        tiny: { type: 'boolean' },
        filter: { type: 'string' },
        sizes: { type: 'string' },
        out: { type: 'string' },
        compare: { type: 'boolean' },
        hyperfine: { type: 'boolean' },
        'no-hyperfine': { type: 'boolean' },
        'max-workers': { type: 'string' },
        targets: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  if (v.compare && parsed.positionals.length !== 2) throw new UsageError('--compare takes two result files: --compare A.json B.json');
  if (!v.compare && parsed.positionals.length > 0) throw new UsageError(`unexpected argument '${parsed.positionals[0]}'`);
  if (v.hyperfine && v['no-hyperfine']) throw new UsageError('--hyperfine and --no-hyperfine contradict each other');
  return validate({
    quick: v.quick === true,
    tiny: v.tiny === true,
    filter: v.filter ?? null,
    sizes: v.sizes ? v.sizes.split(/[,;\s]+/).filter(Boolean).map(parseSize) : null,
    out: v.out ?? null,
    compare: v.compare ? (parsed.positionals as [string, string]) : null,
    hyperfine: v.hyperfine ? true : v['no-hyperfine'] ? false : null,
    maxWorkers: v['max-workers'] === undefined ? null : Number(v['max-workers']),
    targets: v.targets === true,
  });
}

/** Checks what both entry points (this runner and `sealcam bench`) hand over. */
export function validate(args: BenchArgs): BenchArgs {
  if (args.filter !== null) {
    try {
      new RegExp(args.filter, 'i');
    } catch (e) {
      throw new UsageError(`--filter is not a valid regular expression: ${(e as Error).message}`);
    }
  }
  if (args.maxWorkers !== null && (!Number.isInteger(args.maxWorkers) || args.maxWorkers < 1)) {
    throw new UsageError('--max-workers must be a positive integer');
  }
  for (const s of args.sizes ?? []) if (!Number.isSafeInteger(s) || s < 1) throw new UsageError(`size ${s} must be at least 1 byte`);
  return args;
}

export interface SizePlan {
  size: number;
  /** Time box per row at this size, in milliseconds, split over the rounds. */
  timeMs: number;
}

export interface Plan {
  mode: 'full' | 'quick' | 'tiny';
  sizes: SizePlan[];
  rounds: number;
  minIterations: number;
  /** Pool sizes for the buffer rows. */
  workers: number[];
  streamSizes: number[];
  streamConfigs(size: number): StreamConfig[];
  wholeProcess: { runs: { single: number; batch: number; startup: number }; probeRuns: number } | null;
}

const FULL_SIZES: SizePlan[] = [
  { size: KiB, timeMs: 300 },
  { size: 64 * KiB, timeMs: 500 },
  { size: IMAGE_BYTES, timeMs: 1500 },
  { size: BUFFER_SIZE, timeMs: 3000 },
];
const QUICK_SIZES: SizePlan[] = [
  { size: IMAGE_BYTES, timeMs: 250 },
  { size: BUFFER_SIZE, timeMs: 400 },
];
const TINY_SIZES: SizePlan[] = [
  { size: KiB, timeMs: 20 },
  { size: 64 * KiB, timeMs: 40 },
];

/** 1, 2, 4, ... up to `max`, and `max` itself; 2 always (the targets compare 2 workers with 1). */
function workerCounts(max: number, quick: boolean): number[] {
  const counts = new Set([1, 2]);
  if (!quick) for (let n = 4; n < max; n *= 2) counts.add(n);
  counts.add(max);
  return [...counts].sort((a, b) => a - b);
}

export function makePlan(args: BenchArgs, cores: number, emulated: boolean): Plan {
  const mode = args.tiny ? 'tiny' : args.quick ? 'quick' : 'full';
  const base = mode === 'tiny' ? TINY_SIZES : mode === 'quick' ? QUICK_SIZES : FULL_SIZES;
  const sizes = args.sizes
    ? args.sizes.map((size) => base.find((p) => p.size === size) ?? { size, timeMs: base.find((p) => p.size >= size)?.timeMs ?? base.at(-1)!.timeMs })
    : base;
  const max = args.maxWorkers ?? cores;
  const workers = mode === 'tiny' ? [1, 2] : workerCounts(max, mode === 'quick');
  const top = Math.max(...workers);
  const streamSizes = mode === 'tiny' ? [2 * MiB + 5] : mode === 'quick' ? [STREAM_SIZES[0]!] : STREAM_SIZES;
  // Every worker count at the first size (scaling); the largest pool at every size (RSS must not
  // grow). At the first size also the other two paths (main-thread I/O, the Duplex streams) for
  // one WASM worker and the largest pools, side by side with the workers' own I/O.
  const streamConfigs = (size: number): StreamConfig[] => {
    const first = size === streamSizes[0];
    const wasm = first ? workers : [top];
    const native = first ? [...new Set([2, top])] : [top];
    const files = [...wasm.map((w) => ({ engine: 'wasm' as const, workers: w })), ...native.map((w) => ({ engine: 'native' as const, workers: w }))].map((c) => ({ ...c, via: 'files' as const }));
    if (!first) return files;
    const others = (['main-thread I/O', 'Duplex'] as const).flatMap((via): StreamConfig[] => [
      ...[...new Set([1, top])].map((w) => ({ engine: 'wasm' as const, workers: w, via })),
      { engine: 'native', workers: top, via },
    ]);
    return [...files, ...others];
  };
  const wantWhole = args.hyperfine ?? mode === 'full';
  const wholeProcess =
    wantWhole && !emulated
      ? mode === 'full'
        ? { runs: { single: 10, batch: 5, startup: 20 }, probeRuns: 10 }
        : { runs: { single: 3, batch: 2, startup: 5 }, probeRuns: 3 }
      : null;
  return {
    mode,
    sizes,
    rounds: mode === 'full' ? 2 : 1,
    minIterations: mode === 'full' ? 2 : 1,
    workers,
    streamSizes,
    streamConfigs,
    wholeProcess,
  };
}
