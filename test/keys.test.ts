import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CredentialUnavailableError, type TokenCredential } from '@azure/identity';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SealcamError } from '../src/errors.js';
import { AzureKeyVaultProvider } from '../src/keys/azure.js';
import { createKeyProvider } from '../src/keys/index.js';
import { LocalKeyProvider } from '../src/keys/local.js';
import { DEFAULTS } from '../src/config.js';
import { startKeyVaultStandin, type Standin } from './fixtures/keyvault-standin.js';
import { expectOkCreatingKey, sealcam as run, type Run } from './helpers/cli.js';

const mode = (path: string): number => statSync(path).mode & 0o777;
const hex = (key: Uint8Array): string => Buffer.from(key).toString('hex');

/** The rejection of `promise`, which must be a SealcamError. */
async function failure(promise: Promise<unknown>): Promise<SealcamError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SealcamError);
  return err as SealcamError;
}

/** Every way a key could leak into text: hex (both cases) and base64. */
function expectNoKey(text: string, keys: Uint8Array[]): void {
  for (const key of keys) {
    const b = Buffer.from(key);
    for (const form of [b.toString('hex'), b.toString('hex').toUpperCase(), b.toString('base64')]) expect(text).not.toContain(form);
  }
}

let root: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'sealcam-keys-'));
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('LocalKeyProvider', () => {
  let dir: string;
  let keys: LocalKeyProvider;

  beforeEach(() => {
    dir = join(mkdtempSync(join(root, 'local-')), 'ring');
    keys = new LocalKeyProvider(dir);
  });

  it('creates version 1 on first use (0600 file, 0700 directories) and returns it again after', async () => {
    const first = await keys.getOrCreate('kek');
    expect(first).toMatchObject({ name: 'kek', version: '1', enabled: true });
    expect(first.key).toHaveLength(16);
    expect(first.createdOn).toBeInstanceOf(Date);
    const file = join(dir, 'kek', '1.key');
    expect(mode(file)).toBe(0o600);
    expect(mode(join(dir, 'kek'))).toBe(0o700);
    expect(mode(dir)).toBe(0o700);
    expect(readFileSync(file)).toEqual(Buffer.from(first.key));

    const again = await keys.getOrCreate('kek');
    expect(again.version).toBe('1');
    expect(hex(again.key)).toBe(hex(first.key));
  });

  it('rotates: the new version becomes the newest, every old one still opens', async () => {
    const v1 = await keys.getOrCreate('kek');
    const v2 = await keys.rotate('kek', { bits: 256 });
    expect(v2.version).toBe('2');
    expect(v2.key).toHaveLength(32);
    expect(hex(v2.key)).not.toBe(hex(v1.key));
    expect((await keys.getOrCreate('kek')).version).toBe('2');
    expect(hex((await keys.get('kek', '1')).key)).toBe(hex(v1.key));
    expect(hex((await keys.get('kek', '2')).key)).toBe(hex(v2.key));

    const listed = await keys.list('kek');
    expect(listed.map((v) => v.version)).toEqual(['2', '1']);
    expect(listed.every((v) => v.createdOn instanceof Date && v.enabled === true && !('key' in v))).toBe(true);
  });

  it('rotate on a new key creates version 1; concurrent rotations get distinct versions', async () => {
    expect((await keys.rotate('fresh', { bits: 192 })).key).toHaveLength(24);
    const made = await Promise.all([1, 2, 3, 4, 5].map(() => keys.rotate('fresh')));
    expect(made.map((m) => m.version).sort()).toEqual(['2', '3', '4', '5', '6']);
    expect(new Set(made.map((m) => hex(m.key))).size).toBe(5);
    expect(readdirSync(join(dir, 'fresh')).sort()).toEqual(['1.key', '2.key', '3.key', '4.key', '5.key', '6.key']);
  });

  it('lists nothing for a key never created, and ignores stray files in a key directory', async () => {
    expect(await keys.list('nothing')).toEqual([]);
    await keys.getOrCreate('kek');
    writeFileSync(join(dir, 'kek', '.2.key.abcdef.tmp'), 'x');
    writeFileSync(join(dir, 'kek', 'notes.txt'), 'x');
    writeFileSync(join(dir, 'kek', '01.key'), 'x');
    expect((await keys.list('kek')).map((v) => v.version)).toEqual(['1']);
    expect((await keys.rotate('kek')).version).toBe('2');
  });

  it('refuses a key file that group or others can read', async () => {
    const { key } = await keys.getOrCreate('kek');
    const file = join(dir, 'kek', '1.key');
    chmodSync(file, 0o644);
    const err = await failure(keys.get('kek', '1'));
    expect(err.code).toBe('EKEYPERM');
    expect(err.message).toContain(`chmod 600 ${file}`);
    await expect(keys.getOrCreate('kek')).rejects.toThrow(/readable or writable by group or others/);
    expectNoKey(err.message, [key]);
  });

  it('refuses bad key names before touching the disk (no path traversal)', async () => {
    for (const name of ['', '.', '..', '../kek', 'a/b', 'a\\b', '.hidden', '-', 'x'.repeat(65), 'k\0', 'ключ']) {
      for (const op of [keys.getOrCreate(name), keys.rotate(name), keys.list(name), keys.get(name, '1')]) {
        const err = await failure(op);
        expect(err.code, name).toBe('EINPUT');
        expect(err.message).toMatch(/is not valid: use 1-64 letters, digits, '\.', '_' or '-'/);
      }
    }
    expect(existsSync(dir)).toBe(false);
    // The longest and most varied allowed names work.
    expect((await keys.getOrCreate('A-z_0.9' + 'x'.repeat(57))).version).toBe('1');
  });

  it('refuses an unknown version, naming the versions there are', async () => {
    await keys.getOrCreate('kek');
    await keys.rotate('kek');
    for (const version of ['3', '0', '01', '-1', '1.5', '../kek/1', '', 'latest']) {
      const err = await failure(keys.get('kek', version));
      expect(err.code).toBe('ENOKEY');
      expect(err.message).toBe(`key kek has no version ${version} in ${dir} (versions: 1, 2)`);
    }
    expect((await failure(keys.get('other', '1'))).message).toBe(`key other has no version 1 in ${dir} (versions: none)`);
  });

  it('refuses a bad size without creating anything', async () => {
    // @ts-expect-error: a size the type does not allow, as plain JavaScript could pass it
    const err = await failure(keys.rotate('kek', { bits: 100 }));
    expect(err.message).toBe('key size must be 128, 192 or 256 bits, got 100');
    expect(existsSync(dir)).toBe(false);
  });

  it('createKeyProvider picks the provider the configuration names', async () => {
    const local = await createKeyProvider({ ...DEFAULTS, keys: { ...DEFAULTS.keys, dir } });
    expect(local).toBeInstanceOf(LocalKeyProvider);
    const azure = await createKeyProvider({ ...DEFAULTS, keys: { ...DEFAULTS.keys, provider: 'azure-keyvault', vaultUrl: 'https://v.vault.azure.net/' } });
    expect(azure).toBeInstanceOf(AzureKeyVaultProvider);
    expect((azure as AzureKeyVaultProvider).vaultUrl).toBe('https://v.vault.azure.net');
    const missing = await failure(createKeyProvider({ ...DEFAULTS, keys: { ...DEFAULTS.keys, provider: 'azure-keyvault' } }));
    expect(missing.message).toMatch(/^keys\.vaultUrl is missing/);
    const unknown = await failure(createKeyProvider({ ...DEFAULTS, keys: { ...DEFAULTS.keys, provider: 'hsm' as 'local' } }));
    expect(unknown.message).toBe("keys.provider is 'hsm'; use one of: local, azure-keyvault");
  });
});

