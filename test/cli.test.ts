import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ENGINES } from '../src/engine/types.js';
import { openRaw, sealRaw } from '../src/formats/raw.js';
import { openSealed, parseHeader, sealBuffer } from '../src/formats/sealed.js';
import { openSidecar, parseSidecarMetadata, sealSidecar, serializeSidecarMetadata } from '../src/formats/sidecar.js';
import { same } from './helpers/bytes.js';
import { packageRoot } from '../src/paths.js';
import { cleanEnv, CLI, expectOk, expectOkCreatingKey, expectOneLineError, sealcam as run, type Run } from './helpers/cli.js';
import { loadIdentity, loadRecipients } from '../src/keys/recipients.js';
import { readSigningKeyFile } from '../src/keys/keypair-files.js';

/** The built command line (node dist/cli/main.js), run as a user would run it. */


/** In the test's own directory, so a default keyring or config file lands (or is looked for) there. */
const sealcam = (...args: string[]): Run => run(args, { cwd: dir });

const mode = (path: string): number => statSync(path).mode & 0o777;

let root: string;
let dir: string;

beforeAll(() => {
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

  it('--type x25519 writes the identity (0600) and FILE.pub (0644), and prints only the recipient', async () => {
    const path = join(dir, 'fleet.key');
    const r = sealcam('keygen', '--type', 'x25519', '-o', path);
    expectOk(r);
    expect(readdirSync(dir).sort()).toEqual(['fleet.key', 'fleet.key.pub']);
    expect(mode(path)).toBe(0o600);
    expect(mode(`${path}.pub`)).toBe(0o644);
    expect(r.stdout).toMatch(/^sealcam-x25519:[A-Za-z0-9_-]{43}\n$/);
    expect(readFileSync(`${path}.pub`, 'utf8')).toBe(r.stdout);
    const secret = readFileSync(path, 'utf8').split('\n').find((l) => l.startsWith('SEALCAM-X25519-SECRET-KEY:'))!;
    expect(r.stdout).not.toContain(secret.split(':')[1]);
    // The printed recipient and the written identity are one key pair.
    const identity = await loadIdentity(path);
    const [recipient] = await loadRecipients(r.stdout.trim());
    const fileKey = new Uint8Array(randomBytes(16));
    expect(await identity.unwrap(recipient!.wrap(fileKey))).toEqual(fileKey);
  });

  it('--type ed25519 writes a device signing key and FILE.pub, and prints the public key', async () => {
    const path = join(dir, 'cam-01.key');
    const r = sealcam('keygen', '--type', 'ed25519', '-o', path);
    expectOk(r);
    expect(mode(path)).toBe(0o600);
    expect(r.stdout).toMatch(/^sealcam-ed25519:[A-Za-z0-9_-]{43}\n$/);
    expect(readFileSync(`${path}.pub`, 'utf8')).toBe(r.stdout);
    const key = await readSigningKeyFile(path);
    expect(key.publicKey.text).toBe(r.stdout.trim());
  });

  it('--type x25519 refuses to replace an existing .pub without --force, writing nothing', () => {
    const path = join(dir, 'fleet.key');
    writeFileSync(`${path}.pub`, 'old\n');
    expectOneLineError(sealcam('keygen', '--type', 'x25519', '-o', path), /key file .*fleet\.key\.pub exists; use --force/);
    expect(readdirSync(dir)).toEqual(['fleet.key.pub']);
    expectOk(sealcam('keygen', '--type', 'x25519', '-o', path, '--force'));
    expect(readFileSync(`${path}.pub`, 'utf8')).toMatch(/^sealcam-x25519:/);
  });

  it('refuses an unknown --type, and --bits with a public-key type, in one line', () => {
    expectOneLineError(sealcam('keygen', '--type', 'rsa', '-o', join(dir, 'k')), /--type must be aes, x25519 or ed25519, got "rsa"/);
    expectOneLineError(sealcam('keygen', '--type', 'ed25519', '--bits', '256', '-o', join(dir, 'k')), /--bits applies to --type aes only/);
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
        const enc = sealcam('encrypt', path, '-o', sealed, '-k', key, '--format', 'raw', '--engine', engine);
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
      expectOk(sealcam('encrypt', path, '-o', `${path}.sc`, '-k', key, '--format', 'raw', '--engine', 'wasm'));
      expectOk(sealcam('decrypt', `${path}.sc`, '-o', `${path}.out`, '-k', key, '--engine', 'native'));
      expect(same(readFileSync(`${path}.out`), data)).toBe(true);
    }
  });

  it('accepts a hex key file with a trailing newline', () => {
    const keyBytes = randomBytes(24);
    const key = join(dir, 'key.hex');
    writeFileSync(key, `${keyBytes.toString('hex')}\n`, { mode: 0o600 });
    const { path, data } = input(1000);
    expectOk(sealcam('encrypt', path, '-o', `${path}.sc`, '-k', key, '--format', 'raw'));
    expectOk(sealcam('decrypt', `${path}.sc`, '-o', `${path}.out`, '-k', key));
    expect(same(readFileSync(`${path}.out`), data)).toBe(true);
  });

  for (const engine of ENGINES) {
    it(`decrypt with the wrong key fails in one line and writes nothing (${engine})`, () => {
      const key = keygen('key');
      const other = keygen('other');
      const { path } = input(50_000);
      expectOk(sealcam('encrypt', path, '-o', `${path}.sc`, '-k', key, '--format', 'raw'));
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
      expectOk(sealcam('encrypt', path, '-o', sealedPath, '-k', key, '--format', 'raw'));
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

  it('an output name taken by a directory is refused before anything is written, --force or not', () => {
    const key = keygen();
    const { path } = input(1000);
    const target = mkdtempSync(join(dir, 'out-'));
    mkdirSync(join(target, 'photo.jpg.sealed'));
    const before = readdirSync(dir).sort();
    const r = sealcam('encrypt', path, '-o', target, '-k', key, '--force');
    expectOneLineError(r, /output .*out-.*photo\.jpg\.sealed is a directory/);
    expect(readdirSync(dir).sort()).toEqual(before);
    expect(readdirSync(target)).toEqual(['photo.jpg.sealed']);
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

  it('an unknown --format is refused in one line that lists the layouts', () => {
    const key = keygen();
    const { path } = input(10);
    expectOneLineError(sealcam('encrypt', path, '-o', `${path}.sc`, '-k', key, '--format', 'pem'), /unknown format 'pem'; use sealed, raw or sidecar/);
    expectOneLineError(sealcam('decrypt', path, '-o', `${path}.out`, '-k', key, '--format', 'zip'), /unknown format 'zip'; use sealed, raw or sidecar/);
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

// --- The three layouts, batches, keys from the keyring, and failures (issue 3) ---------------------

const SEGMENT = 4096;
/** Sizes around the segment size (--segment-size 4096): empty, one byte, segment-1, segment, segment+1, many segments. */
const SIZES = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 37 * SEGMENT + 5];
const LAYOUT_EXT = { sealed: '.sealed', raw: '.eax', sidecar: '.eax' } as const;
const MAGIC = Buffer.from('sealcam\0', 'latin1');

/** Files of the SIZES in `sub`, named by size. */
function sizedInputs(sub = 'in'): { paths: string[]; data: Map<string, Buffer> } {
  mkdirSync(join(dir, sub));
  const data = new Map<string, Buffer>();
  for (const size of SIZES) data.set(`f${size}.bin`, input(size, join(sub, `f${size}.bin`)).data);
  return { paths: [...data.keys()].map((name) => join(dir, sub, name)), data };
}

/** Flip one bit of `path` at `offset` (negative: from the end). */
function flip(path: string, offset: number): void {
  const bytes = readFileSync(path);
  bytes[offset < 0 ? bytes.length + offset : offset]! ^= 0x01;
  writeFileSync(path, bytes);
}

/** A one-line failure that left `outDir` empty. */
function failsCleanly(r: Run, message: RegExp, outDir: string): void {
  expectOneLineError(r, message);
  expect(readdirSync(outDir)).toEqual([]); // no output, no temp file
}

describe('sealcam encrypt / decrypt: layouts, engines and workers', () => {
  const combos: [keyof typeof LAYOUT_EXT, (typeof ENGINES)[number], string][] = [];
  for (const engine of ENGINES) {
    combos.push(['sealed', engine, '1'], ['sealed', engine, '2'], ['raw', engine, '2'], ['sidecar', engine, '1']);
  }

  it.each(combos)('%s on %s with --jobs %s: sizes 0, 1, S-1, S, S+1 and 37 S round-trip in one batch, layout detected', (layout, engine, jobs) => {
    const key = keygen('camera.key');
    const { paths, data } = sizedInputs();
    const common = ['-k', key, '--engine', engine, '--jobs', jobs];
    expectOk(sealcam('encrypt', ...paths, '-o', join(dir, 'sealed'), '--format', layout, '--segment-size', String(SEGMENT), ...common));

    const names = [...data.keys()].map((n) => n + LAYOUT_EXT[layout]);
    const expected = layout === 'sidecar' ? names.flatMap((n) => [n, `${n}.json`]) : names;
    expect(readdirSync(join(dir, 'sealed')).sort()).toEqual(expected.sort());
    const keyBytes = readFileSync(key);
    for (const [name, plain] of data) {
      const out = readFileSync(join(dir, 'sealed', name + LAYOUT_EXT[layout]));
      // What the CLI streamed is what the format modules read.
      if (layout === 'sealed') {
        const { plaintext, header } = openSealed(out, keyBytes);
        expect(same(plaintext, plain), name).toBe(true);
        expect(header.segmentSize).toBe(SEGMENT);
        expect(header.metadata).toMatchObject({ originalName: name, originalSize: plain.length });
        expect(out.length).toBe(header.headerLength + plain.length + 16 * Math.max(1, Math.ceil(plain.length / SEGMENT)));
      } else if (layout === 'raw') {
        expect(same(openRaw(keyBytes, out), plain), name).toBe(true);
      } else {
        const json = readFileSync(join(dir, 'sealed', `${name}.eax.json`), 'utf8');
        expect(same(openSidecar(keyBytes, out, json), plain), name).toBe(true);
        expect(JSON.parse(json)).toMatchObject({ keyName: 'camera', keyVersion: '1', originalName: name, originalSize: plain.length });
      }
    }

    const sealedPaths = names.map((n) => join(dir, 'sealed', n));
    expectOk(sealcam('decrypt', ...sealedPaths, '-o', join(dir, 'opened'), ...common));
    for (const [name, plain] of data) {
      expect(same(readFileSync(join(dir, 'opened', name)), plain), name).toBe(true);
      expect(mode(join(dir, 'opened', name))).toBe(0o600);
    }
  });

  it('one camera image seals and opens on the calling thread (no worker started); a batch above 32 MiB starts --jobs workers', () => {
    const key = keygen();
    const counting = { cwd: dir, env: { NODE_OPTIONS: `--require ${join(packageRoot, 'test', 'helpers', 'count-workers.cjs')}` } };
    const workers = (r: Run): string => {
      expect(r.status, r.stderr).toBe(0);
      return r.stderr;
    };
    const { path, data } = input(1_671_137);
    expect(workers(run(['encrypt', path, '-o', join(dir, 'one.sealed'), '-k', key, '--jobs', '2'], counting))).toBe('workers started: 0\n');
    expect(workers(run(['decrypt', join(dir, 'one.sealed'), '-o', join(dir, 'one'), '-k', key, '--jobs', '2'], counting))).toBe('workers started: 0\n');
    expect(same(readFileSync(join(dir, 'one')), data)).toBe(true);

    const MiB = 1 << 20;
    const big = [input(17 * MiB, 'a.bin'), input(16 * MiB, 'b.bin')];
    expect(workers(run(['encrypt', ...big.map((b) => b.path), '-o', join(dir, 'big'), '-k', key, '--jobs', '2'], counting))).toBe('workers started: 2\n');
    expect(workers(run(['decrypt', join(dir, 'big', 'a.bin.sealed'), join(dir, 'big', 'b.bin.sealed'), '-o', join(dir, 'open'), '-k', key, '--jobs', '2'], counting))).toBe('workers started: 2\n');
    for (const b of big) expect(same(readFileSync(join(dir, 'open', b.path.split('/').at(-1)!)), b.data)).toBe(true);
  });

  it('a raw batch above 32 MiB seals and opens a file per worker: the same files as the library reads, in either layout, and a tampered one refused', () => {
    const key = keygen();
    const keyBytes = readFileSync(key);
    const counting = { cwd: dir, env: { NODE_OPTIONS: `--require ${join(packageRoot, 'test', 'helpers', 'count-workers.cjs')}` } };
    const images = Array.from({ length: 24 }, (_, i) => input(1_671_137 + i, `cam-${i}.jpg`));
    for (const layout of ['nonce,tag,ciphertext', 'nonce,ciphertext,tag']) {
      const sealedDir = join(dir, `raw-${layout}`);
      const openedDir = join(dir, `open-${layout}`);
      const flags = ['--format', 'raw', '--layout', layout, '-k', key, '--jobs', '2'];
      const sealing = run(['encrypt', ...images.map((i) => i.path), '-o', `${sealedDir}/`, ...flags], counting);
      expect(sealing.status, sealing.stderr).toBe(0);
      expect(sealing.stderr).toBe('workers started: 2\n');
      for (const { path, data } of images) {
        const file = readFileSync(join(sealedDir, `${path.split('/').at(-1)}.eax`));
        // openRaw reads nonce || tag || ciphertext: put the other layout's tag back in that place.
        const canonical = layout === 'nonce,tag,ciphertext' ? file : Buffer.concat([file.subarray(0, 16), file.subarray(file.length - 16), file.subarray(16, file.length - 16)]);
        expect(same(openRaw(keyBytes, canonical), data), path).toBe(true);
      }
      const sealedFiles = images.map((i) => join(sealedDir, `${i.path.split('/').at(-1)}.eax`));
      const opening = run(['decrypt', ...sealedFiles, '-o', `${openedDir}/`, ...flags], counting);
      expect(opening.status, opening.stderr).toBe(0);
      for (const { path, data } of images) expect(same(readFileSync(join(openedDir, path.split('/').at(-1)!)), data), path).toBe(true);
    }
    const victim = join(dir, 'raw-nonce,tag,ciphertext', 'cam-5.jpg.eax');
    const bytes = readFileSync(victim);
    bytes[100]! ^= 1;
    writeFileSync(victim, bytes);
    const files = images.map((i) => join(dir, 'raw-nonce,tag,ciphertext', `${i.path.split('/').at(-1)}.eax`));
    expectOneLineError(run(['decrypt', ...files, '-o', join(dir, 'refused/'), '--format', 'raw', '-k', key, '--jobs', '2'], { cwd: dir }), /cam-5\.jpg\.eax.*does not verify/);
    expect(existsSync(join(dir, 'refused', 'cam-5.jpg'))).toBe(false);
  });

  it('a sidecar batch above 32 MiB seals and opens a file per worker: what the library reads, the reference scripts\' metadata too, and a tampered one refused', () => {
    const key = keygen();
    const keyBytes = readFileSync(key);
    const counting = { cwd: dir, env: { NODE_OPTIONS: `--require ${join(packageRoot, 'test', 'helpers', 'count-workers.cjs')}` } };
    const images = Array.from({ length: 24 }, (_, i) => input(1_671_137 + i, `side-${i}.jpg`));
    const sealedDir = join(dir, 'side-sealed');
    const sealing = run(['encrypt', ...images.map((i) => i.path), '-o', `${sealedDir}/`, '--format', 'sidecar', '-k', key, '--jobs', '2'], counting);
    expect(sealing.status, sealing.stderr).toBe(0);
    expect(sealing.stderr).toBe('workers started: 2\n');
    const sealedFiles = images.map((i) => join(sealedDir, `${i.path.split('/').at(-1)}.eax`));
    images.forEach(({ data }, i) => expect(same(openSidecar(keyBytes, readFileSync(sealedFiles[i]!), readFileSync(`${sealedFiles[i]}.json`, 'utf8')), data), sealedFiles[i]).toBe(true));
    // Half of them described as a reference script would: the nonce and tag only, and a field of its own.
    for (const file of sealedFiles.slice(12)) {
      const { nonce, tag } = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as { nonce: string; tag: string };
      writeFileSync(`${file}.json`, JSON.stringify({ nonce, tag, camera: 'cam-7' }));
    }
    const opening = run(['decrypt', ...sealedFiles, '-o', join(dir, 'side-open/'), '-k', key, '--jobs', '2'], counting);
    expect(opening.status, opening.stderr).toBe(0);
    expect(opening.stderr).toBe('workers started: 2\n');
    for (const { path, data } of images) expect(same(readFileSync(join(dir, 'side-open', path.split('/').at(-1)!)), data), path).toBe(true);
    const bytes = readFileSync(sealedFiles[20]!);
    bytes[1000]! ^= 1;
    writeFileSync(sealedFiles[20]!, bytes);
    expectOneLineError(run(['decrypt', ...sealedFiles, '-o', join(dir, 'side-refused/'), '-k', key, '--jobs', '2'], { cwd: dir }), /does not verify/);
    expect(existsSync(join(dir, 'side-refused', 'side-20.jpg'))).toBe(false);
  });

  it('--version and encrypt of one image load no cloud SDK, transport, logger, piscina or progress bar off a terminal (the bundle keeps them lazy)', () => {
    const key = keygen();
    const { path } = input(100_000);
    const lazy = /node_modules\/(@aws-sdk|@azure|aedes|azure-iot|cli-progress|mqtt|pino|piscina|sharp)/;
    for (const args of [['--version'], ['encrypt', path, '-o', join(dir, 'x.sealed'), '-k', key], ['encrypt', path, '-o', join(dir, 'x.eax'), '--format', 'raw', '-k', key]]) {
      const record = join(dir, 'imports.txt');
      writeFileSync(record, '');
      const r = run(args, { cwd: dir, env: { NODE_OPTIONS: `--import ${join(packageRoot, 'test', 'helpers', 'record-imports.mjs')}`, RECORD_IMPORTS: record } });
      expect(r.status, r.stderr).toBe(0);
      const loaded = readFileSync(record, 'utf8').split('\n').filter(Boolean);
      expect(loaded.some((url) => url.endsWith('/dist/cli/main.js')), args.join(' ')).toBe(true);
      expect(loaded.filter((url) => lazy.test(url)), args.join(' ')).toEqual([]);
    }
  });

  it('files sealed by the library open with the CLI, whatever their layout (detected)', () => {
    const key = keygen();
    const keyBytes = readFileSync(key);
    const plain = randomBytes(70_000);
    writeFileSync(join(dir, 'lib.sealed'), sealBuffer(plain, { kek: keyBytes, keyId: 'k', keyVersion: '9' }));
    writeFileSync(join(dir, 'lib-raw.eax'), sealRaw(keyBytes, plain));
    const side = sealSidecar(keyBytes, plain, { keyName: 'k', keyVersion: '9', originalName: 'lib.jpg' });
    writeFileSync(join(dir, 'lib-side.eax'), side.ciphertext);
    writeFileSync(join(dir, 'lib-side.eax.json'), serializeSidecarMetadata(side.metadata));
    const inputs = ['lib.sealed', 'lib-raw.eax', 'lib-side.eax'].map((n) => join(dir, n));
    expectOk(sealcam('decrypt', ...inputs, '-o', join(dir, 'out'), '-k', key));
    for (const name of ['lib', 'lib-raw', 'lib-side']) expect(same(readFileSync(join(dir, 'out', name)), plain), name).toBe(true);
  });

  it('sealed is the default; with -k it records --key-name or the key file name, version 1', () => {
    const key = keygen('front-door.key');
    const { path, data } = input(100_000);
    expectOk(sealcam('encrypt', path, '-o', join(dir, 'a'), '-k', key));
    const a = readFileSync(join(dir, 'a'));
    expect(a.subarray(0, 8)).toEqual(MAGIC);
    expect(parseHeader(a)).toMatchObject({ keyId: 'front-door', keyVersion: '1', segmentSize: 65536 });
    expect(parseHeader(a).metadata).toEqual({ originalName: 'photo.jpg', originalSize: data.length });

    expectOk(sealcam('encrypt', path, '-o', join(dir, 'b'), '-k', key, '--key-name', 'gate-kek'));
    expect(parseHeader(readFileSync(join(dir, 'b')))).toMatchObject({ keyId: 'gate-kek', keyVersion: '1' });
  });

  it('--format overrides detection: a sealed file read as raw fails to authenticate', () => {
    const key = keygen();
    const { path } = input(5000);
    expectOk(sealcam('encrypt', path, '-o', join(dir, 'x.sealed'), '-k', key));
    mkdirSync(join(dir, 'out'));
    failsCleanly(sealcam('decrypt', join(dir, 'x.sealed'), '-o', join(dir, 'out', 'x'), '-k', key, '--format', 'raw'), /authentication failed: .*x\.sealed/, join(dir, 'out'));
    failsCleanly(sealcam('decrypt', path, '-o', join(dir, 'out', 'x'), '-k', key, '--format', 'sealed'), /photo\.jpg: not a sealed file \(bad magic\)/, join(dir, 'out'));
  });
});

describe('sealcam encrypt / decrypt: batches and outputs', () => {
  it('several inputs go into a new directory; a single input into an existing one', () => {
    const key = keygen();
    const a = input(10, 'a.jpg');
    const b = input(20, 'b.jpg');
    expectOk(sealcam('encrypt', a.path, b.path, '-o', join(dir, 'batch'), '-k', key));
    expect(readdirSync(join(dir, 'batch')).sort()).toEqual(['a.jpg.sealed', 'b.jpg.sealed']);

    mkdirSync(join(dir, 'one'));
    expectOk(sealcam('encrypt', a.path, '-o', join(dir, 'one'), '-k', key, '--format', 'sidecar'));
    expect(readdirSync(join(dir, 'one')).sort()).toEqual(['a.jpg.eax', 'a.jpg.eax.json']);

    mkdirSync(join(dir, 'opened'));
    expectOk(sealcam('decrypt', join(dir, 'batch', 'b.jpg.sealed'), '-o', join(dir, 'opened'), '-k', key));
    expect(same(readFileSync(join(dir, 'opened', 'b.jpg')), b.data)).toBe(true);
  });

  it('refuses impossible batches before writing anything', () => {
    const key = keygen();
    const a = input(10, 'a.jpg');
    mkdirSync(join(dir, 'x'));
    const twin = input(10, join('x', 'a.jpg'));
    const before = readdirSync(dir).sort();
    expectOneLineError(sealcam('encrypt', a.path, twin.path, '-o', join(dir, 'out'), '-k', key), /a\.jpg and .*x\/a\.jpg would both be written to .*out\/a\.jpg\.sealed/);
    expectOneLineError(sealcam('encrypt', a.path, twin.path, '-o', key, '-k', key), /-o .*key is a file; with several inputs -o must be a directory/);
    expectOneLineError(sealcam('decrypt', a.path, twin.path, '-o', join(dir, 'out'), '-k', key), /cannot name the output for .*a\.jpg .*does not end in \.sealed or \.eax/);
    expect(readdirSync(dir).sort()).toEqual(before);
  });

  it('--force rules: an existing output (or sidecar .json) stops the whole batch untouched; --force replaces', () => {
    const key = keygen();
    const a = input(10, 'a.jpg');
    const b = input(20, 'b.jpg');
    mkdirSync(join(dir, 'out'));
    writeFileSync(join(dir, 'out', 'b.jpg.eax.json'), 'keep me');
    const r = sealcam('encrypt', a.path, b.path, '-o', join(dir, 'out'), '-k', key, '--format', 'sidecar');
    expectOneLineError(r, /output file .*b\.jpg\.eax\.json exists; use --force to overwrite/);
    expect(readdirSync(join(dir, 'out'))).toEqual(['b.jpg.eax.json']); // not even a.jpg's pair was written

    expectOk(sealcam('encrypt', a.path, b.path, '-o', join(dir, 'out'), '-k', key, '--format', 'sidecar', '--force'));
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['a.jpg.eax', 'a.jpg.eax.json', 'b.jpg.eax', 'b.jpg.eax.json']);
    expect(parseSidecarMetadata(readFileSync(join(dir, 'out', 'b.jpg.eax.json'), 'utf8')).originalSize).toBe(20);

    writeFileSync(join(dir, 'b.jpg'), 'older');
    expectOneLineError(sealcam('decrypt', join(dir, 'out', 'b.jpg.eax'), '-o', dir, '-k', key), /output file .*b\.jpg exists; use --force/);
    expect(readFileSync(join(dir, 'b.jpg'), 'utf8')).toBe('older');
    expectOk(sealcam('decrypt', join(dir, 'out', 'b.jpg.eax'), '-o', dir, '-k', key, '--force'));
    expect(same(readFileSync(join(dir, 'b.jpg')), b.data)).toBe(true);
  });

  it('--verbose prints one summary line; without it a successful batch prints nothing', () => {
    const key = keygen();
    const a = input(1000, 'a.jpg');
    const b = input(1000, 'b.jpg');
    const r = sealcam('encrypt', a.path, b.path, '-o', join(dir, 'out'), '-k', key, '--verbose');
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^sealing 2 files: [\d.]+ MB[^\n]*\n$/);
    expect(r.stdout).toBe('');
  });

  it('an input that is a directory is refused in one line', () => {
    const key = keygen();
    mkdirSync(join(dir, 'photos'));
    expectOneLineError(sealcam('encrypt', join(dir, 'photos'), '-o', join(dir, 'x'), '-k', key), /input .*photos is not a regular file/);
  });
});

describe('sealcam encrypt / decrypt: keys from the key provider', () => {
  it('--keys-dir: seals under the newest version, and after keys rotate the old files still open (sealed, sidecar)', () => {
    const keys = join(dir, 'keyring');
    const { path, data } = input(50_000);
    // A run refused for an existing output does not create the key either.
    writeFileSync(join(dir, 'v1.sealed'), 'keep me');
    expectOneLineError(sealcam('encrypt', path, '-o', join(dir, 'v1.sealed'), '--keys-dir', keys), /v1\.sealed exists; use --force/);
    expect(existsSync(keys)).toBe(false);
    expectOkCreatingKey(sealcam('encrypt', path, '-o', join(dir, 'v1.sealed'), '--keys-dir', keys, '--force'), join(keys, 'sealcam-kek', '1.key'));
    expectOk(sealcam('encrypt', path, '-o', join(dir, 'v1.eax'), '--keys-dir', keys, '--format', 'sidecar'));
    expect(parseHeader(readFileSync(join(dir, 'v1.sealed')))).toMatchObject({ keyId: 'sealcam-kek', keyVersion: '1' });
    expect(mode(join(keys, 'sealcam-kek', '1.key'))).toBe(0o600);

    expect(sealcam('keys', 'rotate', '--keys-dir', keys).status).toBe(0);
    expectOk(sealcam('encrypt', path, '-o', join(dir, 'v2.sealed'), '--keys-dir', keys));
    expectOk(sealcam('encrypt', path, '-o', join(dir, 'v2.eax'), '--keys-dir', keys, '--format', 'sidecar'));
    expect(parseHeader(readFileSync(join(dir, 'v2.sealed')))).toMatchObject({ keyId: 'sealcam-kek', keyVersion: '2' });
    expect(JSON.parse(readFileSync(join(dir, 'v2.eax.json'), 'utf8'))).toMatchObject({ keyName: 'sealcam-kek', keyVersion: '2' });

    // Each file opens under the version it names (two inputs must not share an output name).
    for (const layout of ['sealed', 'eax']) {
      const all = ['v1', 'v2'].map((n) => join(dir, `${n}.${layout}`));
      expectOk(sealcam('decrypt', ...all, '-o', join(dir, layout), '--keys-dir', keys));
      for (const v of ['v1', 'v2']) expect(same(readFileSync(join(dir, layout, v)), data), `${v}.${layout}`).toBe(true);
    }

    // A version the keyring does not have is named, and nothing is written.
    rmSync(join(keys, 'sealcam-kek', '1.key'));
    mkdirSync(join(dir, 'empty'));
    failsCleanly(sealcam('decrypt', join(dir, 'v1.sealed'), '-o', join(dir, 'empty', 'x'), '--keys-dir', keys), /key sealcam-kek has no version 1 /, join(dir, 'empty'));
  });

  it('the config file names the keyring and the key (sealcam.config.json, or --config)', () => {
    writeFileSync(join(dir, 'sealcam.config.json'), JSON.stringify({ keys: { dir: 'ring', name: 'porch' }, seal: { segmentSize: 8192 } }));
    const { path, data } = input(30_000);
    expectOkCreatingKey(sealcam('encrypt', path, '-o', join(dir, 'p.sealed')), join(dir, 'ring', 'porch', '1.key'));
    expect(parseHeader(readFileSync(join(dir, 'p.sealed')))).toMatchObject({ keyId: 'porch', keyVersion: '1', segmentSize: 8192 });
    expect(existsSync(join(dir, 'ring', 'porch', '1.key'))).toBe(true);
    expectOk(sealcam('decrypt', join(dir, 'p.sealed'), '-o', join(dir, 'p.out')));
    expect(same(readFileSync(join(dir, 'p.out')), data)).toBe(true);

    const other = join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ keys: { dir: join(dir, 'ring2') } }));
    expectOkCreatingKey(sealcam('encrypt', path, '-o', join(dir, 'q.sealed'), '--config', other), join(dir, 'ring2', 'sealcam-kek', '1.key'));
    expect(existsSync(join(dir, 'ring2', 'sealcam-kek', '1.key'))).toBe(true);
  });

  it('raw needs -k: it records no key name to look up', () => {
    const { path } = input(100);
    expectOneLineError(sealcam('encrypt', path, '-o', join(dir, 'x.eax'), '--format', 'raw', '--keys-dir', join(dir, 'ring')), /--format raw needs -k\/--key-file/);
    writeFileSync(join(dir, 'x.eax'), randomBytes(100));
    expectOneLineError(sealcam('decrypt', join(dir, 'x.eax'), '-o', join(dir, 'x')), /x\.eax has no sealed header and no metadata file beside it, so it reads as raw, and raw needs -k\/--key-file/);
    expect(existsSync(join(dir, 'x'))).toBe(false);
    expect(existsSync(join(dir, 'ring'))).toBe(false);
  });

  it('bad --jobs and --segment-size values are refused in one line naming the flag', () => {
    const key = keygen();
    const { path } = input(100);
    expectOneLineError(sealcam('encrypt', path, '-o', join(dir, 'x'), '-k', key, '--segment-size', '1000'), /seal\.segmentSize 1000 must be a power of two .*\(--segment-size\)/);
    expectOneLineError(sealcam('encrypt', path, '-o', join(dir, 'x'), '-k', key, '--jobs', '-1'), /seal\.jobs must be 0 .*\(--jobs\)/);
  });
});

describe('sealcam decrypt: damaged, truncated and wrong-key inputs fail in one line and leave nothing', () => {
  /** A sealed file of 5 segments of 4 KiB, a key, another key, and an empty output directory. */
  function sealedFixture(layout: 'sealed' | 'raw' | 'sidecar') {
    const key = keygen('key');
    const other = keygen('other');
    const { path } = input(4 * SEGMENT + 100);
    const sealedPath = join(dir, `photo${LAYOUT_EXT[layout]}`);
    expectOk(sealcam('encrypt', path, '-o', sealedPath, '-k', key, '--format', layout, '--segment-size', String(SEGMENT)));
    mkdirSync(join(dir, 'out'));
    const out = join(dir, 'out');
    const open = (...args: string[]) => sealcam('decrypt', sealedPath, '-o', join(out, 'photo.jpg'), ...args);
    return { key, other, sealedPath, out, open };
  }

  type Fixture = ReturnType<typeof sealedFixture>;
  /** A refusal: how the file is damaged (from its pristine bytes), whether the other key is used, and what the error says. */
  type Refusal = [what: string, damage: (pristine: Buffer, f: Fixture) => Uint8Array | undefined, otherKey: boolean, message: RegExp];

  /** One fixture per layout, restored before each case; each case must fail in one line and write nothing. */
  function refusals(layout: 'sealed' | 'raw' | 'sidecar', cases: Refusal[]): void {
    let f: Fixture;
    let pristine: Buffer;
    let pristineMetadata: Buffer | undefined;
    beforeAll(() => {
      dir = mkdtempSync(join(root, 'refusals-'));
      f = sealedFixture(layout);
      pristine = readFileSync(f.sealedPath);
      if (layout === 'sidecar') pristineMetadata = readFileSync(`${f.sealedPath}.json`);
    });
    it.each(cases)(`${layout}: %s`, (_what, damage, otherKey, message) => {
      if (pristineMetadata !== undefined) writeFileSync(`${f.sealedPath}.json`, pristineMetadata);
      writeFileSync(f.sealedPath, pristine);
      writeFileSync(f.sealedPath, damage(pristine, f) ?? pristine);
      failsCleanly(f.open('-k', otherKey ? f.other : f.key), message, f.out);
    });
  }

  const flipped = (bytes: Buffer, offset: number): Buffer => {
    const copy = Buffer.from(bytes);
    copy[offset < 0 ? copy.length + offset : offset]! ^= 0x01;
    return copy;
  };
  const headerLength = (pristine: Buffer) => parseHeader(pristine).headerLength;
  const segmentStart = (pristine: Buffer, i: number) => headerLength(pristine) + i * (SEGMENT + 16);

  describe('sealed', () => {
    refusals('sealed', [
      ['an altered segment is named', (p) => flipped(p, segmentStart(p, 2) + 100), false, /photo\.sealed: segment 2 failed verification/],
      ['an altered last tag', (p) => flipped(p, -1), false, /segment 4 \(the last\) failed verification/],
      ['a wrong key', () => undefined, true, /photo\.sealed: wrong key: the file's key could not be unwrapped with key key version 1/],
      ['a cut at a segment boundary', (p) => p.subarray(0, segmentStart(p, 3)), false, /segment 2 \(the last\) failed verification: altered, or the file was truncated/],
      ['a cut inside a tag-sized tail', (p) => p.subarray(0, segmentStart(p, 3) + 8), false, /truncated: the last segment is 8 bytes/],
      ['a cut inside the header', (p) => p.subarray(0, headerLength(p) - 5), false, /truncated header/],
      ['an unsupported version', (p) => Buffer.concat([p.subarray(0, 8), Buffer.from([3]), p.subarray(9)]), false, /unsupported sealed version 3/],
      ['an absurd header length', (p) => { const b = Buffer.from(p); b.writeUInt32BE(0xffffffff, 12); return b; }, false, /invalid header length 4294967295/],
      ['no magic: read as raw, and refused as such', (p) => flipped(p, 0), false, /authentication failed: .*photo\.sealed does not verify under this key as a raw file/],
    ]);
  });

  describe('raw', () => {
    refusals('raw', [
      ['altered', (p) => flipped(p, 5000), false, /authentication failed: .*photo\.eax does not verify/],
      ['a wrong key', () => undefined, true, /authentication failed: .*wrong key, or the file was altered/],
      ['one byte short', (p) => p.subarray(0, p.length - 1), false, /authentication failed/],
      ['shorter than nonce and tag', (p) => p.subarray(0, 20), false, /photo\.eax: input is 20 bytes, too short to be a raw sealed file/],
    ]);
  });

  describe('sidecar', () => {
    /** The metadata file rewritten by `change`; the ciphertext stays pristine. */
    const metadata = (change: (m: Record<string, unknown>, json: string) => string) => (_p: Buffer, f: Fixture) => {
      const path = `${f.sealedPath}.json`;
      const json = readFileSync(path, 'utf8');
      writeFileSync(path, change(JSON.parse(json) as Record<string, unknown>, json));
      return undefined;
    };
    const alteredTag = (m: Record<string, unknown>) => {
      const tag = Buffer.from(String(m.tag), 'base64');
      tag[0]! ^= 1;
      return JSON.stringify({ ...m, tag: tag.toString('base64') });
    };
    refusals('sidecar', [
      ['a ciphertext altered', (p) => flipped(p, 5000), false, /sidecar mismatch: the ciphertext does not match the ciphertextSha256 in .*photo\.eax\.json/],
      ['a ciphertext cut', (p) => p.subarray(0, 1000), false, /sidecar mismatch: the ciphertext is 1000 bytes but .*photo\.eax\.json says 16484/],
      ['a wrong key', () => undefined, true, /photo\.eax: sidecar tag does not verify: wrong key/],
      ['an altered tag', metadata(alteredTag), false, /sidecar tag does not verify/],
      ['metadata that is not JSON', metadata((_m, json) => json.slice(0, 50)), false, /photo\.eax\.json is not valid JSON/],
      ['an unsupported metadata version', metadata((m) => JSON.stringify({ ...m, version: 7 })), false, /unsupported sidecar version 7/],
    ]);
  });

  it('in a batch the first failure stops the run; the files finished before it are complete', () => {
    const key = keygen();
    const good = input(2000, 'good.jpg');
    const bad = input(2000, 'bad.jpg');
    expectOk(sealcam('encrypt', good.path, bad.path, '-o', join(dir, 'sealed'), '-k', key));
    flip(join(dir, 'sealed', 'bad.jpg.sealed'), -3);
    const r = sealcam('decrypt', join(dir, 'sealed', 'good.jpg.sealed'), join(dir, 'sealed', 'bad.jpg.sealed'), '-o', join(dir, 'opened'), '-k', key);
    expectOneLineError(r, /bad\.jpg\.sealed: segment 0 \(the last\) failed verification/);
    expect(readdirSync(join(dir, 'opened'))).toEqual(['good.jpg']);
    expect(same(readFileSync(join(dir, 'opened', 'good.jpg')), good.data)).toBe(true);
  });
});

describe('sealcam decrypt interrupted', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('%s mid-write removes the temp file (unverified plaintext) and ends as the signal says', async (signal) => {
    const key = keygen();
    const { path } = input(128 * 1024 * 1024, 'clip.bin');
    const sealedPath = join(dir, 'clip.eax');
    // raw: one EAX message, so everything written before the end is unverified.
    expectOk(sealcam('encrypt', path, '-o', sealedPath, '-k', key, '--format', 'raw'));
    const out = join(dir, 'out');
    mkdirSync(out);
    const child = spawn(process.execPath, [CLI, 'decrypt', sealedPath, '-o', join(out, 'clip.bin'), '-k', key], { cwd: dir, env: cleanEnv(), stdio: 'ignore' });
    const exited = once(child, 'exit');
    const writing = () => readdirSync(out).some((n) => n.endsWith('.tmp') && statSync(join(out, n)).size > 0);
    for (const deadline = Date.now() + 30_000; !writing(); ) {
      if (Date.now() > deadline) throw new Error('decrypt never started writing');
      await new Promise((r) => setTimeout(r, 2));
    }
    child.kill(signal);
    const [code, endedBy] = await exited;
    expect({ code, endedBy }).toEqual({ code: null, endedBy: signal });
    expect(readdirSync(out)).toEqual([]);
  }, 60_000);
});
