import { diffieHellman, randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuthenticationError } from '../src/errors.js';
import { x25519 } from '../src/keys/hpke.js';
import { platform } from '#platform';
import { okpPrivateKey, okpPublicKey } from '../src/platform/okp.js';
import { keyFingerprint } from '../src/keys/stanza.js';
import { X25519_IDENTITY_PREFIX, X25519_RECIPIENT_PREFIX, X25519Identity, X25519Recipient } from '../src/keys/x25519.js';
import { readIdentityFile, writeIdentityFile } from '../src/keys/keypair-files.js';
import { tempDir } from './helpers/temp-dir.js';
import { hex, toHex, wycheproof, type WycheproofGroup, type WycheproofTest } from './helpers/public-key-vectors.js';

/**
 * X25519 on Wycheproof's x25519_test.json (518 cases), then the x25519 recipient and identity
 * built on it: wrap and unwrap, the text forms, the key files.
 */

interface XdhTest extends WycheproofTest {
  public: string;
  private: string;
  shared: string;
}

const cases = wycheproof<WycheproofGroup<XdhTest>, XdhTest>('x25519_test.json').map((c) => c.test);
const ZERO = '00'.repeat(32);
const zeroShared = cases.filter((t) => t.shared === ZERO);
const nonZero = cases.filter((t) => t.shared !== ZERO);

describe('X25519 on Wycheproof x25519_test.json', () => {
  it('has 518 cases: 264 valid and 254 acceptable, 31 of them with a zero shared secret', () => {
    expect(cases).toHaveLength(518);
    expect(cases.filter((t) => t.result === 'valid')).toHaveLength(264);
    expect(cases.filter((t) => t.result === 'acceptable')).toHaveLength(254);
    expect(zeroShared).toHaveLength(31);
    // Every zero-secret case is a low-order public key, and no valid case has a zero secret.
    for (const t of zeroShared) expect(t.flags).toContain('LowOrderPublic');
    expect(zeroShared.filter((t) => t.result === 'valid')).toEqual([]);
  });

  it('computes the expected shared secret for every valid case (264)', () => {
    const valid = nonZero.filter((t) => t.result === 'valid');
    for (const t of valid) expect(toHex(x25519(platform.crypto.x25519.fromBytes(hex(t.private)), hex(t.public))), `tcId ${t.tcId}`).toBe(t.shared);
    expect(valid).toHaveLength(264);
  });

  it('computes the RFC 7748 result for every acceptable case with a non-zero secret (223: twist points, non-canonical u)', () => {
    const acceptable = nonZero.filter((t) => t.result === 'acceptable');
    for (const t of acceptable) expect(toHex(x25519(platform.crypto.x25519.fromBytes(hex(t.private)), hex(t.public))), `tcId ${t.tcId}`).toBe(t.shared);
    expect(acceptable).toHaveLength(223);
  });

  it('refuses every case whose shared secret is zero (31 low-order public keys) with ELOWORDER', () => {
    for (const t of zeroShared) {
      expect(() => x25519(platform.crypto.x25519.fromBytes(hex(t.private)), hex(t.public)), `tcId ${t.tcId}`).toThrow(
        expect.objectContaining({ code: 'ELOWORDER' }),
      );
    }
  });

  it('node:crypto on its own also throws on those 31 (our check does not depend on it)', () => {
    // Recorded so a Node or OpenSSL upgrade that changes this is noticed; sealcam refuses either way.
    for (const t of zeroShared) {
      const call = () => diffieHellman({ privateKey: okpPrivateKey('x25519', hex(t.private)), publicKey: okpPublicKey('x25519', hex(t.public)) });
      expect(call, `tcId ${t.tcId}`).toThrow(/failed during derivation/);
    }
  });
});

