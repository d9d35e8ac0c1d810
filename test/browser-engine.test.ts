import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../src/dashboard/server.js';
import { sealBuffer } from '../src/formats/sealed.js';
import { sealRaw } from '../src/formats/raw.js';
import { sealSidecar, serializeSidecarMetadata } from '../src/formats/sidecar.js';
import { DeviceSigningKey } from '../src/keys/ed25519.js';
import { writeKeyFile } from '../src/keys/keyfile.js';
import { writeIdentityFile } from '../src/keys/keypair-files.js';
import { describeFingerprint, sealingFor } from '../src/keys/stanza.js';
import { X25519Identity } from '../src/keys/x25519.js';
import { packageRoot } from '../src/paths.js';
import { artifacts, haveChromium, launchChromium, pageProblems, vectorChecksOnNode } from './helpers/chromium.js';
import { tempDir } from './helpers/temp-dir.js';

/**
 * sealcam/browser in Chromium (Debian's, headless, through playwright-core): the dashboard's
 * /vectors page runs every published vector on both WASM builds, and its /open page opens sealed
 * (v1 and v2, signed and checked against a registry entry), raw and sidecar files the test picks
 * with its file inputs, showing the SHA-256 the test computes itself. Every request the page
 * makes is watched: none carries a file or a key (no request has a body, and none is made while
 * opening). Only the engine pages may compile WebAssembly.
 */

const TOKEN = 'browser-engine-test-token-0123456789';

