import { randomBytes } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import { CryptographyClient, type CryptographyClientOptions } from '@azure/keyvault-keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationError, SealcamError } from '../src/errors.js';
import { KeyVaultIdentity, keyVaultRecipient } from '../src/keys/keyvault-keys.js';
import { KmsIdentity, kmsRecipient, type KmsOptions } from '../src/keys/kms.js';
import { RsaRecipient } from '../src/keys/rsa-oaep.js';
import { startKeyVaultKeysStandin, type KeysStandin } from './fixtures/keyvault-keys-standin.js';
import { startKmsStandin, type KmsStandin } from './fixtures/kms-standin.js';
import { sealcamAsync } from './helpers/cli.js';

/**
 * Vault-held RSA recipients with the real SDK clients over real sockets on 127.0.0.1. Neither Key
 * Vault nor KMS runs here, so both servers are STAND-INS (test/fixtures/keyvault-keys-standin.ts,
 * test/fixtures/kms-standin.ts) speaking the services' protocols with real RSA. The camera's side
 * (wrap) never calls them; the receiver's side (unwrap) calls them only for its own stanzas.
 */

/** The rejection of `promise`: a SealcamError whose message is one line. */
async function oneLineFailure(promise: Promise<unknown>): Promise<SealcamError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SealcamError);
  expect((err as Error).message).not.toContain('\n');
  return err as SealcamError;
}

