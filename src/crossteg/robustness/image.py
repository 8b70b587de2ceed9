"""Attacks on a stego PNG, each `fn(src, dst, **strength)`: what photo tools and sharing sites do to a picture.

Every attack reads the 8-bit RGB pixels and writes a fresh 8-bit RGB PNG (no metadata), because a method
reads pixel values, not the file's bytes. Lossy encodings are therefore round trips: JPEG at a quality is
encoded by Pillow, decoded, and the decoded pixels saved as PNG, which is exactly what a method would see
after a user converts the JPEG back (or opens it in any tool). Resizing is Pillow bicubic.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from crossteg.media.image import Image, load_image, save_image
from crossteg.robustness.common import SEED


def _read(src: Path) -> np.ndarray:
    """H x W x 3 uint8."""
    return load_image(src).to_uint8()


def _write(pixels: np.ndarray, dst: Path) -> None:
    save_image(Image.from_uint8(pixels), dst)


def _resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image as PILImage

    return np.asarray(PILImage.fromarray(pixels).resize((width, height), PILImage.Resampling.BICUBIC))


def png_resave(src: Path, dst: Path) -> None:
    """Re-save by Pillow in the file's own mode, metadata stripped, optimised (lossless)."""
    from PIL import Image as PILImage

    with PILImage.open(src) as img:
        PILImage.frombytes(img.mode, img.size, img.tobytes()).save(dst, format="PNG", optimize=True)


def jpeg(src: Path, dst: Path, quality: int) -> None:
    """JPEG at `quality` (Pillow/libjpeg defaults: 4:2:0 chroma subsampling), decoded back to PNG pixels."""
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.fromarray(_read(src)).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with PILImage.open(buffer) as decoded:
        _write(np.asarray(decoded.convert("RGB")), dst)


def resize_round_trip(src: Path, dst: Path, scale: float) -> None:
    """Bicubic resize by `scale`, then bicubic back to the original size."""
    pixels = _read(src)
    height, width = pixels.shape[:2]
    small = _resize(pixels, max(1, round(width * scale)), max(1, round(height * scale)))
    _write(_resize(small, width, height), dst)


def gaussian_noise(src: Path, dst: Path, sigma: float) -> None:
    """Add seeded Gaussian noise of std `sigma` 8-bit levels (sigma/255 in [0, 1] units), round and clip."""
    pixels = _read(src)
    noise = np.random.default_rng(SEED).normal(0.0, sigma, pixels.shape)
    _write(np.clip(np.round(pixels + noise), 0, 255).astype(np.uint8), dst)


def crop(src: Path, dst: Path, percent: float) -> None:
    """Cut `percent` % of the width and of the height (half from each side), then resize back (bicubic) to the
    original size, as a crop-to-fit or thumbnailing tool would; a method sees a same-sized, shifted, zoomed image."""
    pixels = _read(src)
    height, width = pixels.shape[:2]
    top, left = round(height * percent / 200), round(width * percent / 200)
    inner = pixels[top:height - top or None, left:width - left or None]
    _write(_resize(np.ascontiguousarray(inner), width, height), dst)
