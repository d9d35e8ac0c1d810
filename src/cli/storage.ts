import { AuthenticationError, SealcamError } from '../errors.js';
import type { ProvenSigner, SealedHeader } from '../formats/sealed.js';
import { describeFingerprint } from '../keys/stanza.js';
import { resolveOutput, writeStreamTarget } from '../io/atomic.js';
import { openingFromConfig, openOptionsFor } from '../keys/fleet.js';
import { kekFromProvider } from '../keys/kek.js';
import { createOpenStream } from '../pool/streams.js';
import { checkName } from '../storage/index.js';
import type { BlobInfo, BlobStore } from '../storage/store.js';
import { durationFlag, integerFlag } from './options.js';
import { createProgress } from './progress.js';
import { refuseConfig } from '../config.js';
import { openSession, type Session } from './session.js';
import { printTable, reporterFrom } from './output.js';

/**
 * `sealcam download`, `sealcam ls` and `sealcam link` (and, from ./upload.js, `sealcam upload`).
 * A download is verified as it streams and written to a temp file that takes the output's name
 * only once every segment verified: a blob that fails leaves nothing behind.
 */

export { upload } from './upload.js';

export interface DownloadOptions {
  output: string;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
  [flag: string]: unknown;
}

async function existing(session: Session, blob: string): Promise<BlobInfo> {
  const info = await session.store.head(checkName(blob));
  if (info === undefined) throw new SealcamError('ENOENT', `blob ${blob} not found in ${session.where}`);
  return info;
}

export async function download(blob: string, opts: DownloadOptions): Promise<void> {
  checkName(blob);
  const force = opts.force === true;
  const out = reporterFrom(opts);
  const target = await resolveOutput(opts.output, force);
  const session = await openSession(opts);
  refuseConfig(session.config, ['seal']);
  const info = await existing(session, blob);
  const kek = kekFromProvider(await session.keys());
  const opening = openOptionsFor(await openingFromConfig(session.config, session.store));
  const pool = session.pool();
  let summary = '';
  const progress = createProgress({ label: `opening ${blob}`, total: info.size, interactive: out.chatty ? undefined : false, log: (line) => (summary = line) });
  let header: SealedHeader | undefined;
  let signer: ProvenSigner | undefined;
  let opened = 0;
  try {
    const body = await session.store.get(blob);
    const open = createOpenStream({ kek, ...opening, pool, onProgress: (p) => progress.update((opened = p.bytes)) });
    open.on('header', (h: SealedHeader, proven?: ProvenSigner) => {
      header = h;
      signer = proven;
      if (typeof h.metadata.originalSize === 'number') progress.setTotal(h.metadata.originalSize);
    });
    // pipe() does not pass errors on: a broken download must fail the open stream, and the reverse.
    body.on('error', (err) => open.destroy(err));
    open.on('error', () => body.destroy());
    // Each segment is verified before it is written: a device, FIFO or stdout gets it as it verifies.
    await writeStreamTarget(target, body.pipe(open), { force, mode: 0o600 });
  } catch (err) {
    progress.finish(); // ends the bar; its summary is dropped
    throw refusal(blob, err);
  } finally {
    await pool.close();
  }
  const keys = describeKeys(header!, signer);
  progress.finish(`${target.name}: ${opened} bytes verified and written (${keys})`);
  out.note(summary);
  out.record({ blob, output: target.name, bytes: opened, keys });
}

/**
 * How the header holds its key, in words for messages (v1: the KEK's name and version; v2: the
 * recipients and the signature, which only `signer`, a registry's verdict, makes more than a claim).
 */
function describeKeys(header: SealedHeader, signer?: ProvenSigner): string {
  if (header.version === 1) return `key ${header.keyId} version ${header.keyVersion}`;
  const recipients = `${header.stanzas.length} recipient${header.stanzas.length === 1 ? '' : 's'}`;
  if (signer !== undefined) return `${recipients}, signed by ${signer.deviceId}'s registered key ${describeFingerprint('ed25519', signer.signer)}`;
  return header.signature === undefined ? `${recipients}, unsigned` : `${recipients}, signed for ${header.deviceId}, not checked without a registry (--trust)`;
}

/** Why a blob was not written, naming the segment, the key or the truncation the open stream found. */
function refusal(blob: string, err: unknown): unknown {
  if (err instanceof AuthenticationError || (err instanceof SealcamError && err.code === 'EFORMAT')) {
    return new SealcamError(err.code, `${blob} rejected: ${err.message}; nothing was written`);
  }
  if (err instanceof SealcamError && err.code === 'ENOKEY') return new SealcamError('ENOKEY', `cannot open ${blob}: ${err.message}; nothing was written`);
  return err;
}

export interface LsOptions {
  device?: string;
  prefix?: string;
  limit?: string;
  json?: boolean;
  [flag: string]: unknown;
}

/** S3 listings carry no metadata: fetch it for the blobs shown, a few at a time. */
async function fillMetadata(store: BlobStore, blobs: BlobInfo[]): Promise<void> {
  const missing = blobs.filter((b) => Object.keys(b.metadata).length === 0);
  for (let i = 0; i < missing.length; i += 8) {
    await Promise.all(
      missing.slice(i, i + 8).map(async (blob) => {
        blob.metadata = (await store.head(blob.name))?.metadata ?? {};
      }),
    );
  }
}

export async function ls(opts: LsOptions): Promise<void> {
  const limit = opts.limit === undefined ? undefined : integerFlag(opts.limit, '--limit');
  const session = await openSession(opts);
  const blobs = await session.store.list({ device: opts.device, prefix: opts.prefix, limit });
  await fillMetadata(session.store, blobs);
  const rows = blobs.map((b) => ({
    name: b.name,
    size: b.size,
    modified: b.lastModified.toISOString(),
    device: b.metadata.device ?? b.name.split('/')[0]!,
    captureTime: b.metadata.capture_time ?? null,
  }));
  if (opts.json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  if (rows.length === 0) {
    console.error(`no blobs in ${session.where}${opts.device || opts.prefix ? ' that match' : ''}`);
    return;
  }
  printTable([['NAME', 'SIZE', 'MODIFIED', 'DEVICE', 'CAPTURED'], ...rows.map((r) => [r.name, String(r.size), r.modified, r.device, r.captureTime ?? '-'])]);
}

const WEEK = 7 * 86400;

/** `--expires`: a duration of more than 0 and at most 7 days. */
export function parseExpiry(text: string): number {
  const seconds = durationFlag(text, '--expires');
  if (seconds > WEEK) throw new SealcamError('EUSAGE', `--expires ${text} is longer than 7 days, the longest an S3 presigned URL (or an Azure user delegation SAS) may live`);
  return seconds;
}

export async function link(blob: string, opts: { expires: string; [flag: string]: unknown }): Promise<void> {
  checkName(blob);
  const seconds = parseExpiry(opts.expires);
  const session = await openSession(opts);
  await existing(session, blob);
  console.log(await session.store.link(blob, seconds));
  const { store } = session.config;
  if (store.kind === 'local') console.error('note: a local store link is a file:// URL: it does not expire and grants nothing by itself');
  if (store.kind === 's3' && store.sse === 'c') {
    console.error('note: the object is stored with SSE-C: whoever fetches the link must send the x-amz-server-side-encryption-customer-algorithm, -key and -key-MD5 headers (the key is not in the URL)');
  }
}
