import { platform } from '#platform';
import { toHex } from '../bytes.js';
import { SealcamError } from '../errors.js';
import { openBuffer, parseHeader, segmentLayout, type OpenOptions, type SealedHeader } from '../formats/sealed.js';
import { openRaw } from '../formats/raw.js';
import { detectFormat, openSidecar, parseSidecarMetadata, type SidecarMetadata } from '../formats/sidecar.js';
import { aesKeyFromFile, contentLines, toHex as fingerprintHex, utf8 } from '../keys/keytext.js';
import { DeviceRegistry, entrySource } from '../keys/registry.js';
import { describeFingerprint, openingWith } from '../keys/stanza.js';
import { X25519_IDENTITY_PREFIX, X25519Identity } from '../keys/x25519.js';

/**
 * Opening one file the way the dashboard's "Open a file" page does, in memory and on this thread:
 * a sealed file (v1 with its key-encryption key, v2 with an x25519 identity, its signature checked
 * against a registry entry when one is given), a raw file, or a sidecar pair, each with the
 * formats' own openers. Nothing here reads a file or the network: the page hands in the bytes of
 * the files the user picked, so they never leave the page. What it returns is for showing: the
 * public header as label/value rows (text, never markup), the plaintext and its SHA-256, and
 * what the signature proves.
 */

/** A file the user picked: its name (for messages and the registry entry's device) and its bytes. */
export interface PickedFile {
  name: string;
  bytes: Uint8Array;
}

export type FileFormat = 'sealed' | 'raw' | 'sidecar';

/** One row of the public header: what a reader sees without the key. */
export type HeaderRow = readonly [label: string, value: string];

export interface FileDescription {
  format: FileFormat;
  /** The sealed or sidecar ciphertext file (not the sidecar's metadata). */
  name: string;
  rows: HeaderRow[];
}

/**
 * What the signature proves: `verified` (the registry entry lists the signing key for the device
 * the header names, and the signature verifies), `claimed` (signed, but no registry entry was
 * given: the header's device is only a claim), `unsigned` (a v1 file, or a v2 file without a
 * signature), `none` (raw and sidecar files carry no signature).
 */
export interface SignatureStatus {
  state: 'verified' | 'claimed' | 'unsigned' | 'none';
  text: string;
}

export interface OpenedFile extends FileDescription {
  plaintext: Uint8Array;
  /** Lower-case hex SHA-256 of the plaintext. */
  sha256: string;
  /** The content type the header names, when it names one. */
  contentType?: string;
  signature: SignatureStatus;
}

export interface OpenRequest {
  /** The file: a sealed or raw file, or a sidecar's ciphertext and its metadata JSON. */
  files: PickedFile[];
  /** An AES key file (a KEK for sealed v1, the key of a raw or sidecar file), or an x25519 identity file. */
  key: PickedFile;
  /** A registry entry, `<device-id>.pub`: the signing keys of the device a sealed v2 file names. */
  registryEntry?: PickedFile;
}

const ENTRY_NAME = /^(.+)\.pub$/;

/** Which picked file is which: the data, and for a sidecar its metadata JSON. */
function sortFiles(files: PickedFile[]): { data: PickedFile; metadata?: PickedFile; format: FileFormat } {
  if (files.length === 0 || files.length > 2) throw new SealcamError('EUSAGE', 'pick one file (sealed or raw), or a sidecar pair: the ciphertext and its .json metadata');
  const json = files.filter((f) => f.name.toLowerCase().endsWith('.json'));
  const data = files.length === 2 ? files.find((f) => !json.includes(f)) : files[0];
  if (data === undefined || (files.length === 2 && json.length !== 1)) throw new SealcamError('EUSAGE', 'a sidecar pair is its ciphertext and one .json metadata file');
  const format = detectFormat(data.bytes, json.length === 1 && files.length === 2);
  if (format === 'sealed' && files.length === 2) throw new SealcamError('EUSAGE', `${data.name} is a sealed file, which has no metadata file: pick it alone`);
  return format === 'sidecar' ? { data, metadata: json[0]!, format } : { data, format };
}

const shown = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

function sealedRows(header: SealedHeader, bodyLength: number): HeaderRow[] {
  const rows: HeaderRow[] = [['format', header.version === 1 ? 'sealed v1 (under a key-encryption key)' : 'sealed v2 (to recipients)']];
  rows.push(['algorithm', header.algorithm], ['segment size', `${header.segmentSize} bytes`]);
  const { plaintextLength } = segmentLayout(bodyLength, header.segmentSize);
  rows.push(['plaintext size', `${plaintextLength} bytes`]);
  if (header.version === 1) {
    rows.push(['key id', header.keyId], ['key version', header.keyVersion]);
    if (header.metadata.deviceId !== undefined) rows.push(['device', shown(header.metadata.deviceId)]);
  } else {
    rows.push(['recipients', header.stanzas.map((s) => describeFingerprint(s.type, s.fingerprint)).join(', ')]);
    rows.push(['device', header.deviceId ?? 'none named']);
    rows.push(['signed by', header.signature ? `ed25519:${fingerprintHex(header.signature.signer)}` : 'unsigned']);
  }
  for (const [label, field] of [
    ['capture time', 'captureTime'],
    ['content type', 'contentType'],
    ['original name', 'originalName'],
  ] as const) {
    if (header.metadata[field] !== undefined) rows.push([label, shown(header.metadata[field])]);
  }
  return rows;
}

