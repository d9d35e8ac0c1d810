import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceSigningKey } from '../src/keys/ed25519.js';
import { DeviceRegistry, parseRegistryEntry } from '../src/keys/registry.js';
import { registryDirectory, registryInStore } from '../src/keys/registry-sources.js';
import { AzureBlobStore } from '../src/storage/azure.js';
import { LocalStore } from '../src/storage/local.js';
import { S3Store } from '../src/storage/s3.js';
import type { BlobStore } from '../src/storage/store.js';
import { startAzurite, startS3rver, type Azurite, type S3rverInstance } from './fixtures/servers.js';
import { tempDir } from './helpers/temp-dir.js';

/**
 * The device registry: `<device-id>.pub` entries in a directory, or under a blob-store prefix
 * read through BlobStore (the local store, Azurite and s3rver, all real servers on 127.0.0.1).
 */

const root = tempDir('sealcam-registry-');

const current = DeviceSigningKey.generate();
const old = DeviceSigningKey.generate();
const stranger = DeviceSigningKey.generate();
const fp = (k: DeviceSigningKey) => Buffer.from(k.publicKey.fingerprint).toString('hex');
const ENTRY = `# cam-01: key replaced after a repair\n${old.publicKey.text} revoked\n\n${current.publicKey.text}\n`;

