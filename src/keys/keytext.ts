import { SealcamError } from '../errors.js';
import { assertWritable, writeFileAtomic } from '../io/atomic.js';
import { consumeSecret, readPrivateFile, readSmallFile, writePrivateFile } from './keyfile.js';

/**
 * The one-line text forms of public keys, identities and signing keys, and the small files that
 * hold them (`.pub` files, identity files, registry entries): a line per key, `#` comment lines and
 * blank lines ignored. Key bytes are base64url without padding, and only the canonical spelling is
 * accepted (Node's decoder skips stray characters and ignores trailing bits; a key string must mean
 * one key, so that what a user compares by eye is what sealcam uses).
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
export function encodeBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** The bytes of canonical unpadded base64url `text`, or undefined for anything else. */
export function decodeBase64url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  // Re-encoding catches non-zero trailing bits, which the decoder drops without a word.
  if (bytes.toString('base64url') !== text) return undefined;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Lower-case hex, the way fingerprints are shown. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Reads a small public text file (a `.pub` file, a registry entry) as UTF-8; `label` names it in errors. */
export async function readKeyText(path: string, label: string): Promise<string> {
  return utf8(await readSmallFile(path, { label, maxBytes: MAX_KEY_TEXT, expected: 'a few lines of key text', private: false }));
}

export function utf8(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
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

/** Reads a secret key file (mode 0600) holding one `prefix` line; see secretKeyFromText. */
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
  await consumeSecret(Buffer.from(lines.join('\n'), 'utf8'), (text) => writePrivateFile(path, text, { force }));
  await writeFileAtomic(pub, Buffer.from(`${files.publicLine}\n`, 'utf8'), { force, mode: 0o644, what: 'write public key file' });
}
