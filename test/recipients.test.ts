import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuthenticationError } from '../src/errors.js';
import { DevicePublicKey, DeviceSigningKey } from '../src/keys/ed25519.js';
import { KeyVaultIdentity } from '../src/keys/keyvault-keys.js';
import { KmsIdentity } from '../src/keys/kms.js';
import { loadIdentity, loadRecipients, parseRecipient, unwrapFileKey, wrapFileKey } from '../src/keys/recipients.js';
import { LocalRsaIdentity, RsaRecipient } from '../src/keys/rsa-oaep.js';
import { keyFingerprint, type Identity, type Stanza } from '../src/keys/stanza.js';
import { X25519Identity, X25519Recipient } from '../src/keys/x25519.js';
import { writeIdentityFile, writeSigningKeyFile } from '../src/keys/keypair-files.js';
import { tempDir } from './helpers/temp-dir.js';

/** Recipient and identity loading, and wrapping a file key for several recipients. */

const dir = tempDir('sealcam-recipients-');

const x = X25519Identity.generate();
const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const rsa = LocalRsaIdentity.fromPrivateKey(rsaKey);
const spki = Buffer.from(rsa.recipient.spki).toString('base64url');
const KV = `sealcam-azure-kv:https://fleet.vault.azure.net/keys/wrap/0123456789abcdef0123456789abcdef,${spki}`;
const KMS = `sealcam-aws-kms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab,${spki}`;

function write(name: string, text: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
  return path;
}

