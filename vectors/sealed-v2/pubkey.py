"""sealcam's public-key pieces, written from docs/FORMAT.md and docs/RECIPIENTS.md alone.

Built only from Python's `cryptography` (Debian's python3-cryptography, for /usr/bin/python3) and the
standard library, not from sealcam's code: HPKE (RFC 9180) base mode from cryptography's X25519,
HMAC-SHA256, HKDF-Expand and AEADs; RSA-OAEP-256; Ed25519; the key fingerprint; the recipient text
forms. vectors/sealed-v2/check.py and the interop tests' test/helpers/pubkey_interop.py use it.
"""
import base64
import hashlib
import hmac
import json
import sys

try:
    from cryptography.exceptions import InvalidSignature, InvalidTag
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
except ImportError as err:
    sys.stderr.write('python3-cryptography missing: %s\n' % err)
    sys.exit(3)

b = base64.b64decode


def e(data):
    return base64.b64encode(data).decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))


# --- HPKE, RFC 9180 sections 4, 4.1 and 5 -----------------------------------------------------------

KEM_ID, KDF_ID = 0x0020, 0x0001
AEADS = {0x0001: (AESGCM, 16, 12), 0x0003: (ChaCha20Poly1305, 32, 12)}


def i2osp(n, length):
    return n.to_bytes(length, 'big')


def extract(salt, ikm):
    # RFC 5869: an absent salt is HashLen zero bytes.
    return hmac.new(salt if salt else bytes(32), ikm, hashlib.sha256).digest()


def expand(prk, info, length):
    return HKDFExpand(algorithm=hashes.SHA256(), length=length, info=info).derive(prk)


def labeled_extract(suite_id, salt, label, ikm):
    return extract(salt, b'HPKE-v1' + suite_id + label + ikm)


def labeled_expand(suite_id, prk, label, info, length):
    return expand(prk, i2osp(length, 2) + b'HPKE-v1' + suite_id + label + info, length)


KEM_SUITE = b'KEM' + i2osp(KEM_ID, 2)


def raw_public(key):
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def dh_shared_secret(dh, enc, pk_r):
    eae_prk = labeled_extract(KEM_SUITE, b'', b'eae_prk', dh)
    return labeled_expand(KEM_SUITE, eae_prk, b'shared_secret', enc + pk_r, 32)


def encap(pk_r, sk_e):
    dh = sk_e.exchange(X25519PublicKey.from_public_bytes(pk_r))
    enc = raw_public(sk_e)
    return dh_shared_secret(dh, enc, pk_r), enc


def decap(enc, sk_r):
    dh = sk_r.exchange(X25519PublicKey.from_public_bytes(enc))
    return dh_shared_secret(dh, enc, raw_public(sk_r))


def key_schedule(aead_id, shared_secret, info):
    _, nk, nn = AEADS[aead_id]
    suite = b'HPKE' + i2osp(KEM_ID, 2) + i2osp(KDF_ID, 2) + i2osp(aead_id, 2)
    psk_id_hash = labeled_extract(suite, b'', b'psk_id_hash', b'')
    info_hash = labeled_extract(suite, b'', b'info_hash', info)
    context = b'\x00' + psk_id_hash + info_hash
    secret = labeled_extract(suite, shared_secret, b'secret', b'')
    return {
        'key_schedule_context': context,
        'secret': secret,
        'key': labeled_expand(suite, secret, b'key', context, nk),
        'base_nonce': labeled_expand(suite, secret, b'base_nonce', context, nn),
        'exporter_secret': labeled_expand(suite, secret, b'exp', context, 32),
    }


def nonce(base_nonce, seq):
    return bytes(x ^ y for x, y in zip(base_nonce, i2osp(seq, len(base_nonce))))


def aead(aead_id, key):
    return AEADS[aead_id][0](key)


# --- sealcam's use (docs/RECIPIENTS.md) ------------------------------------------------------------

WRAP_AEAD = 0x0003
WRAP_INFO = b'sealcam v2 file key'
WRAP_AAD = b''


def x25519_wrap(pk_r, file_key, sk_e=None):
    """The x25519 stanza body for `file_key`; `sk_e` fixes the ephemeral key (test vectors only)."""
    shared, enc = encap(pk_r, sk_e or X25519PrivateKey.generate())
    ks = key_schedule(WRAP_AEAD, shared, WRAP_INFO)
    return enc + aead(WRAP_AEAD, ks['key']).encrypt(nonce(ks['base_nonce'], 0), file_key, WRAP_AAD)


def x25519_open(sk_r, body):
    enc, sealed = body[:32], body[32:]
    ks = key_schedule(WRAP_AEAD, decap(enc, sk_r), WRAP_INFO)
    return aead(WRAP_AEAD, ks['key']).decrypt(nonce(ks['base_nonce'], 0), sealed, WRAP_AAD)


OAEP_256 = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def fingerprint(key_type, public_key):
    return hashlib.sha256(b'sealcam key fingerprint v1\x00' + key_type.encode('ascii') + b'\x00' + public_key).digest()[:16]


def parse_recipient(text):
    """(stanza type, public key bytes as fingerprinted, where the private half is)."""
    if text.startswith('sealcam-x25519:'):
        return 'x25519', b64url_decode(text[len('sealcam-x25519:'):]), 'local'
    if text.startswith('sealcam-rsa-oaep-256:'):
        return 'rsa-oaep-256', b64url_decode(text[len('sealcam-rsa-oaep-256:'):]), 'local'
    for prefix in ('sealcam-azure-kv:', 'sealcam-aws-kms:'):
        if text.startswith(prefix):
            where, _, key = text[len(prefix):].rpartition(',')
            return 'rsa-oaep-256', b64url_decode(key), where
    if text.startswith('sealcam-ed25519:'):
        return 'ed25519', b64url_decode(text[len('sealcam-ed25519:'):]), 'local'
    raise ValueError('unknown recipient form')
