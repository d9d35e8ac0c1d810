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

/** One of the two messages of encryptTwoInto / decryptTwoInto. */
export interface MessagePart {
  nonce: Uint8Array;
  /** The plaintext to encrypt, or the ciphertext to decrypt. */
  input: Uint8Array;
  /** Where the result goes: `input` itself (in place) or apart from both messages. */
  out: Uint8Array;
}

export interface Eax {
  readonly engine: EngineName;
  readonly keyLength: 16 | 24 | 32;
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
  /**
   * encryptInto() on two messages of the same length and options at once; returns both tags. The
   * WASM engine interleaves them, so two messages take less time than one after the other (the
   * sealed format seals its segments in pairs this way).
   */
  encryptTwoInto(first: MessagePart, second: MessagePart, options?: EncryptOptions): [Uint8Array, Uint8Array];
  /**
   * decryptInto() on two messages at once. If either tag fails, both outputs are wiped and the
   * AuthenticationError's `which` says which message failed (0 or 1; 0 if both did).
   */
  decryptTwoInto(first: MessagePart & { tag: Uint8Array }, second: MessagePart & { tag: Uint8Array }, options?: DecryptOptions): void;
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

/** Two messages' inputs and outputs: each output valid for its input, and the messages apart. */
function outputsOfTwo(first: MessagePart, second: MessagePart, what: string): void {
  check.bytes(first.input, what);
  check.bytes(second.input, what);
  output(first.out, first.input, what);
  output(second.out, second.input, what);
  if (first.input.length !== second.input.length) {
    throw new InputError(`the two messages must be of one length, got ${first.input.length} and ${second.input.length} bytes`);
  }
  if (overlaps(first.out, second.input) || overlaps(first.out, second.out) || overlaps(second.out, first.input)) {
    throw new InputError('the two messages must not overlap each other');
  }
}

/** Two messages begun under one header for `work`, and disposed after it. Inputs are checked by the caller. */
function withTwo<T>(
  backend: CipherBackend,
  nonces: readonly [Uint8Array, Uint8Array],
  header: Uint8Array | undefined,
  work: (a: EaxState, b: EaxState) => T,
): T {
  const a = backend.eax(nonces[0]);
  const b = backend.eax(nonces[1]);
  try {
    if (header !== undefined) {
      a.header(header);
      b.header(header);
    }
    return work(a, b);
  } finally {
    a.dispose();
    b.dispose();
  }
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
    const tagLength = check.tagLength(options.tagLength);
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
    check.tag(tag);
    output(out, ciphertext, 'ciphertext');
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

  encryptTwoInto(first: MessagePart, second: MessagePart, options: EncryptOptions = {}): [Uint8Array, Uint8Array] {
    const tagLength = check.tagLength(options.tagLength);
    outputsOfTwo(first, second, 'plaintext');
    if (options.header !== undefined) check.bytes(options.header, 'header');
    const nonces = [check.nonce(first.nonce, false), check.nonce(second.nonce, false)] as const;
    return withTwo(this.live(), nonces, options.header, (a, b) => {
      a.encryptIntoWith(b, first.input, first.out, second.input, second.out);
      return [a.tag().slice(0, tagLength), b.tag().slice(0, tagLength)];
    });
  }

  decryptTwoInto(first: MessagePart & { tag: Uint8Array }, second: MessagePart & { tag: Uint8Array }, options: DecryptOptions = {}): void {
    outputsOfTwo(first, second, 'ciphertext');
    check.tag(first.tag);
    check.tag(second.tag);
    // The tags are compared after the outputs are written.
    for (const out of [first.out, second.out]) {
      if (overlaps(out, first.tag) || overlaps(out, second.tag)) throw new InputError('output must not overlap a tag');
    }
    if (options.header !== undefined) check.bytes(options.header, 'header');
    const nonces = [check.nonce(first.nonce, false), check.nonce(second.nonce, false)] as const;
    const backend = this.live();
    let failed: number | undefined = 0;
    try {
      failed = withTwo(backend, nonces, options.header, (a, b) => {
        a.decryptIntoWith(b, first.input, first.out, second.input, second.out);
        const fullA = a.tag();
        const fullB = b.tag();
        const okA = tagsEqual(fullA, first.tag);
        const okB = tagsEqual(fullB, second.tag);
        fullA.fill(0);
        fullB.fill(0);
        return !okA ? 0 : !okB ? 1 : undefined;
      });
    } finally {
      if (failed !== undefined) {
        first.out.fill(0);
        second.out.fill(0);
      }
    }
    if (failed !== undefined) throw new AuthenticationError(undefined, failed);
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
