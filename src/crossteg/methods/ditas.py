"""DITAS (Cui, Liu, Jiang, Liu, Zhao, ICME 2020): an image hidden in audio by multi-stage residual hiding.

    S_0 ─┐ stage i = 1..t:  S_i = S_0 - C_{i-1}                         (eq. 2, C_0 = 0)
         ├─ H_i(S_i, T_i) ─> container T~_i ─16-bit─> R_i(T~_i) ─> R_i,  C_i = C_{i-1} + R_i
    T_i ─┘ (T_i: the i-th non-overlapping 4096-sample audio subsequence, reshaped to 64 x 64)
    reveal: C_t = R_1(T~_1) + ... + R_t(T~_t)                           (eq. 3)

Variants (sec. 3.2, Fig. 3): M (independent stages), M-E (features passed between successive hiding
sub-networks), M-D (between revealing sub-networks), M-ED (both; the default, best in Table 1), S (one
hiding and one revealing network shared by all stages). `pre="stft"` is the STFT pre-processing of sec. 3.1
(real and imaginary parts of a 128-point STFT, hop 64, as a 2 x 64 x 64 tensor), which the paper found "slightly
better" than raw samples; here it is clearly better at equal training steps (`default_pre`), so it is the default
where a model with it is shipped (M-ED, t <= 5); `pre="raw"` is the paper's Table 1 setting.

Our choices where the paper is silent, and what makes it a file format (see the weights cards):
* images of any size: padded (edge) to multiples of 64 and processed fully convolutionally as one image, with
  the audio side a mosaic of 64 x 64 tiles, one 4096-sample subsequence each (trained on 2 x 2 mosaics);
* 16 kHz model rate; other rates and channel counts: the stego is the cover plus the resampled change (a cover
  below 16 kHz is written at 16 kHz, with a warning: its rate would cut the change's band);
* the key: a header (image size, variant, stages, with a keyed tag) in the first and last 4096 samples by
  spread-transform dither modulation (codecs/dither.py), so it survives MP3/AAC/Opus, resampling, noise and
  the loss of either end (a wrong key is reported as such), on a lattice that follows the file's level, with the
  RMS of stage 1's audio, so that reveal undoes a change of volume since hiding (header version 3, ours), and the
  length, so that reveal re-times a file whose start was cut or padded to a fraction of a sample (version 4); slots
  drawn by a keyed permutation; the rows of every 64 x 64 audio tensor permuted and sign-flipped by the key
  (trained with random ones), so that a wrong layout reveals noise;
* the hiding output is added to the cover tensor (container = T_i + H_i(...)); 16-bit rounding in the loop.

Beyond the paper (ours): hide-time refinement (nn/refine.py, shared with thinimg). After the hiding networks'
one pass, `refine` Adam steps move the container samples themselves so that the fixed revealing networks return
the secret better (MSE of the whole C_t), each 4096-sample tile's change kept within the mean square the networks
gave it, so the audio is changed no more than by the one pass; 16-bit rounding straight-through. The refined
change is kept below `band` Hz (7400 by default), which resamplers keep: the networks put a tenth of the secret's
PSNR into the top of the 16 kHz band, which every resampler cuts, so that a 44.1 or 48 kHz cover (hide resamples the
change to its rate, reveal back) or a stego converted to another rate lost 8-9 dB. The file format, the key and
reveal are unchanged; `refine=0` is the paper's one-pass hide (the Table 1 baselines default to it). Measured gain
and cost: benchmarks/results/ditas-tables.md.
"""

from __future__ import annotations

import json
import math
import struct
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from crossteg import keys
from crossteg.codecs import dither
from crossteg.errors import CapacityError, KeyError_, MediaError, UsageError, WeightsError
from crossteg.media.audio import Audio, fit_length
from crossteg.media.image import Image
from crossteg.methods.base import WEIGHTS_DIR, Capacity, Method, Progress, no_progress, register, smaller_sizes
from crossteg.nn.blocks import WIDTH, ConvNet, plain_stack, quantize_ste
from crossteg.nn.refine import refine_stego

