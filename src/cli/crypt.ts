import { mkdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { checkConfig, FLAG_NAMES, type SealcamConfig } from '../config.js';
import { ENGINES, type EngineName } from '../engine/types.js';
import { SealcamError } from '../errors.js';
import { assertWritable, fsError } from '../io/atomic.js';
import { SealPool } from '../pool/pool.js';
import { CryptKeys } from './crypt-keys.js';
import {
  detectLayout,
  inputSize,
  LAYOUTS,
  openRawFile,
  openSealedFile,
  openSidecarFile,
  sealRawFile,
  sealSealedFile,
  sealSidecarFile,
  sidecarPath,
  type FileJob,
  type Layout,
} from './layouts.js';
import { configFromOptions } from './options.js';
import { createProgress, type Progress } from './progress.js';

/**
 * `sealcam encrypt` and `sealcam decrypt`. Everything that can fail cheaply (options, inputs,
 * layouts, outputs that exist, keys) is checked for the whole batch before the first byte is
 * written. One pool serves the whole batch and is started only if a file needs it (sealed).
 */

export interface CryptOptions {
  output: string;
  keyFile?: string;
  keyName?: string;
  format?: string;
  force?: boolean;
  verbose?: boolean;
  config?: string;
  [flag: string]: unknown;
}

/** Work above this size shows progress on a terminal; so does any batch. */
const PROGRESS_BYTES = 8_000_000;

interface Run {
  config: SealcamConfig;
  engine: EngineName;
  /** Worker threads; 0 = one per core. */
  jobs: number;
  force: boolean;
  verbose: boolean;
}

interface Item {
  input: string;
  output: string;
  size: number;
}

function parseLayout(format: string): Layout {
  if (!(LAYOUTS as readonly string[]).includes(format)) throw new SealcamError('EUSAGE', `unknown format '${format}'; use sealed, raw or sidecar`);
  return format as Layout;
}

/** The settings of a run; `checked` are the seal.* settings the command uses besides the engine. */
function runFrom(opts: CryptOptions, checked: readonly string[]): Run {
  const config = configFromOptions(opts);
  const engine = config.seal.engine;
  if (!ENGINES.includes(engine)) throw new SealcamError('EUSAGE', `unknown engine '${engine}'; use ${ENGINES.join(' or ')}`);
  // checkConfig words these problems; name the flag that sets each too.
  const problem = checkConfig(config, process.env, ['seal']).find((p) => checked.includes(p.setting));
  if (problem !== undefined) throw new SealcamError('EUSAGE', `${problem.message} (${FLAG_NAMES[problem.setting]})`);
  return { config, engine, jobs: config.seal.jobs, force: opts.force === true, verbose: opts.verbose === true };
}

async function pathKind(path: string): Promise<'directory' | 'other' | 'none'> {
  try {
    return (await stat(path)).isDirectory() ? 'directory' : 'other';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'none';
    throw fsError(err, 'check output', path);
  }
}

/**
 * The output of each input: `output` itself for one input, else `output`/`name(input)`. Several
 * inputs (or an existing directory) make `output` a directory, created if missing.
 */
async function plan(inputs: string[], output: string, name: (input: string) => string): Promise<{ items: Item[]; createDir: boolean }> {
  const sizes: number[] = [];
  for (const input of inputs) sizes.push(await inputSize(input));
  const kind = await pathKind(output);
  const intoDirectory = inputs.length > 1 || kind === 'directory';
  if (intoDirectory && kind === 'other') throw new SealcamError('EUSAGE', `-o ${output} is a file; with several inputs -o must be a directory`);
  const outputs = intoDirectory ? inputs.map((input) => join(output, name(input))) : [output];
  const seen = new Map<string, string>();
  outputs.forEach((out, i) => {
    const other = seen.get(out);
    if (other !== undefined) throw new SealcamError('EUSAGE', `${other} and ${inputs[i]} would both be written to ${out}`);
    seen.set(out, inputs[i]!);
  });
  return { items: inputs.map((input, i) => ({ input, output: outputs[i]!, size: sizes[i]! })), createDir: intoDirectory && kind === 'none' };
}

async function checkOutputs(paths: string[], force: boolean): Promise<void> {
  for (const path of paths) await assertWritable(path, force);
}

async function createDirectory(path: string): Promise<void> {
  try {
    await mkdir(path);
  } catch (err) {
    throw fsError(err, 'create output directory', path);
  }
}

/** Names the input in a file's error, unless the message already does. */
function aboutInput(err: unknown, input: string): unknown {
  if (!(err instanceof SealcamError) || err.message.includes(input)) return err;
  return new SealcamError(err.code, `${input}: ${err.message}`);
}

/** Files processed at once: while one waits for the disk, the next one computes. */
const FILES_IN_FLIGHT = 2;

/**
 * Runs `work` on every item, FILES_IN_FLIGHT at a time in input order, and starts no new one
 * after a failure (whose output is not written; outputs already finished stay, complete).
 * Progress counts input bytes: a bar on a terminal for a batch or a large file, and a summary line
 * only with --verbose.
 */
async function runBatch(
  run: Run,
  verb: string,
  items: Item[],
  work: (job: FileJob, pool: () => SealPool, index: number) => Promise<void>,
): Promise<void> {
  const total = items.reduce((sum, item) => sum + item.size, 0);
  let succeeded = false;
  let progress: Progress | undefined;
  if (run.verbose || items.length > 1 || total > PROGRESS_BYTES) {
    progress = createProgress({
      label: items.length === 1 ? `${verb} ${basename(items[0]!.input)}` : `${verb} ${items.length} files`,
      total,
      // Errors must stay one line: no summary after a failure, and none unless asked for.
      log: (line) => void (succeeded && run.verbose && process.stderr.write(`${line}\n`)),
    });
  }
  let done = 0;
  let next = 0;
  let failure: { error: unknown } | undefined;
  let pool: SealPool | undefined;
  const poolFor = () => (pool ??= new SealPool({ jobs: run.jobs === 0 ? undefined : run.jobs, engine: run.engine }));
  const lane = async () => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      const item = items[index]!;
      const job: FileJob = {
        input: item.input,
        size: item.size,
        output: item.output,
        force: run.force,
        engine: run.engine,
        onBytes: (n) => progress?.update((done += n)),
      };
      try {
        await work(job, poolFor, index);
      } catch (err) {
        failure ??= { error: aboutInput(err, item.input) };
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(FILES_IN_FLIGHT, items.length) }, lane));
    if (failure !== undefined) throw failure.error;
    succeeded = true;
  } finally {
    progress?.finish();
    await pool?.close();
  }
}

