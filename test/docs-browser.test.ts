import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealBuffer } from '../src/formats/sealed.js';
import { writeIdentityFile } from '../src/keys/keypair-files.js';
import { sealingFor } from '../src/keys/stanza.js';
import { X25519Identity } from '../src/keys/x25519.js';
import { packageRoot } from '../src/paths.js';
import { haveChromium, launchChromium, pageProblems } from './helpers/chromium.js';
import { tempDir } from './helpers/temp-dir.js';

/**
 * docs/DASHBOARD.md's sealcam/browser example, run as written in Debian's Chromium: the page is
 * any page that maps `sealcam/browser` to the bundle (an import map) and serves the bundle with
 * its .wasm files beside it; the block is served as a module the page imports, and the test calls its function on
 * a sealed v2 file and its identity picked through file inputs, as a user would.
 */

/** The ```js block of the section `## <title>` in a page of docs/. */
function jsBlock(doc: string, title: string): string {
  const text = readFileSync(join(packageRoot, 'docs', doc), 'utf8');
  const section = text.slice(text.indexOf(`\n## ${title}\n`));
  const block = /\n```js\n([\s\S]*?)\n```\n/.exec(section.slice(0, section.indexOf('\n## ', 4)));
  if (!block) throw new Error(`no js block in ${doc} section ${title}`);
  return block[1]!;
}

const PAGE = `<!doctype html>
<link rel="icon" href="data:,">
<script type="importmap">{ "imports": { "sealcam/browser": "/sealcam.js" } }</script>
<script type="module">import { openPicked } from '/example.js'; window.openPicked = openPicked;</script>
<input id="file" type="file"><input id="key" type="file"><img id="image">`;

/** The little of the DOM the in-page callback uses (the tests are type-checked without the DOM library). */
interface Picker {
  files: ArrayLike<unknown>;
}
declare const window: { openPicked?(file: unknown, key: unknown): Promise<{ build: string; sha256: string; image: string; header: [string, string][] }> };
declare const document: { querySelector(selector: string): (Picker & { src: string; decode(): Promise<void>; naturalWidth: number }) | null };

describe.skipIf(!haveChromium)('docs/DASHBOARD.md: the sealcam/browser example, in Chromium', () => {
  const dir = tempDir('sealcam-docs-browser-');
  const example = jsBlock('DASHBOARD.md', '`sealcam/browser`: the engine in a web page');
  const image = new Uint8Array(readFileSync(join(packageRoot, 'src', 'device', 'samples', 'loading-bay-thermal.png')));
  const identity = X25519Identity.generate();
  let server: Server;
  let origin: string;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    writeFileSync(join(dir, 'thermal.png.sealed'), sealBuffer(image, { wrap: sealingFor([identity.recipient]), deviceId: 'cam-04', metadata: { contentType: 'image/png' } }));
    await writeIdentityFile(identity, join(dir, 'fleet.key'));
    const bundle = join(packageRoot, 'dist', 'browser');
    const routes: Record<string, [string, () => Buffer | string]> = {
      '/': ['text/html', () => PAGE],
      '/example.js': ['text/javascript', () => example],
      '/sealcam.js': ['text/javascript', () => readFileSync(join(bundle, 'sealcam.js'))],
      '/sealcam.wasm': ['application/wasm', () => readFileSync(join(bundle, 'sealcam.wasm'))],
      '/sealcam-relaxed.wasm': ['application/wasm', () => readFileSync(join(bundle, 'sealcam-relaxed.wasm'))],
    };
    server = createServer((req, res) => {
      const route = routes[req.url ?? ''];
      if (!route) return void res.writeHead(404).end();
      res.writeHead(200, { 'Content-Type': route[0] }).end(route[1]());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    ({ context, page } = await launchChromium(join(dir, 'profile')));
    problems = pageProblems(page);
  });

  afterAll(async () => {
    await context?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('opens a picked sealed file with a picked identity: the relaxed-SIMD build, the SHA-256 of the original, an image that loads', async () => {
    await page.goto(`${origin}/`);
    await page.setInputFiles('#file', join(dir, 'thermal.png.sealed'));
    await page.setInputFiles('#key', join(dir, 'fleet.key'));
    await page.waitForFunction(() => window.openPicked !== undefined);
    const result = await page.evaluate(async () => {
      const opened = await window.openPicked!(document.querySelector('#file')!.files[0], document.querySelector('#key')!.files[0]);
      const img = document.querySelector('#image')!;
      img.src = opened.image;
      await img.decode();
      return { build: opened.build, sha256: opened.sha256, width: img.naturalWidth, device: opened.header.find(([label]) => label === 'device')?.[1] };
    });
    expect(result).toEqual({ build: 'relaxed', sha256: createHash('sha256').update(image).digest('hex'), width: expect.any(Number), device: 'cam-04' });
    expect(result.width).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});
