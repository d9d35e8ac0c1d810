import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOutput, provisionFleet, sealImages } from '../bench/receivers/fleet.js';
import { roundOrder, parseReceiverArgs, runReceiverBench, BENCH_DEFAULTS } from '../bench/receivers/run.js';
import { runRow } from '../bench/receivers/row.js';
import { SCHEMA, type ReceiverRunRecord } from '../bench/receivers/report.js';
import { UsageError } from '../bench/plan.js';
import { SealPool } from '../src/pool/pool.js';
import { AzureBlobStore } from '../src/storage/azure.js';
import { startAzurite, startMosquitto, type Azurite, type Mosquitto } from './fixtures/servers.js';

/**
 * The receiver benchmark's correctness path (bench/receivers/), in a tiny configuration against
 * the real servers it runs on (Mosquitto, Azurite): its receiver processes split the events and
 * every image lands once, byte for byte; its counters come from the receivers (a repeated
 * notification shows as a duplicate); its judge catches a missing, a changed and a stray image;
 * and a row whose receivers cannot open the images fails instead of being timed. No speed is
 * asserted anywhere.
 */

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'sealcam-rxbench-test-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('a tiny run: two receivers, ten frames, three notifications published twice', () => {
  let result: Awaited<ReturnType<typeof runReceiverBench>>;
  const lines: string[] = [];
  beforeAll(async () => {
    const out = join(root, 'out');
    result = await runReceiverBench({ ...BENCH_DEFAULTS, receivers: [2], rounds: 1, reference: 0, frames: 10, republish: 3, concurrency: 2, out }, { log: (l) => lines.push(l) });
  }, 120_000);

  it('passes its row: every image once, byte for byte, in the output', () => {
    expect(result.exitCode).toBe(0);
    expect(result.record.rows).toHaveLength(1);
    expect(result.record.rows[0]).toMatchObject({ payload: '64KiB', receivers: 2, images: 10, status: 'ok', problems: [] });
    expect(result.record.rows[0]!.otherCores).toBeGreaterThanOrEqual(0);
  });

  it('reports the receivers’ own counters: the images split between them, each opened once, the repeats as duplicates', () => {
    const [row] = result.record.rows;
    expect(row!.perReceiver).toHaveLength(2);
    expect(row!.perReceiver.map((r) => r.opened).reduce((a, b) => a + b)).toBe(10);
    for (const r of row!.perReceiver) expect(r.opened).toBeGreaterThan(0);
    expect(row!.duplicates).toBe(3);
    expect(row!.redeliveries).toBe(0);
    for (const r of row!.perReceiver) {
      expect(r.quarantined + r.failed).toBe(0);
      expect(r.peakRssMiB).toBeGreaterThan(10);
    }
  });

  it('writes the JSON record and the markdown table', () => {
    const [json, md] = result.files;
    const record = JSON.parse(readFileSync(json!, 'utf8')) as ReceiverRunRecord;
    expect(record.schema).toBe(SCHEMA);
    expect(record.summary).toEqual([expect.objectContaining({ payload: '64KiB', receivers: 2, ok: 1, rows: 1, duplicates: 3, efficiency: null })]);
    expect(readFileSync(md!, 'utf8')).toMatch(/\| 64KiB \| 2 \| 1 \|/);
  });
});

describe('the judge (checkOutput) against a real Azure output', () => {
  let azurite: Azurite;
  beforeAll(async () => {
    azurite = await startAzurite();
  });
  afterAll(async () => {
    await azurite?.stop();
  });

  const images = ['a', 'b', 'c'].map((n) => {
    const bytes = new TextEncoder().encode(`image ${n}`.repeat(100));
    return { outputName: `cam-01/2026-12-07/${n}.png`, bytes: bytes.length, sha256: sha256(bytes), data: bytes };
  });

  async function output(container: string, skip: string[] = []): Promise<AzureBlobStore> {
    const store = new AzureBlobStore({ container, connectionString: azurite.connectionString });
    for (const i of images) if (!skip.includes(i.outputName)) await store.put(`images/${i.outputName}`, i.data);
    // A receiver's own records beside the images are not images.
    await store.put('images/.sealcam/images/cam-01/record.json', new TextEncoder().encode('{}'));
    return store;
  }

  it('finds nothing wrong with every image there once, byte for byte', async () => {
    expect(await checkOutput(await output('judge-ok'), 'images/', images)).toEqual([]);
  });

  it('names a missing image', async () => {
    expect(await checkOutput(await output('judge-missing', [images[1]!.outputName]), 'images/', images)).toEqual([`${images[1]!.outputName} is missing from the output`]);
  });

  it('names an image whose bytes differ', async () => {
    const store = await output('judge-changed');
    const changed = images[2]!.data.slice();
    changed[0]! ^= 1;
    await store.put(`images/${images[2]!.outputName}`, changed);
    expect(await checkOutput(store, 'images/', images)).toEqual([expect.stringMatching(/c\.png differs from what its camera captured/)]);
  });

  it('names a second copy under another name', async () => {
    const store = await output('judge-extra');
    await store.put('images/cam-01/2026-12-07/a-1.png', images[0]!.data);
    expect(await checkOutput(store, 'images/', images)).toEqual(['cam-01/2026-12-07/a-1.png is in the output but no camera sent it']);
  });
});

