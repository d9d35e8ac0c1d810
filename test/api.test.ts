import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  AuthenticationError,
  createBackend,
  createEax,
  ENGINES,
  InputError,
  SealcamError,
  type CipherBackend,
  type Eax,
  type EngineName,
} from '../src/index.js';
import type { RunMessage } from '../src/engine/types.js';
import { CHUNK } from '../src/engine/wasm.js';
import { same } from './helpers/bytes.js';

/**
 * The binding's contract, on both engines: bad input is refused with an InputError naming the
 * problem (never a WebAssembly trap), finished or disposed objects refuse further use, a tag that
 * does not verify releases no plaintext, and WASM memory stays bounded over many keys and messages.
 */

// The binding grows WASM memory from JS (Memory.prototype.grow); the engine never allocates. Watching
// grow from the first line of this file sees every growth of the instance and hands us its memory.
const grow = vi.spyOn(WebAssembly.Memory.prototype, 'grow');
afterAll(() => grow.mockRestore());

const KEY = Uint8Array.from({ length: 16 }, (_, i) => i);
const NONCE = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const HEADER = new TextEncoder().encode('camera-7 2024-06-01T12:00:00Z');
const PLAINTEXT = Uint8Array.from({ length: 100 }, (_, i) => (i * 7) & 0xff);

/** Anything that is not a Uint8Array, as a caller from plain JS might pass it. */
const NOT_BYTES: ReadonlyArray<[string, unknown]> = [
  ['string', 'secret'],
  ['an array', [1, 2, 3]],
  ['null', null],
  ['undefined', undefined],
  ['number', 16],
];

const bad = (value: unknown): Uint8Array => value as Uint8Array;

// What a trap in the engine would surface as (sealcam's WebAssembly typings leave it out).
const RuntimeError = (WebAssembly as unknown as { RuntimeError: ErrorConstructor }).RuntimeError;

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

function expectInputError(fn: () => unknown, message: RegExp): void {
  const error = caught(fn);
  expect(error, 'expected an InputError to be thrown').toBeInstanceOf(InputError);
  expect(error).toBeInstanceOf(SealcamError);
  expect(error).not.toBeInstanceOf(RuntimeError);
  expect((error as InputError).code).toBe('EINPUT');
  expect((error as Error).message).toMatch(message);
}

function expectAuthFailure(fn: () => unknown): void {
  const error = caught(fn);
  expect(error, 'expected an AuthenticationError').toBeInstanceOf(AuthenticationError);
  expect((error as AuthenticationError).code).toBe('EAUTH');
}

function flip(bytes: Uint8Array, index: number, bit = 0): Uint8Array {
  const out = bytes.slice();
  out[index]! ^= 1 << bit;
  return out;
}

function withEax<T>(engine: EngineName, fn: (eax: Eax) => T, key: Uint8Array = KEY, tagLength?: number): T {
  const eax = createEax(key, { engine, tagLength });
  try {
    return fn(eax);
  } finally {
    eax.dispose();
  }
}

function withBackend<T>(engine: EngineName, fn: (backend: CipherBackend) => T, key: Uint8Array = KEY): T {
  const backend = createBackend(key, engine);
  try {
    return fn(backend);
  } finally {
    backend.dispose();
  }
}

describe('engine selection', () => {
  it("an unknown engine name ('gpu') is an InputError naming it", () => {
    expectInputError(() => createEax(KEY, { engine: 'gpu' as EngineName }), /engine.*gpu/);
    expectInputError(() => createBackend(KEY, 'gpu' as EngineName), /engine.*gpu/);
  });
});

describe('the native engine\'s shared contexts', () => {
  it('ECB refuses a partial block (it would stay in the key\'s one ECB context), and whole blocks after it still encipher right', () => {
    withBackend('native', (backend) => {
      expectInputError(() => backend.encryptBlocks(new Uint8Array(20)), /whole 16-byte blocks, got 20 bytes/);
      const blocks = Uint8Array.from({ length: 48 }, (_, i) => i);
      const ecb = createCipheriv('aes-128-ecb', KEY, null).setAutoPadding(false);
      expect(Buffer.from(backend.encryptBlocks(blocks)).toString('hex')).toBe(ecb.update(blocks).toString('hex'));
    });
  });
});

