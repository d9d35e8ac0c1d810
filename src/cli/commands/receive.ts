import type { Command } from 'commander';
import { addConfigOptions, addLogOption } from '../options.js';

/** Declares `receive`; its action imports the receiver only when it runs. */
export function registerReceiveCommands(program: Command): void {
  const receive = addLogOption(program
    .command('receive')
    .description('receive sealed images: hear of them over MQTT (or --poll the store), verify, open and write them by device and date, exactly once however many receivers share the output')
    .option('--share <group>', 'join an MQTT 5 shared subscription ($share/<group>/...): the group splits the events, each image is opened once')
    .option('--poll', 'list the store every receiver.pollSeconds instead of subscribing (IoT Hub setups)')
    .option('--once', 'with --poll: process what the store holds, then exit (non-zero if anything was quarantined)')
    .option('--reconcile', 'one pass over the store\'s recent days: open every blob without an output yet, then exit (safe beside live receivers)')
    .option('--since <duration>', 'with --reconcile or --poll: only the days of the last <duration> (90m, 12h, 7d; --reconcile default 2d)')
    .option('--client-id <id>', 'MQTT client id, stable per receiver: the broker keeps its session while it is away (default sealcam-receiver; with --share sealcam-receiver-<host>)')
    .option('--stats-every <duration>', 'how often the log gets a stats line (images/s, MB/s, in flight, duplicates, quarantined, redeliveries)', '60s')
    .option('--json', 'print one JSON line per image and one for the summary')
    .option('--quiet', 'print only quarantined images, the summary and errors'));
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
    'notify.username',
    'keys.identities',
    'receiver.trust',
    'receiver.output',
    'receiver.concurrency',
  ]).action(async (opts) => (await import('../receive.js')).run(opts));
}
