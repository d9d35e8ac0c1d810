import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { ENGINES, type EngineName } from './engine/types.js';
import { SealcamError } from './errors.js';
import { isSegmentSize, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE } from './formats/segment-size.js';
import { KEY_PROVIDER_KINDS, type KeyProviderKind } from './keys/provider.js';
import { DEVICE_ID, NOTIFY_KINDS, type NotifyKind } from './notify/notifier.js';
import { tooManyJobs } from './pool/limits.js';
import { outputProblem } from './receiver/location.js';
import { SSE_MODES, STORE_KINDS, type SseMode, type StoreKind } from './storage/store.js';

/**
 * sealcam's configuration: embedded defaults, then `sealcam.config.json`, then SEALCAM_*
 * environment variables, then command-line flags (later wins), with where each value came from
 * (explainConfig), so `sealcam config check` can say it. Secrets are never stored here:
 * the config names where they are (a key file, an environment variable, a Key Vault), and the
 * Azure and AWS SDKs read their own credentials (az login, managed identity, AWS_* variables).
 */

export type { KeyProviderKind, NotifyKind, SseMode, StoreKind };

export interface SealcamConfig {
  keys: {
    provider: KeyProviderKind;
    /** The key-encryption key's name (Key Vault secret name for Azure). */
    name: string;
    /** Keyring directory for `local`; default per user (userKeyringDir), so every directory finds the same keys. */
    dir: string;
    /** https://<vault>.vault.azure.net for `azure-keyvault`. */
    vaultUrl?: string;
    /** Identities that open files sealed to recipients: key files, or vault keys' recipient texts (comma-separated). */
    identities?: string;
  };
  store: {
    kind: StoreKind;
    /** Root directory for `local`. */
    dir: string;
    /** Container (Azure) or bucket (S3). */
    container: string;
    /** Azure: an account URL (credential from DefaultAzureCredential) ... */
    accountUrl?: string;
    /** ... or a connection string taken from this environment variable (never from the file). */
    connectionStringEnv: string;
    /** S3: region, endpoint and path-style addressing for S3-compatible stores. */
    region?: string;
    endpoint?: string;
    forcePathStyle: boolean;
    /** Server-side encryption on top of sealcam's own. */
    sse: SseMode;
    /** SSE-KMS key id or ARN. */
    kmsKeyId?: string;
    /** SSE-C: the name of the 32-byte customer key in the key provider. */
    sseCustomerKeyName: string;
    /** Where sealed files wait when the store is unreachable. */
    outboxDir: string;
  };
  device: {
    id: string;
    /** The camera's Ed25519 signing key file: files it seals to recipients carry its signature. */
    signingKey?: string;
  };
  seal: {
    segmentSize: number;
    jobs: number;
    engine: EngineName;
    /** Recipients to seal to (key strings or .pub files, comma-separated): a camera with these holds nothing that opens. */
    recipients?: string;
  };
  notify: {
    kind: NotifyKind;
    /** mqtt:// or mqtts:// broker URL for `mqtt` (for `local`, the in-process broker picks its own). */
    url?: string;
    /** Topic template for `mqtt` and `local`; {device} is replaced by the device id. */
    topic: string;
    /** `iothub`: the variable holding the device connection string (never the string itself). */
    iothubConnectionStringEnv: string;
    /** The MQTT user name (Mosquitto password files, Azure Event Grid's MQTT broker); the password is read from notify.passwordEnv. */
    username?: string;
    /** The variable holding the MQTT password (never the password itself). */
    passwordEnv: string;
    /** Optional PEM files: a CA to trust, and a client certificate and key (AWS IoT Core uses X.509). */
    caFile?: string;
    certFile?: string;
    keyFile?: string;
    /** Where notifications wait while the broker or hub is unreachable. */
    queueDir: string;
    /** `outbox`: the JSONL file events are appended to. */
    outboxFile: string;
  };
  receiver: {
    /**
     * Where opened images land, as `<device>/<yyyy-mm-dd>/<name>`: a directory, or a store location
     * `azure://<container>/<prefix>` or `s3://<bucket>/<prefix>` (receiver/location.ts), reached with
     * the store.* settings of that kind. Also `receiver.output`, as older files call it.
     */
    output: string;
    /** Blobs that fail verification, with a report beside each. */
    quarantineDir: string;
    /** Images opened at once. */
    concurrency: number;
    /** --poll: seconds between listings of the store. */
    pollSeconds: number;
    /** The device registry: a directory of <device-id>.pub files, or store:<prefix>; only files it accepts open. */
    trust?: string;
  };
}

