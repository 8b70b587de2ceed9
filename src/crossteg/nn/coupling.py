"""THInImg's embedding-revealing module (Zhao et al., sec. 3.2, fig. 3): an invertible coupling network.

    image I (B x 3 x H x W) ─┐   block i (eq. 6):  I' = I + E1(A)                    8 blocks (sec. 3.2)
    speech A (B x c x H x W) ┘                     A' = A * ES(E3(I')) + E2(I')
    forward: (I_i, A_s) ──8 blocks──> (I_c, A_out); I_c is the container, A_out is dropped
    reverse (eq. 7):  A = (A' - E2(I')) / ES(E3(I')),  I = I' - E1(A)
    reveal:  (I_c, zeros) ──blocks in reverse──> (I_iR, A_sR)

ES(x) = exp(clamp * (2 sigmoid(x) - 1)): "sigmoid followed by the exponent", clamped to [e^-2, e^2] as in the
HiNet-style reference design the paper builds on. Each E_{i,j} is a residual-dense block (5 convolutions,
LeakyReLU, dense connections, the last convolution zero-initialised so every block starts as the identity).

Option `dwt` (ours, on by default for the shipped CPU-trained weights): both branches go through an orthonormal
Haar transform first (C x H x W -> 4C x H/2 x W/2), as HiNet does; it is exactly invertible, keeps the coupling
equations unchanged and costs ~1/3 of the full-resolution compute (NOTES.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import cast

import torch
from torch import nn

BLOCKS = 8  # sec. 3.2: "8 in our method"
CLAMP = 2.0  # reference design's ES clamp


@dataclass(frozen=True)
class CouplingConfig:
    """Shape of one embedding-revealing module: branch channels, block count, subnet width."""

    image_channels: int = 3  # sec. 3.2: RGB image branch
    secret_channels: int = 2  # sec. 4.4: c = 2 for 0-10 s of mel
    blocks: int = BLOCKS
    width: int = 32  # growth channels of each residual-dense subnet
    dwt: bool = True
    clamp: float = CLAMP

    def to_dict(self) -> dict:
        return asdict(self)


def haar(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal 2-D Haar transform: B x C x H x W -> B x 4C x H/2 x W/2 (LL, HL, LH, HH bands)."""
    a, b = x[..., 0::2, 0::2], x[..., 1::2, 0::2]
    c, d = x[..., 0::2, 1::2], x[..., 1::2, 1::2]
    return torch.cat([a + b + c + d, -a - b + c + d, -a + b - c + d, a - b - c + d], dim=1) / 2


def inverse_haar(y: torch.Tensor) -> torch.Tensor:
    """Exact inverse of `haar`."""
    ll, hl, lh, hh = torch.chunk(y, 4, dim=1)
    a, b = (ll - hl - lh + hh) / 2, (ll - hl + lh - hh) / 2
    c, d = (ll + hl - lh - hh) / 2, (ll + hl + lh + hh) / 2
    out = y.new_empty(y.shape[0], y.shape[1] // 4, y.shape[2] * 2, y.shape[3] * 2)
    out[..., 0::2, 0::2], out[..., 1::2, 0::2], out[..., 0::2, 1::2], out[..., 1::2, 1::2] = a, b, c, d
    return out


class ResidualDense(nn.Module):
    """E_{i,j}: 5 convolutions with dense connections; the output convolution starts at zero."""

    def __init__(self, channels_in: int, channels_out: int, width: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(channels_in + k * width, width, 3, padding=1) for k in range(4))
        self.out = nn.Conv2d(channels_in + 4 * width, channels_out, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        if self.out.bias is not None:
            nn.init.zeros_(self.out.bias)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv in self.convs:
            features.append(self.act(conv(torch.cat(features, dim=1))))
        return self.out(torch.cat(features, dim=1))


class CouplingBlock(nn.Module):
    """One embedding-revealing block (eq. 6 forward, eq. 7 reverse)."""

    def __init__(self, image_channels: int, secret_channels: int, width: int, clamp: float) -> None:
        super().__init__()
        self.e1 = ResidualDense(secret_channels, image_channels, width)
        self.e2 = ResidualDense(image_channels, secret_channels, width)
        self.e3 = ResidualDense(image_channels, secret_channels, width)
        self.clamp = clamp

    def log_scale(self, image: torch.Tensor) -> torch.Tensor:
        """log ES(E3(I')) = clamp * (2 sigmoid - 1)."""
        return self.clamp * (2 * torch.sigmoid(self.e3(image)) - 1)

    def forward(self, image: torch.Tensor, secret: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        image = image + self.e1(secret)
        secret = secret * torch.exp(self.log_scale(image)) + self.e2(image)
        return image, secret

    def reverse(self, image: torch.Tensor, secret: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        secret = (secret - self.e2(image)) * torch.exp(-self.log_scale(image))
        image = image - self.e1(secret)
        return image, secret


class CouplingNet(nn.Module):
    """The embedding-revealing module: `embed` (forward) and `reveal` (reverse) share every weight."""

    def __init__(self, config: CouplingConfig = CouplingConfig()) -> None:
        super().__init__()
        self.config = config
        k = 4 if config.dwt else 1
        self.blocks = nn.ModuleList(
            CouplingBlock(k * config.image_channels, k * config.secret_channels, config.width, config.clamp)
            for _ in range(config.blocks))

    def _into(self, x: torch.Tensor) -> torch.Tensor:
        return haar(x) if self.config.dwt else x

    def _out(self, x: torch.Tensor) -> torch.Tensor:
        return inverse_haar(x) if self.config.dwt else x

    def forward(self, image: torch.Tensor, secret: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(container B x 3 x H x W, the dropped secret-branch output B x c x H x W)."""
        i, a = self._into(image), self._into(secret)
        for block in self.blocks:
            i, a = block(i, a)
        return self._out(i), self._out(a)

    def reverse(self, container: torch.Tensor, lost: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(recovered cover, recovered secret) from a container; the dropped branch is zeros unless given."""
        if lost is None:
            lost = container.new_zeros(container.shape[0], self.config.secret_channels, *container.shape[2:])
        i, a = self._into(container), self._into(lost)
        for block in reversed(self.blocks):
            i, a = cast(CouplingBlock, block).reverse(i, a)
        return self._out(i), self._out(a)


def round_8bit(x: torch.Tensor) -> torch.Tensor:
    """Clip to [0, 1] and round to 1/255 steps, what saving an 8-bit PNG does, so a network trained through it
    reveals from the PNG as well as from floats (SPEC, "Files and formats"). The rounding passes gradients
    straight through; the clip keeps its true gradient, zero outside [0, 1]. (Straight through the clip too, the
    reveal loss kept pushing clipped pixels further out, which changed nothing it could see, and the 20 s model's
    activations grew until training blew up within 500-1600 steps at any rate tried; measured, see the cards'
    history.)"""
    clipped = x.clamp(0, 1)
    return clipped + (torch.round(clipped * 255) / 255 - clipped).detach()
