// AES encryption (FIPS 197) for 128-, 192- and 256-bit keys, constant time by construction.
//
// Formulation: Mike Hamburg's vector-permute AES ("Accelerating AES with Vector Permute
// Instructions", CHES 2009), the design behind OpenSSL's and Botan's vpaes. The state is kept
// in a transformed basis where the S-box splits into GF(2^4) inversions, each done as 16-entry
// table look-ups through `i8x16.swizzle` indexed by nibbles. A swizzle reads all 16 table
// lanes at once from a register, so no memory address and no branch depends on the key, the
// plaintext or the counter: the usual cache-timing leaks of T-table or S-box AES cannot occur.
// ShiftRows is folded into the key schedule and MixColumns into fixed byte rotations.
//
// Why this is the main kernel: EAX's OMAC is one serial chain of single blocks, so the engine
// needs a fast *single-block* constant-time AES; vector-permute gives that, and independent
// blocks (the OMAC block and a CTR block, or several messages' blocks) are interleaved per step so
// the CPU overlaps their latencies (see eax.ts). For eight blocks at once there is also a
// bitsliced kernel (bitsliced.ts; index.ts says when each runs).
//
// Round keys live in linear memory (15 x 16 bytes) in the transformed basis; only encryption
// is provided because CTR, OMAC and EAX never need the inverse cipher.

import { BITSLICED_BLOCKS, encryptBitsliced } from './bitsliced';

// Input and S-box basis transforms and the GF(2^4) inversion tables (public constants), kept in
// linear memory: V8 builds a v128.const from scalar moves at every use, while a load is one
// instruction.
const TABLES = memory.data<u32>([
  0x5A2A7000, 0xC2B2E898, 0x52227808, 0xCABAE090, // 0 IPT1: input transform, low nibbles
  0x317C4D00, 0x4C01307D, 0xB0FDCC81, 0xCD80B1FC, // 1 IPT2: input transform, high nibbles
  0x0D080180, 0x0E05060F, 0x0A0B0C02, 0x04070309, // 2 INV1: GF(2^4) inverse
  0x0F0B0780, 0x01040A06, 0x02050809, 0x030D0E0C, // 3 INV2: GF(2^4) division
  0xCB503E00, 0xB19BE18F, 0x142AF544, 0xA5DF7A6E, // 4 SB1U: S-box output, times 1
  0xFAE22300, 0x3618D415, 0x0D2ED9EF, 0x3BF7CCC1, // 5 SB1T
  0x0B712400, 0xE27A93C6, 0xBC982FCD, 0x5EB7E955, // 6 SB2U: S-box output, times 2
  0x0AE12900, 0x69EB8840, 0xAB82234A, 0xC2A163C8, // 7 SB2T
  0x6FBDC700, 0xD0D26D17, 0xC502A878, 0x15AABF7A, // 8 SBOU: last-round S-box output
  0x5FBB6A00, 0xCFE474A5, 0x412B35FA, 0x8E1E90D1, // 9 SBOT
  0xD6B66000, 0xFF9F4929, 0xDEBE6808, 0xF7974121, // 10 OUT_TR1: last round key transform
  0x50BCEC00, 0x01EDBD51, 0xB05C0CE0, 0xE10D5DB1, // 11 OUT_TR2
  0x0F0F0F0F, 0x0F0F0F0F, 0x0F0F0F0F, 0x0F0F0F0F, // 12 NIBBLE mask
  0x5B5B5B5B, 0x5B5B5B5B, 0x5B5B5B5B, 0x5B5B5B5B, // 13 S63: the S-box constant in this basis
  0x63636363, 0x63636363, 0x63636363, 0x63636363, // 14 the S-box constant in the standard basis
], 16);

@inline function table(i: i32): v128 {
  return v128.load(TABLES + (<usize>i << 4));
}