describe.each(ENGINES)('input validation (%s)', (engine) => {
  it.each([
    [15, /15 bytes/],
    [0, /0 bytes/],
    [17, /17 bytes/],
    [64, /64 bytes/],
  ])('a %i-byte key is refused', (length, message) => {
    expectInputError(() => createEax(new Uint8Array(length), { engine }), message);
    expectInputError(() => createEax(new Uint8Array(length), { engine }), /16, 24 or 32 bytes/);
    expectInputError(() => createBackend(new Uint8Array(length), engine), message);
  });

  it.each(NOT_BYTES)('a key that is %s is refused', (got, value) => {
    expectInputError(() => createEax(bad(value), { engine }), new RegExp(`key must be a Uint8Array.*got ${got}`));
    expectInputError(() => createBackend(bad(value), engine), /key must be a Uint8Array/);
  });

  it.each([0, 17, 1.5, -1, Number.NaN, '16'])('a context with tag length %s is refused', (tagLength) => {
    expectInputError(() => createEax(KEY, { engine, tagLength: tagLength as number }), /tag length/);
  });

  it('an empty nonce is refused by every entry point', () => {
    withEax(engine, (eax) => {
      const empty = new Uint8Array(0);
      expectInputError(() => eax.encrypt(empty, PLAINTEXT), /nonce must be at least 1 byte/);
      expectInputError(() => eax.decrypt(empty, PLAINTEXT, new Uint8Array(16)), /nonce must be at least 1 byte/);
      expectInputError(() => eax.start(empty), /nonce must be at least 1 byte/);
      expectInputError(() => eax.startDecrypt(empty), /nonce must be at least 1 byte/);
    });
  });

  it.each(NOT_BYTES)('a nonce, plaintext, ciphertext, header or tag that is %s is refused', (got, value) => {
    withEax(engine, (eax) => {
      const x = bad(value);
      const { ciphertext, tag } = eax.encrypt(NONCE, PLAINTEXT);
      const named = (what: string) => new RegExp(`${what} must be a Uint8Array.*got ${got}`);

      expectInputError(() => eax.encrypt(x, PLAINTEXT), named('nonce'));
      expectInputError(() => eax.decrypt(x, ciphertext, tag), named('nonce'));
      expectInputError(() => eax.start(x), named('nonce'));
      expectInputError(() => eax.startDecrypt(x), named('nonce'));

      expectInputError(() => eax.encrypt(NONCE, x), named('plaintext'));
      expectInputError(() => eax.start(NONCE).update(x), named('plaintext'));
      expectInputError(() => eax.decrypt(NONCE, x, tag), named('ciphertext'));
      expectInputError(() => eax.startDecrypt(NONCE).update(x), named('ciphertext'));

      // `undefined` means "no header" in the options object, so it is accepted there.
      if (value !== undefined) {
        expectInputError(() => eax.encrypt(NONCE, PLAINTEXT, { header: x }), named('header'));
        expectInputError(() => eax.decrypt(NONCE, ciphertext, tag, { header: x }), named('header'));
      }
      expectInputError(() => eax.start(NONCE).updateHeader(x), named('header'));
      expectInputError(() => eax.startDecrypt(NONCE).updateHeader(x), named('header'));

      expectInputError(() => eax.decrypt(NONCE, ciphertext, x), named('tag'));
      const dec = eax.startDecrypt(NONCE);
      dec.update(ciphertext);
      expectInputError(() => dec.verify(x), named('tag'));
    });
  });

  it('a tag of 0 or 17 bytes is refused', () => {
    withEax(engine, (eax) => {
      const { ciphertext } = eax.encrypt(NONCE, PLAINTEXT);
      expectInputError(() => eax.decrypt(NONCE, ciphertext, new Uint8Array(0)), /tag must be 1 to 16 bytes, got 0 bytes/);
      expectInputError(() => eax.decrypt(NONCE, ciphertext, new Uint8Array(17)), /got 17 bytes/);
      const dec = eax.startDecrypt(NONCE);
      dec.update(ciphertext);
      expectInputError(() => dec.verify(new Uint8Array(17)), /got 17 bytes/);
    });
  });

  it('a Buffer works for key, nonce, header, plaintext and tag', () => {
    const expected = withEax(engine, (eax) => eax.encrypt(NONCE, PLAINTEXT, { header: HEADER }), KEY, 12);
    // Buffer.from on small inputs slices Node's shared pool, so these also have a non-zero byteOffset.
    const buf = (u: Uint8Array) => Buffer.from(Buffer.from(u).toString('hex'), 'hex');
    withEax(
      engine,
      (eax) => {
        const got = eax.encrypt(buf(NONCE), buf(PLAINTEXT), { header: buf(HEADER) });
        expect(got.ciphertext).toEqual(expected.ciphertext);
        expect(got.tag).toEqual(expected.tag);
        const plain = eax.decrypt(buf(NONCE), buf(got.ciphertext), buf(got.tag), { header: buf(HEADER) });
        expect(plain).toEqual(PLAINTEXT);
      },
      buf(KEY),
      12,
    );
  });
});

