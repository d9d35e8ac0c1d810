import type { DeviceCard, FleetSnapshot, QuarantineRow, ReceiverRow } from '../../fleet/snapshot.js';
import { byId, el, formatBytes } from './dom.js';

/**
 * The dashboard page: renders each snapshot the server pushes over /events (Server-Sent Events).
 * Everything from records reaches the DOM through textContent or attributes, never as markup, and
 * the page loads nothing but its own assets and the thumbnails. Cards are built once per camera
 * and updated in place, so thumbnails are fetched again only when the latest image changes.
 */

// --- Formatting ----------------------------------------------------------------------------------

function formatMs(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(ms)} ms`;
  if (abs < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (abs < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

function formatAgo(ms: number): string {
  if (ms < 1500) return 'just now';
  if (ms < 60_000) return `${Math.round(ms / 1000)} s ago`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min ago`;
  if (ms < 172_800_000) return `${Math.round(ms / 3_600_000)} h ago`;
  return `${Math.round(ms / 86_400_000)} days ago`;
}

const formatCount = (n: number) => n.toLocaleString('en-US');
/** Local time as yyyy-mm-dd hh:mm:ss, whatever the browser's locale. */
function formatTime(iso: string): string {
  const d = new Date(iso);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}
const formatRate = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

// --- DOM helpers ---------------------------------------------------------------------------------

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

