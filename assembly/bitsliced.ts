// Bitsliced AES encryption: eight blocks at once, constant time by construction.
//
// Why a second kernel: the vector-permute kernel (aes.ts) does about twelve byte shuffles per
// block and round, so on a CPU with a single shuffle port that port is its limit. Bitsliced AES
// (the layout of Käsper and Schwabe, "Faster and Timing-Attack Resistant AES-GCM", CHES 2009)
// spreads eight blocks over eight registers, one per bit position, and computes SubBytes as a
// Boolean circuit of ANDs and XORs over whole registers: three shuffles per register and round
// (ShiftRows and the MixColumns rotations), the rest plain logic any vector ALU port can run.
// There are no tables and no data-dependent branches or addresses at all.
//
// It only pays with eight independent blocks, which is what the four-message EAX kernel (four
// segments' OMAC and CTR blocks per step) and CTR have; everything serial stays on aes.ts. Which
// kernel runs those is chosen by the binding (src/engine/wasm.ts) from a short calibration on
// the CPU at hand, once a thread has done enough work for it to pay; both give identical results (the tests check both).
//
// Layout: plane i holds bit i of every state byte of the eight blocks: byte j of plane i, bit b,
// is bit i of state byte j (column-major, j = 4 * column + row) of block b. SubBytes is the
// 113-gate circuit of Boyar and Peralta ("A new combinational logic minimization technique with
// applications to cryptology", SEA 2010), less its four NOT gates: they add the S-box constant
// 0x63, which ShiftRows and MixColumns carry through unchanged (MixColumns maps a column of equal
// bytes to itself), so the round keys after the first add it instead.
//
// Round keys come from the standard key expansion (FIPS 197) of the raw key the key context
// keeps, each spread into eight planes of 0x00/0xff bytes; they are derived into static scratch
// at the start of each call that uses this kernel and wiped at its end, so the key context stays
// small and no schedule outlives its call.
import { permute, standardSubBytes } from './aes';
import { KEY_RAW, rounds } from './key';

// Eight blocks in, the same eight enciphered out (the caller stores its inputs here).
export const BITSLICED_BLOCKS = memory.data(128, 16);

// Up to 15 round keys of eight planes each, and the key expansion's words.
const SCHEDULE = memory.data(15 * 128, 16);
const WORDS = memory.data(60 * 4, 16);

// Whether the eight-block paths (four-message EAX, CTR, ECB) run this kernel: a public setting.
export let bitslicedSelected = false;

export function selectBitsliced(on: bool): void {
  bitslicedSelected = on;
}

const CONSTANTS = memory.data<u8>([
  0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
  0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33,
  0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f,
  // ShiftRows, and ShiftRows followed by MixColumns' rotation of each column by one row
  0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, 1, 6, 11,
  5, 10, 15, 0, 9, 14, 3, 4, 13, 2, 7, 8, 1, 6, 11, 12,
  // each column rotated by two rows
  2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
], 16);
const SWAP1 = 0, SWAP2 = 1, SWAP4 = 2, SHIFT_ROWS = 3, SHIFT_ROWS_ROT1 = 4, ROT2 = 5;

// Constants are loaded from memory: V8 rebuilds a v128.const (and an i8x16.shuffle mask) from
// scalar moves at every use, while a load is one instruction.
@inline function constant(i: i32): v128 {
  return v128.load(CONSTANTS + (<usize>i << 4));
}

// Swap bits k + n of a with bits k of b, for the k in mask m: the difference to apply to both.
@inline function swapDelta(a: v128, b: v128, n: i32, m: v128): v128 {
  return v128.and(v128.xor(i64x2.shr_u(a, n), b), m);
}

