import { mkdir, open, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { SealcamError } from '../errors.js';
import { fsError, writeFileAtomic } from '../io/atomic.js';
import { RECORDS_FOLDER } from '../storage/index.js';
import type { BlobStore } from '../storage/store.js';

/**
 * Where fleet records live, behind the few operations the records need, so a directory and a
 * BlobStore prefix (azure://, s3://) serve the same reader and writers. Names are relative to
 * the record root (`<outputRoot>/.sealcam/`) and '/'-separated, e.g. `records/cam-1/2025-01-31/a.jpg.json`.
 */

export interface RecordSource {
  /** Every record name under `prefix` (a folder, ending in '/'), at any depth, in any order; nothing when it does not exist. */
  list(prefix: string): Promise<string[]>;
  /** One record's bytes; a record larger than `maxBytes` is refused (EFORMAT). */
  read(name: string, maxBytes: number): Promise<Uint8Array>;
}

export interface RecordSink {
  /** Writes `name` unless it exists, atomically: 'exists' when someone else was first. */
  create(name: string, data: Uint8Array): Promise<'written' | 'exists'>;
  /** Writes `name`, replacing what is there, atomically. */
  replace(name: string, data: Uint8Array): Promise<void>;
}

/** The record root of an output: `<output>/.sealcam/`. */
export const RECORDS_DIR = RECORDS_FOLDER;

/** Record files: readable by the owner and group, as the opened images are. */
const RECORD_MODE = 0o640;

const PART = /^[A-Za-z0-9_%~-][A-Za-z0-9._%~-]*$/;

function checkedName(name: string, folder: boolean): string {
  const parts = name.split('/');
  if (folder && parts.pop() !== '') throw new SealcamError('EINPUT', `record folder ${JSON.stringify(name)} must end in '/'`);
  if (!(folder && parts.length === 0) && !parts.every((p) => PART.test(p))) throw new SealcamError('EINPUT', `record name ${JSON.stringify(name)} is not valid`);
  return name;
}

/** Records in `<outputRoot>/.sealcam/` on the local file system. */
export function directoryRecords(outputRoot: string): RecordSource & RecordSink {
  const base = join(resolve(outputRoot), RECORDS_DIR);
  const pathOf = (name: string, folder = false) => join(base, ...checkedName(name, folder).split('/'));

  async function write(name: string, data: Uint8Array, force: boolean): Promise<void> {
    const path = pathOf(name);
    await mkdir(dirname(path), { recursive: true }).catch((err) => {
      throw fsError(err, 'create record directory', dirname(path));
    });
    await writeFileAtomic(path, data, { force, mode: RECORD_MODE, what: 'write record' });
  }

  return {
    async list(prefix) {
      const dir = pathOf(prefix, true);
      let entries;
      try {
        entries = await readdir(dir, { recursive: true, withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw fsError(err, 'list records in', dir);
      }
      const names: string[] = [];
      for (const entry of entries) {
        // Temp files of writes in progress are hidden; only finished records count.
        if (!entry.isFile() || !entry.name.endsWith('.json') || entry.name.startsWith('.')) continue;
        const relative = join(entry.parentPath, entry.name).slice(base.length + 1);
        names.push(relative.split(/[\\/]/).join('/'));
      }
      return names;
    },

    async read(name, maxBytes) {
      const path = pathOf(name);
      const fd = await open(path, 'r').catch((err) => {
        throw fsError(err, 'read record', path);
      });
      try {
        const { size } = await fd.stat();
        if (size > maxBytes) throw new SealcamError('EFORMAT', `record ${name} is ${size} bytes, more than the ${maxBytes} a record may have`);
        const data = new Uint8Array(size);
        const { bytesRead } = await fd.read(data, 0, size, 0);
        return data.subarray(0, bytesRead);
      } finally {
        await fd.close();
      }
    },

    async create(name, data) {
      try {
        await write(name, data, false);
        return 'written';
      } catch (err) {
        if ((err as SealcamError).code === 'EEXIST') return 'exists';
        throw err;
      }
    },

    replace: (name, data) => write(name, data, true),
  };
}

/**
 * Records under `<prefix>.sealcam/` of a blob store (an azure:// or s3:// output, `prefix` empty or
 * ending in '/'): create is a create-only put (If-None-Match: *), so of several receivers exactly
 * one writes each record.
 */
export function storeRecords(store: BlobStore, prefix: string): RecordSource & RecordSink {
  const base = `${prefix}${RECORDS_DIR}/`;
  const put = (name: string, data: Uint8Array, ifAbsent: boolean) =>
    store.put(`${base}${checkedName(name, false)}`, data, { ifAbsent, contentType: 'application/json', size: data.length });
  return {
    async list(folder) {
      const blobs = await store.list({ prefix: `${base}${checkedName(folder, true)}` });
      return blobs.map((b) => b.name.slice(base.length)).filter((name) => name.endsWith('.json'));
    },

    async read(name, maxBytes) {
      const chunks: Uint8Array[] = [];
      let size = 0;
      for await (const chunk of await store.get(`${base}${checkedName(name, false)}`)) {
        size += (chunk as Uint8Array).length;
        if (size > maxBytes) throw new SealcamError('EFORMAT', `record ${name} is more than the ${maxBytes} bytes a record may have`);
        chunks.push(chunk as Uint8Array);
      }
      return Buffer.concat(chunks);
    },

    async create(name, data) {
      try {
        await put(name, data, true);
        return 'written';
      } catch (err) {
        if ((err as SealcamError).code === 'EEXIST') return 'exists';
        throw err;
      }
    },

    replace: async (name, data) => void (await put(name, data, false)),
  };
}
