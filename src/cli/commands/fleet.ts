import type { Command } from 'commander';
import { addConfigOptions, addLogOption } from '../options.js';

/** Declares `device`, `simulate` and `demo`; each action imports its implementation only when it runs. */

/** A camera reaches the key provider, the store, the pool and the notifier. */
const CAMERA_FLAGS = [
  'keys.provider',
  'keys.name',
  'keys.dir',
  'keys.vaultUrl',
  'store.kind',
  'store.dir',
  'store.container',
  'store.sse',
  'store.kmsKeyId',
  'store.endpoint',
  'device.id',
  'seal.recipients',
  'device.signingKey',
  'seal.segmentSize',
  'seal.jobs',
  'seal.engine',
  'notify.kind',
  'notify.url',
  'notify.username',
];

export function registerFleetCommands(program: Command): void {
  addConfigOptions(
    addLogOption(program
      .command('device')
      .description(
        'run one camera: seal each image under the newest key version, upload it, announce it (notify.kind), report telemetry; ' +
          'Ctrl-C stops after the images in progress',
      )
      .option('--watch <dir>', 'send each image file in <dir> once unchanged for --settle-ms (writers that pause should write a hidden or .part name and rename it in); sent files move to <dir>/sent/')
      .option('--synthetic', 'send generated frames (PNG) instead')
      .option('--count <n>', 'stop after n images (default: run until stopped)')
      .option('--rate <r>', 'synthetic frames per second', '1')
      .option('--frame-size <bytes>', 'synthetic frame size in bytes', '65536')
      .option('--settle-ms <ms>', '--watch: how long a file must stay unchanged before it is taken', '1000')
      .option('--delete-sent', '--watch: delete each file once sealed and stored (or queued) instead of moving it to <dir>/sent/')
      .option('--json', 'print one JSON line per image (and the local broker, and the summary)')
      .option('--quiet', 'print only the summary and errors')),
    CAMERA_FLAGS,
  ).action(async (opts) => (await import('../device.js')).device(opts));

  addConfigOptions(
    addLogOption(program
      .command('simulate')
      .description('run a fleet of cameras <device.id>-1..N in one process, sealing on one shared pool; prints images, bytes, latency and throughput')
      .option('--devices <n>', 'number of cameras', '3')
      .option('--rate <r>', 'images per second per camera', '1')
      .option('--count <n>', 'images per camera')
      .option('--duration <seconds>', 'run this long (default without --count: until stopped)')
      .option('--own-keys', 'each camera seals under its own key <keys.name>-<device id>')
      .option('--samples', 'send the sample images (src/device/samples) instead of synthetic frames')
      .option('--frame-size <bytes>', 'synthetic frame size in bytes', '65536')
      .option('--json', 'print the report as one JSON line')
      .option('--quiet', 'print only the report and errors')),
    CAMERA_FLAGS,
  ).action(async (opts) => (await import('../device.js')).simulate(opts));

  program
    .command('demo')
    .description('the whole flow on embedded defaults: cameras seal sample images, a local store and broker carry them, the receiver opens them; exit 1 unless every image comes back byte for byte')
    .option('--devices <n>', 'simulated cameras', '3')
    .option('--rounds <n>', 'times each camera sends the sample images', '2')
    .option('--dir <dir>', 'keep keys, store, queues and received images here (default: a temporary directory, removed afterwards)')
    .option('--jobs <n>', 'worker threads; 0 = one per core', '0')
    .option('--engine <engine>', 'wasm or native', 'wasm')
    .option('--json', 'print the report as JSON')
    .action(async (opts) => (await import('../demo.js')).demo(opts));
}
