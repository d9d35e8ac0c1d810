import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { SealcamError } from '../errors.js';
import { wasmPath } from '../paths.js';
import { decryptOne, encryptOne, tagsEqual } from './run.js';
import type { CipherBackend, EaxState, RunMessage } from './types.js';

/**
 * The binding to the AssemblyScript engine (assembly/). One instance per thread; all buffers
 * live in its linear memory at fixed places so the hot path allocates nothing:
 *
 *   [heapBase]  IO region (CHUNK bytes): input is copied in, processed in place, copied out
 *               (two messages at once: one in each half)
 *   [scratch]   64 bytes for counters and tags
 *   [slots]     key and message contexts, SLOT bytes each, reused through a free list
 */

interface Exports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  keyContextSize(): number;
  messageContextSize(): number;
  omacStateSize(): number;
  setKey(k: number, key: number, length: number): number;
  encryptBlocks(k: number, input: number, output: number, blocks: number): void;
  ctrXor(k: number, counter: number, input: number, output: number, length: number): void;
  cmacInit(k: number, state: number): void;
  cmacUpdate(k: number, state: number, data: number, length: number): void;
  cmacFinal(k: number, state: number, tag: number): void;
  eaxInit(k: number, m: number): void;
  eaxNonce(k: number, m: number, data: number, length: number): void;
  eaxStart(k: number, m: number): void;
  eaxHeader(k: number, m: number, data: number, length: number): void;
  eaxEncrypt(k: number, m: number, input: number, output: number, length: number): void;
  eaxDecrypt(k: number, m: number, input: number, output: number, length: number): void;
  eaxEncryptTwo(k: number, m1: number, m2: number, data1: number, data2: number, length: number): void;
  eaxDecryptTwo(k: number, m1: number, m2: number, data1: number, data2: number, length: number): void;
  eaxFinal(k: number, m: number, tag: number): void;
  wipeScratch(): void;
}

/** Bytes processed per call into the engine (a multiple of 16). */
export const CHUNK = 1 << 20;
const SLOT = 512;
const PAGE = 65536;

/**
 * Two builds of the same engine: `relaxed` uses relaxed_swizzle (a bare pshufb/tbl: faster on x86,
 * where V8 wraps every plain swizzle in a range fix-up; the bench's `simd` rows show by how much on
 * the machine at hand) and `simd` uses only
 * WebAssembly SIMD 1.0. Both are constant time and give identical results (the tests check both).
 * Node >= 22 runs relaxed SIMD by default; Node 20 has it behind a V8 flag, which we turn on
 * before compiling. SEALCAM_WASM=simd forces the baseline build.
 */
export type WasmVariant = 'relaxed' | 'simd';

let compiled: { module: WebAssembly.Module; variant: WasmVariant } | undefined;

function readBuild(variant: WasmVariant): Uint8Array {
  const path = wasmPath(variant);
  try {
    return readFileSync(path);
  } catch {
    throw new SealcamError('ENOWASM', `the WASM engine is not built (${path} is missing): run npm run build`);
  }
}

function relaxedSimdAvailable(probe: Uint8Array): boolean {
  if (WebAssembly.validate(probe)) return true;
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false;
  }
  return WebAssembly.validate(probe);
}

function chooseVariant(): WasmVariant {
  const wanted = process.env.SEALCAM_WASM;
  if (wanted !== undefined && wanted !== '' && wanted !== 'simd' && wanted !== 'relaxed') {
    throw new SealcamError('EINPUT', `SEALCAM_WASM must be 'simd' or 'relaxed', got '${wanted}'`);
  }
  if (wanted === 'simd') return 'simd';
  return relaxedSimdAvailable(readBuild('relaxed')) ? 'relaxed' : 'simd';
}

/**
 * Compile with every function optimised up front. V8's default (dynamic tiering) starts each
 * function in its baseline compiler and optimises it only once hot, so the first tens of MB of a
 * fresh process ran slower (the bench's streamed rows, each in a fresh child, show it). The module
 * is small; the flag is V8-wide, so it is set only around this compile.
 */
function compileEagerly(bytes: Uint8Array): WebAssembly.Module {
  try {
    setFlagsFromString('--no-wasm-dynamic-tiering');
    return new WebAssembly.Module(bytes);
  } finally {
    setFlagsFromString('--wasm-dynamic-tiering');
  }
}

/** The compiled engine, compiled once per process; workers may be handed it instead. */
export function wasmModule(): WebAssembly.Module {
  if (!compiled) {
    const variant = chooseVariant();
    compiled = { module: compileEagerly(readBuild(variant)), variant };
  }
  return compiled.module;
}

/** Which build this thread runs. */
export function wasmVariant(): WasmVariant {
  wasmModule();
  return compiled!.variant;
}

export function useWasmModule(module: WebAssembly.Module, variant: WasmVariant): void {
  compiled = { module, variant };
}

class Runtime {
  readonly x: Exports;
  readonly io: number;
  readonly scratch: number;
  private view: Uint8Array;
  private nextSlot: number;
  private readonly freeSlots: number[] = [];

