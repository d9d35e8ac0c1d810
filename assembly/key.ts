// The key context: round keys plus the per-key values OMAC and EAX reuse for every message, and
// the key itself, from which the bitsliced kernel derives its schedule for each call it runs.
import { encryptBlock, expandKey } from './aes';

export const KEY_ROUND_KEYS: usize = 0; // 15 x 16 bytes
export const KEY_ROUNDS: usize = 240; // i32: 10, 12 or 14
export const KEY_K1: usize = 256; // CMAC subkey K1 = dbl(E(0))
export const KEY_K2: usize = 272; // CMAC subkey K2 = dbl(K1)
export const KEY_TWEAK: usize = 288; // E([t]) for t = 0, 1, 2: OMAC^t state after its tweak block
export const KEY_EMPTY: usize = 336; // OMAC^t of the empty message, t = 0, 1, 2
export const KEY_RAW: usize = 384; // the key itself (16, 24 or 32 bytes), for the bitsliced schedule
export const KEY_CONTEXT_SIZE: i32 = 416;

/** Doubling in GF(2^128) (CMAC's polynomial x^128 + x^7 + x^2 + x + 1), without branches. */
function dbl(x: v128): v128 {
  const hi = bswap<u64>(i64x2.extract_lane(x, 0));
  const lo = bswap<u64>(i64x2.extract_lane(x, 1));
  const carry = (hi >> 63) * 0x87;
  const h = (hi << 1) | (lo >> 63);
  const l = (lo << 1) ^ carry;
  return i64x2.replace_lane(i64x2.splat(bswap<u64>(h)), 1, bswap<u64>(l));
}

@inline export function rounds(k: usize): i32 {
  return load<i32>(k + KEY_ROUNDS);
}

/** Set up the key context at `k` from `keyLength` bytes at `key`. Returns 0, or -1 for a bad length. */
export function setKey(k: usize, key: usize, keyLength: i32): i32 {
  const nr = expandKey(key, keyLength, k + KEY_ROUND_KEYS);
  if (nr == 0) return -1;
  memory.copy(k + KEY_RAW, key, <usize>keyLength);
  store<i32>(k + KEY_ROUNDS, nr);
  const l = encryptBlock(i64x2(0, 0), k, nr);
  const k1 = dbl(l);
  v128.store(k + KEY_K1, k1);
  v128.store(k + KEY_K2, dbl(k1));
  for (let t = 0; t < 3; t++) {
    // [t] is 15 zero bytes and then t.
    const tweak = i8x16.replace_lane(i64x2(0, 0), 15, <i8>t);
    v128.store(k + KEY_TWEAK + (<usize>t << 4), encryptBlock(tweak, k, nr));
    v128.store(k + KEY_EMPTY + (<usize>t << 4), encryptBlock(v128.xor(tweak, k1), k, nr));
  }
  return 0;
}
