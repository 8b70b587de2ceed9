"""Kreuk-style STFT-domain hiding (Kreuk et al., "Hide and speak", 2019) as DITAS's Table 1 baseline.

    secret ─ message encoder ─┐
                              ├─ encoder ─> new magnitudes ─ISTFT (cover's phase)─ 16-bit ─> |STFT| ─ decoder ─> secret
    t tiles ─STFT─ |X| (t x 64 x 64) ─┘

DITAS sec. 3.2: "refer to the previous work [16], we can also obtain the audio tensor by using STFT, and then
embed the secret image into the frequency domain of the cover audio". Each 4096-sample subsequence gives a
128-point STFT (hop 64) whose 64 x 64 low corner of magnitudes is the tensor; the t tensors are stacked as
channels, as Kreuk's carrier encoder takes the spectrogram. Networks, layout, key and file handling are shared
with deepsteg/ditas (methods/ditas.py); sizes are in the card.
"""

from __future__ import annotations

from typing import Any, ClassVar

from crossteg.methods.base import register
from crossteg.methods.ditas import ImageInAudio


@register
class STFTSteg(ImageInAudio):
    """Kreuk-style carrier/message encoders and decoder on STFT magnitudes of t subsequences (DITAS baseline)."""

    id = "stft"
    title = "Kreuk-style STFT-domain image in audio: DITAS baseline"
    paper = "ditas (baseline [16], Kreuk et al. 2019)"
    weights = ("stft.safetensors",)
    view: ClassVar[str] = "mag"
    quick_options: ClassVar[dict[str, Any]] = {}

    def weights_name(self, variant: str, view: str, stages: int) -> str:
        return "stft.safetensors"
