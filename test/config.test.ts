import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkConfig, CONFIG_FILE, DEFAULTS, loadConfig, type SealcamConfig } from '../src/config.js';
import { SealcamError } from '../src/errors.js';
import { packageRoot } from '../src/paths.js';

let dir: string;
let n = 0;

/** A config file with `body` (an object is written as JSON). */
function file(body: unknown): string {
  const path = join(dir, `config-${n++}.json`);
  writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body));
  return path;
}

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SealcamError);
    expect((err as SealcamError).code).toBe('ECONFIG');
    return (err as SealcamError).message;
  }
  throw new Error('expected a configuration error');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sealcam-config-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('loadConfig', () => {
  it('gives the defaults when there is no file, variable or flag', () => {
    const config = loadConfig({ file: file({}), env: {} });
    expect(config).toEqual(DEFAULTS);
    // A copy: changing it must not change the defaults.
    config.keys.name = 'changed';
    expect(DEFAULTS.keys.name).toBe('sealcam-kek');
  });

  it('file < environment < flags, setting by setting', () => {
    const path = file({ keys: { name: 'from-file', dir: '/file/keys' }, store: { kind: 's3', container: 'file-bucket' }, seal: { jobs: 2 } });
    const env = { SEALCAM_KEY_NAME: 'from-env', SEALCAM_CONTAINER: 'env-bucket', SEALCAM_JOBS: '4' };
    const config = loadConfig({ file: path, env, flags: { 'keys.name': 'from-flag', 'seal.jobs': undefined } });
    expect(config.keys.name).toBe('from-flag'); // flag over env over file
    expect(config.store.container).toBe('env-bucket'); // env over file
    expect(config.seal.jobs).toBe(4); // an undefined flag does not count
    expect(config.keys.dir).toBe('/file/keys'); // file over default
    expect(config.store.kind).toBe('s3');
    expect(config.device.id).toBe('cam-01'); // default
  });

  it('ignores empty environment variables', () => {
    expect(loadConfig({ file: file({ device: { id: 'cam-02' } }), env: { SEALCAM_DEVICE_ID: '' } }).device.id).toBe('cam-02');
  });

  it('every SEALCAM_* variable reaches its setting', () => {
    const env = {
      SEALCAM_KEY_PROVIDER: 'azure-keyvault',
      SEALCAM_VAULT_URL: 'https://v.vault.azure.net',
      SEALCAM_STORE: 's3',
      SEALCAM_S3_REGION: 'eu-west-1',
      SEALCAM_S3_ENDPOINT: 'http://127.0.0.1:9000',
      SEALCAM_SSE: 'kms',
      SEALCAM_SSE_KMS_KEY_ID: 'testkey-1',
      SEALCAM_ENGINE: 'native',
    };
    const config = loadConfig({ file: file({}), env });
    expect(config.keys).toMatchObject({ provider: 'azure-keyvault', vaultUrl: 'https://v.vault.azure.net' });
    expect(config.store).toMatchObject({ kind: 's3', region: 'eu-west-1', endpoint: 'http://127.0.0.1:9000', sse: 'kms', kmsKeyId: 'testkey-1' });
    expect(config.seal.engine).toBe('native');
  });

  it('converts strings from variables and flags to numbers and booleans', () => {
    const env = { SEALCAM_SEGMENT_SIZE: '4096', SEALCAM_S3_PATH_STYLE: 'true' };
    const config = loadConfig({ file: file({}), env, flags: { 'seal.jobs': '3' } });
    expect(config.seal.segmentSize).toBe(4096);
    expect(config.seal.jobs).toBe(3);
    expect(config.store.forcePathStyle).toBe(true);
    expect(loadConfig({ file: file({}), env: { SEALCAM_S3_PATH_STYLE: '1' } }).store.forcePathStyle).toBe(true);
    expect(loadConfig({ file: file({}), env: { SEALCAM_S3_PATH_STYLE: 'no' } }).store.forcePathStyle).toBe(false);
    expect(configError(() => loadConfig({ file: file({}), env: { SEALCAM_S3_PATH_STYLE: 'maybe' } }))).toBe(
      'SEALCAM_S3_PATH_STYLE: store.forcePathStyle must be true or false, got "maybe"',
    );
    expect(configError(() => loadConfig({ file: file({}), env: { SEALCAM_JOBS: ' ' } }))).toBe('SEALCAM_JOBS: seal.jobs must be a number, got  ');
    expect(configError(() => loadConfig({ file: file({}), env: { SEALCAM_JOBS: 'many' } }))).toBe('SEALCAM_JOBS: seal.jobs must be a number, got many');
    expect(configError(() => loadConfig({ file: file({}), env: {}, flags: { 'seal.segmentSize': 'x' } }))).toBe('--segment-size: seal.segmentSize must be a number, got x');
  });

  it('refuses a value of the wrong JSON type in a file', () => {
    const path = file({ device: { id: 5 } });
    expect(configError(() => loadConfig({ file: path, env: {} }))).toBe(`${path}: device.id must be a string, got 5`);
    const jobs = file({ seal: { jobs: true } });
    expect(configError(() => loadConfig({ file: jobs, env: {} }))).toBe(`${jobs}: seal.jobs must be a number, got true`);
  });

  it('refuses unknown sections and settings, naming them', () => {
    const section = file({ kyes: { name: 'x' } });
    expect(configError(() => loadConfig({ file: section, env: {} }))).toBe(`${section}: unknown section 'kyes' (known: keys, store, device, seal, notify, receiver)`);
    const setting = file({ keys: { nmae: 'x' } });
    expect(configError(() => loadConfig({ file: setting, env: {} }))).toBe(`${setting}: unknown setting 'keys.nmae'`);
    const notObject = file({ keys: 'local' });
    expect(configError(() => loadConfig({ file: notObject, env: {} }))).toBe(`${notObject}: 'keys' must be an object`);
    // "$schema" and "//" (comments) are allowed at the top level.
    expect(loadConfig({ file: file({ $schema: 'x', '//': 'a note' }), env: {} })).toEqual(DEFAULTS);
  });

  it('explains a missing, malformed or non-object file in one line', () => {
    expect(configError(() => loadConfig({ file: join(dir, 'nope.json'), env: {} }))).toBe(`config file ${join(dir, 'nope.json')} not found`);
    const bad = file('{ "keys": ');
    expect(configError(() => loadConfig({ file: bad, env: {} }))).toBe(`config file ${bad} is not valid JSON`);
    const array = file([1, 2]);
    expect(configError(() => loadConfig({ file: array, env: {} }))).toBe(`config file ${array} must hold a JSON object`);
  });

  it(`reads ${CONFIG_FILE} from the working directory when no file is named`, () => {
    const cwd = process.cwd();
    const here = mkdtempSync(join(dir, 'cwd-'));
    try {
      process.chdir(here);
      expect(loadConfig({ env: {} })).toEqual(DEFAULTS);
      writeFileSync(CONFIG_FILE, JSON.stringify({ device: { id: 'cam-77' } }));
      expect(loadConfig({ env: {} }).device.id).toBe('cam-77');
    } finally {
      process.chdir(cwd);
    }
  });

  it('the example config loads and passes checkConfig', () => {
    const config = loadConfig({ file: join(packageRoot, 'sealcam.config.example.json'), env: {} });
    expect(checkConfig(config, {})).toEqual([]);
  });
});

