"""THInImg (Zhao, Li, Ning, Jiang): long speech hidden in a face image by an invertible network, nested levels.

    speech 1 ──Comp (codecs/mel.py: log-mel, split + stitch, length header)──> A_1 (c x 160 x 160)
             ──keyed tile shuffle + inversion (level-1 key)──> A_s1 ───────────────┐
    cover ──160 x 160 tiles────────────────────────────────────────────────────────┼─ E1 (nn/coupling.py) ──> I_c
                                                                                    │   8-bit PNG, 160 x 160
    [speech 2 ──Comp──> keyed shuffle (level-2 key)──> A_s2 ─ E2(A_s2 in A_s1) ──> A_s1, nested model, sec. 3.3]
    reveal level 1:  I_c ──E1 reverse──> A_s1R ──unshuffle (key 1)──> header, mel ──vocoder──> speech 1
    reveal level 2:  I_c ──E1 reverse──> A_s1R ──E2 reverse──> A_s2R ──unshuffle (key 2)──> speech 2

Our choices where the paper is silent (see also the weights cards):
* Keys: the paper has none. Each level's hidden tensor is cut into 8 x 8 tiles that are permuted, and half of
  them inverted (x -> 1 - x), by streams derived from that level's key (keys.py); the network is trained on
  randomly shuffled tensors, so it hides any key's shuffle. A wrong key reads a different tile order: the
  length header decodes to noise and the padding after the clip to a mix of tiles, and reveal says so (KeyError_,
  exit 4) instead of vocoding scrambled tiles (HeaderRead.accepted).
  Level 2 has its own key (`-O level2_key=...` on hide; `--level 2 --key` that key on reveal); without it the
  level-1 key is used for both levels (with a different label, so the two shuffles differ).
* Covers: the paper's are 160 x 160 (resized FFHQ faces). A larger cover is cut into a centred grid of
  160 x 160 tiles, each a container of its own (the margins stay untouched), and the stego keeps the cover's
  size: capacity is 10.04 s of speech (c = 2 mel channels) per tile and level; a longer clip continues in the
  next tile (every tile's header holds the clip's total length, so reveal knows how many tiles to read), and
  unused tiles are left untouched. Covers under 160 x 160 are refused. For the paper's
  setting, resize the face to 160 x 160 first (assets/face160.png is one).
* Level: every secret is peak-normalised to the training speech's peak (0.9) before compression, so a quiet
  recording is not hidden near the mel's -100 dB floor, where the vocoder loses quality (`speech_samples`); the
  paper normalises only the spectrogram. The revealed speech therefore comes back at that level.
* Longer speech per tile (Table 2: 0-20/40/80 s with c = 4/8/16 channels) uses the single-layer models
  thinimg-mel-20s/40s/80s where they are shipped: `model="auto"` hides with the 10 s model whenever the clip fits
  the cover's tiles with it (the best quality), else with the shortest longer model that fits; `-O model=20s`
  forces one.
* Table 1's other speech formats, raw samples (c = 7) and the STFT (c = 4), have single-layer models of their own
  (thinimg-raw-10s, thinimg-stft-10s, where shipped), used only when asked for: `-O model=raw|stft`, at hide and
  at reveal. The mel is the default: the paper's best format (Table 1).
* Beyond the paper (ours): hide-time refinement (nn/refine.py). After E1's one pass, `refine` Adam steps move the
  container's pixels, 8-bit rounding straight-through, so that reveal (E1 reverse, and E2 reverse for level 2)
  returns each level's hidden tensor better; each tile's change is kept within the mean square the one pass
  gave it, so the container is as close to the cover as before. It wins back most of what saving the 8-bit PNG
  costs the hidden tensor. Its loss weighs a mel value's error by the value's loudness (the error in loud bins is
  the one heard; `loudness_weights`). Format, keys and reveal are unchanged; `refine=0` is the paper's one pass.
* Ours: `-O model=robust` hides with thinimg-mel-10s-robust where shipped: the 10 s model fine-tuned to reveal
  through Gaussian noise on the 8-bit container (`crossteg train thinimg --noise`), so that a picture whose pixels
  moved a level or two (dithering, filters, colour conversions) still gives its speech back; it costs some of the
  container's PSNR (benchmarks/results/thinimg-noise.md has both models' numbers). Lossy re-encoding (JPEG,
  resizing) still loses the clip.
* Which model wrote a container is not stored: reveal at level 1 tries every single-layer model present (the
  robust one too) and the nested one and keeps the one whose length header decodes most exactly, less its
  padding's size, among the reads it accepts (`model="auto"`, `HeaderRead.score`).
* Ours: reveal warns when the container's pixels changed since hiding, from the length header read back as a
  pilot against the model's clean level (`header_psnr`, `warn_if_degraded`, DEGRADED_DB below).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossteg import keys
from crossteg.codecs import mel
from crossteg.codecs import vocoder as vocoder_module
from crossteg.errors import CapacityError, KeyError_, UsageError, WeightsError
from crossteg.media.audio import Audio, conformed
from crossteg.media.image import Image
from crossteg.methods.base import WEIGHTS_DIR, Capacity, Method, Progress, no_progress, register
from crossteg.nn.coupling import CouplingConfig, CouplingNet, round_8bit
from crossteg.nn.refine import refine_stego

TILE = 8  # keyed shuffle granularity in pixels of the hidden tensor (ours)
SPEECH_PEAK = 0.9  # secrets are hidden at the training speech's peak (train/data normalises every clip to it)
SILENCE_PEAK = 1e-4  # a clip quieter than this (-80 dBFS) is left as it is rather than amplified noise
SINGLE, NESTED = "thinimg-mel-10s", "thinimg-nested-10s"
LONGER = {"20s": "thinimg-mel-20s", "40s": "thinimg-mel-40s", "80s": "thinimg-mel-80s"}  # Table 2, when shipped
OTHER_FORMATS = {"raw": "thinimg-raw-10s", "stft": "thinimg-stft-10s"}  # Table 1's other formats (sec. 4.4)
ROBUST = "thinimg-mel-10s-robust"  # ours: SINGLE fine-tuned to reveal through pixel noise (train thinimg --noise)
NAMED = {**LONGER, **OTHER_FORMATS, "robust": ROBUST}  # the single-layer model a name forces (-O model=20s, ...)
MODELS = ("auto", "single", "nested", *NAMED)
# ours: hide-time refinement (nn/refine.py) of the container tiles through the fixed revealing module(s). Sweep
# (thinimg-mel-10s, 4 held-out clips in 2 faces, hybrid vocoder, from the PNG; one pass: hidden-tensor PSNR
# 35.9 dB, PESQ-WB 2.58, STOI 0.920): Adam 1e-4 x 30 steps 38.8 dB / 2.70 / 0.938; 1e-4 x 60 38.8 / 2.68 / 0.939;
# 5e-5 x 60 39.1 / 2.68 / 0.938; 2e-4 x 30 38.3 / 2.64 / 0.933; 1e-3 or more: the first steps move every pixel
# across a rounding boundary and the loss rises 7x. Container PSNR unchanged (38.9 dB). ~0.3 s a step per tile.
# A smaller budget (0.8 x the one pass's mean square: container +0.5 dB) left the tensor at 36.1 dB, PESQ 2.47.
# Again with the current weights (one-off, the 5 bundled clips in face160.png, the one pass's change shrunk by
# sqrt(s) before refining): one pass 40.75 dB / PESQ-WB 2.81, s = 1 40.76 / 3.01, 0.63 42.73 / 2.52, 0.5
# 43.70 / 2.01, 0.4 44.63 / 1.60: the paper's container PSNR (41.5) costs more speech than refinement wins.
# Nested model (2 held-out pairs, levels 1 / 2 PESQ-WB): one pass 1.58 / 1.63, 30 steps 1.63 / 1.91, 60 steps
# 1.62 / 1.85 (at 2x the time): the same default.
# reveal keeps the model whose read scores best (HeaderRead.score: the header's confidence, mel.read_header, less the
# padding's mean size) among the reads it accepts (HeaderRead.accepted): a length the container can hold, and a
# confidence of at least MIN_HEADER_CONFIDENCE, or QUIET_HEADER_CONFIDENCE where the clip leaves at least
# MIN_PADDING_VALUES of padding and that padding reads near 0 (mean at most MAX_PADDING_LEVEL). The padding is the
# second, independent witness of the right key: a wrong key unscrambles tiles of speech and inverted tiles of padding
# into it (mean 0.48-0.51 in 256 wrong-key reads of 32 containers; a right key 0.00-0.01), and a header made of such
# tiles can look confident: a wrong key read a 40 s model's container at 0.77, a length too long for its one tile. Right
# keys read 0.90-1.00 from the 10-40 s models' PNGs, but 0.49-0.78 from the 80 s model's (16 channels; its bits still
# decode exactly), which the confidence floor alone (0.7) refused. benchmarks/thinimg_tables.py --tables keys measures
# both rates for every shipped model.
MIN_HEADER_CONFIDENCE = 0.7
QUIET_HEADER_CONFIDENCE = 0.4
MAX_PADDING_LEVEL = 0.15
MIN_PADDING_VALUES = 4 * mel.N_MELS  # four frames: the padding of a wrong key spans at least ten 8 x 8 tiles
REFINE_STEPS = 30
REFINE_LR = 1e-4  # on [0, 1] pixels: a quarter of an 8-bit level
# ours: refinement weighs each mel value's error by LOUDNESS_FLOOR + its level (loudness_weights). The revealed mel's
# error is largest where the speech is loud (|error| 0.015 there against 0.004 below -70 dB, 10 s model), and there
# it is heard: at equal tensor PSNR (2 bundled clips), the revealed mel vocoded at PESQ-WB 2.58-2.82 where Gaussian
# noise over the whole mel scored 2.73-2.84 (nested model's levels: 1.71-2.66 against 2.50-3.35). Measured
# (PESQ-WB from the PNG, hybrid vocoder, 30 steps, container PSNR unchanged):
# 10 s model, the first 8 clips of table 1's held-out voices and of table 1r's recorded speakers: plain MSE 2.88,
# floor 0.05 / 0.1 / 0.3: 2.99 / 3.01 / 2.96; 16 other clips of the same sets (seed 77): 2.99 -> 3.04 with 0.1.
# Nested model, levels 1 / 2: 1.81 / 2.35 -> 1.89 / 2.58 on those 16 pairs, 2.02 / 2.22 -> 1.78 / 2.39 on 8 of the
# first (level 1's change is within its spread over so few pairs). benchmarks/results/thinimg-tables.md, refined rows
# (plain MSE -> weighted): table 1 held-out 2.79 -> 2.85, recorded 3.09 -> 3.26 (on the recorded set before
# train/data.MIN_RECORDING_PEAK took line noise out of it; 3.15 after); nested 1.73 / 2.16 -> 1.89 / 2.21.
LOUDNESS_FLOOR = 0.1
# ours: where the refined container's length header does not read back right, hide refines the one pass again with
# the header's 960 values weighing this share of the loss (by their count alone 1.9 % at c = 2, 0.2 % at c = 16).
# Plain refinement left one bit of a 24 s clip's header flipped in an 80 s candidate model's container (one of
# table 2's 12 clips); a share of 0.1 or 0.3 reads it back exactly, confidence 0.65. Not the first try: on the 12
# recorded-voice clips of table 1r (10 s model) weighting cost PESQ-WB 3.19 -> 3.00 (tensor 39.73 -> 39.67 dB).
HEADER_SHARE = 0.1
# ours: reveal warns when the container's pixels have changed since hiding. The length header is a pilot: once its
# length is decoded, reveal knows the 960 values it should read there, and their PSNR tracks the revealed speech's
# under pixel noise (10 s and 20 s models, Gaussian noise of std 0 / 0.5 / 1 / 2 levels on a saved container: header
# 36.3 / 29.7 / 26.5 / 18.9 dB against the speech 37.6 / 29.9 / 25.5 / 19.2 dB, PESQ-WB 3.35 / 2.68 / 1.53 / 1.06).
# Each model's clean level is its card's "levelN_clean_header_psnr": the lowest over the 12 one-pass containers of
# benchmarks/thinimg_tables.py --tables keys, which writes it (10 s model: 30.2 dB). Untouched containers of the
# bundled and 6 recorded clips read 33.3-34.7 dB one pass, 37.3-39.1 dB refined (the default), so reveal warns
# this many dB below the lowest, where noise of std 1-1.5 levels has cost the speech about 1.5 PESQ-WB. ImageMagick
# edits of a saved container (speech_2.wav, PESQ-WB 3.23 untouched): gamma 1.02 / brightness +5 levels / saturation
# 102 %: header 34.9 / 34.3 / 31.7 dB, PESQ-WB 3.21 / 3.17 / 2.84, silent; unsharp 0x0.5 / blur 0x0.3: 25.1 / 21.4 dB,
# PESQ-WB 1.05 / 2.02, warned.
DEGRADED_DB = 4.0


# Keyed shuffle of the hidden tensor ---------------------------------------------------------------------


def n_tiles(shape: tuple[int, ...], tile: int = TILE) -> int:
    """Tiles of a c x H x W tensor."""
    return shape[0] * (shape[1] // tile) * (shape[2] // tile)


def _tiles(tensor: np.ndarray, tile: int) -> np.ndarray:
    c, h, w = tensor.shape
    return tensor.reshape(c, h // tile, tile, w // tile, tile).transpose(0, 1, 3, 2, 4).reshape(-1, tile, tile)


def _untiles(tiles: np.ndarray, shape: tuple[int, ...], tile: int) -> np.ndarray:
    c, h, w = shape
    return np.ascontiguousarray(tiles.reshape(c, h // tile, w // tile, tile, tile).transpose(0, 1, 3, 2, 4)
                                .reshape(shape))


def scramble(tensor: np.ndarray, perm: np.ndarray, flips: np.ndarray, tile: int = TILE) -> np.ndarray:
    """Tile j of the output is tile perm[j] of the input, inverted (1 - x) where flips[j]."""
    tiles = _tiles(tensor, tile)[perm]
    return _untiles(np.where(flips.astype(bool)[:, None, None], 1.0 - tiles, tiles), tensor.shape, tile)


def unscramble(tensor: np.ndarray, perm: np.ndarray, flips: np.ndarray, tile: int = TILE) -> np.ndarray:
    """Inverse of `scramble` with the same perm and flips."""
    shuffled = _tiles(tensor, tile)
    tiles = np.empty_like(shuffled)
    tiles[perm] = np.where(flips.astype(bool)[:, None, None], 1.0 - shuffled, shuffled)
    return _untiles(tiles, tensor.shape, tile)


def level_shuffle(key: keys.Key, level: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(perm, flips) of one access level, derived from its key."""
    material = keys.derive(key, "thinimg")
    n = n_tiles(shape)
    return (material.permutation(f"thinimg/level-{level}/tiles", n),
            material.keystream_bits(f"thinimg/level-{level}/flips", n))