function registryDir(entries: Record<string, string>): string {
  const dir = mkdtempSync(join(root, 'dir-'));
  for (const [name, text] of Object.entries(entries)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('registry entries', () => {
  it('list each key with its fingerprint and revoked marker, skipping comments and blank lines', () => {
    const keys = parseRegistryEntry(ENTRY, 'cam-01.pub');
    expect(keys).toEqual([
      { publicKey: old.publicKey.publicKey, fingerprint: old.publicKey.fingerprint, revoked: true },
      { publicKey: current.publicKey.publicKey, fingerprint: current.publicKey.fingerprint, revoked: false },
    ]);
  });

  it('count a key listed twice as revoked if either line says so', () => {
    const keys = parseRegistryEntry(`${current.publicKey.text}\n${current.publicKey.text} revoked\n`, 'cam-01.pub');
    expect(keys).toHaveLength(1);
    expect(keys[0]!.revoked).toBe(true);
  });

  it.each([
    ['an unknown marker', `${current.publicKey.text} retired`, /line 1: expected a key and optionally "revoked"/],
    ['a damaged key', `# c\n${current.publicKey.text.slice(0, -2)}`, /line 2: not a device public key/],
    ['an x25519 recipient', `sealcam-x25519:${'A'.repeat(43)}`, /line 1: not a device public key/],
  ])('refuse %s, naming the entry and line', (_what, text, message) => {
    expect(() => parseRegistryEntry(text, 'cam-01.pub in registry directory /r')).toThrow(message);
    expect(() => parseRegistryEntry(text, 'cam-01.pub in registry directory /r')).toThrow(/^registry entry cam-01\.pub in registry directory \/r line/);
  });
});

describe('DeviceRegistry on a directory', () => {
  const dir = registryDir({ 'cam-01.pub': ENTRY, 'cam-02.pub': `${stranger.publicKey.text}\n`, 'README.txt': 'not an entry', 'cam-04.pub.bak': 'x', 'bad id!.pub': 'x' });
  const registry = registryDirectory(dir);

  it('keysFor lists a device\'s keys, revoked ones included, and nothing for an unknown device', async () => {
    expect((await registry.keysFor('cam-01')).map((k) => k.revoked)).toEqual([true, false]);
    expect(await registry.keysFor('cam-09')).toEqual([]);
  });

  it('check accepts the current key of the device', async () => {
    const verdict = await registry.check('cam-01', current.publicKey.fingerprint);
    expect(verdict.ok).toBe(true);
  });

  it.each([
    ['an unregistered device', 'cam-09', () => current, `device cam-09 is not registered in registry directory ${dir}`],
    ['a key registered for another device', 'cam-01', () => stranger, `signing key ed25519:${fp(stranger)} is not registered for device cam-01`],
    ['a revoked key', 'cam-01', () => old, `signing key ed25519:${fp(old)} of device cam-01 is revoked`],
    ['an invalid device id, quoted', 'cam/../01\n', () => current, 'device id "cam/../01\\n" is not valid'],
  ])('check refuses %s with a one-line reason', async (_what, device, key, reason) => {
    expect(await registry.check(device, key().publicKey.fingerprint)).toEqual({ ok: false, reason });
  });

  it('check refuses a signer fingerprint of the wrong size', async () => {
    expect(await registry.check('cam-01', current.publicKey.fingerprint.subarray(0, 8))).toEqual({ ok: false, reason: 'the signer fingerprint is not 16 bytes' });
  });

  it('verify checks the registry and then the signature', async () => {
    const message = new TextEncoder().encode('header bytes');
    expect((await registry.verify('cam-01', current.publicKey.fingerprint, message, current.sign(message))).ok).toBe(true);
    const forged = await registry.verify('cam-01', current.publicKey.fingerprint, message, stranger.sign(message));
    expect(forged).toEqual({ ok: false, reason: `the signature does not verify under signing key ed25519:${fp(current)} of device cam-01` });
    // A revoked key's genuine signature is still refused.
    expect(await registry.verify('cam-01', old.publicKey.fingerprint, message, old.sign(message))).toMatchObject({ ok: false, reason: expect.stringMatching(/is revoked$/) });
  });

  it('entries lists every <device-id>.pub and nothing else', async () => {
    expect((await registry.entries()).map((e) => e.deviceId)).toEqual(['cam-01', 'cam-02']);
  });

  it('a broken entry is an error naming it, not a verdict', async () => {
    const broken = registryDirectory(registryDir({ 'cam-03.pub': 'nonsense\n' }));
    await expect(broken.check('cam-03', current.publicKey.fingerprint)).rejects.toThrow(/^registry entry cam-03\.pub in registry directory .* line 1/);
  });
});

describe('DeviceRegistry cache', () => {
  it('reads an entry again only after the TTL, so a revocation takes effect within it', async () => {
    const dir = registryDir({ 'cam-01.pub': `${current.publicKey.text}\n` });
    let now = 1_000_000;
    const registry = registryDirectory(dir, { ttlMs: 30_000, now: () => now });
    expect((await registry.check('cam-01', current.publicKey.fingerprint)).ok).toBe(true);
    writeFileSync(join(dir, 'cam-01.pub'), `${current.publicKey.text} revoked\n`);
    now += 29_000;
    expect((await registry.check('cam-01', current.publicKey.fingerprint)).ok).toBe(true);
    now += 2_000;
    expect(await registry.check('cam-01', current.publicKey.fingerprint)).toMatchObject({ ok: false, reason: expect.stringMatching(/is revoked$/) });
  });

  it('does not remember a failed read', async () => {
    const dir = registryDir({ 'cam-01.pub': 'broken\n' });
    const registry = registryDirectory(dir);
    await expect(registry.keysFor('cam-01')).rejects.toThrow(/line 1/);
    writeFileSync(join(dir, 'cam-01.pub'), `${current.publicKey.text}\n`);
    expect(await registry.keysFor('cam-01')).toHaveLength(1);
  });
});

/** The same entries uploaded under `registry/` of a store, then checked through it. */
function blobStoreCases(name: string, makeStore: () => BlobStore): void {
  describe(`DeviceRegistry on a blob store: ${name}`, () => {
    let registry: DeviceRegistry;
    beforeAll(async () => {
      const store = makeStore();
      await store.put('registry/cam-01.pub', Buffer.from(ENTRY));
      await store.put('registry/cam-02.pub', Buffer.from(`${stranger.publicKey.text}\n`));
      await store.put('cam-01/2026/12/07/img.sealed', Buffer.from('not an entry'));
      registry = registryInStore(store, 'registry/');
    });

    it('accepts the current key, refuses the revoked one and an unregistered device', async () => {
      expect((await registry.check('cam-01', current.publicKey.fingerprint)).ok).toBe(true);
      expect(await registry.check('cam-01', old.publicKey.fingerprint)).toMatchObject({ ok: false, reason: expect.stringMatching(/is revoked$/) });
      expect(await registry.check('cam-09', current.publicKey.fingerprint)).toMatchObject({
        ok: false,
        reason: expect.stringMatching(/^device cam-09 is not registered in registry .* store prefix "registry\/"$/),
      });
    });

    it('lists the entries under its prefix only', async () => {
      expect((await registry.entries()).map((e) => e.deviceId)).toEqual(['cam-01', 'cam-02']);
    });
  });
}

blobStoreCases('local', () => {
  const dir = join(root, 'store');
  mkdirSync(dir, { recursive: true });
  return new LocalStore(dir);
});

let azurite: Azurite;
let s3rver: S3rverInstance;
beforeAll(async () => {
  [azurite, s3rver] = await Promise.all([startAzurite(), startS3rver(['sealcam-registry'])]);
});
afterAll(async () => {
  await azurite?.stop();
  await s3rver?.stop();
});

blobStoreCases('Azure Blob (Azurite)', () => new AzureBlobStore({ container: 'registry', connectionString: azurite.connectionString }));
blobStoreCases(
  'S3 (s3rver)',
  () => new S3Store({ bucket: 'sealcam-registry', region: 'us-east-1', endpoint: s3rver.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } }),
);
