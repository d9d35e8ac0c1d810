import type { SealcamConfig } from '../config.js';
import { SealcamError } from '../errors.js';
import { readPem, type SubscribeOptions } from '../notify/index.js';
import { brokerName } from '../notify/mqtt.js';
import { openingFromConfig } from '../keys/fleet.js';
import { createReceiver, type Receiver, type ReceiveResult, type ReceiverStats } from '../receiver/index.js';
import { escapeText, limitRepeats, printError, reporterFrom } from './output.js';
import { createProgress } from './progress.js';
import { openSession } from './session.js';

/**
 * `sealcam receive`: subscribes to notifications (notify.kind mqtt or local) or polls the store
 * (--poll; --once processes what is there and exits). One line per image when the output is not
 * a terminal, a progress bar when it is. SIGINT/SIGTERM stop it once in-flight images are written
 * (a second signal exits at once; the journal makes that safe too).
 */

export interface ReceiveCommandOptions {
  json?: boolean;
  quiet?: boolean;
  poll?: boolean;
  once?: boolean;
  clientId?: string;
  [flag: string]: unknown;
}

/** With --once, a store that stays unreachable ends the run instead of being waited for. */
const ONCE_ATTEMPTS = 4;

/** The MQTT subscription the configuration describes: every device's events. */
export async function subscribeOptions(config: SealcamConfig, clientId: string): Promise<SubscribeOptions> {
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
  return {
    url: notify.url,
    clientId,
    topic,
    ca: await readPem(notify.caFile, 'notify.caFile'),
    cert: await readPem(notify.certFile, 'notify.certFile'),
    key: await readPem(notify.keyFile, 'notify.keyFile'),
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

export async function run(opts: ReceiveCommandOptions): Promise<void> {
  if (opts.once && !opts.poll) throw new SealcamError('EUSAGE', '--once needs --poll: it lists the store, processes what is there and exits');
  const session = await openSession(opts);
  const { config } = session;
  const subscription = opts.poll ? undefined : await subscribeOptions(config, opts.clientId ?? 'sealcam-receiver');

  const out = reporterFrom(opts);
  const interactive = out.chatty && process.stderr.isTTY === true && !process.env.SEALCAM_NO_PROGRESS;
  const progress = createProgress({ label: 'receiving', total: 0, unit: 'items', interactive, log: (l) => out.line(l) });
  // A broker that is down fails every reconnect: say so once, then every half minute with a count.
  const error = limitRepeats((message) => printError(message));
  let finished = 0;
  let receiver: Receiver | undefined;
  const opening = await openingFromConfig(config, session.store);
  receiver = await createReceiver({
    config,
    keys: await session.keys(),
    store: session.store,
    ...opening,
    retry: opts.once ? { attempts: ONCE_ATTEMPTS } : undefined,
    onResult: (r) => {
      out.record(record(r));
      if (!interactive) {
        if (!out.quiet || r.status === 'quarantined') out.line(line(r));
      } else if (r.status === 'quarantined') process.stderr.write(`\n${escapeText(line(r))}\n`);
      progress.setTotal(++finished + (receiver?.stats().pending ?? 0));
      progress.update(finished);
    },
    onError: (err) => {
      if (interactive) process.stderr.write('\n');
      error(err.message);
    },
  });

  const stop = new AbortController();
  const onSignal = () => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    if (subscription) {
      await receiver.subscribe(subscription);
      out.note(`receiving ${subscription.topic} from ${brokerName(subscription.url)} (Ctrl-C stops)`);
      await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
    } else {
      await receiver.poll({ once: opts.once, signal: stop.signal });
    }
  } finally {
    await receiver.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    progress.finish(summary(receiver.stats()));
    out.record({ event: 'summary', ...receiver.stats() });
  }
  const { quarantined, failed } = receiver.stats();
  if (opts.once && (quarantined > 0 || failed > 0)) {
    const what = [quarantined > 0 ? `${quarantined} quarantined (reports in ${config.receiver.quarantineDir})` : '', failed > 0 ? `${failed} failed (tried again next run)` : '']
      .filter(Boolean)
      .join(', ');
    printError(what);
    process.exitCode = 1;
  }
}
