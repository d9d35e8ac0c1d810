import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  blobFileName,
  RecentThroughput,
  recordName,
  validateRecord,
  writeImageRecord,
  writeQuarantineRecord,
  writeReceiverStatus,
  type ImageRecord,
} from '../src/fleet/records.js';
import { directoryRecords, type RecordSource } from '../src/fleet/store.js';
import { FleetView, type FleetViewOptions } from '../src/fleet/view.js';
import { SealcamError } from '../src/errors.js';
import { imageFields, iso, quarantineFields, statusFields } from './fixtures/fleet-records.js';

/**
 * Fleet records (what receivers write for the dashboard) and FleetView (what the dashboard reads),
 * on real directories: records written by the writers the receiver will call, then read back.
 */

const root = mkdtempSync(join(tmpdir(), 'sealcam-fleet-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshRoot = () => {
  const dir = join(root, `out${++dirs}`);
  mkdirSync(dir);
  return dir;
};

const NOW = Date.parse('2025-03-14T12:00:00.000Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

const image = (deviceId: string, name: string, receivedMs: number, over = {}): ImageRecord => ({ v: 1, kind: 'image', ...imageFields(deviceId, name, receivedMs, over) });

/** A view on `dir` at a settable clock, polled by hand. */
async function viewOn(dir: string | RecordSource, options: Partial<FleetViewOptions> = {}) {
  const clock = { now: NOW };
  const warnings: string[] = [];
  const view = await FleetView.open({ source: dir, now: () => clock.now, poll: false, onWarning: (w) => warnings.push(w), ...options });
  return { view, clock, warnings };
}

/** A file under the record root, written as is. */
function plant(dir: string, name: string, text: string): void {
  const path = join(dir, '.sealcam', ...name.split('/'));
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

describe('validateRecord', () => {
  it('returns a fresh object with the fields in schema order', () => {
    const input = { ...image('cam-1', 'a.jpg', NOW), keyId: 'device-key-1' };
    const record = validateRecord({ ...input });
    expect(record).toEqual(input);
    expect(Object.keys(record).slice(0, 3)).toEqual(['v', 'kind', 'deviceId']);
  });

  it('accepts an image record without keyId', () => {
    expect(() => validateRecord(image('cam-1', 'a.jpg', NOW))).not.toThrow();
  });

  it('refuses an unknown field', () => {
    expect(() => validateRecord({ ...image('cam-1', 'a.jpg', NOW), extra: 1 })).toThrow(/^fleet record refused: unknown field 'extra'/);
  });

  it('refuses another version', () => {
    expect(() => validateRecord({ ...image('cam-1', 'a.jpg', NOW), v: 2 })).toThrow('fleet record refused: v must be one of 1');
  });

  it('refuses an unknown kind', () => {
    expect(() => validateRecord({ v: 1, kind: 'telemetry' })).toThrow('fleet record refused: kind must be one of image, quarantine, receiver');
  });

  it('refuses a missing field', () => {
    const { sha256: _, ...rest } = image('cam-1', 'a.jpg', NOW);
    expect(() => validateRecord(rest)).toThrow('fleet record refused: sha256 is missing');
  });

  it('refuses an output path outside the device and day folders', () => {
    expect(() => validateRecord(image('cam-1', 'a.jpg', NOW, { outputPath: 'cam-2/2025-03-14/a.jpg' }))).toThrow("outputPath must be '<deviceId>/<yyyy-mm-dd>/<file name>'");
    expect(() => validateRecord(image('cam-1', 'a.jpg', NOW, { outputPath: 'cam-1/../a.jpg' }))).toThrow(/outputPath must be '\/'-separated parts/);
  });

  it('refuses a device id that is a path step', () => {
    expect(() => validateRecord(image('..', 'a.jpg', NOW))).toThrow(/deviceId must be 1-64 letters/);
  });

  it('refuses a warning of more than one line', () => {
    expect(() => validateRecord(image('cam-1', 'a.jpg', NOW, { warnings: ['one\ntwo'] }))).toThrow('warnings [0] must be one line of at most 500 characters');
  });

  it('refuses a negative count in a receiver status', () => {
    expect(() => validateRecord({ v: 1, kind: 'receiver', ...statusFields('rx-1', NOW, { opened: -1 }) })).toThrow('opened must be a non-negative integer');
  });

  it('refuses a throughput bucket with a field too many', () => {
    const recent = [{ t: 1, images: 1, bytes: 1, extra: 0 }] as unknown as [];
    expect(() => validateRecord({ v: 1, kind: 'receiver', ...statusFields('rx-1', NOW, { recent }) })).toThrow("recent [0] unknown field 'extra'");
  });
});

describe('record writers', () => {
  it('files an image record beside where the image went, mirrored under .sealcam/records', async () => {
    const dir = freshRoot();
    const fields = imageFields('cam-1', 'a.jpg', NOW);
    expect(await writeImageRecord(dir, fields)).toBe('written');
    const path = join(dir, '.sealcam', 'records', 'cam-1', '2025-03-14', 'a.jpg.json');
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ v: 1, kind: 'image', ...fields });
    expect(statSync(path).mode & 0o777).toBe(0o640);
  });

  it('never replaces a record: the second writer hears it exists', async () => {
    const dir = freshRoot();
    await writeImageRecord(dir, imageFields('cam-1', 'a.jpg', NOW));
    expect(await writeImageRecord(dir, imageFields('cam-1', 'a.jpg', NOW, { bytes: 5 }))).toBe('exists');
    expect(JSON.parse(readFileSync(join(dir, '.sealcam/records/cam-1/2025-03-14/a.jpg.json'), 'utf8')).bytes).toBe(1000);
  });

  it('lets exactly one of several racing receivers record an image', async () => {
    const dir = freshRoot();
    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => writeImageRecord(dir, imageFields('cam-1', 'a.jpg', NOW, { receiver: `rx-${i}` }))));
    expect(outcomes.filter((o) => o === 'written')).toHaveLength(1);
  });

  it('refuses an invalid record before writing anything', async () => {
    const dir = freshRoot();
    await expect(writeImageRecord(dir, imageFields('cam-1', 'a.jpg', NOW, { sha256: 'x' }))).rejects.toThrow('sha256 must be 64 lower-case hex digits');
    expect(await directoryRecords(dir).list('records/')).toEqual([]);
  });

  it('files a quarantine record by the day it happened, under its percent-encoded blob name', async () => {
    const dir = freshRoot();
    const fields = quarantineFields('cam-1', 'b.jpg', NOW);
    await writeQuarantineRecord(dir, fields);
    expect(await directoryRecords(dir).list('records/')).toEqual(['records/quarantine/2025-03-14/cam-1%2F2025%2F01%2F01%2Fb%2Ejpg%2Esealed.json']);
  });

  it('gives two blob names that differ only in / and _ different quarantine files', () => {
    expect(blobFileName('a/b')).not.toBe(blobFileName('a_b'));
  });

  it('cuts a long blob name to a file name with a digest of the whole', () => {
    const long = `cam-1/2025/01/01/${'x'.repeat(300)}`;
    const name = blobFileName(long);
    expect(name.length).toBeLessThanOrEqual(200);
    expect(name).not.toBe(blobFileName(`${long}y`));
  });

  it('replaces a receiver status', async () => {
    const dir = freshRoot();
    await writeReceiverStatus(dir, statusFields('rx-1', NOW, { opened: 1 }));
    await writeReceiverStatus(dir, statusFields('rx-1', NOW + 1000, { opened: 2 }));
    expect(JSON.parse(readFileSync(join(dir, '.sealcam/receivers/rx-1.json'), 'utf8')).opened).toBe(2);
  });
});

