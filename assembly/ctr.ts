// CTR mode with the whole 16-byte block as one big-endian counter, incremented mod 2^128 (as EAX
// and SP 800-38A specify; a 32- or 64-bit counter would repeat keystream after a carry).
import { encryptBlock, encryptQuad, outA, outB, outC, outD } from './aes';
import { rounds } from './key';

// Scratch for a final partial block; ctrXor wipes it after use.
const CTR_TAIL = memory.data(16, 16);

// The counter is held as two native u64 halves so the increment is two adds and a carry,
// computed without a branch.
@inline export function counterBlock(hi: u64, lo: u64): v128 {
  return i64x2.replace_lane(i64x2.splat(bswap<u64>(hi)), 1, bswap<u64>(lo));
}

@inline export function loadCounterHi(p: usize): u64 {
  return bswap<u64>(load<u64>(p));
}

@inline export function loadCounterLo(p: usize): u64 {
  return bswap<u64>(load<u64>(p, 8));
}

/**
 * XOR `length` bytes at `input` with the keystream starting at the counter block at `counter`
 * (16 bytes, big-endian) into `output` (may equal input). The counter block is advanced past
 * every block used, so a caller can continue on a block boundary.
 */
export function ctrXor(k: usize, counter: usize, input: usize, output: usize, length: i32): void {
  const nr = rounds(k);
  let hi = loadCounterHi(counter);
  let lo = loadCounterLo(counter);
  let i = 0;
  // Four counter blocks at a time (interleaved rounds), then one at a time for the tail.
  while (length - i >= 64) {
    const c0 = counterBlock(hi, lo);
    lo += 1;
    hi += <u64>(lo == 0);
    const c1 = counterBlock(hi, lo);
    lo += 1;
    hi += <u64>(lo == 0);
    const c2 = counterBlock(hi, lo);
    lo += 1;
    hi += <u64>(lo == 0);
    const c3 = counterBlock(hi, lo);
    lo += 1;
    hi += <u64>(lo == 0);
    encryptQuad(c0, c1, c2, c3, k, nr);
    const p = input + <usize>i;
    const q = output + <usize>i;
    v128.store(q, v128.xor(v128.load(p), outA));
    v128.store(q, v128.xor(v128.load(p, 16), outB), 16);
    v128.store(q, v128.xor(v128.load(p, 32), outC), 32);
    v128.store(q, v128.xor(v128.load(p, 48), outD), 48);
    i += 64;
  }
  while (i < length) {
    const ks = encryptBlock(counterBlock(hi, lo), k, nr);
    lo += 1;
    hi += <u64>(lo == 0);
    if (length - i >= 16) {
      v128.store(output + <usize>i, v128.xor(v128.load(input + <usize>i), ks));
      i += 16;
    } else {
      // Final partial block: go through a zero-padded copy so nothing past the end is touched.
      const tail = CTR_TAIL;
      memory.copy(tail, input + <usize>i, <usize>(length - i));
      v128.store(tail, v128.xor(v128.load(tail), ks));
      memory.copy(output + <usize>i, tail, <usize>(length - i));
      v128.store(tail, i64x2(0, 0));
      i = length;
    }
  }
  store<u64>(counter, bswap<u64>(hi));
  store<u64>(counter, bswap<u64>(lo), 8);
}
