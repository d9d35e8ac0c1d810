import { createHash } from 'node:crypto';
import { SealcamError } from '../errors.js';
import { createKeyProvider, type KeyBits } from '../keys/index.js';
import type { KeyMaterial, KeyProvider, KeyVersion } from '../keys/provider.js';
import { describeFingerprint } from '../keys/stanza.js';
import { RSA_OAEP_TYPE } from '../keys/rsa-oaep.js';
import { configFromOptions } from './options.js';
import { describeFleetKeys, fleetKeyLines } from './fleet-keys.js';
import { announceCreatedKey, printError, printTable, reporterFrom, type Reporter } from './output.js';

/**
 * `sealcam keys create|rotate|list|show-version|fleet|recipient`. Output names versions and, for show-version, a short
 * fingerprint; key bytes are never printed and are wiped as soon as a command is done with them.
 */

export interface KeyCommandOptions {
  bits?: string;
  config?: string;
  json?: boolean;
  quiet?: boolean;
  [flag: string]: unknown;
}

async function open(name: string | undefined, opts: KeyCommandOptions): Promise<{ provider: KeyProvider; name: string }> {
  const config = configFromOptions(opts);
  return { provider: await createKeyProvider(config, { onCreated: announceCreatedKey }), name: name ?? config.keys.name };
}

function parseBits(bits: string | undefined): KeyBits {
  const value = Number(bits ?? '128');
  if (value !== 128 && value !== 192 && value !== 256) throw new SealcamError('EUSAGE', `--bits must be 128, 192 or 256, got ${bits}`);
  return value;
}

/** A version as --json prints it. */
function record(v: KeyVersion, provider: KeyProvider): Record<string, unknown> {
  return { name: v.name, version: v.version, created: v.createdOn?.toISOString() ?? null, enabled: v.enabled !== false, provider: provider.kind };
}

/** Versions as a table, or with --json as one JSON array. */
function printVersions(out: Reporter, provider: KeyProvider, versions: KeyVersion[]): void {
  out.record(versions.map((v) => record(v, provider)));
  printTable(
    [['NAME', 'VERSION', 'CREATED', 'ENABLED']].concat(
      versions.map((v) => [v.name, v.version, v.createdOn?.toISOString() ?? '-', v.enabled === false ? 'no' : 'yes']),
    ),
    out,
  );
}

/** Keeps only what may be printed, and wipes the key. */
function withoutKey(material: KeyMaterial): KeyVersion {
  const { key, ...version } = material;
  key.fill(0);
  return version;
}

export async function create(name: string | undefined, opts: KeyCommandOptions): Promise<void> {
  const bits = parseBits(opts.bits);
  const kek = await open(name, opts);
  const existing = await kek.provider.list(kek.name);
  // getOrCreate even for an existing key: it proves the newest version can be read.
  const newest = withoutKey(await kek.provider.getOrCreate(kek.name, { bits }));
  const out = reporterFrom(opts);
  if (existing.length > 0) {
    out.line(`key ${kek.name} exists (${existing.length} version${existing.length === 1 ? '' : 's'}); sealcam keys rotate adds a version`);
  }
  printVersions(out, kek.provider, [newest]);
}

export async function rotate(name: string | undefined, opts: KeyCommandOptions): Promise<void> {
  const bits = parseBits(opts.bits);
  const kek = await open(name, opts);
  printVersions(reporterFrom(opts), kek.provider, [withoutKey(await kek.provider.rotate(kek.name, { bits }))]);
}

export async function list(name: string | undefined, opts: KeyCommandOptions): Promise<void> {
  const kek = await open(name, opts);
  const versions = await kek.provider.list(kek.name);
  if (versions.length === 0) throw new SealcamError('ENOKEY', `key ${kek.name} has no versions yet; sealcam keys create ${kek.name} makes one`);
  printVersions(reporterFrom(opts), kek.provider, versions);
}

export async function showVersion(version: string, name: string | undefined, opts: KeyCommandOptions): Promise<void> {
  const kek = await open(name, opts);
  const material = await kek.provider.get(kek.name, version);
  // Enough to tell keys apart (and compare with another copy), far too short to say anything about the key.
  const fingerprint = createHash('sha256').update(material.key).digest('hex').slice(0, 8);
  const bits = material.key.length * 8;
  const v = withoutKey(material);
  const fields: [string, string][] = [
    ['name', v.name],
    ['version', v.version],
    ['created', v.createdOn?.toISOString() ?? '-'],
    ['enabled', v.enabled === false ? 'no' : 'yes'],
    ['bits', String(bits)],
    ['fingerprint', `${fingerprint} (first 8 hex digits of the key's SHA-256)`],
    ['provider', kek.provider.kind],
  ];
  const out = reporterFrom(opts);
  out.record({ ...record(v, kek.provider), bits, fingerprint });
  for (const [label, value] of fields) out.line(`${label.padEnd(13)}${value}`);
}

/**
 * `sealcam keys recipient <vault key id | KMS key>`: the recipient text cameras seal to, made from
 * the public half of an RSA key whose private half stays in Azure Key Vault (an https:// key id)
 * or AWS KMS (a key ARN, key id or alias). Asks the service for the public key only (Key Vault:
 * keys/get; KMS: kms:GetPublicKey), with the usual credential chains (DefaultAzureCredential, the
 * AWS chain; AWS_REGION or the ARN's region, AWS_ENDPOINT_URL_KMS for a private endpoint).
 */
export async function recipient(key: string, opts: KeyCommandOptions): Promise<void> {
  const out = reporterFrom(opts);
  let made: { text: string; fingerprint: Uint8Array };
  if (/^https:\/\//i.test(key)) {
    const { keyVaultRecipient } = await import('../keys/keyvault-keys.js');
    made = await keyVaultRecipient(key);
  } else if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(key)) {
    throw new SealcamError('EUSAGE', `${key.split('://')[0]}:// is not a key service: give a Key Vault key id (https://<vault>.vault.azure.net/keys/<name>) or a KMS key ARN, key id or alias`);
  } else {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const { kmsRecipient } = await import('../keys/kms.js');
    made = await kmsRecipient(key);
  }
  const fingerprint = describeFingerprint(RSA_OAEP_TYPE, made.fingerprint);
  out.record({ recipient: made.text, fingerprint });
  out.line(made.text);
  out.note(`fingerprint ${fingerprint}: give the text to cameras (seal.recipients); only the service's key opens what they seal`);
}

/** `sealcam keys fleet`: the fleet's keys as the configuration names them (fleet-keys.ts); exit 1 when one cannot be read. */
export async function fleet(opts: KeyCommandOptions): Promise<void> {
  const config = configFromOptions(opts);
  const { keys, problems } = await describeFleetKeys(config);
  const out = reporterFrom(opts);
  out.record({ ...keys, problems });
  const lines = fleetKeyLines(keys, config.receiver.trust);
  for (const line of lines) out.line(line);
  if (lines.length === 0 && problems.length === 0) out.note('no recipients, identities, signing key or registry configured: files are sealed under the keyring\'s KEK (v1)');
  for (const problem of problems) printError(problem.message);
  if (problems.length > 0) process.exitCode = 1;
}
