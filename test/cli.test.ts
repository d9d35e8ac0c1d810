import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ENGINES } from '../src/engine/types.js';
import { packageRoot } from '../src/paths.js';

/** The built command line (node dist/src/cli/main.js), run as a user would run it. */

const CLI = join(packageRoot, 'dist', 'src', 'cli', 'main.js');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function sealcam(...args: string[]): Run {
  const env = { ...process.env };
  delete env.SEALCAM_DEBUG; // the stack-free output is what we test
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectOk(r: Run): void {
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
}

/** Exit 1 with exactly one stderr line, `sealcam: ...`, and no stack trace. */
function expectOneLineError(r: Run, message: RegExp): void {
  expect(r.status, r.stderr).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^sealcam: [^\n]+\n$/);
  expect(r.stderr).not.toMatch(/^\s*at /m);
  expect(r.stderr).toMatch(message);
}

const mode = (path: string): number => statSync(path).mode & 0o777;
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

let root: string;
let dir: string;

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build before the tests`);
  root = mkdtempSync(join(tmpdir(), 'sealcam-cli-'));
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

beforeEach(() => {
  // A directory per test, so "nothing left behind" can be checked by listing it.
  dir = mkdtempSync(join(root, 't'));
});

function keygen(name = 'key', bits = '128'): string {
  const path = join(dir, name);
  expectOk(sealcam('keygen', '-o', path, '--bits', bits));
  return path;
}

function input(size: number, name = 'photo.jpg'): { path: string; data: Buffer } {
  const data = randomBytes(size);
  const path = join(dir, name);
  writeFileSync(path, data);
  return { path, data };
}

describe('sealcam keygen', () => {
  it.each([
    ['128', 16],
    ['192', 24],
    ['256', 32],
  ])('--bits %s writes a %i-byte key file with mode 0600', (bits, size) => {
    const path = keygen('key', bits);
    expect(statSync(path).size).toBe(size);
    expect(mode(path)).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['key']); // no temp file left
  });

  it('refuses to overwrite an existing file without --force, and replaces it with --force', () => {
    const path = keygen();
    const before = readFileSync(path);
    expectOneLineError(sealcam('keygen', '-o', path), /key file .*key exists; use --force/);
    expect(same(readFileSync(path), before)).toBe(true);

    expectOk(sealcam('keygen', '-o', path, '--bits', '256', '--force'));
    expect(statSync(path).size).toBe(32);
    expect(mode(path)).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['key']);
  });

  it('rejects an unsupported key size in one line', () => {
    expectOneLineError(sealcam('keygen', '-o', join(dir, 'key'), '--bits', '512'), /--bits must be 128, 192 or 256, got 512/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('sealcam encrypt / decrypt', () => {
  for (const engine of ENGINES) {
    it(`round trip on the ${engine} engine (AES-128/192/256)`, () => {
      for (const bits of ['128', '192', '256']) {
        const key = keygen(`key${bits}`, bits);
        const { path, data } = input(100_000 + Number(bits), `in${bits}`);
        const sealed = join(dir, `in${bits}.sc`);
        const back = join(dir, `in${bits}.out`);
        const enc = sealcam('encrypt', path, '-o', sealed, '-k', key, '--engine', engine);
        expectOk(enc);
        expect(enc.stdout).toBe('');
        expect(statSync(sealed).size).toBe(32 + data.length);
        expectOk(sealcam('decrypt', sealed, '-o', back, '-k', key, '--format', 'raw', '--engine', engine));
        expect(same(readFileSync(back), data)).toBe(true);
        expect(mode(back)).toBe(0o600); // decrypted plaintext stays private
      }
    });
  }

  it('the engines interoperate, and empty files round-trip', () => {
    const key = keygen();
    for (const size of [0, 1, 16, 17]) {
      const { path, data } = input(size, `in${size}`);
      expectOk(sealcam('encrypt', path, '-o', `${path}.sc`, '-k', key, '--engine', 'wasm'));
      expectOk(sealcam('decrypt', `${path}.sc`, '-o', `${path}.out`, '-k', key, '--engine', 'native'));
      expect(same(readFileSync(`${path}.out`), data)).toBe(true);
    }
  });

  it('accepts a hex key file with a trailing newline', () => {
    const keyBytes = randomBytes(24);
    const key = join(dir, 'key.hex');
    writeFileSync(key, `${keyBytes.toString('hex')}\n`, { mode: 0o600 });
    const { path, data } = input(1000);
    expectOk(sealcam('encrypt', path, '-o', `${path}.sc`, '-k', key));
    expectOk(sealcam('decrypt', `${path}.sc`, '-o', `${path}.out`, '-k', key));
    expect(same(readFileSync(`${path}.out`), data)).toBe(true);
  });

  for (const engine of ENGINES) {
    it(`decrypt with the wrong key fails in one line and writes nothing (${engine})`, () => {
      const key = keygen('key');
      const other = keygen('other');
      const { path } = input(50_000);
      expectOk(sealcam('encrypt', path, '-o', `${path}.sc`, '-k', key));
      const before = readdirSync(dir).sort();
      const out = join(dir, 'out.jpg');
      expectOneLineError(sealcam('decrypt', `${path}.sc`, '-o', out, '-k', other, '--engine', engine), /^sealcam: authentication failed: /);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(dir).sort()).toEqual(before); // no output, no temp file
    });

    it(`decrypt of a tampered file fails in one line and writes nothing (${engine})`, () => {
      const key = keygen();
      const { path } = input(50_000);
      const sealedPath = `${path}.sc`;
      expectOk(sealcam('encrypt', path, '-o', sealedPath, '-k', key));
      const sealed = readFileSync(sealedPath);
      for (const offset of [0, 20, 32, sealed.length - 1]) {
        const bad = Uint8Array.from(sealed);
        bad[offset]! ^= 0x01;
        writeFileSync(sealedPath, bad);
        const before = readdirSync(dir).sort();
        const out = join(dir, 'out.jpg');
        expectOneLineError(sealcam('decrypt', sealedPath, '-o', out, '-k', key, '--engine', engine), /^sealcam: authentication failed: /);
        expect(existsSync(out)).toBe(false);
        expect(readdirSync(dir).sort()).toEqual(before);
      }
    });
  }

  it('does not overwrite an existing output without --force', () => {
    const key = keygen();
    const { path, data } = input(1000);
    const sealed = `${path}.sc`;
    expectOk(sealcam('encrypt', path, '-o', sealed, '-k', key));
    const existing = join(dir, 'existing');
    writeFileSync(existing, 'keep me');

    expectOneLineError(sealcam('encrypt', path, '-o', existing, '-k', key), /output file .*existing exists; use --force to overwrite/);
    expectOneLineError(sealcam('decrypt', sealed, '-o', existing, '-k', key), /output file .*existing exists; use --force to overwrite/);
    expect(readFileSync(existing, 'utf8')).toBe('keep me');

    expectOk(sealcam('decrypt', sealed, '-o', existing, '-k', key, '--force'));
    expect(same(readFileSync(existing), data)).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['existing', 'key', 'photo.jpg', 'photo.jpg.sc']);
  });

  it('a failed write removes its temp file (output is a directory, --force)', () => {
    const key = keygen();
    const { path } = input(1000);
    const target = mkdtempSync(join(dir, 'out-'));
    const before = readdirSync(dir).sort();
    const r = sealcam('encrypt', path, '-o', target, '-k', key, '--force');
    expectOneLineError(r, /cannot write .*out-/);
    expect(readdirSync(dir).sort()).toEqual(before);
    expect(readdirSync(target)).toEqual([]);
  });

  it.each([0o644, 0o640, 0o620, 0o604])('refuses a key file with mode %o (group/other access)', (bits) => {
    const key = keygen();
    chmodSync(key, bits);
    const { path } = input(100);
    const r = sealcam('encrypt', path, '-o', `${path}.sc`, '-k', key);
    expectOneLineError(r, /key file .*key is readable or writable by group or others .*chmod 600/);
    expect(existsSync(`${path}.sc`)).toBe(false);
  });

  it('a 15-byte key file is refused with its size, and the key bytes are not shown', () => {
    const keyBytes = randomBytes(15);
    const key = join(dir, 'short.key');
    writeFileSync(key, keyBytes, { mode: 0o600 });
    const { path } = input(100);
    const r = sealcam('encrypt', path, '-o', `${path}.sc`, '-k', key);
    expectOneLineError(r, /15 bytes/);
    expect(r.stderr).not.toContain(keyBytes.toString('hex'));
    expect(existsSync(`${path}.sc`)).toBe(false);
  });

  it('a missing input file gives one line naming it', () => {
    const key = keygen();
    const missing = join(dir, 'no-such-photo.jpg');
    expectOneLineError(sealcam('encrypt', missing, '-o', join(dir, 'x.sc'), '-k', key), /input file .*no-such-photo\.jpg not found/);
    expectOneLineError(sealcam('decrypt', missing, '-o', join(dir, 'x'), '-k', key), /input file .*no-such-photo\.jpg not found/);
    expect(readdirSync(dir)).toEqual(['key']);
  });

  it('a missing key file gives one line naming it', () => {
    const { path } = input(10);
    expectOneLineError(sealcam('encrypt', path, '-o', `${path}.sc`, '-k', join(dir, 'nokey')), /key file .*nokey not found/);
  });

  it('an unknown --format is refused in one line that lists raw', () => {
    const key = keygen();
    const { path } = input(10);
    expectOneLineError(sealcam('encrypt', path, '-o', `${path}.sc`, '-k', key, '--format', 'pem'), /unknown format 'pem'; supported formats: raw/);
    expectOneLineError(sealcam('decrypt', path, '-o', `${path}.out`, '-k', key, '--format', 'zip'), /unknown format 'zip'; supported formats: raw/);
  });

  it('an unknown --engine is refused in one line', () => {
    const key = keygen();
    const { path } = input(10);
    expectOneLineError(sealcam('encrypt', path, '-o', `${path}.sc`, '-k', key, '--engine', 'gpu'), /unknown engine 'gpu'; use wasm or native/);
  });

  it('a file shorter than nonce and tag is refused as not a raw sealed file', () => {
    const key = keygen();
    const { path } = input(31, 'short.sc');
    expectOneLineError(sealcam('decrypt', path, '-o', join(dir, 'out'), '-k', key), /short\.sc: input is 31 bytes, too short to be a raw sealed file/);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });
});