/**
 * The per-user keyring: $XDG_CONFIG_HOME/sealcam/keys, else ~/.config/sealcam/keys. Not the
 * working directory: a key made there is lost with the directory, and the next directory would
 * make another. (The XDG spec ignores a relative XDG_CONFIG_HOME, so does this.)
 */
export function userKeyringDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg !== undefined && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.config');
  return join(base, 'sealcam', 'keys');
}

/** The embedded defaults for a user's environment (the keyring is per user; everything else is under ./.sealcam). */
export function defaultConfig(env: NodeJS.ProcessEnv = process.env): SealcamConfig {
  return {
    keys: { provider: 'local', name: 'sealcam-kek', dir: userKeyringDir(env) },
    store: {
      kind: 'local',
      dir: '.sealcam/store',
      container: 'sealcam',
      connectionStringEnv: 'AZURE_STORAGE_CONNECTION_STRING',
      forcePathStyle: false,
      sse: 'none',
      sseCustomerKeyName: 'sealcam-sse-c',
      outboxDir: '.sealcam/outbox',
    },
    device: { id: 'cam-01' },
    seal: { segmentSize: 65536, jobs: 0, engine: 'wasm' },
    notify: {
      kind: 'local',
      topic: 'sealcam/{device}/events',
      iothubConnectionStringEnv: 'SEALCAM_IOTHUB_CONNECTION_STRING',
      passwordEnv: 'SEALCAM_MQTT_PASSWORD',
      queueDir: '.sealcam/queue',
      outboxFile: '.sealcam/events.jsonl',
    },
    receiver: {
      output: '.sealcam/received',
      quarantineDir: '.sealcam/quarantine',
      concurrency: 4,
      pollSeconds: 5,
    },
  };
}

/** The defaults for this process's environment. */
export const DEFAULTS: SealcamConfig = defaultConfig();

/** Settings with no default, and their type (the others take theirs from DEFAULTS). */
const OPTIONAL: Record<string, 'string'> = {
  'keys.vaultUrl': 'string',
  'store.accountUrl': 'string',
  'store.region': 'string',
  'store.endpoint': 'string',
  'store.kmsKeyId': 'string',
  'notify.url': 'string',
  'notify.username': 'string',
  'notify.caFile': 'string',
  'notify.certFile': 'string',
  'notify.keyFile': 'string',
  'keys.identities': 'string',
  'device.signingKey': 'string',
  'seal.recipients': 'string',
  'receiver.trust': 'string',
};

/** The command-line flag for each setting a flag can set, for error messages. */
export const FLAG_NAMES: Record<string, string> = {
  'keys.provider': '--provider',
  'keys.name': '--key-name',
  'keys.dir': '--keys-dir',
  'keys.vaultUrl': '--vault-url',
  'store.kind': '--store',
  'store.dir': '--store-dir',
  'store.container': '--container',
  'store.sse': '--sse',
  'store.kmsKeyId': '--kms-key-id',
  'store.endpoint': '--endpoint',
  'device.id': '--device',
  'device.signingKey': '--sign',
  'seal.recipients': '--recipient',
  'keys.identities': '--identity',
  'receiver.trust': '--trust',
  'seal.segmentSize': '--segment-size',
  'seal.jobs': '--jobs',
  'seal.engine': '--engine',
  'notify.kind': '--notify',
  'notify.url': '--mqtt-url',
  'notify.username': '--mqtt-username',
  'receiver.output': '--output',
  'receiver.concurrency': '--concurrency',
};

/** Other names for a setting, in the file (`store.bucket`), the environment and on the command line (`--bucket`): S3 calls a container a bucket. */
export const ALIASES: Record<string, { file: string; env: string; flag: string }> = {
  'store.container': { file: 'store.bucket', env: 'SEALCAM_BUCKET', flag: '--bucket' },
  // The names of the time when the output could only be a directory.
  'receiver.output': { file: 'receiver.outputDir', env: 'SEALCAM_RECEIVER_OUTPUT_DIR', flag: '--output-dir' },
};

export const CONFIG_FILE = 'sealcam.config.json';

/**
 * The defaults with every local path (keyring, store, outbox, queues, received images, state)
 * under `dir` instead of ./.sealcam and the user's keyring: for the demo and tests, which must
 * never touch the user's own keys.
 */
