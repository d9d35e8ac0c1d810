import { isIP } from 'node:net';
import { checkToken } from '../dashboard/auth.js';
import { parseListen, startDashboard, type Dashboard, type DashboardOutput } from '../dashboard/server.js';
import { openOutput } from '../receiver/output.js';
import { configFromOptions, durationFlag } from './options.js';

/**
 * `sealcam dashboard`: serves the dashboard until SIGINT or SIGTERM (`sealcam demo --dashboard`
 * serves it the same way, through serveDashboard). The token comes from
 * SEALCAM_DASHBOARD_TOKEN (and is then never printed) or is generated, and its sign-in URL is
 * printed once: it is the only place the token appears. It reads receiver.output as the receivers
 * write it, a directory or a store location, opened by the receiver's own openOutput (the same
 * store.* settings and credentials); the location is printed as the receivers print it, never a
 * connection string or SAS. Skipped records are reported on stderr, the first few in full; a store
 * that cannot be read is reported once, and again when it can.
 */

export interface DashboardCommandOptions {
  listen: string;
  quietAfter: string;
  [flag: string]: unknown;
}

export const TOKEN_ENV = 'SEALCAM_DASHBOARD_TOKEN';
const WARNINGS_PRINTED = 10;

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

/** How `serveDashboard` prints: the sign-in URL (a result), and notes (where it reads, a warning). */
export interface DashboardPrinter {
  url(line: string): void;
  note(line: string): void;
}

const toTerminal: DashboardPrinter = {
  url: (line) => console.log(line),
  note: (line) => process.stderr.write(`${line}\n`),
};

/**
 * Starts the dashboard on `output` (a receiver output directory, or the Output of a store location)
 * and prints its sign-in URL once, as `sealcam dashboard` and `sealcam demo --dashboard` both do:
 * the token from SEALCAM_DASHBOARD_TOKEN (then never printed) or generated, records it skips
 * reported, the first few in full, and every change in whether the records can be read.
 */
export async function serveDashboard(options: { listen: string; output: string | DashboardOutput; quietAfterMs?: number; fullScanMs?: number; print?: DashboardPrinter }): Promise<Dashboard> {
  const print = options.print ?? toTerminal;
  const { host } = parseListen(options.listen);
  const envToken = process.env[TOKEN_ENV] ? checkToken(process.env[TOKEN_ENV], TOKEN_ENV) : undefined;
  let skipped = 0;
  const onWarning = (message: string, about: 'record' | 'source') => {
    if (about === 'source' || ++skipped <= WARNINGS_PRINTED) print.note(`sealcam dashboard: ${message}`);
    else if (skipped === WARNINGS_PRINTED + 1) print.note('sealcam dashboard: more records skipped; the dashboard counts them');
  };
  const where = typeof options.output === 'string' ? options.output : options.output.where;
  print.note(`sealcam dashboard: fleet records from ${where}`);
  const dashboard = await startDashboard({ listen: options.listen, output: options.output, token: envToken, quietAfterMs: options.quietAfterMs, fullScanMs: options.fullScanMs, onWarning });
  if (!isLoopback(host)) print.note(`sealcam dashboard: listening on ${host}, beyond this machine, over plain HTTP: put TLS in front of it`);
  if (envToken) print.url(`dashboard at ${dashboard.origin}/ (sign in with ${dashboard.origin}/?token=<${TOKEN_ENV}>)`);
  else print.url(`dashboard at ${dashboard.url}`);
  return dashboard;
}

/**
 * Resolves on the first SIGINT or SIGTERM, which then no longer end the process (so it can close
 * what it serves and exit with its own code). Listen before printing what lets someone stop us.
 */
export function untilStopped(): Promise<void> {
  return new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export async function run(opts: DashboardCommandOptions): Promise<void> {
  parseListen(opts.listen);
  const quietAfterMs = durationFlag(opts.quietAfter, '--quiet-after') * 1000;
  // The receivers' own way to their output: a directory, or the store of an azure:// or s3:// location.
  const output = await openOutput(configFromOptions(opts));
  // Listening for the signals before printing the URL: whoever reads it may stop us at once.
  const stopped = untilStopped();
  const dashboard = await serveDashboard({ listen: opts.listen, output, quietAfterMs });
  await stopped;
  await dashboard.close();
}
