import { NATIVE_IMPL } from './cases/engine.js';
import { NOAES_IMPL } from './cases/noaes.js';
import { PYCRYPTODOME_IMPL } from './python.js';
import { cliPath, OPS } from './cases/types.js';
import { sizeLabel } from './report.js';
import type { Result, TargetResult, WholeProcess } from './results.js';

/**
 * The performance targets of issue 15, evaluated on the rows of one run (printed with --targets).
 * A target whose rows were not measured (filtered out, a size this mode skips, a peer that could
 * not run, no hyperfine) is n/a, never a pass.
 */

const MiB = 1 << 20;
export const BUFFER_SIZE = 16 * MiB;
export const STREAM_SIZES = [256 * MiB, 1024 * MiB];
export const RSS_LIMIT_MIB = 96;
/** How much the peak RSS may grow from 256 MiB to 1 GiB and still count as independent of the size. */
export const RSS_GROWTH_MIB = 16;

type Pick = (r: Result) => boolean;
const ok = (r: Result): boolean => r.status === 'ok' && r.mbps !== undefined;
const mb = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toPrecision(3));

function find(results: Result[], pick: Pick): Result | undefined {
  return results.find((r) => ok(r) && pick(r));
}

function fastest(results: Result[], pick: Pick): Result | undefined {
  return results.filter((r) => ok(r) && pick(r)).sort((a, b) => b.mbps! - a.mbps!)[0];
}

/** a / b against `min`; `name(b)` adds which row b was when that varies (the fastest pure-JS peer). */
function ratioTarget(target: string, a: Result | undefined, b: Result | undefined, min: number, name = false): TargetResult {
  const threshold = `>= ${min}x`;
  if (!a || !b) return { target, measured: `not measured (${!a ? 'first' : 'second'} row missing)`, value: null, threshold, verdict: 'n/a' };
  const value = a.mbps! / b.mbps!;
  return {
    target,
    measured: `${mb(a.mbps!)} / ${mb(b.mbps!)} MB/s = ${value.toFixed(2)}x${name ? ` (${b.impl})` : ''}`,
    value,
    threshold,
    verdict: value >= min ? 'PASS' : 'MISS',
  };
}

const pool = (engine: 'wasm' | 'native', workers: number, op: string, size: number): Pick => (r) =>
  cliPath(r) && r.pool!.engine === engine && r.pool!.workers === workers && r.op === op && r.size === size;
const eax = (impl: string | null, dir: 'enc' | 'dec', size: number): Pick => (r) =>
  r.kind === 'eax' && r.keyBits === 128 && r.direction === dir && r.size === size && (impl === null ? r.pureJs : r.impl === impl);
const PY = PYCRYPTODOME_IMPL;

export function evaluateTargets(results: Result[], whole: WholeProcess | null = null): TargetResult[] {
  const out: TargetResult[] = [];
  const stream = STREAM_SIZES[0]!;
  const directions = [
    { dir: 'enc', buf: OPS.seal, str: OPS.streamSeal, word: 'seal' },
    { dir: 'dec', buf: OPS.open, str: OPS.streamOpen, word: 'open' },
  ] as const;
  for (const { dir, buf, str, word } of directions) {
    const w1 = find(results, pool('wasm', 1, buf, BUFFER_SIZE));
    const s1 = find(results, pool('wasm', 1, str, stream));
    const s2 = find(results, pool('wasm', 2, str, stream));
    const py = find(results, eax(PY, dir, BUFFER_SIZE));
    const js = fastest(results, eax(null, dir, BUFFER_SIZE));
    const native = find(results, eax(NATIVE_IMPL, dir, BUFFER_SIZE));
    // What a camera CPU without AES hardware gets from OpenSSL (bench/cases/noaes.ts).
    const noAes = find(results, eax(NOAES_IMPL, dir, BUFFER_SIZE));
    const wasm = fastest(results, (r) => eax(r.impl, dir, BUFFER_SIZE)(r) && r.impl.startsWith('sealcam WASM ('));
    const single = dir === 'enc' ? 'encrypt' : 'decrypt+verify';
    out.push(
      ratioTarget(`WASM sealed stream ${word} 256 MiB: 2 workers vs 1 worker`, s2, s1, 1.85),
      ratioTarget(`WASM sealed ${word} 16 MiB, 1 worker vs single-message WASM EAX ${single} on the main thread (faster build)`, w1, wasm, 1.3),
      ratioTarget(`WASM sealed stream ${word} 256 MiB, 2 workers vs pycryptodome EAX (16 MiB)`, s2, py, 1.6),
      ratioTarget(
        `native sealed ${word} 16 MiB, 2 workers vs single-message node:crypto EAX`,
        find(results, pool('native', 2, buf, BUFFER_SIZE)),
        native,
        1.5,
      ),
      ratioTarget(
        `native sealed stream ${word} 256 MiB, 2 workers vs single-message node:crypto EAX (16 MiB)`,
        find(results, pool('native', 2, str, stream)),
        native,
        1.5,
      ),
      ratioTarget(`WASM sealed ${word} 16 MiB, 1 worker vs node:crypto without AES instructions, single-message EAX (16 MiB)`, w1, noAes, 2),
      ratioTarget(`WASM single-message EAX ${single} 16 MiB (faster build) vs node:crypto without AES instructions`, wasm, noAes, 1.2),
      ratioTarget(`WASM sealed ${word} 16 MiB, 1 worker vs fastest pure-JS EAX`, w1, js, 2, true),
    );
  }
  out.push(...rssTargets(results), ...wholeProcessTargets(whole));
  return out;
}

