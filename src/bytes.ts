/**
 * Byte strings as text and back, without Node's Buffer, so the formats and keys read the same in
 * a browser: lower-case hex, and base64 (RFC 4648 section 4, padded) or base64url (section 5,
 * unpadded). Decoding accepts only the canonical spelling (the right alphabet and padding, unused
 * bits zero) and returns undefined for anything else, so one byte string has one text form.
 */

const HEX = '0123456789abcdef';
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += HEX[b >> 4]! + HEX[b & 15]!;
  return out;
}

/** Hex in either case, an even number of digits; undefined otherwise. */
export function fromHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function encode(bytes: Uint8Array, alphabet: string, pad: boolean): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let c = 0; c < chars; c++) out += alphabet[(n >> (18 - 6 * c)) & 63]!;
    if (pad) out += '='.repeat(4 - chars);
  }
  return out;
}

function decode(text: string, alphabet: string, pad: boolean): Uint8Array | undefined {
  let body = text;
  if (pad) {
    if (text.length % 4 !== 0) return undefined;
    body = text.replace(/={1,2}$/, '');
  }
  if (body.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((body.length * 6) / 8));
  let bits = 0;
  let value = 0;
  let at = 0;
  for (const char of body) {
    const v = alphabet.indexOf(char);
    if (v < 0) return undefined;
    value = ((value << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 0xff;
    }
  }
  // Left-over bits must be zero: otherwise a second text would decode to the same bytes.
  if ((value & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}

export const toBase64 = (bytes: Uint8Array): string => encode(bytes, BASE64, true);
export const fromBase64 = (text: string): Uint8Array | undefined => decode(text, BASE64, true);
export const toBase64url = (bytes: Uint8Array): string => encode(bytes, BASE64URL, false);
export const fromBase64url = (text: string): Uint8Array | undefined => decode(text, BASE64URL, false);

const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });
/** UTF-8 text of `bytes`, malformed sequences replaced (U+FFFD), as Buffer#toString does. */
export const utf8 = (bytes: Uint8Array): string => utf8Decoder.decode(bytes);
