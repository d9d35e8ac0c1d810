/**
 * Receiver throughput (bench/README.md, "Receivers"): how fast 1, 2 and 3 receiver processes in
 * one MQTT 5 shared subscription open a fleet's sealed images out of Azurite into an Azure output,
 * with the real parts: Debian's Mosquitto, Azurite, the library's cameras and receivers. Kept out
 * of `npm run bench` (it needs the servers and about three minutes):
 *
 *   npm run bench:receivers                            60 reference-size images, 400 64 KiB frames, 1,2,3 receivers, 2 rounds
 *   npm run bench:receivers -- --receivers 1,2 --rounds 1 --reference 10 --frames 50
 *
 * Rows run interleaved (1,2,3 then 3,2,1, ...) so that drift on a shared machine hits every count
 * alike; each row is judged (every image exactly once, byte for byte) before it is reported, and
 * the run exits 1 if any row failed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_FRAME_BYTES } from '../../src/device/index.js';
import { ENGINES, type EngineName } from '../../src/engine/types.js';
import { wasmVariant } from '../../src/engine/wasm.js';
import { packageRoot } from '../../src/paths.js';
import { SealPool } from '../../src/pool/pool.js';
import { AzureBlobStore } from '../../src/storage/azure.js';
import { cpuSlug, describeMachine, finishMachine } from '../machine.js';
import { IMAGE_BYTES, UsageError } from '../plan.js';
import { machineLines } from '../report.js';
import { startAzurite, startMosquitto, type Azurite, type Mosquitto } from '../servers.js';
import { provisionFleet, sealImages, type SealedImage } from './fleet.js';
import { describeRun, markdownReport, printReport, SCHEMA, summarize, type PayloadInfo, type ReceiverRunRecord } from './report.js';
import { runRow, type RowResult } from './row.js';

export interface ReceiverBenchOptions {
  /** Receiver counts, e.g. [1, 2, 3]; 1 must be among them (efficiency is measured against it). */
  receivers: number[];
  rounds: number;
  /** Images of the reference camera image's size, and 64 KiB frames (0 leaves a payload out). */
  reference: number;
  frames: number;
  cameras: number;
  concurrency: number;
  jobs: number;
  engine: EngineName;
  republish: number;
  timeoutSeconds: number;
  /** Directory for the .json and .md; default bench/out. */
  out: string | null;
}

export const BENCH_DEFAULTS: ReceiverBenchOptions = {
  receivers: [1, 2, 3],
  rounds: 2,
  reference: 60,
  frames: 400,
  cameras: 4,
  concurrency: 4,
  jobs: 1,
  engine: 'wasm',
  republish: 0,
  timeoutSeconds: 120,
  out: null,
};

export const USAGE = `usage: node dist/bench/receivers/run.js [--receivers 1,2,3] [--rounds 2] [--reference 60] [--frames 400]
                                       [--cameras 4] [--concurrency 4] [--jobs 1] [--engine wasm|native]
                                       [--republish 0] [--timeout 120] [--out DIR]`;

/** Warm-up images per payload, opened by every receiver before it subscribes. */
const WARMUP = 2;
const SOURCE = 'sealed';

function count(text: string | undefined, flag: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return n;
}

