import { platform } from '#platform';
import { SealcamError } from '../errors.js';
import type { CompiledEngine, WasmVariant } from '../platform/platform.js';
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
  eaxEncryptFour(k: number, m1: number, m2: number, m3: number, m4: number, d1: number, d2: number, d3: number, d4: number, length: number): void;
  eaxDecryptFour(k: number, m1: number, m2: number, m3: number, m4: number, d1: number, d2: number, d3: number, d4: number, length: number): void;
  encryptBlocksInFlight(k: number, input: number, output: number, blocks: number, lanes: number, bitsliced: number): number;
  selectAesKernel(kernel: number): void;
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
 * The platform chooses and compiles one (src/platform: on Node from build/, in a browser by
 * sealcam/browser's loadEngine).
 */
export type { WasmVariant };

let compiled: (CompiledEngine & { instance?: WebAssembly.Instance }) | undefined;

function engine(): CompiledEngine & { instance?: WebAssembly.Instance } {
  return (compiled ??= platform.compileEngine());
}

/** The compiled engine, compiled once per thread; workers may be handed it instead. */
export function wasmModule(): WebAssembly.Module {
  return engine().module;
}

/** Which build this thread runs. */
export function wasmVariant(): WasmVariant {
  return engine().variant;
}

/**
 * Either build compiled as wasmModule() compiles the one it chooses, for tools that compare the
 * builds side by side in one process (bench/kernels.ts). Throws if `variant` cannot run here.
 */
export function compileWasmBuild(variant: WasmVariant): WebAssembly.Module {
  return platform.compileEngineBuild(variant);
}

/**
 * Run `module` (the `variant` build) on this thread; `instance`, when given, is that module
 * already instantiated with ENGINE_IMPORTS (WebAssembly.instantiateStreaming gives both).
 */
export function useWasmModule(module: WebAssembly.Module, variant: WasmVariant, instance?: WebAssembly.Instance): void {
  compiled = { module, variant, ...(instance && { instance }) };
}

/** What the engine imports: only `abort`, which the stub runtime calls on a failed assertion. */
export const ENGINE_IMPORTS = { env: { abort: abortFromWasm } };

class Runtime {
  readonly x: Exports;
  readonly io: number;
  readonly scratch: number;
  private view: Uint8Array;
  private nextSlot: number;
  private readonly freeSlots: number[] = [];

  constructor() {
    const { module, instance } = engine();
    this.x = (instance ?? new WebAssembly.Instance(module, ENGINE_IMPORTS)).exports as unknown as Exports;
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

  /**
   * stream() for up to four inputs of equal length in lockstep, each in its own quarter of the IO
   * region (pieces of CHUNK / 4 bytes, a multiple of 16, so the engine stays on block boundaries).
   */
  streamLanes(inputs: Uint8Array[], fn: (ios: number[], length: number) => void, outs: Uint8Array[]): void {
    const part = CHUNK / 4;
    const ios = inputs.map((_, i) => this.io + i * part);
    const length = inputs[0]?.length ?? 0;
    for (let offset = 0; offset < length; offset += part) {
      const n = Math.min(part, length - offset);
      inputs.forEach((input, i) => this.u8.set(input.subarray(offset, offset + n), ios[i]!));
      fn(ios, n);
      outs.forEach((out, i) => out.set(this.u8.subarray(ios[i]!, ios[i]! + n), offset));
    }
    for (const io of ios) this.u8.fill(0, io, io + Math.min(length, part));
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

/**
 * A run in steps: four equal-length neighbours together (eight AES blocks in flight), else two,
 * else a message alone; with the first one's index.
 */
function* steps(messages: readonly RunMessage[]): Generator<[number, RunMessage[]]> {
  for (let i = 0; i < messages.length; ) {
    const length = messages[i]!.data.length;
    let n = 1;
    while (n < 4 && messages[i + n]?.data.length === length) n++;
    const size = n === 4 ? 4 : n >= 2 ? 2 : 1;
    yield [i, messages.slice(i, i + size)];
    i += size;
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

  /**
   * ECB with `lanes` independent blocks in flight on one kernel (vector-permute: 1, 2, 4, 6 or 8;
   * bitsliced: 8): the AES block table of the benchmark. Whole blocks only.
   */
  encryptBlocksInFlight(blocks: Uint8Array, lanes: BlocksInFlight, kernel: AesKernel): Uint8Array {
    if (blocks.length % 16 !== 0) throw new SealcamError('EINPUT', 'ECB input must be whole 16-byte blocks');
    const r = rt();
    const k = this.slot();
    const out = new Uint8Array(blocks.length);
    r.stream(
      blocks,
      (io, n) => {
        if (r.x.encryptBlocksInFlight(k, io, io, n >>> 4, lanes, kernel === 'bitsliced' ? 1 : 0) !== 0) {
          throw new SealcamError('EINPUT', `no ${kernel} kernel runs ${lanes} blocks in flight`);
        }
      },
      out,
    );
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
   * Four (or two) messages of equal length go through the four- (two-) at-once kernels, so each
   * one's serial OMAC chain fills the others' gaps; a message without equal-length neighbours runs
   * alone. Four at once run on this thread's chosen AES kernel (aesKernel()).
   */
  encryptRun(header: Uint8Array, messages: readonly RunMessage[]): void {
    for (const [, group] of steps(messages)) {
      if (group.length === 1) {
        encryptOne(this, header, group[0]!);
        continue;
      }
      const tags = this.together('encrypt', header, group);
      group.forEach((m, i) => m.tag.set(tags[i]!));
      for (const t of tags) t.fill(0);
    }
  }

  decryptRun(header: Uint8Array, messages: readonly RunMessage[]): number {
    for (const [i, group] of steps(messages)) {
      if (group.length === 1) {
        if (!decryptOne(this, header, group[0]!)) return i;
        continue;
      }
      const tags = this.together('decrypt', header, group);
      const ok = group.map((m, j) => tagsEqual(tags[j]!, m.tag));
      for (const t of tags) t.fill(0);
      const failed = ok.indexOf(false);
      if (failed >= 0) return i + failed;
    }
    return -1;
  }

  /** Two or four equal-length messages in place under one header, at once; returns their full tags. */
  private together(op: 'encrypt' | 'decrypt', header: Uint8Array, group: readonly RunMessage[]): Uint8Array[] {
    const r = rt();
    const k = this.slot();
    if (group.length === 4) kernelForRun(group.length * group[0]!.data.length);
    const states = group.map((m) => new WasmEax(this, m.nonce));
    try {
      for (const s of states) s.header(header);
      const data = group.map((m) => m.data);
      const c = states.map((s) => s.context) as [number, number, number, number];
      if (group.length === 4) {
        const kernel = op === 'encrypt' ? r.x.eaxEncryptFour : r.x.eaxDecryptFour;
        r.streamLanes(data, ([a, b, d, e], n) => kernel(k, c[0], c[1], c[2], c[3], a!, b!, d!, e!, n), data);
      } else {
        const kernel = op === 'encrypt' ? r.x.eaxEncryptTwo : r.x.eaxDecryptTwo;
        r.streamTwo(data[0]!, data[1]!, (ioA, ioB, n) => kernel(k, c[0], c[1], ioA, ioB, n), data[0]!, data[1]!);
      }
      return states.map((s) => s.tag());
    } finally {
      for (const s of states) s.dispose();
    }
  }

  dispose(): void {
    if (this.k === 0) return;
    orphans.unregister(this);
    rt().free(this.k);
    this.k = 0;
  }
}

// ---- Many messages at once, and the choice of AES kernel ----

/** The engine's two constant-time AES kernels for eight blocks in flight (assembly/bitsliced.ts). */
export type AesKernel = 'vperm' | 'bitsliced';
export type BlocksInFlight = 1 | 2 | 4 | 6 | 8;
export const AES_KERNELS: readonly AesKernel[] = ['vperm', 'bitsliced'];
/** Every (kernel, blocks in flight) WasmBackend.encryptBlocksInFlight runs. */
export const KERNEL_LANES: readonly (readonly [AesKernel, BlocksInFlight])[] = [
  ['vperm', 1],
  ['vperm', 2],
  ['vperm', 4],
  ['vperm', 6],
  ['vperm', 8],
  ['bitsliced', 8],
];

let kernel: AesKernel | undefined;
let howChosen: KernelChoice | undefined;

/**
 * Four-message bytes a thread runs on vperm (the engine's default kernel) before it calibrates:
 * the calibration itself runs about 1 MiB of AES, as much as one camera image, so a process that
 * seals one image would spend half its crypto choosing. Past this much work it has paid for itself.
 */
export const CALIBRATE_AFTER_BYTES = 8 << 20;
let runBeforeChoice = 0;

/** Run the eight-block paths (four-message EAX, CTR, ECB) of this thread's engine on `choice`. */
export function selectAesKernel(choice: AesKernel): void {
  if (!AES_KERNELS.includes(choice)) throw new SealcamError('EINPUT', `the AES kernel must be 'vperm' or 'bitsliced', got '${String(choice)}'`);
  rt().x.selectAesKernel(choice === 'bitsliced' ? 1 : 0);
  kernel = choice;
}

/** The kernel this thread runs, choosing it first if nothing has (see chooseAesKernel). */
export function aesKernel(): AesKernel {
  return kernel ?? chooseAesKernel().kernel;
}

/** What chooseAesKernel chose on this thread; undefined while it still runs vperm uncalibrated. */
export function kernelChoice(): KernelChoice | undefined {
  return howChosen;
}

/** Before a four-message run of `bytes`: SEALCAM_AES_KERNEL at once, a calibration only once enough work has come. */
function kernelForRun(bytes: number): void {
  if (kernel !== undefined) return;
  runBeforeChoice += bytes;
  if (kernelSetting() !== undefined || runBeforeChoice > CALIBRATE_AFTER_BYTES) chooseAesKernel();
}

/** SEALCAM_AES_KERNEL when it is set to anything (checked by chooseAesKernel), else undefined. */
function kernelSetting(): string | undefined {
  const wanted = platform.setting('SEALCAM_AES_KERNEL');
  return wanted === '' ? undefined : wanted;
}

export interface KernelChoice {
  kernel: AesKernel;
  /** 'env' (SEALCAM_AES_KERNEL), or 'calibrated' with the MB/s each kernel reached. */
  how: 'env' | 'calibrated';
  mbps?: Record<AesKernel, number>;
}

/**
 * Choose this thread's eight-block kernel (four-message runs call it once SEALCAM_AES_KERNEL is set
 * or CALIBRATE_AFTER_BYTES have run): SEALCAM_AES_KERNEL=vperm|bitsliced if set, else a
 * calibration of a few milliseconds: four-message EAX over 4 x 16 KiB on each kernel, alternately,
 * the fastest of seven runs each after two to warm up; bitsliced only if it is at least 3% faster (either is constant
 * time and gives the same bytes, so noise can only cost speed). The inputs are fixed public bytes.
 */
export function chooseAesKernel(): KernelChoice {
  const wanted = kernelSetting();
  if (wanted !== undefined) {
    if (!AES_KERNELS.includes(wanted as AesKernel)) {
      throw new SealcamError('EINPUT', `SEALCAM_AES_KERNEL must be 'vperm' or 'bitsliced', got '${wanted}'`);
    }
    selectAesKernel(wanted as AesKernel);
    return (howChosen = { kernel: wanted as AesKernel, how: 'env' });
  }
  const mbps = calibrate();
  const fastest: AesKernel = mbps.bitsliced >= 1.03 * mbps.vperm ? 'bitsliced' : 'vperm';
  selectAesKernel(fastest);
  return (howChosen = { kernel: fastest, how: 'calibrated', mbps });
}

function calibrate(): Record<AesKernel, number> {
  const r = rt();
  const backend = new WasmBackend(new Uint8Array(16).fill(0x5c));
  const k = backend.slot();
  const length = 16 * 1024;
  const part = CHUNK / 4;
  const ms = [r.alloc(), r.alloc(), r.alloc(), r.alloc()];
  const best: Record<AesKernel, number> = { vperm: Infinity, bitsliced: Infinity };
  try {
    // Two rounds to warm up (first touches, clock ramp), then seven timed, the order alternating.
    for (let round = 0; round < 9; round++) {
      for (const choice of round % 2 ? [...AES_KERNELS].reverse() : AES_KERNELS) {
        r.x.selectAesKernel(choice === 'bitsliced' ? 1 : 0);
        for (const m of ms) {
          r.x.eaxInit(k, m);
          r.x.eaxStart(k, m);
        }
        const t0 = performance.now();
        r.x.eaxEncryptFour(k, ms[0]!, ms[1]!, ms[2]!, ms[3]!, r.io, r.io + part, r.io + 2 * part, r.io + 3 * part, length);
        const ns = (performance.now() - t0) * 1e6;
        if (round > 1) best[choice] = Math.min(best[choice], ns);
      }
    }
  } finally {
    for (const m of ms) r.free(m);
    backend.dispose();
    r.u8.fill(0, r.io, r.io + CHUNK);
  }
  return { vperm: (4 * length * 1000) / best.vperm, bitsliced: (4 * length * 1000) / best.bitsliced };
}

