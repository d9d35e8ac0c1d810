import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DevicePublicKey, DeviceSigningKey, ED25519_SECRET_PREFIX, scalarBelowOrder, verifyEd25519 } from '../src/keys/ed25519.js';
import { keyFingerprint } from '../src/keys/stanza.js';
import { X25519Identity } from '../src/keys/x25519.js';
import { readSigningKeyFile, writeIdentityFile, writeSigningKeyFile } from '../src/keys/keypair-files.js';
import { tempDir } from './helpers/temp-dir.js';
import { hex, wycheproof, type WycheproofGroup, type WycheproofTest } from './helpers/public-key-vectors.js';

/**
 * Device signatures: strict Ed25519 verification on Wycheproof's ed25519_test.json (151 cases,
 * 63 of them invalid: malleable S, non-canonical R, wrong lengths), then the signing key, its text
 * form and its key file.
 */

interface EddsaTest extends WycheproofTest {
  msg: string;
  sig: string;
}
interface EddsaGroup extends WycheproofGroup<EddsaTest> {
  publicKey: { pk: string };
}

const cases = wycheproof<EddsaGroup, EddsaTest>('ed25519_test.json');
const valid = cases.filter((c) => c.test.result === 'valid');
const invalid = cases.filter((c) => c.test.result === 'invalid');
const verifyCase = ({ group, test }: (typeof cases)[number]) => verifyEd25519(hex(group.publicKey.pk), hex(test.msg), hex(test.sig));

describe('Ed25519 on Wycheproof ed25519_test.json', () => {
  it('has 151 cases: 88 valid, 63 invalid, none merely acceptable', () => {
    expect(valid).toHaveLength(88);
    expect(invalid).toHaveLength(63);
  });

  it('verifies every valid signature (88)', () => {
    for (const c of valid) expect(verifyCase(c), `tcId ${c.test.tcId}`).toBe(true);
  });

  it('refuses every invalid signature (63: malleable S, non-canonical or invalid R, truncated, with garbage)', () => {
    for (const c of invalid) expect(verifyCase(c), `tcId ${c.test.tcId} ${c.test.flags.join(',')}`).toBe(false);
  });

  it('refuses every malleable signature (S >= L) by its own S < L check, whatever OpenSSL does', () => {
    const malleable = invalid.filter((c) => c.test.flags.includes('SignatureMalleability') || c.test.flags.includes('InvalidKtv'));
    expect(malleable).toHaveLength(9);
    for (const c of malleable) expect(scalarBelowOrder(hex(c.test.sig).subarray(32, 64)), `tcId ${c.test.tcId}`).toBe(false);
  });
});

describe('the S < L check', () => {
  const L = (1n << 252n) + 27742317777372353535851937790883648493n;
  const le = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));

  it.each([
    ['0', 0n, true],
    ['L - 1', L - 1n, true],
    ['L', L, false],
    ['L + 1', L + 1n, false],
    ['2^255 - 1', (1n << 255n) - 1n, false],
    ['2^256 - 1', (1n << 256n) - 1n, false],
  ])('S = %s: %s', (_name, s, below) => {
    expect(scalarBelowOrder(le(s))).toBe(below);
  });
});

describe('device signing keys', () => {
  const key = DeviceSigningKey.generate();
  const message = randomBytes(200);

  it('sign() gives 64 bytes that verify under the public key, and not for another message or key', () => {
    const signature = key.sign(message);
    expect(signature).toHaveLength(64);
    expect(key.publicKey.verify(message, signature)).toBe(true);
    const other = Uint8Array.from(message);
    other[0]! ^= 1;
    expect(key.publicKey.verify(other, signature)).toBe(false);
    expect(DeviceSigningKey.generate().publicKey.verify(message, signature)).toBe(false);
  });

  it('refuses a malleated copy of its own signature (S + L)', () => {
    const signature = key.sign(message);
    const L = (1n << 252n) + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(signature[32 + i]!);
    const malleated = Uint8Array.from(signature);
    const sPlusL = s + L;
    for (let i = 0; i < 32; i++) malleated[32 + i] = Number((sPlusL >> BigInt(8 * i)) & 0xffn);
    expect(sPlusL < 1n << 256n).toBe(true);
    expect(verifyEd25519(key.publicKey.publicKey, message, malleated)).toBe(false);
  });

  it('the public text is sealcam-ed25519: and 43 base64url characters, and parses back', () => {
    expect(key.publicKey.text).toMatch(/^sealcam-ed25519:[A-Za-z0-9_-]{43}$/);
    const parsed = DevicePublicKey.parse(key.publicKey.text);
    expect(parsed.publicKey).toEqual(key.publicKey.publicKey);
    expect(parsed.fingerprint).toEqual(keyFingerprint('ed25519', parsed.publicKey));
    expect(() => DevicePublicKey.parse(key.publicKey.text.slice(0, -1))).toThrow(expect.objectContaining({ code: 'ESIGNKEY' }));
    expect(() => DevicePublicKey.parse(key.publicKey.text.replace('sealcam-ed25519:', 'sealcam-x25519:'))).toThrow(/not a device public key/);
  });

  it('verify returns false, never throws, for keys and signatures of the wrong size', () => {
    const signature = key.sign(message);
    expect(verifyEd25519(new Uint8Array(31), message, signature)).toBe(false);
    expect(verifyEd25519(key.publicKey.publicKey, message, signature.subarray(0, 63))).toBe(false);
    expect(verifyEd25519(key.publicKey.publicKey, message, new Uint8Array(65))).toBe(false);
  });
});

describe('signing key files', () => {
  const dir = tempDir('sealcam-ed25519-');

  it('write() makes the key 0600 and its .pub 0644; read() signs as the same device', async () => {
    const path = join(dir, 'cam-01.key');
    const key = DeviceSigningKey.generate();
    await writeSigningKeyFile(key, path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${path}.pub`, 'utf8')).toBe(`${key.publicKey.text}\n`);
    expect(readFileSync(path, 'utf8')).toMatch(new RegExp(`^${ED25519_SECRET_PREFIX}[A-Za-z0-9_-]{43}$`, 'm'));
    const back = await readSigningKeyFile(path);
    expect(back.publicKey.fingerprint).toEqual(key.publicKey.fingerprint);
    const message = randomBytes(10);
    expect(key.publicKey.verify(message, back.sign(message))).toBe(true);
  });

  it('refuses a signing key file that others can read', async () => {
    const path = join(dir, 'open.key');
    await writeSigningKeyFile(DeviceSigningKey.generate(), path);
    chmodSync(path, 0o604);
    await expect(readSigningKeyFile(path)).rejects.toThrow(/mode 0604/);
  });

  it('refuses an x25519 identity file as a signing key', async () => {
    const path = join(dir, 'fleet.key');
    await writeIdentityFile(X25519Identity.generate(), path);
    await expect(readSigningKeyFile(path)).rejects.toThrow(/is not a valid ed25519 signing key line/);
  });
});
