import { NATIVE_IMPL } from './cases/engine.js';
import { OPS } from './cases/types.js';
import type { Machine } from './machine.js';
import type { Result, RunRecord, TargetResult, WholeProcess } from './results.js';

/** Ratios, and the run as text tables (console) and markdown (bench/results/*.md). */

const KiB = 1024;
const MiB = 1024 * KiB;

export function sizeLabel(size: number): string {
  if (size >= MiB && size % MiB === 0) return size >= 1024 * MiB && size % (1024 * MiB) === 0 ? `${size / 1024 / MiB} GiB` : `${size / MiB} MiB`;
  if (size >= KiB && size % KiB === 0) return `${size / KiB} KiB`;
  return `${size.toLocaleString('en-US')} B`;
}

export function mbText(mbps: number | undefined): string {
  if (mbps === undefined) return '';
  return mbps >= 100 ? mbps.toFixed(0) : mbps >= 10 ? mbps.toFixed(1) : mbps.toFixed(2);
}

function fmt(x: number | null | undefined, digits: number, suffix = ''): string {
  return x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits) + suffix;
}

/**
 * Each row against sealcam native EAX and the fastest pure-JS EAX of the same key size and
 * direction, at the same size; rows of sizes without EAX rows (the streamed files) against the
 * largest size that has them (single-message EAX speed is flat by then).
 */
export function addRatios(results: Result[], clockMHz: number | null): void {
  const eaxSizes = [...new Set(results.filter((r) => r.kind === 'eax' && r.status === 'ok').map((r) => r.size))].sort((a, b) => a - b);
  for (const r of results) {
    if (r.status !== 'ok' || r.mbps === undefined) continue;
    r.cyclesPerByte = clockMHz ? clockMHz / r.mbps : null;
    const basis = eaxSizes.includes(r.size) ? r.size : eaxSizes.filter((s) => s <= r.size).pop();
    const peers = results.filter(
      (x) => x.status === 'ok' && x.kind === 'eax' && x.size === basis && x.keyBits === r.keyBits && x.direction === r.direction,
    );
    const native = peers.find((x) => x.impl === NATIVE_IMPL);
    const js = peers.filter((x) => x.pureJs).sort((a, b) => b.mbps! - a.mbps!)[0];
    r.vsNative = native ? r.mbps / native.mbps! : null;
    r.vsFastestJs = js ? r.mbps / js.mbps! : null;
    r.fastestJs = js?.impl ?? null;
  }
}

// ---------------------------------------------------------------------------------------------
// Tables

export interface Table {
  head: string[];
  rows: string[][];
  /** Columns aligned right (numbers). */
  right: Set<number>;
}

