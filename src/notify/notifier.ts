import { randomUUID } from 'node:crypto';
import { SealcamError } from '../errors.js';
import { checkFields, count, isoTime, matches, millis, oneOf, pathLike, type Rule } from '../fields.js';
import type { StoreKind } from '../storage/store.js';

/**
 * Notifications: after a sealed image is in object storage the device sends a small message that
 * names it, so a receiver can fetch and open it. A notification never carries image bytes or key
 * material, and every event is shape-checked here, at the boundary, before it is queued or sent:
 * exact field set, one pattern per field, and a guard against strings that look like keys.
 */

export type { StoreKind };
/** The notifiers: an in-process broker (the demo), an MQTT broker, Azure IoT Hub, or a JSONL file. */
export const NOTIFY_KINDS = ['local', 'mqtt', 'iothub', 'outbox'] as const;
export type NotifyKind = (typeof NOTIFY_KINDS)[number];
export type SealFormat = 'sealed' | 'raw' | 'sidecar';

export interface SealedImageEvent {
  deviceId: string;
  store: StoreKind;
  /** `<device>/<yyyy>/<mm>/<dd>/<name>`, as the stores name blobs. */
  blobName: string;
  sealedSize: number;
  /** Lower-case hex SHA-256 of the sealed bytes, so the receiver can check what it fetched. */
  sha256: string;
  keyName: string;
  /** A number for the local keyring, Key Vault's 32-hex version id for Azure. */
  keyVersion: string;
  format: SealFormat;
  /** ISO 8601. */
  captureTime: string;
  /** A UUID; receivers drop repeats (QoS 1 and the offline queue deliver at least once). */
  eventId: string;
}

export interface TelemetrySample {
  deviceId: string;
  /** ISO 8601. */
  time: string;
  imagesSent: number;
  bytesSent: number;
  sealMs: number;
  uploadMs: number;
  queueLength: number;
}

export interface Notifier {
  readonly kind: string;
  /** Resolves once the event is durably accepted (queued on disk, or appended); delivery follows. */
  notify(event: SealedImageEvent): Promise<void>;
  telemetry(sample: TelemetrySample): Promise<void>;
  /** Resolves when everything accepted so far has been acknowledged by the transport. */
  flush(timeoutMs?: number): Promise<void>;
  /** Stops sending; whatever is still queued stays on disk for the next instance. */
  close(): Promise<void>;
}

export type MessageType = 'sealed-image' | 'telemetry';

/** A fresh event id. */
export function newEventId(): string {
  return randomUUID();
}

// --- Shape checks ------------------------------------------------------------------------------

/** What a device id may be (config.ts checks device.id against it): it also keeps MQTT wildcards out of topics. */
export const DEVICE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const KEY_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,126}$/;
const KEY_VERSION = /^(?:[0-9]{1,9}|[0-9a-f]{32})$/;
const SHA256 = /^[0-9a-f]{64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function refuse(what: string, problem: string): SealcamError {
  // Names the field, never its value: the value may be the very secret we are keeping out.
  return new SealcamError('EEVENT', `${what} refused: ${problem}`);
}

/** Words as names are built: Capitalised, ALLCAPS or lowercase (digits and symbols separate them). */
const WORDS = /[A-Z][a-z]+|[A-Z]+(?![a-z])|[a-z]+/g;

/**
 * Best effort, beside the strict field patterns: true when `s` holds something shaped like key
 * material. That is 32+ hex digits in a row (a 128-bit key in hex: always caught), or 20 characters
 * of the base64 alphabets with both cases that break into 7 or more letter "words": names are made
 * of words, random base64 of tiny fragments. Measured on random keys: catches about 94% of 128-bit
 * and 99.8% of 256-bit keys in base64(url), and none of the camera, device and file names (UUIDs in
 * either case included) we tried.
 */
export function looksLikeKey(s: string): boolean {
  if (/[0-9a-fA-F]{32}/.test(s)) return true;
  const count = (w: string, re: RegExp) => w.match(re)?.length ?? 0;
  for (const run of s.match(/[A-Za-z0-9+/=_-]{16,}/g) ?? []) {
    for (let i = 0; i + Math.min(20, run.length) <= run.length; i++) {
      const w = run.slice(i, i + 20);
      if (count(w, /[A-Z]/g) >= 2 && count(w, /[a-z]/g) >= 2 && count(w, WORDS) >= 7) return true;
    }
  }
  return false;
}

const KEY_GUARD = 'looks like key material, which never goes into a notification';
const text =
  (pattern: RegExp, hint: string, keyGuard = true): Rule =>
  (v) =>
    matches(pattern, hint)(v) ?? (keyGuard && looksLikeKey(v as string) ? KEY_GUARD : undefined);
const blobName: Rule = (v) => pathLike(v) ?? (looksLikeKey(v as string) ? KEY_GUARD : undefined);

const EVENT_RULES: Record<keyof SealedImageEvent, Rule> = {
  deviceId: text(DEVICE_ID, "1-64 letters, digits, '.', '_' or '-'"),
  store: oneOf('local', 'azure', 's3'),
  blobName,
  sealedSize: count,
  sha256: text(SHA256, '64 lower-case hex digits', false),
  keyName: text(KEY_NAME, "a key name of letters, digits, '.', '_' or '-'"),
  keyVersion: text(KEY_VERSION, 'a version number or a 32-hex-digit Key Vault version id', false),
  format: oneOf('sealed', 'raw', 'sidecar'),
  captureTime: isoTime,
  eventId: text(UUID, 'a UUID', false),
};

const TELEMETRY_RULES: Record<keyof TelemetrySample, Rule> = {
  deviceId: EVENT_RULES.deviceId,
  time: isoTime,
  imagesSent: count,
  bytesSent: count,
  sealMs: millis,
  uploadMs: millis,
  queueLength: count,
};

function check<T>(what: string, value: unknown, rules: Record<string, Rule>): T {
  return checkFields<T>(value, rules, (problem) => refuse(what, problem));
}

export function checkEvent(value: unknown): SealedImageEvent {
  const event = check<SealedImageEvent>('sealed-image event', value, EVENT_RULES);
  if (!event.blobName.startsWith(`${event.deviceId}/`)) throw refuse('sealed-image event', "blobName must start with '<deviceId>/'");
  return event;
}

export function checkTelemetry(value: unknown): TelemetrySample {
  return check<TelemetrySample>('telemetry sample', value, TELEMETRY_RULES);
}

/** Topic templates name the device as `{device}`; the id is checked, so it cannot add levels or wildcards. */
export function topicFor(template: string, deviceId: string): string {
  if (!DEVICE_ID.test(deviceId)) throw refuse('topic', 'device id is not valid');
  return template.split('{device}').join(deviceId);
}