export function parseReceiverArgs(argv: string[]): ReceiverBenchOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        receivers: { type: 'string' },
        rounds: { type: 'string' },
        reference: { type: 'string' },
        frames: { type: 'string' },
        cameras: { type: 'string' },
        concurrency: { type: 'string' },
        jobs: { type: 'string' },
        engine: { type: 'string' },
        republish: { type: 'string' },
        timeout: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return 'help';
  const receivers = values.receivers === undefined ? BENCH_DEFAULTS.receivers : values.receivers.split(',').map((c) => count(c.trim(), '--receivers', 0, 1, 16));
  if (new Set(receivers).size !== receivers.length) throw new UsageError('--receivers lists a count twice');
  if (!receivers.includes(1)) throw new UsageError('--receivers must include 1: efficiency is measured against one receiver of the same run');
  const engine = values.engine ?? BENCH_DEFAULTS.engine;
  if (!(ENGINES as readonly string[]).includes(engine)) throw new UsageError(`--engine must be wasm or native, got ${JSON.stringify(engine)}`);
  const options: ReceiverBenchOptions = {
    receivers: [...receivers].sort((a, b) => a - b),
    rounds: count(values.rounds, '--rounds', BENCH_DEFAULTS.rounds, 1, 10),
    reference: count(values.reference, '--reference', BENCH_DEFAULTS.reference, 0, 10_000),
    frames: count(values.frames, '--frames', BENCH_DEFAULTS.frames, 0, 100_000),
    cameras: count(values.cameras, '--cameras', BENCH_DEFAULTS.cameras, 1, 100),
    concurrency: count(values.concurrency, '--concurrency', BENCH_DEFAULTS.concurrency, 1, 64),
    jobs: count(values.jobs, '--jobs', BENCH_DEFAULTS.jobs, 1, 64),
    engine: engine as EngineName,
    republish: count(values.republish, '--republish', BENCH_DEFAULTS.republish, 0, 100_000),
    timeoutSeconds: count(values.timeout, '--timeout', BENCH_DEFAULTS.timeoutSeconds, 1, 3600),
    out: values.out ?? null,
  };
  if (options.reference + options.frames === 0) throw new UsageError('--reference and --frames are both 0: nothing to receive');
  if (options.republish > Math.max(options.reference, options.frames)) throw new UsageError('--republish is larger than the payloads');
  return options;
}

/** Receiver counts per round: ascending, then descending, and so on. */
export function roundOrder(receivers: readonly number[], rounds: number): number[][] {
  return Array.from({ length: rounds }, (_, r) => (r % 2 === 0 ? [...receivers] : [...receivers].reverse()));
}

interface Payload {
  info: PayloadInfo;
  images: SealedImage[];
  warmup: SealedImage[];
}

export interface ReceiverBenchHooks {
  log?: (line: string) => void;
}

