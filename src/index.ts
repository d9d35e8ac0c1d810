// sealcam's library API.
export { createEax, createBackend, tagsEqual } from './engine/eax.js';
export type { Eax, EaxEncryptor, EaxDecryptor, EncryptOptions, DecryptOptions, EaxOptions, Sealed } from './engine/eax.js';
export type { EngineName, CipherBackend } from './engine/types.js';
export { ENGINES } from './engine/types.js';
export { wasmVariant } from './engine/wasm.js';
export { SealcamError, AuthenticationError, InputError } from './errors.js';
