import type { Command } from 'commander';
import { addConfigOptions } from '../options.js';

/** Declares `receive`; its action imports the receiver only when it runs. */
export function registerReceiveCommands(program: Command): void {
  const receive = program
    .command('receive')
    .description('receive sealed images: hear of them over MQTT (or --poll the store), verify, open and write them by device and date')
    .option('--poll', 'list the store every receiver.pollSeconds instead of subscribing (IoT Hub setups)')
    .option('--once', 'with --poll: process what the store holds, then exit (non-zero if anything was quarantined)')
    .option('--client-id <id>', 'MQTT client id; the broker keeps this session while the receiver is away', 'sealcam-receiver')
    .option('--json', 'print one JSON line per image and one for the summary')
    .option('--quiet', 'print only quarantined images, the summary and errors');
  addConfigOptions(receive, [
    'keys.provider',
    'keys.dir',
    'keys.vaultUrl',
    'store.kind',
    'store.dir',
    'store.container',
    'store.endpoint',
    'store.sse',
    'seal.jobs',
    'seal.engine',
    'notify.kind',
    'notify.url',
    'keys.identities',
    'receiver.trust',
    'receiver.outputDir',
    'receiver.concurrency',
  ]).action(async (opts) => (await import('../receive.js')).run(opts));
}
