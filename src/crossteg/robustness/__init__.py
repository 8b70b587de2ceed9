"""Distortions applied to a stego *file* the way a user's tools would, named so eval can sweep them.

    stego.png ── Attack.apply(src, dst) ──> attacked.png   (same suffix, a valid file; src never touched)

Each attack is one parameterised function (`robustness.image`, `robustness.audio`, `robustness.weights` for
stego networks) at one fixed strength; the evaluation sweep is declared as data in `SWEEPS` below and expanded
into the one registry, `ATTACKS`, that `crossteg eval --attacks` picks from by name. Random attacks are seeded
(`common.SEED`), so every run distorts identically. Codec round trips are registered only for encoders the
bundled ffmpeg has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossteg.errors import MediaError, UsageError
from crossteg.media.files import atomic_path, check_output
from crossteg.robustness import audio, image, weights
from crossteg.robustness.common import SEED, NotApplicable

__all__ = ["ATTACKS", "SEED", "SWEEPS", "Attack", "NotApplicable", "Sweep", "select"]


@dataclass(frozen=True)
class Attack:
    """A named file-to-file distortion for stego files with one of `suffixes`.

    `apply(src, dst)` writes `dst` atomically and never changes `src`; it raises NotApplicable when the
    attack would not change this file (eval then skips it) and MediaError when the file cannot be read."""

    name: str
    suffixes: tuple[str, ...]
    apply: Callable[[Path, Path], None]
    description: str


@dataclass(frozen=True)
class Sweep:
    """One attack function at several fixed strengths; `name` and `description` are formatted with each."""

    name: str
    suffixes: tuple[str, ...]
    function: Callable[..., None]
    description: str
    strengths: tuple[dict[str, Any], ...] = ({},)
    requires: str | None = None  # an ffmpeg encoder; without it the sweep is not registered

    def attacks(self) -> list[Attack]:
        return [Attack(self.name.format(**s), self.suffixes, _file_attack(self.function, s),
                       self.description.format(**s)) for s in self.strengths]


def _file_attack(function: Callable[..., None], strength: dict[str, Any]) -> Callable[[Path, Path], None]:
    """`function` at `strength`, made safe: the input is checked and kept, the output appears whole or not at all."""

    def apply(src: Path, dst: Path) -> None:
        src, dst = Path(src), Path(dst)
        check_output(dst, [src], force=True)
        if not src.is_file():
            raise MediaError(f"no such file: {src}")
        with atomic_path(dst) as tmp:
            function(src, tmp, **strength)

    return apply


def _each(parameter: str, *values: Any, **fixed: Any) -> tuple[dict[str, Any], ...]:
    return tuple({parameter: v, **fixed} for v in values)


PNG, WAV, NET = (".png",), (".wav",), (".safetensors",)
SWEEPS: tuple[Sweep, ...] = (
    Sweep("png-resave", PNG, image.png_resave, "re-saved by Pillow, metadata stripped, optimised (lossless)"),
    Sweep("jpeg-{quality}", PNG, image.jpeg, "JPEG quality {quality} (Pillow, 4:2:0), decoded and saved back as PNG",
          _each("quality", 95, 90, 75)),
    Sweep("resize-down-up", PNG, image.resize_round_trip, "bicubic resize to {scale:g}x and back",
          _each("scale", 0.5)),
    Sweep("resize-up-down", PNG, image.resize_round_trip, "bicubic resize to {scale:g}x and back",
          _each("scale", 2.0)),
    Sweep("gaussian-noise-{sigma}", PNG, image.gaussian_noise,
          "seeded Gaussian noise, sigma {sigma}/255, rounded to 8 bits", _each("sigma", 1, 2)),
    Sweep("crop-{percent}", PNG, image.crop,
          "{percent}% of width and height cut (half each side), bicubic resize back to the original size",
          _each("percent", 10)),
    Sweep("wav-resave", WAV, audio.wav_resave, "re-written as 16-bit PCM by soundfile"),
    Sweep("wav-24bit", WAV, audio.wav_24bit, "re-written as 24-bit PCM WAV"),
    Sweep("resample-{rate}", WAV, audio.resample_round_trip,
          "resampled to {rate} Hz and back (soxr HQ); skipped for a file already at {rate} Hz",
          _each("rate", 16000, 22050, 44100)),
    Sweep("mp3-{kbps}", WAV, audio.codec_round_trip, "MP3 (libmp3lame) at {kbps} kbit/s, decoded back to WAV",
          _each("kbps", 128, 64, codec="mp3"), requires="libmp3lame"),
    Sweep("aac-{kbps}", WAV, audio.codec_round_trip, "AAC (ffmpeg aac, .m4a) at {kbps} kbit/s, decoded back to WAV",
          _each("kbps", 128, codec="aac"), requires="aac"),
    Sweep("opus-{kbps}", WAV, audio.codec_round_trip,
          "Opus (libopus, 48 kHz unless the rate is native) at {kbps} kbit/s, decoded back to WAV",
          _each("kbps", 64, codec="opus"), requires="libopus"),
    Sweep("noise-{snr_db}db", WAV, audio.white_noise, "seeded white Gaussian noise at {snr_db} dB SNR",
          _each("snr_db", 40, 30)),
    Sweep("gain{db:+d}db", WAV, audio.gain, "volume changed by {db:+d} dB (clipped to full scale)",
          _each("db", -6, 3)),
    Sweep("silence-start-{ms}ms", WAV, audio.silence_start, "{ms} ms of silence inserted before the start",
          _each("ms", 50)),
    Sweep("cut-start-{ms}ms", WAV, audio.cut_start, "the first {ms} ms cut away", _each("ms", 50)),
    Sweep("segment-loss-{percent}", WAV, audio.segment_loss,
          "{percent}% of the samples zeroed in 4 seeded segments", _each("percent", 10, 25)),
    Sweep("weights-fp16", NET, weights.half_precision, "float32 tensors converted to float16 and saved"),
    Sweep("prune-{percent}", NET, weights.prune, "{percent}% smallest-magnitude weights of each matrix zeroed",
          _each("percent", 10)),
    Sweep("weight-noise-{relative:g}", NET, weights.weight_noise,
          "seeded Gaussian noise of {relative:g} x each tensor's standard deviation", _each("relative", 0.001)),
    Sweep("metadata-stripped", NET, weights.strip_metadata, "the same tensors re-saved without metadata"),
)

ATTACKS: dict[str, Attack] = {a.name: a for sweep in SWEEPS if sweep.requires is None or
                              sweep.requires in audio.encoders() for a in sweep.attacks()}


def select(names: str) -> list[Attack]:
    """Attacks named in a comma-separated list; 'all' for every one, 'none' or '' for none."""
    if names.strip() in ("", "none"):
        return []
    if names.strip() == "all":
        return list(ATTACKS.values())
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in ATTACKS]
    if unknown:
        raise UsageError(f"unknown attack(s) {', '.join(unknown)}; available: all, none, {', '.join(ATTACKS)}")
    return [ATTACKS[n] for n in dict.fromkeys(wanted)]
