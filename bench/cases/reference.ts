import { createCipheriv, createDecipheriv } from 'node:crypto';
import { checkCtr, same, type Verdict } from './check.js';
import { syncCase } from './make.js';
import { counter, header, KEYS, plaintext } from './inputs.js';
import { OPS, type Case } from './types.js';

/** node:crypto's own AES-128-CTR and AES-128-GCM: where the hardware limit is (not EAX). */

const key = KEYS[128];
const gcmIv = new Uint8Array(12).fill(7);

function gcmEncrypt(iv: Uint8Array, pt: Uint8Array, aad: Uint8Array): { ciphertext: Buffer; tag: Buffer } {
  const c = createCipheriv('aes-128-gcm', key, iv);
  c.setAAD(aad);
  const ciphertext = Buffer.concat([c.update(pt), c.final()]);
  return { ciphertext, tag: c.getAuthTag() };
}

function gcmDecrypt(iv: Uint8Array, ct: Uint8Array, tag: Uint8Array, aad: Uint8Array): Buffer {
  const d = createDecipheriv('aes-128-gcm', key, iv);
  d.setAAD(aad);
  d.setAuthTag(tag);
  return Buffer.concat([d.update(ct), d.final()]);
}

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

/** GCM is another algorithm: it is checked against test case 3 of the GCM specification and a round trip. */
function gcmKnownAnswer(): Verdict {
  const c = createCipheriv('aes-128-gcm', hex('feffe9928665731c6d6a8f9467308308'), hex('cafebabefacedbaddecaf888'));
  const pt = hex(
    'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255',
  );
  const ct = Buffer.concat([c.update(pt), c.final()]).toString('hex');
  const want =
    '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985';
  if (ct !== want || c.getAuthTag().toString('hex') !== '4d5c2af327cd64a62cf35abd2ba6fab4') {
    return 'aes-128-gcm does not reproduce test case 3 of the GCM specification';
  }
  const sealed = gcmEncrypt(gcmIv, pt, header);
  return same(gcmDecrypt(gcmIv, sealed.ciphertext, sealed.tag, header), pt) ? null : 'aes-128-gcm does not round-trip';
}

export function referenceCases(): Case[] {
  const base = { impl: 'node:crypto', kind: 'reference', pureJs: false, keyBits: 128 } as const;
  let sealedGcm: { size: number; ciphertext: Buffer; tag: Buffer } | undefined;
  return [
    syncCase(
      { ...base, op: OPS.ctr, direction: 'enc' },
      () =>
        checkCtr(128, (c, d) => {
          const x = createCipheriv('aes-128-ctr', key, c);
          return Buffer.concat([x.update(d), x.final()]);
        }),
      (size) => {
        const pt = plaintext(size);
        return () => {
          const x = createCipheriv('aes-128-ctr', key, counter);
          return [x.update(pt), x.final()];
        };
      },
    ),
    syncCase({ ...base, op: OPS.gcmEncrypt, direction: 'enc' }, gcmKnownAnswer, (size) => {
      const pt = plaintext(size);
      return () => gcmEncrypt(gcmIv, pt, header);
    }),
    syncCase({ ...base, op: OPS.gcmDecrypt, direction: 'dec' }, gcmKnownAnswer, (size) => {
      if (sealedGcm?.size !== size) sealedGcm = { size, ...gcmEncrypt(gcmIv, plaintext(size), header) };
      const { ciphertext, tag } = sealedGcm;
      return () => gcmDecrypt(gcmIv, ciphertext, tag, header);
    }),
  ];
}
