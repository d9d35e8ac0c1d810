import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseHeader } from '../src/formats/sealed.js';
import { expectOk, expectOneLineError, sealcam as run, type Run } from './helpers/cli.js';
import { asV2 } from './helpers/sealed.js';

/**
 * Fleet trust through the command line, as an operator sets it up: keygen for the fleet identity
 * and each camera's signing key, a registry directory of `<device-id>.pub` files, encrypt with `-r`
 * and `--sign`, decrypt with `-i` and `--trust`; and a stolen camera, its config and keys copied,
 * trying to open what it sealed.
 */

let root: string;
let dir: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'sealcam-trust-cli-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeEach(() => {
  dir = mkdtempSync(join(root, 't'));
});

const sealcam = (...args: string[]): Run => run(args, { cwd: dir });

/** The fleet identity, two camera keys, a registry listing both, and a photo. */
function fleet() {
  for (const [type, name] of [['x25519', 'fleet.key'], ['ed25519', 'cam-01.key'], ['ed25519', 'cam-02.key']] as const) {
    expectOk(sealcam('keygen', '--type', type, '-o', join(dir, name)));
  }
  mkdirSync(join(dir, 'registry'));
  copyFileSync(join(dir, 'cam-01.key.pub'), join(dir, 'registry', 'cam-01.pub'));
  copyFileSync(join(dir, 'cam-02.key.pub'), join(dir, 'registry', 'cam-02.pub'));
  const photo = randomBytes(70_000);
  writeFileSync(join(dir, 'photo.jpg'), photo);
  mkdirSync(join(dir, 'out'));
  return { photo, out: join(dir, 'out') };
}

const seal = (...extra: string[]) => sealcam('encrypt', 'photo.jpg', '-o', 'photo.jpg.sealed', '-r', 'fleet.key.pub', ...extra);

