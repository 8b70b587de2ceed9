"""Learned steganalysers: a Xu-Net style image CNN and a 1-D audio CNN, built from a config, loaded strictly.

Image (Xu, Wu & Shi, "Structural Design of Convolutional Neural Networks for Steganalysis", IEEE Signal
Processing Letters 23(5), 2016), one logit per image:

    B x 3 x H x W in [0,1] -x255-> KV high-pass (fixed, per channel) -> conv5 8 -> ABS -> BN -> tanh -> avgpool
      -> conv5 16 -> BN -> tanh -> avgpool -> [conv1 32|64 -> BN -> ReLU -> avgpool] x2
      -> conv1 128 -> BN -> ReLU -> global avg pool -> FC -> logit

Audio (fixed residual filter of Chen, Luo & Li, "Audio Steganalysis with Convolutional Neural Network",
IH&MMSec 2017; truncation as the TLU of Ye, Ni & Yi, IEEE TIFS 12(11), 2017), one logit per channel:

    B x 1 x T in [-1,1] -x32768-> [-1 2 -1] residual (fixed) -> clip +-T -> conv5 8 -> ABS -> BN -> tanh -> pool
      -> conv5 16 -> BN -> tanh -> pool -> conv1 32 -> BN -> ReLU -> pool -> conv1 64 -> BN -> ReLU
      -> global avg pool -> FC -> logit

Inputs are scaled to the integer units the file stores, so a +-1 LSB change is +-1 at the filter. Weights
live in crossteg/weights/detector-<method>-<modality>.safetensors beside a JSON card (architecture, sha256,
data, steps, seed, metrics, license); `load_detector` checks the hash and loads strictly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from crossteg.errors import WeightsError
from crossteg.media import Audio
from crossteg.methods.base import WEIGHTS_DIR

# Ker-Böhme (KV) 5x5 high-pass kernel, the fixed preprocessing layer of Xu et al. 2016, sec. II.
KV_KERNEL = np.array([[-1, 2, -2, 2, -1],
                      [2, -6, 8, -6, 2],
                      [-2, 8, -12, 8, -2],
                      [2, -6, 8, -6, 2],
                      [-1, 2, -2, 2, -1]], dtype=np.float32) / 12.0  # fmt: skip
RESIDUAL_KERNEL = np.array([-1.0, 2.0, -1.0], dtype=np.float32)  # Chen et al. 2017, sec. 3.1: 2nd-order diff
MAX_IMAGE_SIDE = 1024  # larger images are centre-cropped before the CNN (global pooling needs no fixed size)
MAX_AUDIO_FRAMES = 60 * 48000  # likewise: the first minute of a longer file
WINDOW_BATCH = 64  # windows of a large image scored at once (predict)


@dataclass(frozen=True)
class XuNetConfig:
    """Xu-Net for RGB: widths of the five conv groups (Xu et al. 2016, Fig. 1: 8, 16, 32, 64, 128)."""

    widths: tuple[int, ...] = (8, 16, 32, 64, 128)
    kernel: int = 5  # groups 1-2 use 5x5 convolutions, groups 3-5 1x1 (Xu et al. 2016, Fig. 1)
    pool: int = 5  # average pooling 5x5, stride 2 (Xu et al. 2016, Fig. 1)
    channels: int = 3
    kind: str = "xunet"


@dataclass(frozen=True)
class AudioCNNConfig:
    """The 1-D audio CNN: conv widths (kernel 5 for the first two, 1 after), residual truncation in LSBs."""

    widths: tuple[int, ...] = (8, 16, 32, 64)
    kernel: int = 5
    pool: int = 5
    truncation: float = 8.0  # TLU threshold (Ye et al. 2017) in 16-bit LSB units; ours, tuned for speech
    kind: str = "audio-cnn"


DetectorConfig = XuNetConfig | AudioCNNConfig


def _group(conv: nn.Module, width: int, dims: int, activation: nn.Module, pool: int | None,
           absolute: bool = False) -> nn.Sequential:
    bn = nn.BatchNorm2d(width) if dims == 2 else nn.BatchNorm1d(width)
    pooling: nn.Module
    if pool is None:
        pooling = nn.Identity()
    elif dims == 2:
        pooling = nn.AvgPool2d(pool, stride=2, padding=pool // 2)
    else:
        pooling = nn.AvgPool1d(pool, stride=2, padding=pool // 2)
    return nn.Sequential(conv, *([_Abs()] if absolute else []), bn, activation, pooling)


class _Abs(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()  # ABS layer after the first convolution (Xu et al. 2016, sec. III-A)


def _conv_stack(channels: int, widths: tuple[int, ...], kernel: int, pool: int, dims: int) -> nn.Sequential:
    """Xu-Net's groups: two k-wide convolutions with tanh (the first after |x|), then 1-wide ones with ReLU;
    every group but the last pooled. No conv bias before batch norm (paper)."""
    conv_cls = nn.Conv2d if dims == 2 else nn.Conv1d
    layers, width_in = [], channels
    for i, width in enumerate(widths):
        k = kernel if i < 2 else 1
        conv = conv_cls(width_in, width, k, padding=k // 2, bias=False)
        activation = nn.Tanh() if i < 2 else nn.ReLU()
        last = i == len(widths) - 1
        layers.append(_group(conv, width, dims, activation, None if last else pool, absolute=i == 0))
        width_in = width
    return nn.Sequential(*layers)


class XuNet(nn.Module):
    """Xu-Net for B x C x H x W images in [0, 1]; returns B logits (positive: carries a secret)."""

    kv: torch.Tensor

    def __init__(self, config: XuNetConfig) -> None:
        super().__init__()
        self.config = config
        kv = torch.from_numpy(KV_KERNEL)[None, None].repeat(config.channels, 1, 1, 1)  # C x 1 x 5 x 5
        self.register_buffer("kv", kv, persistent=False)  # fixed, not trained, not stored
        self.features = _conv_stack(config.channels, config.widths, config.kernel, config.pool, dims=2)
        self.fc = nn.Linear(config.widths[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = nn.functional.conv2d(x * 255.0, self.kv, padding=2, groups=self.config.channels)
        features = self.features(residual).mean(dim=(2, 3))  # global average pooling: B x widths[-1]
        return self.fc(features).squeeze(1)


class AudioCNN(nn.Module):
    """1-D CNN for B x 1 x T audio in [-1, 1]; returns B logits (positive: carries a secret)."""

    residual_kernel: torch.Tensor

    def __init__(self, config: AudioCNNConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("residual_kernel", torch.from_numpy(RESIDUAL_KERNEL)[None, None], persistent=False)
        self.features = _conv_stack(1, config.widths, config.kernel, config.pool, dims=1)
        self.fc = nn.Linear(config.widths[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = nn.functional.conv1d(x * 32768.0, self.residual_kernel, padding=1)  # B x 1 x T
        t = self.config.truncation
        features = self.features(residual.clamp(-t, t)).mean(dim=2)  # global average pooling: B x widths[-1]
        return self.fc(features).squeeze(1)


def build(config: DetectorConfig) -> nn.Module:
    """A freshly initialised detector network for `config`."""
    return XuNet(config) if isinstance(config, XuNetConfig) else AudioCNN(config)


def default_config(modality: str) -> DetectorConfig:
    """The architecture used for `modality` ("image" or "audio")."""
    return XuNetConfig() if modality == "image" else AudioCNNConfig()


def config_to_dict(config: DetectorConfig) -> dict[str, Any]:
    return asdict(config)


def config_from_dict(data: dict[str, Any]) -> DetectorConfig:
    """The config a card's "architecture" describes (WeightsError for an unknown kind)."""
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    kind = fields.get("kind")
    try:
        if kind == "xunet":
            return XuNetConfig(**fields)
        if kind == "audio-cnn":
            return AudioCNNConfig(**fields)
    except TypeError as exc:
        raise WeightsError(f"detector card has a bad architecture: {exc}") from exc
    raise WeightsError(f"detector card names an unknown architecture {kind!r}")