describe('RecentThroughput', () => {
  it('counts images and bytes into buckets aligned to 10 s', () => {
    const recent = new RecentThroughput();
    recent.add(100, 1_000_003_000);
    recent.add(50, 1_000_009_999);
    recent.add(7, 1_000_010_000);
    expect(recent.recent(1_000_010_000)).toEqual([
      { t: 1_000_000, images: 2, bytes: 150 },
      { t: 1_000_010, images: 1, bytes: 7 },
    ]);
  });

  it('forgets buckets older than an hour', () => {
    const recent = new RecentThroughput();
    recent.add(1, 1_000_000_000);
    expect(recent.recent(1_000_000_000 + HOUR + 10_000)).toEqual([]);
  });
});

describe('FleetView per device', () => {
  it('counts images and bytes of today only', async () => {
    const dir = freshRoot();
    await writeImageRecord(dir, imageFields('cam-1', 'a.jpg', NOW - HOUR, { bytes: 300 }));
    await writeImageRecord(dir, imageFields('cam-1', 'b.jpg', NOW - MIN, { bytes: 200 }));
    await writeImageRecord(dir, imageFields('cam-1', 'old.jpg', NOW - DAY, { bytes: 5000 }));
    const { view } = await viewOn(dir);
    const [card] = view.snapshot().devices;
    expect(card).toMatchObject({ id: 'cam-1', imagesToday: 2, bytesToday: 500, lastSeen: iso(NOW - MIN) });
  });

  it('gives nearest-rank latency percentiles and the latencies in order of receipt', async () => {
    const dir = freshRoot();
    const latencies = [50, 10, 40, 30, 20, 100, 60, 70, 80, 90];
    // Written in another order than received: the series follows receivedAt.
    for (const [i, ms] of [...latencies.entries()].reverse()) await writeImageRecord(dir, imageFields('cam-1', `i${i}.jpg`, NOW - (10 - i) * 1000, { sealToReceiveMs: ms }));
    const { view } = await viewOn(dir);
    expect(view.snapshot().devices[0]!.latency).toEqual({ p50: 50, p95: 100, series: latencies });
  });

  it("shows the newest image's signature and key, and today's signature counts", async () => {
    const dir = freshRoot();
    await writeImageRecord(dir, imageFields('cam-1', 'a.jpg', NOW - 2000, { signature: 'unsigned' }));
    await writeImageRecord(dir, imageFields('cam-1', 'b.jpg', NOW - 1000, { signature: 'verified', keyId: 'cam-1-signing' }));
    const { view } = await viewOn(dir);
    const card = view.snapshot().devices[0]!;
    expect(card.signature).toEqual({ latest: 'verified', keyId: 'cam-1-signing', verified: 1, unsigned: 1, na: 0 });
    expect(card.latest).toMatchObject({ name: 'b.jpg', receivedAt: iso(NOW - 1000) });
    expect(view.latestImage('cam-1')?.outputPath).toBe('cam-1/2025-03-14/b.jpg');
  });

  it("lists the newest image warnings first and counts today's images with warnings", async () => {
    const dir = freshRoot();
    await writeImageRecord(dir, imageFields('cam-1', 'a.jpg', NOW - 2000, { warnings: ['width 640 exceeds the limit of 600'] }));
    await writeImageRecord(dir, imageFields('cam-1', 'b.jpg', NOW - 1000, { warnings: ['malformed JPEG: truncated: no EOI marker'] }));
    await writeImageRecord(dir, imageFields('cam-1', 'c.jpg', NOW - 500));
    const { view } = await viewOn(dir);
    const card = view.snapshot().devices[0]!;
    expect(card.warnings.map((w) => `${w.name}: ${w.text}`)).toEqual(['b.jpg: malformed JPEG: truncated: no EOI marker', 'a.jpg: width 640 exceeds the limit of 600']);
    expect(card.warnedToday).toBe(2);
  });

  it("counts a device's quarantined blobs of today, and a quarantine counts as seen", async () => {
    const dir = freshRoot();
    await writeImageRecord(dir, imageFields('cam-1', 'a.jpg', NOW - HOUR));
    await writeQuarantineRecord(dir, quarantineFields('cam-1', 'q1', NOW - MIN));
    await writeQuarantineRecord(dir, quarantineFields('cam-1', 'q2', NOW - DAY));
    const { view } = await viewOn(dir);
    expect(view.snapshot().devices[0]).toMatchObject({ quarantinedToday: 1, lastSeen: iso(NOW - MIN), imagesToday: 1 });
  });

  it('flags a device quiet once nothing came for longer than the threshold', async () => {
    const dir = freshRoot();
    await writeImageRecord(dir, imageFields('cam-1', 'a.jpg', NOW));
    const { view, clock } = await viewOn(dir, { quietAfterMs: 5 * MIN });
    expect(view.snapshot().devices[0]!.quiet).toBe(false);
    clock.now = NOW + 5 * MIN + 1;
    expect(await view.refresh()).toBe(true);
    expect(view.snapshot().devices[0]!.quiet).toBe(true);
  });

  it("keeps a card for a device quiet longer than the history, from its newest day's records", async () => {
    const dir = freshRoot();
    await writeImageRecord(dir, imageFields('cam-old', 'last.jpg', NOW - 30 * DAY));
    await writeImageRecord(dir, imageFields('cam-old', 'before.jpg', NOW - 31 * DAY));
    const { view } = await viewOn(dir, { historyDays: 7 });
    const [card] = view.snapshot().devices;
    expect(card).toMatchObject({ id: 'cam-old', quiet: true, imagesToday: 0, lastSeen: iso(NOW - 30 * DAY) });
    expect(card!.latency.series).toHaveLength(1);
  });

  it('files a device called "quarantine" apart from the quarantine list', async () => {
    const dir = freshRoot();
    await writeImageRecord(dir, imageFields('quarantine', 'a.jpg', NOW - 1000));
    await writeQuarantineRecord(dir, quarantineFields('cam-1', 'q', NOW - 1000));
    const { view } = await viewOn(dir);
    const snapshot = view.snapshot();
    expect(snapshot.devices.map((d) => [d.id, d.imagesToday, d.quarantinedToday])).toEqual([
      ['cam-1', 0, 1],
      ['quarantine', 1, 0],
    ]);
    expect(snapshot.quarantine.map((q) => q.deviceId)).toEqual(['cam-1']);
  });
});

