"""Deep-Steg (Baluja, NIPS 2017) as DITAS's Table 1 baseline: an image hidden in t reshaped audio subsequences.

    secret ─ prep network ─┐
                           ├─ hiding network ─> t containers (added to the covers) ─16-bit─> revealing network ─> secret
    t x 4096 audio ─reshape─ t x 64 x 64 (stacked as channels) ─┘

DITAS sec. 3.2: "t non-overlapping sub-sequences with size of w x h are first selected ... reshape it as w x h
and concatenate them together ... a tensor with size t x w x h. Then, we embed the secret image into this
tensor." One network hides the whole image at once (no residual stages); the layout, key, 16-bit file and
partial-loss handling are DITAS's (methods/ditas.py), so the rows of Table 1 differ only in the networks.
Baluja's networks are plain 3x3 convolution stacks here (his had 3x3/4x4/5x5 branches), at the size in the card.
"""

from __future__ import annotations

from typing import Any, ClassVar

from crossteg.methods.base import register
from crossteg.methods.ditas import ImageInAudio


@register
class DeepSteg(ImageInAudio):
    """Baluja-style prep/hide/reveal networks on t reshaped raw-audio subsequences (DITAS Table 1 baseline)."""

    id = "deepsteg"
    title = "Deep-Steg (Baluja) image in audio: DITAS baseline"
    paper = "ditas (baseline [1], Baluja 2017)"
    weights = ("deepsteg.safetensors",)
    view: ClassVar[str] = "raw"
    quick_options: ClassVar[dict[str, Any]] = {}  # t is the trained one: all subsequences are used at once

    def weights_name(self, variant: str, view: str, stages: int) -> str:
        return "deepsteg.safetensors"