// Eight blocks at p to eight planes in place, or back: the transpose is its own inverse. Each
// stage exchanges one bit of the register index with the same bit of the bit index.
function transpose(p: usize): void {
  let x0 = v128.load(p);
  let x1 = v128.load(p, 16);
  let x2 = v128.load(p, 32);
  let x3 = v128.load(p, 48);
  let x4 = v128.load(p, 64);
  let x5 = v128.load(p, 80);
  let x6 = v128.load(p, 96);
  let x7 = v128.load(p, 112);
  let m = constant(SWAP1);
  let t = swapDelta(x0, x1, 1, m); x1 = v128.xor(x1, t); x0 = v128.xor(x0, i64x2.shl(t, 1));
  t = swapDelta(x2, x3, 1, m); x3 = v128.xor(x3, t); x2 = v128.xor(x2, i64x2.shl(t, 1));
  t = swapDelta(x4, x5, 1, m); x5 = v128.xor(x5, t); x4 = v128.xor(x4, i64x2.shl(t, 1));
  t = swapDelta(x6, x7, 1, m); x7 = v128.xor(x7, t); x6 = v128.xor(x6, i64x2.shl(t, 1));
  m = constant(SWAP2);
  t = swapDelta(x0, x2, 2, m); x2 = v128.xor(x2, t); x0 = v128.xor(x0, i64x2.shl(t, 2));
  t = swapDelta(x1, x3, 2, m); x3 = v128.xor(x3, t); x1 = v128.xor(x1, i64x2.shl(t, 2));
  t = swapDelta(x4, x6, 2, m); x6 = v128.xor(x6, t); x4 = v128.xor(x4, i64x2.shl(t, 2));
  t = swapDelta(x5, x7, 2, m); x7 = v128.xor(x7, t); x5 = v128.xor(x5, i64x2.shl(t, 2));
  m = constant(SWAP4);
  t = swapDelta(x0, x4, 4, m); x4 = v128.xor(x4, t); x0 = v128.xor(x0, i64x2.shl(t, 4));
  t = swapDelta(x1, x5, 4, m); x5 = v128.xor(x5, t); x1 = v128.xor(x1, i64x2.shl(t, 4));
  t = swapDelta(x2, x6, 4, m); x6 = v128.xor(x6, t); x2 = v128.xor(x2, i64x2.shl(t, 4));
  t = swapDelta(x3, x7, 4, m); x7 = v128.xor(x7, t); x3 = v128.xor(x3, i64x2.shl(t, 4));
  v128.store(p, x0);
  v128.store(p, x1, 16);
  v128.store(p, x2, 32);
  v128.store(p, x3, 48);
  v128.store(p, x4, 64);
  v128.store(p, x5, 80);
  v128.store(p, x6, 96);
  v128.store(p, x7, 112);
}

@inline function roundKey(r: i32, i: i32): v128 {
  return v128.load(SCHEDULE + (<usize>r << 7) + (<usize>i << 4));
}

@inline function shiftRows(x: v128): v128 {
  return permute(x, constant(SHIFT_ROWS));
}

// ShiftRows, then each column rotated up by one row. The relaxed build does it in one permute;
// the baseline build, whose swizzles V8 wraps in a range fix-up, rotates the 32-bit columns with
// shifts instead (the measured better choice for each, `node dist/bench/kernels.js`).
@inline function shiftRowsRot1(x: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return permute(x, constant(SHIFT_ROWS_ROT1));
  const a = shiftRows(x);
  return v128.or(i32x4.shr_u(a, 8), i32x4.shl(a, 24));
}

