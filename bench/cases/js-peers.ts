import { checkCtr, checkDecrypt, checkEncrypt } from './check.js';
import { syncCase } from './make.js';
import { eaxSealed, header, KEYS, nonce, plaintext } from './inputs.js';
import { KEY_BITS, OPS, type Case } from './types.js';

/**
 * EAX built from three pure-JavaScript AES libraries (bench/peers.ts). They are devDependencies,
 * loaded only here: without them (an installed package) the rows are skipped with a note.
 */
export async function jsPeerCases(): Promise<{ cases: Case[]; note?: string }> {
  let peers: typeof import('../peers.js');
  try {
    peers = await import('../peers.js');
  } catch (e) {
    return { cases: [], note: `pure-JavaScript peers not installed (${(e as Error).message.split('\n')[0]}): npm install in a checkout` };
  }
  const cases = peers.PEERS.flatMap((make) =>
    KEY_BITS.flatMap((bits) => {
      const peer = make(KEYS[bits]);
      const base = { impl: peer.name, kind: 'eax', pureJs: true, keyBits: bits } as const;
      return [
        syncCase(
          { ...base, op: OPS.encrypt(bits), direction: 'enc' },
          async () => (await checkEncrypt(bits, peer.eax.encrypt)) ?? checkCtr(bits, peer.primitives.ctr),
          (size) => {
            const pt = plaintext(size);
            return () => peer.eax.encrypt(nonce, pt, header);
          },
        ),
        syncCase(
          { ...base, op: OPS.decrypt(bits), direction: 'dec' },
          async () => (await checkDecrypt(bits, peer.eax.decrypt)) ?? checkCtr(bits, peer.primitives.ctr),
          (size) => {
            const { ciphertext, tag } = eaxSealed(bits, size);
            return () => peer.eax.decrypt(nonce, ciphertext, tag, header);
          },
        ),
      ];
    }),
  );
  return { cases };
}
