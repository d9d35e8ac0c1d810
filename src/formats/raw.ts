import { randomBytes } from 'node:crypto';
import { createEax } from '../engine/eax.js';
import type { EngineName } from '../engine/types.js';
import * as check from '../engine/validate.js';
import { AuthenticationError, InputError, SealcamError } from '../errors.js';
import type { BufferIO, RandomAccessIO } from '../io/buffer-io.js';
import { openMessageIO, sealMessageIO } from './message.js';

/**
 * The raw layout, byte for byte what pycryptodome's documented EAX example writes:
 *
 *   cipher = AES.new(key, AES.MODE_EAX)
 *   ct, tag = cipher.encrypt_and_digest(data)
 *   file.write(cipher.nonce + tag + ct)
 *
 * that is nonce(16) || tag(16) || ciphertext, with a random 16-byte nonce, a full 16-byte tag and
 * no header. There is no magic number or version: the layout is fixed by the Python side.
 *
 * Scripts also write the parts in other orders (`nonce + ciphertext + tag` is common): a RawLayout
 * names the order, and both directions take any of the six.
 *
 * One EAX message cannot be verified before its end, and its tag may come before the ciphertext:
 * a streamed seal then fills the tag in last (a sink that can write at an offset), and a streamed
 * open writes plaintext that is unverified until the end, so its sink must be one a failure discards.
 */

export const RAW_NONCE_LENGTH = 16;
export const RAW_TAG_LENGTH = 16;
/** The smallest raw file: nonce and tag around an empty message. */
export const RAW_OVERHEAD = RAW_NONCE_LENGTH + RAW_TAG_LENGTH;

export interface RawOptions {
  engine?: EngineName;
}

export interface OpenRawOptions extends RawOptions {
  /** What the input is called in errors; default "the input". */
  name?: string;
}

function tooShort(length: number): SealcamError {
  return new SealcamError('EFORMAT', `input is ${length} bytes, too short to be a raw sealed file (at least ${RAW_OVERHEAD}: nonce 16 + tag 16)`);
}

/** A fresh random 128-bit nonce per message, as pycryptodome picks one; never reuse one. */
function freshNonce(): Uint8Array {
  return new Uint8Array(randomBytes(RAW_NONCE_LENGTH));
}

/** Seals `plaintext` under `key` (16, 24 or 32 bytes) with a fresh random nonce. */
export function sealRaw(key: Uint8Array, plaintext: Uint8Array, options: RawOptions = {}): Uint8Array {
  check.bytes(plaintext, 'plaintext');
  const eax = createEax(key, { engine: options.engine ?? 'wasm' });
  try {
    const nonce = freshNonce();
    const out = new Uint8Array(RAW_OVERHEAD + plaintext.length);
    out.set(nonce, 0);
    out.set(eax.encryptInto(nonce, plaintext, out.subarray(RAW_OVERHEAD)), RAW_NONCE_LENGTH);
    return out;
  } finally {
    eax.dispose();
  }
}

/**
 * Verifies and opens a raw sealed file. Throws SealcamError 'EFORMAT' when it is too short to hold
 * a nonce and tag, and AuthenticationError when the tag does not verify; no plaintext is returned
 * unless it does.
 */
export function openRaw(key: Uint8Array, sealed: Uint8Array, options: RawOptions = {}): Uint8Array {
  check.bytes(sealed, 'sealed data');
  if (sealed.length < RAW_OVERHEAD) throw tooShort(sealed.length);
  const eax = createEax(key, { engine: options.engine ?? 'wasm' });
  try {
    const nonce = sealed.subarray(0, RAW_NONCE_LENGTH);
    const tag = sealed.subarray(RAW_NONCE_LENGTH, RAW_OVERHEAD);
    return eax.decrypt(nonce, sealed.subarray(RAW_OVERHEAD), tag);
  } finally {
    eax.dispose();
  }
}

/** The three parts of a raw file. */
export type RawPart = 'nonce' | 'tag' | 'ciphertext';
/** The order of the parts in a file: pycryptodome's documented example writes nonce, tag, ciphertext. */
export type RawLayout = readonly [RawPart, RawPart, RawPart];

export const PYCRYPTODOME_LAYOUT: RawLayout = ['nonce', 'tag', 'ciphertext'];
/** The other order scripts write (`cipher.nonce + ciphertext + tag`). */
export const NONCE_CIPHERTEXT_TAG: RawLayout = ['nonce', 'ciphertext', 'tag'];