function sidecarRows(m: SidecarMetadata): HeaderRow[] {
  return [
    ['format', 'sidecar (ciphertext and JSON metadata, as the reference scripts store them)'],
    ['algorithm', m.algorithm],
    ['key name', m.keyName],
    ['key version', m.keyVersion === '' ? '(current)' : m.keyVersion],
    ['original name', m.originalName],
    ['plaintext size', `${m.originalSize} bytes`],
  ];
}

/** What a file says about itself without any key: its format and public header. */
export function describeFile(files: PickedFile[]): FileDescription {
  const { data, metadata, format } = sortFiles(files);
  if (format === 'sealed') {
    const header = parseHeader(data.bytes);
    return { format, name: data.name, rows: sealedRows(header, data.bytes.length - header.headerLength) };
  }
  if (format === 'sidecar') return { format, name: data.name, rows: sidecarRows(parseSidecarMetadata(metadata!.bytes)) };
  return { format, name: data.name, rows: [['format', 'raw (nonce, tag, ciphertext: what pycryptodome writes)'], ['plaintext size', `${Math.max(0, data.bytes.length - 32)} bytes`]] };
}

type Key = { kind: 'aes'; key: Uint8Array } | { kind: 'identity'; identity: X25519Identity };

/** The key file's content: an x25519 identity (by its line's prefix), else an AES key (raw or hex). */
function readKey(file: PickedFile): Key {
  const text = utf8(file.bytes);
  if (contentLines(text)[0]?.text.startsWith(X25519_IDENTITY_PREFIX)) return { kind: 'identity', identity: X25519Identity.fromText(text, file.name) };
  return { kind: 'aes', key: aesKeyFromFile(file.bytes, file.name) };
}

function needsAesKey(key: Key, what: string): Uint8Array {
  if (key.kind !== 'aes') throw new SealcamError('ENOKEY', `${what} opens with an AES key file, not an x25519 identity`);
  return key.key;
}

/** A registry of the one device an entry file names (`<device-id>.pub`). */
function registryOf(entry: PickedFile): DeviceRegistry {
  const deviceId = ENTRY_NAME.exec(entry.name)?.[1];
  if (deviceId === undefined) throw new SealcamError('EUSAGE', `a registry entry is named <device-id>.pub, not ${JSON.stringify(entry.name.slice(0, 80))}`);
  return new DeviceRegistry(entrySource(deviceId, utf8(entry.bytes), `registry entry ${entry.name}`));
}

async function openSealedFile(data: PickedFile, key: Key, entry: PickedFile | undefined): Promise<{ plaintext: Uint8Array; header: SealedHeader; signature: SignatureStatus }> {
  const header = parseHeader(data.bytes);
  const options: OpenOptions = {};
  if (header.version === 1) options.kek = needsAesKey(key, `${data.name} (sealed v1, key ${header.keyId} version ${header.keyVersion})`);
  else if (key.kind === 'identity') options.fileKey = openingWith([key.identity]);
  else throw new SealcamError('ENOKEY', `${data.name} is sealed to recipients (v2): give an x25519 identity file, not an AES key`);
  if (entry !== undefined) options.trust = registryOf(entry);
  const opened = await openBuffer(data.bytes, options);
  return { ...opened, signature: signatureStatus(opened.header, entry) };
}

function signatureStatus(header: SealedHeader, entry: PickedFile | undefined): SignatureStatus {
  if (header.version === 1) return { state: 'unsigned', text: 'unsigned: a v1 file, sealed under a symmetric key' };
  if (header.signature === undefined) return { state: 'unsigned', text: `unsigned${header.deviceId === undefined ? '' : ` (it names device ${header.deviceId})`}` };
  const signer = `ed25519:${fingerprintHex(header.signature.signer)}`;
  // Opening with a registry entry checked the signature first: it verified, or nothing opened.
  if (entry !== undefined) return { state: 'verified', text: `verified: signed by ${signer}, registered for ${header.deviceId} in ${entry.name}` };
  return { state: 'claimed', text: `not checked: the header says ${signer} signed for ${header.deviceId}; give its registry entry (${header.deviceId}.pub) to check` };
}

/**
 * Opens the picked file with the picked key: verified entirely before anything is returned
 * (every tag, the header MAC, and with a registry entry the signature, first). Errors are
 * SealcamErrors with one-line messages that name files, never key material.
 */
export async function openFile(request: OpenRequest): Promise<OpenedFile> {
  const { data, metadata, format } = sortFiles(request.files);
  const description = describeFile(request.files);
  const key = readKey(request.key);
  try {
    let plaintext: Uint8Array;
    let signature: SignatureStatus = { state: 'none', text: `none: a ${format} file carries no signature` };
    let contentType: string | undefined;
    if (format === 'sealed') {
      const opened = await openSealedFile(data, key, request.registryEntry);
      plaintext = opened.plaintext;
      signature = opened.signature;
      if (typeof opened.header.metadata.contentType === 'string') contentType = opened.header.metadata.contentType;
    } else if (request.registryEntry !== undefined) {
      throw new SealcamError('EUSAGE', `a ${format} file carries no signature: open it without a registry entry`);
    } else if (format === 'raw') {
      plaintext = openRaw(needsAesKey(key, `${data.name} (raw)`), data.bytes);
    } else {
      plaintext = openSidecar(needsAesKey(key, `${data.name} (sidecar)`), data.bytes, metadata!.bytes, { metadataName: metadata!.name });
    }
    const sha256 = toHex(platform.crypto.sha256().update(plaintext).digest());
    return { ...description, plaintext, sha256, signature, ...(contentType === undefined ? {} : { contentType }) };
  } finally {
    if (key.kind === 'aes') key.key.fill(0);
  }
}
