import { platform } from '#platform';
import { fromHex, toHex } from '../bytes.js';
import { SealcamError } from '../errors.js';
import { verifyEd25519 } from '../keys/ed25519.js';
import { AEAD, encap, keySchedule, setupBaseR, setupBaseS, x25519, type AeadId } from '../keys/hpke.js';
import { VectorFormatError, type Failure } from './run.js';

/**
 * The public-key vectors on whichever platform runs this (`#platform`): RFC 9180's base-mode HPKE
 * setups, Wycheproof's X25519 and Ed25519 cases. On Node their own tests say the same thing case
 * by case (test/hpke.test.ts, x25519.test.ts, ed25519.test.ts); this runner exists for the
 * browser build, whose primitives are other libraries (the noble ones), so the dashboard's
 * /vectors page proves them there. RSA-OAEP is not in the browser build and not run here.
 */

export interface PublicKeyResult {
  file: string;
  passed: number;
  failed: number;
  failures: Failure[];
}

/** The files this runner knows, relative to vectors/. */
export const PUBLIC_KEY_FILES = ['hpke-rfc9180-x25519.json', 'wycheproof/x25519_test.json', 'wycheproof/ed25519_test.json'] as const;
export type PublicKeyFile = (typeof PUBLIC_KEY_FILES)[number];

type Json = Record<string, unknown>;

function hex(file: string, o: Json, name: string): Uint8Array {
  const value = o[name];
  const bytes = typeof value === 'string' ? fromHex(value) : undefined;
  if (bytes === undefined) throw new VectorFormatError(file, `${name} is not hex`);
  return bytes;
}

/** Runs `check` on every case, counting a thrown error as that case's failure. */
function tally(file: string, cases: { id: number | string; check: () => string | null }[], declared: number): PublicKeyResult {
  const result: PublicKeyResult = { file, passed: 0, failed: 0, failures: [] };
  if (cases.length !== declared) result.failures.push({ id: null, reason: `the file declares ${declared} cases but holds ${cases.length}` });
  for (const { id, check } of cases) {
    let reason: string | null;
    try {
      reason = check();
    } catch (err) {
      reason = `threw ${(err as Error).message}`;
    }
    if (reason !== null) result.failures.push({ id, reason });
  }
  result.failed = result.failures.length;
  result.passed = cases.length - result.failures.filter((f) => f.id !== null).length;
  return result;
}

const same = (what: string, got: Uint8Array, want: Uint8Array): string | null => (toHex(got) === toHex(want) ? null : `${what} differs`);

/** Every base-mode setup (one per AEAD): the KEM, the key schedule, each encryption at its sequence number, each export. */
function hpke(file: string, doc: Json): PublicKeyResult {
  const setups = (doc.vectors as Json[]).filter((v) => v.mode === '0');
  const cases = setups.map((v) => ({
    id: String(v.suite),
    check: (): string | null => {
      const aead = Number(v.aead_id) as AeadId;
      const skE = platform.crypto.x25519.fromBytes(hex(file, v, 'skEm'));
      const skR = platform.crypto.x25519.fromBytes(hex(file, v, 'skRm'));
      const info = hex(file, v, 'info');
      const { enc, sharedSecret } = encap(hex(file, v, 'pkRm'), skE);
      const ks = keySchedule(aead, sharedSecret, info);
      const kem = same('enc', enc, hex(file, v, 'enc')) ?? same('shared_secret', sharedSecret, hex(file, v, 'shared_secret'));
      const schedule = same('key', ks.key, hex(file, v, 'key')) ?? same('base_nonce', ks.baseNonce, hex(file, v, 'base_nonce')) ?? same('exporter_secret', ks.exporterSecret, hex(file, v, 'exporter_secret'));
      if (kem ?? schedule) return kem ?? schedule;
      const sender = setupBaseS(aead, hex(file, v, 'pkRm'), info, skE).context;
      const receiver = setupBaseR(aead, enc, skR, info);
      const encryptions = v.encryptions as Json[];
      const last = Math.max(-1, ...encryptions.map((e) => Number(e.sequence_number)));
      // The RFC lists sequence numbers 0, 1, 2, 4, 255, 256: the messages between are sealed too.
      for (let seq = 0; seq <= last; seq++) {
        const listed = encryptions.find((e) => Number(e.sequence_number) === seq);
        const pt = listed ? hex(file, listed, 'pt') : new Uint8Array([seq & 0xff]);
        const aad = listed ? hex(file, listed, 'aad') : new Uint8Array(0);
        const ct = sender.seal(aad, pt);
        const wrong = (listed && same(`ct at sequence ${seq}`, ct, hex(file, listed, 'ct'))) ?? same(`opened pt at sequence ${seq}`, receiver.open(aad, ct), pt);
        if (wrong) return wrong;
      }
      for (const e of v.exports as Json[]) {
        const context = hex(file, e, 'exporter_context');
        const wrong = same('exported value', sender.export(context, Number(e.L)), hex(file, e, 'exported_value')) ?? same('exported value (receiver)', receiver.export(context, Number(e.L)), hex(file, e, 'exported_value'));
        if (wrong) return wrong;
      }
      return aead === AEAD.EXPORT_ONLY || encryptions.length > 0 ? null : 'a setup with an AEAD lists no encryption';
    },
  }));
  return tally(file, cases, 3);
}

