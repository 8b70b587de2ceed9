"""Sealed frames in least-significant bits: the keyed, authenticated container for bytes that a carrier holds.

    plaintext ─ChaCha20-Poly1305─> [len ⊕ keystream (4) | nonce (12) | ciphertext + tag (16)] ─> bits
    bits ─> LSBs of an integer carrier (pixels, samples, or the raw bits of stored weights) at keyed positions

Used by `lsb` for the whole secret and by methods that need a small header (e.g. `inrsteg`'s secret layout).
A wrong key reads garbage: an impossible length or a failed tag, reported as KeyError_.
"""

from __future__ import annotations

import os
import struct

import numpy as np
from cryptography.exceptions import InvalidTag

from crossteg.errors import KeyError_
from crossteg.keys import KeyMaterial

LENGTH_BYTES, NONCE_BYTES, TAG_BYTES = 4, 12, 16
OVERHEAD = LENGTH_BYTES + NONCE_BYTES + TAG_BYTES


def capacity_bytes(carrier_size: int) -> int:
    """Plaintext bytes a carrier of `carrier_size` integer values holds (one bit each)."""
    return max(0, carrier_size // 8 - OVERHEAD)


def seal(material: KeyMaterial, plaintext: bytes, associated: bytes) -> bytes:
    """The frame's bytes: whitened length, a fresh nonce, and the authenticated ciphertext."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = material.aead("payload").encrypt(nonce, plaintext, associated)
    length = bytes(a ^ b for a, b in zip(struct.pack(">I", len(sealed)), material.keystream("length", LENGTH_BYTES),
                                         strict=True))
    return length + nonce + sealed


def positions(material: KeyMaterial, carrier_size: int, frame_bytes: int) -> np.ndarray:
    """Indices of the carrier values that hold a frame of `frame_bytes` bytes, in bit order."""
    return material.permutation("positions", carrier_size)[: 8 * frame_bytes]


def embed(values: np.ndarray, material: KeyMaterial, frame: bytes) -> np.ndarray:
    """A copy of the flat integer array `values` with the frame's bits in the LSBs at keyed positions."""
    bits = np.unpackbits(np.frombuffer(frame, np.uint8))
    if bits.size > values.size:
        raise ValueError(f"frame of {len(frame)} bytes does not fit in {values.size} carrier values")
    out = values.copy()
    at = positions(material, values.size, len(frame))
    current = out[at]
    out[at] = current - (current & 1) + bits.astype(out.dtype)  # clear the LSB, then set the bit
    return out


def extract(values: np.ndarray, material: KeyMaterial, associated: bytes, what: str = "secret") -> bytes:
    """The plaintext sealed in `values` by `embed`; KeyError_ for a wrong key or a carrier without a frame."""
    positions = material.permutation("positions", values.size)

    def read(start: int, count: int) -> bytes:
        return np.packbits((values[positions[start * 8:(start + count) * 8]] & 1).astype(np.uint8)).tobytes()

    mask = material.keystream("length", LENGTH_BYTES)
    (length,) = struct.unpack(">I", bytes(a ^ b for a, b in zip(read(0, LENGTH_BYTES), mask, strict=True)))
    if not TAG_BYTES < length <= values.size // 8 - LENGTH_BYTES - NONCE_BYTES:
        raise KeyError_(f"wrong key, or no {what} in this file")
    nonce = read(LENGTH_BYTES, NONCE_BYTES)
    try:
        return material.aead("payload").decrypt(nonce, read(LENGTH_BYTES + NONCE_BYTES, length), associated)
    except InvalidTag:
        raise KeyError_(f"wrong key, or no {what} in this file") from None
