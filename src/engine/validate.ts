import { InputError } from '../errors.js';

/** Validation at the binding boundary; both engines call these so they refuse the same inputs. */

export function bytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    throw new InputError(`${what} must be a Uint8Array (or Buffer), got ${got}`);
  }
  return value;
}

export function aesKey(value: unknown, what = 'key'): Uint8Array {
  const key = bytes(value, what);
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
    throw new InputError(`${what} must be 16, 24 or 32 bytes (AES-128/192/256), got ${key.length} bytes`);
  }
  return key;
}

export function tagLength(value: unknown): number {
  if (value === undefined) return 16;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 16) {
    throw new InputError(`tag length must be an integer from 1 to 16 bytes, got ${String(value)}`);
  }
  return value;
}

export function nonce(value: unknown, allowEmpty: boolean): Uint8Array {
  const n = bytes(value, 'nonce');
  if (n.length === 0 && !allowEmpty) throw new InputError('nonce must be at least 1 byte long (16 recommended)');
  return n;
}

export function tag(value: unknown): Uint8Array {
  const t = bytes(value, 'tag');
  if (t.length < 1 || t.length > 16) throw new InputError(`tag must be 1 to 16 bytes, got ${t.length} bytes`);
  return t;
}
