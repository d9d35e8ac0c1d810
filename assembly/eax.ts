// EAX (Bellare, Rogaway, Wagner, FSE 2004): N = OMAC^0(nonce), H = OMAC^1(header),
// C = CTR_N(M), tag = N ^ H ^ OMAC^2(C). State is incremental: header and data may arrive in
// pieces of any size and give the same result as one call.
//
// Speed: OMAC over the ciphertext is one serial chain of block encryptions. Each step of the main
// loop enciphers the pending OMAC block and the next CTR block together (encryptPair), so the CTR
// work fills the gaps in the OMAC chain's latency instead of adding to it.
import { encryptPair, encryptBlock, encryptQuad, outA, outB, outC, outD } from './aes';
import { counterBlock, highHalf } from './ctr';
import { rounds } from './key';
import { OMAC_ANY, OMAC_BUF, OMAC_LEN, OMAC_MAC, omacFinal, omacInit, omacUpdate } from './omac';

export const MSG_N: usize = 0; // OMAC^0(nonce), also the initial counter
export const MSG_H: usize = 16; // OMAC^1 state over the header (48 bytes)
export const MSG_C: usize = 64; // OMAC^2 state over the ciphertext (48 bytes)
export const MSG_CTR_HI: usize = 112; // u64, next counter block, high half
export const MSG_CTR_LO: usize = 120; // u64, low half
export const MSG_KS: usize = 128; // keystream of the current partial block
export const MSG_KS_USED: usize = 144; // i32: bytes of MSG_KS used; 16 = none left
export const MESSAGE_CONTEXT_SIZE: i32 = 160;

/** Begin a message: the nonce follows through eaxNonce (in pieces), then eaxStart. */
export function eaxInit(k: usize, m: usize): void {
  omacInit(k, m + MSG_H, 0);
}

export function eaxNonce(k: usize, m: usize, data: usize, length: i32): void {
  omacUpdate(k, m + MSG_H, data, length);
}

/** Close the nonce (N = OMAC^0(nonce) is the first counter block) and open header and data. */
export function eaxStart(k: usize, m: usize): void {
  const h = m + MSG_H;
  const n = omacFinal(k, h, 0);
  v128.store(m + MSG_N, n);
  store<u64>(m + MSG_CTR_HI, bswap<u64>(i64x2.extract_lane(n, 0)));
  store<u64>(m + MSG_CTR_LO, bswap<u64>(i64x2.extract_lane(n, 1)));
  omacInit(k, h, 1);
  omacInit(k, m + MSG_C, 2);
  v128.store(m + MSG_KS, i64x2(0, 0));
  store<i32>(m + MSG_KS_USED, 16);
}

export function eaxHeader(k: usize, m: usize, data: usize, length: i32): void {
  omacUpdate(k, m + MSG_H, data, length);
}

// Byte by byte through the current partial block: XOR with the buffered keystream and append the
// ciphertext byte to OMAC's pending block. Runs from input[i] until the block or the data ends;
// returns the new i.
@inline function cryptPartial(m: usize, input: usize, output: usize, i: i32, length: i32, encrypting: bool): i32 {
  const c = m + MSG_C;
  let used = load<i32>(m + MSG_KS_USED);
  let pendingLength = load<i32>(c + OMAC_LEN);
  while (used < 16 && i < length) {
    const x = load<u8>(input + <usize>i);
    const y = x ^ load<u8>(m + MSG_KS + <usize>used);
    store<u8>(output + <usize>i, y);
    store<u8>(c + OMAC_BUF + <usize>pendingLength, encrypting ? y : x);
    used++;
    pendingLength++;
    i++;
  }
  store<i32>(m + MSG_KS_USED, used);
  store<i32>(c + OMAC_LEN, pendingLength);
  return i;
}

