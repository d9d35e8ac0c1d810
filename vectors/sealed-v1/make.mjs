#!/usr/bin/env node
// Generates the frozen `sealed` v1 test vectors in vectors/sealed-v1/ (see its README.md).
//
//   npm run build && node vectors/sealed-v1/make.mjs [--force] [--out DIR]
//
// The vectors are frozen: once written they are the reference that every later sealcam (and any
// second implementation) must reproduce byte for byte. This script therefore refuses to write into
// a folder that already holds vectors.json or a .sealed file unless --force is given; regenerating
// them is only right when the format version changes. --out writes elsewhere (e.g. a temporary
// folder, to compare a fresh run with the frozen files).
//
// It seals with the built library (dist/), on both engines, and checks that the two agree, that
// sealBuffer produces the same bytes where its metadata rule allows, and that every file opens.

import { createHash, hkdfSync, createHmac } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function usage(message) {
  if (message) process.stderr.write(`make-sealed-vectors: ${message}\n`);
  process.stderr.write('usage: node vectors/sealed-v1/make.mjs [--force] [--out DIR]\n');
  process.exit(2);
}

let force = false;
let outDir = join(root, 'vectors', 'sealed-v1');
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--force') force = true;
  else if (argv[i] === '--out') {
    if (argv[i + 1] === undefined) usage('--out needs a folder');
    outDir = resolve(argv[++i]);
  } else if (argv[i] === '--help' || argv[i] === '-h') usage();
  else usage(`unknown argument ${argv[i]}`);
}

// Refuse before doing anything else (and before loading dist/): the vectors are frozen.
const existing = existsSync(outDir) ? readdirSync(outDir).filter((f) => f === 'vectors.json' || f.endsWith('.sealed')) : [];
if (existing.length > 0 && !force) {
  process.stderr.write(
    `make-sealed-vectors: ${outDir} already holds frozen vectors (${existing.length} files, e.g. ${existing[0]}); ` +
      'refusing to overwrite them. Pass --force only if the format version changed.\n',
  );
  process.exit(1);
}

const dist = (p) => pathToFileURL(join(root, 'dist', 'src', p)).href;
let sealed;
try {
  sealed = await import(dist('formats/sealed.js'));
} catch (err) {
  process.stderr.write(`make-sealed-vectors: cannot load dist/ (run npm run build first): ${err.message}\n`);
  process.exit(1);
}
const { createHeader, sealWithHeader, sealBuffer, openBuffer, TAG } = sealed;

const hex = (b) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
const sha256 = (b) => createHash('sha256').update(b).digest('hex');

/** Arbitrary but reproducible bytes for the fixed inputs: the first n bytes of SHA-256(label). */
function fixedBytes(id, label, n) {
  return new Uint8Array(createHash('sha256').update(`sealcam sealed-v1 vector ${id} ${label}`).digest().subarray(0, n));
}

const PLAINTEXT_FORMULA = '(7*i) % 256';
function plaintextOf(length) {
  const p = new Uint8Array(length);
  for (let i = 0; i < length; i++) p[i] = (7 * i) % 256;
  return p;
}

const full = (size, extra = {}) => ({
  originalSize: size,
  contentType: 'image/jpeg',
  deviceId: 'cam-07',
  captureTime: '2024-05-17T08:30:00Z',
  originalName: 'IMG_0001.jpg',
  ...extra,
});

