import { cliPath, OPS } from './cases/types.js';
import { mbText, sizeLabel } from './report.js';
import type { Result, RunRecord } from './results.js';

/**
 * The run as an SVG chart, written as text (no plotting library): throughput against message size
 * per implementation (log-log), pool throughput against the number of workers, and the AES block
 * table (throughput against blocks in flight per kernel). Each series is
 * a <g data-series="..."> with a polyline and one circle per point (hover shows the value).
 */

const WIDTH = 1120;
const PLOT = { left: 70, width: 600 };
const LEGEND_X = PLOT.left + PLOT.width + 20;
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#393b79', '#637939', '#000000', '#e6ab02', '#66a61e', '#a6761d', '#1b9e77', '#7570b3'];

export interface Series {
  name: string;
  points: { x: number; y: number; label: string }[];
  dashed?: boolean;
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

interface Axis {
  min: number;
  max: number;
  log: boolean;
  ticks: { value: number; label: string }[];
}

function logTicks(min: number, max: number, label: (v: number) => string): Axis {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const ticks = [];
  for (let e = lo; e <= hi; e++) for (const m of hi - lo <= 2 ? [1, 2, 5] : [1]) ticks.push({ value: m * 10 ** e, label: label(m * 10 ** e) });
  return { min: 10 ** lo, max: 10 ** hi, log: true, ticks };
}

function linearTicks(max: number, label: (v: number) => string): Axis {
  const step = 10 ** Math.floor(Math.log10(max / 5 || 1));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => max / s <= 8) ?? 10 * step;
  const top = Math.ceil(max / nice) * nice;
  const ticks = [];
  for (let v = 0; v <= top + 1e-9; v += nice) ticks.push({ value: v, label: label(v) });
  return { min: 0, max: top, log: false, ticks };
}

function project(axis: Axis, v: number, from: number, length: number): number {
  const t = axis.log ? (Math.log10(v) - Math.log10(axis.min)) / (Math.log10(axis.max) - Math.log10(axis.min)) : (v - axis.min) / (axis.max - axis.min || 1);
  return from + t * length;
}

const num = (v: number): string => v.toFixed(1);

/** One panel: title, axes with grid lines, series, legend. */
function panel(top: number, title: string, x: Axis, y: Axis, xTitle: string, series: Series[]): { svg: string; height: number } {
  const height = Math.max(300, 60 + series.length * 20);
  const plotTop = top + 40;
  const plotHeight = height - 90;
  const px = (v: number): number => project(x, v, PLOT.left, PLOT.width);
  const py = (v: number): number => plotTop + plotHeight - project(y, v, 0, plotHeight);
  const out: string[] = ['<g class="panel">'];
  out.push(`<text x="${PLOT.left}" y="${top + 20}" font-size="15" font-weight="bold">${escapeXml(title)}</text>`);
  out.push(`<rect x="${PLOT.left}" y="${plotTop}" width="${PLOT.width}" height="${plotHeight}" fill="none" stroke="#444"/>`);
  for (const t of y.ticks) {
    const yy = num(py(t.value));
    out.push(`<line x1="${PLOT.left}" y1="${yy}" x2="${PLOT.left + PLOT.width}" y2="${yy}" stroke="#ddd"/>`);
    out.push(`<text x="${PLOT.left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${escapeXml(t.label)}</text>`);
  }
  for (const t of x.ticks) {
    const xx = num(px(t.value));
    out.push(`<line x1="${xx}" y1="${plotTop}" x2="${xx}" y2="${plotTop + plotHeight}" stroke="#eee"/>`);
    out.push(`<text x="${xx}" y="${plotTop + plotHeight + 16}" text-anchor="middle">${escapeXml(t.label)}</text>`);
  }
  out.push(`<text x="${PLOT.left + PLOT.width / 2}" y="${plotTop + plotHeight + 36}" text-anchor="middle">${escapeXml(xTitle)}</text>`);
  out.push(
    `<text transform="translate(${PLOT.left - 52},${plotTop + plotHeight / 2}) rotate(-90)" text-anchor="middle">MB/s${y.log ? ' (log scale)' : ''}</text>`,
  );
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(`<g class="series" data-series="${escapeXml(s.name)}">`);
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${s.points.map((p) => `${num(px(p.x))},${num(py(p.y))}`).join(' ')}"/>`);
    for (const p of s.points) {
      out.push(`<circle cx="${num(px(p.x))}" cy="${num(py(p.y))}" r="3.5" fill="${color}"><title>${escapeXml(`${s.name}: ${p.label}`)}</title></circle>`);
    }
    const ly = plotTop + 8 + i * 20;
    out.push(`<line x1="${LEGEND_X}" y1="${ly}" x2="${LEGEND_X + 24}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${LEGEND_X + 30}" y="${ly}" dominant-baseline="middle">${escapeXml(s.name)}</text>`);
    out.push('</g>');
  });
  out.push('</g>');
  return { svg: out.join('\n'), height };
}

