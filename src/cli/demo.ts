import type { Dashboard } from '../dashboard/server.js';
import { formatReport, runDemo } from '../demo/demo.js';
import { ENGINES, type EngineName } from '../engine/types.js';
import { SealcamError } from '../errors.js';
import { integerFlag } from './options.js';
import { createProgress } from './progress.js';

/**
 * `sealcam demo` (what `npm start` runs): prints the report, exits 1 unless every image came back
 * identical. With --dashboard the dashboard serves the receiver's output while the demo runs (its
 * URL printed before the cameras start) and closes with it; --keep-open keeps it, and the working
 * directory it reads, until SIGINT or SIGTERM, then exits with the demo's code. --keep-open alone
 * serves it on a free loopback port. The dashboard is imported only when asked for (sharp loads
 * with it).
 */

export interface DemoCommandOptions {
  devices: string;
  rounds: string;
  dir?: string;
  jobs: string;
  engine: string;
  json?: boolean;
  dashboard?: string;
  keepOpen?: boolean;
}

/**
 * The demo's cameras all appear within seconds of the dashboard starting, and its tree is a few
 * dozen records: list it all on every poll (2 s) rather than every 30 s, which would leave a
 * camera whose first record came after the first listing without a card for that long.
 */
const DEMO_FULL_SCAN_MS = 2000;

/** Where --keep-open without --dashboard serves it: loopback, a port the system picks. */
const FREE_LOOPBACK = '127.0.0.1:0';

export async function demo(opts: DemoCommandOptions): Promise<void> {
  if (!(ENGINES as readonly string[]).includes(opts.engine)) throw new SealcamError('EUSAGE', `--engine must be wasm or native, got ${opts.engine}`);
  const devices = integerFlag(opts.devices, '--devices');
  const rounds = integerFlag(opts.rounds, '--rounds');
  const jobs = integerFlag(opts.jobs, '--jobs', 0);
  const listen = opts.dashboard ?? (opts.keepOpen ? FREE_LOOPBACK : undefined);
  const dashboardModule = listen === undefined ? undefined : await import('./dashboard.js');
  // A bad address is refused before the cameras start.
  if (listen !== undefined) (await import('../dashboard/server.js')).parseListen(listen, '--dashboard');
  const log = (line: string) => (opts.json ? undefined : console.log(line));
  // With --json, stdout is the report alone: the dashboard's URL goes to stderr.
  const print = { url: (line: string) => (opts.json ? process.stderr.write(`${line}\n`) : console.log(line)), note: (line: string) => void (opts.json || process.stderr.write(`${line}\n`)) };
  log(`sealcam demo: ${devices} cameras -> local store -> local MQTT broker -> receiver (sealed to the fleet's recipient, signed by each camera)`);
  let progress: ReturnType<typeof createProgress> | undefined;
  let dashboard: Dashboard | undefined;
  try {
    const report = await runDemo({
      devices,
      rounds,
      dir: opts.dir,
      jobs,
      engine: opts.engine as EngineName,
      onProgress: ({ received, total }) => {
        progress ??= createProgress({ label: 'images received', total, unit: 'items', log: () => undefined });
        progress.update(received);
      },
      onReceiverReady: async (root) => {
        if (dashboardModule !== undefined) dashboard = await dashboardModule.serveDashboard({ listen: listen!, output: root, print, fullScanMs: DEMO_FULL_SCAN_MS });
      },
      afterReport: async (r) => {
        progress?.finish();
        if (opts.json) console.log(JSON.stringify(r, null, 2));
        else for (const line of formatReport(r)) console.log(line);
        if (dashboard === undefined) return;
        if (!opts.keepOpen) return log(`  dashboard    closed with the demo (--keep-open keeps it up: npm start -- --keep-open)`);
        // Listening for the signals before saying how to stop.
        const stopped = dashboardModule!.untilStopped();
        print.url(`dashboard still at ${dashboard.origin}/ until Ctrl-C`);
        await stopped;
      },
    });
    if (report.problems.length > 0 || report.identical !== report.images) process.exitCode = 1;
  } finally {
    await dashboard?.close();
  }
}
