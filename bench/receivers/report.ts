/**
 * The receiver benchmark's tables: a summary per payload and receiver count (medians over the
 * rounds, their spread, the efficiency per receiver against one receiver of the same run), and
 * every row in the order it ran. Text for the console and markdown for bench/out/, through the
 * suite's table helpers; the JSON record keeps every figure.
 */
import type { Machine } from '../machine.js';
import { median } from '../measure.js';
import { machineLines, markdownTable, mbText, textTable, type Table } from '../report.js';
import type { RowResult } from './row.js';

export const SCHEMA = 'sealcam-bench-receivers/1';

export interface PayloadInfo {
  label: string;
  /** What the images are, in words, and their plaintext size. */
  what: string;
  imageBytes: number;
  images: number;
}

export interface ReceiverRunRecord {
  schema: typeof SCHEMA;
  machine: Machine;
  run: {
    date: string;
    receivers: number[];
    rounds: number;
    /** Receiver counts in the order the rows ran, per round. */
    order: number[][];
    payloads: PayloadInfo[];
    cameras: number;
    concurrency: number;
    jobs: number;
    engine: string;
    republish: number;
    seedSeconds: number;
    durationSeconds: number;
    notes: string[];
  };
  rows: RowResult[];
  summary: SummaryLine[];
}

export interface SummaryLine {
  payload: string;
  receivers: number;
  /** Rows that passed, of those run. */
  ok: number;
  rows: number;
  /** Medians over the passing rows, and each row's figure in run order. */
  imagesPerSecond: number | null;
  mbps: number | null;
  imagesPerSecondByRound: number[];
  /** Half the range of the rows' images/s, relative to their median. */
  spread: number | null;
  /** images/s (R) / (R x images/s (1)), medians of this run. */
  efficiency: number | null;
  /** The largest peak RSS of any receiver in these rows, and the smallest. */
  peakRssMiB: { max: number; min: number } | null;
  /** Receiver CPU per image (all receivers, user + system, all threads). */
  receiverCpuMsPerImage: number | null;
  /** Azurite's CPU per image (it serves the downloads and takes the uploads), median. */
  azuriteCpuMsPerImage: number | null;
  /** Cores other processes kept busy during these rows (RowResult.otherCores), median. */
  otherCores: number | null;
  duplicates: number;
  redeliveries: number;
}

const finite = (values: (number | null)[]): number[] => values.filter((v): v is number => v !== null && Number.isFinite(v));
const medianOr = (values: (number | null)[]): number | null => (finite(values).length ? median(finite(values)) : null);

export function summarize(rows: readonly RowResult[], payloads: readonly PayloadInfo[], counts: readonly number[]): SummaryLine[] {
  const lines: SummaryLine[] = [];
  for (const { label } of payloads) {
    const one = medianOr(rows.filter((r) => r.payload === label && r.receivers === 1 && r.status === 'ok').map((r) => r.imagesPerSecond));
    for (const receivers of counts) {
      const all = rows.filter((r) => r.payload === label && r.receivers === receivers);
      const ok = all.filter((r) => r.status === 'ok');
      const ips = ok.map((r) => r.imagesPerSecond);
      const mid = medianOr(ips);
      const rss = ok.flatMap((r) => r.perReceiver.map((p) => p.peakRssMiB));
      const cpu = ok.map((r) => r.perReceiver.reduce((n, p) => n + p.cpuSeconds, 0) / r.images);
      lines.push({
        payload: label,
        receivers,
        ok: ok.length,
        rows: all.length,
        imagesPerSecond: mid,
        mbps: medianOr(ok.map((r) => r.mbps)),
        imagesPerSecondByRound: ips,
        spread: mid !== null && ips.length > 1 ? (Math.max(...ips) - Math.min(...ips)) / 2 / mid : null,
        efficiency: mid !== null && one !== null ? mid / (receivers * one) : null,
        peakRssMiB: rss.length ? { max: Math.max(...rss), min: Math.min(...rss) } : null,
        receiverCpuMsPerImage: cpu.length ? median(cpu) * 1000 : null,
        azuriteCpuMsPerImage: medianOr(ok.map((r) => (r.azuriteCpuSeconds === null ? null : (r.azuriteCpuSeconds / r.images) * 1000))),
        otherCores: medianOr(ok.map((r) => r.otherCores)),
        duplicates: all.reduce((n, r) => n + r.duplicates, 0),
        redeliveries: all.reduce((n, r) => n + r.redeliveries, 0),
      });
    }
  }
  return lines;
}

const num = (x: number | null, digits: number, suffix = ''): string => (x === null ? 'n/a' : `${x.toFixed(digits)}${suffix}`);
const rate = (x: number | null): string => (x === null ? 'n/a' : x >= 100 ? x.toFixed(0) : x.toFixed(1));

