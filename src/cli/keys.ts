import { createHash } from 'node:crypto';
import { checkConfig, loadConfig } from '../config.js';
import { SealcamError } from '../errors.js';
import { createKeyProvider, type KeyBits } from '../keys/index.js';
import type { KeyMaterial, KeyProvider, KeyVersion } from '../keys/provider.js';
import { configFromOptions } from './options.js';
import { printTable } from './table.js';

/**
 * `sealcam keys create|rotate|list|show-version` and `sealcam config check` (here because it
 * loads the configuration the same way). Output names versions and, for show-version, a short
 * fingerprint; key bytes are never printed and are wiped as soon as a command is done with them.
 */

export interface KeyCommandOptions {
  bits?: string;
  config?: string;
  [flag: string]: unknown;
}

async function open(name: string | undefined, opts: KeyCommandOptions): Promise<{ provider: KeyProvider; name: string }> {
  const config = configFromOptions(opts);
  return { provider: await createKeyProvider(config), name: name ?? config.keys.name };
}

function parseBits(bits: string | undefined): KeyBits {
  const value = Number(bits ?? '128');
  if (value !== 128 && value !== 192 && value !== 256) throw new SealcamError('EUSAGE', `--bits must be 128, 192 or 256, got ${bits}`);
  return value;
}

function printVersions(versions: KeyVersion[]): void {
  printTable(
    [['NAME', 'VERSION', 'CREATED', 'ENABLED']].concat(
      versions.map((v) => [v.name, v.version, v.createdOn?.toISOString() ?? '-', v.enabled === false ? 'no' : 'yes']),
    ),
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
  if (existing.length > 0) {
    console.log(`key ${kek.name} exists (${existing.length} version${existing.length === 1 ? '' : 's'}); sealcam keys rotate adds a version`);
  }
  printVersions([newest]);
}

export async function rotate(name: string | undefined, opts: KeyCommandOptions): Promise<void> {
  const bits = parseBits(opts.bits);
  const kek = await open(name, opts);
  printVersions([withoutKey(await kek.provider.rotate(kek.name, { bits }))]);
}

export async function list(name: string | undefined, opts: KeyCommandOptions): Promise<void> {
  const kek = await open(name, opts);
  const versions = await kek.provider.list(kek.name);
  if (versions.length === 0) throw new SealcamError('ENOKEY', `key ${kek.name} has no versions yet; sealcam keys create ${kek.name} makes one`);
  printVersions(versions);
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
  for (const [label, value] of fields) console.log(`${label.padEnd(13)}${value}`);
}

/** `sealcam config check`: the effective settings, then the problems (exit 1 if any). */
export async function configCheck(opts: { config?: string }): Promise<void> {
  const config = loadConfig({ file: opts.config });
  for (const [section, fields] of Object.entries(config)) {
    for (const [field, value] of Object.entries(fields as Record<string, unknown>)) {
      // The config holds no secrets; for connection strings we only say whether their variable is set.
      const note = field.endsWith('Env') ? (process.env[String(value)] ? ' (set)' : ' (not set)') : '';
      console.log(`${section}.${field} = ${String(value)}${note}`);
    }
  }
  const problems = checkConfig(config);
  for (const problem of problems) console.error(`sealcam: ${problem.message}`);
  if (problems.length > 0) process.exitCode = 1;
  else console.log('configuration OK');
}
