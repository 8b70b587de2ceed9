"""Audio features per video frame, and the mouth they drive.

One analysis window (Hann, two frame hops long) is centred on each video frame. From its power spectrum:

* loudness: power in the voice band (150-4000 Hz) in dB, mapped linearly from 35 dB under the clip's loud
  level (its 98th percentile, but at least -60 dB re full scale, so silence stays silent) to that level -> [0, 1];
* an F1 proxy (power centroid of 200-1000 Hz): open vowels (/a/) have a high first formant, close ones
  (/i/, /u/) a low one, so it scales the opening;
* an F2 proxy (power centroid of 900-2800 Hz): front vowels (/i/, /e/) spread the lips, back ones (/o/, /u/)
  round them;
* frication (power above 4 kHz against the voice band): /s/, /f/, /sh/ are loud but nearly closed.

MakeItTalk learns this mapping from audio-visual data; with no such data here, it is a fixed, explainable
mapping from the same kind of per-frame audio content, smoothed over ~40 ms as a jaw cannot jump.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VOICE_BAND = (150.0, 4000.0)  # Hz: where vowels and voiced consonants carry their energy
F1_BAND, F1_RANGE = (200.0, 1000.0), (300.0, 700.0)  # Hz: band, and the centroid mapped to 0..1
F2_BAND, F2_RANGE = (900.0, 2800.0), (1100.0, 2200.0)
FRICATION_CUTOFF = 4000.0  # Hz
DYNAMIC_RANGE_DB = 35.0  # loudness below (loud level - this) keeps the mouth closed
LOUD_PERCENTILE = 98.0
QUIETEST_LOUD_DBFS = -60.0  # a clip whose loud level is under this (dB re a full-scale sine) counts as silence
SMOOTH_FRAMES = 0.8  # Gaussian sigma in frames (32 ms at 25 fps)


@dataclass(frozen=True)
class MouthTrack:
    """Per-frame mouth controls (length T each): `open` in [0, 1], `width` in [-1, 1] (spread > 0, round < 0),
    and the raw frame energy in dB (`energy_db`, for measuring lip sync)."""

    open: np.ndarray
    width: np.ndarray
    energy_db: np.ndarray


def num_frames(duration: float, fps: float) -> int:
    """Frames covering `duration` seconds: the last frame may run past the sound by less than one frame."""
    return max(1, int(np.ceil(duration * fps - 1e-9)))


def frame_spectra(samples: np.ndarray, rate: int, fps: float, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Power spectra (count x bins) of Hann windows two hops long centred on each frame, and bin frequencies."""
    hop = rate / fps
    win = max(16, int(round(2 * hop)))
    x = np.pad(np.asarray(samples, dtype=np.float64), (win, win + int(np.ceil(hop)) + 1))
    starts = np.round((np.arange(count) + 0.5) * hop - win / 2).astype(np.int64) + win
    segments = x[starts[:, None] + np.arange(win)[None, :]] * np.hanning(win)[None, :]  # count x win
    power = np.abs(np.fft.rfft(segments, axis=1)) ** 2
    return power, np.fft.rfftfreq(win, 1.0 / rate)


def _band(power: np.ndarray, freqs: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    return power[:, (freqs >= band[0]) & (freqs < band[1])]


def _centroid(power: np.ndarray, freqs: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    sel = (freqs >= band[0]) & (freqs < band[1])
    p = power[:, sel]
    return (p * freqs[sel]).sum(1) / np.maximum(p.sum(1), 1e-20)


def _unit(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def energy_db(samples: np.ndarray, rate: int, fps: float, count: int) -> np.ndarray:
    """Per-frame energy (mean power of the frame's windowed spectrum, all frequencies) in dB, floor -100."""
    power, _ = frame_spectra(samples, rate, fps, count)
    return 10.0 * np.log10(np.maximum(power.mean(1), 1e-10))


def mouth_track(samples: np.ndarray, rate: int, fps: float, count: int | None = None) -> MouthTrack:
    """Mouth opening and width per frame from mono `samples` at `rate` Hz (see the module docstring)."""
    from scipy.ndimage import gaussian_filter1d

    samples = np.asarray(samples, dtype=np.float64).reshape(-1)
    count = num_frames(len(samples) / rate, fps) if count is None else count
    power, freqs = frame_spectra(samples, rate, fps, count)
    voice = _band(power, freqs, VOICE_BAND).sum(1)
    voice_db = 10.0 * np.log10(voice + 1e-12 * max(float(voice.max()), 1e-20))
    win = 2 * (len(freqs) - 1)
    full_scale_db = 10.0 * np.log10(3.0 / 32.0 * win**2)  # a full-scale sine: peak bin (win/4)^2 x ~1.5 bins
    loud_level = max(float(np.percentile(voice_db, LOUD_PERCENTILE)), full_scale_db + QUIETEST_LOUD_DBFS)
    loud = _unit(voice_db, loud_level - DYNAMIC_RANGE_DB, loud_level)
    f1 = _unit(_centroid(power, freqs, F1_BAND), *F1_RANGE)
    f2 = _unit(_centroid(power, freqs, F2_BAND), *F2_RANGE)
    high = power[:, freqs >= FRICATION_CUTOFF].sum(1)
    frication = _unit(np.log10((high + 1e-20) / (voice + 1e-20)), -1.0, 0.5)  # high band within 10x of voice
    opening = loud ** 0.8 * (0.6 + 0.4 * f1) * (1.0 - 0.5 * frication)
    width = loud * (2.0 * f2 - 1.0)
    opening = np.clip(gaussian_filter1d(opening, SMOOTH_FRAMES, mode="nearest"), 0.0, 1.0)
    width = np.clip(gaussian_filter1d(width, SMOOTH_FRAMES, mode="nearest"), -1.0, 1.0)
    return MouthTrack(opening, width, 10.0 * np.log10(np.maximum(power.mean(1), 1e-10)))
