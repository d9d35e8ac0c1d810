import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEax } from '../src/engine/eax.js';
import { ENGINES } from '../src/engine/types.js';
import { packageRoot, vectorsDir } from '../src/paths.js';
import { encryptBlock, expandKey } from '../src/vectors/reference.js';
import { listVectorFiles, loadVectorFile } from '../src/vectors/files.js';
import { PUBLIC_KEY_VECTORS, runFile, type EaxVector, type VectorFile } from '../src/vectors/run.js';
import { CLI } from './helpers/cli.js';

/**
 * Driven by the files in vectors/: the list and the counts are read here, independently of the
 * runner, so a file or vector the runner silently skipped fails a test.
 */

interface Expected {
  file: string;
  count: number;
}

function expectedFiles(): Expected[] {
  const files = (readdirSync(vectorsDir, { recursive: true }) as string[])
    .map((f) => f.split('\\').join('/'))
    .filter((f) => f.endsWith('.json') && !PUBLIC_KEY_VECTORS.includes(f))
    .sort();
  return files.map((file) => {
    const doc = JSON.parse(readFileSync(join(vectorsDir, file), 'utf8'));
    if (Array.isArray(doc.testGroups)) {
      // Wycheproof: the declared total must match the tests actually present.
      const present = doc.testGroups.reduce((n: number, g: { tests: unknown[] }) => n + g.tests.length, 0);
      if (present !== doc.numberOfTests) throw new Error(`${file}: numberOfTests ${doc.numberOfTests}, present ${present}`);
      return { file, count: present };
    }
    if (doc.vectors.length !== doc.count) throw new Error(`${file}: count ${doc.count}, present ${doc.vectors.length}`);
    return { file, count: doc.count };
  });
}

const EXPECTED = expectedFiles();

const loaded = new Map<string, VectorFile>();
function load(file: string): VectorFile {
  let vf = loaded.get(file);
  if (!vf) loaded.set(file, (vf = loadVectorFile(file)));
  return vf;
}

describe('vector files', () => {
  it('leave exactly the five public-key files, all present, to their own tests', () => {
    for (const file of PUBLIC_KEY_VECTORS) expect(existsSync(join(vectorsDir, file)), file).toBe(true);
    expect(PUBLIC_KEY_VECTORS).toHaveLength(5);
  });

  it('are all found by the runner (14 project files, the 2 Wycheproof originals and the sealed-v1 and sealed-v2 files)', () => {
    expect(listVectorFiles()).toEqual(EXPECTED.map((e) => e.file));
    expect(EXPECTED.filter((e) => e.file.startsWith('wycheproof/'))).toHaveLength(2);
    expect(EXPECTED).toHaveLength(18);
    expect(EXPECTED.map((e) => e.file)).toContain('sealed-v1/vectors.json');
    expect(EXPECTED.map((e) => e.file)).toContain('sealed-v2/vectors.json');
  });
});

describe.each(ENGINES)('engine %s', (engine) => {
  it.each(EXPECTED)('$file: all $count vectors pass', async ({ file, count }) => {
    const r = await runFile(load(file), engine);
    expect(r.failures).toEqual([]);
    expect(r.failed).toBe(0);
    expect(r.passed).toBe(count);
  });
});

describe('the harness can fail', () => {
  // Each case corrupts a freshly loaded copy, never the cached one.
  it.each(ENGINES)('a flipped ciphertext bit in a block vector is reported (%s)', async (engine) => {
    const vf = loadVectorFile('aes-fips197.json');
    const v = vf.vectors[1]!;
    if (v.kind !== 'block') throw new Error('expected a block vector');
    v.ct[5]! ^= 0x01;
    const r = await runFile(vf, engine);
    expect(r.failed).toBe(1);
    expect(r.passed).toBe(vf.vectors.length - 1);
    expect(r.failures).toEqual([{ id: v.id, reason: 'ct differs at byte 5' }]);
  });

  it.each(ENGINES)('an invalid EAX case that carries the genuine tag is reported (%s)', async (engine) => {
    const vf = loadVectorFile('eax-wycheproof.json');
    const v = vf.vectors.find((x): x is EaxVector => x.kind === 'eax' && !x.valid && x.nonce.length > 0);
    if (!v) throw new Error('expected an invalid EAX vector');
    const eax = createEax(v.key, { engine: 'native', tagLength: v.tagLength });
    const sealed = eax.encrypt(v.nonce, v.msg, { header: v.header });
    eax.dispose();
    expect(sealed.ciphertext).toEqual(v.ct);
    v.tag.set(sealed.tag);
    const r = await runFile(vf, engine);
    expect(r.failed).toBe(1);
    expect(r.failures[0]!.id).toBe(v.id);
    expect(r.failures[0]!.reason).toMatch(/released/);
  });

  it.each(ENGINES)('a changed FIPS 197 round key word is reported (%s)', async (engine) => {
    const vf = loadVectorFile('aes-fips197-keyexp.json');
    const v = vf.vectors[2]!;
    if (v.kind !== 'keyexp') throw new Error('expected a keyexp vector');
    v.roundKeys[59]! ^= 0x100;
    expect((await runFile(vf, engine)).failures).toEqual([{ id: v.id, reason: 'reference key expansion differs from the vector at w[59]' }]);
  });

  it('a file holding fewer vectors than it declares is reported', async () => {
    const vf = loadVectorFile('ctr-rfc3686.json');
    const r = await runFile({ ...vf, vectors: vf.vectors.slice(1) }, 'native');
    expect(r.failed).toBe(1);
    expect(r.failures[0]!.id).toBeNull();
  });
});

