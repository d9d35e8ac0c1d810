import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { describeFile, openFile, type PickedFile } from '../src/browser/open.js';
import { sealBuffer } from '../src/formats/sealed.js';
import { sealRaw } from '../src/formats/raw.js';
import { sealSidecar, serializeSidecarMetadata } from '../src/formats/sidecar.js';
import { DeviceSigningKey } from '../src/keys/ed25519.js';
import { describeFingerprint, sealingFor } from '../src/keys/stanza.js';
import { X25519Identity } from '../src/keys/x25519.js';
import { toHex } from '../src/bytes.js';

/**
 * What the "Open a file" page does with the files a user picks (src/browser/open.ts), run here on
 * Node's platform: which picked file is which, the public header shown before any key, the key
 * file read as an identity or an AES key, the signature's standing, and one-line refusals. The
 * same code in Chromium is test/browser-engine.test.ts.
 */

const text = (s: string) => new TextEncoder().encode(s);
const pick = (name: string, bytes: Uint8Array | string): PickedFile => ({ name, bytes: typeof bytes === 'string' ? text(bytes) : bytes });
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const plaintext = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) % 251);
const identity = X25519Identity.generate();
const camera = DeviceSigningKey.generate();
const identityFile = pick('fleet.key', `# a comment\nSEALCAM-X25519-SECRET-KEY:${Buffer.from(identity.privateKeyBytes()).toString('base64url')}\n`);
const signed = pick('cam-04.sealed', sealBuffer(plaintext, { wrap: sealingFor([identity.recipient]), deviceId: 'cam-04', signer: camera, metadata: { contentType: 'image/png', captureTime: '2026-12-07T09:00:00Z' } }));
const entry = pick('cam-04.pub', `${camera.publicKey.text}\n`);
const kek = new Uint8Array(16).fill(3);
const kekFile = pick('site.key', `${toHex(kek)}\n`);
const v1 = pick('v1.sealed', sealBuffer(plaintext, { kek, keyId: 'site', keyVersion: '2', metadata: { deviceId: 'cam-01' } }));

describe('describeFile: the public header, before any key', () => {
  it('of a signed v2 file: recipients, device, signer, metadata', () => {
    const d = describeFile([signed]);
    expect(d.format).toBe('sealed');
    expect(Object.fromEntries(d.rows)).toMatchObject({
      format: 'sealed v2 (to recipients)',
      recipients: describeFingerprint('x25519', identity.fingerprint),
      device: 'cam-04',
      'signed by': describeFingerprint('ed25519', camera.fingerprint),
      'plaintext size': '70000 bytes',
      'capture time': '2026-12-07T09:00:00Z',
      'content type': 'image/png',
    });
  });

  it('of a v1 file: the key id and version it needs, the device its metadata claims', () => {
    expect(Object.fromEntries(describeFile([v1]).rows)).toMatchObject({ format: 'sealed v1 (under a key-encryption key)', 'key id': 'site', 'key version': '2', device: 'cam-01' });
  });

  it('tells a sidecar pair by its .json, in either order, and a raw file by having neither magic nor metadata', () => {
    const { ciphertext, metadata } = sealSidecar(kek, plaintext, { keyName: 'site', keyVersion: '', originalName: 'a.png' });
    const json = pick('encryption_metadata.json', serializeSidecarMetadata(metadata));
    expect(describeFile([json, pick('a.bin', ciphertext)])).toMatchObject({ format: 'sidecar', name: 'a.bin' });
    expect(describeFile([pick('a.raw', sealRaw(kek, plaintext))]).format).toBe('raw');
  });

  it('refuses three files, two files that are no sidecar pair, and a sealed file with a metadata file', () => {
    expect(() => describeFile([v1, v1, v1])).toThrow(/pick one file/);
    expect(() => describeFile([pick('a.bin', 'x'), pick('b.bin', 'y')])).toThrow('a sidecar pair is its ciphertext and one .json metadata file');
    expect(() => describeFile([v1, pick('m.json', '{}')])).toThrow('v1.sealed is a sealed file, which has no metadata file: pick it alone');
  });
});

