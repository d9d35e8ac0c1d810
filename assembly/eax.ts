// EAX (Bellare, Rogaway, Wagner, FSE 2004): N = OMAC^0(nonce), H = OMAC^1(header),
// C = CTR_N(M), tag = N ^ H ^ OMAC^2(C). State is incremental: header and data may arrive in
// pieces of any size and give the same result as one call.
//
// Speed: OMAC over the ciphertext is one serial chain of block encryptions. Each step of the main
// loop enciphers the pending OMAC block and the next CTR block together (encryptPair), so the CTR
// work fills the gaps in the OMAC chain's latency instead of adding to it. Independent messages
// (the sealed format's segments) go further: two or four in lockstep keep four or eight blocks in
// flight (cryptLanes).
import { encryptBlock, encryptEightOn, encryptPair, encryptQuad, outA, outB, outC, outD, outE, outF, outG, outH } from './aes';
import { bitslicedKeys, bitslicedSelected, bitslicedWipe } from './bitsliced';
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

// A message stands at a block boundary with `pending` bytes waiting for OMAC (0 before any data,
// else 16) and no keystream left over.
@inline function atBoundary(m: usize, pending: i32): bool {
  return load<i32>(m + MSG_KS_USED) == 16 && load<i32>(m + MSG_C + OMAC_LEN) == pending;
}

// Two or four messages at once (`lanes`, a constant where this is inlined), each in place: every
// step enciphers all their pending OMAC blocks and next CTR blocks in one interleaved call, so each
// message's serial OMAC chain runs in the others' gaps (the sealed format's segments are such runs).
// Four lanes are eight blocks in flight, through the selected eight-block kernel. The messages
// must stand at the same point on a block boundary; their whole blocks then run together and a
// final partial block message by message. Otherwise each message runs on its own, with the same
// result.
@inline function cryptLanes(
  lanes: i32,
  k: usize,
  m1: usize, m2: usize, m3: usize, m4: usize,
  d1: usize, d2: usize, d3: usize, d4: usize,
  length: i32,
  encrypting: bool,
): void {
  const pending = load<i32>(m1 + MSG_C + OMAC_LEN);
  let together = length > 0 && atBoundary(m1, pending) && atBoundary(m2, pending);
  if (lanes > 2) together = together && atBoundary(m3, pending) && atBoundary(m4, pending);
  const whole = together ? length & ~15 : 0;
  if (whole > 0) {
    const nr = rounds(k);
    const bitsliced = lanes > 2 && bitslicedSelected;
    if (bitsliced) bitslicedKeys(k);
    const c1 = m1 + MSG_C;
    const c2 = m2 + MSG_C;
    const c3 = m3 + MSG_C;
    const c4 = m4 + MSG_C;
    store<i32>(c1 + OMAC_ANY, 1);
    store<i32>(c2 + OMAC_ANY, 1);
    const hi1 = load<u64>(m1 + MSG_CTR_HI);
    const hi2 = load<u64>(m2 + MSG_CTR_HI);
    const start1 = load<u64>(m1 + MSG_CTR_LO);
    const start2 = load<u64>(m2 + MSG_CTR_LO);
    let mac1 = v128.load(c1 + OMAC_MAC);
    let mac2 = v128.load(c2 + OMAC_MAC);
    let pending1 = v128.load(c1 + OMAC_BUF);
    let pending2 = v128.load(c2 + OMAC_BUF);
    // Lanes 3 and 4 hold copies of lane 1 unless there are four (and are then never used).
    let hi3 = hi1, hi4 = hi1, start3 = start1, start4 = start1;
    let mac3 = mac1, mac4 = mac1, pending3 = pending1, pending4 = pending1;
    if (lanes > 2) {
      store<i32>(c3 + OMAC_ANY, 1);
      store<i32>(c4 + OMAC_ANY, 1);
      hi3 = load<u64>(m3 + MSG_CTR_HI);
      hi4 = load<u64>(m4 + MSG_CTR_HI);
      start3 = load<u64>(m3 + MSG_CTR_LO);
      start4 = load<u64>(m4 + MSG_CTR_LO);
      mac3 = v128.load(c3 + OMAC_MAC);
      mac4 = v128.load(c4 + OMAC_MAC);
      pending3 = v128.load(c3 + OMAC_BUF);
      pending4 = v128.load(c4 + OMAC_BUF);
    }
    let lo1 = start1, lo2 = start2, lo3 = start3, lo4 = start4;
    // Before any data nothing is pending for OMAC: the first step is CTR only.
    let fresh = pending == 0;
    for (let i = 0; i < whole; i += 16) {
      const n1 = counterBlock(hi1, start1, lo1);
      const n2 = counterBlock(hi2, start2, lo2);
      // (The optimiser keeps loads it cannot prove safe, so lanes 3 and 4 compute only if used.)
      let n3 = n1, n4 = n1;
      if (lanes > 2) {
        n3 = counterBlock(hi3, start3, lo3);
        n4 = counterBlock(hi4, start4, lo4);
      }
      let ks1: v128, ks2: v128, ks3 = n3, ks4 = n4;
      if (fresh) {
        if (lanes == 2) {
          encryptPair(n1, n2, k, nr);
        } else {
          encryptQuad(n1, n2, n3, n4, k, nr);
          ks3 = outC;
          ks4 = outD;
        }
        ks1 = outA;
        ks2 = outB;
        fresh = false;
      } else if (lanes == 2) {
        // Chain the pending blocks (more data follows them) with the next keystream blocks.
        encryptQuad(v128.xor(mac1, pending1), n1, v128.xor(mac2, pending2), n2, k, nr);
        mac1 = outA;
        ks1 = outB;
        mac2 = outC;
        ks2 = outD;
      } else {
        encryptEightOn(
          bitsliced,
          v128.xor(mac1, pending1), n1, v128.xor(mac2, pending2), n2,
          v128.xor(mac3, pending3), n3, v128.xor(mac4, pending4), n4,
          k, nr,
        );
        mac1 = outA;
        ks1 = outB;
        mac2 = outC;
        ks2 = outD;
        mac3 = outE;
        ks3 = outF;
        mac4 = outG;
        ks4 = outH;
      }
      lo1 += 1;
      lo2 += 1;
      const o = <usize>i;
      pending1 = cryptBlock(d1 + o, ks1, encrypting);
      pending2 = cryptBlock(d2 + o, ks2, encrypting);
      if (lanes > 2) {
        lo3 += 1;
        lo4 += 1;
        pending3 = cryptBlock(d3 + o, ks3, encrypting);
        pending4 = cryptBlock(d4 + o, ks4, encrypting);
      }
    }
    if (bitsliced) bitslicedWipe();
    // Each ends on a block boundary, as crypt() leaves a message: the last block pending for OMAC.
    endLane(m1, mac1, pending1, highHalf(hi1, start1, lo1), lo1);
    endLane(m2, mac2, pending2, highHalf(hi2, start2, lo2), lo2);
    if (lanes > 2) {
      endLane(m3, mac3, pending3, highHalf(hi3, start3, lo3), lo3);
      endLane(m4, mac4, pending4, highHalf(hi4, start4, lo4), lo4);
    }
  }
  if (whole < length) {
    const w = <usize>whole;
    crypt(k, m1, d1 + w, d1 + w, length - whole, encrypting);
    crypt(k, m2, d2 + w, d2 + w, length - whole, encrypting);
    if (lanes > 2) {
      crypt(k, m3, d3 + w, d3 + w, length - whole, encrypting);
      crypt(k, m4, d4 + w, d4 + w, length - whole, encrypting);
    }
  }
}

