import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../src/engine/types.js';
import { SealcamError } from '../src/errors.js';
import { openBuffer, parseHeader, sealBuffer, type SealOptions } from '../src/formats/sealed.js';
import { DeviceSigningKey } from '../src/keys/ed25519.js';
import { openingWith, sealingFor } from '../src/keys/recipients.js';
import { DeviceRegistry } from '../src/keys/registry.js';
import { registryDirectory } from '../src/keys/registry-sources.js';
import { X25519Identity } from '../src/keys/x25519.js';
import { packageRoot } from '../src/paths.js';
import { memoryIO } from '../src/io/buffer-io.js';
import { SealPool } from '../src/pool/pool.js';
import { same } from './helpers/bytes.js';
import { asV2 } from './helpers/sealed.js';

/**
 * The `sealed` v2 format (docs/FORMAT.md, version 2): files sealed to public-key recipients open only
 * with an identity, name and (optionally) carry their device's signature over the whole header;
 * given a registry, only a file signed by a registered, unrevoked key of the device it names opens,
 * and a changed byte anywhere in the header is caught before any key is unwrapped. The frozen
 * vectors reproduce here (test/vectors.test.ts runs them on both engines) and in an independent
 * Python implementation.
 */

const DIR = join(packageRoot, 'vectors', 'sealed-v2');
const PYTHON = '/usr/bin/python3';

const fleet = X25519Identity.generate();
const other = X25519Identity.generate();
const cam01 = DeviceSigningKey.generate();
const cam02 = DeviceSigningKey.generate();
const plaintext = new Uint8Array(randomBytes(3 * 4096 + 5));

let work: string;
let registry: DeviceRegistry;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'sealcam-v2-'));
  const dir = join(work, 'registry');
  mkdirSync(dir);
  writeFileSync(join(dir, 'cam-01.pub'), `${cam01.publicKey.text}\n`);
  writeFileSync(join(dir, 'cam-02.pub'), `${cam02.publicKey.text}\n`);
  registry = registryDirectory(dir);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const signedBy = (key: DeviceSigningKey, deviceId: string): SealOptions => ({ wrap: sealingFor([fleet.recipient]), signer: key, deviceId, segmentSize: 4096 });
const openWith = (identity = fleet) => ({ fileKey: openingWith([identity]) });

async function refusal(promise: Promise<unknown>): Promise<SealcamError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a refusal').toBeInstanceOf(SealcamError);
  return err as SealcamError;
}

describe.each(ENGINES)('sealing to recipients (%s engine)', (engine) => {
  it('opens with the identity of any of its recipients, and names its device and signer', async () => {
    const sealed = sealBuffer(plaintext, { wrap: sealingFor([fleet.recipient, other.recipient]), signer: cam01, deviceId: 'cam-01', segmentSize: 4096, engine });
    for (const identity of [fleet, other]) expect(same((await openBuffer(sealed, { ...openWith(identity), engine })).plaintext, plaintext)).toBe(true);
    const header = asV2(parseHeader(sealed));
    expect(header.stanzas.map((s) => s.type)).toEqual(['x25519', 'x25519']);
    expect(header.deviceId).toBe('cam-01');
    expect(same(header.signature!.signer, cam01.fingerprint)).toBe(true);
  });

  it('a camera holding only the recipient cannot open what it sealed, and says why', async () => {
    const sealed = sealBuffer(plaintext, { ...signedBy(cam01, 'cam-01'), engine });
    const err = await refusal(openBuffer(sealed, { fileKey: openingWith([]), engine }));
    expect(err.message).toMatch(/^this device holds no identity, so it cannot open files \(sealed to recipient x25519:[0-9a-f]{32}\)$/);
    const stranger = await refusal(openBuffer(sealed, { ...openWith(other), engine }));
    expect(stranger.message).toMatch(/^this device holds no identity for recipient x25519:[0-9a-f]{32}$/);
    const noOption = await refusal(openBuffer(sealed, { kek: new Uint8Array(16), engine }));
    expect(noOption.message).toMatch(/sealed to recipients: give an identity/);
  });
});

