import { platform } from '#platform';
import { AuthenticationError, InputError, SealcamError } from '../errors.js';
import type { AeadName, PrivateKey } from '../platform/platform.js';

/**
 * HPKE (RFC 9180) in base mode with DHKEM(X25519, HKDF-SHA256) and HKDF-SHA256, built from the
 * platform's X25519, HMAC-SHA256 and AEADs (node:crypto on Node, the noble libraries in the
 * browser build), each step named and written as the RFC writes it
 * (sections 4, 4.1, 5.1, 5.2, 5.3), so it can be read against the RFC and checked on its Appendix A
 * values step by step. The AEAD is a parameter so that the RFC's AES-128-GCM and export-only
 * vectors run too; sealcam wraps file keys with ChaCha20-Poly1305 (see x25519.ts).
 *
 * One deliberate addition to the RFC: an X25519 result of all zeros (a low-order public key) is
 * refused in every DH, as RFC 9180 section 7.1.4 allows and RFC 7748 section 6.1 recommends;
 * OpenSSL and noble refuse it too, and we check here so the rule does not depend on either.
 */

export const KEM_ID = 0x0020; // DHKEM(X25519, HKDF-SHA256)
export const KDF_ID = 0x0001; // HKDF-SHA256

export const AEAD = {
  AES_128_GCM: 0x0001,
  CHACHA20_POLY1305: 0x0003,
  EXPORT_ONLY: 0xffff,
} as const;
export type AeadId = (typeof AEAD)[keyof typeof AEAD];

interface AeadParams {
  /** The platform's AEAD; none for export-only. */
  cipher?: AeadName;
  Nk: number;
  Nn: number;
}

const AEADS: Record<AeadId, AeadParams> = {
  [AEAD.AES_128_GCM]: { cipher: 'aes-128-gcm', Nk: 16, Nn: 12 },
  [AEAD.CHACHA20_POLY1305]: { cipher: 'chacha20-poly1305', Nk: 32, Nn: 12 },
  [AEAD.EXPORT_ONLY]: { Nk: 0, Nn: 0 },
};

const Nh = 32; // HKDF-SHA256
const Nsecret = 32; // DHKEM(X25519)
const Npk = 32;
const Nt = 16;
const MODE_BASE = 0x00;
const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);
const HPKE_V1 = ascii('HPKE-v1');

function aeadParams(aead: AeadId): AeadParams {
  const params = AEADS[aead];
  if (params === undefined) throw new InputError(`HPKE AEAD id ${String(aead)} is not supported`);
  return params;
}

function i2osp(n: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1, v = n; i >= 0 && v > 0; i--, v = Math.floor(v / 256)) out[i] = v % 256;
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// --- HKDF (RFC 5869) and the labeled forms of RFC 9180 section 4 ---------------------------------

function extract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  // An empty salt is HashLen zero bytes (RFC 5869); HMAC pads a short key with zeros, so it is the same.
  return platform.crypto.hmacSha256(salt, ikm);
}

function expand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (length > 255 * Nh) throw new InputError(`HKDF-Expand cannot give ${length} bytes`);
  const blocks: Uint8Array[] = [];
  let t: Uint8Array = new Uint8Array(0);
  for (let i = 1; blocks.length * Nh < length; i++) {
    t = platform.crypto.hmacSha256(prk, concat(t, info, new Uint8Array([i])));
    blocks.push(t);
  }
  return concat(...blocks).subarray(0, length);
}