describe('openFile', () => {
  it('opens a signed v2 file with an identity file and verifies it against the registry entry', async () => {
    const opened = await openFile({ files: [signed], key: identityFile, registryEntry: entry });
    expect(opened.plaintext).toEqual(plaintext);
    expect(opened.sha256).toBe(sha256(plaintext));
    expect(opened.contentType).toBe('image/png');
    expect(opened.signature).toEqual({ state: 'verified', text: `verified: signed by ${describeFingerprint('ed25519', camera.fingerprint)}, registered for cam-04 in cam-04.pub` });
  });

  it('without a registry entry calls the signature a claim and names the entry that would check it', async () => {
    const opened = await openFile({ files: [signed], key: identityFile });
    expect(opened.signature.state).toBe('claimed');
    expect(opened.signature.text).toContain('give its registry entry (cam-04.pub) to check');
  });

  it('opens nothing when the registry entry lists another key, or revokes this one', async () => {
    await expect(openFile({ files: [signed], key: identityFile, registryEntry: pick('cam-04.pub', DeviceSigningKey.generate().publicKey.text) })).rejects.toThrow(/is not registered for device cam-04$/);
    await expect(openFile({ files: [signed], key: identityFile, registryEntry: pick('cam-04.pub', `${camera.publicKey.text} revoked`) })).rejects.toThrow(/of device cam-04 is revoked$/);
  });

  it("checks the entry of the header's device, whatever entry is given", async () => {
    await expect(openFile({ files: [signed], key: identityFile, registryEntry: pick('cam-05.pub', camera.publicKey.text) })).rejects.toThrow('device cam-04 is not registered in registry entry cam-05.pub');
    await expect(openFile({ files: [signed], key: identityFile, registryEntry: pick('cam-04.txt', camera.publicKey.text) })).rejects.toThrow('a registry entry is named <device-id>.pub, not "cam-04.txt"');
  });

  it('opens a v1 file with its KEK file (hex), unsigned', async () => {
    const opened = await openFile({ files: [v1], key: kekFile });
    expect(opened.sha256).toBe(sha256(plaintext));
    expect(opened.signature.state).toBe('unsigned');
  });

  it('says which kind of key each file needs', async () => {
    await expect(openFile({ files: [v1], key: identityFile })).rejects.toThrow('v1.sealed (sealed v1, key site version 2) opens with an AES key file, not an x25519 identity');
    await expect(openFile({ files: [signed], key: kekFile })).rejects.toThrow('cam-04.sealed is sealed to recipients (v2): give an x25519 identity file, not an AES key');
    await expect(openFile({ files: [pick('a.raw', sealRaw(kek, plaintext))], key: identityFile })).rejects.toThrow('a.raw (raw) opens with an AES key file, not an x25519 identity');
    await expect(openFile({ files: [v1], key: pick('notes.txt', 'not a key') })).rejects.toThrow(/^key file notes.txt holds 9 bytes; expected a raw AES key/);
  });

  it('opens raw and sidecar files with their key, and refuses a registry entry for them', async () => {
    const raw = pick('a.raw', sealRaw(kek, plaintext));
    expect((await openFile({ files: [raw], key: kekFile })).signature.state).toBe('none');
    const { ciphertext, metadata } = sealSidecar(kek, plaintext, { keyName: 'site', keyVersion: '', originalName: 'a.png' });
    const pair = [pick('a.bin', ciphertext), pick('encryption_metadata.json', serializeSidecarMetadata(metadata))];
    expect((await openFile({ files: pair, key: kekFile })).sha256).toBe(sha256(plaintext));
    await expect(openFile({ files: [raw], key: kekFile, registryEntry: entry })).rejects.toThrow('a raw file carries no signature: open it without a registry entry');
  });
});
