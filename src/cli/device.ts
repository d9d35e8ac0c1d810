import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { refuseConfig, type SealcamConfig } from '../config.js';
import { notifierFromConfig } from '../device/connect.js';
import { createDevice, type Device, type ImageResult } from '../device/device.js';
import { DEFAULT_FRAME_BYTES, syntheticFrame } from '../device/frames.js';
import { formatFleetReport, runFleet } from '../device/simulate.js';
import { pause } from '../retry.js';
import { retire, watchImages } from '../device/watch.js';
import { SealcamError } from '../errors.js';
import { sealingFromConfig, type FleetSealing } from '../keys/fleet.js';
import type { KeyProvider } from '../keys/provider.js';
import { topicFor } from '../notify/notifier.js';
import type { SealPool } from '../pool/pool.js';
import type { BlobStore } from '../storage/store.js';
import { integerFlag } from './options.js';
import { createLog, type Logger } from './log.js';
import { reporterFrom, type Reporter } from './output.js';
import { createProgress, type Progress } from './progress.js';
import { openSession } from './session.js';
import { EXIT_QUEUED } from './upload.js';

/**
 * `sealcam device` (one camera) and `sealcam simulate` (a fleet in one process). Both stop cleanly
 * on SIGINT or SIGTERM: images in progress finish, the outbox is tried once more, the notifier gets
 * a few seconds to deliver what it queued (the rest stays queued on disk for the next start), then
 * the pool closes. One line per image on stdout when stderr is not a terminal, a progress bar on
 * stderr when it is. Exit status EXIT_QUEUED (75) when sealed images are left in the outbox.
 */

export interface DeviceCommandOptions {
  json?: boolean;
  quiet?: boolean;
  watch?: string;
  synthetic?: boolean;
  count?: string;
  rate?: string;
  frameSize?: string;
  settleMs?: string;
  deleteSent?: boolean;
  logLevel?: string;
  [flag: string]: unknown;
}

export interface SimulateCommandOptions {
  json?: boolean;
  quiet?: boolean;
  logLevel?: string;
  devices?: string;
  rate?: string;
  count?: string;
  duration?: string;
  ownKeys?: boolean;
  samples?: boolean;
  frameSize?: string;
  [flag: string]: unknown;
}

const FLUSH_TIMEOUT_MS = 10_000;

/**
 * The local broker's URL, for a receiver in another terminal: the command to run, on a line of
 * its own (and as a JSON line with --json). `--mqtt-url mqtt://127.0.0.1:<port>` fixes the port.
 */
function announceBroker(out: Reporter, url: string, topic: string): void {
  out.record({ event: 'broker', url, topic });
  if (out.json) return;
  out.line(`local MQTT broker (events on ${topic}); in another terminal, in this directory:`);
  out.line(`  sealcam receive --mqtt-url ${url}`);
}

function usage(message: string): SealcamError {
  return new SealcamError('EUSAGE', message);
}

function positiveInteger(value: string | undefined, flag: string): number | undefined {
  return value === undefined ? undefined : integerFlag(value, flag);
}

function positiveNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw usage(`${flag} must be a positive number, got ${JSON.stringify(value)}`);
  return n;
}

/** The configuration (refused in one line at its first problem), the key provider, the store and a pool. */
async function openCamera(opts: Record<string, unknown>): Promise<{ config: SealcamConfig; keys: KeyProvider; store: BlobStore; pool: SealPool }> {
  const session = await openSession(opts);
  // The store was checked as the session opened it, the keys and the notifier are checked as they are made.
  refuseConfig(session.config, ['device', 'seal']);
  return { config: session.config, keys: await session.keys(), store: session.store, pool: session.pool() };
}

/** With recipients configured, how a camera seals (a directory of signing keys gets a missing device key made). */
function sealingOf(config: SealcamConfig): (deviceId: string) => Promise<Omit<FleetSealing, 'deviceId'> | undefined> {
  return (deviceId) => sealingFromConfig(config, deviceId, { create: true });
}

