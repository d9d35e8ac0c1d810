import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { platform as browser } from '../src/platform/browser.js';
import { platform as node } from '../src/platform/node.js';
import type { AeadName, CurveKeys, OkpCurve, Platform } from '../src/platform/platform.js';
import { scalarBelowOrder } from '../src/keys/ed25519.js';
import { vectorsDir } from '../src/paths.js';
import { PUBLIC_KEY_FILES, runPublicKeyFile } from '../src/vectors/public-key.js';
import { hex, toHex, wycheproof, type WycheproofGroup, type WycheproofTest } from './helpers/public-key-vectors.js';

/**
 * The two platforms behind `#platform` (src/platform): node:crypto on Node, the noble libraries
 * for the browser build. The browser one runs here in Node too (it is plain JavaScript), so every
 * primitive of both is checked on published values (RFC 4231, RFC 5869, RFC 8439, the NIST GCM
 * test case, Wycheproof X25519 and Ed25519) and against each other. The whole stack on the
 * browser platform (HPKE, sealed files, the engine) runs in Chromium: test/browser-engine.test.ts.
 */

const platforms: [string, Platform][] = [
  ['node', node],
  ['browser', browser],
];
const ascii = (text: string) => new TextEncoder().encode(text);

describe.each(platforms)('the %s platform', (_name, { crypto }) => {
  it('hashes SHA-256 as FIPS 180-2 says ("abc"), in one piece and incrementally', () => {
    expect(toHex(crypto.sha256().update(ascii('abc')).digest())).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(toHex(crypto.sha256().update(ascii('a')).update(ascii('bc')).digest())).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('computes HMAC-SHA-256 as RFC 4231 test case 2 says', () => {
    expect(toHex(crypto.hmacSha256(ascii('Jefe'), ascii('what do ya want for nothing?')))).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it('derives HKDF-SHA-256 as RFC 5869 test case 1 says', () => {
    const okm = crypto.hkdfSha256(hex('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b'), hex('000102030405060708090a0b0c'), hex('f0f1f2f3f4f5f6f7f8f9'), 42);
    expect(toHex(okm)).toBe('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
  });

  it('seals ChaCha20-Poly1305 as RFC 8439 section 2.8.2 says, and opens it back', () => {
    const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const nonce = hex('070000004041424344454647');
    const aad = hex('50515253c0c1c2c3c4c5c6c7');
    const plaintext = ascii("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
    const sealed = crypto.aeadSeal('chacha20-poly1305', key, nonce, aad, plaintext);
    expect(toHex(sealed.subarray(-16))).toBe('1ae10b594f09e26a7e902ecbd0600691');
    expect(toHex(sealed.subarray(0, 16))).toBe('d31a8d34648e60db7b86afbc53ef7ec2');
    expect(crypto.aeadOpen('chacha20-poly1305', key, nonce, aad, sealed)).toEqual(plaintext);
  });

  it('seals AES-128-GCM as the GCM specification test case 4 says', () => {
    const key = hex('feffe9928665731c6d6a8f9467308308');
    const nonce = hex('cafebabefacedbaddecaf888');
    const aad = hex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
    const plaintext = hex('d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39');
    const sealed = crypto.aeadSeal('aes-128-gcm', key, nonce, aad, plaintext);
    expect(toHex(sealed.subarray(-16))).toBe('5bc94fbc3221a5db94fae95ae7121a47');
    expect(crypto.aeadOpen('aes-128-gcm', key, nonce, aad, sealed)).toEqual(plaintext);
  });

  it.each<AeadName>(['chacha20-poly1305', 'aes-128-gcm'])('refuses a %s message with a flipped bit, a wrong aad or no room for a tag (undefined, no plaintext)', (aead) => {
    const key = new Uint8Array(aead === 'aes-128-gcm' ? 16 : 32).fill(7);
    const nonce = new Uint8Array(12).fill(1);
    const sealed = crypto.aeadSeal(aead, key, nonce, new Uint8Array(0), ascii('a file key'));
    const flipped = Uint8Array.from(sealed);
    flipped[0]! ^= 1;
    expect(crypto.aeadOpen(aead, key, nonce, new Uint8Array(0), flipped)).toBeUndefined();
    expect(crypto.aeadOpen(aead, key, nonce, ascii('x'), sealed)).toBeUndefined();
    expect(crypto.aeadOpen(aead, key, nonce, new Uint8Array(0), sealed.subarray(0, 15))).toBeUndefined();
  });

  it('draws random bytes of any length, beyond one 64 KiB getRandomValues call too', () => {
    const a = crypto.randomBytes(70_000);
    expect(a).toHaveLength(70_000);
    expect(a.subarray(65_536).some((b) => b !== 0)).toBe(true);
    expect(toHex(crypto.randomBytes(16))).not.toBe(toHex(crypto.randomBytes(16)));
  });

  it('keeps x25519 and ed25519 private keys: the raw bytes in and out, the public key from them', () => {
    for (const keys of [crypto.x25519, crypto.ed25519] as CurveKeys<OkpCurve>[]) {
      const key = keys.generate();
      const raw = keys.toBytes(key);
      expect(raw).toHaveLength(32);
      expect(keys.publicKey(keys.fromBytes(raw))).toEqual(keys.publicKey(key));
    }
  });
});

interface XdhTest extends WycheproofTest {
  public: string;
  private: string;
  shared: string;
}
interface EddsaTest extends WycheproofTest {
  msg: string;
  sig: string;
}
interface EddsaGroup extends WycheproofGroup<EddsaTest> {
  publicKey: { pk: string; sk: string };
}

describe('both platforms on Wycheproof', () => {
  const xdh = wycheproof<WycheproofGroup<XdhTest>, XdhTest>('x25519_test.json').map((c) => c.test);
  const eddsa = wycheproof<EddsaGroup, EddsaTest>('ed25519_test.json');

  it.each(platforms)('%s: X25519 gives the expected result for all 518 cases, all zeros for the 31 low-order public keys', (_name, { crypto }) => {
    for (const t of xdh) expect(toHex(crypto.x25519.sharedSecret(crypto.x25519.fromBytes(hex(t.private)), hex(t.public))), `tcId ${t.tcId}`).toBe(t.shared);
    expect(xdh.filter((t) => /^0+$/.test(t.shared))).toHaveLength(31);
  });

  it.each(platforms)('%s: Ed25519 verifies exactly the 88 valid cases once S < L is checked, as sealcam checks it', (_name, { crypto }) => {
    const verified = eddsa.filter(({ group, test }) => scalarBelowOrder(hex(test.sig).subarray(32)) && crypto.ed25519.verify(hex(group.publicKey.pk), hex(test.msg), hex(test.sig)));
    expect(verified.map((c) => c.test.tcId)).toEqual(eddsa.filter((c) => c.test.result === 'valid').map((c) => c.test.tcId));
  });

  it('both platforms sign alike (Ed25519 is deterministic) and each verifies the other', () => {
    const seed = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    const message = ascii('sealcam v2 header signature\0...');
    const a = node.crypto.ed25519.sign(node.crypto.ed25519.fromBytes(seed), message);
    const b = browser.crypto.ed25519.sign(browser.crypto.ed25519.fromBytes(seed), message);
    expect(toHex(a)).toBe(toHex(b));
    const publicKey = browser.crypto.ed25519.publicKey(browser.crypto.ed25519.fromBytes(seed));
    expect(toHex(publicKey)).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    expect(node.crypto.ed25519.verify(publicKey, message, b) && browser.crypto.ed25519.verify(publicKey, message, a)).toBe(true);
  });
});

describe('what only Node has', () => {
  it("the browser platform has no native engine and no engine before loadEngine, and says so", () => {
    expect(() => browser.nativeBackend(new Uint8Array(16))).toThrow("engine 'native' is node:crypto's AES, which a browser does not have: use the WASM engine");
    expect(() => browser.compileEngine()).toThrow(expect.objectContaining({ code: 'ENOWASM' }));
    expect(browser.setting('SEALCAM_AES_KERNEL')).toBeUndefined();
  });
});

describe('the public-key runner of the /vectors page, on Node', () => {
  it.each(PUBLIC_KEY_FILES)('passes every case of %s', (file) => {
    const result = runPublicKeyFile(file, JSON.parse(readFileSync(join(vectorsDir, file), 'utf8')));
    expect(result.failures).toEqual([]);
    expect(result.passed).toBe({ 'hpke-rfc9180-x25519.json': 3, 'wycheproof/x25519_test.json': 518, 'wycheproof/ed25519_test.json': 151 }[file]);
  });

  it('is not vacuous: a changed expected value, a dropped case and a broken file are each reported', () => {
    const doc = JSON.parse(readFileSync(join(vectorsDir, 'wycheproof/x25519_test.json'), 'utf8'));
    doc.testGroups[0].tests[0].shared = '00'.repeat(31) + '01';
    doc.testGroups[0].tests.pop();
    const result = runPublicKeyFile('wycheproof/x25519_test.json', doc);
    expect(result.failures.map((f) => f.id)).toEqual([null, doc.testGroups[0].tests[0].tcId]);
    const hpke = JSON.parse(readFileSync(join(vectorsDir, 'hpke-rfc9180-x25519.json'), 'utf8'));
    hpke.vectors.find((v: { mode: string; aead_id: string }) => v.mode === '0' && v.aead_id === '3').encryptions[1].ct = '00';
    expect(runPublicKeyFile('hpke-rfc9180-x25519.json', hpke).failures).toEqual([{ id: expect.stringContaining('ChaCha'), reason: 'ct at sequence 1 differs' }]);
    expect(runPublicKeyFile('wycheproof/ed25519_test.json', null).failures).toEqual([{ id: null, reason: 'wycheproof/ed25519_test.json: not a JSON object' }]);
  });
});
