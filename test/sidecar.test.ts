import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../src/engine/types.js';
import { AuthenticationError, InputError, SealcamError } from '../src/errors.js';
import { sealRaw } from '../src/formats/raw.js';
import { sealBuffer } from '../src/formats/sealed.js';
import {
  detectFormat,
  openSidecar,
  parseSidecarMetadata,
  sealSidecar,
  serializeSidecarMetadata,
  type SidecarMetadata,
} from '../src/formats/sidecar.js';

/**
 * The sidecar layout (ciphertext file + encryption_metadata.json, as the reference Azure scripts
 * keep an image): round trips on both engines, strict metadata validation, authentication, format
 * detection, and interop both ways with pycryptodome (Debian's /usr/bin/python3).
 */

const PYTHON = '/usr/bin/python3';
const KEY_SIZES = [16, 24, 32] as const;
const ALGORITHMS = { 16: 'AES-128-EAX', 24: 'AES-192-EAX', 32: 'AES-256-EAX' } as const;
const OPTIONS = { keyName: 'iot-image-encryption-key', keyVersion: '3f9c0a5e2b7d4c1a', originalName: 'IMG_0001.jpg' };
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function refusal(fn: () => unknown): SealcamError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SealcamError);
    expect((err as Error).message).not.toContain('\n');
    return err as SealcamError;
  }
  throw new Error('expected a refusal');
}

describe.each(ENGINES)('sealSidecar / openSidecar (%s engine)', (engine) => {
  it.each(KEY_SIZES.flatMap((k) => [0, 1, 16, 17, 4097, 300_000].map((n) => [k, n] as const)))(
    'AES-%i key, %i bytes: round trip and the metadata describes the pair',
    (keyLength, size) => {
      const key = randomBytes(keyLength);
      const pt = randomBytes(size);
      const { ciphertext, metadata } = sealSidecar(key, pt, { ...OPTIONS, engine });
      expect(ciphertext.length).toBe(size);
      expect(Object.keys(metadata)).toEqual([
        'format', 'version', 'algorithm', 'nonce', 'tag', 'keyName', 'keyVersion', 'originalName', 'originalSize', 'ciphertextSha256',
      ]);
      expect(metadata).toMatchObject({
        format: 'sealcam-sidecar',
        version: 1,
        algorithm: ALGORITHMS[keyLength],
        keyName: OPTIONS.keyName,
        keyVersion: OPTIONS.keyVersion,
        originalName: OPTIONS.originalName,
        originalSize: size,
        ciphertextSha256: sha256(ciphertext),
      });
      expect(Buffer.from(metadata.nonce, 'base64')).toHaveLength(16);
      expect(Buffer.from(metadata.tag, 'base64')).toHaveLength(16);
      expect(same(openSidecar(key, ciphertext, metadata, { engine }), pt)).toBe(true);
      // the metadata file's text opens it too
      expect(same(openSidecar(key, ciphertext, serializeSidecarMetadata(metadata), { engine }), pt)).toBe(true);
    },
  );

  it('draws a fresh nonce for every message', () => {
    const key = randomBytes(16);
    const nonces = new Set(Array.from({ length: 50 }, () => sealSidecar(key, new Uint8Array(1), { ...OPTIONS, engine }).metadata.nonce));
    expect(nonces.size).toBe(50);
  });

  it('the other engine opens what this one sealed', () => {
    const key = randomBytes(32);
    const pt = randomBytes(5000);
    const { ciphertext, metadata } = sealSidecar(key, pt, { ...OPTIONS, engine });
    for (const other of ENGINES) expect(same(openSidecar(key, ciphertext, metadata, { engine: other }), pt)).toBe(true);
  });

  describe('refusals', () => {
    const key = randomBytes(16);
    const pt = randomBytes(1000);
    const { ciphertext, metadata } = sealSidecar(key, pt, { ...OPTIONS, engine });
    const withTag = (tag: Uint8Array): SidecarMetadata => ({ ...metadata, tag: Buffer.from(tag).toString('base64') });

    it('a flipped tag bit is AuthenticationError', () => {
      const tag = Buffer.from(metadata.tag, 'base64');
      for (const i of [0, 7, 15]) {
        const bad = Uint8Array.from(tag);
        bad[i]! ^= 1 << (i % 8);
        expect(refusal(() => openSidecar(key, ciphertext, withTag(bad), { engine }))).toBeInstanceOf(AuthenticationError);
      }
    });

    it('a flipped nonce bit is AuthenticationError', () => {
      const nonce = Buffer.from(metadata.nonce, 'base64');
      nonce[3]! ^= 0x20;
      const e = refusal(() => openSidecar(key, ciphertext, { ...metadata, nonce: nonce.toString('base64') }, { engine }));
      expect(e).toBeInstanceOf(AuthenticationError);
      expect(e.message).toMatch(/tag does not verify/);
    });

    it('an altered ciphertext is AuthenticationError, caught by the hash, and by the tag when the hash is updated too', () => {
      const bad = Uint8Array.from(ciphertext);
      bad[500]! ^= 1;
      expect(refusal(() => openSidecar(key, bad, metadata, { engine })).message).toMatch(/ciphertextSha256/);
      const e = refusal(() => openSidecar(key, bad, { ...metadata, ciphertextSha256: sha256(bad) }, { engine }));
      expect(e).toBeInstanceOf(AuthenticationError);
      expect(e.message).toMatch(/tag does not verify/);
    });

    it('a truncated or extended ciphertext is AuthenticationError', () => {
      expect(refusal(() => openSidecar(key, ciphertext.subarray(0, 999), metadata, { engine }))).toBeInstanceOf(AuthenticationError);
      const longer = new Uint8Array(1001);
      longer.set(ciphertext);
      expect(refusal(() => openSidecar(key, longer, metadata, { engine })).message).toMatch(/1001 bytes but the metadata says 1000/);
      // even with the metadata's size and hash made to match, the tag refuses it
      const cut = ciphertext.subarray(0, 999);
      expect(refusal(() => openSidecar(key, cut, { ...metadata, originalSize: 999, ciphertextSha256: sha256(cut) }, { engine }))).toBeInstanceOf(
        AuthenticationError,
      );
    });

    it('the wrong key of the right size is AuthenticationError; a key of another size is InputError', () => {
      const other = Uint8Array.from(key, (b) => b ^ 1);
      expect(refusal(() => openSidecar(other, ciphertext, metadata, { engine }))).toBeInstanceOf(AuthenticationError);
      const e = refusal(() => openSidecar(randomBytes(32), ciphertext, metadata, { engine }));
      expect(e).toBeInstanceOf(InputError);
      expect(e.message).toMatch(/AES-128-EAX but the key is 32 bytes/);
    });
  });
});

