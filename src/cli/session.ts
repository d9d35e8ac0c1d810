import { resolve } from 'node:path';
import type { SealcamConfig } from '../config.js';
import { SealcamError } from '../errors.js';
import { createKeyProvider } from '../keys/index.js';
import type { KeyProvider } from '../keys/provider.js';
import { poolFromConfig } from '../pool/index.js';
import type { SealPool } from '../pool/pool.js';
import { createStore } from '../storage/index.js';
import type { BlobStore } from '../storage/store.js';
import { configFromOptions } from './options.js';
import { announceCreatedKey } from './output.js';

/**
 * What the storage commands (upload, download, ls, link) open: the configuration, the key
 * provider (created on first use), the blob store and, for sealing or opening, a worker pool.
 * With S3 SSE-C the store needs its 32-byte customer key before the first request, so the key
 * provider is asked for it here and the bytes are wiped once the store has taken them.
 */

export interface Session {
  config: SealcamConfig;
  store: BlobStore;
  /** "S3 at <endpoint> (bucket b)", "Azure Blob at <account> (container c)", "local store at <dir>". */
  where: string;
  keys(): Promise<KeyProvider>;
  /** A pool sized by seal.jobs (0 = one worker per core) running seal.engine. */
  pool(): SealPool;
}

export async function openSession(opts: Record<string, unknown>): Promise<Session> {
  const config = configFromOptions(opts);
  let provider: Promise<KeyProvider> | undefined;
  const keys = () => (provider ??= createKeyProvider(config, { onCreated: announceCreatedKey }));
  const { store: settings } = config;
  // The AWS SDK's notice that its releases after early 2027 need Node 22 is nine lines on stderr
  // for every command: news for whoever pins the SDK, not for someone listing blobs.
  if (settings.kind === 's3') process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const sseCustomerKey = settings.kind === 's3' && settings.sse === 'c' ? await sseCustomerKeyFrom(await keys(), settings.sseCustomerKeyName) : undefined;
  let store: BlobStore;
  try {
    store = await createStore(config, { sseCustomerKey });
  } finally {
    // The S3 store keeps its own encoded copy for the request headers.
    sseCustomerKey?.fill(0);
  }
  return {
    config,
    store,
    where: describeStore(config),
    keys,
    pool: () => poolFromConfig(config),
  };
}

/** SSE-C's customer key: a 256-bit key in the key provider, created on first use. */
async function sseCustomerKeyFrom(provider: KeyProvider, name: string): Promise<Uint8Array> {
  const material = await provider.getOrCreate(name, { bits: 256 });
  if (material.key.length !== 32) {
    const bits = material.key.length * 8;
    material.key.fill(0);
    throw new SealcamError(
      'ECONFIG',
      `SSE-C needs a 256-bit customer key, but key ${name} version ${material.version} is ${bits} bits (store.sseCustomerKeyName names another key, or create ${name} with --bits 256)`,
    );
  }
  return material.key;
}

/**
 * The store in words for messages, without secrets: only the endpoint and account name are taken
 * from an Azure connection string (never its key or SAS), and URLs lose their query.
 */
export function describeStore(config: SealcamConfig, env: NodeJS.ProcessEnv = process.env): string {
  const { store } = config;
  if (store.kind === 'azure') {
    return `Azure Blob at ${store.accountUrl?.split('?')[0] ?? azureAccountOf(env[store.connectionStringEnv])} (container ${store.container})`;
  }
  if (store.kind === 's3') {
    const endpoint = store.endpoint ?? `https://s3.${store.region ?? env.AWS_REGION ?? 'us-east-1'}.amazonaws.com`;
    return `S3 at ${endpoint} (bucket ${store.container})`;
  }
  return `local store at ${resolve(store.dir)}`;
}

function azureAccountOf(connectionString: string | undefined): string {
  const fields = new Map<string, string>();
  for (const part of (connectionString ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0) fields.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
  }
  const endpoint = fields.get('blobendpoint');
  if (endpoint) return endpoint.split('?')[0]!.replace(/\/+$/, '');
  const account = fields.get('accountname');
  if (account) return `https://${account}.blob.${fields.get('endpointsuffix') ?? 'core.windows.net'}`;
  return 'the account of the connection string';
}
