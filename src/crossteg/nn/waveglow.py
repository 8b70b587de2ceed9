"""WaveGlow (Prenger, Valle, Catanzaro, ICASSP 2019): a mel-conditioned normalising flow between audio and a
Gaussian latent, with the exact audio -> latent direction flowhide needs (Yang et al. sec. 3.2).

    audio (T) ─group by 8─> 8 x T/8 ─┬─ for each flow k:  [every 4 flows: 2 channels leave as early outputs]
                                     │     invertible 1x1 conv W_k  (channel mixing, log|det W| per frame)
                                     │     affine coupling:  x_a, x_b = split(x);  log s, t = WN_k(x_a, mel)
                                     │                        x_b' = exp(log s) * x_b + t
                                     └─ z = concat(early outputs..., remaining channels)   (8 x T/8 = T values)
    mel (80 x frames) ─ConvTranspose1d(1024, stride 256)─> per-sample conditioning ─group by 8─> 640 x T/8

`forward(audio, mel)` is the training direction (audio -> z, log-determinants); `inverse(z, mel)` generates audio.
Unlike the published `infer`, which samples the early-output channels itself (losing whatever was in them),
`inverse` takes the whole latent: `inverse(forward(x)) == x` and `forward(inverse(z)) == z` to float rounding.

Parameter names match NVIDIA's published checkpoints (e.g. `WN.0.in_layers.3.weight_g`, `convinv.5.conv.weight`,
`upsample.weight`): weight-normalised convolutions keep `weight_g` / `weight_v`, so a state dict in that layout
loads strictly (`load_published`). Published size: 12 flows, 8 layers, 256 or 512 channels, 22.05 kHz,
80-band log-mel of a 1024/256 STFT (0-8 kHz); `WaveGlowConfig` makes every size configurable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 22_050  # WaveGlow config.json: sampling_rate (LJ Speech)
N_FFT, HOP, WIN = 1024, 256, 1024  # config.json: filter_length, hop_length, win_length
N_MELS, F_MIN, F_MAX = 80, 0.0, 8000.0  # config.json: n_mel_channels, mel_fmin, mel_fmax
LOG_FLOOR = 1e-5  # TacotronSTFT.spectral_normalize: log(clamp(x, min=1e-5))


@dataclass(frozen=True)
class WNConfig:
    """The WaveNet-like coupling network: layers of dilated convolutions (dilation 2^i), `channels` wide."""

    n_layers: int = 8  # config.json WN_config
    n_channels: int = 256
    kernel_size: int = 3


@dataclass(frozen=True)
class WaveGlowConfig:
    """Size of a WaveGlow; the defaults are the published model (config.json)."""

    n_mel_channels: int = N_MELS
    n_flows: int = 12
    n_group: int = 8
    n_early_every: int = 4
    n_early_size: int = 2
    wn: WNConfig = field(default_factory=WNConfig)
    upsample_kernel: int = 1024  # published: ConvTranspose1d(n_mel, n_mel, 1024, stride=256)
    hop: int = HOP

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WaveGlowConfig:
        return cls(**{**d, "wn": WNConfig(**d["wn"])})


class WNConv1d(nn.Module):
    """Conv1d with weight normalisation w = g v / ||v|| (norm over all but the output dimension), storing
    `weight_g`, `weight_v`, `bias` like torch.nn.utils.weight_norm did in the published code."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, dilation: int = 1, padding: int = 0) -> None:
        super().__init__()
        conv = nn.Conv1d(cin, cout, kernel, dilation=dilation, padding=padding)
        self.dilation, self.padding = dilation, padding
        self.weight_v = nn.Parameter(conv.weight.detach().clone())
        self.weight_g = nn.Parameter(conv.weight.detach().flatten(1).norm(dim=1).view(-1, 1, 1))
        assert conv.bias is not None
        self.bias = nn.Parameter(conv.bias.detach().clone())

    def weight(self) -> torch.Tensor:
        return self.weight_g * self.weight_v / self.weight_v.flatten(1).norm(dim=1).view(-1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.weight(), self.bias, dilation=self.dilation, padding=self.padding)


