// sealcam's library API. Cloud SDKs and transports load only when a store or notifier asks for them.
import type { OpenOptions, SealedHeader, SealOptions } from './formats/sealed.js';
import type { ProgressOptions } from './pool/pipeline.js';
import { SealPool } from './pool/pool.js';

// The EAX engine.
export { createEax, createBackend } from './engine/eax.js';
export type { Eax, EaxEncryptor, EaxDecryptor, EaxUnverifiedDecryptor, EncryptOptions, DecryptOptions, EaxOptions, Sealed } from './engine/eax.js';
export type { EngineName, CipherBackend } from './engine/types.js';
export { ENGINES } from './engine/types.js';
export { wasmVariant } from './engine/wasm.js';
export { SealcamError, AuthenticationError, InputError } from './errors.js';

// The `sealed` format (docs/FORMAT.md), on this thread.
export { sealBuffer, openBuffer, openSealed, parseHeader, DEFAULT_SEGMENT_SIZE } from './formats/sealed.js';
export type { Algorithm, OpenOptions, SealedHeader, SealedMetadata, SealOptions } from './formats/sealed.js';
// The layouts shared with the Python side: raw (nonce || tag || ciphertext) and sidecar (ciphertext + JSON).
export { sealRaw, openRaw } from './formats/raw.js';
export type { RawOptions } from './formats/raw.js';
export { sealSidecar, openSidecar, detectFormat, parseSidecarMetadata, serializeSidecarMetadata } from './formats/sidecar.js';
export type { SidecarMetadata, SidecarAlgorithm, SealSidecarOptions, OpenSidecarOptions } from './formats/sidecar.js';

// Parallel sealing and opening on worker threads: buffers (SealPool, seal, open), streams of any
// size, and files through the pool's own buffers (SealPool.sealIO/openIO with fileIO).
export { SealPool } from './pool/pool.js';
export type { PoolOptions } from './pool/pool.js';
export type { PipelineOptions, Progress, ProgressOptions } from './pool/pipeline.js';
export { createSealStream, createOpenStream } from './pool/streams.js';
export type { StreamOptions } from './pool/streams.js';
export { memoryIO } from './io/buffer-io.js';
export type { BufferIO } from './io/buffer-io.js';
export { fileIO } from './io/file-io.js';
export type { FileIOOptions } from './io/file-io.js';

// Keys, storage, notifications and configuration.
export { createKeyProvider } from './keys/index.js';
export { kekFromProvider, currentKek } from './keys/kek.js';
export type { KeyProvider, KeyMaterial, KeyVersion } from './keys/provider.js';
export { createStore } from './storage/index.js';
export type { BlobStore, BlobInfo, PutOptions, ListOptions } from './storage/store.js';
export { createNotifier, subscribeEvents } from './notify/index.js';
export type { Notifier, SealedImageEvent, SubscribeOptions, Subscription } from './notify/index.js';
export { loadConfig, checkConfig } from './config.js';
export type { SealcamConfig } from './config.js';

export interface PoolChoice {
  /** Run on this pool instead of the shared default one. */
  pool?: SealPool;
}

let shared: SealPool | undefined;

/**
 * The pool behind seal() and open(): started on first use with one worker per core and the WASM
 * engine, and never closed. Idle workers do not keep the process alive (piscina unrefs them), so a
 * script that seals a few buffers exits by itself; pass your own pool to control its size or close it.
 */
function defaultPool(): SealPool {
  return (shared ??= new SealPool());
}

/** Seals a buffer in the `sealed` format, its segments spread over the pool's workers. */
export function seal(plaintext: Uint8Array, options: SealOptions & ProgressOptions & PoolChoice): Promise<Uint8Array> {
  return (options.pool ?? defaultPool()).seal(plaintext, options);
}

/** Verifies and opens a `sealed` buffer on the pool; nothing is returned unless every segment verified. */
export function open(sealed: Uint8Array, options: OpenOptions & ProgressOptions & PoolChoice): Promise<{ plaintext: Uint8Array; header: SealedHeader }> {
  return (options.pool ?? defaultPool()).open(sealed, options);
}
