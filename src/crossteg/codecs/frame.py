"""Sealed frames in least-significant bits: the keyed, authenticated container for bytes that a carrier holds.

    plaintext ─ChaCha20-Poly1305─> [len ⊕ keystream (4) | nonce (12) | ciphertext + tag (16)] ─> bits
    bits ─> LSBs of an integer carrier (pixels, samples, or the raw bits of stored weights) at keyed positions
    or, with `step`: each bit in `copies` keyed values by dither modulation (below), to outlive small noise

Used by `lsb` for the whole secret and by methods that need a small header (e.g. `inrsteg`'s secret layout).
A wrong key reads garbage: an impossible length or a failed tag, reported as KeyError_.

Dither modulation (Chen & Wornell's QIM on single values, as codecs/dither.py does on projections): bit b moves
a value to the nearest integer of the lattice  step * Z + d + b * step / 2  (d a keyed dither per value); reading
takes, per value, the nearer lattice as a soft vote in [-1, 1] and sums the `copies` votes of each bit, so a
bit survives any change of its values below step / 4 and most copies of larger ones.
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
# The usual cause besides a wrong key: a file that went through a converter.
CONVERTED = (", or a converted copy (lossy coding, greyscale, resizing, resampling or trimming change the exact "
             "values it is read from)")


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


def positions(material: KeyMaterial, carrier_size: int, frame_bytes: int, copies: int = 1) -> np.ndarray:
    """Indices of the carrier values that hold a frame of `frame_bytes` bytes, in bit order (each bit's
    `copies` together)."""
    return material.permutation("positions", carrier_size)[: 8 * frame_bytes * copies]


def _dither(material: KeyMaterial, size: int, step: int) -> np.ndarray:
    """The keyed lattice offset of each carrier value (in keyed-position order)."""
    return material.rng("positions/dither").uniform(0, step, size)


def embed(values: np.ndarray, material: KeyMaterial, frame: bytes, step: int = 0, copies: int = 1) -> np.ndarray:
    """A copy of the flat integer array `values` with the frame's bits at keyed positions: in the LSBs
    (`step` 0), or each bit dither-modulated with lattice `step` into `copies` values (the dtype's range kept)."""
    bits = np.repeat(np.unpackbits(np.frombuffer(frame, np.uint8)), copies)
    if bits.size > values.size:
        raise ValueError(f"frame of {len(frame)} bytes does not fit in {values.size} carrier values")
    out = values.copy()
    at = positions(material, values.size, len(frame), copies)
    current = out[at]
    if not step:
        out[at] = current - (current & 1) + bits.astype(out.dtype)  # clear the LSB, then set the bit
        return out
    offset = _dither(material, bits.size, step) + bits * (step / 2)
    target = np.round(step * np.round((current - offset) / step) + offset)
    bounds = np.iinfo(out.dtype)
    target = np.where(target > bounds.max, target - step, np.where(target < bounds.min, target + step, target))
    out[at] = target.astype(out.dtype)
    return out


def _lattice_votes(held: np.ndarray, dither: np.ndarray, step: int) -> np.ndarray:
    """Each value's soft vote in [-1, 1]: +1 on the 1-lattice, -1 on the 0-lattice (`embed` with `step`)."""
    return 1 - 4 * np.abs(np.mod(held - dither, step) / step - 0.5)


def lattice_noise(values: np.ndarray, material: KeyMaterial, frame_bytes: int, step: int, copies: int) -> float:
    """RMS distance of the values that hold a `frame_bytes`-byte frame embedded with `step` (and `copies`) from
    the lattice points of the bits they read as: about 0.3 in an untouched integer carrier (the rounding to an
    integer), about the std of any noise the values took since. Read after `extract` succeeded, so the bits read
    are the ones written."""
    at = positions(material, values.size, frame_bytes, copies)
    held = values.reshape(-1)[at].astype(np.float64)
    dither = _dither(material, at.size, step)
    bits = np.repeat(_lattice_votes(held, dither, step).reshape(-1, copies).sum(axis=1) > 0, copies)
    off = held - (dither + bits * (step / 2))
    return float(np.sqrt(np.mean((off - step * np.round(off / step)) ** 2)))


def extract(values: np.ndarray, material: KeyMaterial, associated: bytes, what: str = "secret", step: int = 0,
            copies: int = 1) -> bytes:
    """The plaintext sealed in `values` by `embed` with the same `step` and `copies`; KeyError_ for a wrong key
    or a carrier without such a frame."""
    positions = material.permutation("positions", values.size)
    dither = _dither(material, values.size, step) if step else None

    def read(start: int, count: int) -> bytes:
        span = slice(start * 8 * copies, (start + count) * 8 * copies)
        held = values[positions[span]].astype(np.int64)
        votes = 2.0 * (held & 1) - 1 if dither is None else _lattice_votes(held, dither[span], step)
        return np.packbits(votes.reshape(-1, copies).sum(axis=1) > 0).tobytes()

    mask = material.keystream("length", LENGTH_BYTES)
    (length,) = struct.unpack(">I", bytes(a ^ b for a, b in zip(read(0, LENGTH_BYTES), mask, strict=True)))
    if not TAG_BYTES < length <= values.size // (8 * copies) - LENGTH_BYTES - NONCE_BYTES:
        raise KeyError_(f"wrong key, or no {what} in this file{CONVERTED}")
    nonce = read(LENGTH_BYTES, NONCE_BYTES)
    try:
        return material.aead("payload").decrypt(nonce, read(LENGTH_BYTES + NONCE_BYTES, length), associated)
    except InvalidTag:
        raise KeyError_(f"wrong key, or no {what} in this file{CONVERTED}") from None