interface WycheproofCase {
  group: Json;
  test: Json;
}

function wycheproofCases(file: string, doc: Json): WycheproofCase[] {
  if (!Array.isArray(doc.testGroups)) throw new VectorFormatError(file, 'testGroups must be an array');
  return (doc.testGroups as Json[]).flatMap((group) => (group.tests as Json[]).map((test) => ({ group, test })));
}

/** Every case: the RFC 7748 result, and a zero result (a low-order public key) refused with ELOWORDER. */
function x25519Cases(file: string, doc: Json): PublicKeyResult {
  const cases = wycheproofCases(file, doc).map(({ test }) => ({
    id: test.tcId as number,
    check: (): string | null => {
      const shared = hex(file, test, 'shared');
      const key = platform.crypto.x25519.fromBytes(hex(file, test, 'private'));
      if (shared.every((b) => b === 0)) {
        try {
          x25519(key, hex(file, test, 'public'));
        } catch (err) {
          return err instanceof SealcamError && err.code === 'ELOWORDER' ? null : `expected ELOWORDER, got ${(err as Error).message}`;
        }
        return 'a low-order public key was accepted';
      }
      return same('shared secret', x25519(key, hex(file, test, 'public')), shared);
    },
  }));
  return tally(file, cases, doc.numberOfTests as number);
}

/** Every case verifies exactly when Wycheproof calls it valid (strict RFC 8032: no malleable S, no non-canonical R). */
function ed25519Cases(file: string, doc: Json): PublicKeyResult {
  const cases = wycheproofCases(file, doc).map(({ group, test }) => ({
    id: test.tcId as number,
    check: (): string | null => {
      const verified = verifyEd25519(hex(file, group.publicKey as Json, 'pk'), hex(file, test, 'msg'), hex(file, test, 'sig'));
      const want = test.result === 'valid';
      return verified === want ? null : want ? 'a valid signature was refused' : `an invalid signature verified (${String(test.flags)})`;
    },
  }));
  return tally(file, cases, doc.numberOfTests as number);
}

/** Runs one of PUBLIC_KEY_FILES from its parsed JSON; never throws for a failing case. */
export function runPublicKeyFile(file: PublicKeyFile, doc: unknown): PublicKeyResult {
  try {
    if (typeof doc !== 'object' || doc === null) throw new VectorFormatError(file, 'not a JSON object');
    if (file === 'hpke-rfc9180-x25519.json') return hpke(file, doc as Json);
    return file === 'wycheproof/x25519_test.json' ? x25519Cases(file, doc as Json) : ed25519Cases(file, doc as Json);
  } catch (err) {
    return { file, passed: 0, failed: 1, failures: [{ id: null, reason: (err as Error).message }] };
  }
}
