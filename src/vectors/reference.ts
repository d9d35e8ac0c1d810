/**
 * TEST-ONLY reference AES (FIPS 197), used by the vector runner to check key expansion end to end.
 *
 * Neither engine exposes a FIPS 197 key schedule (the WASM engine keeps round keys in a transformed
 * basis, OpenSSL keeps its own), so a keyexp vector is checked by enciphering with the vector's
 * round keys here and comparing with the engine's output under the vector's key.
 *
 * This is the textbook cipher: table S-box, ShiftRows, MixColumns, one byte at a time. It is NOT
 * constant time (table look-ups indexed by secret bytes) and must never be used for data.
 */

/** The AES S-box, derived from its definition (GF(2^8) inverse, then the affine map) once at load. */
const SBOX: Uint8Array = (() => {
  const sbox = new Uint8Array(256);
  // Walk the multiplicative group with generator 3: p = 3^i, q = 3^-i, so q = p^-1.
  let p = 1;
  let q = 1;
  do {
    p = p ^ ((p << 1) & 0xff) ^ (p & 0x80 ? 0x1b : 0); // p *= 3
    q ^= q << 1; // q /= 3
    q ^= q << 2;
    q ^= q << 4;
    q &= 0xff;
    if (q & 0x80) q ^= 0x09;
    const rotl = (x: number, n: number): number => ((x << n) | (x >>> (8 - n))) & 0xff;
    sbox[p] = q ^ rotl(q, 1) ^ rotl(q, 2) ^ rotl(q, 3) ^ rotl(q, 4) ^ 0x63;
  } while (p !== 1);
  sbox[0] = 0x63; // 0 has no inverse; FIPS 197 maps it to 0 before the affine map
  return sbox;
})();

/** Multiplication by x (i.e. {02}) in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1. */
function xtime(b: number): number {
  return ((b << 1) ^ (b & 0x80 ? 0x1b : 0)) & 0xff;
}

function subWord(w: number): number {
  return (
    ((SBOX[w >>> 24]! << 24) | (SBOX[(w >>> 16) & 0xff]! << 16) | (SBOX[(w >>> 8) & 0xff]! << 8) | SBOX[w & 0xff]!) >>> 0
  );
}

function rotWord(w: number): number {
  return ((w << 8) | (w >>> 24)) >>> 0;
}

/** FIPS 197 section 5.2 KeyExpansion: the words w[0 .. 4*(Nr+1)-1] for a 16/24/32-byte key. */
export function expandKey(key: Uint8Array): Uint32Array {
  const nk = key.length / 4;
  if (nk !== 4 && nk !== 6 && nk !== 8) throw new RangeError(`reference AES: bad key length ${key.length}`);
  const total = 4 * (nk + 7);
  const w = new Uint32Array(total);
  for (let i = 0; i < nk; i++) {
    w[i] = ((key[4 * i]! << 24) | (key[4 * i + 1]! << 16) | (key[4 * i + 2]! << 8) | key[4 * i + 3]!) >>> 0;
  }
  let rcon = 1;
  for (let i = nk; i < total; i++) {
    let t = w[i - 1]!;
    if (i % nk === 0) {
      t = (subWord(rotWord(t)) ^ (rcon << 24)) >>> 0;
      rcon = xtime(rcon);
    } else if (nk > 6 && i % nk === 4) {
      t = subWord(t);
    }
    w[i] = (w[i - nk]! ^ t) >>> 0;
  }
  return w;
}

/** XOR round key words w[4r .. 4r+3] into the state (column-major: byte 4c+j is row j of column c). */
function addRoundKey(s: Uint8Array, w: Uint32Array, round: number): void {
  for (let c = 0; c < 4; c++) {
    const k = w[4 * round + c]!;
    for (let r = 0; r < 4; r++) s[4 * c + r] = s[4 * c + r]! ^ ((k >>> (24 - 8 * r)) & 0xff);
  }
}

function subBytes(s: Uint8Array): void {
  for (let i = 0; i < 16; i++) s[i] = SBOX[s[i]!]!;
}

/** Row r moves r columns to the left. */
function shiftRows(s: Uint8Array): void {
  const t = s.slice();
  for (let c = 0; c < 4; c++) {
    for (let r = 0; r < 4; r++) s[4 * c + r] = t[4 * ((c + r) % 4) + r]!;
  }
}

/** Each column times the fixed polynomial {03}x^3 + {01}x^2 + {01}x + {02}. */
function mixColumns(s: Uint8Array): void {
  for (let c = 0; c < 4; c++) {
    const a0 = s[4 * c]!;
    const a1 = s[4 * c + 1]!;
    const a2 = s[4 * c + 2]!;
    const a3 = s[4 * c + 3]!;
    const all = a0 ^ a1 ^ a2 ^ a3;
    s[4 * c] = a0 ^ all ^ xtime(a0 ^ a1);
    s[4 * c + 1] = a1 ^ all ^ xtime(a1 ^ a2);
    s[4 * c + 2] = a2 ^ all ^ xtime(a2 ^ a3);
    s[4 * c + 3] = a3 ^ all ^ xtime(a3 ^ a0);
  }
}

/**
 * FIPS 197 Cipher() on one 16-byte block with a GIVEN expanded key (44, 52 or 60 words), so a
 * published schedule can be used directly, without trusting any key expansion.
 */
export function encryptBlock(roundKeys: Uint32Array, block: Uint8Array): Uint8Array {
  const nr = roundKeys.length / 4 - 1;
  if (nr !== 10 && nr !== 12 && nr !== 14) throw new RangeError(`reference AES: bad schedule of ${roundKeys.length} words`);
  if (block.length !== 16) throw new RangeError(`reference AES: block must be 16 bytes, got ${block.length}`);
  const s = block.slice();
  addRoundKey(s, roundKeys, 0);
  for (let round = 1; round < nr; round++) {
    subBytes(s);
    shiftRows(s);
    mixColumns(s);
    addRoundKey(s, roundKeys, round);
  }
  subBytes(s);
  shiftRows(s);
  addRoundKey(s, roundKeys, nr);
  return s;
}