# Weights ------------------------------------------------------------------------------------------------


@dataclass
class Model:
    """A loaded THInImg model: one embedding-revealing module per nesting layer, and its card."""

    layers: list[CouplingNet]
    layout: mel.Layout
    card: dict[str, Any]


@dataclass(frozen=True)
class HeaderRead:
    """What one model reads from a container for one key and level (`THInImg._read`)."""

    confidence: float  # of the length header (mel.read_header): 1 clean, near 0 for noise
    total: int  # the clip's length in samples the header holds
    model: Model
    plausible: bool  # 0 < total <= what the container's tiles hold with this model
    padding: float | None = None  # mean |value| of the padding after the clip (None: too little of it to judge)

    @property
    def accepted(self) -> bool:
        """A right key's read: a plausible length, a confident header, and where the clip leaves padding, padding
        that reads near 0 (a wrong key gathers tiles of speech and inverted tiles there: mean about 0.5)."""
        return self.plausible and not self.loud_padding and self.confidence >= self.floor

    @property
    def loud_padding(self) -> bool:
        """The padding after the clip does not read near 0: not the right key, whatever the header says."""
        return self.padding is not None and self.padding > MAX_PADDING_LEVEL

    @property
    def floor(self) -> float:
        """The header confidence this read needs: lower where the padding after the clip can witness the key."""
        return MIN_HEADER_CONFIDENCE if self.padding is None else QUIET_HEADER_CONFIDENCE

    @property
    def score(self) -> float:
        """How well this read fits the writer's model, to choose among accepted reads: the header's confidence
        less the padding's mean size (the writer's model reads it 0.00-0.01; a nested model reading a single-layer
        model's container read 0.11, with a header as confident)."""
        return self.confidence - (self.padding or 0.0)

    def why_refused(self) -> str:
        """What is wrong with a refused read, for error messages."""
        if not self.plausible:
            return (f"its length header reads {self.total} samples, more than the container holds" if self.total else
                    "its length header reads an empty clip")
        if self.loud_padding:
            return f"the padding after the speech does not read empty (mean {self.padding:.2f})"
        return f"its length header reads with confidence {self.confidence:.2f} (needs {self.floor})"


