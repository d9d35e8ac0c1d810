import { basename, extname } from 'node:path';
import type { SealcamConfig } from '../config.js';
import { SealcamError } from '../errors.js';
import type { OpenOptions } from '../formats/sealed.js';
import { KekCache } from '../keys/cache.js';
import { openingFromConfig, openOptionsFor, sealingFromConfig, sealOptionsFor, type FleetSealing } from '../keys/fleet.js';
import { createKeyProvider } from '../keys/index.js';
import { readKeyFile } from '../keys/keyfile.js';
import type { HeaderKeys, KeyLookup, SealingKey } from './layouts.js';
import { announceCreatedKey } from './output.js';

/**
 * Where `encrypt` and `decrypt` get their keys: a key file (-k), recipients (-r, with --sign), or
 * else the configured key provider through a KekCache, so a batch of a hundred files reads its key
 * once; opening also takes identities (-i) and a registry (--trust). Every key is wiped when the
 * run ends.
 */
export class CryptKeys {
  private readonly cache: KekCache;
  private readonly keyName: string;

  private constructor(
    config: SealcamConfig,
    private readonly file?: { key: Uint8Array; name: string; path: string },
    private readonly recipients?: FleetSealing,
  ) {
    this.cache = new KekCache(() => createKeyProvider(config, { onCreated: announceCreatedKey }));
    this.keyName = config.keys.name;
  }

  /**
   * With a key file, files are sealed under the name `keyName` (default: the file's base name
   * without extension) and version "1"; without one, under the newest version of keys.name.
   */
  static async load(config: SealcamConfig, keyFile: string | undefined, keyName: string | undefined): Promise<CryptKeys> {
    const recipients = await sealingFromConfig(config);
    if (keyFile === undefined) return new CryptKeys(config, undefined, recipients);
    if (recipients !== undefined) throw new SealcamError('EUSAGE', 'give -k (a shared key) or -r (recipients), not both');
    const key = await readKeyFile(keyFile);
    return new CryptKeys(config, { key, name: keyName ?? (basename(keyFile, extname(keyFile)) || 'key'), path: keyFile });
  }

  /** The -k file as the user gave it, for messages (a wrong key names the file that was passed). */
  get keyFilePath(): string | undefined {
    return this.file?.path;
  }

  /** How new sealed files hold their key: to the recipients (v2, signed with --sign), else under the KEK (v1). */
  async sealedHeader(layout: string): Promise<HeaderKeys> {
    if (this.recipients !== undefined) return sealOptionsFor(this.recipients);
    const { key, name, version } = await this.sealing(layout);
    return { kek: key, keyId: name, keyVersion: version };
  }

  /** How sealed files open: the KEK they name, the identities (-i) for files sealed to recipients, the registry (--trust). */
  async openKeys(config: SealcamConfig): Promise<Pick<OpenOptions, 'kek' | 'fileKey' | 'trust'>> {
    return { kek: this.lookup, ...openOptionsFor(await openingFromConfig(config)) };
  }

  /** The key file's key, for the raw layout, which records no key name. */
  fileKey(why: string): Uint8Array {
    if (this.file === undefined) throw new SealcamError('ENOKEY', `${why} needs -k/--key-file: the raw layout records no key name to look up`);
    return this.file.key;
  }

  /** The key new files are sealed under (created on first use when it comes from the provider); `layout` for the refusal of recipients. */
  async sealing(layout = 'sealed'): Promise<SealingKey> {
    if (this.recipients !== undefined && layout !== 'sealed') {
      throw new SealcamError('EUSAGE', `--format ${layout} holds one shared key, not recipients: seal to recipients with --format sealed`);
    }
    if (this.file !== undefined) return { key: this.file.key, name: this.file.name, version: '1' };
    const { kek, keyId, keyVersion } = await this.cache.current(this.keyName);
    return { key: kek, name: keyId, version: keyVersion };
  }

  /** Looks up the key a header or sidecar names: exactly that version, so files sealed before a rotation still open. */
  readonly lookup: KeyLookup = async (name, version) => (this.file !== undefined ? this.file.key : this.cache.get(name, version));

  /** Wipes every key this run fetched. */
  async wipe(): Promise<void> {
    this.file?.key.fill(0);
    await this.cache.wipe();
  }
}
