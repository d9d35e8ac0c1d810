import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SealcamError } from '../errors.js';
import { fsError } from '../io/atomic.js';
import { DEVICE_ID } from '../formats/sealed-header.js';
import type { BlobStore } from '../storage/store.js';
import { readKeyText } from './keyfile.js';
import { MAX_KEY_TEXT } from './keytext.js';
import { DeviceRegistry, type RegistryOptions, type RegistrySource } from './registry.js';

/**
 * Where a device registry's entries live on Node: files `<dir>/<device-id>.pub`, or blobs under a
 * prefix of a store (so a receiver in the cloud reads the same files from Azure Blob or S3). The
 * registry's rules are registry.ts's, shared with the browser build.
 */

const ENTRY = /^(.+)\.pub$/;

/** Entries as files `<dir>/<device-id>.pub`. */
export function directorySource(dir: string): RegistrySource {
  return {
    where: `registry directory ${dir}`,
    async read(deviceId) {
      try {
        return await readKeyText(join(dir, `${deviceId}.pub`), 'registry entry');
      } catch (err) {
        if (err instanceof SealcamError && err.code === 'ENOENT') return undefined;
        throw err;
      }
    },
    async list() {
      const names = await readdir(dir).catch((err: unknown) => {
        throw fsError(err, 'list registry directory', dir);
      });
      return idsOf(names);
    },
  };
}

/** Entries as blobs `<prefix><device-id>.pub` of `store` (prefix empty or ending in '/'). */
export function blobStoreSource(store: BlobStore, prefix: string): RegistrySource {
  if (prefix !== '' && !prefix.endsWith('/')) throw new SealcamError('ECONFIG', `registry prefix ${JSON.stringify(prefix)} must be empty or end with '/'`);
  const where = `registry ${store.kind} store prefix ${JSON.stringify(prefix)}`;
  return {
    where,
    async read(deviceId) {
      const name = `${prefix}${deviceId}.pub`;
      // Blob names cannot start a part with '.': such a device can have no entry there.
      if (deviceId.startsWith('.')) return undefined;
      const info = await store.head(name);
      if (info === undefined) return undefined;
      if (info.size > MAX_KEY_TEXT) throw new SealcamError('EKEYSIZE', `registry entry ${name} in ${where} holds ${info.size} bytes; an entry holds a few lines`);
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of await store.get(name)) {
        size += (chunk as Buffer).length;
        if (size > MAX_KEY_TEXT) throw new SealcamError('EKEYSIZE', `registry entry ${name} in ${where} grew past ${MAX_KEY_TEXT} bytes while read`);
        chunks.push(chunk as Buffer);
      }
      return Buffer.concat(chunks).toString('utf8');
    },
    async list() {
      return idsOf((await store.list({ prefix })).map((b) => b.name.slice(prefix.length)));
    },
  };
}

/** Device ids from entry names (`<id>.pub`), skipping anything else. */
function idsOf(names: string[]): string[] {
  return names
    .map((name) => ENTRY.exec(name)?.[1])
    .filter((id): id is string => id !== undefined && DEVICE_ID.test(id))
    .sort();
}

/** A registry of the entries in directory `dir`. */
export function registryDirectory(dir: string, options?: RegistryOptions): DeviceRegistry {
  return new DeviceRegistry(directorySource(dir), options);
}

/** A registry of the entries under `prefix` of `store`. */
export function registryInStore(store: BlobStore, prefix: string, options?: RegistryOptions): DeviceRegistry {
  return new DeviceRegistry(blobStoreSource(store, prefix), options);
}