describe.each(ENGINES)('lifecycle (%s)', (engine) => {
  it('an encryptor refuses use after final()', () => {
    withEax(engine, (eax) => {
      const enc = eax.start(NONCE);
      enc.update(PLAINTEXT);
      enc.final();
      expectInputError(() => enc.update(PLAINTEXT), /already finished/);
      expectInputError(() => enc.updateHeader(HEADER), /already finished/);
      expectInputError(() => enc.final(), /already finished/);
    });
  });

  it('a decryptor refuses use after verify(), whether it verified or not', () => {
    withEax(engine, (eax) => {
      const { ciphertext, tag } = eax.encrypt(NONCE, PLAINTEXT);
      for (const t of [tag, flip(tag, 0)]) {
        const dec = eax.startDecrypt(NONCE);
        dec.update(ciphertext);
        caught(() => dec.verify(t));
        expectInputError(() => dec.update(ciphertext), /already finished/);
        expectInputError(() => dec.updateHeader(HEADER), /already finished/);
        expectInputError(() => dec.verify(tag), /already finished/);
      }
    });
  });

  it('a disposed EAX object refuses every call, and dispose() twice is harmless', () => {
    const eax = createEax(KEY, { engine });
    const { ciphertext, tag } = eax.encrypt(NONCE, PLAINTEXT);
    eax.dispose();
    eax.dispose();
    expectInputError(() => eax.encrypt(NONCE, PLAINTEXT), /disposed/);
    expectInputError(() => eax.decrypt(NONCE, ciphertext, tag), /disposed/);
    expectInputError(() => eax.start(NONCE), /disposed/);
    expectInputError(() => eax.startDecrypt(NONCE), /disposed/);
  });

  // dispose() wipes the key schedule, so a message still in progress must refuse to go on (it
  // would otherwise compute a wrong tag on zeroed keys without saying so).
  it('a message in progress refuses use after its EAX object is disposed', () => {
    const eax = createEax(KEY, { engine });
    const enc = eax.start(NONCE);
    enc.update(PLAINTEXT.subarray(0, 10));
    eax.dispose();
    const error = caught(() => {
      enc.update(PLAINTEXT.subarray(10));
      enc.final();
    });
    expect(error).toBeInstanceOf(SealcamError);
    expect((error as Error).message).toMatch(/disposed/);
  });
});

