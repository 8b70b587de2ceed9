"""IGR (Gropp et al., ICML 2020): a softplus MLP with geometric initialisation for signed distance functions.

    x ─ W0 ─ sp ─ W1 ─ sp ─ ... ─ W_{skip-1} ─ sp ─ [·, x]/√2 ─ W_skip ─ sp ─ ... ─ W_{n+1} ─> f(x)

`layers` counts the hidden (width x width) maps, so there are layers + 2 linear maps. As in IGR's code the
input is concatenated again before map `skip`; the map before it outputs width - in_features units so that
map `skip` is square again. sp = softplus with beta 100 (IGR code). Geometric initialisation (IGR sec. 4,
after Atzmon & Lipman's SAL): hidden maps N(0, sqrt(2)/sqrt(fan_out)) with zero bias, the last map
N(sqrt(pi)/sqrt(fan_in), 1e-5) with bias -radius, so the initial network is close to |x| - radius.
Ours, for networks whose first map is never trained (inrweights): `plane_offset` > 0 gives the first map biases
-d_i |w_i| with d_i ~ U(-plane_offset, plane_offset), so its planes w_i . x = d_i lie across the shape instead of
all through the origin. With zero biases and softplus ~ ReLU the whole network is positively homogeneous,
f(t x) + radius ~ t (f(x) + radius): every inside it can represent is star-shaped about the origin, and parts
off that star (a bunny's ears) are lost; IGR itself trains that map's biases away from zero.
Weights are plain tensors given from outside (`apply`), so a method can build some of them from other
tensors (inrweights: from the container's pixels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from crossteg.nn import precision

SOFTPLUS_BETA = 100.0  # IGR code: nn.Softplus(beta=100)
RADIUS_INIT = 1.0  # IGR code: radius_init = 1 (the initial zero level set is the unit sphere)
SKIP = 4  # IGR code: skip_in = [4]
LAST_STD = 1e-5  # IGR code: std of the last layer's weights under geometric init


@dataclass(frozen=True)
class IGRConfig:
    """Shape of an IGR network: inputs, hidden width, hidden (width x width) layers, the skip position."""

    in_features: int = 3
    hidden: int = 512
    layers: int = 6
    skip: int = SKIP

    def shapes(self) -> list[tuple[int, int]]:
        """(out, in) of each of the layers + 2 linear maps."""
        n = self.layers + 2
        shapes = []
        for j in range(n):
            fan_in = self.in_features if j == 0 else self.hidden
            fan_out = 1 if j == n - 1 else self.hidden - (self.in_features if j + 1 == self.skip else 0)
            shapes.append((fan_out, fan_in))
        return shapes


def init_arrays(config: IGRConfig, rng: np.random.Generator,
                plane_offset: float = 0.0) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Weights (out x in) and biases with IGR's geometric initialisation, drawn from a numpy generator; with
    `plane_offset` the first map's planes are offset from the origin by U(+-plane_offset) (drawn after the
    weights, which therefore stay those of `plane_offset` 0)."""
    weights, biases = [], []
    shapes = config.shapes()
    for j, (fan_out, fan_in) in enumerate(shapes):
        if j == len(shapes) - 1:
            weight = rng.normal(math.sqrt(math.pi) / math.sqrt(fan_in), LAST_STD, (fan_out, fan_in))
            bias = np.full(fan_out, -RADIUS_INIT)
        else:
            weight = rng.normal(0.0, math.sqrt(2) / math.sqrt(fan_out), (fan_out, fan_in))
            bias = np.zeros(fan_out)
        weights.append(torch.from_numpy(weight.astype(np.float32)))
        biases.append(torch.from_numpy(bias.astype(np.float32)))
    if plane_offset > 0:
        offsets = rng.uniform(-plane_offset, plane_offset, shapes[0][0])
        biases[0] = torch.from_numpy((-offsets * np.linalg.norm(weights[0].numpy(), axis=1)).astype(np.float32))
    return weights, biases


def apply(x: torch.Tensor, weights: list[torch.Tensor], biases: list[torch.Tensor], config: IGRConfig,
          fast: bool = False) -> torch.Tensor:
    """The IGR function: points x in_features -> points x 1 (a signed distance, negative inside). `fast`: the
    hidden maps multiply in bfloat16 (nn/precision.py), the first and the last in float32."""
    h = x
    last = len(weights) - 1
    for j, (weight, bias) in enumerate(zip(weights, biases, strict=True)):
        if j == config.skip:
            h = torch.cat([h, x], dim=1) / math.sqrt(2)  # IGR code: skip connection scaled by 1/sqrt(2)
        h = precision.addmm(bias, h, weight.t(), fast and 0 < j < last)
        if j < last:
            h = F.softplus(h, beta=SOFTPLUS_BETA)
    return h
