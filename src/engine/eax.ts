import { AuthenticationError, InputError } from '../errors.js';
import { tagsEqual } from './run.js';
import type { CipherBackend, EaxState, EngineName } from './types.js';
import * as check from './validate.js';
import { NativeBackend } from './native.js';
import { WasmBackend } from './wasm.js';

/**
 * The EAX binding (Bellare, Rogaway, Wagner 2004) with pycryptodome's AES.MODE_EAX semantics:
 * 16-byte nonces by default (any length >= 1 accepted), and a header (associated data) that is
 * authenticated but not encrypted. The tag length belongs to the context, as pycryptodome's
 * `mac_len` belongs to the cipher object: 16 bytes unless the caller asks for a shorter one when
 * creating it, and decryption accepts tags of exactly that length, so a truncated tag from a file
 * (one byte is a 1-in-256 forgery) is refused instead of being compared on what is left.
 */

export interface EncryptOptions {
  header?: Uint8Array;
}

export interface DecryptOptions {
  header?: Uint8Array;
}

export interface EaxOptions {
  engine?: EngineName;
  /** Bytes of tag this context writes and accepts: 1 to 16 (default 16). Shorter tags are weaker forgery protection. */
  tagLength?: number;
}

export interface Sealed {
  ciphertext: Uint8Array;
  tag: Uint8Array;
}

/** Streaming encryption of one message: header and data in pieces of any size. */
export interface EaxEncryptor {
  updateHeader(header: Uint8Array): EaxEncryptor;
  /** Encrypts a piece into `out` (default a new array; `plaintext` itself encrypts in place) and returns it. */
  update(plaintext: Uint8Array, out?: Uint8Array): Uint8Array;
  /** Ends the message and returns the tag (tagLength bytes). */
  final(): Uint8Array;
  /** Abandons the message (after a failure elsewhere); final() already does this. */
  dispose(): void;
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

/**
 * Streaming decryption whose pieces pass on before the tag is known, for a message too large to
 * hold: they are UNVERIFIED and may only go where a failed finish() removes them (a temp file that
 * is renamed into place only afterwards). finish() compares the tag in constant time and throws
 * AuthenticationError on a mismatch. EaxDecryptor is this with the pieces held back.
 */
export interface EaxUnverifiedDecryptor {
  updateHeader(header: Uint8Array): EaxUnverifiedDecryptor;
  /** Decrypts a piece into `out` (default a new array; `ciphertext` itself decrypts in place) and returns it, unverified. */
  update(ciphertext: Uint8Array, out?: Uint8Array): Uint8Array;
  /** Ends the message: returns if `tag` verifies, throws AuthenticationError if not. */
  finish(tag: Uint8Array): void;
  /** Abandons the message (after a failure elsewhere); finish() already does this. */
  dispose(): void;
}

export interface Eax {
  readonly engine: EngineName;
  readonly keyLength: 16 | 24 | 32;
  /** The tag length this context writes and the only one it accepts. */
  readonly tagLength: number;
  encrypt(nonce: Uint8Array, plaintext: Uint8Array, options?: EncryptOptions): Sealed;
  decrypt(nonce: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, options?: DecryptOptions): Uint8Array;
  /**
   * encrypt() without allocating the ciphertext: it is written to `out` (plaintext.length bytes),
   * which is `plaintext` itself (in place) or does not overlap it. Returns the tag.
   */
  encryptInto(nonce: Uint8Array, plaintext: Uint8Array, out: Uint8Array, options?: EncryptOptions): Uint8Array;
  /**
   * decrypt() without allocating the plaintext: it is written to `out` (ciphertext.length bytes),
   * which is `ciphertext` itself (in place) or does not overlap it, and must not overlap the tag.
   * If the tag does not verify, `out` is wiped (in place, the ciphertext is lost) and AuthenticationError thrown.
   */
  decryptInto(nonce: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, out: Uint8Array, options?: DecryptOptions): void;
  start(nonce: Uint8Array): EaxEncryptor;
  startDecrypt(nonce: Uint8Array): EaxDecryptor;
  startUnverifiedDecrypt(nonce: Uint8Array): EaxUnverifiedDecryptor;
  /** Wipes the key schedule; the object refuses further use. */
  dispose(): void;
}

export function createBackend(key: Uint8Array, engine: EngineName = 'wasm'): CipherBackend {
  check.aesKey(key);
  if (engine === 'wasm') return new WasmBackend(key);
  if (engine === 'native') return new NativeBackend(key);
  throw new InputError(`engine must be 'wasm' or 'native', got ${String(engine)}`);
}

function overlaps(a: Uint8Array, b: Uint8Array): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;
}

