#!/usr/bin/python3
"""Independent check of the frozen `sealed` v2 vectors (vectors/sealed-v2/).

A second implementation of docs/FORMAT.md version 2, written from the specification alone: Python's
`cryptography` for X25519/HPKE, ChaCha20-Poly1305, RSA-OAEP and Ed25519 (pubkey.py beside this file),
pycryptodome for AES-EAX and HKDF, the standard library for HMAC. For every entry of vectors.json it

  1. rebuilds each x25519 stanza from the recipient key and the fixed ephemeral key, and checks that
     every stanza (the RSA ones too) opens with its identity to the DEK;
  2. rebuilds the whole file from the inputs (stanzas, device id, DEK, salt, prefix, metadata,
     signing key, plaintext) and compares it byte for byte with the stored .sealed file;
  3. opens the stored file as "Reading a v2 file" says (the signature against the vector's signer,
     the DEK from a stanza, the header MAC, every segment) and compares the plaintext;
  4. checks that a flipped bit in a stanza, in the device id and in the signature is refused.

    /usr/bin/python3 vectors/sealed-v2/check.py [VECTORS_DIR]

Exit status: 0 all vectors match, 1 a mismatch or failure, 3 a library is missing.
"""

import hashlib
import hmac
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from Cryptodome.Cipher import AES
    from Cryptodome.Hash import SHA256
    from Cryptodome.Protocol.KDF import HKDF
    from pubkey import (OAEP_256, Ed25519PrivateKey, Ed25519PublicKey, InvalidSignature, X25519PrivateKey, fingerprint,
                        parse_recipient, raw_public, serialization, x25519_open, x25519_wrap)
except ImportError as err:  # pragma: no cover
    sys.stderr.write('check.py: %s (apt-get install python3-pycryptodome python3-cryptography; run /usr/bin/python3)\n' % err)
    sys.exit(3)

MAGIC = b'sealcam\x00'
ALGORITHMS = {'AES-128-EAX': (1, 16), 'AES-256-EAX': (2, 32)}
SIGNED = 0x01
SIGNATURE_DOMAIN = b'sealcam v2 header signature\x00'
TAG, MAC = 16, 32


class Refused(Exception):
    """The reader refused the file; the message names the failed check."""


def hkdf(dek, salt, info, length):
    return HKDF(dek, length, salt, SHA256, context=info)


def eax(key, nonce, associated, data, tag=None):
    cipher = AES.new(key, AES.MODE_EAX, nonce=nonce, mac_len=16)
    cipher.update(associated)
    if tag is None:
        ciphertext, t = cipher.encrypt_and_digest(data)
        return ciphertext + t
    return cipher.decrypt_and_verify(data, tag)


def segment_nonce(prefix, index, last):
    return prefix + struct.pack('>I', index) + (b'\x01' if last else b'\x00')


def short(b):
    return bytes([len(b)]) + b


# --- Writing (the Header table, row by row) ---------------------------------------------------------


