import type { IClientOptions, MqttClient } from 'mqtt';
import { SealcamError } from '../errors.js';
import { backoffDelay } from '../retry.js';
import { topicFor } from './notifier.js';
import { QueuedNotifier, type PumpControl, type PumpOptions, type QueueOptions } from './queue.js';

/**
 * Notifications over plain MQTT (Mosquitto, AWS IoT Core with X.509 client certificates, the local
 * aedes broker): QoS 1 JSON messages, one topic for events and one for telemetry. mqtt.js is
 * imported only when a notifier or subscriber is made, and it reconnects by itself; the disk
 * queue (queue.ts) keeps messages across outages and restarts.
 */

/** Connection settings shared by the notifier and the receiver-side subscriber. */
export interface MqttConnection {
  /** mqtt://host:port or mqtts://host:port. */
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** CA to trust for mqtts (PEM), instead of the system store. */
  ca?: string | Buffer;
  /** X.509 client certificate and key (PEM), e.g. for AWS IoT Core. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The first reconnect wait's ceiling (default 1000 ms); it doubles per failed attempt, up to a minute, and each wait is drawn with full jitter. */
  reconnectPeriodMs?: number;
}

export interface MqttNotifierOptions extends MqttConnection, QueueOptions {
  /** `{device}` is replaced by the event's device id. */
  topicTemplate?: string;
  telemetryTopicTemplate?: string;
  queueDir: string;
}

/** The URL without credentials or query, safe for messages. */
export function brokerName(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(invalid URL)';
  }
}

export function mqttClientOptions(c: MqttConnection, extra: IClientOptions = {}): IClientOptions {
  let u: URL;
  try {
    u = new URL(c.url);
  } catch {
    throw new SealcamError('ECONFIG', 'MQTT url is not a valid URL (use mqtt://host:port or mqtts://host:port)');
  }
  if (u.protocol !== 'mqtt:' && u.protocol !== 'mqtts:') throw new SealcamError('ECONFIG', `MQTT url must start with mqtt:// or mqtts://, not ${u.protocol}//`);
  if (u.username || u.password) throw new SealcamError('ECONFIG', 'MQTT url must not carry credentials: pass username and password separately');
  if (typeof c.clientId !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(c.clientId)) {
    throw new SealcamError('ECONFIG', "MQTT clientId must be 1-128 letters, digits, '.', '_', ':' or '-'");
  }
  return {
    clientId: c.clientId,
    username: c.username,
    password: c.password,
    ca: c.ca,
    cert: c.cert,
    key: c.key,
    connectTimeout: 10_000,
    ...extra,
  };
}

/** The longest wait between reconnect attempts. */
const RECONNECT_MAX_MS = 60_000;

/**
 * A client that reconnects by itself after a lost connection, waiting between attempts with
 * full jitter from a doubling ceiling (retry.ts) that starts at reconnectPeriodMs, instead of
 * mqtt.js's fixed period: a fleet that lost its broker together does not reconnect in lockstep.
 */
export async function connectMqtt(c: MqttConnection, extra?: IClientOptions): Promise<MqttClient> {
  const options = mqttClientOptions(c, { ...extra, reconnectPeriod: 0 });
  const { connect } = await import('mqtt');
  const client = connect(c.url, options);
  const policy = { baseMs: c.reconnectPeriodMs ?? 1000, maxMs: RECONNECT_MAX_MS, attempts: Infinity };
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  const ended = () => client.disconnecting || client.disconnected;
  client.on('connect', () => (failures = 0));
  client.on('close', () => {
    if (ended() || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      // What mqtt.js's own reconnect does (client.reconnect() would also drop the stores of
      // messages in flight, which must be resent on the new connection).
      if (ended()) return;
      client.emit('reconnect');
      client.connect();
    }, backoffDelay(++failures, policy));
    // Not unref'd: a receiver whose broker went away has nothing else keeping it alive, and it must
    // wait for the broker, not exit (close() ends the client, which clears the timer).
  });
  client.on('end', () => clearTimeout(timer));
  return client;
}

/** CONNACK refusals: bad credentials or not authorised, in MQTT 3.1.1 and 5 codes. */
export function isRefusal(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === 4 || code === 5 || code === 134 || code === 135;
}

/** One line naming the broker and the cause; never the password or the key. */
export function describeMqttError(err: unknown, url: string, clientId: string): SealcamError {
  if (err instanceof SealcamError) return err;
  if (isRefusal(err)) {
    return new SealcamError('EREFUSED', `MQTT broker ${brokerName(url)} refused client ${clientId}: check the username/password or client certificate`);
  }
  const code = (err as NodeJS.ErrnoException)?.code;
  const why = typeof code === 'string' ? code : ((err as Error)?.message ?? String(err)).split('\n')[0];
  return new SealcamError('EMQTT', `MQTT broker ${brokerName(url)}: ${why}`);
}

export class MqttNotifier extends QueuedNotifier {
  readonly kind: string = 'mqtt';
  // #private: kept out of util.inspect and JSON, since they hold the password or client key.
  #client: MqttClient | undefined;
  readonly #options: MqttNotifierOptions;

  constructor(options: MqttNotifierOptions) {
    mqttClientOptions(options); // refuse bad settings now, not on the first event
    for (const t of [options.topicTemplate, options.telemetryTopicTemplate]) {
      if (t !== undefined && (typeof t !== 'string' || t.length === 0 || /[+#\0]/.test(t))) {
        throw new SealcamError('ECONFIG', 'MQTT topic templates must be non-empty and free of the wildcards + and #');
      }
    }
    super(options.queueDir, { maxMessages: options.maxMessages });
    this.#options = options;
  }

  protected async connect(control: PumpControl): Promise<PumpOptions> {
    const { url, clientId } = this.#options;
    const client = await connectMqtt(this.#options);
    this.#client = client;
    client.on('connect', () => control.resume());
    client.on('error', (err) => control.fail(err));
    const topics = {
      'sealed-image': this.#options.topicTemplate ?? 'sealcam/{device}/events',
      telemetry: this.#options.telemetryTopicTemplate ?? 'sealcam/{device}/telemetry',
    };
    return {
      // While offline mqtt.js holds the publish and sends it on reconnect; the callback is the PUBACK.
      send: (m) =>
        new Promise<void>((resolve, reject) => {
          client.publish(topicFor(topics[m.type], m.body.deviceId), JSON.stringify(m.body), { qos: 1 }, (err) => (err ? reject(err) : resolve()));
        }),
      describe: (err) => describeMqttError(err, url, clientId),
      permanent: isRefusal,
    };
  }

  protected async disconnect(): Promise<void> {
    await this.#client?.endAsync(true);
  }
}
