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


def fitted_secret(method: Method, secret: Any, cover: Any) -> tuple[Any, str]:
    """`secret` made to fit `cover` as a capacity error would advise a user: speech trimmed to its first seconds, a
    video cut to its first frames (down to MIN_FRAMES, then downscaled to an even size, as H.264 needs), a picture
    downscaled (aspect kept); with a note saying so. Unchanged, with no note, when it fits as it is or nothing
    smaller would (hide then says why)."""
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
        return _downscaled(method, secret.pixels, Image, cover, 1, f"secret downscaled from {size}") or (secret, "")
    total, keep = secret.num_frames, min(secret.num_frames, MIN_FRAMES)

    def clip(frames: np.ndarray) -> Video:
        return Video(frames, secret.fps)

    k = _largest(lambda k: fits(method, clip(secret.frames[:k]), cover), keep, total - 1)  # views: no copies
    if k is not None:
        return clip(secret.frames[:k]), f"secret cut to its first {k} of {total} frames to fit"
    cut = f" cut to its first {keep} of {total} frames and" if keep < total else ""
    return _downscaled(method, secret.frames[:keep], clip, cover, 2, f"secret{cut} downscaled from {size}") or (
        secret, "")


def _largest(ok: Callable[[int], bool], low: int, high: int) -> int | None:
    """The largest n in [low, high] with ok(n), for ok true up to some n and false above it; None if ok(low) fails."""
    if high < low or not ok(low):
        return None
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if ok(mid) else (low, mid - 1)
    return low


def _downscaled(method: Method, pixels: np.ndarray, wrap: Callable[[np.ndarray], Any], cover: Any, step: int,
                what: str) -> tuple[Any, str] | None:
    """wrap(... x H x W x 3 pictures resized to the largest size, in multiples of `step`, that fits the cover, the
    aspect kept) and a note; None if no size does. Capacity depends on sizes only: the search tries zeros (which
    cost no memory until written), and only the size found is resized."""
    h, w = pixels.shape[-3:-1]

    def size(n: int) -> tuple[int, int]:
        return max(step, step * round(h * n / w)), step * n

    def blank(n: int) -> Any:
        return wrap(np.zeros((*pixels.shape[:-3], *size(n), 3), np.float32))

    n = _largest(lambda n: fits(method, blank(n), cover), -(-MIN_SIDE // step), (w - 1) // step)
    if n is None:
        return None
    height, width = size(n)
    return wrap(_resized(pixels, height, width)), f"{what} to {width}x{height} to fit"


def _resized(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """... x H x W x 3 pictures in [0, 1] resized to height x width as an image tool resizes them (8-bit, Lanczos)."""
    from PIL import Image as PILImage

    frames = np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8).reshape(-1, *pixels.shape[-3:])
    out = [np.asarray(PILImage.fromarray(f).resize((width, height), PILImage.Resampling.LANCZOS)) for f in frames]
    return (np.stack(out).reshape(*pixels.shape[:-3], height, width, 3) / 255).astype(np.float32)
