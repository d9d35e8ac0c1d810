import { readFile } from 'node:fs/promises';
import type { IPublishPacket } from 'mqtt';
import { SealcamError } from '../errors.js';
import { fsError } from '../io/atomic.js';
import type { IotHubNotifierOptions } from './iothub.js';
import type { LocalNotifierOptions } from './local.js';
import type { MqttConnection, MqttNotifierOptions } from './mqtt.js';
import { checkEvent, type Notifier, type SealedImageEvent } from './notifier.js';

/**
 * Entry points: createNotifier for the device side, subscribeEvents for the receiver side. Each
 * transport module (and its SDK) is imported only when that transport is asked for.
 */

export type { Notifier, SealedImageEvent, TelemetrySample, StoreKind, SealFormat, MessageType } from './notifier.js';
export { checkEvent, checkTelemetry, newEventId } from './notifier.js';
export { defaultQueueDir } from './queue.js';

/** A PEM file named by a notify.* setting (CA, client certificate or key), with a one-line error naming the setting. */
export async function readPem(path: string | undefined, setting: string): Promise<string | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw fsError(err, `read ${setting}`, path);
  }
}

export interface NotifierOptions {
  iothub: IotHubNotifierOptions;
  mqtt: MqttNotifierOptions;
  local: LocalNotifierOptions;
  outbox: { file: string };
}
export type NotifierKind = keyof NotifierOptions;

export async function createNotifier<K extends NotifierKind>(kind: K, options: NotifierOptions[K]): Promise<Notifier> {
  switch (kind) {
    case 'iothub':
      return new (await import('./iothub.js')).IotHubNotifier(options as IotHubNotifierOptions);
    case 'mqtt':
      return new (await import('./mqtt.js')).MqttNotifier(options as MqttNotifierOptions);
    case 'local':
      return (await import('./local.js')).LocalNotifier.start(options as LocalNotifierOptions);
    case 'outbox':
      return new (await import('./local.js')).OutboxNotifier((options as NotifierOptions['outbox']).file);
    default:
      throw new SealcamError('ECONFIG', `unknown notifier '${String(kind)}' (use iothub, mqtt, local or outbox)`);
  }
}

// --- Receiver side -----------------------------------------------------------------------------

export interface SubscribeOptions extends Omit<MqttConnection, 'clientId'> {
  /** Default `sealcam/+/events` (every device). */
  topic?: string;
  /**
   * Fixed, so the broker keeps this receiver's session (default 'sealcam-receiver'). Two receivers
   * sharing an id would take the session from each other: give each one its own.
   */
  clientId?: string;
  /** false (default): a persistent session, so events published while the receiver was away arrive on reconnect. */
  clean?: boolean;
  /** How many recent events to remember for dropping repeats (default 10000). */
  dedupeWindow?: number;
  /** How long to wait for the first connection (default 10000 ms). */
  connectTimeoutMs?: number;
}

export interface EventInfo {
  topic: string;
  /**
   * The device the channel itself names: the level of the topic that the filter's one `+` stands
   * for (sealcam/+/events). Under broker ACLs that let each camera publish only to its own topic,
   * this is who sent the event, whatever the event claims.
   */
  channelDevice?: string;
}

/** The topic level a filter's single `+` matched, or undefined when the filter has none, or several. */
export function channelDeviceOf(filter: string, topic: string): string | undefined {
  const wild = filter.split('/');
  const levels = topic.split('/');
  const plus = wild.flatMap((level, i) => (level === '+' ? [i] : []));
  if (plus.length !== 1 || wild.includes('#') || wild.length !== levels.length) return undefined;
  return levels[plus[0]!];
}

export interface Subscription {
  close(): Promise<void>;
}

/**
 * Subscribes at QoS 1 and hands each valid event to `onEvent`, once: QoS 1 and the device's queue
 * may repeat a message, so repeats of a recent event (the same id, blob and SHA-256: an id alone
 * proves nothing, another sender may reuse it) are dropped. The PUBACK goes out only after
 * `onEvent` settles, so an event being handled when the receiver dies is delivered again. An
 * `onEvent` that throws is reported to `onError` and not retried (a poison message must not block
 * the rest); so are messages that fail the shape check.
 */
export async function subscribeEvents(
  options: SubscribeOptions,
  onEvent: (event: SealedImageEvent, info: EventInfo) => void | Promise<void>,
  onError: (err: SealcamError) => void = () => undefined,
): Promise<Subscription> {
  const { connectMqtt, describeMqttError, isRefusal } = await import('./mqtt.js');
  const clientId = options.clientId ?? 'sealcam-receiver';
  const topic = options.topic ?? 'sealcam/+/events';
  const window = options.dedupeWindow ?? 10_000;
  const seen = new Set<string>();
  const client = await connectMqtt({ ...options, clientId }, { clean: options.clean ?? false });

  const handle = async (packet: IPublishPacket) => {
    let event: SealedImageEvent;
    try {
      event = checkEvent(JSON.parse(packet.payload.toString()));
    } catch (err) {
      const why = err instanceof SealcamError ? err.message : 'not JSON';
      onError(new SealcamError('EEVENT', `message on ${packet.topic} dropped: ${why}`));
      return;
    }
    const repeat = `${event.eventId}\0${event.blobName}\0${event.sha256}`;
    if (seen.has(repeat)) return;
    const channelDevice = channelDeviceOf(topic, packet.topic);
    try {
      await onEvent(event, { topic: packet.topic, ...(channelDevice === undefined ? {} : { channelDevice }) });
    } catch (err) {
      onError(new SealcamError('EHANDLER', `event ${event.eventId} handler failed: ${(err as Error)?.message ?? String(err)}`));
    }
    seen.add(repeat);
    if (seen.size > window) seen.delete(seen.values().next().value as string);
  };
  client.handleMessage = (packet, done) => void handle(packet).then(() => done());

  try {
    await new Promise<void>((resolve, reject) => {
      let lastError: unknown;
      const timer = setTimeout(() => reject(lastError ?? new SealcamError('ETIMEDOUT', 'no connection')), options.connectTimeoutMs ?? 10_000);
      client.once('connect', () => (clearTimeout(timer), resolve()));
      client.on('error', (err) => {
        lastError = err;
        // A refusal will not change by retrying; anything else may be the broker still starting.
        if (isRefusal(err)) (clearTimeout(timer), reject(err));
      });
    });
    await client.subscribeAsync(topic, { qos: 1 });
  } catch (err) {
    await client.endAsync(true).catch(() => undefined);
    throw describeMqttError(err, options.url, clientId);
  }
  client.removeAllListeners('error');
  client.on('error', (err) => onError(describeMqttError(err, options.url, clientId)));
  return { close: () => client.endAsync().then(() => undefined) };
}