const EXTENSIONS: Record<Layout, string> = { sealed: '.sealed', raw: '.eax', sidecar: '.eax' };

export async function encrypt(inputs: string[], opts: CryptOptions): Promise<void> {
  const layout = parseLayout(opts.format ?? 'sealed');
  const run = runFrom(opts, ['seal.jobs', 'seal.segmentSize']);
  const { items, createDir } = await plan(inputs, opts.output, (input) => basename(input) + EXTENSIONS[layout]);
  await checkOutputs(
    items.flatMap((item) => (layout === 'sidecar' ? [item.output, sidecarPath(item.output)] : [item.output])),
    run.force,
  );
  const keys = await CryptKeys.load(run.config, opts.keyFile, opts.keyName);
  try {
    const rawKey = layout === 'raw' ? keys.fileKey('--format raw') : undefined;
    // Last of the checks: without -k or -r this may create the key.
    const header = layout === 'sealed' ? await keys.sealedHeader(layout) : undefined;
    const kek = layout === 'sidecar' ? await keys.sealing(layout) : undefined;
    if (createDir) await createDirectory(opts.output);
    await runBatch(run, 'sealing', items, async (job, pool) => {
      if (layout === 'sealed') await sealSealedFile(job, header!, pool(), run.config.seal.segmentSize);
      else if (layout === 'raw') await sealRawFile(job, rawKey!);
      else await sealSidecarFile(job, kek!);
    });
  } finally {
    await keys.wipe();
  }
}

/** `photo.jpg.sealed` and `photo.jpg.eax` open to `photo.jpg`. */
function openedName(input: string): string {
  const name = basename(input);
  const ext = ['.sealed', '.eax'].find((e) => name.endsWith(e) && name.length > e.length);
  if (ext === undefined) {
    throw new SealcamError('EUSAGE', `cannot name the output for ${input} in a directory (it does not end in .sealed or .eax): decrypt it alone with -o <file>`);
  }
  return name.slice(0, -ext.length);
}

export async function decrypt(inputs: string[], opts: CryptOptions): Promise<void> {
  const forced = opts.format === undefined ? undefined : parseLayout(opts.format);
  const run = runFrom(opts, ['seal.jobs']);
  const { items, createDir } = await plan(inputs, opts.output, openedName);
  const layouts: Layout[] = [];
  for (const item of items) layouts.push(forced ?? (await detectLayout(item.input)));
  await checkOutputs(
    items.map((item) => item.output),
    run.force,
  );
  const keys = await CryptKeys.load(run.config, opts.keyFile, undefined);
  try {
    layouts.forEach((layout, i) => {
      if (layout !== 'raw') return;
      keys.fileKey(forced ? '--format raw' : `${items[i]!.input} has no sealed header and no .json sidecar beside it, so it reads as raw, and raw`);
    });
    const sealedKeys = await keys.openKeys(run.config);
    if (sealedKeys.trust !== undefined) {
      const unsigned = items.find((_, i) => layouts[i] !== 'sealed');
      if (unsigned !== undefined) throw new SealcamError('ESIGNATURE', `${unsigned.input} is a ${layouts[items.indexOf(unsigned)]} file, which carries no device signature: --trust refuses it`);
    }
    if (createDir) await createDirectory(opts.output);
    await runBatch(run, 'opening', items, async (job, pool, index) => {
      const layout = layouts[index]!;
      if (layout === 'sealed') await openSealedFile(job, sealedKeys, pool());
      else if (layout === 'raw') await openRawFile(job, keys.fileKey('raw'));
      else await openSidecarFile(job, keys.lookup);
    });
  } finally {
    await keys.wipe();
  }
}
