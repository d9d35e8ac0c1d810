import { mkdir, open, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SealcamError } from '../errors.js';
import { fsError, writeFileAtomic } from '../io/atomic.js';
import type { Job } from './job.js';

/**
 * The receiver's durable record, in `<stateDir>/journal.jsonl`: one JSON line per step, each
 * written with a single write(2) and fdatasync before the step counts.
 *
 *   queued   a job was accepted (an event is acknowledged to the broker only after this)
 *   writing  the output path chosen for it, recorded before the image can appear there
 *   done     opened (with its path) or quarantined, with the SHA-256 judged; an opened blob is
 *            never processed again, a quarantined one only when its content is announced changed
 *
 * On open, jobs queued but not done are handed back to be processed again; one whose `writing`
 * path exists was published just before a crash (atomic writes make a file there complete), so it
 * is finished without a second copy. The journal is then rewritten compactly (done entries and
 * pending jobs), which also drops a torn last line. `<stateDir>/receiver.lock` holds the owner's
 * process id, so two receivers never share one record.
 */

export type DoneStatus = 'opened' | 'quarantined';

export interface DoneRecord {
  blobName: string;
  eventId?: string;
  status: DoneStatus;
  outputPath?: string;
  reason?: string;
  /** SHA-256 of the sealed bytes that were judged: a blob is the same one again only with the same content. */
  sha256?: string;
}

export interface PendingJob extends Job {
  /** The output path an earlier run chose (and may have written) for this job. */
  writing?: string;
}

type Entry = { type: 'queued'; job: Job } | { type: 'writing'; blobName: string; outputPath: string } | { type: 'done'; record: DoneRecord; time?: string };

const JOURNAL = 'journal.jsonl';
const LOCK = 'receiver.lock';

/** Lock files this process holds, so a second receiver in the same process is refused too. */
const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function lock(dir: string): Promise<string> {
  const path = join(dir, LOCK);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      // Atomic and exclusive: the file appears whole, with the pid in it, or not at all.
      await writeFileAtomic(path, Buffer.from(String(process.pid)));
      held.add(path);
      return path;
    } catch (err) {
      if ((err as SealcamError).code !== 'EEXIST') throw err;
    }
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    // Our own pid in the file is stale unless this process holds the lock (a restarted container reuses pids).
    const owned = pid === process.pid ? held.has(path) : Number.isSafeInteger(pid) && pid > 0 && alive(pid);
    if (owned) throw new SealcamError('ELOCKED', `another receiver (process ${pid}) uses the state directory ${dir}: give each receiver its own receiver.stateDir`);
    await unlink(path).catch(() => undefined); // left by a receiver that died
  }
  throw new SealcamError('ELOCKED', `cannot lock the state directory ${dir}: another receiver keeps taking it`);
}

function parse(line: string): Entry | undefined {
  try {
    const entry = JSON.parse(line) as Entry;
    if (entry.type === 'queued' && typeof entry.job?.blobName === 'string' && typeof entry.job.deviceId === 'string') return entry;
    if (entry.type === 'writing' && typeof entry.blobName === 'string' && typeof entry.outputPath === 'string') return entry;
    if (entry.type === 'done' && typeof entry.record?.blobName === 'string') return entry;
  } catch {
    /* a torn last line */
  }
  return undefined;
}

export class ReceiverState {
  private readonly done = new Map<string, DoneRecord>();
  private readonly pendingJobs = new Map<string, PendingJob>();
  private writes: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private readonly lockPath: string,
    private fd: FileHandle | undefined,
  ) {}

  static async open(stateDir: string): Promise<ReceiverState> {
    const dir = resolve(stateDir);
    await mkdir(dir, { recursive: true, mode: 0o700 }).catch((err) => {
      throw fsError(err, 'create state directory', dir);
    });
    const lockPath = await lock(dir);
    const journal = join(dir, JOURNAL);
    try {
      const state = new ReceiverState(dir, lockPath, undefined);
      const text = await readFile(journal, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return '';
        throw fsError(err, 'read journal', journal);
      });
      for (const line of text.split('\n')) {
        const entry = line ? parse(line) : undefined;
        if (entry) state.apply(entry);
      }
      const compact: Entry[] = [...state.done.values()].map((record) => ({ type: 'done', record }));
      for (const job of state.pendingJobs.values()) {
        const { writing, ...queued } = job;
        compact.push({ type: 'queued', job: queued });
        if (writing !== undefined) compact.push({ type: 'writing', blobName: job.blobName, outputPath: writing });
      }
      await writeFileAtomic(journal, Buffer.from(compact.map((e) => JSON.stringify(e) + '\n').join('')), { force: true, mode: 0o600 });
      state.fd = await open(journal, 'a').catch((err) => {
        throw fsError(err, 'open journal', journal);
      });
      return state;
    } catch (err) {
      await unlink(lockPath).catch(() => undefined);
      held.delete(lockPath);
      throw err;
    }
  }

  private apply(entry: Entry): void {
    if (entry.type === 'queued') {
      // Queued after a done entry: the blob is judged again (a quarantined one whose content changed).
      this.pendingJobs.set(entry.job.blobName, { ...entry.job });
    } else if (entry.type === 'writing') {
      const job = this.pendingJobs.get(entry.blobName);
      if (job) job.writing = entry.outputPath;
    } else {
      const { record } = entry;
      this.done.set(record.blobName, record);
      this.pendingJobs.delete(record.blobName);
    }
  }

  /** The record of a blob already processed, if any (blobs are recognised by name, never by an event id: another sender may reuse one). */
  processed(blobName: string): DoneRecord | undefined {
    return this.done.get(blobName);
  }

  /** Jobs accepted but not finished by an earlier run, oldest first. */
  pending(): PendingJob[] {
    return [...this.pendingJobs.values()].map((job) => ({ ...job }));
  }

  queued(job: Job): Promise<void> {
    return this.append({ type: 'queued', job });
  }

  writing(blobName: string, outputPath: string): Promise<void> {
    return this.append({ type: 'writing', blobName, outputPath });
  }

  finished(record: DoneRecord): Promise<void> {
    return this.append({ type: 'done', record, time: new Date().toISOString() });
  }

  private append(entry: Entry): Promise<void> {
    const run = this.writes.then(async () => {
      const fd = this.fd;
      if (!fd) throw new SealcamError('ECLOSED', 'the receiver state is closed');
      try {
        await fd.write(Buffer.from(JSON.stringify(entry) + '\n'));
        await fd.datasync();
      } catch (err) {
        throw fsError(err, 'append to journal', join(this.dir, JOURNAL));
      }
      this.apply(entry);
    });
    this.writes = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    await this.writes;
    const fd = this.fd;
    this.fd = undefined;
    await fd?.close();
    if (held.delete(this.lockPath)) await unlink(this.lockPath).catch(() => undefined);
  }
}
