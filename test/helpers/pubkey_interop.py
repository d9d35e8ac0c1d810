"""An independent implementation of sealcam's recipients and device signatures, for the interop tests.

The primitives are vectors/sealed-v2/pubkey.py (Python's `cryptography`, written from the docs, not
from sealcam's code). Reads a JSON list of operations on stdin and writes a JSON list of results to
stdout; bytes are base64 (standard alphabet). An operation that fails returns {"error": "<exception
name>"}.
"""
import base64
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'vectors', 'sealed-v2'))
from pubkey import *  # noqa: E402,F401,F403

def run(op):
    kind = op['op']
    if kind == 'hpke_vector':
        # One RFC 9180 base-mode setup: key schedule values and every encryption, from skEm.
        v = op['vector']
        aead_id = int(v['aead_id'])
        sk_e = X25519PrivateKey.from_private_bytes(bytes.fromhex(v['skEm']))
        shared, enc = encap(bytes.fromhex(v['pkRm']), sk_e)
        out = {'enc': enc.hex(), 'shared_secret': shared.hex()}
        ks = key_schedule(aead_id, shared, bytes.fromhex(v['info']))
        out.update({k: val.hex() for k, val in ks.items()})
        cipher = aead(aead_id, ks['key'])
        out['cts'] = [cipher.encrypt(nonce(ks['base_nonce'], int(x['sequence_number'])), bytes.fromhex(x['pt']), bytes.fromhex(x['aad'])).hex()
                      for x in v['encryptions']]
        return out
    if kind == 'x25519_wrap':
        return {'body': e(x25519_wrap(b(op['publicKey']), b(op['fileKey'])))}
    if kind == 'x25519_open':
        return {'fileKey': e(x25519_open(X25519PrivateKey.from_private_bytes(b(op['privateKey'])), b(op['body'])))}
    if kind == 'rsa_wrap':
        return {'body': e(serialization.load_der_public_key(b(op['spki'])).encrypt(b(op['fileKey']), OAEP_256))}
    if kind == 'rsa_unwrap':
        key = serialization.load_pem_private_key(op['pem'].encode(), password=None)
        return {'fileKey': e(key.decrypt(b(op['body']), OAEP_256))}
    if kind == 'ed25519_sign':
        return {'signature': e(Ed25519PrivateKey.from_private_bytes(b(op['privateKey'])).sign(b(op['message'])))}
    if kind == 'ed25519_verify':
        Ed25519PublicKey.from_public_bytes(b(op['publicKey'])).verify(b(op['signature']), b(op['message']))
        return {'ok': True}
    if kind == 'recipient':
        key_type, public_key, where = parse_recipient(op['text'])
        return {'type': key_type, 'where': where, 'fingerprint': fingerprint(key_type, public_key).hex()}
    raise ValueError('unknown op ' + kind)


def main():
    results = []
    for op in json.load(sys.stdin):
        try:
            results.append(run(op))
        except (InvalidTag, InvalidSignature, ValueError) as err:
            results.append({'error': type(err).__name__})
    json.dump(results, sys.stdout)


if __name__ == '__main__':
    main()
