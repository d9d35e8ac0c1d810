"""The seed's encryption step, as the reference camera scripts do it with pycryptodome: read the
image, AES.new(key, AES.MODE_EAX) with a fresh random nonce, write nonce + tag + ciphertext, and
write the metadata JSON beside it. bench/whole-process.ts times it against `sealcam encrypt`.

usage: python3 seed_encrypt.py KEY_FILE OUT_DIR IMAGE [IMAGE ...]
   writes OUT_DIR/<image name>.enc and OUT_DIR/<image name>.json for each image, in one process
"""
import base64
import json
import os
import sys

from Cryptodome.Cipher import AES

HEX_KEY_LENGTHS = (32, 48, 64)


def read_key(path):
    """A raw 16/24/32-byte key, or the same in hex (as sealcam key files are)."""
    with open(path, 'rb') as f:
        data = f.read()
    text = data.strip()
    if len(text) in HEX_KEY_LENGTHS:
        try:
            return bytes.fromhex(text.decode('ascii'))
        except (UnicodeDecodeError, ValueError):
            pass
    return data


def encrypt(key, image, out_dir):
    with open(image, 'rb') as f:
        data = f.read()
    cipher = AES.new(key, AES.MODE_EAX)
    ciphertext, tag = cipher.encrypt_and_digest(data)
    name = os.path.basename(image)
    with open(os.path.join(out_dir, name + '.enc'), 'wb') as f:
        f.write(cipher.nonce + tag + ciphertext)
    metadata = {
        'nonce': base64.b64encode(cipher.nonce).decode(),
        'tag': base64.b64encode(tag).decode(),
        'key_name': 'camera-key',
        'key_version': '1',
        'algorithm': 'AES-%d-EAX' % (len(key) * 8),
        'original_name': name,
        'original_size': len(data),
    }
    with open(os.path.join(out_dir, name + '.json'), 'w') as f:
        json.dump(metadata, f)


def main(argv):
    if len(argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    key = read_key(argv[1])
    for image in argv[3:]:
        encrypt(key, image, argv[2])
    return 0


sys.exit(main(sys.argv))
