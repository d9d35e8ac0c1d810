import type { Hello, RemoteReply, RemoteRequest, RowDescriptor } from './cases/remote.js';
import { caseName, type Case } from './cases/types.js';

/** The far side of bench/cases/remote.ts: answers hello, check and measure for its own cases. */
export function serveCases(
  cases: Case[],
  facts: Record<string, string>,
  channel: { onMessage(handler: (req: RemoteRequest) => void): void; send(reply: RemoteReply): void },
): void {
  const byName = new Map(cases.map((c) => [caseName(c), c]));
  const serve = async (req: RemoteRequest): Promise<unknown> => {
    if (req.cmd === 'hello') {
      const rows = cases.map(
        ({ impl, op, kind, keyBits, direction, pureJs, wholeBlocks, blocks }): RowDescriptor => ({ impl, op, kind, keyBits, direction, pureJs, wholeBlocks, blocks }),
      );
      return { facts, cases: rows } satisfies Hello;
    }
    const c = byName.get(req.name);
    if (!c) throw new Error(`no row '${req.name}' here`);
    if (req.cmd === 'check') return c.check();
    return c.measure(req.size, req.timeMs, req.minIterations);
  };
  channel.onMessage((req) =>
    void serve(req).then(
      (value) => channel.send({ id: req.id, ok: true, value }),
      (e: unknown) => channel.send({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
    ),
  );
}
