import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, type EngineName } from '../src/engine/types.js';
import { AuthenticationError, SealcamError } from '../src/errors.js';
import { openBuffer, sealBuffer, TAG, type SealOptions } from '../src/formats/sealed.js';
import { packageRoot } from '../src/paths.js';
import { createOpenStream, createSealStream, SealPool, workerPath, type BufferIO, type Progress } from '../src/pool/index.js';
import { fileIO, filesIO } from '../src/io/file-io.js';
import type { RandomAccessIO } from '../src/io/buffer-io.js';
import { same } from './helpers/bytes.js';

/**
 * The worker pool and the streams: the same bytes as sealBuffer, round trips at the sizes around
 * segment and task boundaries on 1 and 2 workers and both engines, failures named by segment and
 * rebuilt as sealcam's error classes, truncation caught at the end of a stream, and bounded
 * memory for a 64 MiB file.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const S = 4 * KiB;
const kek = new Uint8Array(randomBytes(16));
const fixed = { dek: new Uint8Array(randomBytes(16)), salt: new Uint8Array(randomBytes(16)), prefix: new Uint8Array(randomBytes(11)) };
const sealOptions = (engine: EngineName, segmentSize = S): SealOptions => ({ kek, keyId: 'cam-key', keyVersion: '3', segmentSize, fixed, engine });
const SIZES = [0, 1, S - 1, S, S + 1, 10 * S + 3, 20 * MiB];
/** The pools most tests run on: both engines on 1 and 2 workers, and 3-segment tasks. */
const POOL_CONFIGS = [
  ...ENGINES.flatMap((engine) => [1, 2].map((jobs) => ({ jobs, engine, batchBytes: undefined as number | undefined }))),
  { jobs: 2, engine: 'wasm' as EngineName, batchBytes: 3 * S },
];
/** Files around segment and task boundaries: 256-segment default tasks and 3-segment ones. */
const IO_SIZES = [0, 1, S - 1, S, S + 1, 3 * S, 3 * S + 1, 6 * S, 10 * S + 3, MiB, MiB + 1, 5 * MiB + 7];


function* pieces(data: Uint8Array, size: number): Generator<Uint8Array> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

/** Run `input` through a seal or open stream in chunks of `chunk` bytes and collect its output. */
async function through(stream: Duplex, input: Uint8Array, chunk = 64 * KiB): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(c: Buffer, _encoding, callback) {
      parts.push(c);
      callback();
    },
  });
  await pipeline(Readable.from(pieces(input, chunk)), stream, sink);
  return new Uint8Array(Buffer.concat(parts));
}

/** Collect what a stream emitted before it failed, and the failure. */
async function throughFailing(stream: Duplex, input: Uint8Array): Promise<{ out: Uint8Array; error: unknown }> {
  const parts: Buffer[] = [];
  stream.on('data', (c: Buffer) => parts.push(c));
  let error: unknown;
  try {
    await pipeline(Readable.from(pieces(input, 64 * KiB)), stream);
  } catch (err) {
    error = err;
  }
  return { out: new Uint8Array(Buffer.concat(parts)), error };
}

/**
 * Pipe `data` through `stream` into a reader that takes `readerDelay` ms per chunk; returns the most input
 * bytes the stream had pulled beyond what the reader had taken (the two differ only by tags).
 */
async function readAhead(stream: Duplex, data: Uint8Array, readerDelay: number): Promise<number> {
  let produced = 0;
  let consumed = 0;
  let ahead = 0;
  const source = new Readable({
    read() {
      const piece = data.subarray(produced, produced + 64 * KiB);
      produced += piece.length;
      ahead = Math.max(ahead, produced - consumed);
      this.push(piece.length > 0 ? piece : null);
    },
  });
  const reader = new Writable({
    write(c: Buffer, _encoding, callback) {
      consumed += c.length;
      if (readerDelay > 0) setTimeout(callback, readerDelay);
      else callback();
    },
  });
  await pipeline(source, stream, reader);
  return ahead;
}