def build(v, rsa_pem, plaintext, stanzas):
    alg_id, dek_length = ALGORITHMS[v['algorithm']]
    dek, salt, prefix = (bytes.fromhex(v[k]) for k in ('dek', 'salt', 'prefix'))
    device = v.get('deviceId', '').encode()
    signing = v.get('signingKey')
    metadata = v['metadataJson'].encode('utf-8')
    exp = v['segmentSize'].bit_length() - 1
    body = b''.join(short(s['type'].encode()) + s['fingerprint'] + struct.pack('>H', len(s['body'])) + s['body'] for s in stanzas)
    fields = bytes([len(stanzas)]) + body + short(device) + salt + prefix + struct.pack('>I', len(metadata)) + metadata
    length = 16 + len(fields) + MAC + (16 + 64 if signing else 0)
    start = MAGIC + bytes([2, alg_id, exp, SIGNED if signing else 0]) + struct.pack('>I', length)
    header = start + fields
    header += hmac.new(hkdf(dek, salt, b'sealcam v2 header', 32), header, hashlib.sha256).digest()
    if signing:
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(signing))
        header += fingerprint('ed25519', raw_public(key))
        header += key.sign(SIGNATURE_DOMAIN + header)
    payload_key = hkdf(dek, salt, b'sealcam v2 payload', dek_length)
    size = v['segmentSize']
    count = max(1, -(-len(plaintext) // size))
    out = header + b''.join(
        eax(payload_key, segment_nonce(prefix, i, i == count - 1), header[length - MAC - (80 if signing else 0):length - (80 if signing else 0)], plaintext[i * size:(i + 1) * size])
        for i in range(count))
    return out


# --- Reading ("Reading a v2 file") ---------------------------------------------------------------------


class Reader:
    def __init__(self, data, end):
        self.data, self.at, self.end = data, 16, end

    def take(self, n, what):
        if self.at + n > self.end:
            raise Refused('header field %s runs past the header' % what)
        self.at += n
        return self.data[self.at - n:self.at]


def open_file(data, identities, signer_public):
    if data[:8] != MAGIC or data[8] != 2:
        raise Refused('not a v2 sealed file')
    alg = {1: 16, 2: 32}[data[9]]
    size = 1 << data[10]
    flags = data[11]
    if flags & ~SIGNED:
        raise Refused('unknown flags')
    length = struct.unpack('>I', data[12:16])[0]
    signed = bool(flags & SIGNED)
    mac_at = length - MAC - (80 if signed else 0)
    r = Reader(data, mac_at)
    stanzas = []
    for _ in range(r.take(1, 'stanza count')[0]):
        kind = r.take(r.take(1, 'type length')[0], 'type').decode('ascii')
        fp = r.take(16, 'fingerprint')
        stanzas.append((kind, fp, r.take(struct.unpack('>H', r.take(2, 'body length'))[0], 'body')))
    device = r.take(r.take(1, 'device id length')[0], 'device id').decode()
    salt = r.take(16, 'salt')
    prefix = r.take(11, 'prefix')
    json.loads(r.take(struct.unpack('>I', r.take(4, 'metadata length'))[0], 'metadata').decode('utf-8'))
    if r.at != mac_at:
        raise Refused('header length does not match its fields')
    header = data[:length]
    if signer_public is not None:
        if not signed or not device:
            raise Refused('unsigned')
        if header[mac_at + MAC:length - 64] != fingerprint('ed25519', signer_public):
            raise Refused('signer not the registered key')
        try:
            Ed25519PublicKey.from_public_bytes(signer_public).verify(header[length - 64:], SIGNATURE_DOMAIN + header[:length - 64])
        except InvalidSignature:
            raise Refused('signature does not verify')
    dek = None
    for ident in identities:
        for kind, fp, body in stanzas:
            if kind == ident['type'] and fp == ident['fingerprint']:
                try:
                    dek = ident['open'](body)
                    break
                except Exception:  # a forged stanza may carry a real fingerprint: go on
                    continue
        if dek is not None:
            break
    if dek is None or len(dek) != alg:
        raise Refused('no identity opens a stanza')
    mac = header[mac_at:mac_at + MAC]
    if not hmac.compare_digest(hmac.new(hkdf(dek, salt, b'sealcam v2 header', 32), header[:mac_at], hashlib.sha256).digest(), mac):
        raise Refused('header was altered')
    payload_key = hkdf(dek, salt, b'sealcam v2 payload', alg)
    body = data[length:]
    count = max(1, -(-len(body) // (size + TAG)))
    plain = b''
    for i in range(count):
        seg = body[i * (size + TAG):(i + 1) * (size + TAG)]
        try:
            plain += eax(payload_key, segment_nonce(prefix, i, i == count - 1), mac, seg[:-TAG], seg[-TAG:])
        except ValueError:
            raise Refused('segment %d failed verification' % i)
    return plain


def identities_of(v, rsa_key):
    out = []
    for r in v['recipients']:
        kind, public, _ = parse_recipient(r['recipient'])
        if kind == 'x25519':
            sk = X25519PrivateKey.from_private_bytes(bytes.fromhex(r['identityKey']))
            out.append({'type': kind, 'fingerprint': fingerprint(kind, public), 'open': lambda body, sk=sk: x25519_open(sk, body)})
        else:
            out.append({'type': kind, 'fingerprint': fingerprint(kind, public), 'open': lambda body: rsa_key.decrypt(body, OAEP_256)})
    return out


def plaintext_of(v):
    if 'plaintext' in v:
        return bytes.fromhex(v['plaintext'])
    assert v['plaintextRule']['formula'] == '(7*i) % 256'
    return bytes((7 * i) % 256 for i in range(v['plaintextRule']['length']))


def check(v, folder, doc):
    rsa_key = serialization.load_pem_private_key(doc['rsaPrivateKeyPem'].encode(), password=None)
    dek = bytes.fromhex(v['dek'])
    stanzas = []
    for r, s in zip(v['recipients'], v['stanzas']):
        kind, public, _ = parse_recipient(r['recipient'])
        body = bytes.fromhex(s['body'])
        if s['type'] != kind or bytes.fromhex(s['fingerprint']) != fingerprint(kind, public):
            return 'stanza type or fingerprint does not match its recipient'
        if kind == 'x25519':
            rebuilt = x25519_wrap(public, dek, X25519PrivateKey.from_private_bytes(bytes.fromhex(r['ephemeralKey'])))
            if rebuilt != body:
                return 'the x25519 stanza does not reproduce from its ephemeral key'
        elif rsa_key.decrypt(body, OAEP_256) != dek:
            return 'the RSA stanza does not unwrap to the DEK'
        stanzas.append({'type': kind, 'fingerprint': fingerprint(kind, public), 'body': body})
    stored = open(os.path.join(folder, v['sealed']), 'rb').read()
    plaintext = plaintext_of(v)
    if hashlib.sha256(stored).hexdigest() != v['sealedSha256']:
        return 'the .sealed file does not match sealedSha256'
    rebuilt = build(v, doc['rsaPrivateKeyPem'], plaintext, stanzas)
    if rebuilt != stored:
        first = next((i for i, (a, b) in enumerate(zip(rebuilt, stored)) if a != b), min(len(rebuilt), len(stored)))
        return 'rebuilt file differs from the stored one at offset %d' % first
    signer = None
    if 'signingKey' in v:
        signer = raw_public(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v['signingKey'])))
    identities = identities_of(v, rsa_key)
    for ident in identities:
        if open_file(stored, [ident], signer) != plaintext:
            return 'opening with the %s identity gives another plaintext' % ident['type']
    length = struct.unpack('>I', stored[12:16])[0]
    tampered = [('a stanza byte', 16 + 3)]
    if 'deviceId' in v:
        offset = 17 + sum(1 + len(s['type']) + 16 + 2 + len(s['body']) for s in stanzas)
        tampered.append(('the device id', offset + 1))
    if signer is not None:
        tampered.append(('the signature', length - 1))
    for what, at in tampered:
        bad = bytearray(stored)
        bad[at] ^= 1
        try:
            open_file(bytes(bad), identities, signer)
            return 'a flipped bit in %s was not refused' % what
        except Refused:
            pass
    return None


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    doc = json.load(open(os.path.join(folder, 'vectors.json')))
    failures = 0
    for v in doc['vectors']:
        problem = check(v, folder, doc)
        print('%-40s %s' % (v['id'], 'ok' if problem is None else 'FAIL: ' + problem))
        failures += problem is not None
    print('%d of %d vectors reproduce and open' % (len(doc['vectors']) - failures, len(doc['vectors'])))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
