"""flowhide (Yang, Ouyang, Koltun, Chen, ICCV 2019): video hidden in audio through a reversible flow.

    video ─ICN (K iterations, 32 bits / 16x16 patch / iteration)─> bits ─whiten (key)─> plan: bits -> float slots
          ─IEEE-754 slots (|z| in [0.5, 0.75))─> floats ─keyed positions─> latent z (one value per audio sample)
    cover ─mono, 22.05 kHz─> mel ─┐
    z ────────────────────────────┴─ WaveGlow inverse ─> stego channel;  file = stereo (stego, cover) WAV
    reveal: WaveGlow forward(stego channel, mel of the cover channel) ─> z' ─> header ─> bits (majority vote)
            ─> ICN decoder ─> video

Sec. 4.1: the file is stereo, the stego channel beside the clean cover channel whose mel conditions the flow.
The header (frame count, size, fps, K, encoding, mode; CRC-16) sits in the first 168 logical floats, each bit 7
times over the 4 most robust slots, so nothing travels beside the file; a header that fails its CRC means a
wrong key (or no secret) and raises KeyError_. The bit-to-slot plan (codecs/bits.py) is recomputed at reveal
from the shipped cards: ICN bit importance (icn-binary.json) and measured slot flip rates (waveglow-small.json).
Ours: audio known lost (runs of exact silence in the stego channel: dropped segments) is left out of the header's
and the payload's majority votes, so a quarter of the file zeroed still reveals.

File precision: the paper's bits live in float32 latents, so the default stego is a float32 WAV (SPEC's
exception). Ours: the flow itself is computed in float64 at hide and reveal, so the file's float32 rounding is
most of what flips bits (load_parts). `pcm=True` is the PCM-robust mode: the cover channel is quantised before
its mel is taken and only the slots whose measured 16-bit flip rate is at most PCM_MAX_FLIP carry bits, so the plan
survives a 16-bit WAV (fewer bits per float: a longer cover). `stego_subtype()` makes `crossteg hide` and
`crossteg eval` write float32 outside PCM mode; a float-mode stego found as 16-bit PCM (re-saved by another tool)
is revealed with a warning (its low slots are noise). Latent values not carrying the secret get random slot bits,
so the whole latent looks alike.

Mono mode (`mono=True`, our extension): the file is the stego channel alone, and reveal takes the mel from the
stego itself. Hiding iterates x <- WaveGlow^-1(z, mel(x)) from x = the cover to a stego whose own mel regenerates
it, until a pass changes it by less than MONO_TOLERANCE of its RMS (at most MONO_MAX_PASSES passes). How fast that
converges depends on the flow: the shipped WaveGlow needs about 24 passes on speech, after which the slot flip
rates are below the stereo file's (benchmarks/results/flowhide-tables), at one WaveGlow pass each. No clean cover
channel sits beside the stego, which the stereo file gives away to anyone who subtracts the channels. Deviations
(see the cards and benchmarks/results/flowhide-*): small CPU-trained ICN and GPU-trained WaveGlow instead of
COCO/LJ Speech models; header, keys and PCM mode are ours.

Refined bits (ours): the ICN encoder picks each iteration's bits greedily; hide then optimises all K iterations'
bits of each frame together through the fixed decoder (codecs/icn.py refine_codes), against the frame as decoded
after the channel: random flips at each bit's error rate under the plan (`code_bit_errors`: the file precision's
measured slot flip rates, through repetition and majority votes). On the bundled clip from the float32 WAV: 24.42
-> 24.88 dB (PCM mode from a 16-bit WAV: 21.72 -> 22.12; benchmarks/results/flowhide-tables); refinement blind
to the channel raised the codec's own output more (25.00 -> 25.73 dB) but the revealed clip less (24.73), and in
PCM mode lowered it (21.49): it had come to lean on bits the file loses. The plan, the file and reveal are
unchanged. It is asked for (`refine=50`): about 0.1-0.2 s per 128x128 frame per step on a 2-core CPU (a second of
128x128 video: 281 s against 4 s, one thread), too slow to be every hide's default; `refine=0`, the default, is the
paper's one pass.
"""

from __future__ import annotations

