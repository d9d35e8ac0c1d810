import type { Command } from 'commander';
import { ALIASES, DEFAULTS, explainConfig, FLAG_NAMES, loadConfig, type SealcamConfig } from '../config.js';
import { SealcamError } from '../errors.js';

/**
 * The configuration flags every command shares. A flag is named once, in config.ts FLAG_NAMES, so
 * `--store` means the same setting on `upload`, `device` and `receive`, and an error about a flag
 * names the flag the user typed.
 */

/** What each flag sets; the help adds the real default (from DEFAULTS, for this user). */
const DESCRIPTIONS: Record<string, string> = {
  'keys.provider': 'local or azure-keyvault',
  'keys.name': 'key-encryption key name',
  'keys.dir': 'keyring directory for local keys (per user: $XDG_CONFIG_HOME/sealcam/keys, else ~/.config/sealcam/keys)',
  'keys.vaultUrl': 'https://<vault>.vault.azure.net for azure-keyvault',
  'store.kind': 'local, azure or s3',
  'store.dir': 'root directory of the local store',
  'store.container': 'Azure container or S3 bucket (also --bucket)',
  'store.sse': 'S3 server-side encryption: none, s3, kms or c',
  'store.kmsKeyId': 'SSE-KMS key id or ARN',
  'store.endpoint': 'S3 endpoint URL, for S3-compatible stores',
  'device.id': 'device id',
  'seal.segmentSize': 'sealed segment size in bytes, a power of two from 4096 to 16777216',
  'seal.jobs': 'worker threads, at most 4 per core; 0 = one per core',
  'seal.engine': 'wasm or native',
  'notify.kind': 'local, mqtt, iothub or outbox',
  'notify.url': 'MQTT broker URL, mqtt:// or mqtts:// (with notify.kind local: where the local broker listens)',
  'notify.username': 'MQTT user name; the password is read from $SEALCAM_MQTT_PASSWORD (notify.passwordEnv names another variable)',
  'receiver.output': 'where opened images go: a directory, azure://<container>/<prefix> or s3://<bucket>/<prefix> (also --output-dir)',
  'receiver.concurrency': 'images opened at once',
  'device.signingKey': 'the device\'s Ed25519 signing key file (sealcam keygen --type ed25519): sign what is sealed to recipients',
  'seal.recipients': 'seal to this recipient (a key string or a .pub file; repeatable): only its identity opens the file',
  'keys.identities': 'open with this identity (a key file, or a vault key\'s recipient text; repeatable)',
  'receiver.trust': 'the device registry (a directory of <device-id>.pub, or store:<prefix>): only files signed by a registered device key open',
};

/** Settings a flag may give more than once; the values join into the setting's comma-separated list. */
const REPEATABLE: Record<string, string> = { 'seal.recipients': '-r', 'keys.identities': '-i' };

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function optionKey(flag: string): string {
  return flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The default of a setting as the help shows it, or undefined when it has none. */
function defaultOf(path: string): string | undefined {
  const [section, field] = path.split('.') as [keyof SealcamConfig, string];
  const value = (DEFAULTS[section] as Record<string, unknown>)[field];
  return value === undefined ? undefined : String(value);
}

/**
 * The settings a command declared flags for, attached to its parsed options: a flag counts only on
 * the commands that declare it, so `encrypt -o` (a file) is never read as `receive --output`.
 */
const DECLARED = Symbol('declared settings');

/** Adds `--config` and the flags for `paths` (config paths such as 'store.kind'), and the aliases of those settings (--bucket). */
export function addConfigOptions(command: Command, paths: readonly string[]): Command {
  command.option('--config <file>', 'config file (default: sealcam.config.json if present)');
  command.hook('preAction', (_program, action) => {
    // Enumerable, so a spread copy of the options keeps it (symbols stay out of JSON and Object.entries).
    Object.defineProperty(action.opts(), DECLARED, { value: new Set(paths), enumerable: true });
  });
  for (const path of paths) {
    const flag = FLAG_NAMES[path];
    if (flag === undefined) throw new Error(`no flag for ${path}`);
    const fallback = defaultOf(path);
    const description = `${DESCRIPTIONS[path] ?? path}${fallback === undefined ? '' : ` (default: ${fallback})`}`;
    const short = REPEATABLE[path];
    if (short !== undefined) command.option(`${short}, ${flag} <value>`, description, collect);
    else command.option(`${flag} <value>`, description);
    const alias = ALIASES[path];
    if (alias !== undefined) command.option(`${alias.flag} <value>`, `the same as ${flag}`);
  }
  return command;
}

/** Adds `--log-level` to a daemon (device, simulate, receive; see log.ts). */
export function addLogOption(command: Command): Command {
  return command.option('--log-level <level>', 'debug, info, warn, error or silent (the log goes to stderr: JSON lines, or one readable line each on a terminal)', 'info');
}

/** Adds `--json` and `--quiet` (see output.ts). */
export function addOutputOptions(command: Command, json = 'print the results as JSON on stdout (nothing else goes there)'): Command {
  return command.option('--json', json).option('--quiet', 'print only results and errors: no notes, summaries or progress');
}

/** The flag values of a command's options, by config path, and those given under an alias. */
function flagsOf(opts: Record<string | symbol, unknown>): { flags: Record<string, unknown>; aliasFlags: Record<string, unknown> } {
  // Options made by hand (tests, the demo) declare nothing: every flag name counts there.
  const declared = opts[DECLARED] as Set<string> | undefined;
  const counts = (path: string) => declared === undefined || declared.has(path);
  const flags: Record<string, unknown> = {};
  for (const [path, flag] of Object.entries(FLAG_NAMES)) {
    const value = counts(path) ? opts[optionKey(flag)] : undefined;
    flags[path] = Array.isArray(value) ? value.join(',') : value;
  }
  const aliasFlags: Record<string, unknown> = {};
  for (const [path, alias] of Object.entries(ALIASES)) aliasFlags[alias.flag] = counts(path) ? opts[optionKey(alias.flag)] : undefined;
  return { flags, aliasFlags };
}

/** The configuration for a command: file < SEALCAM_* < the flags given. */
export function configFromOptions(opts: Record<string, unknown>): SealcamConfig {
  return loadConfig({ file: opts.config as string | undefined, ...flagsOf(opts) });
}

/** configFromOptions() with where each setting came from (for `config check`). */
export function explainFromOptions(opts: Record<string, unknown>): ReturnType<typeof explainConfig> {
  return explainConfig({ file: opts.config as string | undefined, ...flagsOf(opts) });
}

/** A whole-number flag value of at least `min`, or a one-line usage error naming the flag. */
export function integerFlag(value: string, flag: string, min = 1): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min) {
    throw new SealcamError('EUSAGE', `${flag} must be ${min === 1 ? 'a positive integer' : `an integer of at least ${min}`}, got ${JSON.stringify(value)}`);
  }
  return n;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** A duration flag value in seconds: a whole number and a unit (s, m, h, d), more than 0. */
export function durationFlag(text: string, flag: string): number {
  const match = /^(-?[0-9]{1,9})([smhd])$/.exec(text.trim());
  if (!match) throw new SealcamError('EUSAGE', `${flag} ${JSON.stringify(text)} is not a duration: use a whole number and s, m, h or d (90s, 15m, 2h, 7d)`);
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2]!]!;
  if (seconds <= 0) throw new SealcamError('EUSAGE', `${flag} must be longer than 0, got ${text}`);
  return seconds;
}
