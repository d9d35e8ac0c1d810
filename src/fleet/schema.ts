/**
 * The fields of the fleet records receivers write (records.ts has the rules, the paths and the
 * writers). Types only, with no imports, so the dashboard page's TypeScript shares them.
 */

export type SignatureStatus = 'verified' | 'unsigned' | 'n/a';

export interface ImageRecordFields {
  deviceId: string;
  blobName: string;
  /** `<deviceId>/<yyyy-mm-dd>/<file name>`, relative to the output root (the receiver's layout). */
  outputPath: string;
  contentType: string;
  /** Image bytes written. */
  bytes: number;
  /** SHA-256 of the image, lower-case hex. */
  sha256: string;
  captureTime: string;
  receivedAt: string;
  /** receivedAt minus captureTime; negative when the camera's clock runs ahead. */
  sealToReceiveMs: number;
  /** The receiver that wrote the image. */
  receiver: string;
  signature: SignatureStatus;
  /** The signing key, when the file was signed. */
  keyId?: string;
  /** One line each (image-check.ts); empty when the image is what it claims to be. */
  warnings: string[];
}

export interface QuarantineRecordFields {
  deviceId: string;
  blobName: string;
  /** The failure's code (EAUTH, ESHA256, ...) and the reason the receiver gave. */
  code: string;
  reason: string;
  time: string;
  receiver: string;
}

export interface ThroughputBucket {
  /** Start of the bucket, epoch seconds (a multiple of its width). */
  t: number;
  images: number;
  bytes: number;
}

export interface ReceiverStatusFields {
  receiver: string;
  startedAt: string;
  updatedAt: string;
  opened: number;
  duplicates: number;
  /** Notifications that arrived again for a job already accepted (broker redelivery). */
  redeliveries: number;
  quarantined: number;
  /** Image bytes written. */
  bytes: number;
  inFlight: number;
  /** Images opened per bucket over the last hour, oldest first; empty buckets may be left out. */
  recent: ThroughputBucket[];
}
