import type { SingleBar } from 'cli-progress';
import { createRequire } from 'node:module';

/**
 * Progress for long work: a bar on stderr when it is a terminal, otherwise one plain line when the
 * work finishes (logs and CI output stay readable). Bytes are shown in MB (10^6) with the rate.
 */
export interface Progress {
  /** Sets how much is done so far (bytes, or items when `unit` is 'items'). */
  update(done: number): void;
  /** Work grew (a batch discovered more files). */
  setTotal(total: number): void;
  /** Ends the display and prints the summary line. */
  finish(summary?: string): void;
}

export interface ProgressOptions {
  /** Shown before the bar: "sealing photo.jpg". */
  label: string;
  total: number;
  unit?: 'bytes' | 'items';
  /** Default: stderr is a TTY and SEALCAM_NO_PROGRESS is not set. */
  interactive?: boolean;
  /** Where the plain summary line goes (default stderr), so stdout stays for data. */
  log?: (line: string) => void;
}

const MB = 1e6;

/** cli-progress, loaded only when a bar is drawn: a command off a terminal never pays for it. */
const loadBars = () => createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress');

function amount(n: number, unit: 'bytes' | 'items'): string {
  return unit === 'bytes' ? `${(n / MB).toFixed(1)} MB` : String(n);
}

export function createProgress(options: ProgressOptions): Progress {
  const unit = options.unit ?? 'bytes';
  const interactive = options.interactive ?? (process.stderr.isTTY === true && !process.env.SEALCAM_NO_PROGRESS);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const started = performance.now();
  let done = 0;
  let total = options.total;
  let bar: SingleBar | undefined;
  if (interactive) {
    const { Presets, SingleBar } = loadBars();
    bar = new SingleBar(
      {
        format: `${options.label} [{bar}] {percentage}% {shown} | {rate}`,
        hideCursor: true,
        clearOnComplete: true,
        stream: process.stderr,
        fps: 10,
      },
      Presets.shades_classic,
    );
    bar.start(total, 0, { shown: '', rate: '' });
  }
  const payload = () => {
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0 ? (unit === 'bytes' ? `${(done / MB / seconds).toFixed(1)} MB/s` : `${(done / seconds).toFixed(1)}/s`) : '';
    return { shown: `${amount(done, unit)} of ${amount(total, unit)}`, rate };
  };
  return {
    update(value) {
      done = value;
      bar?.update(done, payload());
    },
    setTotal(value) {
      total = value;
      bar?.setTotal(value);
    },
    finish(summary) {
      if (bar) {
        bar.update(done, payload());
        bar.stop();
      }
      const { shown, rate } = payload();
      log(summary ?? `${options.label}: ${shown.replace(/ of .*/, '')}${rate ? ` (${rate})` : ''}`);
    },
  };
}
