import { mkdir, stat } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { checkConfig, FLAG_NAMES, type SealcamConfig } from '../config.js';
import { ENGINES, type EngineName } from '../engine/types.js';
import { AuthenticationError, SealcamError } from '../errors.js';
import { PYCRYPTODOME_LAYOUT, parseRawLayout, type RawLayout } from '../formats/raw.js';
import { fsError, refuseSameFile, resolveOutput, STDIO, sweepStaleTemps, type OutputTarget } from '../io/atomic.js';
import { inlineBytesFor, SealPool } from '../pool/pool.js';
import { CryptKeys } from './crypt-keys.js';
import {
  detectLayout,
  findMetadata,
  inputSize,
  LAYOUTS,
  measureInput,
  openRawFile,
  openSealedFile,
  openSidecarFile,
  sealRawFile,
  sealSealedFile,
  sealSidecarFile,
  sidecarPath,
  type FileJob,
  type Input,
  type Layout,
} from './layouts.js';
import { configFromOptions } from './options.js';
import { reporterFrom, type Reporter } from './output.js';
import { createProgress, type Progress } from './progress.js';

/**
 * `sealcam encrypt` and `sealcam decrypt`. Everything that can fail cheaply (options, inputs,
 * layouts, outputs that exist or are the inputs themselves, keys) is checked for the whole batch
 * before the first byte is written. One pool serves the whole batch and is started only if a file
 * needs it (sealed), and its workers only if the batch is large enough to pay for them
 * (INLINE_BYTES). The key choice is in one place (crypt-keys.ts), so other kinds of key (-r
 * recipients, -i identities) slot in there.
 */

export interface CryptOptions {
  output: string;
  keyFile?: string;
  keyName?: string;
  format?: string;
  /** raw: the order of nonce, tag and ciphertext. */
  layout?: string;
  /** decrypt: the metadata file of a sidecar (sealcam's or a reference script's). */
  metadata?: string;
  force?: boolean;
  verbose?: boolean;
  json?: boolean;
  quiet?: boolean;
  config?: string;
  [flag: string]: unknown;
}

/** Work above this size shows progress on a terminal; so does any batch. */
const PROGRESS_BYTES = 8_000_000;

export interface Run {
  config: SealcamConfig;
  engine: EngineName;
  /** Worker threads; 0 = one per core. */
  jobs: number;
  force: boolean;
  verbose: boolean;
  out: Reporter;
}

export interface Item {
  input: Input;
  output: OutputTarget;
}

function parseLayout(format: string): Layout {
  if (!(LAYOUTS as readonly string[]).includes(format)) throw new SealcamError('EUSAGE', `unknown format '${format}'; use sealed, raw or sidecar`);
  return format as Layout;
}

function rawLayoutFrom(opts: CryptOptions): RawLayout {
  return opts.layout === undefined ? PYCRYPTODOME_LAYOUT : parseRawLayout(opts.layout);
}

/** The settings of a run; `checked` are the seal.* settings the command uses besides the engine. */
export function runFrom(opts: CryptOptions, checked: readonly string[]): Run {
  const config = configFromOptions(opts);
  const engine = config.seal.engine;
  if (!ENGINES.includes(engine)) throw new SealcamError('EUSAGE', `unknown engine '${engine}'; use ${ENGINES.join(' or ')}`);
  // checkConfig words these problems; name the flag that sets each too.
  const problem = checkConfig(config, process.env, ['seal']).find((p) => checked.includes(p.setting));
  if (problem !== undefined) throw new SealcamError('EUSAGE', `${problem.message} (${FLAG_NAMES[problem.setting]})`);
  return { config, engine, jobs: config.seal.jobs, force: opts.force === true, verbose: opts.verbose === true, out: reporterFrom(opts) };
}

async function pathKind(path: string): Promise<'directory' | 'other' | 'none'> {
  try {
    return (await stat(path)).isDirectory() ? 'directory' : 'other';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'none';
    throw fsError(err, 'check output', path);
  }
}

