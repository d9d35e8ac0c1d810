import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as sealcam from '../src/index.js';
import { packageRoot } from '../src/paths.js';
import { same } from './helpers/bytes.js';

/**
 * The package entry: the public names are there, seal()/open() round-trip on the shared default
 * pool, and a script using them exits by itself (idle workers do not hold the process).
 */

const ENTRY = join(packageRoot, 'dist', 'src', 'index.js');
const KEK = Uint8Array.from({ length: 16 }, (_, i) => i + 1);

describe('the package entry', () => {
  const pool = new sealcam.SealPool({ jobs: 2 });
  afterAll(() => pool.close());

  it('exports the public API', () => {
    const names = [
      'createEax', 'createBackend', 'SealPool', 'createSealStream', 'createOpenStream', 'seal', 'open',
      'sealBuffer', 'openBuffer', 'openSealed', 'parseHeader', 'sealRaw', 'openRaw', 'sealSidecar', 'openSidecar',
      'detectFormat', 'createKeyProvider', 'kekFromProvider', 'currentKek', 'createStore', 'createNotifier',
      'subscribeEvents', 'loadConfig', 'SealcamError', 'AuthenticationError', 'InputError',
    ];
    for (const name of names) expect(typeof (sealcam as Record<string, unknown>)[name], name).toBe('function');
  });

  it('seal() and open() round-trip, agree with the single-thread format code, and reject a wrong key', async () => {
    const plaintext = new Uint8Array(randomBytes(3 * 65536 + 7));
    const sealed = await sealcam.seal(plaintext, { kek: KEK, keyId: 'cam', keyVersion: '2', metadata: { deviceId: 'cam-01' } });
    expect(sealcam.detectFormat(sealed, false)).toBe('sealed');
    expect(sealcam.parseHeader(sealed)).toMatchObject({ keyId: 'cam', keyVersion: '2', metadata: { deviceId: 'cam-01', originalSize: plaintext.length } });
    const opened = await sealcam.open(sealed, { kek: async (id, version) => (id === 'cam' && version === '2' ? KEK : new Uint8Array(16)) });
    expect(same(opened.plaintext, plaintext)).toBe(true);
    expect(same(sealcam.openSealed(sealed, KEK).plaintext, plaintext)).toBe(true);
    // A pool of one's own, and the buffer sealed on this thread opens on it too.
    const local = sealcam.sealBuffer(plaintext, { kek: KEK, keyId: 'cam', keyVersion: '2' });
    expect(same((await sealcam.open(local, { kek: KEK, pool })).plaintext, plaintext)).toBe(true);
    await expect(sealcam.open(sealed, { kek: new Uint8Array(16) })).rejects.toThrow(/wrong key/);
  });

  it('a script that seals and opens through the built entry exits by itself', () => {
    expect(existsSync(ENTRY), `${ENTRY} is missing: run npm run build first`).toBe(true);
    const script = `
      const { seal, open } = await import(${JSON.stringify(pathToFileURL(ENTRY).href)});
      const kek = new Uint8Array(16).fill(9);
      const data = new Uint8Array(200000).map((_, i) => i * 7);
      const sealed = await seal(data, { kek, keyId: 'k', keyVersion: '1' });
      const { plaintext } = await open(sealed, { kek });
      console.log(Buffer.compare(plaintext, data) === 0 ? 'same' : 'different');
    `;
    // No close(): if the pool's workers held the process open, this would hit the timeout.
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('same');
  });
});