describe('checkConfig', () => {
  const base = (): SealcamConfig => structuredClone(DEFAULTS);
  const messages = (c: SealcamConfig, env: NodeJS.ProcessEnv) => checkConfig(c, env).map((p) => p.message);

  it('names the setting to change with each problem, as data', () => {
    const c = base();
    c.store.kind = 's3';
    c.seal.jobs = -1;
    c.notify.kind = 'mqtt';
    expect(checkConfig(c, {}).map((p) => p.setting)).toEqual(['store.region', 'seal.jobs', 'notify.url']);
  });

  it('checks only the sections asked for', () => {
    const c = base();
    c.store.kind = 's3';
    c.seal.jobs = -1;
    expect(checkConfig(c, {}, ['seal']).map((p) => p.setting)).toEqual(['seal.jobs']);
    expect(checkConfig(c, {}, ['keys', 'receiver'])).toEqual([]);
  });

  it('finds nothing wrong with the defaults', () => {
    expect(messages(base(), {})).toEqual([]);
  });

  it('names unknown choices and lists the allowed ones', () => {
    const c = base();
    (c.keys as { provider: string }).provider = 'hsm';
    (c.store as { kind: string }).kind = 'ftp';
    (c.seal as { engine: string }).engine = 'gpu';
    expect(messages(c, {})).toEqual([
      "keys.provider is 'hsm'; use one of: local, azure-keyvault",
      "store.kind is 'ftp'; use one of: local, azure, s3",
      "seal.engine is 'gpu'; use one of: wasm, native",
    ]);
  });

  it('Key Vault needs a vault URL', () => {
    const c = base();
    c.keys.provider = 'azure-keyvault';
    expect(messages(c, {})).toEqual(['keys.vaultUrl is missing: set it to https://<your-vault>.vault.azure.net (or SEALCAM_VAULT_URL)']);
    c.keys.vaultUrl = 'https://v.vault.azure.net';
    expect(messages(c, {})).toEqual([]);
  });

  it('Azure Blob needs an account URL or a connection string variable, whose value is never echoed', () => {
    const c = base();
    c.store.kind = 'azure';
    const [problem] = messages(c, {});
    expect(problem).toBe(
      'Azure Blob needs store.accountUrl (https://<account>.blob.core.windows.net, with az login or a managed identity) or a connection string in $AZURE_STORAGE_CONNECTION_STRING',
    );
    expect(messages(c, { AZURE_STORAGE_CONNECTION_STRING: 'AccountKey=secret' })).toEqual([]);
    c.store.accountUrl = 'https://a.blob.core.windows.net';
    expect(messages(c, {})).toEqual([]);
  });

  it('S3 needs a region (or an endpoint); SSE applies to S3 only; SSE-KMS needs a key id', () => {
    const c = base();
    c.store.kind = 's3';
    expect(messages(c, {})).toEqual(['S3 needs a region: set store.region, SEALCAM_S3_REGION or AWS_REGION']);
    expect(messages(c, { AWS_REGION: 'eu-west-1' })).toEqual([]);
    c.store.sse = 'kms';
    expect(messages(c, { AWS_REGION: 'eu-west-1' })).toEqual(['store.sse is kms but store.kmsKeyId (a KMS key id or ARN) is missing']);
    const local = base();
    local.store.sse = 'c';
    expect(messages(local, {})).toEqual(["store.sse 'c' applies to S3 only"]);
  });

  it('checks segment size, jobs and device id', () => {
    const c = base();
    c.seal.segmentSize = 5000;
    c.seal.jobs = -1;
    c.device.id = 'cam 01/../x';
    expect(messages(c, {})).toEqual([
      'seal.segmentSize 5000 must be a power of two from 4096 to 16777216',
      'seal.jobs must be 0 (one per core) or a positive integer',
      "device.id 'cam 01/../x' must be 1-64 letters, digits, '.', '_' or '-'",
    ]);
    for (const size of [2048, 1 << 25]) {
      c.seal.segmentSize = size;
      expect(messages(c, {})[0]).toMatch(/must be a power of two/);
    }
    c.seal.segmentSize = 1 << 24;
    c.seal.jobs = 1.5;
    expect(messages(c, {})[0]).toBe('seal.jobs must be 0 (one per core) or a positive integer');
  });
});