const pools: SealPool[] = [];
function pool(jobs: number, engine: EngineName, batchBytes?: number): SealPool {
  const p = new SealPool({ jobs, engine, batchBytes });
  pools.push(p);
  return p;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sealcam-pool-'));
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('SealPool buffers', () => {
  const inputs = new Map(SIZES.map((n) => [n, new Uint8Array(randomBytes(n))]));
  const reference = new Map<string, Uint8Array>();
  const expected = (engine: EngineName, n: number): Uint8Array => {
    const key = `${engine}/${n}`;
    if (!reference.has(key)) reference.set(key, sealBuffer(inputs.get(n)!, sealOptions(engine)));
    return reference.get(key)!;
  };

  // Default tasks (256 segments of 4 KiB) and tiny ones (3 segments), so task boundaries fall everywhere.
  for (const { jobs, engine, batchBytes } of POOL_CONFIGS) {
    it(`${engine}, ${jobs} worker(s)${batchBytes ? ', 3-segment tasks' : ''}: seal gives sealBuffer's bytes and open gives the plaintext back`, async () => {
      const p = pool(jobs, engine, batchBytes);
      for (const n of SIZES) {
        const plaintext = inputs.get(n)!;
        const sealed = await p.seal(plaintext, sealOptions(engine));
        expect(same(sealed, expected(engine, n)), `size ${n}`).toBe(true);
        const opened = await p.open(sealed, { kek: () => kek, engine });
        expect(same(opened.plaintext, plaintext), `size ${n}`).toBe(true);
        expect(opened.header.metadata.originalSize).toBe(n);
      }
    });
  }

  it('opens what sealBuffer sealed at the default segment size, and openBuffer opens what the pool sealed', async () => {
    const p = pool(2, 'wasm');
    const plaintext = new Uint8Array(randomBytes(3 * MiB + 5));
    const options = { kek, keyId: 'k', keyVersion: '1' };
    expect(same((await p.open(sealBuffer(plaintext, options), { kek })).plaintext, plaintext)).toBe(true);
    expect(same((await openBuffer(await p.seal(plaintext, options), { kek })).plaintext, plaintext)).toBe(true);
  });

  it('reports progress up to the total', async () => {
    const p = pool(2, 'native', 16 * KiB);
    const seen: Progress[] = [];
    const plaintext = new Uint8Array(10 * S + 3);
    const sealed = await p.seal(plaintext, { ...sealOptions('native'), onProgress: (x) => seen.push(x) });
    expect(seen.at(-1)).toEqual({ bytes: plaintext.length, total: plaintext.length });
    seen.length = 0;
    await p.open(sealed, { kek, onProgress: (x) => seen.push(x) });
    expect(seen.length).toBe(3);
    expect(seen.at(-1)).toEqual({ bytes: plaintext.length, total: plaintext.length });
  });

  describe('failures come back named by segment, as sealcam errors', () => {
    const plaintext = new Uint8Array(randomBytes(10 * S + 3));
    const segmentStart = (sealed: Uint8Array, i: number) => sealed.length - (3 + TAG) - (10 - i) * (S + TAG);

    for (const engine of ENGINES) {
      it(`${engine}: an altered segment, an altered last segment, a dropped last segment`, async () => {
        const p = pool(2, engine, 2 * S);
        const sealed = await p.seal(plaintext, sealOptions(engine));
        const altered = sealed.slice();
        altered[segmentStart(sealed, 7) + 100]! ^= 1;
        const err = await p.open(altered, { kek }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(AuthenticationError);
        expect((err as SealcamError).code).toBe('EAUTH');
        expect((err as Error).message).toMatch(/^segment 7 failed verification/);
        expect((err as Error).message).not.toContain('\n');

        const lastAltered = sealed.slice();
        lastAltered[lastAltered.length - 1]! ^= 1;
        await expect(p.open(lastAltered, { kek })).rejects.toThrow(/^segment 10 \(the last\) failed verification/);

        const dropped = sealed.subarray(0, segmentStart(sealed, 10));
        await expect(p.open(dropped, { kek })).rejects.toThrow(/^segment 9 \(the last\) failed verification/);
      });
    }

    it('a cut inside the last tag and a wrong key are refused before any task runs', async () => {
      const p = pool(1, 'wasm');
      const sealed = await p.seal(plaintext, sealOptions('wasm'));
      await expect(p.open(sealed.subarray(0, sealed.length - 5), { kek })).rejects.toThrow(/truncated/);
      await expect(p.open(sealed, { kek: new Uint8Array(16) })).rejects.toThrow(/^wrong key/);
    });
  });
});

describe('streams', () => {
  it('seal stream gives sealBuffer\'s bytes, including for an empty input (one empty last segment)', async () => {
    const p = pool(2, 'wasm', 3 * S);
    for (const n of [0, 1, S, 3 * S, 3 * S + 1, 10 * S + 3]) {
      const plaintext = new Uint8Array(randomBytes(n));
      const options = { ...sealOptions('wasm'), metadata: { originalSize: n } };
      const sealed = await through(createSealStream({ ...options, pool: p }), plaintext, 1000);
      expect(same(sealed, sealBuffer(plaintext, options)), `size ${n}`).toBe(true);
      expect(same(await through(createOpenStream({ kek, pool: p }), sealed, 777), plaintext), `size ${n}`).toBe(true);
    }
  });

  it('without a pool, a stream starts its own (and closes it when it ends)', async () => {
    const plaintext = new Uint8Array(randomBytes(5 * S + 7));
    const options = { ...sealOptions('native'), metadata: { originalSize: plaintext.length } };
    const sealed = await through(createSealStream(options), plaintext);
    expect(same(sealed, sealBuffer(plaintext, options))).toBe(true);
    expect(same(await through(createOpenStream({ kek, engine: 'native' }), sealed), plaintext)).toBe(true);
  });

  // The streams reuse their task buffers; what they push must stay the consumer's.
  for (const engine of ENGINES) {
    it(`${engine}: every chunk pushed is the consumer's own, intact when held until the end`, async () => {
      const p = pool(2, engine, 3 * S);
      const plaintext = new Uint8Array(randomBytes(40 * S + 5));
      const options = { ...sealOptions(engine), metadata: { originalSize: plaintext.length } };
      const held = async (stream: Duplex, input: Uint8Array): Promise<Uint8Array[]> => {
        const chunks: Uint8Array[] = [];
        stream.on('data', (c: Uint8Array) => chunks.push(c));
        await pipeline(Readable.from(pieces(input, 5000)), stream);
        return chunks;
      };
      const sealedChunks = await held(createSealStream({ ...options, pool: p }), plaintext);
      const sealed = new Uint8Array(Buffer.concat(sealedChunks));
      expect(same(sealed, sealBuffer(plaintext, options))).toBe(true);
      const openedChunks = await held(createOpenStream({ kek, pool: p }), sealed);
      expect(same(new Uint8Array(Buffer.concat(openedChunks)), plaintext)).toBe(true);
      for (const chunks of [sealedChunks, openedChunks]) {
        expect(chunks.length).toBeGreaterThan(10);
        expect(new Set(chunks.map((c) => c.buffer)).size, 'no two chunks share memory').toBe(chunks.length);
      }
    });
  }

  it('works with 1-byte writes in both directions', async () => {
    const p = pool(2, 'native', 2 * S);
    const plaintext = new Uint8Array(randomBytes(3 * S + 5));
    const options = { ...sealOptions('native'), metadata: { originalSize: plaintext.length } };
    const sealed = await through(createSealStream({ ...options, pool: p }), plaintext, 1);
    expect(same(sealed, sealBuffer(plaintext, options))).toBe(true);
    expect(same(await through(createOpenStream({ kek: () => kek, pool: p }), sealed, 1), plaintext)).toBe(true);
  });

  it('a 64 MiB file round-trips through files with stream.pipeline in bounded memory', async () => {
    const p = pool(2, 'wasm');
    const size = 64 * MiB;
    const plainPath = join(dir, 'plain.bin');
    const sealedPath = join(dir, 'plain.sealed');
    const openedPath = join(dir, 'opened.bin');
    const want = createHash('sha256');
    await pipeline(
      Readable.from(
        (function* () {
          for (let i = 0; i < size / MiB; i++) {
            const b = randomBytes(MiB);
            want.update(b);
            yield b;
          }
        })(),
      ),
      createWriteStream(plainPath),
    );

    (globalThis as { gc?: () => void }).gc?.();
    const before = process.memoryUsage();
    let peakRss = before.rss;
    let peakHeap = before.heapUsed;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    }, 10);
    const progress: Progress[] = [];
    let header: unknown;
    try {
      const seal = createSealStream({ kek, keyId: 'cam-key', keyVersion: '3', metadata: { originalSize: size }, pool: p });
      seal.on('progress', (x: Progress) => progress.push(x));
      await pipeline(createReadStream(plainPath), seal, createWriteStream(sealedPath));
      expect(progress.at(-1)).toEqual({ bytes: size, total: size });
      const open = createOpenStream({ kek: async () => kek, pool: p });
      open.on('header', (h: unknown) => (header = h));
      await pipeline(createReadStream(sealedPath), open, createWriteStream(openedPath));
    } finally {
      clearInterval(sampler);
    }
    expect(statSync(sealedPath).size).toBeGreaterThan(size);
    expect((header as { metadata: { originalSize: number } }).metadata.originalSize).toBe(size);
    const got = createHash('sha256');
    await pipeline(createReadStream(openedPath), got);
    expect(got.digest('hex')).toBe(want.digest('hex'));
    expect(peakRss - before.rss, 'RSS growth').toBeLessThan(200 * MiB);
    expect(peakHeap - before.heapUsed, 'heap growth').toBeLessThan(100 * MiB);
  });

  // Slow reader: the stream's backpressure holds the input. Slow workers: the task window does.
  for (const { jobs, engine, readerDelay } of [
    { jobs: 2, engine: 'native' as EngineName, readerDelay: 10 },
    { jobs: 1, engine: 'wasm' as EngineName, readerDelay: 0 },
  ]) {
    it(`does not read ahead without limit (${readerDelay ? 'slow reader' : 'slow workers'}): about 2 x jobs tasks plus stream buffers`, async () => {
      const p = pool(jobs, engine);
      const plaintext = new Uint8Array(24 * MiB);
      const options = { kek, keyId: 'k', keyVersion: '1' };
      const bound = (2 * jobs + 4) * MiB; // measured: 2 x jobs + 0.1 MiB
      const sealAhead = await readAhead(createSealStream({ ...options, pool: p }), plaintext, readerDelay);
      const sealed = await p.seal(plaintext, options);
      const openAhead = await readAhead(createOpenStream({ kek, pool: p }), sealed, readerDelay);
      expect(sealAhead, 'seal stream').toBeLessThan(bound);
      expect(openAhead, 'open stream').toBeLessThan(bound);
    });
  }

  describe('the open stream refuses, releasing only verified plaintext', () => {
    const plaintext = new Uint8Array(randomBytes(10 * S + 3));
    let sealed: Uint8Array;
    const lastStart = () => sealed.length - (3 + TAG);
    beforeAll(() => {
      sealed = sealBuffer(plaintext, sealOptions('native'));
    });
    let shared: SealPool | undefined;
    const open = (key = kek) => createOpenStream({ kek: key, pool: (shared ??= pool(2, 'wasm', 2 * S)) });

    it('a stream cut at a segment boundary (the last segment dropped): the new last segment fails', async () => {
      const { out, error } = await throughFailing(open(), sealed.subarray(0, lastStart()));
      expect(error).toBeInstanceOf(AuthenticationError);
      expect((error as Error).message).toMatch(/^segment 9 \(the last\) failed verification: .*truncated/);
      expect(same(out, plaintext.subarray(0, out.length))).toBe(true);
      expect(out.length).toBeLessThan(10 * S);
    });

    it('a stream of the header alone, or cut inside the last tag, or inside the header: truncated', async () => {
      const headerLength = sealed.length - (10 * (S + TAG) + 3 + TAG);
      for (const cut of [headerLength, sealed.length - 5, headerLength - 1, 5, 0]) {
        const { out, error } = await throughFailing(open(), sealed.subarray(0, cut));
        expect((error as SealcamError).code, `cut at ${cut}`).toBe('EFORMAT');
        expect((error as Error).message, `cut at ${cut}`).toMatch(/truncated|too short/);
        expect(out.length).toBeLessThanOrEqual(10 * S);
      }
    });

    it('an altered segment: plaintext stops before its task, and the error names it', async () => {
      const p = pool(1, 'wasm', 2 * S);
      const altered = sealed.slice();
      altered[lastStart() - 4 * (S + TAG) + 9]! ^= 1; // segment 6
      const { out, error } = await throughFailing(createOpenStream({ kek, pool: p }), altered);
      expect(error).toBeInstanceOf(AuthenticationError);
      expect((error as Error).message).toMatch(/^segment 6 failed verification/);
      expect(out.length).toBeLessThanOrEqual(6 * S);
      expect(same(out, plaintext.subarray(0, out.length))).toBe(true);
    });

    it('an absurd header length is refused before anything is allocated for it; a wrong key is named', async () => {
      const bad = sealed.slice(0, 64);
      new DataView(bad.buffer).setUint32(12, 0xffffffff);
      const { error } = await throughFailing(open(), bad);
      expect((error as Error).message).toMatch(/invalid header length 4294967295/);
      const wrong = await throughFailing(open(new Uint8Array(16)), sealed);
      expect((wrong.error as Error).message).toMatch(/^wrong key/);
      expect(wrong.out.length).toBe(0);
    });
  });
});