describe.each(ENGINES)('authentication (%s)', (engine) => {
  const sealed = () => withEax(engine, (eax) => eax.encrypt(NONCE, PLAINTEXT, { header: HEADER }));

  /** One-shot decrypt must throw (so it returns nothing); the incremental one must never return plaintext. */
  function expectRejected(nonce: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, header: Uint8Array, key: Uint8Array = KEY): void {
    withEax(
      engine,
      (eax) => {
        let returned: Uint8Array | undefined;
        expectAuthFailure(() => {
          returned = eax.decrypt(nonce, ciphertext, tag, { header });
        });
        expect(returned).toBeUndefined();

        const dec = eax.startDecrypt(nonce);
        dec.updateHeader(header);
        for (let i = 0; i < ciphertext.length; i += 33) {
          expect(dec.update(ciphertext.subarray(i, i + 33))).toBeUndefined();
        }
        let verified: Uint8Array | undefined;
        expectAuthFailure(() => {
          verified = dec.verify(tag);
        });
        expect(verified).toBeUndefined();
      },
      key,
    );
  }

  it('the untouched message opens (one call and incremental)', () => {
    const { ciphertext, tag } = sealed();
    withEax(engine, (eax) => {
      expect(eax.decrypt(NONCE, ciphertext, tag, { header: HEADER })).toEqual(PLAINTEXT);
      const dec = eax.startDecrypt(NONCE);
      dec.updateHeader(HEADER);
      expect(dec.update(ciphertext.subarray(0, 50))).toBeUndefined();
      expect(dec.update(ciphertext.subarray(50))).toBeUndefined();
      expect(dec.verify(tag)).toEqual(PLAINTEXT);
    });
  });

  it('a wrong tag is rejected (any flipped bit, first or last byte)', () => {
    const { ciphertext, tag } = sealed();
    for (const [i, bit] of [[0, 0], [0, 7], [15, 0], [15, 7], [8, 3]] as const) {
      expectRejected(NONCE, ciphertext, flip(tag, i, bit), HEADER);
    }
  });

  it('a flipped ciphertext bit is rejected', () => {
    const { ciphertext, tag } = sealed();
    for (const i of [0, 15, 16, 50, ciphertext.length - 1]) expectRejected(NONCE, flip(ciphertext, i, 5), tag, HEADER);
  });

  it('a truncated or extended ciphertext is rejected', () => {
    const { ciphertext, tag } = sealed();
    expectRejected(NONCE, ciphertext.subarray(0, ciphertext.length - 1), tag, HEADER);
    expectRejected(NONCE, new Uint8Array([...ciphertext, 0]), tag, HEADER);
  });

  it('a wrong, missing or extra header is rejected', () => {
    const { ciphertext, tag } = sealed();
    expectRejected(NONCE, ciphertext, tag, flip(HEADER, 3));
    expectRejected(NONCE, ciphertext, tag, new Uint8Array(0));
    expectRejected(NONCE, ciphertext, tag, new Uint8Array([...HEADER, 0]));
  });

  it('a wrong nonce or a wrong key is rejected', () => {
    const { ciphertext, tag } = sealed();
    expectRejected(flip(NONCE, 15), ciphertext, tag, HEADER);
    expectRejected(NONCE.subarray(0, 15), ciphertext, tag, HEADER);
    expectRejected(NONCE, ciphertext, tag, HEADER, flip(KEY, 0));
  });

  it('an empty message with a wrong tag is rejected', () => {
    const { tag } = withEax(engine, (eax) => eax.encrypt(NONCE, new Uint8Array(0)));
    expectRejected(NONCE, new Uint8Array(0), flip(tag, 4), new Uint8Array(0));
  });

  it('a context made for a short tag writes the prefix of the full tag, and verifies it (one call and incremental)', () => {
    const { ciphertext, tag: full } = sealed();
    for (let length = 1; length <= 16; length++) {
      withEax(
        engine,
        (eax) => {
          expect(eax.tagLength).toBe(length);
          const short = eax.encrypt(NONCE, PLAINTEXT, { header: HEADER });
          expect(short.tag).toEqual(full.subarray(0, length));
          expect(eax.decrypt(NONCE, ciphertext, full.subarray(0, length), { header: HEADER })).toEqual(PLAINTEXT);
          const enc = eax.start(NONCE);
          enc.updateHeader(HEADER);
          enc.update(PLAINTEXT);
          expect(enc.final()).toEqual(full.subarray(0, length));
          const flipped = flip(full.subarray(0, length), length - 1);
          expectAuthFailure(() => eax.decrypt(NONCE, ciphertext, flipped, { header: HEADER }));
        },
        KEY,
        length,
      );
    }
  });

  it('decrypt and verify accept only the tag length the context was made for (16 by default), as pycryptodome does', () => {
    const { ciphertext, tag: full } = sealed();
    withEax(engine, (eax) => {
      expect(eax.tagLength).toBe(16);
      for (let length = 1; length < 16; length++) {
        // A true prefix of the right tag: the old rule compared it on `length` bytes and released the plaintext.
        expectRejected(NONCE, ciphertext, full.subarray(0, length), HEADER);
        const out = new Uint8Array(ciphertext.length);
        expect(() => eax.decryptInto(NONCE, ciphertext, full.subarray(0, length), out, { header: HEADER })).toThrow(/accepts only 16-byte tags/);
        expect(out.every((b) => b === 0)).toBe(true);
        const big = eax.startUnverifiedDecrypt(NONCE);
        big.updateHeader(HEADER);
        big.update(ciphertext);
        expect(() => big.finish(full.subarray(0, length))).toThrow(/the tag is \d+ bytes/);
      }
    });
    withEax(engine, (eax) => expectAuthFailure(() => eax.decrypt(NONCE, ciphertext, full, { header: HEADER })), KEY, 8);
  });

});