describe('encrypt -r and --sign, decrypt -i and --trust', () => {
  it('a file sealed to the fleet and signed by cam-01 opens with the identity and the registry', () => {
    const { photo, out } = fleet();
    expectOk(seal('--sign', 'cam-01.key', '--device', 'cam-01'));
    const header = asV2(parseHeader(readFileSync(join(dir, 'photo.jpg.sealed'))));
    expect(header.deviceId).toBe('cam-01');
    expect(header.signature).toBeDefined();
    expectOk(sealcam('decrypt', 'photo.jpg.sealed', '-o', join(out, 'photo.jpg'), '-i', 'fleet.key', '--trust', 'registry'));
    expect(Buffer.compare(readFileSync(join(out, 'photo.jpg')), photo)).toBe(0);
  });

  it('the camera that sealed it cannot open it, and says why', () => {
    const { out } = fleet();
    expectOk(seal('--sign', 'cam-01.key', '--device', 'cam-01'));
    expectOneLineError(sealcam('decrypt', 'photo.jpg.sealed', '-o', join(out, 'photo.jpg')), /this device holds no identity, so it cannot open files \(sealed to recipient x25519:[0-9a-f]{32}\)/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('a file cam-02 signed as cam-01 is refused under the registry, and nothing is written', () => {
    const { out } = fleet();
    expectOk(seal('--sign', 'cam-02.key', '--device', 'cam-01'));
    expectOneLineError(
      sealcam('decrypt', 'photo.jpg.sealed', '-o', join(out, 'photo.jpg'), '-i', 'fleet.key', '--trust', 'registry'),
      /signing key ed25519:[0-9a-f]{32} is not registered for device cam-01/,
    );
    expect(readdirSync(out)).toEqual([]);
  });

  it('an unsigned file, a revoked key and a raw file are refused under the registry', () => {
    const { out } = fleet();
    expectOk(seal());
    const open = () => sealcam('decrypt', 'photo.jpg.sealed', '-o', join(out, 'photo.jpg'), '-i', 'fleet.key', '--trust', 'registry');
    expectOneLineError(open(), /the file is unsigned/);
    expectOk(seal('--sign', 'cam-01.key', '--device', 'cam-01', '--force'));
    writeFileSync(join(dir, 'registry', 'cam-01.pub'), `${readFileSync(join(dir, 'cam-01.key.pub'), 'utf8').trim().split('\n').pop()} revoked\n`);
    expectOneLineError(open(), /of device cam-01 is revoked/);
    expectOk(sealcam('keygen', '-o', 'shared.key'));
    expectOk(sealcam('encrypt', 'photo.jpg', '-o', 'photo.eax', '--format', 'raw', '-k', 'shared.key'));
    expectOneLineError(sealcam('decrypt', 'photo.eax', '-o', join(out, 'x'), '-k', 'shared.key', '--trust', 'registry'), /photo\.eax is a raw file, which carries no device signature: --trust refuses it/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('refuses -k with -r, --sign without -r, and recipients in a layout that holds one key', () => {
    fleet();
    expectOk(sealcam('keygen', '-o', 'shared.key'));
    expectOneLineError(seal('-k', 'shared.key'), /give -k \(a shared key\) or -r \(recipients\), not both/);
    expectOneLineError(sealcam('encrypt', 'photo.jpg', '-o', 'x.sealed', '--sign', 'cam-01.key', '--device', 'cam-01'), /a signing key .* needs recipients/);
    expectOneLineError(seal('--format', 'sidecar'), /--format sidecar holds one shared key, not recipients/);
    expect(existsSync(join(dir, 'x.sealed'))).toBe(false);
  });
});

describe('a stolen camera', () => {
  it('with its config, recipient and signing key copied, uploads and signs but cannot open its own uploads', () => {
    fleet();
    // The camera's whole configuration: the fleet's public recipient and its own signing key; no identity.
    writeFileSync(
      join(dir, 'sealcam.config.json'),
      JSON.stringify({ device: { id: 'cam-01', signingKey: 'cam-01.key' }, seal: { recipients: 'fleet.key.pub' }, store: { dir: 'store' } }),
    );
    const up = sealcam('upload', 'photo.jpg');
    expect(up.status, up.stderr).toBe(0);
    const blob = up.stdout.trim();
    expect(blob).toMatch(/^cam-01\//);
    const stolen = sealcam('download', blob, '-o', 'stolen.jpg');
    expectOneLineError(stolen, /this device holds no identity, so it cannot open files/);
    expect(existsSync(join(dir, 'stolen.jpg'))).toBe(false);
    // The receiver's identity opens it, and the registry accepts the camera's signature.
    const received = sealcam('download', blob, '-o', 'received.jpg', '-i', 'fleet.key', '--trust', 'registry');
    expect(received.status, received.stderr).toBe(0);
    expect(received.stderr).toMatch(/verified and written \(1 recipient, signed by cam-01's registered key ed25519:[0-9a-f]{32}\)/);
    expect(Buffer.compare(readFileSync(join(dir, 'received.jpg')), readFileSync(join(dir, 'photo.jpg')))).toBe(0);
  });

  it('a download without a registry opens a signed file but says the signature was not checked', () => {
    fleet();
    const up = sealcam('upload', 'photo.jpg', '-r', 'fleet.key.pub', '--sign', 'cam-02.key', '--device', 'cam-01', '--store-dir', 'store');
    expect(up.status, up.stderr).toBe(0);
    const down = sealcam('download', up.stdout.trim(), '-o', 'claimed.jpg', '-i', 'fleet.key', '--store-dir', 'store');
    expect(down.status, down.stderr).toBe(0);
    expect(down.stderr).toMatch(/signed for cam-01, not checked without a registry \(--trust\)/);
  });
});

describe('sealcam keys fleet and config check show the fleet keys by fingerprint', () => {
  const fingerprintOf = (pubFile: string) => {
    const r = sealcam('keys', 'fleet', '-r', pubFile);
    expectOk(r);
    return r.stdout.trim().replace(/^recipient +/, '');
  };

  it('lists the recipient, the identity (its recipient fingerprint), the signing key and every registry entry, never key bytes', () => {
    fleet();
    writeFileSync(join(dir, 'registry', 'cam-02.pub'), `${readFileSync(join(dir, 'cam-02.key.pub'), 'utf8').trim()} revoked\n`);
    const r = sealcam('keys', 'fleet', '-r', 'fleet.key.pub', '-i', 'fleet.key', '--sign', 'cam-01.key', '--trust', 'registry');
    expectOk(r);
    const lines = r.stdout.trim().split('\n');
    const recipient = fingerprintOf('fleet.key.pub');
    expect(recipient).toMatch(/^x25519:[0-9a-f]{32}$/);
    expect(lines[0]).toBe(`recipient  ${recipient}`);
    expect(lines[1]).toContain(recipient); // the identity is the private half of that recipient
    expect(lines[2]).toMatch(/^signing    ed25519:[0-9a-f]{32}$/);
    expect(lines.slice(3)).toEqual([
      'registry   registry: 2 devices',
      `  cam-01  ${lines[2]!.slice('signing    '.length)}`,
      expect.stringMatching(/^ {2}cam-02 {2}ed25519:[0-9a-f]{32} \(revoked\)$/),
    ]);
    const secret = readFileSync(join(dir, 'fleet.key'), 'utf8').trim().split(/\s+/).at(-1)!;
    expect(r.stdout + r.stderr).not.toContain(secret);
  });

  it('config check lists them too, and an unreadable identity file is a problem (exit 1)', () => {
    fleet();
    const ok = sealcam('config', 'check', '--json', '-r', 'fleet.key.pub', '-i', 'fleet.key');
    expectOk(ok);
    expect(JSON.parse(ok.stdout).keys).toMatchObject({ recipients: [expect.stringMatching(/^x25519:/)], identities: [expect.stringContaining('x25519:')] });
    const missing = sealcam('config', 'check', '-i', 'nope.key');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('nope.key');
  });
});
