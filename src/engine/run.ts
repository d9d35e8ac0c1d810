import type { CipherBackend, RunMessage } from './types.js';

/**
 * Runs of EAX messages, one after another: what the node:crypto twin does for a run, and what the
 * WASM engine does for a message it cannot pair. The engine's own contract is in types.ts
 * (CipherBackend.encryptRun / decryptRun); this is the plain reading of it.
 */

/**
 * Whether two byte strings of one (public) length are equal, in time that depends only on that
 * length: every byte is compared, with no early exit and no branch on the data.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) throw new RangeError('constantTimeEqual compares byte strings of one length');
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Constant-time comparison of a received tag with the first tag.length bytes of the computed one. */
export function tagsEqual(computed: Uint8Array, received: Uint8Array): boolean {
  return constantTimeEqual(computed.subarray(0, received.length), received);
}

/** One message of a run, in place; returns its full computed tag (the caller wipes it). */
function runOne(backend: CipherBackend, header: Uint8Array, message: RunMessage, direction: 'encrypt' | 'decrypt'): Uint8Array {
  const state = backend.eax(message.nonce);
  try {
    state.header(header);
    if (direction === 'encrypt') state.encryptInto(message.data, message.data);
    else state.decryptInto(message.data, message.data);
    return state.tag();
  } finally {
    state.dispose();
  }
}

/** Encrypts one message of a run in place and writes its full tag. */
export function encryptOne(backend: CipherBackend, header: Uint8Array, message: RunMessage): void {
  const tag = runOne(backend, header, message, 'encrypt');
  message.tag.set(tag);
  tag.fill(0);
}

/** Decrypts one message of a run in place; true when its tag verifies. */
export function decryptOne(backend: CipherBackend, header: Uint8Array, message: RunMessage): boolean {
  const tag = runOne(backend, header, message, 'decrypt');
  const ok = tagsEqual(tag, message.tag);
  tag.fill(0);
  return ok;
}

export function encryptEach(backend: CipherBackend, header: Uint8Array, messages: readonly RunMessage[]): void {
  for (const message of messages) encryptOne(backend, header, message);
}

export function decryptEach(backend: CipherBackend, header: Uint8Array, messages: readonly RunMessage[]): number {
  for (let i = 0; i < messages.length; i++) if (!decryptOne(backend, header, messages[i]!)) return i;
  return -1;
}
