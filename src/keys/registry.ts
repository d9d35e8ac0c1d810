import { SealcamError } from '../errors.js';
import { DEVICE_ID } from '../formats/sealed-header.js';
import { DevicePublicKey } from './ed25519.js';
import { contentLines, toHex } from './keytext.js';
import { FINGERPRINT_LENGTH, sameFingerprint } from './stanza.js';

/**
 * The device registry: which Ed25519 keys may sign for which device. One entry per device,
 * `<device-id>.pub`, in a directory or under a prefix of a blob store (so a receiver in the cloud
 * reads the same files from Azure Blob or S3). An entry holds one key per line, newest last by
 * convention; a key that must no longer sign is kept and marked `revoked`, so a file it signed is
 * refused with that reason rather than as unknown:
 *
 *   # cam-01: replaced its key on 2026-11-02 after a repair
 *   sealcam-ed25519:<base64url> revoked
 *   sealcam-ed25519:<base64url>
 *
 * Blank lines and lines starting with `#` are ignored; anything else is an error naming the
 * entry and line (the registry is configuration: a broken one must be fixed, not half-read). A key
 * listed twice counts as revoked if either line says so. Entries are cached for a short time, so
 * a revocation takes effect within `ttlMs` without a restart. Where entries are read from is a
 * RegistrySource: a directory or a blob store (registry-sources.ts, Node), or one entry's text.
 */

export interface RegistryKey {
  /** The raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  /** keyFingerprint('ed25519', publicKey). */
  fingerprint: Uint8Array;
  revoked: boolean;
}

export type RegistryVerdict = { ok: true; key: RegistryKey } | { ok: false; reason: string };

/** Where the entries are: the text of `<deviceId>.pub`, or undefined when there is none. */
export interface RegistrySource {
  /** For messages: the directory, or the store and prefix. */
  readonly where: string;
  read(deviceId: string): Promise<string | undefined>;
  /** The device ids that have an entry. */
  list(): Promise<string[]>;
}

const REVOKED = 'revoked';

/** The keys of one entry; `where` names the entry in errors. */
export function parseRegistryEntry(text: string, where: string): RegistryKey[] {
  const keys: RegistryKey[] = [];
  for (const { text: line, line: n } of contentLines(text)) {
    const [keyText = '', marker, ...rest] = line.split(/\s+/);
    if ((marker !== undefined && marker !== REVOKED) || rest.length > 0) {
      throw new SealcamError('EREGISTRY', `registry entry ${where} line ${n}: expected a key and optionally "${REVOKED}"`);
    }
    let key: DevicePublicKey;
    try {
      key = DevicePublicKey.parse(keyText);
    } catch (err) {
      throw new SealcamError('EREGISTRY', `registry entry ${where} line ${n}: ${(err as Error).message}`);
    }
    const revoked = marker === REVOKED;
    const seen = keys.find((k) => sameFingerprint(k.fingerprint, key.fingerprint));
    if (seen) seen.revoked ||= revoked;
    else keys.push({ publicKey: key.publicKey, fingerprint: key.fingerprint, revoked });
  }
  return keys;
}

/** One entry's text, as the browser's "Open a file" page has it: a registry of the one device it names. */
export function entrySource(deviceId: string, text: string, where: string): RegistrySource {
  return {
    where,
    read: async (id) => (id === deviceId ? text : undefined),
    list: async () => [deviceId],
  };
}

function describeDevice(deviceId: string): string {
  // Ids come from files and messages: quoted and cut short unless they are valid (then they are plain).
  return DEVICE_ID.test(deviceId) ? deviceId : JSON.stringify(String(deviceId).slice(0, 80));
}

export interface RegistryOptions {
  /** How long an entry is trusted before it is read again (default 30 s). */
  ttlMs?: number;
  /** The clock, for tests. */
  now?: () => number;
}

export class DeviceRegistry {
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, { expires: number; keys: Promise<RegistryKey[] | undefined> }>();

  constructor(
    readonly source: RegistrySource,
    options: RegistryOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  /** The device's keys, or undefined when it has no entry (an invalid id has none). */
  private lookup(deviceId: string): Promise<RegistryKey[] | undefined> {
    if (typeof deviceId !== 'string' || !DEVICE_ID.test(deviceId)) return Promise.resolve(undefined);
    const cached = this.cache.get(deviceId);
    if (cached && cached.expires > this.now()) return cached.keys;
    const keys = this.source.read(deviceId).then((text) => (text === undefined ? undefined : parseRegistryEntry(text, `${deviceId}.pub in ${this.source.where}`)));
    this.cache.set(deviceId, { expires: this.now() + this.ttlMs, keys });
    // A failed read is not remembered: the next call tries again.
    keys.catch(() => this.cache.delete(deviceId));
    return keys;
  }

  /** Every key registered for `deviceId`, revoked ones included; empty when it has no entry. */
  async keysFor(deviceId: string): Promise<RegistryKey[]> {
    return (await this.lookup(deviceId)) ?? [];
  }

  /** Whether `signerFingerprint` may sign for `deviceId` now, with a one-line reason when not. */
  async check(deviceId: string, signerFingerprint: Uint8Array): Promise<RegistryVerdict> {
    const device = describeDevice(deviceId);
    if (typeof deviceId !== 'string' || !DEVICE_ID.test(deviceId)) return { ok: false, reason: `device id ${device} is not valid` };
    if (!(signerFingerprint instanceof Uint8Array) || signerFingerprint.length !== FINGERPRINT_LENGTH) {
      return { ok: false, reason: `the signer fingerprint is not ${FINGERPRINT_LENGTH} bytes` };
    }
    const keys = await this.lookup(deviceId);
    if (keys === undefined) return { ok: false, reason: `device ${device} is not registered in ${this.source.where}` };
    const key = keys.find((k) => sameFingerprint(k.fingerprint, signerFingerprint));
    const signer = `ed25519:${toHex(signerFingerprint)}`;
    if (key === undefined) return { ok: false, reason: `signing key ${signer} is not registered for device ${device}` };
    if (key.revoked) return { ok: false, reason: `signing key ${signer} of device ${device} is revoked` };
    return { ok: true, key };
  }

  /** check(), then the signature itself under the registered key. */
  async verify(deviceId: string, signerFingerprint: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<RegistryVerdict> {
    const verdict = await this.check(deviceId, signerFingerprint);
    if (!verdict.ok) return verdict;
    if (!new DevicePublicKey(verdict.key.publicKey).verify(message, signature)) {
      return { ok: false, reason: `the signature does not verify under signing key ed25519:${toHex(signerFingerprint)} of device ${deviceId}` };
    }
    return verdict;
  }

  /** Every entry, for `sealcam keys` and `config check` (fingerprints, never more). */
  async entries(): Promise<{ deviceId: string; keys: RegistryKey[] }[]> {
    const ids = await this.source.list();
    return Promise.all(ids.map(async (deviceId) => ({ deviceId, keys: await this.keysFor(deviceId) })));
  }
}
