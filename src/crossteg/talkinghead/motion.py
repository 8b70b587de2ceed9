"""Natural blinks and small head motion, per frame.

MakeItTalk predicts head pose from the audio with a speaker-aware network; without its training data we use
a smooth random pose (slow drift, as people do while talking) plus a nod that follows the speech loudness
envelope, which gives the audio-correlated emphasis its network learns. Blinks follow human rates: every
2-6 s (about 15 a minute), each ~0.25 s long, closing faster than opening. A fixed seed makes a video
reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLINK_INTERVAL_S = (2.0, 6.0)  # uniform gap between blinks: ~15-20 blinks a minute in conversation
BLINK_SHAPE_S = ((0.0, 0.0), (0.04, 0.5), (0.08, 1.0), (0.12, 1.0), (0.16, 0.7), (0.2, 0.4), (0.24, 0.15),
                 (0.28, 0.0))  # (seconds, lid closure): fast close, slower open
ROLL_DEG = 1.5  # standard deviation of head roll
SHIFT = 0.012  # standard deviation of head translation, as a fraction of the face height
DRIFT_HZ = 0.3  # head drift is slower than this
NOD = 0.012  # downward nod at full loudness, fraction of the face height
SWAY_SCALE = 0.008  # forward/back sway: standard deviation of the scale change


@dataclass(frozen=True)
class Motion:
    """Per-frame controls (length T each): `blink` lid closure in [0, 1]; head roll (radians), shift (pixels,
    T x 2, x right y down) and `scale` about the face centre."""

    blink: np.ndarray
    roll: np.ndarray
    shift: np.ndarray
    scale: np.ndarray


def blinks(count: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Lid closure per frame: blinks at random 2-6 s gaps, the first 0.5-2.5 s in."""
    closure = np.zeros(count)
    times, values = np.array(BLINK_SHAPE_S).T
    start = rng.uniform(0.5, 2.5)
    while start * fps < count:
        t = np.arange(count) / fps - start
        closure = np.maximum(closure, np.interp(t, times, values, left=0.0, right=0.0))
        start += rng.uniform(*BLINK_INTERVAL_S)
    return closure


def _drift(count: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance noise low-passed below DRIFT_HZ (a smooth random wander)."""
    from scipy.ndimage import gaussian_filter1d

    sigma = fps / (2 * np.pi * DRIFT_HZ)  # Gaussian with its -3 dB point near DRIFT_HZ
    pad = int(3 * sigma) + 1
    x = gaussian_filter1d(rng.standard_normal(count + 2 * pad), sigma)[pad:pad + count]
    return x / max(float(np.std(gaussian_filter1d(rng.standard_normal(4096), sigma))), 1e-9)


def head_motion(count: int, fps: float, loudness: np.ndarray, face_height: float,
                rng: np.random.Generator) -> Motion:
    """Blinks, roll, shift and sway for `count` frames; `loudness` (0..1 per frame) drives the nod."""
    from scipy.ndimage import gaussian_filter1d

    nod = gaussian_filter1d(np.asarray(loudness, dtype=np.float64), fps * 0.12)  # a head moves slower than a jaw
    roll = np.deg2rad(ROLL_DEG) * _drift(count, fps, rng)
    shift = SHIFT * face_height * np.stack([_drift(count, fps, rng), _drift(count, fps, rng)], 1)
    shift[:, 1] += NOD * face_height * nod
    scale = 1.0 + SWAY_SCALE * _drift(count, fps, rng)
    return Motion(blinks(count, fps, rng), roll, shift, scale)
