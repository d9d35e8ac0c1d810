import type { Hash } from 'node:crypto';
import { DEVICE_ID, type SealedImageEvent } from '../notify/notifier.js';
import type { BlobInfo } from '../storage/store.js';

/**
 * What the receiver works on: one blob to fetch, verify and open. An event gives hints (the
 * SHA-256 and size it announces, a capture time) and the channel it came on; a blob found by
 * listing the store gives its name and the non-secret metadata the device stored with it. Hints
 * are compared with what the blob turns out to be, never trusted: the blob is judged on its bytes.
 */
export interface Job {
  blobName: string;
  /** The device whose prefix the blob is under (`<device>/...`): only that camera may write there. */
  deviceId: string;
  eventId?: string;
  /** The event's claims about the sealed bytes: lower-case hex SHA-256, and size. */
  sha256?: string;
  sealedSize?: number;
  captureTime?: string;
  /** The device the event's channel names (its MQTT topic level), when the channel names one. */
  channelDevice?: string;
}

export function jobFromEvent(event: SealedImageEvent, channelDevice?: string): Job {
  return {
    blobName: event.blobName,
    deviceId: event.deviceId,
    eventId: event.eventId,
    sha256: event.sha256,
    sealedSize: event.sealedSize,
    captureTime: event.captureTime,
    ...(channelDevice === undefined ? {} : { channelDevice }),
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
