"""The ConvNet baseline of flowhide's Table 1 (Yang et al. sec. 5.1, after Baluja 2017): video frames in audio.

    frame k ─ preparation network ─┐
                                   ├─ hiding network ─> new magnitudes ─ISTFT (cover's phase)─> encoded audio
    cover audio ─STFT─ spectrogram ┘                          ─STFT─> revealing network ─> frame k

"We apply the short-time Fourier transform on the cover audio to obtain its spectrogram. Then the preparation
network transforms a secret video frame to an encoded image with the same spatial resolution as the
spectrogram. The hiding network takes the spectrogram and the embedded image as input and generates encoded
audio ... the revealing network can reconstruct a video from the encoded audio." The networks are the
Kreuk/Baluja-style STFT-magnitude networks of the `stft` method, trained with one stage (t = 1):
`crossteg train ditas --baseline stft --stages 1`. Each frame, padded to 64-pixel tiles, takes its own
4096-sample STFT tensors at 16 kHz; the frames are stacked into one tall image and hidden in one pass, so the
key, the keyed slots, the robust header (plus frame count, frame height and fps) and the 16-bit file are
DITAS's (methods/ditas.py). Deviations: 16 kHz instead of LJ Speech's 22.05 kHz; photos and synthetic speech
instead of COCO and LJ Speech; sizes in the card (stft-t1.json).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from crossteg.errors import UsageError
from crossteg.media.video import Video
from crossteg.methods.base import register
from crossteg.methods.ditas import ImageInAudio, largest_fit, padded


@register
class DeepStegVideo(ImageInAudio):
    """Baluja-style preparation/hiding/revealing networks on STFT magnitudes, one frame after another."""

    id = "deepsteg-video"
    title = "ConvNet (Baluja-style, spectrogram) video in audio: flowhide baseline"
    paper = "flowhide (baseline, sec. 5.1)"
    secret = ("video",)
    weights = ("stft-t1.safetensors",)
    view: ClassVar[str] = "mag"
    header_extra: ClassVar[str] = "HHI"  # frame count, frame height, millifps
    quick_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, quality: str = "fast", allow_missing: bool = False, weights: str | None = None,
                 float32: bool = False) -> None:
        """`weights`: a file instead of the shipped stft-t1; `float32`: hide without 16-bit rounding."""
        super().__init__(quality, 1, allow_missing, weights, float32)

    def weights_name(self, variant: str, view: str, stages: int) -> str:
        return "stft-t1.safetensors"

    def train_command(self, variant: str, view: str, stages: int) -> str:
        return "crossteg train ditas --baseline stft --stages 1"

    def image_shape(self, secret: Any) -> tuple[int, int]:
        """(frames x padded height, width) of the stacked image; UsageError for anything but a video."""
        if getattr(secret, "modality", None) != "video":
            raise UsageError(f"{self.id} hides video, not {getattr(secret, 'modality', type(secret).__name__)}")
        count, h, w = secret.frames.shape[:3]
        if count > 2**16 - 1:
            raise UsageError(f"{self.id} hides at most 65535 frames, not {count}")
        return count * padded(h), w

    def as_image(self, secret: Any) -> tuple[np.ndarray, tuple[int, ...]]:
        """Frames padded (edge) to whole 64-pixel tiles and stacked top to bottom."""
        shape = self.image_shape(secret)
        count, h = secret.frames.shape[:2]
        frames = np.pad(secret.frames, ((0, 0), (0, padded(h) - h), (0, 0), (0, 0)), mode="edge")
        return frames.reshape(*shape, 3), (count, h, min(2**32 - 1, round(secret.fps * 1000)))

    def from_image(self, pixels: np.ndarray, extra: tuple[int, ...]) -> Video:
        count, h, millifps = extra
        frames = pixels.reshape(count, padded(h), pixels.shape[1], 3)[:, :h]
        return Video(np.ascontiguousarray(frames), millifps / 1000)

    def fit_hint(self, secret: Any, pixels: float) -> str:
        """What of a video that does not fit this cover does: its first frames, or one frame downscaled."""
        h, w = secret.frames.shape[1:3]
        frames = int(pixels // (padded(h) * padded(w)))
        if frames >= 1:
            return f"; it holds the first {frames} frame{'s' if frames > 1 else ''} at this size, or use a longer cover"
        fit = largest_fit(h, w, pixels)
        return f"; it holds 1 frame downscaled to {fit[1]}x{fit[0]}, or use a longer cover" if fit else ""

    def describe(self, secret: Any) -> str:
        return f"a {secret.num_frames}-frame {secret.width}x{secret.height} video"
