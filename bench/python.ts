import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../src/paths.js';
import { checkDecrypt, checkEncrypt, guard, same } from './cases/check.js';
import { eaxSealed, header, KEYS, nonce, plaintext } from './cases/inputs.js';
import { KEY_BITS, OPS, type Case } from './cases/types.js';
import type { Measurement } from './measure.js';

/**
 * pycryptodome (Debian's python3-pycryptodome through /usr/bin/python3), the seed scripts'
 * library, as a peer: one long-lived Python process (bench/pycryptodome_peer.py) times each
 * operation inside Python and sends back the samples and the output, which is checked here.
 */

export const PYTHON = '/usr/bin/python3';
const SCRIPT = join(packageRoot, 'bench', 'pycryptodome_peer.py');

interface Request {
  op: 'encrypt' | 'decrypt';
  bits: 128 | 256;
  nonce: Uint8Array;
  header: Uint8Array;
  data: Uint8Array;
  tag?: Uint8Array;
  timeMs: number;
  minIterations: number;
}

interface Reply {
  samples: number[];
  output: Uint8Array;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** The Python process and its framed protocol: a JSON line, then raw bytes, each way; one request at a time. */
class PythonPeer {
  private buffered = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  private exited: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.stdout.on('data', (d: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, d]);
      this.waiting?.();
    });
    proc.on('exit', (code) => {
      this.exited = `python exited (${code})${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`;
      this.waiting?.();
    });
    proc.on('error', (e) => {
      this.exited = e.message;
      this.waiting?.();
    });
  }

  private async take(test: () => number): Promise<Buffer> {
    for (;;) {
      const n = test();
      if (n >= 0) {
        const out = this.buffered.subarray(0, n);
        this.buffered = this.buffered.subarray(n);
        return out;
      }
      if (this.exited) throw new Error(this.exited);
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = undefined;
    }
  }

  private async exchange(req: Request): Promise<Reply> {
    const line = {
      op: req.op,
      key: hex(KEYS[req.bits]),
      nonce: hex(req.nonce),
      header: hex(req.header),
      tag: req.tag ? hex(req.tag) : '',
      length: req.data.length,
      timeMs: req.timeMs,
      minIterations: req.minIterations,
    };
    this.proc.stdin.write(JSON.stringify(line) + '\n');
    this.proc.stdin.write(req.data);
    const head = await this.take(() => {
      const i = this.buffered.indexOf(0x0a);
      return i < 0 ? -1 : i + 1;
    });
    const reply = JSON.parse(head.toString()) as { ok: true; samples: number[]; length: number } | { ok: false; error: string };
    if (!reply.ok) throw new Error(`pycryptodome: ${reply.error}`);
    const output = await this.take(() => (this.buffered.length >= reply.length ? reply.length : -1));
    return { samples: reply.samples, output: new Uint8Array(output) };
  }

  /** Requests run one after another (the protocol has no ids). */
  run(req: Request): Promise<Reply> {
    const next = this.queue.then(() => this.exchange(req));
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.proc.stdin.end();
  }
}

async function startPeer(): Promise<PythonPeer> {
  const proc = spawn(PYTHON, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
  const peer = new PythonPeer(proc);
  // A one-block request proves the interpreter and pycryptodome are there.
  await peer.run({ op: 'encrypt', bits: 128, nonce, header, data: new Uint8Array(16), timeMs: 0, minIterations: 0 });
  return peer;
}

function split(sealed: Uint8Array): { ciphertext: Uint8Array; tag: Uint8Array } {
  return { ciphertext: sealed.subarray(0, sealed.length - 16), tag: sealed.subarray(sealed.length - 16) };
}

/** The pycryptodome rows, or a note saying why there are none. */
export async function pythonCases(): Promise<{ cases: Case[]; note?: string }> {
  let peer: PythonPeer;
  try {
    peer = await startPeer();
  } catch (e) {
    return { cases: [], note: `pycryptodome rows skipped: ${PYTHON} with pycryptodome is not usable (${(e as Error).message})` };
  }
  const impl = 'pycryptodome (python3)';
  let closed = false;
  const close = async (): Promise<void> => {
    if (!closed) peer.close();
    closed = true;
  };
  const base = { impl, kind: 'eax', pureJs: false, close } as const;
  const cases = KEY_BITS.flatMap((bits): Case[] => {
    const encrypt = (n: Uint8Array, data: Uint8Array, h: Uint8Array, timeMs = 0, minIterations = 0): Promise<Reply> =>
      peer.run({ op: 'encrypt', bits, nonce: n, header: h, data, timeMs, minIterations });
    const decrypt = (n: Uint8Array, data: Uint8Array, tag: Uint8Array, h: Uint8Array, timeMs = 0, minIterations = 0): Promise<Reply> =>
      peer.run({ op: 'decrypt', bits, nonce: n, header: h, data, tag, timeMs, minIterations });
    return [
      {
        ...base,
        op: OPS.encrypt(bits),
        keyBits: bits,
        direction: 'enc',
        check: () => guard(() => checkEncrypt(bits, async (n, pt, h) => split((await encrypt(n, pt, h)).output))),
        measure: async (size, timeMs, minIterations): Promise<Measurement> => {
          const r = await encrypt(nonce, plaintext(size), header, timeMs, minIterations);
          const want = eaxSealed(bits, size);
          const got = split(r.output);
          if (!same(got.ciphertext, want.ciphertext) || !same(got.tag, want.tag)) throw new Error(`output differs from sealcam native at ${size} bytes`);
          return { samples: r.samples };
        },
      },
      {
        ...base,
        op: OPS.decrypt(bits),
        keyBits: bits,
        direction: 'dec',
        check: () => guard(() => checkDecrypt(bits, async (n, ct, tag, h) => (await decrypt(n, ct, tag, h)).output)),
        measure: async (size, timeMs, minIterations): Promise<Measurement> => {
          const { ciphertext, tag } = eaxSealed(bits, size);
          const r = await decrypt(nonce, ciphertext, tag, header, timeMs, minIterations);
          if (!same(r.output, plaintext(size))) throw new Error(`plaintext differs from the input at ${size} bytes`);
          return { samples: r.samples };
        },
      },
    ];
  });
  return { cases };
}
