import type { Readable } from 'node:stream';

/** The stores sealcam can write to, and S3's server-side encryption modes on top of its own. */
export const STORE_KINDS = ['local', 'azure', 's3'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];
export const SSE_MODES = ['none', 's3', 'kms', 'c'] as const;
export type SseMode = (typeof SSE_MODES)[number];

/**
 * Object storage for sealed blobs. Blob metadata holds only non-secret fields; sealcam's own
 * metadata is inside the authenticated sealed header (or, for the sidecar layout, in a separate
 * metadata blob).
 */
export interface BlobInfo {
  name: string;
  size: number;
  lastModified: Date;
  /** Non-secret fields only: format, device id, capture time. */
  metadata: Record<string, string>;
  contentType?: string;
}

export interface PutOptions {
  metadata?: Record<string, string>;
  contentType?: string;
  /** Bytes expected, when known (lets stores pick single-shot or multipart uploads). */
  size?: number;
  /** Called as bytes are sent. */
  onProgress?: (sentBytes: number) => void;
  /**
   * Create only: fail with EEXIST, writing nothing, when `name` exists (If-None-Match: * on Azure
   * and S3, link(2) locally). The check and the write are one step on the service, so of several
   * writers racing for one name exactly one succeeds. S3 sends such a body in one PutObject, so it
   * must be a Uint8Array of at most 5 GiB.
   */
  ifAbsent?: boolean;
}

export interface ListOptions {
  prefix?: string;
  /** Only blobs of this device (blob names are `<device>/<yyyy>/<mm>/<dd>/<name>`). */
  device?: string;
  /** At most this many, newest first. */
  limit?: number;
}

export interface BlobStore {
  readonly kind: string;
  /** Stream `body` to `name`; nothing becomes visible under `name` unless the whole upload succeeded. */
  put(name: string, body: Readable | Uint8Array, options?: PutOptions): Promise<BlobInfo>;
  get(name: string): Promise<Readable>;
  head(name: string): Promise<BlobInfo | undefined>;
  list(options?: ListOptions): Promise<BlobInfo[]>;
  /** The folders directly under `prefix` (empty, or ending in '/'), as full prefixes ending in '/': `cam-01/` under ''. */
  folders(prefix: string): Promise<string[]>;
  delete(name: string): Promise<void>;
  /** A time-limited, read-only URL (or file URL for `local`). */
  link(name: string, expiresInSeconds: number): Promise<string>;
}
