import { join } from 'node:path';
import { refuseConfig, type SealcamConfig } from '../config.js';
import { createNotifier, readPem } from '../notify/index.js';
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
 * The notifier named by notify.kind. `identity` (a device id, or a fleet's name) keeps its disk
 * queue, and its MQTT client id, apart from other notifiers on the same machine.
 */
export async function notifierFromConfig(config: SealcamConfig, identity: string, env: NodeJS.ProcessEnv = process.env): Promise<ConfiguredNotifier> {
  refuseConfig(config, ['notify'], env);
  const { notify } = config;
  const queueDir = join(notify.queueDir, identity);
  const ca = await readPem(notify.caFile, 'notify.caFile');
  switch (notify.kind) {
    case 'iothub':
      return { notifier: await createNotifier('iothub', { connectionString: env[notify.iothubConnectionStringEnv]!, ca, queueDir }) };
    case 'mqtt': {
      const [cert, key] = [await readPem(notify.certFile, 'notify.certFile'), await readPem(notify.keyFile, 'notify.keyFile')];
      const options = { url: notify.url!, clientId: `sealcam-${identity}`, ca, cert, key, topicTemplate: notify.topic, queueDir };
      return { notifier: await createNotifier('mqtt', options) };
    }
    case 'outbox':
      return { notifier: await createNotifier('outbox', { file: notify.outboxFile }) };
    case 'local': {
      const notifier = await createNotifier('local', { clientId: `sealcam-${identity}`, topicTemplate: notify.topic, queueDir });
      return { notifier, brokerUrl: (notifier as Notifier & { url: string }).url };
    }
  }
}
