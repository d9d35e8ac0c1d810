/**
 * AES-EAX built from other libraries' primitives, for the benchmark (bench/run.ts) only.
 *
 * EAX (Bellare, Rogaway, Wagner 2004) is a composition of two modes under one key:
 *
 *   N   = OMAC^0(nonce)          OMAC^t(M) = CMAC([t]_16 || M), [t]_16 = 15 zero bytes then t
 *   H   = OMAC^1(header)
 *   C   = CTR_N(M)               CTR with the whole 16-byte block as a big-endian counter
 *   tag = N ^ H ^ OMAC^2(C)
 *
 * `eaxFrom` below is the ONE place that composition is written; each library contributes only
 * a CTR function and an OMAC^t function (small adapters further down). Libraries that have CBC but
 * no CMAC get their OMAC from `omacFromCbc` (CBC-MAC with a zero IV plus the CMAC subkeys).
 *
 * None of this is constant time (the three libraries use table look-ups) and none of it is meant
 * for production: it exists to give the WASM engine an honest pure-JavaScript yardstick. Every
 * peer is checked bit for bit against sealcam's node:crypto engine before it is timed.
 */
import { timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { cbc as nobleCbc, ctr as nobleCtr, ecb as nobleEcb } from '@noble/ciphers/aes.js';
import { AES_CMAC, AES_CTR } from 'asmcrypto.js';

/** The part of aes-js 3.1 used here (the package ships no typings). */
interface AesJs {
  Counter: new (initial: Uint8Array) => object;
  ModeOfOperation: {
    ctr: new (key: Uint8Array, counter: object) => { encrypt(data: Uint8Array): Uint8Array };
    cbc: new (key: Uint8Array, iv: Uint8Array) => { encrypt(blocks: Uint8Array): Uint8Array };
    ecb: new (key: Uint8Array) => { encrypt(blocks: Uint8Array): Uint8Array };
  };
}
const aesjs = createRequire(import.meta.url)('aes-js') as AesJs;

/** What a library has to provide for EAX. Both must leave their inputs untouched. */
export interface EaxPrimitives {
  /** CTR over `data` starting at the 16-byte big-endian counter block `counter` (full 128-bit carry). */
  ctr(counter: Uint8Array, data: Uint8Array): Uint8Array;
  /** OMAC^t(data) = CMAC over the block [t]_16 followed by `data`; 16-byte result. */
  omac(tweak: 0 | 1 | 2, data: Uint8Array): Uint8Array;
}

export interface PeerEax {
  encrypt(nonce: Uint8Array, plaintext: Uint8Array, header: Uint8Array): { ciphertext: Uint8Array; tag: Uint8Array };
  /** Verifies the full 16-byte tag (throws on a mismatch) and returns the plaintext. */
  decrypt(nonce: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, header: Uint8Array): Uint8Array;
}

export interface Peer {
  /** Row label in the tables (the operation names the algorithm). */
  readonly name: string;
  readonly eax: PeerEax;
  readonly primitives: EaxPrimitives;
}

function xor3(a: Uint8Array, b: Uint8Array, c: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = a[i]! ^ b[i]! ^ c[i]!;
  return out;
}

/** The generic EAX composition, shared by every peer. */
export function eaxFrom(p: EaxPrimitives): PeerEax {
  return {
    encrypt(nonce, plaintext, header) {
      const n = p.omac(0, nonce);
      const h = p.omac(1, header);
      const ciphertext = p.ctr(n, plaintext);
      const tag = xor3(n, h, p.omac(2, ciphertext));
      return { ciphertext, tag };
    },
    decrypt(nonce, ciphertext, tag, header) {
      const n = p.omac(0, nonce);
      const h = p.omac(1, header);
      const expected = xor3(n, h, p.omac(2, ciphertext));
      if (tag.length !== 16 || !timingSafeEqual(expected, tag)) throw new Error('EAX tag mismatch');
      return p.ctr(n, ciphertext);
    },
  };
}

/** The CMAC doubling in GF(2^128) (x * L with the polynomial x^128 + x^7 + x^2 + x + 1). */
function dbl(block: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 15; i++) out[i] = ((block[i]! << 1) | (block[i + 1]! >> 7)) & 0xff;
  out[15] = ((block[15]! << 1) & 0xff) ^ (block[0]! & 0x80 ? 0x87 : 0);
  return out;
}

/** CBC pieces are fed to the library this many bytes at a time (bounded allocations). */
const CBC_PIECE = 256 * 1024;

/**
 * OMAC^t from a block cipher and CBC: OMAC^t(M) is CBC-MAC with a zero IV over [t]_16 || M in
 * which the last block is first XORed with K1 (complete) or padded 10* and XORed with K2; the
 * subkeys are K1 = dbl(E(0)), K2 = dbl(K1). The CBC runs in pieces, each started with the IV set
 * to the previous piece's last ciphertext block, which is the same as one CBC over the whole input.
 */