/**
 * A BufferIO over memory: reads `input` in whatever sizes the pool asks for, keeps a copy of each
 * write (the pool reuses the buffer afterwards), and records how far reading ran ahead of writing.
 */
function memoryIO(input: Uint8Array, writeDelay = 0) {
  let readAt = 0;
  let written = 0;
  let ahead = 0;
  const parts: Uint8Array[] = [];
  const io: BufferIO = {
    async read(into) {
      const n = Math.min(into.length, input.length - readAt);
      into.set(input.subarray(readAt, readAt + n));
      readAt += n;
      ahead = Math.max(ahead, readAt - written);
      return n;
    },
    async write(bytes) {
      parts.push(bytes.slice());
      if (writeDelay > 0) await new Promise((r) => setTimeout(r, writeDelay));
      written += bytes.length;
    },
  };
  return { io, output: () => new Uint8Array(Buffer.concat(parts)), ahead: () => ahead };
}

describe('sealIO and openIO: reads into the task buffers and writes from them', () => {
  for (const { jobs, engine, batchBytes } of POOL_CONFIGS) {
    it(`${engine}, ${jobs} worker(s)${batchBytes ? ', 3-segment tasks' : ''}: sealBuffer's bytes, and the plaintext back`, async () => {
      const p = pool(jobs, engine, batchBytes);
      for (const n of IO_SIZES) {
        const plaintext = new Uint8Array(randomBytes(n));
        const options = { ...sealOptions(engine), metadata: { originalSize: n } };
        const sealing = memoryIO(plaintext);
        await p.sealIO(sealing.io, options);
        const sealed = sealing.output();
        expect(same(sealed, sealBuffer(plaintext, options)), `size ${n}`).toBe(true);
        const opening = memoryIO(sealed);
        const header = await p.openIO(opening.io, { kek: () => kek, engine });
        expect(same(opening.output(), plaintext), `size ${n}`).toBe(true);
        expect(header.metadata.originalSize).toBe(n);
      }
    });
  }

  it('between files (fileIO), with progress, and an input that changes size is refused', async () => {
    const p = pool(2, 'wasm');
    const plaintext = new Uint8Array(randomBytes(3 * MiB + 5));
    const plainPath = join(dir, 'io-plain.bin');
    const sealedPath = join(dir, 'io-plain.sealed');
    const openedPath = join(dir, 'io-opened.bin');
    writeFileSync(plainPath, plaintext);
    const run = async (from: string, to: string, work: (io: BufferIO) => Promise<unknown>, size = statSync(from).size, onRead?: (n: number) => void) => {
      const input = await openFile(from, 'r');
      const output = await openFile(to, 'w');
      try {
        await work(fileIO(input, output, { name: from, size, onRead }));
      } finally {
        await input.close();
        await output.close();
      }
    };
    let read = 0;
    const progress: Progress[] = [];
    const options = { kek, keyId: 'k', keyVersion: '1', metadata: { originalSize: plaintext.length }, onProgress: (x: Progress) => progress.push(x) };
    await run(plainPath, sealedPath, (io) => p.sealIO(io, options), undefined, (n) => (read += n));
    expect(read).toBe(plaintext.length);
    expect(progress.at(-1)).toEqual({ bytes: plaintext.length, total: plaintext.length });
    await run(sealedPath, openedPath, (io) => p.openIO(io, { kek }));
    expect(same(readFileSync(openedPath), plaintext)).toBe(true);

    for (const size of [plaintext.length - 1, plaintext.length + 1]) {
      const err = await run(plainPath, sealedPath, (io) => p.sealIO(io, options), size).catch((e: unknown) => e);
      expect((err as SealcamError).code, `size ${size}`).toBe('ECHANGED');
      expect((err as Error).message).toBe(`${plainPath} changed while it was read (expected ${size} bytes)`);
    }
  });

  it('reading stays a few tasks ahead of a slow writer', async () => {
    const p = pool(2, 'native');
    const plaintext = new Uint8Array(24 * MiB);
    const sealing = memoryIO(plaintext, 5);
    await p.sealIO(sealing.io, { kek, keyId: 'k', keyVersion: '1' });
    // The window (2 x jobs tasks of 1 MiB), the one being read, the one read ahead.
    expect(sealing.ahead()).toBeLessThanOrEqual((2 * 2 + 2) * MiB);
    const opening = memoryIO(sealing.output(), 5);
    await p.openIO(opening.io, { kek });
    expect(opening.ahead()).toBeLessThanOrEqual((2 * 2 + 2) * (MiB + 16 * TAG) + 4096);
  });

  describe('openIO refuses, having written only verified plaintext', () => {
    const plaintext = new Uint8Array(randomBytes(10 * S + 3));
    let sealed: Uint8Array;
    const lastStart = () => sealed.length - (3 + TAG);
    beforeAll(() => {
      sealed = sealBuffer(plaintext, sealOptions('native'));
    });
    const attempt = async (input: Uint8Array, key = kek) => {
      const opening = memoryIO(input);
      const error = await pool(2, 'wasm', 2 * S)
        .openIO(opening.io, { kek: key })
        .then(() => undefined, (e: unknown) => e);
      return { out: opening.output(), error };
    };

    it('cut at a segment boundary: the new last segment fails', async () => {
      const { out, error } = await attempt(sealed.subarray(0, lastStart()));
      expect(error).toBeInstanceOf(AuthenticationError);
      expect((error as Error).message).toMatch(/^segment 9 \(the last\) failed verification: .*truncated/);
      expect(same(out, plaintext.subarray(0, out.length))).toBe(true);
      expect(out.length).toBeLessThan(10 * S);
    });

    it('the header alone, cut inside the last tag, inside the header, or empty: truncated, nothing written', async () => {
      const headerLength = sealed.length - (10 * (S + TAG) + 3 + TAG);
      for (const cut of [headerLength, sealed.length - 5, headerLength - 1, 5, 0]) {
        const { out, error } = await attempt(sealed.subarray(0, cut));
        expect((error as SealcamError).code, `cut at ${cut}`).toBe('EFORMAT');
        expect((error as Error).message, `cut at ${cut}`).toMatch(/truncated|too short/);
        if (cut !== sealed.length - 5) expect(out.length).toBe(0);
      }
    });

    it('an altered segment, an appended segment, a wrong key, an absurd header length', async () => {
      const altered = sealed.slice();
      altered[lastStart() - 4 * (S + TAG) + 9]! ^= 1; // segment 6
      const a = await attempt(altered);
      expect((a.error as Error).message).toMatch(/^segment 6 failed verification/);
      expect(a.out.length).toBeLessThanOrEqual(6 * S);
      expect(same(a.out, plaintext.subarray(0, a.out.length))).toBe(true);

      const appended = new Uint8Array([...sealed, ...sealed.subarray(lastStart() - (S + TAG), lastStart())]);
      expect(((await attempt(appended)).error as Error).message).toMatch(/failed verification/);

      const wrong = await attempt(sealed, new Uint8Array(16));
      expect((wrong.error as Error).message).toMatch(/^wrong key/);
      expect(wrong.out.length).toBe(0);

      const bad = sealed.slice(0, 64);
      new DataView(bad.buffer).setUint32(12, 0xffffffff);
      expect(((await attempt(bad)).error as Error).message).toMatch(/invalid header length 4294967295/);
    });
  });
});

