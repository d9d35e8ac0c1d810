import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../src/paths.js';
import { start, waitFor, type Proc } from './helpers/cli.js';
import { artifacts, haveChromium, launchChromium, pageProblems, vectorChecksOnNode } from './helpers/chromium.js';
import { tempDir } from './helpers/temp-dir.js';

/**
 * `sealcam demo --dashboard 127.0.0.1:0 --keep-open`, the built CLI as a user runs it, watched in
 * Debian's Chromium: sign in through the printed token URL while the demo runs, three camera cards
 * with thumbnails that loaded, 401 without the cookie, one of the demo's sealed blobs opened in
 * the /open page (with the fleet identity and the camera's registry entry the demo wrote into its
 * working directory) showing the SHA-256 of the sample the camera sent, the published vectors
 * run in the /vectors page; then SIGTERM: exit 0 and the temporary working directory removed.
 * Screenshots go to SEALCAM_ARTIFACTS or the temp dir.
 */

/** The little of the DOM the in-page callbacks use (the tests are type-checked without the DOM library). */
interface PageElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
  complete: boolean;
  naturalWidth: number;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
};

const SAMPLES = join(packageRoot, 'src', 'device', 'samples');
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Every file under `dir`, relative. */
const filesUnder = (dir: string) => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));

describe.skipIf(!haveChromium)('sealcam demo --dashboard in Chromium', () => {
  const cwd = tempDir('sealcam-demo-dashboard-');
  let demo: Proc;
  let url: string;
  let origin: string;
  /** The demo's temporary working directory, from the dashboard's note of where it reads. */
  let workDir: string;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];
  const requests: Request[] = [];

  beforeAll(async () => {
    demo = start(cwd, ['demo', '--dashboard', '127.0.0.1:0', '--keep-open', '--rounds', '3']);
    await waitFor('the dashboard URL', () => /^dashboard at /m.test(demo.stdout()) || demo.child.exitCode !== null, 60_000);
    const printed = /^dashboard at ((http:\/\/127\.0\.0\.1:\d+)\/\?token=[A-Za-z0-9_-]{43})$/m.exec(demo.stdout());
    expect(printed, demo.stdout() + demo.stderr()).not.toBeNull();
    [, url, origin] = printed as unknown as [string, string, string];
    workDir = /^sealcam dashboard: fleet records from (.+)\/received$/m.exec(demo.stderr())![1]!;
    ({ context, page } = await launchChromium(join(cwd, 'profile')));
    problems = pageProblems(page);
    page.on('request', (r) => requests.push(r));
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    if (demo?.child.exitCode === null) demo.child.kill('SIGKILL');
  });

  it('signs in through the token URL while the demo runs, and lands on a URL without the token', async () => {
    await page.goto(url);
    expect(page.url()).toBe(`${origin}/`);
    const [cookie] = await context.cookies(origin);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
  });

  it("shows the demo's three cameras, each with a thumbnail that loaded", async () => {
    await page.waitForFunction(() => document.querySelectorAll('[data-device]').length === 3, undefined, { timeout: 60_000 });
    await page.waitForFunction(() => {
      const thumbs = Array.from(document.querySelectorAll('[data-device] img'));
      return thumbs.length === 3 && thumbs.every((img) => img.complete && img.naturalWidth > 0);
    }, undefined, { timeout: 60_000 });
    const ids = await page.evaluate(() => Array.from(document.querySelectorAll('[data-device]')).map((card) => card.dataset.device));
    expect(ids.sort()).toEqual(['cam-01-1', 'cam-01-2', 'cam-01-3']);
    await page.screenshot({ path: join(artifacts, 'demo-dashboard.png'), fullPage: true });
  });

  it('reports the demo passing and says the dashboard stays up until Ctrl-C', async () => {
    await waitFor('the report', () => demo.stdout().includes('until Ctrl-C'), 120_000);
    expect(demo.stdout()).toMatch(/^ {2}identical +45 of 45 images byte for byte$/m);
    expect(demo.stdout()).toMatch(/^ {2}result +OK$/m);
    expect(demo.stdout()).toContain(`dashboard still at ${origin}/ until Ctrl-C`);
  }, 150_000);

  it('answers 401 without the cookie: the page, its data, the event stream and a thumbnail', async () => {
    const statuses = await Promise.all(['/', '/api/fleet', '/events', '/thumb/cam-01-1'].map(async (path) => (await fetch(`${origin}${path}`)).status));
    expect(statuses).toEqual([401, 401, 401, 401]);
  });

  it("opens one of the demo's sealed blobs in the /open page: the SHA-256 shown is the sample's, and the signature verifies against the camera's registry entry", async () => {
    const blob = filesUnder(join(workDir, 'store', 'cam-01-2')).find((f) => f.endsWith('street-dusk.jpg.sealed'))!;
    expect(blob).toBeDefined();
    await page.goto(`${origin}/open`);
    await page.waitForFunction(() => document.querySelector('#engine')?.dataset.state === 'live');
    const before = requests.length;
    await page.setInputFiles('#file', blob);
    await page.setInputFiles('#key', join(workDir, 'fleet.key'));
    await page.setInputFiles('#registry', join(workDir, 'registry', 'cam-01-2.pub'));
    await page.click('#open');
    await page.waitForFunction(() => document.querySelector('#sha256')?.textContent !== '' || document.querySelector('#error')?.textContent !== '');
    expect(await page.textContent('#error')).toBe('');
    expect(await page.textContent('#sha256')).toBe(sha256(readFileSync(join(SAMPLES, 'street-dusk.jpg'))));
    expect(await page.getAttribute('#signature', 'data-state')).toBe('verified');
    // Opening asked the server for nothing: only the image's own blob: URL.
    expect(requests.slice(before).map((r) => r.url().replace(/[0-9a-f-]{36}$/, 'ID'))).toEqual([`blob:${origin}/ID`]);
    await page.screenshot({ path: join(artifacts, 'demo-open.png'), fullPage: true });
  });

  it('runs every published vector in the /vectors page, as many checks as Node runs, all passing', async () => {
    const expected = await vectorChecksOnNode();
    await page.goto(`${origin}/vectors`);
    await page.waitForFunction(() => document.querySelector('#summary')?.dataset.state !== undefined, undefined, { timeout: 120_000 });
    const summary = await page.evaluate(() => ({ ...document.querySelector('#summary')!.dataset }));
    expect(summary.state).toBe('passed');
    expect(Number(summary.passed)).toBe(expected);
    await page.screenshot({ path: join(artifacts, 'demo-vectors.png'), fullPage: true });
  }, 150_000);

  it('sent no request with a body and none to another origin, and logged no error', () => {
    expect(requests.filter((r) => r.method() !== 'GET' || r.postDataBuffer() !== null).map((r) => `${r.method()} ${r.url()}`)).toEqual([]);
    expect(requests.map((r) => r.url()).filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith(`blob:${origin}/`))).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('on SIGTERM closes the dashboard, removes its working directory and exits 0', async () => {
    expect(existsSync(workDir)).toBe(true);
    demo.child.kill('SIGTERM');
    const [code, signal] = await demo.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(existsSync(workDir)).toBe(false);
    await expect(fetch(`${origin}/`)).rejects.toThrow();
  }, 30_000);
});
