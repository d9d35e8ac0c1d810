import { fork } from 'node:child_process';
import { createCipheriv, createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createBackend } from '../src/engine/eax.js';
import type { CipherBackend, EngineName } from '../src/engine/types.js';
import {
  createHeader,
  DEFAULT_SEGMENT_SIZE,
  sealSegments,
  segmentContext,
  TAG,
  type SealedMetadata,
  type SealOptions,
  type SegmentContext,
} from '../src/formats/sealed.js';
import { packageRoot } from '../src/paths.js';
import { fileIO } from '../src/io/file-io.js';
import { createOpenStream, createSealStream, SealPool } from '../src/pool/index.js';
import { fixedHeader, KEK, KEY_ID, poolImpl } from './cases/sealed.js';
import { caseName, OPS, type StreamPath } from './cases/types.js';
import { mbText, sizeLabel } from './report.js';
import type { Result } from './results.js';

/**
 * Streamed `sealed` files (three runs up to 256 MiB, see runsAt):
 * a file of 256 MiB (and 1 GiB) sealed and opened file to file the way
 * `sealcam encrypt/decrypt` do it (SealPool.sealIO / openIO over fileIO: the workers read and
 * write their segments themselves), and, side by side at the first size, the same files with the
 * main thread doing the I/O and through the Duplex streams (StreamPath), each direction in a
 * child process that does only that, so its peak RSS (see peakRssMiB) is the streaming's own. The sealed file is checked
 * against a reference computed segment by segment with the native engine while the input was
 * written, and the opened file against the input's digest.
 */

const MiB = 1 << 20;

export interface StreamJob {
  op: 'seal' | 'open';
  input: string;
  output: string;
  engine: EngineName;
  workers: number;
  via: StreamPath;
  kek: Uint8Array;
  fixed?: SealOptions['fixed'];
  metadata?: SealedMetadata;
}

export interface StreamFigures {
  ms: number;
  peakRssMiB: number | null;
  rssBeforeMiB: number | null;
}

/** Runs one job in this process: the pool is started and warmed first, then only the stream is timed. */
export async function streamFile(job: StreamJob): Promise<{ ms: number; rssBeforeMiB: number }> {
  const pool = new SealPool({ jobs: job.workers, engine: job.engine });
  try {
    await warmUp(pool, job);
    resetPeakRss();
    const rssBeforeMiB = process.memoryUsage().rss / MiB;
    const started = performance.now();
    if (job.via === 'Duplex') await throughDuplex(pool, job);
    else await throughFiles(pool, job);
    return { ms: performance.now() - started, rssBeforeMiB };
  } finally {
    await pool.close();
  }
}

/**
 * Starts every worker and warms the JIT on the timed path itself (the same `via`, a few tasks per
 * worker, between small temporary files), so what the warm-up leaves behind is what the stream
 * would: warming through whole buffers instead left tens of MiB of the main thread's garbage in
 * the peak RSS that a `sealcam encrypt` never has.
 */
async function warmUp(pool: SealPool, job: StreamJob): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sealcam-warm-'));
  try {
    const plain = join(dir, 'plain');
    const sealed = join(dir, 'sealed');
    // A sparse file of zeros: no buffer of this thread's is made for it.
    writeFileSync(plain, '');
    truncateSync(plain, 2 * job.workers * MiB);
    const warm = { ...job, fixed: undefined, metadata: undefined };
    const run = (w: StreamJob): Promise<void> => (w.via === 'Duplex' ? throughDuplex(pool, w) : throughFiles(pool, w));
    await run({ ...warm, op: 'seal', input: plain, output: sealed });
    if (job.op === 'open') await run({ ...warm, op: 'open', input: sealed, output: join(dir, 'opened') });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const sealing = (job: StreamJob): SealOptions => ({ kek: job.kek, keyId: KEY_ID, keyVersion: '1', metadata: job.metadata, fixed: job.fixed });

/** File to file through SealPool.sealIO/openIO: the workers' own I/O, or (job.via) the main thread's. */
async function throughFiles(pool: SealPool, job: StreamJob): Promise<void> {
  const input = await open(job.input, 'r');
  const output = await open(job.output, 'w');
  try {
    const files = fileIO(input, output, { name: job.input, size: (await input.stat()).size });
    // Without `files` the pipeline reads into its task buffers and writes from them itself.
    const io = job.via === 'files' ? files : { read: files.read, write: files.write };
    if (job.op === 'seal') await pool.sealIO(io, sealing(job));
    else await pool.openIO(io, { kek: job.kek });
  } finally {
    await input.close();
    await output.close();
  }
}

/** Through the Duplex streams, between file streams (as a socket or an HTTP body would come). */
async function throughDuplex(pool: SealPool, job: StreamJob): Promise<void> {
  const stream = job.op === 'seal' ? createSealStream({ ...sealing(job), pool }) : createOpenStream({ kek: job.kek, pool });
  await pipeline(createReadStream(job.input), stream, createWriteStream(job.output));
}

/** Linux: restart the peak-RSS count from the current RSS (clear_refs 5), so the warm-up does not count. */
function resetPeakRss(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    /* not Linux, or not allowed: the peak then includes the warm-up */
  }
}