describe('x25519 recipient text', () => {
  const identity = X25519Identity.generate();

  it('is sealcam-x25519: and 43 base64url characters, and parses back to the same key and fingerprint', () => {
    const text = identity.recipient.text;
    expect(text).toMatch(/^sealcam-x25519:[A-Za-z0-9_-]{43}$/);
    const parsed = X25519Recipient.parse(text);
    expect(parsed.publicKey).toEqual(identity.recipient.publicKey);
    expect(parsed.fingerprint).toEqual(identity.fingerprint);
    expect(parsed.fingerprint).toEqual(keyFingerprint('x25519', parsed.publicKey));
  });

  it.each([
    ['a missing character', (t: string) => t.slice(0, -1)],
    ['an extra character', (t: string) => `${t}A`],
    ['padding', (t: string) => `${t}=`],
    ['standard base64 characters', (t: string) => `${t.slice(0, -2)}+/`],
    ['non-zero trailing bits', (t: string) => `${t.slice(0, -1)}${t.endsWith('B') ? 'C' : 'B'}`],
  ])('refuses %s', (_what, spoil) => {
    // The last of 43 characters carries 4 bits and 2 unused ones, which must be zero: A, E, I, ... only.
    const text = X25519_RECIPIENT_PREFIX + Buffer.alloc(32, 0x55).toString('base64url');
    expect(X25519Recipient.parse(text).publicKey).toEqual(new Uint8Array(32).fill(0x55));
    expect(() => X25519Recipient.parse(spoil(text))).toThrow(expect.objectContaining({ code: 'ERECIPIENT' }));
  });

  const asText = (t: XdhTest) => X25519_RECIPIENT_PREFIX + Buffer.from(t.public, 'hex').toString('base64url');
  // Canonical: the 32 bytes, read as a little-endian integer (top bit included), are below p = 2^255 - 19.
  const canonical = (t: XdhTest) => BigInt(`0x${Buffer.from(t.public, 'hex').reverse().toString('hex')}`) < (1n << 255n) - 19n;

  it('refuses every canonically encoded low-order public key of the Wycheproof file as a recipient (15)', () => {
    const lowOrder = zeroShared.filter(canonical);
    expect(lowOrder).toHaveLength(15);
    for (const t of lowOrder) expect(() => X25519Recipient.parse(asText(t)), `tcId ${t.tcId}`).toThrow(/low order/);
  });

  it('refuses every non-canonical public key of the Wycheproof file (29: top bit set or u >= p, none valid), so one key has one text', () => {
    const nonCanonical = cases.filter((t) => !canonical(t));
    expect(nonCanonical).toHaveLength(29);
    expect(nonCanonical.filter((t) => t.result === 'valid')).toEqual([]);
    for (const t of nonCanonical) expect(() => X25519Recipient.parse(asText(t)), `tcId ${t.tcId}`).toThrow(/not canonically encoded/);
  });

  it('accepts every canonical non-low-order public key of the Wycheproof file as a recipient', () => {
    for (const t of nonZero.filter(canonical)) expect(X25519Recipient.parse(asText(t)).publicKey, `tcId ${t.tcId}`).toEqual(hex(t.public));
  });

  it('refuses a key with the top bit set, which X25519 would ignore', () => {
    const key = Uint8Array.from(X25519Identity.generate().recipient.publicKey);
    key[31]! |= 0x80;
    expect(() => new X25519Recipient(key)).toThrow(/not canonically encoded/);
  });
});

describe('x25519 wrap and unwrap', () => {
  const identity = X25519Identity.generate();

  it.each([16, 24, 32])('a %i-byte file key round-trips; the stanza is type x25519, its fingerprint, 32 + key + 16 bytes', async (n) => {
    const fileKey = randomBytes(n);
    const stanza = identity.recipient.wrap(fileKey);
    expect(stanza.type).toBe('x25519');
    expect(stanza.fingerprint).toEqual(identity.fingerprint);
    expect(stanza.body).toHaveLength(32 + n + 16);
    expect(await identity.unwrap(stanza)).toEqual(new Uint8Array(fileKey));
  });

  it('each wrap uses a fresh ephemeral key', () => {
    const fileKey = randomBytes(16);
    const a = identity.recipient.wrap(fileKey);
    const b = identity.recipient.wrap(fileKey);
    expect(toHex(a.body.subarray(0, 32))).not.toBe(toHex(b.body.subarray(0, 32)));
  });

  it('refuses a file key of another size', () => {
    expect(() => identity.recipient.wrap(new Uint8Array(20))).toThrow(/16, 24 or 32 bytes/);
  });

  it('returns undefined for a stanza of another recipient or type', async () => {
    const other = X25519Identity.generate();
    const stanza = other.recipient.wrap(randomBytes(16));
    expect(await identity.unwrap(stanza)).toBeUndefined();
    expect(await identity.unwrap({ ...identity.recipient.wrap(randomBytes(16)), type: 'rsa-oaep-256' })).toBeUndefined();
  });

  it('throws AuthenticationError for a stanza addressed to it whose body was altered anywhere', async () => {
    const stanza = identity.recipient.wrap(randomBytes(16));
    for (const at of [0, 31, 32, stanza.body.length - 1]) {
      const body = Uint8Array.from(stanza.body);
      body[at]! ^= 0x01;
      await expect(identity.unwrap({ ...stanza, body }), `byte ${at}`).rejects.toThrow(AuthenticationError);
    }
  });

  it('throws AuthenticationError for a body of an impossible length, or a low-order enc', async () => {
    const stanza = identity.recipient.wrap(randomBytes(16));
    await expect(identity.unwrap({ ...stanza, body: stanza.body.subarray(1) })).rejects.toThrow(AuthenticationError);
    const lowOrder = Uint8Array.from(stanza.body);
    lowOrder.set(hex(zeroShared[0]!.public), 0);
    await expect(identity.unwrap({ ...stanza, body: lowOrder })).rejects.toThrow(/low order/);
  });
});