/** An output for `input`: as long as it, and either the same bytes (in place) or apart from them. */
function output(out: unknown, input: Uint8Array, what: string): Uint8Array {
  const o = check.bytes(out, 'output');
  if (o.length !== input.length) throw new InputError(`output must be as long as the ${what} (${input.length} bytes), got ${o.length} bytes`);
  const inPlace = o.buffer === input.buffer && o.byteOffset === input.byteOffset;
  if (!inPlace && overlaps(o, input)) throw new InputError(`output must be the ${what} itself (in place) or not overlap it`);
  return o;
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

/** A piece's output: `out` (checked against the piece) or a new array. */
function pieceOutput(out: Uint8Array | undefined, input: Uint8Array, what: string): Uint8Array {
  return out === undefined ? new Uint8Array(input.length) : output(out, input, what);
}

/** What the incremental encryptor and decryptor share: one message's state, its lifecycle, and checked pieces. */
abstract class IncrementalMessage {
  private readonly life: Lifecycle;
  constructor(
    private readonly state: EaxState,
    what: string,
  ) {
    this.life = new Lifecycle(what);
  }

  updateHeader(header: Uint8Array): this {
    this.life.check();
    this.state.header(check.bytes(header, 'header'));
    return this;
  }

  /** Encrypts (a plaintext piece) or decrypts (a ciphertext piece) into `out` or a new array. */
  protected piece(input: Uint8Array, out: Uint8Array | undefined, what: 'plaintext' | 'ciphertext'): Uint8Array {
    this.life.check();
    const into = pieceOutput(out, check.bytes(input, what), what);
    if (what === 'plaintext') this.state.encryptInto(input, into);
    else this.state.decryptInto(input, into);
    return into;
  }

  /** Refuses use once the message ended. */
  protected live(): void {
    this.life.check();
  }

  /** Ends the message and returns its full tag (the caller wipes what it does not return). */
  protected end(): Uint8Array {
    this.life.finish();
    const full = this.state.tag();
    this.state.dispose();
    return full;
  }

  dispose(): void {
    this.state.dispose();
  }
}

class Encryptor extends IncrementalMessage implements EaxEncryptor {
  constructor(
    state: EaxState,
    private readonly tagLength: number,
  ) {
    super(state, 'EAX encryptor');
  }
  update(plaintext: Uint8Array, out?: Uint8Array): Uint8Array {
    return this.piece(plaintext, out, 'plaintext');
  }
  final(): Uint8Array {
    const full = this.end();
    const tag = full.slice(0, this.tagLength);
    full.fill(0);
    return tag;
  }
}

/** A tag of another length than the context's does not verify (pycryptodome refuses it too). */
function wrongTagLength(tag: Uint8Array, tagLength: number): AuthenticationError {
  return new AuthenticationError(
    `authentication failed: the tag is ${tag.length} bytes, and this EAX context accepts only ${tagLength}-byte tags (createEax(key, { tagLength }) for short tags)`,
  );
}

class UnverifiedDecryptor extends IncrementalMessage implements EaxUnverifiedDecryptor {
  constructor(
    state: EaxState,
    private readonly tagLength: number,
  ) {
    super(state, 'EAX decryptor');
  }
  update(ciphertext: Uint8Array, out?: Uint8Array): Uint8Array {
    return this.piece(ciphertext, out, 'ciphertext');
  }
  finish(tag: Uint8Array): void {
    this.live();
    check.tag(tag);
    const full = this.end();
    const ok = tag.length === this.tagLength && tagsEqual(full, tag);
    full.fill(0);
    if (!ok) throw tag.length === this.tagLength ? new AuthenticationError() : wrongTagLength(tag, this.tagLength);
  }
}

/** An UnverifiedDecryptor whose pieces stay inside until the tag verified. */
class Decryptor implements EaxDecryptor {
  private readonly parts: Uint8Array[] = [];
  private total = 0;
  constructor(private readonly inner: UnverifiedDecryptor) {}
  updateHeader(header: Uint8Array): EaxDecryptor {
    this.inner.updateHeader(header);
    return this;
  }
  update(ciphertext: Uint8Array): void {
    const part = this.inner.update(ciphertext);
    this.parts.push(part);
    this.total += part.length;
  }
  verify(tag: Uint8Array): Uint8Array {
    try {
      this.inner.finish(tag);
    } catch (err) {
      if (err instanceof AuthenticationError) for (const p of this.parts.splice(0)) p.fill(0);
      throw err;
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
  readonly tagLength: number;

  constructor(key: Uint8Array, engine: EngineName, tagLength: number) {
    this.tagLength = check.tagLength(tagLength);
    this.backend = createBackend(key, engine);
    this.engine = engine;
    this.keyLength = this.backend.keyLength;
  }

  private live(): CipherBackend {
    if (!this.backend) throw new InputError('this EAX object was disposed; create a new one with createEax(key)');
    return this.backend;
  }

  encrypt(nonce: Uint8Array, plaintext: Uint8Array, options: EncryptOptions = {}): Sealed {
    // A non-array plaintext gets an empty output here and is refused, by name, in encryptInto.
    const ciphertext = new Uint8Array(plaintext instanceof Uint8Array ? plaintext.length : 0);
    return { ciphertext, tag: this.encryptInto(nonce, plaintext, ciphertext, options) };
  }

  decrypt(nonce: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, options: DecryptOptions = {}): Uint8Array {
    const plaintext = new Uint8Array(ciphertext instanceof Uint8Array ? ciphertext.length : 0);
    this.decryptInto(nonce, ciphertext, tag, plaintext, options);
    return plaintext;
  }

  encryptInto(nonce: Uint8Array, plaintext: Uint8Array, out: Uint8Array, options: EncryptOptions = {}): Uint8Array {
    const { tagLength } = this;
    check.bytes(plaintext, 'plaintext');
    output(out, plaintext, 'plaintext');
    if (options.header !== undefined) check.bytes(options.header, 'header');
    const state = this.live().eax(check.nonce(nonce, false));
    try {
      if (options.header !== undefined) state.header(options.header);
      state.encryptInto(plaintext, out);
      return state.tag().slice(0, tagLength);
    } finally {
      state.dispose();
    }
  }

  decryptInto(nonce: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, out: Uint8Array, options: DecryptOptions = {}): void {
    check.bytes(ciphertext, 'ciphertext');
    output(out, ciphertext, 'ciphertext');
    check.tag(tag);
    if (tag.length !== this.tagLength) throw wrongTagLength(tag, this.tagLength);
    // The tag is compared after `out` is written.
    if (overlaps(out, tag)) throw new InputError('output must not overlap the tag');
    if (options.header !== undefined) check.bytes(options.header, 'header');
    const state = this.live().eax(check.nonce(nonce, false));
    let ok = false;
    try {
      if (options.header !== undefined) state.header(options.header);
      state.decryptInto(ciphertext, out);
      const full = state.tag();
      ok = tagsEqual(full, tag);
      full.fill(0);
    } finally {
      state.dispose();
      if (!ok) out.fill(0);
    }
    if (!ok) throw new AuthenticationError();
  }

  start(nonce: Uint8Array): EaxEncryptor {
    return new Encryptor(this.live().eax(check.nonce(nonce, false)), this.tagLength);
  }

  startDecrypt(nonce: Uint8Array): EaxDecryptor {
    return new Decryptor(this.startUnverifiedDecrypt(nonce));
  }

  startUnverifiedDecrypt(nonce: Uint8Array): UnverifiedDecryptor {
    return new UnverifiedDecryptor(this.live().eax(check.nonce(nonce, false)), this.tagLength);
  }

  dispose(): void {
    this.backend?.dispose();
    this.backend = undefined;
  }
}

/** AES-EAX under `key` (16, 24 or 32 bytes) on the WASM engine (default) or node:crypto, with `tagLength`-byte tags (default 16). */
export function createEax(key: Uint8Array, options: EaxOptions = {}): Eax {
  return new EaxCipher(key, options.engine ?? 'wasm', options.tagLength ?? 16);
}