describe('parseRecipient', () => {
  it('knows the x25519 and the three RSA forms', () => {
    expect(parseRecipient(x.recipient.text)).toBeInstanceOf(X25519Recipient);
    for (const text of [rsa.recipient.text, KV, KMS]) expect(parseRecipient(text)).toBeInstanceOf(RsaRecipient);
  });

  it('refuses a pasted secret key without echoing it', async () => {
    const path = join(dir, 'x.key');
    await writeIdentityFile(x, path);
    const secretLine = readFileSync(path, 'utf8').split('\n').find((l) => l.startsWith('SEALCAM-'))!;
    let message = '';
    try {
      parseRecipient(secretLine);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe('this is a secret key, not a recipient: give its public half (the .pub file)');
    expect(() => parseRecipient(rsaKey.export({ format: 'pem', type: 'pkcs8' }) as string)).toThrow(/this is a secret key/);
  });

  it('refuses a device signing key and anything unknown, in one line', () => {
    expect(() => parseRecipient(DeviceSigningKey.generate().publicKey.text)).toThrow(/device signing key, not a recipient/);
    expect(() => parseRecipient('age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs')).toThrow(/^not a recipient: expected sealcam-x25519:/);
  });
});

describe('loadRecipients', () => {
  it('takes a key string as it is', async () => {
    const [r] = await loadRecipients(x.recipient.text);
    expect(r!.fingerprint).toEqual(x.fingerprint);
  });

  it('reads every recipient of a .pub file, skipping comments and blank lines', async () => {
    const path = write('fleet.pub', `# fleet recipients\n\n${x.recipient.text}\n  # old key, until the rotation ends\n${KV}\n`, 0o644);
    const recipients = await loadRecipients(path);
    expect(recipients.map((r) => r.type)).toEqual(['x25519', 'rsa-oaep-256']);
  });

  it('reads a file whose name starts with "sealcam-" as a file', async () => {
    const path = write('sealcam-fleet.pub', `${x.recipient.text}\n`, 0o644);
    expect((await loadRecipients(path))[0]!.fingerprint).toEqual(x.fingerprint);
  });

  it('names the file and line of a bad recipient', async () => {
    const path = write('bad.pub', `# ok\n${x.recipient.text}\nsealcam-x25519:short\n`, 0o644);
    await expect(loadRecipients(path)).rejects.toThrow(new RegExp(`^recipient file ${path} line 3: not an x25519 recipient`));
  });

  it('refuses an empty file and a missing one in one line', async () => {
    const empty = write('empty.pub', '# nothing yet\n', 0o644);
    await expect(loadRecipients(empty)).rejects.toThrow(`recipient file ${empty} holds no recipient`);
    await expect(loadRecipients(join(dir, 'missing.pub'))).rejects.toThrow(/^recipient file .*missing\.pub not found$/);
  });
});

describe('loadIdentity', () => {
  it('reads an x25519 identity file and an RSA PEM key file (both mode 0600)', async () => {
    const xPath = join(dir, 'fleet.key');
    await writeIdentityFile(x, xPath);
    expect((await loadIdentity(xPath)).fingerprint).toEqual(x.fingerprint);
    const pem = write('rsa.pem', rsaKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    const identity = await loadIdentity(pem);
    expect(identity).toBeInstanceOf(LocalRsaIdentity);
    expect(identity.fingerprint).toEqual(keyFingerprint('rsa-oaep-256', rsa.recipient.spki));
  });

  it('makes a vault identity from a vault recipient string or a file holding one, without calling the vault', async () => {
    expect(await loadIdentity(KV)).toBeInstanceOf(KeyVaultIdentity);
    expect(await loadIdentity(KMS)).toBeInstanceOf(KmsIdentity);
    expect(await loadIdentity(write('kv.identity', `# receiver's vault key\n${KV}\n`))).toBeInstanceOf(KeyVaultIdentity);
  });

  it('refuses a file others can read, a signing key, a recipient and secret text on the command line', async () => {
    const open = join(dir, 'open.key');
    await writeIdentityFile(X25519Identity.generate(), open);
    chmodSync(open, 0o644);
    await expect(loadIdentity(open)).rejects.toThrow(/mode 0644/);
    const signing = join(dir, 'cam.key');
    await writeSigningKeyFile(DeviceSigningKey.generate(), signing);
    await expect(loadIdentity(signing)).rejects.toThrow(/is a device signing key, not an identity/);
    await expect(loadIdentity(x.recipient.text)).rejects.toThrow(/this is a recipient \(a public key\)/);
    await expect(loadIdentity(`SEALCAM-X25519-SECRET-KEY:${'A'.repeat(43)}`)).rejects.toThrow(/not as text on the command line/);
  });
});

describe('wrapFileKey and unwrapFileKey', () => {
  const fileKey = new Uint8Array(randomBytes(16));

  it('wraps for every recipient, and each identity opens its own stanza', async () => {
    const stanzas = wrapFileKey(fileKey, [x.recipient, rsa.recipient]);
    expect(stanzas.map((s) => s.type)).toEqual(['x25519', 'rsa-oaep-256']);
    expect(await unwrapFileKey(stanzas, [x])).toEqual(fileKey);
    expect(await unwrapFileKey(stanzas, [rsa])).toEqual(fileKey);
  });

  it('never asks an identity about a stanza not addressed to it', async () => {
    const stanzas = wrapFileKey(fileKey, [x.recipient]);
    const bystander: Identity = {
      type: 'x25519',
      fingerprint: new Uint8Array(16),
      description: 'bystander',
      unwrap: () => {
        throw new Error('asked about a stanza for someone else');
      },
    };
    expect(await unwrapFileKey(stanzas, [bystander, x])).toEqual(fileKey);
  });

  it('a forged stanza with a real fingerprint does not hide the genuine one after it', async () => {
    const [genuine] = wrapFileKey(fileKey, [x.recipient]);
    const forged: Stanza = { ...genuine!, body: x.recipient.wrap(new Uint8Array(16)).body.map((b, i) => (i === 40 ? b ^ 1 : b)) };
    expect(await unwrapFileKey([forged, genuine!], [x])).toEqual(fileKey);
    await expect(unwrapFileKey([forged], [x])).rejects.toThrow(AuthenticationError);
  });

  it('says which recipients the file is for when no identity matches, or when there is none (a camera)', async () => {
    const stanzas = wrapFileKey(fileKey, [x.recipient]);
    const other = X25519Identity.generate();
    const fp = Buffer.from(x.fingerprint).toString('hex');
    await expect(unwrapFileKey(stanzas, [other])).rejects.toThrow(`this device holds no identity for recipient x25519:${fp}`);
    await expect(unwrapFileKey(stanzas, [])).rejects.toThrow(`this device holds no identity, so it cannot open files (sealed to recipient x25519:${fp})`);
  });

  it('refuses no recipients and a recipient listed twice', () => {
    expect(() => wrapFileKey(fileKey, [])).toThrow(/at least one recipient/);
    expect(() => wrapFileKey(fileKey, [x.recipient, X25519Recipient.parse(x.recipient.text)])).toThrow(/is listed twice/);
  });
});

describe('the examples in docs/RECIPIENTS.md', () => {
  // RFC 9180 A.2.1's recipient key pair and Wycheproof ed25519's first public key: published, not secret.
  const X25519_TEXT = 'sealcam-x25519:QxDul9iMwfCIpVdsd6sM9cOseX89lROcbIS1QpxZZio';
  const X25519_SECRET = 'SEALCAM-X25519-SECRET-KEY:gFeZHu-PHxrxj0qUkdFqHOMz9pXU24442nWXXER44Ps';
  const ED25519_TEXT = 'sealcam-ed25519:fU0Of2FTpptiQrUiq77mhf2kQg-INLEIw72uNp71Sfo';

  it('the x25519 recipient and identity texts are one key pair, with the documented fingerprint', () => {
    const recipient = parseRecipient(X25519_TEXT);
    expect(Buffer.from(recipient.fingerprint).toString('hex')).toBe('d7fdb55355d3471b4aeb56c2113c616a');
    expect(X25519Identity.fromText(`# example\n${X25519_SECRET}\n`, 'example').recipient.text).toBe(X25519_TEXT);
  });

  it('the ed25519 public key has the documented fingerprint', () => {
    expect(Buffer.from(DevicePublicKey.parse(ED25519_TEXT).fingerprint).toString('hex')).toBe('d4aec2cc784e371eabf5427697cea550');
  });
});
