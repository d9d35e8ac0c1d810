import { hostname } from 'node:os';
import type { SealcamConfig } from '../config.js';
import { SealcamError } from '../errors.js';
import { brokerCredentials, type SubscribeOptions } from '../notify/index.js';
import { brokerName } from '../notify/mqtt.js';
import { openingFromConfig } from '../keys/fleet.js';
import { createReceiver, type Receiver, type ReceiveResult, type ReceiverStats } from '../receiver/index.js';
import { describeOutput, parseOutputLocation } from '../receiver/location.js';
import { createLog, type Logger } from './log.js';
import { durationFlag } from './options.js';
import { escapeText, limitRepeats, printError, reporterFrom } from './output.js';
import { createProgress } from './progress.js';
import { openSession } from './session.js';

/**
 * `sealcam receive`: subscribes to notifications (notify.kind mqtt or local; `--share` splits them
 * among a group of receivers), or polls the store (--poll; --once processes what is there and
 * exits), or makes one reconcile pass over the store's recent days (--reconcile). Results go to
 * stdout, one line per image (or --json records); the log (what it listens to, errors, warnings,
 * a periodic stats line) goes to stderr through pino (log.ts). SIGINT/SIGTERM stop taking work,
 * let in-flight images finish and be acknowledged, and exit 0 (a second signal exits at once: an
 * unacknowledged event is delivered again, so that is safe too).
 */

export interface ReceiveCommandOptions {
  json?: boolean;
  quiet?: boolean;
  poll?: boolean;
  once?: boolean;
  reconcile?: boolean;
  since?: string;
  share?: string;
  clientId?: string;
  logLevel?: string;
  statsEvery?: string;
  [flag: string]: unknown;
}

/** With --once or --reconcile, a store that stays unreachable ends the run instead of being waited for. */
const ONCE_ATTEMPTS = 4;
/** --reconcile without --since: the days a broker could plausibly have lost events from. */
const RECONCILE_DEFAULT_SINCE = '2d';
/** A group member's client id must differ per machine: the broker gives a client id's session to one connection. */
const HOST = hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40) || 'host';

/** The MQTT subscription the configuration describes: every device's events, alone or in a share group. */
export async function subscribeOptions(config: SealcamConfig, clientId: string, share?: string): Promise<SubscribeOptions> {
  const { notify } = config;
  if (notify.kind !== 'mqtt' && notify.kind !== 'local') {
    throw new SealcamError('EUSAGE', `notify.kind is ${notify.kind}: the receiver subscribes to mqtt or local brokers; use --poll to list the store instead`);
  }
  if (!notify.url) {
    throw new SealcamError('ECONFIG', "the receiver needs the broker's URL: set notify.url or --mqtt-url (with notify.kind local, where the device's broker listens), or use --poll");
  }
  const topic = notify.topic.split('{device}').join('+');
  if (topic.split('/').some((level) => level.includes('+') && level !== '+')) {
    throw new SealcamError('ECONFIG', `notify.topic '${notify.topic}' must have {device} as a whole topic level (e.g. sealcam/{device}/events)`);
  }
  if (share !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(share)) {
    throw new SealcamError('EUSAGE', `--share ${JSON.stringify(share)} is not a group name: 1-64 letters, digits, '_' or '-'`);
  }
  return {
    url: notify.url,
    clientId,
    topic,
    ...(await brokerCredentials(notify)),
    ...(share === undefined ? {} : { share, connections: config.receiver.concurrency }),
  };
}

function line(r: ReceiveResult): string {
  if (r.status === 'opened') return `opened ${r.blobName} -> ${r.outputPath} (${r.bytes} bytes)`;
  if (r.status === 'duplicate') return `duplicate ${r.blobName}${r.outputPath ? ` (already at ${r.outputPath})` : ''}`;
  if (r.status === 'refused') return `refused an event: ${r.reason}`;
  return `quarantined ${r.blobName}: ${r.reason} (report ${r.quarantinePath}.report.json)`;
}

