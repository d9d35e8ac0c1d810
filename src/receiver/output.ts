import { createHash, randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, readdir, realpath, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { SealcamError } from '../errors.js';
import { directoryRecords, RECORDS_DIR, storeRecords, type RecordSink, type RecordSource } from '../fleet/store.js';
import { fsError, writeStreamAtomic } from '../io/atomic.js';
import { checkImage, type ImageCheck, type ImageCheckOptions } from '../io/image-check.js';
import { DEVICE_ID } from '../notify/notifier.js';
import type { SealcamConfig } from '../config.js';
import { checkFolder, checkName, createStore } from '../storage/index.js';
import type { BlobStore } from '../storage/store.js';
import { describeOutput, outputProblem, parseOutputLocation } from './location.js';

/**
 * Where opened images go, exactly once however many receivers share the place. An image's name
 * depends only on the sealed blob's name (`<device>/<yyyy>/<mm>/<dd>/<name>.sealed` becomes
 * `<device>/<yyyy-mm-dd>/<name>`), so every receiver that opens a blob picks the same name, and
 * the name is taken with a create-only write: link(2) in a directory, If-None-Match: * on Azure
 * Blob and S3. The loser of a race learns "exists" and counts a duplicate; nobody makes a second
 * copy, and nothing is ever replaced.
 *
 * Bytes are staged first (a file in `<root>/.sealcam/incoming/`, or memory for an object store),
 * hashed on the way, and published under their name only once the whole stream ended without an
 * error: the open stream errors on the first segment that fails, so nothing unverified is ever
 * published, and no directory is created for an image that did not open. Quarantined blobs use the
 * same staging, named by blob and content.
 *
 * What is published can be read back by name (`read`, the dashboard's thumbnails), only strictly
 * inside the output: names come from records, which anyone who can write the output can forge.
 */

/** Opened images are plaintext: owner and group only (the umask may narrow it further). */
export const IMAGE_MODE = 0o640;

/** An object store output holds each image in memory while it is stored (one request, so the create-only check is one step). */
export const MAX_STORE_IMAGE_BYTES = 256 * 1024 * 1024;

/** Staged files of another host older than this belong to a receiver that died (a live one publishes or removes its own within seconds). */
const STALE_STAGING_MS = 60 * 60 * 1000;

/** This host in staging names, so a sweep can tell its own dead processes from other hosts' (an output directory may be shared). */
const HOST = hostname().replace(/[^A-Za-z0-9]/g, '').slice(0, 32) || 'host';
/** `<16 hex>-<host>-<pid>`, or a temp file io/atomic.ts makes of one (`.<that>.<...>.tmp`). */
const STAGING_NAME = /^\.?[0-9a-f]{16}-([A-Za-z0-9]+)-([1-9][0-9]*)(?:\..*\.tmp)?$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const DATED_BLOB = /^([^/]+)\/(\d{4})\/(\d{2})\/(\d{2})\/([^/]+)\.sealed$/;

/**
 * The output name of a blob: `<device>/<yyyy-mm-dd>/<name>` for `<device>/<yyyy>/<mm>/<dd>/<name>.sealed`
 * (the layout every sealcam writer uses), undefined for any other name. One-to-one, so two blobs
 * never share an image name.
 */
export function outputName(blobName: string): string | undefined {
  const m = DATED_BLOB.exec(blobName);
  if (!m || !DEVICE_ID.test(m[1]!) || m[5]!.startsWith('.')) return undefined;
  return `${m[1]}/${m[2]}-${m[3]}-${m[4]}/${m[5]}`;
}

export type Published = 'written' | 'exists';

type Source = Readable | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** Bytes waiting to be published under a name. */
export interface Staged {
  readonly bytes: number;
  /** SHA-256 of the bytes, lower-case hex. */
  readonly sha256: string;
  /** The image checks (image-check.ts) on the staged bytes. */
  check(options: ImageCheckOptions): Promise<ImageCheck>;
  /** Creates `name` from the staged bytes unless it exists; either way the staging is gone after. */
  publish(name: string, options?: { contentType?: string }): Promise<Published>;
  /** Drops the staged bytes without publishing them. */
  discard(): Promise<void>;
}

export interface Output {
  /** For messages: the directory, or azure://container/prefix, s3://bucket/prefix. */
  readonly where: string;
  /** Stages `source` whole; rejects, leaving nothing, if the stream errors. */
  stage(source: Source): Promise<Staged>;
  /** Whether something is published under `name`. */
  has(name: string): Promise<boolean>;
  /** Where `name` is, for messages and results: a path, or a URL-like location. */
  locate(name: string): string;
  /** The names published directly in `folder` (`<device>/<yyyy-mm-dd>/`), for reconciling. */
  names(folder: string): Promise<Set<string>>;
  /** Creates `name` holding `data` unless it exists (small files: quarantine reports). */
  create(name: string, data: Uint8Array, contentType?: string): Promise<Published>;
  /** The fleet records receivers keep beside the images (`.sealcam/`), for the dashboard. */
  readonly records: RecordSource & RecordSink;
  /**
   * The bytes published under `name` (a '/'-separated relative name, as records give it), or
   * undefined when there is none or the name would leave the output ('..', an absolute path, a
   * link out of a directory output). More than `maxBytes` is refused (ETOOLARGE) before it is read.
   */
  read(name: string, maxBytes: number): Promise<Uint8Array | undefined>;
  /** The output for a subfolder (`<prefix>/`), such as the quarantine of a store output. */
  under(prefix: string): Output;
  /** Removes staging a receiver that died left behind. */
  sweep(): Promise<void>;
}

/** Passes chunks through while hashing and counting them. */
async function* hashed(source: Source, hash: ReturnType<typeof createHash>, count: (n: number) => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    hash.update(chunk as Uint8Array);
    count((chunk as Uint8Array).length);
    yield chunk as Uint8Array;
  }
}

