/**
 * One receiver of the receiver benchmark (run.ts), in a process of its own so that its peak RSS
 * and CPU time are its own. It is the library's receiver as a deployment runs it: the fleet's
 * identity from its 0600 file, the device registry, the sealed blobs in Azurite, images published
 * create-only into an Azure output (storeOutput), events from one MQTT 5 shared subscription with
 * `concurrency` connections. Before it says it is ready it opens a few warm-up images (the pool's
 * workers, the JIT and the HTTP connections warmed, into a prefix of its own), so the timed part
 * sees a receiver that has been running, not one starting.
 *
 * The parent sends the job, then 'stop'; the child reports every outcome as it settles, and at
 * the end its counters, peak RSS and the CPU time it spent between 'ready' and 'stop'.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configUnder } from '../../src/config.js';
import type { EngineName } from '../../src/engine/types.js';
import { readIdentityFile } from '../../src/keys/keypair-files.js';
import { LocalKeyProvider } from '../../src/keys/local.js';
import { registryDirectory } from '../../src/keys/registry-sources.js';
import type { SealedImageEvent } from '../../src/notify/index.js';
import { poolFromConfig } from '../../src/pool/index.js';
import { createReceiver, type ReceiveResult, type ReceiverStats } from '../../src/receiver/index.js';
import { storeOutput } from '../../src/receiver/output.js';
import { AzureBlobStore } from '../../src/storage/azure.js';
import { peakRssMiB } from '../stream.js';

export interface ReceiverJob {
  /** The receiver is `rx-<index>`, its MQTT client ids `rx-<index>-<n>`. */
  index: number;
  url: string;
  share: string;
  connectionString: string;
  /** The container holding the sealed blobs, and the one the images go to (under `prefix`). */
  source: string;
  output: string;
  prefix: string;
  identityFile: string;
  registryDir: string;
  /** Connections, and images opened at once (receiver.concurrency). */
  concurrency: number;
  /** The receiver's pool workers (seal.jobs). */
  jobs: number;
  engine: EngineName;
  warmup: SealedImageEvent[];
}

export type ParentMessage = { type: 'job'; job: ReceiverJob } | { type: 'stop' };

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'result'; status: ReceiveResult['status']; blobName: string; reason?: string }
  | { type: 'error'; message: string }
  | { type: 'done'; stats: ReceiverStats; peakRssMiB: number; cpuMs: number }
  | { type: 'failed'; message: string };

const send = (m: ChildMessage): Promise<void> => new Promise((done) => process.send!(m, () => done()));
const cpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

async function run(job: ReceiverJob): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), `sealcam-rx-${job.index}-`));
  const config = configUnder(dir);
  config.receiver.concurrency = job.concurrency;
  config.seal.jobs = job.jobs;
  config.seal.engine = job.engine;
  const pool = poolFromConfig(config);
  const store = new AzureBlobStore({ container: job.source, connectionString: job.connectionString });
  const outputStore = new AzureBlobStore({ container: job.output, connectionString: job.connectionString });
  const where = `azure://${job.output}/`;
  const common = {
    config,
    keys: new LocalKeyProvider(config.keys.dir),
    store,
    pool,
    identities: [await readIdentityFile(job.identityFile)],
    trust: registryDirectory(job.registryDir),
  };
  try {
    const warm = await createReceiver({ ...common, id: `rx-${job.index}-warmup`, output: storeOutput(outputStore, `warmup/rx-${job.index}/`, `${where}warmup`), statusIntervalMs: 0 });
    try {
      for (const r of await Promise.all(job.warmup.map((e) => warm.handle(e)))) {
        if (r.status !== 'opened') throw new Error(`warm-up image ${r.blobName} was ${r.status}${r.reason ? `: ${r.reason}` : ''}`);
      }
    } finally {
      await warm.close();
    }

    const receiver = await createReceiver({
      ...common,
      id: `rx-${job.index}`,
      output: storeOutput(outputStore, job.prefix, `${where}${job.prefix}`),
      onResult: (r) => void send({ type: 'result', status: r.status, blobName: r.blobName, ...(r.reason ? { reason: r.reason } : {}) }),
      onError: (e) => void send({ type: 'error', message: e.message }),
    });
    const stopped = new Promise<void>((done) => process.on('message', (m: ParentMessage) => m.type === 'stop' && done()));
    let cpuAtReady = 0;
    try {
      await receiver.subscribe({ url: job.url, clientId: `rx-${job.index}`, share: job.share, connections: job.concurrency });
      cpuAtReady = cpuMs();
      await send({ type: 'ready' });
      await stopped;
    } finally {
      const cpu = cpuMs() - cpuAtReady;
      await receiver.close();
      await send({ type: 'done', stats: receiver.stats(), peakRssMiB: peakRssMiB(), cpuMs: cpu });
    }
  } finally {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  }
}

// Exits once it has reported (every message was handed over, see send), rather than wait for
// what the library leaves running: subscribeEvents' close() keeps a 5 s timer per connection
// (test/subscription-close.test.ts), which would add 5 s to every row.
process.once('message', (m: ParentMessage) => {
  if (m.type !== 'job') return;
  run(m.job).then(
    () => process.exit(0),
    async (e: unknown) => {
      await send({ type: 'failed', message: e instanceof Error ? e.message : String(e) });
      process.exit(1);
    },
  );
});