# Weights and cards ----------------------------------------------------------------------------------------

def weights_name(method_id: str, modality: str) -> str:
    """The stem of a detector's files in crossteg/weights: detector-<method>-<modality>."""
    return f"detector-{method_id}-{modality}"


def train_hint(method_id: str, modality: str) -> str:
    return f"train them with `crossteg train detector --method {method_id} --modality {modality}`"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_detector(method_id: str, modality: str, weights_dir: Path = WEIGHTS_DIR) -> tuple[nn.Module, dict]:
    """The trained detector for stegos of `method_id` in `modality` files, in eval mode, and its card.

    Raises WeightsError (saying how to train them) when the files are missing, the hash does not match the
    card, or the weights do not fit the architecture exactly (strict load).
    """
    from safetensors.torch import load_file

    stem = weights_name(method_id, modality)
    card_path, weights_path = weights_dir / f"{stem}.json", weights_dir / f"{stem}.safetensors"
    if not card_path.is_file() or not weights_path.is_file():
        raise WeightsError(f"no {stem} weights in {weights_dir}; {train_hint(method_id, modality)}")
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read {card_path}: {exc}") from exc
    if card.get("sha256") != sha256_file(weights_path):
        raise WeightsError(f"{weights_path.name} does not match the sha256 in its card; "
                           f"{train_hint(method_id, modality)}")
    model = build(config_from_dict(card.get("architecture", {})))
    try:
        model.load_state_dict(load_file(str(weights_path)), strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{weights_path.name} does not fit its architecture: "
                           f"{str(exc).splitlines()[0]}") from exc
    return model.eval(), card


