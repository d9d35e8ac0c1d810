import { mkdir, open, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { SealcamError } from '../errors.js';
import { fsError, writeAtomic, writeFileAtomic } from '../io/atomic.js';
import { alreadyExists, checkExpiry, checkFolder, checkMetadata, checkName, listPrefix, measure, newestFirst, sourceFailed } from './index.js';
import type { BlobInfo, BlobStore, ListOptions, PutOptions } from './store.js';

/**
 * Blobs as files under one directory, named as in the cloud stores (`cam-01/2024/05/01/x.sealed`).
 * A put streams into a hidden temp file beside the target and renames it into place, so a failed
 * or aborted upload leaves nothing under the name. Metadata lives in a hidden sidecar
 * `.<file>.meta.json`, written atomically before the data is renamed into place. Names never start
 * with '.', so hidden files (sidecars, temp files) are never blobs.
 */

interface Sidecar {
  metadata: Record<string, string>;
  contentType?: string;
}

export class LocalStore implements BlobStore {
  readonly kind = 'local';
  readonly dir: string;

  constructor(dir: string) {
    if (typeof dir !== 'string' || dir.length === 0) throw new SealcamError('ECONFIG', 'store.dir must name a directory');
    this.dir = resolve(dir);
  }

  private pathOf(name: string): string {
    return join(this.dir, ...checkName(name).split('/'));
  }

  private static sidecarOf(path: string): string {
    return join(dirname(path), `.${basename(path)}.meta.json`);
  }

  async put(name: string, body: Readable | Uint8Array, options: PutOptions = {}): Promise<BlobInfo> {
    const source = measure(body, options.size);
    let path = this.dir;
    let sidecar: Sidecar;
    try {
      path = this.pathOf(name);
      sidecar = { metadata: checkMetadata(options.metadata), contentType: options.contentType };
      await mkdir(dirname(path), { recursive: true });
      const writeSidecar = () => writeFileAtomic(LocalStore.sidecarOf(path), Buffer.from(JSON.stringify(sidecar)), { force: true });
      const ifAbsent = options.ifAbsent === true;
      // The metadata is in place before the blob takes its name, so a listed blob always has it;
      // except for a create-only put, whose sidecar must not be written until the name is ours.
      await writeAtomic(path, { force: !ifAbsent, mode: 0o644, what: 'store blob' }, async (file) => {
        // Chunk by chunk: memory stays bounded and the source's pace sets ours.
        if (body instanceof Uint8Array) await file.write(body);
        else {
          for await (const chunk of source.stream) {
            await file.write(chunk as Buffer);
            options.onProgress?.(source.bytes());
          }
        }
        if (!ifAbsent) await writeSidecar();
      });
      if (ifAbsent) await writeSidecar();
    } catch (err) {
      const failure = source.failure();
      if (failure) throw sourceFailed(name, this.dir, failure);
      if ((err as SealcamError).code === 'EEXIST') throw alreadyExists(name, `the local store ${this.dir}`);
      throw fsError(err, 'store blob', path);
    } finally {
      source.close();
    }
    return (await this.head(name)) ?? { name, size: source.bytes(), lastModified: new Date(), ...sidecar };
  }

  async get(name: string): Promise<Readable> {
    const path = this.pathOf(name);
    // Opening first turns a missing blob into a rejected promise rather than a later stream error.
    const file = await open(path, 'r').catch((err) => {
      throw fsError(err, 'read blob', path);
    });
    return file.createReadStream();
  }

  async head(name: string): Promise<BlobInfo | undefined> {
    const path = this.pathOf(name);
    const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
      throw fsError(err, 'inspect blob', path);
    });
    if (!info?.isFile()) return undefined;
    const sidecar = await LocalStore.readSidecar(path);
    return { name, size: info.size, lastModified: info.mtime, metadata: sidecar.metadata, contentType: sidecar.contentType };
  }

  private static async readSidecar(path: string): Promise<Sidecar> {
    try {
      const parsed = JSON.parse(await readFile(LocalStore.sidecarOf(path), 'utf8')) as Partial<Sidecar>;
      return { metadata: parsed.metadata ?? {}, contentType: parsed.contentType };
    } catch {
      // A blob copied in by hand has no sidecar; it is still a blob.
      return { metadata: {} };
    }
  }

  async list(options: ListOptions = {}): Promise<BlobInfo[]> {
    const prefix = listPrefix(options);
    if (prefix === undefined) return [];
    // Walk only below the prefix's directory part.
    const base = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
    const found: { name: string; size: number; lastModified: Date }[] = [];
    const walk = async (relative: string): Promise<void> => {
      const dir = join(this.dir, relative);
      const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return [];
        throw fsError(err, 'list', dir);
      });
      for (const entry of entries) {
        if (entry.name.startsWith('.')) continue;
        const name = relative + entry.name;
        if (entry.isDirectory()) {
          if (prefix.startsWith(name + '/') || (name + '/').startsWith(prefix)) await walk(name + '/');
        } else if (entry.isFile() && name.startsWith(prefix)) {
          const info = await stat(join(dir, entry.name)).catch(() => undefined);
          if (info) found.push({ name, size: info.size, lastModified: info.mtime });
        }
      }
    };
    await walk(base);
    const chosen = newestFirst(found.map((b) => ({ ...b, metadata: {} })), options.limit);
    // Sidecars only for what is returned.
    for (const blob of chosen) {
      const sidecar = await LocalStore.readSidecar(this.pathOf(blob.name));
      blob.metadata = sidecar.metadata;
      if (sidecar.contentType !== undefined) blob.contentType = sidecar.contentType;
    }
    return chosen;
  }

  async folders(prefix: string): Promise<string[]> {
    const dir = join(this.dir, ...checkFolder(prefix).split('/'));
    const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return [];
      throw fsError(err, 'list', dir);
    });
    return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => `${prefix}${e.name}/`).sort();
  }

  async delete(name: string): Promise<void> {
    const path = this.pathOf(name);
    for (const file of [path, LocalStore.sidecarOf(path)]) {
      await unlink(file).catch((err: NodeJS.ErrnoException) => {
        // Deleting what is not there succeeds, as in S3.
        if (err.code !== 'ENOENT') throw fsError(err, 'delete', file);
      });
    }
  }

  /**
   * A file:// URL. Unlike the cloud stores' links it is NOT time-limited and grants nothing by
   * itself: whoever can read the file system can read the blob, before and after `expiresInSeconds`.
   */
  async link(name: string, expiresInSeconds: number): Promise<string> {
    checkExpiry(expiresInSeconds);
    const path = this.pathOf(name);
    if (!(await this.head(name))) throw fsError(Object.assign(new Error('missing'), { code: 'ENOENT' }), 'link blob', path);
    return pathToFileURL(path).href;
  }
}