/** Aborts `controller` on the first SIGINT or SIGTERM; a second one exits at once. Returns the remover. */
function stopOnSignals(controller: AbortController, say: (line: string) => void): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    say(`${signal}: finishing the images in progress (again to quit at once)`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

const interactive = (out: Reporter) => out.chatty && process.stderr.isTTY === true && !process.env.SEALCAM_NO_PROGRESS;
/** A problem with one image (or the notifier) in the log, naming the device and the blob when known. */
const warner = (log: Logger, device?: string) => (err: SealcamError, blobName?: string) =>
  log.warn({ ...(device === undefined ? {} : { device }), ...(blobName === undefined ? {} : { blob: blobName }), code: err.code }, err.message);
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

function imageLine(r: ImageResult): string {
  if (r.queued) return `queued ${r.blobName} in the outbox (store unreachable), ${kb(r.sealedSize)} sealed`;
  return `sent ${r.blobName} ${kb(r.sealedSize)} sha256 ${r.sha256.slice(0, 16)} seal ${r.sealMs.toFixed(1)} ms upload ${r.uploadMs.toFixed(1)} ms`;
}

interface ImageReporter {
  onImage(r: ImageResult): void;
  /** Images reported so far. */
  count(): number;
  /** The bar on a terminal; its total grows with the images when the run has no count. */
  progress?: Progress;
}

/** An image as --json prints it. */
function imageRecord(r: ImageResult): Record<string, unknown> {
  return { event: r.queued ? 'queued' : 'sent', blob: r.blobName, sealedBytes: r.sealedSize, sha256: r.sha256, sealMs: r.sealMs, uploadMs: r.uploadMs };
}

/** On a terminal a bar; otherwise a line per image when `lines` (a JSON line with --json), or nothing (the caller prints its own). */
function imageReporter(out: Reporter, label: string, total: number | undefined, lines: boolean): ImageReporter {
  let done = 0;
  const progress = interactive(out) ? createProgress({ label, total: total ?? 1, unit: 'items' }) : undefined;
  return {
    progress,
    count: () => done,
    onImage: (r) => {
      done += 1;
      if (lines) out.record(imageRecord(r));
      if (!progress) {
        if (lines && !out.quiet) out.line(imageLine(r));
        return;
      }
      if (total === undefined) progress.setTotal(done);
      progress.update(done);
    },
  };
}

export async function device(opts: DeviceCommandOptions): Promise<void> {
  if (Boolean(opts.watch) === Boolean(opts.synthetic)) throw usage('device needs one source: --watch DIR or --synthetic');
  const count = positiveInteger(opts.count, '--count');
  const rate = positiveNumber(opts.rate, '--rate') ?? 1;
  const frameBytes = positiveInteger(opts.frameSize, '--frame-size') ?? DEFAULT_FRAME_BYTES;
  const settleMs = positiveInteger(opts.settleMs, '--settle-ms') ?? 1000;
  syntheticFrame('check', 0, frameBytes); // refuses a bad --frame-size before anything starts
  if (opts.watch !== undefined) {
    const info = await stat(opts.watch).catch(() => undefined);
    if (!info?.isDirectory()) throw usage(`--watch ${opts.watch} is not a directory`);
  }

  const out = reporterFrom(opts);
  const { config, keys, store, pool } = await openCamera(opts);
  const log = await createLog({ level: opts.logLevel, base: { device: config.device.id } });
  const warn = warner(log);
  let camera: Device | undefined;
  let notifier: Awaited<ReturnType<typeof notifierFromConfig>>['notifier'] | undefined;
  const controller = new AbortController();
  const say = (line: string) => log.info(line);
  const removeSignals = stopOnSignals(controller, say);
  const report = imageReporter(out, `device ${config.device.id}`, count, true);
  try {
    const connected = await notifierFromConfig(config, config.device.id);
    notifier = connected.notifier;
    if (connected.brokerUrl) announceBroker(out, connected.brokerUrl, topicFor(config.notify.topic, config.device.id));
    const sealing = await sealingOf(config)(config.device.id);
    camera = await createDevice({ deviceId: config.device.id, config, keys, store, notifier, pool, sealing, onImage: report.onImage, onError: warn });
    let sent = 0;
    const enough = () => count !== undefined && sent >= count;
    if (opts.synthetic) {
      const started = performance.now();
      for (let i = 0; !enough() && !controller.signal.aborted; i++) {
        await pause(started + (i * 1000) / rate - performance.now(), controller.signal);
        if (controller.signal.aborted) break;
        await camera.sendImage({ ...syntheticFrame(config.device.id, i, frameBytes), captureTime: new Date() });
        sent += 1;
      }
    } else {
      const dir = opts.watch!;
      if (!interactive(out)) say(`watching ${dir}: images are taken once unchanged for ${settleMs} ms (or write a hidden or .part name and rename it in)`);
      for await (const path of watchImages(dir, { signal: controller.signal, settleMs })) {
        try {
          await camera.sendImage(path);
        } catch (err) {
          // A file that vanished or cannot be read is that file's problem; anything else stops the camera.
          if (!(err instanceof SealcamError) || !['ENOENT', 'EACCES', 'EPERM', 'EISDIR'].includes(err.code)) throw err;
          warn(err);
          continue;
        }
        await retire(dirname(path), basename(path), opts.deleteSent === true);
        sent += 1;
        if (enough()) controller.abort();
      }
    }
  } finally {
    removeSignals();
    await camera?.close();
    if (notifier) {
      await notifier.flush(FLUSH_TIMEOUT_MS).catch((err: SealcamError) => warn(new SealcamError(err.code, `notifications kept on disk for the next start: ${err.message}`)));
      await notifier.close();
    }
    await pool.close();
  }
  const stats = camera!.stats();
  const summary = `${config.device.id}: ${stats.imagesSent} image${stats.imagesSent === 1 ? '' : 's'} sent (${(stats.bytesSent / 1e6).toFixed(2)} MB sealed), ${stats.queued} queued in the outbox`;
  out.record({ event: 'summary', device: config.device.id, imagesSent: stats.imagesSent, bytesSent: stats.bytesSent, queued: stats.queued });
  if (report.progress) report.progress.finish(summary);
  else out.line(summary);
  if (stats.queued > 0) process.exitCode = EXIT_QUEUED;
}

export async function simulate(opts: SimulateCommandOptions): Promise<void> {
  const out = reporterFrom(opts);
  // Commander gives the defaults (a small fleet, one image a second each).
  const devices = positiveInteger(opts.devices, '--devices')!;
  const rate = positiveNumber(opts.rate, '--rate')!;
  const count = positiveInteger(opts.count, '--count');
  const duration = positiveNumber(opts.duration, '--duration');
  if (count !== undefined && duration !== undefined) throw usage('give --count or --duration, not both');
  const frameBytes = positiveInteger(opts.frameSize, '--frame-size');

  const { config, keys, store, pool } = await openCamera(opts);
  const log = await createLog({ level: opts.logLevel });
  const warn = (err: SealcamError, blobName?: string) => warner(log, blobName?.split('/')[0])(err, blobName);
  const controller = new AbortController();
  const say = (line: string) => log.info(line);
  const removeSignals = stopOnSignals(controller, say);
  // A fleet sends too many images for a line each: a bar on a terminal, otherwise a line every few seconds.
  const report = imageReporter(out, `simulate ${devices} devices`, count === undefined ? undefined : count * devices, false);
  const ticker = report.progress ? undefined : setInterval(() => say(`simulate: ${report.count()} images so far`), 5000).unref();
  try {
    const fleet = await runFleet({
      devices,
      rate,
      count,
      durationMs: duration === undefined ? undefined : duration * 1000,
      signal: controller.signal,
      config,
      keys,
      store,
      pool,
      ownKeys: opts.ownKeys === true,
      sealing: sealingOf(config),
      images: opts.samples ? 'samples' : 'synthetic',
      frameBytes,
      flushTimeoutMs: FLUSH_TIMEOUT_MS,
      onReady: ({ deviceIds, brokerUrl }) => {
        if (brokerUrl) announceBroker(out, brokerUrl, config.notify.topic.split('{device}').join('+'));
        if (!interactive(out)) say(`simulating ${deviceIds[0]} .. ${deviceIds.at(-1)} at ${rate} image(s)/s each`);
      },
      onImage: report.onImage,
      onError: warn,
    });
    report.progress?.finish(`simulate: ${fleet.images} images sent`);
    out.record({ event: 'summary', ...fleet });
    for (const line of formatFleetReport(fleet)) out.line(line);
    if (fleet.queued > 0) process.exitCode = EXIT_QUEUED;
  } finally {
    clearInterval(ticker);
    removeSignals();
    await pool.close();
  }
}