export function textTable(t: Table, breaks: number[] = []): string {
  const widths = t.head.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    r.map((c, i) => (t.right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [line(t.head), widths.map((w) => '-'.repeat(w)).join('  ')];
  t.rows.forEach((r, i) => {
    if (breaks.includes(i)) out.push('');
    out.push(line(r));
  });
  return out.join('\n');
}

export function markdownTable(t: Table): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  return [
    `| ${t.head.map(esc).join(' | ')} |`,
    `|${t.head.map((_, i) => (t.right.has(i) ? '---:' : '---')).join('|')}|`,
    ...t.rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

function spread(r: Result): string {
  if (r.status !== 'ok' || r.p25Ms === undefined || r.p75Ms === undefined || !r.medianMs) return '';
  return `±${(((r.p75Ms - r.p25Ms) / 2 / r.medianMs) * 100).toFixed(0)}%`;
}

/** Every row. Breaks (blank lines in text) fall between sizes. */
export function allRowsTable(results: Result[]): { table: Table; breaks: number[] } {
  const head = ['implementation', 'operation', 'size', 'MB/s', 'IQR', 'n', 'cycles/B', 'vs node EAX', 'vs best JS', 'peak RSS'];
  const rows = results.map((r) => [
    r.impl,
    r.op,
    sizeLabel(r.size),
    r.status === 'ok' ? mbText(r.mbps) : r.status,
    spread(r),
    r.status === 'ok' ? String(r.samples) : '',
    r.status === 'ok' ? fmt(r.cyclesPerByte, 2) : '',
    r.status === 'ok' ? fmt(r.vsNative, 2, 'x') : '',
    r.status === 'ok' ? fmt(r.vsFastestJs, 2, 'x') : '',
    typeof r.peakRssMiB === 'number' ? `${r.peakRssMiB.toFixed(0)} MiB` : '',
  ]);
  const streamed = (r: Result): boolean => r.kind === 'stream';
  const breaks = results.flatMap((r, i) => {
    const prev = results[i - 1];
    return prev && (r.size !== prev.size || streamed(r) !== streamed(prev)) ? [i] : [];
  });
  return { table: { head, rows, right: new Set([3, 4, 5, 6, 7, 8, 9]) }, breaks };
}

/**
 * The key figures: MB/s by size for the whole-message rows of one direction (EAX, sealed buffers
 * and streams, GCM for scale), one line per implementation. What the README quotes.
 */
export function keyFiguresTable(results: Result[], direction: 'enc' | 'dec'): Table | null {
  const wanted = (r: Result): boolean =>
    r.direction === direction &&
    r.keyBits === 128 &&
    (r.kind === 'eax' || r.kind === 'sealed' || r.kind === 'stream' || r.op === OPS.gcmEncrypt || r.op === OPS.gcmDecrypt);
  const rows = results.filter(wanted);
  if (rows.length === 0) return null;
  const label = (r: Result): string => {
    if (r.kind === 'stream') return `${r.impl}, ${direction === 'enc' ? OPS.seal : OPS.open}`;
    return `${r.impl}, ${r.op}`;
  };
  const sizes = [...new Set(rows.map((r) => r.size))].sort((a, b) => a - b);
  const labels = [...new Set(rows.map(label))];
  const streamed = new Set(rows.filter((r) => r.kind === 'stream').map((r) => r.size));
  const head = ['MB/s', ...sizes.map((s) => `${sizeLabel(s)}${streamed.has(s) ? ' (stream)' : ''}`)];
  const body = labels.map((l) => [
    l,
    ...sizes.map((s) => {
      const r = rows.find((x) => label(x) === l && x.size === s);
      return r ? (r.status === 'ok' ? mbText(r.mbps) : r.status) : '';
    }),
  ]);
  return { head, rows: body, right: new Set(sizes.map((_, i) => i + 1)) };
}

export const BLOCK_TABLE_TITLE = 'AES-128 blocks with k independent blocks in flight, MB/s (cycles/B): the limit of each kernel here';

const IN_FLIGHT = [1, 2, 4, 6, 8];

/**
 * The AES block table: each kernel's ECB throughput with k blocks in flight (one line per kernel
 * and build), node:crypto's CBC encryption as its 1 and its own ECB (OpenSSL interleaves as it
 * likes) in the last column. What the EAX figures above can at best approach: EAX enciphers every
 * block twice, and single-message EAX keeps only two blocks in flight.
 */
export function blockTable(results: Result[]): Table | null {
  const rows = results.filter((r) => r.kind === 'blocks' && r.blocks && r.status === 'ok');
  if (rows.length === 0) return null;
  const size = rows[0]!.size;
  const label = (r: Result): string => (r.blocks!.kernel === 'OpenSSL' ? r.impl : `${r.impl}, ${r.blocks!.kernel}`);
  const cell = (r: Result | undefined): string => (r ? `${mbText(r.mbps)} (${fmt(r.cyclesPerByte, 1)})` : '');
  const labels = [...new Set(rows.map(label))];
  const body = labels.map((l) => {
    const own = rows.filter((r) => label(r) === l);
    const ecb = results.find((r) => r.status === 'ok' && r.kind === 'part' && r.op === OPS.blocks && r.size === size && r.impl === own[0]!.impl);
    return [l, ...IN_FLIGHT.map((k) => cell(own.find((r) => r.blocks!.inFlight === k))), own[0]!.blocks!.kernel === 'OpenSSL' ? cell(ecb) : ''];
  });
  return { head: [`kernel (${sizeLabel(size)})`, ...IN_FLIGHT.map((k) => `k=${k}`), 'OpenSSL ECB'], rows: body, right: new Set([1, 2, 3, 4, 5, 6]) };
}

export function targetsTable(targets: TargetResult[]): Table {
  return {
    head: ['target', 'measured', 'needed', 'result'],
    rows: targets.map((t) => [t.target, t.measured, t.threshold, t.verdict]),
    right: new Set(),
  };
}

export function wholeProcessTables(w: WholeProcess): { commands: Table | null; startup: Table | null } {
  const commands: Table | null = w.commands.length
    ? {
        head: ['command', 'mean ms', '± σ ms', 'min ms', 'runs'],
        rows: w.commands.map((c) => [c.name, c.meanMs.toFixed(1), c.stddevMs.toFixed(1), c.minMs.toFixed(1), String(c.runs)]),
        right: new Set([1, 2, 3, 4]),
      }
    : null;
  const s = w.startup;
  const startup: Table | null = s
    ? {
        head: [`sealcam start-up step (median of ${s.runs} fresh processes)`, 'ms'],
        rows: [
          ['Node bootstrap (process start to first line of script)', s.nodeBootMs.toFixed(1)],
          ['load the engine modules (engine/eax.js: the first ESM import pays the loader)', s.engineImportMs.toFixed(1)],
          ['load the rest of the library index (formats, pool, keys, storage, notify)', s.libraryImportMs.toFixed(1)],
          ['read and compile the WASM module (once per process)', s.wasmCompileMs.toFixed(1)],
          ['first instance: instantiate, memory, key schedule', s.firstInstanceMs.toFixed(1)],
          ['first message: EAX of 1 KiB', s.firstMessageMs.toFixed(1)],
          ['total to the first message, engine only (without the rest of the index)', (s.nodeBootMs + s.engineImportMs + s.wasmCompileMs + s.firstInstanceMs + s.firstMessageMs).toFixed(1)],
        ],
        right: new Set([1]),
      }
    : null;
  return { commands, startup };
}

export function machineLines(m: Machine): string[] {
  return [
    `CPU: ${m.cpuModel}, ${m.cores} cores${m.cpusOnline > m.cores ? ` usable of ${m.cpusOnline} (affinity)` : ''}, ${m.arch} (${m.platform}), ${m.totalMemGiB} GiB`,
    `clock for cycles/byte: ${m.clockMHz ?? 'n/a'} MHz (${m.clockSource})`,
    `Node ${m.node} (V8 ${m.v8}); WebAssembly SIMD ${m.wasmSimd ? 'on' : 'off'}; engine builds: ${m.wasmBuilds.join('; ')}`,
    ...(m.emulated ? ['EMULATED: arm64 Node under qemu user-mode emulation: timings meaningless (the cross-checks still count)'] : []),
    `load average ${m.loadAvgStart.join(' ')} at start${m.loadAvgEnd ? `, ${m.loadAvgEnd.join(' ')} at end` : ''}`,
  ];
}

export const READING_NOTE =
  'MB/s = 10^6 bytes per second from the median time per operation; IQR = half the interquartile range of the time ' +
  'per operation; n = timed operations; cycles/B from the clock above; "vs node EAX" / "vs best JS" = throughput ratio ' +
  'to sealcam native (node:crypto) EAX and to the fastest pure-JavaScript EAX of the same key size and direction ' +
  '(encryption and sealing against encryption, decryption and opening against decryption) at the same size, streamed ' +
  'rows against the largest measured size. Every row was checked bit for bit against sealcam native before it was timed.';

export const NOISE_NOTE =
  'The machine may be shared (other jobs, a VM, turbo): rows of one size run interleaved, one at a time, so compare ' +
  'ratios within a run rather than absolute MB/s across runs.';

export function markdownReport(record: RunRecord, withTargets = false): string {
  const { machine: m, run, results, targets, wholeProcess } = record;
  const out = [`# sealcam benchmark, ${run.date.slice(0, 10)}${run.mode === 'full' ? '' : ` (${run.mode})`}`, ''];
  out.push(...machineLines(m).map((l) => `- ${l}`));
  out.push(
    `- AES-EAX with a ${run.headerBytes}-byte header, 16-byte nonce and tag; \`sealed\` with 64 KiB segments; ${run.mode} run, ${run.rounds} round(s), ` +
      `time box per row ${run.sizes.map((s) => `${sizeLabel(s.size)} ${s.timeBoxMsPerRow / 1000} s`).join(', ')}; pools of ${run.workers.join(', ')} workers; ` +
      `run took ${run.durationSeconds} s${run.filter ? `; --filter ${run.filter}` : ''}`,
    '',
    `> ${NOISE_NOTE}`,
    '',
  );
  for (const note of run.notes) out.push(`- note: ${note}`);
  if (run.notes.length) out.push('');
  for (const [title, dir] of [
    ['Key figures: encrypt / seal (MB/s)', 'enc'],
    ['Key figures: decrypt+verify / open (MB/s)', 'dec'],
  ] as const) {
    const t = keyFiguresTable(results, dir);
    if (t) out.push(`## ${title}`, '', markdownTable(t), '');
  }
  const blocks = blockTable(results);
  if (blocks) out.push(`## ${BLOCK_TABLE_TITLE}`, '', markdownTable(blocks), '');
  if (withTargets) out.push('## Targets', '', markdownTable(targetsTable(targets)), '');
  if (wholeProcess) {
    const w = wholeProcessTables(wholeProcess);
    out.push('## Whole process', '');
    for (const n of wholeProcess.notes) out.push(`- ${n}`);
    if (wholeProcess.notes.length) out.push('');
    if (w.commands) out.push(markdownTable(w.commands), '');
    for (const c of wholeProcess.comparisons) out.push(`- ${c.what}: ${c.ratio.toFixed(2)}x`);
    if (wholeProcess.comparisons.length) out.push('');
    if (w.startup) out.push(markdownTable(w.startup), '');
    for (const d of wholeProcess.disagreements) out.push(`- DISAGREES: ${d}`);
  }
  out.push('## All rows', '', markdownTable(allRowsTable(results).table), '', READING_NOTE, '');
  return out.join('\n');
}