/** `-o dir/` (a trailing slash) says "a directory" even for one input. */
const namesDirectory = (path: string) => path.endsWith('/') || path.endsWith(sep);

/**
 * The output of each input: `output` itself for one input, else `output`/`name(input)`. Several
 * inputs, an existing directory or a trailing slash make `output` a directory, created if
 * missing. Each output is resolved (io/atomic.ts resolveOutput: existing files need --force,
 * devices and FIFOs are written into, symlinks followed to an existing target) and must not be
 * one of the inputs.
 */
export async function plan(
  paths: string[],
  output: string,
  force: boolean,
  name: (input: Input) => string,
): Promise<{ items: Item[]; createDir: string | undefined }> {
  if (paths.filter((p) => p === STDIO).length > 1) throw new SealcamError('EUSAGE', 'stdin (-) can be read only once');
  const inputs: Input[] = [];
  for (const path of paths) inputs.push(await measureInput(path));
  const kind = output === STDIO ? 'other' : await pathKind(output);
  const intoDirectory = output !== STDIO && (inputs.length > 1 || kind === 'directory' || namesDirectory(output));
  if (output === STDIO && inputs.length > 1) throw new SealcamError('EUSAGE', '-o - (stdout) takes one input; for several give -o a directory');
  if (intoDirectory && kind === 'other') throw new SealcamError('EUSAGE', `-o ${output} is a file; with several inputs -o must be a directory`);
  const outputs = intoDirectory
    ? inputs.map((input) => {
        if (input.kind === 'stdin') throw new SealcamError('EUSAGE', 'stdin (-) has no name to write into a directory: give -o a file, or - for stdout');
        return join(output, name(input));
      })
    : [output];
  const seen = new Map<string, string>();
  outputs.forEach((out, i) => {
    const other = seen.get(out);
    if (other !== undefined) throw new SealcamError('EUSAGE', `${other} and ${inputs[i]!.name} would both be written to ${out}`);
    seen.set(out, inputs[i]!.name);
  });
  const items: Item[] = [];
  for (const [i, out] of outputs.entries()) items.push({ input: inputs[i]!, output: await resolveOutput(out, force) });
  await refuseInputs(items.map((item) => item.output), inputs);
  return { items, createDir: intoDirectory && kind === 'none' ? output : undefined };
}

/** Refuses any output that is one of the inputs (or a file read beside them: a sidecar's metadata). */
export async function refuseInputs(outputs: OutputTarget[], inputs: readonly Input[], extra: readonly string[] = []): Promise<void> {
  const known = inputs.flatMap((input) => (input.kind === 'file' ? [{ name: input.name, id: input.id }] : []));
  for (const path of extra) {
    const input = await measureInput(path).catch(() => undefined);
    if (input?.kind === 'file') known.push({ name: input.name, id: input.id });
  }
  for (const output of outputs) await refuseSameFile(output, known);
}

export async function createDirectory(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
  } catch (err) {
    throw fsError(err, 'create output directory', path);
  }
}

/**
 * Makes the output directory a batch needs (if it needs one) and removes what killed runs left in
 * the output directories (temp files of our naming whose writer is gone).
 */
export async function readyOutputs(createDir: string | undefined, outputs: OutputTarget[]): Promise<void> {
  if (createDir !== undefined) await createDirectory(createDir);
  const dirs = new Set(outputs.flatMap((o) => (o.kind === 'file' ? [dirname(o.path)] : [])));
  for (const dir of dirs) await sweepStaleTemps(dir);
}

/** Names the input in a file's error, unless the message already does; a failed tag under -k names the key file too. */
function aboutInput(err: unknown, input: Input, keys: CryptKeys | undefined): unknown {
  if (!(err instanceof SealcamError)) return err;
  let message = err.message.includes(input.name) ? err.message : `${input.name}: ${err.message}`;
  if (err instanceof AuthenticationError && keys?.keyFilePath !== undefined) message += ` (key from -k ${keys.keyFilePath})`;
  return message === err.message ? err : new SealcamError(err.code, message);
}

