import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';

/**
 * Where the pool starts to pay for itself (SealPool's inlineBytes, pool.ts INLINE_BYTES): a fresh
 * process seals one file to another either on its calling thread or on a cold pool of workers, the
 * two interleaved round by round at each size, each whole process timed from outside (start-up,
 * workers, crypto, exit), so the figure is what one `sealcam encrypt` invocation pays.
 *
 *   node dist/bench/inline.js [rounds] [engine]        the table (default 9 rounds, wasm)
 *   node dist/bench/inline.js --child MODE ENGINE IN OUT   one seal (what the table times)
 */

const MiB = 1 << 20;
const SIZES = [1, 4, 16, 32, 64, 128].map((m) => m * MiB);

async function child(mode: string, engine: 'wasm' | 'native', input: string, output: string): Promise<void> {
  const { SealPool } = await import('../src/pool/pool.js');
  const { fileIO } = await import('../src/io/file-io.js');
  const pool = new SealPool({ engine, jobs: availableParallelism(), inlineBytes: mode === 'inline' ? Number.MAX_SAFE_INTEGER : 0 });
  const from = await open(input, 'r');
  const to = await open(output, 'w');
  try {
    const size = (await from.stat()).size;
    await pool.sealIO(fileIO(from, to, { name: input, size }), { kek: new Uint8Array(16), keyId: 'k', keyVersion: '1', metadata: { originalSize: size } });
  } finally {
    await from.close();
    await to.close();
    await pool.close();
  }
}

function table(rounds: number, engine: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'sealcam-inline-'));
  const self = fileURLToPath(import.meta.url);
  try {
    console.log(`calling thread vs a cold pool of ${availableParallelism()} ${engine} workers, whole process, median of ${rounds} interleaved rounds (ratio = pool / calling thread; > 1: the calling thread wins)`);
    for (const size of SIZES) {
      const input = join(dir, 'in');
      writeFileSync(input, randomBytes(size));
      const times: Record<string, number[]> = { inline: [], pool: [] };
      const ratios: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 === 0 ? ['inline', 'pool'] : ['pool', 'inline'];
        for (const mode of order) {
          const t = performance.now();
          const res = spawnSync(process.execPath, [self, '--child', mode, engine, input, join(dir, 'out')], { stdio: ['ignore', 'ignore', 'inherit'] });
          if (res.status !== 0) throw new Error(`the ${mode} child failed`);
          times[mode]!.push(performance.now() - t);
        }
        ratios.push(times.pool![r]! / times.inline![r]!);
      }
      const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
      const q = (a: number[], p: number) => [...a].sort((x, y) => x - y)[Math.round(p * (a.length - 1))]!;
      console.log(
        `${String(size / MiB).padStart(3)} MiB  calling thread ${med(times.inline!).toFixed(0).padStart(5)} ms  pool ${med(times.pool!).toFixed(0).padStart(5)} ms  ratio ${med(ratios).toFixed(2)} (IQR ${q(ratios, 0.25).toFixed(2)}-${q(ratios, 0.75).toFixed(2)})`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
if (args[0] === '--child') await child(args[1]!, args[2] as 'wasm' | 'native', args[3]!, args[4]!);
else table(Number(args[0] ?? 9), args[1] ?? 'wasm');
