import { EventEmitter } from 'node:events';
import { InputError, isTransient } from '../errors.js';
import { backoffDelay } from '../retry.js';
import { summarize } from '../stats.js';
import { BUCKET_SECONDS, MAX_RECORD_BYTES, parseRecord, recordName, RECENT_SECONDS, type FleetRecord, type ImageRecord, type QuarantineRecord, type ReceiverStatus } from './records.js';
import type { DeviceCard, FleetSnapshot, QuarantineRow, ReceiverRow } from './snapshot.js';
import { directoryRecords, type RecordSource } from './store.js';

/**
 * The fleet as receivers recorded it (records.ts), kept up to date by polling a RecordSource. Only
 * files not seen before are read: every poll lists the receivers' statuses and, per device folder,
 * the record folders of today and yesterday (UTC); a full listing, less often, catches new devices
 * and backlog filed under older capture days. Only the last `historyDays` are read, plus each
 * device's newest day, so a camera that went quiet long ago still has a card. A file that is not a
 * valid record, or not where its content says it belongs, is skipped and counted, never trusted.
 *
 * The source may be a store across a network. A poll that fails (the store unreachable, a record
 * that could not be fetched) changes nothing it has not read, is reported once per outage (and
 * once more when the source answers again), and is retried with backoff; the view keeps serving
 * what it has meanwhile, from its very first poll on.
 */

export interface FleetViewOptions {
  /** The output root (a directory), or any RecordSource. */
  source: string | RecordSource;
  /** A device is flagged quiet after this long without an image or a quarantined blob (default 5 min). */
  quietAfterMs?: number;
  /** Poll interval (default 2 s) and full-listing interval (default 30 s). */
  pollMs?: number;
  fullScanMs?: number;
  /** While the source fails, polls back off (full jitter) from pollMs up to this (default 30 s). */
  retryMaxMs?: number;
  /** Days of records read (default 7). */
  historyDays?: number;
  /** A receiver status older than this is shown as stale (default 30 s). */
  staleAfterMs?: number;
  /** Epoch milliseconds; tests pass a clock. */
  now?: () => number;
  /** Skipped records (`record`), and a source that stopped or started answering again (`source`), one escaped line each. */
  onWarning?: (message: string, about: 'record' | 'source') => void;
}

/** Latency percentiles and the sparkline cover a device's last this many images. */
const RECENT_IMAGES = 120;
const SPARK_POINTS = 60;
const WARNINGS_SHOWN = 5;
const QUARANTINE_HELD = 1000;
const QUARANTINE_SHOWN = 100;
const SKIPPED_SHOWN = 10;
const READS_AT_ONCE = 16;
const DAY_MS = 86_400_000;

