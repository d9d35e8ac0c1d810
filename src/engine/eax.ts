import { timingSafeEqual } from 'node:crypto';
import { AuthenticationError, InputError } from '../errors.js';
import type { CipherBackend, EaxState, EngineName } from './types.js';
import * as check from './validate.js';
import { NativeBackend } from './native.js';
import { WasmBackend } from './wasm.js';

/**
 * The EAX binding (Bellare, Rogaway, Wagner 2004) with pycryptodome's AES.MODE_EAX semantics:
 * 16-byte nonces by default (any length >= 1 accepted), tags of 1..16 bytes (default 16), and a
 * header (associated data) that is authenticated but not encrypted.
 */

export interface EncryptOptions {
  header?: Uint8Array;
  tagLength?: number;
}

export interface DecryptOptions {
  header?: Uint8Array;
}

export interface EaxOptions {
  engine?: EngineName;
}

export interface Sealed {
  ciphertext: Uint8Array;
  tag: Uint8Array;
}

/** Streaming encryption of one message: header and data in pieces of any size. */
export interface EaxEncryptor {
  updateHeader(header: Uint8Array): EaxEncryptor;
  update(plaintext: Uint8Array): Uint8Array;
  /** Ends the message and returns the tag (tagLength bytes). */
  final(): Uint8Array;
}

/**
 * Streaming decryption of one message. Plaintext is held inside the decryptor and released by
 * verify() only when the tag matches; on a mismatch it is wiped and AuthenticationError thrown.
 */
export interface EaxDecryptor {
  updateHeader(header: Uint8Array): EaxDecryptor;
  update(ciphertext: Uint8Array): void;
  verify(tag: Uint8Array): Uint8Array;
}

export interface Eax {
  readonly engine: EngineName;
  readonly keyLength: 16 | 24 | 32;
  encrypt(nonce: Uint8Array, plaintext: Uint8Array, options?: EncryptOptions): Sealed;
  decrypt(nonce: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, options?: DecryptOptions): Uint8Array;
  start(nonce: Uint8Array, options?: { tagLength?: number }): EaxEncryptor;
  startDecrypt(nonce: Uint8Array): EaxDecryptor;
  /** Wipes the key schedule; the object refuses further use. */
  dispose(): void;
}

export function createBackend(key: Uint8Array, engine: EngineName = 'wasm'): CipherBackend {
  check.aesKey(key);
  if (engine === 'wasm') return new WasmBackend(key);
  if (engine === 'native') return new NativeBackend(key);
  throw new InputError(`engine must be 'wasm' or 'native', got ${String(engine)}`);
}

/** Constant-time comparison of a received tag with the first tag.length bytes of the computed one. */
export function tagsEqual(computed: Uint8Array, received: Uint8Array): boolean {
  return timingSafeEqual(computed.subarray(0, received.length), received);
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Guards one message's lifecycle so a finished context cannot be reused by mistake. */
class Lifecycle {
  private done = false;
  constructor(private readonly what: string) {}
  check(): void {
    if (this.done) throw new InputError(`${this.what} was already finished; start a new one for each message`);
  }
  finish(): void {
    this.check();
    this.done = true;
  }
}

class Encryptor implements EaxEncryptor {
  private readonly life = new Lifecycle('EAX encryptor');
  constructor(
    private readonly state: EaxState,
    private readonly tagLength: number,
  ) {}
  updateHeader(header: Uint8Array): EaxEncryptor {
    this.life.check();
    this.state.header(check.bytes(header, 'header'));
    return this;
  }
  update(plaintext: Uint8Array): Uint8Array {
    this.life.check();
    return this.state.encrypt(check.bytes(plaintext, 'plaintext'));
  }
  final(): Uint8Array {
    this.life.finish();
    const full = this.state.tag();
    this.state.dispose();
    return full.slice(0, this.tagLength);
  }
}

class Decryptor implements EaxDecryptor {
  private readonly life = new Lifecycle('EAX decryptor');
  private readonly parts: Uint8Array[] = [];
  private total = 0;
  constructor(private readonly state: EaxState) {}
  updateHeader(header: Uint8Array): EaxDecryptor {
    this.life.check();
    this.state.header(check.bytes(header, 'header'));
    return this;
  }
  update(ciphertext: Uint8Array): void {
    this.life.check();
    const part = this.state.decrypt(check.bytes(ciphertext, 'ciphertext'));
    this.parts.push(part);
    this.total += part.length;
  }
  verify(tag: Uint8Array): Uint8Array {
    this.life.check();
    check.tag(tag);
    this.life.finish();
    const full = this.state.tag();
    this.state.dispose();
    const ok = tagsEqual(full, tag);
    full.fill(0);
    if (!ok) {
      for (const p of this.parts) p.fill(0);
      this.parts.length = 0;
      throw new AuthenticationError();
    }
    const out = this.parts.length === 1 ? this.parts[0]! : concat(this.parts, this.total);
    this.parts.length = 0;
    return out;
  }
}

class EaxCipher implements Eax {
  private backend: CipherBackend | undefined;
  readonly engine: EngineName;
  readonly keyLength: 16 | 24 | 32;

  constructor(key: Uint8Array, engine: EngineName) {
    this.backend = createBackend(key, engine);
    this.engine = engine;
    this.keyLength = this.backend.keyLength;
  }

  private live(): CipherBackend {
    if (!this.backend) throw new InputError('this EAX object was disposed; create a new one with createEax(key)');
    return this.backend;
  }

  encrypt(nonce: Uint8Array, plaintext: Uint8Array, options: EncryptOptions = {}): Sealed {
    const tagLength = check.tagLength(options.tagLength);
    check.bytes(plaintext, 'plaintext');
    if (options.header !== undefined) check.bytes(options.header, 'header');
    const enc = this.start(nonce, { tagLength });
    if (options.header !== undefined) enc.updateHeader(options.header);
    const ciphertext = enc.update(plaintext);
    return { ciphertext, tag: enc.final() };
  }

  decrypt(nonce: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, options: DecryptOptions = {}): Uint8Array {
    check.bytes(ciphertext, 'ciphertext');
    check.tag(tag);
    if (options.header !== undefined) check.bytes(options.header, 'header');
    const dec = this.startDecrypt(nonce);
    if (options.header !== undefined) dec.updateHeader(options.header);
    dec.update(ciphertext);
    return dec.verify(tag);
  }

  start(nonce: Uint8Array, options: { tagLength?: number } = {}): EaxEncryptor {
    const tagLength = check.tagLength(options.tagLength);
    return new Encryptor(this.live().eax(check.nonce(nonce, false)), tagLength);
  }

  startDecrypt(nonce: Uint8Array): EaxDecryptor {
    return new Decryptor(this.live().eax(check.nonce(nonce, false)));
  }

  dispose(): void {
    this.backend?.dispose();
    this.backend = undefined;
  }
}

/** AES-EAX under `key` (16, 24 or 32 bytes) on the WASM engine (default) or node:crypto. */
export function createEax(key: Uint8Array, options: EaxOptions = {}): Eax {
  return new EaxCipher(key, options.engine ?? 'wasm');
}
