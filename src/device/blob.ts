import { randomBytes } from 'node:crypto';
import { checkEvent, looksLikeKey, type SealedImageEvent, type StoreKind } from '../notify/notifier.js';
import { datedPrefix } from '../storage/index.js';
import type { OutboxEntry } from '../storage/outbox.js';

/**
 * How a camera names and labels what it stores. Names are unique per image (a sequence number and
 * a random part beside the capture time) and never shaped like key material, since they travel in
 * events. Blob metadata is non-secret and carries what the event needs, so a blob that waited in
 * the outbox can be announced once it is sent.
 */

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Lower case (so the name never reads as base64), only characters blob names allow, never key-shaped. */
function safeStem(name: string): string {
  const stem = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 64);
  return stem.length === 0 || looksLikeKey(stem) ? 'image' : stem;
}

/** `<device>/<yyyy>/<mm>/<dd>/<hhmmssmmm>-<seq>-<random>-<name>.sealed`, dated in UTC. */
export function blobNameFor(deviceId: string, sourceName: string, captureTime: Date, seq: number): string {
  const t = captureTime;
  const clock = `${pad(t.getUTCHours())}${pad(t.getUTCMinutes())}${pad(t.getUTCSeconds())}${pad(t.getUTCMilliseconds(), 3)}`;
  // The random part keeps names unique across restarts, when the sequence starts again.
  return `${datedPrefix(deviceId, t)}${clock}-${pad(seq, 6)}-${randomBytes(3).toString('hex')}-${safeStem(sourceName)}.sealed`;
}

/**
 * Non-secret blob metadata: the fields `sealcam upload` writes (format, device, capture_time), plus
 * what the event needs, so a blob sent from the outbox can be announced later and a receiver that
 * polls the store can check the SHA-256.
 */
export function blobMetadata(event: SealedImageEvent): Record<string, string> {
  return {
    format: event.format,
    device: event.deviceId,
    capture_time: event.captureTime,
    key_name: event.keyName,
    key_version: event.keyVersion,
    sha256: event.sha256,
    event_id: event.eventId,
  };
}

/** The event for a blob sent from the outbox, rebuilt from what blobMetadata() stored with it. */
export function eventFromOutbox({ record }: OutboxEntry, store: StoreKind): SealedImageEvent {
  const m = record.metadata;
  return checkEvent({
    deviceId: m.device,
    store,
    blobName: record.name,
    sealedSize: record.size,
    sha256: m.sha256,
    keyName: m.key_name,
    keyVersion: m.key_version,
    format: m.format,
    captureTime: m.capture_time,
    eventId: m.event_id,
  });
}