/** Runs the benchmark; resolves with the record (also written to `out`) and the exit status. */
export async function runReceiverBench(options: ReceiverBenchOptions, hooks: ReceiverBenchHooks = {}): Promise<{ record: ReceiverRunRecord; exitCode: number; files: string[] }> {
  const log = hooks.log ?? ((line: string) => console.log(line));
  const started = Date.now();
  const variant = wasmVariant();
  const machine = describeMachine(variant, [`${variant} (every receiver's pool workers)`]);
  const order = roundOrder(options.receivers, options.rounds);
  const notes: string[] = [];
  log(`sealcam receiver benchmark: ${options.receivers.join(', ')} receivers, ${options.rounds} round(s), ${options.reference} reference-size images, ${options.frames} frames`);
  for (const l of machineLines(machine)) log(l);

  const dir = await mkdtemp(join(tmpdir(), 'sealcam-rxbench-'));
  let azurite: Azurite | undefined;
  let mosquitto: Mosquitto | undefined;
  const rows: RowResult[] = [];
  const payloads: Payload[] = [];
  let seedSeconds = 0;
  try {
    // No persistence: each row restarts the broker and finds nothing of the row before. No queue
    // limit: the split is fixed at publish time, and one member's backlog may exceed Mosquitto's 1000.
    [azurite, mosquitto] = await Promise.all([startAzurite(), startMosquitto({}, { persistence: false, maxQueuedMessages: 0 })]);
    const fleet = await provisionFleet(dir, options.cameras);
    const store = new AzureBlobStore({ container: SOURCE, connectionString: azurite.connectionString });
    const seeding = Date.now();
    const pool = new SealPool({ engine: options.engine });
    try {
      const wanted = [
        { label: 'reference', what: "synthetic PNG of the reference camera image's size", size: IMAGE_BYTES, count: options.reference },
        { label: '64KiB', what: 'synthetic 64 KiB PNG frame', size: DEFAULT_FRAME_BYTES, count: options.frames },
      ].filter((p) => p.count > 0);
      for (const p of wanted) {
        const all = await sealImages({ fleet, store, pool, dir, label: p.label, size: p.size, count: p.count + WARMUP });
        const images = all.slice(WARMUP);
        payloads.push({ info: { label: p.label, what: p.what, imageBytes: images[0]!.bytes, images: images.length }, images, warmup: all.slice(0, WARMUP) });
      }
    } finally {
      await pool.close();
    }
    seedSeconds = Math.round((Date.now() - seeding) / 100) / 10;
    log(`sealed ${payloads.map((p) => `${p.images.length + WARMUP} ${p.info.label}`).join(' and ')} images into Azurite in ${seedSeconds} s (${WARMUP} of each for the warm-ups)`);

    const env = { azurite, mosquitto, fleet, source: SOURCE, concurrency: options.concurrency, jobs: options.jobs, engine: options.engine, republish: options.republish, timeoutMs: options.timeoutSeconds * 1000 };
    const total = order.flat().length * payloads.length;
    for (const [round, counts] of order.entries()) {
      for (const receivers of counts) {
        for (const payload of payloads) {
          const row = await runRow(env, { payload: payload.info.label, round, receivers, images: payload.images, warmup: payload.warmup }, rows.length + 1);
          rows.push(row);
          const figures = row.status === 'ok' ? `${row.imagesPerSecond.toFixed(1)} images/s, ${row.mbps.toFixed(1)} MB/s` : `FAILED: ${row.problems.slice(0, 3).join('; ')}`;
          log(`  row ${rows.length}/${total}: ${payload.info.label}, ${receivers} receiver(s), round ${round + 1}: ${figures}`);
        }
      }
    }
  } finally {
    await Promise.allSettled([azurite?.stop(), mosquitto?.stop()]);
    await rm(dir, { recursive: true, force: true });
  }

  finishMachine(machine);
  if (machine.cores <= 2) notes.push(`${machine.cores} cores for every receiver, Azurite and Mosquitto together: more receivers cannot add CPU here, so efficiency shows the cost of sharing, not how receivers on their own machines scale`);
  const date = new Date();
  const record: ReceiverRunRecord = {
    schema: SCHEMA,
    machine,
    run: {
      date: date.toISOString(),
      receivers: options.receivers,
      rounds: options.rounds,
      order,
      payloads: payloads.map((p) => p.info),
      cameras: options.cameras,
      concurrency: options.concurrency,
      jobs: options.jobs,
      engine: options.engine,
      republish: options.republish,
      seedSeconds,
      durationSeconds: Math.round((Date.now() - started) / 1000),
      notes,
    },
    rows,
    summary: summarize(rows, payloads.map((p) => p.info), options.receivers),
  };
  for (const l of describeRun(record)) log(l);
  for (const n of notes) log(`note: ${n}`);
  printReport(record, log);

  const base = join(options.out ? resolve(options.out) : join(packageRoot, 'bench', 'out'), `${machine.arch}-${cpuSlug(machine.cpuModel)}-${date.toISOString().slice(0, 10)}-receivers`);
  mkdirSync(join(base, '..'), { recursive: true });
  const files = [`${base}.json`, `${base}.md`];
  writeFileSync(files[0]!, JSON.stringify(record, null, 2) + '\n');
  writeFileSync(files[1]!, markdownReport(record));
  log(`\nwrote ${files.map((f) => relative(process.cwd(), f)).join(', ')} (${record.run.durationSeconds} s)`);

  const failed = rows.filter((r) => r.status !== 'ok');
  if (failed.length > 0) log(`\nFAILED: ${failed.length} row(s) did not deliver every image exactly once:\n  ${failed.map((r) => `${r.payload} x${r.receivers} round ${r.round + 1}: ${r.problems.slice(0, 3).join('; ')}`).join('\n  ')}`);
  return { record, exitCode: failed.length > 0 ? 1 : 0, files };
}

async function main(): Promise<void> {
  try {
    const options = parseReceiverArgs(process.argv.slice(2));
    if (options === 'help') {
      console.log(USAGE);
      return;
    }
    process.exitCode = (await runReceiverBench(options)).exitCode;
  } catch (e) {
    if (process.env.SEALCAM_DEBUG) console.error(e);
    console.error(`sealcam receiver bench: ${e instanceof UsageError ? '' : 'failed: '}${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 2;
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
