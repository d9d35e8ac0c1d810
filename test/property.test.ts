import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBackend, createEax, type Eax } from '../src/index.js';
import { CHUNK } from '../src/engine/wasm.js';
import { same } from './helpers/bytes.js';

/**
 * Properties: the WASM engine and the node:crypto twin agree bit for bit on EAX (one call and
 * incremental, encrypt and decrypt), CTR (across every carry of the 128-bit counter) and CMAC.
 *
 * Deterministic: a fixed seed, so every run checks the same cases; on a failure fast-check prints
 * the seed and the path of the shrunk counterexample. SEALCAM_FC_SEED=<n> explores other cases.
 * The run counts keep the file near 5 s on a 2-core machine (budget: 60 s).
 */
const SEED = Number(process.env.SEALCAM_FC_SEED ?? 0x5eca_ca11);
const runs = (numRuns: number): fc.Parameters<unknown> => ({ seed: SEED, numRuns });

// ---- data ------------------------------------------------------------------------------------

/** Bytes of any length from a seed (xorshift32): big inputs without fast-check generating each byte. */
function bytesFrom(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 0 || 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x >>> 24;
  }
  return out;
}

/** Asserts equality with a short message (a 200 KiB diff would bury the counterexample). */
function expectSame(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (!same(actual, expected)) {
    let i = 0;
    while (i < Math.min(actual.length, expected.length) && actual[i] === expected[i]) i++;
    expect.fail(`${what}: lengths ${actual.length}/${expected.length}, first difference at byte ${i}`);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** Cut `data` into pieces of the given sizes in order; whatever is left is the last piece. */
function split(data: Uint8Array, sizes: number[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let offset = 0;
  for (const s of sizes) {
    const end = Math.min(data.length, offset + s);
    pieces.push(data.subarray(offset, end));
    offset = end;
  }
  pieces.push(data.subarray(offset));
  return pieces;
}

// ---- arbitraries -----------------------------------------------------------------------------

const sized = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const keyArb = fc.constantFrom(16, 24, 32).chain(sized);
const nonceArb = fc.oneof({ arbitrary: sized(16), weight: 3 }, { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }), weight: 2 });
const headerArb = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 64 }), weight: 3 },
  { arbitrary: fc.uint8Array({ maxLength: 1024 }), weight: 1 },
);
const tagLengthArb = fc.integer({ min: 1, max: 16 });

/** Block-boundary lengths 16k-1, 16k, 16k+1, up to 200 KiB. */
const BOUNDARIES = [1, 2, 3, 4, 5, 8, 16, 64, 255, 256, 1024, 4096, 12_800].flatMap((k) => [16 * k - 1, 16 * k, 16 * k + 1]);
const lengthArb = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 64 }), weight: 4 },
  { arbitrary: fc.constantFrom(...BOUNDARIES), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: 200 * 1024 }), weight: 2 },
);
/** A message described by length and seed, so a counterexample prints small. */
const dataArb = fc.record({ length: lengthArb, seed: fc.integer() });
const smallDataArb = fc.record({ length: fc.integer({ min: 0, max: 5000 }), seed: fc.integer() });

/** Split points: single bytes, 4095-byte pieces, empty pieces, block multiples and anything else. */
const piecesArb = fc.array(
  fc.oneof(
    fc.constant(1),
    fc.constant(4095),
    fc.constant(0),
    fc.constant(16),
    fc.integer({ min: 1, max: 64 }),
    fc.integer({ min: 0, max: 70_000 }),
  ),
  { maxLength: 12 },
);

// ---- helpers ---------------------------------------------------------------------------------

function withBoth<T>(key: Uint8Array, fn: (wasm: Eax, native: Eax) => T, tagLength?: number): T {
  const w = createEax(key, { engine: 'wasm', tagLength });
  const n = createEax(key, { engine: 'native', tagLength });
  try {
    return fn(w, n);
  } finally {
    w.dispose();
    n.dispose();
  }
}

interface Message {
  nonce: Uint8Array;
  header: Uint8Array;
  plaintext: Uint8Array;
  tagLength: number;
}

function sealIncremental(eax: Eax, m: Message, headerSizes: number[], dataSizes: number[]) {
  const enc = eax.start(m.nonce);
  for (const h of split(m.header, headerSizes)) enc.updateHeader(h);
  const ciphertext = concat(split(m.plaintext, dataSizes).map((p) => enc.update(p)));
  return { ciphertext, tag: enc.final() };
}

function openIncremental(eax: Eax, m: Message, ciphertext: Uint8Array, tag: Uint8Array, headerSizes: number[], dataSizes: number[]) {
  const dec = eax.startDecrypt(m.nonce);
  for (const h of split(m.header, headerSizes)) dec.updateHeader(h);
  for (const c of split(ciphertext, dataSizes)) expect(dec.update(c)).toBeUndefined();
  return dec.verify(tag);
}