describe('a row that cannot deliver every image', () => {
  let azurite: Azurite;
  let mosquitto: Mosquitto;
  let pool: SealPool;
  beforeAll(async () => {
    [azurite, mosquitto] = await Promise.all([startAzurite(), startMosquitto({}, { persistence: false })]);
    pool = new SealPool({ jobs: 1 });
  });
  afterAll(async () => {
    await Promise.allSettled([azurite?.stop(), mosquitto?.stop(), pool?.close()]);
  });

  async function sealed(container: string, count: number) {
    const fleet = await provisionFleet(mkdtempSync(join(root, 'fleet-')), 2);
    const store = new AzureBlobStore({ container, connectionString: azurite.connectionString });
    const images = await sealImages({ fleet, store, pool, dir: mkdtempSync(join(root, 'cams-')), label: 'frame', size: 4096, count });
    const env = { azurite, mosquitto, fleet, source: container, concurrency: 1, jobs: 1, engine: 'native' as const, republish: 0, timeoutMs: 30_000 };
    return { fleet, store, images, env };
  }

  it('fails, with the reason, when its receivers hold the wrong identity', async () => {
    const { images, env } = await sealed('wrong-identity', 3);
    const stranger = await provisionFleet(mkdtempSync(join(root, 'stranger-')), 2);
    const row = await runRow({ ...env, fleet: { ...env.fleet, identityFile: stranger.identityFile } }, { payload: 'frame', round: 0, receivers: 1, images: images.slice(1), warmup: images.slice(0, 1) }, 1);
    expect(row.status).toBe('FAILED');
    expect(Number.isNaN(row.imagesPerSecond)).toBe(true);
    expect(row.problems.join('\n')).toMatch(/rx-1 failed: this device holds no identity for recipient x25519:/);
  }, 60_000);

  it('fails, naming the blob, when an image is quarantined mid-row, without waiting for the timeout', async () => {
    const { store, images, env } = await sealed('tampered', 5);
    const victim = images[3]!.event.blobName;
    const bytes: Buffer[] = [];
    for await (const chunk of await store.get(victim)) bytes.push(chunk as Buffer);
    const tampered = Buffer.concat(bytes);
    tampered[tampered.length - 1]! ^= 1;
    await store.put(victim, tampered);
    const row = await runRow({ ...env, timeoutMs: 60_000 }, { payload: 'frame', round: 0, receivers: 2, images: images.slice(1), warmup: images.slice(0, 1) }, 2);
    expect(row.status).toBe('FAILED');
    expect(row.problems).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${victim} was quarantined`))]));
    expect(row.perReceiver.map((r) => r.opened).reduce((a, b) => a + b)).toBe(3);
    // Ended when every event had its outcome, not at the limit.
    expect(row.problems.join('\n')).not.toMatch(/timed out/);
  }, 90_000);
});

describe('the command line', () => {
  it('runs 1, 2 and 3 receivers over two rounds by default, alternating the order', () => {
    expect(parseReceiverArgs([])).toEqual(BENCH_DEFAULTS);
    expect(BENCH_DEFAULTS).toMatchObject({ receivers: [1, 2, 3], rounds: 2, reference: 60, frames: 400 });
    expect(roundOrder([1, 2, 3], 3)).toEqual([
      [1, 2, 3],
      [3, 2, 1],
      [1, 2, 3],
    ]);
  });

  it('takes the receiver counts, sizes and knobs it documents', () => {
    expect(parseReceiverArgs(['--receivers', '3,1', '--rounds', '1', '--reference', '0', '--frames', '20', '--republish', '2', '--engine', 'native'])).toMatchObject({
      receivers: [1, 3],
      rounds: 1,
      reference: 0,
      frames: 20,
      republish: 2,
      engine: 'native',
    });
    expect(parseReceiverArgs(['--help'])).toBe('help');
  });

  it.each([
    [['--receivers', '2,3'], /must include 1/],
    [['--receivers', '1,1'], /twice/],
    [['--rounds', '0'], /--rounds must be an integer from 1/],
    [['--frames', 'many'], /--frames must be an integer/],
    [['--reference', '0', '--frames', '0'], /nothing to receive/],
    [['--engine', 'gpu'], /--engine must be wasm or native/],
    [['--bogus'], /Unknown option/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseReceiverArgs(argv)).toThrow(UsageError);
    expect(() => parseReceiverArgs(argv)).toThrow(message);
  });
});