const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const quoted = (text: string) => JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}...` : text);

interface DayCounts {
  images: number;
  bytes: number;
  quarantined: number;
  warned: number;
  verified: number;
  unsigned: number;
  na: number;
}

class DeviceState {
  lastSeenMs = -Infinity;
  /** Newest last, by receivedAt. */
  readonly recent: ImageRecord[] = [];
  readonly days = new Map<string, DayCounts>();
  readonly warnings: DeviceCard['warnings'] = [];

  constructor(readonly id: string) {}

  private day(day: string): DayCounts {
    let counts = this.days.get(day);
    if (!counts) this.days.set(day, (counts = { images: 0, bytes: 0, quarantined: 0, warned: 0, verified: 0, unsigned: 0, na: 0 }));
    return counts;
  }

  addImage(record: ImageRecord): void {
    const at = Date.parse(record.receivedAt);
    this.lastSeenMs = Math.max(this.lastSeenMs, at);
    const counts = this.day(dayOf(at));
    counts.images++;
    counts.bytes += record.bytes;
    counts[record.signature === 'n/a' ? 'na' : record.signature]++;
    if (record.warnings.length > 0) {
      counts.warned++;
      const name = record.outputPath.slice(record.outputPath.lastIndexOf('/') + 1);
      this.warnings.push(...record.warnings.map((text) => ({ name, receivedAt: record.receivedAt, text })));
      this.warnings.sort((a, b) => Date.parse(b.receivedAt) - Date.parse(a.receivedAt));
      this.warnings.splice(WARNINGS_SHOWN);
    }
    // Records mostly arrive in order: insert from the end.
    let i = this.recent.length;
    while (i > 0 && Date.parse(this.recent[i - 1]!.receivedAt) > at) i--;
    this.recent.splice(i, 0, record);
    if (this.recent.length > RECENT_IMAGES) this.recent.shift();
  }

  addQuarantine(record: QuarantineRecord): void {
    const at = Date.parse(record.time);
    this.lastSeenMs = Math.max(this.lastSeenMs, at);
    this.day(dayOf(at)).quarantined++;
  }

  card(nowMs: number, quietAfterMs: number): DeviceCard {
    const today = this.days.get(dayOf(nowMs));
    const latencies = this.recent.map((r) => r.sealToReceiveMs);
    const { p50, p95 } = summarize(latencies);
    const newest = this.recent.at(-1);
    const card: DeviceCard = {
      id: this.id,
      lastSeen: new Date(this.lastSeenMs).toISOString(),
      quiet: nowMs - this.lastSeenMs > quietAfterMs,
      imagesToday: today?.images ?? 0,
      bytesToday: today?.bytes ?? 0,
      quarantinedToday: today?.quarantined ?? 0,
      latency: { p50, p95, series: latencies.slice(-SPARK_POINTS) },
      signature: { verified: today?.verified ?? 0, unsigned: today?.unsigned ?? 0, na: today?.na ?? 0 },
      warnings: this.warnings.map((w) => ({ ...w })),
      warnedToday: today?.warned ?? 0,
    };
    if (newest) {
      card.signature.latest = newest.signature;
      if (newest.keyId !== undefined) card.signature.keyId = newest.keyId;
      card.latest = {
        name: newest.outputPath.slice(newest.outputPath.lastIndexOf('/') + 1),
        contentType: newest.contentType,
        bytes: newest.bytes,
        sha256: newest.sha256,
        captureTime: newest.captureTime,
        receivedAt: newest.receivedAt,
      };
    }
    return card;
  }
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class FleetView extends EventEmitter<{ change: [] }> {
  private readonly source: RecordSource;
  private readonly quietAfterMs: number;
  private readonly pollMs: number;
  private readonly fullScanMs: number;
  private readonly retryMaxMs: number;
  private readonly historyDays: number;
  private readonly staleAfterMs: number;
  private readonly now: () => number;
  private readonly onWarning: (message: string, about: 'record' | 'source') => void;

  private readonly seen = new Set<string>();
  private readonly devices = new Map<string, DeviceState>();
  /** Folders under records/ (device ids, and 'quarantine'), for the short polls. */
  private readonly folders = new Set<string>();
  private readonly quarantine: QuarantineRow[] = [];
  private readonly receivers = new Map<string, { text: string; status?: ReceiverStatus }>();
  private readonly skippedRecent: string[] = [];
  private skippedCount = 0;
  private lastFullScan = -Infinity;
  /** Polls failed in a row (0: the source answers), for the backoff and so an outage is reported once. */
  private failures = 0;
  /** Records applied since the last poll that reported a change (a poll that failed midway applied some). */
  private unreported = false;
  /** What the last snapshot showed that time alone changes: the day, and which devices are quiet or receivers stale. */
  private clockState = '';
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(options: FleetViewOptions) {
    super();
    this.source = typeof options.source === 'string' ? directoryRecords(options.source) : options.source;
    this.quietAfterMs = positive(options.quietAfterMs, 300_000, 'quietAfterMs');
    this.pollMs = positive(options.pollMs, 2000, 'pollMs');
    this.fullScanMs = positive(options.fullScanMs, 30_000, 'fullScanMs');
    this.retryMaxMs = positive(options.retryMaxMs, 30_000, 'retryMaxMs');
    this.historyDays = positive(options.historyDays, 7, 'historyDays');
    this.staleAfterMs = positive(options.staleAfterMs, 30_000, 'staleAfterMs');
    this.now = options.now ?? Date.now;
    this.onWarning = options.onWarning ?? (() => undefined);
  }

  /**
   * A view that has read what is there now and keeps polling until close(); `poll: false` leaves
   * polling to refresh() (and a first poll that fails rejects). With polling, a source that cannot
   * be read yet is reported and retried: the view opens empty.
   */
  static async open(options: FleetViewOptions & { poll?: boolean }): Promise<FleetView> {
    const view = new FleetView(options);
    if (options.poll === false) {
      await view.refresh({ full: true });
      return view;
    }
    await view.refresh({ full: true }).then(
      () => view.answered(),
      (err: unknown) => view.failed(err),
    );
    view.schedule();
    return view;
  }

  /** One poll (a full listing when `full`, or when one is due); true when the snapshot changed. */
  refresh(options: { full?: boolean } = {}): Promise<boolean> {
    const run = this.polling.then(() => this.poll(options.full === true || this.now() - this.lastFullScan >= this.fullScanMs));
    this.polling = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** The newest image of a device, for its thumbnail. */
  latestImage(deviceId: string): Pick<ImageRecord, 'outputPath' | 'sha256' | 'contentType'> | undefined {
    const newest = this.devices.get(deviceId)?.recent.at(-1);
    return newest && { outputPath: newest.outputPath, sha256: newest.sha256, contentType: newest.contentType };
  }

  snapshot(): FleetSnapshot {
    const nowMs = this.now();
    const rows = [...this.receivers.values()].flatMap(({ status }) => (status ? [this.receiverRow(status, nowMs)] : []));
    const totals = { opened: 0, duplicates: 0, redeliveries: 0, quarantined: 0, bytes: 0, inFlight: 0 };
    for (const r of rows) {
      totals.opened += r.opened;
      totals.duplicates += r.duplicates;
      totals.redeliveries += r.redeliveries;
      totals.quarantined += r.quarantined;
      totals.bytes += r.bytes;
      if (!r.stale) totals.inFlight += r.inFlight;
    }
    return {
      generatedAt: new Date(nowMs).toISOString(),
      day: dayOf(nowMs),
      quietAfterMs: this.quietAfterMs,
      devices: [...this.devices.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((d) => d.card(nowMs, this.quietAfterMs)),
      receivers: rows.sort((a, b) => (a.receiver < b.receiver ? -1 : 1)),
      totals,
      throughput: this.throughput(nowMs),
      quarantine: this.quarantine.slice(0, QUARANTINE_SHOWN).map((q) => ({ ...q })),
      quarantineCount: this.quarantine.length,
      skipped: { count: this.skippedCount, recent: [...this.skippedRecent] },
    };
  }

  // --- Polling -----------------------------------------------------------------------------------

  /** The next poll after pollMs, or, while the source fails, after a backoff that grows to at most retryMaxMs. */
  private schedule(): void {
    if (this.closed) return;
    const delay = this.failures === 0 ? this.pollMs : Math.max(this.pollMs, backoffDelay(this.failures, { baseMs: this.pollMs, maxMs: this.retryMaxMs, attempts: Infinity }));
    this.timer = setTimeout(() => {
      this.refresh()
        .then(
          (changed) => {
            this.answered();
            if (changed && !this.closed) this.emit('change');
          },
          (err: unknown) => this.failed(err),
        )
        .finally(() => this.schedule());
    }, delay);
    this.timer.unref();
  }

  private failed(err: unknown): void {
    if (this.failures++ === 0) this.onWarning(`fleet records cannot be read (retrying until they can): ${String((err as Error)?.message ?? err).split('\n')[0]}`, 'source');
  }

  private answered(): void {
    if (this.failures > 0) this.onWarning('fleet records can be read again', 'source');
    this.failures = 0;
  }

  private async poll(full: boolean): Promise<boolean> {
    const nowMs = this.now();
    if (await this.readStatuses()) this.unreported = true;
    const names: string[] = [];
    if (full) {
      names.push(...this.withinHistory(await this.source.list('records/'), nowMs));
    } else {
      const days = [dayOf(nowMs), dayOf(nowMs - DAY_MS)];
      const prefixes = [...this.folders].flatMap((folder) => days.map((day) => `records/${folder}/${day}/`));
      for (const listed of await Promise.all(prefixes.map((p) => this.source.list(p)))) names.push(...listed);
    }
    const fresh = names.filter((name) => !this.seen.has(name));
    for (const name of fresh) this.seen.add(name);
    await eachLimited(fresh, READS_AT_ONCE, async (name) => {
      const record = await this.load(name);
      if (record && this.apply(record)) this.unreported = true;
    });
    // Only a full listing that was read through counts: after a failed one, the next poll lists all again.
    if (full) this.lastFullScan = nowMs;
    const clock = this.clockStateAt(nowMs);
    const changed = this.unreported || clock !== this.clockState;
    this.clockState = clock;
    this.unreported = false;
    return changed;
  }

  /** Names in the last historyDays, and every name of each folder's newest day. */
  private withinHistory(names: string[], nowMs: number): string[] {
    const cutoff = dayOf(nowMs - this.historyDays * DAY_MS);
    const newest = new Map<string, string>();
    const placed: [string, string, string][] = [];
    for (const name of names) {
      const [, folder, day] = name.split('/');
      if (folder === undefined || day === undefined) {
        if (!this.seen.has(name)) this.skip(name, 'is not in a records/<device>/<day>/ folder');
        this.seen.add(name);
        continue;
      }
      this.folders.add(folder);
      placed.push([name, folder, day]);
      if (day > (newest.get(folder) ?? '')) newest.set(folder, day);
    }
    return placed.filter(([, folder, day]) => day >= cutoff || day === newest.get(folder)).map(([name]) => name);
  }

  private async readStatuses(): Promise<boolean> {
    let changed = false;
    const names = await this.source.list('receivers/');
    for (const gone of [...this.receivers.keys()].filter((name) => !names.includes(name))) {
      this.receivers.delete(gone);
      changed = true;
    }
    await eachLimited(names, READS_AT_ONCE, async (name) => {
      const bytes = await this.source.read(name, MAX_RECORD_BYTES).catch((err: Error) => {
        if (isTransient(err)) throw err; // the source is failing, not the record: the poll fails, and is retried
        this.skip(name, `cannot be read: ${err.message}`);
        return undefined;
      });
      if (!bytes) return;
      const text = Buffer.from(bytes).toString('latin1');
      if (this.receivers.get(name)?.text === text) return;
      changed = true;
      const record = this.check(name, bytes);
      this.receivers.set(name, { text, status: record?.kind === 'receiver' ? record : undefined });
      if (record && record.kind !== 'receiver') this.skip(name, `holds a ${record.kind} record, not a receiver status`);
    });
    return changed;
  }

  private async load(name: string): Promise<FleetRecord | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = await this.source.read(name, MAX_RECORD_BYTES);
    } catch (err) {
      if (isTransient(err)) {
        this.seen.delete(name); // read it again next poll
        throw err;
      }
      this.skip(name, `cannot be read: ${(err as Error).message}`);
      return undefined;
    }
    return this.check(name, bytes);
  }

  /** The record in `bytes`, if valid and filed under its own name. */
  private check(name: string, bytes: Uint8Array): FleetRecord | undefined {
    let record: FleetRecord;
    try {
      record = parseRecord(bytes);
    } catch (err) {
      this.skip(name, (err as Error).message);
      return undefined;
    }
    const expected = recordName(record);
    if (expected !== name) {
      this.skip(name, `is not where its content says it belongs (${quoted(expected)})`);
      return undefined;
    }
    return record;
  }

  private skip(name: string, problem: string): void {
    this.skippedCount++;
    const message = `skipped record ${quoted(name)}: ${problem}`;
    this.skippedRecent.unshift(message);
    this.skippedRecent.splice(SKIPPED_SHOWN);
    this.onWarning(message, 'record');
  }

  private device(id: string): DeviceState {
    let device = this.devices.get(id);
    if (!device) this.devices.set(id, (device = new DeviceState(id)));
    return device;
  }

  private apply(record: FleetRecord): boolean {
    if (record.kind === 'image') this.device(record.deviceId).addImage(record);
    else if (record.kind === 'quarantine') {
      this.device(record.deviceId).addQuarantine(record);
      const { deviceId, blobName, code, reason, time, receiver } = record;
      const at = Date.parse(time);
      let i = 0;
      while (i < this.quarantine.length && Date.parse(this.quarantine[i]!.time) > at) i++;
      this.quarantine.splice(i, 0, { deviceId, blobName, code, reason, time, receiver });
      this.quarantine.splice(QUARANTINE_HELD);
    } else return false; // a status under records/ is misfiled: recordName() already refused it
    return true;
  }

  private receiverRow(status: ReceiverStatus, nowMs: number): ReceiverRow {
    const { v: _v, kind: _kind, recent: _recent, ...row } = status;
    return { ...row, stale: nowMs - Date.parse(status.updatedAt) > this.staleAfterMs };
  }

  /** The receivers' buckets of the last hour, added up in BUCKET_SECONDS bins; the bin still filling is left out. */
  private throughput(nowMs: number): FleetSnapshot['throughput'] {
    const bins = RECENT_SECONDS / BUCKET_SECONDS;
    const start = (Math.floor(nowMs / 1000 / BUCKET_SECONDS) - bins) * BUCKET_SECONDS;
    const images = new Array<number>(bins).fill(0);
    const bytes = new Array<number>(bins).fill(0);
    for (const { status } of this.receivers.values()) {
      for (const b of status?.recent ?? []) {
        const i = Math.floor((b.t - start) / BUCKET_SECONDS);
        if (i < 0 || i >= bins) continue;
        images[i]! += b.images;
        bytes[i]! += b.bytes;
      }
    }
    return { bucketSeconds: BUCKET_SECONDS, start, images, bytes };
  }

  private clockStateAt(nowMs: number): string {
    const quiet = [...this.devices.values()].filter((d) => nowMs - d.lastSeenMs > this.quietAfterMs).map((d) => d.id);
    const stale = [...this.receivers.values()].filter(({ status }) => status && nowMs - Date.parse(status.updatedAt) > this.staleAfterMs).map(({ status }) => status!.receiver);
    return JSON.stringify([dayOf(nowMs), quiet, stale]);
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new InputError(`${name} must be a positive number, got ${String(value)}`);
  return value;
}
