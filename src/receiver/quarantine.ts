import { VERIFICATION_FAILURES, type SealcamError } from '../errors.js';
import type { BlobStore } from '../storage/store.js';
import type { Job } from './job.js';
import type { Output, Published } from './output.js';

/**
 * Blobs that fail verification are kept: the sealed bytes as the store holds them (never
 * plaintext) under `<blob name>.<first 16 hex digits of their SHA-256>`, and `<that>.report.json`
 * beside them with what failed. Named by blob and content, and created once: several receivers
 * judging the same bytes keep one copy, and new content under the same blob name (judged again
 * when an event announces it) gets its own. Reports carry names, codes and digests, never key
 * material. A blob too large for the output is reported without its copy (it stays in the store).
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
  /** Set when the sealed copy could not be kept (too large for the output): why. */
  notCopied?: string;
}

export interface Quarantined {
  /** The sealed copy (absent when it could not be kept), and the report beside it. */
  path: string;
  reportPath: string;
  report: QuarantineReport;
  /** 'exists': this content was quarantined before (by another receiver, or an earlier run). */
  published: Published;
}

/** The quarantine name of `blobName` with content `sha256`. */
export function quarantineName(blobName: string, sha256: string): string {
  return `${blobName}.${sha256.slice(0, 16)}`;
}

export async function quarantine(store: BlobStore, place: Output, job: Job, failure: SealcamError): Promise<Quarantined> {
  const report: QuarantineReport = {
    blobName: job.blobName,
    deviceId: job.deviceId,
    ...(job.eventId === undefined ? {} : { eventId: job.eventId }),
    code: failure.code,
    reason: `${VERIFICATION_FAILURES[failure.code] ?? 'verification failed'}: ${failure.message}`,
    time: new Date().toISOString(),
    ...(job.sha256 === undefined ? {} : { expectedSha256: job.sha256 }),
  };
  let published: Published;
  let name: string;
  try {
    const copy = await place.stage(await store.get(job.blobName));
    report.sha256 = copy.sha256;
    report.size = copy.bytes;
    name = quarantineName(job.blobName, copy.sha256);
    published = await copy.publish(name);
  } catch (err) {
    if ((err as SealcamError).code !== 'ETOOLARGE') throw err;
    report.notCopied = (err as SealcamError).message;
    name = `${job.blobName}.not-copied`;
    published = 'written';
  }
  const reportName = `${name}.report.json`;
  // A report exists already only for content quarantined before; the first one stays.
  const reported = await place.create(reportName, Buffer.from(JSON.stringify(report, null, 2) + '\n'), 'application/json');
  if (report.notCopied !== undefined) published = reported;
  return { path: place.locate(name), reportPath: place.locate(reportName), report, published };
}