MODEL_RATE = 16_000  # TIMIT's rate (the paper's test covers), and our synthetic speech's
TILE = 64  # DITAS sec. 3.1: 64 x 64 patches
TILE_SAMPLES = TILE * TILE  # one subsequence per stage and tile
STAGES, MAX_STAGES = 5, 10  # DITAS sec. 3.1 / Fig. 4: t = 5, curve up to 10
LAMBDA = 0.8  # DITAS sec. 3.1: lambda_i = 0.8
VARIANTS = ("M", "M-E", "M-D", "M-ED", "S")
VIEWS = ("raw", "stft", "mag")  # mag: STFT magnitude with the cover's phase (Kreuk-style baseline)
PRE = VIEWS[:2]  # DITAS's own pre-processing choices (sec. 3.1): raw samples or the STFT
N_FFT, HOP, STFT_SCALE = 128, 64, 8.0  # 65 x 65 STFT of a tile; the 64 x 64 corner is the tensor
# version, variant, stages, view, height, width, slots, (version 3) the RMS of stage 1's audio as a half float and
# (version 4) the number of 16 kHz samples
HEADER_FORMATS = {2: ">BBBBHHH", 3: ">BBBBHHHe", 4: ">BBBBHHHeI"}
# 4: a file whose start was trimmed or padded (an editor's cut, leading silence) is re-timed from the back copy of
# the header and the length: the slots are read where they were written, to a fraction of a sample (`realign`);
# read 1 sample off, every stage reveals noise (9 dB).
# 3: a change of volume since hiding (normalisation, ffmpeg's -3 dB mono-to-stereo up-mix) is undone: the header's
# lattice step follows the file's level (`loudness`, searched around when that misleads) and reveal scales the
# audio back to stage 1's recorded RMS; -0.9 dB had cost the secret 6 dB of PSNR and -6 dB lost the header.
# 2: dither-modulated header at a fixed step (1 had LSB headers that lossy audio destroyed). Versions 2-3 still read.
VERSION = 4
ALIGN_REACH = 2.0  # 16 kHz samples around the length's estimate that `realign` searches (resamplers round lengths)
HEADER_SAMPLES = TILE_SAMPLES  # 16 kHz samples at each end holding one copy of the header
HEADER_STEP = 0.3  # version 2's dither lattice step: -50 dB below full scale, survives MP3 64 kbit/s
HEADER_STEP_PER_LEVEL = 1.5  # version 3's step, times `loudness`: 0.3 at speech's usual level (~0.2)
# where the step from `loudness` does not read the header (the loud part of the file lost), reveal tries steps
# 2^(k/16) times it, nearest first, up to 4x either way: the lattice tolerates a few percent
STEP_SEARCH = sorted((2 ** (k / 16) for k in range(-32, 33) if k), key=lambda f: abs(math.log(f)))
LEVEL_BLOCK = 1024  # samples per block of `loudness`
LEVEL_FLOOR = 1e-4  # -80 dBFS: `loudness` of a silent file
LEVEL_TOLERANCE = 1e-3  # reveal reads audio within 0.01 dB of its recorded RMS as it is (the half float's step)
GUARD = HEADER_SAMPLES + 64  # first slot: after the front header, plus 4 ms for the resampler's filter
MAX_SLOTS = 2**16 - 1  # what the header's slot field holds (4.7 hours of 16 kHz audio)
PCM = 32768.0
# ours: hide-time refinement (module docstring). On a 256 px image, the raw width-24 model: one pass 28.3 dB; Adam
# 1e-3: 25 / 50 / 100 steps 30.8 / 31.1 / 31.1 dB; 3e-3: 12 / 25 / 50 steps 30.5 / 31.0 / 31.2 dB. The default STFT
# model (at 9000 training steps) kept gaining at 3e-3 (Table 1's natural images, same container MSE): 25 / 50 / 100
# steps 36.8 / 38.4 / 39.5 dB for 4.6 / 9.1 / 17.8 s on 2 threads; 50 is the default (18000 steps: 40.2 dB)
REFINE_STEPS = 50
REFINE_LR = 3e-3  # on [-1, 1] samples (about 100 16-bit levels)
# ours: the refined change is band-limited (each tile's spectrum cut above this). A 64 px face in speech_long.wav
# (shipped model, 50 steps), PSNR from the 16 kHz file / after soxr 16-44.1-16 kHz / ffmpeg to 48 kHz: full band
# 39.1 / 30.3 / 30.8 dB; 7800 Hz 39.0 / 30.3; 7600 Hz 38.5 / 37.8 / 37.3; 7400 Hz 38.0 / 37.6 / 37.6 (librosa's
# polyphase and FFT resamplers 37.4 / 37.7); 7200 Hz 37.4 / 37.1 / 37.1. Soxr's high-quality filter passes up to
# ~7.6 kHz of a 16 kHz signal, ffmpeg's and others a little less. After MP3 128k / Opus 64k / AAC 128k / resampling
# (benchmarks.robustness attacks, same stego): whole band 23.6 / 30.8 / 37.4 / 30.3 dB; 7400 Hz 26.9 / 35.7 / 36.8 /
# 37.6; 7000 Hz 29.0 / 34.4 / 36.2 / 36.9; 6500 Hz 30.9 / 33.6 / 34.8 / 35.3 (`-O band=7000` for files bound for MP3).
REFINE_BAND_HZ = 7400.0
QUIET_RUN = 64  # samples below 1 LSB in a row that mark a hidden segment as lost
# A trained model may leave its last stages all but idle (a residual of a few LSB: little is left to hide), and
# over digital silence in the cover such a segment rounds to silence and would read as lost. Hide adds this tone
# (1 kHz at 4 LSB, -78 dBFS) to those segments alone, so every hidden segment of an intact file reads as present.
KEEP_ALIVE = (4 / PCM * np.sin(2 * np.pi * 1000 / MODEL_RATE * np.arange(TILE_SAMPLES))).astype(np.float32)


@dataclass(frozen=True)
class NetConfig:
    """What a weights file holds: the network family and its size."""

    kind: str = "ditas"  # ditas | deepsteg | stft
    variant: str = "M-ED"
    stages: int = STAGES
    view: str = "raw"
    width: int = WIDTH
    blocks: int = 2  # residual blocks per sub-network (ditas) or conv layers - 1 (baselines)

    @property
    def channels(self) -> int:
        return 2 if self.view == "stft" else 1


class DitasNet(nn.Module):
    """t hiding and t revealing sub-networks (one of each for variant S), tensors N x C x H x W."""

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config, c = config, config.channels
        count = 1 if config.variant == "S" else config.stages
        self.hiders = nn.ModuleList([ConvNet(3 + c, c, config.width, config.blocks, link="E" in config.variant)
                                     for _ in range(count)])
        self.revealers = nn.ModuleList([ConvNet(c, 3, config.width, config.blocks, link="D" in config.variant)
                                        for _ in range(count)])

    def _net(self, nets: nn.ModuleList, i: int) -> ConvNet:
        return nets[0 if self.config.variant == "S" else i]  # type: ignore[return-value]

    def hide(self, secret: torch.Tensor, covers: torch.Tensor, carrier: Any, stages: int) -> dict[str, list]:
        """Hide N x 3 x H x W `secret` in `covers` (N x t x C x H x W); `carrier(view, i)` -> (16-bit view,
        audio). Returns per stage: containers (views), audio, targets S_i and reveals R_i."""
        total = torch.zeros_like(secret)
        out: dict[str, list] = {"views": [], "audio": [], "targets": [], "reveals": []}
        hid = rev = None
        for i in range(stages):
            target = secret - total
            delta, hid = self._net(self.hiders, i)(torch.cat([target, covers[:, i]], 1), hid)
            view, audio = carrier(covers[:, i] + delta, i)
            reveal, rev = self._net(self.revealers, i)(view, rev)
            total = total + reveal
            for name, value in zip(out, (view, audio, target, reveal), strict=True):
                out[name].append(value)
        return out

    def reveal(self, views: torch.Tensor, present: torch.Tensor, stages: int) -> torch.Tensor:
        """C_t from N x t x C x H x W container views; `present` (N x t x 1 x H x W) zeroes lost stages."""
        total, rev = 0, None
        for i in range(stages):
            reveal, rev = self._net(self.revealers, i)(views[:, i], rev)
            total = total + reveal * present[:, i]
        return total  # type: ignore[return-value]


