import type { Hash } from 'node:crypto';
import { DEVICE_ID, type SealedImageEvent } from '../notify/notifier.js';
import type { BlobInfo } from '../storage/store.js';

/**
 * What the receiver works on: one blob to fetch, verify and open. An event gives every field; a
 * blob found by listing the store gives its name and the non-secret metadata the device stored
 * with it, but no SHA-256 to check against (the tags and the header MAC still verify the bytes).
 */
export interface Job {
  blobName: string;
  deviceId: string;
  eventId?: string;
  /** Lower-case hex SHA-256 of the sealed bytes, from the event. */
  sha256?: string;
  captureTime?: string;
  /** The event's format; only `sealed` can be opened here. */
  format?: string;
}

export function jobFromEvent(event: SealedImageEvent): Job {
  return {
    blobName: event.blobName,
    deviceId: event.deviceId,
    eventId: event.eventId,
    sha256: event.sha256,
    captureTime: event.captureTime,
    format: event.format,
  };
}

/**
 * The job for a listed blob, or undefined for what is not a sealed image: names outside
 * `<device>/...`, and blobs whose metadata names another format (sidecar metadata, say).
 */
export function jobFromBlob(blob: BlobInfo): Job | undefined {
  const slash = blob.name.indexOf('/');
  const deviceId = blob.name.slice(0, slash);
  if (slash < 1 || !DEVICE_ID.test(deviceId)) return undefined;
  const format = blob.metadata.format;
  if (format !== undefined && !format.startsWith('sealed')) return undefined;
  return { blobName: blob.name, deviceId };
}

/** Passes chunks through while hashing them; `onEnd` runs after the last one and may throw to fail the stream. */
export function hashing(hash: Hash, onEnd: (bytes: number) => void = () => undefined) {
  return async function* (chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    let bytes = 0;
    for await (const chunk of chunks) {
      hash.update(chunk);
      bytes += chunk.length;
      yield chunk;
    }
    onEnd(bytes);
  };
}
