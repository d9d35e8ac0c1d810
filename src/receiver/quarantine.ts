import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { VERIFICATION_FAILURES, type SealcamError } from '../errors.js';
import { fsError, writeFileAtomic, writeStreamAtomic } from '../io/atomic.js';
import type { BlobStore } from '../storage/store.js';
import { hashing, type Job } from './job.js';

/**
 * Blobs that fail verification go to the quarantine directory: the sealed bytes as the store
 * holds them (never plaintext) under the blob's name, and `<name>.report.json` beside them with
 * what failed. Reports carry names, codes and digests, never key material.
 */

export interface QuarantineReport {
  blobName: string;
  deviceId: string;
  eventId?: string;
  code: string;
  /** What kind of failure, then the detail. */
  reason: string;
  time: string;
  /** SHA-256 the event announced, and of the bytes quarantined. */
  expectedSha256?: string;
  sha256?: string;
  size?: number;
}

export interface Quarantined {
  /** The sealed copy and the report beside it. */
  path: string;
  reportPath: string;
  report: QuarantineReport;
}

export async function quarantine(store: BlobStore, quarantineDir: string, job: Job, failure: SealcamError): Promise<Quarantined> {
  const base = join(resolve(quarantineDir), ...job.blobName.split('/'));
  const report: QuarantineReport = {
    blobName: job.blobName,
    deviceId: job.deviceId,
    eventId: job.eventId,
    code: failure.code,
    reason: `${VERIFICATION_FAILURES[failure.code] ?? 'verification failed'}: ${failure.message}`,
    time: new Date().toISOString(),
    expectedSha256: job.sha256,
  };
  await mkdir(dirname(base), { recursive: true }).catch((err) => {
    throw fsError(err, 'create quarantine directory', dirname(base));
  });
  const hash = createHash('sha256');
  // A copy of what failed, for inspection; the same blob quarantined again (after a crash) replaces it.
  await writeStreamAtomic(base, hashing(hash, (bytes) => (report.size = bytes))(await store.get(job.blobName)), { force: true, mode: 0o600 });
  report.sha256 = hash.digest('hex');
  const reportPath = `${base}.report.json`;
  await writeFileAtomic(reportPath, Buffer.from(JSON.stringify(report, null, 2) + '\n'), { force: true, mode: 0o600 });
  return { path: base, reportPath, report };
}
