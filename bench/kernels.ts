import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { compileWasmBuild, type WasmVariant } from '../src/engine/wasm.js';
import { median } from './measure.js';

/**
 * The engine's kernels side by side, below the binding: each one called on raw linear memory over
 * 64 KiB messages (the sealed format's segments), on both builds. For comparing versions of the
 * engine (assembly/), where a few percent matter and this 2-core machine is shared and noisy:
 *
 *   node dist/bench/kernels.js                 wall clock: rounds alternate the kernels; median and range
 *   node dist/bench/kernels.js --callgrind     instructions per byte under valgrind (repeatable to 0.01%)
 *   node dist/bench/kernels.js --only 'EAX'    kernels whose name matches (regex)
 *
 * Instructions per byte come from `valgrind --tool=callgrind node --predictable --no-liftoff` run
 * on two amounts of work: the difference divided by the difference in bytes, so start-up, compiling
 * and the harness cancel out. They ignore how instructions overlap (shuffle ports, latency), which
 * is why the wall clock is printed beside them.
 */

const SEGMENT = 64 * 1024;
const SLOT = 512;

interface Engine {
  memory: WebAssembly.Memory;
  heapBase(): number;
  setKey(k: number, key: number, length: number): number;
  selectAesKernel(kernel: number): void;
  encryptBlocksInFlight(k: number, input: number, output: number, blocks: number, lanes: number, bitsliced: number): number;
  ctrXor(k: number, counter: number, input: number, output: number, length: number): void;
  eaxInit(k: number, m: number): void;
  eaxStart(k: number, m: number): void;
  eaxEncrypt(k: number, m: number, input: number, output: number, length: number): void;
  eaxEncryptTwo(k: number, m1: number, m2: number, d1: number, d2: number, length: number): void;
  eaxEncryptFour(k: number, m1: number, m2: number, m3: number, m4: number, d1: number, d2: number, d3: number, d4: number, length: number): void;
  eaxFinal(k: number, m: number, tag: number): void;
}

/** One engine instance with a key, four message contexts and four segments of data. */
class Bed {
  readonly x: Engine;
  readonly k: number;
  readonly m: number[];
  readonly data: number[];
  readonly scratch: number;

  constructor(variant: WasmVariant) {
    this.x = new WebAssembly.Instance(compileWasmBuild(variant), { env: { abort: () => { throw new Error('engine abort'); } } }).exports as unknown as Engine;
    const base = Math.ceil(this.x.heapBase() / 64) * 64;
    this.k = base;
    this.m = [1, 2, 3, 4].map((i) => base + i * SLOT);
    this.scratch = base + 5 * SLOT;
    this.data = [0, 1, 2, 3].map((i) => base + 6 * SLOT + i * SEGMENT);
    const end = this.data[3]! + SEGMENT;
    this.x.memory.grow(Math.ceil((end - this.x.memory.buffer.byteLength) / 65536) + 1);
    const u8 = new Uint8Array(this.x.memory.buffer);
    for (let i = 0; i < 32; i++) u8[this.scratch + i] = (i * 37 + 11) & 0xff;
    this.x.setKey(this.k, this.scratch, 16);
    for (let i = this.data[0]!; i < end; i++) u8[i] = (i * 13) & 0xff;
  }

  begin(count: number): void {
    for (let i = 0; i < count; i++) {
      this.x.eaxInit(this.k, this.m[i]!);
      this.x.eaxStart(this.k, this.m[i]!);
    }
  }

  finish(count: number): void {
    for (let i = 0; i < count; i++) this.x.eaxFinal(this.k, this.m[i]!, this.scratch + 64);
  }
}

interface Kernel {
  name: string;
  /** Process `SEGMENT * messages` bytes once. */
  messages: number;
  run(bed: Bed): void;
}

const ecb = (lanes: number, bitsliced: boolean): Kernel => ({
  name: `ECB ${lanes} in flight, ${bitsliced ? 'bitsliced' : 'vperm'}`,
  messages: 1,
  run: (b) => void b.x.encryptBlocksInFlight(b.k, b.data[0]!, b.data[0]!, SEGMENT / 16, lanes, bitsliced ? 1 : 0),
});

const withKernel = (bitsliced: boolean, k: Omit<Kernel, 'name'> & { name: string }): Kernel => ({
  ...k,
  name: `${k.name}, ${bitsliced ? 'bitsliced' : 'vperm'}`,
  run: (b) => {
    b.x.selectAesKernel(bitsliced ? 1 : 0);
    k.run(b);
  },
});

