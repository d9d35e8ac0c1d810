import type { Hash } from 'node:crypto';
import type { SealedImageEvent } from '../notify/notifier.js';
import type { BlobInfo } from '../storage/store.js';
import { outputName } from './output.js';

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
  /** The image's name in the output (output.ts), which only the blob's name decides; undefined for a blob name sealcam never writes. */
  outputName?: string;
  eventId?: string;
  /** The event's claims about the sealed bytes: lower-case hex SHA-256, and size. */
  sha256?: string;
  sealedSize?: number;
  captureTime?: string;
  /** The device the event's channel names (its MQTT topic level), when the channel names one. */
  channelDevice?: string;
  /** The broker delivered the event again (an earlier delivery went unacknowledged). */
  redelivered?: boolean;
}

export function jobFromEvent(event: SealedImageEvent, info: { channelDevice?: string; redelivered?: boolean } = {}): Job {
  const name = outputName(event.blobName);
  return {
    blobName: event.blobName,
    // The blob's prefix, not the event's claim, says whose it is (checkEvent makes the two agree).
    deviceId: event.blobName.slice(0, event.blobName.indexOf('/')),
    ...(name === undefined ? {} : { outputName: name }),
    eventId: event.eventId,
    sha256: event.sha256,
    sealedSize: event.sealedSize,
    captureTime: event.captureTime,
    ...(info.channelDevice === undefined ? {} : { channelDevice: info.channelDevice }),
    ...(info.redelivered ? { redelivered: true } : {}),
  };
}

/**
 * The job for a listed blob, or undefined for what is not a sealed image: names other than
 * `<device>/<yyyy>/<mm>/<dd>/<name>.sealed`, and blobs whose metadata names another format.
 */
export function jobFromBlob(blob: BlobInfo): Job | undefined {
  const name = outputName(blob.name);
  const format = blob.metadata.format;
  if (name === undefined || (format !== undefined && !format.startsWith('sealed'))) return undefined;
  return { blobName: blob.name, deviceId: blob.name.slice(0, blob.name.indexOf('/')), outputName: name };
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