describe('Azure Key Vault RSA keys (stand-in server, real @azure/keyvault-keys clients over TLS)', () => {
  const TOKEN = 'keys-token-' + 'b'.repeat(16);
  let standin: KeysStandin;
  let v1: string;
  let v2: string;

  const credential = (token = TOKEN): TokenCredential => ({ getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) });
  const clientOptions = (): CryptographyClientOptions => ({
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: standin.ca },
    retryOptions: { maxRetries: 0 },
  });
  const options = (token = TOKEN) => ({ credential: credential(token), clientOptions: clientOptions() });

  beforeAll(async () => {
    standin = await startKeyVaultKeysStandin({ token: TOKEN, forbiddenToken: 'no-permissions' });
    v1 = standin.createKey('fleet-wrap');
    v2 = standin.createKey('fleet-wrap');
  });
  afterAll(async () => standin?.close());

  it('keyVaultRecipient fetches the current version through the challenge handshake and names its full key id', async () => {
    const before = standin.requests.length;
    const recipient = await keyVaultRecipient(`${standin.url}/keys/fleet-wrap`, options());
    expect(recipient.location).toEqual({ kind: 'azure-kv', keyId: v2 });
    expect(recipient.text).toMatch(new RegExp(`^sealcam-azure-kv:${v2.replace(/[.]/g, '\\.')},[A-Za-z0-9_-]+$`));
    const calls = standin.requests.slice(before);
    expect(calls[0]!.authorization).toBeUndefined(); // the handshake's first request
    expect(calls.at(-1)).toMatchObject({ method: 'GET', path: '/keys/fleet-wrap/', authorization: `Bearer ${TOKEN}` });
  });

  it('a camera wraps with the recipient text alone (no vault call); the identity unwraps through the vault', async () => {
    const text = (await keyVaultRecipient(v1, options())).text;
    const before = standin.requests.length;
    const fileKey = randomBytes(16);
    const stanza = RsaRecipient.parse(text).wrap(fileKey);
    expect(standin.requests.length).toBe(before);
    const identity = new KeyVaultIdentity(RsaRecipient.parse(text), options());
    expect(await identity.unwrap(stanza)).toEqual(new Uint8Array(fileKey));
    const paths = standin.requests.slice(before).map((r) => `${r.method} ${r.path}`);
    expect(paths).toContain(`POST ${new URL(v1).pathname}/unwrapkey`);
  });

  it('what the vault itself wraps (wrapKey RSA-OAEP-256) is a stanza body the identity opens', async () => {
    const recipient = await keyVaultRecipient(v1, options());
    const fileKey = randomBytes(32);
    const wrapped = await new CryptographyClient(v1, credential(), clientOptions()).wrapKey('RSA-OAEP-256', fileKey);
    expect(standin.requests.at(-1)).toMatchObject({ method: 'POST', path: `${new URL(v1).pathname}/wrapkey` });
    const identity = new KeyVaultIdentity(recipient, options());
    expect(await identity.unwrap({ type: 'rsa-oaep-256', fingerprint: recipient.fingerprint, body: wrapped.result })).toEqual(new Uint8Array(fileKey));
  });

  it('the identity returns undefined, without calling the vault, for a stanza of another key version', async () => {
    const identity = new KeyVaultIdentity(await keyVaultRecipient(v2, options()), options());
    const stanza = (await keyVaultRecipient(v1, options())).wrap(randomBytes(16));
    const before = standin.requests.length;
    expect(await identity.unwrap(stanza)).toBeUndefined();
    expect(standin.requests.length).toBe(before);
  });

  it('a recipient text naming the wrong key version (v2 with v1 public key) fails with a one-line AuthenticationError', async () => {
    const v1Recipient = await keyVaultRecipient(v1, options());
    const mislabelled = RsaRecipient.parse(`sealcam-azure-kv:${v2},${Buffer.from(v1Recipient.spki).toString('base64url')}`);
    const err = await oneLineFailure(new KeyVaultIdentity(mislabelled, options()).unwrap(v1Recipient.wrap(randomBytes(16))));
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(err.message).toMatch(/did not unwrap the stanza \(wrong key version, or the stanza was altered\)/);
  });

  it('a tampered stanza fails with a one-line AuthenticationError', async () => {
    const recipient = await keyVaultRecipient(v1, options());
    const stanza = recipient.wrap(randomBytes(16));
    stanza.body[7]! ^= 0x80;
    const err = await oneLineFailure(new KeyVaultIdentity(recipient, options()).unwrap(stanza));
    expect(err).toBeInstanceOf(AuthenticationError);
  });

  it('a version that does not exist, a disabled version and a token without permissions each fail in one line', async () => {
    const recipient = await keyVaultRecipient(v1, options());
    const stanza = recipient.wrap(randomBytes(16));
    const spki = Buffer.from(recipient.spki).toString('base64url');
    const missing = `${standin.url}/keys/fleet-wrap/${'0'.repeat(32)}`;
    const gone = await oneLineFailure(new KeyVaultIdentity(RsaRecipient.parse(`sealcam-azure-kv:${missing},${spki}`), options()).unwrap(stanza));
    expect(gone.message).toBe(`Azure Key Vault key ${missing} does not exist (check the key name and version)`);
    const forbidden = await oneLineFailure(new KeyVaultIdentity(recipient, options('no-permissions')).unwrap(stanza));
    expect(forbidden.code).toBe('EKEYACCESS');
    expect(forbidden.message).toMatch(/Key Vault Crypto User role/);
    const v3 = standin.createKey('fleet-wrap');
    const v3Recipient = await keyVaultRecipient(v3, options());
    standin.disable('fleet-wrap', new URL(v3).pathname.split('/')[3]!);
    const disabled = await oneLineFailure(new KeyVaultIdentity(v3Recipient, options()).unwrap(v3Recipient.wrap(randomBytes(16))));
    expect(disabled.code).toBe('EKEYDISABLED');
  });

  it('keyVaultRecipient refuses a malformed key id and reports a missing key in one line', async () => {
    await expect(keyVaultRecipient(`${standin.url}/secrets/fleet-wrap`, options())).rejects.toThrow(/is not of the form https:\/\/<vault>/);
    const err = await oneLineFailure(keyVaultRecipient(`${standin.url}/keys/no-such-key`, options()));
    expect(err.code).toBe('ENOKEY');
  });
});

