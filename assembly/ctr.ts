// CTR mode with the whole 16-byte block as one big-endian counter, incremented mod 2^128 (as EAX
// and SP 800-38A specify; a 32- or 64-bit counter would repeat keystream after a carry).
import { encryptBlock, encryptEightOn, outA, outB, outC, outD, outE, outF, outG, outH, permute } from './aes';
import { bitslicedKeys, bitslicedSelected, bitslicedWipe } from './bitsliced';
import { rounds } from './key';

// Scratch for a final partial block; ctrXor wipes it after use.
const CTR_TAIL = memory.data(16, 16);

// The counter is held as two native u64 halves. Within one call the low half counts up by one per
// block and wraps at most once (a call covers far fewer than 2^64 blocks), so the high half of any
// block is the call's starting high half plus one once the low half has wrapped below where it
// started. The step is `lo += 1`; the carry is computed here alone, without a branch.
@inline export function highHalf(hi: u64, start: u64, lo: u64): u64 {
  return hi + <u64>(lo < start);
}

// Byte order of each 64-bit half reversed: one in-register permute, where a scalar bswap<u64>
// costs WebAssembly a dozen shifts and masks (it has no byte-swap instruction).
const HALVES_REVERSED = memory.data<u8>([7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8], 16);

/** The big-endian counter block for low half `lo`, in a call that began at (hi, start). */
@inline export function counterBlock(hi: u64, start: u64, lo: u64): v128 {
  return permute(i64x2.replace_lane(i64x2.splat(highHalf(hi, start, lo)), 1, lo), v128.load(HALVES_REVERSED));
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
  const hi = loadCounterHi(counter);
  const start = loadCounterLo(counter);
  let lo = start;
  let i = 0;
  // Eight counter blocks at a time through the selected eight-block kernel, then one at a time.
  const scheduled = length >= 128 && bitslicedSelected;
  if (scheduled) bitslicedKeys(k);
  while (length - i >= 128) {
    encryptEightOn(
      scheduled,
      counterBlock(hi, start, lo),
      counterBlock(hi, start, lo + 1),
      counterBlock(hi, start, lo + 2),
      counterBlock(hi, start, lo + 3),
      counterBlock(hi, start, lo + 4),
      counterBlock(hi, start, lo + 5),
      counterBlock(hi, start, lo + 6),
      counterBlock(hi, start, lo + 7),
      k,
      nr,
    );
    lo += 8;
    const p = input + <usize>i;
    const q = output + <usize>i;
    v128.store(q, v128.xor(v128.load(p), outA));
    v128.store(q, v128.xor(v128.load(p, 16), outB), 16);
    v128.store(q, v128.xor(v128.load(p, 32), outC), 32);
    v128.store(q, v128.xor(v128.load(p, 48), outD), 48);
    v128.store(q, v128.xor(v128.load(p, 64), outE), 64);
    v128.store(q, v128.xor(v128.load(p, 80), outF), 80);
    v128.store(q, v128.xor(v128.load(p, 96), outG), 96);
    v128.store(q, v128.xor(v128.load(p, 112), outH), 112);
    i += 128;
  }
  if (scheduled) bitslicedWipe();
  while (i < length) {
    const ks = encryptBlock(counterBlock(hi, start, lo), k, nr);
    lo += 1;
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
  store<u64>(counter, bswap<u64>(highHalf(hi, start, lo)));
  store<u64>(counter, bswap<u64>(lo), 8);
}