const IPT1 = 0, IPT2 = 1, INV1 = 2, INV2 = 3, SB1U = 4, SB1T = 5, SB2U = 6, SB2T = 7;
const SBOU = 8, SBOT = 9, OUT_TR1 = 10, OUT_TR2 = 11, NIBBLE = 12, S63 = 13, STANDARD_63 = 14;

// ShiftRows permutations sr[0..3] and round constants (in the transformed basis) as byte tables,
// for the key schedule, where the round number is a run-time (public) value.
const SR_TABLE = memory.data<u8>([
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
  0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, 1, 6, 11,
  0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12, 5, 14, 7,
  0, 13, 10, 7, 4, 1, 14, 11, 8, 5, 2, 15, 12, 9, 6, 3,
], 16);
const RCON = memory.data<u8>([0x70, 0x2a, 0x98, 0x08, 0x4d, 0x7c, 0x7d, 0x81, 0x1f, 0x83]);

@inline function lo(x: v128): v128 {
  return v128.and(x, table(NIBBLE));
}

@inline function hi(x: v128): v128 {
  return v128.and(i32x4.shr_u(x, 4), table(NIBBLE));
}

// Every index here is either below 16 or has its top bit set, where relaxed_swizzle is defined
// to give the same result as swizzle (0), so the relaxed build skips the range fix-up V8 adds
// around each swizzle on x86. Both are a single in-register permute: no memory is indexed.
@inline function look(t: i32, index: v128): v128 {
  return permute(table(t), index);
}

@inline function xor3(a: v128, b: v128, c: v128): v128 {
  return v128.xor(v128.xor(a, b), c);
}

// MixColumns byte rotations for round r, selected by m = r % 4: forward (m = 0..3) and backward
// (m = 4..7) masks. Loaded from memory like the tables: V8 rebuilds an i8x16.shuffle mask from
// scalar moves at each use. All indices are below 16, so relaxed_swizzle is exact here.
const MIX = memory.data<u8>([
  1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12,
  5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12, 1, 2, 3, 0,
  9, 10, 11, 8, 13, 14, 15, 12, 1, 2, 3, 0, 5, 6, 7, 4,
  13, 14, 15, 12, 1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8,
  3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14,
  15, 12, 13, 14, 3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10,
  11, 8, 9, 10, 15, 12, 13, 14, 3, 0, 1, 2, 7, 4, 5, 6,
  7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14, 3, 0, 1, 2,
], 16);

@inline export function permute(x: v128, mask: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(x, mask);
  return i8x16.swizzle(x, mask);
}

@inline function mcForward(x: v128, m: i32): v128 {
  return permute(x, v128.load(MIX + (<usize>m << 4)));
}

@inline function mcBackward(x: v128, m: i32): v128 {
  return permute(x, v128.load(MIX + (<usize>(m + 4) << 4)));
}

@inline function firstRound(x: v128, k: v128): v128 {
  return xor3(look(IPT1, lo(x)), look(IPT2, hi(x)), k);
}

// SubBytes through the GF(2^4) tower: the two inversion outputs (io, jo) of every byte, combined
// through a pair of output tables (u, t) that fold in the S-box's affine map and, per table pair,
// a multiplier. Called twice per middle round; after inlining the compilers share the inversion.
@inline function subBytes(b: v128, u: i32, t: i32): v128 {
  const bh = hi(b);
  let bl = lo(b);
  const t2 = look(INV2, bl);
  bl = v128.xor(bl, bh);
  const io = v128.xor(bl, look(INV1, v128.xor(t2, look(INV1, bh))));
  const jo = v128.xor(bh, look(INV1, v128.xor(t2, look(INV1, bl))));
  return v128.xor(look(u, io), look(t, jo));
}

/**
 * The AES S-box on each byte of x, in the standard basis: the input transform, the last round's
 * SubBytes (which leaves out the constant 0x63) and the constant. For the bitsliced kernel's key
 * schedule, which needs standard round keys.
 */
