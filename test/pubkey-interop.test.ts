import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DeviceSigningKey, verifyEd25519 } from '../src/keys/ed25519.js';
import { LocalRsaIdentity, RsaRecipient } from '../src/keys/rsa-oaep.js';
import { X25519Identity } from '../src/keys/x25519.js';
import { packageRoot } from '../src/paths.js';
import { readVectorJson } from './helpers/public-key-vectors.js';

/**
 * sealcam's recipients and signatures against an independent implementation:
 * test/helpers/pubkey_interop.py, written from docs/RECIPIENTS.md with Debian's python3-cryptography
 * (for /usr/bin/python3). Python first proves its own HPKE on the RFC 9180 values, then opens what
 * sealcam wrapped and verifies what sealcam signed, and the other way round. Missing
 * python3-cryptography is a failure, not a skip: CI installs it.
 */

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(packageRoot, 'test', 'helpers', 'pubkey_interop.py');
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64'));

type Result = Record<string, string | boolean | string[]>;

function python(ops: Record<string, unknown>[]): Result[] {
  const r = spawnSync(PYTHON, [SCRIPT], { input: JSON.stringify(ops), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${SCRIPT} exited ${r.status}: ${r.stderr}`);
  const results = JSON.parse(r.stdout) as Result[];
  expect(results).toHaveLength(ops.length);
  return results;
}

describe('the Python implementation checks itself on RFC 9180', () => {
  interface Setup {
    mode: string;
    aead_id: string;
    encryptions: { ct: string }[];
    [field: string]: unknown;
  }
  const setups = readVectorJson<{ vectors: Setup[] }>('hpke-rfc9180-x25519.json').vectors.filter((v) => v.mode === '0' && v.encryptions.length > 0);

  it('reproduces the base-mode key schedules and all 12 encryptions (AES-128-GCM and ChaCha20-Poly1305)', () => {
    expect(setups.map((v) => v.aead_id).sort()).toEqual(['1', '3']);
    const results = python(setups.map((vector) => ({ op: 'hpke_vector', vector })));
    setups.forEach((v, i) => {
      const r = results[i]!;
      for (const field of ['enc', 'shared_secret', 'key_schedule_context', 'secret', 'key', 'base_nonce', 'exporter_secret']) expect(r[field], field).toBe(v[field]);
      expect(r.cts).toEqual(v.encryptions.map((x) => x.ct));
    });
  });
});

describe('x25519 stanzas', () => {
  // Any 32 bytes are an X25519 private key; sealcam and Python each derive the public key from them.
  const privateKey = new Uint8Array(randomBytes(32));
  const identity = X25519Identity.fromPrivateKey(privateKey);
  const fileKeys = [16, 24, 32, 16, 32].map((n) => new Uint8Array(randomBytes(n)));

  it('Python opens every stanza sealcam wrapped (16-, 24- and 32-byte keys), and refuses a tampered one', () => {
    const stanzas = fileKeys.map((k) => identity.recipient.wrap(k));
    const tampered = Uint8Array.from(stanzas[0]!.body);
    tampered[40]! ^= 1;
    const results = python([...stanzas.map((s) => ({ op: 'x25519_open', privateKey: b64(privateKey), body: b64(s.body) })), { op: 'x25519_open', privateKey: b64(privateKey), body: b64(tampered) }]);
    expect(results.slice(0, -1).map((r) => r.fileKey)).toEqual(fileKeys.map(b64));
    expect(results.at(-1)).toEqual({ error: 'InvalidTag' });
  });

  it('sealcam opens every stanza Python wrapped for sealcam\'s recipient', async () => {
    const results = python(fileKeys.map((k) => ({ op: 'x25519_wrap', publicKey: b64(identity.recipient.publicKey), fileKey: b64(k) })));
    for (const [i, r] of results.entries()) {
      expect(await identity.unwrap({ type: 'x25519', fingerprint: identity.fingerprint, body: bytes(r.body as string) })).toEqual(fileKeys[i]);
    }
  });
});

describe('RSA-OAEP-256 stanzas', () => {
  const identities = [2048, 3072, 4096].map((bits) => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
    return { identity: LocalRsaIdentity.fromPrivateKey(privateKey), pem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string };
  });

  it('Python unwraps what sealcam wrapped with 2048-, 3072- and 4096-bit keys', () => {
    const fileKey = new Uint8Array(randomBytes(32));
    const results = python(identities.map(({ identity, pem }) => ({ op: 'rsa_unwrap', pem, body: b64(identity.recipient.wrap(fileKey).body) })));
    expect(results.map((r) => r.fileKey)).toEqual(identities.map(() => b64(fileKey)));
  });

  it('sealcam unwraps what Python wrapped with the recipient\'s SPKI', async () => {
    const fileKey = new Uint8Array(randomBytes(16));
    const results = python(identities.map(({ identity }) => ({ op: 'rsa_wrap', spki: b64(identity.recipient.spki), fileKey: b64(fileKey) })));
    for (const [i, r] of results.entries()) {
      const { identity } = identities[i]!;
      expect(await identity.unwrap({ type: 'rsa-oaep-256', fingerprint: identity.fingerprint, body: bytes(r.body as string) })).toEqual(fileKey);
    }
  });
});

describe('Ed25519 device signatures', () => {
  const seed = new Uint8Array(randomBytes(32));
  const key = DeviceSigningKey.fromPrivateKey(seed);
  const messages = [0, 1, 64, 1000, 65_537].map((n) => new Uint8Array(randomBytes(n)));

  it('Python verifies every signature sealcam made, and refuses one for another message', () => {
    const ops = messages.map((m) => ({ op: 'ed25519_verify', publicKey: b64(key.publicKey.publicKey), message: b64(m), signature: b64(key.sign(m)) }));
    const wrong = { ...ops[1]!, message: b64(messages[2]!) };
    expect(python([...ops, wrong])).toEqual([...messages.map(() => ({ ok: true })), { error: 'InvalidSignature' }]);
  });

  it('sealcam verifies every signature Python made with the same key, byte for byte the same (Ed25519 is deterministic)', () => {
    const results = python(messages.map((m) => ({ op: 'ed25519_sign', privateKey: b64(seed), message: b64(m) })));
    for (const [i, r] of results.entries()) {
      const signature = bytes(r.signature as string);
      expect(verifyEd25519(key.publicKey.publicKey, messages[i]!, signature)).toBe(true);
      expect(signature).toEqual(key.sign(messages[i]!));
    }
  });
});

describe('text forms and fingerprints', () => {
  it('Python parses every recipient form and computes the same fingerprint from the documented definition', () => {
    const rsa = LocalRsaIdentity.fromPrivateKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey).recipient;
    const spki = Buffer.from(rsa.spki).toString('base64url');
    const keyId = 'https://fleet.vault.azure.net/keys/wrap/0123456789abcdef0123456789abcdef';
    const keyArn = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const kv = RsaRecipient.parse(`sealcam-azure-kv:${keyId},${spki}`);
    const kms = RsaRecipient.parse(`sealcam-aws-kms:${keyArn},${spki}`);
    const keys = [X25519Identity.generate().recipient, rsa, kv, kms, DeviceSigningKey.generate().publicKey];
    const results = python(keys.map((k) => ({ op: 'recipient', text: k.text })));
    results.forEach((r, i) => {
      const k = keys[i]!;
      expect(r.type).toBe(k.type);
      expect(r.fingerprint).toBe(Buffer.from(k.fingerprint).toString('hex'));
    });
    expect(results.map((r) => r.where)).toEqual(['local', 'local', keyId, keyArn, 'local']);
  });
});