describe('between two files the workers read and write their segments themselves', () => {
  /** fileIO between two paths; the main thread's read() is wrapped so a test can see what it was asked for. */
  const between = async (from: string, to: string, work: (io: RandomAccessIO) => Promise<unknown>, reads?: number[]) => {
    const input = await openFile(from, 'r');
    const output = await openFile(to, 'w');
    try {
      const io = fileIO(input, output, { name: from, size: statSync(from).size });
      const read = io.read;
      await work({ ...io, read: (into) => (reads?.push(into.length), read(into)) });
    } finally {
      await input.close();
      await output.close();
    }
  };

  for (const { jobs, engine, batchBytes } of POOL_CONFIGS) {
    it(`${engine}, ${jobs} worker(s)${batchBytes ? ', 3-segment tasks' : ''}: sealBuffer's bytes, and the plaintext back`, async () => {
      const p = pool(jobs, engine, batchBytes);
      for (const n of IO_SIZES) {
        const plaintext = new Uint8Array(randomBytes(n));
        const options = { ...sealOptions(engine), metadata: { originalSize: n } };
        writeFileSync(join(dir, 'f-plain'), plaintext);
        await between(join(dir, 'f-plain'), join(dir, 'f-sealed'), (io) => p.sealIO(io, options));
        expect(same(readFileSync(join(dir, 'f-sealed')), sealBuffer(plaintext, options)), `size ${n}`).toBe(true);
        await between(join(dir, 'f-sealed'), join(dir, 'f-opened'), (io) => p.openIO(io, { kek: () => kek, engine }));
        expect(same(readFileSync(join(dir, 'f-opened')), plaintext), `size ${n}`).toBe(true);
      }
    });
  }

  it('the main thread reads no body: nothing when sealing, the header alone when opening', async () => {
    const p = pool(2, 'wasm', 3 * S);
    writeFileSync(join(dir, 'r-plain'), randomBytes(20 * S + 5));
    const sealReads: number[] = [];
    await between(join(dir, 'r-plain'), join(dir, 'r-sealed'), (io) => p.sealIO(io, sealOptions('wasm')), sealReads);
    expect(sealReads).toEqual([]);
    const openReads: number[] = [];
    await between(join(dir, 'r-sealed'), join(dir, 'r-opened'), (io) => p.openIO(io, { kek }), openReads);
    const headerLength = statSync(join(dir, 'r-sealed')).size - (20 * (S + TAG) + 5 + TAG);
    expect(openReads).toEqual([16, headerLength - 16]);
  });

  it('a sink that is not a file (a pipe, stdout) leaves the I/O to the main thread, with the same bytes', async () => {
    const p = pool(2, 'wasm', 3 * S);
    const plaintext = new Uint8Array(randomBytes(20 * S + 5));
    const options = { ...sealOptions('wasm'), metadata: { originalSize: plaintext.length } };
    writeFileSync(join(dir, 'p-plain'), plaintext);
    const input = await openFile(join(dir, 'p-plain'), 'r');
    const parts: Uint8Array[] = [];
    try {
      const io = filesIO(input, { name: 'p-plain', size: plaintext.length }, { write: async (bytes) => void parts.push(bytes.slice()) });
      expect(io.files).toBeUndefined();
      await p.sealIO(io, options);
    } finally {
      await input.close();
    }
    expect(same(Buffer.concat(parts), sealBuffer(plaintext, options))).toBe(true);
  });

  it('an altered segment: the error names it, every range written is verified plaintext, and nothing is written after the error', async () => {
    const p = pool(2, 'native', 2 * S);
    const plaintext = new Uint8Array(randomBytes(40 * S + 3));
    const sealed = sealBuffer(plaintext, sealOptions('native'));
    const headerLength = sealed.length - (40 * (S + TAG) + 3 + TAG);
    sealed[headerLength + 21 * (S + TAG) + 7]! ^= 1; // segment 21
    writeFileSync(join(dir, 'x-sealed'), sealed);
    // The output starts as a pattern no plaintext range matches, so what was written shows.
    const marker = 0xa5;
    let error: unknown;
    await between(join(dir, 'x-sealed'), join(dir, 'x-opened'), async (io) => {
      await io.writeAt(new Uint8Array(plaintext.length).fill(marker), 0);
      error = await p.openIO(io, { kek }).then(() => undefined, (e: unknown) => e);
    });
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as Error).message).toMatch(/^segment 21 failed verification/);
    const out = readFileSync(join(dir, 'x-opened'));
    for (let i = 0; i < 40; i++) {
      const segment = out.subarray(i * S, (i + 1) * S);
      const written = !segment.every((b) => b === marker);
      if (written) expect(same(segment, plaintext.subarray(i * S, (i + 1) * S)), `segment ${i}`).toBe(true);
      // Segments 20-21 are one task: its run failed, so neither was written.
      if (i === 20 || i === 21) expect(written, `segment ${i}`).toBe(false);
    }
  });
});