const exists = (path: string) =>
  lstat(path).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return false;
      throw fsError(err, 'inspect', path);
    },
  );

async function syncDirectory(dir: string): Promise<void> {
  try {
    const fd = await open(dir, 'r');
    try {
      await fd.sync();
    } finally {
      await fd.close();
    }
  } catch {
    /* some platforms cannot open a directory: best effort, as io/atomic.ts */
  }
}

/** A relative '/'-separated name with no empty, '.' or '..' part and no backslash: the only names `read` looks up. */
const relativeName = (name: string) => name !== '' && !name.includes('\\') && name.split('/').every((part) => part !== '' && part !== '.' && part !== '..');

const tooLarge = (name: string, size: number, maxBytes: number) => new SealcamError('ETOOLARGE', `${name} is ${size} bytes, more than the ${maxBytes} read back from an output`);

/** `name` inside `root`, or undefined when it would leave it (by '..', an absolute path or a link) or is missing. */
export async function pathInside(root: string, name: string): Promise<string | undefined> {
  if (!relativeName(name) || isAbsolute(name)) return undefined;
  const path = resolve(root, ...name.split('/'));
  const inside = (base: string, p: string) => {
    const rel = relative(base, p);
    return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
  };
  if (!inside(resolve(root), path)) return undefined;
  try {
    const [realRoot, realPath] = await Promise.all([realpath(root), realpath(path)]);
    return inside(realRoot, realPath) ? realPath : undefined;
  } catch {
    return undefined; // missing
  }
}

/** A directory output: images at `<root>/<name>`, staging in `<root>/.sealcam/incoming/`. */
export function directoryOutput(root: string): Output {
  const base = resolve(root);
  const incoming = join(base, RECORDS_DIR, 'incoming');
  const pathOf = (name: string) => join(base, ...name.split('/'));
  const output: Output = {
    where: base,

    async stage(source) {
      await mkdir(incoming, { recursive: true, mode: 0o700 }).catch((err) => {
        throw fsError(err, 'create staging directory', incoming);
      });
      const staging = join(incoming, `${randomBytes(8).toString('hex')}-${HOST}-${process.pid}`);
      const hash = createHash('sha256');
      let bytes = 0;
      // Atomic itself: the staging file appears only once the stream ended well (and is fsynced).
      await writeStreamAtomic(staging, hashed(source, hash, (n) => (bytes += n)), { mode: IMAGE_MODE, what: 'stage image' });
      const sha256 = hash.digest('hex');
      const discard = () => unlink(staging).catch(() => undefined);
      return {
        bytes,
        sha256,
        check: (options) => checkImage(staging, options),
        async publish(name) {
          const path = pathOf(name);
          try {
            await mkdir(dirname(path), { recursive: true }).catch((err) => {
              throw fsError(err, 'create output directory', dirname(path));
            });
            // link(2) never replaces: of several receivers publishing one name, exactly one succeeds.
            await link(staging, path);
            await syncDirectory(dirname(path));
            return 'written';
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
            throw fsError(err, 'publish image', path);
          } finally {
            await discard();
          }
        },
        discard,
      };
    },

    has: (name) => exists(pathOf(name)),

    locate: pathOf,

    async names(folder) {
      const dir = pathOf(folder.replace(/\/$/, ''));
      const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return [];
        throw fsError(err, 'list', dir);
      });
      return new Set(entries.filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => e.name));
    },

    async create(name, data) {
      const staged = await output.stage([data]);
      return staged.publish(name);
    },

    async read(name, maxBytes) {
      const path = await pathInside(base, name);
      if (path === undefined) return undefined;
      const fd = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'EISDIR') return undefined;
        throw fsError(err, 'read', path);
      });
      if (fd === undefined) return undefined;
      try {
        const info = await fd.stat();
        if (!info.isFile()) return undefined;
        if (info.size > maxBytes) throw tooLarge(name, info.size, maxBytes);
        const data = new Uint8Array(info.size);
        const { bytesRead } = await fd.read(data, 0, info.size, 0);
        return data.subarray(0, bytesRead);
      } finally {
        await fd.close();
      }
    },

    records: directoryRecords(base),

    under: (prefix) => directoryOutput(join(base, ...prefix.split('/').filter(Boolean))),

    async sweep() {
      const entries = await readdir(incoming).catch(() => [] as string[]);
      const now = Date.now();
      for (const entry of entries) {
        const path = join(incoming, entry);
        const info = await lstat(path).catch(() => undefined);
        if (!info?.isFile()) continue;
        const m = STAGING_NAME.exec(entry);
        const pid = Number(m?.[2]);
        // This host's: stale once its process is gone. Another host's (a shared directory): by age.
        const dead = m?.[1] === HOST ? pid !== process.pid && !alive(pid) : now - info.mtimeMs > STALE_STAGING_MS;
        if (dead) await unlink(path).catch(() => undefined);
      }
    },
  };
  return output;
}