/**
 * This process's peak resident set. Linux: VmHWM, the high-water mark of this process image.
 * (getrusage's maxRSS is no good in a child: it keeps the maximum from before exec, i.e. the
 * parent's RSS at fork.) Elsewhere maxRSS is all there is.
 */
export function peakRssMiB(): number {
  try {
    const hwm = /^VmHWM:\s*(\d+)\s*kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Number(hwm[1]) / 1024;
  } catch {
    /* no /proc */
  }
  return process.resourceUsage().maxRSS / 1024;
}

export type StreamChildReply = ({ ok: true; ms: number; rssBeforeMiB: number; peakRssMiB: number }) | { ok: false; error: string };

const CHILD = join(packageRoot, 'dist', 'bench', 'stream-child.js');

function inChild(job: StreamJob): Promise<StreamFigures> {
  return new Promise((resolve, reject) => {
    const child = fork(CHILD, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let reply: StreamChildReply | undefined;
    child.on('message', (m: StreamChildReply) => (reply = m));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (reply?.ok) resolve({ ms: reply.ms, peakRssMiB: reply.peakRssMiB, rssBeforeMiB: reply.rssBeforeMiB });
      else reject(new Error(reply && !reply.ok ? reply.error : `the stream child exited (${code}) without a result`));
    });
    child.send(job);
  });
}

/** Where a streamed file's segments are sealed with the native engine as the input is written. */
class ReferenceSealer {
  private readonly digest: Hash = createHash('sha256');
  private readonly backend: CipherBackend;
  private readonly context: SegmentContext;
  private pending = new Uint8Array(0);
  private index = 0;
  private readonly count: number;

  constructor(
    size: number,
    options: SealOptions,
    private readonly segment = DEFAULT_SEGMENT_SIZE,
  ) {
    const header = createHeader({ ...options, engine: 'native' });
    this.context = segmentContext(header.header);
    this.backend = createBackend(header.payloadKey, 'native');
    header.payloadKey.fill(0);
    this.digest.update(header.bytes);
    this.count = Math.max(1, Math.ceil(size / segment));
  }

  add(data: Uint8Array): void {
    let rest = this.pending.length > 0 ? Buffer.concat([this.pending, data]) : data;
    while (rest.length > this.segment || (rest.length === this.segment && this.index < this.count - 1)) {
      this.sealNext(rest.subarray(0, this.segment));
      rest = rest.subarray(this.segment);
    }
    this.pending = new Uint8Array(rest);
  }

  private sealNext(plain: Uint8Array): void {
    const segment = new Uint8Array(plain.length + TAG);
    segment.set(plain);
    this.digest.update(sealSegments(this.backend, this.context, this.index, this.index === this.count - 1, segment, plain.length));
    this.index++;
  }

  finish(): string {
    this.sealNext(this.pending);
    this.backend.dispose();
    return this.digest.digest('hex');
  }
}

/** Writes `size` pseudo-random bytes (AES-CTR keystream) to `path`; returns its digest and the sealed reference's. */
async function writeInput(path: string, size: number, sealOptions: SealOptions): Promise<{ input: string; sealed: string }> {
  const keystream = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const zeros = new Uint8Array(MiB);
  const inputDigest = createHash('sha256');
  const reference = new ReferenceSealer(size, sealOptions);
  const file = await open(path, 'w');
  try {
    for (let done = 0; done < size; done += MiB) {
      const chunk = keystream.update(zeros.subarray(0, Math.min(MiB, size - done)));
      inputDigest.update(chunk);
      reference.add(chunk);
      await file.write(chunk);
    }
  } finally {
    await file.close();
  }
  return { input: inputDigest.digest('hex'), sealed: reference.finish() };
}

async function fileDigest(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: MiB }), h);
  return h.digest('hex');
}

export interface StreamConfig {
  engine: EngineName;
  workers: number;
  via: StreamPath;
}

export interface StreamPlan {
  sizes: number[];
  /** The configurations streamed at a size. */
  configs(size: number): StreamConfig[];
  /** No child processes (an emulated arm64 Node cannot start one): stream in this process, RSS not measured. */
  inProcess: boolean;
  wanted(name: string): boolean;
  log(line: string): void;
}

function streamImpl(config: StreamConfig): string {
  return poolImpl(config.engine, config.workers) + (config.via === 'files' ? '' : `, ${config.via}`);
}

export function streamRowName(config: StreamConfig, op: string): string {
  return caseName({ impl: streamImpl(config), op });
}

function row(config: StreamConfig, op: string, size: number): Omit<Result, 'status'> {
  const impl = streamImpl(config);
  return {
    name: streamRowName(config, op),
    impl,
    op,
    kind: 'stream',
    keyBits: 128,
    direction: op === OPS.streamSeal ? 'enc' : 'dec',
    pureJs: false,
    pool: { engine: config.engine, workers: config.workers, ...(config.via === 'files' ? {} : { via: config.via }) },
    size,
    bytes: size,
  };
}