describe('x25519 identity files', () => {
  const dir = tempDir('sealcam-x25519-');

  it('write() makes the identity 0600 and its .pub 0644 holding the recipient line; read() gives the same identity', async () => {
    const path = join(dir, 'fleet.key');
    const identity = X25519Identity.generate();
    await writeIdentityFile(identity, path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(`${path}.pub`).mode & 0o777).toBe(0o644);
    expect(readFileSync(`${path}.pub`, 'utf8')).toBe(`${identity.recipient.text}\n`);
    const text = readFileSync(path, 'utf8');
    expect(text).toMatch(new RegExp(`^${X25519_IDENTITY_PREFIX}[A-Za-z0-9_-]{43}$`, 'm'));
    expect(text).toContain(`# recipient: ${identity.recipient.text}`);
    const back = await readIdentityFile(path);
    expect(back.fingerprint).toEqual(identity.fingerprint);
    expect(await back.unwrap(identity.recipient.wrap(new Uint8Array(16).fill(7)))).toEqual(new Uint8Array(16).fill(7));
  });

  it('refuses to overwrite either file without force, before writing anything', async () => {
    const path = join(dir, 'exists.key');
    writeFileSync(`${path}.pub`, 'old\n');
    await expect(writeIdentityFile(X25519Identity.generate(), path)).rejects.toThrow(/exists\.key\.pub exists; use --force/);
    expect(() => statSync(path)).toThrow();
    await writeIdentityFile(X25519Identity.generate(), path, { force: true });
    expect(readFileSync(`${path}.pub`, 'utf8')).toMatch(/^sealcam-x25519:/);
  });

  it('refuses an identity file that group or others can read', async () => {
    const path = join(dir, 'open.key');
    await writeIdentityFile(X25519Identity.generate(), path);
    chmodSync(path, 0o640);
    await expect(readIdentityFile(path)).rejects.toThrow(/readable or writable by group or others \(mode 0640\); restrict it with: chmod 600/);
  });

  it('refuses a damaged identity line without quoting it', async () => {
    const path = join(dir, 'bad.key');
    const secret = `${X25519_IDENTITY_PREFIX}${Buffer.alloc(31, 0x41).toString('base64url')}`;
    writeFileSync(path, `# comment\n${secret}\n`, { mode: 0o600 });
    const err = await readIdentityFile(path).catch((e: Error) => e);
    expect(String(err)).toMatch(/line 2 is not a valid x25519 identity line/);
    expect(String(err)).not.toContain(secret.slice(X25519_IDENTITY_PREFIX.length));
  });

  it('refuses a file with two key lines', async () => {
    const path = join(dir, 'two.key');
    const line = X25519_IDENTITY_PREFIX + Buffer.alloc(32, 1).toString('base64url');
    writeFileSync(path, `${line}\n${line}\n`, { mode: 0o600 });
    await expect(readIdentityFile(path)).rejects.toThrow(/holds 2 key lines; expected one x25519 identity line/);
  });
});