def padding_level(rest: np.ndarray) -> float | None:
    """HeaderRead.padding of the values after a clip (mel.padding): their mean size, None when too few to judge."""
    return float(np.abs(rest).mean()) if rest.size >= MIN_PADDING_VALUES else None


def header_psnr(tensors: list[np.ndarray], layout: mel.Layout, total: int) -> float:
    """PSNR (dB, peak 1) of the length headers of revealed, unscrambled tensors against the header hide wrote for
    `total` samples (each tile's holds the total): the reveal's error where the reader knows the answer."""
    reference, mask = mel.header_reference(layout, total), mel.header_mask(layout)
    mse = float(np.mean([np.mean((tensor[mask] - reference) ** 2) for tensor in tensors]))
    return 10 * np.log10(1 / max(mse, 1e-12))


def warn_if_degraded(model: Model, level: int, pilot: float) -> None:
    """Warn when the header reads DEGRADED_DB below the clean level measured for `model` (its card's): the pixels
    changed since hiding, and the speech comes back worse by about as much. Silent for a card without it."""
    clean = model.card.get("metrics", {}).get(f"level{level}_clean_header_psnr")
    if clean is not None and pilot < clean - DEGRADED_DB:
        warnings.warn(f"the container's pixels have changed since hiding (noise, lossy re-saving or editing): its "
                      f"length header reads back at {pilot:.1f} dB where an untouched one reads at least {clean:.1f} "
                      "dB, and the revealed speech has lost about as much", stacklevel=3)