describe('strict metadata validation (one-line EFORMAT)', () => {
  const key = randomBytes(24);
  const { ciphertext, metadata } = sealSidecar(key, randomBytes(100), OPTIONS);
  const b64 = (n: number): string => randomBytes(n).toString('base64');
  const without = (field: keyof SidecarMetadata): Record<string, unknown> => {
    const m: Record<string, unknown> = { ...metadata };
    delete m[field];
    return m;
  };
  const cases: [string, unknown, RegExp][] = [
    ['unknown format', { ...metadata, format: 'sealcam-sealed' }, /unknown sidecar format "sealcam-sealed"/],
    ['format missing', without('format'), /unknown sidecar format undefined/],
    ['version 2', { ...metadata, version: 2 }, /unsupported sidecar version 2/],
    ['version "1" (a string)', { ...metadata, version: '1' }, /unsupported sidecar version "1"/],
    ['unknown algorithm', { ...metadata, algorithm: 'AES-128-GCM' }, /unknown sidecar algorithm "AES-128-GCM"/],
    ['algorithm in another case', { ...metadata, algorithm: 'aes-192-eax' }, /unknown sidecar algorithm/],
    ['algorithm inherited from the prototype', { ...metadata, algorithm: 'toString' }, /unknown sidecar algorithm/],
    ['nonce of 12 bytes', { ...metadata, nonce: b64(12) }, /nonce must be 16 bytes, got 12/],
    ['nonce of 17 bytes', { ...metadata, nonce: b64(17) }, /nonce must be 16 bytes, got 17/],
    ['empty nonce', { ...metadata, nonce: '' }, /nonce must be 16 bytes, got 0/],
    ['nonce without padding', { ...metadata, nonce: metadata.nonce.replace(/=+$/, '') }, /nonce is not canonical base64/],
    ['nonce in base64url', { ...metadata, nonce: '-_' + metadata.nonce.slice(2) }, /nonce is not canonical base64/],
    ['nonce with a space', { ...metadata, nonce: ' ' + metadata.nonce }, /nonce is not canonical base64/],
    ['nonce as hex', { ...metadata, nonce: randomBytes(16).toString('hex') }, /nonce must be 16 bytes, got 24/],
    ['nonce as a number', { ...metadata, nonce: 16 }, /nonce must be a base64 string/],
    ['tag of 15 bytes', { ...metadata, tag: b64(15) }, /tag must be 16 bytes, got 15/],
    ['tag of 8 bytes', { ...metadata, tag: b64(8) }, /tag must be 16 bytes, got 8/],
    ['tag with non-zero padding bits', { ...metadata, tag: metadata.tag.slice(0, 21) + 'B==' }, /tag is not canonical base64/],
    ['tag missing', without('tag'), /lacks tag/],
    ['an unknown member', { ...metadata, timestamp: '2024-05-17T08:30:00' }, /unknown member "timestamp"/],
    ['empty keyName', { ...metadata, keyName: '' }, /keyName must be a non-empty string/],
    ['keyVersion as a number', { ...metadata, keyVersion: 3 }, /keyVersion must be a string/],
    ['originalName with a directory', { ...metadata, originalName: '../../etc/passwd' }, /originalName must be a plain file name/],
    ['originalName with a backslash', { ...metadata, originalName: 'a\\b.jpg' }, /originalName must be a plain file name/],
    ['originalName ..', { ...metadata, originalName: '..' }, /originalName must be a plain file name/],
    ['originalName with a NUL', { ...metadata, originalName: 'a\u0000.jpg' }, /originalName must be a plain file name/],
    ['originalName with a newline', { ...metadata, originalName: 'a\n.jpg' }, /originalName must be a plain file name/],
    ['negative originalSize', { ...metadata, originalSize: -1 }, /originalSize must be a non-negative integer/],
    ['fractional originalSize', { ...metadata, originalSize: 1.5 }, /originalSize must be a non-negative integer/],
    ['originalSize as a string', { ...metadata, originalSize: '100' }, /originalSize must be a non-negative integer/],
    ['ciphertextSha256 in upper case', { ...metadata, ciphertextSha256: metadata.ciphertextSha256.toUpperCase() }, /ciphertextSha256 must be 64 lowercase hex/],
    ['ciphertextSha256 in base64', { ...metadata, ciphertextSha256: b64(32) }, /ciphertextSha256 must be 64 lowercase hex/],
    ['not JSON', '{"format": "sealcam-sidecar",', /not valid JSON/],
    ['a JSON array', '[]', /must be a JSON object, got an array/],
    ['JSON null', 'null', /must be a JSON object, got null/],
    ['a number', 42, /must be a JSON object, got 42/],
  ];

  it.each(cases)('%s', (_, bad, message) => {
    const e = refusal(() => openSidecar(key, ciphertext, bad));
    expect(e.code).toBe('EFORMAT');
    expect(e).not.toBeInstanceOf(AuthenticationError);
    expect(e.message).toMatch(message);
    // the same through the parser alone
    expect(() => parseSidecarMetadata(bad)).toThrow(message);
  });

  it('accepts its own serialisation, JSON with other spacing, and the bytes of the file', () => {
    const text = serializeSidecarMetadata(metadata);
    expect(parseSidecarMetadata(text)).toEqual(metadata);
    expect(parseSidecarMetadata(JSON.stringify(metadata))).toEqual(metadata);
    expect(parseSidecarMetadata(new TextEncoder().encode(text))).toEqual(metadata);
    expect(parseSidecarMetadata({ ...metadata, keyVersion: '' })).toEqual({ ...metadata, keyVersion: '' });
  });

  it('rejects bad sealing options with InputError', () => {
    expect(() => sealSidecar(key, new Uint8Array(1), { ...OPTIONS, originalName: 'dir/a.jpg' })).toThrow(InputError);
    expect(() => sealSidecar(key, new Uint8Array(1), { ...OPTIONS, keyName: '' })).toThrow(/keyName/);
    expect(() => sealSidecar(randomBytes(20), new Uint8Array(1), OPTIONS)).toThrow(/16, 24 or 32 bytes/);
    expect(() => sealSidecar(key, 'text' as unknown as Uint8Array, OPTIONS)).toThrow(/plaintext must be a Uint8Array/);
  });
});

