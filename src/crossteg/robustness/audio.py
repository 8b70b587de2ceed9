"""Attacks on a stego WAV, each `fn(src, dst, **strength)`: what audio editors, converters and channels do.

The attacked file is written as a WAV of the input's own sample type (16-bit PCM stays 16-bit, float stays
float), except `wav_resave` (always 16-bit) and `wav_24bit`. Lossy codecs are round trips through the ffmpeg
binary bundled with imageio-ffmpeg: encode at a bit-rate, decode, write the decoded samples as WAV, which is
what a method sees after a user converts the compressed file back. All resampling (rate round trips, and the
48 kHz Opus works at) goes through `crossteg.media.audio.resample`, the one resampler.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np

from crossteg.errors import MediaError
from crossteg.media import _ffmpeg
from crossteg.media.audio import Audio, decode_with_ffmpeg, fit_length, load_audio, save_audio
from crossteg.robustness.common import SEED, NotApplicable

OPUS_RATES = (48000, 24000, 16000, 12000, 8000)  # the only input rates the Opus codec accepts (RFC 6716 sec. 2)
# codec -> (ffmpeg encoder, container suffix, input rates it takes or None for any)
CODECS: dict[str, tuple[str, str, tuple[int, ...] | None]] = {
    "mp3": ("libmp3lame", ".mp3", None),
    "aac": ("aac", ".m4a", None),
    "opus": ("libopus", ".ogg", OPUS_RATES),
}


@functools.cache
def encoders() -> frozenset[str]:
    """Audio encoders the bundled ffmpeg has (empty when imageio-ffmpeg has no binary for this platform)."""
    import subprocess

    import imageio_ffmpeg

    try:  # _ffmpeg.run keeps only stderr; the listing is on stdout
        listing = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True,
                                 text=True, check=True).stdout
    except (RuntimeError, OSError, subprocess.CalledProcessError):
        return frozenset()
    lines = [line.split() for line in listing.splitlines()]
    return frozenset(words[1] for words in lines if len(words) > 1 and words[0].startswith("A"))


def _read(src: Path) -> tuple[Audio, str]:
    """The audio and its soundfile subtype (PCM_16, PCM_24, FLOAT, ...)."""
    import soundfile as sf

    return load_audio(src), sf.info(str(src)).subtype


def wav_resave(src: Path, dst: Path) -> None:
    """Re-write as 16-bit PCM (lossless for a 16-bit stego; quantises a float one, as `Audio.to_int16` does)."""
    save_audio(load_audio(src), dst, subtype="PCM_16")


def wav_24bit(src: Path, dst: Path) -> None:
    """Re-write as 24-bit PCM: round(x * 2^23), exact for 16-bit values, a 24-bit quantisation of a float stego."""
    import soundfile as sf

    audio = load_audio(src)
    pcm24 = np.clip(np.round(audio.samples.astype(np.float64) * 2**23), -(2**23), 2**23 - 1).astype(np.int32)
    sf.write(dst, (pcm24 << 8).T, audio.sample_rate, subtype="PCM_24", format="WAV")  # the top 24 bits are kept


def resample_round_trip(src: Path, dst: Path, rate: int) -> None:
    """Resample to `rate` and back (soxr HQ); the length is fitted to the original (rounding can add a sample)."""
    audio, subtype = _read(src)
    if audio.sample_rate == rate:
        raise NotApplicable(f"{src.name} is already at {rate} Hz")
    back = audio.resample(rate).resample(audio.sample_rate)
    save_audio(Audio(fit_length(back.samples, audio.frames), audio.sample_rate), dst, subtype=subtype)


def codec_round_trip(src: Path, dst: Path, codec: str, kbps: int) -> None:
    """Encode with `codec` at `kbps` kbit/s, decode, and write back at the original rate (length as decoded)."""
    audio, subtype = _read(src)
    encoder, suffix, rates = CODECS[codec]
    rate = audio.sample_rate if rates is None or audio.sample_rate in rates else max(rates)
    with tempfile.TemporaryDirectory(prefix="crossteg-attack-") as tmp:
        raw, coded = Path(tmp) / "in.wav", Path(tmp) / f"coded{suffix}"
        save_audio(audio.resample(rate), raw, subtype="FLOAT")
        status, stderr = _ffmpeg.run(["-i", _ffmpeg.source(raw), "-c:a", encoder, "-b:a", f"{kbps}k", str(coded)])
        if status != 0:
            raise MediaError(f"{codec} encoding failed: {_ffmpeg.last_error(status, stderr)}")
        decoded = decode_with_ffmpeg(coded)
    if decoded is None:
        raise MediaError(f"{codec} encoding produced no audio")
    save_audio(decoded.resample(audio.sample_rate), dst, subtype=subtype)


def white_noise(src: Path, dst: Path, snr_db: float) -> None:
    """Add seeded white Gaussian noise `snr_db` dB below the signal's mean power (a silent file stays silent)."""
    audio, subtype = _read(src)
    power = float(np.mean(audio.samples.astype(np.float64) ** 2))
    noise = np.random.default_rng(SEED).normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), audio.samples.shape)
    save_audio(Audio(audio.samples + noise, audio.sample_rate), dst, subtype=subtype)


def gain(src: Path, dst: Path, db: float) -> None:
    """Change the volume by `db` dB, clipped to full scale: an editor's gain or normalisation, ffmpeg's -3 dB
    mono-to-stereo up-mix."""
    audio, subtype = _read(src)
    save_audio(Audio(np.clip(audio.samples * 10 ** (db / 20), -1.0, 1.0), audio.sample_rate), dst, subtype=subtype)


def silence_start(src: Path, dst: Path, ms: float) -> None:
    """Insert `ms` milliseconds of digital silence before the first sample: an editor's pause, a recorder's
    lead-in (at the file's rate, so a fraction of a sample at another)."""
    audio, subtype = _read(src)
    lead = np.zeros((audio.channels, round(audio.sample_rate * ms / 1000)), np.float32)
    save_audio(Audio(np.concatenate([lead, audio.samples], 1), audio.sample_rate), dst, subtype=subtype)


def cut_start(src: Path, dst: Path, ms: float) -> None:
    """Cut the first `ms` milliseconds away: an editor's trimmed intro."""
    audio, subtype = _read(src)
    save_audio(Audio(audio.samples[:, round(audio.sample_rate * ms / 1000):], audio.sample_rate), dst, subtype=subtype)


def segment_loss(src: Path, dst: Path, percent: float, segments: int = 4) -> None:
    """Zero `percent` % of the frames (all channels) in `segments` seeded segments, one in each equal
    stretch of the file so they never overlap: dropped packets, an edit, a glitch."""
    audio, subtype = _read(src)
    samples, frames = audio.samples.copy(), audio.frames
    rng = np.random.default_rng(SEED)
    total, zone = round(frames * percent / 100), frames // segments
    for i, length in enumerate(np.diff(np.linspace(0, total, segments + 1).round().astype(int))):
        length = min(int(length), zone)
        start = zone * i + int(rng.integers(0, zone - length + 1))
        samples[:, start:start + length] = 0.0
    save_audio(Audio(samples, audio.sample_rate), dst, subtype=subtype)