// One block of a message in place under its keystream; returns the ciphertext block OMAC absorbs.
@inline function cryptBlock(p: usize, ks: v128, encrypting: bool): v128 {
  const x = v128.load(p);
  const y = v128.xor(x, ks);
  v128.store(p, y);
  return encrypting ? y : x;
}

@inline function endLane(m: usize, mac: v128, pending: v128, hi: u64, lo: u64): void {
  v128.store(m + MSG_C + OMAC_MAC, mac);
  v128.store(m + MSG_C + OMAC_BUF, pending);
  store<i32>(m + MSG_C + OMAC_LEN, 16);
  store<u64>(m + MSG_CTR_HI, hi);
  store<u64>(m + MSG_CTR_LO, lo);
}

/** Two messages (contexts m1, m2) over `length` bytes each, in place at data1 and data2. */
export function eaxEncryptTwo(k: usize, m1: usize, m2: usize, data1: usize, data2: usize, length: i32): void {
  cryptLanes(2, k, m1, m2, m1, m1, data1, data2, data1, data1, length, true);
}

export function eaxDecryptTwo(k: usize, m1: usize, m2: usize, data1: usize, data2: usize, length: i32): void {
  cryptLanes(2, k, m1, m2, m1, m1, data1, data2, data1, data1, length, false);
}

/** Four messages over `length` bytes each, in place: eight blocks in flight per step. */
export function eaxEncryptFour(k: usize, m1: usize, m2: usize, m3: usize, m4: usize, data1: usize, data2: usize, data3: usize, data4: usize, length: i32): void {
  cryptLanes(4, k, m1, m2, m3, m4, data1, data2, data3, data4, length, true);
}

export function eaxDecryptFour(k: usize, m1: usize, m2: usize, m3: usize, m4: usize, data1: usize, data2: usize, data3: usize, data4: usize, length: i32): void {
  cryptLanes(4, k, m1, m2, m3, m4, data1, data2, data3, data4, length, false);
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