class BalujaNet(nn.Module):
    """Baluja 2017 prep / hiding / revealing networks on the t subsequences stacked as channels (one stage)."""

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config, layers, tc = config, config.blocks + 1, config.stages * config.channels
        self.prep = plain_stack(3, config.width, config.width, 2)
        self.hider = plain_stack(config.width + tc, tc, config.width, layers)
        self.revealer = plain_stack(tc, 3, config.width, layers)

    def hide(self, secret: torch.Tensor, covers: torch.Tensor, carrier: Any, stages: int) -> dict[str, list]:
        n, t, c, h, w = covers.shape
        delta = self.hider(torch.cat([self.prep(secret), covers.reshape(n, t * c, h, w)], 1)).view(n, t, c, h, w)
        pairs = [carrier(covers[:, i] + delta[:, i], i) for i in range(t)]
        views = torch.stack([p[0] for p in pairs], 1)
        reveal = self.revealer(views.reshape(n, t * c, h, w))
        return {"views": [p[0] for p in pairs], "audio": [p[1] for p in pairs], "targets": [secret],
                "reveals": [reveal]}

    def reveal(self, views: torch.Tensor, present: torch.Tensor, stages: int) -> torch.Tensor:
        n, t, c, h, w = views.shape
        return self.revealer((views * present).reshape(n, t * c, h, w))


def build(config: NetConfig) -> DitasNet | BalujaNet:
    """The network a config describes (untrained)."""
    if config.variant not in VARIANTS or config.view not in VIEWS or not 1 <= config.stages <= MAX_STAGES:
        raise UsageError(f"bad network config {config}")
    return DitasNet(config) if config.kind == "ditas" else BalujaNet(config)


