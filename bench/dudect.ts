import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { WasmBackend, selectAesKernel, type AesKernel } from '../src/engine/wasm.js';
import { createBackend, wasmVariant } from '../src/index.js';

/**
 * A dudect-style timing-leak check (Reparaz, Balasch, Verbauwhede, "Dude, is my code constant
 * time?", DATE 2017): time an operation on two classes of secret input, class 0 a fixed value and
 * class 1 fresh random values, interleaved in random order so drift and noise hit both classes
 * alike; crop the slow tail (interrupts, GC); compare the classes with Welch's t-test. A large |t|
 * means the running time depends on the secret. |t| < 4.5 means "no leak detected at this sample
 * size", never "proven constant time".
 *
 * Each sample times a batch of `batch` calls on the same input: one WASM block is far below the
 * useful resolution of process.hrtime.bigint(), a batch of them is not.
 */

export interface Target {
  readonly name: string;
  /** Bytes of secret input per sample. */
  readonly inputLength: number;
  /** The class-0 input (fixed for the whole run). */
  readonly fixed: Uint8Array;
  /** One operation on `input` (what is timed, `batch` times per sample). */
  run(input: Uint8Array): void;
  dispose?(): void;
}

export interface DudectOptions {
  /** Measurements kept (both classes together). */
  samples: number;
  /** Calls of target.run per measurement. */
  batch: number;
  /** Measurements taken and thrown away first, so the JIT has settled. */
  warmup?: number;
}

export interface CropResult {
  /** Measurements above this percentile of all measurements were dropped (1 = none dropped). */
  percentile: number;
  t: number;
  n: [number, number];
}

export interface DudectResult {
  name: string;
  samples: number;
  batch: number;
  /** Mean time per call (ns) for class 0 and class 1, uncropped. */
  meanNs: [number, number];
  /** The t statistic with the 95th-percentile crop. */
  t95: number;
  /** The largest |t| over all crops, what dudect reports and what the verdict uses. */
  maxAbsT: number;
  crops: CropResult[];
  seconds: number;
}

/** dudect's threshold: beyond it the two classes almost surely differ in timing. */
export const LEAK_THRESHOLD = 4.5;

/** Welford's running mean and variance for one class. */
class Moments {
  n = 0;
  mean = 0;
  m2 = 0;
  push(x: number): void {
    this.n++;
    const d = x - this.mean;
    this.mean += d / this.n;
    this.m2 += d * (x - this.mean);
  }
  get variance(): number {
    return this.n > 1 ? this.m2 / (this.n - 1) : 0;
  }
}

/** Welch's t for two samples with possibly unequal variances. */
export function welchT(a: { mean: number; variance: number; n: number }, b: { mean: number; variance: number; n: number }): number {
  const se = Math.sqrt(a.variance / a.n + b.variance / b.n);
  if (!(se > 0)) return a.mean === b.mean ? 0 : Infinity;
  return (a.mean - b.mean) / se;
}

/** Welch's t over the measurements below `limit` (all of them with limit = Infinity). */
export function tTest(times: Float64Array, classes: Uint8Array, limit = Infinity): CropResult & { moments: [Moments, Moments] } {
  const m: [Moments, Moments] = [new Moments(), new Moments()];
  for (let i = 0; i < times.length; i++) {
    if (times[i]! <= limit) m[classes[i]! as 0 | 1].push(times[i]!);
  }
  return { percentile: 1, t: welchT(m[0], m[1]), n: [m[0].n, m[1].n], moments: m };
}

