/**
 * The sealcam benchmark suite (bench/README.md): every implementation cross-checked bit for bit
 * against sealcam native, then timed side by side in one run; a table on the console, and a JSON
 * record, a markdown summary and an SVG chart in bench/out/ (git ignores it; bench/results/ keeps
 * the committed reference runs).
 *
 *   npm run bench                       full run (about 7 minutes on 2 idle cores)
 *   npm run bench -- --quick            about a minute
 *   npm run bench -- --filter 'wasm.*seal'
 *   npm run bench -- --targets          also the performance targets, PASS / MISS
 *   npm run bench -- --compare a.json b.json
 *
 * A row that disagrees with the reference is reported and not timed, and the run exits 1.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wasmVariant } from '../src/engine/wasm.js';
import { packageRoot } from '../src/paths.js';
import { engineCases, NATIVE_IMPL, wasmImpl } from './cases/engine.js';
import { HEADER_BYTES } from './cases/inputs.js';
import { jsPeerCases } from './cases/js-peers.js';
import { referenceCases } from './cases/reference.js';
import { mainThreadSealedCases, poolSealedCases } from './cases/sealed.js';
import { simdCases } from './cases/simd.js';
import { blockTableSize, bytesFor, caseName, OPS, type Case } from './cases/types.js';
import { botanCases } from './botan.js';
import { noAesCases } from './cases/noaes.js';
import { chartSvg } from './chart.js';
import { compareText, loadRecord } from './compare.js';
import { cpuSlug, describeMachine, finishMachine, type Machine } from './machine.js';
import { quantile } from './measure.js';
import { makePlan, parseBenchArgs, USAGE, UsageError, type BenchArgs, type Plan } from './plan.js';
import { pythonCases } from './python.js';
import {
  addRatios,
  allRowsTable,
  BLOCK_TABLE_TITLE,
  blockTable,
  keyFiguresTable,
  machineLines,
  markdownReport,
  NOISE_NOTE,
  READING_NOTE,
  sizeLabel,
  targetsTable,
  textTable,
  wholeProcessTables,
} from './report.js';
import { SCHEMA, type Result, type RunRecord, type WholeProcess } from './results.js';
import { runStreams, streamRowName } from './stream.js';
import { evaluateTargets } from './targets.js';
import { wholeProcess } from './whole-process.js';

export interface BenchHooks {
  /** Rows added to the suite (its own tests add deliberately wrong implementations). */
  extraCases?: Case[];
  /** Where lines go (default: console.log) and progress marks (default: stdout without newline). */
  log?: (line: string) => void;
  progress?: (mark: string) => void;
}

const KIND_ORDER = { eax: 0, sealed: 1, stream: 2, reference: 3, part: 4, blocks: 5 } as const;

/** Every row this process can time, in table order. */
async function buildCases(plan: Plan, machine: Machine, notes: string[]): Promise<Case[]> {
  const variant = machine.wasmBuild;
  const simd: Case[] = [];
  if (variant === 'relaxed') {
    try {
      simd.push(...(await simdCases()));
      machine.wasmBuilds.push('simd (a worker thread started with SEALCAM_WASM=simd)');
    } catch (e) {
      notes.push(`the simd build could not be started on a worker thread: ${(e as Error).message}`);
    }
  } else {
    notes.push('relaxed SIMD is not available here (or SEALCAM_WASM=simd): only the baseline simd build is measured');
  }
  const python = await pythonCases();
  const botan = await botanCases();
  const noAes = await noAesCases(machine.emulated);
  const js = await jsPeerCases();
  for (const note of [python.note, botan.note, noAes.note, js.note]) if (note) notes.push(note);
  const all = [
    ...engineCases(wasmImpl(variant), 'wasm'),
    ...simd,
    ...engineCases(NATIVE_IMPL, 'native'),
    ...noAes.cases,
    ...python.cases,
    ...botan.cases,
    ...js.cases,
    ...mainThreadSealedCases(wasmImpl(variant), 'wasm'),
    ...mainThreadSealedCases(NATIVE_IMPL, 'native'),
    ...plan.workers.flatMap((w) => poolSealedCases('wasm', w)),
    ...plan.workers.flatMap((w) => poolSealedCases('native', w)),
    ...referenceCases(),
  ];
  return all.map((c, i) => ({ c, i })).sort((a, b) => KIND_ORDER[a.c.kind] - KIND_ORDER[b.c.kind] || a.i - b.i).map((x) => x.c);
}

/** Closes what the given cases hold, once per shared resource. */
async function closeAll(cases: Case[], keep: Case[] = []): Promise<void> {
  const kept = new Set(keep.map((c) => c.close));
  for (const close of new Set(cases.map((c) => c.close))) if (close && !kept.has(close)) await close();
}

