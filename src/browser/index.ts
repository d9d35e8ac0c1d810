/**
 * sealcam/browser: the WASM engine and the openers in a web page, with no Node API. The same
 * modules as the Node library (engine binding, formats, HPKE, stanzas, registry rules) on the
 * browser platform (src/platform/browser.ts), bundled by esbuild into dist/browser/sealcam.js
 * beside the engine's two .wasm builds. Call loadEngine() once before anything else.
 */

export { loadEngine, relaxedSimdSupported, type LoadEngineOptions } from './engine.js';
export { wasmVariant } from '../engine/wasm.js';
export { createEax, createBackend, type Eax } from '../engine/eax.js';
export { SealcamError, AuthenticationError, InputError } from '../errors.js';

// Whole files, as the dashboard's "Open a file" page opens them.
export { describeFile, openFile, type FileDescription, type FileFormat, type HeaderRow, type OpenedFile, type OpenRequest, type PickedFile, type SignatureStatus } from './open.js';

// The formats themselves.
export { openBuffer, openSealed, parseHeader, sealBuffer, type OpenOptions, type SealedHeader, type SealedMetadata } from '../formats/sealed.js';
export { openRaw, sealRaw } from '../formats/raw.js';
export { detectFormat, openSidecar, parseSidecarMetadata, sealSidecar, type SidecarMetadata } from '../formats/sidecar.js';

// Recipients, identities and device signatures.
export { X25519Identity, X25519Recipient } from '../keys/x25519.js';
export { DevicePublicKey, DeviceSigningKey, verifyEd25519 } from '../keys/ed25519.js';
export { DeviceRegistry, entrySource, parseRegistryEntry } from '../keys/registry.js';
export { openingWith, sealingFor, keyFingerprint, describeFingerprint, type Identity, type Recipient, type Stanza } from '../keys/stanza.js';

// The published vectors, run in the page.
export { runPublishedVectors, type BrowserVectorResults, type VectorIndex } from './vectors.js';