def save_net(net: nn.Module, config: NetConfig, path: Path, extra: dict[str, str] | None = None) -> None:
    """Weights with the config in the safetensors metadata."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    save_file(tensors, str(path), metadata={"config": json.dumps(asdict(config)), **(extra or {})})


def stored_config(path: Path) -> NetConfig | None:
    """The config a weights file was saved with (None: no such file)."""
    from safetensors import safe_open

    if not path.exists():
        return None
    with safe_open(str(path), "pt") as f:
        return NetConfig(**json.loads((f.metadata() or {})["config"]))


def load_net(path: Path, command: str = "crossteg train ditas") -> DitasNet | BalujaNet:
    """Build the network a weights file describes and load it strictly; `command` makes a missing file."""
    from safetensors.torch import load_file

    config = stored_config(path)
    if config is None:
        raise WeightsError(f"missing weights {path.name}: train them with `{command}` (sizes: see the shipped "
                           "cards) or reinstall crossteg")
    net = build(config)
    net.load_state_dict(load_file(str(path)), strict=True)
    return net.eval()


# Carrier: audio tiles <-> keyed 64 x 64 tensors (views), arranged as a mosaic the size of the padded image ------


def _stft(x: torch.Tensor) -> torch.Tensor:
    window = torch.hann_window(N_FFT, device=x.device)
    return torch.stft(x, N_FFT, HOP, window=window, center=True, return_complex=True)


def _istft(spec: torch.Tensor) -> torch.Tensor:
    window = torch.hann_window(N_FFT, device=spec.device)
    return torch.istft(spec, N_FFT, HOP, window=window, center=True, length=TILE_SAMPLES)


class Carrier:
    """Views of audio tiles for one batch: audio N x t x T x 4096 <-> mosaics N x t x C x (64 rows) x (64 cols).

    `perms`/`signs` (N x t x T x 64) scramble the rows of every tile's tensor (the key's part)."""

    def __init__(self, view: str, rows: int, cols: int, perms: torch.Tensor, signs: torch.Tensor) -> None:
        self.view, self.rows, self.cols = view, rows, cols
        self.perms, self.signs, self.unperms = perms, signs, torch.argsort(perms, -1)
        self.spec: torch.Tensor | None = None  # the cover's STFT, kept for the inverse of stft/mag views

    def _grid(self, audio: torch.Tensor) -> torch.Tensor:
        """N x t x T x 4096 -> N x t x T x C x 64 x 64 (unscrambled)."""
        if self.view == "raw":
            return audio.unflatten(-1, (1, TILE, TILE))
        spec = _stft(audio.flatten(0, 2)).unflatten(0, audio.shape[:3])
        self.spec = spec
        corner = spec[..., :TILE, :TILE] / STFT_SCALE
        if self.view == "mag":
            return corner.abs().unsqueeze(-3)
        return torch.stack([corner.real, corner.imag], -3)

    def _audio(self, grid: torch.Tensor, i: int) -> torch.Tensor:
        """N x T x C x 64 x 64 of stage i -> N x T x 4096."""
        if self.view == "raw":
            return grid.flatten(-3)
        assert self.spec is not None
        spec = self.spec[:, i].clone()
        if self.view == "mag":
            corner = torch.polar(torch.relu(grid[..., 0, :, :]) * STFT_SCALE, spec[..., :TILE, :TILE].angle())
        else:
            corner = torch.complex(grid[..., 0, :, :], grid[..., 1, :, :]) * STFT_SCALE
        spec = torch.cat([torch.cat([corner, spec[..., :TILE, TILE:]], -1), spec[..., TILE:, :]], -2)
        return _istft(spec.flatten(0, 1)).unflatten(0, spec.shape[:2])

    def _scramble(self, grid: torch.Tensor, perms: torch.Tensor, signs: torch.Tensor, inverse: bool) -> torch.Tensor:
        index = perms[..., None, :, None].expand(*grid.shape)
        if inverse:
            return torch.gather(grid * signs[..., None, :, None], -2, index)
        return torch.gather(grid, -2, index) * signs[..., None, :, None]

    def _mosaic(self, grid: torch.Tensor) -> torch.Tensor:
        """N x t x T x C x 64 x 64 -> N x t x C x H x W (tiles in raster order)."""
        n, t, _, c = grid.shape[:4]
        tiles = grid.reshape(n, t, self.rows, self.cols, c, TILE, TILE).permute(0, 1, 4, 2, 5, 3, 6)
        return tiles.reshape(n, t, c, self.rows * TILE, self.cols * TILE)

    def _tiles(self, mosaic: torch.Tensor) -> torch.Tensor:
        """N x C x H x W (one stage) -> N x T x C x 64 x 64."""
        n, c = mosaic.shape[:2]
        tiles = mosaic.reshape(n, c, self.rows, TILE, self.cols, TILE).permute(0, 2, 4, 1, 3, 5)
        return tiles.reshape(n, self.rows * self.cols, c, TILE, TILE)

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio tiles -> keyed views as mosaics, N x t x C x H x W."""
        return self._mosaic(self._scramble(self._grid(audio), self.perms, self.signs, inverse=False))

    def decode(self, mosaic: torch.Tensor, i: int) -> torch.Tensor:
        """Stage i's view mosaic (N x C x H x W) -> its audio tiles N x T x 4096."""
        grid = self._scramble(self._tiles(mosaic), self.unperms[:, i], self.signs[:, i], inverse=True)
        return self._audio(grid, i)

    def requantize(self, mosaic: torch.Tensor, i: int, mode: str = "round") -> tuple[torch.Tensor, torch.Tensor]:
        """Stage i's container as it comes back from the file: (view mosaic, audio tiles). `mode`: "round"
        (16-bit), "ste" (16-bit, straight-through gradient, for training) or "none" (float32 file)."""
        audio = self.decode(mosaic, i).clamp(-1, 1)
        if mode != "none":
            audio = quantize_ste(audio, PCM) if mode == "ste" else torch.round(audio * PCM) / PCM
        if self.view == "raw":
            grid = audio.unflatten(-1, (1, TILE, TILE))
        else:
            spec = _stft(audio.flatten(0, 1)).unflatten(0, audio.shape[:2])[..., :TILE, :TILE] / STFT_SCALE
            grid = spec.abs().unsqueeze(-3) if self.view == "mag" else torch.stack([spec.real, spec.imag], -3)
        grid = self._scramble(grid, self.perms[:, i], self.signs[:, i], inverse=False)
        n, _, c = grid.shape[:3]
        return self._mosaic(grid.unsqueeze(1)).reshape(n, c, self.rows * TILE, self.cols * TILE), audio

    def mask(self, present: torch.Tensor) -> torch.Tensor:
        """N x t x T booleans -> N x t x 1 x H x W float mask."""
        n, t, count = present.shape
        grid = present.float().view(n, t, count, 1, 1, 1).expand(n, t, count, 1, TILE, TILE)
        return self._mosaic(grid)


def refine_containers(net: DitasNet | BalujaNet, carrier: Carrier, secret: torch.Tensor, covers: torch.Tensor,
                      audio: torch.Tensor, steps: int, rounding: bool = True, band_hz: float = 0.0,
                      progress: Progress = no_progress) -> torch.Tensor:
    """Containers (1 x t x T x 4096 audio tiles, from the hiding networks) moved by `steps` Adam steps to lower
    MSE(C_t, secret) through the fixed revealing networks (nn/refine.py), each tile's change kept within the mean
    square the networks gave it and, with `band_hz`, its spectrum below it; on the 16-bit grid when `rounding`."""
    stages = audio.shape[1]
    present = carrier.mask(torch.ones(audio.shape[:3], dtype=torch.bool))
    kept = torch.fft.rfftfreq(TILE_SAMPLES, 1 / MODEL_RATE) <= (band_hz or MODEL_RATE)

    def to_file(x: torch.Tensor) -> torch.Tensor:
        if band_hz:
            x = covers + torch.fft.irfft(torch.fft.rfft(x - covers) * kept, TILE_SAMPLES)
        return quantize_ste(x.clamp(-1, 1), PCM) if rounding else x.clamp(-1, 1)

    def loss(x: torch.Tensor) -> torch.Tensor:
        return torch.mean((net.reveal(carrier.encode(x), present, stages) - secret) ** 2)

    return refine_stego(audio, covers, loss, to_file, steps, REFINE_LR, (-1,), progress)


