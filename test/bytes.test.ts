import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, fromBase64url, fromHex, toBase64, toBase64url, toHex } from '../src/bytes.js';

/**
 * src/bytes.ts, the text forms the formats and keys use without Buffer (so the browser build
 * shares them): each agrees with Node's Buffer on every byte string, and decoding takes only the
 * canonical spelling, where Buffer skips bad characters and ignores trailing bits.
 */

const buffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length);

describe('hex, base64 and base64url', () => {
  it('encode as Buffer does and decode back, for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        expect(toHex(bytes)).toBe(buffer(bytes).toString('hex'));
        expect(toBase64(bytes)).toBe(buffer(bytes).toString('base64'));
        expect(toBase64url(bytes)).toBe(buffer(bytes).toString('base64url'));
        expect(fromHex(toHex(bytes))).toEqual(bytes);
        expect(fromBase64(toBase64(bytes))).toEqual(bytes);
        expect(fromBase64url(toBase64url(bytes))).toEqual(bytes);
      }),
    );
  });

  it.each([
    ['QR==', 'non-zero unused bits'],
    ['QQ', 'missing padding'],
    ['QQ=', 'short padding'],
    ['Q===', 'three padding characters'],
    ['QU=I', 'padding inside'],
    ['Q Q==', 'a space'],
    ['QQ-_', 'the base64url alphabet'],
  ])('base64 refuses %j (%s)', (text) => {
    expect(fromBase64(text)).toBeUndefined();
  });

  it.each([
    ['QR', 'non-zero unused bits'],
    ['QQ==', 'padding'],
    ['Q', 'one character'],
    ['QQ+/', 'the base64 alphabet'],
  ])('base64url refuses %j (%s)', (text) => {
    expect(fromBase64url(text)).toBeUndefined();
  });

  it('hex takes either case, and refuses odd lengths and other characters', () => {
    expect(fromHex('0aFf')).toEqual(new Uint8Array([10, 255]));
    for (const bad of ['0', 'zz', '0x00', '00 ']) expect(fromHex(bad)).toBeUndefined();
  });
});