export function configUnder(dir: string): SealcamConfig {
  const config = structuredClone(DEFAULTS);
  config.keys.dir = join(dir, 'keys');
  for (const section of Object.values(config) as Record<string, unknown>[]) {
    for (const [field, value] of Object.entries(section)) {
      if (typeof value === 'string' && value.startsWith('.sealcam/')) section[field] = join(dir, value.slice('.sealcam/'.length));
    }
  }
  return config;
}

/** SEALCAM_* variables and the config path each sets. */
export const ENV_VARS: Record<string, string> = {
  SEALCAM_KEY_PROVIDER: 'keys.provider',
  SEALCAM_KEY_NAME: 'keys.name',
  SEALCAM_KEYS_DIR: 'keys.dir',
  SEALCAM_VAULT_URL: 'keys.vaultUrl',
  SEALCAM_STORE: 'store.kind',
  SEALCAM_STORE_DIR: 'store.dir',
  SEALCAM_CONTAINER: 'store.container',
  SEALCAM_AZURE_ACCOUNT_URL: 'store.accountUrl',
  SEALCAM_AZURE_CONNECTION_STRING_ENV: 'store.connectionStringEnv',
  SEALCAM_S3_REGION: 'store.region',
  SEALCAM_S3_ENDPOINT: 'store.endpoint',
  SEALCAM_S3_PATH_STYLE: 'store.forcePathStyle',
  SEALCAM_SSE: 'store.sse',
  SEALCAM_SSE_KMS_KEY_ID: 'store.kmsKeyId',
  SEALCAM_SSE_C_KEY_NAME: 'store.sseCustomerKeyName',
  SEALCAM_OUTBOX_DIR: 'store.outboxDir',
  SEALCAM_DEVICE_ID: 'device.id',
  SEALCAM_SIGNING_KEY: 'device.signingKey',
  SEALCAM_RECIPIENTS: 'seal.recipients',
  SEALCAM_IDENTITIES: 'keys.identities',
  SEALCAM_TRUST: 'receiver.trust',
  SEALCAM_SEGMENT_SIZE: 'seal.segmentSize',
  SEALCAM_JOBS: 'seal.jobs',
  SEALCAM_ENGINE: 'seal.engine',
  SEALCAM_NOTIFY: 'notify.kind',
  SEALCAM_MQTT_URL: 'notify.url',
  SEALCAM_MQTT_TOPIC: 'notify.topic',
  SEALCAM_MQTT_USERNAME: 'notify.username',
  SEALCAM_MQTT_PASSWORD_ENV: 'notify.passwordEnv',
  SEALCAM_IOTHUB_CONNECTION_STRING_ENV: 'notify.iothubConnectionStringEnv',
  SEALCAM_MQTT_CA_FILE: 'notify.caFile',
  SEALCAM_MQTT_CERT_FILE: 'notify.certFile',
  SEALCAM_MQTT_KEY_FILE: 'notify.keyFile',
  SEALCAM_QUEUE_DIR: 'notify.queueDir',
  SEALCAM_RECEIVER_OUTPUT: 'receiver.output',
  SEALCAM_RECEIVER_CONCURRENCY: 'receiver.concurrency',
};

type Patch = Record<string, unknown>;

function configError(message: string): SealcamError {
  return new SealcamError('ECONFIG', message);
}

/** Set `path` (a.b) in a nested plain object, converting to the type the default has. */
function setPath(target: SealcamConfig, path: string, raw: unknown, source: string): void {
  const [section, field] = path.split('.') as [keyof SealcamConfig, string];
  const defaults = DEFAULTS[section] as Record<string, unknown>;
  const slot = target[section] as Record<string, unknown>;
  const expected = OPTIONAL[path] ?? typeof defaults[field];
  let value = raw;
  if (expected === 'number' && typeof raw === 'string') value = raw.trim() === '' ? NaN : Number(raw);
  if (expected === 'boolean' && typeof raw === 'string') {
    const word = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(word)) value = true;
    else if (['false', '0', 'no', 'off'].includes(word)) value = false;
    else throw configError(`${source}: ${path} must be true or false, got ${JSON.stringify(raw)}`);
  }
  if (typeof value !== expected) {
    throw configError(`${source}: ${path} must be a ${expected}, got ${JSON.stringify(raw)}`);
  }
  if (expected === 'number' && !Number.isFinite(value as number)) throw configError(`${source}: ${path} must be a number, got ${String(raw)}`);
  slot[field] = value;
}

