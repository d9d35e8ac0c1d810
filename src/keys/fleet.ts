import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SealcamConfig } from '../config.js';
import { SealcamError } from '../errors.js';
import type { SealOptions } from '../formats/sealed.js';
import type { BlobStore } from '../storage/store.js';
import { DeviceSigningKey } from './ed25519.js';
import { readSigningKeyFile, writeSigningKeyFile } from './keypair-files.js';
import { loadIdentity, loadRecipients, openingWith, sealingFor, type IdentityOptions } from './recipients.js';
import { DeviceRegistry } from './registry.js';
import { registryDirectory, registryInStore } from './registry-sources.js';
import type { Identity, Recipient } from './stanza.js';

/**
 * What a camera seals with and a receiver opens with, as the configuration names them (CLI flags
 * land in the same settings): the fleet's recipients and the camera's signing key
 * (seal.recipients, device.signingKey), and the receiver's identities and device registry
 * (keys.identities, receiver.trust). A camera configured with recipients holds nothing that opens
 * a file, its own included; without recipients it seals under the key provider's KEK (v1).
 */

/** A list setting: items separated by commas or new lines. */
export function listSetting(value: string | undefined): string[] {
  return (value ?? '')
    .split(/[,\n]/)
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** How a camera seals new files. */
export interface FleetSealing {
  recipients: Recipient[];
  signer?: DeviceSigningKey;
  deviceId: string;
}

/** The recipients the configuration names (key strings or .pub files); empty when it names none. */
export async function recipientsFromConfig(config: SealcamConfig): Promise<Recipient[]> {
  return (await Promise.all(listSetting(config.seal.recipients).map((item) => loadRecipients(item)))).flat();
}

/**
 * The signing key of `deviceId` at `location`: a key file (sealcam keygen --type ed25519), or a
 * directory holding `<device-id>` key files beside their `<device-id>.pub` public keys (which makes
 * the directory a registry too); with `create`, a device's missing key there is made.
 */
export async function deviceSigner(location: string, deviceId: string, options: { create?: boolean } = {}): Promise<DeviceSigningKey> {
  const info = await stat(location).catch(() => undefined);
  if (!info?.isDirectory()) return readSigningKeyFile(location);
  const path = join(location, deviceId);
  if (options.create && !(await stat(path).catch(() => undefined))) {
    const key = DeviceSigningKey.generate();
    await writeSigningKeyFile(key, path);
    return key;
  }
  return readSigningKeyFile(path);
}

/** The recipients and the signing key the configuration names for `deviceId`; undefined when it names no recipient. */
export async function sealingFromConfig(config: SealcamConfig, deviceId = config.device.id, options: { create?: boolean } = {}): Promise<FleetSealing | undefined> {
  const recipients = await recipientsFromConfig(config);
  const signer = config.device.signingKey ? await deviceSigner(config.device.signingKey, deviceId, options) : undefined;
  if (recipients.length === 0) {
    if (signer !== undefined) throw new SealcamError('ECONFIG', 'a signing key (device.signingKey, --sign) needs recipients (seal.recipients, -r): only files sealed to recipients carry a signature');
    return undefined;
  }
  return { recipients, ...(signer === undefined ? {} : { signer }), deviceId };
}

/** The sealed-header options for `sealing`: v2, to the recipients, signed when a key is given. */
export function sealOptionsFor(sealing: FleetSealing): Pick<Extract<SealOptions, { wrap: unknown }>, 'wrap' | 'signer' | 'deviceId'> {
  return { wrap: sealingFor(sealing.recipients), deviceId: sealing.deviceId, ...(sealing.signer === undefined ? {} : { signer: sealing.signer }) };
}

/** How a receiver (or decrypt) opens files besides a KEK: identities, and a registry to trust. */
export interface FleetOpening {
  identities: Identity[];
  trust?: DeviceRegistry;
}

/**
 * receiver.trust names the registry: a directory of `<device-id>.pub` files, or `store:<prefix>` for
 * the same files under a prefix of the configured store (what a receiver in the cloud reads).
 */
export function registryFrom(location: string | undefined, store?: BlobStore): DeviceRegistry | undefined {
  if (!location) return undefined;
  if (!location.startsWith('store:')) return registryDirectory(location);
  if (store === undefined) throw new SealcamError('ECONFIG', `receiver.trust '${location}' reads from the store, which this command does not open`);
  return registryInStore(store, location.slice('store:'.length));
}

export async function openingFromConfig(config: SealcamConfig, store?: BlobStore, options: IdentityOptions = {}): Promise<FleetOpening> {
  const identities = await Promise.all(listSetting(config.keys.identities).map((item) => loadIdentity(item, options)));
  const trust = registryFrom(config.receiver.trust, store);
  return { identities, ...(trust === undefined ? {} : { trust }) };
}

/** The open options for `opening`: the file key from the identities, signatures checked against the registry. */
export function openOptionsFor(opening: FleetOpening): { fileKey: ReturnType<typeof openingWith>; trust?: DeviceRegistry } {
  return { fileKey: openingWith(opening.identities), ...(opening.trust === undefined ? {} : { trust: opening.trust }) };
}
