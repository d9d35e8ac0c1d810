import { createHash } from 'node:crypto';
import { SealcamError } from '../errors.js';
import { createKeyProvider, type KeyBits } from '../keys/index.js';
import type { KeyMaterial, KeyProvider, KeyVersion } from '../keys/provider.js';
import { configFromOptions } from './options.js';
import { announceCreatedKey, printTable, reporterFrom, type Reporter } from './output.js';

/**
 * `sealcam keys create|rotate|list|show-version`. Output names versions and, for show-version, a short
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
