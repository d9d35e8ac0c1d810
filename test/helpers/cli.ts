import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { packageRoot } from '../../src/paths.js';

/** Running the built CLI as a user would, and what its output must look like. */

export const CLI = join(packageRoot, 'dist', 'src', 'cli', 'main.js');

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Where it runs (a default keyring or config file lands, or is looked for, there). */
  cwd?: string;
  /** Added to the cleaned environment. */
  env?: Record<string, string>;
  /** Settings of the machine running the tests that must not leak in; default SEALCAM_*. */
  drop?: RegExp;
  timeout?: number;
}

/** The environment without the machine's own settings (SEALCAM_* unless told), plus `env`. */
export function cleanEnv(options: Pick<RunOptions, 'env' | 'drop'> = {}): NodeJS.ProcessEnv {
  const drop = options.drop ?? /^SEALCAM_/;
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!drop.test(name)) env[name] = value;
  return { ...env, ...options.env };
}

/** Runs `sealcam ARGS` and waits for it. */
export function sealcam(args: string[], options: RunOptions = {}): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: options.cwd, encoding: 'utf8', env: cleanEnv(options), timeout: options.timeout ?? 60_000 });
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

export function expectOk(r: Run): void {
  expect(r.stderr).toBe('');
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