describe.each(ENGINES)('encryptInto and decryptInto (%s)', (engine) => {
  const other: EngineName = engine === 'wasm' ? 'native' : 'wasm';
  // Every length up to three blocks, and lengths around the binding's 1 MiB chunk (WASM goes through linear memory in CHUNK pieces).
  const LENGTHS = [...Array.from({ length: 50 }, (_, i) => i), 255, 256, 257, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 17];
  const message = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 131 + 7) & 0xff);
  const GUARD = 0xee;

  /** `bytes` at offset 16 of a buffer with 16 guard bytes either side, and a view of them. */
  function guarded(bytes: Uint8Array): { whole: Uint8Array; view: Uint8Array } {
    const whole = new Uint8Array(bytes.length + 32).fill(GUARD);
    whole.set(bytes, 16);
    return { whole, view: whole.subarray(16, 16 + bytes.length) };
  }
  const guardsIntact = (whole: Uint8Array): boolean =>
    whole.subarray(0, 16).every((b) => b === GUARD) && whole.subarray(whole.length - 16).every((b) => b === GUARD);

  it('give the bytes of encrypt()/decrypt() (and of the other engine), into another array or in place, at lengths 0..49, 255..257 and around the 1 MiB chunk', () => {
    withEax(engine, (eax) => {
      for (const n of LENGTHS) {
        const plaintext = message(n);
        const want = withEax(other, (o) => o.encrypt(NONCE, plaintext, { header: HEADER }));
        const allocated = eax.encrypt(NONCE, plaintext, { header: HEADER });
        expect(same(allocated.ciphertext, want.ciphertext) && same(allocated.tag, want.tag), `encrypt, ${n} bytes`).toBe(true);

        const out = new Uint8Array(n).fill(0xaa);
        const tag = eax.encryptInto(NONCE, plaintext, out, { header: HEADER });
        expect(same(out, want.ciphertext) && same(tag, want.tag), `into another array, ${n} bytes`).toBe(true);
        expect(same(plaintext, message(n)), 'the input is left alone').toBe(true);

        const sealed = guarded(plaintext);
        expect(same(eax.encryptInto(NONCE, sealed.view, sealed.view, { header: HEADER }), want.tag)).toBe(true);
        expect(same(sealed.view, want.ciphertext) && guardsIntact(sealed.whole), `in place, ${n} bytes`).toBe(true);

        const opened = new Uint8Array(n).fill(0xaa);
        eax.decryptInto(NONCE, want.ciphertext, want.tag, opened, { header: HEADER });
        expect(same(opened, plaintext), `decrypt into another array, ${n} bytes`).toBe(true);
        // In place through a second view of the same bytes: the same memory is what counts.
        const again = new Uint8Array(sealed.whole.buffer, sealed.view.byteOffset, n);
        eax.decryptInto(NONCE, sealed.view, want.tag, again, { header: HEADER });
        expect(same(sealed.view, plaintext) && guardsIntact(sealed.whole), `decrypt in place, ${n} bytes`).toBe(true);
      }
    });
  });

  it('truncate the tag as encrypt() does', () => {
    withEax(engine, (eax) => {
      for (const tagLength of [1, 8, 16]) {
        withEax(
          engine,
          (short) => {
            const want = short.encrypt(NONCE, PLAINTEXT, { header: HEADER });
            const out = new Uint8Array(PLAINTEXT.length);
            expect(short.encryptInto(NONCE, PLAINTEXT, out, { header: HEADER })).toEqual(want.tag);
            expect(want.tag.length).toBe(tagLength);
            short.decryptInto(NONCE, out, want.tag, out, { header: HEADER });
            expect(out).toEqual(PLAINTEXT);
          },
          KEY,
          tagLength,
        );
      }
      expect(eax.tagLength).toBe(16);
    });
  });

  it('a tag or ciphertext that does not verify wipes the output (in place, the ciphertext with it) and throws', () => {
    withEax(engine, (eax) => {
      for (const n of [1, 33, CHUNK + 1]) {
        const { ciphertext, tag } = eax.encrypt(NONCE, message(n), { header: HEADER });
        for (const [ct, t] of [
          [ciphertext, flip(tag, 15)],
          [flip(ciphertext, n - 1), tag],
        ] as const) {
          const out = new Uint8Array(n).fill(0xaa);
          expectAuthFailure(() => eax.decryptInto(NONCE, ct, t, out, { header: HEADER }));
          expect(out.every((b) => b === 0), `another array, ${n} bytes`).toBe(true);
          const { whole, view } = guarded(ct);
          expectAuthFailure(() => eax.decryptInto(NONCE, view, t, view, { header: HEADER }));
          expect(view.every((b) => b === 0) && guardsIntact(whole), `in place, ${n} bytes`).toBe(true);
        }
      }
      expectAuthFailure(() => eax.decryptInto(NONCE, new Uint8Array(0), new Uint8Array(16), new Uint8Array(0)));
    });
  });

  it('an output that partly overlaps the input or the tag, or has the wrong length, is refused before anything is written', () => {
    withEax(engine, (eax) => {
      const buffer = new Uint8Array(96);
      buffer.set(PLAINTEXT.subarray(0, 32), 32);
      const input = buffer.subarray(32, 64);
      const before = buffer.slice();
      for (const shift of [-31, -1, 1, 31]) {
        const out = buffer.subarray(32 + shift, 64 + shift);
        expectInputError(() => eax.encryptInto(NONCE, input, out), /output must be the plaintext itself \(in place\) or not overlap it/);
        expectInputError(() => eax.decryptInto(NONCE, input, new Uint8Array(16), out), /output must be the ciphertext itself/);
        expect(same(buffer, before), `shift ${shift}`).toBe(true);
      }
      expectInputError(() => eax.encryptInto(NONCE, input, new Uint8Array(31)), /output must be as long as the plaintext \(32 bytes\), got 31 bytes/);
      expectInputError(() => eax.decryptInto(NONCE, input, new Uint8Array(16), new Uint8Array(33)), /as long as the ciphertext/);
      expectInputError(() => eax.encryptInto(NONCE, input, bad([1, 2])), /output must be a Uint8Array.*got an array/);
      const out = new Uint8Array(32);
      expectInputError(() => eax.decryptInto(NONCE, input, out.subarray(16), out), /output must not overlap the tag/);
      expect(out.every((b) => b === 0)).toBe(true);

      // Right next to each other in one buffer is not an overlap.
      const { ciphertext, tag } = eax.encrypt(NONCE, input);
      const after = buffer.subarray(64, 96);
      expect(eax.encryptInto(NONCE, input, after)).toEqual(tag);
      expect(after).toEqual(ciphertext);
      const beforeIt = buffer.subarray(0, 32);
      eax.decryptInto(NONCE, after, tag, beforeIt);
      expect(beforeIt).toEqual(input);
    });
  });
});

