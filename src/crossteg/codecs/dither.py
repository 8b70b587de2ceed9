"""A short keyed message that survives lossy audio: spread-transform dither modulation (Chen & Wornell's QIM).

    x (n samples) ──project on m keyed orthonormal band-limited directions──> y = P^T x   (m values)
    bit b_k: move y_k to the nearest point of the lattice  step * Z + d_k + b_k * step / 2   (d_k keyed dither)
    change = P (y' - y): it lies in the key's m-dimensional subspace, so the cover elsewhere is untouched

Reading projects again and takes, per bit, the lattice whose points are nearer: the cover itself never
interferes (it is quantised, not added to), and the decision survives any change whose projection stays
within step / 4: MP3/AAC/Opus at common rates, resampling, 16-bit rounding, added noise well below the signal.
The directions are band-limited (200-4000 Hz at 16 kHz) so codecs and resamplers keep them, and spread over
the whole region so that no single moment carries a bit. Without the key the directions and dither are
unknown: the message reads as random bits. Used for headers that must outlive the LSBs (e.g. `ditas`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac

import numpy as np

from crossteg.keys import KeyMaterial

BAND_HZ = (200.0, 4000.0)
TAG_BYTES = 4  # a keyed 32-bit tag: a wrong key or an unmarked region passes with probability 2^-32


@functools.lru_cache(maxsize=8)
def directions(material: KeyMaterial, label: str, length: int, count: int, rate: int) -> np.ndarray:
    """`length` x `count` orthonormal columns of keyed band-limited noise (read-only; cached, since a header is
    written to and read from several regions of one length, and the QR costs ~0.1 s)."""
    noise = material.rng(f"{label}/directions").standard_normal((length, count))
    spectrum = np.fft.rfft(noise, axis=0)
    hz = np.fft.rfftfreq(length, 1 / rate)
    spectrum[(hz < BAND_HZ[0]) | (hz > min(BAND_HZ[1], 0.45 * rate))] = 0
    basis, _ = np.linalg.qr(np.fft.irfft(spectrum, length, axis=0))
    basis.setflags(write=False)
    return basis


def _dither(material: KeyMaterial, label: str, count: int, step: float) -> np.ndarray:
    return material.rng(f"{label}/dither").uniform(0, step, count)


def embed(region: np.ndarray, bits: np.ndarray, material: KeyMaterial, label: str, step: float,
          rate: int) -> np.ndarray:
    """The change (same shape as the 1-D `region`) that makes `region + change` carry `bits` (0/1)."""
    basis = directions(material, label, len(region), len(bits), rate)
    offset = _dither(material, label, len(bits), step) + bits * (step / 2)
    y = basis.T @ region.astype(np.float64)
    target = step * np.round((y - offset) / step) + offset
    return (basis @ (target - y)).astype(np.float32)


def soft_bits(region: np.ndarray, count: int, material: KeyMaterial, label: str, step: float,
              rate: int) -> np.ndarray:
    """Per bit, a confidence in [-1, 1]: +1 exactly on the 1-lattice, -1 exactly on the 0-lattice."""
    basis = directions(material, label, len(region), count, rate)
    y = basis.T @ region.astype(np.float64)
    phase = np.mod(y - _dither(material, label, count, step), step) / step  # 0 or 1 -> bit 0, 0.5 -> bit 1
    return 1 - 4 * np.abs(phase - 0.5)


def tag(material: KeyMaterial, label: str, message: bytes, associated: bytes = b"") -> bytes:
    """The keyed tag that authenticates `message` together with `associated` data that is not sent
    (HMAC-SHA256, truncated)."""
    key = material.derive(f"{label}/tag")
    return hmac.new(key, len(associated).to_bytes(4, "big") + associated + message, hashlib.sha256).digest()[:TAG_BYTES]


def message_bits(material: KeyMaterial, label: str, message: bytes, associated: bytes = b"") -> np.ndarray:
    """`message` and its tag as whitened bits, ready for `embed`."""
    sealed = message + tag(material, label, message, associated)
    bits = np.unpackbits(np.frombuffer(sealed, np.uint8))
    return bits ^ material.keystream_bits(f"{label}/whiten", bits.size)


def read_message(soft: np.ndarray, material: KeyMaterial, label: str, associated: bytes = b"") -> bytes | None:
    """The message from soft bits (one region's, or several regions' summed), or None when its tag does not
    verify."""
    bits = (soft > 0).astype(np.uint8) ^ material.keystream_bits(f"{label}/whiten", soft.size)
    sealed = np.packbits(bits).tobytes()
    message, received = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
    return message if hmac.compare_digest(tag(material, label, message, associated), received) else None
