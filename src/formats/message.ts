import { createEax } from '../engine/eax.js';
import type { EngineName } from '../engine/types.js';
import { passThrough, type BufferIO } from '../io/buffer-io.js';

/**
 * One EAX message (no header) streamed over a BufferIO: what the raw and sidecar layouts and the
 * metadata files of the reference scripts all are underneath. The plaintext is written as it is
 * decrypted, UNVERIFIED until the tag at the end is checked: whoever calls openMessageIO must write
 * into something a failure discards (a temp file renamed only afterwards, a spool copied out only
 * afterwards).
 */

export interface MessageOptions {
  engine?: EngineName;
  /** Sees each ciphertext chunk as it passes (a hash of the ciphertext, its size). */
  onCiphertext?: (chunk: Uint8Array) => void;
}

/** Encrypts everything `io` reads into what it writes under `nonce`; returns the 16-byte tag. */
export async function sealMessageIO(io: BufferIO, key: Uint8Array, nonce: Uint8Array, options: MessageOptions = {}): Promise<Uint8Array> {
  const eax = createEax(key, { engine: options.engine ?? 'wasm' });
  const encryptor = eax.start(nonce);
  try {
    await passThrough(io, (chunk) => {
      encryptor.update(chunk, chunk);
      options.onCiphertext?.(chunk);
    });
    return encryptor.final();
  } finally {
    encryptor.dispose();
    eax.dispose();
  }
}

/**
 * Decrypts everything `io` reads into what it writes, then checks `tag` (which must be 16 bytes:
 * the context accepts no other length). `beforeTag` runs once the ciphertext has all passed, for
 * checks that must precede the tag's (a sidecar's size and SHA-256). Throws AuthenticationError
 * when the tag does not verify; what was written must then be discarded.
 */
export async function openMessageIO(
  io: BufferIO,
  key: Uint8Array,
  nonce: Uint8Array,
  tag: Uint8Array,
  options: MessageOptions & { beforeTag?: (size: number) => void } = {},
): Promise<void> {
  const eax = createEax(key, { engine: options.engine ?? 'wasm' });
  const decryptor = eax.startUnverifiedDecrypt(nonce);
  try {
    const size = await passThrough(io, (chunk) => {
      options.onCiphertext?.(chunk);
      decryptor.update(chunk, chunk);
    });
    options.beforeTag?.(size);
    decryptor.finish(tag);
  } finally {
    decryptor.dispose();
    eax.dispose();
  }
}
