#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { DEFAULTS, FLAG_NAMES } from '../config.js';
import { SealcamError } from '../errors.js';
import { registerBenchCommands } from './commands/bench.js';
import { registerDashboardCommands } from './commands/dashboard.js';
import { registerFleetCommands } from './commands/fleet.js';
import { registerReceiveCommands } from './commands/receive.js';
import { registerStorageCommands } from './commands/storage.js';
import { addConfigOptions, addOutputOptions } from './options.js';
import { printError } from './output.js';

/**
 * The sealcam command line. Each command lives in its own module, loaded only when that command
 * runs, so start-up stays lean. Errors print as one line, `sealcam: <what went wrong>` (escaped:
 * output.ts), and exit non-zero; SEALCAM_DEBUG=1 adds the stack.
 */

/** The commands defined in this file; any other name (or none) builds the whole program. */
const OWN_COMMANDS = ['vectors', 'keygen', 'encrypt', 'decrypt', 'convert', 'keys', 'config'] as const;

/**
 * The program, with only command `only` when it is one of OWN_COMMANDS (building every command's
 * options costs 6-15 ms of a start-up of about 100; its help and errors are the same), else all.
 */
export function buildProgram(only?: string): Command {
  const wanted = (name: (typeof OWN_COMMANDS)[number]): boolean => only === undefined || only === name;
  const program = new Command('sealcam')
    .description('Seal camera images at the edge: AES-EAX in constant-time WebAssembly')
    .version('0.1.0')
    .showHelpAfterError('(run sealcam --help for usage)')
    .exitOverride();

  if (wanted('vectors')) {
    addOutputOptions(
      program
        .command('vectors')
        .description('check the published test vectors (the built-in set, or your own FILEs in the same schemas) on both engines and both WASM builds; exit 1 on any failure')
        .argument('[file...]', 'vector files to check instead of the built-in set (the schemas of vectors/README.md: project JSON, Wycheproof, sealed)')
        .option('--engine <engine>', 'wasm, native or all', 'all'),
    ).action(async (files, opts) => (await import('./vectors.js')).run(files, opts));
  }

  if (wanted('keygen')) {
    program
      .command('keygen')
      .description('write a new key file (mode 0600): an AES key, or an x25519 identity or ed25519 signing key with its public half in <file>.pub (printed)')
      .requiredOption('-o, --output <file>', 'key file to create')
      .option('--type <type>', 'aes (a raw AES key), x25519 (a recipient identity) or ed25519 (a device signing key)', 'aes')
      .option('--bits <n>', 'AES key size: 128 (default), 192 or 256')
      .option('--force', 'overwrite existing files')
      .action(async (opts) => (await import('./keygen.js')).run(opts));
  }

  // Shared flags come from addConfigOptions, so --jobs or --keys-dir mean here what they mean elsewhere.
  const cryptOutput =
    '; - is stdout; a character device or FIFO is written into, never replaced (raw and sidecar only once verified, from a private 0600 temp file); a symlink is followed to an existing target';
  if (wanted('encrypt')) {
    addOutputOptions(
      addConfigOptions(
        program
          .command('encrypt')
          .description('seal files: sealed (default), raw or sidecar; several inputs go into the -o directory')
          .argument('<input...>', 'files to encrypt; - is stdin')
          .requiredOption('-o, --output <path>', `output file; a directory (or a path ending in /) for <name>.sealed or <name>.eax${cryptOutput}`)
          .option('-k, --key-file <file>', 'key file (raw 16/24/32 bytes, hex or base64); default: the newest version of keys.name in the keyring')
          .option('--format <format>', 'sealed, raw (nonce || tag || ciphertext) or sidecar (ciphertext + .json)', 'sealed')
          .option('--layout <order>', 'raw: the order of the parts (default nonce,tag,ciphertext, as pycryptodome\'s example writes), e.g. nonce,ciphertext,tag')
          .option('--force', 'overwrite existing output files')
          .option('--verbose', 'print a summary line on success'),
        ['keys.provider', 'keys.name', 'keys.dir', 'keys.vaultUrl', 'seal.recipients', 'device.signingKey', 'device.id', 'seal.jobs', 'seal.engine', 'seal.segmentSize'],
      ),
      'print one JSON line per file written',
    ).action(async (inputs, opts) => (await import('./crypt.js')).encrypt(inputs, opts));
  }

  if (wanted('decrypt')) {
    addOutputOptions(
      addConfigOptions(
        program
          .command('decrypt')
          .description('verify and open sealed files; an output appears only once every tag verified')
          .argument('<input...>', 'files to open (layout detected: sealed magic, else a metadata file beside it, else raw); - is stdin')
          .requiredOption('-o, --output <path>', `output file; a directory (or a path ending in /) for several inputs (name without .sealed or .eax)${cryptOutput}`)
          .option('-k, --key-file <file>', 'key file (raw 16/24/32 bytes, hex or base64); default: the key version each file names')
          .option('--format <format>', 'sealed, raw or sidecar (default: detected)')
          .option('--metadata <file>', 'the JSON beside a ciphertext (sealcam sidecar, or nonce/iv and tag/mac in base64 or hex as the reference scripts wrote); default: <input>.json or <stem>.json beside it, or encryption_metadata.json for encrypted_image.bin or the only file of its directory')
          .option('--layout <order>', 'raw: the order of the parts in the file (default nonce,tag,ciphertext), e.g. nonce,ciphertext,tag')
          .option('--force', 'overwrite existing output files')
          .option('--verbose', 'print a summary line on success'),
        ['keys.provider', 'keys.dir', 'keys.vaultUrl', 'keys.identities', 'receiver.trust', 'seal.jobs', 'seal.engine'],
      ),
      'print one JSON line per file written',
    ).action(async (inputs, opts) => (await import('./crypt.js')).decrypt(inputs, opts));
  }

  if (wanted('convert')) {
    addOutputOptions(
      addConfigOptions(
        program
          .command('convert')
          .description(
            're-seal files the reference scripts wrote (raw in either order, or with a metadata JSON beside them) into the sealed format, after verifying each; ' +
              'one file, many, or directory trees; names and capture times kept; prints a line per file and a summary; exit 1 if any was refused',
          )
          .argument('<input...>', 'files and directories')
          .requiredOption('-o, --output <path>', 'output directory (the trees below it as below the inputs, each file <name>.sealed); a file for one input')
          .option('-k, --key-file <file>', 'the key the files were sealed with (raw, hex or base64); sealcam sidecars find theirs in the keyring')
          .option('--layout <orders>', 'raw orders to try in turn, separated by ; (default: nonce,tag,ciphertext;nonce,ciphertext,tag)')
          .option('--force', 'overwrite existing output files'),
        ['keys.provider', 'keys.name', 'keys.dir', 'keys.vaultUrl', 'seal.recipients', 'device.signingKey', 'device.id', 'seal.jobs', 'seal.engine', 'seal.segmentSize'],
      ),
      'print one JSON line per file and a summary line',
    ).action(async (inputs, opts) => (await import('./convert.js')).convert(inputs, opts));
  }

  if (wanted('keys')) {
    const keys = program.command('keys').description('manage key-encryption keys (prints versions and fingerprints, never key bytes)');
    const keyCommand = (name: string, description: string) =>
      addOutputOptions(addConfigOptions(keys.command(name).description(description), ['keys.provider', 'keys.dir', 'keys.vaultUrl']));
    keyCommand('create', 'create the key if it has no version yet (saying where); print its newest version')
      .argument('[name]', `key name (default: ${DEFAULTS.keys.name})`)
      .option('--bits <n>', 'size of a new key: 128, 192 or 256', '128')
      .action(async (name, opts) => (await import('./keys.js')).create(name, opts));
    keyCommand('rotate', 'add a new version; new files are sealed under it, old ones still open')
      .argument('[name]', `key name (default: ${DEFAULTS.keys.name})`)
      .option('--bits <n>', 'size of the new version: 128, 192 or 256', '128')
      .action(async (name, opts) => (await import('./keys.js')).rotate(name, opts));
    keyCommand('list', 'list the versions of a key, newest first')
      .argument('[name]', `key name (default: ${DEFAULTS.keys.name})`)
      .action(async (name, opts) => (await import('./keys.js')).list(name, opts));
    keyCommand('show-version', 'show one version: metadata and a short fingerprint')
      .argument('<version>', 'version (as listed by sealcam keys list)')
      .argument('[name]', `key name (default: ${DEFAULTS.keys.name})`)
      .action(async (version, name, opts) => (await import('./keys.js')).showVersion(version, name, opts));
    addOutputOptions(
      addConfigOptions(keys.command('fleet').description("show the fleet's keys by fingerprint: the recipients cameras seal to, the identities that open, the signing key, the registry's entries"), [
        'seal.recipients',
        'keys.identities',
        'device.signingKey',
        'receiver.trust',
      ]),
    ).action(async (opts) => (await import('./keys.js')).fleet(opts));
    addOutputOptions(
      keys
        .command('recipient')
        .description("print the recipient text of an RSA key whose private half stays in Azure Key Vault or AWS KMS (cameras seal to it; only the service's key opens)")
        .argument('<key>', 'a Key Vault key id (https://<vault>.vault.azure.net/keys/<name>[/<version>]) or a KMS key ARN, key id or alias'),
    ).action(async (key, opts) => (await import('./keys.js')).recipient(key, opts));
  }

  if (wanted('config')) {
    addOutputOptions(
      addConfigOptions(
        program
          .command('config')
          .description('inspect the configuration')
          .command('check')
          .description('print the settings the chosen kinds use, each with where it came from (default, file, env, flag), warnings and problems (no secrets); exit 1 if there are problems')
          .option('--all', 'show every setting, not only those the chosen store, key provider and notifier use'),
        Object.keys(FLAG_NAMES),
      ).action(async (opts) => (await import('./config-check.js')).configCheck(opts)),
    );
  }

  if (only === undefined || !(OWN_COMMANDS as readonly string[]).includes(only)) {
    registerStorageCommands(program);
    registerFleetCommands(program);
    registerReceiveCommands(program);
    registerBenchCommands(program);
    registerDashboardCommands(program);
  }
  return program;
}

/** The command a command line names: its first word after the script, unless that is an option (--help, --version). */
function commandOf(argv: string[]): string | undefined {
  const first = argv[2];
  return first === undefined || first.startsWith('-') ? undefined : first;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram(commandOf(argv));
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
      printError(err.message);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    if (e && typeof e.code === 'string' && typeof e.message === 'string' && e.syscall) {
      // File-system errors: name the file and the problem, not a stack.
      printError(`${e.syscall} ${e.path ?? ''}: ${e.code}`.replace(/\s+:/, ':'));
      return 1;
    }
    printError(`unexpected error: ${e?.message ?? String(err)} (SEALCAM_DEBUG=1 shows details)`);
    return 70;
  }
}

// A reader that went away (`sealcam vectors | head`) ends the output, not with a stack trace: the
// exit status is the shell's for SIGPIPE, and a command writing its data to stdout fails on its own.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exitCode = 141;
});

main(process.argv).then((code) => {
  process.exitCode = code;
});
