"""Waveform discriminators for adversarial vocoder training, and their least-squares GAN losses.

    speech B x T ─┬─ period p in (2, 3, 5, 7, 11): B x 1 x T/p x p ─ Conv2d (k x 1) stack ─> logits, features
                  └─ STFT n in (512, 1024, 2048): B x 1 x frames x bins |S| ─ Conv2d stack ─> logits, features

The multi-period discriminator is HiFi-GAN's (Kong et al. 2020), the multi-resolution one UnivNet's as Vocos
(Siuzdak 2023) uses it; both are narrowed (HiFi-GAN's periods run 32-1024 channels, ours 16-256; UnivNet's
resolutions 32, ours 16) so that a step on a few segments costs CPU-tenths of a second. Losses are HiFi-GAN's:
least squares for real / fake, L1 feature matching.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

PERIODS = (2, 3, 5, 7, 11)
RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))  # (FFT, hop)
SLOPE = 0.1  # leaky ReLU slope (HiFi-GAN's)

Judgement = tuple[torch.Tensor, list[torch.Tensor]]  # logits and the feature maps on the way


def _judge(convs: nn.ModuleList, post: nn.Module, h: torch.Tensor) -> Judgement:
    """Logits of `post` after the leaky-ReLU conv stack, with each conv's output as a feature map."""
    features = []
    for conv in convs:
        h = nn.functional.leaky_relu(conv(h), SLOPE)
        features.append(h)
    return post(h).flatten(1), features


class PeriodDiscriminator(nn.Module):
    """Speech folded into `period` columns, judged by strided (k x 1) convolutions along time."""

    def __init__(self, period: int, channels: tuple[int, ...] = (16, 64, 128, 256)) -> None:
        super().__init__()
        self.period = period
        sizes = (1, *channels)
        self.convs = nn.ModuleList(weight_norm(nn.Conv2d(a, b, (5, 1), (3, 1), padding=(2, 0)))
                                   for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.convs.append(weight_norm(nn.Conv2d(channels[-1], channels[-1], (5, 1), padding=(2, 0))))
        self.post = weight_norm(nn.Conv2d(channels[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, x: torch.Tensor) -> Judgement:
        padded = nn.functional.pad(x, (0, -x.shape[-1] % self.period), mode="reflect")
        return _judge(self.convs, self.post, padded.view(x.shape[0], 1, -1, self.period))


class ResolutionDiscriminator(nn.Module):
    """The magnitude of one STFT resolution, judged by 2-D convolutions strided along frequency."""

    window: torch.Tensor

    def __init__(self, n_fft: int, hop: int, channels: int = 16) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.convs = nn.ModuleList([weight_norm(nn.Conv2d(1, channels, (3, 9), padding=(1, 4)))]
                                   + [weight_norm(nn.Conv2d(channels, channels, (3, 9), (1, 2), padding=(1, 4)))
                                      for _ in range(3)]
                                   + [weight_norm(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1)))])
        self.post = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, x: torch.Tensor) -> Judgement:
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        return _judge(self.convs, self.post, spec.abs().transpose(1, 2).unsqueeze(1))  # B x 1 x frames x bins


class Discriminators(nn.Module):
    """Every period and resolution discriminator; called on B x T speech, returns one judgement each."""

    def __init__(self) -> None:
        super().__init__()
        self.members = nn.ModuleList([*(PeriodDiscriminator(p) for p in PERIODS),
                                      *(ResolutionDiscriminator(n, h) for n, h in RESOLUTIONS)])

    def forward(self, x: torch.Tensor) -> list[Judgement]:
        return [member(x) for member in self.members]


def discriminator_loss(real: list[Judgement], fake: list[Judgement]) -> torch.Tensor:
    """Least squares: real judged 1, fake 0, summed over discriminators."""
    return sum(((1 - r).pow(2).mean() + f.pow(2).mean() for (r, _), (f, _) in zip(real, fake, strict=True)),
               torch.zeros(()))


def generator_loss(fake: list[Judgement]) -> torch.Tensor:
    """Least squares: the generator wants its speech judged 1 by every discriminator."""
    return sum(((1 - f).pow(2).mean() for f, _ in fake), torch.zeros(()))


def feature_loss(real: list[Judgement], fake: list[Judgement]) -> torch.Tensor:
    """L1 between the discriminators' feature maps of real and generated speech (real ones held fixed)."""
    return sum(((r.detach() - f).abs().mean() for (_, rs), (_, fs) in zip(real, fake, strict=True)
                for r, f in zip(rs, fs, strict=True)), torch.zeros(()))
