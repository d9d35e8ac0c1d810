import { SealcamError } from '../errors.js';
import { currentKek, kekFromProvider, type CurrentKek } from './kek.js';
import type { KeyProvider } from './provider.js';

/**
 * The key-encryption keys one process has fetched, so that a batch, a camera or a receiver asks
 * its key provider (a Key Vault over the network, say) once per key version rather than once per
 * image, and wipes every key it held when it is done. Versions never change, so an exact version is
 * kept until wipe(); the newest version of a name may change (a rotation), so it is asked for again
 * after `refreshMs`, and the one it replaces is wiped. A failed fetch is not kept: the next call
 * asks again.
 */

export interface KekCacheOptions {
  /** How long the newest version is reused before asking again (rotation shows within this); default: for the cache's life. */
  refreshMs?: number;
}

export class KekCache {
  private readonly versions = new Map<string, Promise<Uint8Array>>();
  private readonly newest = new Map<string, { value: Promise<CurrentKek>; at: number }>();
  private provider: Promise<KeyProvider> | undefined;

  /** `provider` may be a function that creates it, called on first use only. */
  constructor(
    private readonly source: KeyProvider | (() => Promise<KeyProvider>),
    private readonly options: KekCacheOptions = {},
  ) {}

  private keys(): Promise<KeyProvider> {
    return (this.provider ??= typeof this.source === 'function' ? this.source() : Promise.resolve(this.source));
  }

  /** The newest version of `name`, created on first use. */
  current(name: string): Promise<CurrentKek> {
    const cached = this.newest.get(name);
    const refreshMs = this.options.refreshMs ?? Infinity;
    if (cached && performance.now() - cached.at < refreshMs) return cached.value;
    const value = this.keys().then((provider) => currentKek(provider, name));
    this.newest.set(name, { value, at: performance.now() });
    value.then(
      // The replaced key is wiped once its successor is here (a seal that already read it is done with it).
      (fresh) => cached?.value.then((old) => old.kek !== fresh.kek && old.kek.fill(0), () => undefined),
      () => {
        if (this.newest.get(name)?.value === value) this.newest.delete(name);
      },
    );
    return value;
  }

  /**
   * Exactly `version` of `name`, as a sealed header or sidecar records it ('' means the newest, as
   * a sidecar may say). A name the provider cannot hold (it refuses it as input) is an unknown key.
   */
  get(name: string, version: string): Promise<Uint8Array> {
    const id = `${name}\0${version}`;
    let key = this.versions.get(id);
    if (key === undefined) {
      key = this.keys()
        .then(async (provider) => {
          const wanted = version !== '' ? version : (await provider.list(name))[0]?.version;
          if (wanted === undefined) throw new SealcamError('ENOKEY', `key ${name} has no versions`);
          return kekFromProvider(provider)(name, wanted);
        })
        .catch((err: unknown) => {
          this.versions.delete(id);
          if ((err as SealcamError).code !== 'EINPUT') throw err;
          throw new SealcamError('ENOKEY', `the file names key ${JSON.stringify(name.slice(0, 64))}, which the key provider cannot hold`);
        });
      this.versions.set(id, key);
    }
    return key;
  }

  /** get(), bound: what the sealed format's OpenOptions.kek takes. */
  readonly lookup = (name: string, version: string): Promise<Uint8Array> => this.get(name, version);

  /** Wipes every key this cache fetched and forgets them. */
  async wipe(): Promise<void> {
    const pending = [...this.versions.values(), ...[...this.newest.values()].map((n) => n.value.then((k) => k.kek))];
    this.versions.clear();
    this.newest.clear();
    for (const result of await Promise.allSettled(pending)) if (result.status === 'fulfilled') result.value.fill(0);
  }
}
