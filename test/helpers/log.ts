/**
 * The daemons' log as the tests read it: stderr that is not a terminal carries one pino JSON
 * object per line (src/cli/log.ts); other lines (the final `sealcam: ...` error) are left out.
 */

export interface LogLine {
  level: number;
  msg: string;
  receiver?: string;
  device?: string;
  blob?: string;
  [field: string]: unknown;
}

export const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;

export function logLines(stderr: string): LogLine[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

/** The messages of the log lines at `level`. */
export function logMessages(stderr: string, level: keyof typeof LEVELS): string[] {
  return logLines(stderr)
    .filter((l) => l.level === LEVELS[level])
    .map((l) => l.msg);
}

/** stderr without the log lines: what the command printed itself (its one-line error). */
export function withoutLog(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => !line.startsWith('{'))
    .join('\n');
}
