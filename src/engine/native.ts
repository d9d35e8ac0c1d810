import { createCipheriv, type Cipher } from 'node:crypto';
import { InputError, SealcamError } from '../errors.js';
import { decryptEach, encryptEach } from './run.js';
import type { CipherBackend, EaxState, RunMessage } from './types.js';

/**
 * The node:crypto twin: CTR from aes-*-ctr (OpenSSL increments the whole 16-byte block, as EAX
 * requires) and OMAC from aes-*-cbc plus the CMAC subkeys. It is the reference the WASM engine is
 * checked and benchmarked against. It uses AES-NI where OpenSSL does.
 *
 * node:crypto cannot give a context a new IV, and a context costs a key schedule and a few objects
 * to make, so a key keeps one CBC context (CbcChain) for all its OMACs, and one ECB context; only
 * CTR, whose IV is each message's N, gets a context per message. Every update() still returns a
 * fresh Buffer (node:crypto has no way to write into the caller's), which is why a message's
 * ciphertext is copied into place and the CBC output is wiped and dropped.
 */

const ZERO_BLOCK = new Uint8Array(16);

/** Doubling in GF(2^128) with the CMAC polynomial, branch-free. */
export function dbl(block: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  const msb = block[0]! >> 7;
  for (let i = 0; i < 15; i++) out[i] = ((block[i]! << 1) | (block[i + 1]! >> 7)) & 0xff;
  out[15] = ((block[15]! << 1) & 0xff) ^ (0x87 & -msb);
  return out;
}

/**
 * One CBC context serving any number of CBC-MACs under its key, interleaved as they come. A CBC
 * context always chains from the last block it output; a MAC whose own chain stands at S continues
 * by feeding its next block XORed with S ^ that last block, so the context computes
 * E(block ^ S) as if it were the MAC's alone (a MAC starts at S = 0, the zero IV). XOR only: no
 * branch or index depends on the data.
 */
class CbcChain {
  private readonly cbc: Cipher;
  /** The context's chaining value: the last block it output. */
  private readonly last = new Uint8Array(16);
  private readonly first = new Uint8Array(16);

  constructor(name: string, key: Uint8Array) {
    this.cbc = createCipheriv(name, key, ZERO_BLOCK).setAutoPadding(false);
  }

  /** Continues the MAC whose chain is `state` over `block` (16 bytes), then `rest` (whole blocks); `state` becomes its new chain value. */
  absorb(state: Uint8Array, block: Uint8Array, rest?: Uint8Array): void {
    for (let i = 0; i < 16; i++) this.first[i] = block[i]! ^ state[i]! ^ this.last[i]!;
    let out = this.cbc.update(this.first);
    if (rest !== undefined && rest.length > 0) {
      out.fill(0);
      out = this.cbc.update(rest);
    }
    const tail = out.subarray(out.length - 16);
    state.set(tail);
    this.last.set(tail);
    out.fill(0);
    this.first.fill(0);
  }

  /** Frees the context (and its key schedule) now rather than at garbage collection. */
  dispose(): void {
    this.cbc.final();
    this.last.fill(0);
  }
}

class NativeOmac {
  /** This MAC's CBC chaining value. */
  private readonly state = new Uint8Array(16);
  private readonly pending = new Uint8Array(16);
  private pendingLength: number;

  /** `tweak` is EAX's t (0, 1, 2), or -1 for plain CMAC with no tweak block. */
  constructor(
    private readonly backend: NativeBackend,
    tweak: number,
  ) {
    if (tweak >= 0) {
      this.pending[15] = tweak;
      this.pendingLength = 16;
    } else {
      this.pendingLength = 0;
    }
  }

  update(data: Uint8Array): void {
    let offset = 0;
    while (offset < data.length) {
      if (this.pendingLength === 16) {
        // More data follows, so the pending block is not the last one: chain it, with every whole
        // block but the last of the data straight after it (no copy).
        const run = data.length - offset > 16 ? (data.length - offset - 1) & ~15 : 0;
        this.backend.chain().absorb(this.state, this.pending, data.subarray(offset, offset + run));
        offset += run;
        this.pendingLength = 0;
      }
      const take = Math.min(16 - this.pendingLength, data.length - offset);
      this.pending.set(data.subarray(offset, offset + take), this.pendingLength);
      this.pendingLength += take;
      offset += take;
    }
  }

  digest(): Uint8Array {
    const last = new Uint8Array(16);
    if (this.pendingLength === 16) {
      const k1 = this.backend.subkeys()[0];
      for (let i = 0; i < 16; i++) last[i] = this.pending[i]! ^ k1[i]!;
    } else {
      const k2 = this.backend.subkeys()[1];
      last.set(this.pending.subarray(0, this.pendingLength));
      last[this.pendingLength] = 0x80;
      for (let i = 0; i < 16; i++) last[i]! ^= k2[i]!;
    }
    this.backend.chain().absorb(this.state, last);
    const mac = this.state.slice();
    last.fill(0);
    this.pending.fill(0);
    this.state.fill(0);
    return mac;
  }
}