describe('detectFormat', () => {
  const kek = randomBytes(16);
  const sealed = sealBuffer(randomBytes(100), { kek, keyId: 'k', keyVersion: '1', segmentSize: 4096 });
  const raw = sealRaw(kek, randomBytes(100));
  const { ciphertext } = sealSidecar(kek, randomBytes(100), OPTIONS);

  it('sealed by its magic, whether or not a metadata file is present', () => {
    expect(detectFormat(sealed, false)).toBe('sealed');
    expect(detectFormat(sealed, true)).toBe('sealed');
    expect(detectFormat(sealed.subarray(0, 8), false)).toBe('sealed');
  });

  it('sidecar when a metadata file is present, raw otherwise', () => {
    expect(detectFormat(ciphertext, true)).toBe('sidecar');
    expect(detectFormat(raw, false)).toBe('raw');
    expect(detectFormat(raw, true)).toBe('sidecar');
  });

  it('a near-magic, a short or an empty input is not sealed', () => {
    const near = Uint8Array.from(sealed.subarray(0, 16));
    near[7] = 0x20; // "sealcam " instead of "sealcam\0"
    expect(detectFormat(near, false)).toBe('raw');
    expect(detectFormat(sealed.subarray(0, 7), false)).toBe('raw');
    expect(detectFormat(new Uint8Array(0), false)).toBe('raw');
    expect(detectFormat(new Uint8Array(0), true)).toBe('sidecar');
    expect(() => detectFormat('sealcam' as unknown as Uint8Array, false)).toThrow(InputError);
  });
});