// The cases: both payload algorithms, KEKs of 16, 24 and 32 bytes, segments of 4 KiB and 64 KiB,
// plaintexts around the segment boundaries, metadata empty, minimal, full, non-ASCII and with an
// unknown member (readers ignore it).
const CASES = [
  {
    id: 'a128-k16-s4096-empty-nometa',
    comment: 'AES-128-EAX, 16-byte KEK, 4 KiB segments, empty plaintext (one empty last segment), empty metadata {}',
    algorithm: 'AES-128-EAX', kekLength: 16, segmentSize: 4096, length: 0,
    keyId: 'cam-kek', keyVersion: '1', metadata: {},
  },
  {
    id: 'a128-k16-s4096-1',
    comment: 'AES-128-EAX, 16-byte KEK, 4 KiB segments, 1 byte: one short last segment; metadata with originalSize only',
    algorithm: 'AES-128-EAX', kekLength: 16, segmentSize: 4096, length: 1,
    keyId: 'cam-kek', keyVersion: '1', metadata: { originalSize: 1 },
  },
  {
    id: 'a128-k32-s4096-4095',
    comment: 'AES-128-EAX under a 32-byte KEK, 4 KiB segments, 4095 bytes: one segment one byte short of full; all metadata fields',
    algorithm: 'AES-128-EAX', kekLength: 32, segmentSize: 4096, length: 4095,
    keyId: 'fleet/north', keyVersion: '2024-05', metadata: full(4095),
  },
  {
    id: 'a256-k32-s4096-4096',
    comment: 'AES-256-EAX, 32-byte KEK, 4 KiB segments, exactly one full segment (no empty segment follows)',
    algorithm: 'AES-256-EAX', kekLength: 32, segmentSize: 4096, length: 4096,
    keyId: 'fleet/north', keyVersion: '2024-06', metadata: { originalSize: 4096, contentType: 'image/jpeg' },
  },
  {
    id: 'a256-k16-s4096-4097',
    comment: 'AES-256-EAX under a 16-byte KEK, 4 KiB segments, 4097 bytes: a full segment then a 1-byte last segment',
    algorithm: 'AES-256-EAX', kekLength: 16, segmentSize: 4096, length: 4097,
    keyId: 'cam-kek', keyVersion: '3f9c0a5e2b7d4c1a8e6f0b2d4a6c8e0f', metadata: { originalSize: 4097, deviceId: 'cam-07' },
  },
  {
    id: 'a256-k32-s4096-12293',
    comment: 'AES-256-EAX, 32-byte KEK, 4 KiB segments, 3*4096+5 bytes: three full segments and a 5-byte last one; non-ASCII key id and metadata (UTF-8)',
    algorithm: 'AES-256-EAX', kekLength: 32, segmentSize: 4096, length: 3 * 4096 + 5,
    keyId: 'kamera-schlüssel', keyVersion: 'v2', metadata: full(3 * 4096 + 5, { originalName: 'café-nacht-é€.jpg' }),
  },
  {
    id: 'a128-k16-s65536-12293',
    comment: 'AES-128-EAX, 16-byte KEK, 64 KiB segments (the default), 3*4096+5 bytes in one last segment; an unknown metadata member',
    algorithm: 'AES-128-EAX', kekLength: 16, segmentSize: 65536, length: 3 * 4096 + 5,
    keyId: 'cam-kek', keyVersion: '2', metadata: { originalSize: 3 * 4096 + 5, 'x-site': 'dock 4', contentType: 'image/png' },
  },
  {
    id: 'a256-k32-s65536-empty-nometa',
    comment: 'AES-256-EAX, 32-byte KEK, 64 KiB segments, empty plaintext, empty metadata {}',
    algorithm: 'AES-256-EAX', kekLength: 32, segmentSize: 65536, length: 0,
    keyId: 'fleet/south', keyVersion: '1', metadata: {},
  },
  {
    id: 'a128-k24-s4096-8192',
    comment: 'AES-128-EAX under a 24-byte KEK, 4 KiB segments, exactly two full segments (the second is the last, full)',
    algorithm: 'AES-128-EAX', kekLength: 24, segmentSize: 4096, length: 8192,
    keyId: 'cam-kek-192', keyVersion: '1', metadata: { originalSize: 8192 },
  },
];

/** Seal the way sealBuffer does, but with the metadata exactly as given (sealBuffer adds originalSize). */
function sealCase(c, inputs, plaintext, engine) {
  const created = createHeader({
    kek: inputs.kek,
    keyId: c.keyId,
    keyVersion: c.keyVersion,
    algorithm: c.algorithm,
    segmentSize: c.segmentSize,
    metadata: c.metadata,
    engine,
    fixed: { dek: inputs.dek, salt: inputs.salt, prefix: inputs.prefix },
  });
  const count = Math.max(1, Math.ceil(plaintext.length / c.segmentSize));
  const bytes = sealWithHeader(created, plaintext, engine);
  created.payloadKey.fill(0);
  return { bytes, headerLength: created.bytes.length, count, mac: created.header.mac, wrapped: created.header.wrappedKey };
}

/** sealBuffer's metadata is { originalSize, ...metadata }: it reproduces a case whose metadata starts so. */
function sealBufferCompatible(c) {
  const keys = Object.keys(c.metadata);
  return keys[0] === 'originalSize' && c.metadata.originalSize === c.length;
}

