#!/usr/bin/env node
// Generates the frozen `sealed` v2 test vectors in vectors/sealed-v2/ (see its README.md).
//
//   npm run build && node vectors/sealed-v2/make.mjs [--force] [--out DIR]
//
// Frozen, as sealed-v1's: it refuses to write into a folder that already holds vectors unless
// --force is given (only right when the format version changes); --out writes elsewhere, e.g. to
// compare a fresh run with the frozen files. Every input is fixed: the file key, salt and prefix,
// the x25519 identities and the ephemeral keys of their stanzas, the device signing keys (Ed25519
// signatures are deterministic), and one RSA key pair, generated once and kept in the JSON (RSA-OAEP
// draws a random seed, so its stanza body is an input too: a second implementation opens it and
// checks what it unwraps to, rather than reproducing it).

import { createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function usage(message) {
  if (message) process.stderr.write(`make-sealed-v2-vectors: ${message}\n`);
  process.stderr.write('usage: node vectors/sealed-v2/make.mjs [--force] [--out DIR]\n');
  process.exit(2);
}

let force = false;
let outDir = join(root, 'vectors', 'sealed-v2');
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--force') force = true;
  else if (argv[i] === '--out') {
    if (argv[i + 1] === undefined) usage('--out needs a folder');
    outDir = resolve(argv[++i]);
  } else usage(`unknown argument ${argv[i]}`);
}

const frozen = join(root, 'vectors', 'sealed-v2', 'vectors.json');
const existing = existsSync(outDir) ? readdirSync(outDir).filter((f) => f === 'vectors.json' || f.endsWith('.sealed')) : [];
if (existing.length > 0 && !force) {
  process.stderr.write(`make-sealed-v2-vectors: ${outDir} already holds frozen vectors; refusing to overwrite them. Pass --force only if the format version changed.\n`);
  process.exit(1);
}

const dist = (p) => pathToFileURL(join(root, 'dist', 'src', p)).href;
const { createHeader, sealWithHeader, openBuffer } = await import(dist('formats/sealed.js'));
const { setupBaseS } = await import(dist('keys/hpke.js'));
const { okpPrivateKey } = await import(dist('keys/okp.js'));
const { X25519Identity, X25519_WRAP_AEAD, X25519_WRAP_INFO, X25519_WRAP_AAD } = await import(dist('keys/x25519.js'));
const { LocalRsaIdentity } = await import(dist('keys/rsa-oaep.js'));
const { DeviceSigningKey } = await import(dist('keys/ed25519.js'));
const { openingWith } = await import(dist('keys/recipients.js'));

const hex = (b) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
const sha256 = (b) => createHash('sha256').update(b).digest('hex');

/** Reproducible bytes: the first n bytes of SHA-256("sealcam sealed-v2 vector <id> <label>"). */
function fixedBytes(id, label, n) {
  return new Uint8Array(createHash('sha256').update(`sealcam sealed-v2 vector ${id} ${label}`).digest().subarray(0, n));
}

const PLAINTEXT_FORMULA = '(7*i) % 256';
const plaintextOf = (length) => Uint8Array.from({ length }, (_, i) => (7 * i) % 256);

// The one RSA key pair of the vectors: kept from the frozen file when regenerating elsewhere (--out),
// so a fresh run must reproduce the frozen bytes.
const rsaPem = existsSync(frozen)
  ? JSON.parse(readFileSync(frozen, 'utf8')).rsaPrivateKeyPem
  : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' });
const rsa = LocalRsaIdentity.fromPrivateKey(createPrivateKey(rsaPem));
const frozenStanzas = existsSync(frozen) ? new Map(JSON.parse(readFileSync(frozen, 'utf8')).vectors.map((v) => [v.id, v.stanzas])) : new Map();

const full = (size, extra = {}) => ({
  originalSize: size,
  contentType: 'image/jpeg',
  captureTime: '2026-12-07T08:30:00Z',
  originalName: 'IMG_0001.jpg',
  ...extra,
});