@inline export function standardSubBytes(x: v128): v128 {
  return v128.xor(subBytes(transform(x, IPT1, IPT2), SBOU, SBOT), table(STANDARD_63));
}

// One middle round: SubBytes (times 1 and times 2) fused with MixColumns and AddRoundKey.
@inline function middleRound(b: v128, k: v128, m: i32): v128 {
  const a = v128.xor(subBytes(b, SB1U, SB1T), k);
  const a2 = v128.xor(subBytes(b, SB2U, SB2T), mcForward(a, m));
  return xor3(mcForward(a2, m), mcBackward(a, m), a2);
}

// The last round: SubBytes, AddRoundKey and the deferred ShiftRows (sr[nr % 4]; nr % 4 is 2 for
// 10 and 14 rounds, 0 for 12).
@inline function lastRound(b: v128, k: v128, nr: i32): v128 {
  const x = v128.xor(subBytes(b, SBOU, SBOT), k);
  if (nr == 12) return x;
  return i8x16.shuffle(x, x, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12, 5, 14, 7);
}

@inline function rk(keys: usize, r: i32): v128 {
  return v128.load(keys + (<usize>r << 4));
}

// The rounds run as a loop, not unrolled: with every round inlined, V8 kept the shared table
// loads live across the whole function and spilled. The round count and r % 4 are public.
// Compare kernels with `node dist/bench/kernels.js` (instruction counts and wall clock).

/** Encipher one block under the round keys at `keys` with `nr` rounds (10, 12 or 14). */
export function encryptBlock(x: v128, keys: usize, nr: i32): v128 {
  let a = firstRound(x, rk(keys, 0));
  for (let r = 1; r < nr; r++) a = middleRound(a, rk(keys, r), r & 3);
  return lastRound(a, rk(keys, nr), nr);
}

// Results of the interleaved functions below (AssemblyScript has no multi-value returns).
export let outA: v128 = i64x2(0, 0);
export let outB: v128 = i64x2(0, 0);
export let outC: v128 = i64x2(0, 0);
export let outD: v128 = i64x2(0, 0);
export let outE: v128 = i64x2(0, 0);
export let outF: v128 = i64x2(0, 0);
export let outG: v128 = i64x2(0, 0);
export let outH: v128 = i64x2(0, 0);

/** Forget the last enciphered blocks (keystream or MAC state) once a context is disposed. */
export function clearResults(): void {
  outA = i64x2(0, 0);
  outB = i64x2(0, 0);
  outC = i64x2(0, 0);
  outD = i64x2(0, 0);
  outE = i64x2(0, 0);
  outF = i64x2(0, 0);
  outG = i64x2(0, 0);
  outH = i64x2(0, 0);
}

// `lanes` independent blocks (2, 4, 6 or 8) with their rounds interleaved, so the CPU overlaps
// their dependency chains; one block's latency alone leaves most of the core idle. Written once
// and inlined into one function per lane count with `lanes` a constant, where the optimiser
// drops the unused lanes. More lanes help until V8 runs out of vector registers and spills;
// `node dist/bench/kernels.js` and the AES block table of `npm run bench` show where that is.
@inline function encryptInterleaved(lanes: i32, s: v128, t: v128, u: v128, v: v128, w: v128, x: v128, y: v128, z: v128, keys: usize, nr: i32): void {
  let k = rk(keys, 0);
  let a = firstRound(s, k);
  let b = firstRound(t, k);
  let c = u;
  let d = v;
  let e = w;
  let f = x;
  let g = y;
  let h = z;
  if (lanes > 2) {
    c = firstRound(c, k);
    d = firstRound(d, k);
  }
  if (lanes > 4) {
    e = firstRound(e, k);
    f = firstRound(f, k);
  }
  if (lanes > 6) {
    g = firstRound(g, k);
    h = firstRound(h, k);
  }
  for (let r = 1; r < nr; r++) {
    k = rk(keys, r);
    const m = r & 3;
    a = middleRound(a, k, m);
    b = middleRound(b, k, m);
    if (lanes > 2) {
      c = middleRound(c, k, m);
      d = middleRound(d, k, m);
    }
    if (lanes > 4) {
      e = middleRound(e, k, m);
      f = middleRound(f, k, m);
    }
    if (lanes > 6) {
      g = middleRound(g, k, m);
      h = middleRound(h, k, m);
    }
  }
  k = rk(keys, nr);
  outA = lastRound(a, k, nr);
  outB = lastRound(b, k, nr);
  if (lanes > 2) {
    outC = lastRound(c, k, nr);
    outD = lastRound(d, k, nr);
  }
  if (lanes > 4) {
    outE = lastRound(e, k, nr);
    outF = lastRound(f, k, nr);
  }
  if (lanes > 6) {
    outG = lastRound(g, k, nr);
    outH = lastRound(h, k, nr);
  }
}