/** Files processed at once: while some wait for the disk, the others compute (100 camera images on 2 cores: 2, 4, 6 in flight took 1.35, 1.04, 0.97 s). */
const FILES_IN_FLIGHT = 6;

/**
 * Runs `work` on every item, FILES_IN_FLIGHT at a time in input order, and starts no new one
 * after a failure (whose output is not written; outputs already finished stay, complete).
 * Progress counts input bytes: a bar on a terminal for a batch or a large file, and a summary line
 * only with --verbose.
 */
export async function runBatch(
  run: Run,
  verb: string,
  items: Item[],
  work: (job: FileJob, pool: () => SealPool, index: number) => Promise<void>,
  keys?: CryptKeys,
): Promise<void> {
  const total = items.reduce((sum, item) => sum + inputSize(item.input), 0);
  let succeeded = false;
  let progress: Progress | undefined;
  if (run.out.chatty && (run.verbose || items.length > 1 || total > PROGRESS_BYTES)) {
    progress = createProgress({
      label: items.length === 1 ? `${verb} ${basename(items[0]!.input.name)}` : `${verb} ${items.length} files`,
      total,
      // Errors must stay one line: no summary after a failure, and none unless asked for.
      log: (line) => void (succeeded && run.verbose && run.out.note(line)),
    });
  }
  let done = 0;
  let next = 0;
  let failure: { error: unknown } | undefined;
  let pool: SealPool | undefined;
  // A small invocation (one camera image) runs on this thread: the workers would cost more than they save.
  const poolFor = () => (pool ??= new SealPool({ jobs: run.jobs === 0 ? undefined : run.jobs, engine: run.engine, inlineBytes: inlineBytesFor(total) }));
  const lane = async () => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      const item = items[index]!;
      const job: FileJob = { input: item.input, output: item.output, force: run.force, engine: run.engine, onBytes: (n) => progress?.update((done += n)) };
      try {
        await work(job, poolFor, index);
      } catch (err) {
        failure ??= { error: aboutInput(err, item.input, keys) };
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

/** With --json, one line per file written. */
function report(run: Run, items: Item[], layouts: readonly Layout[]): void {
  items.forEach((item, i) => run.out.record({ input: item.input.name, output: item.output.name, layout: layouts[i] }));
}

const EXTENSIONS: Record<Layout, string> = { sealed: '.sealed', raw: '.eax', sidecar: '.eax' };

export async function encrypt(inputs: string[], opts: CryptOptions): Promise<void> {
  const layout = parseLayout(opts.format ?? 'sealed');
  const rawLayout = rawLayoutFrom(opts);
  if (opts.layout !== undefined && layout !== 'raw') throw new SealcamError('EUSAGE', '--layout orders the parts of a raw file: it needs --format raw');
  const run = runFrom(opts, ['seal.jobs', 'seal.segmentSize']);
  const { items, createDir } = await plan(inputs, opts.output, run.force, (input) => basename(input.name) + EXTENSIONS[layout]);
  if (layout === 'sidecar') {
    const metadata: OutputTarget[] = [];
    for (const item of items) {
      if (item.output.kind !== 'file') throw new SealcamError('EUSAGE', `--format sidecar writes two files (the ciphertext and its .json), so -o must name a file, not ${item.output.name}`);
      metadata.push(await resolveOutput(sidecarPath(item.output.path), run.force));
    }
    await refuseInputs(metadata, items.map((item) => item.input));
  }
  const keys = await CryptKeys.load(run.config, opts.keyFile, opts.keyName);
  try {
    const rawKey = layout === 'raw' ? keys.fileKey('--format raw') : undefined;
    // Last of the checks: without -k or -r this may create the key.
    const header = layout === 'sealed' ? await keys.sealedHeader(layout) : undefined;
    const kek = layout === 'sidecar' ? await keys.sealing(layout) : undefined;
    await readyOutputs(createDir, items.map((item) => item.output));
    await runBatch(
      run,
      'sealing',
      items,
      async (job, pool) => {
        if (layout === 'sealed') await sealSealedFile(job, header!, pool(), run.config.seal.segmentSize);
        else if (layout === 'raw') await sealRawFile(job, rawKey!, rawLayout, pool());
        else await sealSidecarFile(job, kek!, pool());
      },
      keys,
    );
    report(run, items, items.map(() => layout));
  } finally {
    await keys.wipe();
  }
}

/** `photo.jpg.sealed` and `photo.jpg.eax` open to `photo.jpg`. */
function openedName(input: Input): string {
  const name = basename(input.name);
  const ext = ['.sealed', '.eax'].find((e) => name.endsWith(e) && name.length > e.length);
  if (ext === undefined) {
    throw new SealcamError('EUSAGE', `cannot name the output for ${input.name} in a directory (it does not end in .sealed or .eax): decrypt it alone with -o <file>`);
  }
  return name.slice(0, -ext.length);
}

export async function decrypt(inputs: string[], opts: CryptOptions): Promise<void> {
  const forced = opts.format === undefined ? undefined : parseLayout(opts.format);
  const rawLayout = rawLayoutFrom(opts);
  if (opts.metadata !== undefined && inputs.length !== 1) throw new SealcamError('EUSAGE', '--metadata describes one file: decrypt it alone');
  if (opts.metadata !== undefined && forced !== undefined && forced !== 'sidecar') throw new SealcamError('EUSAGE', `--metadata is for a sidecar file, not --format ${forced}`);
  const run = runFrom(opts, ['seal.jobs']);
  const { items, createDir } = await plan(inputs, opts.output, run.force, openedName);
  const layouts: Layout[] = [];
  const metadataFiles: (string | undefined)[] = [];
  for (const item of items) {
    const metadata = opts.metadata ?? (item.input.kind === 'file' ? findMetadata(item.input.path) : undefined);
    const layout = opts.metadata !== undefined ? 'sidecar' : (forced ?? (await detectLayout(item.input, metadata)));
    if (layout === 'sidecar' && metadata === undefined) {
      throw new SealcamError('EUSAGE', `${item.input.name} has no metadata file beside it (${item.input.kind === 'file' ? 'looked for <name>.json and <stem>.json' : 'stdin'}): name it with --metadata FILE`);
    }
    if (opts.layout !== undefined && layout !== 'raw') throw new SealcamError('EUSAGE', `--layout orders the parts of a raw file, and ${item.input.name} reads as ${layout}`);
    layouts.push(layout);
    metadataFiles.push(layout === 'sidecar' ? metadata : undefined);
  }
  await refuseInputs(
    items.map((item) => item.output),
    [],
    metadataFiles.filter((m): m is string => m !== undefined),
  );
  const keys = await CryptKeys.load(run.config, opts.keyFile, undefined);
  try {
    layouts.forEach((layout, i) => {
      if (layout !== 'raw') return;
      keys.fileKey(forced ? '--format raw' : `${items[i]!.input.name} has no sealed header and no metadata file beside it, so it reads as raw, and raw`);
    });
    const sealedKeys = await keys.openKeys(run.config);
    if (sealedKeys.trust !== undefined) {
      const unsigned = items.findIndex((_, i) => layouts[i] !== 'sealed');
      if (unsigned >= 0) throw new SealcamError('ESIGNATURE', `${items[unsigned]!.input.name} is a ${layouts[unsigned]} file, which carries no device signature: --trust refuses it`);
    }
    await readyOutputs(createDir, items.map((item) => item.output));
    await runBatch(
      run,
      'opening',
      items,
      async (job, pool, index) => {
        const layout = layouts[index]!;
        if (layout === 'sealed') await openSealedFile(job, sealedKeys, pool());
        else if (layout === 'raw') await openRawFile(job, keys.fileKey('raw'), rawLayout, pool());
        else await openSidecarFile(job, keys, metadataFiles[index]!, pool());
      },
      keys,
    );
    report(run, items, layouts);
  } finally {
    await keys.wipe();
  }
}