export function summaryTable(lines: readonly SummaryLine[]): Table {
  return {
    head: ['payload', 'receivers', 'images/s', 'MB/s', 'spread', 'each round (images/s)', 'efficiency', 'peak RSS / receiver', 'rx CPU ms/image', 'Azurite CPU ms/image', 'other load (cores)', 'duplicates', 'redeliveries', 'rows ok'],
    rows: lines.map((l) => [
      l.payload,
      String(l.receivers),
      rate(l.imagesPerSecond),
      l.mbps === null ? 'n/a' : mbText(l.mbps),
      l.spread === null ? 'n/a' : `±${(l.spread * 100).toFixed(0)}%`,
      l.imagesPerSecondByRound.map(rate).join(', '),
      num(l.efficiency, 2),
      l.peakRssMiB === null ? 'n/a' : l.peakRssMiB.max.toFixed(0) === l.peakRssMiB.min.toFixed(0) ? `${l.peakRssMiB.max.toFixed(0)} MiB` : `${l.peakRssMiB.min.toFixed(0)}-${l.peakRssMiB.max.toFixed(0)} MiB`,
      num(l.receiverCpuMsPerImage, 1),
      num(l.azuriteCpuMsPerImage, 1),
      num(l.otherCores, 2),
      String(l.duplicates),
      String(l.redeliveries),
      `${l.ok}/${l.rows}`,
    ]),
    right: new Set([1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13]),
  };
}

export function rowsTable(rows: readonly RowResult[]): Table {
  return {
    head: ['#', 'payload', 'receivers', 'round', 'seconds', 'images/s', 'MB/s', 'opened by each', 'peak RSS each (MiB)', 'other load (cores)', 'duplicates', 'redeliveries', 'result'],
    rows: rows.map((r, i) => [
      String(i + 1),
      r.payload,
      String(r.receivers),
      String(r.round + 1),
      Number.isFinite(r.seconds) ? r.seconds.toFixed(2) : 'n/a',
      r.status === 'ok' ? rate(r.imagesPerSecond) : '',
      r.status === 'ok' ? mbText(r.mbps) : '',
      r.perReceiver.map((p) => p.opened).join(' / '),
      r.perReceiver.map((p) => p.peakRssMiB.toFixed(0)).join(' / '),
      num(r.otherCores, 2),
      String(r.duplicates),
      String(r.redeliveries),
      r.status === 'ok' ? 'ok' : `FAILED: ${r.problems[0] ?? ''}${r.problems.length > 1 ? ` (+${r.problems.length - 1} more)` : ''}`,
    ]),
    right: new Set([0, 2, 3, 4, 5, 6, 9, 10, 11]),
  };
}

export const READING = [
  'images/s and MB/s (plaintext, 10^6 bytes/s): images / (first notification published to last outcome), the median of the rows that passed; ' +
    'spread: half the range of those rows relative to the median; efficiency: images/s (R) / (R x images/s (1)) of this run (1.00 = linear scaling).',
  'peak RSS: each receiver process\'s VmHWM (its main thread, its pool workers and every buffer), over its whole life; ' +
    'rx CPU ms/image: CPU (user + system) of all receivers from subscribed to stopped, per image; Azurite CPU ms/image: Azurite\'s over the timed part, per image; ' +
    'other load: cores kept busy by other processes meanwhile (the machine\'s busy time from /proc/stat, steal included, less ours), the noise gauge.',
  'A row passes only if every image is in the output exactly once with the SHA-256 of what its camera captured, nothing else is there, and the receivers counted each image opened once.',
];

export function markdownReport(record: ReceiverRunRecord): string {
  const { machine, run } = record;
  const out = [`# sealcam receiver throughput, ${run.date.slice(0, 10)}`, ''];
  out.push(...machineLines(machine).map((l) => `- ${l}`));
  out.push(...describeRun(record).map((l) => `- ${l}`), '');
  for (const n of run.notes) out.push(`- note: ${n}`);
  if (run.notes.length) out.push('');
  out.push('## Summary', '', markdownTable(summaryTable(record.summary)), '', ...READING.map((l) => `${l}\n`), '## Rows, in the order they ran', '', markdownTable(rowsTable(record.rows)), '');
  const failed = record.rows.filter((r) => r.status !== 'ok');
  if (failed.length) {
    out.push('## Failed rows', '');
    for (const r of failed) out.push(`- ${r.payload}, ${r.receivers} receiver(s), round ${r.round + 1}: ${r.problems.slice(0, 10).join('; ')}`);
    out.push('');
  }
  return out.join('\n');
}

export function describeRun(record: ReceiverRunRecord): string[] {
  const { run } = record;
  return [
    `payloads: ${run.payloads.map((p) => `${p.label} = ${p.images} x ${p.what} (${p.imageBytes.toLocaleString('en-US')} bytes)`).join('; ')}`,
    `sealed v2 to the fleet's x25519 recipient, signed by ${run.cameras} cameras (registry checked); Mosquitto ${'$share'} group, Azurite for the sealed blobs and the output (create-only)`,
    `each receiver: its own process, ${run.concurrency} connections / images at once, ${run.jobs} pool worker(s), ${run.engine} engine; ${run.republish} notification(s) per row published twice`,
    `rows: ${run.rounds} round(s), receivers in the order ${run.order.map((o) => o.join(',')).join(' | ')}, each with every payload; seeding ${run.seedSeconds} s, run ${run.durationSeconds} s`,
  ];
}

export function printReport(record: ReceiverRunRecord, log: (line: string) => void): void {
  log(`\n${textTable(rowsTable(record.rows))}`);
  log(`\nsummary:\n${textTable(summaryTable(record.summary))}`);
  for (const l of READING) log(`\n${l}`);
}