/** Two blocks (one message's OMAC block and CTR block per EAX step). Results in outA, outB. */
export function encryptPair(x: v128, y: v128, keys: usize, nr: i32): void {
  encryptInterleaved(2, x, y, x, x, x, x, x, x, keys, nr);
}

/** Four blocks (two messages' OMAC and CTR blocks per step). Results in outA..outD. */
export function encryptQuad(w: v128, x: v128, y: v128, z: v128, keys: usize, nr: i32): void {
  encryptInterleaved(4, w, x, y, z, w, w, w, w, keys, nr);
}

/** Six blocks (the block table's six in flight). Results in outA..outF. */
export function encryptSix(u: v128, v: v128, w: v128, x: v128, y: v128, z: v128, keys: usize, nr: i32): void {
  encryptInterleaved(6, u, v, w, x, y, z, u, u, keys, nr);
}

/**
 * Eight blocks (four messages' OMAC and CTR blocks per step; CTR), interleaved here or (bitsliced)
 * on the bitsliced kernel, whose schedule the caller derived with bitslicedKeys. Results in
 * outA..outH.
 */
export function encryptEightOn(bitsliced: bool, s: v128, t: v128, u: v128, v: v128, w: v128, x: v128, y: v128, z: v128, keys: usize, nr: i32): void {
  if (!bitsliced) {
    encryptInterleaved(8, s, t, u, v, w, x, y, z, keys, nr);
    return;
  }
  const q = BITSLICED_BLOCKS;
  v128.store(q, s);
  v128.store(q, t, 16);
  v128.store(q, u, 32);
  v128.store(q, v, 48);
  v128.store(q, w, 64);
  v128.store(q, x, 80);
  v128.store(q, y, 96);
  v128.store(q, z, 112);
  encryptBitsliced(nr);
  outA = v128.load(q);
  outB = v128.load(q, 16);
  outC = v128.load(q, 32);
  outD = v128.load(q, 48);
  outE = v128.load(q, 64);
  outF = v128.load(q, 80);
  outG = v128.load(q, 96);
  outH = v128.load(q, 112);
}

// ---- Key schedule (in the transformed basis, after Hamburg's vpaes_schedule_core) ----

@inline function transform(x: v128, t1: i32, t2: i32): v128 {
  return v128.xor(look(t1, lo(x)), look(t2, hi(x)));
}

@inline function sr(x: v128, m: i32): v128 {
  return i8x16.swizzle(x, v128.load(SR_TABLE + (<usize>(m & 3) << 4)));
}

// Turn a schedule word into a round key: undo the S-box constant and pre-apply MixColumns'
// rotations and the accumulated ShiftRows.
function mangle(k: v128, m: i32): v128 {
  let t = mcForward(v128.xor(k, table(S63)), 0);
  let t2 = t;
  t = mcForward(t, 0);
  t2 = xor3(t, t2, mcForward(t, 0));
  return sr(t2, m);
}

function mangleLast(k: v128, m: i32): v128 {
  return transform(v128.xor(sr(k, m), table(S63)), OUT_TR1, OUT_TR2);
}

