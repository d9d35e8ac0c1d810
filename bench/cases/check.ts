import { header, random, reference } from './inputs.js';

/**
 * Cross-checks run before anything is timed: each compares an implementation with sealcam's
 * node:crypto engine bit for bit and returns null, or a one-line description of the first difference.
 */

export type Verdict = string | null;

/** Message sizes around the block size, a few blocks, and an odd size past a page. */
export const CHECK_SIZES = [0, 1, 15, 16, 17, 1000, 4096 + 7];
const CHECK_HEADERS = [new Uint8Array(0), random(13), header];

type MaybeAsync<T> = T | Promise<T>;
export type EncryptFn = (nonce: Uint8Array, plaintext: Uint8Array, header: Uint8Array) => MaybeAsync<{ ciphertext: Uint8Array; tag: Uint8Array }>;
export type DecryptFn = (nonce: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, header: Uint8Array) => MaybeAsync<Uint8Array>;

export function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** Counters that cross the carry at 32, 48, 64 and 128 bits, and a random one. */
function carryCounters(): Uint8Array[] {
  const at = (from: number): Uint8Array => {
    const c = random(16);
    c.fill(0xff, from, 16);
    c[15] = 0xfe;
    return c;
  };
  return [at(12), at(10), at(8), at(0), random(16)];
}

export async function checkEncrypt(bits: 128 | 256, encrypt: EncryptFn): Promise<Verdict> {
  const ref = reference(bits).eax;
  for (const size of CHECK_SIZES) {
    for (const h of CHECK_HEADERS) {
      const n = random(16);
      const pt = random(size);
      const want = ref.encrypt(n, pt, { header: h });
      const got = await encrypt(n, pt, h);
      if (!same(got.ciphertext, want.ciphertext)) return `ciphertext differs at ${size} bytes, header ${h.length}`;
      if (!same(got.tag, want.tag)) return `tag differs at ${size} bytes, header ${h.length}`;
    }
  }
  return null;
}

/** Decryption returns the plaintext and refuses a tag with one bit flipped. */
export async function checkDecrypt(bits: 128 | 256, decrypt: DecryptFn): Promise<Verdict> {
  const ref = reference(bits).eax;
  for (const size of CHECK_SIZES) {
    const n = random(16);
    const pt = random(size);
    const sealed = ref.encrypt(n, pt, { header });
    if (!same(await decrypt(n, sealed.ciphertext, sealed.tag, header), pt)) return `plaintext differs at ${size} bytes`;
    const bad = new Uint8Array(sealed.tag);
    bad[size % 16]! ^= 1;
    let rejected = false;
    try {
      await decrypt(n, sealed.ciphertext, bad, header);
    } catch {
      rejected = true;
    }
    if (!rejected) return `accepted a wrong tag at ${size} bytes`;
  }
  return null;
}

/** CTR over the whole 16-byte block as a big-endian counter, across every carry. */
export function checkCtr(bits: 128 | 256, ctr: (counter: Uint8Array, data: Uint8Array) => Uint8Array): Verdict {
  const ref = reference(bits).backend;
  for (const c of carryCounters()) {
    for (const size of [1, 15, 16, 17, 100, 1000]) {
      const data = random(size);
      if (!same(ctr(c, data), ref.ctr(c, data))) return `ctr differs at ${size} bytes from counter ${Buffer.from(c).toString('hex')}`;
    }
  }
  return null;
}

export function checkBlocks(encryptBlocks: (blocks: Uint8Array) => Uint8Array): Verdict {
  const ref = reference(128).backend;
  for (const n of [1, 2, 4, 63]) {
    const b = random(16 * n);
    if (!same(encryptBlocks(b), ref.encryptBlocks(b))) return `blocks differ at ${16 * n} bytes`;
  }
  return null;
}

/** CBC encryption with a zero IV: each block enciphered after the previous ciphertext block is added. */
export function checkCbc(cbc: (blocks: Uint8Array) => Uint8Array): Verdict {
  const ref = reference(128).backend;
  for (const n of [1, 2, 4, 63]) {
    const b = random(16 * n);
    const want = new Uint8Array(16 * n);
    let previous: Uint8Array = new Uint8Array(16);
    for (let i = 0; i < n; i++) {
      const x = b.slice(16 * i, 16 * i + 16).map((v, j) => v ^ previous[j]!);
      previous = ref.encryptBlocks(x);
      want.set(previous, 16 * i);
    }
    if (!same(cbc(b), want)) return `cbc differs at ${16 * n} bytes`;
  }
  return null;
}

export function checkCmac(cmac: (message: Uint8Array) => Uint8Array): Verdict {
  const ref = reference(128).backend;
  for (const size of CHECK_SIZES) {
    const m = random(size);
    if (!same(cmac(m), ref.cmac(m))) return `cmac differs at ${size} bytes`;
  }
  return null;
}

/** Runs a check, turning a throw into a verdict. */
export async function guard(check: () => Verdict | Promise<Verdict>): Promise<Verdict> {
  try {
    return await check();
  } catch (e) {
    return `threw: ${e instanceof Error ? e.message : String(e)}`;
  }
}