import binascii
import json
import math
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossteg import keys
from crossteg.codecs import bits as B
from crossteg.codecs.icn import (
    DEFAULT_ITERATIONS,
    ICN,
    MAX_ITERATIONS,
    PATCH,
    ICNConfig,
    decode_frames,
    encode_frames,
    refine_codes,
)
from crossteg.errors import CapacityError, KeyError_, MediaError, UsageError, WeightsError
from crossteg.media.audio import Audio, load_audio, save_audio
from crossteg.media.video import Video
from crossteg.methods.base import WEIGHTS_DIR, Capacity, Method, Progress, no_progress, register, smaller_sizes
from crossteg.nn.waveglow import SAMPLE_RATE, WaveGlow, WaveGlowConfig, mel_spectrogram

ICN_NAME, WAVEGLOW_NAME = "icn-binary", "waveglow-small"
PRECISIONS = ("float32", "pcm24", "pcm16")
SUBTYPES = {"float32": "FLOAT", "pcm24": "PCM_24", "pcm16": "PCM_16"}
ENCODINGS = ("optimised", "naive")  # sec. 4.3 greedy + repetition | sec. 5.1 naive baseline
HEADER_SLOTS = (31, 21, 20, 19)  # the slots with the lowest flip rates at every precision (measured)
HEADER_REPEAT = 7  # each header bit 7 times, majority vote (sec. 4.3's repetition applied to the header; 7 copies
# keep a 96-bit header intact at the measured 16-bit flip rates of these slots, up to ~6 %)
FIELDS = (("version", 4), ("encoding", 2), ("pcm", 1), ("iterations", 3), ("frames", 18), ("height", 14),
          ("width", 14), ("millifps", 24))  # 80 bits, then CRC-16
HEADER_BITS = sum(n for _, n in FIELDS) + 16
HEADER_FLOATS = HEADER_BITS * HEADER_REPEAT // len(HEADER_SLOTS)
VERSION = 1
# read_header's list decoding: 2^8 CRC-16 trials let a wrong key pass with probability 2^-8 before the version
# (1 in 16) and the plan's fields are checked
LIST_BITS = 8
PCM_MAX_FLIP = 0.01  # PCM-robust mode: slots whose measured 16-bit flip rate is at most 1 %
MONO_TOLERANCE = 1e-4  # mono mode: stop when a pass moves the stego by less than this fraction of its RMS
MONO_MAX_PASSES = 64  # ... or after this many passes (the shipped WaveGlow converges in ~24 on speech)
ZERO_RUN = 64  # samples of exact silence that mark lost audio (ours: its latent values then vote no more)
ERASURE_MARGIN = 64  # latent time steps beside a lost run that read wrong too (measured: up to ~30 on each side)


@dataclass
class Parts:
    """The trained components and the statistics the bit plan is computed from."""

    icn: ICN
    waveglow: WaveGlow
    importance: dict[int, np.ndarray]  # K -> w_j for the K x 32 bits of a patch
    flips: dict[str, np.ndarray]  # precision -> flip rate of each of the 32 bit positions

    def importance_for(self, k: int) -> np.ndarray:
        """w for K iterations; where not measured, earlier iterations first (their bits carry coarser detail)."""
        if k in self.importance:
            return self.importance[k]
        return np.repeat(0.5 ** np.arange(k, dtype=np.float64), 32)

    def slot_flips(self, precision: str, slots: tuple[int, ...] = B.SLOTS) -> np.ndarray:
        return np.asarray(self.flips[precision], np.float64)[list(slots)]

    def pcm_slots(self) -> tuple[int, ...]:
        """Slots that survive 16-bit PCM (measured flip rate <= PCM_MAX_FLIP), always including HEADER_SLOTS."""
        rates = np.asarray(self.flips["pcm16"])
        return tuple(s for s in B.SLOTS if rates[s] <= PCM_MAX_FLIP or s in HEADER_SLOTS)


