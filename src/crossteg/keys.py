"""Passphrase -> key material -> permutations and keystreams, identical on every machine.

    passphrase ──scrypt(salt = "crossteg/v1/" + method id [+ carrier salt])──> 32-byte master
    master ──HKDF-SHA256(info = label)──> independent streams:
        permutation(label, n)   numpy Generator(PCG64) seeded from 32 derived bytes (never torch.manual_seed)
        keystream(label, n)     ChaCha20 bytes, to whiten payload bits
        aead(label)             ChaCha20-Poly1305, for payloads with an integrity tag

A method with no key in its paper still takes one: the key permutes/whitens the secret so that a wrong key
reveals noise. No key at all means the empty passphrase: anyone with crossteg can then reveal the secret.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from crossteg.errors import UsageError

SALT_PREFIX = b"crossteg/v1/"
# scrypt cost: 2**14 x 8 x 1 is the interactive-login setting of the scrypt paper (~16 MiB, ~50 ms here).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1

Key = str | bytes | None


@dataclass(frozen=True)
class KeyMaterial:
    """A stretched key for one method; every stream it hands out is independent of the others."""

    master: bytes

    def derive(self, label: str, length: int = 32) -> bytes:
        """`length` bytes bound to `label` (HKDF-SHA256 expand)."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=label.encode())
        return hkdf.derive(self.master)

    def rng(self, label: str) -> np.random.Generator:
        """A numpy PCG64 generator seeded from the key; the same stream on every machine."""
        return np.random.Generator(np.random.PCG64(int.from_bytes(self.derive(label), "little")))

    def permutation(self, label: str, n: int) -> np.ndarray:
        """A keyed permutation of range(n) (int64)."""
        return self.rng(label).permutation(n)

    def keystream(self, label: str, n: int) -> bytes:
        """`n` ChaCha20 keystream bytes (key from HKDF(label), zero nonce: each label is used for one stream)."""
        cipher = Cipher(algorithms.ChaCha20(self.derive(label), bytes(16)), mode=None)
        return cipher.encryptor().update(bytes(n))

    def keystream_bits(self, label: str, n: int) -> np.ndarray:
        """`n` keystream bits as uint8 0/1."""
        return np.unpackbits(np.frombuffer(self.keystream(label, (n + 7) // 8), np.uint8))[:n]

    def aead(self, label: str) -> ChaCha20Poly1305:
        """An authenticated cipher (ChaCha20-Poly1305) keyed for `label`; callers supply unique 12-byte nonces."""
        return ChaCha20Poly1305(self.derive(label))


def passphrase_bytes(key: Key = None, key_file: str | os.PathLike | None = None) -> bytes:
    """The raw secret from a passphrase or a key file (whole file contents); both given is an error."""
    if key is not None and key_file is not None:
        raise UsageError("give either a key or a key file, not both")
    if key_file is not None:
        try:
            secret = Path(key_file).read_bytes()
        except OSError as err:
            raise UsageError(f"cannot read key file {key_file}: {err.strerror}") from None
        if not secret:  # would mean "no key": anyone could reveal, which a key file never asks for
            raise UsageError(f"key file {key_file} is empty")
        return secret
    if key is None:
        return b""
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


@lru_cache(maxsize=32)
def _stretch(secret: bytes, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(secret)


def derive(key: Key, method_id: str, carrier_salt: bytes = b"") -> KeyMaterial:
    """Stretch `key` for `method_id` (scrypt), optionally bound to a salt stored in the carrier."""
    return KeyMaterial(_stretch(passphrase_bytes(key), SALT_PREFIX + method_id.encode() + carrier_salt))
