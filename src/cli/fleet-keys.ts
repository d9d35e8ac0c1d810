import { stat } from 'node:fs/promises';
import type { SealcamConfig } from '../config.js';
import { SealcamError } from '../errors.js';
import { DeviceSigningKey } from '../keys/ed25519.js';
import { listSetting, recipientsFromConfig } from '../keys/fleet.js';
import { loadIdentity } from '../keys/recipients.js';
import { DeviceRegistry } from '../keys/registry.js';
import { describeFingerprint } from '../keys/stanza.js';

/**
 * The fleet's keys as the configuration names them, public parts only: the recipients a camera
 * seals to, the identities a receiver opens with (the fingerprint of the recipient each is the
 * private half of; a key file is read to learn it, its bytes are never shown), the camera's
 * signing key, and the registry's entries. For `config check` and `sealcam keys`: a user sees which
 * key is which, and a recipient with no identity beside it is visible before a file fails to open.
 */

export interface FleetKeys {
  recipients: string[];
  identities: string[];
  signingKey?: string;
  /** Device id -> its keys' fingerprints (`revoked` marked); undefined for a store registry, which is not listed here. */
  registry?: { where: string; devices: Record<string, string[]> };
}

/** The keys, and a problem per key that cannot be read (a missing file, a malformed entry). */
export async function describeFleetKeys(config: SealcamConfig): Promise<{ keys: FleetKeys; problems: { setting: string; message: string }[] }> {
  const keys: FleetKeys = { recipients: [], identities: [] };
  const problems: { setting: string; message: string }[] = [];
  const attempt = async (setting: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (err) {
      problems.push({ setting, message: err instanceof SealcamError ? err.message : String((err as Error)?.message ?? err) });
    }
  };
  await attempt('seal.recipients', async () => {
    keys.recipients = (await recipientsFromConfig(config)).map((r) => describeFingerprint(r.type, r.fingerprint));
  });
  for (const item of listSetting(config.keys.identities)) {
    await attempt('keys.identities', async () => void keys.identities.push((await loadIdentity(item)).description));
  }
  const signing = config.device.signingKey;
  if (signing) {
    await attempt('device.signingKey', async () => {
      if ((await stat(signing).catch(() => undefined))?.isDirectory()) keys.signingKey = `a directory of device keys (${signing})`;
      else keys.signingKey = describeFingerprint('ed25519', (await DeviceSigningKey.read(signing)).fingerprint);
    });
  }
  const trust = config.receiver.trust;
  if (trust && !trust.startsWith('store:')) {
    await attempt('receiver.trust', async () => {
      const devices: Record<string, string[]> = {};
      for (const entry of await DeviceRegistry.directory(trust).entries()) {
        devices[entry.deviceId] = entry.keys.map((k) => `${describeFingerprint('ed25519', k.fingerprint)}${k.revoked ? ' (revoked)' : ''}`);
      }
      keys.registry = { where: trust, devices };
    });
  }
  return { keys, problems };
}

/** The description as lines for a terminal. */
export function fleetKeyLines(keys: FleetKeys, trust: string | undefined): string[] {
  const lines = [
    ...keys.recipients.map((r) => `recipient  ${r}`),
    ...keys.identities.map((i) => `identity   ${i}`),
    ...(keys.signingKey ? [`signing    ${keys.signingKey}`] : []),
  ];
  if (keys.registry) {
    const devices = Object.entries(keys.registry.devices);
    lines.push(`registry   ${keys.registry.where}: ${devices.length} device${devices.length === 1 ? '' : 's'}`);
    for (const [device, fingerprints] of devices) lines.push(`  ${device}  ${fingerprints.join(', ') || '(no keys)'}`);
  } else if (trust?.startsWith('store:')) lines.push(`registry   ${trust} (in the store; not listed here)`);
  return lines;
}