/** Where a setting's value came from, for `sealcam config check`. */
export interface Origin {
  source: 'default' | 'file' | 'env' | 'flag';
  /** The file, variable or flag that set it. */
  name?: string;
}

/** Which setting `name` (a file path such as 'store.bucket') sets, taking aliases into account. */
function aliasOf(name: string, kind: 'file' | 'env' | 'flag'): string | undefined {
  return Object.entries(ALIASES).find(([, alias]) => alias[kind] === name)?.[0];
}

/** Records each setting one layer sets, refusing a setting and its alias set to different values in that layer. */
class Layer {
  private readonly set = new Map<string, { value: unknown; name: string }>();
  constructor(private readonly source: Origin['source']) {}
  add(path: string, value: unknown, name: string): void {
    const before = this.set.get(path);
    if (before !== undefined && before.value !== value) {
      throw configError(`${before.name} and ${name} both set ${path}, to different values: give one of them`);
    }
    this.set.set(path, { value, name });
  }
  apply(config: SealcamConfig, origins: Record<string, Origin>, file?: string): void {
    for (const [path, { value, name }] of this.set) {
      setPath(config, path, value, this.source === 'file' ? file! : name);
      origins[path] = { source: this.source, name: this.source === 'file' ? file : name };
    }
  }
}

function fileLayer(file: Patch, source: string): Layer {
  const layer = new Layer('file');
  for (const [section, fields] of Object.entries(file)) {
    if (section === '$schema' || section === '//') continue;
    if (!(section in DEFAULTS)) throw configError(`${source}: unknown section '${section}' (known: ${Object.keys(DEFAULTS).join(', ')})`);
    if (typeof fields !== 'object' || fields === null) throw configError(`${source}: '${section}' must be an object`);
    for (const [field, value] of Object.entries(fields as Patch)) {
      const written = `${section}.${field}`;
      const path = aliasOf(written, 'file') ?? written;
      if (path === written && !(field in DEFAULTS[section as keyof SealcamConfig]) && !(path in OPTIONAL)) throw configError(`${source}: unknown setting '${written}'`);
      layer.add(path, value, written);
    }
  }
  return layer;
}

export interface LoadOptions {
  /** Config file; default sealcam.config.json in the working directory, if present. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag values by config path, e.g. { 'store.kind': 's3' }; undefined entries are ignored. */
  flags?: Record<string, unknown>;
  /** Flags given under an alias (e.g. { '--bucket': 'b' }); undefined entries are ignored. */
  aliasFlags?: Record<string, unknown>;
}

