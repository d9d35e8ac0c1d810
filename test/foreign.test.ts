/**
 * The files a team brings from pycryptodome scripts like the seed's, written here by the real
 * pycryptodome (Debian's /usr/bin/python3, Cryptodome): `encrypted_image.bin` beside
 * `encryption_metadata.json` (nonce and tag in base64 or hex, under their own names, with fields
 * of their own), `nonce || tag || ciphertext`, and `nonce || ciphertext || tag`; keys as raw
 * bytes, hex or base64 (a Key Vault secret's value). Opened with `sealcam decrypt` and re-sealed
 * with `sealcam convert`, through the built CLI.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseHeader } from '../src/formats/sealed.js';
import { parseForeignMetadata } from '../src/formats/sidecar.js';
import { same } from './helpers/bytes.js';
import { createdKeyLine, expectOk, expectOneLineError, sealcam as run, userKeyring, type Run } from './helpers/cli.js';
import { dirMaker } from './helpers/temp-dir.js';

const PYTHON = '/usr/bin/python3';

/** Writes files the way the reference scripts do. */
const PY = String.raw`
import base64, json, sys
from Cryptodome.Cipher import AES

for job in json.load(sys.stdin):
    key = bytes.fromhex(job['key'])
    data = open(job['input'], 'rb').read()
    cipher = AES.new(key, AES.MODE_EAX)
    ciphertext, tag = cipher.encrypt_and_digest(data)
    kind = job['kind']
    if kind == 'seed':
        # The seed: encrypted_image.bin, and the nonce and tag in encryption_metadata.json (base64).
        open(job['output'], 'wb').write(ciphertext)
        meta = {'nonce': base64.b64encode(cipher.nonce).decode(), 'tag': base64.b64encode(tag).decode(),
                'original_filename': job['name'], 'timestamp': job['time'], 'camera': 'porch', 'key_version': 3}
        json.dump(meta, open(job['metadata'], 'w'), indent=2)
    elif kind == 'hex':
        open(job['output'], 'wb').write(ciphertext)
        json.dump({'IV': cipher.nonce.hex(), 'MAC': tag.hex(), 'algo': 'AES-EAX'}, open(job['metadata'], 'w'))
    elif kind == 'nonce,tag,ciphertext':
        open(job['output'], 'wb').write(cipher.nonce + tag + ciphertext)
    elif kind == 'nonce,ciphertext,tag':
        open(job['output'], 'wb').write(cipher.nonce + ciphertext + tag)
    else:
        raise ValueError(kind)
`;

type Kind = 'seed' | 'hex' | 'nonce,tag,ciphertext' | 'nonce,ciphertext,tag';

interface Job {
  kind: Kind;
  key: Buffer;
  input: string;
  output: string;
  metadata?: string;
  name?: string;
  time?: string;
}