const vectors = [];
const files = new Map();
for (const c of CASES) {
  const dekLength = c.algorithm === 'AES-128-EAX' ? 16 : 32;
  const inputs = {
    kek: fixedBytes(c.id, 'kek', c.kekLength),
    dek: fixedBytes(c.id, 'dek', dekLength),
    salt: fixedBytes(c.id, 'salt', 16),
    prefix: fixedBytes(c.id, 'prefix', 11),
  };
  const plaintext = plaintextOf(c.length);
  const wasm = sealCase(c, inputs, plaintext, 'wasm');
  const native = sealCase(c, inputs, plaintext, 'native');
  if (Buffer.compare(wasm.bytes, native.bytes) !== 0) throw new Error(`${c.id}: the wasm and native engines disagree`);
  if (sealBufferCompatible(c)) {
    for (const engine of ['wasm', 'native']) {
      const viaBuffer = sealBuffer(plaintext, {
        kek: inputs.kek, keyId: c.keyId, keyVersion: c.keyVersion, algorithm: c.algorithm, segmentSize: c.segmentSize,
        metadata: c.metadata, engine, fixed: { dek: inputs.dek, salt: inputs.salt, prefix: inputs.prefix },
      });
      if (Buffer.compare(viaBuffer, wasm.bytes) !== 0) throw new Error(`${c.id}: sealBuffer (${engine}) gives different bytes`);
    }
  }
  for (const engine of ['wasm', 'native']) {
    const opened = await openBuffer(wasm.bytes, { kek: inputs.kek, engine });
    if (Buffer.compare(opened.plaintext, plaintext) !== 0) throw new Error(`${c.id}: does not open to its plaintext (${engine})`);
  }
  // Intermediate values, computed here with node:crypto, to help a second implementation debug.
  const headerKey = new Uint8Array(hkdfSync('sha256', inputs.dek, inputs.salt, 'sealcam v1 header', 32));
  const payloadKey = new Uint8Array(hkdfSync('sha256', inputs.dek, inputs.salt, 'sealcam v1 payload', dekLength));
  const authenticated = wasm.bytes.subarray(0, wasm.headerLength - 32);
  const mac = createHmac('sha256', headerKey).update(authenticated).digest();
  if (Buffer.compare(mac, wasm.mac) !== 0) throw new Error(`${c.id}: header MAC differs from HMAC-SHA-256(HKDF(...))`);
  const wrapAssociatedData = Buffer.concat([Buffer.from('sealcam v1 key\0'), Buffer.from(c.keyId), Buffer.from('\0'), Buffer.from(c.keyVersion)]);

  const file = `${c.id}.sealed`;
  files.set(file, wasm.bytes);
  const entry = {
    id: c.id,
    comment: c.comment,
    kek: hex(inputs.kek),
    keyId: c.keyId,
    keyVersion: c.keyVersion,
    algorithm: c.algorithm,
    segmentSize: c.segmentSize,
    dek: hex(inputs.dek),
    salt: hex(inputs.salt),
    prefix: hex(inputs.prefix),
    metadata: c.metadata,
    metadataJson: JSON.stringify(c.metadata),
  };
  if (c.length <= 64) entry.plaintext = hex(plaintext);
  else entry.plaintextRule = { length: c.length, formula: PLAINTEXT_FORMULA };
  Object.assign(entry, {
    plaintextSha256: sha256(plaintext),
    sealed: file,
    sealedLength: wasm.bytes.length,
    sealedSha256: sha256(wasm.bytes),
    sealBufferReproduces: sealBufferCompatible(c),
    intermediate: {
      wrapAssociatedData: hex(wrapAssociatedData),
      wrappedKey: hex(wasm.wrapped),
      headerKey: hex(headerKey),
      payloadKey: hex(payloadKey),
      headerLength: wasm.headerLength,
      headerMac: hex(wasm.mac),
      segmentCount: wasm.count,
      lastSegmentStored: wasm.bytes.length - wasm.headerLength - (wasm.count - 1) * (c.segmentSize + TAG),
    },
  });
  vectors.push(entry);
}

const doc = {
  name: 'sealed-v1',
  format: 'sealcam sealed, version 1',
  specification: 'docs/FORMAT.md',
  generator: 'vectors/sealed-v1/make.mjs (sealcam, both engines agreeing); checked independently by vectors/sealed-v1/check.py (pycryptodome)',
  notes:
    'Frozen: never regenerate for the same format version. Byte strings are lowercase hex. metadataJson is the exact ' +
    'UTF-8 text stored in the header (metadata is the same value as an object). plaintextRule.formula gives byte i ' +
    'of the plaintext for i = 0 .. length-1. The fixed kek/dek/salt/prefix are the first bytes of ' +
    'SHA-256("sealcam sealed-v1 vector <id> <kek|dek|salt|prefix>"); real files draw dek, salt and prefix at random. ' +
    'intermediate holds values for debugging only; the .sealed file is the answer.',
  count: vectors.length,
  vectors,
};

mkdirSync(outDir, { recursive: true });
if (force) for (const f of existing) rmSync(join(outDir, f));
for (const [name, bytes] of files) writeFileSync(join(outDir, name), bytes);
writeFileSync(join(outDir, 'vectors.json'), JSON.stringify(doc, null, 2) + '\n');
process.stdout.write(`wrote ${vectors.length} vectors to ${outDir}\n`);
