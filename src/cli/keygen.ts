import { randomBytes } from 'node:crypto';
import { SealcamError } from '../errors.js';
import { writeKeyFile } from '../keys/keyfile.js';

/** `sealcam keygen -o key.bin [--bits 128|192|256] [--force]`: a random raw key, mode 0600. */

export interface KeygenOptions {
  output: string;
  bits?: string;
  force?: boolean;
}

const BITS: Record<string, 16 | 24 | 32> = { '128': 16, '192': 24, '256': 32 };

export async function run(opts: KeygenOptions): Promise<void> {
  const bits = opts.bits ?? '128';
  const length = Object.hasOwn(BITS, bits) ? BITS[bits] : undefined;
  if (length === undefined) throw new SealcamError('EUSAGE', `--bits must be 128, 192 or 256, got ${bits}`);
  const key = new Uint8Array(randomBytes(length));
  try {
    await writeKeyFile(opts.output, key, { force: opts.force === true });
  } finally {
    key.fill(0);
  }
}
