import { open } from 'node:fs/promises';
import { SealcamError } from '../errors.js';
import { fsError, writeFileAtomic } from '../io/atomic.js';

/**
 * Key files: a raw AES key of 16, 24 or 32 bytes (what `get_random_bytes(16)` written to a file
 * gives), or the same key as hex or base64 text (a Key Vault secret's value is base64) with an
 * optional trailing newline. A key file must be private to its owner. Error messages name the
 * file and sizes, never key material.
 */

const KEY_SIZES = [16, 24, 32] as const;
/** Anything larger is certainly not a key; we do not read it into memory. */
const MAX_KEY_FILE = 4096;

function isKeySize(n: number): n is 16 | 24 | 32 {
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
function fromBase64(data: Uint8Array, n: number): Uint8Array | undefined {
  let end = n;
  while (end > 0 && data[end - 1] === 0x3d && n - end < 2) end--;
  const length = Math.floor((end * 6) / 8);
  if (end % 4 === 1 || !isKeySize(length) || (end !== n && n % 4 !== 0)) return undefined;
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
 * Hex text is tried first, then base64, then raw bytes. 32 hex digits are also 32 bytes, the size
 * of a raw AES-256 key, but a random raw key consists only of hex digit characters with
 * probability (22/256)^32 < 1e-34, and only of base64 characters with probability
 * (64/256)^32 = 2^-64.
 */
function parseKey(data: Uint8Array, path: string): Uint8Array {
  const n = withoutNewline(data);
  let hex = true;
  for (let i = 0; i < n && hex; i++) hex = isHexDigit(data[i]!);
  if (hex && n % 2 === 0 && isKeySize(n / 2)) {
    const key = new Uint8Array(n / 2);
    for (let i = 0; i < key.length; i++) key[i] = (hexValue(data[2 * i]!) << 4) | hexValue(data[2 * i + 1]!);
    return key;
  }
  const base64 = fromBase64(data, n);
  if (base64 !== undefined) return base64;
  // A copy: the caller wipes `data`, and Buffer#slice would only be a view of it.
  if (isKeySize(data.length)) return Uint8Array.from(data);
  const hint = hex && n > 0 ? ` (${n} hex digits)` : '';
  throw new SealcamError(
    'EKEYSIZE',
    `key file ${path} holds ${data.length} bytes${hint}; expected ${AES_KEY_EXPECTED}`,
  );
}

const AES_KEY_EXPECTED = 'a raw AES key of 16, 24 or 32 bytes, or the same as hex (32, 48 or 64 digits) or base64 text';

export interface SmallFileOptions {
  /** What the file is, for messages: "key file", "recipient file", "registry entry". */
  label: string;
  /** A larger file is refused without being read into memory. */
  maxBytes: number;
  /** What the file should hold, for the size error. */
  expected: string;
  /** Refuse the file when group or others may read or write it (files holding secrets). */
  private: boolean;
}

/**
 * Reads a small file that must be a regular file of at most `maxBytes`, and, for secrets, one only
 * its owner can read or write. Every key file sealcam reads (AES keys, identities, signing keys,
 * RSA PEM keys, and the public `.pub` and registry files) comes through here.
 */
export async function readSmallFile(path: string, options: SmallFileOptions): Promise<Uint8Array> {
  const { label } = options;
  if (typeof path !== 'string' || path.length === 0) throw new SealcamError('EINPUT', `${label} path must be a non-empty string`);
  let fd;
  try {
    fd = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new SealcamError('ENOENT', `${label} ${path} not found`);
    throw fsError(err, `read ${label}`, path);
  }
  try {
    // fstat on the open descriptor checks the very file we read, not whatever the path names later.
    const st = await fd.stat();
    if (!st.isFile()) throw new SealcamError('EKEYFILE', `${label} ${path} is not a regular file`);
    if (options.private && process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new SealcamError(
        'EKEYPERM',
        `${label} ${path} is readable or writable by group or others (mode ${mode}); restrict it with: chmod 600 ${path}`,
      );
    }
    if (st.size > options.maxBytes) throw new SealcamError('EKEYSIZE', `${label} ${path} holds ${st.size} bytes; expected ${options.expected}`);
    return await fd.readFile();
  } catch (err) {
    throw fsError(err, `read ${label}`, path);
  } finally {
    await fd.close();
  }
}

/** A key file holding a secret (mode 0600 or stricter); the caller parses and then wipes the bytes. */
export function readPrivateFile(path: string, maxBytes: number, expected: string): Promise<Uint8Array> {
  return readSmallFile(path, { label: 'key file', maxBytes, expected, private: true });
}

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

/** Reads and checks an AES key file; see the module comment for what it accepts. */
export async function readKeyFile(path: string): Promise<Uint8Array> {
  return consumeSecret(await readPrivateFile(path, MAX_KEY_FILE, AES_KEY_EXPECTED), (data) => parseKey(data, path));
}

export interface WriteKeyOptions {
  /** Replace an existing file; without it an existing file is never touched. */
  force?: boolean;
}

/** Writes a raw key to a new file with mode 0600, atomically (temp file beside it, then rename). */
export async function writeKeyFile(path: string, key: Uint8Array, options: WriteKeyOptions = {}): Promise<void> {
  if (!(key instanceof Uint8Array) || !isKeySize(key.length)) {
    const size = key instanceof Uint8Array ? `${key.length} bytes` : typeof key;
    throw new SealcamError('EINPUT', `key must be a Uint8Array of 16, 24 or 32 bytes, got ${size}`);
  }
  await writePrivateFile(path, key, options);
}

/** Writes secret key material to a new file with mode 0600, atomically; an existing file is kept unless `force`. */
export async function writePrivateFile(path: string, data: Uint8Array, options: WriteKeyOptions = {}): Promise<void> {
  try {
    await writeFileAtomic(path, data, { force: options.force === true, mode: 0o600 });
  } catch (err) {
    if (err instanceof SealcamError && err.code === 'EEXIST') {
      throw new SealcamError('EEXIST', `key file ${path} exists; use --force to overwrite`);
    }
    throw err;
  }
}