describe.each(ENGINES)('runs of messages (the sealed format\'s hot path) on %s', (engine) => {
  const other: EngineName = engine === 'wasm' ? 'native' : 'wasm';
  // Block multiples (the WASM engine's interleaved path) and not, and around half the binding's
  // CHUNK (two messages share the IO region, half each).
  const LENGTHS = [0, 1, 15, 16, 17, 31, 32, 48, 255, 256, 257, CHUNK / 2 - 16, CHUNK / 2, CHUNK / 2 + 16, CHUNK / 2 + 1, CHUNK + 32];
  const message = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed) & 0xff);
  const NONCE2 = flip(NONCE, 15);
  const NONCE3 = flip(NONCE, 7);

  /** The messages side by side in one buffer, each followed by its tag, as a sealed task holds segments. */
  function laidOut(parts: Uint8Array[], nonces: Uint8Array[]): { buffer: Uint8Array; run: RunMessage[] } {
    const buffer = new Uint8Array(parts.reduce((n, p) => n + p.length + 16, 0));
    const run: RunMessage[] = [];
    let at = 0;
    parts.forEach((p, i) => {
      buffer.set(p, at);
      run.push({ nonce: nonces[i]!, data: buffer.subarray(at, at + p.length), tag: buffer.subarray(at + p.length, at + p.length + 16) });
      at += p.length + 16;
    });
    return { buffer, run };
  }

  it('a run of two gives the bytes of two encrypt() calls on the other engine, in place, and opens back', () => {
    withBackend(engine, (backend) => {
      for (const n of LENGTHS) {
        const a = message(n, 7);
        const b = message(n, 99);
        const [wantA, wantB] = withEax(other, (o) => [o.encrypt(NONCE, a, { header: HEADER }), o.encrypt(NONCE2, b, { header: HEADER })]);
        const { run } = laidOut([a, b], [NONCE, NONCE2]);
        backend.encryptRun(HEADER, run);
        expect(same(run[0]!.data, wantA.ciphertext) && same(run[0]!.tag, wantA.tag), `first, ${n} bytes`).toBe(true);
        expect(same(run[1]!.data, wantB.ciphertext) && same(run[1]!.tag, wantB.tag), `second, ${n} bytes`).toBe(true);
        expect(backend.decryptRun(HEADER, run), `${n} bytes`).toBe(-1);
        expect(same(run[0]!.data, a) && same(run[1]!.data, b), `opened in place, ${n} bytes`).toBe(true);
      }
    });
  });

  it('a run of messages of different lengths (what cannot be paired runs alone) gives the bytes of single messages', () => {
    withBackend(engine, (backend) => {
      const parts = [message(4096, 1), message(4096, 2), message(4096, 3), message(17, 4)];
      const nonces = [NONCE, NONCE2, NONCE3, flip(NONCE, 3)];
      const want = withEax(other, (o) => parts.map((p, i) => o.encrypt(nonces[i]!, p, { header: HEADER })));
      const { run } = laidOut(parts, nonces);
      backend.encryptRun(HEADER, run);
      run.forEach((m, i) => expect(same(m.data, want[i]!.ciphertext) && same(m.tag, want[i]!.tag), `message ${i}`).toBe(true));
      expect(backend.decryptRun(HEADER, run)).toBe(-1);
      run.forEach((m, i) => expect(same(m.data, parts[i]!), `message ${i} opened`).toBe(true));
    });
  });

  it('decryptRun names the first message that does not verify', () => {
    withBackend(engine, (backend) => {
      for (const n of [0, 32, 33, CHUNK / 2 + 16]) {
        for (const [bad, want] of [
          [[0], 0],
          [[1], 1],
          [[0, 1], 0],
          [[2], 2],
        ] as const) {
          const { run } = laidOut([message(n, 3), message(n, 4), message(n, 5)], [NONCE, NONCE2, NONCE3]);
          backend.encryptRun(HEADER, run);
          for (const i of bad) run[i]!.tag[i === 0 ? 0 : 15]! ^= 1;
          expect(backend.decryptRun(HEADER, run), `${n} bytes, bad ${bad.join(',')}`).toBe(want);
        }
      }
    });
  });
});