describe('a registry decides who may have sealed a file', () => {
  it('a file signed by the registered key of the device it names opens', async () => {
    const sealed = sealBuffer(plaintext, signedBy(cam01, 'cam-01'));
    expect(same((await openBuffer(sealed, { ...openWith(), trust: registry })).plaintext, plaintext)).toBe(true);
  });

  it('a camera signing as another camera (a forged device id) is refused', async () => {
    const forged = sealBuffer(plaintext, signedBy(cam02, 'cam-01'));
    const err = await refusal(openBuffer(forged, { ...openWith(), trust: registry }));
    expect(err.code).toBe('ESIGNATURE');
    expect(err.message).toMatch(/^signing key ed25519:[0-9a-f]{32} is not registered for device cam-01$/);
  });

  it('an unsigned file, and a v1 file, are refused under a registry', async () => {
    const unsigned = sealBuffer(plaintext, { wrap: sealingFor([fleet.recipient]), deviceId: 'cam-01' });
    expect((await refusal(openBuffer(unsigned, { ...openWith(), trust: registry }))).message).toBe('the file is unsigned (it names device cam-01)');
    const kek = new Uint8Array(randomBytes(16));
    const v1 = sealBuffer(plaintext, { kek, keyId: 'k', keyVersion: '1' });
    expect((await refusal(openBuffer(v1, { kek, trust: registry }))).message).toBe('the file is unsigned (a v1 file, sealed under a symmetric key)');
    expect(same((await openBuffer(v1, { kek })).plaintext, plaintext), 'v1 still opens without a registry').toBe(true);
  });

  it('a device that is not registered, and a revoked key, are refused', async () => {
    const stranger = DeviceSigningKey.generate();
    expect((await refusal(openBuffer(sealBuffer(plaintext, signedBy(stranger, 'cam-77')), { ...openWith(), trust: registry }))).message).toMatch(
      /^device cam-77 is not registered in /,
    );
    const dir = join(work, 'revoked');
    cpSync(join(work, 'registry'), dir, { recursive: true });
    writeFileSync(join(dir, 'cam-01.pub'), `${cam01.publicKey.text} revoked\n`);
    const err = await refusal(openBuffer(sealBuffer(plaintext, signedBy(cam01, 'cam-01')), { ...openWith(), trust: registryDirectory(dir) }));
    expect(err.message).toMatch(/^signing key ed25519:[0-9a-f]{32} of device cam-01 is revoked$/);
  });

  // Every header byte is under the signature: a change is caught before any key is unwrapped.
  const bytes = sealBuffer(plaintext, signedBy(cam01, 'cam-01'));
  const header = asV2(parseHeader(bytes));
  const at = (view: Uint8Array) => view.byteOffset - bytes.byteOffset;
  const deviceAt = at(header.stanzas[0]!.body) + header.stanzas[0]!.body.length + 1;
  it.each([
    ['a stanza body byte', at(header.stanzas[0]!.body) + 5],
    ['a stanza fingerprint byte', at(header.stanzas[0]!.fingerprint)],
    ['the device id', deviceAt + 4],
    ['the metadata', at(header.mac) - 3],
    ['the header MAC', at(header.mac)],
    ['the signature', header.headerLength - 1],
  ])('a changed byte in %s is refused by the signature, unwrapping nothing', async (_what, offset) => {
    const altered = bytes.slice();
    altered[offset]! ^= 0x02;
    let unwraps = 0;
    const counting = { fileKey: async (s: Parameters<ReturnType<typeof openingWith>>[0]) => (unwraps++, openingWith([fleet])(s)) };
    const err = await refusal(openBuffer(altered, { ...counting, trust: registry }));
    expect(['ESIGNATURE', 'EFORMAT']).toContain(err.code);
    expect(unwraps).toBe(0);
  });

  it('a stripped signature (flag cleared, length cut) fails the header MAC', async () => {
    const stripped = new Uint8Array([...bytes.subarray(0, header.headerLength - 80), ...bytes.subarray(header.headerLength)]);
    stripped[11] = 0;
    new DataView(stripped.buffer).setUint32(12, header.headerLength - 80);
    expect((await refusal(openBuffer(stripped, openWith()))).message).toBe('header was altered: its MAC does not verify');
  });
});

describe('the pool and the streams take v2 files like v1 files', () => {
  it('seals on the pool and opens with an identity, reporting the proven signer', async () => {
    const pool = new SealPool({ jobs: 2 });
    try {
      const sealed = await pool.seal(plaintext, signedBy(cam01, 'cam-01'));
      let signer: unknown;
      const opened = new Uint8Array(plaintext.length);
      const header = await pool.openIO(memoryIO(sealed, () => opened), { ...openWith(), trust: registry, onHeader: (_h, s) => (signer = s) });
      expect(same(opened, plaintext)).toBe(true);
      expect(header.version).toBe(2);
      expect(signer).toMatchObject({ deviceId: 'cam-01' });
      expect(same((await pool.open(sealed, openWith())).plaintext, plaintext)).toBe(true);
    } finally {
      await pool.close();
    }
  });
});

describe('independent Python implementation (vectors/sealed-v2/check.py: cryptography and pycryptodome)', () => {
  function runChecker(dir?: string): { status: number | null; out: string } {
    const r = spawnSync(PYTHON, [join(DIR, 'check.py'), ...(dir ? [dir] : [])], { encoding: 'utf8' });
    if (r.error) throw new Error(`cannot run ${PYTHON}: ${r.error.message}`);
    if (r.status === 3) throw new Error(`${PYTHON} lacks a library the checker needs: ${r.stderr.trim()} (apt-get install python3-pycryptodome python3-cryptography)`);
    return { status: r.status, out: r.stdout + r.stderr };
  }

  it('rebuilds every vector byte for byte (x25519 stanzas included), opens it, and refuses tampered copies', () => {
    const { status, out } = runChecker();
    const count = (JSON.parse(readFileSync(join(DIR, 'vectors.json'), 'utf8')) as { count: number }).count;
    expect(out, out).toContain(`${count} of ${count} vectors reproduce and open`);
    expect(status, out).toBe(0);
  });

  it('is not vacuous: an altered file is reported', () => {
    const copy = join(work, 'altered-v2');
    cpSync(DIR, copy, { recursive: true });
    const name = 'a128-x25519-s4096-4097-signed.sealed';
    const altered = readFileSync(join(copy, name));
    altered[300]! ^= 1;
    writeFileSync(join(copy, name), altered);
    const { status, out } = runChecker(copy);
    expect(status, out).toBe(1);
    expect(out).toMatch(/a128-x25519-s4096-4097-signed +FAIL/);
  });

  it('the generator refuses to overwrite the frozen vectors', () => {
    const r = spawnSync(process.execPath, [join(DIR, 'make.mjs')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/refusing to overwrite/);
  });
});
