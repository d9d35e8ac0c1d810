import type { EngineName } from '../../src/engine/types.js';
import { DEFAULT_SEGMENT_SIZE, openSealed, sealBuffer, type SealOptions } from '../../src/formats/sealed.js';
import { SealPool } from '../../src/pool/index.js';
import { same, type Verdict } from './check.js';
import { plaintext, random, referenceEngineName } from './inputs.js';
import { asyncCase, syncCase } from './make.js';
import { OPS, type Case } from './types.js';

/**
 * The `sealed` format on whole buffers (64 KiB segments, AES-128-EAX): on the calling thread
 * (sealBuffer / openSealed) and on SealPool with 1..N workers, for both engines.
 */

const SEGMENT = DEFAULT_SEGMENT_SIZE;
export const KEK = random(16);
export const KEY_ID = 'bench';
const options = (engine: EngineName): SealOptions => ({ kek: KEK, keyId: KEY_ID, keyVersion: '1', engine });

/** Fixed header randomness: seal output becomes a function of the input, so it can be compared. */
export function fixedHeader(): NonNullable<SealOptions['fixed']> {
  return { dek: random(16), salt: random(16), prefix: random(11) };
}

/** Empty, around one segment, several segments, and more than one pool task (tasks are ~1 MiB). */
const CHECK_SIZES = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 5, (1 << 20) + SEGMENT + 3];

interface SealedImpl {
  seal(pt: Uint8Array, opts: SealOptions): Promise<Uint8Array>;
  open(sealed: Uint8Array): Promise<Uint8Array>;
}

/** Sealing matches the reference engine's sealBuffer byte for byte; opening returns the plaintext and refuses a flipped bit or a cut. */
async function checkSealed(impl: SealedImpl, engine: EngineName): Promise<Verdict> {
  for (const size of CHECK_SIZES) {
    const pt = random(size);
    const fixed = fixedHeader();
    const want = sealBuffer(pt, { ...options(referenceEngineName()), fixed });
    const got = await impl.seal(pt, { ...options(engine), fixed });
    if (!same(got, want)) return `sealed bytes differ from native sealBuffer at ${size} bytes`;
    if (!same(await impl.open(want), pt)) return `opened plaintext differs at ${size} bytes`;
    const flipped = new Uint8Array(want);
    flipped[want.length - 1 - (size >> 1)]! ^= 0x10;
    if (await impl.open(flipped).then(() => true, () => false)) return `opened a file with a flipped bit at ${size} bytes`;
    if (await impl.open(want.subarray(0, want.length - 1)).then(() => true, () => false)) return `opened a truncated file at ${size} bytes`;
  }
  return null;
}

/** Sealed input per size for the open rows (sealed natively once per size). */
let sealedInput: { size: number; bytes: Uint8Array } | undefined;
function sealedOf(size: number): Uint8Array {
  if (sealedInput?.size !== size) sealedInput = { size, bytes: sealBuffer(plaintext(size), options('native')) };
  return sealedInput.bytes;
}

/** The seal and open rows of one implementation share one check (it covers both directions). */
function once(check: () => Promise<Verdict>): () => Promise<Verdict> {
  let verdict: Promise<Verdict> | undefined;
  return () => (verdict ??= check());
}

const base = { kind: 'sealed', keyBits: 128, pureJs: false } as const;

/** sealBuffer / openSealed on the calling thread. */
export function mainThreadSealedCases(impl: string, engine: EngineName): Case[] {
  const local: SealedImpl = {
    seal: async (pt, opts) => sealBuffer(pt, opts),
    open: async (sealed) => openSealed(sealed, KEK, engine).plaintext,
  };
  const check = once(() => checkSealed(local, engine));
  return [
    syncCase({ ...base, impl, op: OPS.seal, direction: 'enc' }, check, (size) => {
      const pt = plaintext(size);
      return () => sealBuffer(pt, options(engine));
    }),
    syncCase({ ...base, impl, op: OPS.open, direction: 'dec' }, check, (size) => {
      const sealed = sealedOf(size);
      return () => openSealed(sealed, KEK, engine);
    }),
  ];
}

export const poolImpl = (engine: EngineName, workers: number): string =>
  `sealcam ${engine === 'wasm' ? 'WASM' : 'native'} pool, ${workers} worker${workers === 1 ? '' : 's'}`;

/** SealPool.seal / SealPool.open with `workers` threads; the pool starts on first use and is closed by close(). */
export function poolSealedCases(engine: EngineName, workers: number): Case[] {
  let pool: SealPool | undefined;
  const get = (): SealPool => (pool ??= new SealPool({ jobs: workers, engine }));
  const viaPool: SealedImpl = {
    seal: (pt, opts) => get().seal(pt, opts),
    open: async (sealed) => (await get().open(sealed, { kek: KEK })).plaintext,
  };
  const close = async (): Promise<void> => {
    await pool?.close();
    pool = undefined;
  };
  const common = { ...base, impl: poolImpl(engine, workers), pool: { engine, workers }, close };
  const check = once(() => checkSealed(viaPool, engine));
  return [
    asyncCase({ ...common, op: OPS.seal, direction: 'enc' }, check, (size) => {
      const pt = plaintext(size);
      return () => get().seal(pt, options(engine));
    }),
    asyncCase({ ...common, op: OPS.open, direction: 'dec' }, check, (size) => {
      const sealed = sealedOf(size);
      return () => get().open(sealed, { kek: KEK });
    }),
  ];
}