  constructor() {
    this.x = new WebAssembly.Instance(wasmModule(), { env: { abort: abortFromWasm } }).exports as unknown as Exports;
    if (Math.max(this.x.keyContextSize(), this.x.messageContextSize(), this.x.omacStateSize()) > SLOT) {
      throw new Error('sealcam: engine contexts outgrew the binding slot size');
    }
    this.io = align(this.x.heapBase(), 64);
    this.scratch = this.io + CHUNK + 64;
    this.nextSlot = this.scratch + 64;
    this.ensure(this.nextSlot + 16 * SLOT);
    this.view = new Uint8Array(this.x.memory.buffer);
  }

  /** A view of linear memory, renewed after the memory grew. */
  get u8(): Uint8Array {
    if (this.view.buffer !== this.x.memory.buffer) this.view = new Uint8Array(this.x.memory.buffer);
    return this.view;
  }

  private ensure(end: number): void {
    const have = this.x.memory.buffer.byteLength;
    if (end > have) this.x.memory.grow(Math.ceil((end - have) / PAGE));
  }

  alloc(): number {
    const reused = this.freeSlots.pop();
    if (reused !== undefined) return reused;
    const slot = this.nextSlot;
    this.nextSlot += SLOT;
    this.ensure(this.nextSlot);
    return slot;
  }

  /** Wipe a context (and the engine's result scratch, which may hold its state) and reuse it. */
  free(slot: number): void {
    this.u8.fill(0, slot, slot + SLOT);
    this.x.wipeScratch();
    this.freeSlots.push(slot);
  }

  /**
   * Run `fn` over `data` in CHUNK pieces through the IO region; the processed bytes go to `out`
   * (data.length bytes) when given. Each piece is read before its output is written, so `out` may
   * be `data` itself.
   */
  stream(data: Uint8Array, fn: (io: number, length: number) => void, out?: Uint8Array): void {
    for (let offset = 0; offset < data.length; offset += CHUNK) {
      const piece = data.subarray(offset, offset + CHUNK);
      this.u8.set(piece, this.io);
      fn(this.io, piece.length);
      out?.set(this.u8.subarray(this.io, this.io + piece.length), offset);
    }
    this.u8.fill(0, this.io, this.io + Math.min(data.length, CHUNK));
  }

  /** stream() for two inputs of equal length in lockstep, one in each half of the IO region. */
  streamTwo(a: Uint8Array, b: Uint8Array, fn: (ioA: number, ioB: number, length: number) => void, outA: Uint8Array, outB: Uint8Array): void {
    const half = CHUNK / 2;
    const ioB = this.io + half;
    for (let offset = 0; offset < a.length; offset += half) {
      const pieceA = a.subarray(offset, offset + half);
      const pieceB = b.subarray(offset, offset + half);
      this.u8.set(pieceA, this.io);
      this.u8.set(pieceB, ioB);
      fn(this.io, ioB, pieceA.length);
      outA.set(this.u8.subarray(this.io, this.io + pieceA.length), offset);
      outB.set(this.u8.subarray(ioB, ioB + pieceB.length), offset);
    }
    const used = Math.min(a.length, half);
    this.u8.fill(0, this.io, this.io + used);
    this.u8.fill(0, ioB, ioB + used);
  }

  /** Copy 16 bytes out of scratch and wipe them. */
  takeBlock(at: number): Uint8Array {
    const block = this.u8.slice(at, at + 16);
    this.u8.fill(0, at, at + 16);
    return block;
  }
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

function abortFromWasm(): never {
  throw new Error('sealcam: the WASM engine aborted (a bug: please report it)');
}

let runtime: Runtime | undefined;
function rt(): Runtime {
  return (runtime ??= new Runtime());
}

// Slots of keys and messages that were garbage-collected without dispose(): wipe and reuse them.
const orphans = new FinalizationRegistry<number>((slot) => runtime?.free(slot));

class WasmEax implements EaxState {
  private m: number;

  constructor(
    private readonly backend: WasmBackend,
    nonce: Uint8Array,
  ) {
    const r = rt();
    const k = backend.slot();
    this.m = r.alloc();
    orphans.register(this, this.m, this);
    r.x.eaxInit(k, this.m);
    r.stream(nonce, (io, n) => r.x.eaxNonce(k, this.m, io, n));
    r.x.eaxStart(k, this.m);
  }

  /** The engine's context of this message, for the two-at-once kernels. */
  get context(): number {
    return this.m;
  }

  header(data: Uint8Array): void {
    const r = rt();
    const k = this.backend.slot();
    r.stream(data, (io, n) => r.x.eaxHeader(k, this.m, io, n));
  }

  encryptInto(data: Uint8Array, out: Uint8Array): void {
    const r = rt();
    const k = this.backend.slot();
    r.stream(data, (io, n) => r.x.eaxEncrypt(k, this.m, io, io, n), out);
  }