describe('FleetView for the fleet', () => {
  it('lists quarantined blobs newest first with their reasons', async () => {
    const dir = freshRoot();
    await writeQuarantineRecord(dir, quarantineFields('cam-1', 'older', NOW - 2 * MIN, { code: 'ESHA256', reason: 'the SHA-256 differs from the event' }));
    await writeQuarantineRecord(dir, quarantineFields('cam-2', 'newer', NOW - MIN));
    const { view } = await viewOn(dir);
    const { quarantine, quarantineCount } = view.snapshot();
    expect(quarantine.map((q) => [q.deviceId, q.code, q.reason])).toEqual([
      ['cam-2', 'EAUTH', 'a tag or the header MAC does not verify: authentication failed'],
      ['cam-1', 'ESHA256', 'the SHA-256 differs from the event'],
    ]);
    expect(quarantineCount).toBe(2);
  });

  it("adds up the receivers' counters, with in-flight jobs only of live receivers", async () => {
    const dir = freshRoot();
    await writeReceiverStatus(dir, statusFields('rx-1', NOW - 1000, { opened: 10, duplicates: 2, redeliveries: 1, quarantined: 1, bytes: 1000, inFlight: 3 }));
    await writeReceiverStatus(dir, statusFields('rx-2', NOW - 5 * MIN, { opened: 5, duplicates: 1, redeliveries: 4, quarantined: 0, bytes: 500, inFlight: 7 }));
    const { view } = await viewOn(dir, { staleAfterMs: MIN });
    const { totals, receivers } = view.snapshot();
    expect(totals).toEqual({ opened: 15, duplicates: 3, redeliveries: 5, quarantined: 1, bytes: 1500, inFlight: 3 });
    expect(receivers.map((r) => [r.receiver, r.stale])).toEqual([
      ['rx-1', false],
      ['rx-2', true],
    ]);
  });

  it("adds the receivers' throughput buckets into 10 s bins over the last hour, up to the bin still filling", async () => {
    const dir = freshRoot();
    const nowS = NOW / 1000;
    // rx-1 counts per 10 s, rx-2 per second; buckets older than the hour, or in the bin still filling, are left out.
    await writeReceiverStatus(dir, statusFields('rx-1', NOW, { recent: [{ t: nowS - 7200, images: 99, bytes: 99 }, { t: nowS - 20, images: 4, bytes: 4000 }] }));
    const perSecond = [{ t: nowS - 19, images: 1, bytes: 100 }, { t: nowS - 11, images: 2, bytes: 200 }, { t: nowS - 1, images: 1, bytes: 10 }, { t: nowS, images: 5, bytes: 50 }];
    await writeReceiverStatus(dir, statusFields('rx-2', NOW, { recent: perSecond }));
    const { view } = await viewOn(dir);
    const { throughput } = view.snapshot();
    expect(throughput.bucketSeconds).toBe(10);
    expect(throughput.images).toHaveLength(360);
    expect(throughput.start + 360 * 10).toBe(nowS);
    expect(throughput.images.slice(-2)).toEqual([7, 1]);
    expect(throughput.bytes.slice(-2)).toEqual([4300, 10]);
    expect(throughput.images.reduce((a, b) => a + b)).toBe(8);
  });
});