// ---------------------------------------------------------------------------------------------
// Interop with pycryptodome, in the reference scripts' manner: the ciphertext in one file, nonce
// and tag (base64) in encryption_metadata.json beside it.

const PY = String.raw`
import base64, hashlib, json, os, sys
try:
    from Cryptodome.Cipher import AES
except ImportError as err:
    sys.stderr.write('pycryptodome missing: %s\n' % err)
    sys.exit(3)

def open_pair(folder, key):
    with open(os.path.join(folder, 'encryption_metadata.json'), encoding='utf-8') as f:
        meta = json.load(f)
    with open(os.path.join(folder, 'image.enc'), 'rb') as f:
        ciphertext = f.read()
    assert meta['format'] == 'sealcam-sidecar' and meta['version'] == 1
    assert meta['algorithm'] == 'AES-%d-EAX' % (len(key) * 8)
    assert hashlib.sha256(ciphertext).hexdigest() == meta['ciphertextSha256']
    assert len(ciphertext) == meta['originalSize']
    cipher = AES.new(key, AES.MODE_EAX, nonce=base64.b64decode(meta['nonce']))
    try:
        return cipher.decrypt_and_verify(ciphertext, base64.b64decode(meta['tag']))
    except ValueError:
        return None

def write_pair(folder, key, data, name):
    cipher = AES.new(key, AES.MODE_EAX)
    ciphertext, tag = cipher.encrypt_and_digest(data)
    with open(os.path.join(folder, 'image.enc'), 'wb') as f:
        f.write(ciphertext)
    meta = {
        'format': 'sealcam-sidecar', 'version': 1, 'algorithm': 'AES-%d-EAX' % (len(key) * 8),
        'nonce': base64.b64encode(cipher.nonce).decode('utf-8'),
        'tag': base64.b64encode(tag).decode('utf-8'),
        'keyName': 'iot-image-encryption-key', 'keyVersion': '',
        'originalName': name, 'originalSize': len(data),
        'ciphertextSha256': hashlib.sha256(ciphertext).hexdigest(),
    }
    with open(os.path.join(folder, 'encryption_metadata.json'), 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=4)

out = []
for job in json.load(sys.stdin):
    key = bytes.fromhex(job['key'])
    if job['op'] == 'open':
        pt = open_pair(job['folder'], key)
        out.append({'ok': pt is not None, 'sha256': hashlib.sha256(pt).hexdigest() if pt is not None else None})
    else:
        with open(os.path.join(job['folder'], 'plain.bin'), 'rb') as f:
            write_pair(job['folder'], key, f.read(), job['name'])
        out.append({'ok': True})
json.dump(out, sys.stdout)
`;
import { same } from './helpers/bytes.js';

