import type { Measurement } from '../measure.js';

/** What names a row and places it in the tables, the ratios and the targets (cases and results alike). */
export interface RowIdentity {
  impl: string;
  op: string;
  kind: CaseKind;
  keyBits: 128 | 256;
  /** Which EAX row it is compared with: encryption ('enc') or decryption with verification ('dec'). */
  direction: 'enc' | 'dec';
  /** EAX written in JavaScript: the pure-JS yardstick. */
  pureJs: boolean;
  /**
   * Pool rows: the engine and the number of workers (for the scaling chart and the targets), and
   * for a streamed row that does not take the path `sealcam encrypt` takes, which one it takes.
   */
  pool?: { engine: 'wasm' | 'native'; workers: number; via?: StreamPath };
  /** AES block table rows: the kernel and how many independent blocks it keeps in flight. */
  blocks?: { kernel: string; inFlight: number };
}

/**
 * How a streamed file goes through the pool: 'files' is SealPool.sealIO/openIO over fileIO, where
 * the workers read and write their segments themselves (what `sealcam encrypt/decrypt` do);
 * 'main-thread I/O' is the same pipeline over the same files with the main thread reading into and
 * writing from the task buffers (how files went before the workers did their own I/O, and how
 * pipes still go); 'Duplex' is createSealStream/createOpenStream between file streams (sockets,
 * HTTP bodies, `upload`, the receiver).
 */
export type StreamPath = 'files' | 'main-thread I/O' | 'Duplex';

/** A pool row on the path the CLI takes (buffers, or files through the workers): the rows targets and the scaling chart use. */
export function cliPath(r: Pick<RowIdentity, 'pool'>): boolean {
  return r.pool !== undefined && (r.pool.via ?? 'files') === 'files';
}

/**
 * One row of the suite: an implementation and an operation, measured at every planned size.
 * Its name, `${impl} ${op}`, is what --filter matches.
 */
export interface Case extends RowIdentity {
  /** The operation takes whole 16-byte blocks (ECB): it processes `size` rounded down. */
  wholeBlocks?: boolean;
  /** Resolves to null when the case agrees bit for bit with sealcam native, else to what differs. */
  check(): Promise<string | null>;
  measure(size: number, timeMs: number, minIterations: number): Promise<Measurement>;
  /** Releases what the case holds (worker pools, child processes). */
  close?(): Promise<void>;
}

/**
 * eax: whole single-message EAX; sealed: the `sealed` format on buffers; stream: the `sealed`
 * format streamed file to file; part: a primitive EAX is built from; reference: node:crypto modes
 * other than EAX, for scale; blocks: the AES block table (each kernel with k blocks in flight,
 * timed at one size only, BLOCK_TABLE_SIZE's choice).
 */
export type CaseKind = 'eax' | 'sealed' | 'stream' | 'part' | 'reference' | 'blocks';

/** The size the AES block table is timed at: the smallest planned size of 64 KiB or more (else the largest). */
export function blockTableSize(sizes: readonly number[]): number {
  return sizes.find((s) => s >= 64 * 1024) ?? Math.max(...sizes);
}

/** Bytes one operation of `c` processes at `size`. */
export function bytesFor(c: Pick<Case, 'wholeBlocks'>, size: number): number {
  return c.wholeBlocks ? size & ~15 : size;
}

export function caseName(c: Pick<Case, 'impl' | 'op'>): string {
  return `${c.impl} ${c.op}`;
}

/** Operation names, shared by every implementation so rows line up across tables and runs. */
export const OPS = {
  encrypt: (bits: 128 | 256) => `AES-${bits}-EAX encrypt`,
  decrypt: (bits: 128 | 256) => `AES-${bits}-EAX decrypt+verify`,
  seal: 'sealed seal',
  open: 'sealed open',
  streamSeal: 'sealed stream seal',
  streamOpen: 'sealed stream open',
  blocks: 'AES-128 blocks (ECB)',
  ctr: 'AES-128 CTR',
  omac: 'AES-128 OMAC (CMAC)',
  gcmEncrypt: 'AES-128-GCM encrypt',
  gcmDecrypt: 'AES-128-GCM decrypt+verify',
  blocksInFlight: (k: number, kernel: string) => `AES-128 ECB, ${k} in flight (${kernel})`,
  cbcEncrypt: 'AES-128 CBC encrypt (1 in flight)',
} as const;

export const KEY_BITS = [128, 256] as const;