describe('AzureKeyVaultProvider against the Key Vault stand-in (real SecretClient over TLS)', () => {
  const TOKEN = 'test-token-' + 'a'.repeat(16);
  let standin: Standin;
  const scopes: string[] = [];
  /** Every key the vault handed out and every error message seen, for the final no-leak check. */
  const seenKeys: Uint8Array[] = [];
  const messages: string[] = [];

  const tokenCredential = (token: string): TokenCredential => ({
    getToken: async (scope) => {
      scopes.push(...[scope].flat());
      return { token, expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  });

  const clientOptions = (): SecretClientOptions => ({
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: standin.ca },
    retryOptions: { maxRetries: 0 },
  });

  const provider = (token = TOKEN, url = standin.url) =>
    new AzureKeyVaultProvider({ vaultUrl: url, credential: tokenCredential(token), clientOptions: clientOptions() });

  /** The plain SDK client, to look at what sealcam stored the way an operator would. */
  const raw = () => new SecretClient(standin.url, tokenCredential(TOKEN), clientOptions());

  async function refusal(promise: Promise<unknown>): Promise<SealcamError> {
    const err = await failure(promise);
    messages.push(err.message);
    return err;
  }

  beforeAll(async () => {
    standin = await startKeyVaultStandin({ token: TOKEN, forbiddenToken: 'read-nothing', pageSize: 2 });
  });

  afterAll(async () => {
    await standin?.close();
  });

  it('does the bearer-challenge handshake, then creates the key as a tagged base64 secret', async () => {
    const kv = provider();
    const created = await kv.getOrCreate('sealcam-kek');
    seenKeys.push(created.key);
    expect(created.key).toHaveLength(16);
    expect(created.version).toMatch(/^[0-9a-f]{32}$/);
    expect(created.createdOn).toBeInstanceOf(Date);
    expect(created.enabled).toBe(true);

    // First request: no token, answered by the challenge; then the token for the vault's scope.
    expect(standin.requests[0]!.authorization).toBeUndefined();
    expect(standin.requests.slice(1).every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(scopes).toContain('https://vault.azure.net/.default');

    const stored = await raw().getSecret('sealcam-kek', { version: created.version });
    expect(stored.value).toBe(Buffer.from(created.key).toString('base64'));
    expect(stored.properties.contentType).toBe('application/octet-stream; sealcam-kek');
    expect(stored.properties.tags).toEqual({ sealcam: 'kek', bits: '128' });

    const again = await kv.getOrCreate('sealcam-kek');
    expect(again.version).toBe(created.version);
    expect(hex(again.key)).toBe(hex(created.key));
  });

  it('rotates, gets any version back and lists all versions across several pages, newest first', async () => {
    const kv = provider();
    const first = await kv.getOrCreate('cam-kek', { bits: 256 });
    const rotated = [first];
    for (let i = 0; i < 4; i++) rotated.push(await kv.rotate('cam-kek', { bits: i % 2 ? 192 : 256 }));
    seenKeys.push(...rotated.map((m) => m.key));
    expect(new Set(rotated.map((m) => m.version)).size).toBe(5);
    expect((await raw().getSecret('cam-kek', { version: rotated[2]!.version })).properties.tags).toEqual({ sealcam: 'kek', bits: '192' });

    // Key Vault's created times have one-second resolution: spread them out instead of sleeping.
    rotated.forEach((m, i) => standin.setCreated('cam-kek', m.version, 1_700_000_000 + i * 60));

    const newest = await kv.getOrCreate('cam-kek');
    expect(newest.version).toBe(rotated[4]!.version);
    for (const m of rotated) expect(hex((await kv.get('cam-kek', m.version)).key)).toBe(hex(m.key));

    const pagesBefore = standin.requests.filter((r) => r.path === '/secrets/cam-kek/versions').length;
    const listed = await kv.list('cam-kek');
    const pages = standin.requests.filter((r) => r.path === '/secrets/cam-kek/versions').length - pagesBefore;
    expect(pages).toBe(3); // 5 versions, 2 per page
    expect(listed.map((v) => v.version)).toEqual(rotated.map((m) => m.version).reverse());
    expect(listed[0]).toEqual({ name: 'cam-kek', version: rotated[4]!.version, createdOn: new Date((1_700_000_000 + 240) * 1000), enabled: true });

    expect(await kv.list('never-made')).toEqual([]);
  });

  it('uses the newest enabled version when the current one is disabled', async () => {
    const kv = provider();
    const good = await kv.getOrCreate('disabled-kek');
    const bad = await kv.rotate('disabled-kek');
    seenKeys.push(good.key, bad.key);
    standin.setCreated('disabled-kek', good.version, 1_700_000_000);
    await raw().updateSecretProperties('disabled-kek', bad.version, { enabled: false });

    const chosen = await kv.getOrCreate('disabled-kek');
    expect(chosen.version).toBe(good.version);
    expect((await kv.list('disabled-kek')).map((v) => [v.version, v.enabled])).toEqual([
      [bad.version, false],
      [good.version, true],
    ]);
    const err = await refusal(kv.get('disabled-kek', bad.version));
    expect(err.code).toBe('EKEYDISABLED');
    expect(err.message).toBe(`key disabled-kek version ${bad.version} is disabled in Azure Key Vault ${standin.url}`);

    await raw().updateSecretProperties('disabled-kek', good.version, { enabled: false });
    const none = await refusal(kv.getOrCreate('disabled-kek'));
    expect(none.message).toBe(`key disabled-kek has no enabled version in Azure Key Vault ${standin.url}; sealcam keys rotate disabled-kek adds one`);
  });

  it('opens keys stored the way the reference scripts store them (base64 value, no tags)', async () => {
    const key = Buffer.alloc(16, 7);
    const secret = await raw().setSecret('script-key', key.toString('base64'));
    const got = await provider().get('script-key', secret.properties.version!);
    expect(Buffer.from(got.key)).toEqual(key);
  });

  it('refuses an unknown or empty version and a secret that is not a key, without quoting values', async () => {
    const kv = provider();
    const { key } = await kv.getOrCreate('sealcam-kek');
    seenKeys.push(key);
    const unknown = await refusal(kv.get('sealcam-kek', '0123456789abcdef0123456789abcdef'));
    expect(unknown.code).toBe('ENOKEY');
    expect(unknown.message).toBe(`key sealcam-kek has no version 0123456789abcdef0123456789abcdef in Azure Key Vault ${standin.url}`);
    for (const version of ['', '../x', 'a/b']) expect((await refusal(kv.get('sealcam-kek', version))).code).toBe('ENOKEY');

    const notAKey = await raw().setSecret('db-password', 'hunter2-hunter2-hunter2');
    const err = await refusal(kv.get('db-password', notAKey.properties.version!));
    expect(err.code).toBe('EKEYSIZE');
    expect(err.message).not.toContain('hunter2');

    for (const name of ['under_score', 'a.b', '../secrets', '']) expect((await refusal(kv.list(name))).code).toBe('EINPUT');
  });

  it('a wrong token or missing permissions give the clear refusal, naming the vault', async () => {
    const expected = `Azure Key Vault ${standin.url} refused access (check az login / managed identity and that it has the Key Vault Secrets Officer role, or Get/Set/List secret permissions)`;
    for (const token of ['wrong-token', 'read-nothing']) {
      const kv = provider(token);
      // Each refusal is caught as it is made: one awaited later would reject unhandled meanwhile.
      const refusals = [kv.getOrCreate('sealcam-kek'), kv.rotate('sealcam-kek'), kv.list('sealcam-kek'), kv.get('sealcam-kek', 'abc')].map(refusal);
      for (const pending of refusals) {
        const err = await pending;
        expect(err.code).toBe('EKEYACCESS');
        expect(err.message).toBe(expected);
        expect(err.message).not.toContain(token);
      }
    }
  });

  it('an unavailable credential says how to sign in', async () => {
    const credential: TokenCredential = {
      getToken: async () => {
        throw new CredentialUnavailableError('DefaultAzureCredential: no credential\nline two');
      },
    };
    const kv = new AzureKeyVaultProvider({ vaultUrl: standin.url, credential, clientOptions: clientOptions() });
    const err = await refusal(kv.list('sealcam-kek'));
    expect(err.message).toBe(
      `no Azure credential for Azure Key Vault ${standin.url} (sign in with az login, or run with a managed identity or AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET)`,
    );
  });

  it('an unreachable or untrusted vault gives "cannot reach" with the cause', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    const down = await refusal(provider(TOKEN, `https://localhost:${closed}`).getOrCreate('sealcam-kek'));
    expect(down.message).toBe(`cannot reach Azure Key Vault https://localhost:${closed}: ECONNREFUSED`);

    // Without the test CA the real TLS check fails, as it would against an impostor.
    const untrusted = new AzureKeyVaultProvider({
      vaultUrl: standin.url,
      credential: tokenCredential(TOKEN),
      clientOptions: { disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } },
    });
    const tls = await refusal(untrusted.list('sealcam-kek'));
    expect(tls.message).toBe(`cannot reach Azure Key Vault ${standin.url}: UNABLE_TO_VERIFY_LEAF_SIGNATURE (its TLS certificate is not trusted)`);
  });

  it('refuses a vault URL that is not one', () => {
    expect(() => new AzureKeyVaultProvider({ vaultUrl: 'my-vault' })).toThrow(/keys\.vaultUrl "my-vault" is not a URL/);
  });

  it('no error message contains any key (base64 or hex)', () => {
    expect(seenKeys.length).toBeGreaterThan(5);
    expect(messages.length).toBeGreaterThan(10);
    expectNoKey(messages.join('\n'), seenKeys);
  });
});