function pycryptodome(jobs: Job[]): void {
  const r = spawnSync(PYTHON, ['-c', PY], {
    input: JSON.stringify(jobs.map((j) => ({ ...j, key: j.key.toString('hex') }))),
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`pycryptodome (${PYTHON}, apt-get install python3-pycryptodome) failed: ${r.stderr}`);
}

const nextDir = dirMaker('sealcam-foreign-');
let dir: string;
beforeEach(() => void (dir = nextDir()));

const sealcam = (...args: string[]): Run => run(args, { cwd: dir });

function plaintext(name: string, size: number, at = dir): { path: string; data: Buffer } {
  const data = randomBytes(size);
  const path = join(at, name);
  writeFileSync(path, data);
  return { path, data };
}

/** A key file in one of the encodings a team has: raw bytes, hex text, or base64 text (as Key Vault gives a secret). */
function keyFile(key: Buffer, encoding: 'raw' | 'hex' | 'base64', name = `key.${encoding}`): string {
  const path = join(dir, name);
  writeFileSync(path, encoding === 'raw' ? key : `${key.toString(encoding)}\n`, { mode: 0o600 });
  return path;
}

describe('sealcam decrypt: what pycryptodome scripts wrote', () => {
  it.each(['raw', 'hex', 'base64'] as const)('the seed layout (encrypted_image.bin + encryption_metadata.json, base64), key as %s', (encoding) => {
    const key = randomBytes(16);
    const { path, data } = plaintext('image.jpg', 300_000);
    pycryptodome([{ kind: 'seed', key, input: path, output: join(dir, 'encrypted_image.bin'), metadata: join(dir, 'encryption_metadata.json'), name: 'image.jpg', time: '2024-03-01T10:00:00Z' }]);
    // Found beside it by its fixed name; the script's own fields (camera, key_version...) are ignored.
    expectOk(sealcam('decrypt', join(dir, 'encrypted_image.bin'), '-o', join(dir, 'out.jpg'), '-k', keyFile(key, encoding)));
    expect(same(readFileSync(join(dir, 'out.jpg')), data)).toBe(true);
  });

  it('hex nonce and tag under the names iv and mac (any case), named with --metadata', () => {
    const key = randomBytes(32);
    const { path, data } = plaintext('image.jpg', 70_000);
    pycryptodome([{ kind: 'hex', key, input: path, output: join(dir, 'cipher.dat'), metadata: join(dir, 'params.json') }]);
    expectOk(sealcam('decrypt', join(dir, 'cipher.dat'), '--metadata', join(dir, 'params.json'), '-o', join(dir, 'out.jpg'), '-k', keyFile(key, 'base64')));
    expect(same(readFileSync(join(dir, 'out.jpg')), data)).toBe(true);
  });

  it('nonce || tag || ciphertext opens as raw; nonce || ciphertext || tag needs --layout, and fails to verify without it', () => {
    const key = randomBytes(24);
    const { path, data } = plaintext('image.jpg', 1_100_000);
    pycryptodome([
      { kind: 'nonce,tag,ciphertext', key, input: path, output: join(dir, 'a.bin') },
      { kind: 'nonce,ciphertext,tag', key, input: path, output: join(dir, 'b.bin') },
    ]);
    const k = keyFile(key, 'hex');
    expectOk(sealcam('decrypt', join(dir, 'a.bin'), '-o', join(dir, 'a.jpg'), '-k', k));
    expect(same(readFileSync(join(dir, 'a.jpg')), data)).toBe(true);
    expectOneLineError(sealcam('decrypt', join(dir, 'b.bin'), '-o', join(dir, 'b.jpg'), '-k', k), /b\.bin does not verify under this key as a raw file .*\(key from -k .*key\.hex\)/);
    expectOk(sealcam('decrypt', join(dir, 'b.bin'), '--layout', 'nonce,ciphertext,tag', '-o', join(dir, 'b.jpg'), '-k', k));
    expect(same(readFileSync(join(dir, 'b.jpg')), data)).toBe(true);
  });

  it('a metadata file without a nonce or tag lists the names tried; a short tag, a bad layout and a missing key are refused in one line', () => {
    const key = randomBytes(16);
    const { path } = plaintext('image.jpg', 1000);
    pycryptodome([{ kind: 'seed', key, input: path, output: join(dir, 'encrypted_image.bin'), metadata: join(dir, 'encryption_metadata.json'), name: 'image.jpg', time: 'x' }]);
    const k = keyFile(key, 'raw');
    const meta = JSON.parse(readFileSync(join(dir, 'encryption_metadata.json'), 'utf8')) as Record<string, string>;
    writeFileSync(join(dir, 'no-nonce.json'), JSON.stringify({ tag: meta.tag, salt: 'x' }));
    expectOneLineError(
      sealcam('decrypt', join(dir, 'encrypted_image.bin'), '--metadata', join(dir, 'no-nonce.json'), '-o', join(dir, 'o'), '-k', k),
      /no-nonce\.json has no nonce: tried the members nonce, iv \(found tag, salt\)/,
    );
    writeFileSync(join(dir, 'short.json'), JSON.stringify({ nonce: meta.nonce, tag: Buffer.from(meta.tag!, 'base64').subarray(0, 4).toString('base64') }));
    expectOneLineError(sealcam('decrypt', join(dir, 'encrypted_image.bin'), '--metadata', join(dir, 'short.json'), '-o', join(dir, 'o'), '-k', k), /tag is 4 bytes; sealcam opens only 16-byte tags/);
    expectOneLineError(sealcam('decrypt', join(dir, 'encrypted_image.bin'), '-o', join(dir, 'o')), /described by .*encryption_metadata\.json, which records no key name, so opening it needs -k/);
    expectOneLineError(sealcam('decrypt', join(dir, 'encrypted_image.bin'), '--layout', 'nonce,nonce,tag', '-o', join(dir, 'o'), '-k', k), /must name nonce, tag and ciphertext once each/);
    // The wrong metadata for the file: named in the error.
    const other = randomBytes(16);
    writeFileSync(join(dir, 'other.json'), JSON.stringify({ nonce: other.toString('base64'), tag: meta.tag }));
    expectOneLineError(sealcam('decrypt', join(dir, 'encrypted_image.bin'), '--metadata', join(dir, 'other.json'), '-o', join(dir, 'o'), '-k', k), /with the nonce and tag of .*other\.json/);
    expect(readdirSync(dir).filter((f) => f === 'o' || f.endsWith('.tmp'))).toEqual([]);
  });

  it('parseForeignMetadata: base64 (padded or not, URL alphabet) and hex, the 16-byte reading preferred, name and capture time kept', () => {
    const nonce = randomBytes(16);
    const tag = randomBytes(16);
    for (const [n, t] of [
      [nonce.toString('base64'), tag.toString('base64')],
      [nonce.toString('base64').replace(/=+$/, ''), tag.toString('base64url')],
      [nonce.toString('hex').toUpperCase(), tag.toString('hex')],
    ]) {
      const m = parseForeignMetadata({ Nonce: n, mac: t, filename: 'porch.jpg', captured_at: '2024-01-02T03:04:05Z', extra: [1, 2] });
      expect(Buffer.from(m.nonce)).toEqual(nonce);
      expect(Buffer.from(m.tag)).toEqual(tag);
      expect(m).toMatchObject({ originalName: 'porch.jpg', captureTime: '2024-01-02T03:04:05.000Z', fields: { nonce: 'Nonce', tag: 'mac' } });
    }
    // A name with a directory in it is not kept; a time in Unix seconds is.
    expect(parseForeignMetadata({ nonce: nonce.toString('hex'), tag: tag.toString('hex'), filename: '../x', timestamp: 1700000000 })).toMatchObject({ captureTime: '2023-11-14T22:13:20.000Z' });
    expect(parseForeignMetadata({ nonce: nonce.toString('hex'), tag: tag.toString('hex'), filename: '../x' }).originalName).toBeUndefined();
    expect(() => parseForeignMetadata({ nonce: 'not base64 or hex!', tag: tag.toString('hex') })).toThrow(/nonce must be base64 or hex text/);
  });
});

describe('sealcam convert', () => {
  it('re-seals a mixed tree after verifying each file: names, capture times and modification times kept; a summary of converted, skipped and refused', () => {
    const key = randomBytes(16);
    const src = join(dir, 'legacy');
    for (const sub of ['day1', 'day2', 'day3']) mkdirSync(join(src, sub), { recursive: true });
    const originals = join(dir, 'originals');
    mkdirSync(originals);
    const seed = plaintext('front.jpg', 200_000, originals);
    const a = plaintext('a.jpg', 50_000, originals);
    const b = plaintext('b.jpg', 1_200_000, originals);
    pycryptodome([
      { kind: 'seed', key, input: seed.path, output: join(src, 'day1', 'encrypted_image.bin'), metadata: join(src, 'day1', 'encryption_metadata.json'), name: 'front.jpg', time: '2024-03-01T10:00:00Z' },
      { kind: 'nonce,tag,ciphertext', key, input: a.path, output: join(src, 'day2', 'a.bin') },
      { kind: 'nonce,ciphertext,tag', key, input: b.path, output: join(src, 'day2', 'b.bin') },
    ]);
    const mtime = new Date('2024-02-02T02:02:02Z');
    utimesSync(join(src, 'day2', 'a.bin'), mtime, mtime);
    writeFileSync(join(src, 'day3', 'broken.bin'), randomBytes(5000));
    const k = keyFile(key, 'base64');
    // A file sealed already (by sealcam, under the keyring) is skipped.
    const done = plaintext('done.jpg', 3000);
    const sealedAlready = sealcam('encrypt', done.path, '-o', join(src, 'day3', 'done.jpg.sealed'));
    expect(sealedAlready.status, sealedAlready.stderr).toBe(0);

    const r = sealcam('convert', src, '-o', join(dir, 'sealed'), '-k', k);
    expect(r.status).toBe(1); // broken.bin was refused
    expect(r.stderr).toMatch(/^sealcam: refused .*day3\/broken\.bin: does not verify under the key as raw nonce,tag,ciphertext and nonce,ciphertext,tag/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toContain(`converted ${join(src, 'day1', 'encrypted_image.bin')} -> ${join(dir, 'sealed', 'legacy', 'day1', 'encrypted_image.bin.sealed')} (with encryption_metadata.json)`);
    expect(lines).toContain(`converted ${join(src, 'day2', 'a.bin')} -> ${join(dir, 'sealed', 'legacy', 'day2', 'a.bin.sealed')} (as raw nonce,tag,ciphertext)`);
    expect(lines).toContain(`converted ${join(src, 'day2', 'b.bin')} -> ${join(dir, 'sealed', 'legacy', 'day2', 'b.bin.sealed')} (as raw nonce,ciphertext,tag)`);
    expect(lines).toContain(`skipped ${join(src, 'day3', 'done.jpg.sealed')}: sealed already`);
    expect(lines).toContain(`skipped ${join(src, 'day1', 'encryption_metadata.json')}: a metadata file`);
    expect(lines.at(-1)).toBe('converted 3, skipped 2, refused 1');

    // Each opens with the keyring (no -k), byte for byte, with its name and capture time in the authenticated header.
    const out = join(dir, 'sealed', 'legacy');
    for (const [file, original, name] of [
      ['day1/encrypted_image.bin.sealed', seed.data, 'front.jpg'],
      ['day2/a.bin.sealed', a.data, 'a.bin'],
      ['day2/b.bin.sealed', b.data, 'b.bin'],
    ] as const) {
      expectOk(sealcam('decrypt', join(out, file), '-o', join(dir, 'check'), '--force'));
      expect(same(readFileSync(join(dir, 'check')), original), file).toBe(true);
      expect(parseHeader(readFileSync(join(out, file))).metadata, file).toMatchObject({ originalName: name, originalSize: original.length });
    }
    expect(parseHeader(readFileSync(join(out, 'day1/encrypted_image.bin.sealed'))).metadata.captureTime).toBe('2024-03-01T10:00:00.000Z');
    expect(parseHeader(readFileSync(join(out, 'day2/a.bin.sealed'))).metadata.captureTime).toBe(mtime.toISOString());
    expect(statSync(join(out, 'day2/a.bin.sealed')).mtime.toISOString()).toBe(mtime.toISOString());
    expect(existsSync(join(out, 'day3'))).toBe(false); // nothing for what was refused or skipped
  });

  it('--json gives a line per file and a summary; existing outputs stop the run before anything is written unless --force', () => {
    const key = randomBytes(16);
    const { path } = plaintext('x.jpg', 1000);
    pycryptodome([{ kind: 'nonce,tag,ciphertext', key, input: path, output: join(dir, 'x.bin') }]);
    const k = keyFile(key, 'raw');
    const first = sealcam('convert', join(dir, 'x.bin'), '-o', join(dir, 'x.sealed'), '-k', k, '--json');
    expect(first.stderr).toBe(createdKeyLine(join(userKeyring(dir), 'sealcam-kek', '1.key')));
    expect(first.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([
      { input: join(dir, 'x.bin'), status: 'converted', output: join(dir, 'x.sealed'), how: 'as raw nonce,tag,ciphertext' },
      { summary: { converted: 1, skipped: 0, refused: 0 } },
    ]);
    expectOneLineError(sealcam('convert', join(dir, 'x.bin'), '-o', join(dir, 'x.sealed'), '-k', k), /x\.sealed exists; use --force/);
    expectOk(sealcam('convert', join(dir, 'x.bin'), '-o', join(dir, 'x.sealed'), '-k', k, '--force', '--quiet'));
  });
});
