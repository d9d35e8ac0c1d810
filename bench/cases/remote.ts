import type { ChildProcess } from 'node:child_process';
import type { Worker } from 'node:worker_threads';
import type { Measurement } from '../measure.js';
import { caseName, type Case } from './types.js';

/**
 * Rows that run elsewhere, driven row by row from the main thread: the other WASM build on a worker
 * thread (bench/simd-worker.ts), node:crypto without AES instructions in a child process started
 * with OpenSSL's capability mask (bench/noaes-child.ts). The far side serves its cases with
 * bench/case-server.ts; here each becomes a proxy whose check and measure are requests.
 */

type Command =
  | { cmd: 'hello' }
  | { cmd: 'check'; name: string }
  | { cmd: 'measure'; name: string; size: number; timeMs: number; minIterations: number };
export type RemoteRequest = Command & { id: number };
export type RemoteReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

export type RowDescriptor = Pick<Case, 'impl' | 'op' | 'kind' | 'keyBits' | 'direction' | 'pureJs' | 'wholeBlocks' | 'blocks'>;

/** What the far side says about itself, and the rows it has. */
export interface Hello {
  facts: Record<string, string>;
  cases: RowDescriptor[];
}

/** A message channel to the far side, whichever kind it is. */
export interface Transport {
  send(message: RemoteRequest): void;
  onMessage(handler: (reply: RemoteReply) => void): void;
  onGone(handler: (e: Error) => void): void;
  close(): Promise<unknown>;
}

export function workerTransport(worker: Worker): Transport {
  return {
    send: (m) => worker.postMessage(m),
    onMessage: (h) => void worker.on('message', h),
    onGone: (h) => {
      worker.on('error', h);
      worker.on('exit', (code) => h(new Error(`the worker exited (${code})`)));
    },
    close: () => worker.terminate(),
  };
}

export function childTransport(child: ChildProcess): Transport {
  return {
    send: (m) => void child.send(m),
    onMessage: (h) => void child.on('message', h as (m: unknown) => void),
    onGone: (h) => {
      child.on('error', h);
      child.on('exit', (code) => h(new Error(`the child process exited (${code})`)));
    },
    close: async () => {
      if (child.exitCode === null) child.kill();
    },
  };
}

class Remote {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(readonly transport: Transport) {
    transport.onMessage((r) => {
      const p = this.pending.get(r.id);
      this.pending.delete(r.id);
      if (r.ok) p?.resolve(r.value);
      else p?.reject(new Error(r.error));
    });
    transport.onGone((e) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    });
  }

  call<T>(req: Command): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.transport.send({ ...req, id });
    });
  }
}

/**
 * Says hello and returns the far side's rows, or throws (after closing it) if it did not answer or
 * `refuse` finds its facts wrong.
 */
export async function remoteCases(transport: Transport, label: string, refuse: (facts: Record<string, string>) => string | null): Promise<Case[]> {
  const remote = new Remote(transport);
  let hello: Hello;
  try {
    hello = await remote.call<Hello>({ cmd: 'hello' });
    const why = refuse(hello.facts);
    if (why) throw new Error(why);
  } catch (e) {
    await transport.close();
    throw e;
  }
  let closed = false;
  const close = async (): Promise<void> => {
    if (!closed) await transport.close();
    closed = true;
  };
  return hello.cases.map((d) => {
    const name = caseName(d);
    return {
      ...d,
      check: () => remote.call<string | null>({ cmd: 'check', name }).catch((e: Error) => `${label}: ${e.message}`),
      measure: (size: number, timeMs: number, minIterations: number) => remote.call<Measurement>({ cmd: 'measure', name, size, timeMs, minIterations }),
      close,
    };
  });
}
