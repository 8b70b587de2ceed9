"""Convolutional building blocks shared by the image-in-audio networks (ditas, deepsteg, stft).

    x ─ head conv 3x3 (in -> width) ─ ReLU ─(+ link features)─ [residual block] x blocks ─┬─ tail conv 3x3 ─> y
                                                                                           └─> features (link out)
    residual block:  x ─ conv 3x3 ─ ReLU ─ conv 3x3 ─(+ x)─ ReLU

Tensors are B x C x H x W. `ConvNet.forward` also returns the features before the tail, so a later stage
can take them in (`link`): that is how DITAS passes information between successive stages (paper Fig. 3).
"""

from __future__ import annotations

import torch
from torch import nn

KERNEL = 3  # DITAS sec. 3.1: every convolution has 3 x 3 kernels
WIDTH = 64  # DITAS sec. 3.1: 64 kernels in every layer but the last


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 3 x 3 convolution that keeps the spatial size (zero padding 1)."""
    return nn.Conv2d(in_channels, out_channels, KERNEL, padding=KERNEL // 2)


class ResidualBlock(nn.Module):
    """conv-ReLU-conv with an identity skip, then ReLU (DITAS Fig. 2, as far as the text describes it)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = conv3x3(width, width), conv3x3(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.conv2(torch.relu(self.conv1(x))))


class ConvNet(nn.Module):
    """head conv + `blocks` residual blocks + tail conv; optional link features from a previous stage.

    `link=True` adds a 1x1 convolution of the previous stage's features to the head's output.
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = WIDTH, blocks: int = 2,
                 link: bool = False) -> None:
        super().__init__()
        self.head = conv3x3(in_channels, width)
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.tail = conv3x3(width, out_channels)
        self.link = nn.Conv2d(width, width, 1) if link else None

    def forward(self, x: torch.Tensor, previous: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(output B x out x H x W, features B x width x H x W)."""
        h = torch.relu(self.head(x))
        if self.link is not None and previous is not None:
            h = h + self.link(previous)
        features = self.blocks(h)
        return self.tail(features), features


def plain_stack(in_channels: int, out_channels: int, width: int, layers: int) -> nn.Sequential:
    """`layers` 3 x 3 convolutions with ReLU between them (Baluja-style prep/hide/reveal networks)."""
    mods: list[nn.Module] = []
    channels = in_channels
    for k in range(layers):
        last = k == layers - 1
        mods.append(conv3x3(channels, out_channels if last else width))
        if not last:
            mods.append(nn.ReLU())
        channels = width
    return nn.Sequential(*mods)


def quantize_ste(x: torch.Tensor, levels: float) -> torch.Tensor:
    """round(x * levels) / levels in the forward pass, identity gradient (straight-through estimator)."""
    return x + (torch.round(x * levels) / levels - x).detach()
