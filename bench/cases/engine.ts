import { createCipheriv } from 'node:crypto';
import { KERNEL_LANES, WasmBackend } from '../../src/engine/wasm.js';
import { createBackend, createEax, type EngineName } from '../../src/index.js';
import { checkBlocks, checkCbc, checkCmac, checkCtr, checkDecrypt, checkEncrypt } from './check.js';
import { counter, eaxSealed, header, KEYS, nonce, plaintext } from './inputs.js';
import { syncCase } from './make.js';
import { KEY_BITS, OPS, type Case } from './types.js';

const base = { kind: 'eax', pureJs: false } as const;

/** sealcam's single-message EAX through the public API, AES-128 and AES-256, one thread. */
function eaxCases(impl: string, engine: EngineName): Case[] {
  return KEY_BITS.flatMap((bits) => {
    const eax = createEax(KEYS[bits], { engine });
    return [
      syncCase(
        { ...base, impl, op: OPS.encrypt(bits), keyBits: bits, direction: 'enc' },
        () => checkEncrypt(bits, (n, pt, h) => eax.encrypt(n, pt, { header: h })),
        (size) => {
          const pt = plaintext(size);
          return () => eax.encrypt(nonce, pt, { header });
        },
      ),
      syncCase(
        { ...base, impl, op: OPS.decrypt(bits), keyBits: bits, direction: 'dec' },
        () => checkDecrypt(bits, (n, ct, tag, h) => eax.decrypt(n, ct, tag, { header: h })),
        (size) => {
          const { ciphertext, tag } = eaxSealed(bits, size);
          return () => eax.decrypt(nonce, ciphertext, tag, { header });
        },
      ),
    ];
  });
}

/** The engine's parts (createBackend): so a regression can be located in the block function, CTR or OMAC. */
function partCases(impl: string, engine: EngineName): Case[] {
  const backend = createBackend(KEYS[128], engine);
  const part = { impl, kind: 'part', pureJs: false, keyBits: 128, direction: 'enc' } as const;
  return [
    syncCase(
      { ...part, op: OPS.blocks, wholeBlocks: true },
      () => checkBlocks((b) => backend.encryptBlocks(b)),
      (size) => {
        const blocks = plaintext(size).subarray(0, size & ~15);
        return () => backend.encryptBlocks(blocks);
      },
    ),
    syncCase(
      { ...part, op: OPS.ctr },
      () => checkCtr(128, (c, d) => backend.ctr(c, d)),
      (size) => {
        const pt = plaintext(size);
        return () => backend.ctr(counter, pt);
      },
    ),
    syncCase(
      { ...part, op: OPS.omac },
      () => checkCmac((m) => backend.cmac(m)),
      (size) => {
        const pt = plaintext(size);
        return () => backend.cmac(pt);
      },
    ),
  ];
}

/**
 * The AES block table: ECB with k independent blocks in flight on each WASM kernel (the measured
 * limit of the engine here), and node:crypto's CBC encryption, a serial chain of blocks (1 in
 * flight). OpenSSL's own ECB, which interleaves as it likes, is the part row above.
 */
function blockTableCases(impl: string, engine: EngineName): Case[] {
  const base = { impl, kind: 'blocks', pureJs: false, keyBits: 128, direction: 'enc', wholeBlocks: true } as const;
  if (engine === 'native') {
    const key = KEYS[128];
    const cbc = (data: Uint8Array): Uint8Array => {
      const c = createCipheriv('aes-128-cbc', key, new Uint8Array(16)).setAutoPadding(false);
      return Buffer.concat([c.update(data), c.final()]);
    };
    return [
      syncCase(
        { ...base, op: OPS.cbcEncrypt, blocks: { kernel: 'OpenSSL', inFlight: 1 } },
        () => checkCbc(cbc),
        (size) => {
          const blocks = plaintext(size).subarray(0, size & ~15);
          return () => cbc(blocks);
        },
      ),
    ];
  }
  const backend = new WasmBackend(KEYS[128]);
  return KERNEL_LANES.map(([kernel, k]) =>
    syncCase(
      { ...base, op: OPS.blocksInFlight(k, kernel), blocks: { kernel, inFlight: k } },
      () => checkBlocks((b) => backend.encryptBlocksInFlight(b, k, kernel)),
      (size) => {
        const blocks = plaintext(size).subarray(0, size & ~15);
        return () => backend.encryptBlocksInFlight(blocks, k, kernel);
      },
    ),
  );
}

export const wasmImpl = (variant: string): string => `sealcam WASM (${variant})`;
export const NATIVE_IMPL = 'sealcam native (node:crypto)';

/** Every single-thread case of one sealcam engine (the WASM engine runs the build this process compiled). */
export function engineCases(impl: string, engine: EngineName): Case[] {
  return [...eaxCases(impl, engine), ...partCases(impl, engine), ...blockTableCases(impl, engine)];
}