/** The little of the DOM the in-page callbacks use (the tests are type-checked without the DOM library). */
interface PageElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
  complete: boolean;
  naturalWidth: number;
}
declare const document: { querySelector(selector: string): PageElement | null };

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe.skipIf(!haveChromium)('sealcam/browser in Chromium', () => {
  const dir = tempDir('sealcam-browser-engine-');
  const image = new Uint8Array(readFileSync(join(packageRoot, 'src', 'device', 'samples', 'test-card.png')));
  const photo = new Uint8Array(readFileSync(join(packageRoot, 'src', 'device', 'samples', 'street-dusk.jpg')));
  const identity = X25519Identity.generate();
  const camera = DeviceSigningKey.generate();
  const files: Record<string, string> = {};
  const secrets: Uint8Array[] = [];
  let dashboard: Dashboard;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];
  const requests: Request[] = [];

  const file = (name: string, bytes: Uint8Array | string) => {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
    return (files[name] = path);
  };

  beforeAll(async () => {
    file('cam-07.sealed', sealBuffer(image, { wrap: sealingFor([identity.recipient]), deviceId: 'cam-07', signer: camera, metadata: { contentType: 'image/png', captureTime: '2026-12-07T10:00:00.000Z', originalName: 'test-card.png' } }));
    await writeIdentityFile(identity, join(dir, 'fleet.key'));
    files['fleet.key'] = join(dir, 'fleet.key');
    secrets.push(readFileSync(files['fleet.key']!));
    file('cam-07.pub', `# cam-07\n${camera.publicKey.text}\n`);
    file('other/cam-07.pub', `${DeviceSigningKey.generate().publicKey.text}\n`);
    await writeIdentityFile(X25519Identity.generate(), join(dir, 'stranger.key'));
    files['stranger.key'] = join(dir, 'stranger.key');

    // Not text: 32 bytes that are all base64 characters (0x6b is 'k') would be read as base64 of a 24-byte key.
    const kek = new Uint8Array(32).fill(0xc6);
    await writeKeyFile(join(dir, 'site.kek'), kek);
    files['site.kek'] = join(dir, 'site.kek');
    secrets.push(kek);
    file('photo.jpg.sealed', sealBuffer(photo, { kek, keyId: 'site', keyVersion: '3', metadata: { contentType: 'image/jpeg', deviceId: 'cam-02' } }));
    file('photo.jpg.raw', sealRaw(kek.subarray(0, 16), photo));
    await writeKeyFile(join(dir, 'raw.key'), kek.subarray(0, 16));
    files['raw.key'] = join(dir, 'raw.key');
    const sidecar = sealSidecar(kek.subarray(0, 16), image, { keyName: 'site', keyVersion: '', originalName: 'test-card.png' });
    file('encrypted_image.bin', sidecar.ciphertext);
    file('encryption_metadata.json', serializeSidecarMetadata(sidecar.metadata));

    dashboard = await startDashboard({ listen: '127.0.0.1:0', output: join(dir, 'output'), token: TOKEN });
    ({ context, page } = await launchChromium(join(dir, 'profile')));
    problems = pageProblems(page);
    page.on('request', (r) => requests.push(r));
    await page.goto(dashboard.url);
  });

  afterAll(async () => {
    await context?.close();
    await dashboard?.close();
  });

  describe('the /vectors page', () => {
    let expected: number;
    beforeAll(async () => {
      expected = await vectorChecksOnNode();
    });

    async function runVectorsPage(query: string): Promise<{ state?: string; passed: number; engine: string }> {
      await page.goto(`${dashboard.origin}/vectors${query}`);
      await page.waitForFunction(() => document.querySelector('#summary')?.dataset.state !== undefined, undefined, { timeout: 120_000 });
      return page.evaluate(() => {
        const summary = document.querySelector('#summary')!;
        return { state: summary.dataset.state, passed: Number(summary.dataset.passed), engine: document.querySelector('#engine')!.textContent ?? '' };
      });
    }

    it('runs every published vector on the build feature detection picks (relaxed SIMD here), as many checks as Node runs, all passing', async () => {
      const result = await runVectorsPage('');
      expect(result).toEqual({ state: 'passed', passed: expected, engine: 'WASM engine ready (relaxed SIMD)' });
      await page.screenshot({ path: join(artifacts, 'vectors.png'), fullPage: true });
    });

    it('runs them all on the SIMD 1.0 build too', async () => {
      expect(await runVectorsPage('?build=simd')).toEqual({ state: 'passed', passed: expected, engine: 'WASM engine ready (SIMD 1.0)' });
    });
  });

  describe('the /open page', () => {
    let opening: Request[] = [];

    async function open(picks: { file: string[]; key: string; registry?: string }): Promise<void> {
      await page.goto(`${dashboard.origin}/open`);
      await page.waitForFunction(() => document.querySelector('#engine')?.dataset.state === 'live');
      const before = requests.length;
      await page.setInputFiles('#file', picks.file.map((name) => files[name]!));
      await page.setInputFiles('#key', files[picks.key]!);
      if (picks.registry) await page.setInputFiles('#registry', files[picks.registry]!);
      await page.click('#open');
      await page.waitForFunction(() => document.querySelector('#sha256')?.textContent !== '' || document.querySelector('#error')?.textContent !== '');
      opening = requests.slice(before);
    }

    const shown = (selector: string) => page.textContent(selector);
    const headerRow = (label: string) => page.textContent(`#header tr:has(th:text-is("${label}")) td`);
    const imageLoaded = () => page.waitForFunction(() => {
      const img = document.querySelector('#image');
      return !!img && img.complete && img.naturalWidth > 0;
    });

    it('opens a signed v2 file with an x25519 identity, checks its signature against the registry entry, and shows the image and its SHA-256', async () => {
      await open({ file: ['cam-07.sealed'], key: 'fleet.key', registry: 'cam-07.pub' });
      expect(await shown('#error')).toBe('');
      expect(await shown('#sha256')).toBe(sha256(image));
      await imageLoaded();
      expect(await page.getAttribute('#signature', 'data-state')).toBe('verified');
      expect(await shown('#signature')).toBe(`verified: signed by ${describeFingerprint('ed25519', camera.fingerprint)}, registered for cam-07 in cam-07.pub`);
      expect(await headerRow('device')).toBe('cam-07');
      expect(await headerRow('recipients')).toBe(describeFingerprint('x25519', identity.fingerprint));
      expect(await headerRow('capture time')).toBe('2026-12-07T10:00:00.000Z');
      await page.screenshot({ path: join(artifacts, 'open-sealed-v2.png'), fullPage: true });
    });

    it('makes no request while opening but for the opened image, a blob: URL of its own, and no request of the page has a body', () => {
      expect(opening.map((r) => r.url().replace(/[0-9a-f-]{36}$/, 'ID'))).toEqual([`blob:${dashboard.origin}/ID`]);
      expect(requests.filter((r) => r.method() !== 'GET' || r.postDataBuffer() !== null).map((r) => `${r.method()} ${r.url()}`)).toEqual([]);
    });

    it('says a signature it was not asked to check is only a claim', async () => {
      await open({ file: ['cam-07.sealed'], key: 'fleet.key' });
      expect(await page.getAttribute('#signature', 'data-state')).toBe('claimed');
      expect(await shown('#sha256')).toBe(sha256(image));
    });

    it('refuses a file whose signer the registry entry does not list, showing its public header but no image', async () => {
      await open({ file: ['cam-07.sealed'], key: 'fleet.key', registry: 'other/cam-07.pub' });
      expect(await shown('#error')).toBe(`signing key ${describeFingerprint('ed25519', camera.fingerprint)} is not registered for device cam-07`);
      expect(await shown('#sha256')).toBe('');
      expect(await headerRow('device')).toBe('cam-07');
      expect(await page.getAttribute('#image', 'src')).toBeNull();
    });

    it('names the recipients when the identity is not one of them', async () => {
      await open({ file: ['cam-07.sealed'], key: 'stranger.key' });
      expect(await shown('#error')).toBe(`this device holds no identity for recipient ${describeFingerprint('x25519', identity.fingerprint)}`);
    });

    it('opens a v1 file with its key-encryption key file', async () => {
      await open({ file: ['photo.jpg.sealed'], key: 'site.kek' });
      expect(await shown('#sha256')).toBe(sha256(photo));
      await imageLoaded();
      expect(await headerRow('key id')).toBe('site');
      expect(await page.getAttribute('#signature', 'data-state')).toBe('unsigned');
    });

    it('opens a raw file and a sidecar pair with their AES key', async () => {
      await open({ file: ['photo.jpg.raw'], key: 'raw.key' });
      expect(await shown('#sha256')).toBe(sha256(photo));
      await open({ file: ['encrypted_image.bin', 'encryption_metadata.json'], key: 'raw.key' });
      expect(await shown('#sha256')).toBe(sha256(image));
      expect(await headerRow('original name')).toBe('test-card.png');
      await imageLoaded();
    });

    it('refuses a raw file under another key', async () => {
      await open({ file: ['photo.jpg.raw'], key: 'site.kek' });
      expect(await shown('#error')).toMatch(/^authentication failed/);
      expect(await shown('#sha256')).toBe('');
    });

    it('sent no file and no key anywhere: no request body, and no request URL holds their bytes', () => {
      const forbidden = [...secrets, readFileSync(files['cam-07.sealed']!).subarray(0, 64)].map((b) => Buffer.from(b).toString('hex'));
      for (const r of requests) {
        expect(r.postDataBuffer()).toBeNull();
        for (const needle of forbidden) expect(Buffer.from(r.url()).toString('hex')).not.toContain(needle);
      }
      // Everything the pages fetched is their own: the pages, their assets, the engine, the vector files, the fleet's events.
      const paths = new Set(requests.filter((r) => !r.url().startsWith('blob:')).map((r) => new URL(r.url()).pathname));
      for (const path of paths) expect(path).toMatch(/^\/(open|vectors|events|assets\/[a-z-]+\.(js|css|svg|wasm)|vectors\/files\/.+|)$/);
      expect(requests.every((r) => r.url().startsWith(`${dashboard.origin}/`) || r.url().startsWith(`blob:${dashboard.origin}/`))).toBe(true);
    });
  });

  describe('the Content-Security-Policy', () => {
    it("gives 'wasm-unsafe-eval' to the engine pages alone, and blob: images to /open alone", async () => {
      const csp = async (path: string) => (await fetch(`${dashboard.origin}${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } })).headers.get('content-security-policy');
      expect(await csp('/open')).toContain("script-src 'self' 'wasm-unsafe-eval'; connect-src");
      expect(await csp('/open')).toContain("img-src 'self' blob:;");
      expect(await csp('/vectors')).toContain("script-src 'self' 'wasm-unsafe-eval'; connect-src");
      expect(await csp('/vectors')).toContain("img-src 'self';");
      for (const path of ['/', '/api/fleet', '/assets/sealcam.js']) expect(await csp(path)).toContain("script-src 'self'; connect-src");
    });

    it('keeps the fleet page from compiling WebAssembly', async () => {
      await page.goto(`${dashboard.origin}/`);
      const logged = problems.length;
      const outcome = await page.evaluate(async () => {
        const wasm = await (await fetch('/assets/sealcam.wasm')).arrayBuffer();
        return WebAssembly.compile(wasm).then(
          () => 'compiled',
          (err: Error) => err.message,
        );
      });
      expect(outcome).toMatch(/Content Security Policy/);
      problems.splice(logged);
    });

    it('answers 401 for the engine pages, the bundle and the vector files without the cookie', async () => {
      for (const path of ['/open', '/vectors', '/assets/sealcam.js', '/assets/sealcam.wasm', '/vectors/files/index.json']) {
        expect((await fetch(`${dashboard.origin}${path}`)).status, path).toBe(401);
      }
    });

    it('serves no vector file its index does not list', async () => {
      const auth = { headers: { Authorization: `Bearer ${TOKEN}` } };
      expect((await fetch(`${dashboard.origin}/vectors/files/sealed-v2/vectors.json`, auth)).status).toBe(200);
      for (const path of ['README.md', 'sealed-v2/make.mjs', '../package.json', '%2e%2e/package.json']) expect((await fetch(`${dashboard.origin}/vectors/files/${path}`, auth)).status, path).toBe(404);
    });
  });

  it('logged no error in the page', () => {
    expect(problems).toEqual([]);
  });
});

declare const WebAssembly: { compile(bytes: ArrayBuffer): Promise<unknown> };
