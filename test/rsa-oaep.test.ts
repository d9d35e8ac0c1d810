import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AuthenticationError } from '../src/errors.js';
import { LocalRsaIdentity, RsaRecipient, rsaOaepDecrypt, rsaOaepEncrypt } from '../src/keys/rsa-oaep.js';
import { keyFingerprint } from '../src/keys/stanza.js';
import { hex, toHex, wycheproof, type WycheproofGroup, type WycheproofTest } from './helpers/public-key-vectors.js';

/**
 * RSA-OAEP with SHA-256 and MGF1-SHA-256 (Key Vault's RSA-OAEP-256, KMS's RSAES_OAEP_SHA_256) on
 * Wycheproof's 2048- and 3072-bit files (37 cases each), then the RSA recipient text forms and the
 * local PEM identity. The vault identities are tested against stand-ins in vault-keys.test.ts.
 */

interface OaepTest extends WycheproofTest {
  msg: string;
  ct: string;
  label: string;
}
interface OaepGroup extends WycheproofGroup<OaepTest> {
  privateKeyPkcs8: string;
  keySize: number;
}

const FILES = ['rsa_oaep_2048_sha256_mgf1sha256_test.json', 'rsa_oaep_3072_sha256_mgf1sha256_test.json'];

describe.each(FILES)('Wycheproof %s', (file) => {
  const cases = wycheproof<OaepGroup, OaepTest>(file);
  const keyOf = (g: OaepGroup) => createPrivateKey({ key: Buffer.from(g.privateKeyPkcs8, 'hex'), format: 'der', type: 'pkcs8' });
  const valid = cases.filter((c) => c.test.result === 'valid');
  const invalid = cases.filter((c) => c.test.result === 'invalid');
  const labelled = valid.filter((c) => c.test.label !== '');

  it('has 37 cases: 18 valid (8 with a label), 19 invalid, none merely acceptable', () => {
    expect(valid).toHaveLength(18);
    expect(labelled).toHaveLength(8);
    expect(invalid).toHaveLength(19);
  });

  it('decrypts every valid case to its message (18)', () => {
    for (const { group, test } of valid) {
      const label = test.label === '' ? undefined : hex(test.label);
      expect(toHex(rsaOaepDecrypt(keyOf(group), hex(test.ct), label)), `tcId ${test.tcId}`).toBe(test.msg);
    }
  });

  it('refuses every invalid case with the same AuthenticationError (19: bad padding, out-of-range or mis-sized ciphertexts)', () => {
    const messages = new Set<string>();
    for (const { group, test } of invalid) {
      const label = test.label === '' ? undefined : hex(test.label);
      let error: unknown;
      try {
        rsaOaepDecrypt(keyOf(group), hex(test.ct), label);
      } catch (err) {
        error = err;
      }
      expect(error, `tcId ${test.tcId}`).toBeInstanceOf(AuthenticationError);
      messages.add((error as Error).message);
    }
    expect(messages.size).toBe(1);
  });

  it('refuses the labelled cases without their label: sealcam wraps with the empty label only', () => {
    for (const { group, test } of labelled) expect(() => rsaOaepDecrypt(keyOf(group), hex(test.ct)), `tcId ${test.tcId}`).toThrow(AuthenticationError);
  });

  it('encrypts with the public key so that the same key decrypts every valid message again', () => {
    for (const { group, test } of valid) {
      const privateKey = keyOf(group);
      const label = test.label === '' ? undefined : hex(test.label);
      const ct = rsaOaepEncrypt(createPublicKey(privateKey), hex(test.msg), label);
      expect(ct).toHaveLength(group.keySize / 8);
      expect(toHex(rsaOaepDecrypt(privateKey, ct, label))).toBe(test.msg);
    }
  });
});

