import { basename, extname } from 'node:path';
import type { SealcamConfig } from '../config.js';
import { SealcamError } from '../errors.js';
import { createKeyProvider } from '../keys/index.js';
import { currentKek, kekFromProvider } from '../keys/kek.js';
import { readKeyFile } from '../keys/keyfile.js';
import type { KeyProvider } from '../keys/provider.js';
import type { KeyLookup, SealingKey } from './layouts.js';

/**
 * Where `encrypt` and `decrypt` get their keys: a key file (-k), or else the configured key
 * provider. Keys are fetched once per run and wiped when it ends, so a batch of a hundred files
 * reads its key once.
 */
export class CryptKeys {
  private provider: Promise<KeyProvider> | undefined;
  private sealingKey: Promise<SealingKey> | undefined;
  private readonly opened = new Map<string, Promise<Uint8Array>>();

  private constructor(
    private readonly config: SealcamConfig,
    private readonly file?: { key: Uint8Array; name: string },
  ) {}

  /**
   * With a key file, files are sealed under the name `keyName` (default: the file's base name
   * without extension) and version "1"; without one, under the newest version of keys.name.
   */
  static async load(config: SealcamConfig, keyFile: string | undefined, keyName: string | undefined): Promise<CryptKeys> {
    if (keyFile === undefined) return new CryptKeys(config);
    const key = await readKeyFile(keyFile);
    return new CryptKeys(config, { key, name: keyName ?? (basename(keyFile, extname(keyFile)) || 'key') });
  }

  get fromFile(): boolean {
    return this.file !== undefined;
  }

  /** The key file's key, for the raw layout, which records no key name. */
  fileKey(why: string): Uint8Array {
    if (this.file === undefined) throw new SealcamError('ENOKEY', `${why} needs -k/--key-file: the raw layout records no key name to look up`);
    return this.file.key;
  }

  private keyProvider(): Promise<KeyProvider> {
    return (this.provider ??= createKeyProvider(this.config));
  }

  /** The key new files are sealed under (created on first use when it comes from the provider). */
  sealing(): Promise<SealingKey> {
    if (this.file !== undefined) return Promise.resolve({ key: this.file.key, name: this.file.name, version: '1' });
    return (this.sealingKey ??= this.keyProvider().then(async (provider) => {
      const { kek, keyId, keyVersion } = await currentKek(provider, this.config.keys.name);
      return { key: kek, name: keyId, version: keyVersion };
    }));
  }

  /** Looks up the key a header or sidecar names: exactly that version, so files sealed before a rotation still open. */
  readonly lookup: KeyLookup = async (name, version) => {
    if (this.file !== undefined) return this.file.key;
    const id = `${name}\0${version}`;
    let key = this.opened.get(id);
    if (key === undefined) {
      key = this.keyProvider().then(async (provider) => {
        // A sidecar may leave the version empty, meaning the provider's newest.
        const wanted = version !== '' ? version : (await provider.list(name))[0]?.version;
        if (wanted === undefined) throw new SealcamError('ENOKEY', `key ${name} has no versions`);
        // kekFromProvider's declared type also admits a fixed key; what it returns is always this lookup.
        return (kekFromProvider(provider) as KeyLookup)(name, wanted);
      });
      this.opened.set(id, key);
    }
    return key;
  };

  /** Wipes every key this run fetched. */
  async wipe(): Promise<void> {
    this.file?.key.fill(0);
    const pending = [...this.opened.values()];
    if (this.sealingKey) pending.push(this.sealingKey.then((k) => k.key));
    for (const result of await Promise.allSettled(pending)) if (result.status === 'fulfilled') result.value.fill(0);
  }
}
