import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCtr, checkDecrypt, checkEncrypt, type EncryptFn } from '../bench/cases/check.js';
import { syncCase } from '../bench/cases/make.js';
import { header, KEYS, nonce, plaintext } from '../bench/cases/inputs.js';
import { OPS, type Case } from '../bench/cases/types.js';
import { botanCases } from '../bench/botan.js';
import { noAesCases, noAesEnvironment, NOAES_IMPL } from '../bench/cases/noaes.js';
import { blockSeries, chartSvg } from '../bench/chart.js';
import { BLOCK_TABLE_TITLE, blockTable, markdownReport } from '../bench/report.js';
import { compareRows, compareText, loadRecord } from '../bench/compare.js';
import { noblePeer } from '../bench/peers.js';
import { parseBenchArgs, UsageError, type BenchArgs } from '../bench/plan.js';
import { PYTHON, pythonCases } from '../bench/python.js';
import { SCHEMA, type Result, type RunRecord, type WholeProcess } from '../bench/results.js';
import { runBench } from '../bench/run.js';
import { runStreams } from '../bench/stream.js';
import { evaluateTargets } from '../bench/targets.js';
import { packageRoot } from '../src/paths.js';
import { sealcam, type Run } from './helpers/cli.js';

/**
 * The benchmark suite's own parts: the cross-checks catch wrong implementations and make the run
 * fail, the peers it drives (pycryptodome, the streaming child) agree with sealcam, the chart is
 * well-formed XML with the expected series, --compare computes ratios, and the targets are judged
 * from the rows. No speed is asserted anywhere.
 */

const KiB = 1024;
let out: string;