describe('small work on the calling thread, workers started lazily', () => {
  it('a new pool starts no workers until a task needs them', async () => {
    const p = pool(2, 'wasm');
    expect(p.started).toBe(false);
    await p.seal(new Uint8Array(10), sealOptions('wasm'));
    expect(p.started).toBe(true);
  });

  for (const engine of ENGINES) {
    it(`${engine}: buffers and files up to inlineBytes run here (no workers), with the workers' bytes; larger ones start the workers`, async () => {
      // Opening judges the sealed input's size: 11 segments' room holds 10 and a bit, with header and tags.
      const p = new SealPool({ jobs: 2, engine, inlineBytes: 11 * S });
      pools.push(p);
      for (const n of [0, 1, S, 10 * S + 3]) {
        const plaintext = new Uint8Array(randomBytes(n));
        const options = { ...sealOptions(engine), metadata: { originalSize: n } };
        const sealed = await p.seal(plaintext, options);
        expect(same(sealed, sealBuffer(plaintext, options)), `size ${n}`).toBe(true);
        expect(same((await p.open(sealed, { kek })).plaintext, plaintext), `size ${n}`).toBe(true);
      }
      writeFileSync(join(dir, `i-${engine}`), randomBytes(10 * S + 3));
      const input = await openFile(join(dir, `i-${engine}`), 'r');
      const output = await openFile(join(dir, `i-${engine}.sealed`), 'w');
      try {
        await p.sealIO(fileIO(input, output, { name: 'i', size: 10 * S + 3 }), sealOptions(engine));
      } finally {
        await input.close();
        await output.close();
      }
      expect(p.started).toBe(false);
      await p.seal(new Uint8Array(11 * S + 1), sealOptions(engine));
      expect(p.started).toBe(true);
    });
  }

  it('a failure on the calling thread is the same named error as on a worker', async () => {
    const p = new SealPool({ jobs: 1, inlineBytes: MiB });
    pools.push(p);
    const sealed = sealBuffer(new Uint8Array(5 * S), sealOptions('wasm'));
    sealed[sealed.length - 3]! ^= 1;
    const error = await p.open(sealed, { kek }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as Error).message).toMatch(/^segment 4 \(the last\) failed verification/);
    expect(p.started).toBe(false);
  });
});

