import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/paths.js';
import type { Case } from './cases/types.js';
import { peerCases, startPeer } from './pipe-peer.js';

/**
 * Botan's EAX (Debian libbotan-2-dev), the native peer that is neither OpenSSL nor Python: a small
 * C++ driver (bench/botan_peer.cpp) built here with g++ when g++ and Botan's headers are present,
 * into dist/bench/ (rebuilt when the source is newer), and skipped with a note otherwise.
 */

const SOURCE = join(packageRoot, 'bench', 'botan_peer.cpp');
const BINARY = join(packageRoot, 'dist', 'bench', 'botan_peer');
export const BOTAN_IMPL = 'Botan 2 (C++)';

/** Compiler flags for Botan 2: pkg-config's, else Debian's paths. */
function botanFlags(): string[] {
  const r = spawnSync('pkg-config', ['--cflags', '--libs', 'botan-2'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split(/\s+/) : ['-I/usr/include/botan-2', '-lbotan-2'];
}

/** Builds the driver if needed; returns why it cannot, or null. */
function build(): string | null {
  if (existsSync(BINARY) && statSync(BINARY).mtimeMs >= statSync(SOURCE).mtimeMs) return null;
  if (spawnSync('g++', ['--version'], { stdio: 'ignore' }).status !== 0) return 'g++ is not installed';
  if (!existsSync('/usr/include/botan-2/botan/aead.h') && spawnSync('pkg-config', ['--exists', 'botan-2']).status !== 0) {
    return "Botan 2's headers are not installed (apt-get install libbotan-2-dev)";
  }
  mkdirSync(join(BINARY, '..'), { recursive: true });
  try {
    execFileSync('g++', ['-O2', '-std=c++17', SOURCE, '-o', BINARY, ...botanFlags()], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim().split('\n')[0];
    return `g++ could not build ${SOURCE}: ${stderr ?? (e as Error).message}`;
  }
  return null;
}

/** The Botan rows, or a note saying why there are none. */
export async function botanCases(): Promise<{ cases: Case[]; note?: string }> {
  const why = build();
  if (why) return { cases: [], note: `Botan rows skipped: ${why}` };
  try {
    const peer = await startPeer('botan', () => spawn(BINARY, [], { stdio: ['pipe', 'pipe', 'pipe'] }));
    return { cases: peerCases(BOTAN_IMPL, peer) };
  } catch (e) {
    return { cases: [], note: `Botan rows skipped: the driver did not start (${(e as Error).message})` };
  }
}
