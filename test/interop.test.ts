import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEax } from '../src/engine/eax.js';
import { ENGINES, type EngineName } from '../src/engine/types.js';
import { AuthenticationError } from '../src/errors.js';
import { openRaw, sealRaw } from '../src/formats/raw.js';
import { writeKeyFile } from '../src/keys/keyfile.js';
import { same } from './helpers/bytes.js';
import { sealcam as run, type Run } from './helpers/cli.js';

/**
 * Interoperability with the real pycryptodome (Debian's python3-pycryptodome, which gives
 * /usr/bin/python3 the Cryptodome namespace). Cases go to Python in batches as JSON over
 * stdin/stdout so a few processes cover hundreds of messages. Missing pycryptodome is a failure,
 * not a skip: CI installs it, and interop is the point of the raw format.
 */

const PYTHON = '/usr/bin/python3';
const KEY_SIZES = [16, 24, 32] as const;
const CHUNK = 1 << 20; // the WASM engine's IO chunk: sizes around it cross a chunk boundary

// Reproducible sizes: SEALCAM_TEST_SEED=<n> replays a run (the seed is in the suite name).
const SEED = Number(process.env.SEALCAM_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
const rand = mulberry32(SEED);
const between = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));

// The Python side, in the style of pycryptodome's documented EAX example.
const PY_HELPER = String.raw`
import base64, json, sys
try:
    from Cryptodome.Cipher import AES
except ImportError as err:
    sys.stderr.write('pycryptodome missing: %s\n' % err)
    sys.exit(3)

b = base64.b64decode
def e(x): return base64.b64encode(x).decode()

def run(op):
    kind = op['op']
    key = b(op['key'])
    if kind == 'encrypt':
        cipher = AES.new(key, AES.MODE_EAX, nonce=b(op['nonce']), mac_len=op['macLen'])
        if 'header' in op:
            cipher.update(b(op['header']))
        ct, tag = cipher.encrypt_and_digest(b(op['pt']))
        return {'ct': e(ct), 'tag': e(tag)}
    if kind == 'decrypt':
        tag = b(op['tag'])
        cipher = AES.new(key, AES.MODE_EAX, nonce=b(op['nonce']), mac_len=op.get('macLen', len(tag)))
        if 'header' in op:
            cipher.update(b(op['header']))
        try:
            return {'ok': True, 'pt': e(cipher.decrypt_and_verify(b(op['ct']), tag))}
        except ValueError as err:
            return {'ok': False, 'error': str(err)}
    if kind == 'write_raw':
        # The seed: AES.new(key, AES.MODE_EAX); encrypt_and_digest; nonce + tag + ct to a file.
        data = b(op['pt'])
        cipher = AES.new(key, AES.MODE_EAX)
        ciphertext, tag = cipher.encrypt_and_digest(data)
        with open(op['path'], 'wb') as file_out:
            file_out.write(cipher.nonce + tag + ciphertext)
        return {}
    if kind == 'read_raw':
        with open(op['path'], 'rb') as file_in:
            nonce, tag, ciphertext = [file_in.read(x) for x in (16, 16, -1)]
        cipher = AES.new(key, AES.MODE_EAX, nonce)
        try:
            return {'ok': True, 'pt': e(cipher.decrypt_and_verify(ciphertext, tag))}
        except ValueError as err:
            return {'ok': False, 'error': str(err)}
    raise ValueError('unknown op ' + kind)

json.dump([run(op) for op in json.load(sys.stdin)], sys.stdout)
`;

type PyOp = Record<string, string | number>;
type PyResult = { ct?: string; tag?: string; ok?: boolean; pt?: string; error?: string };

const b64 = (x: Uint8Array): string => Buffer.from(x.buffer, x.byteOffset, x.length).toString('base64');
const unb64 = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64');

