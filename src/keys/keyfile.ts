import { open } from 'node:fs/promises';
import { SealcamError } from '../errors.js';
import { assertWritable, fsError, writeFileAtomic } from '../io/atomic.js';
import { AES_KEY_EXPECTED, aesKeyFromFile, consumeSecret, encodeBase64url, isAesKeySize, MAX_KEY_TEXT, secretKeyFromText, utf8 } from './keytext.js';

/**
 * Key files: a raw AES key of 16, 24 or 32 bytes (what `get_random_bytes(16)` written to a file
 * gives), or the same key as hex or base64 text (a Key Vault secret's value is base64) with an
 * optional trailing newline; and the small text files of keytext.ts (`.pub` files, identities,
 * signing keys, registry entries). A key file must be private to its owner. Error messages name
 * the file and sizes, never key material.
 */

/** Anything larger is certainly not a key; we do not read it into memory. */
const MAX_KEY_FILE = 4096;

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

/** Reads and checks an AES key file; see the module comment for what it accepts. */
export async function readKeyFile(path: string): Promise<Uint8Array> {
  return consumeSecret(await readPrivateFile(path, MAX_KEY_FILE, AES_KEY_EXPECTED), (data) => aesKeyFromFile(data, path));
}

export interface WriteKeyOptions {
  /** Replace an existing file; without it an existing file is never touched. */
  force?: boolean;
}

/** Writes a raw key to a new file with mode 0600, atomically (temp file beside it, then rename). */
export async function writeKeyFile(path: string, key: Uint8Array, options: WriteKeyOptions = {}): Promise<void> {
  if (!(key instanceof Uint8Array) || !isAesKeySize(key.length)) {
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

/** Reads a small public text file (a `.pub` file, a registry entry) as UTF-8; `label` names it in errors. */
export async function readKeyText(path: string, label: string): Promise<string> {
  return utf8(await readSmallFile(path, { label, maxBytes: MAX_KEY_TEXT, expected: 'a few lines of key text', private: false }));
}

/** Reads a secret key file (mode 0600) holding one `prefix` line; see keytext.ts secretKeyFromText. */
export async function readSecretKeyFile(path: string, prefix: string, what: string): Promise<Uint8Array> {
  const data = await readPrivateFile(path, MAX_KEY_TEXT, `one ${what} line`);
  return consumeSecret(data, () => secretKeyFromText(utf8(data), prefix, path, what));
}

export interface KeyPairFiles {
  /** What the secret file is, for its first comment line: "x25519 identity". */
  kind: string;
  /** The second comment line: what the secret lets its holder do. */
  warning: string;
  /** The secret line's prefix, followed by base64url of `secret`. */
  secretPrefix: string;
  secret: Uint8Array;
  /** The public line, also repeated as a comment in the secret file after `publicLabel: `. */
  publicLabel: string;
  publicLine: string;
}

/**
 * Writes a secret key file (mode 0600) at `path` and its public half at `path.pub` (mode 0644).
 * Both names are checked first, so without `force` an existing file stops the pair before
 * anything is written.
 */
export async function writeKeyPairFiles(path: string, files: KeyPairFiles, options: { force?: boolean } = {}): Promise<void> {
  const force = options.force === true;
  const pub = `${path}.pub`;
  for (const target of [path, pub]) {
    try {
      await assertWritable(target, force);
    } catch (err) {
      if (err instanceof SealcamError && err.code === 'EEXIST') throw new SealcamError('EEXIST', `key file ${target} exists; use --force to overwrite`);
      throw err;
    }
  }
  const lines = [
    `# sealcam ${files.kind}, created ${new Date().toISOString()}`,
    `# ${files.warning}`,
    `# ${files.publicLabel}: ${files.publicLine}`,
    files.secretPrefix + encodeBase64url(files.secret),
    '',
  ];
  await consumeSecret(new TextEncoder().encode(lines.join('\n')), (text) => writePrivateFile(path, text, { force }));
  await writeFileAtomic(pub, new TextEncoder().encode(`${files.publicLine}\n`), { force, mode: 0o644, what: 'write public key file' });
}