/** The configuration and where each setting came from (a setting absent from `origins` has its default). */
export function explainConfig(options: LoadOptions = {}): { config: SealcamConfig; origins: Record<string, Origin>; file?: string } {
  const env = options.env ?? process.env;
  const config = defaultConfig(env);
  const origins: Record<string, Origin> = {};
  const file = options.file ?? (existsSync(CONFIG_FILE) ? CONFIG_FILE : undefined);
  if (file !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(resolve(file), 'utf8'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw configError(code === 'ENOENT' ? `config file ${file} not found` : `config file ${file} is not valid JSON`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw configError(`config file ${file} must hold a JSON object`);
    fileLayer(parsed as Patch, file).apply(config, origins, file);
  }
  const fromEnv = new Layer('env');
  for (const [name, path] of Object.entries(ENV_VARS)) {
    const value = env[name];
    if (value !== undefined && value !== '') fromEnv.add(path, value, name);
  }
  for (const [path, alias] of Object.entries(ALIASES)) {
    const value = env[alias.env];
    if (value !== undefined && value !== '') fromEnv.add(path, value, alias.env);
  }
  fromEnv.apply(config, origins);
  const fromFlags = new Layer('flag');
  for (const [path, value] of Object.entries(options.flags ?? {})) {
    if (value !== undefined) fromFlags.add(path, value, FLAG_NAMES[path] ?? path);
  }
  for (const [flag, value] of Object.entries(options.aliasFlags ?? {})) {
    const path = aliasOf(flag, 'flag');
    if (path === undefined) throw new Error(`no setting has the alias ${flag}`);
    if (value !== undefined) fromFlags.add(path, value, flag);
  }
  fromFlags.apply(config, origins);
  return { config, origins, file };
}

export function loadConfig(options: LoadOptions = {}): SealcamConfig {
  return explainConfig(options).config;
}

/** One setting that cannot work, and why, in a line that never echoes a secret value. */
export interface ConfigProblem {
  /** The setting to change (a config path such as 'store.region'). */
  setting: string;
  message: string;
}

export type ConfigSection = keyof SealcamConfig;

type Rules = (config: SealcamConfig, env: NodeJS.ProcessEnv, problem: (setting: string, message: string) => void) => void;

/** `value` among `allowed`, which come from the module that owns them. */
function oneOf(problem: (setting: string, message: string) => void, setting: string, value: string, allowed: readonly string[]): void {
  if (!allowed.includes(value)) problem(setting, `${setting} is '${value}'; use one of: ${allowed.join(', ')}`);
}

/** The rules of each section; a command checks the sections it uses, each once. */
const RULES: Record<ConfigSection, Rules> = {
  keys: ({ keys }, _env, problem) => {
    oneOf(problem, 'keys.provider', keys.provider, KEY_PROVIDER_KINDS);
    if (keys.provider === 'azure-keyvault' && !keys.vaultUrl) {
      problem('keys.vaultUrl', 'keys.vaultUrl is missing: set it to https://<your-vault>.vault.azure.net (or SEALCAM_VAULT_URL)');
    }
  },
  store: ({ store }, env, problem) => {
    oneOf(problem, 'store.kind', store.kind, STORE_KINDS);
    oneOf(problem, 'store.sse', store.sse, SSE_MODES);
    if (store.kind === 'azure' && !store.accountUrl && !env[store.connectionStringEnv]) {
      problem(
        'store.accountUrl',
        `Azure Blob needs store.accountUrl (https://<account>.blob.core.windows.net, with az login or a managed identity) or a connection string in $${store.connectionStringEnv}`,
      );
    }
    if (store.kind === 's3' && !store.region && !env.AWS_REGION && !store.endpoint) problem('store.region', 'S3 needs a region: set store.region, SEALCAM_S3_REGION or AWS_REGION');
    if (store.kind !== 's3' && store.sse !== 'none') problem('store.sse', `store.sse '${store.sse}' applies to S3 only`);
    if (store.sse === 'kms' && !store.kmsKeyId) problem('store.kmsKeyId', 'store.sse is kms but store.kmsKeyId (a KMS key id or ARN) is missing');
  },
  seal: ({ seal }, _env, problem) => {
    oneOf(problem, 'seal.engine', seal.engine, ENGINES);
    if (!isSegmentSize(seal.segmentSize)) {
      problem('seal.segmentSize', `seal.segmentSize ${seal.segmentSize} must be a power of two from ${MIN_SEGMENT_SIZE} to ${MAX_SEGMENT_SIZE}`);
    }
    if (!Number.isInteger(seal.jobs) || seal.jobs < 0) problem('seal.jobs', 'seal.jobs must be 0 (one per core) or a positive integer');
    else {
      const tooMany = tooManyJobs(seal.jobs);
      if (tooMany !== undefined) problem('seal.jobs', `seal.jobs ${tooMany}`);
    }
  },
  notify: ({ notify }, env, problem) => {
    oneOf(problem, 'notify.kind', notify.kind, NOTIFY_KINDS);
    if (notify.kind === 'mqtt' && !notify.url) problem('notify.url', 'notify.url is missing: set the broker, e.g. mqtts://broker.example:8883 (or SEALCAM_MQTT_URL)');
    if (notify.kind === 'iothub' && !env[notify.iothubConnectionStringEnv]) {
      problem('notify.iothubConnectionStringEnv', `IoT Hub needs the device connection string in $${notify.iothubConnectionStringEnv}`);
    }
    if (!notify.topic.includes('{device}')) problem('notify.topic', `notify.topic '${notify.topic}' must contain {device}`);
  },
  receiver: (config, _env, problem) => {
    const { receiver } = config;
    if (!Number.isInteger(receiver.concurrency) || receiver.concurrency < 1) problem('receiver.concurrency', 'receiver.concurrency must be a positive integer');
    if (!(receiver.pollSeconds > 0)) problem('receiver.pollSeconds', 'receiver.pollSeconds must be a positive number of seconds');
    const output = outputProblem(config);
    if (output !== undefined) problem('receiver.output', output);
  },
  device: ({ device }, _env, problem) => {
    if (!DEVICE_ID.test(device.id)) problem('device.id', `device.id '${device.id}' must be 1-64 letters, digits, '.', '_' or '-'`);
  },
};

const SECTIONS = Object.keys(RULES) as ConfigSection[];

/** The problems of `sections` (default: all), empty when the configuration can work there. */
export function checkConfig(config: SealcamConfig, env: NodeJS.ProcessEnv = process.env, sections: readonly ConfigSection[] = SECTIONS): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const section of SECTIONS) {
    if (sections.includes(section)) RULES[section](config, env, (setting, message) => problems.push({ setting, message }));
  }
  return problems;
}