interface Job {
  op: 'open' | 'write';
  key: string;
  folder: string;
  name?: string;
}

let work: string;
let pythonProblem: string | undefined;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'sealcam-sidecar-'));
  const probe = spawnSync(PYTHON, ['-c', 'from Cryptodome.Cipher import AES'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    pythonProblem =
      `pycryptodome is required for the sidecar interop tests, but ${PYTHON} cannot import Cryptodome ` +
      `(${(probe.error?.message ?? probe.stderr).trim().split('\n').pop()}); install it with: apt-get install python3-pycryptodome`;
  }
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function python(jobs: Job[]): { ok: boolean; sha256?: string | null }[] {
  if (pythonProblem) throw new Error(pythonProblem);
  const r = spawnSync(PYTHON, ['-c', PY], { input: JSON.stringify(jobs), encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${PYTHON} exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as { ok: boolean; sha256?: string | null }[];
}

const SIZES = [0, 1, 16, 4097, 200_003];

describe('pycryptodome interop', () => {
  it(`${PYTHON} has pycryptodome`, () => {
    if (pythonProblem) throw new Error(pythonProblem);
  });

  it.each(ENGINES)('Python opens sidecar pairs sealcam wrote (%s engine), and refuses an altered tag', (engine) => {
    const jobs: Job[] = [];
    const expected: (string | null)[] = [];
    let n = 0;
    for (const keyLength of KEY_SIZES) {
      for (const size of SIZES) {
        const key = randomBytes(keyLength);
        const pt = randomBytes(size);
        const { ciphertext, metadata } = sealSidecar(key, pt, { ...OPTIONS, engine });
        const folder = join(work, `to-py-${engine}-${n++}`);
        mkdirSync(folder);
        writeFileSync(join(folder, 'image.enc'), ciphertext);
        writeFileSync(join(folder, 'encryption_metadata.json'), serializeSidecarMetadata(metadata));
        jobs.push({ op: 'open', key: key.toString('hex'), folder });
        expected.push(sha256(pt));
        if (size === 4097) {
          const tag = Buffer.from(metadata.tag, 'base64');
          tag[0]! ^= 1;
          const bad = join(work, `to-py-${engine}-${n++}`);
          mkdirSync(bad);
          writeFileSync(join(bad, 'image.enc'), ciphertext);
          writeFileSync(join(bad, 'encryption_metadata.json'), serializeSidecarMetadata({ ...metadata, tag: tag.toString('base64') }));
          jobs.push({ op: 'open', key: key.toString('hex'), folder: bad });
          expected.push(null);
        }
      }
    }
    const results = python(jobs);
    expect(results.map((r) => (r.ok ? r.sha256 : null))).toEqual(expected);
  });

  it('sealcam opens sidecar pairs Python wrote, on both engines, and refuses altered ones', () => {
    const jobs: Job[] = [];
    const cases: { key: Buffer; pt: Buffer; folder: string }[] = [];
    let n = 0;
    for (const keyLength of KEY_SIZES) {
      for (const size of SIZES) {
        const key = randomBytes(keyLength);
        const pt = randomBytes(size);
        const folder = join(work, `from-py-${n++}`);
        mkdirSync(folder);
        writeFileSync(join(folder, 'plain.bin'), pt);
        jobs.push({ op: 'write', key: key.toString('hex'), folder, name: `IMG_${n}.jpg` });
        cases.push({ key, pt, folder });
      }
    }
    expect(python(jobs).every((r) => r.ok)).toBe(true);
    for (const { key, pt, folder } of cases) {
      const ciphertext = new Uint8Array(readFileSync(join(folder, 'image.enc')));
      const text = readFileSync(join(folder, 'encryption_metadata.json'), 'utf8');
      const metadata = parseSidecarMetadata(text);
      expect(metadata.algorithm).toBe(ALGORITHMS[key.length as 16 | 24 | 32]);
      expect(detectFormat(ciphertext, true)).toBe('sidecar');
      for (const engine of ENGINES) {
        expect(same(openSidecar(key, ciphertext, text, { engine }), pt)).toBe(true);
        const tag = Buffer.from(metadata.tag, 'base64');
        tag[15]! ^= 0x80;
        expect(() => openSidecar(key, ciphertext, { ...metadata, tag: tag.toString('base64') }, { engine })).toThrow(AuthenticationError);
      }
    }
  });
});