/** An object-store output: images at `<prefix><name>` in `store`, each staged in memory and put create-only. */
export function storeOutput(store: BlobStore, prefix: string, where: string): Output {
  const output: Output = {
    where,

    async stage(source) {
      const hash = createHash('sha256');
      const chunks: Uint8Array[] = [];
      let bytes = 0;
      for await (const chunk of hashed(source, hash, (n) => (bytes += n))) {
        if (bytes > MAX_STORE_IMAGE_BYTES) {
          throw new SealcamError('ETOOLARGE', `an image larger than ${MAX_STORE_IMAGE_BYTES} bytes cannot go to ${where} (it is stored in one request): use a directory output`);
        }
        chunks.push(chunk);
      }
      let data: Buffer | undefined = Buffer.concat(chunks, bytes);
      chunks.length = 0;
      const sha256 = hash.digest('hex');
      return {
        bytes,
        sha256,
        check: (options) => checkImage(data ?? new Uint8Array(0), options),
        async publish(name, options = {}) {
          try {
            await store.put(`${prefix}${name}`, data!, { ifAbsent: true, size: bytes, ...(options.contentType ? { contentType: options.contentType } : {}) });
            return 'written';
          } catch (err) {
            if ((err as SealcamError).code === 'EEXIST') return 'exists';
            throw err;
          } finally {
            data = undefined;
          }
        },
        discard: async () => void (data = undefined),
      };
    },

    has: async (name) => (await store.head(`${prefix}${name}`)) !== undefined,

    locate: (name) => `${where.replace(/\/$/, '')}/${name}`,

    async names(folder) {
      const listed = await store.list({ prefix: `${prefix}${folder}` });
      const start = prefix.length + folder.length;
      return new Set(listed.map((b) => b.name.slice(start)).filter((n) => n !== '' && !n.includes('/')));
    },

    async create(name, data, contentType) {
      const staged = await output.stage([data]);
      return staged.publish(name, contentType ? { contentType } : {});
    },

    async read(name, maxBytes) {
      const full = `${prefix}${name}`;
      if (!relativeName(name)) return undefined;
      try {
        checkName(full);
      } catch {
        return undefined; // not a name sealcam writes: nothing it published is there
      }
      const info = await store.head(full);
      if (info === undefined) return undefined;
      if (info.size > maxBytes) throw tooLarge(name, info.size, maxBytes);
      const chunks: Uint8Array[] = [];
      let size = 0;
      try {
        for await (const chunk of await store.get(full)) {
          size += (chunk as Uint8Array).length;
          // The blob may have been replaced by a larger one since the head.
          if (size > maxBytes) throw tooLarge(name, size, maxBytes);
          chunks.push(chunk as Uint8Array);
        }
      } catch (err) {
        if ((err as SealcamError).code === 'ENOENT') return undefined;
        throw err;
      }
      return Buffer.concat(chunks, size);
    },

    records: storeRecords(store, prefix),

    under: (sub) => storeOutput(store, `${prefix}${sub.replace(/\/?$/, '/')}`, `${where.replace(/\/$/, '')}/${sub.replace(/\/$/, '')}`),

    sweep: async () => undefined, // nothing is staged outside memory
  };
  return output;
}

/** The Output for receiver.output (location.ts): a directory, or a prefix of an Azure container or S3 bucket. */
export async function openOutput(config: SealcamConfig, env: NodeJS.ProcessEnv = process.env): Promise<Output> {
  const problem = outputProblem(config);
  if (problem !== undefined) throw new SealcamError('ECONFIG', problem);
  const location = parseOutputLocation(config.receiver.output);
  if (location.kind === 'directory') return directoryOutput(location.dir);
  try {
    checkFolder(location.prefix);
  } catch {
    throw new SealcamError('ECONFIG', `receiver.output ${JSON.stringify(config.receiver.output)}: the prefix must be '/'-separated parts of letters, digits, '.', '_' or '-', none starting with '.'`);
  }
  const store = await createStore({ ...config, store: { ...config.store, kind: location.kind, container: location.container } }, { env });
  return storeOutput(store, location.prefix, describeOutput(location));
}