  decryptInto(data: Uint8Array, out: Uint8Array): void {
    const r = rt();
    const k = this.backend.slot();
    r.stream(data, (io, n) => r.x.eaxDecrypt(k, this.m, io, io, n), out);
  }

  tag(): Uint8Array {
    const r = rt();
    r.x.eaxFinal(this.backend.slot(), this.m, r.scratch);
    return r.takeBlock(r.scratch);
  }

  dispose(): void {
    if (this.m === 0) return;
    orphans.unregister(this);
    rt().free(this.m);
    this.m = 0;
  }
}

/** A run in steps: two equal-length neighbours together, a message without one alone; with the first one's index. */
function* steps(messages: readonly RunMessage[]): Generator<[number, RunMessage, RunMessage | undefined]> {
  for (let i = 0; i < messages.length; ) {
    const a = messages[i]!;
    const b = messages[i + 1];
    const paired = b !== undefined && b.data.length === a.data.length;
    yield [i, a, paired ? b : undefined];
    i += paired ? 2 : 1;
  }
}

export class WasmBackend implements CipherBackend {
  readonly engine = 'wasm' as const;
  readonly keyLength: 16 | 24 | 32;
  private k: number;

  constructor(key: Uint8Array) {
    const r = rt();
    this.keyLength = key.length as 16 | 24 | 32;
    this.k = r.alloc();
    r.u8.set(key, r.scratch);
    const status = r.x.setKey(this.k, r.scratch, key.length);
    r.u8.fill(0, r.scratch, r.scratch + 64);
    if (status !== 0) throw new Error('sealcam: the WASM engine refused a key the binding accepted');
    orphans.register(this, this.k, this);
  }

  slot(): number {
    if (this.k === 0) throw new SealcamError('EDISPOSED', 'this key was disposed');
    return this.k;
  }

  encryptBlocks(blocks: Uint8Array): Uint8Array {
    const r = rt();
    const k = this.slot();
    const out = new Uint8Array(blocks.length);
    r.stream(blocks, (io, n) => r.x.encryptBlocks(k, io, io, n >>> 4), out);
    return out;
  }

  ctr(counter: Uint8Array, data: Uint8Array): Uint8Array {
    const r = rt();
    const k = this.slot();
    r.u8.set(counter, r.scratch);
    const out = new Uint8Array(data.length);
    r.stream(data, (io, n) => r.x.ctrXor(k, r.scratch, io, io, n), out);
    r.u8.fill(0, r.scratch, r.scratch + 16);
    return out;
  }

  cmac(message: Uint8Array): Uint8Array {
    const r = rt();
    const k = this.slot();
    const s = r.alloc();
    r.x.cmacInit(k, s);
    r.stream(message, (io, n) => r.x.cmacUpdate(k, s, io, n));
    r.x.cmacFinal(k, s, r.scratch);
    r.free(s);
    return r.takeBlock(r.scratch);
  }

  eax(nonce: Uint8Array): EaxState {
    return new WasmEax(this, nonce);
  }

  /**
   * Two messages of equal length go through the two-at-once kernels, so each one's serial OMAC
   * chain fills the other's gaps; a message without an equal-length neighbour runs alone.
   */
  encryptRun(header: Uint8Array, messages: readonly RunMessage[]): void {
    for (const [, a, b] of steps(messages)) {
      if (b === undefined) {
        encryptOne(this, header, a);
        continue;
      }
      const tags = this.pair('encrypt', header, a, b);
      a.tag.set(tags[0]);
      b.tag.set(tags[1]);
      for (const t of tags) t.fill(0);
    }
  }

  decryptRun(header: Uint8Array, messages: readonly RunMessage[]): number {
    for (const [i, a, b] of steps(messages)) {
      if (b === undefined) {
        if (!decryptOne(this, header, a)) return i;
        continue;
      }
      const tags = this.pair('decrypt', header, a, b);
      const okA = tagsEqual(tags[0], a.tag);
      const okB = tagsEqual(tags[1], b.tag);
      for (const t of tags) t.fill(0);
      if (!okA) return i;
      if (!okB) return i + 1;
    }
    return -1;
  }

  /** Two equal-length messages in place under one header, at once; returns their full tags. */
  private pair(op: 'encrypt' | 'decrypt', header: Uint8Array, a: RunMessage, b: RunMessage): [Uint8Array, Uint8Array] {
    const r = rt();
    const k = this.slot();
    const ma = new WasmEax(this, a.nonce);
    const mb = new WasmEax(this, b.nonce);
    try {
      ma.header(header);
      mb.header(header);
      const kernel = op === 'encrypt' ? r.x.eaxEncryptTwo : r.x.eaxDecryptTwo;
      r.streamTwo(a.data, b.data, (ioA, ioB, n) => kernel(k, ma.context, mb.context, ioA, ioB, n), a.data, b.data);
      return [ma.tag(), mb.tag()];
    } finally {
      ma.dispose();
      mb.dispose();
    }
  }

  dispose(): void {
    if (this.k === 0) return;
    orphans.unregister(this);
    rt().free(this.k);
    this.k = 0;
  }
}
