import { fromBase64url, toBase64url, toHex as hex, utf8 as text } from '../bytes.js';
import { SealcamError } from '../errors.js';

/**
 * The one-line text forms of public keys, identities and signing keys, and of the small files that
 * hold them (`.pub` files, identity files, registry entries): a line per key, `#` comment lines and
 * blank lines ignored. Key bytes are base64url without padding, and only the canonical spelling is
 * accepted (a key string must mean one key, so that what a user compares by eye is what sealcam
 * uses). Reading and writing the files themselves is keyfile.ts's (Node); this module also runs in
 * the browser build.
 */

/** A `.pub` file or registry entry larger than this is not one; it is not read into memory. */
export const MAX_KEY_TEXT = 64 * 1024;

export interface KeyLine {
  /** The line without surrounding white space. */
  text: string;
  /** 1-based, for error messages. */
  line: number;
}

/** The lines that carry content: neither blank nor comments (first non-blank character `#`). */
export function contentLines(text: string): KeyLine[] {
  const lines: KeyLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line !== '' && !line.startsWith('#')) lines.push({ text: line, line: i + 1 });
  });
  return lines;
}

/** `bytes` as base64url without padding. */
export const encodeBase64url = toBase64url;

/** The bytes of canonical unpadded base64url `text`, or undefined for anything else. */
export const decodeBase64url = fromBase64url;

/** Lower-case hex, the way fingerprints are shown. */
export const toHex = hex;

/** UTF-8 text of a file's bytes. */
export const utf8 = text;

/**
 * Runs `use` on `secret` and then wipes it, whether `use` returns, throws or (for a promise)
 * settles, so that no copy of key material outlives the call that needed it.
 */
export function consumeSecret<T>(secret: Uint8Array, use: (secret: Uint8Array) => T): T {
  let result: T;
  try {
    result = use(secret);
  } catch (err) {
    secret.fill(0);
    throw err;
  }
  if (result instanceof Promise) return result.finally(() => secret.fill(0)) as T;
  secret.fill(0);
  return result;
}

/**
 * The 32 bytes of a secret key file's one content line, which must be `prefix` and then base64url.
 * Messages name the file and line, never its content: the line is the secret.
 */
export function secretKeyFromText(text: string, prefix: string, path: string, what: string): Uint8Array {
  const lines = contentLines(text);
  if (lines.length !== 1) {
    throw new SealcamError('EKEYFILE', `key file ${path} holds ${lines.length} key lines; expected one ${what} line (${prefix}...)`);
  }
  const { text: line, line: number } = lines[0]!;
  const key = line.startsWith(prefix) ? decodeBase64url(line.slice(prefix.length)) : undefined;
  if (key === undefined || key.length !== 32) {
    throw new SealcamError('EKEYFILE', `key file ${path} line ${number} is not a valid ${what} line: expected ${prefix} and 43 base64url characters`);
  }
  return key;
}

const KEY_SIZES = [16, 24, 32] as const;
export function isAesKeySize(n: number): n is 16 | 24 | 32 {
  return (KEY_SIZES as readonly number[]).includes(n);
}

function isHexDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function hexValue(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10;
}

/** The length of `data` without one trailing "\n" or "\r\n". */
function withoutNewline(data: Uint8Array): number {
  let n = data.length;
  if (n > 0 && data[n - 1] === 0x0a) {
    n--;
    if (n > 0 && data[n - 1] === 0x0d) n--;
  }
  return n;
}

/** The value of a base64 character (standard or URL alphabet), or -1. */
function base64Value(c: number): number {
  if (c >= 0x41 && c <= 0x5a) return c - 0x41;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 26;
  if (c >= 0x30 && c <= 0x39) return c - 0x30 + 52;
  if (c === 0x2b || c === 0x2d) return 62;
  if (c === 0x2f || c === 0x5f) return 63;
  return -1;
}

/**
 * The key in base64 text data[0, n) (padded or not), decoded into a fresh array without going
 * through a string (strings cannot be wiped), or undefined when it is not base64 of a key size.
 */
function aesKeyFromBase64(data: Uint8Array, n: number): Uint8Array | undefined {
  let end = n;
  while (end > 0 && data[end - 1] === 0x3d && n - end < 2) end--;
  const length = Math.floor((end * 6) / 8);
  if (end % 4 === 1 || !isAesKeySize(length) || (end !== n && n % 4 !== 0)) return undefined;
  for (let i = 0; i < end; i++) if (base64Value(data[i]!) < 0) return undefined;
  const key = new Uint8Array(length);
  let bits = 0;
  let acc = 0;
  let at = 0;
  for (let i = 0; i < end; i++) {
    acc = ((acc << 6) | base64Value(data[i]!)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      key[at++] = (acc >> bits) & 0xff;
    }
  }
  acc = 0;
  return key;
}

/**
 * The AES key a key file holds: a raw key of 16, 24 or 32 bytes (what `get_random_bytes(16)`
 * written to a file gives), or the same key as hex or base64 text with an optional trailing
 * newline. Hex text is tried first, then base64, then raw bytes. 32 hex digits are also 32 bytes,
 * the size of a raw AES-256 key, but a random raw key consists only of hex digit characters with
 * probability (22/256)^32 < 1e-34, and only of base64 characters with probability
 * (64/256)^32 = 2^-64. `path` names the file in errors, which never show key material.
 */
export function aesKeyFromFile(data: Uint8Array, path: string): Uint8Array {
  const n = withoutNewline(data);
  let hex = true;
  for (let i = 0; i < n && hex; i++) hex = isHexDigit(data[i]!);
  if (hex && n % 2 === 0 && isAesKeySize(n / 2)) {
    const key = new Uint8Array(n / 2);
    for (let i = 0; i < key.length; i++) key[i] = (hexValue(data[2 * i]!) << 4) | hexValue(data[2 * i + 1]!);
    return key;
  }
  const base64 = aesKeyFromBase64(data, n);
  if (base64 !== undefined) return base64;
  // A copy: the caller wipes `data`, and Buffer#slice would only be a view of it.
  if (isAesKeySize(data.length)) return Uint8Array.from(data);
  const hint = hex && n > 0 ? ` (${n} hex digits)` : '';
  throw new SealcamError(
    'EKEYSIZE',
    `key file ${path} holds ${data.length} bytes${hint}; expected ${AES_KEY_EXPECTED}`,
  );
}

export const AES_KEY_EXPECTED = 'a raw AES key of 16, 24 or 32 bytes, or the same as hex (32, 48 or 64 digits) or base64 text';