def _load_card(name: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    weights, card_path = WEIGHTS_DIR / f"{name}.safetensors", WEIGHTS_DIR / f"{name}.json"
    if not weights.exists() or not card_path.exists():
        target = "icn" if name.startswith("icn") else "waveglow"
        raise WeightsError(f"flowhide needs {weights.name} and its card; run `crossteg train {target}`")
    card = json.loads(card_path.read_text())
    import hashlib

    if hashlib.sha256(weights.read_bytes()).hexdigest() != card["sha256"]:
        raise WeightsError(f"{weights.name} does not match the sha256 in {card_path.name}; re-train or restore it")
    return card, load_file(str(weights))


@lru_cache(maxsize=1)
def load_parts() -> Parts:
    """The shipped ICN and WaveGlow with their cards' bit importance and flip rates (strict loads)."""
    icn_card, icn_state = _load_card(ICN_NAME)
    wg_card, wg_state = _load_card(WAVEGLOW_NAME)
    icn = ICN(ICNConfig(**icn_card["architecture"]))
    icn.load_state_dict(icn_state, strict=True)
    waveglow = WaveGlow(WaveGlowConfig.from_dict(wg_card["architecture"]))
    waveglow.load_state_dict(wg_state, strict=True)
    if "flip_rates" not in wg_card:
        raise WeightsError(f"{WAVEGLOW_NAME}.json has no flip rates; run `crossteg train waveglow --flip-rates-only`")
    importance = {int(k): np.asarray(v) for k, v in icn_card.get("bit_importance", {}).items()}
    flips = {p: np.asarray(wg_card["flip_rates"][p]) for p in PRECISIONS}
    # ours: the flow runs in float64 at hide and at reveal. Its float32 arithmetic, more than the float32 file,
    # flipped bits: the 20 slots' mean flip rate through a float32 WAV 0.113 -> 0.066, Table 1 23.91 -> 24.46 dB
    # (benchmarks/results/flowhide-tables, fig4a); both sides must do it (either alone keeps float32's rates). About
    # 2x the flow's time. The plan keeps the card's float32-arithmetic rates (re-planned on float64 rates: the same
    # 24.44 dB), so files written before read as before.
    return Parts(icn.eval(), waveglow.double().eval(), importance, flips)


# Audio side ------------------------------------------------------------------------------------------------


def through_file(samples: np.ndarray, precision: str) -> np.ndarray:
    """C x T samples as a WAV of `precision` holds them (written and read back by crossteg's own media I/O)."""
    if precision == "float32":
        return samples.astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="crossteg-flowhide-") as tmp:
        path = Path(tmp) / "x.wav"
        save_audio(Audio(samples, SAMPLE_RATE), path, SUBTYPES[precision])
        return load_audio(path).samples


