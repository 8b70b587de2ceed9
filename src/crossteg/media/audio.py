"""Audio: a float32 channels x frames container in [-1, 1] with its sample rate, and its file formats.

WAV/FLAC/OGG/AIFF are read through soundfile; anything else (MP3, AAC/M4A, Opus, the sound of a video file) is
decoded by the ffmpeg binary that ships with imageio-ffmpeg, so no system ffmpeg is needed. soundfile writes
WAV, FLAC and AIFF, and MP3, Ogg Vorbis and Opus for listening to a revealed secret (stego files are never
written lossy: each method names its stego format).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from crossteg.errors import MediaError
from crossteg.media import _ffmpeg
from crossteg.media.files import atomic_path

EXTS = frozenset({".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".mp3", ".m4a", ".aac", ".opus", ".wma", ".caf",
                  ".amr", ".weba", ".mka"})
_SOUNDFILE_EXTS = frozenset({".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff"})
# Writable suffix -> (libsndfile format, codec subtype for lossy formats, sample rates the codec takes or None).
_WRITE_FORMATS: dict[str, tuple[str, str | None, tuple[int, ...] | None]] = {
    ".wav": ("WAV", None, None),
    ".flac": ("FLAC", None, None),
    ".aif": ("AIFF", None, None),
    ".aiff": ("AIFF", None, None),
    ".mp3": ("MP3", "MPEG_LAYER_III", (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)),
    ".ogg": ("OGG", "VORBIS", None),
    ".oga": ("OGG", "VORBIS", None),
    ".opus": ("OGG", "OPUS", (8000, 12000, 16000, 24000, 48000)),
}
WRITE_EXTS = frozenset(_WRITE_FORMATS)
_MAX_CHANNELS = 64  # more than this is almost surely a frames x channels array passed the wrong way round


@dataclass
class Audio:
    """Sound: `samples` is float32 channels x frames (C x T) in [-1, 1]; 1-D input is mono (1 x T)."""

    samples: np.ndarray
    sample_rate: int
    modality: ClassVar[str] = "audio"

    def __post_init__(self) -> None:
        s = np.asarray(self.samples)
        if np.issubdtype(s.dtype, np.integer):
            raise ValueError("Audio samples must be floats in [-1, 1]; use Audio.from_int16 for 16-bit PCM")
        if s.ndim == 1:
            s = s[None, :]
        if s.ndim != 2 or not 1 <= s.shape[0] <= _MAX_CHANNELS:
            raise ValueError(f"Audio samples must be channels x frames (C <= {_MAX_CHANNELS}), got {s.shape}")
        self.samples = np.ascontiguousarray(s, dtype=np.float32)
        self.sample_rate = int(self.sample_rate)
        if self.sample_rate <= 0:
            raise ValueError(f"sample rate must be positive, got {self.sample_rate}")

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate

    def to_int16(self) -> np.ndarray:
        """C x T int16 = clip(round(x * 32768), -32768, 32767); `from_int16` inverts it exactly."""
        return np.clip(np.round(self.samples * np.float32(32768.0)), -32768, 32767).astype(np.int16)

    @property
    def is_16bit(self) -> bool:
        """Whether every sample lies on the 16-bit PCM grid (`to_int16` keeps it exactly)."""
        return bool(np.array_equal(self.to_int16().astype(np.float32) / np.float32(32768.0), self.samples))

    @classmethod
    def from_int16(cls, arr: np.ndarray, sample_rate: int) -> Audio:
        """Audio from 16-bit PCM values (C x T or T), as arr / 32768 (exact in float32)."""
        a = np.asarray(arr)
        if not np.issubdtype(a.dtype, np.integer) or (a.size and (a.min() < -32768 or a.max() > 32767)):
            raise ValueError("from_int16 needs integer samples in [-32768, 32767]")
        return cls(a.astype(np.float32) / np.float32(32768.0), sample_rate)

    def mono(self) -> Audio:
        """Mix down to one channel (mean over channels)."""
        return Audio(self.samples.mean(axis=0, keepdims=True), self.sample_rate)

    def resample(self, sample_rate: int) -> Audio:
        """This audio at another rate (see `resample`); a no-op at the same rate."""
        if int(sample_rate) == self.sample_rate:
            return self
        out = resample(self.samples, self.sample_rate, sample_rate)
        return Audio(out.astype(np.float32).reshape(self.channels, -1), int(sample_rate))


def conformed(audio: Audio, sample_rate: int | None, what: str) -> Audio:
    """`audio` mixed to mono (and resampled to `sample_rate` unless None), with one warning naming what changed,
    since `what` (e.g. "inrweights reveals the audio") then gives it back in that form, not the file's own."""
    changes = [f"mixed from {audio.channels} channels to mono"] if audio.channels > 1 else []
    if sample_rate is not None and audio.sample_rate != int(sample_rate):
        changes.append(f"resampled from {audio.sample_rate} Hz to {int(sample_rate)} Hz")
    if changes:
        warnings.warn(f"{what} {' and '.join(changes)}", stacklevel=3)
    mono = audio.mono() if audio.channels > 1 else audio
    return mono if sample_rate is None else mono.resample(sample_rate)


