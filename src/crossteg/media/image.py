"""Still images: a float32 H x W x 3 container in [0, 1] and its 8-bit file formats (Pillow)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from crossteg.errors import MediaError
from crossteg.media.files import atomic_path

# Read by Pillow; the Netpbm and Targa formats are what converters (ImageMagick, netpbm, GIMP) also write.
EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm", ".tga"})

# Pillow format and options per writable suffix; everything but JPEG is lossless for 8-bit RGB.
_WRITERS: dict[str, tuple[str, dict]] = {
    ".png": ("PNG", {}),
    ".jpg": ("JPEG", {"quality": 95}),
    ".jpeg": ("JPEG", {"quality": 95}),
    ".bmp": ("BMP", {}),
    ".tif": ("TIFF", {}),
    ".tiff": ("TIFF", {}),
    ".webp": ("WEBP", {"lossless": True}),
}
WRITE_EXTS = frozenset(_WRITERS)
ORIENTATION_TAG = 0x0112  # EXIF Orientation
# (step, slack): 16-bit samples all within slack of v * step are an 8-bit image widened (_from_16bit)
WIDENED = ((257, 8), (256, 48))


@dataclass
class Image:
    """An RGB image: `pixels` is float32 H x W x 3 in [0, 1] (not clipped here; see `to_uint8`)."""

    pixels: np.ndarray
    modality: ClassVar[str] = "image"

    def __post_init__(self) -> None:
        px = np.asarray(self.pixels)
        if np.issubdtype(px.dtype, np.integer):
            raise ValueError("Image pixels must be floats in [0, 1]; use Image.from_uint8 for 8-bit arrays")
        if px.ndim == 2:  # grayscale H x W
            px = np.stack([px] * 3, axis=-1)
        elif px.ndim == 3 and px.shape[2] == 1:
            px = np.repeat(px, 3, axis=2)
        if px.ndim != 3 or px.shape[2] != 3:
            raise ValueError(f"Image pixels must be H x W x 3, got shape {px.shape}")
        self.pixels = np.ascontiguousarray(px, dtype=np.float32)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    def to_uint8(self) -> np.ndarray:
        """H x W x 3 uint8 = round(clip(x, 0, 1) * 255); `from_uint8` inverts it exactly."""
        return np.round(np.clip(self.pixels, 0.0, 1.0) * 255.0).astype(np.uint8)

    @classmethod
    def from_uint8(cls, arr: np.ndarray) -> Image:
        """Image from an H x W x 3 (or H x W) uint8 array, as arr / 255."""
        return cls(np.asarray(arr, dtype=np.uint8).astype(np.float32) / np.float32(255.0))


def _from_16bit(values: np.ndarray) -> np.ndarray:
    """16-bit samples as floats in [0, 1]. An 8-bit image a converter widened comes back as exactly its 8-bit
    values: ImageMagick and GIMP write v * 257 (read as fractions of 65535, exact), but ffmpeg's rgb24 -> rgb48
    writes v * 256 dithered (measured: -37 to +31 off it), which as a fraction of 65535 rounds 1 low in half the
    pixels, and an lsb stego no longer reveals. Other 16-bit images keep their full precision: their samples
    fill the range, so some lie far from every such level."""
    values = np.clip(values.astype(np.int64), 0, 65535)
    for step, slack in WIDENED:
        levels = np.round(values / step)
        if np.abs(values - levels * step).max(initial=0) <= slack:
            return (np.clip(levels, 0, 255) / 255.0).astype(np.float32)
    return (values / 65535.0).astype(np.float32)


def _to_rgb_array(img: Any) -> np.ndarray:
    """Any Pillow image -> float32 H x W x 3 in [0, 1]; 16-bit grayscale keeps its full precision."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit PNGs open as I;16 (or I, int32 holding 0..65535)
        arr = _from_16bit(np.asarray(img))
        return np.stack([arr] * 3, axis=-1)
    if img.mode == "F":
        arr = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
        return np.stack([arr] * 3, axis=-1)
    if img.mode != "RGB":
        img = img.convert("RGB")  # drops alpha; palette, L, 1, CMYK, YCbCr -> RGB
    return np.asarray(img, dtype=np.uint8).astype(np.float32) / np.float32(255.0)


