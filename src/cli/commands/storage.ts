import type { Command } from 'commander';
import { addConfigOptions } from '../options.js';

/** Declares `upload, download, ls, link`; each action imports its implementation only when it runs. */

/** Every storage command reaches the store, and may need the key provider (SSE-C's customer key). */
const STORE_FLAGS = ['store.kind', 'store.dir', 'store.container', 'store.sse', 'store.kmsKeyId', 'store.endpoint', 'keys.provider', 'keys.dir', 'keys.vaultUrl'];
const POOL_FLAGS = ['seal.jobs', 'seal.engine'];

export function registerStorageCommands(program: Command): void {
  addConfigOptions(
    program
      .command('upload')
      .description(
        'seal each file under the newest key version (files sealed already go as they are) and upload it as <device>/<yyyy>/<mm>/<dd>/<name>.sealed; ' +
          'prints each blob name; exit 75 when the store was unreachable and files were kept in the outbox',
      )
      .argument('[file...]', 'files to upload; - is stdin (sealed on arrival, then sent as a file)'),
    [...STORE_FLAGS, 'keys.name', 'seal.recipients', 'device.signingKey', 'device.id', 'seal.segmentSize', ...POOL_FLAGS],
  )
    .option('--capture-time <time>', 'capture time for the blob name and metadata (default: the file modification time)')
    .option('--retry-outbox', 'first send what the outbox holds, removing each entry once it is stored')
    .option('--name <name>', "the blob's file name for stdin (-), default stdin")
    .option('--json', 'print one JSON line per file: its blob name and whether it was stored or queued')
    .option('--quiet', 'print only blob names and errors')
    .action(async (files, opts) => (await import('../storage.js')).upload(files, opts));

  addConfigOptions(
    program
      .command('download')
      .description('fetch a blob, verify and open it; nothing is written unless every segment verifies')
      .argument('<blob>', 'blob name, as printed by upload and ls')
      .requiredOption('-o, --output <file>', 'where to write the opened file (mode 0600); - is stdout; a device or FIFO is written into as each segment verifies')
      .option('--force', 'overwrite an existing output file')
      .option('--json', 'print what was written as JSON')
      .option('--quiet', 'no summary line'),
    [...STORE_FLAGS, 'keys.identities', 'receiver.trust', ...POOL_FLAGS],
  ).action(async (blob, opts) => (await import('../storage.js')).download(blob, opts));

  // ls has its own --device (a filter), so it does not take the device.id flag.
  addConfigOptions(
    program
      .command('ls')
      .description('list blobs, newest first: name, size, modified, device, capture time')
      .option('--device <id>', 'only blobs of this device')
      .option('--prefix <prefix>', 'only blobs whose name starts with this')
      .option('--limit <n>', 'at most this many')
      .option('--json', 'print JSON'),
    STORE_FLAGS,
  ).action(async (opts) => (await import('../storage.js')).ls(opts));

  addConfigOptions(
    program
      .command('link')
      .description('print a time-limited, read-only URL for a blob')
      .argument('<blob>', 'blob name')
      .option('--expires <duration>', 'how long the link works: 90s, 15m, 2h, up to 7d', '15m'),
    STORE_FLAGS,
  ).action(async (blob, opts) => (await import('../storage.js')).link(blob, opts));
}