function resultBase(c: Case, size: number): Omit<Result, 'status'> {
  const { impl, op, kind, keyBits, direction, pureJs, pool, blocks } = c;
  return { name: caseName(c), impl, op, kind, keyBits, direction, pureJs, ...(pool ? { pool } : {}), ...(blocks ? { blocks } : {}), size, bytes: bytesFor(c, size) };
}

/** Times every agreeing case at every size, rows of one size interleaved (rounds alternate their order). */
async function timeCases(cases: Case[], verdicts: Map<Case, string | null>, plan: Plan, progress: (m: string) => void): Promise<Result[]> {
  const results: Result[] = [];
  const blockSize = blockTableSize(plan.sizes.map((s) => s.size));
  for (const { size, timeMs } of plan.sizes) {
    const here = cases.filter((c) => c.kind !== 'blocks' || size === blockSize);
    const samples = new Map<Case, number[]>();
    const errors = new Map<Case, string>();
    const began = Date.now();
    progress(`timing ${sizeLabel(size)} (${(timeMs / 1000).toFixed(2)} s per row) `);
    for (let round = 0; round < plan.rounds; round++) {
      for (const c of round % 2 === 0 ? here : [...here].reverse()) {
        if (verdicts.get(c) || errors.has(c)) continue;
        try {
          const m = await c.measure(size, timeMs / plan.rounds, plan.minIterations);
          samples.set(c, [...(samples.get(c) ?? []), ...m.samples]);
        } catch (e) {
          errors.set(c, (e as Error).message);
        }
        progress('.');
      }
    }
    progress(` ${((Date.now() - began) / 1000).toFixed(0)} s\n`);
    for (const c of here) {
      const base = resultBase(c, size);
      const verdict = verdicts.get(c);
      const s = samples.get(c)?.sort((a, b) => a - b);
      if (verdict) results.push({ ...base, status: 'DISAGREES', detail: verdict });
      else if (!s?.length) results.push({ ...base, status: 'ERROR', detail: errors.get(c) ?? 'no samples' });
      else {
        const medianMs = quantile(s, 0.5);
        results.push({
          ...base,
          status: 'ok',
          samples: s.length,
          medianMs,
          p25Ms: quantile(s, 0.25),
          p75Ms: quantile(s, 0.75),
          mbps: base.bytes / (medianMs / 1000) / 1e6,
        });
      }
    }
  }
  return results;
}

function outputBase(args: BenchArgs, plan: Plan, machine: Machine, date: string): string {
  const dir = args.out ? resolve(args.out) : join(packageRoot, 'bench', 'out');
  const partial = args.filter || args.sizes || args.maxWorkers ? '-partial' : '';
  const mode = plan.mode === 'full' ? '' : `-${plan.mode}`;
  return join(dir, `${machine.arch}-${cpuSlug(machine.cpuModel)}-${date}${mode}${partial}${machine.emulated ? '-emulated' : ''}`);
}

function printReport(record: RunRecord, withTargets: boolean, log: (l: string) => void): void {
  const { table, breaks } = allRowsTable(record.results);
  log('\n' + textTable(table, breaks));
  log(`\n${READING_NOTE}`);
  for (const [title, dir] of [
    ['key figures, encrypt / seal (MB/s)', 'enc'],
    ['key figures, decrypt+verify / open (MB/s)', 'dec'],
  ] as const) {
    const t = keyFiguresTable(record.results, dir);
    if (t) log(`\n${title}:\n${textTable(t)}`);
  }
  const blocks = blockTable(record.results);
  if (blocks) log(`\n${BLOCK_TABLE_TITLE}:\n${textTable(blocks)}`);
  if (withTargets) log(`\n${textTable(targetsTable(record.targets))}`);
  const w = record.wholeProcess;
  if (w) {
    const tables = wholeProcessTables(w);
    log('\nwhole process:');
    for (const n of w.notes) log(`  note: ${n}`);
    if (tables.commands) log(textTable(tables.commands));
    for (const c of w.comparisons) log(`  ${c.what}: ${c.ratio.toFixed(2)}x`);
    if (tables.startup) log(textTable(tables.startup));
    for (const d of w.disagreements) log(`  DISAGREES: ${d}`);
  }
}