def _rgb_16bit(path: str | os.PathLike, img: Any) -> np.ndarray | None:
    """A 16-bit RGB(A) image (PNG, TIFF) decoded whole by the bundled ffmpeg, since Pillow rounds such pixels
    to 8 bits, and read by `_from_16bit`; None for any other image or where ffmpeg cannot read it."""
    from crossteg.media import _ffmpeg

    args = img.tile[0].args if img.tile else None
    rawmode = args if isinstance(args, str) else (args[0] if isinstance(args, tuple) and args else "")
    if img.mode not in ("RGB", "RGBA") or ";16" not in str(rawmode):
        return None
    raw = _ffmpeg.first_picture(path, "rgb48le")
    if raw is None or len(raw) != img.width * img.height * 6:
        return None
    return _from_16bit(np.frombuffer(raw, dtype="<u2").reshape(img.height, img.width, 3))


def _warn_if_transparent(img: Any, path: str | os.PathLike) -> None:
    """Say so when reading as RGB drops real transparency (an opaque alpha channel, as editors add, is silent)."""
    if img.has_transparency_data and img.convert("RGBA").getchannel("A").getextrema()[0] < 255:
        warnings.warn(f"{Path(path).name} has transparent pixels: it is read as RGB, their colour kept and its "
                      "transparency dropped", stacklevel=3)


def load_image(path: str | os.PathLike, upright: bool = True) -> Image:
    """Read any image Pillow understands as RGB (first frame; EXIF rotation applied unless not `upright`)."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    try:
        with PILImage.open(path) as img:
            exact = _rgb_16bit(path, img)  # before anything loads the pixels (the tile says the depth)
            img.load()
            _warn_if_transparent(img, path)
            if exact is not None and not (upright and img.getexif().get(ORIENTATION_TAG, 1) != 1):
                return Image(exact)  # (one with an EXIF turn is left to Pillow, at 8 bits)
            return Image(_to_rgb_array(ImageOps.exif_transpose(img) if upright else img))
    except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError) as exc:
        raise MediaError(f"cannot read image {path}: {exc}") from exc


def _header_says(path: str | os.PathLike, test: Callable[[Any], bool]) -> bool:
    """`test` of the image at `path` as Pillow opens it (its header; no pixels decoded); False if it cannot."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(path) as img:
            return test(img)
    except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError):
        return False


def is_jpeg(path: str | os.PathLike) -> bool:
    """Whether the file at `path` is a JPEG, whatever its name says."""
    return _header_says(path, lambda img: img.format in ("JPEG", "MPO"))


def exif_rotated(path: str | os.PathLike) -> bool:
    """Whether the image at `path` carries an EXIF orientation that reading applies (a turn or a flip)."""
    return _header_says(path, lambda img: img.getexif().get(ORIENTATION_TAG, 1) != 1)


def save_image(image: Image, path: str | os.PathLike) -> None:
    """Write 8-bit RGB: .png (lossless) or .jpg/.jpeg (quality 95); also .bmp/.tif/.webp (lossless)."""
    from PIL import Image as PILImage

    out = Path(path)
    writer = _WRITERS.get(out.suffix.lower())
    if writer is None:
        known = ", ".join(sorted(_WRITERS))
        raise MediaError(f"cannot write an image as '{out.suffix}' (use one of {known})")
    fmt, options = writer
    pil = PILImage.fromarray(image.to_uint8())
    try:
        with atomic_path(out) as tmp:
            pil.save(tmp, format=fmt, **options)
    except OSError as exc:
        raise MediaError(f"cannot write image {out}: {exc}") from exc
