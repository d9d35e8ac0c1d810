import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { isTransient, SealcamError } from '../errors.js';
import { fsError, writeFileAtomic } from '../io/atomic.js';
import { checkMetadata, checkName } from './index.js';
import type { BlobInfo, BlobStore } from './store.js';

/**
 * A local outbox for sealed files the store could not take because it was unreachable or busy.
 * Each entry is a directory `<outboxDir>/<time>-<random>/` holding `blob` (a copy of the sealed
 * file) and `record.json` (blob name, metadata). It is assembled under a hidden name and renamed
 * into place, so an entry is either complete or invisible; the caller's file is deleted (with
 * `move`) only after the entry exists. retryOutbox() removes an entry only after its put
 * succeeded: nothing is lost, and a crash between the two sends the blob again (a put of the same
 * name is idempotent). Run one retryOutbox at a time per outbox.
 */

interface OutboxRecord {
  name: string;
  metadata: Record<string, string>;
  contentType?: string;
  size: number;
  queuedAt: string;
  /** Why it could not be sent, for `sealcam status`-style reporting. */
  reason: string;
}

export interface SendOptions {
  metadata?: Record<string, string>;
  contentType?: string;
  /** Delete `file` once it is stored or safely queued (default: leave it). */
  move?: boolean;
}

export type SendResult = { queued: false; info: BlobInfo } | { queued: true; entry: string; reason: string };

/** Puts the sealed `file` as `name`; if the store is unreachable or busy, queues it in the outbox. */
export async function sendOrQueue(store: BlobStore, outboxDir: string, name: string, file: string, options: SendOptions = {}): Promise<SendResult> {
  const entry = await describeEntry(name, file, options);
  let result: SendResult;
  try {
    const info = await store.put(name, createReadStream(file), { metadata: entry.metadata, contentType: entry.contentType, size: entry.size });
    result = { queued: false, info };
  } catch (err) {
    // Refusals (credentials, bad names) would fail the same way later: those are the caller's to fix.
    if (!isTransient(err)) throw err;
    result = await enqueue(outboxDir, file, entry, (err as SealcamError).message);
  }
  if (options.move) await removeSent(file);
  return result;
}

/**
 * Queues the sealed `file` without trying the store: for a caller whose own put (a sealed stream,
 * say) already failed with the transient error `reason`, so the store's retries are not paid twice.
 */
export async function queueSealed(outboxDir: string, name: string, file: string, reason: string, options: SendOptions = {}): Promise<SendResult> {
  const result = await enqueue(outboxDir, file, await describeEntry(name, file, options), reason);
  if (options.move) await removeSent(file);
  return result;
}

type EntryFields = Pick<OutboxRecord, 'name' | 'metadata' | 'contentType' | 'size'>;

async function describeEntry(name: string, file: string, options: SendOptions): Promise<EntryFields> {
  checkName(name);
  const metadata = checkMetadata(options.metadata);
  const size = (await stat(file).catch((err) => {
    throw fsError(err, 'read sealed file', file);
  })).size;
  return { name, metadata, contentType: options.contentType, size };
}

async function removeSent(file: string): Promise<void> {
  await unlink(file).catch((err) => {
    throw fsError(err, 'remove sealed file', file);
  });
}

async function enqueue(outboxDir: string, file: string, fields: EntryFields, reason: string): Promise<SendResult> {
  const record: OutboxRecord = { ...fields, queuedAt: new Date().toISOString(), reason };
  // Time first, so entries sort (and are retried) in the order they were queued.
  const id = `${Date.now().toString().padStart(15, '0')}-${randomBytes(4).toString('hex')}`;
  const staging = join(outboxDir, `.${id}.tmp`);
  const entry = join(outboxDir, id);
  try {
    await mkdir(staging, { recursive: true });
    await copyFile(file, join(staging, 'blob'));
    await writeFileAtomic(join(staging, 'record.json'), Buffer.from(JSON.stringify(record, null, 2)));
    await rename(staging, entry);
  } catch (err) {
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    throw fsError(err, 'queue sealed file in outbox', outboxDir);
  }
  return { queued: true, entry, reason };
}

export interface OutboxEntry {
  entry: string;
  record: OutboxRecord;
}

/** Queued entries, oldest first; staging directories and leftovers are not entries. */
export async function listOutbox(outboxDir: string): Promise<OutboxEntry[]> {
  const names = await readdir(outboxDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw fsError(err, 'list outbox', outboxDir);
  });
  const entries: OutboxEntry[] = [];
  for (const id of names.filter((n) => !n.startsWith('.')).sort()) {
    const entry = join(outboxDir, id);
    try {
      entries.push({ entry, record: JSON.parse(await readFile(join(entry, 'record.json'), 'utf8')) as OutboxRecord });
    } catch {
      // Not one of ours (or unreadable): leave it alone rather than guess.
    }
  }
  return entries;
}

export interface RetryResult {
  sent: string[];
  /** Entries refused for a reason a retry will not fix (they stay queued). */
  failed: { name: string; message: string }[];
  /** Entries still queued. */
  remaining: number;
}

/**
 * Sends queued entries oldest first, removing each only after its put succeeded. Stops at the
 * first transient failure (the store went away again); a permanent refusal is reported and the
 * entry kept, and the others are still tried.
 */
export async function retryOutbox(store: BlobStore, outboxDir: string): Promise<RetryResult> {
  const entries = await listOutbox(outboxDir);
  const result: RetryResult = { sent: [], failed: [], remaining: entries.length };
  for (const { entry, record } of entries) {
    try {
      await store.put(record.name, createReadStream(join(entry, 'blob')), { metadata: record.metadata, contentType: record.contentType, size: record.size });
    } catch (err) {
      if (isTransient(err)) break;
      result.failed.push({ name: record.name, message: err instanceof Error ? err.message : String(err) });
      continue;
    }
    // Hidden first, so a half-removed entry is never taken for a queued one.
    const done = join(outboxDir, `.${basename(entry)}.sent`);
    await rename(entry, done).catch((err) => {
      throw fsError(err, 'remove sent outbox entry', entry);
    });
    await rm(done, { recursive: true, force: true }).catch(() => undefined);
    result.sent.push(record.name);
    result.remaining -= 1;
  }
  return result;
}
