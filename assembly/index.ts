// The sealcam WASM engine: a few plain functions over linear memory. The TypeScript binding
// (src/engine/wasm.ts) owns all allocation; it passes pointers to a key context, a message
// context and input/output buffers, and nothing here allocates.
import { clearResults, encryptBlock, encryptQuad, outA, outB, outC, outD } from './aes';
import { rounds, KEY_CONTEXT_SIZE } from './key';
import { OMAC_STATE_SIZE, omacFinal, omacInit, omacUpdate } from './omac';
import { MESSAGE_CONTEXT_SIZE } from './eax';

export { setKey } from './key';
export { ctrXor } from './ctr';
export { eaxInit, eaxNonce, eaxStart, eaxHeader, eaxEncrypt, eaxDecrypt, eaxEncryptTwo, eaxDecryptTwo, eaxFinal } from './eax';

export function keyContextSize(): i32 {
  return KEY_CONTEXT_SIZE;
}

export function messageContextSize(): i32 {
  return MESSAGE_CONTEXT_SIZE;
}

/** ECB-encipher `blocks` whole blocks (for known-answer tests and the block benchmark). */
export function encryptBlocks(k: usize, input: usize, output: usize, blocks: i32): void {
  const nr = rounds(k);
  let i = 0;
  for (; i + 3 < blocks; i += 4) {
    const p = <usize>i << 4;
    encryptQuad(v128.load(input + p), v128.load(input + p, 16), v128.load(input + p, 32), v128.load(input + p, 48), k, nr);
    v128.store(output + p, outA);
    v128.store(output + p, outB, 16);
    v128.store(output + p, outC, 32);
    v128.store(output + p, outD, 48);
  }
  for (; i < blocks; i++) {
    const p = <usize>i << 4;
    v128.store(output + p, encryptBlock(v128.load(input + p), k, nr));
  }
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
}

/** First byte of linear memory the binding may use. */
export function heapBase(): usize {
  return __heap_base;
}