def row_scramble(material: keys.KeyMaterial | None, shape: tuple[int, ...],
                 rng: np.random.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Row permutations and signs (shape + (64,)), from the key (or `rng` in training)."""
    gen = material.rng("ditas/rows") if material is not None else rng
    assert gen is not None
    count = int(np.prod(shape))
    perms = gen.permuted(np.tile(np.arange(TILE), (count, 1)), axis=1)
    signs = gen.integers(0, 2, (count, TILE)) * 2 - 1
    return (torch.from_numpy(perms).view(*shape, TILE), torch.from_numpy(signs.astype(np.float32)).view(*shape, TILE))


# The file format: a header at each end, keyed slots in between ---------------------------------------------


def padded(size: int) -> int:
    return TILE * math.ceil(size / TILE)


def largest_fit(height: int, width: int, pixels: float) -> tuple[int, int] | None:
    """The largest height x width of the same aspect whose 64 px tiles hold at most `pixels` (None: not even 1x1).
    Padding only adds pixels, so the exact area bounds the scale; below it the long side steps down one pixel at a
    time, so a size that fills whole tiles (128 x 128 in 7 tiles) is found rather than stepped over."""
    long = max(height, width)
    top = min(long, int(long * math.sqrt(pixels / (height * width))))
    return next(((h, w) for h, w in smaller_sizes(height, width, top) if padded(h) * padded(w) <= pixels), None)


@dataclass(frozen=True)
class Layout:
    """Where a secret of `height` x `width` lives: `slots[i, j]` is the 4096-sample slot of stage i, tile j."""

    height: int
    width: int
    stages: int
    total_slots: int
    first: int  # 16 kHz sample where slot 0 starts

    @property
    def rows(self) -> int:
        return padded(self.height) // TILE

    @property
    def cols(self) -> int:
        return padded(self.width) // TILE

    def slots(self, material: keys.KeyMaterial) -> np.ndarray:
        order = material.permutation("ditas/slots", self.total_slots)
        return order[: self.stages * self.rows * self.cols].reshape(self.stages, self.rows * self.cols)


def read_tiles(samples: np.ndarray, layout: Layout, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(t x T x 4096 audio, t x T present) from 16 kHz mono samples; missing or all-silent slots are absent."""
    starts = layout.first + slots * TILE_SAMPLES
    tiles = np.zeros((*slots.shape, TILE_SAMPLES), np.float32)
    for index, start in np.ndenumerate(starts):
        part = samples[start:start + TILE_SAMPLES]
        tiles[index][: len(part)] = part
    # lost = a run of 64 samples below 1 LSB (zeroed or cut): an intact segment carries the hidden change there
    quiet = np.cumsum(np.abs(tiles) < 1 / PCM, -1)
    quiet = np.concatenate([np.zeros((*slots.shape, 1), quiet.dtype), quiet], -1)
    present: np.ndarray = ~((quiet[..., QUIET_RUN:] - quiet[..., :-QUIET_RUN]) == QUIET_RUN).any(-1)
    return tiles, present


def header_struct(version: int, extra: str = "") -> struct.Struct:
    """The header of `version`, followed by a method's `extra` fields (struct format characters)."""
    return struct.Struct(HEADER_FORMATS[version] + extra)


def loudness(mono16: np.ndarray) -> float:
    """The level of 16 kHz samples outside the two header regions, scaled exactly by any change of volume: the
    energy-weighted RMS of 1024-sample blocks, sqrt(sum ms^2 / sum ms), which loud blocks dominate, so silent,
    zeroed or lost ones barely count; LEVEL_FLOOR for silence."""
    body = np.asarray(mono16[HEADER_SAMPLES:len(mono16) - HEADER_SAMPLES], np.float64)
    blocks = body[: len(body) // LEVEL_BLOCK * LEVEL_BLOCK].reshape(-1, LEVEL_BLOCK)
    ms = np.mean(blocks**2, 1)
    total = float(ms.sum())
    return max(math.sqrt(float(ms @ ms) / total) if total > 0 else 0.0, LEVEL_FLOOR)


def header_change(mono16: np.ndarray, material: keys.KeyMaterial, fields: tuple[Any, ...], aad: bytes,
                  extra: str = "") -> np.ndarray:
    """The 16 kHz change that writes the header (its keyed tag bound to `aad`) into both end regions, on a lattice
    scaled by the `loudness` of `mono16`."""
    bits = dither.message_bits(material, "ditas/header", header_struct(VERSION, extra).pack(*fields), aad)
    step = HEADER_STEP_PER_LEVEL * loudness(mono16)
    change = np.zeros_like(mono16)
    for part in (slice(0, HEADER_SAMPLES), slice(len(mono16) - HEADER_SAMPLES, len(mono16))):
        change[part] = dither.embed(mono16[part], bits, material, "ditas/header", step, MODEL_RATE)
    return change


@dataclass(frozen=True)
class Header:
    """A header that verified: its fields (version, variant, stages, view, height, width, slots, volume, *extra),
    the 16 kHz length hide wrote (version 4, else None), which copy read ("front", "back" or "both") and how."""

    fields: tuple[Any, ...]
    length: int | None
    copy: str
    version: int
    lattice: float


def find_header(mono16: np.ndarray, material: keys.KeyMaterial, aad: bytes, method_id: str,
                extra: str = "") -> Header:
    """The header from 16 kHz samples: the front copy, the back copy, or both combined, whichever verifies; on a
    lattice scaled by the file's `loudness` now (versions 3-4; then STEP_SEARCH around it), or version 2's fixed one
    (volume 0: not recorded). KeyError_ when none does (a wrong key, or no secret)."""
    step = HEADER_STEP_PER_LEVEL * loudness(mono16)
    tries = ((VERSION, step), (3, step), (2, HEADER_STEP), *((v, step * f) for f in STEP_SEARCH for v in (VERSION, 3)))
    for version, lattice in tries:
        header = header_struct(version, extra)
        count = 8 * (header.size + dither.TAG_BYTES)
        soft = {copy: dither.soft_bits(part, count, material, "ditas/header", lattice, MODEL_RATE)
                for copy, part in (("front", mono16[:HEADER_SAMPLES]), ("back", mono16[-HEADER_SAMPLES:]))
                if len(part) == HEADER_SAMPLES}
        if len(soft) == 2:
            soft["both"] = soft["front"] + soft["back"]
        for copy, candidate in soft.items():
            message = dither.read_message(candidate, material, "ditas/header", aad)
            if message is not None and message[0] == version:
                fields = header.unpack(message)
                if version == 2:
                    return Header((*fields[:7], 0.0, *fields[7:]), None, copy, version, lattice)
                if version == 3:
                    return Header(fields, None, copy, version, lattice)
                return Header((*fields[:8], *fields[9:]), fields[8], copy, version, lattice)
    raise KeyError_(f"wrong key, or no {method_id} secret in this file (or one cut at both ends, where its header is)")


def open_header(mono16: np.ndarray, material: keys.KeyMaterial, aad: bytes, method_id: str,
                extra: str = "") -> tuple[Any, ...]:
    """The fields of `find_header`."""
    return find_header(mono16, material, aad, method_id, extra).fields


def sample_at(samples: np.ndarray, start: float, count: int, margin: int = 256) -> np.ndarray:
    """`count` samples of the band-limited signal `samples` from the (fractional) position `start` on, zero
    outside it: the integer part sliced, the fraction by an FFT phase ramp over a margin either side."""
    whole = math.floor(start)
    first, stop = whole - margin, whole + count + margin
    part = np.zeros(stop - first, np.float64)
    lo, hi = max(first, 0), min(stop, len(samples))
    if lo < hi:
        part[lo - first:hi - first] = samples[lo:hi]
    fraction = start - whole
    if fraction:
        spectrum = np.fft.rfft(part)
        spectrum *= np.exp(2j * np.pi * np.fft.rfftfreq(len(part)) * fraction)
        part = np.fft.irfft(spectrum, len(part))
    return part[margin:margin + count].astype(np.float32)


def realign(mono16: np.ndarray, header: Header, material: keys.KeyMaterial, aad: bytes, extra: str = "") -> np.ndarray:
    """`mono16` re-timed to hide's, when only the back copy of a version 4 header read: a file whose start was cut
    or padded (its end intact). Its start moved by about length - len(mono16) samples; the shift within ALIGN_REACH
    of that which puts the back copy where hide wrote it most surely on its lattice (to 1/64 sample: resampling a
    44.1 kHz cut leaves fractions) re-times the file, which is then `header.length` long, zero where it was cut.
    An unchanged length means a front damaged in place (zeroed, noisy), not moved: the file is kept as it is."""
    length = header.length
    if header.copy != "back" or length is None or length == len(mono16):  # in place: its front damaged, not moved
        return mono16
    count = 8 * (header_struct(header.version, extra).size + dither.TAG_BYTES)

    def soft(shift: float) -> np.ndarray:  # the back copy's soft bits, were the start moved by `shift`
        part = sample_at(mono16, length - HEADER_SAMPLES - shift, HEADER_SAMPLES)
        return dither.soft_bits(part, count, material, "ditas/header", header.lattice, MODEL_RATE)

    best = float(length - len(mono16))
    for reach, step in ((ALIGN_REACH, 0.25), (0.25, 1 / 64)):
        best = max(best + np.arange(-reach, reach + step / 2, step), key=lambda shift: np.abs(soft(shift)).mean())
    if dither.read_message(soft(best), material, "ditas/header", aad) is None:  # no better timing than the file's
        return mono16
    best = round(best) if abs(best - round(best)) < 1 / 32 else best
    return sample_at(mono16, -best, length)


def rms(tiles: np.ndarray) -> float:
    """Root mean square of audio tiles (0 for none)."""
    return float(np.sqrt(np.mean(np.square(tiles, dtype=np.float64)))) if tiles.size else 0.0


class ImageInAudio(Method):
    """Shared hide/reveal of the image-in-audio networks: layout, key, 16-bit file, partial loss."""

    secret = ("image",)
    cover = ("audio",)
    stego_ext = (".wav",)
    view: ClassVar[str] = "raw"
    header_extra: ClassVar[str] = ""  # struct format of the fields `as_image` adds to the header
    refine_default: ClassVar[int] = 0  # hide-time refinement steps (ours); baselines keep the paper's one pass
    embedding_rate = MODEL_RATE

    def __init__(self, quality: str = "fast", stages: int = STAGES, allow_missing: bool = False,
                 weights: str | None = None, float32: bool = False, refine: int | None = None,
                 band: float = REFINE_BAND_HZ) -> None:
        super().__init__(quality)
        self.float32 = bool(float32)  # no 16-bit rounding in hiding: for a float32 WAV (--float32), to compare
        self.refine = self.refine_default if refine is None else int(refine)
        if self.refine < 0:
            raise UsageError(f"refine must be 0 (one pass, as the paper) or more steps, not {refine}")
        self.band = float(band)
        if not 0 <= self.band <= MODEL_RATE / 2:
            raise UsageError(f"band must be 0 (the whole band) or a frequency up to {MODEL_RATE // 2} Hz, not {band}")
        if not 1 <= int(stages) <= MAX_STAGES:
            raise UsageError(f"stages must be 1..{MAX_STAGES}, not {stages}")
        self.stages, self.allow_missing, self.weights_path = int(stages), bool(allow_missing), weights
        self._nets: dict[str, DitasNet | BalujaNet] = {}

    # what subclasses name ------------------------------------------------------------------------------------

    def weights_name(self, variant: str, view: str, stages: int) -> str:
        raise NotImplementedError

    def train_command(self, variant: str, view: str, stages: int) -> str:
        return f"crossteg train ditas --baseline {self.id}"

    def header_fields(self) -> tuple[str, str]:
        """(variant, view) this instance hides with."""
        return "M-ED", self.view

    # shared -----------------------------------------------------------------------------------------------------

    def net(self, variant: str, view: str, stages: int) -> DitasNet | BalujaNet:
        path = Path(self.weights_path) if self.weights_path else WEIGHTS_DIR / self.weights_name(variant, view, stages)
        if str(path) not in self._nets:
            self._nets[str(path)] = load_net(path, self.train_command(variant, view, stages))
        net = self._nets[str(path)]
        c = net.config
        if (c.variant, c.view) != (variant, view) or c.stages < stages or (c.kind != "ditas" and c.stages != stages):
            raise WeightsError(f"{path.name} is {c.kind} {c.variant} {c.view} with {c.stages} stages; "
                               f"this secret needs {variant} {view} with {stages}")
        return net

    def layout(self, frames16: int, height: int, width: int, stages: int) -> Layout:
        slots = min(MAX_SLOTS, max(0, (frames16 - 2 * GUARD) // TILE_SAMPLES))
        return Layout(height, width, stages, slots, GUARD)

    def capacity(self, cover: Audio) -> Capacity:
        """Secret pixels (after padding to 64 x 64 tiles) the cover holds at this stage count."""
        self.check_cover(cover)
        frames16 = round(cover.frames * MODEL_RATE / cover.sample_rate)
        slots = self.layout(frames16, 0, 0, self.stages).total_slots
        return Capacity((slots // self.stages) * TILE_SAMPLES, "pixels")

    def image_shape(self, secret: Any) -> tuple[int, int]:
        """(H, W) of what `as_image` hides, without building it."""
        h, w = secret.pixels.shape[:2]
        return h, w

    def as_image(self, secret: Any) -> tuple[np.ndarray, tuple[int, ...]]:
        """(H x W x 3 pixels to hide, extra header fields); a video method stacks its frames here."""
        return secret.pixels, ()

    def from_image(self, pixels: np.ndarray, extra: tuple[int, ...]) -> Any:
        """The secret from the revealed pixels and the extra header fields (inverse of `as_image`)."""
        return Image(np.ascontiguousarray(pixels))

    def describe(self, secret: Any) -> str:
        h, w = secret.pixels.shape[:2]
        return f"a {w}x{h} image"

    def secret_size(self, secret: Any) -> float:
        h, w = self.image_shape(secret)
        return float(padded(h) * padded(w))

    def check_fits(self, cover: Audio, secret: Image) -> None:
        size, cap = self.secret_size(secret), self.capacity(cover).amount
        if size > cap:
            need = (2 * GUARD + self.stages * size) / MODEL_RATE
            stages = f"{self.stages} stage{'s' * (self.stages != 1)}"
            raise CapacityError(f"{self.describe(secret)} ({size:.0f} pixels padded to 64 px tiles) with {stages} "
                                f"needs at least {need:.2f} s of audio; this cover is {cover.duration:.2f} s "
                                f"(holds {cap:.0f} pixels){self.fit_hint(secret, cap)}")

    def fit_hint(self, secret: Any, pixels: float) -> str:
        """How to make an image that does not fit fit: the largest size of its aspect this cover holds."""
        fit = largest_fit(*self.image_shape(secret), pixels) if isinstance(secret, Image) else None
        return f"; downscale the image to {fit[1]}x{fit[0]} or use a longer cover" if fit else ""

    def hide(self, cover: Audio, secret: Any, key: keys.Key = None, *, progress: Progress = no_progress) -> Audio:
        """The cover (same rate, at least 16 kHz, and channels) plus the hidden change, as 16-bit samples with the
        header."""
        self.check_cover(cover)
        self.check_fits(cover, secret)
        if cover.sample_rate < MODEL_RATE:  # a lower rate would cut the change's band (8 kHz: 39 -> 16 dB)
            warnings.warn(f"the cover is at {cover.sample_rate} Hz: the stego is written at {MODEL_RATE} Hz, the "
                          "band the hidden image needs", stacklevel=2)
            cover = cover.resample(MODEL_RATE)
        variant, view = self.header_fields()
        net, material = self.net(variant, view, self.stages), keys.derive(key, self.id)
        mono16 = cover.mono().resample(MODEL_RATE).samples[0].astype(np.float32)
        pixels, extra = self.as_image(secret)
        h, w = pixels.shape[:2]
        layout = self.layout(len(mono16), h, w, self.stages)
        slots = layout.slots(material)
        tiles, _ = read_tiles(mono16, layout, slots)
        carrier = Carrier(view, layout.rows, layout.cols, *row_scramble(material, (1, *slots.shape)))
        image = np.pad(pixels, ((0, padded(h) - h), (0, padded(w) - w), (0, 0)), mode="edge")
        progress("hiding", 0, 1)
        secret_t, covers = torch.from_numpy(image).permute(2, 0, 1)[None], torch.from_numpy(tiles)[None]
        with torch.no_grad():
            out = net.hide(secret_t, carrier.encode(covers),
                           lambda v, i: carrier.requantize(v, i, "none" if self.float32 else "round"),
                           self.stages)
        containers = torch.stack(out["audio"], 1)
        if self.refine:
            containers = refine_containers(net, carrier, secret_t, covers, containers, self.refine, not self.float32,
                                           self.band, progress)
        change = np.zeros_like(mono16)
        for i, audio in enumerate(containers.unbind(1)):
            for j, slot in enumerate(slots[i]):
                start = layout.first + slot * TILE_SAMPLES
                change[start:start + TILE_SAMPLES] = audio[0, j].numpy() - mono16[start:start + TILE_SAMPLES]
        def as_written() -> tuple[np.ndarray, np.ndarray]:  # the tiles reveal would read from the file so far
            return read_tiles(self._write(cover, change).mono().resample(MODEL_RATE).samples[0], layout, slots)

        tiles, present = as_written()
        if not present.all():  # a nearly idle stage over digital silence would read as lost audio: keep it present
            for start in layout.first + slots[~present] * TILE_SAMPLES:
                change[start:start + TILE_SAMPLES] += KEEP_ALIVE
            tiles, _ = as_written()
        volume = rms(tiles[0])  # stage 1's audio as reveal reads it from the file (the header lies outside it)
        fields = (VERSION, VARIANTS.index(variant), self.stages, VIEWS.index(view), h, w, layout.total_slots, volume,
                  len(mono16), *extra)
        change += header_change(mono16 + change, material, fields, self.id.encode(), self.header_extra)
        progress("hiding", 1, 1)
        return self._write(cover, change)

    def _write(self, cover: Audio, change16: np.ndarray) -> Audio:
        """The cover plus the 16 kHz change resampled to its rate (every channel), on the 16-bit grid unless
        `float32`."""
        change = Audio(change16[None], MODEL_RATE).resample(cover.sample_rate).samples[0]
        change = fit_length(change, cover.frames)
        stego = Audio(cover.samples + change[None], cover.sample_rate)
        return stego if self.float32 else Audio.from_int16(stego.to_int16(), cover.sample_rate)

    def reveal(self, stego: Audio, key: keys.Key = None, *, level: int = 1,
               progress: Progress = no_progress) -> Any:
        """The image from a stego file; with allow_missing, from the stages whose audio is intact."""
        self.check_cover(stego)
        if level != 1:
            raise UsageError(f"{self.id} has a single access level")
        material = keys.derive(key, self.id)
        mono16 = stego.mono().resample(MODEL_RATE).samples[0]
        header = find_header(mono16, material, self.id.encode(), self.id, self.header_extra)
        mono16 = realign(mono16, header, material, self.id.encode(), self.header_extra)
        _, variant, stages, view, h, w, total, volume, *extra = header.fields
        net = self.net(VARIANTS[variant], VIEWS[view], stages)
        layout = Layout(h, w, stages, total, GUARD)
        slots = layout.slots(material)
        tiles, present = read_tiles(mono16, layout, slots)
        now = rms(tiles[0][present[0]])  # stage 1's intact audio
        if volume and now and abs(volume / now - 1) > LEVEL_TOLERANCE:  # back to the volume it was hidden at
            tiles *= np.float32(volume / now)
        if not present.all() and not self.allow_missing:
            raise MediaError(f"{int((~present).sum())} of {present.size} hidden audio segments are missing or "
                             "silent; reveal with --allow-missing to use the intact stages")
        progress("revealing", 0, 1)
        image = self.reveal_tiles(net, VIEWS[view], tiles, present, layout, material)
        progress("revealing", 1, 1)
        return self.from_image(image[:h, :w], tuple(extra))

    def reveal_tiles(self, net: DitasNet | BalujaNet, view: str, tiles: np.ndarray, present: np.ndarray,
                     layout: Layout, material: keys.KeyMaterial) -> np.ndarray:
        """H' x W' x 3 image in [0, 1] from t x T audio tiles laid out with `material`'s rows."""
        carrier = Carrier(view, layout.rows, layout.cols, *row_scramble(material, (1, *tiles.shape[:2])))
        with torch.no_grad():
            views = carrier.encode(torch.from_numpy(tiles)[None])
            total = net.reveal(views, carrier.mask(torch.from_numpy(present)[None]), layout.stages)
        return total[0].clamp(0, 1).permute(1, 2, 0).numpy()


def default_pre(variant: str, stages: int, weights: str | None) -> str:
    """The pre-processing a hide uses unless told: what a given weights file was trained on; else STFT where a
    shipped model has it (M-ED, t <= 5: with 25 refinement steps 36.8 / 38.9 dB on Table 1's natural / face images
    at 5.5e-4 container MSE, against raw M-ED's 33.1 / 35.1 dB at 1.3e-3, benchmarks/results/ditas-tables.md), raw
    for the other variants and for t > 5 (raw models only)."""
    if weights:
        config = stored_config(Path(weights))
        return config.view if config is not None and config.view in PRE else "raw"
    return "stft" if variant == "M-ED" and stages <= STAGES else "raw"


@register
class Ditas(ImageInAudio):
    """DITAS: the image's decreasing residuals hidden stage by stage in non-overlapping audio subsequences."""

    id = "ditas"
    title = "DITAS: image in audio by multi-stage residual hiding"
    paper = "ditas"
    weights = ("ditas-M-ED-stft.safetensors",)
    refine_default: ClassVar[int] = REFINE_STEPS

    def __init__(self, quality: str = "fast", variant: str = "M-ED", stages: int = STAGES, pre: str | None = None,
                 allow_missing: bool = False, weights: str | None = None, float32: bool = False,
                 refine: int | None = None, band: float = REFINE_BAND_HZ) -> None:
        """`variant`: M, M-E, M-D, M-ED or S; `stages`: t (1-10); `pre`: raw or stft (default: `default_pre`);
        `weights`: a file; `float32`: hide without 16-bit rounding (save with --float32); `refine`: hide-time
        refinement steps (ours; 0 = the paper's one pass); `band`: the refined change's top frequency in Hz (0: the
        whole band)."""
        super().__init__(quality, stages, allow_missing, weights, float32, refine, band)
        if variant not in VARIANTS:
            raise UsageError(f"variant must be one of {', '.join(VARIANTS)}, not {variant}")
        pre = default_pre(variant, self.stages, weights) if pre is None else pre
        if pre not in PRE:
            raise UsageError(f"pre must be {' or '.join(PRE)}, not {pre}")
        self.variant, self.pre = variant, pre

    def weights_name(self, variant: str, view: str, stages: int) -> str:
        """ditas-<variant>[-stft][-t10].safetensors: the t = 10 file serves 6-10 stages."""
        return f"ditas-{variant}{'-stft' if view == 'stft' else ''}{'-t10' if stages > STAGES else ''}.safetensors"

    def header_fields(self) -> tuple[str, str]:
        return self.variant, self.pre

    def train_command(self, variant: str, view: str, stages: int) -> str:
        extra = (" --pre stft" if view == "stft" else "") + (f" --stages {MAX_STAGES}" if stages > STAGES else "")
        return f"crossteg train ditas --variant {variant}{extra}"
