import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createBackend, createEax } from '../engine/eax.js';
import { tagsEqual } from '../engine/run.js';
import type { CipherBackend, EngineName } from '../engine/types.js';
import { AuthenticationError, InputError } from '../errors.js';
import { vectorsDir } from '../paths.js';
import { encryptBlock, expandKey } from './reference.js';
import { createHeader, openBuffer, openSealed, sealWithHeader, type Algorithm, type Stanza } from '../formats/sealed.js';
import { DeviceSigningKey } from '../keys/ed25519.js';
import { openingWith } from '../keys/recipients.js';
import { LocalRsaIdentity } from '../keys/rsa-oaep.js';
import { sameFingerprint, type Identity } from '../keys/stanza.js';
import { X25519Identity } from '../keys/x25519.js';

/**
 * The known-answer vector runner: loads vectors/ (the project schema of vectors/README.md plus the
 * two Wycheproof originals in their own schema), runs every vector on one engine and reports per
 * file. It is a test harness: it never throws for a failing vector, only records why it failed.
 * Node 18 compatible (the CLI may run under an older Node on arm64).
 */

export type Primitive = 'block' | 'keyexp' | 'ctr' | 'cmac' | 'eax' | 'sealed';

interface Common {
  /** `id` in the project schema (a name for sealed-v1), `tcId` in Wycheproof's. */
  readonly id: number | string;
  /** result "valid" (must compute/verify) or "invalid" (must be refused). */
  readonly valid: boolean;
}
export interface BlockVector extends Common {
  readonly kind: 'block';
  readonly key: Uint8Array;
  readonly pt: Uint8Array;
  readonly ct: Uint8Array;
}
export interface KeyexpVector extends Common {
  readonly kind: 'keyexp';
  readonly key: Uint8Array;
  /** FIPS 197 words w[0 .. 4*(Nr+1)-1]. */
  readonly roundKeys: Uint32Array;
}
export interface CtrVector extends Common {
  readonly kind: 'ctr';
  readonly key: Uint8Array;
  readonly counter: Uint8Array;
  readonly pt: Uint8Array;
  readonly ct: Uint8Array;
}
export interface CmacVector extends Common {
  readonly kind: 'cmac';
  readonly key: Uint8Array;
  readonly msg: Uint8Array;
  readonly tag: Uint8Array;
  readonly tagLength: number;
}
export interface EaxVector extends Common {
  readonly kind: 'eax';
  readonly key: Uint8Array;
  readonly nonce: Uint8Array;
  readonly header: Uint8Array;
  readonly msg: Uint8Array;
  readonly ct: Uint8Array;
  readonly tag: Uint8Array;
  readonly tagLength: number;
}
/** A frozen `sealed` v1 file (vectors/sealed-v1): its inputs, fixed randomness and the file itself. */
export interface SealedVector extends Common {
  readonly kind: 'sealed';
  readonly version: 1;
  readonly kek: Uint8Array;
  readonly keyId: string;
  readonly keyVersion: string;
  readonly algorithm: Algorithm;
  readonly segmentSize: number;
  readonly fixed: { dek: Uint8Array; salt: Uint8Array; prefix: Uint8Array };
  readonly metadataJson: string;
  readonly plaintext: Uint8Array;
  readonly sealed: Uint8Array;
}
/** A frozen `sealed` v2 file (vectors/sealed-v2): its identities, stanzas, signing key, fixed randomness and the file. */
export interface SealedV2Vector extends Common {
  readonly kind: 'sealed';
  readonly version: 2;
  readonly algorithm: Algorithm;
  readonly segmentSize: number;
  readonly fixed: { dek: Uint8Array; salt: Uint8Array; prefix: Uint8Array };
  /** One identity per stanza, in the stanzas' order. */
  readonly identities: Identity[];
  readonly stanzas: Stanza[];
  readonly deviceId?: string;
  readonly signingKey?: Uint8Array;
  readonly metadataJson: string;
  readonly plaintext: Uint8Array;
  readonly sealed: Uint8Array;
}
export type Vector = BlockVector | KeyexpVector | CtrVector | CmacVector | EaxVector | SealedVector | SealedV2Vector;

