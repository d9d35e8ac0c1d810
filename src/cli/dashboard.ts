import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { checkToken } from '../dashboard/auth.js';
import { parseListen, startDashboard } from '../dashboard/server.js';
import { SealcamError } from '../errors.js';
import { describeOutput, parseOutputLocation } from '../receiver/location.js';
import { configFromOptions, durationFlag } from './options.js';

/**
 * `sealcam dashboard`: serves the dashboard until SIGINT or SIGTERM. The token comes from
 * SEALCAM_DASHBOARD_TOKEN (and is then never printed) or is generated, and its sign-in URL is
 * printed once: it is the only place the token appears. Skipped records are reported on stderr,
 * the first few in full.
 */

export interface DashboardCommandOptions {
  listen: string;
  quietAfter: string;
  [flag: string]: unknown;
}

export const TOKEN_ENV = 'SEALCAM_DASHBOARD_TOKEN';
const WARNINGS_PRINTED = 10;

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

export async function run(opts: DashboardCommandOptions): Promise<void> {
  const { host } = parseListen(opts.listen);
  const quietAfterMs = durationFlag(opts.quietAfter, '--quiet-after') * 1000;
  const location = parseOutputLocation(configFromOptions(opts).receiver.output);
  if (location.kind !== 'directory') {
    throw new SealcamError('EUSAGE', `the dashboard reads a receiver output directory; ${describeOutput(location)} is a store location (run the dashboard where a receiver writes a directory, or sync the store's .sealcam/ records and images to one)`);
  }
  const root = resolve(location.dir);
  const envToken = process.env[TOKEN_ENV] ? checkToken(process.env[TOKEN_ENV], TOKEN_ENV) : undefined;

  let warnings = 0;
  const onWarning = (message: string) => {
    if (++warnings <= WARNINGS_PRINTED) process.stderr.write(`sealcam dashboard: ${message}\n`);
    else if (warnings === WARNINGS_PRINTED + 1) process.stderr.write('sealcam dashboard: more records skipped; the dashboard counts them\n');
  };
  const dashboard = await startDashboard({ listen: opts.listen, root, token: envToken, quietAfterMs, onWarning });
  // Listening for the signals before printing the URL: whoever reads it may stop us at once.
  const stopped = new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });

  process.stderr.write(`sealcam dashboard: fleet records from ${root}\n`);
  if (!isLoopback(host)) process.stderr.write(`sealcam dashboard: listening on ${host}, beyond this machine, over plain HTTP: put TLS in front of it\n`);
  if (envToken) console.log(`dashboard at ${dashboard.origin}/ (sign in with ${dashboard.origin}/?token=<${TOKEN_ENV}>)`);
  else console.log(`dashboard at ${dashboard.url}`);
  await stopped;
  await dashboard.close();
}
