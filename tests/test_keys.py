"""keys.py: stretching, derived streams, and committed test vectors that pin them across machines."""

import hashlib
import hmac
import subprocess
import sys

import numpy as np
import pytest

from crossteg import keys
from crossteg.errors import UsageError

PASSPHRASE = "correct horse battery staple"
# Committed vectors: if any of these change, every stego file made before the change stops revealing.
MASTER = "b21a3209488367607ded5d617417f1f518479653ea06a86b5199281b76efc6ec"
PERMUTATION_12 = [2, 8, 3, 5, 6, 1, 4, 11, 7, 9, 0, 10]
KEYSTREAM_16 = "bab38bafad4219eca5555612ffd3b513"
BITS_12 = [0, 1, 1, 1, 1, 0, 0, 1, 0, 1, 0, 0]
EMPTY_KEY_MASTER = "d2a0b9a76ba0c4379519c963478d8022dde46881a052f6b4b352568fb9f8c1ce"
CARRIER_SALT_MASTER = "088d776d1b4caeca6a1eb2813df6335aa0fd1bbcea1226b27bd41231e486985a"


def test_master_matches_hashlib_scrypt():
    expected = hashlib.scrypt(PASSPHRASE.encode(), salt=b"crossteg/v1/lsb", n=2**14, r=8, p=1, dklen=32)
    assert keys.derive(PASSPHRASE, "lsb").master == expected
    assert expected.hex() == MASTER


def test_hkdf_matches_rfc5869_by_hand():
    material = keys.derive(PASSPHRASE, "lsb")
    prk = hmac.new(bytes(32), material.master, hashlib.sha256).digest()  # extract with the all-zero salt
    okm = hmac.new(prk, b"label" + b"\x01", hashlib.sha256).digest()  # first expand block
    assert material.derive("label") == okm


def test_committed_vectors():
    material = keys.derive(PASSPHRASE, "lsb")
    assert material.permutation("positions", 12).tolist() == PERMUTATION_12
    assert material.keystream("length", 16).hex() == KEYSTREAM_16
    assert material.keystream_bits("w", 12).tolist() == BITS_12
    assert keys.derive(None, "lsb").master.hex() == EMPTY_KEY_MASTER
    assert keys.derive(b"k", "thinimg", b"salt").master.hex() == CARRIER_SALT_MASTER


def test_identical_in_a_fresh_process():
    code = ("from crossteg import keys; m = keys.derive('correct horse battery staple', 'lsb');"
            "print(m.permutation('positions', 12).tolist(), m.keystream('length', 16).hex())")
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert printed.strip() == f"{PERMUTATION_12} {KEYSTREAM_16}"


def test_streams_are_independent_and_key_dependent():
    a, b = keys.derive("one", "lsb"), keys.derive("two", "lsb")
    assert a.keystream("x", 32) != a.keystream("y", 32)
    assert a.keystream("x", 32) != b.keystream("x", 32)
    assert keys.derive("one", "ditas").master != a.master  # the method id salts the stretch
    perm = a.permutation("p", 1000)
    assert sorted(perm.tolist()) == list(range(1000)) and not np.array_equal(perm, b.permutation("p", 1000))


def test_key_sources(tmp_path):
    key_file = tmp_path / "key.bin"
    key_file.write_bytes(b"\x00\xffsecret")
    assert keys.passphrase_bytes(key_file=key_file) == b"\x00\xffsecret"
    assert keys.passphrase_bytes("pässword") == "pässword".encode()
    with pytest.raises(UsageError):
        keys.passphrase_bytes("a", key_file)
    with pytest.raises(UsageError):
        keys.passphrase_bytes(key_file=tmp_path / "missing")
    (tmp_path / "empty.key").write_bytes(b"")
    with pytest.raises(UsageError, match="is empty"):  # would silently mean "no key"
        keys.passphrase_bytes(key_file=tmp_path / "empty.key")
