import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createBackend, createEax } from '../src/engine/eax.js';
import { ENGINES, type EngineName } from '../src/engine/types.js';
import { CHUNK } from '../src/engine/wasm.js';
import { AuthenticationError, SealcamError } from '../src/errors.js';
import {
  type Algorithm,
  type SealedMetadata,
  createHeader,
  openBuffer,
  openSegments,
  parseHeader,
  peekHeaderLength,
  sealBuffer,
  sealSegments,
  sealWithHeader,
  segmentContext,
  segmentLayout,
  segmentNonce,
  TAG,
} from '../src/formats/sealed.js';
import { packageRoot } from '../src/paths.js';
import { same } from './helpers/bytes.js';
import { asV1 } from './helpers/sealed.js';

/**
 * The `sealed` v1 format (docs/FORMAT.md): the frozen vectors in vectors/sealed-v1 reproduce byte
 * for byte on both engines and open; the independent Python implementation agrees; and every kind
 * of alteration, truncation, extension, reordering, splicing and absurd header is refused with a
 * message naming what failed, before any plaintext is released.
 */

const PYTHON = '/usr/bin/python3';
const DIR = join(packageRoot, 'vectors', 'sealed-v1');
const CHECKER = join(packageRoot, 'vectors', 'sealed-v1', 'check.py');
const GENERATOR = join(packageRoot, 'vectors', 'sealed-v1', 'make.mjs');

interface Vector {
  id: string;
  comment: string;
  kek: string;
  keyId: string;
  keyVersion: string;
  algorithm: Algorithm;
  segmentSize: number;
  dek: string;
  salt: string;
  prefix: string;
  metadata: SealedMetadata;
  metadataJson: string;
  plaintext?: string;
  plaintextRule?: { length: number; formula: string };
  plaintextSha256: string;
  sealed: string;
  sealedLength: number;
  sealedSha256: string;
  sealBufferReproduces: boolean;
  intermediate: { headerLength: number; segmentCount: number; headerMac: string; wrappedKey: string };
}

const doc = JSON.parse(readFileSync(join(DIR, 'vectors.json'), 'utf8')) as { count: number; vectors: Vector[] };
const vectors = doc.vectors;

const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

function plaintextOf(v: Vector): Uint8Array {
  if (v.plaintext !== undefined) return unhex(v.plaintext);
  expect(v.plaintextRule?.formula).toBe('(7*i) % 256');
  const p = new Uint8Array(v.plaintextRule!.length);
  for (let i = 0; i < p.length; i++) p[i] = (7 * i) % 256;
  return p;
}

const stored = (v: Vector): Uint8Array => new Uint8Array(readFileSync(join(DIR, v.sealed)));
const fixedOf = (v: Vector) => ({ dek: unhex(v.dek), salt: unhex(v.salt), prefix: unhex(v.prefix) });

/** Seal a vector the way sealBuffer does (header, then the segments), with its metadata exactly. */
function reseal(v: Vector, engine: EngineName): Uint8Array {
  const created = createHeader({
    kek: unhex(v.kek),
    keyId: v.keyId,
    keyVersion: v.keyVersion,
    algorithm: v.algorithm,
    segmentSize: v.segmentSize,
    metadata: v.metadata,
    engine,
    fixed: fixedOf(v),
  });
  const sealed = sealWithHeader(created, plaintextOf(v), engine);
  created.payloadKey.fill(0);
  return sealed;
}