/** Whole-process wall time, sealcam over its reference (hyperfine, same run): at most `max`. */
const WHOLE_PROCESS_TARGETS: readonly { what: string; target: string; max: number }[] = [
  { what: 'one image: sealcam / seed script (wall time)', target: 'sealcam encrypt of one camera image (raw, as the seed writes), whole process, vs the seed Python script', max: 1.3 },
  { what: 'one image, sealed: sealcam / seed script (wall time)', target: 'sealcam encrypt of one camera image (sealed, the default), whole process, vs the seed Python script', max: 1.3 },
  { what: '100 images: sealcam / seed script (wall time)', target: '100 images in one invocation vs the seed script over the same 100', max: 0.6 },
  { what: 'start-up: sealcam --version / node -e 0', target: 'sealcam --version vs node -e 0', max: 1.15 },
];

function wholeProcessTargets(whole: WholeProcess | null): TargetResult[] {
  return WHOLE_PROCESS_TARGETS.map(({ what, target, max }) => {
    const threshold = `<= ${max}x`;
    const ratio = whole?.comparisons.find((c) => c.what === what)?.ratio;
    if (ratio === undefined) return { target, measured: 'not measured (no hyperfine, or not in this run)', value: null, threshold, verdict: 'n/a' };
    return { target, measured: `${ratio.toFixed(2)}x`, value: ratio, threshold, verdict: ratio <= max ? 'PASS' : 'MISS' };
  });
}

function rssTargets(results: Result[]): TargetResult[] {
  const streamed = results.filter((r) => ok(r) && r.kind === 'stream' && typeof r.peakRssMiB === 'number');
  const out: TargetResult[] = [];
  for (const size of STREAM_SIZES) {
    for (const engine of ['wasm', 'native'] as const) {
      const rows = streamed.filter((r) => r.size === size && r.pool?.engine === engine);
      const target = `streamed seal and open ${sizeLabel(size)}, ${engine} pool: peak RSS (worst configuration)`;
      const threshold = `<= ${RSS_LIMIT_MIB} MiB`;
      if (rows.length === 0) {
        out.push({ target, measured: 'not measured', value: null, threshold, verdict: 'n/a' });
        continue;
      }
      const worst = rows.sort((a, b) => b.peakRssMiB! - a.peakRssMiB!)[0]!;
      out.push({
        target,
        measured: `${worst.peakRssMiB!.toFixed(0)} MiB (${worst.impl}, ${worst.op.replace('sealed stream ', '')})`,
        value: worst.peakRssMiB!,
        threshold,
        verdict: worst.peakRssMiB! <= RSS_LIMIT_MIB ? 'PASS' : 'MISS',
      });
    }
  }
  // The same configuration at both sizes: the peak must not grow with the file.
  const [small, large] = STREAM_SIZES as [number, number];
  const growth = streamed
    .filter((r) => r.size === large)
    .flatMap((r) => {
      const s = streamed.find((x) => x.size === small && x.name === r.name);
      return s ? [{ name: r.name, grew: r.peakRssMiB! - s.peakRssMiB! }] : [];
    })
    .sort((a, b) => b.grew - a.grew)[0];
  const target = `peak RSS independent of size: ${sizeLabel(large)} vs ${sizeLabel(small)}, same configuration`;
  const threshold = `grows < ${RSS_GROWTH_MIB} MiB`;
  out.push(
    growth
      ? {
          target,
          measured: `${growth.grew >= 0 ? '+' : ''}${growth.grew.toFixed(1)} MiB (${growth.name})`,
          value: growth.grew,
          threshold,
          verdict: growth.grew < RSS_GROWTH_MIB ? 'PASS' : 'MISS',
        }
      : { target, measured: 'not measured', value: null, threshold, verdict: 'n/a' },
  );
  return out;
}
