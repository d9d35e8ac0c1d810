import type { Command } from 'commander';
import { addConfigOptions } from '../options.js';

/** Declares `dashboard`; its action imports the server only when it runs. */
export function registerDashboardCommands(program: Command): void {
  addConfigOptions(
    program
      .command('dashboard')
      .description(
        'serve a web dashboard of the fleet from what receivers record in their output (a directory, azure:// or s3://, under .sealcam/): cameras, latest images, latency, throughput, quarantine. ' +
          'The token comes from SEALCAM_DASHBOARD_TOKEN, else one is generated and its sign-in URL printed once',
      )
      .option('--listen <host:port>', 'address to serve on (another than loopback only when named here)', '127.0.0.1:8787')
      .option('--quiet-after <duration>', 'flag a camera quiet after this long without an image: 90s, 5m, 2h', '5m'),
    ['receiver.output'],
  ).action(async (opts) => (await import('../dashboard.js')).run(opts));
}