def build_layers(config: CouplingConfig, nested: bool) -> list[CouplingNet]:
    """Fresh modules: E1 (image | c), plus E2 (c | c) when nested (sec. 3.3)."""
    layers = [CouplingNet(config)]
    if nested:
        layers.append(CouplingNet(CouplingConfig(**{**config.to_dict(), "image_channels": config.secret_channels})))
    return layers


def state_dict(layers: list[CouplingNet]) -> dict[str, torch.Tensor]:
    """All layers' weights, prefixed layer1., layer2. ..."""
    return {f"layer{k + 1}.{name}": v.detach().cpu().contiguous()
            for k, net in enumerate(layers) for name, v in net.state_dict().items()}


def load_model(name: str, weights_dir: Path = WEIGHTS_DIR) -> Model:
    """Load weights + card strictly, checking the sha256; WeightsError says how to get them when missing."""
    files = [Path(weights_dir) / f"{name}{suffix}" for suffix in (".json", ".safetensors")]
    stamp = tuple(f.stat().st_mtime_ns if f.exists() else 0 for f in files)  # a re-written file is re-read
    return _load_model(name, str(weights_dir), stamp)


@lru_cache(maxsize=4)
def _load_model(name: str, weights_dir: str, stamp: tuple[int, ...]) -> Model:
    import hashlib

    from safetensors.torch import load_file

    folder = Path(weights_dir)
    card_path, weights_path = folder / f"{name}.json", folder / f"{name}.safetensors"
    if not card_path.exists() or not weights_path.exists():
        flags = {NESTED: " --nested", ROBUST: " --noise 1 --resume"}.get(name, "")
        raise WeightsError(f"thinimg weights {name} are missing from {folder}: run `crossteg train thinimg{flags}` "
                           "to make them")
    card = json.loads(card_path.read_text())
    if hashlib.sha256(weights_path.read_bytes()).hexdigest() != card.get("sha256"):
        raise WeightsError(f"{weights_path.name} does not match the sha256 in its card; re-train or restore it")
    arch = card["architecture"]
    config = CouplingConfig(**arch["coupling"])
    layers = build_layers(config, arch["nested"])
    state = load_file(str(weights_path))
    for k, net in enumerate(layers):
        prefix = f"layer{k + 1}."
        net.load_state_dict({n[len(prefix):]: v for n, v in state.items() if n.startswith(prefix)}, strict=True)
        net.eval()
    expected = {f"layer{k + 1}." + n for k, net in enumerate(layers) for n in net.state_dict()}
    if set(state) != expected:
        raise WeightsError(f"{weights_path.name} holds unexpected tensors for its card's architecture")
    return Model(layers, mel.Layout(arch["format"], config.secret_channels), card)