/** A result as --json prints it. */
function record(r: ReceiveResult): Record<string, unknown> {
  if (r.status === 'opened') return { event: 'opened', blob: r.blobName, output: r.outputPath, bytes: r.bytes };
  if (r.status === 'duplicate') return { event: 'duplicate', blob: r.blobName, output: r.outputPath ?? null };
  return { event: 'quarantined', blob: r.blobName, reason: r.reason, report: `${r.quarantinePath}.report.json` };
}

function summary(s: ReceiverStats): string {
  const lies = s.lies > 0 ? `, ${s.lies} event${s.lies === 1 ? '' : 's'} that lied (${s.refused} refused)` : '';
  return `received ${s.opened} image${s.opened === 1 ? '' : 's'} (${(s.bytes / 1e6).toFixed(1)} MB), ${s.duplicates} duplicate, ${s.quarantined} quarantined, ${s.failed} failed${lies}`;
}

/** The periodic stats line: rates since the last one, counts since start. */
function statsLogger(log: Logger, stats: () => ReceiverStats): () => void {
  let last = { at: performance.now(), opened: 0, bytes: 0 };
  return () => {
    const s = stats();
    const now = performance.now();
    const seconds = Math.max((now - last.at) / 1000, 1e-3);
    const imagesPerSecond = Number(((s.opened - last.opened) / seconds).toFixed(2));
    const mbPerSecond = Number(((s.bytes - last.bytes) / 1e6 / seconds).toFixed(3));
    last = { at: now, opened: s.opened, bytes: s.bytes };
    const { opened, duplicates, quarantined, redeliveries, failed, pending } = s;
    log.info(
      { stats: { imagesPerSecond, mbPerSecond, inFlight: pending, opened, duplicates, quarantined, redeliveries, failed } },
      `${imagesPerSecond} images/s, ${mbPerSecond} MB/s, ${pending} in flight; ${opened} opened, ${duplicates} duplicate, ${quarantined} quarantined, ${redeliveries} redelivered`,
    );
  };
}

function checkModes(opts: ReceiveCommandOptions): void {
  if (opts.once && !opts.poll) throw new SealcamError('EUSAGE', '--once needs --poll: it lists the store, processes what is there and exits (or use --reconcile)');
  if (opts.reconcile && (opts.poll || opts.share !== undefined)) throw new SealcamError('EUSAGE', '--reconcile is one pass over the store on its own: drop --poll and --share');
  if (opts.since !== undefined && !opts.poll && !opts.reconcile) throw new SealcamError('EUSAGE', '--since needs --reconcile or --poll: it limits the store listing to recent days');
  if (opts.share !== undefined && opts.poll) throw new SealcamError('EUSAGE', '--share is for MQTT subscriptions; --poll lists the store (several pollers may share an output without it)');
}

