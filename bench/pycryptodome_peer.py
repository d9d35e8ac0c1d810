"""pycryptodome's AES-EAX as a benchmark peer, speaking the protocol of bench/pipe-peer.ts.

Requests arrive on stdin, one at a time: a line `op key nonce header tag length timeMs
minIterations` (hex byte strings, `-` when empty), then `length` raw input bytes. The operation
runs once as a warm-up, then repeatedly until `timeMs` has passed and at least `minIterations`
runs were timed, each timed alone with time.perf_counter (interpreter start-up is excluded). The
reply is a JSON line with the per-run times in milliseconds, then the output of the last run
(ciphertext || tag, or the plaintext), which Node checks bit for bit against its own engine.
"""
import json
import sys
import time

try:
    from Cryptodome.Cipher import AES
except ImportError as err:  # Debian's python3-pycryptodome gives the Cryptodome namespace
    sys.stderr.write('pycryptodome missing: %s\n' % err)
    sys.exit(3)

stdin = sys.stdin.buffer
stdout = sys.stdout.buffer


def read_exactly(n):
    data = stdin.read(n)
    if len(data) != n:
        raise EOFError('input ended early')
    return data


def encrypt(key, nonce, header, data, _tag):
    cipher = AES.new(key, AES.MODE_EAX, nonce=nonce)
    cipher.update(header)
    ciphertext, tag = cipher.encrypt_and_digest(data)
    return ciphertext + tag


def decrypt(key, nonce, header, data, tag):
    cipher = AES.new(key, AES.MODE_EAX, nonce=nonce)
    cipher.update(header)
    return cipher.decrypt_and_verify(data, tag)


OPERATIONS = {'encrypt': encrypt, 'decrypt': decrypt}


def unhex(field):
    return b'' if field == '-' else bytes.fromhex(field)


def serve(line):
    name, key, nonce, header, tag, length, time_ms, min_iterations = line.split()
    op = OPERATIONS[name]
    args = (unhex(key), unhex(nonce), unhex(header), read_exactly(int(length)), unhex(tag))
    try:
        output = op(*args)
    except ValueError as err:  # decrypt_and_verify: "MAC check failed"
        return {'ok': False, 'error': str(err)}, b''
    budget = float(time_ms) / 1000.0
    samples = []
    started = time.perf_counter()
    while len(samples) < int(min_iterations) or time.perf_counter() - started < budget:
        t = time.perf_counter()
        output = op(*args)
        samples.append((time.perf_counter() - t) * 1000.0)
    return {'ok': True, 'samples': samples, 'length': len(output)}, output


def main():
    while True:
        line = stdin.readline()
        if not line:
            return
        reply, payload = serve(line.decode())
        stdout.write(json.dumps(reply).encode() + b'\n')
        stdout.write(payload)
        stdout.flush()


main()
