import { createCipheriv, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { createBackend } from '../src/engine/eax.js';
import {
  AES_KERNELS,
  KERNEL_LANES,
  WasmBackend,
  aesKernel,
  chooseAesKernel,
  compileWasmBuild,
  selectAesKernel,
  type AesKernel,
  type WasmVariant,
} from '../src/engine/wasm.js';
import { packageRoot } from '../src/paths.js';
import { listVectorFiles, loadVectorFile } from '../src/vectors/files.js';
import type { BlockVector, CtrVector, EaxVector, Vector } from '../src/vectors/run.js';

/**
 * The engine's eight-block paths on each AES kernel (vector-permute interleaved, bitsliced):
 * every AES block, CTR and EAX vector of vectors/ through them, ECB with every number of blocks in
 * flight, the four-message EAX kernel against node:crypto for many message counts and sizes, and
 * counter carries inside the interleaved lanes (set in the engine's memory, since a counter starts
 * at OMAC(nonce) and cannot be chosen through the API).
 */

afterAll(() => selectAesKernel('vperm'));

/** Fresh random bytes as a plain Uint8Array, whose slice() copies (a Buffer's is a view). */
const random = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

function vectorsOf<K extends Vector['kind']>(kind: K): Extract<Vector, { kind: K }>[] {
  return listVectorFiles()
    .map((f) => loadVectorFile(f))
    .flatMap((vf) => vf.vectors)
    .filter((v): v is Extract<Vector, { kind: K }> => v.kind === kind);
}

const blockVectors = vectorsOf('block').filter((v) => v.valid) as BlockVector[];
const ctrVectors = vectorsOf('ctr') as CtrVector[];
const eaxVectors = (vectorsOf('eax') as EaxVector[]).filter((v) => v.valid && [16, 24, 32].includes(v.key.length));

/** EAX by sealcam's node:crypto engine: the expected ciphertext and full tag. */
function sealNatively(key: Uint8Array, header: Uint8Array, nonce: Uint8Array, msg: Uint8Array): { ct: Uint8Array; tag: Uint8Array } {
  const backend = createBackend(key, 'native');
  const state = backend.eax(nonce);
  state.header(header);
  const ct = msg.slice();
  state.encryptInto(ct, ct);
  const tag = state.tag();
  state.dispose();
  backend.dispose();
  return { ct, tag };
}

/** `count` 16-byte blocks cycling through the blocks of `bytes`. */
function cycle(bytes: Uint8Array, count: number): Uint8Array {
  const out = new Uint8Array(16 * count);
  const blocks = bytes.length / 16;
  for (let i = 0; i < count; i++) out.set(bytes.subarray(16 * (i % blocks), 16 * (i % blocks) + 16), 16 * i);
  return out;
}

describe.each(AES_KERNELS)('the %s kernel', (kernel: AesKernel) => {
  it(`enciphers every AES block vector (${blockVectors.length}) eight blocks at a time`, () => {
    const failed = blockVectors.filter((v) => {
      const backend = new WasmBackend(v.key);
      const got = backend.encryptBlocksInFlight(cycle(v.pt, 8), 8, kernel);
      backend.dispose();
      return !same(got, cycle(v.ct, 8));
    });
    expect(failed.map((v) => v.id)).toEqual([]);
  });

  it(`computes every CTR vector (${ctrVectors.length}) on the eight-block path`, () => {
    selectAesKernel(kernel);
    const failed = ctrVectors.filter((v) => {
      const backend = new WasmBackend(v.key);
      // Padded to at least eight blocks so the vector's blocks go through the kernel.
      const padded = new Uint8Array(Math.max(128, v.pt.length + 128));
      padded.set(v.pt);
      const got = backend.ctr(v.counter, padded).subarray(0, v.pt.length);
      backend.dispose();
      return !same(got, v.ct);
    });
    expect(failed.map((v) => v.id)).toEqual([]);
  });

  it(`computes every valid EAX vector (${eaxVectors.length}) as one of a run of four in lockstep`, () => {
    selectAesKernel(kernel);
    const failed = eaxVectors.filter((v) => {
      const backend = new WasmBackend(v.key);
      const inputs = [{ nonce: v.nonce, msg: v.msg }, ...[1, 2, 3].map(() => ({ nonce: random(16), msg: random(v.msg.length) }))];
      const run = inputs.map((x) => ({ nonce: x.nonce, data: x.msg.slice(), tag: new Uint8Array(16) }));
      backend.encryptRun(v.header, run);
      const agree = inputs.every((x, i) => {
        const want = sealNatively(v.key, v.header, x.nonce, x.msg);
        return same(want.ct, run[i]!.data) && same(want.tag, run[i]!.tag);
      });
      backend.dispose();
      return !agree || !same(run[0]!.data, v.ct) || !same(run[0]!.tag.subarray(0, v.tagLength), v.tag);
    });
    expect(failed.map((v) => v.id)).toEqual([]);
  });
});

describe('ECB with k blocks in flight', () => {
  it.each(KERNEL_LANES)('%s, %i in flight, agrees with node:crypto for every key size and block count', (kernel, lanes) => {
    for (const keyLength of [16, 24, 32]) {
      const key = random(keyLength);
      const backend = new WasmBackend(key);
      for (const blocks of [0, 1, 5, 6, 7, 8, 9, 13, 16, 65]) {
        const pt = random(16 * blocks);
        const ecb = createCipheriv(`aes-${keyLength * 8}-ecb`, key, null).setAutoPadding(false);
        expect(Buffer.from(backend.encryptBlocksInFlight(pt, lanes, kernel)).toString('hex')).toBe(Buffer.concat([ecb.update(pt), ecb.final()]).toString('hex'));
      }
      backend.dispose();
    }
  });

  it('refuses a bitsliced run with other than 8 in flight, and partial blocks', () => {
    const backend = new WasmBackend(random(16));
    expect(() => backend.encryptBlocksInFlight(new Uint8Array(64), 4, 'bitsliced')).toThrow(/no bitsliced kernel runs 4 blocks in flight/);
    expect(() => backend.encryptBlocksInFlight(new Uint8Array(17), 8, 'vperm')).toThrow(/whole 16-byte blocks/);
    backend.dispose();
  });
});

describe.each(AES_KERNELS)('runs of messages (encryptRun / decryptRun) on the %s kernel', (kernel: AesKernel) => {
  const key = random(16);
  const header = random(21);

  const seal = (nonce: Uint8Array, msg: Uint8Array): { ct: Uint8Array; tag: Uint8Array } => sealNatively(key, header, nonce, msg);

  // Counts past four leave groups of two and one; 300003 bytes spans two pieces of the IO region.
  it.each([1, 2, 3, 4, 5, 7, 8, 9])("%i messages of equal length give node:crypto's ciphertexts and tags, and decrypt back", (count) => {
    selectAesKernel(kernel);
    const backend = new WasmBackend(key);
    for (const size of [0, 1, 15, 16, 17, 100, 128, 1000, 65536, 300000 + 3]) {
      const nonces = Array.from({ length: count }, () => random(16));
      const msgs = nonces.map(() => random(size));
      const run = nonces.map((nonce, i) => ({ nonce, data: msgs[i]!.slice(), tag: new Uint8Array(16) }));
      backend.encryptRun(header, run);
      nonces.forEach((n, i) => {
        const want = seal(n, msgs[i]!);
        expect(same(run[i]!.data, want.ct) && same(run[i]!.tag, want.tag), `message ${i} of ${count} at ${size} bytes`).toBe(true);
      });
      expect(backend.decryptRun(header, run), `decrypt ${count} at ${size} bytes`).toBe(-1);
      msgs.forEach((m, i) => expect(same(run[i]!.data, m), `plaintext ${i} of ${count} at ${size} bytes`).toBe(true));
    }
    backend.dispose();
  });

  it('decryptRun names the first message of a group of four whose tag does not verify', () => {
    selectAesKernel(kernel);
    const backend = new WasmBackend(key);
    const run = [0, 1, 2, 3, 4, 5, 6, 7].map(() => ({ nonce: random(16), data: random(64), tag: new Uint8Array(16) }));
    backend.encryptRun(header, run);
    const sealed = run.map((m) => ({ ...m, data: m.data.slice(), tag: m.tag.slice() }));
    for (const bad of [0, 2, 5, 7]) {
      const copy = sealed.map((m) => ({ ...m, data: m.data.slice(), tag: m.tag.slice() }));
      copy[bad]!.tag[3]! ^= 1;
      expect(backend.decryptRun(header, copy)).toBe(bad);
    }
    backend.dispose();
  });

  it('messages of unequal lengths run in the largest equal-length groups, with the same result', () => {
    selectAesKernel(kernel);
    const backend = new WasmBackend(key);
    const sizes = [64, 64, 64, 48, 48, 48, 48, 33];
    const msgs = sizes.map((s) => random(s));
    const run = msgs.map((m) => ({ nonce: random(16), data: m.slice(), tag: new Uint8Array(16) }));
    backend.encryptRun(header, run);
    run.forEach((m, i) => {
      const want = seal(m.nonce, msgs[i]!);
      expect(same(m.data, want.ct) && same(m.tag, want.tag), `message ${i}`).toBe(true);
    });
    backend.dispose();
  });
});

describe('counter carries inside the interleaved lanes (engine memory)', () => {
  // Offsets in a message context (assembly/eax.ts): the counter as native u64 halves.
  const MSG_CTR_HI = 112;
  const MSG_CTR_LO = 120;
  const SLOT = 512;
  const ALL = 0xffffffffffffffffn;
  interface Raw {
    memory: WebAssembly.Memory;
    heapBase(): number;
    setKey(k: number, key: number, length: number): number;
    selectAesKernel(kernel: number): void;
    eaxInit(k: number, m: number): void;
    eaxStart(k: number, m: number): void;
    eaxEncryptTwo(k: number, m1: number, m2: number, d1: number, d2: number, length: number): void;
    eaxEncryptFour(k: number, m1: number, m2: number, m3: number, m4: number, d1: number, d2: number, d3: number, d4: number, length: number): void;
  }
  // Starting counters (high, low): across the low 64 bits, across all 128 bits, and plain.
  const starts: [bigint, bigint][] = [
    [5n, ALL - 2n],
    [ALL, ALL - 3n],
    [0x0123456789abcdefn, 7n],
    [ALL - 1n, ALL],
  ];
  const cases: [WasmVariant, number, AesKernel][] = [];
  for (const variant of ['relaxed', 'simd'] as const) for (const [lanes, kernel] of [[2, 'vperm'], [4, 'vperm'], [4, 'bitsliced']] as const) cases.push([variant, lanes, kernel]);

  it.each(cases)('%s build, %i lanes on %s: each lane equals CTR from its own counter', (variant, lanes, kernel) => {
    const x = new WebAssembly.Instance(compileWasmBuild(variant), { env: { abort: () => { throw new Error('abort'); } } }).exports as unknown as Raw;
    const base = Math.ceil(x.heapBase() / 64) * 64;
    x.memory.grow(4);
    const view = new DataView(x.memory.buffer);
    const u8 = new Uint8Array(x.memory.buffer);
    const key = random(16);
    u8.set(key, base + SLOT * 9);
    x.setKey(base, base + SLOT * 9, 16);
    x.selectAesKernel(kernel === 'bitsliced' ? 1 : 0);
    const length = 16 * 9;
    const ms = [1, 2, 3, 4].map((i) => base + i * SLOT);
    const ds = [0, 1, 2, 3].map((i) => base + 10 * SLOT + i * length);
    const plain = ds.map(() => random(length));
    ms.forEach((m, i) => {
      x.eaxInit(base, m);
      x.eaxStart(base, m);
      view.setBigUint64(m + MSG_CTR_HI, starts[i]![0], true);
      view.setBigUint64(m + MSG_CTR_LO, starts[i]![1], true);
      u8.set(plain[i]!, ds[i]!);
    });
    if (lanes === 2) x.eaxEncryptTwo(base, ms[0]!, ms[1]!, ds[0]!, ds[1]!, length);
    else x.eaxEncryptFour(base, ms[0]!, ms[1]!, ms[2]!, ms[3]!, ds[0]!, ds[1]!, ds[2]!, ds[3]!, length);
    for (let i = 0; i < lanes; i++) {
      const counter = Buffer.alloc(16);
      counter.writeBigUInt64BE(starts[i]![0], 0);
      counter.writeBigUInt64BE(starts[i]![1], 8);
      const ctr = createCipheriv('aes-128-ctr', key, counter);
      const want = Buffer.concat([ctr.update(plain[i]!), ctr.final()]);
      expect(Buffer.from(u8.subarray(ds[i]!, ds[i]! + length)).toString('hex'), `lane ${i + 1}`).toBe(want.toString('hex'));
      // And the counter the message continues from: start + 9 blocks, mod 2^128.
      const next = ((starts[i]![0] << 64n) + starts[i]![1] + 9n) & ((1n << 128n) - 1n);
      expect([view.getBigUint64(ms[i]! + MSG_CTR_HI, true), view.getBigUint64(ms[i]! + MSG_CTR_LO, true)]).toEqual([next >> 64n, next & ALL]);
    }
  });
});

describe('selecting the kernel takes effect', () => {
  it.each(['relaxed', 'simd'] as const)('%s build: with the key context\'s copy of the key altered, only the bitsliced kernel\'s CTR changes', (variant) => {
    const KEY_RAW = 384; // assembly/key.ts
    const x = new WebAssembly.Instance(compileWasmBuild(variant), { env: { abort: () => { throw new Error('abort'); } } }).exports as unknown as {
      memory: WebAssembly.Memory;
      heapBase(): number;
      setKey(k: number, key: number, length: number): number;
      selectAesKernel(kernel: number): void;
      ctrXor(k: number, counter: number, input: number, output: number, length: number): void;
    };
    const base = Math.ceil(x.heapBase() / 64) * 64;
    x.memory.grow(1);
    const u8 = new Uint8Array(x.memory.buffer);
    const key = random(16);
    u8.set(key, base + 1024);
    x.setKey(base, base + 1024, 16);
    u8[base + KEY_RAW]! ^= 1;
    const ctr = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
    const want = Buffer.concat([ctr.update(Buffer.alloc(256)), ctr.final()]).toString('hex');
    const run = (kernel: number): string => {
      x.selectAesKernel(kernel);
      u8.fill(0, base + 2048, base + 2048 + 16 + 256);
      x.ctrXor(base, base + 2048, base + 2048 + 16, base + 2048 + 16, 256);
      return Buffer.from(u8.subarray(base + 2048 + 16, base + 2048 + 16 + 256)).toString('hex');
    };
    expect(run(0)).toBe(want);
    expect(run(1)).not.toBe(want);
  });
});

describe('choosing the kernel', () => {
  it('calibrates once per thread: a kernel and the MB/s each reached', () => {
    const saved = process.env.SEALCAM_AES_KERNEL;
    delete process.env.SEALCAM_AES_KERNEL;
    try {
      const choice = chooseAesKernel();
      expect(choice.how).toBe('calibrated');
      expect(AES_KERNELS).toContain(choice.kernel);
      expect(choice.mbps!.vperm).toBeGreaterThan(0);
      expect(choice.mbps!.bitsliced).toBeGreaterThan(0);
      expect(aesKernel()).toBe(choice.kernel);
    } finally {
      if (saved !== undefined) process.env.SEALCAM_AES_KERNEL = saved;
    }
  });

  it('runs vperm uncalibrated until a thread has done CALIBRATE_AFTER_BYTES of four-message work, then calibrates once', async () => {
    // A fresh thread, so that no earlier test has chosen; the built module, as workers load it.
    const script = `
      const { parentPort } = await import('node:worker_threads');
      const { WasmBackend, kernelChoice, CALIBRATE_AFTER_BYTES } = await import(${JSON.stringify(pathToFileURL(join(packageRoot, 'dist', 'src', 'engine', 'wasm.js')).href)});
      const backend = new WasmBackend(new Uint8Array(16));
      const run = (n) => backend.encryptRun(new Uint8Array(16), [0, 1, 2, 3].map((i) => ({ nonce: new Uint8Array(16).fill(i), data: new Uint8Array(n), tag: new Uint8Array(16) })));
      run(1 << 20);
      const afterOneImage = kernelChoice() ?? null;
      for (let done = 4 << 20; done <= CALIBRATE_AFTER_BYTES; done += 4 << 20) run(1 << 20);
      parentPort.postMessage({ afterOneImage, afterThreshold: kernelChoice() ?? null });
    `;
    const env = { ...process.env };
    delete env.SEALCAM_AES_KERNEL;
    const worker = new Worker(script, { eval: true, env });
    const result = await new Promise<{ afterOneImage: unknown; afterThreshold: { how: string } | null }>((done, fail) => worker.once('message', done).once('error', fail));
    await worker.terminate();
    expect(result.afterOneImage).toBeNull();
    expect(result.afterThreshold?.how).toBe('calibrated');
  });

  it('SEALCAM_AES_KERNEL names the kernel, and anything else is refused with the allowed values', () => {
    const saved = process.env.SEALCAM_AES_KERNEL;
    try {
      for (const k of AES_KERNELS) {
        process.env.SEALCAM_AES_KERNEL = k;
        expect(chooseAesKernel()).toEqual({ kernel: k, how: 'env' });
        expect(aesKernel()).toBe(k);
      }
      process.env.SEALCAM_AES_KERNEL = 'fast';
      expect(() => chooseAesKernel()).toThrow("SEALCAM_AES_KERNEL must be 'vperm' or 'bitsliced', got 'fast'");
      expect(() => selectAesKernel('fast' as AesKernel)).toThrow(/must be 'vperm' or 'bitsliced'/);
    } finally {
      if (saved === undefined) delete process.env.SEALCAM_AES_KERNEL;
      else process.env.SEALCAM_AES_KERNEL = saved;
    }
  });
});
