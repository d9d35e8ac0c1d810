import { lstat, readdir, utimes } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { AuthenticationError, SealcamError } from '../errors.js';
import { formatRawLayout, NONCE_CIPHERTEXT_TAG, parseRawLayout, PYCRYPTODOME_LAYOUT, type RawLayout } from '../formats/raw.js';
import type { SealedMetadata } from '../formats/sealed.js';
import { fsError, resolveOutput, withSpool, type OutputTarget } from '../io/atomic.js';
import { handleSink } from '../io/file-io.js';
import { inlineBytesFor, SealPool } from '../pool/pool.js';
import { CryptKeys } from './crypt-keys.js';
import { createDirectory, readyOutputs, refuseInputs, runFrom, type CryptOptions, type Run } from './crypt.js';
import { detectLayout, findMetadata, measureInput, openRawFile, openSidecarFile, readMetadata, sealSealedFile, type FileJob, type Input } from './layouts.js';
import { printError } from './output.js';

/**
 * `sealcam convert`: re-seals what the reference scripts wrote (raw files in either order, files
 * with a metadata JSON beside them, sealcam's own raw and sidecar files) into the `sealed`
 * format, one file, many, or whole directory trees. Each file is first opened and verified into a
 * private spool (nothing unverified is ever sealed), then sealed from it under the keyring's
 * newest key (-k is the scripts' key, for opening only) with its name and capture time in the authenticated header, and written atomically
 * with the input's modification time. Files sealed already and metadata files are skipped; a file
 * that does not verify is refused and the rest go on. One line per file and a summary; exit 1 if
 * any file was refused.
 */

export interface ConvertOptions extends CryptOptions {
  /** Raw orders to try, in turn, for a file without metadata: "nonce,tag,ciphertext;nonce,ciphertext,tag". */
  layout?: string;
}

/** Without --layout, a raw file is tried as pycryptodome's documented order, then as nonce || ciphertext || tag. */
const DEFAULT_ORDERS: readonly RawLayout[] = [PYCRYPTODOME_LAYOUT, NONCE_CIPHERTEXT_TAG];

type Outcome = { status: 'converted'; output: string; how: string } | { status: 'skipped'; why: string } | { status: 'refused'; why: string };

interface Found {
  input: Input & { kind: 'file' };
  /** Where it goes: its path below the input root, under -o. */
  output: string;
}

/** Files of a tree, in name order, without hidden files (our temp files) or symlinks (no loops). */
async function walk(dir: string, out: string[], skipped: { path: string; why: string }[]): Promise<void> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    throw fsError(err, 'list', dir);
  }
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    const st = await lstat(path);
    if (st.isDirectory()) await walk(path, out, skipped);
    else if (st.isFile()) out.push(path);
    else skipped.push({ path, why: st.isSymbolicLink() ? 'a symlink (not followed)' : 'not a regular file' });
  }
}

/** Every file the inputs name: files as they are, directories walked, each with its output path under `output`. */
async function collect(inputs: string[], output: string, intoDirectory: boolean): Promise<{ found: Found[]; skipped: { path: string; why: string }[] }> {
  const found: Found[] = [];
  const skipped: { path: string; why: string }[] = [];
  for (const path of inputs) {
    if (path === '-') throw new SealcamError('EUSAGE', 'convert reads files and directories, not stdin: sealcam decrypt - and sealcam encrypt - pipe one file through');
    const st = await lstat(path).catch((err: unknown) => {
      throw (err as NodeJS.ErrnoException).code === 'ENOENT' ? new SealcamError('ENOENT', `input ${path} not found`) : fsError(err, 'read input', path);
    });
    const files: string[] = [];
    if (st.isDirectory()) await walk(path, files, skipped);
    else files.push(path);
    for (const file of files) {
      const below = st.isDirectory() ? join(basename(path), relative(path, file)) : basename(file);
      const input = (await measureInput(file)) as Input & { kind: 'file' };
      found.push({ input, output: intoDirectory ? `${join(output, below)}.sealed` : output });
    }
  }
  return { found, skipped };
}

/** The header's name and capture time: the metadata's, when it records them, else the file's own. */
function recorded(input: Input & { kind: 'file' }, name: string | undefined, captureTime: string | undefined): SealedMetadata {
  return { originalName: name ?? basename(input.path), captureTime: captureTime ?? input.mtime.toISOString() };
}