export function omacFromCbc(
  encryptBlock: (block: Uint8Array) => Uint8Array,
  cbcEncrypt: (iv: Uint8Array, blocks: Uint8Array) => Uint8Array,
): EaxPrimitives['omac'] {
  const k1 = dbl(encryptBlock(new Uint8Array(16)));
  const k2 = dbl(k1);
  return (tweak, data) => {
    const first = new Uint8Array(16);
    first[15] = tweak;
    if (data.length === 0) {
      // The tweak block is the only, complete, block.
      for (let i = 0; i < 16; i++) first[i]! ^= k1[i]!;
      return encryptBlock(first);
    }
    // Every block but the last (1..16 bytes) is plain CBC.
    const body = (data.length - 1) & ~15;
    let x = encryptBlock(first);
    for (let at = 0; at < body; at += CBC_PIECE) {
      const out = cbcEncrypt(x, data.subarray(at, Math.min(at + CBC_PIECE, body)));
      x = out.slice(out.length - 16);
    }
    const rest = data.length - body;
    const last = new Uint8Array(16);
    last.set(data.subarray(body));
    const k = rest === 16 ? k1 : k2;
    if (rest < 16) last[rest] = 0x80;
    for (let i = 0; i < 16; i++) last[i]! ^= k[i]! ^ x[i]!;
    return encryptBlock(last);
  };
}

function peer(name: string, primitives: EaxPrimitives): Peer {
  return { name, primitives, eax: eaxFrom(primitives) };
}

/**
 * @noble/ciphers: CTR from `ctr(key, counter)` (full 128-bit big-endian counter, which is what
 * EAX needs), OMAC from `cbc(key, iv, { disablePadding: true })` plus the subkeys from
 * `ecb(key, { disablePadding: true })` via omacFromCbc. (noble 2.x also has a `cmac`; the CBC
 * route keeps noble and aes-js on the same construction.)
 */
export function noblePeer(key: Uint8Array): Peer {
  const k = new Uint8Array(key);
  const encryptBlock = (block: Uint8Array): Uint8Array => nobleEcb(k, { disablePadding: true }).encrypt(block);
  const cbcEncrypt = (iv: Uint8Array, blocks: Uint8Array): Uint8Array =>
    nobleCbc(k, iv, { disablePadding: true }).encrypt(blocks);
  return peer('@noble/ciphers', {
    ctr: (counter, data) => nobleCtr(k, new Uint8Array(counter)).encrypt(data),
    omac: omacFromCbc(encryptBlock, cbcEncrypt),
  });
}

/** Counter blocks AES_CTR can run from `counter` before its low 48 bits wrap. */
function blocksBefore48BitWrap(counter: Uint8Array): number {
  let low = 0;
  for (let i = 10; i < 16; i++) low = low * 256 + counter[i]!;
  return 2 ** 48 - low;
}

/** The counter after its low 48 bits wrapped: those bits zero, 1 carried into the upper 80 bits. */
function carryPast48Bits(counter: Uint8Array): Uint8Array {
  const c = new Uint8Array(counter);
  c.fill(0, 10, 16);
  for (let i = 9; i >= 0; i--) {
    c[i] = (c[i]! + 1) & 0xff;
    if (c[i] !== 0) break;
  }
  return c;
}

/**
 * asmcrypto.js: CTR from AES_CTR and OMAC from AES_CMAC fed the tweak block then the data
 * (it streams, so nothing is copied). AES_CTR counts in the low 48 bits of the block only (the
 * upper 80 bits never change; its API allows no wider counter, and widening the mask of its asm.js
 * core does not carry correctly past a zero word), while EAX counts with the whole 128-bit
 * block. So the adapter runs AES_CTR up to the point where the low 48 bits wrap and restarts it
 * there with the carry applied by hand. That point is 2^48 blocks apart: in practice the message
 * is one AES_CTR call, and the split only shows in the cross-check's carry test.
 */
export function asmcryptoPeer(key: Uint8Array): Peer {
  const k = new Uint8Array(key);
  const tweaks = [0, 1, 2].map((t) => {
    const b = new Uint8Array(16);
    b[15] = t;
    return b;
  });
  return peer('asmcrypto.js', {
    ctr(counter, data) {
      const first = Math.min(data.length, blocksBefore48BitWrap(counter) * 16);
      const head = new AES_CTR(k, counter).encrypt(data.subarray(0, first));
      if (first === data.length) return head;
      const out = new Uint8Array(data.length);
      out.set(head);
      out.set(new AES_CTR(k, carryPast48Bits(counter)).encrypt(data.subarray(first)), first);
      return out;
    },
    omac(tweak, data) {
      const mac = new AES_CMAC(k).process(tweaks[tweak]!);
      if (data.length > 0) mac.process(data);
      return mac.finish().result!;
    },
  });
}

/**
 * aes-js: CTR from ModeOfOperation.ctr with a Counter over the whole 16-byte block (it carries
 * through all 16 bytes), OMAC from ModeOfOperation.cbc plus ModeOfOperation.ecb via omacFromCbc.
 */
export function aesjsPeer(key: Uint8Array): Peer {
  const k = new Uint8Array(key);
  const ecb = new aesjs.ModeOfOperation.ecb(k);
  const encryptBlock = (block: Uint8Array): Uint8Array => ecb.encrypt(block);
  const cbcEncrypt = (iv: Uint8Array, blocks: Uint8Array): Uint8Array =>
    new aesjs.ModeOfOperation.cbc(k, iv).encrypt(blocks);
  return peer('aes-js', {
    ctr: (counter, data) => new aesjs.ModeOfOperation.ctr(k, new aesjs.Counter(new Uint8Array(counter))).encrypt(data),
    omac: omacFromCbc(encryptBlock, cbcEncrypt),
  });
}

/** All peers, in table order. */
export const PEERS: ReadonlyArray<(key: Uint8Array) => Peer> = [noblePeer, asmcryptoPeer, aesjsPeer];
