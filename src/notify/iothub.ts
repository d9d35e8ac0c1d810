import type { Client } from 'azure-iot-device';
import { SealcamError } from '../errors.js';
import { DEVICE_ID, type SealedImageEvent } from './notifier.js';
import { QueuedNotifier, type PumpControl, type PumpOptions, type QueueOptions, type QueuedMessage } from './queue.js';

/**
 * Notifications to Azure IoT Hub as device-to-cloud messages, through the real device SDK
 * (azure-iot-device + azure-iot-device-mqtt, imported only when used). The body is the JSON event;
 * message properties (`type`, `deviceId`, `format`) let IoT Hub routes pick messages without
 * parsing bodies. The connection string holds the device key: it is never logged or put in errors.
 */

export interface IotHubNotifierOptions extends QueueOptions {
  /** HostName=...;DeviceId=...;SharedAccessKey=...[;GatewayHostName=host:port] */
  connectionString: string;
  /** CA to trust (PEM), for a gateway or test broker with its own certificate. */
  ca?: string;
  queueDir: string;
}

/** The device id, after checking the fields the SDK needs are there (without echoing any value). */
function deviceIdOf(connectionString: unknown): string {
  if (typeof connectionString !== 'string') throw new SealcamError('ECONFIG', 'IoT Hub connection string must be a string');
  const fields = new Map<string, string>();
  for (const part of connectionString.split(';')) {
    const at = part.indexOf('=');
    if (at > 0) fields.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  const missing = ['HostName', 'DeviceId'].filter((f) => !fields.get(f));
  if (!fields.get('SharedAccessKey') && fields.get('x509') !== 'true') missing.push('SharedAccessKey');
  if (missing.length > 0) throw new SealcamError('ECONFIG', `IoT Hub connection string lacks ${missing.join(', ')} (expected HostName=...;DeviceId=...;SharedAccessKey=...)`);
  const id = fields.get('DeviceId') as string;
  if (!DEVICE_ID.test(id)) throw new SealcamError('ECONFIG', "IoT Hub DeviceId must be 1-64 letters, digits, '.', '_' or '-'");
  return id;
}

/** Removes anything token- or key-shaped an SDK message might quote. */
function scrub(text: string): string {
  return text.replace(/(SharedAccessKey|SharedAccessSignature|sig)=[^;&\s]*/gi, '$1=<redacted>');
}

export function describeIotHubError(err: unknown, deviceId: string): SealcamError {
  if (err instanceof SealcamError) return err;
  const e = err as { name?: string; code?: unknown; message?: string; constructor?: { name?: string } };
  const name = e?.name && e.name !== 'Error' ? e.name : (e?.constructor?.name ?? 'Error');
  if (name === 'UnauthorizedError') {
    return new SealcamError('EREFUSED', `IoT Hub refused device ${deviceId}: check the device connection string / SharedAccessKey`);
  }
  const why = typeof e?.code === 'string' ? e.code : scrub(String(e?.message ?? err).split('\n')[0] ?? '');
  return new SealcamError('EIOTHUB', `IoT Hub send for device ${deviceId} failed: ${name}: ${why}`);
}

export class IotHubNotifier extends QueuedNotifier {
  readonly kind = 'iothub';
  readonly deviceId: string;
  // #private: kept out of util.inspect and JSON, since they hold the device key.
  #client: Client | undefined;
  readonly #options: IotHubNotifierOptions;

  constructor(options: IotHubNotifierOptions) {
    const deviceId = deviceIdOf(options.connectionString);
    super(options.queueDir, { maxMessages: options.maxMessages });
    this.deviceId = deviceId;
    this.#options = options;
  }

  protected async connect(control: PumpControl): Promise<PumpOptions> {
    const sdk = (await import('azure-iot-device')).default;
    const { Mqtt } = await import('azure-iot-device-mqtt');
    const client = sdk.Client.fromConnectionString(this.#options.connectionString, Mqtt);
    // Background failures: reported through the pump (unhandled, 'error' would crash the process).
    client.on('error', (err) => control.fail(err));
    if (this.#options.ca !== undefined) await client.setOptions({ ca: this.#options.ca });
    this.#client = client;

    const toMessage = (m: QueuedMessage) => {
      const message = new sdk.Message(JSON.stringify(m.body));
      message.contentType = 'application/json';
      message.contentEncoding = 'utf-8';
      message.properties.add('type', m.type);
      message.properties.add('deviceId', m.body.deviceId);
      if (m.type === 'sealed-image') {
        const event = m.body as SealedImageEvent;
        message.messageId = event.eventId;
        message.properties.add('format', event.format);
      }
      return message;
    };
    return {
      // sendEvent connects on demand and resolves when IoT Hub acknowledged the message (PUBACK).
      send: async (m) => {
        await client.sendEvent(toMessage(m));
      },
      describe: (err) => describeIotHubError(err, this.deviceId),
      permanent: (err) => describeIotHubError(err, this.deviceId).code === 'EREFUSED',
    };
  }

  protected async disconnect(): Promise<void> {
    await this.#client?.close().catch(() => undefined);
  }
}
