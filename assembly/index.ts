// The sealcam WASM engine: a few plain functions over linear memory. The TypeScript binding
// (src/engine/wasm.ts) owns all allocation; it passes pointers to a key context, a message
// context and input/output buffers, and nothing here allocates.
//
// Two constant-time AES kernels, neither with tables or secret-dependent branches or addresses:
// vector-permute (aes.ts), for everything, and bitsliced (bitsliced.ts), for eight independent
// blocks only. Serial work (OMAC, single-message EAX, the key schedule) is always vector-permute;
// the eight-block paths (four-message EAX, CTR, ECB) run the kernel selectAesKernel() chose.
// The binding picks it once per thread, after its first 8 MiB on vector-permute, by a short
// calibration of four-message EAX on each
// (or SEALCAM_AES_KERNEL): vector-permute's byte shuffles are cheap where the CPU has several
// shuffle ports and the relaxed build runs bare pshufb/tbl; bitsliced needs three shuffles per
// register and round and wins where shuffles are the bottleneck (the baseline build, whose
// swizzles carry a range fix-up, or a CPU with one shuffle port). Both give the same bytes.
import { clearResults, encryptBlock, encryptEightOn, encryptPair, encryptQuad, encryptSix, outA, outB, outC, outD, outE, outF, outG, outH } from './aes';
import { bitslicedKeys, bitslicedSelected, bitslicedWipe, selectBitsliced } from './bitsliced';
import { rounds, KEY_CONTEXT_SIZE } from './key';
import { OMAC_STATE_SIZE, omacFinal, omacInit, omacUpdate } from './omac';
import { MESSAGE_CONTEXT_SIZE } from './eax';

export { setKey } from './key';
export { ctrXor } from './ctr';
export { eaxInit, eaxNonce, eaxStart, eaxHeader, eaxEncrypt, eaxDecrypt, eaxEncryptTwo, eaxDecryptTwo, eaxEncryptFour, eaxDecryptFour, eaxFinal } from './eax';

export function keyContextSize(): i32 {
  return KEY_CONTEXT_SIZE;
}

export function messageContextSize(): i32 {
  return MESSAGE_CONTEXT_SIZE;
}

/** ECB-encipher `blocks` whole blocks (for known-answer tests): eight at a time on the selected kernel. */
export function encryptBlocks(k: usize, input: usize, output: usize, blocks: i32): void {
  oneAtATime(k, input, output, inGroups(8, k, input, output, blocks, bitslicedSelected), blocks);
}

/**
 * ECB with `lanes` (1, 2, 4, 6 or 8) blocks in flight on the vector-permute kernel, or 8 on the
 * bitsliced one (`bitsliced` 1): the AES block table of the benchmark, each kernel's limit on the
 * CPU at hand. Returns 0, or -1 for a combination there is no kernel for.
 */
export function encryptBlocksInFlight(k: usize, input: usize, output: usize, blocks: i32, lanes: i32, bitsliced: i32): i32 {
  if (bitsliced != 0 && lanes != 8) return -1;
  let i = 0;
  if (lanes == 8) i = inGroups(8, k, input, output, blocks, bitsliced != 0);
  else if (lanes == 6) i = inGroups(6, k, input, output, blocks, false);
  else if (lanes == 4) i = inGroups(4, k, input, output, blocks, false);
  else if (lanes == 2) i = inGroups(2, k, input, output, blocks, false);
  else if (lanes != 1) return -1;
  oneAtATime(k, input, output, i, blocks);
  return 0;
}

// Whole groups of `lanes` blocks (2, 4, 6 or 8, a constant where this is inlined) interleaved,
// eight on the bitsliced kernel if `bitsliced`; returns how many blocks were done.
@inline function inGroups(lanes: i32, k: usize, input: usize, output: usize, blocks: i32, bitsliced: bool): i32 {
  const nr = rounds(k);
  const scheduled = bitsliced && blocks >= 8;
  if (scheduled) bitslicedKeys(k);
  let i = 0;
  for (; i + lanes <= blocks; i += lanes) {
    const p = input + (<usize>i << 4);
    const q = output + (<usize>i << 4);
    const a = v128.load(p);
    const b = v128.load(p, 16);
    if (lanes == 2) {
      encryptPair(a, b, k, nr);
    } else if (lanes == 4) {
      encryptQuad(a, b, v128.load(p, 32), v128.load(p, 48), k, nr);
    } else if (lanes == 6) {
      encryptSix(a, b, v128.load(p, 32), v128.load(p, 48), v128.load(p, 64), v128.load(p, 80), k, nr);
    } else {
      encryptEightOn(bitsliced, a, b, v128.load(p, 32), v128.load(p, 48), v128.load(p, 64), v128.load(p, 80), v128.load(p, 96), v128.load(p, 112), k, nr);
    }
    v128.store(q, outA);
    v128.store(q, outB, 16);
    if (lanes > 2) {
      v128.store(q, outC, 32);
      v128.store(q, outD, 48);
    }
    if (lanes > 4) {
      v128.store(q, outE, 64);
      v128.store(q, outF, 80);
    }
    if (lanes > 6) {
      v128.store(q, outG, 96);
      v128.store(q, outH, 112);
    }
  }
  if (scheduled) bitslicedWipe();
  return i;
}

@inline function oneAtATime(k: usize, input: usize, output: usize, from: i32, blocks: i32): void {
  const nr = rounds(k);
  for (let i = from; i < blocks; i++) {
    const p = <usize>i << 4;
    v128.store(output + p, encryptBlock(v128.load(input + p), k, nr));
  }
}

/**
 * Which kernel the eight-block paths (four-message EAX, CTR, ECB) run: 0 vector-permute, 1
 * bitsliced. Both are constant time and give the same results; the binding picks the faster.
 */
export function selectAesKernel(kernel: i32): void {
  selectBitsliced(kernel == 1);
}

// Plain CMAC (no tweak) in pieces, over a state of omacStateSize() bytes; tag (16 bytes) to `tag`.
export function cmacInit(k: usize, state: usize): void {
  omacInit(k, state, -1);
}

export function cmacUpdate(k: usize, state: usize, data: usize, length: i32): void {
  omacUpdate(k, state, data, length);
}

export function cmacFinal(k: usize, state: usize, tag: usize): void {
  v128.store(tag, omacFinal(k, state, -1));
}

export function omacStateSize(): i32 {
  return <i32>OMAC_STATE_SIZE;
}

/** Wipe the engine's own scratch (the last enciphered blocks), called when a context is disposed. */
export function wipeScratch(): void {
  clearResults();
  bitslicedWipe();
}

/** First byte of linear memory the binding may use. */
export function heapBase(): usize {
  return __heap_base;
}
