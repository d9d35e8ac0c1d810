import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../src/paths.js';
import type { Case } from './cases/types.js';
import { peerCases, startPeer } from './pipe-peer.js';

/**
 * pycryptodome (Debian's python3-pycryptodome through /usr/bin/python3), the seed scripts'
 * library, as a peer: bench/pycryptodome_peer.py speaking bench/pipe-peer.ts's protocol.
 */

export const PYTHON = '/usr/bin/python3';
const SCRIPT = join(packageRoot, 'bench', 'pycryptodome_peer.py');
export const PYCRYPTODOME_IMPL = 'pycryptodome (python3)';

/** The pycryptodome rows, or a note saying why there are none. */
export async function pythonCases(): Promise<{ cases: Case[]; note?: string }> {
  try {
    const peer = await startPeer('pycryptodome', () => spawn(PYTHON, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] }));
    return { cases: peerCases(PYCRYPTODOME_IMPL, peer) };
  } catch (e) {
    return { cases: [], note: `pycryptodome rows skipped: ${PYTHON} with pycryptodome is not usable (${(e as Error).message})` };
  }
}