function figuresOf(runs: StreamFigures[], size: number): Partial<Result> {
  const ms = runs.map((r) => r.ms).sort((a, b) => a - b)[runs.length >> 1]!;
  const most = (pick: (r: StreamFigures) => number | null): number | null =>
    runs.every((r) => pick(r) !== null) ? Math.max(...runs.map((r) => pick(r)!)) : null;
  return { samples: runs.length, medianMs: ms, mbps: size / (ms / 1000) / 1e6, peakRssMiB: most((r) => r.peakRssMiB), rssBeforeMiB: most((r) => r.rssBeforeMiB) };
}

/** Runs per configuration: three (median time, highest peak RSS) up to 256 MiB, one above. */
function runsAt(size: number): number {
  return size <= 256 * MiB ? 3 : 1;
}


async function runJob(job: StreamJob, inProcess: boolean): Promise<StreamFigures> {
  if (!inProcess) return inChild(job);
  const r = await streamFile(job);
  return { ms: r.ms, peakRssMiB: null, rssBeforeMiB: null };
}

/** Streams every wanted configuration at every size; each row is reported only if its output checks out. */
export async function runStreams(plan: StreamPlan): Promise<Result[]> {
  const results: Result[] = [];
  for (const size of plan.sizes) {
    const configs = plan
      .configs(size)
      .filter((c) => plan.wanted(streamRowName(c, OPS.streamSeal)) || plan.wanted(streamRowName(c, OPS.streamOpen)));
    if (configs.length === 0) continue;
    const dir = await mkdtemp(join(tmpdir(), 'sealcam-bench-'));
    try {
      const input = join(dir, 'input.bin');
      const sealed = join(dir, 'sealed.bin');
      const opened = join(dir, 'opened.bin');
      const fixed = fixedHeader();
      const metadata = { originalSize: size };
      plan.log(`streaming ${sizeLabel(size)}: writing the input and the native reference`);
      const want = await writeInput(input, size, { kek: KEK, keyId: KEY_ID, keyVersion: '1', metadata, fixed });
      for (const config of configs) {
        const began = Date.now();
        const job = { engine: config.engine, workers: config.workers, via: config.via, kek: KEK };
        const sealRow = row(config, OPS.streamSeal, size);
        const openRow = row(config, OPS.streamOpen, size);
        try {
          const s: StreamFigures[] = [];
          const o: StreamFigures[] = [];
          let sealedOk = true;
          let openedOk = true;
          // Seal and open alternate, and every output is checked. Each output replaces the previous
          // run's, deleted just before, so both directions write into page cache just freed: the
          // open used to write into fresh memory while the seal reused what the last run freed, and
          // fresh pages cost this VM about 10 µs each (an open then spent 0.3-0.7 s more in the
          // kernel per 256 MiB, all of it in pwrite, and ran at about 0.6x the seal).
          for (let run = 0; run < runsAt(size); run++) {
            await rm(sealed, { force: true });
            s.push(await runJob({ ...job, op: 'seal', input, output: sealed, fixed, metadata }, plan.inProcess));
            sealedOk &&= (await fileDigest(sealed)) === want.sealed;
            await rm(opened, { force: true });
            o.push(await runJob({ ...job, op: 'open', input: sealed, output: opened }, plan.inProcess));
            openedOk &&= (await fileDigest(opened)) === want.input;
          }
          results.push(
            sealedOk
              ? { ...sealRow, status: 'ok', ...figuresOf(s, size) }
              : { ...sealRow, status: 'DISAGREES', detail: 'the sealed file differs from the native reference' },
          );
          results.push(
            openedOk
              ? { ...openRow, status: 'ok', ...figuresOf(o, size) }
              : { ...openRow, status: 'DISAGREES', detail: 'the opened file differs from the input' },
          );
        } catch (e) {
          for (const r of [sealRow, openRow]) {
            if (!results.some((x) => x.name === r.name && x.size === size)) results.push({ ...r, status: 'ERROR', detail: (e as Error).message });
          }
        } finally {
          await rm(sealed, { force: true });
          await rm(opened, { force: true });
        }
        const done = results.filter((r) => r.size === size && r.impl === sealRow.impl);
        const figures = (r: Result): string =>
          r.status === 'ok' ? `${mbText(r.mbps)} MB/s, peak RSS ${typeof r.peakRssMiB === 'number' ? `${r.peakRssMiB.toFixed(0)} MiB` : 'n/a'}` : r.status;
        const took = `${((Date.now() - began) / 1000).toFixed(0)} s`;
        plan.log(`  ${sealRow.impl}: ${done.map((r) => `${r.op.replace('sealed stream ', '')} ${figures(r)}`).join('; ')} (${took})`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return results.filter((r) => plan.wanted(r.name));
}