const ok = (r: Result): boolean => r.status === 'ok' && r.mbps !== undefined;

/** AES-128-EAX encrypt on one thread, plus node:crypto CTR and GCM for scale, against size. */
export function sizeSeries(results: Result[]): Series[] {
  const rows = results.filter((r) => ok(r) && ((r.kind === 'eax' && r.op === OPS.encrypt(128)) || (r.kind === 'reference' && r.direction === 'enc')));
  const names = [...new Set(rows.map((r) => (r.kind === 'eax' ? r.impl : `${r.impl} ${r.op}`)))];
  return names.map((name) => {
    const own = rows.filter((r) => (r.kind === 'eax' ? r.impl : `${r.impl} ${r.op}`) === name).sort((a, b) => a.size - b.size);
    return {
      name,
      dashed: own[0]!.kind === 'reference',
      points: own.map((r) => ({ x: r.size, y: r.mbps!, label: `${sizeLabel(r.size)}, ${mbText(r.mbps)} MB/s` })),
    };
  });
}

/** Pool throughput against workers at the largest buffer size, the streamed rows, and single-thread lines for reference. */
export function scalingSeries(results: Result[]): { size: number; series: Series[] } | null {
  const pooled = results.filter((r) => ok(r) && cliPath(r));
  const buffers = pooled.filter((r) => r.kind === 'sealed');
  if (pooled.length === 0) return null;
  const size = Math.max(...(buffers.length ? buffers : pooled).map((r) => r.size));
  const groups = new Map<string, Result[]>();
  for (const r of pooled) {
    if (r.kind === 'sealed' && r.size !== size) continue;
    const key = `${r.pool!.engine === 'wasm' ? 'WASM' : 'native'} pool ${r.op}, ${sizeLabel(r.size)}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const maxWorkers = Math.max(...pooled.map((r) => r.pool!.workers));
  const series: Series[] = [...groups].map(([name, rows]) => ({
    name,
    points: rows
      .sort((a, b) => a.pool!.workers - b.pool!.workers)
      .map((r) => ({ x: r.pool!.workers, y: r.mbps!, label: `${r.pool!.workers} workers, ${mbText(r.mbps)} MB/s` })),
  }));
  // Single-thread encrypt rows at the same size, drawn flat across the worker axis.
  const flat = results.filter((r) => ok(r) && r.kind === 'eax' && r.op === OPS.encrypt(128) && r.size === size);
  const reference = flat.filter((r) => !r.pureJs).concat(flat.filter((r) => r.pureJs).sort((a, b) => b.mbps! - a.mbps!).slice(0, 1));
  for (const r of reference) {
    const label = `${mbText(r.mbps)} MB/s`;
    series.push({ name: `${r.impl}, one message, 1 thread`, dashed: true, points: [{ x: 1, y: r.mbps!, label }, { x: Math.max(2, maxWorkers), y: r.mbps!, label }] });
  }
  return { size, series };
}

/** The AES block table as lines: MB/s against blocks in flight, one series per kernel and build. */
export function blockSeries(results: Result[]): Series[] {
  const rows = results.filter((r) => ok(r) && r.kind === 'blocks' && r.blocks);
  const label = (r: Result): string => (r.blocks!.kernel === 'OpenSSL' ? `${r.impl}, CBC encrypt` : `${r.impl}, ${r.blocks!.kernel}`);
  return [...new Set(rows.map(label))].map((name) => ({
    name,
    points: rows
      .filter((r) => label(r) === name)
      .sort((a, b) => a.blocks!.inFlight - b.blocks!.inFlight)
      .map((r) => ({ x: r.blocks!.inFlight, y: r.mbps!, label: `${r.blocks!.inFlight} in flight, ${mbText(r.mbps)} MB/s` })),
  }));
}

export function chartSvg(record: RunRecord): string {
  const { machine: m, run, results } = record;
  const parts: string[] = [];
  let y = 10;
  const heading = `sealcam benchmark ${run.date.slice(0, 10)} (${run.mode}): ${m.cpuModel}, ${m.cores} cores, ${m.arch}, Node ${m.node}`;
  parts.push(`<text x="${PLOT.left}" y="${y + 18}" font-size="17" font-weight="bold">${escapeXml(heading)}</text>`);
  y += 26;
  if (m.emulated) {
    parts.push(`<text x="${PLOT.left}" y="${y + 18}" font-size="16" font-weight="bold" fill="#c00">EMULATED (qemu): timings meaningless</text>`);
    y += 24;
  }
  const bySize = sizeSeries(results);
  if (bySize.length) {
    const all = bySize.flatMap((s) => s.points);
    const xs = all.map((p) => p.x);
    const x: Axis = { ...logTicks(Math.min(...xs), Math.max(...xs), () => ''), ticks: [...new Set(xs)].map((v) => ({ value: v, label: sizeLabel(v) })) };
    x.min = Math.min(...xs) / 1.5;
    x.max = Math.max(...xs) * 1.5;
    const yAxis = logTicks(Math.min(...all.map((p) => p.y)), Math.max(...all.map((p) => p.y)), (v) => String(v));
    const p = panel(y, 'AES-128-EAX encrypt, one message, one thread (dashed: node:crypto CTR and GCM, not EAX)', x, yAxis, 'message size (log scale)', bySize);
    parts.push(p.svg);
    y += p.height + 10;
  }
  const scaling = scalingSeries(results);
  if (scaling) {
    const all = scaling.series.flatMap((s) => s.points);
    const maxWorkers = Math.max(2, ...all.map((p) => p.x));
    const x: Axis = { min: 0.5, max: maxWorkers + 0.5, log: false, ticks: Array.from({ length: maxWorkers }, (_, i) => ({ value: i + 1, label: String(i + 1) })) };
    const yAxis = linearTicks(Math.max(...all.map((p) => p.y)) * 1.05, (v) => String(v));
    const p = panel(y, `sealed (64 KiB segments) on the worker pool: ${sizeLabel(scaling.size)} buffers and streamed files`, x, yAxis, 'workers', scaling.series);
    parts.push(p.svg);
    y += p.height + 10;
  }
  const blocks = blockSeries(results);
  if (blocks.length) {
    const all = blocks.flatMap((s) => s.points);
    const x: Axis = { min: 0.5, max: 8.5, log: false, ticks: [1, 2, 4, 6, 8].map((v) => ({ value: v, label: String(v) })) };
    const yAxis = linearTicks(Math.max(...all.map((p) => p.y)) * 1.05, (v) => String(v));
    const p = panel(y, 'AES-128 blocks, one thread: each kernel with k independent blocks in flight (ECB; node:crypto CBC = 1)', x, yAxis, 'blocks in flight', blocks);
    parts.push(p.svg);
    y += p.height + 10;
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${y}" fill="white"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