def synthesise(waveglow: WaveGlow, latent: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """Flat latent (T values) + cover channel (T samples) -> float32 stego channel (T samples), WaveGlow's inverse
    computed in the flow's own precision (float64 for the shipped one: see load_parts)."""
    g, dtype = waveglow.config.n_group, _dtype(waveglow)
    with torch.no_grad():
        mel = mel_spectrogram(torch.from_numpy(cover).to(dtype)[None])
        z = torch.from_numpy(latent).to(dtype).view(1, g, -1)
        return waveglow.inverse(z, mel)[0].numpy().astype(np.float32)


def mono_fixed_point(waveglow: WaveGlow, latent: np.ndarray, stego: np.ndarray, pcm: bool = False,
                     progress: Progress = no_progress) -> tuple[np.ndarray, int]:
    """(stego, passes): iterate stego <- WaveGlow^-1(latent, mel(stego as the file holds it)) until a pass moves it
    by less than MONO_TOLERANCE of its RMS, or MONO_MAX_PASSES: a mono stego whose own mel regenerates it."""
    for done in range(1, MONO_MAX_PASSES + 1):
        previous = stego
        stego = synthesise(waveglow, latent, through_file(stego[None], "pcm16")[0] if pcm else stego)
        change = float(np.sqrt(np.mean((stego - previous) ** 2)) / (np.sqrt(np.mean(stego**2)) + 1e-12))
        progress(f"mono: fixed-point pass {done} (change {change:.1e})", 1 + min(1.0, done / 24), 3)
        if change < MONO_TOLERANCE:
            break
    return stego, done


def analyse(waveglow: WaveGlow, stego: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """Stego channel + cover channel -> flat latent (WaveGlow's forward, every early-output channel kept)."""
    dtype = _dtype(waveglow)
    with torch.no_grad():
        audio = torch.from_numpy(np.ascontiguousarray(stego, np.float32)).to(dtype)[None]
        cond = mel_spectrogram(torch.from_numpy(np.ascontiguousarray(cover, np.float32)).to(dtype)[None])
        z, _, _ = waveglow(audio, cond)
    return z[0].numpy().reshape(-1).astype(np.float32)


def _dtype(model: torch.nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


def flip_rates_through_file(waveglow: WaveGlow, cover: np.ndarray, precision: str, seed: int = 0) -> np.ndarray:
    """Flip rate of each of the 32 bit positions for random slot bits: latent -> stego -> WAV of `precision`
    -> latent (the cover channel quantised as the file stores it, before its mel is taken at hide time)."""
    n = len(cover) - len(cover) % waveglow.config.n_group
    cover = through_file(cover[None, :n], precision)[0]
    payload = np.random.default_rng(seed).integers(0, 2, (n, len(B.SLOTS)))
    latent = B.encode(payload)
    stego = synthesise(waveglow, latent, cover)
    stereo = through_file(np.stack([stego, cover]), precision)
    return B.flip_rates(latent, analyse(waveglow, stereo[0], stereo[1]))


# Header --------------------------------------------------------------------------------------------------


def header_bits(values: dict[str, int]) -> np.ndarray:
    """The header fields (FIELDS order) + CRC-16 of them, as HEADER_BITS bits."""
    word = "".join(format(values[name], f"0{n}b") for name, n in FIELDS)
    body = int(word, 2).to_bytes(len(word) // 8, "big")
    word += format(binascii.crc_hqx(body, 0), "016b")
    return np.array([int(c) for c in word], np.uint8)


def parse_header(bits: np.ndarray) -> dict[str, int] | None:
    """The fields, or None when the CRC does not match (wrong key, or no secret)."""
    word = "".join(str(int(b)) for b in bits)
    body_bits = word[:-16]
    body = int(body_bits, 2).to_bytes(len(body_bits) // 8, "big")
    if binascii.crc_hqx(body, 0) != int(word[-16:], 2):
        return None
    out, pos = {}, 0
    for name, n in FIELDS:
        out[name] = int(word[pos:pos + n], 2)
        pos += n
    return out


def _header_plan() -> B.Plan:
    """The header as a bit-to-slot plan over the 4 HEADER_SLOTS: copy r of header bit j sits in float
    r * HEADER_BITS / 4 + j // 4, slot column (j + r) % 4. Copies rotate over the slots and sit in different
    floats, so neither one unreliable slot nor one float's carry (which flips neighbouring slots together) can
    take a majority of a bit's copies."""
    r, j = np.meshgrid(np.arange(HEADER_REPEAT), np.arange(HEADER_BITS), indexing="ij")
    per_copy = HEADER_BITS // len(HEADER_SLOTS)
    table = np.empty((HEADER_FLOATS, len(HEADER_SLOTS)), np.int64)
    table[r * per_copy + j // len(HEADER_SLOTS), (j + r) % len(HEADER_SLOTS)] = j
    return B.Plan(table, HEADER_BITS, HEADER_SLOTS)


def filler_rng() -> np.random.Generator:
    """The generator of the filler bits (unused slots and slot positions): fresh noise on every hide, so that no
    two stegos share a pattern. Tests replace it with a seeded one to be repeatable."""
    return np.random.default_rng()


def header_floats(material: keys.KeyMaterial, values: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    """HEADER_FLOATS floats: whitened header bits, HEADER_REPEAT copies each, in HEADER_SLOTS; others random."""
    whitened = B.whiten(material, "header", header_bits(values))
    slot_bits = rng.integers(0, 2, (HEADER_FLOATS, len(B.SLOTS))).astype(np.uint8)
    slot_bits[:, [B.SLOTS.index(s) for s in HEADER_SLOTS]] = whitened[_header_plan().table]
    return B.encode(slot_bits)


def read_header(material: keys.KeyMaterial, floats: np.ndarray, erased: np.ndarray | None = None,
                flips: np.ndarray | None = None) -> dict[str, int] | None:
    """The header fields, or None (CRC mismatch: wrong key or no secret). Each bit is the vote of its copies not in
    `erased` floats (all copies where every one is), weighted by log((1 - p) / p) for `flips` p, the flip rates
    of HEADER_SLOTS at the file's precision (plain majority without them). Where that fails the CRC, the LIST_BITS
    least certain bits are tried flipped, every subset (ours, beyond sec. 4.3's majority vote: a float stego re-saved
    as 16-bit PCM flips 2-18 % of these slots, and 1 hide in 4 lost its header to one or two 4-of-7 bits)."""
    plan, received = _header_plan(), B.decode(floats, HEADER_SLOTS)
    p = np.full(len(HEADER_SLOTS), 0.1) if flips is None else np.clip(np.asarray(flips, float), 1e-4, 0.49)
    weight = np.broadcast_to(np.log((1 - p) / p), received.shape).copy()
    if erased is not None and not erased.all():
        weight[erased] = 0.0
    score = np.zeros(HEADER_BITS)
    np.add.at(score, plan.table.reshape(-1), (weight * (2.0 * received - 1)).reshape(-1))
    votes = (score > 0).astype(np.uint8)
    doubtful = np.argsort(np.abs(score))[:LIST_BITS]
    for subset in range(2**LIST_BITS):  # 0 first: the votes as they are
        trial = votes.copy()
        trial[doubtful[[bool(subset >> k & 1) for k in range(LIST_BITS)]]] ^= 1
        if (fields := parse_header(B.whiten(material, "header", trial))) is not None:
            return fields
    return None


def erased_floats(stego: np.ndarray, n_group: int) -> np.ndarray:
    """Per flat latent value (analyse's layout: n_group rows of T = len(stego) / n_group time steps), whether the
    stego channel lost its audio there: runs of at least ZERO_RUN exact zeros (a float or PCM file's lost
    segments; WaveGlow's output is never silent that long), widened by ERASURE_MARGIN time steps."""
    zero = np.concatenate([[False], stego == 0.0, [False]])
    edges = np.flatnonzero(np.diff(zero.astype(np.int8)))
    lost = np.zeros(len(stego) // n_group, bool)
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if end - start >= ZERO_RUN:
            lost[max(0, start // n_group - ERASURE_MARGIN):end // n_group + ERASURE_MARGIN] = True
    return np.tile(lost, n_group)


# Payload -------------------------------------------------------------------------------------------------


def make_plan(parts: Parts, iterations: int, encoding: str, pcm: bool, height: int, width: int) -> B.Plan:
    """The bit -> slot plan of one unit (recomputed identically at reveal): a 16x16 patch's K x 32 bits for
    the greedy encoding (sec. 4.3), a whole frame's code, in (K, H/16, W/16, 32) order, for the naive one
    (sec. 5.1: ceil(K H/16 W/16 32 / 18) floats per frame)."""
    if encoding == "naive":
        return B.naive_plan(iterations * 32 * math.ceil(height / PATCH) * math.ceil(width / PATCH))
    slots = parts.pcm_slots() if pcm else B.SLOTS
    precision = "pcm16" if pcm else "float32"
    return B.optimised_plan(parts.importance_for(iterations), parts.slot_flips(precision, slots), slots)


def payload_floats(plan: B.Plan, encoding: str, frames: int, height: int, width: int) -> int:
    """Latent values the frames' codes take under `plan` (per patch, or per frame for the naive encoding)."""
    units = frames if encoding == "naive" else frames * math.ceil(height / PATCH) * math.ceil(width / PATCH)
    return units * plan.floats


def fit_hint(plan_for: Callable[[int, int], B.Plan], encoding: str, frames: int, height: int, width: int,
             room: int) -> str:
    """What of a video too long for `room` latent values fits: its first frames at this size, else one frame
    downscaled (same aspect; the long side stepped down a pixel at a time). `plan_for(height, width)` is the plan."""
    per_frame = payload_floats(plan_for(height, width), encoding, 1, height, width)
    if room >= per_frame:
        most = min(frames - 1, room // per_frame)
        return f"; it holds the first {most} frame{'s' if most > 1 else ''} at this size, or use a longer cover"
    for h, w in smaller_sizes(height, width, max(height, width) - 1):
        if payload_floats(plan_for(h, w), encoding, 1, h, w) <= room:
            return f"; it holds 1 frame downscaled to {w}x{h}, or use a longer cover"
    return ""


def to_units(codes: np.ndarray, plan: B.Plan) -> np.ndarray:
    """Codes T x K x h x w x 32 -> one bit vector per plan unit: per patch (bit j = iteration j // 32, channel
    j % 32) or per frame (the code flattened as the paper's (K, h, w, 32) tensor)."""
    t, k, h, w, c = codes.shape
    if plan.bits == k * c:
        return codes.transpose(0, 2, 3, 1, 4).reshape(t * h * w, k * c)
    return codes.reshape(t, k * h * w * c)


def code_bit_errors(parts: Parts, plan: B.Plan, pcm: bool, k: int, h: int, w: int) -> np.ndarray:
    """Each code bit's probability of reading back wrong under `plan` at the file's measured slot flip rates:
    K x 1 x 1 x 32 for a per-patch plan (the same in every patch), K x h x w x 32 for the naive one."""
    errors = plan.bit_errors(parts.slot_flips("pcm16" if pcm else "float32", plan.slots))
    return errors.reshape(k, 1, 1, 32) if plan.bits == k * 32 else errors.reshape(k, h, w, 32)


def from_units(units: np.ndarray, plan: B.Plan, frames: int, k: int, h: int, w: int) -> np.ndarray:
    """Inverse of `to_units`: T x K x h x w x 32."""
    if plan.bits == k * 32:
        return np.ascontiguousarray(units.reshape(frames, h, w, k, 32).transpose(0, 3, 1, 2, 4))
    return units.reshape(frames, k, h, w, 32)


@register
class FlowHide(Method):
    """Video in the WaveGlow latent of a speech cover: stereo WAV (stego channel, cover channel)."""

    id = "flowhide"
    title = "flowhide: video in audio through a reversible flow (WaveGlow) and compressed bits"
    paper = "flowhide"
    secret = ("video",)
    cover = ("audio",)
    stego_ext = (".wav",)
    weights = (f"{ICN_NAME}.safetensors", f"{ICN_NAME}.json", f"{WAVEGLOW_NAME}.safetensors",
               f"{WAVEGLOW_NAME}.json")
    embedding_rate = SAMPLE_RATE

    def __init__(self, quality: str = "fast", iterations: int = DEFAULT_ITERATIONS, encoding: str = "optimised",
                 pcm: bool = False, mono: bool = False, refine: int = 0) -> None:
        """`iterations` = ICN K (1-8, paper 4); `encoding` optimised | naive (sec. 5.1 baseline); `pcm` = the
        16-bit-robust mode (fewer slots per float); `mono` = a one-channel stego whose mel comes from itself;
        `refine` = steps of hide-time bit refinement (ours; 0 = the paper's one pass; 50 measured)."""
        super().__init__(quality)
        if int(refine) < 0:
            raise UsageError(f"flowhide refine must be 0 (the paper's one pass) or more steps, not {refine}")
        self.refine = int(refine)
        if not 1 <= int(iterations) <= MAX_ITERATIONS:
            raise UsageError(f"flowhide iterations must be 1-{MAX_ITERATIONS}, not {iterations}")
        if encoding not in ENCODINGS:
            raise UsageError(f"flowhide encoding must be one of {', '.join(ENCODINGS)}, not {encoding}")
        self.iterations, self.encoding = int(iterations), encoding
        self.pcm, self.mono = bool(pcm), bool(mono)
        self._parts: Parts | None = None

    def stego_subtype(self) -> str | None:
        """SPEC: flowhide's default stego is a float32 WAV; the PCM-robust mode is made for 16-bit."""
        return None if self.pcm else "FLOAT"

    @property
    def parts(self) -> Parts:
        if self._parts is None:
            self._parts = load_parts()
        return self._parts

    def with_parts(self, parts: Parts) -> FlowHide:
        """Use these components instead of the shipped ones (tests, benchmarks of other models)."""
        self._parts = parts
        return self

    def capacity(self, cover: Any) -> Capacity:
        """Latent values the cover offers: one per sample of its 22.05 kHz mono mix (a whole number of groups)."""
        self.check_cover(cover)
        n = round(cover.frames * SAMPLE_RATE / cover.sample_rate)
        return Capacity(n - n % self.parts.waveglow.config.n_group, "latent values")

    def secret_size(self, secret: Any) -> float:
        """Latent values the video takes: header + its patches' floats under this mode's plan."""
        plan = make_plan(self.parts, self.iterations, self.encoding, self.pcm, secret.height, secret.width)
        return HEADER_FLOATS + payload_floats(plan, self.encoding, secret.num_frames, secret.height, secret.width)

    def _fit_hint(self, secret: Video, available: int) -> str:
        plan = make_plan(self.parts, self.iterations, self.encoding, self.pcm, secret.height, secret.width)

        def plan_for(height: int, width: int) -> B.Plan:  # only the naive plan depends on the frame size
            naive = self.encoding == "naive"
            return make_plan(self.parts, self.iterations, self.encoding, self.pcm, height, width) if naive else plan

        return fit_hint(plan_for, self.encoding, secret.num_frames, secret.height, secret.width,
                        available - HEADER_FLOATS)

    def _check_secret(self, secret: Any) -> None:
        if getattr(secret, "modality", None) != "video":
            raise UsageError(f"flowhide hides video, not {getattr(secret, 'modality', type(secret).__name__)}")
        limits = {"frames": 2**18 - 1, "height": 2**14 - 1, "width": 2**14 - 1}
        for name, value in (("frames", secret.num_frames), ("height", secret.height), ("width", secret.width)):
            if not 1 <= value <= limits[name]:
                raise UsageError(f"flowhide hides videos of 1-{limits[name]} {name}, not {value}")

    def hide(self, cover: Audio, secret: Video, key: keys.Key = None, *, progress: Progress = no_progress) -> Audio:
        """Compress the frames, place their bits in the latent, generate the stego channel (stereo WAV)."""
        self.check_cover(cover)
        self._check_secret(secret)
        parts, pcm = self.parts, self.pcm
        needed, available = int(self.secret_size(secret)), int(self.capacity(cover).amount)
        if needed > available:
            raise CapacityError(f"this video needs {needed / SAMPLE_RATE:.2f} s of audio ({needed} latent values at "
                                f"22.05 kHz with K={self.iterations}, {self.encoding}{', pcm' if pcm else ''}); "
                                f"the cover has {available / SAMPLE_RATE:.2f} s{self._fit_hint(secret, available)}")
        progress("compressing frames (ICN)", 0, 3)
        plan = make_plan(parts, self.iterations, self.encoding, pcm, secret.height, secret.width)
        frames = torch.from_numpy(secret.frames)
        codes = encode_frames(parts.icn, frames, self.iterations)
        if self.refine:
            errors = code_bit_errors(parts, plan, pcm, *codes.shape[1:4])
            codes = refine_codes(parts.icn, frames, codes, self.refine, progress, torch.from_numpy(errors))
        material = keys.derive(key, self.id)
        rng = filler_rng()
        units = to_units(codes.numpy(), plan)
        slot_bits = B.plan_bits(plan, units, rng.integers(0, 2, (len(units), int((plan.table < 0).sum()))))
        slot_bits = B.whiten(material, "payload", slot_bits)
        fields = {"version": VERSION, "encoding": ENCODINGS.index(self.encoding), "pcm": int(pcm),
                  "iterations": self.iterations - 1, "frames": secret.num_frames, "height": secret.height,
                  "width": secret.width, "millifps": min(2**24 - 1, round(secret.fps * 1000))}
        logical = np.concatenate([header_floats(material, fields, rng), B.encode(slot_bits, plan.slots)])
        filler = B.encode(rng.integers(0, 2, (available - len(logical), len(B.SLOTS))))
        latent = np.empty(available, np.float32)
        latent[B.positions(material, available)] = np.concatenate([logical, filler])
        progress("generating the stego channel (WaveGlow)", 1, 3)
        mono = cover.mono().resample(SAMPLE_RATE).samples[0, :available]
        clean = through_file(mono[None], "pcm16")[0] if pcm else mono  # the cover channel as the file holds it
        stego = synthesise(parts.waveglow, latent, clean)
        if not self.mono:
            progress("done", 3, 3)
            return Audio(np.stack([stego, clean]), SAMPLE_RATE)
        stego, _ = mono_fixed_point(parts.waveglow, latent, stego, pcm, progress)
        progress("done", 3, 3)
        return Audio(stego[None], SAMPLE_RATE)

    def reveal(self, stego: Audio, key: keys.Key = None, *, level: int = 1, progress: Progress = no_progress) -> Video:
        """Recover the latent with WaveGlow's forward pass, read the header, vote the bits, decode the frames."""
        self.check_cover(stego)
        if level != 1:
            raise UsageError("flowhide has a single access level")
        if stego.channels > 2:
            raise MediaError(f"a flowhide stego is a stereo (stego, cover) or mono WAV; got {stego.channels} channels")
        if stego.sample_rate != SAMPLE_RATE:  # a converter's doing: the bits are gone, as after any lossy step
            raise KeyError_(f"no flowhide secret in a file at {stego.sample_rate} Hz: a flowhide stego is written at "
                            f"{SAMPLE_RATE} Hz and its bits do not survive resampling or lossy coding (reveal the "
                            "WAV crossteg wrote)")
        if stego.channels == 2 and np.array_equal(stego.samples[0], stego.samples[1]):  # a mono stego up-mixed
            stego = Audio(stego.samples[:1], stego.sample_rate)
        parts = self.parts
        n = stego.frames - stego.frames % parts.waveglow.config.n_group
        if n < HEADER_FLOATS:
            raise KeyError_("no flowhide secret found: the file is too short to hold one")
        progress("recovering the latent (WaveGlow)", 0, 3)
        latent = analyse(parts.waveglow, stego.samples[0, :n], stego.samples[-1, :n])  # mono: its own mel
        material = keys.derive(key, self.id)
        order = B.positions(material, n)
        logical = latent[order]
        erased = erased_floats(stego.samples[0, :n], parts.waveglow.config.n_group)[order]  # lost audio: no vote
        depth = pcm_depth(stego.samples)
        precision = {None: "float32", 24: "pcm24", 16: "pcm16"}[depth]  # the flip rates this file's bits see
        header = read_header(material, logical[:HEADER_FLOATS], erased[:HEADER_FLOATS],
                             np.asarray(parts.flips[precision])[list(HEADER_SLOTS)])
        if header is None or header["version"] != VERSION or header["encoding"] >= len(ENCODINGS):
            causes = ["wrong key", "not a flowhide stego"]
            if stego.channels == 1:
                causes.append("a stereo stego mixed down to one channel (reveal needs its cover channel)")
            if depth == 16:
                causes.append("a float32 stego re-saved as 16-bit PCM: keep the WAV crossteg wrote, or hide with "
                              "-O pcm=true")
            raise KeyError_(f"no flowhide secret found with this key ({', or '.join(causes)})")
        k, pcm = header["iterations"] + 1, bool(header["pcm"])
        if depth is not None and not pcm:  # (16-bit mode is on its grid)
            warnings.warn(f"this float-mode stego was re-saved as {depth}-bit PCM: expect flipped bits (keep the "
                          "float32 WAV crossteg wrote, or hide with -O pcm=true)", stacklevel=2)
        plan = make_plan(parts, k, ENCODINGS[header["encoding"]], pcm, header["height"], header["width"])
        encoding = ENCODINGS[header["encoding"]]
        count = payload_floats(plan, encoding, header["frames"], header["height"], header["width"])
        if HEADER_FLOATS + count > n:
            raise KeyError_("the header does not fit this file (wrong key, or a damaged stego)")
        progress("voting bits", 1, 3)
        lost = float(erased[HEADER_FLOATS:HEADER_FLOATS + count].mean())
        if lost:
            warnings.warn(f"{100 * lost:.0f}% of the secret's latent values lie in silenced audio (runs of exact "
                          "zeros: cut or muted since hiding): their bits come from their other copies where those "
                          "survived, and the frames are degraded where none did", stacklevel=2)
        floats = logical[HEADER_FLOATS:HEADER_FLOATS + count]
        slot_bits = B.whiten(material, "payload", B.decode(floats, plan.slots))
        h, w = math.ceil(header["height"] / PATCH), math.ceil(header["width"] / PATCH)
        codes = from_units(B.unplan_bits(plan, slot_bits, erased[HEADER_FLOATS:HEADER_FLOATS + count]), plan,
                           header["frames"], k, h, w)
        progress("decoding frames (ICN)", 2, 3)
        frames = decode_frames(parts.icn, torch.from_numpy(np.ascontiguousarray(codes)), header["height"],
                               header["width"]).numpy()
        progress("done", 3, 3)
        return Video(frames, header["millifps"] / 1000)


def pcm_depth(samples: np.ndarray) -> int | None:
    """16 or 24 when every sample lies on that PCM grid (a float stego re-saved by a converter: ffmpeg writes a
    float WAV's FLAC or ALAC copy at 24 bits), else None."""
    for bits in (16, 24):
        scaled = samples.astype(np.float64) * 2.0 ** (bits - 1)
        if np.array_equal(scaled, np.round(scaled)):
            return bits
    return None
