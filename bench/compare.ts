import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { UsageError } from './plan.js';
import { machineLines, mbText, sizeLabel, textTable } from './report.js';
import { SCHEMA, type Result, type RunRecord } from './results.js';

/**
 * `--compare a.json b.json`: two runs side by side (x86 against ARM, before against after a
 * change), joined on row name and size, with the ratio B / A of their throughput.
 */

export function loadRecord(path: string): RunRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as Error).message.split('\n')[0]}`);
  }
  const r = parsed as Partial<RunRecord> | null;
  if (r?.schema !== SCHEMA || !Array.isArray(r.results) || !r.machine || !r.run) {
    throw new UsageError(`${path} is not a result file of this benchmark (expected schema ${SCHEMA})`);
  }
  return r as RunRecord;
}

export interface ComparedRow {
  name: string;
  size: number;
  a: number | null;
  b: number | null;
  /** b / a, when both were measured. */
  ratio: number | null;
}

const key = (r: Pick<Result, 'name' | 'size'>): string => `${r.name}@${r.size}`;
const mbps = (r: Result | undefined): number | null => (r?.status === 'ok' && r.mbps !== undefined ? r.mbps : null);

export function compareRows(a: RunRecord, b: RunRecord): ComparedRow[] {
  const inA = new Map(a.results.map((r) => [key(r), r]));
  const inB = new Map(b.results.map((r) => [key(r), r]));
  const keys = [...new Set([...inA.keys(), ...inB.keys()])];
  return keys.map((k) => {
    const ra = inA.get(k);
    const rb = inB.get(k);
    const row = (ra ?? rb)!;
    const x = mbps(ra);
    const y = mbps(rb);
    return { name: row.name, size: row.size, a: x, b: y, ratio: x !== null && y !== null ? y / x : null };
  });
}

export function compareText(a: RunRecord, b: RunRecord, paths: [string, string]): string {
  const [la, lb] = paths.map((p) => basename(p)) as [string, string];
  const out: string[] = [`A: ${la}`, ...machineLines(a.machine).map((l) => `   ${l}`), `B: ${lb}`, ...machineLines(b.machine).map((l) => `   ${l}`), ''];
  const rows = compareRows(a, b);
  out.push(
    textTable({
      head: ['row', 'size', 'A MB/s', 'B MB/s', 'B / A'],
      rows: rows.map((r) => [
        r.name,
        sizeLabel(r.size),
        r.a === null ? '-' : mbText(r.a),
        r.b === null ? '-' : mbText(r.b),
        r.ratio === null ? '' : `${r.ratio.toFixed(2)}x`,
      ]),
      right: new Set([2, 3, 4]),
    }),
  );
  const targets = [...new Set([...a.targets, ...b.targets].map((t) => t.target))];
  if (targets.length) {
    const verdict = (rec: RunRecord, t: string): string => {
      const x = rec.targets.find((y) => y.target === t);
      return x ? `${x.verdict} (${x.measured})` : '-';
    };
    out.push('', textTable({ head: ['target', 'A', 'B'], rows: targets.map((t) => [t, verdict(a, t), verdict(b, t)]), right: new Set() }));
  }
  const commands = [...new Set([...(a.wholeProcess?.commands ?? []), ...(b.wholeProcess?.commands ?? [])].map((c) => c.name))];
  if (commands.length) {
    const ms = (rec: RunRecord, name: string): number | null => rec.wholeProcess?.commands.find((c) => c.name === name)?.meanMs ?? null;
    out.push(
      '',
      textTable({
        head: ['command (mean wall time)', 'A ms', 'B ms', 'B / A'],
        rows: commands.map((c) => {
          const x = ms(a, c);
          const y = ms(b, c);
          return [c, x === null ? '-' : x.toFixed(1), y === null ? '-' : y.toFixed(1), x !== null && y !== null ? `${(y / x).toFixed(2)}x` : ''];
        }),
        right: new Set([1, 2, 3]),
      }),
    );
  }
  out.push('', 'B / A above 1: B is faster (for throughput) or slower (for wall time).');
  return out.join('\n');
}