describe('WASM memory stays bounded', () => {
  /** Bytes WASM memory has grown by since the start of this file. */
  const grown = () => grow.mock.calls.reduce((sum, [pages]) => sum + pages * 65536, 0);
  /** The instance's memory, if its first growth happened in this file (it does: one process per file). */
  const memory = () => grow.mock.contexts.find((c): c is WebAssembly.Memory => c instanceof WebAssembly.Memory);

  /** One key's life: several messages (including a rejected one and refused input), then dispose. */
  function cycle(i: number): void {
    const key = Uint8Array.from(KEY, (b) => b ^ i);
    const eax = createEax(key);
    const { ciphertext, tag } = eax.encrypt(NONCE, PLAINTEXT, { header: HEADER });
    eax.decrypt(NONCE, ciphertext, tag, { header: HEADER });
    caught(() => eax.decrypt(NONCE, ciphertext, flip(tag, 0), { header: HEADER }));
    caught(() => eax.encrypt(new Uint8Array(0), PLAINTEXT));
    const enc = eax.start(NONCE);
    enc.update(PLAINTEXT);
    enc.final();
    const out = new Uint8Array(PLAINTEXT.length);
    const t = eax.encryptInto(NONCE, PLAINTEXT, out, { header: HEADER });
    eax.decryptInto(NONCE, out, t, out, { header: HEADER });
    caught(() => eax.decryptInto(NONCE, out, flip(t, 0), out, { header: HEADER }));
    eax.dispose();
  }

  it('20,000 createEax/encrypt/decrypt/dispose cycles reuse slots: no growth at all', () => {
    cycle(0); // the runtime exists from here on
    const before = { grown: grown(), bytes: memory()?.buffer.byteLength };
    for (let i = 1; i <= 20_000; i++) cycle(i);
    expect(grown()).toBe(before.grown);
    // And a second run of the same size: still nothing.
    for (let i = 1; i <= 20_000; i++) cycle(i);
    expect(grown()).toBe(before.grown);
    expect(memory()?.buffer.byteLength).toBe(before.bytes);
  });

  /** Growth (bytes) of WASM memory while `fn` runs 5,000 times. */
  function growthOver(fn: (eax: Eax) => void): number {
    const eax = createEax(KEY);
    fn(eax); // make sure the runtime exists
    const before = grown();
    for (let i = 0; i < 5000; i++) fn(eax);
    eax.dispose();
    return grown() - before;
  }

  // encrypt()/decrypt() must validate the header before start() takes a WASM message slot.
  it('refused headers and outputs do not leak message slots', () => {
    expect(growthOver((eax) => caught(() => eax.encrypt(NONCE, PLAINTEXT, { header: bad('x') })))).toBe(0);
    expect(growthOver((eax) => caught(() => eax.encryptInto(NONCE, PLAINTEXT, PLAINTEXT.subarray(1))))).toBe(0);
    expect(growthOver((eax) => caught(() => eax.decryptInto(NONCE, PLAINTEXT, new Uint8Array(16), new Uint8Array(100), { header: bad('x') })))).toBe(0);
  });

  // verify() checks the tag's type and size before it finishes the message, so a refused tag
  // leaves the decryptor usable, and verifying with a real tag then releases its slot.
  it('refused tags in verify() do not leak message slots', () => {
    expect(
      growthOver((eax) => {
        const dec = eax.startDecrypt(NONCE);
        caught(() => dec.verify(new Uint8Array(0)));
        caught(() => dec.verify(new Uint8Array(16)));
      }),
    ).toBe(0);
  });

  // A message that is started but never finished (an abandoned stream) holds a WASM slot until it
  // is garbage-collected; then the slot is wiped and reused. Needs --expose-gc (vitest.config.ts).
  it('abandoned messages are reclaimed after garbage collection', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(gc, 'run with --expose-gc').toBeTypeOf('function');
    const eax = createEax(KEY);
    const round = () => {
      for (let i = 0; i < 2000; i++) eax.start(NONCE).update(PLAINTEXT);
    };
    round();
    gc!();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const before = grown();
    for (let r = 0; r < 10; r++) {
      round();
      gc!();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    eax.dispose();
    // 20,000 abandoned messages hold 10 MB of slots if none is reclaimed; reuse keeps it to one round.
    expect(grown() - before).toBeLessThanOrEqual(2000 * 512);
  });
});