function percentileOf(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/**
 * The crops: none, the 95th percentile, and dudect's ladder 1 - 0.5^k (k = 1..10), which catches a
 * leak that shows only in the fast bulk of the distribution as well as one in its tail.
 */
const CROPS: readonly number[] = [1, 0.95, ...Array.from({ length: 10 }, (_, k) => 1 - 0.5 ** (k + 1))];

/** Measure `target` and test the two classes. */
export function dudect(target: Target, options: DudectOptions): DudectResult {
  const { samples, batch } = options;
  const warmup = options.warmup ?? Math.min(2000, samples);
  const total = warmup + samples;
  const times = new Float64Array(samples);
  const classes = new Uint8Array(samples);
  const len = target.inputLength;
  const started = process.hrtime.bigint();

  // Inputs are prepared in blocks ahead of the timed loop, the same way for both classes (random
  // bytes, then the fixed value copied over class 0), so preparation cannot differ by class.
  const BLOCK = 1024;
  for (let base = 0; base < total; base += BLOCK) {
    const count = Math.min(BLOCK, total - base);
    const coins = randomBytes(count);
    const inputs = randomBytes(count * len);
    for (let i = 0; i < count; i++) {
      coins[i]! &= 1;
      if (coins[i] === 0) inputs.set(target.fixed, i * len);
    }
    for (let i = 0; i < count; i++) {
      const input = inputs.subarray(i * len, (i + 1) * len);
      const t0 = process.hrtime.bigint();
      for (let j = 0; j < batch; j++) target.run(input);
      const t1 = process.hrtime.bigint();
      const s = base + i - warmup;
      if (s >= 0) {
        times[s] = Number(t1 - t0);
        classes[s] = coins[i]!;
      }
    }
    inputs.fill(0);
  }

  const sorted = times.slice().sort();
  const crops = CROPS.map((p) => ({ ...tTest(times, classes, p === 1 ? Infinity : percentileOf(sorted, p)), percentile: p }));
  const all = crops[0]!;
  const t95 = crops[1]!.t;
  let maxAbsT = 0;
  // Like dudect, ignore crops left with too few measurements to say anything.
  for (const c of crops) if (Math.min(c.n[0], c.n[1]) >= 100) maxAbsT = Math.max(maxAbsT, Math.abs(c.t));
  return {
    name: target.name,
    samples,
    batch,
    meanNs: [all.moments[0].mean / batch, all.moments[1].mean / batch],
    t95,
    maxAbsT,
    crops: crops.map(({ percentile, t, n }) => ({ percentile, t, n })),
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
  };
}

/** Fixed vs random plaintext: four blocks through the WASM block function under one fixed key. */
export function wasmBlockTarget(): Target {
  const backend = createBackend(randomBytes(16), 'wasm');
  return {
    name: 'wasm encryptBlocks: fixed (zero) vs random plaintext',
    inputLength: 64,
    fixed: new Uint8Array(64),
    run: (input) => void backend.encryptBlocks(input),
    dispose: () => backend.dispose(),
  };
}

/** Fixed vs random plaintext through the interleaved two-message EAX path (a run of two 32-byte messages). */
export function wasmEaxTwoTarget(): Target {
  const backend = createBackend(randomBytes(16), 'wasm');
  const nonces = [randomBytes(16), randomBytes(16)];
  const header = new Uint8Array(32);
  const data = new Uint8Array(64);
  const tags = new Uint8Array(32);
  return {
    name: 'wasm EAX run of two messages: fixed (zero) vs random plaintext',
    inputLength: 64,
    fixed: new Uint8Array(64),
    run: (input) => {
      data.set(input);
      backend.encryptRun(header, [
        { nonce: nonces[0]!, data: data.subarray(0, 32), tag: tags.subarray(0, 16) },
        { nonce: nonces[1]!, data: data.subarray(32), tag: tags.subarray(16) },
      ]);
    },
    dispose: () => backend.dispose(),
  };
}

/** Fixed vs random plaintext: eight blocks through the bitsliced kernel under one fixed key. */
export function wasmBitslicedBlockTarget(): Target {
  const backend = new WasmBackend(randomBytes(16));
  return {
    name: 'wasm bitsliced ECB, 8 blocks: fixed (zero) vs random plaintext',
    inputLength: 128,
    fixed: new Uint8Array(128),
    run: (input) => void backend.encryptBlocksInFlight(input, 8, 'bitsliced'),
    dispose: () => backend.dispose(),
  };
}

/** Fixed vs random key: the bitsliced schedule (derived from the key at each call) and eight blocks. */
export function wasmBitslicedKeyTarget(): Target {
  const blocks = new Uint8Array(128);
  return {
    name: 'wasm bitsliced schedule + 8 blocks: fixed (zero) vs random 128-bit key',
    inputLength: 16,
    fixed: new Uint8Array(16),
    run: (key) => {
      const b = new WasmBackend(key);
      b.encryptBlocksInFlight(blocks, 8, 'bitsliced');
      b.dispose();
    },
  };
}

/** Fixed vs random plaintext through a run of four interleaved EAX messages (32 bytes each) on one AES kernel. */
export function wasmEaxFourTarget(kernel: AesKernel): Target {
  const backend = new WasmBackend(randomBytes(16));
  const nonces = [0, 1, 2, 3].map(() => randomBytes(16));
  const header = new Uint8Array(32);
  const data = new Uint8Array(128);
  const tags = new Uint8Array(64);
  return {
    name: `wasm EAX run of four messages (${kernel}): fixed (zero) vs random plaintext`,
    inputLength: 128,
    fixed: new Uint8Array(128),
    run: (input) => {
      selectAesKernel(kernel);
      data.set(input);
      backend.encryptRun(
        header,
        nonces.map((nonce, i) => ({ nonce, data: data.subarray(32 * i, 32 * i + 32), tag: tags.subarray(16 * i, 16 * i + 16) })),
      );
    },
    dispose: () => backend.dispose(),
  };
}

/** Fixed vs random key: key schedule (createBackend) plus one block, then dispose. */
export function wasmKeyTarget(keyLength: 16 | 24 | 32 = 16): Target {
  const block = new Uint8Array(16);
  return {
    name: `wasm key schedule + 1 block: fixed (zero) vs random ${keyLength * 8}-bit key`,
    inputLength: keyLength,
    fixed: new Uint8Array(keyLength),
    run: (key) => {
      const b = createBackend(key, 'wasm');
      b.encryptBlocks(block);
      b.dispose();
    },
  };
}

let sink = 0;

/**
 * The harness's control: the same WASM call followed by a JS loop whose trip count is the secret's
 * first byte, a textbook leak. The harness must flag it, or it cannot be trusted to flag anything.
 */
export function leakyTarget(): Target {
  const inner = wasmBlockTarget();
  return {
    name: 'control (deliberately leaky): loop over secret[0] after the block call',
    inputLength: inner.inputLength,
    fixed: inner.fixed,
    run: (input) => {
      inner.run(input);
      let acc = 0;
      for (let i = 0; i < input[0]!; i++) acc = (acc * 31 + i) | 0;
      sink ^= acc;
    },
    dispose: inner.dispose,
  };
}

export function withTarget<T>(target: Target, fn: (t: Target) => T): T {
  try {
    return fn(target);
  } finally {
    target.dispose?.();
  }
}

export function verdict(result: DudectResult): string {
  return result.maxAbsT < LEAK_THRESHOLD
    ? `no leak detected with ${result.samples} samples`
    : `LEAK: timing depends on the input class (|t| >= ${LEAK_THRESHOLD})`;
}

export function report(r: DudectResult): string {
  const f = (x: number) => x.toFixed(2);
  return [
    r.name,
    `  samples ${r.samples} x batch ${r.batch} in ${r.seconds.toFixed(1)} s; mean ns/call fixed ${f(r.meanNs[0])}, random ${f(r.meanNs[1])}`,
    `  t (95th pct crop) ${f(r.t95)}; max |t| over ${r.crops.length} crops ${f(r.maxAbsT)}`,
    `  verdict: ${verdict(r)}`,
  ].join('\n');
}

/** The long run's targets, by the name --target takes. */
const TARGETS: Record<string, () => Target> = {
  block: wasmBlockTarget,
  'eax-two': wasmEaxTwoTarget,
  key: () => wasmKeyTarget(16),
  'bitsliced-block': wasmBitslicedBlockTarget,
  'bitsliced-key': wasmBitslicedKeyTarget,
  'eax-four-vperm': () => wasmEaxFourTarget('vperm'),
  'eax-four-bitsliced': () => wasmEaxFourTarget('bitsliced'),
};

function parseArgs(argv: string[]): { samples: number; batch: number; targets: string[]; control: boolean } {
  const out = { samples: 200_000, batch: 32, targets: Object.keys(TARGETS), control: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--samples') out.samples = Number(value());
    else if (a === '--batch') out.batch = Number(value());
    else if (a === '--target') out.targets = value().split(',');
    else if (a === '--control') out.control = true;
    else if (a === '--help' || a === '-h') {
      console.log(`usage: node dist/bench/dudect.js [--samples N] [--batch B] [--target ${Object.keys(TARGETS).join(',')}] [--control]`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(out.samples) || out.samples < 1000) throw new Error('--samples must be an integer >= 1000');
  if (!Number.isInteger(out.batch) || out.batch < 1) throw new Error('--batch must be a positive integer');
  return out;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  console.log(`dudect on the '${wasmVariant()}' WASM build, node ${process.version} (${process.arch})`);
  let leak = false;
  for (const name of args.targets) {
    const make = TARGETS[name];
    if (!make) throw new Error(`unknown target ${name} (${Object.keys(TARGETS).join(', ')})`);
    // The key targets do far more work per call; fewer calls per batch keep the runs comparable.
    const batch = name.endsWith('key') ? Math.max(1, args.batch >> 2) : args.batch;
    const r = withTarget(make(), (t) => dudect(t, { samples: args.samples, batch }));
    console.log(report(r));
    leak ||= r.maxAbsT >= LEAK_THRESHOLD;
  }
  if (args.control) {
    const r = withTarget(leakyTarget(), (t) => dudect(t, { samples: Math.min(args.samples, 20_000), batch: args.batch }));
    console.log(report(r));
    console.log(r.maxAbsT >= LEAK_THRESHOLD ? '  control detected: the harness works' : '  control NOT detected: the harness is broken');
    if (r.maxAbsT < LEAK_THRESHOLD) process.exitCode = 2;
  }
  if (sink === 0.5) console.log(sink); // keeps the control's loop observable to the JIT
  if (leak) process.exitCode = 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