def image_tensor(pixels: np.ndarray) -> torch.Tensor:
    """H x W x 3 float pixels in [0, 1] -> 1 x 3 x H x W, centre-cropped to MAX_IMAGE_SIDE."""
    h, w = pixels.shape[:2]
    top, left = max(0, (h - MAX_IMAGE_SIDE) // 2), max(0, (w - MAX_IMAGE_SIDE) // 2)
    crop = pixels[top:top + MAX_IMAGE_SIDE, left:left + MAX_IMAGE_SIDE]
    return torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None].float()


def audio_tensor(samples: np.ndarray) -> torch.Tensor:
    """C x T float samples in [-1, 1] -> C x 1 x T' (each channel one example), T' <= MAX_AUDIO_FRAMES."""
    return torch.from_numpy(np.ascontiguousarray(samples[:, :MAX_AUDIO_FRAMES]))[:, None].float()


def image_windows(pixels: np.ndarray, window: int) -> torch.Tensor:
    """H x W x 3 float pixels -> N x 3 x window x window: the whole windows of a grid centred on the image, as
    thinimg cuts a large cover into tiles (methods/thinimg.tile_corners), over the whole image."""
    h, w = pixels.shape[:2]
    rows, cols = h // window, w // window
    top, left = (h - rows * window) // 2, (w - cols * window) // 2
    grid = pixels[top:top + rows * window, left:left + cols * window]
    x = torch.from_numpy(np.ascontiguousarray(grid.transpose(2, 0, 1)))[None].float()
    tiles = x.unfold(2, window, window).unfold(3, window, window)  # 1 x 3 x rows x cols x window x window
    return tiles.permute(0, 2, 3, 1, 4, 5).reshape(-1, x.shape[1], window, window)


def on_16bit_grid(obj: Any) -> bool:
    """True for audio whose samples a 16-bit file holds exactly (x * 32768 integral)."""
    return bool(np.array_equal(obj.to_int16()[:1].astype(np.float32) / np.float32(32768.0), obj.samples[:1]))


def at_rate(audio: Audio, rate: int) -> Audio:
    """`audio` resampled to `rate` as a converter would: every channel, back on the 16-bit grid if it was on it."""
    if audio.sample_rate == rate:
        return audio
    resampled = audio.resample(rate)
    return Audio.from_int16(resampled.to_int16(), rate) if on_16bit_grid(audio) else resampled


@torch.no_grad()
def predict(model: nn.Module, obj: Any, window: int | None = None) -> float:
    """Probability that the Image or Audio `obj` carries a secret: for audio, of its most suspect channel (a
    file carries a secret when any channel does; flowhide's stereo file keeps the clean cover beside it); for
    an image larger than `window` (the size the detector was trained on), of the whole image or its most
    suspect window: a secret in part of a large photo (thinimg fills only the 160 px tiles it needs) is
    otherwise averaged away by the global pooling. The windows cover the whole image, not only the centre that
    the whole-image pass sees (MAX_IMAGE_SIDE): a clip in the top-left tile of a 2560 x 1600 photo scored 0.000
    when they did not, 0.998 as its own window."""
    if obj.modality != "image":
        return float(torch.sigmoid(model(audio_tensor(obj.samples)).max()))
    logit = model(image_tensor(obj.pixels)).max()
    h, w = obj.pixels.shape[:2]
    if window and (h > window or w > window) and min(h, w) >= window:
        windows = image_windows(obj.pixels, window)
        for start in range(0, len(windows), WINDOW_BATCH):
            logit = torch.maximum(logit, model(windows[start:start + WINDOW_BATCH]).max())
    return float(torch.sigmoid(logit))
