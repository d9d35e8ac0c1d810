#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { SealcamError } from '../errors.js';
import { registerBenchCommands } from './commands/bench.js';
import { registerDashboardCommands } from './commands/dashboard.js';
import { registerFleetCommands } from './commands/fleet.js';
import { registerReceiveCommands } from './commands/receive.js';
import { registerStorageCommands } from './commands/storage.js';
import { addConfigOptions } from './options.js';

/**
 * The sealcam command line. Each command lives in its own module, loaded only when that command
 * runs, so start-up stays lean. Errors print as one line, `sealcam: <what went wrong>`, and exit
 * non-zero; SEALCAM_DEBUG=1 adds the stack.
 */

export function buildProgram(): Command {
  const program = new Command('sealcam')
    .description('Seal camera images at the edge: AES-EAX in constant-time WebAssembly')
    .version('0.1.0')
    .showHelpAfterError('(run sealcam --help for usage)')
    .exitOverride();

  program
    .command('vectors')
    .description('check every published test vector on both engines; exit 1 on any failure')
    .option('--engine <engine>', 'wasm, native or all', 'all')
    .option('--json', 'print the results as JSON')
    .action(async (opts) => (await import('./vectors.js')).run(opts));

  program
    .command('keygen')
    .description('write a new key file (mode 0600): an AES key, or an x25519 identity or ed25519 signing key with its public half in <file>.pub (printed)')
    .requiredOption('-o, --output <file>', 'key file to create')
    .option('--type <type>', 'aes (a raw AES key), x25519 (a recipient identity) or ed25519 (a device signing key)', 'aes')
    .option('--bits <n>', 'AES key size: 128 (default), 192 or 256')
    .option('--force', 'overwrite existing files')
    .action(async (opts) => (await import('./keygen.js')).run(opts));

  // Shared flags come from addConfigOptions, so --jobs or --keys-dir mean here what they mean elsewhere.
  addConfigOptions(
    program
      .command('encrypt')
      .description('seal files: sealed (default), raw or sidecar; several inputs go into the -o directory')
      .argument('<input...>', 'files to encrypt')
      .requiredOption('-o, --output <path>', 'output file; a directory for several inputs (<name>.sealed or <name>.eax)')
      .option('-k, --key-file <file>', 'key file (raw 16/24/32 bytes, or hex); default: the newest version of keys.name')
      .option('--format <format>', 'sealed, raw (nonce || tag || ciphertext) or sidecar (ciphertext + .json)', 'sealed')
      .option('--force', 'overwrite existing outputs')
      .option('--verbose', 'print a summary line on success'),
    ['keys.provider', 'keys.name', 'keys.dir', 'keys.vaultUrl', 'seal.recipients', 'device.signingKey', 'device.id', 'seal.jobs', 'seal.engine', 'seal.segmentSize'],
  ).action(async (inputs, opts) => (await import('./crypt.js')).encrypt(inputs, opts));

  addConfigOptions(
    program
      .command('decrypt')
      .description('verify and open sealed files; an output appears only once every tag verified')
      .argument('<input...>', 'files to open (layout detected: sealed magic, else <input>.json sidecar, else raw)')
      .requiredOption('-o, --output <path>', 'output file; a directory for several inputs (name without .sealed or .eax)')
      .option('-k, --key-file <file>', 'key file (raw 16/24/32 bytes, or hex); default: the key version each file names')
      .option('--format <format>', 'sealed, raw or sidecar (default: detected)')
      .option('--force', 'overwrite existing outputs')
      .option('--verbose', 'print a summary line on success'),
    ['keys.provider', 'keys.dir', 'keys.vaultUrl', 'keys.identities', 'receiver.trust', 'seal.jobs', 'seal.engine'],
  ).action(async (inputs, opts) => (await import('./crypt.js')).decrypt(inputs, opts));

  const keys = program.command('keys').description('manage key-encryption keys (prints versions and fingerprints, never key bytes)');
  const keyCommand = (name: string, description: string) =>
    addConfigOptions(keys.command(name).description(description), ['keys.provider', 'keys.dir', 'keys.vaultUrl']);
  keyCommand('create', 'create the key if it has no version yet; print its newest version')
    .argument('[name]', 'key name (default: keys.name)')
    .option('--bits <n>', 'size of a new key: 128, 192 or 256', '128')
    .action(async (name, opts) => (await import('./keys.js')).create(name, opts));
  keyCommand('rotate', 'add a new version; new files are sealed under it, old ones still open')
    .argument('[name]', 'key name (default: keys.name)')
    .option('--bits <n>', 'size of the new version: 128, 192 or 256', '128')
    .action(async (name, opts) => (await import('./keys.js')).rotate(name, opts));
  keyCommand('list', 'list the versions of a key, newest first')
    .argument('[name]', 'key name (default: keys.name)')
    .action(async (name, opts) => (await import('./keys.js')).list(name, opts));
  keyCommand('show-version', 'show one version: metadata and a short fingerprint')
    .argument('<version>', 'version (as listed by sealcam keys list)')
    .argument('[name]', 'key name (default: keys.name)')
    .action(async (version, name, opts) => (await import('./keys.js')).showVersion(version, name, opts));

  program
    .command('config')
    .description('inspect the configuration')
    .command('check')
    .description('print the effective settings (no secrets) and any problems; exit 1 if there are problems')
    .option('--config <file>', 'config file (default: sealcam.config.json if present)')
    .action(async (opts) => (await import('./keys.js')).configCheck(opts));

  registerStorageCommands(program);
  registerFleetCommands(program);
  registerReceiveCommands(program);
  registerBenchCommands(program);
  registerDashboardCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed its message (usage errors, --help, --version).
      return err.exitCode;
    }
    if (process.env.SEALCAM_DEBUG) console.error(err);
    if (err instanceof SealcamError) {
      console.error(`sealcam: ${err.message}`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    if (e && typeof e.code === 'string' && typeof e.message === 'string' && e.syscall) {
      // File-system errors: name the file and the problem, not a stack.
      console.error(`sealcam: ${e.syscall} ${e.path ?? ''}: ${e.code}`.replace(/\s+:/, ':'));
      return 1;
    }
    console.error(`sealcam: unexpected error: ${e?.message ?? String(err)} (SEALCAM_DEBUG=1 shows details)`);
    return 70;
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
