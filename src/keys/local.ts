import { mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SealcamError } from '../errors.js';
import { fsError } from '../io/atomic.js';
import { generateKey, keyLength, type KeyBits } from './index.js';
import { readKeyFile, writeKeyFile } from './keyfile.js';
import type { KeyMaterial, KeyProvider, KeyVersion } from './provider.js';

/**
 * A keyring directory on the device: `<dir>/<name>/<version>.key`, one raw key file (mode 0600)
 * per version, numbered 1, 2, 3 ...; the highest number is the newest. Directories are created
 * 0700. Key files are read through readKeyFile, so a file others can read is refused.
 */

/** A first letter or digit keeps '.', '..' and hidden names (our temp files) out of the keyring. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const VERSION = /^[1-9][0-9]{0,8}$/;
const KEY_FILE = /^([1-9][0-9]{0,8})\.key$/;

export function checkKeyName(name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new SealcamError(
      'EINPUT',
      `key name ${JSON.stringify(name)} is not valid: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return name;
}

/** A key version just written to the keyring: the file to back up. */
export interface CreatedKey {
  name: string;
  version: string;
  /** The key file, absolute. */
  path: string;
}

export interface LocalKeyOptions {
  /** Called once for each version this provider writes (a new key, a rotation), so the user can be told where it is. */
  onCreated?: (key: CreatedKey) => void;
}

export class LocalKeyProvider implements KeyProvider {
  readonly kind = 'local';

  constructor(
    readonly dir: string,
    private readonly options: LocalKeyOptions = {},
  ) {
    if (typeof dir !== 'string' || dir.length === 0) throw new SealcamError('EINPUT', 'keyring directory must be a non-empty string');
    this.where = resolve(dir);
  }

  /** The keyring, absolute (as messages name it, so it can be found again from any directory). */
  private readonly where: string;

  private keyPath(name: string, version: number | string): string {
    return join(this.where, name, `${version}.key`);
  }

  /** Version numbers on disk, oldest first; a key that was never created has none. */
  private async versions(name: string): Promise<number[]> {
    let entries: string[];
    try {
      entries = await readdir(join(this.where, checkKeyName(name)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fsError(err, 'read keyring directory', join(this.where, name));
    }
    const found: number[] = [];
    for (const entry of entries) {
      const m = KEY_FILE.exec(entry);
      if (m) found.push(Number(m[1]));
    }
    return found.sort((a, b) => a - b);
  }

  private async describe(name: string, version: number | string): Promise<KeyVersion> {
    const path = this.keyPath(name, version);
    try {
      // Key files are never rewritten after creation, so the modification time is the creation time.
      const st = await stat(path);
      return { name, version: String(version), createdOn: st.mtime, enabled: true };
    } catch (err) {
      throw fsError(err, 'read key file', path);
    }
  }

  private async noVersion(name: string, version: string): Promise<SealcamError> {
    const known = await this.versions(name);
    const list = known.length > 0 ? known.join(', ') : 'none';
    return new SealcamError('ENOKEY', `key ${name} has no version ${version} in ${this.where} (versions: ${list})`);
  }

  async get(name: string, version: string): Promise<KeyMaterial> {
    checkKeyName(name);
    if (typeof version !== 'string' || !VERSION.test(version)) throw await this.noVersion(name, String(version));
    let key: Uint8Array;
    try {
      key = await readKeyFile(this.keyPath(name, version));
    } catch (err) {
      if (err instanceof SealcamError && err.code === 'ENOENT') throw await this.noVersion(name, version);
      throw err;
    }
    return { ...(await this.describe(name, version)), key };
  }

  /** Writes `version` unless it exists (then null): link(2) inside writeKeyFile never replaces a file. */
  private async tryCreate(name: string, version: number, bits: KeyBits | undefined): Promise<KeyMaterial | null> {
    const dir = join(this.where, name);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw fsError(err, 'create keyring directory', dir);
    }
    const key = generateKey(bits);
    try {
      await writeKeyFile(this.keyPath(name, version), key);
    } catch (err) {
      key.fill(0);
      if (err instanceof SealcamError && err.code === 'EEXIST') return null;
      throw err;
    }
    this.options.onCreated?.({ name, version: String(version), path: this.keyPath(name, version) });
    return { ...(await this.describe(name, version)), key };
  }

  async getOrCreate(name: string, options: { bits?: KeyBits } = {}): Promise<KeyMaterial> {
    const known = await this.versions(checkKeyName(name));
    const newest = known.at(-1);
    if (newest !== undefined) return this.get(name, String(newest));
    keyLength(options.bits);
    // Another process creating the same key at the same moment wins; then we use its version 1.
    return (await this.tryCreate(name, 1, options.bits)) ?? this.get(name, '1');
  }

  async rotate(name: string, options: { bits?: KeyBits } = {}): Promise<KeyMaterial> {
    checkKeyName(name);
    keyLength(options.bits); // refuse a bad size before touching the disk
    // A concurrent rotation may take the number we picked; then take the next one.
    for (let attempt = 0; attempt < 100; attempt++) {
      const next = ((await this.versions(name)).at(-1) ?? 0) + 1;
      const created = await this.tryCreate(name, next, options.bits);
      if (created) return created;
    }
    throw new SealcamError('EBUSY', `cannot add a version to key ${name} in ${this.where}: other processes keep taking the next number`);
  }

  async list(name: string): Promise<KeyVersion[]> {
    const known = await this.versions(checkKeyName(name));
    return Promise.all(known.reverse().map((v) => this.describe(name, v)));
  }
}