const CASES = [
  {
    id: 'a128-x25519-s4096-empty-unsigned',
    comment: 'AES-128-EAX, one x25519 recipient, unsigned and naming no device, 4 KiB segments, empty plaintext (one empty last segment), metadata {}',
    algorithm: 'AES-128-EAX', segmentSize: 4096, length: 0, recipients: ['x25519'], metadata: {},
  },
  {
    id: 'a128-x25519-s4096-4097-signed',
    comment: 'AES-128-EAX, one x25519 recipient, signed by device cam-07, 4 KiB segments, 4097 bytes (a full segment and a 1-byte last one), all metadata fields',
    algorithm: 'AES-128-EAX', segmentSize: 4096, length: 4097, recipients: ['x25519'], deviceId: 'cam-07', metadata: full(4097),
  },
  {
    id: 'a256-x25519-rsa-s65536-12293-signed',
    comment: 'AES-256-EAX, two recipients (x25519, then RSA-OAEP-256 2048), signed by cam-07, 64 KiB segments, 3*4096+5 bytes in one last segment, non-ASCII metadata',
    algorithm: 'AES-256-EAX', segmentSize: 65536, length: 3 * 4096 + 5, recipients: ['x25519', 'rsa-oaep-256'], deviceId: 'cam-07',
    metadata: full(3 * 4096 + 5, { originalName: 'café-nacht-é€.jpg', 'x-site': 'dock 4' }),
  },
  {
    id: 'a128-rsa-s4096-8192-claims-device',
    comment: 'AES-128-EAX, one RSA-OAEP-256 recipient, names device cam-09 without signing (a claim no registry accepts), 4 KiB segments, exactly two full segments',
    algorithm: 'AES-128-EAX', segmentSize: 4096, length: 8192, recipients: ['rsa-oaep-256'], deviceId: 'cam-09', unsigned: true, metadata: { originalSize: 8192 },
  },
  {
    id: 'a256-2x25519-s4096-4096-signed',
    comment: 'AES-256-EAX, two x25519 recipients (a rotation: old and new fleet key), signed by device north.gate-2, 4 KiB segments, exactly one full segment',
    algorithm: 'AES-256-EAX', segmentSize: 4096, length: 4096, recipients: ['x25519', 'x25519'], deviceId: 'north.gate-2', metadata: { originalSize: 4096, contentType: 'image/png' },
  },
];