/**
 * The settings the chosen kinds use (store.kind, keys.provider, notify.kind, store.sse), in
 * DEFAULTS order then the optional ones: `config check` shows these, not the Azure settings of a
 * local store.
 */
export function settingsInUse(config: SealcamConfig): string[] {
  const { keys, store, notify } = config;
  const s3 = store.kind === 's3';
  const mqtt = notify.kind === 'mqtt' || notify.kind === 'local';
  const used: Record<string, boolean> = {
    'keys.dir': keys.provider === 'local',
    'keys.vaultUrl': keys.provider === 'azure-keyvault',
    'store.dir': store.kind === 'local',
    'store.container': store.kind !== 'local',
    'store.accountUrl': store.kind === 'azure',
    'store.connectionStringEnv': store.kind === 'azure',
    'store.region': s3,
    'store.endpoint': s3,
    'store.forcePathStyle': s3,
    'store.sse': s3,
    'store.kmsKeyId': s3 && store.sse === 'kms',
    'store.sseCustomerKeyName': s3 && store.sse === 'c',
    'notify.url': mqtt,
    'notify.topic': mqtt,
    'notify.username': mqtt,
    'notify.passwordEnv': mqtt,
    'notify.iothubConnectionStringEnv': notify.kind === 'iothub',
    'notify.caFile': notify.kind !== 'outbox',
    'notify.certFile': notify.kind === 'mqtt',
    'notify.keyFile': notify.kind === 'mqtt',
    'notify.queueDir': notify.kind !== 'outbox',
    'notify.outboxFile': notify.kind === 'outbox',
  };
  return allSettings().filter((path) => used[path] ?? true);
}

/** Every setting there is, section by section (for `config check --all`). */
export function allSettings(): string[] {
  return Object.entries(DEFAULTS).flatMap(([section, fields]) => [
    ...Object.keys(fields as object).map((field) => `${section}.${field}`),
    ...Object.keys(OPTIONAL).filter((path) => path.startsWith(`${section}.`)),
  ]);
}

/**
 * Settings that are valid but cannot work as intended where they will be used; `config check`
 * prints them as warnings (they do not fail it, since the service may yet be reached another way).
 */
export function configWarnings(config: SealcamConfig): ConfigProblem[] {
  const warnings: ConfigProblem[] = [];
  const { store } = config;
  const plainHttp = (url: string | undefined) => url !== undefined && /^http:\/\//i.test(url);
  if (store.kind === 's3' && store.sse === 'c' && plainHttp(store.endpoint)) {
    warnings.push({ setting: 'store.endpoint', message: `store.sse is c but store.endpoint ${redactUrl(store.endpoint!)} is plain http://: S3 refuses customer keys (SSE-C) over HTTP; use https://` });
  }
  if (store.kind === 'azure' && plainHttp(store.accountUrl)) {
    warnings.push({ setting: 'store.accountUrl', message: `store.accountUrl ${redactUrl(store.accountUrl!)} is plain http://: Azure sign-in tokens (az login, managed identity) are sent only over https://; use https:// or a connection string` });
  }
  if (config.notify.kind === 'mqtt' && config.notify.url !== undefined && /^mqtt:\/\/[^/]*@/i.test(config.notify.url)) {
    warnings.push({ setting: 'notify.url', message: 'notify.url carries a user name or password over plain mqtt://: anyone on the path can read them; use mqtts://' });
  }
  return warnings;
}

/** A URL without the secrets it may carry: the password of its user part and its query (SAS tokens, signatures). */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  if (url.password !== '') url.password = '***';
  if (url.search !== '') url.search = '?***';
  return url.toString();
}

/** checkConfig() for the sections a caller uses, refusing the first problem with ECONFIG. */
export function refuseConfig(config: SealcamConfig, sections: readonly ConfigSection[], env: NodeJS.ProcessEnv = process.env): void {
  const [problem] = checkConfig(config, env, sections);
  if (problem !== undefined) throw new SealcamError('ECONFIG', problem.message);
}
