import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCtr, checkDecrypt, checkEncrypt, type EncryptFn } from '../bench/cases/check.js';
import { syncCase } from '../bench/cases/make.js';
import { header, KEYS, nonce, plaintext } from '../bench/cases/inputs.js';
import type { Case } from '../bench/cases/types.js';
import { chartSvg } from '../bench/chart.js';
import { compareRows, compareText, loadRecord } from '../bench/compare.js';
import { noblePeer } from '../bench/peers.js';
import { parseBenchArgs, UsageError, type BenchArgs } from '../bench/plan.js';
import { PYTHON, pythonCases } from '../bench/python.js';
import { SCHEMA, type Result, type RunRecord } from '../bench/results.js';
import { runBench } from '../bench/run.js';
import { runStreams } from '../bench/stream.js';
import { evaluateTargets } from '../bench/targets.js';
import { packageRoot } from '../src/paths.js';

/**
 * The benchmark suite's own parts: the cross-checks catch wrong implementations and make the run
 * fail, the peers it drives (pycryptodome, the streaming child) agree with sealcam, the chart is
 * well-formed XML with the expected series, --compare computes ratios, and the targets are judged
 * from the rows. No speed is asserted anywhere.
 */

const KiB = 1024;
let out: string;

beforeAll(() => {
  // The suite starts dist/bench/simd-worker.js and dist/bench/stream-child.js, and pools run dist/src/pool/worker.js.
  for (const f of ['bench/simd-worker.js', 'bench/stream-child.js', 'src/pool/worker.js']) {
    if (!existsSync(join(packageRoot, 'dist', f))) throw new Error(`dist/${f} is missing: run npx tsc -p tsconfig.json`);
  }
  out = mkdtempSync(join(tmpdir(), 'sealcam-bench-test-'));
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

const noble = noblePeer(KEYS[128]);

/** @noble/ciphers EAX, with the tag's first bit flipped for messages of `from` bytes or more. */
function flipping(from: number): EncryptFn {
  return (n, pt, h) => {
    const { ciphertext, tag } = noble.eax.encrypt(n, pt, h);
    const t = new Uint8Array(tag);
    if (pt.length >= from) t[0]! ^= 0x80;
    return { ciphertext, tag: t };
  };
}

/** A row built the way the suite builds its own, counting how often it was timed. */
function nobleRow(impl: string, flipFrom: number, timed: { count: number }): Case {
  const encrypt = flipping(flipFrom);
  return syncCase(
    { impl, op: 'AES-128-EAX encrypt', kind: 'eax', keyBits: 128, direction: 'enc', pureJs: true },
    () => checkEncrypt(128, encrypt),
    (size) => {
      const pt = plaintext(size);
      return () => {
        timed.count++;
        return encrypt(nonce, pt, header);
      };
    },
  );
}

const tiny = (filter: string, dir: string): BenchArgs => ({
  quick: true,
  tiny: true,
  filter,
  sizes: null,
  out: dir,
  compare: null,
  hyperfine: false,
  maxWorkers: null,
  targets: false,
});

function recordIn(dir: string): RunRecord {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  expect(files).toHaveLength(1);
  return JSON.parse(readFileSync(join(dir, files[0]!), 'utf8')) as RunRecord;
}

describe('cross-checks', () => {
  it('find a tag that differs only for longer messages, and a decryption that accepts a forged tag', async () => {
    expect(await checkEncrypt(128, flipping(Infinity))).toBeNull();
    expect(await checkEncrypt(128, flipping(1000))).toMatch(/^tag differs at 1000 bytes/);
    expect(await checkDecrypt(128, (n, ct, tag, h) => noble.eax.decrypt(n, ct, tag, h))).toBeNull();
    // EAX decryption that never looks at the tag: CTR from N = OMAC^0(nonce).
    const lenient = (n: Uint8Array, ct: Uint8Array): Uint8Array => noble.primitives.ctr(noble.primitives.omac(0, n), ct);
    expect(await checkDecrypt(128, lenient)).toMatch(/^accepted a wrong tag/);
  });

  it('find a CTR that does not carry past 32 bits', () => {
    expect(checkCtr(128, noble.primitives.ctr)).toBeNull();
    const carry32 = (counter: Uint8Array, data: Uint8Array): Uint8Array => {
      // Like a CTR that counts in the low 32 bits only: each block's counter wraps within its word.
      const out = new Uint8Array(data.length);
      for (let block = 0; block * 16 < data.length; block++) {
        const c = new Uint8Array(counter);
        const view = new DataView(c.buffer);
        view.setUint32(12, (view.getUint32(12) + block) >>> 0);
        const piece = data.subarray(block * 16, block * 16 + 16);
        out.set(noble.primitives.ctr(c, piece), block * 16);
      }
      return out;
    };
    expect(checkCtr(128, carry32)).toMatch(/^ctr differs/);
  });
});

describe('a run', () => {
  it('with a row that disagrees reports it, does not time it, and exits 1', async () => {
    const dir = mkdtempSync(join(out, 'bad-'));
    const timed = { count: 0 };
    const lines: string[] = [];
    const status = await runBench(tiny('^broken peer', dir), {
      extraCases: [nobleRow('broken peer', 1000, timed)],
      log: (l) => lines.push(l),
      progress: () => {},
    });
    expect(status).toBe(1);
    expect(timed.count).toBe(0);
    const rows = recordIn(dir).results;
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(r.status).toBe('DISAGREES');
      expect(r.detail).toMatch(/tag differs at 1000 bytes/);
      expect(r.mbps).toBeUndefined();
    }
    expect(lines.join('\n')).toMatch(/DISAGREES {2}broken peer AES-128-EAX encrypt: tag differs/);
    expect(lines.join('\n')).toMatch(/FAILED: \d+ row\(s\) disagree/);
  });

  it('prints the targets table only with --targets; the record keeps the targets either way', async () => {
    const logs: Record<string, string> = {};
    for (const targets of [false, true]) {
      const dir = mkdtempSync(join(out, `targets-${targets}-`));
      const lines: string[] = [];
      const status = await runBench({ ...tiny('^unbroken peer', dir), targets }, { extraCases: [nobleRow('unbroken peer', Infinity, { count: 0 })], log: (l) => lines.push(l), progress: () => {} });
      expect(status).toBe(0);
      logs[String(targets)] = lines.join('\n');
      expect(recordIn(dir).targets.length).toBeGreaterThan(0);
    }
    const heading = /^target \(issue 3\)\s+measured\s+needed\s+result/m;
    expect(logs.false).not.toMatch(heading);
    expect(logs.true).toMatch(heading);
    expect(parseBenchArgs(['--targets'])).toMatchObject({ targets: true });
    expect(parseBenchArgs([])).toMatchObject({ targets: false });
  });

  it('a run of its own writes to bench/results/local/, which git ignores (git status stays clean)', () => {
    const r = spawnSync('git', ['check-ignore', '-q', 'bench/results/local/x64-some-cpu-2026-01-01-quick.json'], { cwd: packageRoot });
    expect(r.status).toBe(0);
    expect(readFileSync(join(packageRoot, 'dist', 'bench', 'run.js'), 'utf8')).toMatch(/join\(packageRoot, 'bench', 'results', 'local'\)/);
  });

  it('with the same row unbroken times it and exits 0', async () => {
    const dir = mkdtempSync(join(out, 'good-'));
    const timed = { count: 0 };
    const status = await runBench(tiny('^unbroken peer', dir), {
      extraCases: [nobleRow('unbroken peer', Infinity, timed)],
      log: () => {},
      progress: () => {},
    });
    expect(status).toBe(0);
    expect(timed.count).toBeGreaterThan(0);
    const record = recordIn(dir);
    expect(record.schema).toBe(SCHEMA);
    expect(record.results.map((r) => r.size)).toEqual([KiB, 64 * KiB]);
    for (const r of record.results) expect(r).toMatchObject({ status: 'ok', name: 'unbroken peer AES-128-EAX encrypt' });
    const files = readdirSync(dir).sort();
    expect(files.map((f) => f.slice(f.lastIndexOf('.')))).toEqual(['.json', '.md', '.svg']);
  });

  it('refuses a filter that matches no row, and bad arguments, with one-line usage errors', async () => {
    await expect(runBench(tiny('^no such row$', out), { log: () => {}, progress: () => {} })).rejects.toThrow(UsageError);
    expect(() => parseBenchArgs(['--filter', '('])).toThrow(/not a valid regular expression/);
    expect(() => parseBenchArgs(['--compare', 'a.json'])).toThrow(/two result files/);
    expect(() => parseBenchArgs(['--sizes', '12 parsecs'])).toThrow(/cannot read size/);
    expect(parseBenchArgs(['--quick', '--sizes', '1_671_137,16MiB'])).toMatchObject({ quick: true, sizes: [1_671_137, 16 * 1024 * KiB] });
  });
});

describe('peers the suite drives', () => {
  it('pycryptodome agrees with sealcam native and returns its own timings', async () => {
    if (spawnSync(PYTHON, ['-c', 'import Cryptodome'], { stdio: 'ignore' }).status !== 0) throw new Error('pycryptodome is required (apt-get install python3-pycryptodome)');
    const { cases, note } = await pythonCases();
    expect(note).toBeUndefined();
    try {
      for (const c of cases) {
        expect(await c.check(), c.op).toBeNull();
        const m = await c.measure(64 * KiB, 5, 3);
        expect(m.samples.length).toBeGreaterThanOrEqual(3);
      }
    } finally {
      for (const c of cases) await c.close?.();
    }
  });

  it('the streamed case seals and opens through a child process and checks the files', async () => {
    const size = 5 * 64 * KiB + 9;
    const rows = await runStreams({
      sizes: [size],
      configs: () => [{ engine: 'wasm', workers: 1 }],
      inProcess: false,
      wanted: () => true,
      log: () => {},
    });
    expect(rows.map((r) => [r.op, r.status])).toEqual([
      ['sealed stream seal', 'ok'],
      ['sealed stream open', 'ok'],
    ]);
    for (const r of rows) expect(r.peakRssMiB).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Reports from made-up rows

function row(impl: string, op: string, size: number, mbps: number, extra: Partial<Result> = {}): Result {
  return {
    name: `${impl} ${op}`,
    impl,
    op,
    kind: 'eax',
    keyBits: 128,
    direction: op.includes('decrypt') || op.includes('open') ? 'dec' : 'enc',
    pureJs: false,
    size,
    bytes: size,
    status: 'ok',
    mbps,
    ...extra,
  };
}

function record(results: Result[]): RunRecord {
  return {
    schema: SCHEMA,
    machine: {
      cpuModel: 'Test CPU',
      cores: 2,
      cpusOnline: 2,
      arch: 'x64',
      platform: 'linux',
      node: 'v20',
      v8: '11',
      clockMHz: 2000,
      clockSource: 'test',
      totalMemGiB: 1,
      wasmSimd: true,
      wasmBuild: 'relaxed',
      wasmBuilds: ['relaxed'],
      emulated: false,
      loadAvgStart: [0, 0, 0],
    },
    run: {
      date: '2026-01-01T00:00:00.000Z',
      mode: 'full',
      filter: null,
      sizes: [],
      rounds: 1,
      minIterationsPerRound: 1,
      workers: [1, 2],
      streamSizes: [],
      headerBytes: 32,
      durationSeconds: 1,
      notes: [],
    },
    results,
    targets: [],
    wholeProcess: null,
  };
}

const MiB = 1024 * KiB;
const pool = (engine: 'wasm' | 'native', workers: number, op: string, size: number, mbps: number, kind: 'sealed' | 'stream' = 'sealed'): Result =>
  row(`sealcam ${engine === 'wasm' ? 'WASM' : 'native'} pool, ${workers} worker${workers > 1 ? 's' : ''}`, op, size, mbps, {
    kind,
    pool: { engine, workers },
  });

describe('the chart', () => {
  it('is well-formed XML with one series per implementation and pool line, names escaped', () => {
    const odd = 'peer <x> & "y"';
    const results = [
      ...[KiB, 64 * KiB, 16 * MiB].flatMap((s) => [
        row('sealcam WASM (relaxed)', 'AES-128-EAX encrypt', s, 150),
        row(odd, 'AES-128-EAX encrypt', s, 80, { pureJs: true }),
        row('node:crypto', 'AES-128-GCM encrypt', s, 3000, { kind: 'reference' }),
      ]),
      pool('wasm', 1, 'sealed seal', 16 * MiB, 140),
      pool('wasm', 2, 'sealed seal', 16 * MiB, 270),
      pool('wasm', 1, 'sealed stream seal', 256 * MiB, 130, 'stream'),
      pool('wasm', 2, 'sealed stream seal', 256 * MiB, 250, 'stream'),
    ];
    const file = join(out, 'chart.svg');
    writeFileSync(file, chartSvg(record(results)));
    // Python's expat is a strict XML parser: any malformed SVG fails here.
    const parsed = spawnSync(
      PYTHON,
      [
        '-c',
        'import sys, json, xml.etree.ElementTree as ET\n' +
          'root = ET.parse(sys.argv[1]).getroot()\n' +
          'print(json.dumps([root.tag, [g.get("data-series") for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("data-series")]]))',
        file,
      ],
      { encoding: 'utf8' },
    );
    expect(parsed.stderr).toBe('');
    const [tag, series] = JSON.parse(parsed.stdout) as [string, string[]];
    expect(tag).toBe('{http://www.w3.org/2000/svg}svg');
    expect(series.sort()).toEqual(
      [
        'sealcam WASM (relaxed)',
        odd,
        'node:crypto AES-128-GCM encrypt',
        'WASM pool sealed seal, 16 MiB',
        'WASM pool sealed stream seal, 256 MiB',
        'sealcam WASM (relaxed), one message, 1 thread',
        `${odd}, one message, 1 thread`,
      ].sort(),
    );
  });
});

describe('--compare', () => {
  it('joins two runs on row and size and gives B / A', () => {
    const a = record([row('x', 'AES-128-EAX encrypt', KiB, 100), row('x', 'AES-128-EAX encrypt', 64 * KiB, 200), row('only-a', 'ctr', KiB, 5)]);
    const b = record([row('x', 'AES-128-EAX encrypt', KiB, 150), row('x', 'AES-128-EAX encrypt', 64 * KiB, 100), row('only-b', 'ctr', KiB, 7)]);
    const rows = compareRows(a, b);
    expect(rows.map((r) => [r.name, r.size, r.ratio])).toEqual([
      ['x AES-128-EAX encrypt', KiB, 1.5],
      ['x AES-128-EAX encrypt', 64 * KiB, 0.5],
      ['only-a ctr', KiB, null],
      ['only-b ctr', KiB, null],
    ]);
    const text = compareText(a, b, ['a.json', 'b.json']);
    expect(text).toMatch(/x AES-128-EAX encrypt\s+1 KiB\s+100\s+150\s+1\.50x/);
    expect(text).toMatch(/x AES-128-EAX encrypt\s+64 KiB\s+200\s+100\s+0\.50x/);
  });

  it('reads result files and refuses anything else in one line', async () => {
    const good = join(out, 'a.json');
    writeFileSync(good, JSON.stringify(record([row('x', 'ctr', KiB, 1)])));
    expect(loadRecord(good).results).toHaveLength(1);
    const other = join(out, 'other.json');
    writeFileSync(other, JSON.stringify({ machine: {}, results: [] }));
    expect(() => loadRecord(other)).toThrow(/is not a result file of this benchmark/);
    expect(() => loadRecord(join(out, 'missing.json'))).toThrow(/^cannot read .*missing\.json: ENOENT/);
    const lines: string[] = [];
    const args = { ...tiny('', out), filter: null, compare: [good, good] as [string, string] };
    expect(await runBench(args, { log: (l) => lines.push(l) })).toBe(0);
    expect(lines.join('\n')).toMatch(/1\.00x/);
  });
});

describe('the targets', () => {
  const eax = (impl: string, mbps: number, extra: Partial<Result> = {}): Result => row(impl, 'AES-128-EAX encrypt', 16 * MiB, mbps, extra);
  const verdict = (results: Result[], prefix: string): string | undefined => evaluateTargets(results).find((t) => t.target.startsWith(prefix))?.verdict;

  it('pass at the threshold, miss below it, and are n/a without their rows', () => {
    const base = [eax('pycryptodome (python3)', 100), eax('fastest js', 50, { pureJs: true }), eax('sealcam native (node:crypto)', 1000)];
    const scaling = (two: number): Result[] => [...base, pool('wasm', 1, 'sealed seal', 16 * MiB, 100), pool('wasm', 2, 'sealed seal', 16 * MiB, two)];
    expect(verdict(scaling(180), 'WASM sealed seal 16 MiB: 2 workers vs 1 worker')).toBe('PASS');
    expect(verdict(scaling(179), 'WASM sealed seal 16 MiB: 2 workers vs 1 worker')).toBe('MISS');
    expect(verdict(scaling(130), 'WASM sealed seal 16 MiB, 2 workers vs pycryptodome')).toBe('PASS');
    expect(verdict(scaling(129), 'WASM sealed seal 16 MiB, 2 workers vs pycryptodome')).toBe('MISS');
    expect(verdict(scaling(180), 'WASM sealed seal 16 MiB, 1 worker vs fastest pure-JS')).toBe('PASS'); // 100 / 50
    expect(verdict(base, 'WASM sealed seal 16 MiB: 2 workers vs 1 worker')).toBe('n/a');
    expect(verdict(scaling(180), 'native sealed seal 16 MiB, 2 workers')).toBe('n/a');
  });

  it('judge peak RSS per size and its growth from 256 MiB to 1 GiB', () => {
    const streamed = (size: number, rss: number): Result => ({ ...pool('wasm', 2, 'sealed stream seal', size, 100, 'stream'), peakRssMiB: rss });
    const results = [streamed(256 * MiB, 100), streamed(1024 * MiB, 130)];
    expect(verdict(results, 'streamed seal and open 256 MiB')).toBe('PASS');
    expect(verdict(results, 'streamed seal and open 1 GiB')).toBe('MISS');
    expect(verdict(results, 'peak RSS independent of size')).toBe('MISS');
    expect(verdict([streamed(256 * MiB, 100), streamed(1024 * MiB, 101)], 'peak RSS independent of size')).toBe('PASS');
  });
});