describe('FleetView reading incrementally', () => {
  /** The directory source, counting the records it reads. */
  function countingSource(dir: string) {
    const inner = directoryRecords(dir);
    const reads: string[] = [];
    const source: RecordSource = { list: (p) => inner.list(p), read: (name, max) => (reads.push(name), inner.read(name, max)) };
    return { source, reads };
  }

  it("reads only a new record on the next poll of today's folder", async () => {
    const dir = freshRoot();
    await writeImageRecord(dir, imageFields('cam-1', 'a.jpg', NOW - 1000));
    const { source, reads } = countingSource(dir);
    const { view } = await viewOn(source);
    reads.length = 0;
    await writeImageRecord(dir, imageFields('cam-1', 'b.jpg', NOW - 500));
    expect(await view.refresh()).toBe(true);
    expect(reads).toEqual(['records/cam-1/2025-03-14/b.jpg.json']);
    expect(view.snapshot().devices[0]!.imagesToday).toBe(2);
  });

  it('reports no change when nothing new arrived', async () => {
    const dir = freshRoot();
    await writeImageRecord(dir, imageFields('cam-1', 'a.jpg', NOW - 1000));
    const { view } = await viewOn(dir);
    expect(await view.refresh()).toBe(false);
  });

  it('finds a new device on the next full listing', async () => {
    const dir = freshRoot();
    await writeImageRecord(dir, imageFields('cam-1', 'a.jpg', NOW - 1000));
    const { view } = await viewOn(dir);
    await writeImageRecord(dir, imageFields('cam-2', 'a.jpg', NOW - 500));
    await view.refresh({ full: true });
    expect(view.snapshot().devices.map((d) => d.id)).toEqual(['cam-1', 'cam-2']);
  });

  it('reads again on the next poll a record the source failed to deliver, instead of skipping it', async () => {
    const dir = freshRoot();
    await writeImageRecord(dir, imageFields('cam-1', 'a.jpg', NOW - 1000));
    // The directory's records, failing the first read of b as an unreachable Azure or S3 endpoint does.
    const inner = directoryRecords(dir);
    let failures = 0;
    const flaky: RecordSource = {
      list: (p) => inner.list(p),
      read: (name, max) => (name.endsWith('/b.jpg.json') && failures++ === 0 ? Promise.reject(new SealcamError('EUNREACHABLE', 'cannot reach the store')) : inner.read(name, max)),
    };
    const { view, warnings } = await viewOn(flaky);
    await writeImageRecord(dir, imageFields('cam-1', 'b.jpg', NOW - 500));
    await expect(view.refresh()).rejects.toMatchObject({ code: 'EUNREACHABLE' });
    expect(await view.refresh()).toBe(true);
    expect(view.snapshot().devices[0]!.imagesToday).toBe(2);
    expect([view.snapshot().skipped.count, warnings]).toEqual([0, []]);
  });

  it('emits change while polling by itself', async () => {
    const dir = freshRoot();
    await writeImageRecord(dir, imageFields('cam-1', 'a.jpg', Date.now() - 1000));
    const view = await FleetView.open({ source: dir, pollMs: 20 });
    try {
      const changed = new Promise<void>((resolve) => view.once('change', resolve));
      await writeImageRecord(dir, imageFields('cam-1', 'b.jpg', Date.now()));
      await changed;
      expect(view.snapshot().devices[0]!.latest?.name).toBe('b.jpg');
    } finally {
      view.close();
    }
  });
});