/** Opens one file into a spool (verified), then seals the spool to its output. */
async function convertOne(run: Run, item: Found, target: OutputTarget, keys: { open: CryptKeys; seal: CryptKeys }, orders: readonly RawLayout[], pool: () => SealPool): Promise<Outcome> {
  const { input } = item;
  if (input.path.endsWith('.json')) return { status: 'skipped', why: 'a metadata file' };
  const metadataPath = findMetadata(input.path);
  const layout = await detectLayout(input, metadataPath);
  if (layout === 'sealed') return { status: 'skipped', why: 'sealed already' };
  const job = (into: FileJob['into']): FileJob => ({ input, output: target, into, force: run.force, engine: run.engine, onBytes: () => undefined });
  const header = await keys.seal.sealedHeader('sealed');
  return withSpool(async (spool, spoolPath) => {
    let how: string;
    let metadata: SealedMetadata;
    if (layout === 'sidecar') {
      const described = await readMetadata(metadataPath!);
      await openSidecarFile(job(handleSink(spool)), keys.open, metadataPath!);
      how = `with ${basename(metadataPath!)}`;
      metadata = described.kind === 'foreign' ? recorded(input, described.metadata.originalName, described.metadata.captureTime) : recorded(input, described.metadata.originalName, undefined);
    } else {
      const key = keys.open.fileKey(`${input.path} has no metadata file beside it, so it reads as raw, and raw`);
      let opened: RawLayout | undefined;
      for (const order of orders) {
        await spool.truncate(0);
        try {
          await openRawFile(job(handleSink(spool)), key, order);
          opened = order;
          break;
        } catch (err) {
          if (!(err instanceof AuthenticationError)) throw err;
        }
      }
      if (opened === undefined) {
        const tried = orders.map(formatRawLayout).join(' and ');
        return { status: 'refused', why: `does not verify under the key as raw ${tried} (wrong key, another layout, or the file was altered)` };
      }
      how = `as raw ${formatRawLayout(opened)}`;
      metadata = recorded(input, undefined, undefined);
    }
    const plain = await measureInput(spoolPath);
    if (target.kind === 'file') await createDirectory(dirname(target.path));
    await sealSealedFile({ input: plain, output: target, force: run.force, engine: run.engine, onBytes: () => undefined }, header, pool(), run.config.seal.segmentSize, {
      ...metadata,
      originalSize: plain.kind === 'file' ? plain.size : undefined,
    });
    if (target.kind === 'file') await utimes(target.path, input.mtime, input.mtime).catch(() => undefined);
    return { status: 'converted', output: target.name, how };
  });
}

export async function convert(inputs: string[], opts: ConvertOptions): Promise<void> {
  const orders = opts.layout === undefined ? DEFAULT_ORDERS : opts.layout.split(';').map(parseRawLayout);
  const run = runFrom(opts, ['seal.jobs', 'seal.segmentSize']);
  const out = run.out;
  const single = inputs.length === 1 && (await lstat(inputs[0]!).then((st) => st.isFile(), () => false));
  const intoDirectory = !single || opts.output.endsWith('/') || (await lstat(opts.output).then((st) => st.isDirectory(), () => false));
  const { found, skipped: unwalked } = await collect(inputs, opts.output, intoDirectory);
  // Every output is checked before anything is written.
  const targets: OutputTarget[] = [];
  for (const item of found) targets.push(await resolveOutput(item.output, run.force));
  await refuseInputs(targets, found.map((item) => item.input));
  // -k opens what the scripts wrote; the sealed files go under the keyring's key, so they open later without -k.
  const keys = { open: await CryptKeys.load(run.config, opts.keyFile, undefined), seal: await CryptKeys.load(run.config, undefined, opts.keyName) };
  let pool: SealPool | undefined;
  // Sealing reads what was opened, about as large as the inputs.
  const total = found.reduce((sum, item) => sum + item.input.size, 0);
  const counts = { converted: 0, skipped: unwalked.length, refused: 0 };
  try {
    for (const s of unwalked) {
      out.line(`skipped ${s.path}: ${s.why}`);
      out.record({ input: s.path, status: 'skipped', why: s.why });
    }
    await readyOutputs(undefined, targets);
    for (const [i, item] of found.entries()) {
      let outcome: Outcome;
      try {
        outcome = await convertOne(run, item, targets[i]!, keys, orders, () => (pool ??= new SealPool({ jobs: run.jobs === 0 ? undefined : run.jobs, engine: run.engine, inlineBytes: inlineBytesFor(total) })));
      } catch (err) {
        // A file that cannot be opened is that file's problem; the key provider or the disk failing is everyone's.
        if (!(err instanceof SealcamError) || !['EAUTH', 'EFORMAT', 'ENOKEY', 'EINPUT', 'ECHANGED', 'EKEYSIZE'].includes(err.code)) throw err;
        outcome = { status: 'refused', why: err.message };
      }
      counts[outcome.status] += 1;
      const name = item.input.path;
      if (outcome.status === 'converted') {
        if (!out.quiet) out.line(`converted ${name} -> ${outcome.output} (${outcome.how})`);
        out.record({ input: name, status: 'converted', output: outcome.output, how: outcome.how });
      } else if (outcome.status === 'skipped') {
        if (!out.quiet) out.line(`skipped ${name}: ${outcome.why}`);
        out.record({ input: name, status: 'skipped', why: outcome.why });
      } else {
        if (!out.json) printError(`refused ${name}: ${outcome.why}`);
        out.record({ input: name, status: 'refused', why: outcome.why });
      }
    }
  } finally {
    await keys.open.wipe();
    await keys.seal.wipe();
    await pool?.close();
  }
  out.line(`converted ${counts.converted}, skipped ${counts.skipped}, refused ${counts.refused}`);
  out.record({ summary: counts });
  if (counts.refused > 0) process.exitCode = 1;
}