def fit_length(samples: np.ndarray, n: int) -> np.ndarray:
    """`samples` (1-D or C x T) cut or zero-padded to `n` along the last (time) axis."""
    kept = samples[..., :n]
    return np.pad(kept, [(0, 0)] * (kept.ndim - 1) + [(0, n - kept.shape[-1])])


def resample(samples: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """The one place crossteg resamples: soxr (high quality) along the last axis of a T or C x T array.

    The new length is round(frames * target_rate / sample_rate); the dtype is float64 for float64 input.
    """
    sample_rate, target_rate = int(sample_rate), int(target_rate)
    if sample_rate <= 0 or target_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {sample_rate} and {target_rate}")
    x = np.asarray(samples)
    if sample_rate == target_rate:
        return x
    import soxr

    out = soxr.resample(np.ascontiguousarray(x.T), sample_rate, target_rate, quality="HQ")
    return np.asarray(out).T


def decode_with_ffmpeg(path: str | os.PathLike) -> Audio | None:
    """Decode the first audio stream of any file ffmpeg reads; None when the file has no audio stream."""
    import soundfile as sf

    with tempfile.TemporaryDirectory(prefix="crossteg-") as tmp:
        wav = Path(tmp) / "audio.wav"
        args = ["-i", _ffmpeg.source(path), "-map", "0:a:0", "-c:a", "pcm_f32le", "-f", "wav", str(wav)]
        status, stderr = _ffmpeg.run(args)
        if status != 0:
            if "matches no streams" in stderr:
                return None
            raise MediaError(f"cannot read audio {path}: {_ffmpeg.last_error(status, stderr)}")
        data, rate = sf.read(wav, dtype="float32", always_2d=True)
    return Audio(data.T, rate)


def _read_soundfile(path: Path) -> Audio:
    import soundfile as sf

    if sf.info(str(path)).subtype == "PCM_16":  # read the integers so 16-bit files round-trip exactly
        data, rate = sf.read(str(path), dtype="int16", always_2d=True)
        return Audio.from_int16(data.T, rate)
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return Audio(data.T, rate)


def load_audio(path: str | os.PathLike, sample_rate: int | None = None, mono: bool = False) -> Audio:
    """Read a sound file (WAV, FLAC, OGG, MP3, M4A, ... or a video's audio track), optionally mixed to mono
    and resampled to `sample_rate`."""
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        raise MediaError(f"no such file: {p}")
    audio: Audio | None
    if p.suffix.lower() in _SOUNDFILE_EXTS:
        try:
            audio = _read_soundfile(p)
        except (sf.SoundFileError, RuntimeError, OSError, ValueError) as exc:
            try:  # e.g. an .ogg holding a codec this libsndfile lacks
                audio = decode_with_ffmpeg(p)
            except MediaError:
                raise MediaError(f"cannot read audio {p}: {exc}") from exc
    else:
        audio = decode_with_ffmpeg(p)
    if audio is None:
        raise MediaError(f"cannot read audio {p}: it has no audio stream")
    bad = int(np.count_nonzero(~np.isfinite(audio.samples)))
    if bad:  # a damaged float file: NaN would spread through every network and filter that reads it
        raise MediaError(f"cannot read audio {p}: {bad} of its samples are NaN or infinite (a damaged float file)")
    if mono:
        audio = audio.mono()
    if sample_rate is not None:
        audio = audio.resample(sample_rate)
    return audio


def save_audio(audio: Audio, path: str | os.PathLike, subtype: str = "PCM_16") -> None:
    """Write .wav or .aiff (16-bit PCM from `to_int16`, exact; subtype="FLOAT" for float32), .flac (16-bit), or
    a lossy .mp3, .ogg (Vorbis) or .opus for listening (resampled up to a rate the codec takes)."""
    import soundfile as sf

    out = Path(path)
    if out.suffix.lower() not in _WRITE_FORMATS:
        raise MediaError(f"cannot write audio as '{out.suffix}' (use {', '.join(sorted(_WRITE_FORMATS))})")
    fmt, codec, rates = _WRITE_FORMATS[out.suffix.lower()]
    subtype = subtype.upper()
    if codec is not None:  # lossy: the codec is the subtype; asking for exact samples is a mistake
        if subtype != "PCM_16":
            raise MediaError(f"cannot write {subtype} samples to a lossy {out.suffix} file (use .wav)")
        subtype = codec
        if rates is not None and audio.sample_rate not in rates:
            audio = audio.resample(next((r for r in rates if r > audio.sample_rate), rates[-1]))
    if not sf.check_format(fmt, subtype):
        raise MediaError(f"cannot write {fmt} audio with subtype {subtype}")
    if subtype == "PCM_16":
        data = audio.to_int16().T
    elif subtype in ("FLOAT", "DOUBLE"):
        data = audio.samples.T
    else:  # other integer widths and codecs: libsndfile converts, so clip first to avoid wrap-around
        data = np.clip(audio.samples, -1.0, 1.0).T
    try:
        with atomic_path(out) as tmp:
            sf.write(str(tmp), data, audio.sample_rate, subtype=subtype, format=fmt)
    except (sf.SoundFileError, RuntimeError, OSError) as exc:
        raise MediaError(f"cannot write audio {out}: {exc}") from exc
