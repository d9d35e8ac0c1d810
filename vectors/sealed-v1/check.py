#!/usr/bin/python3
"""Independent check of the frozen `sealed` v1 vectors (vectors/sealed-v1/).

This is a second implementation of docs/FORMAT.md, written from the specification alone with
pycryptodome (AES-EAX, HKDF-SHA-256) and the standard library (HMAC-SHA-256). For every entry of
vectors.json it

  1. rebuilds the sealed file from the JSON inputs (KEK, key id and version, algorithm, segment
     size, DEK, salt, nonce prefix, metadata, plaintext) and compares it byte for byte with the
     stored .sealed file (on a difference it names the first differing offset and header field);
  2. opens the stored file following the "Reading" section (every check in its order), with the
     KEK looked up by key id and version, and compares the plaintext;
  3. checks that a flipped bit in the header MAC, in the last byte, and a dropped byte are refused.

Run it with Debian's interpreter, which has the `Cryptodome` namespace:

    /usr/bin/python3 vectors/sealed-v1/check.py [VECTORS_DIR]

Exit status: 0 all vectors match, 1 a mismatch or failure, 3 pycryptodome is missing.
"""

import hashlib
import hmac
import json
import os
import sys

try:
    from Cryptodome.Cipher import AES
    from Cryptodome.Hash import SHA256
    from Cryptodome.Protocol.KDF import HKDF
except ImportError as err:  # pragma: no cover
    sys.stderr.write(
        'check_sealed_vectors: pycryptodome (the Cryptodome namespace) is missing: %s\n'
        'install it with: apt-get install python3-pycryptodome, and run /usr/bin/python3\n' % err
    )
    sys.exit(3)

MAGIC = b'sealcam\x00'
VERSION = 1
ALGORITHMS = {'AES-128-EAX': (1, 16), 'AES-256-EAX': (2, 32)}
ALGORITHM_IDS = {1: ('AES-128-EAX', 16), 2: ('AES-256-EAX', 32)}
MIN_EXP, MAX_EXP = 12, 24
MAX_HEADER = 65536
SALT, PREFIX, TAG, MAC = 16, 11, 16, 32
PLAINTEXT_FORMULA = '(7*i) % 256'


class Refused(Exception):
    """The reader refused the file; the message names the failed check as FORMAT.md does."""


# ---------------------------------------------------------------------------------------------
# Building blocks, one per paragraph of FORMAT.md


def hkdf(dek, salt, info, length):
    return HKDF(dek, length, salt, SHA256, context=info)


def derive_keys(dek, salt):
    payload_key = hkdf(dek, salt, b'sealcam v1 payload', len(dek))
    header_key = hkdf(dek, salt, b'sealcam v1 header', 32)
    return payload_key, header_key


def wrap_associated_data(key_id, key_version):
    return b'sealcam v1 key' + b'\x00' + key_id + b'\x00' + key_version


def eax_seal(key, nonce, associated, plaintext):
    cipher = AES.new(key, AES.MODE_EAX, nonce=nonce, mac_len=16)
    cipher.update(associated)
    ciphertext, tag = cipher.encrypt_and_digest(plaintext)
    return ciphertext + tag


def eax_open(key, nonce, associated, stored):
    cipher = AES.new(key, AES.MODE_EAX, nonce=nonce, mac_len=16)
    cipher.update(associated)
    return cipher.decrypt_and_verify(stored[:-TAG], stored[-TAG:])  # ValueError on a bad tag


def segment_nonce(prefix, index, last):
    return prefix + index.to_bytes(4, 'big') + (b'\x01' if last else b'\x00')


# ---------------------------------------------------------------------------------------------
# Writing