describe('both WASM builds', () => {
  const entry = fileURLToPath(new URL('../dist/src/index.js', import.meta.url));

  // A child process picks its build once at start-up; this prints which one and one EAX result
  // (a 1 MiB + 3 message, so the binding's chunking is in it too, hashed to keep the output short).
  const script = `
    const { createEax, wasmVariant } = await import(process.env.SEALCAM_ENTRY);
    const key = Uint8Array.from({ length: 32 }, (_, i) => i * 3);
    const nonce = Uint8Array.from({ length: 16 }, (_, i) => 255 - i);
    const header = new TextEncoder().encode('header');
    const plaintext = Uint8Array.from({ length: (1 << 20) + 3 }, (_, i) => (i * 31) >>> 3);
    const eax = createEax(key);
    const { ciphertext, tag } = eax.encrypt(nonce, plaintext, { header });
    const { createHash } = await import('node:crypto');
    console.log(JSON.stringify({
      variant: wasmVariant(),
      ciphertext: createHash('sha256').update(ciphertext).digest('hex'),
      tag: Buffer.from(tag).toString('hex'),
    }));
  `;

  function run(variant: 'simd' | undefined): { variant: string; ciphertext: string; tag: string } {
    const env: NodeJS.ProcessEnv = { ...process.env, SEALCAM_ENTRY: pathToFileURL(entry).href };
    if (variant === undefined) delete env.SEALCAM_WASM;
    else env.SEALCAM_WASM = variant;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
    return JSON.parse(out.trim().split('\n').at(-1)!);
  }

  it("SEALCAM_WASM=simd runs 'simd', the default runs 'relaxed', and they agree with native", () => {
    expect(existsSync(entry), `${entry} is missing: run npm run build first`).toBe(true);
    const simd = run('simd');
    const relaxed = run(undefined);
    expect(simd.variant).toBe('simd');
    expect(relaxed.variant).toBe('relaxed');
    expect(relaxed.ciphertext).toBe(simd.ciphertext);
    expect(relaxed.tag).toBe(simd.tag);

    const key = Uint8Array.from({ length: 32 }, (_, i) => i * 3);
    const nonce = Uint8Array.from({ length: 16 }, (_, i) => 255 - i);
    const plaintext = Uint8Array.from({ length: (1 << 20) + 3 }, (_, i) => (i * 31) >>> 3);
    const header = new TextEncoder().encode('header');
    const native = withEax('native', (eax) => eax.encrypt(nonce, plaintext, { header }), key);
    expect(simd.ciphertext).toBe(createHash('sha256').update(native.ciphertext).digest('hex'));
    expect(simd.tag).toBe(Buffer.from(native.tag).toString('hex'));
  });
});