class WN(nn.Module):
    """WaveGlow's coupling network: gated dilated convolutions conditioned on the (grouped) mel."""

    def __init__(self, n_in: int, n_cond: int, config: WNConfig) -> None:
        super().__init__()
        c = config.n_channels
        self.n_layers, self.n_channels = config.n_layers, c
        self.start = WNConv1d(n_in, c)
        self.end = nn.Conv1d(c, 2 * n_in, 1)
        with torch.no_grad():  # published: the coupling starts as the identity
            self.end.weight.zero_()
            self.end.bias.zero_()  # type: ignore[union-attr]
        self.cond_layer = WNConv1d(n_cond, 2 * c * config.n_layers)
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        for i in range(config.n_layers):
            d = 2**i
            self.in_layers.append(WNConv1d(c, 2 * c, config.kernel_size, d, (config.kernel_size * d - d) // 2))
            self.res_skip_layers.append(WNConv1d(c, 2 * c if i < config.n_layers - 1 else c))

    def forward(self, audio: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """audio B x n_in x L, cond B x n_cond x L -> (t, log s) stacked: B x 2 n_in x L."""
        x = self.start(audio)
        out = torch.zeros_like(x)
        cond = self.cond_layer(cond)
        c = self.n_channels
        for i in range(self.n_layers):
            acts = self.in_layers[i](x) + cond[:, 2 * i * c:2 * (i + 1) * c]
            acts = torch.tanh(acts[:, :c]) * torch.sigmoid(acts[:, c:])
            res_skip = self.res_skip_layers[i](acts)
            if i < self.n_layers - 1:
                x = x + res_skip[:, :c]
                out = out + res_skip[:, c:]
            else:
                out = out + res_skip
        return self.end(out)


class Invertible1x1Conv(nn.Module):
    """A channel-mixing 1x1 convolution initialised to a random rotation (det = +1), as in Glow / WaveGlow."""

    def __init__(self, channels: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 1, bias=False)
        q, _ = torch.linalg.qr(torch.randn(channels, channels, generator=generator))
        if torch.det(q) < 0:
            q[:, 0] = -q[:, 0]
        self.conv.weight.data = q.view(channels, channels, 1).contiguous()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.conv.weight.squeeze(-1)
        return F.conv1d(x, self.conv.weight), x.shape[0] * x.shape[2] * torch.slogdet(w)[1]

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        w_inv = torch.linalg.inv(self.conv.weight.squeeze(-1).double()).to(x.dtype)
        return F.conv1d(x, w_inv.unsqueeze(-1))


class WaveGlow(nn.Module):
    """The flow; `forward` audio -> latent, `inverse` latent -> audio, both conditioned on a log-mel."""

    def __init__(self, config: WaveGlowConfig = WaveGlowConfig(), generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        n_mel = config.n_mel_channels
        self.upsample = nn.ConvTranspose1d(n_mel, n_mel, config.upsample_kernel, stride=config.hop)
        self.WN = nn.ModuleList()
        self.convinv = nn.ModuleList()
        remaining = config.n_group
        for k in range(config.n_flows):
            if k % config.n_early_every == 0 and k > 0:
                remaining -= config.n_early_size
            self.convinv.append(Invertible1x1Conv(remaining, generator))
            self.WN.append(WN(remaining // 2, n_mel * config.n_group, config.wn))
        self.n_remaining = remaining

    def condition(self, mel: torch.Tensor, length: int) -> torch.Tensor:
        """mel B x n_mel x frames -> grouped conditioning B x (n_mel * n_group) x length / n_group."""
        g = self.config.n_group
        spect = self.upsample(mel)
        if spect.shape[2] < length:
            raise ValueError(f"mel of {mel.shape[2]} frames conditions at most {spect.shape[2]} samples, not {length}")
        spect = spect[:, :, :length].unfold(2, g, g).permute(0, 2, 1, 3)  # B x L x n_mel x g
        return spect.reshape(spect.shape[0], spect.shape[1], -1).permute(0, 2, 1)

    def forward(self, audio: torch.Tensor, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """audio B x T (T a multiple of n_group) -> (z B x n_group x T / n_group, sum log s, sum log|det W|)."""
        cfg = self.config
        cond = self.condition(mel, audio.shape[1])
        x = audio.unfold(1, cfg.n_group, cfg.n_group).permute(0, 2, 1)  # B x g x L
        early, log_s_sum, log_det = [], audio.new_zeros(()), audio.new_zeros(())
        for k in range(cfg.n_flows):
            if k % cfg.n_early_every == 0 and k > 0:
                early.append(x[:, :cfg.n_early_size])
                x = x[:, cfg.n_early_size:]
            x, ld = self.convinv[k](x)
            log_det = log_det + ld
            half = x.shape[1] // 2
            x_a, x_b = x[:, :half], x[:, half:]
            out = self.WN[k](x_a, cond)
            t, log_s = out[:, :half], out[:, half:]
            x = torch.cat([x_a, torch.exp(log_s) * x_b + t], 1)
            log_s_sum = log_s_sum + log_s.sum()
        return torch.cat([*early, x], 1), log_s_sum, log_det

    def inverse(self, z: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """z B x n_group x T / n_group (every channel, early outputs first) -> audio B x T."""
        cfg = self.config
        g, length = cfg.n_group, z.shape[2]
        cond = self.condition(mel, length * g)
        n_early = (cfg.n_flows - 1) // cfg.n_early_every
        early = [z[:, i * cfg.n_early_size:(i + 1) * cfg.n_early_size] for i in range(n_early)]
        x = z[:, n_early * cfg.n_early_size:]
        for k in reversed(range(cfg.n_flows)):
            half = x.shape[1] // 2
            x_a, x_b = x[:, :half], x[:, half:]
            out = self.WN[k](x_a, cond)
            t, log_s = out[:, :half], out[:, half:]
            x = torch.cat([x_a, (x_b - t) / torch.exp(log_s)], 1)
            x = self.convinv[k].inverse(x)  # type: ignore[operator]
            if k % cfg.n_early_every == 0 and k > 0:
                x = torch.cat([early.pop(), x], 1)
        return x.permute(0, 2, 1).reshape(z.shape[0], -1)


def nll_loss(z: torch.Tensor, log_s_sum: torch.Tensor, log_det: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """WaveGlowLoss: (sum z^2 / 2 sigma^2 - sum log s - sum log|det W|) / number of latent values."""
    return (z.pow(2).sum() / (2 * sigma**2) - log_s_sum - log_det) / z.numel()


def load_published(model: WaveGlow, state: dict[str, torch.Tensor]) -> None:
    """Load a state dict in the published layout strictly. Old checkpoints with one `cond_layers.{i}` per WN
    layer are merged into the single `cond_layer` the published code converts them to."""
    merged = dict(state)
    for k in range(len(model.WN)):
        prefix = f"WN.{k}.cond_layers."
        names = sorted({n[len(prefix):].split(".")[0] for n in state if n.startswith(prefix)}, key=int)
        if names:
            for part in ("weight_g", "weight_v", "bias"):
                merged[f"WN.{k}.cond_layer.{part}"] = torch.cat([merged.pop(f"{prefix}{i}.{part}") for i in names])
    model.load_state_dict(merged, strict=True)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear to 1 kHz, logarithmic above."""
    f = np.asarray(f, np.float64)
    log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, f / (200.0 / 3))


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


@lru_cache(maxsize=4)
def mel_basis(rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS, fmin: float = F_MIN,
              fmax: float = F_MAX) -> torch.Tensor:
    """Slaney-normalised triangular mel filters, n_mels x (n_fft / 2 + 1): the filters librosa.filters.mel
    builds with its defaults (which the published TacotronSTFT uses), without importing librosa."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(fmin)), _hz_to_mel(np.array(fmax)), n_mels + 2))
    freqs = np.linspace(0, rate / 2, 1 + n_fft // 2)
    ramps = edges[:, None] - freqs[None, :]
    widths = np.diff(edges)
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return torch.from_numpy(weights.astype(np.float32))


def mel_spectrogram(audio: torch.Tensor, rate: int = SAMPLE_RATE) -> torch.Tensor:
    """WaveGlow's conditioning (TacotronSTFT): audio B x T in [-1, 1] -> log-mel B x 80 x (T // 256 + 1)."""
    window = torch.hann_window(WIN, dtype=audio.dtype, device=audio.device)
    spec = torch.stft(audio, N_FFT, HOP, WIN, window, center=True, pad_mode="reflect", return_complex=True).abs()
    mel = torch.matmul(mel_basis(rate).to(audio.device, audio.dtype), spec)
    return torch.log(torch.clamp(mel, min=LOG_FLOOR))


def small_config(channels: int = 32, layers: int = 4, flows: int = 8) -> WaveGlowConfig:
    """A CPU-sized WaveGlow: fewer flows and WN channels, early outputs every 2 flows, and an upsampler with
    kernel = hop (the published 1024-tap one alone holds 6.5 M parameters)."""
    return WaveGlowConfig(n_flows=flows, n_early_every=max(1, flows // 4), wn=WNConfig(layers, channels, 3),
                          upsample_kernel=HOP)


def latent_size(samples: int, config: WaveGlowConfig) -> int:
    """Latent values for `samples` audio samples (the part that is a whole number of groups)."""
    return samples - samples % config.n_group


def as_numpy(z: torch.Tensor) -> np.ndarray:
    """Latent B=1 x n_group x L -> a flat float32 vector (channel-major: early outputs first)."""
    return z[0].detach().cpu().numpy().reshape(-1).astype(np.float32)


def from_numpy(values: np.ndarray, config: WaveGlowConfig) -> torch.Tensor:
    """Flat float32 latent -> 1 x n_group x L."""
    return torch.from_numpy(np.ascontiguousarray(values, np.float32)).view(1, config.n_group, -1)