// Encrypt (encrypting = true) or decrypt `length` bytes from `input` to `output` (may be equal).
// OMAC^2 always runs over the ciphertext: the output when encrypting, the input when decrypting.
// Invariant: bytes done so far = n; the keystream and the pending OMAC block are both aligned
// to n, so MSG_KS_USED == OMAC_LEN == n % 16 inside a block, and on a block boundary
// MSG_KS_USED == 16 and OMAC_LEN is 16 (or 0 before any data).
@inline function crypt(k: usize, m: usize, input: usize, output: usize, length: i32, encrypting: bool): void {
  if (length <= 0) return;
  const c = m + MSG_C;
  store<i32>(c + OMAC_ANY, 1);
  // Finish a partial block left by the previous call.
  let i = cryptPartial(m, input, output, 0, length, encrypting);
  if (i == length) return;
  // Block-aligned from here on.
  const nr = rounds(k);
  const hi = load<u64>(m + MSG_CTR_HI);
  const start = load<u64>(m + MSG_CTR_LO);
  let lo = start;
  let mac = v128.load(c + OMAC_MAC);
  let pending = v128.load(c + OMAC_BUF);
  let ks: v128;
  if (load<i32>(c + OMAC_LEN) == 0) {
    // The very first block of the message: nothing pending for OMAC yet.
    ks = encryptBlock(counterBlock(hi, start, lo), k, nr);
  } else {
    encryptPair(v128.xor(mac, pending), counterBlock(hi, start, lo), k, nr);
    mac = outA;
    ks = outB;
  }
  lo += 1;
  while (length - i >= 16) {
    const x = v128.load(input + <usize>i);
    const y = v128.xor(x, ks);
    v128.store(output + <usize>i, y);
    pending = encrypting ? y : x;
    i += 16;
    if (i == length) break;
    // More data follows, so `pending` is not the last block: chain it, with the next keystream.
    encryptPair(v128.xor(mac, pending), counterBlock(hi, start, lo), k, nr);
    mac = outA;
    ks = outB;
    lo += 1;
  }
  v128.store(c + OMAC_MAC, mac);
  store<u64>(m + MSG_CTR_HI, highHalf(hi, start, lo));
  store<u64>(m + MSG_CTR_LO, lo);
  if (i == length) {
    // Ended on a block boundary: every keystream block computed was used, and the last
    // ciphertext block stays pending for OMAC until we know whether more data follows.
    v128.store(c + OMAC_BUF, pending);
    store<i32>(c + OMAC_LEN, 16);
    store<i32>(m + MSG_KS_USED, 16);
  } else {
    // 1..15 bytes remain: ks covers them, and they start a new pending block.
    v128.store(m + MSG_KS, ks);
    v128.store(c + OMAC_BUF, i64x2(0, 0));
    store<i32>(c + OMAC_LEN, 0);
    store<i32>(m + MSG_KS_USED, 0);
    cryptPartial(m, input, output, i, length, encrypting);
  }
}