export interface VectorFile {
  /** Path relative to the vectors folder, with `/` separators (e.g. `wycheproof/aes_eax_test.json`). */
  readonly file: string;
  readonly primitive: Primitive;
  /** What the file says it holds (`count`, or Wycheproof's `numberOfTests`). */
  readonly declaredCount: number;
  readonly vectors: Vector[];
}

export interface Failure {
  /** The vector's id, or null when the file as a whole is at fault. */
  id: number | string | null;
  reason: string;
}

export interface FileResult {
  file: string;
  engine: EngineName;
  passed: number;
  failed: number;
  failures: Failure[];
}

/** A vector file that does not follow its schema. */
export class VectorFormatError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'VectorFormatError';
  }
}

// ---------------------------------------------------------------------------------------------
// Loading

/**
 * The public-key vectors (recipients and device signatures: HPKE, X25519, Ed25519, RSA-OAEP). They
 * exercise node:crypto, not an AES engine, so this runner leaves them to their own tests
 * (test/hpke.test.ts, test/x25519.test.ts, test/ed25519.test.ts, test/rsa-oaep.test.ts).
 */
export const PUBLIC_KEY_VECTORS: readonly string[] = [
  'hpke-rfc9180-x25519.json',
  'wycheproof/ed25519_test.json',
  'wycheproof/rsa_oaep_2048_sha256_mgf1sha256_test.json',
  'wycheproof/rsa_oaep_3072_sha256_mgf1sha256_test.json',
  'wycheproof/x25519_test.json',
];

/** Every engine vector file under `dir` (every .json but PUBLIC_KEY_VECTORS, recursively), relative, `/`-separated, sorted. */
export function listVectorFiles(dir: string = vectorsDir): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel))) {
      const child = rel === '' ? name : `${rel}/${name}`;
      if (statSync(join(dir, child)).isDirectory()) walk(child);
      else if (name.endsWith('.json') && !PUBLIC_KEY_VECTORS.includes(child)) out.push(child);
    }
  };
  walk('');
  return out.sort();
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads typed fields of one JSON object, naming the file and vector in every complaint. */
class Fields {
  constructor(
    private readonly o: Json,
    private readonly where: string,
    private readonly file: string,
  ) {}
  fail(message: string): never {
    throw new VectorFormatError(this.file, `${this.where}: ${message}`);
  }
  str(name: string): string {
    const v = this.o[name];
    if (typeof v !== 'string') this.fail(`${name} must be a string`);
    return v;
  }
  int(name: string): number {
    const v = this.o[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(`${name} must be a non-negative integer`);
    return v;
  }
  /** Strict lowercase-or-uppercase hex; Buffer.from(.., 'hex') alone would silently truncate. */
  hex(name: string): Uint8Array {
    const s = this.str(name);
    if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) this.fail(`${name} is not hex`);
    return new Uint8Array(Buffer.from(s, 'hex'));
  }
  valid(): boolean {
    const r = this.str('result');
    if (r !== 'valid' && r !== 'invalid') this.fail(`result must be valid or invalid, got ${r}`);
    return r === 'valid';
  }
}

const PRIMITIVES: readonly Primitive[] = ['block', 'keyexp', 'ctr', 'cmac', 'eax'];

function blocks(f: Fields, name: string): Uint8Array {
  const b = f.hex(name);
  if (b.length === 0 || b.length % 16 !== 0) f.fail(`${name} must be whole 16-byte blocks`);
  return b;
}

function tagLengthOf(f: Fields, tag: Uint8Array, valid: boolean, tagLength: number): number {
  if (tagLength < 1 || tagLength > 16) f.fail(`tagLength must be 1..16, got ${tagLength}`);
  // Invalid cases may carry a tag of another size (Wycheproof's bad-key CMAC cases have none).
  if (valid && tag.length !== tagLength) f.fail(`tag is ${tag.length} bytes, tagLength says ${tagLength}`);
  return tagLength;
}