/** Runs the suite (or --compare); resolves to the exit status. */
export async function runBench(args: BenchArgs, hooks: BenchHooks = {}): Promise<number> {
  const log = hooks.log ?? ((line: string) => console.log(line));
  const progress = hooks.progress ?? ((mark: string) => void process.stdout.write(mark));
  if (args.compare) {
    log(compareText(loadRecord(args.compare[0]), loadRecord(args.compare[1]), args.compare));
    return 0;
  }
  const started = Date.now();
  const notes: string[] = [];
  const variant = wasmVariant();
  const machine = describeMachine(variant, [`${variant} (main thread and pool workers)`]);
  const plan = makePlan(args, availableParallelism(), machine.emulated);
  const filter = args.filter === null ? null : new RegExp(args.filter, 'i');
  const wanted = (name: string): boolean => filter === null || filter.test(name);

  const all = [...(await buildCases(plan, machine, notes)), ...(hooks.extraCases ?? [])];
  const cases = all.filter((c) => wanted(caseName(c)));
  await closeAll(all, cases);
  const streamsWanted = plan.streamSizes.some((s) =>
    plan.streamConfigs(s).some((c) => wanted(streamRowName(c, OPS.streamSeal)) || wanted(streamRowName(c, OPS.streamOpen))),
  );
  if (cases.length === 0 && !streamsWanted) throw new UsageError(`--filter '${args.filter}' matches no row`);

  log(`sealcam benchmark: ${plan.mode} run, ${cases.length} rows at ${plan.sizes.map((s) => sizeLabel(s.size)).join(', ')}; pools of ${plan.workers.join(', ')} workers; streamed ${plan.streamSizes.map(sizeLabel).join(', ') || 'nothing'}`);
  for (const l of machineLines(machine)) log(l);
  for (const n of notes) log(`note: ${n}`);
  log(`note: ${NOISE_NOTE}\n`);

  let results: Result[] = [];
  let whole: WholeProcess | null = null;
  try {
    log('cross-check against sealcam native (sizes 0..4103 bytes, 3 headers, CTR carries; sealed files up to 1.1 MiB, tampered and cut):');
    const verdicts = new Map<Case, string | null>();
    for (const c of cases) {
      const v = await c.check();
      verdicts.set(c, v);
      if (v) log(`  DISAGREES  ${caseName(c)}: ${v}`);
    }
    const bad = [...verdicts.values()].filter((v) => v !== null).length;
    const took = `(${((Date.now() - started) / 1000).toFixed(0)} s)`;
    log(bad === 0 ? `  all ${cases.length} rows agree bit for bit ${took}\n` : `  ${bad} row(s) disagree and will not be timed ${took}\n`);
    results = await timeCases(cases, verdicts, plan, progress);
  } finally {
    await closeAll(cases);
  }
  results.push(
    ...(await runStreams({ sizes: plan.streamSizes, configs: plan.streamConfigs, inProcess: machine.emulated, wanted, log })),
  );
  if (machine.emulated && plan.streamSizes.length) notes.push('streamed in this process (an emulated Node cannot start child processes): peak RSS not measured');
  if (plan.wholeProcess && (filter === null || args.hyperfine === true)) {
    whole = await wholeProcess({ ...plan.wholeProcess, log });
  }

  addRatios(results, machine.clockMHz);
  finishMachine(machine);
  const date = new Date();
  const record: RunRecord = {
    schema: SCHEMA,
    machine,
    run: {
      date: date.toISOString(),
      mode: plan.mode,
      filter: args.filter,
      sizes: plan.sizes.map((s) => ({ size: s.size, timeBoxMsPerRow: s.timeMs })),
      rounds: plan.rounds,
      minIterationsPerRound: plan.minIterations,
      workers: plan.workers,
      streamSizes: plan.streamSizes,
      headerBytes: HEADER_BYTES,
      durationSeconds: Math.round((Date.now() - started) / 1000),
      notes,
    },
    results,
    targets: evaluateTargets(results, whole),
    wholeProcess: whole,
  };
  printReport(record, args.targets === true, log);

  const base = outputBase(args, plan, machine, date.toISOString().slice(0, 10));
  mkdirSync(join(base, '..'), { recursive: true });
  writeFileSync(`${base}.json`, JSON.stringify(record, null, 2) + '\n');
  writeFileSync(`${base}.md`, markdownReport(record, args.targets === true));
  writeFileSync(`${base}.svg`, chartSvg(record));
  log(`\nwrote ${['json', 'md', 'svg'].map((e) => relative(process.cwd(), `${base}.${e}`)).join(', ')} (${record.run.durationSeconds} s)`);

  const failed = [
    ...results.filter((r) => r.status !== 'ok').map((r) => `${r.name} at ${sizeLabel(r.size)}: ${r.status}${r.detail ? ` (${r.detail})` : ''}`),
    ...(whole?.disagreements ?? []).map((d) => `whole process: ${d}`),
  ];
  if (failed.length === 0) return 0;
  log(`\nFAILED: ${failed.length} row(s) disagree with the reference or could not be timed:\n  ${failed.join('\n  ')}`);
  return 1;
}

async function main(): Promise<void> {
  try {
    const args = parseBenchArgs(process.argv.slice(2));
    if (args === 'help') {
      console.log(USAGE);
      return;
    }
    process.exitCode = await runBench(args);
  } catch (e) {
    // One line, as the CLI does; SEALCAM_DEBUG=1 adds the stack.
    if (process.env.SEALCAM_DEBUG) console.error(e);
    console.error(`sealcam bench: ${e instanceof UsageError ? '' : 'failed: '}${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 2;
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