describe('frozen sealed v1 vectors', () => {
  it('cover both algorithms, KEK sizes 16/24/32, segments 4 KiB and 64 KiB, boundary sizes, empty and full metadata', () => {
    expect(doc.count).toBe(vectors.length);
    expect(vectors.length).toBeGreaterThanOrEqual(8);
    expect(new Set(vectors.map((v) => v.algorithm))).toEqual(new Set(['AES-128-EAX', 'AES-256-EAX']));
    expect(new Set(vectors.map((v) => v.kek.length / 2))).toEqual(new Set([16, 24, 32]));
    expect(new Set(vectors.map((v) => v.segmentSize))).toEqual(new Set([4096, 65536]));
    const lengths = new Set(vectors.map((v) => plaintextOf(v).length));
    for (const n of [0, 1, 4095, 4096, 4097, 3 * 4096 + 5]) expect(lengths, `plaintext of ${n} bytes`).toContain(n);
    expect(vectors.some((v) => v.metadataJson === '{}')).toBe(true);
    expect(vectors.some((v) => Object.keys(v.metadata).length >= 5)).toBe(true);
    expect(new Set(vectors.map((v) => v.id)).size).toBe(vectors.length);
  });

  it.each(vectors)('$id: the files and the JSON agree (sizes, hashes, metadataJson)', (v) => {
    const s = stored(v);
    expect(s.length).toBe(v.sealedLength);
    expect(sha256(s)).toBe(v.sealedSha256);
    expect(sha256(plaintextOf(v))).toBe(v.plaintextSha256);
    expect(JSON.stringify(v.metadata)).toBe(v.metadataJson);
    const h = parseHeader(s);
    expect(h.headerLength).toBe(v.intermediate.headerLength);
    expect(Buffer.from(h.mac).toString('hex')).toBe(v.intermediate.headerMac);
    expect(Buffer.from(asV1(h).wrappedKey).toString('hex')).toBe(v.intermediate.wrappedKey);
    expect(segmentLayout(s.length - h.headerLength, h.segmentSize).count).toBe(v.intermediate.segmentCount);
  });

  describe.each(ENGINES)('%s engine', (engine) => {
    it.each(vectors)('$id reproduces byte for byte (createHeader fixed + segments)', (v) => {
      expect(same(reseal(v, engine), stored(v))).toBe(true);
    });

    it.each(vectors.filter((v) => v.sealBufferReproduces))('$id reproduces byte for byte through sealBuffer', (v) => {
      const out = sealBuffer(plaintextOf(v), {
        kek: unhex(v.kek),
        keyId: v.keyId,
        keyVersion: v.keyVersion,
        algorithm: v.algorithm,
        segmentSize: v.segmentSize,
        metadata: v.metadata,
        engine,
        fixed: fixedOf(v),
      });
      expect(same(out, stored(v))).toBe(true);
    });

    it.each(vectors)('$id opens to its plaintext and metadata (KEK found by key id and version)', async (v) => {
      const asked: string[] = [];
      const { plaintext, header } = await openBuffer(stored(v), {
        kek: (keyId, keyVersion) => {
          asked.push(`${keyId}@${keyVersion}`);
          return unhex(v.kek);
        },
        engine,
      });
      expect(asked).toEqual([`${v.keyId}@${v.keyVersion}`]);
      expect(same(plaintext, plaintextOf(v))).toBe(true);
      expect(header.metadata).toEqual(v.metadata);
      expect(header.algorithm).toBe(v.algorithm);
      expect(header.segmentSize).toBe(v.segmentSize);
    });
  });
});