function projectVector(primitive: Primitive, f: Fields): Vector {
  const id = f.int('id');
  const valid = f.valid();
  switch (primitive) {
    case 'sealed':
      return f.fail('sealed vectors have their own schema (vectors/sealed-v1)');
    case 'block': {
      const pt = blocks(f, 'pt');
      const ct = blocks(f, 'ct');
      if (ct.length !== pt.length) f.fail('pt and ct differ in length');
      return { kind: 'block', id, valid, key: f.hex('key'), pt, ct };
    }
    case 'keyexp': {
      const key = f.hex('key');
      const words = f.hex('roundKeys');
      if (key.length !== 16 && key.length !== 24 && key.length !== 32) f.fail('key must be 16, 24 or 32 bytes');
      if (words.length !== 16 * (key.length / 4 + 7)) f.fail(`roundKeys has the wrong length for a ${key.length}-byte key`);
      const roundKeys = new Uint32Array(words.length / 4);
      const view = new DataView(words.buffer, words.byteOffset, words.byteLength);
      for (let i = 0; i < roundKeys.length; i++) roundKeys[i] = view.getUint32(4 * i, false);
      return { kind: 'keyexp', id, valid, key, roundKeys };
    }
    case 'ctr': {
      const counter = f.hex('counter');
      if (counter.length !== 16) f.fail('counter must be 16 bytes');
      const direction = f.str('direction');
      if (direction !== 'encrypt' && direction !== 'decrypt') f.fail(`direction must be encrypt or decrypt`);
      const pt = f.hex('pt');
      const ct = f.hex('ct');
      if (ct.length !== pt.length) f.fail('pt and ct differ in length');
      return { kind: 'ctr', id, valid, key: f.hex('key'), counter, pt, ct };
    }
    case 'cmac': {
      const tag = f.hex('tag');
      const tagLength = tagLengthOf(f, tag, valid, f.int('tagLength'));
      return { kind: 'cmac', id, valid, key: f.hex('key'), msg: f.hex('msg'), tag, tagLength };
    }
    case 'eax': {
      const msg = f.hex('msg');
      const ct = f.hex('ct');
      if (ct.length !== msg.length) f.fail('msg and ct differ in length');
      const tag = f.hex('tag');
      const tagLength = tagLengthOf(f, tag, valid, f.int('tagLength'));
      return { kind: 'eax', id, valid, key: f.hex('key'), nonce: f.hex('nonce'), header: f.hex('header'), msg, ct, tag, tagLength };
    }
  }
}

function parseProject(file: string, doc: Json): VectorFile {
  const top: Fields = new Fields(doc, 'file', file);
  const primitive = top.str('primitive') as Primitive;
  if (!PRIMITIVES.includes(primitive)) top.fail(`unknown primitive ${primitive}`);
  if (!Array.isArray(doc.vectors)) top.fail('vectors must be an array');
  const vectors = doc.vectors.map((v: unknown, i: number) => {
    if (!isObject(v)) throw new VectorFormatError(file, `vector #${i + 1} is not an object`);
    return projectVector(primitive, new Fields(v, `vector id ${String(v.id)}`, file));
  });
  return { file, primitive, declaredCount: top.int('count'), vectors };
}

/** Wycheproof's mac_test / aead_test schema: sizes in bits on each group, iv/aad for nonce/header. */
function parseWycheproof(file: string, doc: Json): VectorFile {
  const top: Fields = new Fields(doc, 'file', file);
  const algorithm = top.str('algorithm');
  const primitive: Primitive =
    algorithm === 'AES-CMAC' ? 'cmac' : algorithm === 'AES-EAX' ? 'eax' : top.fail(`unsupported Wycheproof algorithm ${algorithm}`);
  if (!Array.isArray(doc.testGroups)) top.fail('testGroups must be an array');
  const vectors: Vector[] = [];
  for (const g of doc.testGroups as unknown[]) {
    if (!isObject(g) || !Array.isArray(g.tests)) top.fail('each test group needs a tests array');
    const group: Fields = new Fields(g, 'test group', file);
    const keyBits = group.int('keySize');
    const tagBits = group.int('tagSize');
    const ivBits = primitive === 'eax' ? group.int('ivSize') : 0;
    if (tagBits % 8 !== 0) group.fail('tagSize is not whole bytes');
    for (const t of g.tests as unknown[]) {
      if (!isObject(t)) top.fail('a test is not an object');
      const f: Fields = new Fields(t, `tcId ${String(t.tcId)}`, file);
      const id = f.int('tcId');
      const valid = f.valid();
      const key = f.hex('key');
      if (key.length * 8 !== keyBits) f.fail(`key is ${key.length * 8} bits, the group says ${keyBits}`);
      const msg = f.hex('msg');
      const tag = f.hex('tag');
      const tagLength = tagLengthOf(f, tag, valid, tagBits / 8);
      if (primitive === 'cmac') {
        vectors.push({ kind: 'cmac', id, valid, key, msg, tag, tagLength });
      } else {
        const nonce = f.hex('iv');
        if (nonce.length * 8 !== ivBits) f.fail(`iv is ${nonce.length * 8} bits, the group says ${ivBits}`);
        const ct = f.hex('ct');
        if (ct.length !== msg.length) f.fail('msg and ct differ in length');
        vectors.push({ kind: 'eax', id, valid, key, nonce, header: f.hex('aad'), msg, ct, tag, tagLength });
      }
    }
  }
  return { file, primitive, declaredCount: top.int('numberOfTests'), vectors };
}