const PARTS: readonly RawPart[] = ['nonce', 'tag', 'ciphertext'];

/** `--layout nonce,tag,ciphertext`: the three parts, each once, in any order. */
export function parseRawLayout(text: string): RawLayout {
  const parts = text.split(',').map((p) => p.trim().toLowerCase());
  if (parts.length !== 3 || !PARTS.every((p) => parts.includes(p))) {
    throw new SealcamError('EUSAGE', `layout ${JSON.stringify(text.slice(0, 60))} must name nonce, tag and ciphertext once each, in the file's order (e.g. nonce,tag,ciphertext or nonce,ciphertext,tag)`);
  }
  return parts as unknown as RawLayout;
}

export function formatRawLayout(layout: RawLayout): string {
  return layout.join(',');
}

/** A byte range of a file. */
export interface Range {
  start: number;
  length: number;
}

/**
 * Where nonce, tag and ciphertext lie in a raw file of `size` bytes, in the order an opener reads
 * them (nonce, tag, ciphertext): a reader that yields these ranges one after another hands
 * openRawIO the canonical nonce || tag || ciphertext whatever the file's order.
 */
export function rawReadRanges(layout: RawLayout, size: number): [Range, Range, Range] {
  if (size < RAW_OVERHEAD) throw tooShort(size);
  const lengths: Record<RawPart, number> = { nonce: RAW_NONCE_LENGTH, tag: RAW_TAG_LENGTH, ciphertext: size - RAW_OVERHEAD };
  const at = {} as Record<RawPart, Range>;
  let offset = 0;
  for (const part of layout) {
    at[part] = { start: offset, length: lengths[part] };
    offset += lengths[part];
  }
  return [at.nonce, at.tag, at.ciphertext];
}

/** Whether sealing in `layout` fills the tag in at an offset (it comes before the ciphertext): a sink that cannot seek must be spooled. */
export function rawSealNeedsSeek(layout: RawLayout): boolean {
  return layout.indexOf('tag') < layout.indexOf('ciphertext');
}

export interface SealRawIOOptions extends RawOptions {
  layout?: RawLayout;
}

/**
 * Seals everything `io` reads into a raw file in `layout` (default nonce, tag, ciphertext). Parts
 * before the ciphertext are written first (a tag as a placeholder, filled in at its offset once
 * known: `io.writeAt`, needed only then), the ciphertext as it is made, and parts after it last.
 */
export async function sealRawIO(io: BufferIO & Partial<Pick<RandomAccessIO, 'writeAt'>>, key: Uint8Array, options: SealRawIOOptions = {}): Promise<void> {
  const layout = options.layout ?? PYCRYPTODOME_LAYOUT;
  const nonce = freshNonce();
  const cut = layout.indexOf('ciphertext');
  let tagAt: number | undefined;
  let offset = 0;
  for (const part of layout.slice(0, cut)) {
    if (part === 'tag') tagAt = offset;
    await io.write(part === 'nonce' ? nonce : new Uint8Array(RAW_TAG_LENGTH));
    offset += 16;
  }
  if (tagAt !== undefined && io.writeAt === undefined) throw new InputError(`layout ${formatRawLayout(layout)} puts the tag before the ciphertext: the output must take writes at an offset`);
  const tag = await sealMessageIO(io, key, nonce, { engine: options.engine });
  for (const part of layout.slice(cut + 1)) await io.write(part === 'nonce' ? nonce : tag);
  if (tagAt !== undefined) await io.writeAt!(tag, tagAt);
}

/**
 * Opens a raw file from `io`, which reads nonce(16) || tag(16) || ciphertext (a file in another
 * order is read through rawReadRanges), into what it writes. The plaintext is written before the
 * tag at the end is checked: a failure (AuthenticationError, EFORMAT) means what was written must
 * be discarded.
 */
export async function openRawIO(io: BufferIO, key: Uint8Array, options: OpenRawOptions = {}): Promise<void> {
  const head = new Uint8Array(RAW_OVERHEAD);
  const got = await io.read(head);
  if (got < RAW_OVERHEAD) throw tooShort(got);
  try {
    await openMessageIO(io, key, head.subarray(0, RAW_NONCE_LENGTH), head.subarray(RAW_NONCE_LENGTH), { engine: options.engine });
  } catch (err) {
    if (!(err instanceof AuthenticationError)) throw err;
    const name = options.name ?? 'the input';
    throw new AuthenticationError(`authentication failed: ${name} does not verify under this key as a raw file (wrong key, or the file was altered)`);
  }
}