describe('FleetView with bad records', () => {
  it('skips malformed JSON, unknown kinds and misfiled records, counting each once', async () => {
    const dir = freshRoot();
    await writeImageRecord(dir, imageFields('cam-1', 'good.jpg', NOW - 1000));
    plant(dir, 'records/cam-1/2025-03-14/torn.jpg.json', '{"v":1,"kind":"ima');
    plant(dir, 'records/cam-1/2025-03-14/other.jpg.json', JSON.stringify({ v: 1, kind: 'telemetry' }));
    // A valid record of cam-2, filed as if it were cam-1's: not trusted.
    plant(dir, 'records/cam-1/2025-03-14/moved.jpg.json', JSON.stringify(image('cam-2', 'moved.jpg', NOW - 500)));
    const { view, warnings } = await viewOn(dir);
    await view.refresh({ full: true });
    const snapshot = view.snapshot();
    expect(snapshot.devices.map((d) => [d.id, d.imagesToday])).toEqual([['cam-1', 1]]);
    expect(snapshot.skipped.count).toBe(3);
    expect(warnings.sort()).toEqual([
      'skipped record "records/cam-1/2025-03-14/moved.jpg.json": is not where its content says it belongs ("records/cam-2/2025-03-14/moved.jpg.json")',
      'skipped record "records/cam-1/2025-03-14/other.jpg.json": fleet record refused: kind must be one of image, quarantine, receiver',
      'skipped record "records/cam-1/2025-03-14/torn.jpg.json": fleet record refused: not JSON',
    ]);
  });

  it('escapes a record name with control characters in its warning', async () => {
    const dir = freshRoot();
    plant(dir, 'records/cam-1/2025-03-14/a\nb.json', '{}');
    const { warnings } = await viewOn(dir);
    expect(warnings).toEqual(['skipped record "records/cam-1/2025-03-14/a\\nb.json": cannot be read: record name "records/cam-1/2025-03-14/a\\nb.json" is not valid']);
  });

  it('skips a receiver status that is not valid, once per content', async () => {
    const dir = freshRoot();
    plant(dir, 'receivers/rx-1.json', JSON.stringify({ v: 1, kind: 'receiver', ...statusFields('rx-2', NOW) }));
    const { view, warnings } = await viewOn(dir);
    await view.refresh();
    expect(view.snapshot().receivers).toEqual([]);
    expect(warnings).toEqual(['skipped record "receivers/rx-1.json": is not where its content says it belongs ("receivers/rx-2.json")']);
  });

  it('checks the record name of an image against its content', () => {
    expect(recordName(image('cam-1', 'a.jpg', NOW))).toBe('records/cam-1/2025-03-14/a.jpg.json');
  });
});