@inline function rot2(x: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return permute(x, constant(ROT2));
  return i8x16.shuffle(x, x, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
}

/**
 * Encipher the eight blocks at BITSLICED_BLOCKS in place, with `nr` rounds, under the schedule
 * bitslicedKeys() derived. The round count is public; everything else runs the same for any data.
 */
export function encryptBitsliced(nr: i32): void {
  const q = BITSLICED_BLOCKS;
  transpose(q);
  let p0 = v128.xor(v128.load(q), roundKey(0, 0));
  let p1 = v128.xor(v128.load(q, 16), roundKey(0, 1));
  let p2 = v128.xor(v128.load(q, 32), roundKey(0, 2));
  let p3 = v128.xor(v128.load(q, 48), roundKey(0, 3));
  let p4 = v128.xor(v128.load(q, 64), roundKey(0, 4));
  let p5 = v128.xor(v128.load(q, 80), roundKey(0, 5));
  let p6 = v128.xor(v128.load(q, 96), roundKey(0, 6));
  let p7 = v128.xor(v128.load(q, 112), roundKey(0, 7));
  for (let r = 1; r <= nr; r++) {
    // SubBytes. The circuit numbers bits from the most significant: its input u0 is plane 7 and
    // its output s0 goes to plane 7.
    const u0 = p7, u1 = p6, u2 = p5, u3 = p4, u4 = p3, u5 = p2, u6 = p1, u7 = p0;
    // Top linear layer.
    const y14 = v128.xor(u3, u5);
    const y13 = v128.xor(u0, u6);
    const y9 = v128.xor(u0, u3);
    const y8 = v128.xor(u0, u5);
    const t0 = v128.xor(u1, u2);
    const y1 = v128.xor(t0, u7);
    const y4 = v128.xor(y1, u3);
    const y12 = v128.xor(y13, y14);
    const y2 = v128.xor(y1, u0);
    const y5 = v128.xor(y1, u6);
    const y3 = v128.xor(y5, y8);
    const t1 = v128.xor(u4, y12);
    const y15 = v128.xor(t1, u5);
    const y20 = v128.xor(t1, u1);
    const y6 = v128.xor(y15, u7);
    const y10 = v128.xor(y15, t0);
    const y11 = v128.xor(y20, y9);
    const y7 = v128.xor(u7, y11);
    const y17 = v128.xor(y10, y11);
    const y19 = v128.xor(y10, y8);
    const y16 = v128.xor(t0, y11);
    const y21 = v128.xor(y13, y16);
    const y18 = v128.xor(u0, y16);
    // Middle non-linear layer: the inversion in GF(2^8) through GF(2^4).
    const t2 = v128.and(y12, y15);
    const t3 = v128.and(y3, y6);
    const t4 = v128.xor(t3, t2);
    const t5 = v128.and(y4, u7);
    const t6 = v128.xor(t5, t2);
    const t7 = v128.and(y13, y16);
    const t8 = v128.and(y5, y1);
    const t9 = v128.xor(t8, t7);
    const t10 = v128.and(y2, y7);
    const t11 = v128.xor(t10, t7);
    const t12 = v128.and(y9, y11);
    const t13 = v128.and(y14, y17);
    const t14 = v128.xor(t13, t12);
    const t15 = v128.and(y8, y10);
    const t16 = v128.xor(t15, t12);
    const t17 = v128.xor(t4, y20);
    const t18 = v128.xor(t6, t16);
    const t19 = v128.xor(t9, t14);
    const t20 = v128.xor(t11, t16);
    const t21 = v128.xor(t17, t14);
    const t22 = v128.xor(t18, y19);
    const t23 = v128.xor(t19, y21);
    const t24 = v128.xor(t20, y18);
    const t25 = v128.xor(t21, t22);
    const t26 = v128.and(t21, t23);
    const t27 = v128.xor(t24, t26);
    const t28 = v128.and(t25, t27);
    const t29 = v128.xor(t28, t22);
    const t30 = v128.xor(t23, t24);
    const t31 = v128.xor(t22, t26);
    const t32 = v128.and(t31, t30);
    const t33 = v128.xor(t32, t24);
    const t34 = v128.xor(t23, t33);
    const t35 = v128.xor(t27, t33);
    const t36 = v128.and(t24, t35);
    const t37 = v128.xor(t36, t34);
    const t38 = v128.xor(t27, t36);
    const t39 = v128.and(t29, t38);
    const t40 = v128.xor(t25, t39);
    const t41 = v128.xor(t40, t37);
    const t42 = v128.xor(t29, t33);
    const t43 = v128.xor(t29, t40);
    const t44 = v128.xor(t33, t37);
    const t45 = v128.xor(t42, t41);
    const z0 = v128.and(t44, y15);
    const z1 = v128.and(t37, y6);
    const z2 = v128.and(t33, u7);
    const z3 = v128.and(t43, y16);
    const z4 = v128.and(t40, y1);
    const z5 = v128.and(t29, y7);
    const z6 = v128.and(t42, y11);
    const z7 = v128.and(t45, y17);
    const z8 = v128.and(t41, y10);
    const z9 = v128.and(t44, y12);
    const z10 = v128.and(t37, y3);
    const z11 = v128.and(t33, y4);
    const z12 = v128.and(t43, y13);
    const z13 = v128.and(t40, y5);
    const z14 = v128.and(t29, y2);
    const z15 = v128.and(t42, y9);
    const z16 = v128.and(t45, y14);
    const z17 = v128.and(t41, y8);
    // Bottom linear layer (s1, s2, s6 and s7 lack their NOT: see the opening comment).
    const tc1 = v128.xor(z15, z16);
    const tc2 = v128.xor(z10, tc1);
    const tc3 = v128.xor(z9, tc2);
    const tc4 = v128.xor(z0, z2);
    const tc5 = v128.xor(z1, z0);
    const tc6 = v128.xor(z3, z4);
    const tc7 = v128.xor(z12, tc4);
    const tc8 = v128.xor(z7, tc6);
    const tc9 = v128.xor(z8, tc7);
    const tc10 = v128.xor(tc8, tc9);
    const tc11 = v128.xor(tc6, tc5);
    const tc12 = v128.xor(z3, z5);
    const tc13 = v128.xor(z13, tc1);
    const tc14 = v128.xor(tc4, tc12);
    const s3 = v128.xor(tc3, tc11);
    const tc16 = v128.xor(z6, tc8);
    const tc17 = v128.xor(z14, tc10);
    const tc18 = v128.xor(tc13, tc14);
    const s7 = v128.xor(z12, tc18);
    const tc20 = v128.xor(z15, tc16);
    const tc21 = v128.xor(tc2, z11);
    const s0 = v128.xor(tc3, tc16);
    const s6 = v128.xor(tc10, tc18);
    const s4 = v128.xor(tc14, s3);
    const s1 = v128.xor(s3, tc16);
    const tc26 = v128.xor(tc17, tc20);
    const s2 = v128.xor(tc26, z17);
    const s5 = v128.xor(tc21, tc17);
    if (r == nr) {
      // The last round has no MixColumns.
      p0 = v128.xor(shiftRows(s7), roundKey(r, 0));
      p1 = v128.xor(shiftRows(s6), roundKey(r, 1));
      p2 = v128.xor(shiftRows(s5), roundKey(r, 2));
      p3 = v128.xor(shiftRows(s4), roundKey(r, 3));
      p4 = v128.xor(shiftRows(s3), roundKey(r, 4));
      p5 = v128.xor(shiftRows(s2), roundKey(r, 5));
      p6 = v128.xor(shiftRows(s1), roundKey(r, 6));
      p7 = v128.xor(shiftRows(s0), roundKey(r, 7));
      break;
    }
    // ShiftRows and MixColumns. With a = ShiftRows(s), b = a rotated by one row and t = a ^ b,
    // each column becomes 2·t ^ b ^ (t rotated by two rows); 2·t shifts the planes up by one and
    // feeds plane 7 back into planes 0, 1, 3 and 4 (the polynomial 0x11b).
    const b0 = shiftRowsRot1(s7);
    const b1 = shiftRowsRot1(s6);
    const b2 = shiftRowsRot1(s5);
    const b3 = shiftRowsRot1(s4);
    const b4 = shiftRowsRot1(s3);
    const b5 = shiftRowsRot1(s2);
    const b6 = shiftRowsRot1(s1);
    const b7 = shiftRowsRot1(s0);
    const c0 = v128.xor(shiftRows(s7), b0);
    const c1 = v128.xor(shiftRows(s6), b1);
    const c2 = v128.xor(shiftRows(s5), b2);
    const c3 = v128.xor(shiftRows(s4), b3);
    const c4 = v128.xor(shiftRows(s3), b4);
    const c5 = v128.xor(shiftRows(s2), b5);
    const c6 = v128.xor(shiftRows(s1), b6);
    const c7 = v128.xor(shiftRows(s0), b7);
    p0 = v128.xor(v128.xor(c7, b0), v128.xor(rot2(c0), roundKey(r, 0)));
    p1 = v128.xor(v128.xor(v128.xor(c0, c7), b1), v128.xor(rot2(c1), roundKey(r, 1)));
    p2 = v128.xor(v128.xor(c1, b2), v128.xor(rot2(c2), roundKey(r, 2)));
    p3 = v128.xor(v128.xor(v128.xor(c2, c7), b3), v128.xor(rot2(c3), roundKey(r, 3)));
    p4 = v128.xor(v128.xor(v128.xor(c3, c7), b4), v128.xor(rot2(c4), roundKey(r, 4)));
    p5 = v128.xor(v128.xor(c4, b5), v128.xor(rot2(c5), roundKey(r, 5)));
    p6 = v128.xor(v128.xor(c5, b6), v128.xor(rot2(c6), roundKey(r, 6)));
    p7 = v128.xor(v128.xor(c6, b7), v128.xor(rot2(c7), roundKey(r, 7)));
  }
  v128.store(q, p0);
  v128.store(q, p1, 16);
  v128.store(q, p2, 32);
  v128.store(q, p3, 48);
  v128.store(q, p4, 64);
  v128.store(q, p5, 80);
  v128.store(q, p6, 96);
  v128.store(q, p7, 112);
  transpose(q);
}

const RCON = memory.data<u8>([0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1b, 0x36]);
const BIT_OF = memory.data<u8>([1, 2, 4, 8, 16, 32, 64, 128]);

// SubWord through the vector-permute S-box (constant time), on the word in lane 0.
@inline function subWord(w: u32): u32 {
  return i32x4.extract_lane(standardSubBytes(i32x4.splat(w)), 0);
}

/**
 * Derive the bitsliced schedule of the key context `k` (from the raw key it keeps) into static
 * scratch; bitslicedWipe() clears it. Branches and addresses depend only on the key length.
 */
export function bitslicedKeys(k: usize): void {
  const nr = rounds(k);
  const nk = nr - 6;
  const total = (nr + 1) << 2;
  memory.copy(WORDS, k + KEY_RAW, <usize>(nk << 2));
  for (let i = nk; i < total; i++) {
    let t = load<u32>(WORDS + (<usize>(i - 1) << 2));
    if (i % nk == 0) {
      t = subWord(rotr<u32>(t, 8)) ^ <u32>load<u8>(RCON + <usize>(i / nk - 1));
    } else if (nk > 6 && i % nk == 4) {
      t = subWord(t);
    }
    store<u32>(WORDS + (<usize>i << 2), load<u32>(WORDS + (<usize>(i - nk) << 2)) ^ t);
  }
  // Plane i of a round key is 0xff in each byte whose bit i is set. Every round key after the
  // first also adds the S-box constant 0x63 (bits 0, 1, 5 and 6), which the circuit leaves out.
  for (let r = 0; r <= nr; r++) {
    const key = v128.load(WORDS + (<usize>r << 4));
    for (let i = 0; i < 8; i++) {
      const bit = i8x16.splat(load<u8>(BIT_OF + <usize>i));
      let plane = i8x16.eq(v128.and(key, bit), bit);
      if (r > 0 && (0x63 >> i) & 1) plane = v128.not(plane);
      v128.store(SCHEDULE + (<usize>r << 7) + (<usize>i << 4), plane);
    }
  }
  memory.fill(WORDS, 0, 60 * 4);
}

/** Wipe the bitsliced schedule and the blocks it enciphered last. */
export function bitslicedWipe(): void {
  memory.fill(SCHEDULE, 0, 15 * 128);
  memory.fill(BITSLICED_BLOCKS, 0, 128);
}