/** vectors/sealed-v1/vectors.json: the frozen files of docs/FORMAT.md, stored beside the JSON. */
function parseSealed(file: string, doc: Json, dir: string): VectorFile {
  const top: Fields = new Fields(doc, 'file', file);
  if (!Array.isArray(doc.vectors)) top.fail('vectors must be an array');
  const version = doc.format === 'sealcam sealed, version 2' ? 2 : 1;
  const rsaPem = version === 2 ? top.str('rsaPrivateKeyPem') : '';
  const vectors = doc.vectors.map((v: unknown, i: number): SealedVector | SealedV2Vector => {
    if (!isObject(v)) throw new VectorFormatError(file, `vector #${i + 1} is not an object`);
    const f: Fields = new Fields(v, `vector ${String(v.id)}`, file);
    const rule = v.plaintextRule as { length?: unknown; formula?: unknown } | undefined;
    let plaintext: Uint8Array;
    if (rule !== undefined) {
      if (rule.formula !== '(7*i) % 256' || typeof rule.length !== 'number') f.fail('unknown plaintextRule');
      plaintext = Uint8Array.from({ length: rule.length as number }, (_, j) => (7 * j) % 256);
    } else {
      plaintext = f.hex('plaintext');
    }
    let sealed: Uint8Array;
    try {
      sealed = new Uint8Array(readFileSync(join(dir, dirname(file), f.str('sealed'))));
    } catch {
      throw new VectorFormatError(file, `vector ${String(v.id)}: cannot read ${String(v.sealed)}`);
    }
    const common = {
      kind: 'sealed' as const,
      id: f.str('id'),
      valid: true,
      algorithm: f.str('algorithm') as Algorithm,
      segmentSize: f.int('segmentSize'),
      fixed: { dek: f.hex('dek'), salt: f.hex('salt'), prefix: f.hex('prefix') },
      metadataJson: f.str('metadataJson'),
      plaintext,
      sealed,
    };
    if (version === 1) return { ...common, version, kek: f.hex('kek'), keyId: f.str('keyId'), keyVersion: f.str('keyVersion') };
    if (!Array.isArray(v.recipients) || !Array.isArray(v.stanzas) || v.recipients.length !== v.stanzas.length) f.fail('recipients and stanzas must be arrays of one length');
    const identities = (v.recipients as unknown[]).map((r) => {
      const g = new Fields(r as Json, `vector ${String(v.id)} recipient`, file);
      return g.str('type') === 'x25519' ? X25519Identity.fromPrivateKey(g.hex('identityKey')) : LocalRsaIdentity.fromPem(rsaPem, file);
    });
    const stanzas = (v.stanzas as unknown[]).map((x) => {
      const g = new Fields(x as Json, `vector ${String(v.id)} stanza`, file);
      return { type: g.str('type'), fingerprint: g.hex('fingerprint'), body: g.hex('body') };
    });
    return {
      ...common,
      version,
      identities,
      stanzas,
      ...(typeof v.deviceId === 'string' ? { deviceId: v.deviceId } : {}),
      ...(typeof v.signingKey === 'string' ? { signingKey: f.hex('signingKey') } : {}),
    };
  });
  return { file, primitive: 'sealed', declaredCount: top.int('count'), vectors };
}

