import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { checkDecrypt, checkEncrypt, guard, same } from './cases/check.js';
import { eaxSealed, header, KEYS, nonce, plaintext } from './cases/inputs.js';
import { KEY_BITS, OPS, type Case } from './cases/types.js';
import type { Measurement } from './measure.js';

/**
 * An EAX implementation in another process, as a benchmark peer: pycryptodome (bench/python.ts)
 * and Botan (bench/botan.ts). One long-lived process times each operation itself, so its start-up
 * and the pipe are excluded, and sends back the samples and the output, which is checked here.
 *
 * Protocol, one request at a time. Request: a line of space-separated fields
 *   op key nonce header tag length timeMs minIterations
 * (op `encrypt` or `decrypt`; byte strings in hex, `-` when empty), then `length` raw input bytes.
 * The peer runs the operation once as a warm-up, then repeatedly until timeMs has passed and at
 * least minIterations runs were timed, each alone. Reply: a JSON line, {"ok":true,"samples":[ms,
 * ...],"length":n} then n bytes of output of the last run (ciphertext || tag, or the plaintext);
 * or {"ok":false,"error":"..."} and nothing else (a tag that does not verify).
 */

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

const hex = (b: Uint8Array | undefined): string => (b && b.length ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex') : '-');

export class PipePeer {
  private buffered = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  private exited: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly name: string,
    private readonly proc: ChildProcessWithoutNullStreams,
  ) {
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.stdout.on('data', (d: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, d]);
      this.waiting?.();
    });
    proc.on('exit', (code) => {
      this.exited = `${name} exited (${code})${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`;
      this.waiting?.();
    });
    proc.on('error', (e) => {
      this.exited = e.message;
      this.waiting?.();
    });
    // A peer that dies mid-request must not crash the suite with EPIPE.
    proc.stdin.on('error', () => undefined);
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
    const fields = [req.op, hex(KEYS[req.bits]), hex(req.nonce), hex(req.header), hex(req.tag), req.data.length, req.timeMs, req.minIterations];
    this.proc.stdin.write(fields.join(' ') + '\n');
    this.proc.stdin.write(req.data);
    const head = await this.take(() => {
      const i = this.buffered.indexOf(0x0a);
      return i < 0 ? -1 : i + 1;
    });
    const reply = JSON.parse(head.toString()) as { ok: true; samples: number[]; length: number } | { ok: false; error: string };
    if (!reply.ok) throw new Error(`${this.name}: ${reply.error}`);
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

/** Starts a peer and proves it works with a one-block request. */
export async function startPeer(name: string, spawnIt: () => ChildProcessWithoutNullStreams): Promise<PipePeer> {
  const peer = new PipePeer(name, spawnIt());
  try {
    await peer.run({ op: 'encrypt', bits: 128, nonce, header, data: new Uint8Array(16), timeMs: 0, minIterations: 0 });
  } catch (e) {
    peer.close();
    throw e;
  }
  return peer;
}

function split(sealed: Uint8Array): { ciphertext: Uint8Array; tag: Uint8Array } {
  return { ciphertext: sealed.subarray(0, sealed.length - 16), tag: sealed.subarray(sealed.length - 16) };
}

/** The EAX rows of a started peer (encrypt and decrypt+verify, AES-128 and AES-256). */
export function peerCases(impl: string, peer: PipePeer): Case[] {
  let closed = false;
  const close = async (): Promise<void> => {
    if (!closed) peer.close();
    closed = true;
  };
  const base = { impl, kind: 'eax', pureJs: false, close } as const;
  return KEY_BITS.flatMap((bits): Case[] => {
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
}
