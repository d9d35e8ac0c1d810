import { join } from 'node:path';
import { SealcamError } from '../errors.js';
import { refuseConfig, type SealcamConfig } from '../config.js';
import { brokerCredentials, createNotifier, readPem } from '../notify/index.js';
import type { Notifier } from '../notify/notifier.js';

/**
 * The parts a camera needs from the configuration beyond the key provider and the store (see
 * createKeyProvider, createStore, and src/cli/session.ts for SSE-C): the pool and the notifier.
 * Each is owned by whoever made it here; a device only borrows them.
 */

export interface ConfiguredNotifier {
  notifier: Notifier;
  /** notify.kind local: the in-process broker a receiver subscribes to. */
  brokerUrl?: string;
}

/**
 * notify.url for notify.kind local: where the in-process broker listens, mqtt://127.0.0.1:<port>
 * (or localhost), so a receiver in another terminal can be pointed at a fixed port.
 */
export function localBrokerPort(url: string): number {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SealcamError('ECONFIG', `notify.url ${JSON.stringify(url.slice(0, 80))} is not a URL: with notify.kind local it is where the local broker listens, e.g. mqtt://127.0.0.1:1883`);
  }
  const port = Number(u.port || '1883');
  if (u.protocol !== 'mqtt:' || !['127.0.0.1', 'localhost'].includes(u.hostname) || !Number.isInteger(port) || port < 1) {
    throw new SealcamError('ECONFIG', `with notify.kind local, notify.url must be mqtt://127.0.0.1:<port> (the local broker listens on loopback only, without TLS), got ${u.protocol}//${u.host}`);
  }
  return port;
}

/**
 * The notifier named by notify.kind. `identity` (a device id, or a fleet's name) keeps its disk
 * queue, and its MQTT client id, apart from other notifiers on the same machine.
 */
export async function notifierFromConfig(config: SealcamConfig, identity: string, env: NodeJS.ProcessEnv = process.env): Promise<ConfiguredNotifier> {
  refuseConfig(config, ['notify'], env);
  const { notify } = config;
  const queueDir = join(notify.queueDir, identity);
  switch (notify.kind) {
    case 'iothub': {
      const ca = await readPem(notify.caFile, 'notify.caFile');
      return { notifier: await createNotifier('iothub', { connectionString: env[notify.iothubConnectionStringEnv]!, ca, queueDir }) };
    }
    case 'mqtt': {
      const options = { url: notify.url!, clientId: `sealcam-${identity}`, ...(await brokerCredentials(notify, env)), topicTemplate: notify.topic, queueDir };
      return { notifier: await createNotifier('mqtt', options) };
    }
    case 'outbox':
      return { notifier: await createNotifier('outbox', { file: notify.outboxFile }) };
    case 'local': {
      const port = notify.url === undefined ? undefined : localBrokerPort(notify.url);
      const notifier = await createNotifier('local', { clientId: `sealcam-${identity}`, topicTemplate: notify.topic, queueDir, port });
      return { notifier, brokerUrl: (notifier as Notifier & { url: string }).url };
    }
  }
}