// Two messages at once, each in place: both messages' OMAC and CTR blocks go through encryptQuad
// together, so each message's serial OMAC chain runs in the other's gaps (the sealed format's
// segments are such pairs). Both must stand at the same point on a block boundary, and `length`
// be whole blocks; anything else is done as the two calls in turn, with the same result.
@inline function cryptTwo(k: usize, m1: usize, m2: usize, data1: usize, data2: usize, length: i32, encrypting: bool): void {
  const c1 = m1 + MSG_C;
  const c2 = m2 + MSG_C;
  const aligned =
    length > 0 &&
    (length & 15) == 0 &&
    load<i32>(m1 + MSG_KS_USED) == 16 &&
    load<i32>(m2 + MSG_KS_USED) == 16 &&
    load<i32>(c1 + OMAC_LEN) == load<i32>(c2 + OMAC_LEN);
  if (!aligned) {
    crypt(k, m1, data1, data1, length, encrypting);
    crypt(k, m2, data2, data2, length, encrypting);
    return;
  }
  store<i32>(c1 + OMAC_ANY, 1);
  store<i32>(c2 + OMAC_ANY, 1);
  const nr = rounds(k);
  const hi1 = load<u64>(m1 + MSG_CTR_HI);
  const start1 = load<u64>(m1 + MSG_CTR_LO);
  const hi2 = load<u64>(m2 + MSG_CTR_HI);
  const start2 = load<u64>(m2 + MSG_CTR_LO);
  let lo1 = start1;
  let lo2 = start2;
  let mac1 = v128.load(c1 + OMAC_MAC);
  let mac2 = v128.load(c2 + OMAC_MAC);
  let pending1 = v128.load(c1 + OMAC_BUF);
  let pending2 = v128.load(c2 + OMAC_BUF);
  // Before any data (OMAC_LEN 0) nothing is pending for OMAC: the first step is CTR only.
  let fresh = load<i32>(c1 + OMAC_LEN) == 0;
  for (let i = 0; i < length; i += 16) {
    // Chain the pending blocks (more data follows them) with the next keystream blocks.
    let ks1: v128;
    let ks2: v128;
    if (fresh) {
      encryptPair(counterBlock(hi1, start1, lo1), counterBlock(hi2, start2, lo2), k, nr);
      ks1 = outA;
      ks2 = outB;
      fresh = false;
    } else {
      encryptQuad(v128.xor(mac1, pending1), counterBlock(hi1, start1, lo1), v128.xor(mac2, pending2), counterBlock(hi2, start2, lo2), k, nr);
      mac1 = outA;
      ks1 = outB;
      mac2 = outC;
      ks2 = outD;
    }
    lo1 += 1;
    lo2 += 1;
    const p1 = data1 + <usize>i;
    const p2 = data2 + <usize>i;
    const x1 = v128.load(p1);
    const x2 = v128.load(p2);
    const y1 = v128.xor(x1, ks1);
    const y2 = v128.xor(x2, ks2);
    v128.store(p1, y1);
    v128.store(p2, y2);
    pending1 = encrypting ? y1 : x1;
    pending2 = encrypting ? y2 : x2;
  }
  // Both end on a block boundary, as crypt() leaves a message: the last block pending for OMAC.
  v128.store(c1 + OMAC_MAC, mac1);
  v128.store(c2 + OMAC_MAC, mac2);
  v128.store(c1 + OMAC_BUF, pending1);
  v128.store(c2 + OMAC_BUF, pending2);
  store<i32>(c1 + OMAC_LEN, 16);
  store<i32>(c2 + OMAC_LEN, 16);
  store<u64>(m1 + MSG_CTR_HI, highHalf(hi1, start1, lo1));
  store<u64>(m1 + MSG_CTR_LO, lo1);
  store<u64>(m2 + MSG_CTR_HI, highHalf(hi2, start2, lo2));
  store<u64>(m2 + MSG_CTR_LO, lo2);
}

export function eaxEncryptTwo(k: usize, m1: usize, m2: usize, data1: usize, data2: usize, length: i32): void {
  cryptTwo(k, m1, m2, data1, data2, length, true);
}

export function eaxDecryptTwo(k: usize, m1: usize, m2: usize, data1: usize, data2: usize, length: i32): void {
  cryptTwo(k, m1, m2, data1, data2, length, false);
}

export function eaxEncrypt(k: usize, m: usize, input: usize, output: usize, length: i32): void {
  crypt(k, m, input, output, length, true);
}

export function eaxDecrypt(k: usize, m: usize, input: usize, output: usize, length: i32): void {
  crypt(k, m, input, output, length, false);
}

/** Write the full 16-byte tag to `tag`. */
export function eaxFinal(k: usize, m: usize, tag: usize): void {
  const h = omacFinal(k, m + MSG_H, 1);
  const c = omacFinal(k, m + MSG_C, 2);
  v128.store(tag, v128.xor(v128.xor(v128.load(m + MSG_N), h), c));
}