/** One-shot and incremental, both engines, encrypt and decrypt: everything must agree. */
function checkMessage(key: Uint8Array, m: Message, pieces: { header: number[]; data: number[]; decrypt: number[] }): void {
  withBoth(key, (wasm, native) => {
    const ref = native.encrypt(m.nonce, m.plaintext, { header: m.header });
    expect(ref.tag.length).toBe(m.tagLength);
    expect(ref.ciphertext.length).toBe(m.plaintext.length);
    for (const eax of [wasm, native]) {
      const label = eax.engine;
      const one = eax.encrypt(m.nonce, m.plaintext, { header: m.header });
      expectSame(one.ciphertext, ref.ciphertext, `${label} one-shot ciphertext`);
      expectSame(one.tag, ref.tag, `${label} one-shot tag`);
      const inc = sealIncremental(eax, m, pieces.header, pieces.data);
      expectSame(inc.ciphertext, ref.ciphertext, `${label} incremental ciphertext`);
      expectSame(inc.tag, ref.tag, `${label} incremental tag`);
      expectSame(eax.decrypt(m.nonce, ref.ciphertext, ref.tag, { header: m.header }), m.plaintext, `${label} one-shot decrypt`);
      const opened = openIncremental(eax, m, ref.ciphertext, ref.tag, pieces.header, pieces.decrypt);
      expectSame(opened, m.plaintext, `${label} incremental decrypt`);
    }
  }, m.tagLength);
}

// ---- EAX -------------------------------------------------------------------------------------

describe('EAX: WASM == native, one call and incremental', () => {
  it('every length 0..64 and the block boundaries, all key sizes', () => {
    for (const keyLength of [16, 24, 32]) {
      const key = bytesFrom(keyLength, keyLength);
      for (const length of [...Array.from({ length: 65 }, (_, i) => i), ...BOUNDARIES]) {
        const m: Message = {
          nonce: bytesFrom(16, length + 1),
          header: bytesFrom(length % 37, length + 2),
          plaintext: bytesFrom(length, length + 3),
          tagLength: 1 + (length % 16),
        };
        checkMessage(key, m, { header: [1, 7], data: [1, 15, 4095], decrypt: [17, 1] });
      }
    }
  });

  it('random keys, nonces, headers, messages, tag lengths and split points', () => {
    fc.assert(
      fc.property(
        keyArb,
        nonceArb,
        headerArb,
        dataArb,
        tagLengthArb,
        piecesArb,
        piecesArb,
        piecesArb,
        (key, nonce, header, data, tagLength, headerPieces, dataPieces, decryptPieces) => {
          const m: Message = { nonce, header, plaintext: bytesFrom(data.length, data.seed), tagLength };
          checkMessage(key, m, { header: headerPieces, data: dataPieces, decrypt: decryptPieces });
        },
      ),
      runs(2500),
    );
  });

  it('around the binding CHUNK (1 MiB) boundary: message, header and split points', () => {
    const big = fc.constantFrom(CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 17);
    const bigPieces = fc.array(fc.constantFrom(1, 4095, 16, CHUNK - 1, CHUNK, CHUNK + 1), { maxLength: 4 });
    fc.assert(
      fc.property(
        keyArb,
        nonceArb,
        fc.oneof(fc.constant(0), fc.constant(16), big),
        big,
        fc.integer(),
        tagLengthArb,
        bigPieces,
        bigPieces,
        (key, nonce, headerLength, length, seed, tagLength, dataPieces, decryptPieces) => {
          const m: Message = { nonce, header: bytesFrom(headerLength, ~seed), plaintext: bytesFrom(length, seed), tagLength };
          checkMessage(key, m, { header: dataPieces, data: dataPieces, decrypt: decryptPieces });
        },
      ),
      runs(12),
    );
  });

  it('a run of two messages on the WASM engine (interleaved) is two single native messages', () => {
    fc.assert(
      fc.property(keyArb, nonceArb, nonceArb, headerArb, dataArb, fc.integer(), (key, nonceA, nonceB, header, data, seedB) => {
        withBoth(key, (_wasm, native) => {
          const a = bytesFrom(data.length, data.seed);
          const b = bytesFrom(data.length, seedB);
          const wantA = native.encrypt(nonceA, a, { header });
          const wantB = native.encrypt(nonceB, b, { header });
          const run = [
            { nonce: nonceA, data: a.slice(), tag: new Uint8Array(16) },
            { nonce: nonceB, data: b.slice(), tag: new Uint8Array(16) },
          ];
          const backend = createBackend(key, 'wasm');
          try {
            backend.encryptRun(header, run);
            expectSame(run[0]!.data, wantA.ciphertext, 'first ciphertext');
            expectSame(run[1]!.data, wantB.ciphertext, 'second ciphertext');
            expectSame(run[0]!.tag, wantA.tag, 'first tag');
            expectSame(run[1]!.tag, wantB.tag, 'second tag');
            expect(backend.decryptRun(header, run)).toBe(-1);
          } finally {
            backend.dispose();
          }
          expectSame(run[0]!.data, a, 'first opened');
          expectSame(run[1]!.data, b, 'second opened');
        });
      }),
      runs(600),
    );
  });

  it('long nonces (past one block and past CHUNK) agree', () => {
    withBoth(bytesFrom(16, 99), (wasm, native) => {
      for (const length of [17, 1000, CHUNK + 1]) {
        const nonce = bytesFrom(length, length);
        const a = wasm.encrypt(nonce, bytesFrom(100, 1));
        const b = native.encrypt(nonce, bytesFrom(100, 1));
        expectSame(a.ciphertext, b.ciphertext, `ciphertext, nonce of ${length} bytes`);
        expectSame(a.tag, b.tag, `tag, nonce of ${length} bytes`);
      }
    });
  });
});