# The method ---------------------------------------------------------------------------------------------


@contextmanager
def inference() -> Iterator[None]:
    """No gradients, one torch thread: this 0.6 M-parameter network runs a 160 x 160 tile in 0.7 s on one
    thread but took 8-21 s on two on the shared 2-core machine (thread spinning under load, measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            yield
    finally:
        torch.set_num_threads(threads)


def tile_corners(height: int, width: int) -> list[tuple[int, int]]:
    """Top-left corners of the 160 x 160 tiles a cover holds: a centred grid, row by row."""
    rows, cols = height // mel.SIDE, width // mel.SIDE
    top, left = (height - rows * mel.SIDE) // 2, (width - cols * mel.SIDE) // 2
    return [(top + r * mel.SIDE, left + c * mel.SIDE) for r in range(rows) for c in range(cols)]


def tiles_of(image: Image) -> np.ndarray:
    """T x 3 x 160 x 160: the cover's tiles as the model sees them."""
    px = image.pixels
    return np.stack([px[y:y + mel.SIDE, x:x + mel.SIDE].transpose(2, 0, 1)
                     for y, x in tile_corners(*px.shape[:2])])


def speech_samples(audio: Audio) -> np.ndarray:
    """Mono 16 kHz samples of a speech secret (eq. 3 works at 16 kHz, sec. 4.3), peak-normalised to SPEECH_PEAK.

    Every model here was trained on speech of that peak; a quiet recording's mel sinks toward the codec's floor,
    where the vocoder alone, on the original mel, fell from PESQ-WB 3.02 to 2.86 / 2.73 / 2.04 at 1/10, 1/30,
    1/100 of the level (6 held-out clips). The revealed speech comes back at this level, not the original's."""
    samples = audio.mono().resample(mel.SAMPLE_RATE).samples[0]
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    return (samples * (SPEECH_PEAK / peak)).astype(np.float32) if peak > SILENCE_PEAK else samples


def _say_level_change(secrets: list[Audio], hidden: list[np.ndarray]) -> None:
    """Warn when a clip is hidden (and so revealed) 6 dB or more away from its own level (speech_samples)."""
    for number, (secret, samples) in enumerate(zip(secrets, hidden, strict=True), 1):
        before, after = float(np.abs(secret.samples).max(initial=0.0)), float(np.abs(samples).max(initial=0.0))
        change = 20 * np.log10(after / before) if before > SILENCE_PEAK and after > 0 else 0.0
        if abs(change) >= 6:
            which = f"clip {number}" if len(secrets) > 1 else "the clip"
            warnings.warn(f"thinimg hides speech at its training level: {which} comes back {abs(change):.0f} dB "
                          f"{'louder' if change > 0 else 'quieter'} than it was", stacklevel=3)


def reveal_error(layers: list[CouplingNet], targets: list[torch.Tensor], containers: torch.Tensor,
                 weights: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Sum over the levels of the (weighted) MSE between the tensor reveal returns (eq. 9, level by level) and the
    one hidden at that level: the loss of hide-time refinement. `weights`: per value, broadcast over the tiles."""
    error, tensor = containers.new_zeros(()), containers
    for k, (layer, target) in enumerate(zip(layers, targets, strict=True)):
        tensor = layer.reverse(tensor)[1]
        squares = (tensor - target) ** 2
        error = error + torch.mean(squares if weights is None else squares * weights[k])
    return error


def placed_weights(weights: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Per-value weights of the unshuffled tensor, scaled to mean 1 and moved where the shuffle `perm` puts each
    value (placement only: a weight does not flip with its value)."""
    return scramble(weights / weights.mean(), perm, np.zeros(len(perm), np.uint8))


def header_weights(layout: mel.Layout, perm: np.ndarray) -> np.ndarray:
    """reveal_error's weights for one level's shuffled tensor (c x 160 x 160, mean 1): the length header's values
    carry HEADER_SHARE of the loss. A flipped header bit loses the whole clip, a mel value's error a little of it."""
    mask = mel.header_mask(layout)
    heavy = HEADER_SHARE / (1 - HEADER_SHARE) * (mask.size - mask.sum()) / mask.sum()
    return placed_weights(np.where(mask, heavy, 1.0).astype(np.float32), perm)


def loudness_weights(tensors: np.ndarray, shuffle: tuple[np.ndarray, np.ndarray], layout: mel.Layout) -> np.ndarray:
    """reveal_error's weights for one level's hidden tensors (T x c x 160 x 160, shuffled; each tensor's mean 1):
    a mel value's error weighs LOUDNESS_FLOOR + its level (0 at the mel's -100 dB floor, 1 at its 0 dB top), the length
    header's values the mean of the rest. Other formats: all 1."""
    if layout.fmt != "mel":
        return np.ones_like(tensors)
    perm, flips = shuffle
    mask = mel.header_mask(layout)
    placed = []
    for tensor in tensors:
        weights = LOUDNESS_FLOOR + unscramble(tensor, perm, flips)
        weights[mask] = weights[~mask].mean()
        placed.append(placed_weights(weights, perm))
    return np.stack(placed).astype(np.float32)


def pasted(cover: Image, tiles: np.ndarray) -> Image:
    """The 8-bit cover with its first len(tiles) 160 x 160 tiles (T x 3 x 160 x 160 in [0, 1]) replaced."""
    pixels = cover.pixels.copy()
    for (y, x), tile in zip(tile_corners(cover.height, cover.width), tiles, strict=False):
        pixels[y:y + mel.SIDE, x:x + mel.SIDE] = tile.transpose(1, 2, 0)
    return Image.from_uint8(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8))


