import { readFile } from 'node:fs/promises';
import type { IPublishPacket } from 'mqtt';
import type { SealcamConfig } from '../config.js';
import { SealcamError } from '../errors.js';
import { fsError } from '../io/atomic.js';
import { pause } from '../retry.js';
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

/**
 * How a client proves itself to the broker, from the notify settings: the user name and the
 * password from the variable notify.passwordEnv names (Mosquitto password files, Azure Event Grid),
 * and the PEM files (a CA to trust; AWS IoT Core's X.509 client certificate and key).
 */
export async function brokerCredentials(
  notify: SealcamConfig['notify'],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Pick<MqttConnection, 'username' | 'password' | 'ca' | 'cert' | 'key'>> {
  const password = env[notify.passwordEnv];
  return {
    ...(notify.username === undefined ? {} : { username: notify.username }),
    ...(password === undefined || password === '' ? {} : { password }),
    ca: await readPem(notify.caFile, 'notify.caFile'),
    cert: await readPem(notify.certFile, 'notify.certFile'),
    key: await readPem(notify.keyFile, 'notify.keyFile'),
  };
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
   * Fixed, so the broker keeps this receiver's session while it is away (default 'sealcam-receiver').
   * Two receivers sharing an id would take the session from each other: give each one its own.
   */
  clientId?: string;
  /** false (default): a persistent session, so events published while the receiver was away arrive on reconnect. */
  clean?: boolean;
  /**
   * A shared-subscription group (MQTT 5 `$share/<group>/<topic>`): the broker hands each event to
   * one member of the group, so several receivers split the stream. Needs a broker with shared
   * subscriptions (Mosquitto 2, EMQX, HiveMQ, AWS IoT Core, Azure Event Grid); aedes has none.
   */
  share?: string;
  /**
   * With `share`: connections, each taking one event at a time (receive maximum 1) under the client
   * id `<clientId>-<n>`, so events are handled `connections` at a time (default 1). mqtt.js handles
   * one incoming message at a time per connection, and the acknowledgement waits for the outcome.
   */
  connections?: number;
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
  /** The broker sent it again (the DUP flag): an earlier delivery was not acknowledged. */
  redelivered: boolean;
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
  /**
   * Lets the events being handled finish (and be acknowledged), then disconnects. In a share group
   * it unsubscribes first, so the broker hands the group's events to the other members (scaling
   * in); without one the persistent session keeps its subscription, and what is published while
   * the receiver is away waits for it.
   */
  close(): Promise<void>;
}

/** A share group name: MQTT forbids '/', '+' and '#' in it. */
const SHARE_GROUP = /^[A-Za-z0-9._-]{1,64}$/;
/** How long close() waits for the broker to confirm an unsubscribe (an unreachable broker never will). */
const UNSUBSCRIBE_WAIT_MS = 5000;
/** The broker keeps a receiver's session this long while it is away (MQTT 5 session expiry). */
const SESSION_EXPIRY_SECONDS = 7 * 24 * 3600;

/**
 * Subscribes at QoS 1 and hands each valid event to `onEvent`. The acknowledgement (PUBACK) goes
 * out only after `onEvent` settles, so an event whose image is not yet committed when the receiver
 * dies is delivered again. An `onEvent` that throws is reported to `onError` and acknowledged (a
 * poison message must not block the rest; the store still holds the blob for a reconcile pass);
 * so are messages that fail the shape check. Repeats are the handler's business: only it can
 * tell a repeat by the blob it names.
 */
export async function subscribeEvents(
  options: SubscribeOptions,
  onEvent: (event: SealedImageEvent, info: EventInfo) => void | Promise<void>,
  onError: (err: SealcamError) => void = () => undefined,
): Promise<Subscription> {
  const { connectMqtt, describeMqttError, isRefusal } = await import('./mqtt.js');
  const baseId = options.clientId ?? 'sealcam-receiver';
  const filter = options.topic ?? 'sealcam/+/events';
  const { share } = options;
  if (share !== undefined && !SHARE_GROUP.test(share)) throw new SealcamError('ECONFIG', "a share group must be 1-64 letters, digits, '.', '_' or '-'");
  const count = options.connections ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > 64) throw new SealcamError('ECONFIG', 'connections must be an integer from 1 to 64');
  if (share === undefined && count > 1) throw new SealcamError('ECONFIG', 'several connections need a share group: without one each would receive every event');
  const subscribed = share === undefined ? filter : `$share/${share}/${filter}`;

  /** Whether to acknowledge: not when the handler says it is closing (ECLOSED), so the broker delivers the event again. */
  const handle = async (packet: IPublishPacket): Promise<boolean> => {
    let event: SealedImageEvent;
    try {
      event = checkEvent(JSON.parse(packet.payload.toString()));
    } catch (err) {
      const why = err instanceof SealcamError ? err.message : 'not JSON';
      onError(new SealcamError('EEVENT', `message on ${packet.topic} dropped: ${why}`));
      return true;
    }
    const channelDevice = channelDeviceOf(filter, packet.topic);
    try {
      await onEvent(event, { topic: packet.topic, redelivered: packet.dup === true, ...(channelDevice === undefined ? {} : { channelDevice }) });
    } catch (err) {
      if ((err as SealcamError)?.code === 'ECLOSED') return false;
      onError(new SealcamError('EHANDLER', `event ${event.eventId} handler failed: ${(err as Error)?.message ?? String(err)}`));
    }
    return true;
  };
  const active = new Set<Promise<unknown>>();

  const connectOne = async (clientId: string) => {
    const mqtt5 = share !== undefined;
    const client = await connectMqtt(
      { ...options, clientId },
      {
        clean: options.clean ?? false,
        ...(mqtt5 ? { protocolVersion: 5, properties: { sessionExpiryInterval: SESSION_EXPIRY_SECONDS, receiveMaximum: 1 } } : {}),
      },
    );
    // done(error) skips the PUBACK and goes on to the next packet (mqtt.js handlers/publish.js).
    client.handleMessage = (packet, done) => {
      const handled = handle(packet).then((ack) => (ack ? done() : done(new Error('not acknowledged: the receiver is closing'))));
      active.add(handled);
      void handled.finally(() => active.delete(handled));
    };
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
      const granted = await client.subscribeAsync(subscribed, { qos: 1 });
      // MQTT 5 brokers without shared subscriptions answer 0x9E; older ones 0x80.
      if (granted.some((g) => g.qos > 2)) throw new SealcamError('EREFUSED', `the broker refused the subscription to ${subscribed} (reason ${granted[0]?.qos})${share ? ': does it support shared subscriptions?' : ''}`);
    } catch (err) {
      await client.endAsync(true).catch(() => undefined);
      throw describeMqttError(err, options.url, clientId);
    }
    client.removeAllListeners('error');
    client.on('error', (err) => onError(describeMqttError(err, options.url, clientId)));
    // Subscribed again on every reconnect (connectMqtt's reconnects do not): a broker that lost the
    // session (restarted without persistence, or it expired) comes back without the subscription,
    // and Mosquitto 2.0 restores a persisted session without its shared subscriptions while saying
    // the session is present. Subscribing again to the same filter only replaces it.
    client.on('connect', () => {
      client.subscribe(subscribed, { qos: 1 }, (err) => err && onError(describeMqttError(err, options.url, clientId)));
    });
    return client;
  };

  const ids = share === undefined ? [baseId] : Array.from({ length: count }, (_, i) => `${baseId}-${i + 1}`);
  const clients: Awaited<ReturnType<typeof connectOne>>[] = [];
  try {
    for (const id of ids) clients.push(await connectOne(id));
  } catch (err) {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    throw err;
  }
  return {
    close: async () => {
      // A group member unsubscribes first, so nothing new arrives; the events being handled finish
      // and are acknowledged (or not, if the handler is closing); then the connections end.
      const unsubscribe = (c: (typeof clients)[number]) => Promise.race([c.unsubscribeAsync(subscribed).catch(() => undefined), pause(UNSUBSCRIBE_WAIT_MS)]);
      if (share !== undefined) await Promise.all(clients.map((c) => (c.connected ? unsubscribe(c) : undefined)));
      while (active.size > 0) await Promise.allSettled([...active]);
      await Promise.all(clients.map((c) => c.endAsync().catch(() => undefined)));
    },
  };
}
