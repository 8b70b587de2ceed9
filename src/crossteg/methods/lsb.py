"""Classic least-significant-bit (LSB) embedding: the baseline row of every paper's comparison table.

    secret file bytes ─> [suffix | bytes] ─sealed frame (codecs/frame.py)─> bits
                      ─keyed permutation─> LSBs of the cover's 8-bit pixels / 16-bit samples

One bit per 8-bit colour value (3 bits per pixel) or per 16-bit sample. The payload is encrypted and
authenticated, so a wrong key is reported as such, and its bits are scattered over the whole cover by a
permutation derived from the key, so no region of the cover carries the whole secret. Exact round trip:
PNG and 16-bit WAV store exactly the integers written, and re-saving them with another tool keeps them (also as
WebP/TIFF/BMP, 16-bit PNG, FLAC, 24-bit or float WAV, or a mono WAV written as stereo).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from crossteg import keys
from crossteg.codecs import frame
from crossteg.errors import KeyError_, UsageError
from crossteg.media.audio import Audio
from crossteg.media.image import Image
from crossteg.media.payload import Payload
from crossteg.methods.base import Capacity, Method, Progress, no_progress, register

ASSOCIATED_DATA = b"crossteg-lsb-v1"


def _carrier(cover: Image | Audio) -> np.ndarray:
    """The cover's integer values (uint8 pixels or int16 samples), flattened."""
    return (cover.to_uint8() if isinstance(cover, Image) else cover.to_int16()).reshape(-1)


def _rebuild(cover: Image | Audio, values: np.ndarray) -> Image | Audio:
    if isinstance(cover, Image):
        return Image.from_uint8(values.reshape(cover.pixels.shape))
    return Audio.from_int16(values.reshape(cover.samples.shape), cover.sample_rate)


def _duplicated_channel(stego: Image | Audio) -> Audio | None:
    """The first channel of an audio stego whose channels are all the same, else None: a mono stego that a
    converter wrote as stereo still holds every bit, but interleaved twice."""
    if isinstance(stego, Audio) and len(stego.samples) > 1 and (stego.samples == stego.samples[:1]).all():
        return Audio(stego.samples[:1], stego.sample_rate)
    return None


def _as_payload(secret: Any) -> Payload:
    if isinstance(secret, Payload):
        return secret
    if isinstance(secret, bytes | bytearray):
        return Payload(bytes(secret))
    if isinstance(secret, str | os.PathLike):
        return Payload.from_file(secret)
    return Payload.from_media(secret)


def _plaintext(payload: Payload) -> bytes:
    suffix = payload.suffix.encode("ascii", "replace")[:255]
    return bytes([len(suffix)]) + suffix + payload.data


@register
class LSB(Method):
    """Least-significant-bit substitution in PNG pixels or 16-bit WAV samples, keyed and authenticated."""

    id = "lsb"
    title = "LSB substitution (baseline)"
    paper = "classic baseline compared in ditas, thinimg"
    secret = ("image", "audio", "video", "shape")  # in fact any file: the secret is hidden as bytes
    cover = ("image", "audio")
    stego_ext = (".png", ".wav")
    hides_bytes = True

    def capacity(self, cover: Image | Audio) -> Capacity:
        """Bytes of secret data (file contents plus its suffix) the cover holds, after the frame's overhead."""
        self.check_cover(cover)
        return Capacity(max(0, frame.capacity_bytes(_carrier(cover).size) - 1), "bytes")

    def secret_size(self, secret: Any) -> float:
        """Bytes the secret takes in the payload: its data plus its suffix."""
        return len(_plaintext(_as_payload(secret))) - 1

    def hide(self, cover: Image | Audio, secret: Any, key: keys.Key = None, *,
             progress: Progress = no_progress) -> Image | Audio:
        """Write the encrypted secret into the cover's LSBs at keyed positions."""
        self.check_cover(cover)
        payload = _as_payload(secret)
        self.check_fits(cover, payload)
        material = keys.derive(key, self.id)
        progress("embedding", 0, 1)
        sealed = frame.seal(material, _plaintext(payload), ASSOCIATED_DATA)
        stego = _rebuild(cover, frame.embed(_carrier(cover), material, sealed))
        progress("embedding", 1, 1)
        return stego

    def reveal(self, stego: Image | Audio, key: keys.Key = None, *, level: int = 1,
               progress: Progress = no_progress) -> Payload:
        """Read, decrypt and authenticate the secret; KeyError_ for a wrong key or a file with no secret."""
        self.check_cover(stego)
        if level != 1:
            raise UsageError("lsb has a single access level")
        material = keys.derive(key, self.id)
        try:
            plain = frame.extract(_carrier(stego), material, ASSOCIATED_DATA, "lsb secret")
        except KeyError_:
            if (mono := _duplicated_channel(stego)) is None:
                raise
            plain = frame.extract(_carrier(mono), material, ASSOCIATED_DATA, "lsb secret")
        return Payload(plain[1 + plain[0]:], plain[1:1 + plain[0]].decode("ascii", "replace"))