def segments(samples: np.ndarray, count: int, size: int) -> list[np.ndarray]:
    """`samples` cut into `count` consecutive pieces of at most `size` (the tail ones may be empty)."""
    return [samples[k * size:(k + 1) * size] for k in range(count)]


@register
class THInImg(Method):
    """Speech (10 s per 160 x 160 tile and level) hidden in a face image by an invertible coupling network."""

    id = "thinimg"
    title = "THInImg: speech in a face image, invertible network, 2 access levels"
    paper = "Zhao, Li, Ning, Jiang: THInImg: Cross-modal Steganography for Presenting Talking Heads in Images"
    secret = ("audio",)
    cover = ("image",)
    stego_ext = (".png",)
    weights = (f"{SINGLE}.safetensors", f"{SINGLE}.json")  # the nested model is needed only for 2 secrets
    levels = 2
    max_secrets = 2
    local_embedding = True  # a clip fills only the 160 px tiles it needs of a large photo

    def __init__(self, quality: str = "fast", model: str = "auto", level2_key: str | None = None,
                 weights_dir: str | None = None, vocoder: str = "auto", refine: int = REFINE_STEPS) -> None:
        """`refine`: hide-time refinement steps (ours; 0 = the paper's one pass of the network)."""
        super().__init__(quality)
        if model not in MODELS:
            raise UsageError(f"thinimg model must be one of {', '.join(MODELS)}, not {model!r}")
        self.refine = int(refine)
        if self.refine < 0:
            raise UsageError(f"refine must be 0 (one pass, as the paper) or more steps, not {refine}")
        self.model, self.level2_key = model, level2_key
        self.vocoder = vocoder_module.resolve(vocoder)  # -O vocoder=griffin-lim|neural|hybrid|auto
        self.weights_dir = Path(weights_dir) if weights_dir else WEIGHTS_DIR

    def weights_present(self) -> bool:
        return all((self.weights_dir / name).exists() for name in self.weights)

    def _load(self, name: str) -> Model:
        return load_model(name, self.weights_dir)

    def _singles(self) -> list[str]:
        """The single-layer models this instance may hide with, shortest capacity first."""
        if self.model in NAMED:
            return [NAMED[self.model]]
        longer = [n for n in LONGER.values() if (self.weights_dir / f"{n}.safetensors").exists()]
        return [SINGLE, *longer] if self.model == "auto" else [SINGLE]

    def _layout(self, secrets: int = 1) -> mel.Layout:
        try:
            return self._load(NESTED if secrets == 2 or self.model == "nested" else self._singles()[-1]).layout
        except WeightsError:
            return mel.Layout()

    def _choose(self, tiles: int, secrets: list[Audio]) -> str:
        """The model to hide with: nested for two clips, else the first single model whose tiles hold the clip."""
        if len(secrets) == 2 or self.model == "nested":
            return NESTED
        longest = max(len(speech_samples(s)) for s in secrets)
        singles = self._singles()
        return next((n for n in singles if -(-longest // self._load(n).layout.max_samples) <= tiles), singles[-1])

    def _tiles(self, image: Image) -> np.ndarray:
        self.check_cover(image)
        if image.height < mel.SIDE or image.width < mel.SIDE:
            raise UsageError(f"thinimg needs an image of at least {mel.SIDE}x{mel.SIDE} pixels, "
                             f"got {image.width}x{image.height}")
        return tiles_of(image)

    def capacity(self, cover: Image, secrets: int = 1) -> Capacity:
        """Seconds of speech per access level: 10.04 s per whole 160 x 160 tile of the cover (more with a longer
        single-layer model, for one clip)."""
        count = len(self._tiles(cover))
        unit = "s of speech per level" if secrets == 2 or self.model == "nested" else "s of speech"
        return Capacity(np.floor(count * self._layout(secrets).max_seconds * 100) / 100, unit)

    def capacity_for(self, cover: Any, secret: Any) -> Capacity:
        """The capacity for this many clips (two clips need the nested model, 10 s per tile)."""
        return self.capacity(cover, len(secret) if isinstance(secret, list) else 1)

    def secret_size(self, secret: Any) -> float:
        """The longest secret's duration in seconds."""
        return max(s.duration for s in (secret if isinstance(secret, list) else [secret]))

    def _tensors(self, samples: np.ndarray, shuffle: tuple[np.ndarray, np.ndarray], layout: mel.Layout, count: int
                 ) -> np.ndarray:
        """count x c x 160 x 160: the speech cut into one segment per tile, compressed with the total length in
        every header, shuffled by the level's (perm, flips)."""
        perm, flips = shuffle
        return np.stack([scramble(mel.compress(part, layout, header=len(samples)), perm, flips)
                         for part in segments(samples, count, layout.max_samples)])

    def hide(self, cover: Image, secret: Audio | list[Audio], key: keys.Key = None, *,
             progress: Progress = no_progress) -> Image:
        """The container: the cover with its first 160 x 160 tile (and more when the speech needs them)
        replaced by E1's output, 8-bit values; the other tiles and the margins are left as they are."""
        tiles = self._tiles(cover)
        secrets = secret if isinstance(secret, list) else [secret]
        if not 1 <= len(secrets) <= self.max_secrets:
            raise UsageError(f"thinimg hides 1 or 2 speech clips, got {len(secrets)}")
        if self.model in ("single", *NAMED) and len(secrets) == 2:
            raise UsageError("two secrets need the nested model (model=auto or nested)")
        if self.level2_key is not None and len(secrets) == 1:
            raise UsageError("level2_key is the key of a second clip (level 2), and only one clip was given")
        self.check_fits(cover, secrets)
        model = self._load(self._choose(len(tiles), secrets))
        progress("compressing speech", 0, 1)
        speech = [speech_samples(conformed(s, mel.SAMPLE_RATE, "thinimg reveals the speech")) for s in secrets]
        _say_level_change(secrets, speech)
        used = max(1, *(-(-len(x) // model.layout.max_samples) for x in speech))
        shuffles = [level_shuffle(self._level_key(key, level), level, model.layout.shape)
                    for level in range(1, len(model.layers) + 1)]
        hidden = torch.from_numpy(self._tensors(speech[0], shuffles[0], model.layout, used))
        targets, covers = [hidden], torch.from_numpy(tiles[:used])  # targets: what each level reveals (eq. 9)
        progress("embedding", 0, 1)
        with inference():
            if len(model.layers) == 2:  # eq. 8: the first speech tensor is the second layer's cover
                second = speech[1] if len(speech) == 2 else np.zeros(0, np.float32)
                targets.append(torch.from_numpy(self._tensors(second, shuffles[1], model.layout, used)))
                hidden = model.layers[1](hidden, targets[1])[0]
            one_pass = model.layers[0](covers, hidden)[0].clamp(0, 1)
        lengths = [len(x) for x in speech if len(x)]
        # refinement's weights per value: by loudness, then (where that misreads) with the header weighted too;
        # the one pass (refine=0) is tried once and uses none
        tries: list[list[torch.Tensor]] = [[]]
        if self.refine:
            loud = [torch.from_numpy(loudness_weights(target.numpy(), shuffle, model.layout))
                    for target, shuffle in zip(targets, shuffles, strict=True)]
            tries = [loud, [w * torch.from_numpy(header_weights(model.layout, perm))
                            for w, (perm, _) in zip(loud, shuffles, strict=True)]]
        for weights in tries:
            tiles_out = self._refined(model, one_pass, covers, targets, weights, progress) if self.refine else one_pass
            container = pasted(cover, tiles_out.numpy())
            progress("checking that it reveals", 1, 1)
            problem = self._unrevealable(container, key, lengths)
            if problem is None:
                return container
        advice = ("hide with refinement (-O refine=30, the default)" if not self.refine else
                  "hide shorter speech or use a larger cover (fewer seconds per tile)")
        raise CapacityError(f"thinimg could not make a revealable container with the {model.card['name']} model: "
                            f"read back from the 8-bit pixels {problem}; {advice}")

    def _refined(self, model: Model, one_pass: torch.Tensor, covers: torch.Tensor, targets: list[torch.Tensor],
                 weights: list[torch.Tensor], progress: Progress) -> torch.Tensor:
        """The one pass's container tiles after hide-time refinement; `weights`: each level's reveal_error weights
        (loudness_weights, times header_weights on the second try)."""
        with inference(), torch.enable_grad():
            return refine_stego(one_pass, covers, lambda x: reveal_error(model.layers, targets, x, weights),
                                round_8bit, self.refine, REFINE_LR, (1, 2, 3), progress)

    def _level_key(self, key: keys.Key, level: int) -> keys.Key:
        """Level 2's key is its own where given (-O level2_key), else the level 1 key."""
        return self.level2_key or key if level == 2 else key

    def decompressor_reference(self, secret: Audio) -> Audio:
        """The secret through compression and the decompressor alone, no hiding: the ceiling of reveal."""
        layout, samples = self._layout(), speech_samples(secret)
        count = max(1, -(-len(samples) // layout.max_samples))
        pieces = []
        for part in segments(samples, count, layout.max_samples):
            features, n, _ = mel.unstitch(mel.compress(part, layout), layout)
            pieces.append(self._decompress(features, min(n, layout.max_samples), layout.fmt))
        return Audio(np.concatenate(pieces), mel.SAMPLE_RATE)

    def _decompress(self, features: np.ndarray, n: int, fmt: str) -> np.ndarray:
        """Speech of `n` samples from one tile's features: the chosen vocoder for mel, mel.py otherwise."""
        if n <= 0:
            return np.zeros(0, np.float32)
        if fmt == "mel":
            return vocoder_module.vocode(features, n, self.vocoder)
        return mel.features_to_audio(features, n, fmt)

    def _revealed(self, model: Model, tiles: np.ndarray, level: int) -> np.ndarray:
        """T x c x 160 x 160 hidden tensors of `level` (still shuffled) from the container's tiles: eq. 9."""
        with inference():
            tensor = model.layers[0].reverse(torch.from_numpy(tiles))[1]
            if level == 2:
                tensor = model.layers[1].reverse(tensor)[1]
        return tensor.clamp(0, 1).numpy()

    def _read(self, name: str, tiles: np.ndarray, key: keys.Key, level: int) -> HeaderRead:
        """What model `name` reads for `key` and `level`: the first tile's length header and, when that length
        fits the container, the padding after the clip's end in the tile where it ends."""
        model = self._load(name)
        perm, flips = level_shuffle(key, level, model.layout.shape)
        first = unscramble(self._revealed(model, tiles[:1], level)[0], perm, flips)
        _, total, confidence = mel.unstitch(first, model.layout)
        size = model.layout.max_samples
        if not 0 < total <= len(tiles) * size:
            return HeaderRead(confidence, total, model, plausible=False)
        last = (total - 1) // size
        tensor = first if last == 0 else unscramble(self._revealed(model, tiles[last:last + 1], level)[0], perm, flips)
        rest = mel.padding(tensor, model.layout, total - last * size)
        return HeaderRead(confidence, total, model, plausible=True, padding=padding_level(rest))

    def _clip_tensors(self, tiles: np.ndarray, key: keys.Key, level: int, read: HeaderRead) -> list[np.ndarray]:
        """The unscrambled hidden tensors of `level` in the tiles that the clip `read` found fills."""
        count = min(len(tiles), max(1, -(-read.total // read.model.layout.max_samples)))
        perm, flips = level_shuffle(key, level, read.model.layout.shape)
        return [unscramble(tensor, perm, flips) for tensor in self._revealed(read.model, tiles[:count], level)]

    def _locate(self, tiles: np.ndarray, key: keys.Key, level: int) -> HeaderRead:
        """The read reveal trusts for `key` and `level`: the accepted read of the best score among the models (every
        single-layer model present, the robust one too, and the nested one at level 1), else the most confident read
        of all (for the error message)."""
        names = [NESTED] if level == 2 or self.model == "nested" else self._singles()
        if level == 1 and self.model == "auto":
            names += [n for n in (ROBUST, NESTED) if (self.weights_dir / f"{n}.safetensors").exists()]
        reads = [self._read(name, tiles, key, level) for name in names]
        accepted = [r for r in reads if r.accepted]
        return max(accepted, key=lambda r: r.score) if accepted else max(reads, key=lambda r: r.confidence)

    def _unrevealable(self, container: Image, key: keys.Key, lengths: list[int]) -> str | None:
        """Why reveal would refuse or misread the container (None when it would not): each level's length header
        must read back from the 8-bit pixels as accepted and with the true length (a weak model's one pass can
        miss)."""
        tiles = self._tiles(container)
        for level, length in enumerate(lengths, 1):
            read = self._locate(tiles, self._level_key(key, level), level)
            if not read.accepted:
                return f"at level {level}, {read.why_refused()}"
            if read.total != length:
                return f"at level {level}, its length header reads {read.total}, not {length}"
        return None

    def reveal(self, stego: Image, key: keys.Key = None, *, level: int = 1,
               progress: Progress = no_progress) -> Audio:
        """Speech of access `level` (its own key). A wrong key or level, or a container whose pixels were
        re-encoded (JPEG, resizing), decodes no confident length header: KeyError_."""
        tiles = self._tiles(stego)
        if level not in (1, 2):
            raise UsageError("thinimg has access levels 1 and 2")
        progress("revealing", 0, 1)
        read = self._locate(tiles, key, level)
        if not read.accepted:
            raise KeyError_(f"no thinimg speech at level {level} for this key: wrong key or level, or the container "
                            f"was re-encoded (JPEG, resizing); {read.why_refused()}")
        model, size = read.model, read.model.layout.max_samples
        progress(f"decompressing ({self.vocoder})", 0, 1)
        tensors = self._clip_tensors(tiles, key, level, read)
        warn_if_degraded(model, level, header_psnr(tensors, model.layout, read.total))
        total = min(read.total, len(tensors) * size)
        pieces = []
        for k, tensor in enumerate(tensors):
            n = min(size, total - k * size)
            features, _, _ = mel.unstitch(tensor, model.layout, length=n)
            pieces.append(self._decompress(features, n, model.layout.fmt))
        progress("revealing", 1, 1)
        return Audio(np.concatenate(pieces), mel.SAMPLE_RATE)