// One schedule step: SubWord of `w` (already rotated as needed) smeared into `prev`.
function scheduleRound(w: v128, prev: v128): v128 {
  let smeared = v128.xor(prev, i8x16.shuffle(i64x2(0, 0), prev, 0, 1, 2, 3, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27));
  smeared = v128.xor(smeared, i8x16.shuffle(i64x2(0, 0), smeared, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23));
  smeared = v128.xor(smeared, table(S63));
  return v128.xor(smeared, subBytes(w, SB1U, SB1T));
}

// RotWord of the last column plus the round constant.
function scheduleRoundRcon(i: i32, w: v128, prev: v128): v128 {
  const rcon = i32x4.replace_lane(i64x2(0, 0), 0, <i32>load<u8>(RCON + <usize>i));
  return scheduleRound(i8x16.shuffle(w, w, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12), v128.xor(prev, rcon));
}

function smear192(x: v128, y: v128): v128 {
  const masked = v128.and(y, i32x4(0, 0, -1, -1));
  return xor3(
    masked,
    i8x16.shuffle(x, x, 8, 9, 10, 11, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15),
    i8x16.shuffle(masked, masked, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 8, 9, 10, 11),
  );
}

/**
 * Expand a 16-, 24- or 32-byte key at `key` into round keys at `keys`. Returns the number of
 * rounds (10, 12, 14), or 0 for an unsupported key length.
 */
export function expandKey(key: usize, keyLength: i32, keys: usize): i32 {
  if (keyLength == 16) {
    let k = transform(v128.load(key), IPT1, IPT2);
    v128.store(keys, k);
    for (let i = 1; i < 10; i++) {
      k = scheduleRoundRcon(i - 1, k, k);
      v128.store(keys + (<usize>i << 4), mangle(k, (12 - i) & 3));
    }
    k = scheduleRoundRcon(9, k, k);
    v128.store(keys + 160, mangleLast(k, 2));
    return 10;
  }
  if (keyLength == 24) {
    let k1 = transform(v128.load(key), IPT1, IPT2);
    let k2 = transform(v128.load(key + 8), IPT1, IPT2);
    v128.store(keys, k1);
    for (let i = 0; i < 4; i++) {
      let t = k2;
      k2 = scheduleRoundRcon(2 * i, k2, k1);
      const k2t = i8x16.shuffle(t, k2, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23);
      v128.store(keys + (<usize>(3 * i + 1) << 4), mangle(k2t, (i + 3) & 3));
      t = smear192(k2, t);
      v128.store(keys + (<usize>(3 * i + 2) << 4), mangle(t, (i + 2) & 3));
      k2 = scheduleRoundRcon(2 * i + 1, t, k2);
      if (i == 3) {
        v128.store(keys + 192, mangleLast(k2, (i + 1) & 3));
      } else {
        v128.store(keys + (<usize>(3 * i + 3) << 4), mangle(k2, (i + 1) & 3));
      }
      k1 = k2;
      k2 = smear192(k2, t);
    }
    return 12;
  }
  if (keyLength == 32) {
    let k1 = transform(v128.load(key), IPT1, IPT2);
    let k2 = transform(v128.load(key + 16), IPT1, IPT2);
    v128.store(keys, k1);
    v128.store(keys + 16, mangle(k2, 3));
    for (let i = 2; i < 14; i += 2) {
      const kt = k2;
      k2 = scheduleRoundRcon(i / 2 - 1, k2, k1);
      k1 = k2;
      v128.store(keys + (<usize>i << 4), mangle(k2, i & 3));
      k2 = scheduleRound(i8x16.shuffle(k2, k2, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15), kt);
      v128.store(keys + (<usize>(i + 1) << 4), mangle(k2, (i - 1) & 3));
    }
    k2 = scheduleRoundRcon(6, k2, k1);
    v128.store(keys + 224, mangleLast(k2, 2));
    return 14;
  }
  return 0;
}
