import { describe, expect, it } from 'vitest';
import { AuthenticationError } from '../src/errors.js';
import { AEAD, decap, encap, keySchedule, setupBaseR, setupBaseS, type AeadId } from '../src/keys/hpke.js';
import { platform } from '#platform';
import { hex, readVectorJson, toHex } from './helpers/public-key-vectors.js';

/**
 * HPKE (RFC 9180) base mode on the RFC's own Appendix A values (vectors/hpke-rfc9180-x25519.json):
 * every intermediate value of the KEM and the key schedule, every encryption and every export, in
 * both directions. The file also holds PSK, Auth and AuthPSK setups; sealcam implements base mode
 * only, so those nine are counted and left out.
 */

interface Setup {
  suite: string;
  setup: string;
  mode: string;
  kem_id: string;
  kdf_id: string;
  aead_id: string;
  info: string;
  skEm: string;
  pkEm: string;
  skRm: string;
  pkRm: string;
  enc: string;
  shared_secret: string;
  key_schedule_context: string;
  secret: string;
  key: string;
  base_nonce: string;
  exporter_secret: string;
  encryptions: { sequence_number: string; pt: string; aad: string; nonce: string; ct: string }[];
  exports: { exporter_context: string; L: string; exported_value: string }[];
}

const file = readVectorJson<{ count: number; vectors: Setup[] }>('hpke-rfc9180-x25519.json');
const base = file.vectors.filter((v) => v.mode === '0');

describe('HPKE vector file', () => {
  it('holds 12 setups, of which the 3 base-mode ones (one per AEAD) are run here', () => {
    expect(file.vectors).toHaveLength(file.count);
    expect(file.count).toBe(12);
    expect(base.map((v) => Number(v.aead_id)).sort((a, b) => a - b)).toEqual([AEAD.AES_128_GCM, AEAD.CHACHA20_POLY1305, AEAD.EXPORT_ONLY]);
    for (const v of base) expect([v.kem_id, v.kdf_id]).toEqual(['32', '1']);
  });
});

describe.each(base.map((v) => [v.suite, v] as const))('%s, base mode', (_suite, v) => {
  const aead = Number(v.aead_id) as AeadId;
  const skE = platform.crypto.x25519.fromBytes(hex(v.skEm));
  const skR = platform.crypto.x25519.fromBytes(hex(v.skRm));
  const info = hex(v.info);

  it('derives pkEm and pkRm from the private keys', () => {
    expect(toHex(platform.crypto.x25519.publicKey(skE))).toBe(v.pkEm);
    expect(toHex(platform.crypto.x25519.publicKey(skR))).toBe(v.pkRm);
  });

  it('Encap(pkR) with skE gives enc and shared_secret; Decap gives the same secret', () => {
    const { enc, sharedSecret } = encap(hex(v.pkRm), skE);
    expect(toHex(enc)).toBe(v.enc);
    expect(toHex(sharedSecret)).toBe(v.shared_secret);
    expect(toHex(decap(hex(v.enc), skR))).toBe(v.shared_secret);
  });

  it('the key schedule gives key_schedule_context, secret, key, base_nonce and exporter_secret', () => {
    const ks = keySchedule(aead, hex(v.shared_secret), info);
    expect(toHex(ks.keyScheduleContext)).toBe(v.key_schedule_context);
    expect(toHex(ks.secret)).toBe(v.secret);
    expect(toHex(ks.key)).toBe(v.key);
    expect(toHex(ks.baseNonce)).toBe(v.base_nonce);
    expect(toHex(ks.exporterSecret)).toBe(v.exporter_secret);
  });

  // The export-only setup lists no encryptions.
  if (v.encryptions.length > 0) it(`seals every listed message (${v.encryptions.length}) at its sequence number, and the receiver opens them`, () => {
    const { enc, context: sender } = setupBaseS(aead, hex(v.pkRm), info, skE);
    expect(toHex(enc)).toBe(v.enc);
    const receiver = setupBaseR(aead, enc, skR, info);
    const last = Math.max(...v.encryptions.map((e) => Number(e.sequence_number)));
    let checked = 0;
    // The RFC lists sequence numbers 0, 1, 2, 4, 255, 256: the messages between are sealed too.
    for (let seq = 0; seq <= last; seq++) {
      const listed = v.encryptions.find((e) => Number(e.sequence_number) === seq);
      const pt = listed ? hex(listed.pt) : new Uint8Array([seq & 0xff]);
      const aad = listed ? hex(listed.aad) : new Uint8Array(0);
      const ct = sender.seal(aad, pt);
      if (listed) {
        expect(toHex(ct), `sequence ${seq}`).toBe(listed.ct);
        checked++;
      }
      expect(toHex(receiver.open(aad, ct))).toBe(toHex(pt));
    }
    expect(checked).toBe(v.encryptions.length);
  });

  it(`exports every listed value (${v.exports.length}) on both sides`, () => {
    const { context: sender } = setupBaseS(aead, hex(v.pkRm), info, skE);
    const receiver = setupBaseR(aead, hex(v.enc), skR, info);
    for (const e of v.exports) {
      expect(toHex(sender.export(hex(e.exporter_context), Number(e.L)))).toBe(e.exported_value);
      expect(toHex(receiver.export(hex(e.exporter_context), Number(e.L)))).toBe(e.exported_value);
    }
  });
});

describe('HPKE refusals', () => {
  const chacha = base.find((v) => Number(v.aead_id) === AEAD.CHACHA20_POLY1305)!;
  const first = chacha.encryptions[0]!;
  const receiver = () => setupBaseR(AEAD.CHACHA20_POLY1305, hex(chacha.enc), platform.crypto.x25519.fromBytes(hex(chacha.skRm)), hex(chacha.info));

  it('a flipped ciphertext, tag or aad bit fails with AuthenticationError, and the sequence number stays put', () => {
    const context = receiver();
    const ct = hex(first.ct);
    for (const at of [0, ct.length - 1]) {
      const bad = Uint8Array.from(ct);
      bad[at]! ^= 0x01;
      expect(() => context.open(hex(first.aad), bad)).toThrow(AuthenticationError);
    }
    expect(() => context.open(hex('00'), ct)).toThrow(AuthenticationError);
    // Failures did not advance it: the genuine first message still opens at sequence 0.
    expect(toHex(context.open(hex(first.aad), ct))).toBe(first.pt);
  });

  it('a ciphertext shorter than its tag fails with AuthenticationError', () => {
    expect(() => receiver().open(new Uint8Array(0), new Uint8Array(15))).toThrow(AuthenticationError);
  });

  it('another info string opens nothing', () => {
    const context = setupBaseR(AEAD.CHACHA20_POLY1305, hex(chacha.enc), platform.crypto.x25519.fromBytes(hex(chacha.skRm)), hex('00'));
    expect(() => context.open(hex(first.aad), hex(first.ct))).toThrow(AuthenticationError);
  });

  it('an export-only context refuses to seal', () => {
    const exportOnly = base.find((v) => Number(v.aead_id) === AEAD.EXPORT_ONLY)!;
    const { context } = setupBaseS(AEAD.EXPORT_ONLY, hex(exportOnly.pkRm), hex(exportOnly.info));
    expect(() => context.seal(new Uint8Array(0), new Uint8Array(1))).toThrow(/export-only/);
  });

  it('an encapsulated key of the wrong length fails with AuthenticationError', () => {
    expect(() => decap(new Uint8Array(31), platform.crypto.x25519.fromBytes(hex(chacha.skRm)))).toThrow(AuthenticationError);
  });
});