describe('independent Python implementation (vectors/sealed-v1/check.py, pycryptodome)', () => {
  const work = mkdtempSync(join(tmpdir(), 'sealcam-sealed-vectors-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  function runChecker(dir?: string): { status: number | null; out: string } {
    const r = spawnSync(PYTHON, dir ? [CHECKER, dir] : [CHECKER], { encoding: 'utf8' });
    if (r.error) throw new Error(`cannot run ${PYTHON}: ${r.error.message} (the Python checker needs Debian's python3 with pycryptodome)`);
    if (r.status === 3) {
      throw new Error(
        `${PYTHON} cannot import Cryptodome (pycryptodome), which the independent checker needs: ${r.stderr.trim()} ` +
          '— install it with: apt-get install python3-pycryptodome',
      );
    }
    return { status: r.status, out: r.stdout + r.stderr };
  }

  it('rebuilds every vector byte for byte from the JSON inputs and opens it', () => {
    const { status, out } = runChecker();
    expect(out, out).toContain(`all ${vectors.length} vectors match`);
    expect(status, out).toBe(0);
  });

  it('is not vacuous: it reports an altered file and names the header field where it differs', () => {
    const copy = join(work, 'altered');
    cpSync(DIR, copy, { recursive: true });
    const v = vectors.find((x) => x.intermediate.segmentCount > 1)!;
    const bytes = stored(v);
    const saltAt = parseHeader(bytes).salt.byteOffset - bytes.byteOffset;
    bytes[saltAt + 3]! ^= 0x10;
    writeFileSync(join(copy, v.sealed), bytes);
    const { status, out } = runChecker(copy);
    expect(status, out).toBe(1);
    expect(out).toMatch(new RegExp(`FAIL ${v.id}: .*first difference at byte ${saltAt + 3}, in salt`));
    expect(out).toContain('1 of');
  });
});

describe('the generator', () => {
  it('refuses to overwrite the frozen vectors without --force', () => {
    const before = readFileSync(join(DIR, 'vectors.json'));
    const r = spawnSync(process.execPath, [GENERATOR], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/refusing to overwrite/);
    expect(same(readFileSync(join(DIR, 'vectors.json')), before)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// The tamper matrix, on the 4-segment vector (three full 4 KiB segments and a 5-byte last one).

const base = vectors.find((v) => v.id === 'a256-k32-s4096-12293')!;
const KEK = unhex(base.kek);
const FILE = stored(base);
const HDR = parseHeader(FILE);
const H = HDR.headerLength;
const S = HDR.segmentSize;
const SEG = S + TAG;
const N = 4;
const off = (sub: Uint8Array): number => sub.byteOffset - FILE.byteOffset;
const segStart = (i: number): number => H + i * SEG;
const segment = (i: number): Uint8Array => FILE.subarray(segStart(i), Math.min(segStart(i) + SEG, FILE.length));
const body = FILE.subarray(H);

/** A copy of `bytes` with one bit flipped. */
function flip(bytes: Uint8Array, at: number, bit = 0): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[at]! ^= 1 << bit;
  return out;
}

/** Another file sealed with the same KEK, key id and version, and the same plaintext (fresh DEK, salt, prefix). */
const OTHER = sealBuffer(plaintextOf(base), {
  kek: KEK,
  keyId: base.keyId,
  keyVersion: base.keyVersion,
  algorithm: base.algorithm,
  segmentSize: base.segmentSize,
  metadata: base.metadata,
});
const OTHER_H = parseHeader(OTHER).headerLength;

const metaText = new TextEncoder().encode(base.metadataJson);
const metaAt = H - 32 - metaText.length;
const inMeta = (needle: string): number => metaAt + Buffer.from(metaText).indexOf(Buffer.from(needle));

interface Tamper {
  name: string;
  bytes: Uint8Array;
  message: RegExp;
  /** The error class expected: AuthenticationError for verification failures, SealcamError (EFORMAT) otherwise. */
  auth: boolean;
}

const segmentMessage = (i: number): RegExp => new RegExp(`^segment ${i} (\\(the last\\) )?failed verification`);

const TAMPERS: Tamper[] = [
  ...Array.from({ length: 8 }, (_, i) => ({ name: `magic byte ${i}`, bytes: flip(FILE, i, i % 8), message: /not a sealed file/, auth: false })),
  { name: 'version byte', bytes: flip(FILE, 8, 1), message: /unsupported sealed version 3/, auth: false },
  { name: 'version byte (0)', bytes: flip(FILE, 8, 0), message: /unsupported sealed version 0/, auth: false },
  { name: 'algorithm byte (2 -> 3)', bytes: flip(FILE, 9, 0), message: /unknown algorithm/, auth: false },
  { name: 'algorithm byte (2 -> 0)', bytes: flip(FILE, 9, 1), message: /unknown algorithm/, auth: false },
  { name: 'segment exponent (12 -> 13: valid, so the MAC catches it)', bytes: flip(FILE, 10, 0), message: /header was altered/, auth: true },
  { name: 'segment exponent (12 -> 44)', bytes: flip(FILE, 10, 5), message: /invalid segment size exponent 44/, auth: false },
  { name: 'reserved byte', bytes: flip(FILE, 11, 0), message: /reserved header byte is 1, not 0/, auth: false },
  { name: 'header length', bytes: flip(FILE, 15, 0), message: /header/, auth: false },
  { name: 'key id (first byte)', bytes: flip(FILE, 17, 0), message: /^wrong key/, auth: true },
  { name: 'key id (last byte)', bytes: flip(FILE, 17 + Buffer.byteLength(base.keyId) - 1, 1), message: /^wrong key/, auth: true },
  { name: 'key version', bytes: flip(FILE, 18 + Buffer.byteLength(base.keyId), 2), message: /^wrong key/, auth: true },
  ...[0, 7, 15].map((i) => ({ name: `salt byte ${i}`, bytes: flip(FILE, off(HDR.salt) + i, i % 8), message: /^wrong key/, auth: true })),
  ...[0, 31, 32, 47].map((i) => ({
    name: `wrapped key byte ${i} (${i < 32 ? 'ciphertext' : 'tag'})`,
    bytes: flip(FILE, off(asV1(HDR).wrappedKey) + i, 3),
    message: /^wrong key/,
    auth: true,
  })),
  ...[0, 10].map((i) => ({ name: `nonce prefix byte ${i}`, bytes: flip(FILE, off(HDR.prefix) + i, 7), message: /header was altered/, auth: true })),
  { name: 'metadata length', bytes: flip(FILE, metaAt - 1, 0), message: /runs past the header|does not match its fields/, auth: false },
  { name: 'metadata (a value: image/jpeg -> hmage/jpeg)', bytes: flip(FILE, inMeta('image/jpeg'), 0), message: /^header was altered/, auth: true },
  { name: 'metadata (a member name)', bytes: flip(FILE, inMeta('deviceId'), 0), message: /^header was altered/, auth: true },
  { name: 'metadata (originalSize digit 1 -> 3)', bytes: flip(FILE, inMeta('12293'), 1), message: /^header was altered/, auth: true },
  // A flip that breaks the JSON is caught by the parser, before the key wrap and the MAC (still EFORMAT, no plaintext).
  { name: 'metadata (made invalid JSON: 1 -> 0, a leading zero)', bytes: flip(FILE, inMeta('12293'), 0), message: /metadata is not a JSON object/, auth: false },
  { name: 'metadata (made invalid UTF-8)', bytes: flip(FILE, inMeta('é'), 6), message: /metadata is not a JSON object/, auth: false },
  { name: 'header MAC (first byte)', bytes: flip(FILE, H - 32, 0), message: /^header was altered/, auth: true },
  { name: 'header MAC (last byte)', bytes: flip(FILE, H - 1, 7), message: /^header was altered/, auth: true },
  ...Array.from({ length: N }, (_, i) => [
    { name: `segment ${i} ciphertext`, bytes: flip(FILE, segStart(i) + 2, 4), message: segmentMessage(i), auth: true },
    { name: `segment ${i} tag`, bytes: flip(FILE, segStart(i) + segment(i).length - 1, 0), message: segmentMessage(i), auth: true },
  ]).flat(),
  {
    name: 'truncated at a segment boundary (the last segment dropped)',
    bytes: FILE.slice(0, segStart(N - 1)),
    message: /segment 2 \(the last\) failed verification|truncated/,
    auth: true,
  },
  {
    name: 'truncated at a segment boundary (two segments dropped)',
    bytes: FILE.slice(0, segStart(N - 2)),
    message: /segment 1 \(the last\) failed verification/,
    auth: true,
  },
  { name: 'truncated to the header alone', bytes: FILE.slice(0, H), message: /truncated/, auth: false },
  { name: 'truncated mid-segment', bytes: FILE.slice(0, segStart(2) + 100), message: /segment 2 \(the last\) failed verification/, auth: true },
  { name: 'truncated mid-segment, inside the last tag', bytes: FILE.slice(0, FILE.length - 3), message: /segment 3 \(the last\) failed/, auth: true },
  { name: 'truncated mid-segment, shorter than a tag', bytes: FILE.slice(0, segStart(2) + 10), message: /truncated/, auth: false },
  { name: 'truncated inside the header', bytes: FILE.slice(0, H - 1), message: /truncated header/, auth: false },
  { name: 'truncated to 10 bytes', bytes: FILE.slice(0, 10), message: /not a sealed file/, auth: false },
  { name: 'one byte appended', bytes: concat(FILE, new Uint8Array([0])), message: /segment 3 \(the last\) failed/, auth: true },
  { name: 'a tag-sized run of bytes appended', bytes: concat(FILE, new Uint8Array(TAG)), message: segmentMessage(3), auth: true },
  { name: 'a whole segment appended (a copy of segment 0)', bytes: concat(FILE, segment(0)), message: segmentMessage(3), auth: true },
  { name: 'segments 0 and 1 swapped', bytes: concat(FILE.subarray(0, H), segment(1), segment(0), segment(2), segment(3)), message: segmentMessage(0), auth: true },
  { name: 'segments 1 and 2 swapped', bytes: concat(FILE.subarray(0, H), segment(0), segment(2), segment(1), segment(3)), message: segmentMessage(1), auth: true },
  { name: 'segment 1 duplicated', bytes: concat(FILE.subarray(0, H), segment(0), segment(1), segment(1), segment(2), segment(3)), message: segmentMessage(2), auth: true },
  { name: 'segment 0 replaced by segment 1', bytes: concat(FILE.subarray(0, H), segment(1), segment(1), segment(2), segment(3)), message: segmentMessage(0), auth: true },
  {
    name: 'segment 1 spliced in from another file sealed with the same KEK',
    bytes: concat(FILE.subarray(0, segStart(1)), OTHER.subarray(OTHER_H + SEG, OTHER_H + 2 * SEG), FILE.subarray(segStart(2))),
    message: segmentMessage(1),
    auth: true,
  },
  {
    name: 'the last segment spliced in from another file sealed with the same KEK',
    bytes: concat(FILE.subarray(0, segStart(3)), OTHER.subarray(OTHER_H + 3 * SEG)),
    message: segmentMessage(3),
    auth: true,
  },
  { name: "this header moved onto another file's body", bytes: concat(FILE.subarray(0, H), OTHER.subarray(OTHER_H)), message: segmentMessage(0), auth: true },
  { name: "another file's header moved onto this body", bytes: concat(OTHER.subarray(0, OTHER_H), body), message: segmentMessage(0), auth: true },
];

describe.each(ENGINES)('tamper matrix on a 4-segment file (%s engine)', (engine) => {
  it('the untouched file opens (the matrix starts from a good file)', async () => {
    const { plaintext } = await openBuffer(FILE, { kek: KEK, engine });
    expect(sha256(plaintext)).toBe(base.plaintextSha256);
    expect(segmentLayout(body.length, S).count).toBe(N);
    expect((await openBuffer(OTHER, { kek: KEK, engine })).plaintext.length).toBe(plaintextOf(base).length);
  });

  it.each(TAMPERS)('$name is refused', async ({ bytes, message, auth }) => {
    const err = await openBuffer(bytes, { kek: KEK, engine }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'must be refused').toBeInstanceOf(SealcamError);
    const e = err as SealcamError;
    expect(e.message).toMatch(message);
    expect(e.message).not.toContain('\n');
    if (auth) expect(e).toBeInstanceOf(AuthenticationError);
    else expect(e.code).toBe('EFORMAT');
  });

  it.each([
    ['another 32-byte KEK', Uint8Array.from(KEK, (b) => b ^ 0x5a)],
    ['the KEK with one bit flipped', flip(KEK, 31, 7)],
    ['a 16-byte KEK', KEK.slice(0, 16)],
    ['a 24-byte KEK', KEK.slice(0, 24)],
  ])('the wrong KEK (%s) is refused with "wrong key"', async (_, kek) => {
    await expect(openBuffer(FILE, { kek, engine })).rejects.toThrow(/^wrong key: .*key kamera-schlüssel version v2/);
    await expect(openBuffer(FILE, { kek, engine })).rejects.toBeInstanceOf(AuthenticationError);
  });

  it('a file of another key id is refused when the key provider hands out the wrong KEK for it', async () => {
    const other = vectors.find((v) => v.keyId === 'cam-kek')!;
    await expect(openBuffer(stored(other), { kek: () => KEK, engine })).rejects.toThrow(/^wrong key/);
  });
});

// ---------------------------------------------------------------------------------------------
// Absurd headers: rejected from the fixed fields, before the KEK is asked for or anything allocated.

/** A copy of the file with the uint32 at `at` replaced. */
function withUint32(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  new DataView(out.buffer).setUint32(at, value);
  return out;
}
function withByte(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[at] = value;
  return out;
}

const small = stored(vectors.find((v) => v.id === 'a128-k16-s4096-1')!);
const smallHeader = parseHeader(small);
const smallWrapLengthAt = asV1(smallHeader).wrappedKey.byteOffset - small.byteOffset - 1;
const ABSURD: { name: string; bytes: Uint8Array; message: RegExp }[] = [
  { name: 'header length 0xFFFFFFFF', bytes: withUint32(FILE, 12, 0xffffffff), message: /invalid header length 4294967295/ },
  { name: 'header length 65537 (over the limit)', bytes: withUint32(FILE, 12, 65537), message: /invalid header length 65537/ },
  { name: 'header length 0', bytes: withUint32(FILE, 12, 0), message: /invalid header length 0/ },
  { name: 'header length 100 (below the smallest header)', bytes: withUint32(FILE, 12, 100), message: /invalid header length 100/ },
  { name: 'segment exponent 0', bytes: withByte(FILE, 10, 0), message: /invalid segment size exponent 0/ },
  { name: 'segment exponent 11', bytes: withByte(FILE, 10, 11), message: /invalid segment size exponent 11/ },
  { name: 'segment exponent 25', bytes: withByte(FILE, 10, 25), message: /invalid segment size exponent 25/ },
  { name: 'segment exponent 31', bytes: withByte(FILE, 10, 31), message: /invalid segment size exponent 31/ },
  { name: 'segment exponent 255', bytes: withByte(FILE, 10, 255), message: /invalid segment size exponent 255/ },
  { name: 'header length larger than the file', bytes: withUint32(small, 12, 65536), message: /truncated header/ },
  { name: 'header length one byte past the file', bytes: withUint32(small, 12, small.length + 1), message: /truncated header/ },
  { name: 'metadata length 0xFFFFFFFF (far past the header)', bytes: withUint32(FILE, metaAt - 4, 0xffffffff), message: /metadata runs past the header/ },
  { name: 'metadata length one past the header', bytes: withUint32(FILE, metaAt - 4, metaText.length + 1), message: /metadata runs past the header/ },
  { name: 'metadata length one short', bytes: withUint32(FILE, metaAt - 4, metaText.length - 1), message: /does not match its fields/ },
  { name: 'key id length 0', bytes: withByte(small, 16, 0), message: /empty key id/ },
  { name: 'key id length 255 (past the header)', bytes: withByte(small, 16, 255), message: /header field key id runs past the header/ },
  { name: 'wrapped key length for the other algorithm', bytes: withByte(small, smallWrapLengthAt, 48), message: /wrapped key length 48 does not match AES-128-EAX/ },
];

describe.each(ENGINES)('an empty last segment after full ones (%s engine)', (engine) => {
  it('is refused: only an empty plaintext has an empty (tag-only) last segment', async () => {
    const two = vectors.find((v) => v.id === 'a128-k24-s4096-8192')!;
    const file = stored(two);
    expect((await openBuffer(file, { kek: unhex(two.kek), engine })).plaintext.length).toBe(8192);
    await expect(openBuffer(concat(file, new Uint8Array(TAG)), { kek: unhex(two.kek), engine })).rejects.toThrow(/empty last segment/);
  });
});

describe.each(ENGINES)('absurd headers are rejected before the KEK is asked for (%s engine)', (engine) => {
  it.each(ABSURD)('$name', async ({ bytes, message }) => {
    let asked = false;
    const err = await openBuffer(bytes, {
      kek: () => {
        asked = true;
        return KEK;
      },
      engine,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SealcamError);
    expect((err as SealcamError).code).toBe('EFORMAT');
    expect((err as Error).message).toMatch(message);
    expect(asked, 'the key provider must not be consulted').toBe(false);
  });
});

describe('the cheap checks on the first 16 bytes', () => {
  it('peekHeaderLength decides from 16 bytes alone, so a stream allocates nothing for absurd headers', () => {
    expect(peekHeaderLength(FILE.subarray(0, 16))).toBe(H);
    expect(() => peekHeaderLength(withUint32(FILE, 12, 0xffffffff).subarray(0, 16))).toThrow(/invalid header length 4294967295/);
    expect(() => peekHeaderLength(withByte(FILE, 10, 0).subarray(0, 16))).toThrow(/invalid segment size exponent 0/);
    expect(() => peekHeaderLength(withByte(FILE, 10, 31).subarray(0, 16))).toThrow(/invalid segment size exponent 31/);
    expect(() => peekHeaderLength(FILE.subarray(0, 15))).toThrow(/not a sealed file/);
    expect(() => peekHeaderLength(withByte(FILE, 8, 3).subarray(0, 16))).toThrow(/unsupported sealed version 3/);
  });
});

describe('segmentLayout: body sizes that cannot be (a body of more than 2^32 segments cannot be built cheaply)', () => {
  it('accepts the exact limits', () => {
    expect(segmentLayout(TAG, 4096)).toEqual({ count: 1, lastStored: TAG, plaintextLength: 0 });
    expect(segmentLayout(4096 + TAG, 4096)).toEqual({ count: 1, lastStored: 4096 + TAG, plaintextLength: 4096 });
    expect(segmentLayout(4096 + TAG + TAG + 1, 4096)).toEqual({ count: 2, lastStored: TAG + 1, plaintextLength: 4097 });
    // exactly 2^32 full segments: the largest body the nonce index allows
    expect(segmentLayout(2 ** 32 * (4096 + TAG), 4096)).toEqual({ count: 2 ** 32, lastStored: 4096 + TAG, plaintextLength: 2 ** 32 * 4096 });
    expect(segmentLayout(2 ** 32 * (65536 + TAG), 65536)).toEqual({ count: 2 ** 32, lastStored: 65536 + TAG, plaintextLength: 2 ** 32 * 65536 });
    expect(segmentLayout((2 ** 32 - 1) * (4096 + TAG) + TAG + 5, 4096)).toEqual({ count: 2 ** 32, lastStored: TAG + 5, plaintextLength: (2 ** 32 - 1) * 4096 + 5 });
  });

  it('refuses an empty last segment after others (a writer never makes one)', () => {
    expect(() => segmentLayout(4096 + TAG + TAG, 4096)).toThrow(/invalid: an empty last segment after others/);
  });

  it('refuses more than 2^32 segments', () => {
    expect(() => segmentLayout(2 ** 32 * (4096 + TAG) + TAG, 4096)).toThrow(/too many segments/);
    expect(() => segmentLayout((2 ** 32 + 1) * (65536 + TAG), 65536)).toThrow(/too many segments/);
    expect(() => segmentLayout(Number.MAX_SAFE_INTEGER, 4096)).toThrow(/too many segments/);
  });

  it('refuses bodies whose last segment is shorter than its tag', () => {
    expect(() => segmentLayout(0, 4096)).toThrow(/truncated/);
    expect(() => segmentLayout(TAG - 1, 4096)).toThrow(/truncated/);
    expect(() => segmentLayout(4096 + TAG + TAG - 1, 4096)).toThrow(/truncated: the last segment is 15 bytes/);
  });

  it('segment nonces: prefix || uint32 index || last, and no index past 2^32 - 1', () => {
    const prefix = unhex(base.prefix);
    expect(Buffer.from(segmentNonce(prefix, 0x01020304, true)).toString('hex')).toBe(`${base.prefix}0102030401`);
    expect(Buffer.from(segmentNonce(prefix, 2 ** 32 - 1, false)).toString('hex')).toBe(`${base.prefix}ffffffff00`);
    expect(() => segmentNonce(prefix, 2 ** 32, false)).toThrow(/too many segments/);
  });
});

// ---------------------------------------------------------------------------------------------
// Runs of segments in place (what the pool's workers do in their task buffers).

describe.each(ENGINES)('sealSegments and openSegments: runs in place (%s engine)', (engine) => {
  const S = 4096;
  const created = createHeader({ kek: KEK, keyId: 'k', keyVersion: '1', segmentSize: S, engine });
  const context = segmentContext(created.header);
  const eax = createEax(created.payloadKey, { engine });
  const backend = createBackend(created.payloadKey, engine);
  afterAll(() => {
    eax.dispose();
    backend.dispose();
  });
  const message = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 29 + n) & 0xff);

  /** Segments first.. of a run as docs/FORMAT.md defines them: EAX under the segment nonce with the header MAC as associated data. */
  function reference(first: number, endsFile: boolean, plaintext: Uint8Array): Uint8Array {
    const count = Math.max(1, Math.ceil(plaintext.length / S));
    const parts: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const nonce = segmentNonce(context.prefix, first + i, endsFile && i === count - 1);
      const { ciphertext, tag } = eax.encrypt(nonce, plaintext.subarray(i * S, (i + 1) * S), { header: context.headerMac });
      parts.push(ciphertext, tag);
    }
    return concat(...parts);
  }

  /** The plaintext in a buffer with room for a tag per segment, as the pool hands a worker. */
  const withRoom = (plaintext: Uint8Array): Uint8Array => {
    const buffer = new Uint8Array(plaintext.length + Math.max(1, Math.ceil(plaintext.length / S)) * TAG);
    buffer.set(plaintext);
    return buffer;
  };

  // An empty last run, short ones, one and several whole segments (paired or not), and a short end after them.
  const RUNS: [number, boolean][] = [
    [0, true],
    [1, true],
    [S - 1, true],
    [S, true],
    [S, false],
    [2 * S, false],
    [3 * S, false],
    [3 * S + 5, true],
    [4 * S + 1, true],
    [7 * S, true],
  ];

  it('seal and open give the bytes of the definition, segment by segment', () => {
    for (const [n, endsFile] of RUNS) {
      const plaintext = message(n);
      const want = reference(1000, endsFile, plaintext);
      const sealed = sealSegments(backend, context, 1000, endsFile, withRoom(plaintext), n);
      expect(same(sealed, want), `seal, ${n} bytes${endsFile ? ', ending the file' : ''}`).toBe(true);
      const opened = openSegments(backend, context, 1000, endsFile, sealed.slice());
      expect(same(opened, plaintext), `open, ${n} bytes`).toBe(true);
    }
  });

  it('a segment that does not verify is named, and the whole run is wiped', () => {
    const plaintext = message(3 * S + 5);
    const good = reference(7, true, plaintext);
    const cases: [string, Uint8Array, number, boolean, RegExp][] = [
      ['a flipped tag bit in segment 8', flip(good, 2 * S + TAG - 3), 7, true, /^segment 8 failed verification/],
      ['a flipped ciphertext bit in the last segment', flip(good, good.length - TAG - 1, 6), 7, true, /^segment 10 \(the last\) failed verification/],
      ['the wrong first index', good, 8, true, /^segment 8 failed verification/],
      ['not marked as ending the file', good, 7, false, /whole segments/],
    ];
    for (const [what, stored, first, endsFile, message] of cases) {
      const copy = stored.slice();
      expect(() => openSegments(backend, context, first, endsFile, copy), what).toThrow(message);
      if (endsFile) expect(copy.every((b) => b === 0), `${what}: wiped`).toBe(true);
    }
    expect(() => openSegments(backend, context, 7, true, flip(good, 5))).toThrow(AuthenticationError);
  });

  it('segments larger than the WASM binding\'s chunk seal and open as the definition says', () => {
    const big = 1 << 21;
    expect(big).toBeGreaterThan(CHUNK);
    const h = createHeader({ kek: KEK, keyId: 'k', keyVersion: '1', segmentSize: big, engine });
    const b = createBackend(h.payloadKey, engine);
    const e = createEax(h.payloadKey, { engine });
    try {
      const ctx = segmentContext(h.header);
      const plaintext = message(2 * big + 17);
      const parts: Uint8Array[] = [];
      for (let i = 0; i < 3; i++) {
        const sealed = e.encrypt(segmentNonce(ctx.prefix, i, i === 2), plaintext.subarray(i * big, (i + 1) * big), { header: ctx.headerMac });
        parts.push(sealed.ciphertext, sealed.tag);
      }
      const buffer = new Uint8Array(plaintext.length + 3 * TAG);
      buffer.set(plaintext);
      const sealed = sealSegments(b, ctx, 0, true, buffer, plaintext.length);
      expect(same(sealed, concat(...parts))).toBe(true);
      expect(same(openSegments(b, ctx, 0, true, sealed), plaintext)).toBe(true);
    } finally {
      b.dispose();
      e.dispose();
      h.payloadKey.fill(0);
    }
  });

  it('refuses a buffer without room for the tags, a run that is not whole segments before the end, and a last segment shorter than its tag', () => {
    expect(() => sealSegments(backend, context, 0, true, new Uint8Array(100 + TAG - 1), 100)).toThrow(/100 bytes seal into 116 bytes; the buffer holds 115/);
    expect(() => sealSegments(backend, context, 0, false, withRoom(message(S + 1)), S + 1)).toThrow(/a run that does not end the file must hold whole segments/);
    const stored = reference(3, true, message(S));
    const short = () => openSegments(backend, context, 3, true, concat(stored, new Uint8Array(TAG - 1)));
    expect(short).toThrow(/truncated: segment 4 is shorter than its tag/);
    expect(short).toThrow(SealcamError);
  });
});