function python(ops: PyOp[]): PyResult[] {
  requirePython();
  const r = spawnSync(PYTHON, ['-c', PY_HELPER], {
    input: JSON.stringify(ops),
    maxBuffer: 1 << 30,
    encoding: 'utf8',
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${PYTHON} helper exited ${r.status}: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as PyResult[];
  expect(out).toHaveLength(ops.length);
  return out;
}

const sealcam = (...args: string[]): Run => run(args);

function flipBit(data: Uint8Array, bit: number): Uint8Array {
  const out = Uint8Array.from(data); // a copy (Buffer#slice would be a view)
  out[bit >>> 3]! ^= 1 << (bit & 7);
  return out;
}


interface Case {
  name: string;
  key: Uint8Array;
  nonce: Uint8Array;
  header?: Uint8Array;
  tagLength: number;
  pt: Uint8Array;
}

/** Every key size meets the small edge sizes; large and chunk-boundary sizes are spread over them. */
function makeCases(): Case[] {
  const small = [0, 1, 15, 16, 17, 31, 32, 33, between(34, 4096), between(4097, 256 * 1024)];
  // pycryptodome accepts mac_len 4..16 (sealcam also takes 1..3, which Python cannot check).
  const tagLengths = [16, 16, 12, 8, 4, 15, 5];
  const cases: Case[] = [];
  let i = 0;
  const add = (keyLength: number, size: number): void => {
    const withHeader = i % 3 !== 0;
    const tagLength = tagLengths[i % tagLengths.length]!;
    const nonceLength = i % 5 === 4 ? between(1, 40) : 16; // pycryptodome takes any nonce length
    const header = withHeader ? randomBytes(i % 4 === 1 ? 0 : between(1, 100)) : undefined;
    cases.push({
      name: `AES-${keyLength * 8} ${size} B, tag ${tagLength}${header ? `, header ${header.length} B` : ''}, nonce ${nonceLength} B`,
      key: randomBytes(keyLength),
      nonce: randomBytes(nonceLength),
      header,
      tagLength,
      pt: randomBytes(size),
    });
    i++;
  };
  for (const keyLength of KEY_SIZES) for (const size of small) add(keyLength, size);
  add(24, 1_671_137);
  add(16, CHUNK - 1);
  add(32, CHUNK);
  add(24, CHUNK + 1);
  add(32, between(2 * CHUNK, 3.5 * CHUNK));
  return cases;
}

function caseFields(c: Case): PyOp {
  const op: PyOp = { key: b64(c.key), nonce: b64(c.nonce) };
  if (c.header) op.header = b64(c.header);
  return op;
}

let work: string;
/** Why pycryptodome cannot be used, or undefined when it can. Every test fails on it (no skipping). */
let pythonProblem: string | undefined;

function requirePython(): void {
  if (pythonProblem) throw new Error(pythonProblem);
}

beforeAll(() => {
  const probe = spawnSync(PYTHON, ['-c', 'from Cryptodome.Cipher import AES'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    const why = (probe.error?.message ?? probe.stderr).trim().split('\n').pop();
    pythonProblem =
      `pycryptodome is required for the interop tests, but ${PYTHON} cannot import Cryptodome (${why}); ` +
      'install it with: apt-get install python3-pycryptodome';
  }
  work = mkdtempSync(join(tmpdir(), 'sealcam-interop-'));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe(`pycryptodome interop (seed ${SEED})`, () => {
  it(`${PYTHON} has pycryptodome (Cryptodome.Cipher.AES)`, () => {
    requirePython();
  });

  it('(a) Python encrypts, sealcam decrypts on both engines; altered messages are refused', () => {
    const cases = makeCases();
    const results = python(cases.map((c) => ({ ...caseFields(c), op: 'encrypt', macLen: c.tagLength, pt: b64(c.pt) })));
    cases.forEach((c, i) => {
      const ct = unb64(results[i]!.ct);
      const tag = unb64(results[i]!.tag);
      expect(tag.length, c.name).toBe(c.tagLength);
      expect(ct.length, c.name).toBe(c.pt.length);
      for (const engine of ENGINES) {
        const eax = createEax(c.key, { engine, tagLength: c.tagLength });
        try {
          const header = c.header;
          let pt: Uint8Array;
          try {
            pt = eax.decrypt(c.nonce, ct, tag, { header });
          } catch (err) {
            throw new Error(`${c.name} on ${engine}: ${(err as Error).message}`);
          }
          expect(same(pt, c.pt), `${c.name} on ${engine}`).toBe(true);
          // One flipped bit anywhere (ciphertext, tag, or header) must fail.
          const badTag = flipBit(tag, between(0, tag.length * 8 - 1));
          expect(() => eax.decrypt(c.nonce, ct, badTag, { header }), `${c.name} on ${engine}, tag bit`).toThrow(AuthenticationError);
          if (ct.length > 0) {
            const badCt = flipBit(ct, between(0, ct.length * 8 - 1));
            expect(() => eax.decrypt(c.nonce, badCt, tag, { header }), `${c.name} on ${engine}, ct bit`).toThrow(AuthenticationError);
          }
          if (header && header.length > 0) {
            const badHeader = flipBit(header, between(0, header.length * 8 - 1));
            expect(() => eax.decrypt(c.nonce, ct, tag, { header: badHeader }), `${c.name}, header bit`).toThrow(AuthenticationError);
          }
        } finally {
          eax.dispose();
        }
      }
    });
  });

  it('(b) sealcam encrypts on both engines (identical output), Python decrypt_and_verify accepts it', () => {
    const cases = makeCases();
    const ops: PyOp[] = [];
    const expectOk: boolean[] = [];
    for (const c of cases) {
      const [wasm, native] = (['wasm', 'native'] as EngineName[]).map((engine) => {
        const eax = createEax(c.key, { engine, tagLength: c.tagLength });
        try {
          return eax.encrypt(c.nonce, c.pt, { header: c.header });
        } finally {
          eax.dispose();
        }
      });
      expect(same(wasm!.ciphertext, native!.ciphertext), c.name).toBe(true);
      expect(same(wasm!.tag, native!.tag), c.name).toBe(true);
      expect(wasm!.tag.length, c.name).toBe(c.tagLength);
      ops.push({ ...caseFields(c), op: 'decrypt', ct: b64(wasm!.ciphertext), tag: b64(wasm!.tag) });
      expectOk.push(true);
      // (d) for the general API: Python refuses sealcam output with one flipped bit.
      const flipped = flipBit(wasm!.tag, between(0, c.tagLength * 8 - 1));
      ops.push({ ...caseFields(c), op: 'decrypt', ct: b64(wasm!.ciphertext), tag: b64(flipped) });
      expectOk.push(false);
      if (c.pt.length > 0) {
        const badCt = flipBit(wasm!.ciphertext, between(0, c.pt.length * 8 - 1));
        ops.push({ ...caseFields(c), op: 'decrypt', ct: b64(badCt), tag: b64(wasm!.tag) });
        expectOk.push(false);
      }
    }
    const results = python(ops);
    let k = 0;
    for (const c of cases) {
      const good = results[k++]!;
      expect(good.ok, `${c.name}: ${good.error ?? ''}`).toBe(true);
      expect(same(unb64(good.pt), c.pt), c.name).toBe(true);
      while (k < ops.length && expectOk[k] === false) {
        const bad = results[k++]!;
        expect(bad.ok, `${c.name}, flipped bit`).toBe(false);
        expect(bad.error).toMatch(/MAC check failed/);
      }
    }
    expect(k).toBe(ops.length);
  });

  it('(c) raw files written by the Python seed open with sealcam (library and CLI, both engines)', async () => {
    const dir = mkdtempSync(join(work, 'py-raw-'));
    const sizes = [0, 1, 15, 16, 17, 1_671_137, between(18, 100_000), between(CHUNK, 3 * CHUNK)];
    const files = await Promise.all(
      sizes.map(async (size, i) => {
        const keyLength = KEY_SIZES[i % 3]!;
        const key = randomBytes(keyLength);
        const keyPath = join(dir, `key${i}`);
        // Key files in each accepted encoding: raw, hex with a newline, upper-case hex without.
        if (i % 3 === 0) await writeKeyFile(keyPath, key);
        else writeFileSync(keyPath, i % 3 === 1 ? `${key.toString('hex')}\n` : key.toString('hex').toUpperCase(), { mode: 0o600 });
        return { size, key, keyPath, pt: randomBytes(size), path: join(dir, `py${i}.bin`), engine: ENGINES[i % 2]! };
      }),
    );
    python(files.map((f) => ({ op: 'write_raw', key: b64(f.key), pt: b64(f.pt), path: f.path })));
    for (const f of files) {
      const sealed = readFileSync(f.path);
      expect(sealed.length).toBe(32 + f.size);
      for (const engine of ENGINES) expect(same(openRaw(f.key, sealed, { engine }), f.pt), `${f.size} B on ${engine}`).toBe(true);
      const out = `${f.path}.out`;
      const r = sealcam('decrypt', f.path, '--format', 'raw', '-k', f.keyPath, '-o', out, '--engine', f.engine);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(same(readFileSync(out), f.pt), `${f.size} B via the CLI on ${f.engine}`).toBe(true);
    }
  });

  it('(c) sealcam encrypt output (CLI and library) opens in Python', async () => {
    const dir = mkdtempSync(join(work, 'sc-raw-'));
    const ops: PyOp[] = [];
    const expected: Uint8Array[] = [];
    const sizes = [0, 1, 16, 17, 1_671_137, between(18, 200_000)];
    for (const [i, size] of sizes.entries()) {
      const key = randomBytes(KEY_SIZES[i % 3]!);
      const keyPath = join(dir, `key${i}`);
      await writeKeyFile(keyPath, key);
      const pt = randomBytes(size);
      const input = join(dir, `in${i}`);
      writeFileSync(input, pt);
      const engine = ENGINES[i % 2]!;
      const cliOut = join(dir, `cli${i}.sc`);
      const r = sealcam('encrypt', input, '--format', 'raw', '-k', keyPath, '-o', cliOut, '--engine', engine);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(readFileSync(cliOut).length).toBe(32 + size);
      ops.push({ op: 'read_raw', key: b64(key), path: cliOut });
      expected.push(pt);
      for (const libEngine of ENGINES) {
        const libOut = join(dir, `lib${i}-${libEngine}.sc`);
        writeFileSync(libOut, sealRaw(key, pt, { engine: libEngine }));
        ops.push({ op: 'read_raw', key: b64(key), path: libOut });
        expected.push(pt);
      }
    }
    const results = python(ops);
    results.forEach((res, i) => {
      expect(res.ok, `${String(ops[i]!.path)}: ${res.error ?? ''}`).toBe(true);
      expect(same(unb64(res.pt), expected[i]!), String(ops[i]!.path)).toBe(true);
    });
  });

  it('(d) one flipped bit: Python rejects a sealcam file, sealcam rejects a Python file', async () => {
    const dir = mkdtempSync(join(work, 'flip-'));
    const ops: PyOp[] = [];
    // sealcam -> Python: a bit in the nonce, the tag and the ciphertext.
    for (const [i, region] of (['nonce', 'tag', 'ciphertext'] as const).entries()) {
      const key = randomBytes(KEY_SIZES[i]!);
      const sealed = sealRaw(key, randomBytes(between(1, 50_000)), { engine: ENGINES[i % 2] });
      const [lo, hi] = region === 'nonce' ? [0, 127] : region === 'tag' ? [128, 255] : [256, sealed.length * 8 - 1];
      const path = join(dir, `sc-${region}.sc`);
      writeFileSync(path, flipBit(sealed, between(lo, hi)));
      ops.push({ op: 'read_raw', key: b64(key), path });
    }
    for (const res of python(ops)) {
      expect(res.ok).toBe(false);
      expect(res.error).toMatch(/MAC check failed/);
    }

    // Python -> sealcam, through the CLI: exit 1, one line, nothing written.
    const files = (['nonce', 'tag', 'ciphertext'] as const).map((region, i) => ({
      region,
      key: randomBytes(KEY_SIZES[i]!),
      pt: randomBytes(between(1, 50_000)),
      path: join(dir, `py-${region}.bin`),
      keyPath: join(dir, `py-key-${region}`),
    }));
    python(files.map((f) => ({ op: 'write_raw', key: b64(f.key), pt: b64(f.pt), path: f.path })));
    for (const [i, f] of files.entries()) {
      await writeKeyFile(f.keyPath, f.key);
      const sealed = readFileSync(f.path);
      const [lo, hi] = f.region === 'nonce' ? [0, 127] : f.region === 'tag' ? [128, 255] : [256, sealed.length * 8 - 1];
      const bad = flipBit(sealed, between(lo, hi));
      writeFileSync(f.path, bad);
      for (const engine of ENGINES) expect(() => openRaw(f.key, bad, { engine }), f.region).toThrow(AuthenticationError);
      const before = readdirSync(dir).sort();
      const out = join(dir, `py-${f.region}.out`);
      const r = sealcam('decrypt', f.path, '--format', 'raw', '-k', f.keyPath, '-o', out, '--engine', ENGINES[i % 2]!);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^sealcam: authentication failed: [^\n]*\n$/);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(dir).sort()).toEqual(before);
    }
  });

  it('(e) a truncated tag: pycryptodome (mac_len 16) and sealcam (tag length 16, both engines) both refuse it', () => {
    const key = randomBytes(16);
    const nonce = randomBytes(16);
    const pt = randomBytes(between(1, 5000));
    const { ciphertext, tag } = withEngine('native', key, (eax) => eax.encrypt(nonce, pt));
    const lengths = [1, 8, 15];
    const results = python(lengths.map((n) => ({ op: 'decrypt', key: b64(key), nonce: b64(nonce), macLen: 16, ct: b64(ciphertext), tag: b64(tag.subarray(0, n)) })));
    for (const res of results) {
      expect(res.ok).toBe(false);
      expect(res.error).toMatch(/MAC check failed/);
    }
    for (const engine of ENGINES) {
      for (const n of lengths) {
        expect(() => withEngine(engine, key, (eax) => eax.decrypt(nonce, ciphertext, tag.subarray(0, n))), `${n} bytes on ${engine}`).toThrow(AuthenticationError);
      }
    }
  });
});

function withEngine<T>(engine: EngineName, key: Uint8Array, fn: (eax: ReturnType<typeof createEax>) => T): T {
  const eax = createEax(key, { engine });
  try {
    return fn(eax);
  } finally {
    eax.dispose();
  }
}
