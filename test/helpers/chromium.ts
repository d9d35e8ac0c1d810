import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { vectorIndex } from '../../src/dashboard/vector-files.js';
import { vectorsDir } from '../../src/paths.js';
import { loadVectorFile } from '../../src/vectors/files.js';
import { PUBLIC_KEY_FILES, runPublicKeyFile } from '../../src/vectors/public-key.js';
import { runEach } from '../../src/vectors/run.js';

/**
 * Debian's Chromium, headless, driven by playwright-core, as every browser test runs it: a fresh
 * user-data directory per test file, no background traffic to outside hosts (the flags), and
 * screenshots saved outside the tree git sees (SEALCAM_ARTIFACTS, else the temp directory).
 */

export const CHROMIUM = process.env.SEALCAM_CHROMIUM ?? '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);
export const artifacts = join(process.env.SEALCAM_ARTIFACTS ?? tmpdir(), 'sealcam-dashboard-screenshots');

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

if (!haveChromium) console.warn(`browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, as .ci/run does)`);

/** A browser with its own profile in `profileDir`, and its first page. */
export async function launchChromium(profileDir: string): Promise<{ context: BrowserContext; page: Page }> {
  mkdirSync(artifacts, { recursive: true });
  const context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1360, height: 900 } });
  const page = context.pages()[0] ?? (await context.newPage());
  return { context, page };
}

/** Errors the page logs or throws, collected for a test to check. */
export function pageProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  page.on('pageerror', (e) => problems.push(e.message));
  return problems;
}

/**
 * How many vector checks the /vectors page must report passing: what Node counts for the same
 * files (the engine files the page lists on the WASM engine, the public-key files on node:crypto),
 * after checking they all pass here.
 */
export async function vectorChecksOnNode(): Promise<number> {
  const engine = await runEach(vectorIndex().index.engine, (f) => loadVectorFile(f), ['wasm']);
  const publicKey = PUBLIC_KEY_FILES.map((f) => runPublicKeyFile(f, JSON.parse(readFileSync(join(vectorsDir, f), 'utf8'))));
  const failing = [...engine, ...publicKey].filter((r) => r.failed > 0).map((r) => r.file);
  if (failing.length > 0) throw new Error(`vectors fail on Node: ${failing.join(', ')}`);
  return [...engine, ...publicKey].reduce((n, r) => n + r.passed, 0);
}