class NativeEax implements EaxState {
  private readonly backend: NativeBackend;
  private readonly n: Uint8Array;
  private readonly h: NativeOmac;
  private readonly c: NativeOmac;
  private readonly ctr: Cipher;

  constructor(backend: NativeBackend, nonce: Uint8Array) {
    this.backend = backend;
    const omacN = new NativeOmac(backend, 0);
    omacN.update(nonce);
    this.n = omacN.digest();
    this.h = new NativeOmac(backend, 1);
    this.c = new NativeOmac(backend, 2);
    this.ctr = createCipheriv(backend.ctrName, backend.key, this.n);
  }

  header(data: Uint8Array): void {
    this.backend.live();
    this.h.update(data);
  }

  // node:crypto returns a new Buffer per update(): copy it into `out` and let it go.
  encryptInto(data: Uint8Array, out: Uint8Array): void {
    this.backend.live();
    out.set(this.ctr.update(data));
    this.c.update(out);
  }

  decryptInto(data: Uint8Array, out: Uint8Array): void {
    this.backend.live();
    this.c.update(data);
    const plain = this.ctr.update(data);
    out.set(plain);
    plain.fill(0);
  }

  tag(): Uint8Array {
    this.backend.live();
    const h = this.h.digest();
    const c = this.c.digest();
    const t = new Uint8Array(16);
    for (let i = 0; i < 16; i++) t[i] = this.n[i]! ^ h[i]! ^ c[i]!;
    this.ctr.final();
    return t;
  }

  dispose(): void {
    this.n.fill(0);
  }
}

export class NativeBackend implements CipherBackend {
  readonly engine = 'native' as const;
  readonly keyLength: 16 | 24 | 32;
  readonly key: Uint8Array;
  readonly cbcName: string;
  readonly ctrName: string;
  private readonly ecbName: string;
  private k1k2: [Uint8Array, Uint8Array] | undefined;
  private cbc: CbcChain | undefined;
  private ecb: Cipher | undefined;
  private disposed = false;

  constructor(key: Uint8Array) {
    this.key = new Uint8Array(key);
    this.keyLength = key.length as 16 | 24 | 32;
    const bits = key.length * 8;
    this.cbcName = `aes-${bits}-cbc`;
    this.ctrName = `aes-${bits}-ctr`;
    this.ecbName = `aes-${bits}-ecb`;
  }

  /** Refuses use after dispose(), as the WASM engine does (its key schedule is gone). */
  live(): void {
    if (this.disposed) throw new SealcamError('EDISPOSED', 'this key was disposed');
  }

  /** The CBC context every OMAC under this key chains through. */
  chain(): CbcChain {
    return (this.cbc ??= new CbcChain(this.cbcName, this.key));
  }

  /** CMAC subkeys K1 = dbl(L), K2 = dbl(K1) with L = E_K(0^128). */
  subkeys(): [Uint8Array, Uint8Array] {
    if (!this.k1k2) {
      const l = this.encryptBlocks(ZERO_BLOCK);
      const k1 = dbl(l);
      this.k1k2 = [k1, dbl(k1)];
      l.fill(0);
    }
    return this.k1k2;
  }

  encryptBlocks(blocks: Uint8Array): Uint8Array {
    this.live();
    // A partial block would stay behind in the shared context and shift every later call.
    if (blocks.length % 16 !== 0) throw new InputError(`ECB takes whole 16-byte blocks, got ${blocks.length} bytes`);
    // ECB has no chain: one context serves every call (whole blocks come out of update() at once).
    this.ecb ??= createCipheriv(this.ecbName, this.key, null).setAutoPadding(false);
    const out = this.ecb.update(blocks);
    const blocksOut = new Uint8Array(out);
    out.fill(0);
    return blocksOut;
  }

  ctr(counter: Uint8Array, data: Uint8Array): Uint8Array {
    this.live();
    const c = createCipheriv(this.ctrName, this.key, counter);
    const out = new Uint8Array(c.update(data));
    c.final();
    return out;
  }

  cmac(message: Uint8Array): Uint8Array {
    this.live();
    const omac = new NativeOmac(this, -1);
    omac.update(message);
    return omac.digest();
  }

  eax(nonce: Uint8Array): EaxState {
    this.live();
    return new NativeEax(this, nonce);
  }

  encryptRun(header: Uint8Array, messages: readonly RunMessage[]): void {
    encryptEach(this, header, messages);
  }

  decryptRun(header: Uint8Array, messages: readonly RunMessage[]): number {
    return decryptEach(this, header, messages);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.key.fill(0);
    if (this.k1k2) for (const k of this.k1k2) k.fill(0);
    this.cbc?.dispose();
    this.ecb?.final();
  }
}
