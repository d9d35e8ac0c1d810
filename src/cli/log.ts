import type { Logger } from 'pino';
import { SealcamError } from '../errors.js';
import { colorEnabled, escapeText } from './output.js';

/**
 * The daemons' log (`device`, `receive`, `simulate`): pino on stderr, so stdout stays for results.
 * JSON lines when stderr is not a terminal (a container, systemd, a log shipper), one readable line
 * each on a terminal; SEALCAM_LOG_FORMAT=json|pretty overrides the guess. Every line carries the
 * fields it concerns (`device`, `blob`, `receiver`) as fields, never inside free text only, so a
 * fleet's logs can be filtered by them. No secret is ever logged: the callers pass names, counts
 * and one-line error messages (which never hold secrets, errors.ts), and the known secret-bearing
 * field names are redacted besides, should one slip into an object.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type { Logger };

export interface LogOptions {
  /** `--log-level` (default info). */
  level?: string;
  /** Fields on every line, e.g. { receiver: 'rx-1' } or { device: 'cam-01' }. */
  base?: Record<string, string>;
  env?: NodeJS.ProcessEnv;
}

export function checkLogLevel(level: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new SealcamError('EUSAGE', `--log-level ${JSON.stringify(level)} is not a level: use ${LOG_LEVELS.join(', ')}`);
  }
  return level as LogLevel;
}

function formatOf(env: NodeJS.ProcessEnv): 'json' | 'pretty' {
  const asked = env.SEALCAM_LOG_FORMAT;
  if (asked === 'json' || asked === 'pretty') return asked;
  if (asked !== undefined && asked !== '') throw new SealcamError('EUSAGE', `SEALCAM_LOG_FORMAT ${JSON.stringify(asked)} is not a format: use json or pretty`);
  return process.stderr.isTTY === true ? 'pretty' : 'json';
}

/** The log for a daemon; pino and its pretty printer load only here. */
export async function createLog(options: LogOptions = {}): Promise<Logger> {
  const env = options.env ?? process.env;
  const level = checkLogLevel(options.level ?? 'info');
  const { pino } = await import('pino');
  const settings = {
    level,
    base: { pid: process.pid, ...options.base },
    redact: { paths: ['password', 'key', 'token', 'connectionString', '*.password', '*.key', '*.token'], censor: '***' },
  };
  if (formatOf(env) === 'json') return pino(settings, pino.destination({ dest: 2, sync: true }));
  const { default: pretty } = await import('pino-pretty');
  // sync: a daemon's last lines before exit must not be lost in a buffer.
  // The message may hold a blob name or a broker's words: escaped, like everything printed (output.ts).
  const stream = pretty({
    destination: 2,
    sync: true,
    colorize: colorEnabled(env),
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname',
    singleLine: true,
    messageFormat: (line, key) => escapeText(String(line[key] ?? '')),
  });
  return pino(settings, stream);
}