beforeAll(() => {
  // The suite starts dist/bench/simd-worker.js, noaes-child.js and stream-child.js, and pools run dist/src/pool/worker.js.
  for (const f of ['bench/simd-worker.js', 'bench/noaes-child.js', 'bench/stream-child.js', 'src/pool/worker.js']) {
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

describe('sealcam bench (the CLI)', () => {
  // The smallest run the suite offers: one single-thread row at the tiny sizes, nothing streamed.
  const oneRow = (dir: string, ...extra: string[]): Run =>
    sealcam(['bench', '--tiny', '--no-hyperfine', '--filter', '^sealcam native \\(node:crypto\\) AES-128-EAX encrypt$', '--out', dir, ...extra], { timeout: 120_000 });
  const TARGETS_TABLE = /^target\s+measured\s+needed\s+result$/m;

  it('--targets reaches the suite: the targets table is printed and goes into the markdown', () => {
    const dir = mkdtempSync(join(out, 'cli-targets-'));
    const run = oneRow(dir, '--targets');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(TARGETS_TABLE);
    const md = readdirSync(dir).find((f) => f.endsWith('.md'))!;
    expect(readFileSync(join(dir, md), 'utf8')).toContain('## Targets');
  });

  it('without --targets neither the console nor the markdown has the targets table', () => {
    const dir = mkdtempSync(join(out, 'cli-plain-'));
    const run = oneRow(dir);
    expect(run.status).toBe(0);
    expect(run.stdout).not.toMatch(TARGETS_TABLE);
    const md = readdirSync(dir).find((f) => f.endsWith('.md'))!;
    expect(readFileSync(join(dir, md), 'utf8')).not.toContain('## Targets');
  });

  it('its help says where the results go', () => {
    const help = sealcam(['bench', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout.replace(/\s+/g, ' ')).toMatch(/writes? .*\.json, \.md and \.svg .*bench\/out\//);
  });
});

/** A peer's four EAX rows pass their cross-check and time themselves; then the peer is closed. */
async function expectPeerAgrees(cases: Case[]): Promise<void> {
  try {
    expect(cases.map((c) => c.op)).toEqual(['AES-128-EAX encrypt', 'AES-128-EAX decrypt+verify', 'AES-256-EAX encrypt', 'AES-256-EAX decrypt+verify']);
    for (const c of cases) {
      expect(await c.check(), c.op).toBeNull();
      const m = await c.measure(64 * KiB, 5, 3);
      expect(m.samples.length).toBeGreaterThanOrEqual(3);
    }
  } finally {
    for (const c of cases) await c.close?.();
  }
}

describe('peers the suite drives', () => {
  it('pycryptodome agrees with sealcam native and returns its own timings', async () => {
    if (spawnSync(PYTHON, ['-c', 'import Cryptodome'], { stdio: 'ignore' }).status !== 0) throw new Error('pycryptodome is required (apt-get install python3-pycryptodome)');
    const { cases, note } = await pythonCases();
    expect(note).toBeUndefined();
    await expectPeerAgrees(cases);
  });

  it("Botan's EAX (a C++ driver built with g++) agrees with sealcam native and returns its own timings", async () => {
    const { cases, note } = await botanCases();
    if (note) throw new Error(`${note} (apt-get install g++ libbotan-2-dev)`);
    await expectPeerAgrees(cases);
  });

  it('node:crypto without AES instructions runs in a child with OpenSSL\'s capability mask and agrees with the WASM engine', async () => {
    const { cases, note } = await noAesCases(false);
    expect(note).toMatch(/OPENSSL_(ia32|arm)cap=/);
    try {
      expect(cases.map((c) => c.impl)).toEqual(cases.map(() => NOAES_IMPL));
      expect(cases.map((c) => c.op)).toEqual(expect.arrayContaining(['AES-128-EAX encrypt', 'sealed seal', OPS.cbcEncrypt]));
      for (const c of cases) expect(await c.check(), c.op).toBeNull();
      const encrypt = cases.find((c) => c.op === 'AES-128-EAX encrypt')!;
      expect((await encrypt.measure(16 * KiB, 5, 3)).samples.length).toBeGreaterThanOrEqual(3);
    } finally {
      for (const c of cases) await c.close?.();
    }
  });

  it('the capability masks: AES-NI and PCLMULQDQ off on x86-64, every extension off on arm64, none known elsewhere', () => {
    expect(noAesEnvironment('x64')).toEqual({ OPENSSL_ia32cap: '~0x200000200000000' });
    expect(noAesEnvironment('arm64')).toEqual({ OPENSSL_armcap: '0' });
    expect(noAesEnvironment('riscv64')).toBeNull();
  });

  it('the streamed case seals and opens through a child process on each of the three paths and checks the files', async () => {
    const size = 5 * 64 * KiB + 9;
    const rows = await runStreams({
      sizes: [size],
      configs: () => (['files', 'main-thread I/O', 'Duplex'] as const).map((via) => ({ engine: 'wasm' as const, workers: 1, via })),
      inProcess: false,
      wanted: () => true,
      log: () => {},
    });
    expect(rows.map((r) => [r.name, r.status])).toEqual([
      ['sealcam WASM pool, 1 worker sealed stream seal', 'ok'],
      ['sealcam WASM pool, 1 worker sealed stream open', 'ok'],
      ['sealcam WASM pool, 1 worker, main-thread I/O sealed stream seal', 'ok'],
      ['sealcam WASM pool, 1 worker, main-thread I/O sealed stream open', 'ok'],
      ['sealcam WASM pool, 1 worker, Duplex sealed stream seal', 'ok'],
      ['sealcam WASM pool, 1 worker, Duplex sealed stream open', 'ok'],
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

describe('the AES block table', () => {
  const block = (impl: string, kernel: string, inFlight: number, mbps: number): Result =>
    row(impl, kernel === 'OpenSSL' ? OPS.cbcEncrypt : OPS.blocksInFlight(inFlight, kernel), 64 * KiB, mbps, { kind: 'blocks', blocks: { kernel, inFlight }, cyclesPerByte: 2000 / mbps });
  const results = [
    ...[1, 2, 4, 6, 8].map((k) => block('sealcam WASM (relaxed)', 'vperm', k, 100 * k)),
    block('sealcam WASM (relaxed)', 'bitsliced', 8, 500),
    block('sealcam native (node:crypto)', 'OpenSSL', 1, 1000),
    row('sealcam native (node:crypto)', OPS.blocks, 64 * KiB, 4000, { kind: 'part', cyclesPerByte: 0.5 }),
  ];

  it('has one line per kernel, k = 1..8 in flight, and OpenSSL\'s own ECB for node:crypto', () => {
    const t = blockTable(results)!;
    expect(t.head).toEqual(['kernel (64 KiB)', 'k=1', 'k=2', 'k=4', 'k=6', 'k=8', 'OpenSSL ECB']);
    expect(t.rows).toEqual([
      ['sealcam WASM (relaxed), vperm', '100 (20.0)', '200 (10.0)', '400 (5.0)', '600 (3.3)', '800 (2.5)', ''],
      ['sealcam WASM (relaxed), bitsliced', '', '', '', '', '500 (4.0)', ''],
      ['sealcam native (node:crypto)', '1000 (2.0)', '', '', '', '', '4000 (0.5)'],
    ]);
    expect(blockTable([row('x', 'AES-128-EAX encrypt', KiB, 1)])).toBeNull();
  });

  it('is drawn as a panel of its own, one series per kernel', () => {
    expect(blockSeries(results).map((s) => [s.name, s.points.map((p) => p.x)])).toEqual([
      ['sealcam WASM (relaxed), vperm', [1, 2, 4, 6, 8]],
      ['sealcam WASM (relaxed), bitsliced', [8]],
      ['sealcam native (node:crypto), CBC encrypt', [1]],
    ]);
    expect(chartSvg(record(results))).toContain('blocks in flight');
  });

  it('goes into the markdown; the targets only with --targets', () => {
    const md = markdownReport(record(results));
    expect(md).toContain(`## ${BLOCK_TABLE_TITLE}`);
    expect(md).not.toContain('## Targets');
    expect(markdownReport(record(results), true)).toContain('## Targets');
    expect(parseBenchArgs([])).toMatchObject({ targets: false });
    expect(parseBenchArgs(['--targets'])).toMatchObject({ targets: true });
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
    const MiB256 = 256 * MiB;
    const base = [eax('pycryptodome (python3)', 100), eax('fastest js', 50, { pureJs: true }), eax('sealcam native (node:crypto)', 100), eax('sealcam WASM (relaxed)', 100)];
    const run = (w1: number, s2: number, native2: number): Result[] => [
      ...base,
      pool('wasm', 1, 'sealed seal', 16 * MiB, w1),
      pool('wasm', 1, 'sealed stream seal', MiB256, 100, 'stream'),
      pool('wasm', 2, 'sealed stream seal', MiB256, s2, 'stream'),
      pool('native', 2, 'sealed seal', 16 * MiB, native2),
    ];
    const scaling = 'WASM sealed stream seal 256 MiB: 2 workers vs 1 worker';
    const pooled = 'WASM sealed seal 16 MiB, 1 worker vs single-message WASM EAX encrypt on the main thread';
    const python = 'WASM sealed stream seal 256 MiB, 2 workers vs pycryptodome';
    const native = 'native sealed seal 16 MiB, 2 workers vs single-message node:crypto EAX';
    expect([scaling, pooled, python, native].map((t) => verdict(run(130, 185, 150), t))).toEqual(['PASS', 'PASS', 'PASS', 'PASS']);
    expect([scaling, pooled, native].map((t) => verdict(run(129, 184, 149), t))).toEqual(['MISS', 'MISS', 'MISS']);
    expect(verdict(run(130, 160, 150), python)).toBe('PASS');
    expect(verdict(run(130, 159, 150), python)).toBe('MISS');
    expect(verdict(run(100, 185, 150), 'WASM sealed seal 16 MiB, 1 worker vs fastest pure-JS')).toBe('PASS'); // 100 / 50
    expect(verdict(base, scaling)).toBe('n/a');
    expect(verdict(base, 'native sealed stream seal 256 MiB, 2 workers')).toBe('n/a');
  });

  it('compare WASM with node:crypto without AES instructions: sealed on 1 worker >= 2x, single message >= 1.2x', () => {
    const noAes = eax(NOAES_IMPL, 100);
    const results = (seal: number, single: number): Result[] => [noAes, pool('wasm', 1, 'sealed seal', 16 * MiB, seal), eax('sealcam WASM (relaxed)', single), eax('sealcam WASM (simd)', single / 2)];
    const sealed = 'WASM sealed seal 16 MiB, 1 worker vs node:crypto without AES instructions';
    const single = 'WASM single-message EAX encrypt 16 MiB (faster build) vs node:crypto without AES instructions';
    expect([verdict(results(200, 120), sealed), verdict(results(200, 120), single)]).toEqual(['PASS', 'PASS']);
    expect([verdict(results(199, 119), sealed), verdict(results(199, 119), single)]).toEqual(['MISS', 'MISS']);
    expect(verdict([noAes], sealed)).toBe('n/a');
    expect(evaluateTargets([]).every((t) => !/issue/i.test(t.target))).toBe(true);
  });

  it('judge peak RSS per size and engine (at most 96 MiB) and its growth from 256 MiB to 1 GiB', () => {
    const streamed = (size: number, rss: number): Result => ({ ...pool('wasm', 2, 'sealed stream seal', size, 100, 'stream'), peakRssMiB: rss });
    const results = [streamed(256 * MiB, 96), streamed(1024 * MiB, 97)];
    expect(verdict(results, 'streamed seal and open 256 MiB, wasm pool')).toBe('PASS');
    expect(verdict(results, 'streamed seal and open 1 GiB, wasm pool')).toBe('MISS');
    expect(verdict(results, 'streamed seal and open 1 GiB, native pool')).toBe('n/a');
    expect(verdict([streamed(256 * MiB, 80), streamed(1024 * MiB, 96)], 'peak RSS independent of size')).toBe('MISS');
    expect(verdict([streamed(256 * MiB, 100), streamed(1024 * MiB, 101)], 'peak RSS independent of size')).toBe('PASS');
  });

  it('judge the whole-process ratios against the seed script and node, and are n/a without hyperfine', () => {
    const whole = (ratios: Record<string, number>): WholeProcess => ({ notes: [], commands: [], startup: null, disagreements: [], comparisons: Object.entries(ratios).map(([what, ratio]) => ({ what, ratio })) });
    const judged = (w: WholeProcess | null, prefix: string) => evaluateTargets([], w).find((t) => t.target.startsWith(prefix))?.verdict;
    const met = whole({ 'one image: sealcam / seed script (wall time)': 1.3, '100 images: sealcam / seed script (wall time)': 0.6, 'start-up: sealcam --version / node -e 0': 1.15 });
    const missed = whole({ 'one image: sealcam / seed script (wall time)': 1.31, '100 images: sealcam / seed script (wall time)': 0.61, 'start-up: sealcam --version / node -e 0': 1.16 });
    const prefixes = ['sealcam encrypt of one camera image (raw', '100 images in one invocation', 'sealcam --version vs node'];
    expect(prefixes.map((p) => judged(met, p))).toEqual(['PASS', 'PASS', 'PASS']);
    expect(prefixes.map((p) => judged(missed, p))).toEqual(['MISS', 'MISS', 'MISS']);
    expect(prefixes.map((p) => judged(null, p))).toEqual(['n/a', 'n/a', 'n/a']);
  });
});
