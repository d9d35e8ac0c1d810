/**
 * Pool scaling: seal and open 64 MiB (64 KiB segments, 1 MiB tasks) with SealPool at 1..N
 * workers on each engine, against the same work on the main thread (sealBuffer/openBuffer).
 * Each figure is the best of a few rounds after a warm-up; MB/s is 10^6 plaintext bytes per second.
 *
 *   npm run build && node dist/bench/pool.js [--max-jobs N] [--rounds R] [--mib M]
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { ENGINES, type EngineName } from '../src/engine/types.js';
import { wasmVariant } from '../src/engine/wasm.js';
import { openBuffer, sealBuffer } from '../src/formats/sealed.js';
import { SealPool } from '../src/pool/index.js';

const { values } = parseArgs({
  options: {
    'max-jobs': { type: 'string', default: String(availableParallelism()) },
    rounds: { type: 'string', default: '3' },
    mib: { type: 'string', default: '64' },
  },
});
const maxJobs = Number(values['max-jobs']);
const rounds = Number(values.rounds);
const size = Number(values.mib) * 2 ** 20;

const kek = new Uint8Array(randomBytes(16));
const plaintext = new Uint8Array(randomBytes(size));

async function best(run: () => unknown): Promise<number> {
  await run(); // warm-up: worker start, JIT, first allocations
  let fastest = Infinity;
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await run();
    fastest = Math.min(fastest, performance.now() - t);
  }
  return size / 1e6 / (fastest / 1e3);
}

interface Row {
  engine: EngineName;
  where: string;
  seal: number;
  open: number;
}

async function measure(engine: EngineName, jobs: number | undefined): Promise<Row> {
  const options = { kek, keyId: 'bench', keyVersion: '1', engine };
  if (jobs === undefined) {
    const sealed = sealBuffer(plaintext, options);
    return {
      engine,
      where: 'main thread',
      seal: await best(() => sealBuffer(plaintext, options)),
      open: await best(() => openBuffer(sealed, { kek, engine })),
    };
  }
  const pool = new SealPool({ jobs, engine });
  try {
    const sealed = await pool.seal(plaintext, options);
    return {
      engine,
      where: `pool, ${jobs} worker${jobs > 1 ? 's' : ''}`,
      seal: await best(() => pool.seal(plaintext, options)),
      open: await best(() => pool.open(sealed, { kek })),
    };
  } finally {
    await pool.close();
  }
}

const rows: { row: Row; ratio: [string, string] }[] = [];
for (const engine of ENGINES) {
  rows.push({ row: await measure(engine, undefined), ratio: ['', ''] });
  let one: Row | undefined;
  for (let jobs = 1; jobs <= maxJobs; jobs++) {
    const row = await measure(engine, jobs);
    one ??= row;
    rows.push({ row, ratio: [`${(row.seal / one.seal).toFixed(2)}x`, `${(row.open / one.open).toFixed(2)}x`] });
  }
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(`sealcam pool scaling: ${values.mib} MiB, 64 KiB segments, best of ${rounds}; node ${process.version}, WASM ${wasmVariant()}, ${availableParallelism()} x ${cpu}\n`);
const header = ['engine', 'where', 'seal MB/s', 'vs 1 worker', 'open MB/s', 'vs 1 worker'];
const table = rows.map(({ row, ratio }) => [row.engine, row.where, row.seal.toFixed(0), ratio[0], row.open.toFixed(0), ratio[1]]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
const line = (cells: string[]) => '| ' + cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
console.log(line(header));
console.log('|' + widths.map((w, i) => (i < 2 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|');
for (const r of table) console.log(line(r));
