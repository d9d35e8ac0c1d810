import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../src/dashboard/server.js';
import { RecentThroughput, writeQuarantineRecord, writeReceiverStatus } from '../src/fleet/records.js';
import { quarantineFields, statusFields } from './fixtures/fleet-records.js';
import { receiveSample } from './fixtures/fleet-output.js';
import { artifacts, haveChromium, launchChromium, pageProblems } from './helpers/chromium.js';

/**
 * The dashboard in a real browser: Debian's Chromium, headless, driven by playwright-core, on an
 * output root holding three cameras' images and records. Signs in through the token URL, waits
 * for the cards and their thumbnails, checks that nothing answers without the cookie, and watches
 * a card change when a new record arrives. Screenshots go to SEALCAM_ARTIFACTS or the temp dir.
 */

const TOKEN = 'browser-test-token-0123456789';
const DEVICES = ['cam-entrance', 'cam-loading-bay', 'cam-car-park'];

/**
 * The little of the DOM the in-page callbacks use: the tests are type-checked without the DOM
 * library, and the page's CSP forbids evaluating strings, so callbacks stay functions.
 */
interface PageElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
  complete: boolean;
  naturalWidth: number;
  naturalHeight: number;
}
declare const document: {
  cookie: string;
  body: { append(node: unknown): void };
  createElement(tag: 'script'): { textContent: string };
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
};
declare const window: Record<string, unknown>;

describe.skipIf(!haveChromium)('the dashboard in Chromium', () => {
  const root = mkdtempSync(join(tmpdir(), 'sealcam-dashboard-browser-'));
  const output = join(root, 'out');
  let dashboard: Dashboard;
  let context: BrowserContext;
  let page: Page;
  const requests: string[] = [];
  let problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(output);
    const now = Date.now();
    const throughput = new RecentThroughput();
    const samples = ['street-dusk.jpg', 'test-card.png', 'front-door-night.jpg'];
    for (const [d, device] of DEVICES.entries()) {
      // cam-car-park last sent ten minutes ago: quiet.
      const last = device === 'cam-car-park' ? now - 10 * 60_000 : now - 5000;
      for (let i = 0; i < 12; i++) {
        await receiveSample(output, device, samples[d]!, last - (11 - i) * 20_000, `${i}-${samples[d]}`, 90 + 40 * Math.sin(i + d));
        throughput.add(30_000, last - (11 - i) * 20_000);
      }
    }
    await writeQuarantineRecord(output, quarantineFields('cam-entrance', 'bad', now - 60_000, { reason: 'the SHA-256 differs from the event: <img src=x id=injected>' }));
    await writeReceiverStatus(output, statusFields('rx-1', now, { opened: 36, duplicates: 2, redeliveries: 1, quarantined: 1, bytes: 1_080_000, recent: throughput.recent(now) }));

    dashboard = await startDashboard({ listen: '127.0.0.1:0', output: output, token: TOKEN, pollMs: 100, quietAfterMs: 5 * 60_000 });
    ({ context, page } = await launchChromium(join(root, 'profile')));
    page.on('request', (r) => requests.push(r.url()));
    problems = pageProblems(page);
  });

  afterAll(async () => {
    await context?.close();
    await dashboard?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('signs in through the token URL and lands on a URL without the token', async () => {
    await page.goto(dashboard.url);
    expect(page.url()).toBe(`${dashboard.origin}/`);
    const [cookie] = await context.cookies(dashboard.origin);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(cookie!.value).not.toBe(TOKEN);
    expect(await page.evaluate(() => document.cookie)).toBe('');
  });

  it('shows a card per camera, each with a thumbnail that loaded', async () => {
    await page.waitForFunction((n) => document.querySelectorAll('[data-device]').length === n, DEVICES.length);
    await page.waitForFunction(() => Array.from(document.querySelectorAll('[data-device] img')).every((img) => img.complete && img.naturalWidth > 0));
    const ids = await page.evaluate(() => Array.from(document.querySelectorAll('[data-device]')).map((card) => card.dataset.device));
    expect(ids?.sort()).toEqual([...DEVICES].sort());
    await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });
  });

  it('flags the camera that went quiet', async () => {
    const quiet = await page.evaluate(() => Array.from(document.querySelectorAll('[data-device].quiet')).map((card) => card.dataset.device));
    expect(quiet).toEqual(['cam-car-park']);
  });

  it("shows a record's text as text: markup in a quarantine reason stays inert", async () => {
    const reason = await page.textContent('#quarantine tbody tr td:nth-child(4)');
    expect(reason).toBe('the SHA-256 differs from the event: <img src=x id=injected>');
    expect(await page.$('#injected')).toBeNull();
  });

  it('runs no inline script: the CSP refuses a script element added with a text body', async () => {
    const logged = problems.length;
    const ran = await page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'window.injected = true';
      document.body.append(script);
      return window.injected === true;
    });
    expect(ran).toBe(false);
    expect(problems.splice(logged).join('\n')).toMatch(/Content Security Policy/);
  });

  it('answers 401 to requests without the cookie, from the page and from outside', async () => {
    const logged = problems.length;
    const statuses = await page.evaluate(async () =>
      Promise.all(['/api/fleet', '/thumb/cam-entrance', '/events'].map(async (path) => (await fetch(path, { credentials: 'omit' })).status)),
    );
    expect(statuses).toEqual([401, 401, 401]);
    // Chromium logs each refusal; those three are this test's own.
    expect(problems.splice(logged)).toEqual(Array(3).fill('Failed to load resource: the server responded with a status of 401 (Unauthorized)'));
    expect((await fetch(`${dashboard.origin}/thumb/cam-entrance`)).status).toBe(401);
  });

  it('updates a card live when a new record arrives', async () => {
    const card = '[data-device="cam-loading-bay"]';
    const before = await page.getAttribute(`${card} img`, 'src');
    await receiveSample(output, 'cam-loading-bay', 'car-park-day.jpg', Date.now(), 'live-frame.jpg', 150);
    await page.waitForFunction((sel) => document.querySelector(`${sel} .latest-name`)?.textContent === 'live-frame.jpg', card);
    await page.waitForFunction((sel) => {
      const img = document.querySelector(`${sel} img`);
      return !!img && img.complete && img.naturalWidth > 0 && img.naturalHeight === 240;
    }, card);
    expect(await page.getAttribute(`${card} img`, 'src')).not.toBe(before);
    expect(await page.textContent(`${card} .stat dd`)).toBe('13');
    await page.screenshot({ path: join(artifacts, 'dashboard-after-update.png'), fullPage: true });
  });

  it('loaded nothing from another origin and logged no error', () => {
    expect(requests.filter((url) => !url.startsWith(`${dashboard.origin}/`))).toEqual([]);
    expect(problems).toEqual([]);
  });
});