def seal(kek, key_id, key_version, algorithm, segment_size, dek, salt, prefix, metadata_json, plaintext):
    """Returns (file bytes, field map {name: (start, end)} for diagnostics)."""
    alg_id, dek_len = ALGORITHMS[algorithm]
    assert len(kek) in (16, 24, 32), 'KEK must be 16, 24 or 32 bytes'
    assert len(dek) == dek_len and len(salt) == SALT and len(prefix) == PREFIX
    e = segment_size.bit_length() - 1
    assert 1 << e == segment_size and MIN_EXP <= e <= MAX_EXP
    assert 1 <= len(key_id) <= 255 and 1 <= len(key_version) <= 255

    wrapped = eax_seal(kek, salt, wrap_associated_data(key_id, key_version), dek)
    assert len(wrapped) == dek_len + TAG

    fields = []
    body = bytearray()

    def put(name, data):
        fields.append((name, len(body), len(body) + len(data)))
        body.extend(data)

    a, b, w, j = len(key_id), len(key_version), len(wrapped), len(metadata_json)
    header_length = 16 + 1 + a + 1 + b + SALT + 1 + w + PREFIX + 4 + j + MAC
    assert header_length <= MAX_HEADER
    put('magic', MAGIC)
    put('version', bytes([VERSION]))
    put('algorithm', bytes([alg_id]))
    put('segment size exponent', bytes([e]))
    put('reserved', b'\x00')
    put('header length', header_length.to_bytes(4, 'big'))
    put('key id length', bytes([a]))
    put('key id', key_id)
    put('key version length', bytes([b]))
    put('key version', key_version)
    put('salt', salt)
    put('wrapped key length', bytes([w]))
    put('wrapped key', wrapped)
    put('nonce prefix', prefix)
    put('metadata length', j.to_bytes(4, 'big'))
    put('metadata', metadata_json)
    payload_key, header_key = derive_keys(dek, salt)
    mac = hmac.new(header_key, bytes(body), hashlib.sha256).digest()
    put('header MAC', mac)
    assert len(body) == header_length

    count = max(1, -(-len(plaintext) // segment_size))
    for i in range(count):
        last = i == count - 1
        chunk = plaintext[i * segment_size:(i + 1) * segment_size]
        put('segment %d%s' % (i, ' (last)' if last else ''), eax_seal(payload_key, segment_nonce(prefix, i, last), mac, chunk))
    return bytes(body), fields


# ---------------------------------------------------------------------------------------------
# Reading: the checks of FORMAT.md "Reading", in order


def open_sealed(data, kek_for):
    # 1. magic, version, algorithm, e, H against the limits and the file size
    if len(data) < 16 or data[:8] != MAGIC:
        raise Refused('not a sealed file')
    if data[8] != VERSION:
        raise Refused('unsupported version %d' % data[8])
    if data[9] not in ALGORITHM_IDS:
        raise Refused('unknown algorithm %d' % data[9])
    algorithm, dek_len = ALGORITHM_IDS[data[9]]
    e = data[10]
    if not MIN_EXP <= e <= MAX_EXP:
        raise Refused('invalid segment size exponent %d' % e)
    segment_size = 1 << e
    H = int.from_bytes(data[12:16], 'big')
    if H > MAX_HEADER or H > len(data):
        raise Refused('invalid header length %d' % H)
    header = data[:H]
    end = H - MAC

    # 2. the field lengths must fit exactly in H
    at = 16

    def take(n):
        nonlocal at
        if at + n > end:
            raise Refused('header field runs past the header')
        out = header[at:at + n]
        at += n
        return out

    a = take(1)[0]
    if a < 1:
        raise Refused('empty key id')
    key_id = take(a)
    b = take(1)[0]
    if b < 1:
        raise Refused('empty key version')
    key_version = take(b)
    salt = take(SALT)
    w = take(1)[0]
    if w != dek_len + TAG:
        raise Refused('wrapped key length %d does not match %s' % (w, algorithm))
    wrapped = take(w)
    prefix = take(PREFIX)
    j = int.from_bytes(take(4), 'big')
    metadata_bytes = take(j)
    if at != end:
        raise Refused('header length does not match its fields')
    mac = header[end:H]

    # 3. the key wrap, under the KEK named by key id and version
    kek = kek_for(key_id.decode('utf-8'), key_version.decode('utf-8'))
    try:
        dek = eax_open(kek, salt, wrap_associated_data(key_id, key_version), wrapped)
    except ValueError:
        raise Refused('wrong key')

    # 4. the header MAC
    payload_key, header_key = derive_keys(dek, salt)
    if not hmac.compare_digest(hmac.new(header_key, header[:end], hashlib.sha256).digest(), mac):
        raise Refused('header was altered')
    metadata = json.loads(metadata_bytes.decode('utf-8'))
    if not isinstance(metadata, dict):
        raise Refused('metadata is not a JSON object')

    # 5. the body size
    B = len(data) - H
    stored = segment_size + TAG
    n = -(-B // stored)
    if n < 1 or n > 2 ** 32:
        raise Refused('truncated' if n < 1 else 'too many segments')
    last_stored = B - (n - 1) * stored
    if last_stored < TAG:
        raise Refused('truncated')
    if n > 1 and last_stored == TAG:
        raise Refused('an empty last segment after others')  # only an empty plaintext has one

    # 6. each segment's tag; plaintext released only when all verified
    out = []
    for i in range(n):
        last = i == n - 1
        start = H + i * stored
        seg = data[start:] if last else data[start:start + stored]
        try:
            out.append(eax_open(payload_key, segment_nonce(prefix, i, last), mac, seg))
        except ValueError:
            raise Refused('segment %d failed verification' % i)
    return b''.join(out), {
        'algorithm': algorithm, 'segmentSize': segment_size, 'keyId': key_id.decode('utf-8'),
        'keyVersion': key_version.decode('utf-8'), 'metadata': metadata, 'headerLength': H, 'segments': n,
    }


# ---------------------------------------------------------------------------------------------


def plaintext_of(v):
    if 'plaintext' in v:
        return bytes.fromhex(v['plaintext'])
    rule = v['plaintextRule']
    if rule['formula'] != PLAINTEXT_FORMULA:
        raise ValueError('unknown plaintext formula %r' % rule['formula'])
    return bytes((7 * i) % 256 for i in range(rule['length']))


def first_difference(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b)) if len(a) != len(b) else None


def field_at(fields, offset):
    for name, start, end in fields:
        if start <= offset < end:
            return '%s (bytes %d..%d, offset %d into it)' % (name, start, end - 1, offset - start)
    return 'past the end of the expected file'


def check(directory):
    with open(os.path.join(directory, 'vectors.json'), encoding='utf-8') as f:
        doc = json.load(f)
    vectors = doc['vectors']
    if doc.get('count') != len(vectors):
        raise SystemExit('vectors.json: count %r but %d vectors' % (doc.get('count'), len(vectors)))
    keks = {}
    for v in vectors:
        keks.setdefault((v['keyId'], v['keyVersion']), set()).add(v['kek'])

    failures = 0
    for v in vectors:
        name = v['id']
        try:
            kek = bytes.fromhex(v['kek'])
            metadata_json = v['metadataJson'].encode('utf-8')
            if json.loads(metadata_json) != v['metadata']:
                raise AssertionError('metadataJson and metadata disagree')
            plaintext = plaintext_of(v)
            if hashlib.sha256(plaintext).hexdigest() != v['plaintextSha256']:
                raise AssertionError('plaintext does not match plaintextSha256')
            with open(os.path.join(directory, v['sealed']), 'rb') as f:
                stored = f.read()

            # 1. reproduce byte for byte
            built, fields = seal(kek, v['keyId'].encode('utf-8'), v['keyVersion'].encode('utf-8'), v['algorithm'],
                                 v['segmentSize'], bytes.fromhex(v['dek']), bytes.fromhex(v['salt']),
                                 bytes.fromhex(v['prefix']), metadata_json, plaintext)
            if built != stored:
                at = first_difference(built, stored)
                raise AssertionError('the rebuilt file differs from %s (%d vs %d bytes): first difference at byte %d, in %s'
                                     % (v['sealed'], len(built), len(stored), at, field_at(fields, at)))
            inter = v.get('intermediate', {})
            payload_key, header_key = derive_keys(bytes.fromhex(v['dek']), bytes.fromhex(v['salt']))
            for label, mine in (('headerKey', header_key), ('payloadKey', payload_key),
                                ('wrapAssociatedData', wrap_associated_data(v['keyId'].encode('utf-8'), v['keyVersion'].encode('utf-8')))):
                if label in inter and inter[label] != mine.hex():
                    raise AssertionError('intermediate %s differs' % label)

            # 2. open it (the KEK found by key id and version, as a reader would)
            def kek_for(key_id, key_version):
                return bytes.fromhex(v['kek']) if (key_id, key_version) == (v['keyId'], v['keyVersion']) else b'\x00' * 16

            opened, info = open_sealed(stored, kek_for)
            if opened != plaintext:
                raise AssertionError('opened plaintext differs')
            if info['metadata'] != v['metadata'] or info['segments'] != inter.get('segmentCount', info['segments']):
                raise AssertionError('opened header fields differ')

            # 3. a few alterations must be refused
            H = info['headerLength']
            for what, altered, expect in (
                ('header MAC bit', stored[:H - 1] + bytes([stored[H - 1] ^ 1]) + stored[H:], ('header was altered',)),
                ('last byte', stored[:-1] + bytes([stored[-1] ^ 0x80]), ('failed verification',)),
                # one byte fewer: the last segment fails, or (1-byte last segment) it becomes an
                # empty last segment after others, or (empty plaintext) shorter than its tag
                ('dropped byte', stored[:-1], ('failed verification', 'empty last segment', 'truncated')),
                ('wrong key', stored, ('wrong key',)),
            ):
                try:
                    open_sealed(altered, kek_for if what != 'wrong key' else (lambda i, k: bytes(len(kek))))
                    raise AssertionError('%s was not refused' % what)
                except Refused as refused:
                    if not any(e in str(refused) for e in expect):
                        raise AssertionError('%s refused with %r, expected %r' % (what, str(refused), expect))
            print('ok   %s: %d bytes reproduced byte for byte, %d segment(s), opened' % (name, len(stored), info['segments']))
        except Exception as err:  # report every vector, then fail
            failures += 1
            print('FAIL %s: %s: %s' % (name, type(err).__name__, err))
    if failures:
        print('%d of %d vectors FAILED' % (failures, len(vectors)))
        return 1
    print('all %d vectors match (pycryptodome %s)' % (len(vectors), __import__('Cryptodome').__version__))
    return 0


if __name__ == '__main__':
    here = os.path.dirname(os.path.abspath(__file__))
    target = sys.argv[1] if len(sys.argv) > 1 else here
    sys.exit(check(target))