export const KERNELS: readonly Kernel[] = [
  {
    name: 'EAX 1 message',
    messages: 1,
    run: (b) => {
      b.begin(1);
      b.x.eaxEncrypt(b.k, b.m[0]!, b.data[0]!, b.data[0]!, SEGMENT);
      b.finish(1);
    },
  },
  {
    name: 'EAX 2 messages',
    messages: 2,
    run: (b) => {
      b.begin(2);
      b.x.eaxEncryptTwo(b.k, b.m[0]!, b.m[1]!, b.data[0]!, b.data[1]!, SEGMENT);
      b.finish(2);
    },
  },
  ...[false, true].map((bitsliced) =>
    withKernel(bitsliced, {
      name: 'EAX 4 messages',
      messages: 4,
      run: (b) => {
        b.begin(4);
        const [m1, m2, m3, m4] = b.m as [number, number, number, number];
        const [d1, d2, d3, d4] = b.data as [number, number, number, number];
        b.x.eaxEncryptFour(b.k, m1, m2, m3, m4, d1, d2, d3, d4, SEGMENT);
        b.finish(4);
      },
    }),
  ),
  ...[false, true].map((bitsliced) =>
    withKernel(bitsliced, { name: 'CTR', messages: 1, run: (b) => b.x.ctrXor(b.k, b.scratch, b.data[0]!, b.data[0]!, SEGMENT) }),
  ),
  ...[1, 2, 4, 6, 8].map((lanes) => ecb(lanes, false)),
  ecb(8, true),
];

const VARIANTS: readonly WasmVariant[] = ['relaxed', 'simd'];

/** Runs `kernel` until `bytes` are done (the unit callgrind counts). */
function work(variant: WasmVariant, kernel: Kernel, bytes: number): void {
  const bed = new Bed(variant);
  for (let done = 0; done < bytes; done += SEGMENT * kernel.messages) kernel.run(bed);
}

function instructions(variant: WasmVariant, kernel: Kernel, bytes: number): number {
  const args = ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, '--predictable', '--no-liftoff'];
  if (variant === 'relaxed') args.push('--experimental-wasm-relaxed-simd');
  args.push(fileURLToPath(import.meta.url), '--child', variant, kernel.name, String(bytes));
  const r = spawnSync('valgrind', args, { encoding: 'utf8' });
  const collected = /Collected : (\d+)/.exec(r.stderr ?? '')?.[1];
  if (r.status !== 0 || !collected) throw new Error(`valgrind failed for ${kernel.name} (${variant}): ${r.error?.message ?? r.stderr?.split('\n').slice(-3).join(' ')}`);
  return Number(collected);
}

function callgrind(kernels: readonly Kernel[]): void {
  const small = 1 << 20;
  const large = 5 << 20;
  console.log('instructions per byte (callgrind; 5 MiB minus 1 MiB of work)');
  for (const kernel of kernels) {
    const cells = VARIANTS.map((v) => ((instructions(v, kernel, large) - instructions(v, kernel, small)) / (large - small)).toFixed(2));
    console.log(`  ${kernel.name.padEnd(34)} ${VARIANTS.map((v, i) => `${v} ${cells[i]!.padStart(6)}`).join('   ')}`);
  }
}

function wallClock(kernels: readonly Kernel[], rounds: number, mib: number): void {
  const beds = new Map(VARIANTS.map((v) => [v, new Bed(v)]));
  const rows = kernels.flatMap((kernel) => VARIANTS.map((variant) => ({ kernel, variant, mbps: [] as number[] })));
  const bytes = mib << 20;
  for (let round = 0; round <= rounds; round++) {
    for (const row of round % 2 ? rows : [...rows].reverse()) {
      const bed = beds.get(row.variant)!;
      const t0 = process.hrtime.bigint();
      for (let done = 0; done < bytes; done += SEGMENT * row.kernel.messages) row.kernel.run(bed);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (round > 0) row.mbps.push(bytes / seconds / 1e6);
    }
  }
  console.log(`MB/s, ${rounds} rounds of ${mib} MiB per kernel, kernels alternating: median (min-max)`);
  for (const kernel of kernels) {
    const cells = rows
      .filter((r) => r.kernel === kernel)
      .map((r) => `${r.variant} ${median(r.mbps).toFixed(0).padStart(4)} (${Math.min(...r.mbps).toFixed(0)}-${Math.max(...r.mbps).toFixed(0)})`);
    console.log(`  ${kernel.name.padEnd(34)} ${cells.join('   ')}`);
  }
}

function main(argv: string[]): void {
  if (argv[0] === '--child') {
    const [, variant, name, bytes] = argv;
    work(variant as WasmVariant, KERNELS.find((k) => k.name === name)!, Number(bytes));
    return;
  }
  let only: RegExp | null = null;
  let rounds = 7;
  let mib = 16;
  let count = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--callgrind') count = true;
    else if (a === '--only') only = new RegExp(argv[++i] ?? '', 'i');
    else if (a === '--rounds') rounds = Number(argv[++i]);
    else if (a === '--mib') mib = Number(argv[++i]);
    else throw new Error(`usage: node dist/bench/kernels.js [--callgrind] [--only REGEX] [--rounds N] [--mib M] (unknown: ${a})`);
  }
  const kernels = KERNELS.filter((k) => only === null || only.test(k.name));
  if (count) callgrind(kernels);
  else wallClock(kernels, rounds, mib);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
