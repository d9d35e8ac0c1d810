import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { SealcamError } from '../../errors.js';
import { packageRoot } from '../../paths.js';

interface BenchOptions {
  quick?: boolean;
  tiny?: boolean;
  filter?: string;
  sizes?: string;
  out?: string;
  compare?: string[];
  hyperfine?: boolean;
  maxWorkers?: string;
  targets?: boolean;
}

/**
 * The suite lives in dist/bench (a checkout's build); an installed package does not carry it. It is
 * found under the package root at run time, so the bundled CLI (dist/cli) loads the same files.
 */
async function loadSuite(): Promise<{ run: typeof import('../../../bench/run.js'); plan: typeof import('../../../bench/plan.js') }> {
  const suite = (name: string): string => pathToFileURL(join(packageRoot, 'dist', 'bench', name)).href;
  try {
    return { run: (await import(suite('run.js'))) as typeof import('../../../bench/run.js'), plan: (await import(suite('plan.js'))) as typeof import('../../../bench/plan.js') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      throw new SealcamError('ENOBENCH', 'the benchmark suite is not part of this installation: run it from a checkout (npm install && npm run bench)');
    }
    throw err;
  }
}

async function bench(opts: BenchOptions): Promise<void> {
  const { run, plan } = await loadSuite();
  try {
    if (opts.compare && opts.compare.length !== 2) throw new plan.UsageError('--compare takes two result files: --compare A.json B.json');
    const args = plan.validate({
      quick: opts.quick === true,
      tiny: opts.tiny === true,
      filter: opts.filter ?? null,
      sizes: opts.sizes ? opts.sizes.split(/[,;\s]+/).filter(Boolean).map(plan.parseSize) : null,
      out: opts.out ?? null,
      compare: opts.compare ? [opts.compare[0]!, opts.compare[1]!] : null,
      hyperfine: opts.hyperfine ?? null,
      maxWorkers: opts.maxWorkers === undefined ? null : Number(opts.maxWorkers),
      targets: opts.targets === true,
    });
    process.exitCode = await run.runBench(args);
  } catch (err) {
    if (err instanceof plan.UsageError) throw new SealcamError('EUSAGE', err.message);
    throw err;
  }
}

/** Declares `bench`; its action imports the suite only when it runs. */
export function registerBenchCommands(program: Command): void {
  program
    .command('bench')
    .description('run the benchmark suite (from a checkout, after npm run build:bench); writes a .json, .md and .svg of the run to bench/out/ (git ignores it; --out to choose); see bench/README.md')
    .option('--quick', 'about 2 minutes (118 s on a shared 2-core VM, up to 700 MB of memory): 2 sizes, short time boxes, one 256 MiB stream, no whole-process timings')
    .option('--tiny', 'tiny sizes that only prove the suite and its cross-checks run (CI under emulation)')
    .option('--filter <regex>', 'only rows whose "implementation operation" matches (case-insensitive)')
    .option('--sizes <list>', 'message sizes instead of the mode\'s, e.g. 1671137,16MiB')
    .option('--out <dir>', 'directory for the .json, .md and .svg (default: bench/out, which git ignores)')
    .option('--targets', "after the results, the table of the performance targets (PASS / MISS)")
    .option('--compare <files...>', 'show two result files side by side with ratios (A.json B.json)')
    .option('--hyperfine', 'whole-process timings even in a quick or filtered run')
    .option('--no-hyperfine', 'no whole-process timings')
    .option('--max-workers <n>', 'largest worker pool (default: the available cores)')
    .action(bench);
}