describe('AWS KMS RSA keys (stand-in server, real @aws-sdk/client-kms client)', () => {
  const ACCESS_KEY = 'AKIASEALCAMTEST00001';
  let kms: KmsStandin;
  let keyA: string;
  let keyB: string;
  const options = (accessKeyId = ACCESS_KEY): KmsOptions => ({
    clientConfig: { endpoint: kms.endpoint, region: kms.region, credentials: { accessKeyId, secretAccessKey: 'test-secret' }, maxAttempts: 1 },
  });

  beforeAll(async () => {
    kms = await startKmsStandin({ accessKeyId: ACCESS_KEY });
    keyA = kms.createKey();
    keyB = kms.createKey(3072);
  });
  afterAll(async () => kms?.close());

  it('kmsRecipient calls GetPublicKey and names the key ARN, also when given the bare key id', async () => {
    const recipient = await kmsRecipient(keyA.split('/')[1]!, options());
    expect(recipient.location).toEqual({ kind: 'aws-kms', keyArn: keyA });
    expect(recipient.text.startsWith(`sealcam-aws-kms:${keyA},`)).toBe(true);
    expect(kms.requests.at(-1)).toMatchObject({ method: 'POST', target: 'TrentService.GetPublicKey' });
  });

  it('sealcam keys recipient <ARN> prints the recipient text through the AWS credential chain and AWS_ENDPOINT_URL_KMS', async () => {
    const env = { AWS_ACCESS_KEY_ID: ACCESS_KEY, AWS_SECRET_ACCESS_KEY: 'test-secret', AWS_REGION: kms.region, AWS_ENDPOINT_URL_KMS: kms.endpoint, AWS_MAX_ATTEMPTS: '1' };
    const run = await sealcamAsync(['keys', 'recipient', keyA], { env });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe(`${(await kmsRecipient(keyA, options())).text}\n`);
    expect(run.stderr).toMatch(/^fingerprint rsa-oaep-256:[0-9a-f]+: give the text to cameras/);
    const json = await sealcamAsync(['keys', 'recipient', keyA, '--json'], { env });
    expect(JSON.parse(json.stdout)).toEqual({ recipient: run.stdout.trim(), fingerprint: expect.stringMatching(/^rsa-oaep-256:[0-9a-f]+$/) });
  });

  it('sealcam keys recipient refuses a URL that names no key service, in one line', async () => {
    const run = await sealcamAsync(['keys', 'recipient', 's3://bucket/key']);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe('sealcam: s3:// is not a key service: give a Key Vault key id (https://<vault>.vault.azure.net/keys/<name>) or a KMS key ARN, key id or alias\n');
  });

  it('a camera wraps with the recipient text alone (no KMS call); the identity unwraps with KMS Decrypt', async () => {
    const text = (await kmsRecipient(keyB, options())).text;
    const before = kms.requests.length;
    const fileKey = randomBytes(32);
    const stanza = RsaRecipient.parse(text).wrap(fileKey);
    expect(stanza.body).toHaveLength(384);
    expect(kms.requests.length).toBe(before);
    expect(await new KmsIdentity(RsaRecipient.parse(text), options()).unwrap(stanza)).toEqual(new Uint8Array(fileKey));
    expect(kms.requests.slice(before).map((r) => r.target)).toEqual(['TrentService.Decrypt']);
  });

  it('the identity returns undefined, without calling KMS, for a stanza of another key', async () => {
    const identity = new KmsIdentity(await kmsRecipient(keyA, options()), options());
    const stanza = (await kmsRecipient(keyB, options())).wrap(randomBytes(16));
    const before = kms.requests.length;
    expect(await identity.unwrap(stanza)).toBeUndefined();
    expect(kms.requests.length).toBe(before);
  });

  it('a tampered stanza, or a recipient text naming the wrong key, fails with a one-line AuthenticationError', async () => {
    const recipient = await kmsRecipient(keyA, options());
    const stanza = recipient.wrap(randomBytes(16));
    const tampered = { ...stanza, body: Uint8Array.from(stanza.body) };
    tampered.body[0]! ^= 0x01;
    expect(await oneLineFailure(new KmsIdentity(recipient, options()).unwrap(tampered))).toBeInstanceOf(AuthenticationError);
    const mislabelled = RsaRecipient.parse(`sealcam-aws-kms:${keyB},${Buffer.from(recipient.spki).toString('base64url')}`);
    const err = await oneLineFailure(new KmsIdentity(mislabelled, options()).unwrap(stanza));
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(err.message).toMatch(new RegExp(`^AWS KMS key ${keyB} .* did not unwrap the stanza`));
  });

  it('unknown credentials, a disabled key and a missing key each fail in one line', async () => {
    const recipient = await kmsRecipient(keyA, options());
    const stanza = recipient.wrap(randomBytes(16));
    const denied = await oneLineFailure(new KmsIdentity(recipient, options('AKIAOTHERKEY00000000')).unwrap(stanza));
    expect(denied.code).toBe('EKEYACCESS');
    expect(denied.message).toMatch(/kms:Decrypt permission/);
    const missing = await oneLineFailure(kmsRecipient('arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000', options()));
    expect(missing.code).toBe('ENOKEY');
    const keyC = kms.createKey();
    const recipientC = await kmsRecipient(keyC, options());
    kms.disable(keyC);
    const disabled = await oneLineFailure(new KmsIdentity(recipientC, options()).unwrap(recipientC.wrap(randomBytes(16))));
    expect(disabled.code).toBe('EKEYDISABLED');
  });
});