export async function run(opts: ReceiveCommandOptions): Promise<void> {
  checkModes(opts);
  const finite = opts.reconcile === true || opts.once === true;
  const sinceMs = opts.since !== undefined || opts.reconcile ? durationFlag(opts.since ?? RECONCILE_DEFAULT_SINCE, '--since') * 1000 : undefined;
  const statsEveryMs = durationFlag(opts.statsEvery ?? '60s', '--stats-every') * 1000;
  const subscribing = !opts.poll && !opts.reconcile;
  const clientId = opts.clientId ?? (opts.share !== undefined ? `sealcam-receiver-${HOST}` : 'sealcam-receiver');
  // The receiver's name in the log and the fleet records: its client id, which is stable.
  const id = subscribing ? clientId : `${HOST}-${process.pid}`;
  const log = await createLog({ level: opts.logLevel, base: { receiver: id } });
  const session = await openSession(opts);
  const { config } = session;
  const subscription = subscribing ? await subscribeOptions(config, clientId, opts.share) : undefined;

  const out = reporterFrom(opts);
  const interactive = finite && out.chatty && process.stderr.isTTY === true && !process.env.SEALCAM_NO_PROGRESS;
  const progress = createProgress({ label: opts.reconcile ? 'reconciling' : 'receiving', total: 0, unit: 'items', interactive, log: (l) => out.line(l) });
  // A broker that is down fails every reconnect: say so once, then every half minute with a count.
  const brokerError = limitRepeats((message) => log.error(message));
  let finished = 0;
  let receiver: Receiver | undefined;
  const opening = await openingFromConfig(config, session.store);
  receiver = await createReceiver({
    config,
    keys: await session.keys(),
    store: session.store,
    id,
    ...opening,
    retry: finite ? { attempts: ONCE_ATTEMPTS } : undefined,
    onResult: (r) => {
      out.record(record(r));
      if (!interactive) {
        if (!out.quiet || r.status === 'quarantined') out.line(line(r));
      } else if (r.status === 'quarantined') process.stderr.write(`\n${escapeText(line(r))}\n`);
      const fields = { device: r.deviceId, blob: r.blobName };
      if (r.status === 'quarantined' || r.status === 'refused') log.warn({ ...fields, status: r.status }, r.reason ?? r.status);
      for (const warning of r.warnings ?? []) log.warn(fields, `image check: ${warning}`);
      progress.setTotal(++finished + (receiver?.stats().pending ?? 0));
      progress.update(finished);
    },
    onError: (err, blobName) => {
      if (interactive) process.stderr.write('\n');
      if (blobName === undefined) brokerError(err.message);
      else log.error({ blob: blobName, device: blobName.split('/')[0], code: err.code }, err.message);
    },
  });

  const stop = new AbortController();
  const onSignal = () => {
    if (stop.signal.aborted) process.exit(130);
    log.info('stopping: no new images; the ones in flight finish and are acknowledged (again to quit at once)');
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const stats = statsLogger(log, () => receiver!.stats());
  const statsTimer = finite ? undefined : setInterval(stats, statsEveryMs);
  const output = describeOutput(parseOutputLocation(config.receiver.output));
  try {
    if (subscription) {
      await receiver.subscribe(subscription);
      const how = subscription.share ? ` in group ${subscription.share} (${subscription.connections} connections)` : '';
      log.info({ topic: subscription.topic, broker: brokerName(subscription.url), share: subscription.share, output }, `receiving ${subscription.topic} from ${brokerName(subscription.url)}${how} into ${output} (Ctrl-C stops)`);
      await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
    } else {
      if (!finite) log.info({ store: session.where, output }, `polling ${session.where} every ${config.receiver.pollSeconds} s into ${output} (Ctrl-C stops)`);
      else if (opts.reconcile) log.info({ store: session.where, output, sinceMs }, `reconciling ${session.where} (the last ${opts.since ?? RECONCILE_DEFAULT_SINCE}) with ${output}`);
      await receiver.poll({ once: finite, signal: stop.signal, ...(sinceMs === undefined ? {} : { sinceMs }) });
    }
  } finally {
    if (statsTimer) clearInterval(statsTimer);
    await receiver.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    progress.finish(summary(receiver.stats()));
    out.record({ event: 'summary', ...receiver.stats() });
    if (!finite) stats();
  }
  const { quarantined, failed } = receiver.stats();
  if (finite && (quarantined > 0 || failed > 0)) {
    const where = parseOutputLocation(config.receiver.output).kind === 'directory' ? config.receiver.quarantineDir : `${output}.sealcam/quarantine/`;
    const what = [quarantined > 0 ? `${quarantined} quarantined (reports in ${where})` : '', failed > 0 ? `${failed} failed (tried again next run)` : '']
      .filter(Boolean)
      .join(', ');
    printError(what);
    process.exitCode = 1;
  }
}