describe('sealInto and openInto: the caller\'s output buffer', () => {
  it('seal and open into one reused buffer give seal()\'s and open()\'s results at its start', async () => {
    const p = pool(2, 'wasm', 3 * S);
    const out = new Uint8Array(MiB);
    for (const n of [0, S + 1, 20 * S + 3]) {
      const plaintext = new Uint8Array(randomBytes(n));
      const options = { ...sealOptions('wasm'), metadata: { originalSize: n } };
      const sealed = await p.sealInto(plaintext, out, options);
      expect(sealed.buffer).toBe(out.buffer);
      expect(same(sealed, sealBuffer(plaintext, options)), `size ${n}`).toBe(true);
      const copy = sealed.slice();
      const { plaintext: opened } = await p.openInto(copy, out, { kek });
      expect(opened.buffer).toBe(out.buffer);
      expect(same(opened, plaintext), `size ${n}`).toBe(true);
    }
  });

  it('an output too small is refused with the size it needs; a failed open wipes what it wrote', async () => {
    const p = pool(2, 'wasm', 3 * S);
    const plaintext = new Uint8Array(randomBytes(10 * S));
    const sealed = sealBuffer(plaintext, sealOptions('wasm'));
    await expect(p.sealInto(plaintext, new Uint8Array(10 * S), sealOptions('wasm'))).rejects.toThrow(`the sealed file needs ${sealed.length} bytes; the output holds ${10 * S}`);
    await expect(p.openInto(sealed, new Uint8Array(10 * S - 1), { kek })).rejects.toThrow(`the plaintext needs ${10 * S} bytes; the output holds ${10 * S - 1}`);
    const altered = sealed.slice();
    altered[altered.length - 1]! ^= 1;
    const out = new Uint8Array(10 * S).fill(7);
    await expect(p.openInto(altered, out, { kek })).rejects.toBeInstanceOf(AuthenticationError);
    expect(out.every((b) => b === 0)).toBe(true);
  });
});

describe('the pool runs the compiled worker', () => {
  it('points at dist/src/pool/worker-entry.cjs (which loads worker.js) under the package root', () => {
    expect(workerPath).toBe(join(packageRoot, 'dist', 'src', 'pool', 'worker-entry.cjs'));
  });
});
