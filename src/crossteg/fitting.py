"""Making a secret fit a cover, as a capacity error advises a user: speech trimmed to its first seconds, a video cut
to its first frames and then downscaled, a picture downscaled with its aspect (`crossteg hide --fit`, and
`crossteg eval --data` on a user's own files)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from crossteg.errors import CrossTegError
from crossteg.media import Audio, Image, Video
from crossteg.methods.base import Method

# a video keeps at least this many first frames (the papers' clips: inrweights 16, flowhide 16-32) and is
# downscaled below that; pictures are never made narrower than MIN_SIDE
MIN_FRAMES = 16
MIN_SIDE = 8


def fits(method: Method, secret: Any, cover: Any) -> bool:
    """Whether `secret` fits in `cover` (a cover the method cannot use at all, e.g. too small, fits nothing)."""
    try:
        method.check_fits(cover, secret)
    except CrossTegError:
        return False
    return True


def _largest(ok: Callable[[int], bool], low: int, high: int) -> int | None:
    """The largest n in [low, high] with ok(n), for ok true up to some n and false above it; None if ok(low) fails."""
    if high < low or not ok(low):
        return None
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if ok(mid) else (low, mid - 1)
    return low


def _resized(pixels: np.ndarray, width: int) -> np.ndarray:
    """... x H x W x 3 pictures in [0, 1] resized to `width` columns, the aspect kept, as an image tool resizes them
    (8-bit, Lanczos)."""
    from PIL import Image as PILImage

    height = max(1, round(pixels.shape[-3] * width / pixels.shape[-2]))
    frames = np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8).reshape(-1, *pixels.shape[-3:])
    out = [np.asarray(PILImage.fromarray(f).resize((width, height), PILImage.Resampling.LANCZOS)) for f in frames]
    return (np.stack(out).reshape(*pixels.shape[:-3], height, width, 3) / 255).astype(np.float32)


def _blank(pixels: np.ndarray, width: int) -> np.ndarray:
    """Zeros of the shape `_resized` gives (capacity depends on sizes only; untouched zeros cost no memory)."""
    height = max(1, round(pixels.shape[-3] * width / pixels.shape[-2]))
    return np.zeros((*pixels.shape[:-3], height, width, 3), np.float32)


def fitted_secret(method: Method, secret: Any, cover: Any) -> tuple[Any, str]:
    """`secret` made to fit `cover` as a capacity error would advise a user: speech trimmed to its first seconds, a
    video cut to its first frames (down to MIN_FRAMES, then downscaled), a picture downscaled (aspect kept); with a
    note saying so. Unchanged, with no note, when it fits as it is or nothing smaller would (hide then says why)."""
    if not isinstance(secret, Audio | Image | Video) or fits(method, secret, cover):
        return secret, ""
    if isinstance(secret, Audio):
        def first(n: int) -> Audio:
            return Audio(secret.samples[:, :n], secret.sample_rate)

        n = _largest(lambda n: fits(method, first(n), cover), 1, secret.frames - 1)
        if n is None:
            return secret, ""
        return first(n), f"secret trimmed to its first {n / secret.sample_rate:.2f} of {secret.duration:.2f} s to fit"
    size = f"{secret.width}x{secret.height}"
    if isinstance(secret, Image):
        return _downscaled(method, secret.pixels, Image, cover, f"secret downscaled from {size}") or (secret, "")
    total, keep = secret.num_frames, min(secret.num_frames, MIN_FRAMES)

    def clip(frames: np.ndarray) -> Video:
        return Video(frames, secret.fps)

    k = _largest(lambda k: fits(method, clip(secret.frames[:k]), cover), keep, total - 1)  # views: no copies
    if k is not None:
        return clip(secret.frames[:k]), f"secret cut to its first {k} of {total} frames to fit"
    cut = f" cut to its first {keep} of {total} frames and" if keep < total else ""
    return _downscaled(method, secret.frames[:keep], clip, cover, f"secret{cut} downscaled from {size}") or (secret, "")


def _downscaled(method: Method, pixels: np.ndarray, wrap: Callable[[np.ndarray], Any], cover: Any,
                what: str) -> tuple[Any, str] | None:
    """wrap(pixels resized to the widest size that fits the cover) and a note; None if no size does."""
    width = _largest(lambda w: fits(method, wrap(_blank(pixels, w)), cover), MIN_SIDE, pixels.shape[-2] - 1)
    if width is None:
        return None
    smaller = _resized(pixels, width)
    return wrap(smaller), f"{what} to {width}x{smaller.shape[-3]} to fit"