describe('RSA recipients', () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const identity = LocalRsaIdentity.fromPrivateKey(privateKey);
  const spki = identity.recipient.spki;
  const b64 = Buffer.from(spki).toString('base64url');
  const keyId = 'https://fleet.vault.azure.net/keys/fleet-wrap/0123456789abcdef0123456789abcdef';
  const keyArn = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

  it('the fingerprint is keyFingerprint("rsa-oaep-256", SPKI DER), the same wherever the private half lives', () => {
    const local = RsaRecipient.parse(`sealcam-rsa-oaep-256:${b64}`);
    const kv = RsaRecipient.parse(`sealcam-azure-kv:${keyId},${b64}`);
    const kms = RsaRecipient.parse(`sealcam-aws-kms:${keyArn},${b64}`);
    for (const r of [local, kv, kms]) expect(r.fingerprint).toEqual(keyFingerprint('rsa-oaep-256', spki));
    expect(kv.location).toEqual({ kind: 'azure-kv', keyId });
    expect(kms.location).toEqual({ kind: 'aws-kms', keyArn });
  });

  it('the text forms parse back to themselves', () => {
    for (const text of [`sealcam-rsa-oaep-256:${b64}`, `sealcam-azure-kv:${keyId},${b64}`, `sealcam-aws-kms:${keyArn},${b64}`]) {
      expect(RsaRecipient.parse(text).text).toBe(text);
    }
  });

  it.each([
    ['a Key Vault key id without a version', `sealcam-azure-kv:https://fleet.vault.azure.net/keys/fleet-wrap,${b64}`, /is not of the form/],
    ['a Key Vault key id over http', `sealcam-azure-kv:${keyId.replace('https', 'http')},${b64}`, /is not of the form/],
    ['a Key Vault key id with a query', `sealcam-azure-kv:${keyId}?x=1,${b64}`, /is not of the form/],
    ['a KMS alias', `sealcam-aws-kms:arn:aws:kms:eu-west-1:111122223333:alias/fleet,${b64}`, /not a key ARN/],
    ['a missing public key', `sealcam-aws-kms:${keyArn}`, /not an RSA recipient/],
    ['a damaged public key', `sealcam-rsa-oaep-256:${b64.slice(0, -4)}`, /not a DER SubjectPublicKeyInfo/],
  ])('refuses %s in one line', (_what, text, message) => {
    expect(() => RsaRecipient.parse(text)).toThrow(message);
  });

  it('refuses an RSA key below 2048 bits and a key that is not RSA', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'der', type: 'spki' });
    expect(() => RsaRecipient.parse(`sealcam-rsa-oaep-256:${small.toString('base64url')}`)).toThrow(/1024 bits; sealcam takes 2048 to 4096/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
    expect(() => RsaRecipient.parse(`sealcam-rsa-oaep-256:${ec.toString('base64url')}`)).toThrow(/is ec, not RSA/);
  });

  it('wraps a file key into a stanza the local identity unwraps', async () => {
    const recipient = RsaRecipient.parse(`sealcam-azure-kv:${keyId},${b64}`);
    const fileKey = randomBytes(32);
    const stanza = recipient.wrap(fileKey);
    expect(stanza.type).toBe('rsa-oaep-256');
    expect(stanza.body).toHaveLength(256);
    expect(await identity.unwrap(stanza)).toEqual(new Uint8Array(fileKey));
  });

  it('the local identity ignores a stanza for another key and refuses an altered one', async () => {
    const other = LocalRsaIdentity.fromPrivateKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
    expect(await identity.unwrap(other.recipient.wrap(randomBytes(16)))).toBeUndefined();
    const stanza = identity.recipient.wrap(randomBytes(16));
    const body = Uint8Array.from(stanza.body);
    body[100]! ^= 0x01;
    await expect(identity.unwrap({ ...stanza, body })).rejects.toThrow(AuthenticationError);
  });

  it('refuses an unwrapped value that is not a file key (someone wrapped 20 bytes with the public key)', async () => {
    const body = rsaOaepEncrypt(identity.recipient.publicKey, new Uint8Array(20));
    await expect(identity.unwrap({ type: 'rsa-oaep-256', fingerprint: identity.fingerprint, body })).rejects.toThrow(/holds 20 bytes, not a 16-, 24- or 32-byte file key/);
  });

  it('reads a PKCS #8 and a PKCS #1 PEM key, and refuses an encrypted one without echoing it', () => {
    const pkcs8 = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const pkcs1 = privateKey.export({ format: 'pem', type: 'pkcs1' }) as string;
    expect(LocalRsaIdentity.fromPem(pkcs8, 'k.pem').fingerprint).toEqual(identity.fingerprint);
    expect(LocalRsaIdentity.fromPem(pkcs1, 'k.pem').fingerprint).toEqual(identity.fingerprint);
    const encrypted = privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'x' }) as string;
    expect(() => LocalRsaIdentity.fromPem(encrypted, 'k.pem')).toThrow(/key file k\.pem is not an unencrypted RSA private key in PEM/);
  });
});
