import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { expect } from 'vitest';
import { packageRoot } from '../../src/paths.js';

/** Running the built CLI as a user would, and what its output must look like. */

/** The bundled CLI that package.json's bin names (npm run build:cli), as it ships. */
export const CLI = join(packageRoot, 'dist', 'cli', 'main.js');

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Where it runs (a config file is looked for there) and, unless `env` says otherwise, its HOME: the per-user keyring lands in <cwd>/.config/sealcam/keys. */
  cwd?: string;
  /** Added to the cleaned environment. */
  env?: Record<string, string>;
  /** Settings of the machine running the tests that must not leak in; default SEALCAM_*. */
  drop?: RegExp;
  timeout?: number;
}

let home: string | undefined;
/** A HOME for runs without a directory of their own, made once per test file. */
function sharedHome(): string {
  return (home ??= mkdtempSync(join(tmpdir(), 'sealcam-home-')));
}

/** The per-user keyring of a run in `cwd` (see cleanEnv). */
export const userKeyring = (cwd: string): string => join(cwd, '.config', 'sealcam', 'keys');

/**
 * The environment without the machine's own settings (SEALCAM_* unless told), with HOME and
 * XDG_CONFIG_HOME in `cwd` (or a temp directory), so no run ever touches the real user's keyring
 * or cloud profiles, plus `env`.
 */
export function cleanEnv(options: Pick<RunOptions, 'env' | 'drop' | 'cwd'> = {}): NodeJS.ProcessEnv {
  const drop = options.drop ?? /^SEALCAM_/;
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!drop.test(name)) env[name] = value;
  const base = options.cwd ?? sharedHome();
  return { ...env, HOME: base, XDG_CONFIG_HOME: join(base, '.config'), ...options.env };
}

/** Runs `sealcam ARGS` and waits for it. */
export function sealcam(args: string[], options: RunOptions = {}): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: options.cwd, encoding: 'utf8', env: cleanEnv(options), timeout: options.timeout ?? 60_000, maxBuffer: 256 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** sealcam() without blocking this process, for tests whose servers must keep answering meanwhile. */
export function sealcamAsync(args: string[], options: RunOptions = {}): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: cleanEnv(options), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', fail);
    child.once('close', (status) => done({ status, stdout, stderr }));
  });
}

/** A CLI process left running (a device, a receiver, a demo kept open), with what it printed so far. */
export interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/** Starts `sealcam ARGS` in `cwd` (its HOME too), without progress bars and with one worker thread. */
export function start(cwd: string, args: string[]): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: cleanEnv({ cwd, env: { SEALCAM_NO_PROGRESS: '1', SEALCAM_JOBS: '1' } }) });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { child, stdout: () => out, stderr: () => err, exited: once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]> };
}

/** Polls `ok` every 50 ms until it holds; fails naming `what` after `ms`. */
export async function waitFor(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  for (const deadline = Date.now() + ms; !ok(); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function expectOk(r: Run): void {
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
}

/** The one line a run prints when it creates a key version in a local keyring (`keyFile`: <ring>/<name>/<version>.key, absolute). */
export function createdKeyLine(keyFile: string): string {
  const name = basename(dirname(keyFile));
  const version = basename(keyFile, '.key');
  return `sealcam: created key ${name} version ${version} in ${keyFile}: back it up (what is sealed under it opens only with it)\n`;
}

/** Exit 0, and nothing on stderr but the announcement of the key version the run created. */
export function expectOkCreatingKey(r: Run, keyFile: string): void {
  expect(r.stderr).toBe(createdKeyLine(keyFile));
  expect(r.status).toBe(0);
}

/** Exit 1 with exactly one stderr line, `sealcam: ...`, nothing on stdout, and no stack trace. */
export function expectOneLineError(r: Run, message: RegExp): void {
  expect(r.status, r.stderr).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^sealcam: [^\n]+\n$/);
  expect(r.stderr).not.toMatch(/^\s*at /m);
  expect(r.stderr).toMatch(message);
}
