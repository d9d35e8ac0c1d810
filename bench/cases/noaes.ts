import { fork } from 'node:child_process';
import { arch } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { childTransport, remoteCases } from './remote.js';
import type { Case } from './types.js';

/**
 * sealcam's node:crypto engine as a camera CPU without AES hardware runs it: a child process
 * started with OpenSSL's capability mask clearing AES-NI and PCLMULQDQ (x86-64) or every ARMv8
 * extension (arm64), so OpenSSL falls back to its constant-time SSSE3/NEON code (vpaes, bitsliced
 * CTR). The mask must be in the environment before OpenSSL starts, hence a process of its own.
 */

export const NOAES_IMPL = 'node:crypto (no AES instructions)';
const CHILD = join(packageRoot, 'dist', 'bench', 'noaes-child.js');

/** The environment that turns OpenSSL's AES instructions off here, or null on other CPUs. */
export function noAesEnvironment(cpu: string = arch()): Record<string, string> | null {
  if (cpu === 'x64') return { OPENSSL_ia32cap: '~0x200000200000000' };
  if (cpu === 'arm64') return { OPENSSL_armcap: '0' };
  return null;
}

/** The child's rows, or a note saying why there are none. */
export async function noAesCases(emulated: boolean): Promise<{ cases: Case[]; note?: string }> {
  const mask = noAesEnvironment();
  if (!mask) return { cases: [], note: `${NOAES_IMPL} rows skipped: no OpenSSL capability mask is known for ${arch()}` };
  if (emulated) return { cases: [], note: `${NOAES_IMPL} rows skipped: an emulated Node cannot start child processes` };
  const child = fork(CHILD, [], { env: { ...process.env, ...mask }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const cases = await remoteCases(childTransport(child), NOAES_IMPL, (facts) =>
      Object.entries(mask).every(([k, v]) => facts[k] === v) ? null : `the child did not get ${JSON.stringify(mask)}`,
    );
    return { cases, note: `${NOAES_IMPL}: a child process with ${Object.entries(mask).map(([k, v]) => `${k}=${v}`).join(' ')}, checked against the WASM engine` };
  } catch (e) {
    return { cases: [], note: `${NOAES_IMPL} rows skipped: the child did not start (${(e as Error).message})` };
  }
}