/** A line (and the area under it) through `values`, scaled to `max`, in a width x height box. */
function pathsFor(values: number[], max: number, width: number, height: number, pad = 2): { line: string; area: string } {
  if (values.length === 0) return { line: '', area: '' };
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  const y = (v: number) => (height - pad - (max > 0 ? (v / max) * (height - 2 * pad) : 0)).toFixed(1);
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${y(v)}`);
  const line = `M${points.join('L')}`;
  return { line, area: `${line}L${((values.length - 1) * step).toFixed(1)},${height}L0,${height}Z` };
}

/** Bins as steps: each value holds across its own width, so sparse traffic reads as bars, not spikes. */
function stepsFor(values: number[], max: number, width: number, height: number, pad = 2): { line: string; area: string } {
  const w = width / Math.max(values.length, 1);
  const y = (v: number) => (height - (max > 0 ? (v / max) * (height - pad) : 0)).toFixed(1);
  const line = `M0,${y(values[0] ?? 0)}${values.map((v, i) => `H${(i * w).toFixed(1)}V${y(v)}H${((i + 1) * w).toFixed(1)}`).join('')}`;
  return { line, area: `${line}V${height}H0Z` };
}

// --- Cards ---------------------------------------------------------------------------------------

interface CardView {
  root: HTMLElement;
  img: HTMLImageElement;
  thumbKey: string;
  state: HTMLElement;
  seen: HTMLElement;
  latestName: HTMLElement;
  images: HTMLElement;
  bytes: HTMLElement;
  quarantined: HTMLElement;
  p50: HTMLElement;
  p95: HTMLElement;
  spark: SVGElement;
  signature: HTMLElement;
  signatureToday: HTMLElement;
  warnings: HTMLUListElement;
}

function stat(parent: HTMLElement, label: string): HTMLElement {
  const box = el('div', 'stat');
  const value = el('dd');
  box.append(el('dt', undefined, label), value);
  parent.append(box);
  return value;
}

function buildCard(id: string): CardView {
  const root = el('article', 'card');
  root.dataset.device = id;

  const thumb = el('div', 'thumb');
  const img = el('img');
  img.alt = `latest image from ${id}`;
  img.decoding = 'async';
  img.addEventListener('error', () => thumb.classList.add('missing'));
  img.addEventListener('load', () => thumb.classList.remove('missing'));
  const placeholder = el('span', 'placeholder', 'no image yet');
  thumb.append(img, placeholder);

  const body = el('div', 'card-body');
  const head = el('div', 'card-head');
  const state = el('span', 'pill');
  head.append(el('h3', undefined, id), state);

  const meta = el('p', 'meta');
  const seen = el('span', 'seen');
  const latestName = el('span', 'latest-name');
  meta.append(seen, latestName);

  const stats = el('dl', 'stats');
  stats.title = 'today (UTC)';
  const images = stat(stats, 'images today');
  const bytes = stat(stats, 'data today');
  const quarantined = stat(stats, 'quarantined');

  const latency = el('div', 'latency');
  const figures = el('div', 'latency-figures');
  const p50 = el('b');
  const p95 = el('b');
  figures.append(el('span', 'label', 'seal → receive'), el('span', undefined, 'p50 '), p50, el('span', undefined, ' · p95 '), p95);
  const spark = svg('svg', { class: 'spark', viewBox: '0 0 160 32', preserveAspectRatio: 'none', role: 'img', 'aria-label': `latency of recent images from ${id}` });
  latency.append(figures, spark);

  const trust = el('div', 'trust');
  const signature = el('p', 'signature');
  const signatureToday = el('p', 'signature-today');
  trust.append(signature, signatureToday);
  const warnings = el('ul', 'warnings');
  body.append(head, meta, stats, latency, trust, warnings);
  root.append(thumb, body);
  return { root, img, thumbKey: '', state, seen, latestName, images, bytes, quarantined, p50, p95, spark, signature, signatureToday, warnings };
}

function drawSpark(spark: SVGElement, series: number[]): void {
  spark.replaceChildren();
  if (series.length === 0) return;
  const max = Math.max(...series, 1);
  const { line, area } = pathsFor(series.length === 1 ? [series[0]!, series[0]!] : series, max, 160, 32);
  spark.append(svg('path', { d: area, class: 'area' }), svg('path', { d: line, class: 'line', 'vector-effect': 'non-scaling-stroke' }));
}

function updateCard(view: CardView, card: DeviceCard, nowMs: number, quietAfterMs: number): void {
  const sinceMs = nowMs - Date.parse(card.lastSeen);
  const quiet = sinceMs > quietAfterMs;
  view.root.classList.toggle('quiet', quiet);
  view.root.dataset.quiet = String(quiet);
  view.state.textContent = quiet ? `quiet ${formatMs(sinceMs)}` : 'live';
  view.state.className = `pill ${quiet ? 'pill-quiet' : 'pill-live'}`;
  view.seen.textContent = `last seen ${formatAgo(sinceMs)}`;
  view.seen.title = formatTime(card.lastSeen);
  view.latestName.textContent = card.latest ? card.latest.name : '';
  view.latestName.title = card.latest ? `${card.latest.contentType}, ${formatBytes(card.latest.bytes)}, SHA-256 ${card.latest.sha256}` : '';

  view.images.textContent = formatCount(card.imagesToday);
  view.bytes.textContent = formatBytes(card.bytesToday);
  view.quarantined.textContent = formatCount(card.quarantinedToday);
  view.quarantined.parentElement!.classList.toggle('bad', card.quarantinedToday > 0);

  const hasLatency = card.latency.series.length > 0;
  view.p50.textContent = hasLatency ? formatMs(card.latency.p50) : '–';
  view.p95.textContent = hasLatency ? formatMs(card.latency.p95) : '–';
  drawSpark(view.spark, card.latency.series);

  const { signature } = card;
  view.signature.className = `signature sig-${signature.latest === 'n/a' ? 'na' : (signature.latest ?? 'none')}`;
  const word = signature.latest === 'verified' ? 'signature verified' : signature.latest === 'unsigned' ? 'unsigned' : signature.latest === 'n/a' ? 'signature n/a' : 'no image yet';
  const key = signature.keyId ? ` · key ${signature.keyId}` : '';
  view.signature.textContent = `${word}${key}`;
  view.signatureToday.textContent =
    signature.verified + signature.unsigned + signature.na > 0 ? `today ${formatCount(signature.verified)} verified · ${formatCount(signature.unsigned)} unsigned${signature.na > 0 ? ` · ${formatCount(signature.na)} n/a` : ''}` : '';

  view.warnings.replaceChildren(
    ...card.warnings.map((w) => {
      const item = el('li');
      item.append(el('span', 'warn-name', w.name), document.createTextNode(` ${w.text}`));
      return item;
    }),
  );
  view.warnings.hidden = card.warnings.length === 0;
  view.root.classList.toggle('warned', card.warnings.length > 0);

  const key16 = card.latest?.sha256.slice(0, 16) ?? '';
  if (key16 !== view.thumbKey) {
    view.thumbKey = key16;
    if (key16) view.img.src = `/thumb/${encodeURIComponent(card.id)}?v=${key16}`;
    else view.img.removeAttribute('src');
  }
}

// --- Page ----------------------------------------------------------------------------------------

const cards = new Map<string, CardView>();
let latest: FleetSnapshot | undefined;
/** Server clock minus ours, so "last seen" counts from the server's idea of now. */
let skewMs = 0;

function tile(label: string, value: string, detail = '', tone = ''): HTMLElement {
  const box = el('div', `tile${tone ? ` tile-${tone}` : ''}`);
  box.append(el('span', 'tile-label', label), el('span', 'tile-value', value), el('span', 'tile-detail', detail));
  return box;
}

function renderTiles(s: FleetSnapshot, nowMs: number): void {
  const quiet = s.devices.filter((d) => nowMs - Date.parse(d.lastSeen) > s.quietAfterMs).length;
  const imagesToday = s.devices.reduce((n, d) => n + d.imagesToday, 0);
  const bytesToday = s.devices.reduce((n, d) => n + d.bytesToday, 0);
  const quarantinedToday = s.devices.reduce((n, d) => n + d.quarantinedToday, 0);
  const recent = s.throughput.images.slice(-6).reduce((a, b) => a + b, 0) / (6 * s.throughput.bucketSeconds);
  byId('tiles').replaceChildren(
    tile('cameras', formatCount(s.devices.length), quiet > 0 ? `${quiet} quiet` : 'all live', quiet > 0 ? 'warn' : ''),
    tile('images today', formatCount(imagesToday), `${formatBytes(bytesToday)} · UTC day`),
    tile('now', `${formatRate(recent)}/s`, 'images, last minute'),
    tile('quarantined today', formatCount(quarantinedToday), `${formatCount(s.quarantineCount)} listed`, quarantinedToday > 0 ? 'bad' : ''),
    tile('duplicates', formatCount(s.totals.duplicates), 'repeats already processed'),
    tile('redeliveries', formatCount(s.totals.redeliveries), 'notifications sent again'),
    tile('in flight', formatCount(s.totals.inFlight), `${s.receivers.filter((r) => !r.stale).length} live receiver(s)`),
  );
}

function drawChart(id: string, values: number[], rateId: string, unit: (v: number) => string): void {
  const chart = byId<SVGElement>(id);
  const max = Math.max(...values, 0);
  const { line, area } = stepsFor(values, max || 1, 720, 120, 8);
  const grid = [30, 60, 90].map((y) => svg('line', { x1: 0, x2: 720, y1: y, y2: y, class: 'grid', 'vector-effect': 'non-scaling-stroke' }));
  chart.replaceChildren(...grid, svg('path', { d: area, class: 'area' }), svg('path', { d: line, class: 'line', 'vector-effect': 'non-scaling-stroke' }));
  byId(rateId).textContent = `peak ${unit(max)}`;
}

function renderThroughput(s: FleetSnapshot): void {
  const { bucketSeconds } = s.throughput;
  drawChart('chart-images', s.throughput.images.map((n) => n / bucketSeconds), 'rate-images', formatRate);
  drawChart('chart-mb', s.throughput.bytes.map((n) => n / bucketSeconds / 1e6), 'rate-mb', formatRate);
}

function renderCards(s: FleetSnapshot, nowMs: number): void {
  const container = byId('cards');
  const ids = new Set(s.devices.map((d) => d.id));
  for (const [id, view] of cards) {
    if (!ids.has(id)) {
      view.root.remove();
      cards.delete(id);
    }
  }
  // Quiet cameras first (they need attention), then by id.
  const ordered = [...s.devices].sort((a, b) => {
    const qa = nowMs - Date.parse(a.lastSeen) > s.quietAfterMs ? 0 : 1;
    const qb = nowMs - Date.parse(b.lastSeen) > s.quietAfterMs ? 0 : 1;
    return qa - qb || (a.id < b.id ? -1 : 1);
  });
  for (const card of ordered) {
    let view = cards.get(card.id);
    if (!view) cards.set(card.id, (view = buildCard(card.id)));
    updateCard(view, card, nowMs, s.quietAfterMs);
    container.append(view.root); // moves it into order
  }
  byId('no-cameras').hidden = s.devices.length > 0;
  byId('quiet-note').textContent = `flagged quiet after ${formatMs(s.quietAfterMs)} without an image`;
}

function row(cells: (string | HTMLElement)[], className = ''): HTMLTableRowElement {
  const tr = el('tr', className);
  for (const cell of cells) {
    const td = el('td');
    if (typeof cell === 'string') td.textContent = cell;
    else td.append(cell);
    tr.append(td);
  }
  return tr;
}

function renderQuarantine(rows: QuarantineRow[], count: number): void {
  const body = byId('quarantine').querySelector('tbody')!;
  body.replaceChildren(...rows.map((q) => row([formatTime(q.time), q.deviceId, el('code', undefined, q.code), q.reason, el('code', 'blob', q.blobName)])));
  byId('no-quarantine').hidden = rows.length > 0;
  byId('quarantine').hidden = rows.length === 0;
  byId('quarantine-count').textContent = count > rows.length ? `newest ${rows.length} of ${count}` : count > 0 ? `${count}` : '';
}

function renderReceivers(rows: ReceiverRow[], nowMs: number): void {
  const body = byId('receivers').querySelector('tbody')!;
  body.replaceChildren(
    ...rows.map((r) =>
      row(
        [
          r.receiver,
          el('span', `pill ${r.stale ? 'pill-quiet' : 'pill-live'}`, r.stale ? 'stale' : 'live'),
          formatCount(r.opened),
          formatCount(r.duplicates),
          formatCount(r.redeliveries),
          formatCount(r.quarantined),
          formatBytes(r.bytes),
          formatCount(r.inFlight),
          formatAgo(nowMs - Date.parse(r.updatedAt)),
        ],
        r.stale ? 'stale' : '',
      ),
    ),
  );
  byId('no-receivers').hidden = rows.length > 0;
  byId('receivers').hidden = rows.length === 0;
}

/** What moves with the clock alone: relative times and quiet flags. */
function tick(): void {
  if (!latest) return;
  const nowMs = Date.now() + skewMs;
  renderTiles(latest, nowMs);
  renderCards(latest, nowMs);
}

function render(): void {
  const s = latest;
  if (!s) return;
  const nowMs = Date.now() + skewMs;
  tick();
  renderThroughput(s);
  renderQuarantine(s.quarantine, s.quarantineCount);
  renderReceivers(s.receivers, nowMs);
  const skipped = byId('skipped');
  skipped.hidden = s.skipped.count === 0;
  skipped.textContent = s.skipped.count > 0 ? `${s.skipped.count} record file(s) skipped as invalid; latest: ${s.skipped.recent[0] ?? ''}` : '';
}

function setConnection(state: 'live' | 'reconnecting' | 'signed-out', label: string): void {
  const node = byId('connection');
  node.dataset.state = state;
  node.textContent = label;
}

function connect(): void {
  const source = new EventSource('/events');
  source.addEventListener('open', () => setConnection('live', 'live'));
  source.addEventListener('message', (event: MessageEvent<string>) => {
    latest = JSON.parse(event.data) as FleetSnapshot;
    skewMs = Date.parse(latest.generatedAt) - Date.now();
    document.body.dataset.updated = latest.generatedAt;
    render();
  });
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) setConnection('signed-out', 'disconnected: open the URL sealcam dashboard printed');
    else setConnection('reconnecting', 'reconnecting');
  });
}

document.addEventListener('DOMContentLoaded', () => {
  connect();
  setInterval(tick, 1000);
});
