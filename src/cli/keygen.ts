import { randomBytes } from 'node:crypto';
import { SealcamError } from '../errors.js';
import { DeviceSigningKey } from '../keys/ed25519.js';
import { writeKeyFile } from '../keys/keyfile.js';
import { writeIdentityFile, writeSigningKeyFile } from '../keys/keypair-files.js';
import { X25519Identity } from '../keys/x25519.js';

/**
 * `sealcam keygen -o FILE [--type aes|x25519|ed25519] [--bits 128|192|256] [--force]`:
 *   aes      a random raw AES key (today's key files), mode 0600; prints nothing
 *   x25519   an identity (mode 0600) and its recipient in FILE.pub; prints the recipient
 *   ed25519  a device signing key (mode 0600) and its public key in FILE.pub; prints the public key
 * Only public keys are ever printed.
 */

export interface KeygenOptions {
  output: string;
  type?: string;
  bits?: string;
  force?: boolean;
}

const BITS: Record<string, 16 | 24 | 32> = { '128': 16, '192': 24, '256': 32 };
const TYPES = ['aes', 'x25519', 'ed25519'];

export async function run(opts: KeygenOptions): Promise<void> {
  const type = opts.type ?? 'aes';
  if (!TYPES.includes(type)) throw new SealcamError('EUSAGE', `--type must be aes, x25519 or ed25519, got ${JSON.stringify(type.slice(0, 40))}`);
  const force = opts.force === true;
  if (type !== 'aes') {
    if (opts.bits !== undefined) throw new SealcamError('EUSAGE', `--bits applies to --type aes only (an ${type} key has one size)`);
    const key = type === 'x25519' ? X25519Identity.generate() : DeviceSigningKey.generate();
    if (key instanceof X25519Identity) await writeIdentityFile(key, opts.output, { force });
    else await writeSigningKeyFile(key, opts.output, { force });
    const publicText = key instanceof X25519Identity ? key.recipient.text : key.publicKey.text;
    process.stdout.write(`${publicText}\n`);
    return;
  }
  const bits = opts.bits ?? '128';
  const length = Object.hasOwn(BITS, bits) ? BITS[bits] : undefined;
  if (length === undefined) throw new SealcamError('EUSAGE', `--bits must be 128, 192 or 256, got ${bits}`);
  const key = new Uint8Array(randomBytes(length));
  try {
    await writeKeyFile(opts.output, key, { force });
  } finally {
    key.fill(0);
  }
}
