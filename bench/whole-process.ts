import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { openRaw } from '../src/formats/raw.js';
import { openSealed } from '../src/formats/sealed.js';
import { packageRoot } from '../src/paths.js';
import { same } from './cases/check.js';
import { random } from './cases/inputs.js';
import { median } from './measure.js';
import { IMAGE_BYTES } from './plan.js';
import { PYTHON } from './python.js';
import type { StartupFigures, TimedCommand, WholeProcess } from './results.js';

/**
 * Whole-process figures: `sealcam encrypt` of the reference image and of a batch of 100 against
 * the seed's Python script (bench/seed_encrypt.py), Node's and Python's bare start-up, and
 * sealcam's start-up in steps (bench/startup-probe.ts). Timed with hyperfine when it is installed.
 */

const BATCH = 100;
/** The bundled CLI, as it ships (package.json bin). */
const CLI = join(packageRoot, 'dist', 'cli', 'main.js');
const SEED = join(packageRoot, 'bench', 'seed_encrypt.py');
const PROBE = join(packageRoot, 'dist', 'bench', 'startup-probe.js');
const run = promisify(execFile);

export interface WholeProcessPlan {
  runs: { single: number; batch: number; startup: number };
  probeRuns: number;
  log(line: string): void;
}

interface HyperfineJson {
  results: { command: string; mean: number; stddev: number | null; median: number; min: number; times: number[] }[];
}

function hyperfineAvailable(): boolean {
  return spawnSync('hyperfine', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Runs hyperfine on named commands (no shell: arguments split on spaces, quotes respected). */
async function hyperfine(dir: string, commands: { name: string; command: string }[], runs: number, warmup: number): Promise<TimedCommand[]> {
  const out = join(dir, `hyperfine-${Date.now()}.json`);
  const args = ['--shell=none', '--style', 'none', '--runs', String(runs), '--warmup', String(warmup), '--export-json', out];
  await run('hyperfine', [...args, ...commands.map((c) => c.command)], { maxBuffer: 1 << 24 });
  const json = JSON.parse(await readFile(out, 'utf8')) as HyperfineJson;
  return json.results.map((r, i) => ({
    name: commands[i]!.name,
    command: commands[i]!.command.replaceAll(dir + '/', ''),
    meanMs: r.mean * 1000,
    stddevMs: (r.stddev ?? 0) * 1000,
    medianMs: r.median * 1000,
    minMs: r.min * 1000,
    runs: r.times.length,
  }));
}

/** sealcam's start-up in steps: medians over fresh processes. */
async function startupProbe(runs: number): Promise<StartupFigures> {
  const samples: Omit<StartupFigures, 'runs'>[] = [];
  for (let i = 0; i < runs; i++) {
    const { stdout } = await run(process.execPath, [PROBE]);
    samples.push(JSON.parse(stdout) as Omit<StartupFigures, 'runs'>);
  }
  const med = (k: keyof Omit<StartupFigures, 'runs'>): number => median(samples.map((s) => s[k]));
  return {
    runs,
    nodeBootMs: med('nodeBootMs'),
    engineImportMs: med('engineImportMs'),
    libraryImportMs: med('libraryImportMs'),
    wasmCompileMs: med('wasmCompileMs'),
    firstInstanceMs: med('firstInstanceMs'),
    firstMessageMs: med('firstMessageMs'),
  };
}

/** Every file in `dir` ending in `suffix` must open under `key` to `image` (raw, or sealed for .sealed). */
async function checkOutputs(dir: string, suffix: string, expected: number, key: Uint8Array, image: Uint8Array, who: string): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(suffix));
  if (files.length !== expected) return [`${who}: wrote ${files.length} files, expected ${expected}`];
  const problems: string[] = [];
  for (const f of files) {
    try {
      const bytes = await readFile(join(dir, f));
      const opened = f.endsWith('.sealed') ? openSealed(bytes, key, 'native').plaintext : openRaw(key, bytes, { engine: 'native' });
      if (!same(opened, image)) problems.push(`${who}: ${f} does not open to the image`);
    } catch (e) {
      problems.push(`${who}: ${f}: ${(e as Error).message}`);
    }
  }
  return problems;
}

/** Does this sealcam take several inputs and an output directory? (Added by another change; probe it.) */
async function multiInputSupported(dir: string, inputs: string[], keyFile: string): Promise<string | null> {
  const probe = join(dir, 'probe');
  await mkdir(probe);
  const r = spawnSync(process.execPath, [CLI, 'encrypt', ...inputs.slice(0, 2), '-o', probe + '/', '--format', 'raw', '-k', keyFile], {
    encoding: 'utf8',
  });
  const written = (await readdir(probe)).length;
  await rm(probe, { recursive: true, force: true });
  if (r.status === 0 && written === 2) return null;
  return (r.stderr || r.stdout).trim().split('\n')[0] || `exit ${r.status}, ${written} files written`;
}