// ---- CTR and CMAC ----------------------------------------------------------------------------

const TWO128 = 1n << 128n;

function counterBytes(value: bigint): Uint8Array {
  const out = new Uint8Array(16);
  let v = ((value % TWO128) + TWO128) % TWO128;
  for (let i = 15; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/**
 * Counters a few blocks below a carry out of the low `bits` bits (2^bits - 1 - delta, with random
 * bits above), so the increment carries across 8, 32, 64, 96 or all 128 bits within the message.
 */
const counterArb = fc
  .record({
    bits: fc.constantFrom(128, 96, 64, 32, 8),
    high: fc.bigInt({ min: 0n, max: TWO128 - 1n }),
    delta: fc.integer({ min: 0, max: 40 }),
  })
  .map(({ bits, high, delta }) => {
    const b = BigInt(bits);
    return counterBytes((high << b) | ((1n << b) - 1n - BigInt(delta)));
  });

function withBackends<T>(key: Uint8Array, fn: (wasm: ReturnType<typeof createBackend>, native: ReturnType<typeof createBackend>) => T): T {
  const w = createBackend(key, 'wasm');
  const n = createBackend(key, 'native');
  try {
    return fn(w, n);
  } finally {
    w.dispose();
    n.dispose();
  }
}

describe('CTR: WASM == native across counter carries', () => {
  it('counters near 2^128-1, 2^96-1, 2^64-1, 2^32-1 and 2^8-1', () => {
    fc.assert(
      fc.property(keyArb, counterArb, smallDataArb, (key, counter, data) => {
        const input = bytesFrom(data.length, data.seed);
        withBackends(key, (w, n) => expectSame(w.ctr(counter, input), n.ctr(counter, input), 'ctr'));
      }),
      runs(3000),
    );
  });

  it('exact carries: all ones, 2^64-1 and 2^32-1 stepping into the next block', () => {
    const cases = [TWO128 - 1n, (1n << 64n) - 1n, (1n << 32n) - 1n, (1n << 96n) - 1n, 0x0123456789abcdef_ffffffffffffffffn];
    for (const keyLength of [16, 24, 32]) {
      withBackends(bytesFrom(keyLength, 5), (w, n) => {
        for (const value of cases) {
          const counter = counterBytes(value);
          for (const length of [0, 1, 16, 17, 32, 33, 100]) {
            const input = bytesFrom(length, length);
            expectSame(w.ctr(counter, input), n.ctr(counter, input), `ctr from ${value.toString(16)}, ${length} bytes`);
          }
        }
      });
    }
  });

  it('the counter carries correctly across the binding CHUNK boundary', () => {
    const blocks = BigInt(CHUNK / 16);
    withBackends(bytesFrom(16, 6), (w, n) => {
      for (const value of [TWO128 - blocks, TWO128 - blocks - 1n, (1n << 64n) - blocks, 42n]) {
        const counter = counterBytes(value);
        const input = bytesFrom(2 * CHUNK + 5, 7);
        expectSame(w.ctr(counter, input), n.ctr(counter, input), `ctr from ${value.toString(16)} over 2 MiB`);
      }
    });
  });

  it('ECB blocks agree', () => {
    fc.assert(
      fc.property(keyArb, fc.integer({ min: 0, max: 300 }), fc.integer(), (key, blocks, seed) => {
        const input = bytesFrom(16 * blocks, seed);
        withBackends(key, (w, n) => expectSame(w.encryptBlocks(input), n.encryptBlocks(input), 'ecb'));
      }),
      runs(500),
    );
  });
});

describe('CMAC: WASM == native', () => {
  it('random lengths, with block boundaries and empty messages', () => {
    const cmacLength = fc.oneof(
      { arbitrary: fc.integer({ min: 0, max: 64 }), weight: 3 },
      { arbitrary: fc.constantFrom(...BOUNDARIES.filter((l) => l < 70_000)), weight: 2 },
      { arbitrary: fc.integer({ min: 0, max: 70_000 }), weight: 1 },
    );
    fc.assert(
      fc.property(keyArb, cmacLength, fc.integer(), (key, length, seed) => {
        const message = bytesFrom(length, seed);
        withBackends(key, (w, n) => expectSame(w.cmac(message), n.cmac(message), 'cmac'));
      }),
      runs(2000),
    );
  });

  it('across the CHUNK boundary', () => {
    withBackends(bytesFrom(32, 8), (w, n) => {
      for (const length of [CHUNK - 1, CHUNK, CHUNK + 1]) {
        const message = bytesFrom(length, length);
        expectSame(w.cmac(message), n.cmac(message), `cmac of ${length} bytes`);
      }
    });
  });
});
