import type { QuarantineRecordFields, ReceiverStatusFields, SignatureStatus } from './schema.js';

/**
 * The fleet as the dashboard shows it: what FleetView.snapshot() returns, /api/fleet serves and
 * /events pushes. Plain JSON types that import only other types, so the page's TypeScript shares
 * them. Times are ISO 8601 strings, durations milliseconds, sizes bytes; "today" is the UTC day.
 */

export interface DeviceCard {
  id: string;
  /** The newest image received or blob quarantined. */
  lastSeen: string;
  /** Nothing seen for longer than the snapshot's quietAfterMs. */
  quiet: boolean;
  imagesToday: number;
  bytesToday: number;
  quarantinedToday: number;
  /** Seal (capture) to receive, over the device's recent images; series is oldest first. */
  latency: { p50: number; p95: number; series: number[] };
  /** The newest image's signature status and key, and today's counts. */
  signature: { latest?: SignatureStatus; keyId?: string; verified: number; unsigned: number; na: number };
  latest?: { name: string; contentType: string; bytes: number; sha256: string; captureTime: string; receivedAt: string };
  /** Recent image warnings, newest first. */
  warnings: { name: string; receivedAt: string; text: string }[];
  /** Images with warnings today. */
  warnedToday: number;
}

/** A receiver's status without its buckets, and whether it went stale (no update for longer than the view's staleAfterMs: probably stopped). */
export type ReceiverRow = Omit<ReceiverStatusFields, 'recent'> & { stale: boolean };

export type QuarantineRow = QuarantineRecordFields;

export interface FleetSnapshot {
  generatedAt: string;
  /** The UTC day "today" refers to. */
  day: string;
  quietAfterMs: number;
  devices: DeviceCard[];
  receivers: ReceiverRow[];
  /** Sums over the receivers' statuses (each counts from its own start); inFlight only of live ones. */
  totals: { opened: number; duplicates: number; redeliveries: number; quarantined: number; bytes: number; inFlight: number };
  /** Images and bytes opened per bin, all receivers together, over the last hour up to the bin still filling; bin i starts at start + i * bucketSeconds (epoch s). */
  throughput: { bucketSeconds: number; start: number; images: number[]; bytes: number[] };
  /** Newest first (the first 100), and how many the view holds. */
  quarantine: QuarantineRow[];
  quarantineCount: number;
  /** Record files the view could not use (malformed, misplaced, unreadable). */
  skipped: { count: number; recent: string[] };
}