function labeledExtract(suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array {
  return extract(salt, concat(HPKE_V1, suiteId, ascii(label), ikm));
}

function labeledExpand(suiteId: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number): Uint8Array {
  return expand(prk, concat(i2osp(length, 2), HPKE_V1, suiteId, ascii(label), info), length);
}

// --- DHKEM(X25519, HKDF-SHA256), RFC 9180 section 4.1 --------------------------------------------

const KEM_SUITE_ID = concat(ascii('KEM'), i2osp(KEM_ID, 2));

/**
 * X25519(sk, pk), refusing a low-order `pk` (all-zero result) with code ELOWORDER. The comparison
 * with zero runs over every byte, so its time does not depend on where the result differs.
 */
export function x25519(privateKey: PrivateKey<'x25519'>, publicKey: Uint8Array): Uint8Array {
  const shared = platform.crypto.x25519.sharedSecret(privateKey, publicKey);
  let any = 0;
  for (const byte of shared) any |= byte;
  if (any === 0) throw new SealcamError('ELOWORDER', 'the x25519 public key is of low order (the shared secret would be zero)');
  return shared;
}

function extractAndExpand(dh: Uint8Array, kemContext: Uint8Array): Uint8Array {
  const eaePrk = labeledExtract(KEM_SUITE_ID, new Uint8Array(0), 'eae_prk', dh);
  return labeledExpand(KEM_SUITE_ID, eaePrk, 'shared_secret', kemContext, Nsecret);
}

export interface Encapsulation {
  sharedSecret: Uint8Array;
  /** The ephemeral public key, 32 bytes. */
  enc: Uint8Array;
}

/** Encap(pkR); `ephemeral` fixes skE for known-answer tests, and is a fresh key otherwise. */
export function encap(pkR: Uint8Array, ephemeral: PrivateKey<'x25519'> = platform.crypto.x25519.generate()): Encapsulation {
  const dh = x25519(ephemeral, pkR);
  const enc = platform.crypto.x25519.publicKey(ephemeral);
  const sharedSecret = extractAndExpand(dh, concat(enc, pkR));
  dh.fill(0);
  return { sharedSecret, enc };
}

/** Decap(enc, skR). */
export function decap(enc: Uint8Array, skR: PrivateKey<'x25519'>): Uint8Array {
  if (!(enc instanceof Uint8Array) || enc.length !== Npk) throw new AuthenticationError('HPKE decap failed: the encapsulated key is not 32 bytes');
  let dh: Uint8Array;
  try {
    dh = x25519(skR, enc);
  } catch (err) {
    // A low-order enc is a stanza made not to open, not a fault of the receiver.
    if (err instanceof SealcamError && err.code === 'ELOWORDER') throw new AuthenticationError(`HPKE decap failed: ${err.message}`);
    throw err;
  }
  const sharedSecret = extractAndExpand(dh, concat(enc, platform.crypto.x25519.publicKey(skR)));
  dh.fill(0);
  return sharedSecret;
}

// --- Key schedule (section 5.1, base mode: psk and psk_id empty) ---------------------------------

export interface KeySchedule {
  aead: AeadId;
  suiteId: Uint8Array;
  keyScheduleContext: Uint8Array;
  secret: Uint8Array;
  key: Uint8Array;
  baseNonce: Uint8Array;
  exporterSecret: Uint8Array;
}

export function keySchedule(aead: AeadId, sharedSecret: Uint8Array, info: Uint8Array): KeySchedule {
  const { Nk, Nn } = aeadParams(aead);
  const suiteId = concat(ascii('HPKE'), i2osp(KEM_ID, 2), i2osp(KDF_ID, 2), i2osp(aead, 2));
  const empty = new Uint8Array(0);
  const pskIdHash = labeledExtract(suiteId, empty, 'psk_id_hash', empty);
  const infoHash = labeledExtract(suiteId, empty, 'info_hash', info);
  const keyScheduleContext = concat(new Uint8Array([MODE_BASE]), pskIdHash, infoHash);
  const secret = labeledExtract(suiteId, sharedSecret, 'secret', empty);
  return {
    aead,
    suiteId,
    keyScheduleContext,
    secret,
    key: labeledExpand(suiteId, secret, 'key', keyScheduleContext, Nk),
    baseNonce: labeledExpand(suiteId, secret, 'base_nonce', keyScheduleContext, Nn),
    exporterSecret: labeledExpand(suiteId, secret, 'exp', keyScheduleContext, Nh),
  };
}

// --- Encryption context (sections 5.2 and 5.3) ---------------------------------------------------

export class HpkeContext {
  private seq = 0;
  private readonly params: AeadParams;

  constructor(private readonly schedule: KeySchedule) {
    this.params = aeadParams(schedule.aead);
  }

  /** base_nonce XOR I2OSP(seq, Nn); a JavaScript number keeps seq far below the RFC's 2^96 - 1 limit. */
  private nonce(): Uint8Array {
    const nonce = Uint8Array.from(this.schedule.baseNonce);
    const counter = i2osp(this.seq, this.params.Nn);
    for (let i = 0; i < nonce.length; i++) nonce[i]! ^= counter[i]!;
    return nonce;
  }

  private cipher(): AeadName {
    if (this.params.cipher === undefined) throw new InputError('an export-only HPKE context cannot seal or open');
    return this.params.cipher;
  }

  /** Seal(aad, pt): ciphertext || 16-byte tag. */
  seal(aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const sealed = platform.crypto.aeadSeal(this.cipher(), this.schedule.key, this.nonce(), aad, plaintext);
    this.seq++;
    return sealed;
  }

  /** Open(aad, ct): the plaintext, released only after its tag verified; AuthenticationError otherwise. */
  open(aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    const name = this.cipher();
    if (ciphertext.length < Nt) throw new AuthenticationError('HPKE open failed: the ciphertext is shorter than its tag');
    const plaintext = platform.crypto.aeadOpen(name, this.schedule.key, this.nonce(), aad, ciphertext);
    if (plaintext === undefined) throw new AuthenticationError('HPKE open failed: the tag does not match (wrong key, or the data was altered)');
    // The sequence number moves on only when a message opens (RFC 9180 section 5.2).
    this.seq++;
    return plaintext;
  }

  /** Export(exporter_context, L). */
  export(exporterContext: Uint8Array, length: number): Uint8Array {
    return labeledExpand(this.schedule.suiteId, this.schedule.exporterSecret, 'sec', exporterContext, length);
  }
}

/** SetupBaseS(pkR, info); `ephemeral` as for encap. */
export function setupBaseS(aead: AeadId, pkR: Uint8Array, info: Uint8Array, ephemeral?: PrivateKey<'x25519'>): { enc: Uint8Array; context: HpkeContext } {
  const { sharedSecret, enc } = encap(pkR, ephemeral);
  const context = new HpkeContext(keySchedule(aead, sharedSecret, info));
  sharedSecret.fill(0);
  return { enc, context };
}

/** SetupBaseR(enc, skR, info). */
export function setupBaseR(aead: AeadId, enc: Uint8Array, skR: PrivateKey<'x25519'>, info: Uint8Array): HpkeContext {
  const sharedSecret = decap(enc, skR);
  const context = new HpkeContext(keySchedule(aead, sharedSecret, info));
  sharedSecret.fill(0);
  return context;
}
