import { readFile } from 'node:fs/promises';
import { ENGINES, type EngineName } from '../engine/types.js';
import { AuthenticationError, SealcamError } from '../errors.js';
import { openRaw, sealRaw } from '../formats/raw.js';
import { assertWritable, fsError, writeFileAtomic } from '../io/atomic.js';
import { readKeyFile } from '../keys/keyfile.js';

/**
 * `sealcam encrypt` and `sealcam decrypt`. Every check that can fail cheaply (options, output
 * exists, key file) runs before the work; decrypt writes its output only after the tag verified,
 * and atomically, so a failure leaves neither output nor temp file behind.
 */

export interface CryptOptions {
  output: string;
  keyFile: string;
  format?: string;
  engine?: string;
  force?: boolean;
}

const FORMATS = ['raw'] as const;

interface Job {
  engine: EngineName;
  force: boolean;
  key: Uint8Array;
  data: Uint8Array;
}

async function prepare(input: string, opts: CryptOptions): Promise<Job> {
  const format = opts.format ?? 'raw';
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new SealcamError('EUSAGE', `unknown format '${format}'; supported formats: ${FORMATS.join(', ')}`);
  }
  const engine = opts.engine ?? 'wasm';
  if (!(ENGINES as readonly string[]).includes(engine)) {
    throw new SealcamError('EUSAGE', `unknown engine '${engine}'; use ${ENGINES.join(' or ')}`);
  }
  const force = opts.force === true;
  await assertWritable(opts.output, force);
  const data = await readInput(input);
  const key = await readKeyFile(opts.keyFile);
  return { engine: engine as EngineName, force, key, data };
}

async function readInput(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new SealcamError('ENOENT', `input file ${path} not found`);
    throw fsError(err, 'read input file', path);
  }
}

export async function encrypt(input: string, opts: CryptOptions): Promise<void> {
  const job = await prepare(input, opts);
  try {
    const sealed = sealRaw(job.key, job.data, { engine: job.engine });
    await writeFileAtomic(opts.output, sealed, { force: job.force });
  } finally {
    job.key.fill(0);
    job.data.fill(0);
  }
}

export async function decrypt(input: string, opts: CryptOptions): Promise<void> {
  const job = await prepare(input, opts);
  let plaintext: Uint8Array | undefined;
  try {
    try {
      plaintext = openRaw(job.key, job.data, { engine: job.engine });
    } catch (err) {
      if (err instanceof AuthenticationError) {
        throw new AuthenticationError(
          `authentication failed: ${input} does not verify under this key (wrong key, or the file was altered); nothing was written`,
        );
      }
      if (err instanceof SealcamError && err.code === 'EFORMAT') throw new SealcamError('EFORMAT', `${input}: ${err.message}`);
      throw err;
    }
    // Mode 0600: the output is decrypted plaintext, private until the owner decides otherwise.
    await writeFileAtomic(opts.output, plaintext, { force: job.force, mode: 0o600 });
  } finally {
    job.key.fill(0);
    plaintext?.fill(0);
  }
}