describe('reference AES (test-only)', () => {
  it('enciphers the FIPS 197 known answers from its own key expansion', () => {
    const vf = load('aes-fips197.json');
    for (const v of vf.vectors) {
      if (v.kind !== 'block') throw new Error('expected block vectors');
      expect(encryptBlock(expandKey(v.key), v.pt)).toEqual(v.ct);
    }
  });
});

describe('sealcam vectors (built CLI)', () => {
  function cli(args: string[], env: NodeJS.ProcessEnv = { ...process.env, SEALCAM_WASM: 'simd' }): { status: number | null; stdout: string; stderr: string } {
    return spawnSync(process.execPath, [CLI, ...args], { cwd: packageRoot, env, encoding: 'utf8' });
  }

  /** The table's rows by "file engine build". */
  function rows(stdout: string): Map<string, { passed: number; failed: number }> {
    const found = new Map<string, { passed: number; failed: number }>();
    for (const line of stdout.split('\n')) {
      const m = /^(\S+\.json)\s+(wasm|native)\s+(relaxed|simd|-)\s+(\d+)\s+(\d+)$/.exec(line);
      if (m) found.set(`${m[1]} ${m[2]} ${m[3]}`, { passed: Number(m[4]), failed: Number(m[5]) });
    }
    return found;
  }

  it('passes every file on both engines with the baseline (non-relaxed) WASM build when SEALCAM_WASM=simd asks for it', () => {
    const { status, stdout, stderr } = cli(['vectors']);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(stdout).toMatch(/WASM builds: simd;?\n|WASM builds: simd$/m);
    const found = rows(stdout);
    expect(found.size).toBe(EXPECTED.length * ENGINES.length);
    for (const { file, count } of EXPECTED) {
      expect(found.get(`${file} native -`), file).toEqual({ passed: count, failed: 0 });
      expect(found.get(`${file} wasm simd`), file).toEqual({ passed: count, failed: 0 });
    }
  });

  it('without SEALCAM_WASM runs both WASM builds, as the README says: relaxed here, simd in a worker thread', () => {
    const env = { ...process.env };
    delete env.SEALCAM_WASM;
    const { status, stdout, stderr } = cli(['vectors', '--engine', 'wasm'], env);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(stdout).toMatch(/WASM builds: relaxed, simd/);
    const found = rows(stdout);
    for (const { file, count } of EXPECTED) {
      for (const build of ['relaxed', 'simd']) expect(found.get(`${file} wasm ${build}`), `${file} ${build}`).toEqual({ passed: count, failed: 0 });
    }
  });

  it('stops quietly, with the status of SIGPIPE, when the reader of its output has gone (sealcam vectors | true)', () => {
    // `true` exits at once, long before the first result line is written.
    const r = spawnSync('bash', ['-c', `"$0" "$1" vectors | true; echo "exit $\{PIPESTATUS[0]}" >&2`, process.execPath, CLI], { cwd: packageRoot, env: { ...process.env, SEALCAM_WASM: 'simd' }, encoding: 'utf8' });
    expect(r.stderr).toBe('exit 141\n');
  });

  it('--json gives the same results as data', () => {
    const { status, stdout } = cli(['vectors', '--engine', 'native', '--json']);
    expect(status).toBe(0);
    const out = JSON.parse(stdout) as { wasmBuilds: string[]; failed: number; results: { file: string; engine: string; passed: number }[] };
    expect(out.wasmBuilds).toEqual([]);
    expect(out.failed).toBe(0);
    expect(out.results.map((r) => [r.file, r.engine, r.passed])).toEqual(EXPECTED.map((e) => [e.file, 'native', e.count]));
  });

  it("checks the user's own files (FILE...) in the published schemas, and fails on a wrong answer in one", () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealcam-myvectors-'));
    try {
      const mine = join(dir, 'mine.json');
      copyFileSync(join(packageRoot, 'vectors', 'eax-paper.json'), mine);
      const good = cli(['vectors', mine]);
      expect(good.status, good.stderr).toBe(0);
      const count = EXPECTED.find((e) => e.file === 'eax-paper.json')!.count;
      expect(rows(good.stdout).get(`${mine} native -`)).toEqual({ passed: count, failed: 0 });
      expect(rows(good.stdout).get(`${mine} wasm simd`)).toEqual({ passed: count, failed: 0 });
      expect(good.stdout).toMatch(/files: 1 of yours/);
      // One changed ciphertext byte in the user's file is a failure, named by file and vector.
      const doc = JSON.parse(readFileSync(mine, 'utf8')) as { vectors: { ct: string }[] };
      const v = doc.vectors.find((x) => x.ct.length > 0)!;
      v.ct = (v.ct[0] === '0' ? '1' : '0') + v.ct.slice(1);
      writeFileSync(mine, JSON.stringify(doc));
      const bad = cli(['vectors', mine, '--engine', 'native']);
      expect(bad.status).toBe(1);
      expect(bad.stdout).toMatch(new RegExp(`${mine.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\[native\\] #\\S+: `));
      const missing = cli(['vectors', join(dir, 'none.json'), '--engine', 'native']);
      expect(missing.status).toBe(1);
      expect(missing.stdout).toMatch(/none\.json.*cannot read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