const vectors = [];
const files = new Map();
for (const c of CASES) {
  const dekLength = c.algorithm === 'AES-128-EAX' ? 16 : 32;
  const fixed = { dek: fixedBytes(c.id, 'dek', dekLength), salt: fixedBytes(c.id, 'salt', 16), prefix: fixedBytes(c.id, 'prefix', 11) };
  const recipients = c.recipients.map((type, i) => {
    if (type === 'rsa-oaep-256') return { type, identityPem: 'rsaPrivateKeyPem', identity: rsa, recipient: rsa.recipient.text };
    const secret = fixedBytes(c.id, `x25519 identity ${i}`, 32);
    const ephemeral = fixedBytes(c.id, `x25519 ephemeral ${i}`, 32);
    const identity = X25519Identity.fromPrivateKey(secret);
    return { type, identity, identityKey: hex(secret), ephemeralKey: hex(ephemeral), ephemeral, recipient: identity.recipient.text };
  });
  // x25519 stanzas from their fixed ephemeral keys; the RSA stanza as frozen (OAEP is randomised).
  const kept = frozenStanzas.get(c.id);
  const stanzas = recipients.map((r, i) => {
    if (r.type === 'rsa-oaep-256') {
      if (kept) return { type: kept[i].type, fingerprint: Buffer.from(kept[i].fingerprint, 'hex'), body: Buffer.from(kept[i].body, 'hex') };
      return rsa.recipient.wrap(fixed.dek);
    }
    const { enc, context } = setupBaseS(X25519_WRAP_AEAD, r.identity.recipient.publicKey, X25519_WRAP_INFO, okpPrivateKey('x25519', r.ephemeral));
    const sealedKey = context.seal(X25519_WRAP_AAD, fixed.dek);
    return { type: 'x25519', fingerprint: r.identity.recipient.fingerprint, body: new Uint8Array([...enc, ...sealedKey]) };
  });
  const seed = c.deviceId && !c.unsigned ? fixedBytes(c.id, 'ed25519 signing key', 32) : undefined;
  const signer = seed ? DeviceSigningKey.fromPrivateKey(seed) : undefined;
  const input = { wrap: () => stanzas, deviceId: c.deviceId, signer, algorithm: c.algorithm, segmentSize: c.segmentSize, metadata: c.metadata, fixed };
  const plaintext = plaintextOf(c.length);
  const sealed = {};
  for (const engine of ['wasm', 'native']) {
    const created = createHeader({ ...input, engine });
    sealed[engine] = { bytes: sealWithHeader(created, plaintext, engine), header: created.header };
    created.payloadKey.fill(0);
  }
  if (Buffer.compare(sealed.wasm.bytes, sealed.native.bytes) !== 0) throw new Error(`${c.id}: the wasm and native engines disagree`);
  const { bytes, header } = sealed.wasm;
  for (const engine of ['wasm', 'native']) {
    for (const r of recipients) {
      const opened = await openBuffer(bytes, { fileKey: openingWith([r.identity]), engine });
      if (Buffer.compare(opened.plaintext, plaintext) !== 0) throw new Error(`${c.id}: does not open to its plaintext with the ${r.type} identity (${engine})`);
    }
  }
  if (signer && !signer.publicKey.verify(header.signature.message, header.signature.signature)) throw new Error(`${c.id}: the signature does not verify`);
  const name = `${c.id}.sealed`;
  files.set(name, bytes);
  vectors.push({
    id: c.id,
    comment: c.comment,
    algorithm: c.algorithm,
    segmentSize: c.segmentSize,
    dek: hex(fixed.dek),
    salt: hex(fixed.salt),
    prefix: hex(fixed.prefix),
    recipients: recipients.map((r) =>
      r.type === 'x25519' ? { type: r.type, recipient: r.recipient, identityKey: r.identityKey, ephemeralKey: r.ephemeralKey } : { type: r.type, recipient: r.recipient, identityPem: r.identityPem },
    ),
    stanzas: stanzas.map((s) => ({ type: s.type, fingerprint: hex(s.fingerprint), body: hex(s.body) })),
    ...(c.deviceId ? { deviceId: c.deviceId } : {}),
    ...(signer ? { signingKey: hex(seed), signerPublicKey: signer.publicKey.text, signer: hex(signer.fingerprint) } : {}),
    metadata: c.metadata,
    metadataJson: JSON.stringify(c.metadata),
    ...(c.length <= 64 ? { plaintext: hex(plaintext) } : { plaintextRule: { length: c.length, formula: PLAINTEXT_FORMULA } }),
    plaintextSha256: sha256(plaintext),
    sealed: name,
    sealedLength: bytes.length,
    sealedSha256: sha256(bytes),
    intermediate: {
      headerLength: header.headerLength,
      segmentCount: Math.max(1, Math.ceil(c.length / c.segmentSize)),
      headerMac: hex(header.mac),
      ...(header.signature ? { signature: hex(header.signature.signature) } : {}),
    },
  });
}

const doc = {
  name: 'sealed-v2',
  format: 'sealcam sealed, version 2',
  specification: 'docs/FORMAT.md',
  generator: 'vectors/sealed-v2/make.mjs (sealcam, both engines agreeing); checked independently by vectors/sealed-v2/check.py (python3-cryptography and pycryptodome)',
  notes:
    'Frozen: never regenerate for the same format version. Byte strings are lowercase hex. The fixed dek/salt/prefix, x25519 identity and ephemeral keys and Ed25519 signing keys are the first bytes of SHA-256("sealcam sealed-v2 vector <id> <label>"); real files draw them at random. RSA-OAEP is randomised: its stanza bodies are inputs, to be opened with rsaPrivateKeyPem (never use that key for anything else), not reproduced. identityPem names the member holding the PEM. intermediate holds values for debugging only; the .sealed file is the answer.',
  rsaPrivateKeyPem: rsaPem,
  count: vectors.length,
  vectors,
};
mkdirSync(outDir, { recursive: true });
for (const [name, bytes] of files) writeFileSync(join(outDir, name), bytes);
writeFileSync(join(outDir, 'vectors.json'), JSON.stringify(doc, null, 2) + '\n');
process.stdout.write(`wrote ${vectors.length} vectors to ${outDir}\n`);