/** Parse one file (path relative to `dir`) in whichever of the three schemas it uses. */
export function loadVectorFile(file: string, dir: string = vectorsDir): VectorFile {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  } catch (err) {
    throw new VectorFormatError(file, `cannot read: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new VectorFormatError(file, 'not a JSON object');
  if (Array.isArray(doc.testGroups)) return parseWycheproof(file, doc);
  if (typeof doc.format === 'string' && doc.format.startsWith('sealcam sealed')) return parseSealed(file, doc, dir);
  return parseProject(file, doc);
}

// ---------------------------------------------------------------------------------------------
// Checking. Each check returns null on success or a short reason; exceptions are caught above it.

/** Plain comparison of public values (known answers), naming where they first differ. */
function differs(what: string, got: Uint8Array, want: Uint8Array): string | null {
  if (got.length !== want.length) return `${what}: got ${got.length} bytes, want ${want.length}`;
  for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) return `${what} differs at byte ${i}`;
  return null;
}

/** Does `expected` equal the first expected.length bytes of the computed tag? (tagsEqual needs the lengths in range.) */
function tagMatches(computed: Uint8Array, expected: Uint8Array, tagLength: number): boolean {
  return expected.length === tagLength && tagLength <= computed.length && tagsEqual(computed, expected);
}

function explain(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

function keySizeOk(key: Uint8Array): boolean {
  return key.length === 16 || key.length === 24 || key.length === 32;
}

/** Public blocks enciphered for every keyexp vector: zero, all-ones, FIPS 197 B and C inputs. */
const KEYEXP_PROBES: Uint8Array = new Uint8Array(
  Buffer.from(
    '00000000000000000000000000000000' +
      'ffffffffffffffffffffffffffffffff' +
      '3243f6a8885a308d313198a2e0370734' +
      '00112233445566778899aabbccddeeff',
    'hex',
  ),
);

function checkBlock(v: BlockVector, engine: EngineName): string | null {
  const b = createBackend(v.key, engine);
  try {
    return differs('ct', b.encryptBlocks(v.pt), v.ct);
  } finally {
    b.dispose();
  }
}

/**
 * Key expansion, checked end to end: (1) the reference's own expansion of the key must give the
 * FIPS 197 words (this checks the reference), then (2) the engine, under the same key, must encipher
 * the probe blocks exactly as the reference does with the vector's round keys.
 */
function checkKeyexp(v: KeyexpVector, engine: EngineName): string | null {
  const mine = expandKey(v.key);
  for (let i = 0; i < v.roundKeys.length; i++) {
    if (mine[i] !== v.roundKeys[i]) return `reference key expansion differs from the vector at w[${i}]`;
  }
  const want = new Uint8Array(KEYEXP_PROBES.length);
  for (let off = 0; off < KEYEXP_PROBES.length; off += 16) {
    want.set(encryptBlock(v.roundKeys, KEYEXP_PROBES.subarray(off, off + 16)), off);
  }
  const b = createBackend(v.key, engine);
  try {
    return differs('engine vs reference cipher with the vector round keys', b.encryptBlocks(KEYEXP_PROBES), want);
  } finally {
    b.dispose();
  }
}

/** CTR is its own inverse, so both directions are checked whatever the source computed. */
function checkCtr(v: CtrVector, engine: EngineName): string | null {
  const b = createBackend(v.key, engine);
  try {
    return differs('ct', b.ctr(v.counter, v.pt), v.ct) ?? differs('pt (reverse)', b.ctr(v.counter, v.ct), v.pt);
  } finally {
    b.dispose();
  }
}

function checkCmac(v: CmacVector, engine: EngineName): string | null {
  if (!v.valid && !keySizeOk(v.key)) {
    // The only acceptable outcome for an impossible key size is an InputError from the binding.
    try {
      createBackend(v.key, engine).dispose();
    } catch (err) {
      return err instanceof InputError ? null : `bad key size: expected InputError, got ${explain(err)}`;
    }
    return `a ${v.key.length}-byte key was accepted`;
  }
  const b = createBackend(v.key, engine);
  try {
    const ok = tagMatches(b.cmac(v.msg), v.tag, v.tagLength);
    if (v.valid) return ok ? null : 'tag differs';
    return ok ? 'an invalid tag verified' : null;
  } finally {
    b.dispose();
  }
}

/** One EAX pass on a raw backend state, wiped even if the engine throws. */
function rawEax(b: CipherBackend, v: EaxVector, direction: 'encrypt' | 'decrypt'): { out: Uint8Array; tag: Uint8Array } {
  const state = b.eax(v.nonce);
  try {
    state.header(v.header);
    const input = direction === 'encrypt' ? v.msg : v.ct;
    const out = new Uint8Array(input.length);
    if (direction === 'encrypt') state.encryptInto(input, out);
    else state.decryptInto(input, out);
    return { out, tag: state.tag() };
  } finally {
    state.dispose();
  }
}

/** Empty nonce: only the raw backend takes it (createEax follows pycryptodome and refuses it). */
function checkEaxRaw(v: EaxVector, engine: EngineName): string | null {
  const b = createBackend(v.key, engine);
  try {
    if (v.valid) {
      const enc = rawEax(b, v, 'encrypt');
      const bad = differs('ct', enc.out, v.ct);
      if (bad) return bad;
      if (!tagMatches(enc.tag, v.tag, v.tagLength)) return 'tag differs';
    }
    const dec = rawEax(b, v, 'decrypt');
    const ok = tagMatches(dec.tag, v.tag, v.tagLength);
    if (!v.valid) return ok ? 'an invalid tag verified' : null;
    return ok ? differs('decrypted msg', dec.out, v.msg) : 'tag did not verify on decryption';
  } finally {
    b.dispose();
  }
}

function checkEax(v: EaxVector, engine: EngineName): string | null {
  if (v.nonce.length === 0) return checkEaxRaw(v, engine);
  // The context is made for the vector's tag length: it writes and accepts only that length.
  const eax = createEax(v.key, { engine, tagLength: v.tagLength });
  try {
    if (v.valid) {
      const sealed = eax.encrypt(v.nonce, v.msg, { header: v.header });
      const bad = differs('ct', sealed.ciphertext, v.ct);
      if (bad) return bad;
      if (!tagMatches(sealed.tag, v.tag, v.tagLength) || sealed.tag.length !== v.tagLength) return 'tag differs';
      let pt: Uint8Array;
      try {
        pt = eax.decrypt(v.nonce, v.ct, v.tag, { header: v.header });
      } catch (err) {
        return `decrypt refused a valid vector: ${explain(err)}`;
      }
      return differs('decrypted msg', pt, v.msg);
    }
    let released: Uint8Array;
    try {
      released = eax.decrypt(v.nonce, v.ct, v.tag, { header: v.header });
    } catch (err) {
      return err instanceof AuthenticationError ? null : `expected AuthenticationError, got ${explain(err)}`;
    }
    return `decrypt released ${released.length} bytes for an invalid tag`;
  } finally {
    eax.dispose();
  }
}

/** Reproduce the frozen file byte for byte from its inputs, then open it back to the plaintext. */
async function checkSealed(v: SealedVector | SealedV2Vector, engine: EngineName): Promise<string | null> {
  const metadata = JSON.parse(v.metadataJson) as Record<string, unknown>;
  if (JSON.stringify(metadata) !== v.metadataJson) return 'metadataJson is not in the form JSON.stringify writes';
  const common = { algorithm: v.algorithm, segmentSize: v.segmentSize, metadata, engine, fixed: v.fixed };
  if (v.version === 1) {
    const created = createHeader({ ...common, kek: v.kek, keyId: v.keyId, keyVersion: v.keyVersion });
    const resealed = sealWithHeader(created, v.plaintext, engine);
    created.payloadKey.fill(0);
    return differs('sealed file', resealed, v.sealed) ?? differs('opened plaintext', openSealed(v.sealed, v.kek, engine).plaintext, v.plaintext);
  }
  const signer = v.signingKey === undefined ? undefined : DeviceSigningKey.fromPrivateKey(v.signingKey);
  const created = createHeader({ ...common, wrap: () => v.stanzas, deviceId: v.deviceId, signer });
  const resealed = sealWithHeader(created, v.plaintext, engine);
  created.payloadKey.fill(0);
  const problem = differs('sealed file', resealed, v.sealed);
  if (problem !== null) return problem;
  // Each identity alone opens it; with a signer, only under a check that accepts exactly that key.
  const trust = signer && {
    verify: async (_device: string, fp: Uint8Array, message: Uint8Array, signature: Uint8Array) =>
      sameFingerprint(fp, signer.fingerprint) && signer.publicKey.verify(message, signature)
        ? { ok: true as const }
        : { ok: false as const, reason: "the signature does not verify under the vector's signing key" },
  };
  for (const identity of v.identities) {
    const opened = await openBuffer(v.sealed, { fileKey: openingWith([identity]), trust, engine });
    const wrong = differs(`plaintext opened with the ${identity.type} identity`, opened.plaintext, v.plaintext);
    if (wrong !== null) return wrong;
  }
  return null;
}

/** Checks one vector on one engine; null when it passes. Block, CTR and key expansion vectors are known answers: "invalid" has no meaning for them. */
async function checkVector(v: Vector, engine: EngineName): Promise<string | null> {
  if (!v.valid && (v.kind === 'block' || v.kind === 'ctr' || v.kind === 'keyexp')) {
    return `result "invalid" is not defined for ${v.kind} vectors`;
  }
  switch (v.kind) {
    case 'block':
      return checkBlock(v, engine);
    case 'keyexp':
      return checkKeyexp(v, engine);
    case 'ctr':
      return checkCtr(v, engine);
    case 'cmac':
      return checkCmac(v, engine);
    case 'eax':
      return checkEax(v, engine);
    case 'sealed':
      return checkSealed(v, engine);
  }
}

// ---------------------------------------------------------------------------------------------
// Running

/** Run every vector of one loaded file on one engine. */
export async function runFile(vf: VectorFile, engine: EngineName): Promise<FileResult> {
  const result: FileResult = { file: vf.file, engine, passed: 0, failed: 0, failures: [] };
  if (vf.declaredCount !== vf.vectors.length) {
    // A truncated or padded file must not pass quietly.
    result.failed++;
    result.failures.push({ id: null, reason: `the file declares ${vf.declaredCount} vectors but holds ${vf.vectors.length}` });
  }
  for (const v of vf.vectors) {
    let reason: string | null;
    try {
      reason = await checkVector(v, engine);
    } catch (err) {
      reason = `threw ${explain(err)}`;
    }
    if (reason === null) {
      result.passed++;
    } else {
      result.failed++;
      result.failures.push({ id: v.id, reason });
    }
  }
  return result;
}

/** One file's results on each engine; a file that cannot be loaded is one failure per engine rather than stopping the run. */
async function runOneFile(file: string, dir: string, engines: readonly EngineName[], label = file): Promise<FileResult[]> {
  let vf: VectorFile | undefined;
  let loadError = '';
  try {
    vf = loadVectorFile(file, dir);
  } catch (err) {
    loadError = err instanceof VectorFormatError ? err.message : explain(err);
  }
  const results: FileResult[] = [];
  for (const engine of engines) {
    results.push(vf ? { ...(await runFile(vf, engine)), file: label } : { file: label, engine, passed: 0, failed: 1, failures: [{ id: null, reason: loadError.replace(file, label) }] });
  }
  return results;
}

/**
 * Run every file in `dir` on each engine; results are ordered by file, then engine. A file that
 * cannot be loaded is reported as one failure rather than stopping the run.
 */
export async function runVectors(engines: readonly EngineName[], dir: string = vectorsDir): Promise<FileResult[]> {
  const results: FileResult[] = [];
  for (const file of listVectorFiles(dir)) results.push(...(await runOneFile(file, dir, engines)));
  return results;
}

/** runVectors() for files of one's own (paths as given), in any of the three schemas. */
export async function runVectorPaths(paths: readonly string[], engines: readonly EngineName[]): Promise<FileResult[]> {
  const results: FileResult[] = [];
  for (const path of paths) results.push(...(await runOneFile(basename(path), dirname(path), engines, path)));
  return results;
}
