import { formatReport, runDemo } from '../demo/demo.js';
import { ENGINES, type EngineName } from '../engine/types.js';
import { SealcamError } from '../errors.js';
import { integerFlag } from './options.js';
import { createProgress } from './progress.js';

/** `sealcam demo` (what `npm start` runs): prints the report, exits 1 unless every image came back identical. */

export interface DemoCommandOptions {
  devices: string;
  rounds: string;
  dir?: string;
  jobs: string;
  engine: string;
  json?: boolean;
}

export async function demo(opts: DemoCommandOptions): Promise<void> {
  if (!(ENGINES as readonly string[]).includes(opts.engine)) throw new SealcamError('EUSAGE', `--engine must be wasm or native, got ${opts.engine}`);
  const devices = integerFlag(opts.devices, '--devices');
  const rounds = integerFlag(opts.rounds, '--rounds');
  const jobs = integerFlag(opts.jobs, '--jobs', 0);
  const log = (line: string) => (opts.json ? undefined : console.log(line));
  log(`sealcam demo: ${devices} cameras -> local store -> local MQTT broker -> receiver (sealed to the fleet's recipient, signed by each camera)`);
  let progress: ReturnType<typeof createProgress> | undefined;
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
  });
  progress?.finish();
  if (opts.json) console.log(JSON.stringify(report, null, 2));
  else for (const line of formatReport(report)) console.log(line);
  if (report.problems.length > 0 || report.identical !== report.images) process.exitCode = 1;
}