export async function wholeProcess(plan: WholeProcessPlan): Promise<WholeProcess> {
  const result: WholeProcess = { notes: [], commands: [], comparisons: [], startup: null, disagreements: [] };
  if (!existsSync(CLI) || !existsSync(PROBE)) {
    result.notes.push('whole-process figures skipped: dist/ is not built (npm run build)');
    return result;
  }
  plan.log(`start-up probe: ${plan.probeRuns} fresh processes`);
  result.startup = await startupProbe(plan.probeRuns);
  if (!hyperfineAvailable()) {
    result.notes.push('hyperfine is not installed (Debian: apt-get install hyperfine): whole-process timings skipped');
    return result;
  }
  const dir = await mkdtemp(join(tmpdir(), 'sealcam-whole-'));
  try {
    const key = random(16);
    const image = random(IMAGE_BYTES);
    const keyFile = join(dir, 'camera.key');
    const imageFile = join(dir, 'image.jpg');
    await writeFile(keyFile, key, { mode: 0o600 });
    await writeFile(imageFile, image);
    const inDir = join(dir, 'in');
    await mkdir(inDir);
    const batch = Array.from({ length: BATCH }, (_, i) => join(inDir, `img${String(i).padStart(3, '0')}.jpg`));
    for (const f of batch) await copyFile(imageFile, f);
    const out = { sealcam: join(dir, 'out-sealcam'), python: join(dir, 'out-python'), sealcamBatch: join(dir, 'batch-sealcam'), pythonBatch: join(dir, 'batch-python') };
    for (const d of Object.values(out)) await mkdir(d);
    result.notes.push(
      `image: ${IMAGE_BYTES} random bytes (the reference camera image's size; EAX does not care about content); key file 0600`,
      'sealcam writes each output through a temp file, fsync and rename (src/io/atomic.ts); the seed script writes in place without fsync',
    );

    // A command that fails (non-zero exit) fails the run, and the other groups still run.
    const timed = async (what: string, commands: { name: string; command: string }[], runs: number, warmup: number): Promise<TimedCommand[] | null> => {
      try {
        return await hyperfine(dir, commands, runs, warmup);
      } catch (e) {
        result.disagreements.push(`${what}: hyperfine failed: ${(e as Error).message.split('\n')[0]}`);
        return null;
      }
    };
    const node = process.execPath;
    const sealcam = (input: string, output: string): string => `${node} ${CLI} encrypt ${input} -o ${output} --format raw -k ${keyFile} --force`;
    const seed = (outDir: string, inputs: string[]): string => `${PYTHON} ${SEED} ${keyFile} ${outDir} ${inputs.join(' ')}`;

    plan.log('hyperfine: one reference image');
    const single = await timed(
      'one image',
      [
        { name: 'sealcam encrypt (1 image)', command: sealcam(imageFile, join(out.sealcam, 'image.jpg.enc')) },
        { name: 'seed script, pycryptodome (1 image)', command: seed(out.python, [imageFile]) },
        // sealcam's own format (the default), which goes through the pool's code on the calling thread.
        { name: 'sealcam encrypt (1 image, sealed)', command: `${node} ${CLI} encrypt ${imageFile} -o ${join(out.sealcam, 'image.jpg.sealed')} -k ${keyFile} --force` },
      ],
      plan.runs.single,
      2,
    );

    plan.log(`hyperfine: a batch of ${BATCH} images`);
    const unsupported = await multiInputSupported(dir, batch, keyFile);
    let sealcamBatch: { name: string; command: string };
    if (unsupported === null) {
      sealcamBatch = { name: `sealcam encrypt (${BATCH} images, one process)`, command: `${node} ${CLI} encrypt ${batch.join(' ')} -o ${out.sealcamBatch}/ --format raw -k ${keyFile} --force` };
    } else {
      result.notes.push(`sealcam encrypt does not take several inputs yet (${unsupported}): the batch row runs ${BATCH} sealcam processes from a shell loop instead`);
      const loop = join(dir, 'loop.sh');
      await writeFile(loop, batch.map((f) => sealcam(f, join(out.sealcamBatch, `${basename(f)}.enc`))).join('\n') + '\n');
      sealcamBatch = { name: `sealcam encrypt (${BATCH} images, ${BATCH} processes)`, command: `/bin/sh ${loop}` };
    }
    const batchTimes = await timed(
      `${BATCH} images`,
      [sealcamBatch, { name: `seed script, pycryptodome (${BATCH} images, one process)`, command: seed(out.pythonBatch, batch) }],
      plan.runs.batch,
      1,
    );

    plan.log('hyperfine: start-up');
    const startup = await timed(
      'start-up',
      [
        { name: 'node, empty script', command: `${node} -e 0` },
        { name: 'sealcam --version', command: `${node} ${CLI} --version` },
        { name: 'python3, empty script', command: `${PYTHON} -c pass` },
        { name: 'python3, import pycryptodome AES', command: `${PYTHON} -c "from Cryptodome.Cipher import AES"` },
      ],
      plan.runs.startup,
      3,
    );
    result.commands = [...(single ?? []), ...(batchTimes ?? []), ...(startup ?? [])];
    const compare = (what: string, t: TimedCommand[] | null, a: number, b: number): void => {
      if (t) result.comparisons.push({ what, ratio: t[a]!.meanMs / t[b]!.meanMs });
    };
    compare('one image: sealcam / seed script (wall time)', single, 0, 1);
    compare('one image, sealed: sealcam / seed script (wall time)', single, 2, 1);
    compare(`${BATCH} images: sealcam / seed script (wall time)`, batchTimes, 0, 1);
    compare('start-up: sealcam --version / node -e 0', startup, 1, 0);
    result.disagreements.push(
      ...(await checkOutputs(out.sealcam, '.enc', 1, key, image, 'sealcam (1 image)')),
      ...(await checkOutputs(out.sealcam, '.sealed', 1, key, image, 'sealcam (1 image, sealed)')),
      ...(await checkOutputs(out.python, '.enc', 1, key, image, 'seed script (1 image)')),
      ...(await checkOutputs(out.sealcamBatch, '', BATCH, key, image, `sealcam (${BATCH} images)`)),
      ...(await checkOutputs(out.pythonBatch, '.enc', BATCH, key, image, `seed script (${BATCH} images)`)),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return result;
}