describe('sealcam keys and sealcam config check (built CLI)', () => {
  let cwd: string;
  const sealcam = (args: string[], env: Record<string, string> = {}): Run => run(args, { cwd, env });

  const keyFile = (name: string, version: number, ring = '.config/sealcam/keys') => readFileSync(join(cwd, ring, name, `${version}.key`));

  beforeEach(() => {
    cwd = mkdtempSync(join(root, 'cli-'));
  });

  it('create, rotate, list and show-version work on the default key and never print key bytes', () => {
    const created = sealcam(['keys', 'create']);
    // The key lands in the per-user keyring (HOME is the test's directory), announced with its absolute path.
    expectOkCreatingKey(created, join(cwd, '.config/sealcam/keys/sealcam-kek/1.key'));
    expect(created.stdout).toMatch(/^NAME +VERSION +CREATED +ENABLED\nsealcam-kek +1 +\d{4}-\d\d-\d\dT[\d:.]+Z +yes\n$/);
    const k1 = keyFile('sealcam-kek', 1);
    expect(k1).toHaveLength(16);
    expect(mode(join(cwd, '.config/sealcam/keys/sealcam-kek/1.key'))).toBe(0o600);
    expect(mode(join(cwd, '.config/sealcam/keys/sealcam-kek'))).toBe(0o700);

    const again = sealcam(['keys', 'create']);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('key sealcam-kek exists (1 version); sealcam keys rotate adds a version');
    expect(keyFile('sealcam-kek', 1)).toEqual(k1);

    const rotated = sealcam(['keys', 'rotate', '--bits', '256']);
    expect(rotated.status).toBe(0);
    expect(rotated.stdout).toMatch(/\nsealcam-kek +2 /);
    const k2 = keyFile('sealcam-kek', 2);
    expect(k2).toHaveLength(32);

    const listed = sealcam(['keys', 'list']);
    expect(listed.status).toBe(0);
    expect(listed.stdout.split('\n').filter(Boolean).map((l) => l.split(/ +/).slice(0, 2).join(' '))).toEqual([
      'NAME VERSION',
      'sealcam-kek 2',
      'sealcam-kek 1',
    ]);

    const shown = sealcam(['keys', 'show-version', '2']);
    expect(shown.status).toBe(0);
    const fingerprint = createHash('sha256').update(k2).digest('hex').slice(0, 8);
    expect(shown.stdout).toMatch(new RegExp(`^fingerprint +${fingerprint} \\(first 8 hex digits of the key's SHA-256\\)$`, 'm'));
    expect(shown.stdout).toMatch(/^bits +256$/m);
    expect(shown.stdout).toMatch(/^version +2$/m);

    for (const r of [created, again, rotated, listed, shown]) expectNoKey(r.stdout + r.stderr, [k1, k2]);
  });

  it('takes a key name, --keys-dir and the config file; refuses bad input in one line', () => {
    writeFileSync(join(cwd, 'sealcam.config.json'), JSON.stringify({ keys: { name: 'from-config', dir: 'ring' } }));
    expect(sealcam(['keys', 'create']).status).toBe(0);
    expect(existsSync(join(cwd, 'ring/from-config/1.key'))).toBe(true);
    expect(sealcam(['keys', 'rotate', 'cam-7', '--keys-dir', 'other']).status).toBe(0);
    expect(existsSync(join(cwd, 'other/cam-7/1.key'))).toBe(true);
    mkdirSync(join(cwd, 'cfg'));
    writeFileSync(join(cwd, 'cfg/alt.json'), JSON.stringify({ keys: { dir: 'alt-ring' } }));
    expect(sealcam(['keys', 'create', 'x', '--config', 'cfg/alt.json']).status).toBe(0);
    expect(existsSync(join(cwd, 'alt-ring/x/1.key'))).toBe(true);

    const cases: [string[], string][] = [
      [['keys', 'show-version', '9'], `sealcam: key from-config has no version 9 in ${join(cwd, 'ring')} (versions: 1)\n`],
      [['keys', 'list', 'unknown'], 'sealcam: key unknown has no versions yet; sealcam keys create unknown makes one\n'],
      [['keys', 'create', '../escape'], `sealcam: key name "../escape" is not valid: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit\n`],
      [['keys', 'rotate', '--bits', '100'], 'sealcam: --bits must be 128, 192 or 256, got 100\n'],
      [['keys', 'list', '--provider', 'azure-keyvault'], 'sealcam: keys.vaultUrl is missing: set it to https://<your-vault>.vault.azure.net (or SEALCAM_VAULT_URL)\n'],
      [['keys', 'list', '--provider', 'hsm'], "sealcam: keys.provider is 'hsm'; use one of: local, azure-keyvault\n"],
    ];
    for (const [args, stderr] of cases) {
      const r = sealcam(args);
      expect(r.stderr, args.join(' ')).toBe(stderr);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
    }

    chmodSync(join(cwd, 'ring/from-config/1.key'), 0o644);
    const exposed = sealcam(['keys', 'show-version', '1']);
    expect(exposed.status).toBe(1);
    expect(exposed.stderr).toMatch(/^sealcam: key file .*1\.key is readable or writable by group or others \(mode 0644\); restrict it with: chmod 600 /);
    expectNoKey(exposed.stdout + exposed.stderr, [keyFile('from-config', 1, 'ring')]);
  });

  it('config check prints the settings in use, each with where it came from, and exits 0 when they can work', () => {
    writeFileSync(join(cwd, 'sealcam.config.json'), JSON.stringify({ device: { id: 'cam-09' }, store: { kind: 'azure' } }));
    const r = sealcam(['config', 'check', '--engine', 'native'], { SEALCAM_JOBS: '2', AZURE_STORAGE_CONNECTION_STRING: 'AccountKey=very-secret' });
    expect(r.stderr).toBe('config file sealcam.config.json\n');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('keys.provider = local  [default]\n');
    expect(r.stdout).toContain(`keys.dir = ${join(cwd, '.config/sealcam/keys')}  [default]\n`);
    expect(r.stdout).toContain('device.id = cam-09  [file sealcam.config.json]\n');
    expect(r.stdout).toContain('seal.jobs = 2  [env SEALCAM_JOBS]\n');
    expect(r.stdout).toContain('seal.engine = native  [flag --engine]\n');
    expect(r.stdout).toContain('store.connectionStringEnv = AZURE_STORAGE_CONNECTION_STRING (set)  [default]\n');
    expect(r.stdout).not.toContain('very-secret');
    expect(r.stdout).toMatch(/configuration OK\n$/);
  });

  it('config check exits 1 with plain words for a broken config file', () => {
    const write = (body: string) => writeFileSync(join(cwd, 'broken.json'), body);
    const check = () => sealcam(['config', 'check', '--config', 'broken.json']);

    write('{ "keys": { "provider": "local", } ');
    expect(check()).toMatchObject({ status: 1, stdout: '', stderr: 'sealcam: config file broken.json is not valid JSON\n' });
    write(JSON.stringify({ kyes: {} }));
    expect(check()).toMatchObject({ status: 1, stderr: "sealcam: broken.json: unknown section 'kyes' (known: keys, store, device, seal, notify, receiver)\n" });
    write(JSON.stringify({ seal: { segmentSize: 'big' } }));
    expect(check()).toMatchObject({ status: 1, stderr: 'sealcam: broken.json: seal.segmentSize must be a number, got big\n' });
    expect(sealcam(['config', 'check', '--config', 'missing.json'])).toMatchObject({ status: 1, stderr: 'sealcam: config file missing.json not found\n' });

    write(JSON.stringify({ keys: { provider: 'azure-keyvault' }, seal: { jobs: -1 } }));
    const r = check();
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('keys.provider = azure-keyvault  [file broken.json]\n');
    expect(r.stderr).toBe(
      'config file broken.json\n' +
        'sealcam: keys.vaultUrl is missing: set it to https://<your-vault>.vault.azure.net (or SEALCAM_VAULT_URL)\n' +
        'sealcam: seal.jobs must be 0 (one per core) or a positive integer\n',
    );
  });
});
