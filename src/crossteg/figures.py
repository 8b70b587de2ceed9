"""Small matplotlib figures for reports (``crossteg demo``, benchmarks).

Pure functions on numpy arrays: each draws one figure, writes it as a compact PNG (dpi 100) to ``path`` and
returns the path. matplotlib is imported lazily with the non-interactive Agg backend, so ``import crossteg``
stays fast and no display is ever needed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Figure, path: str | Path) -> Path:
    """Render ``fig`` and write it as a palette PNG (256 colours): photos in full RGB would make report
    figures several hundred kB; a 256-colour palette keeps them under 200 kB with little visible loss."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.05)
    _pyplot().close(fig)
    buf.seek(0)
    with Image.open(buf) as im:
        rgb = im.convert("RGB")
    rgb.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    return path


def _as_rgb(img: np.ndarray) -> np.ndarray:
    """H x W, H x W x 1 or H x W x 3 (float in [0, 1] or uint8) -> float32 H x W x 3 in [0, 1]."""
    img = np.asarray(img)
    img = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    return np.clip(img, 0.0, 1.0)


def image_comparison(
    cover: np.ndarray,
    stego: np.ndarray,
    path: str | Path,
    amplify: float = 10.0,
    titles: Sequence[str] = ("cover", "stego", "|difference| x10"),
) -> Path:
    """Three panels: cover | stego | ``amplify`` x absolute difference (clipped to [0, 1]).

    cover, stego: H x W x 3 float arrays in [0, 1] (uint8 and grey images are accepted too).
    """
    a, b = _as_rgb(cover), _as_rgb(stego)
    if a.shape != b.shape:
        raise ValueError(f"cover {a.shape} and stego {b.shape} differ in shape")
    diff = np.clip(np.abs(a - b) * amplify, 0.0, 1.0)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(8.4, 3))
    for ax, img, title in zip(axes, (a, b, diff), titles, strict=True):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, path)


def _n_fft(sample_rate: int) -> int:
    return 1024 if sample_rate > 24_000 else 512


def _log_mel(x: np.ndarray, sample_rate: int, n_mels: int = 80) -> np.ndarray:
    """1-D signal -> n_mels x frames log-mel power spectrogram in dB (ref 1.0, so clips share one scale).

    The STFT is plain numpy (centred, Hann window, hop n_fft/4): librosa.stft's first call JIT-compiles for
    seconds, which a report figure does not need. Only librosa's mel filterbank is used.
    """
    import librosa

    n_fft = _n_fft(sample_rate)
    x = np.pad(np.asarray(x, dtype=np.float32), n_fft // 2, mode="constant")
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[:: n_fft // 4]  # frames x n_fft
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft + 1)[:-1], axis=1)) ** 2  # frames x bins
    mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels) @ power.T  # n_mels x frames
    return 10.0 * np.log10(np.maximum(mel, 1e-10))


def audio_comparison(
    secret: np.ndarray,
    revealed: np.ndarray,
    sample_rate: int,
    path: str | Path,
    titles: Sequence[str] = ("secret", "revealed"),
) -> Path:
    """2 x 2 grid: waveforms on top, log-mel spectrograms below, one colour scale for both.

    secret, revealed: 1-D float arrays (samples in [-1, 1]); lengths may differ.
    """
    import librosa.display

    xs = [np.asarray(a, dtype=np.float32).reshape(-1) for a in (secret, revealed)]
    specs = [_log_mel(x, sample_rate) for x in xs]
    vmax = max(float(s.max()) for s in specs)
    vmin = vmax - 80.0  # 80 dB dynamic range
    ylim = max(1e-3, max(float(np.abs(x).max(initial=0.0)) for x in xs)) * 1.05
    n_fft = _n_fft(sample_rate)
    plt = _pyplot()
    fig = plt.figure(figsize=(9, 4.6))
    grid = fig.add_gridspec(2, 3, width_ratios=[1, 1, 0.035], hspace=0.08, wspace=0.12)
    mesh = None
    for col, (x, spec, title) in enumerate(zip(xs, specs, titles, strict=True)):
        top = fig.add_subplot(grid[0, col])
        bottom = fig.add_subplot(grid[1, col], sharex=top)
        top.plot(np.arange(len(x)) / sample_rate, x, linewidth=0.5)
        top.set_ylim(-ylim, ylim)
        top.set_title(title, fontsize=10)
        top.tick_params(labelbottom=False)
        mesh = librosa.display.specshow(
            spec, sr=sample_rate, n_fft=n_fft, hop_length=n_fft // 4, x_axis="time", y_axis="mel",
            ax=bottom, vmin=vmin, vmax=vmax, cmap="magma",
        )  # fmt: skip
        bottom.set_xlim(0, len(x) / sample_rate)
        if col == 1:  # same axes as the left column: no repeated tick labels
            bottom.set_ylabel("")
            top.tick_params(labelleft=False)
            bottom.tick_params(labelleft=False)
    fig.colorbar(mesh, cax=fig.add_subplot(grid[1, 2]), format="%+.0f dB")
    return _save(fig, path)


def frame_strip(
    frames: np.ndarray,
    path: str | Path,
    n: int = 8,
    second: np.ndarray | None = None,
    labels: Sequence[str] = ("secret", "revealed"),
) -> Path:
    """``n`` evenly spaced frames of a video in one row; with ``second``, its frames as a second row.

    frames, second: T x H x W x 3 float arrays in [0, 1] (uint8 accepted); the rows use the same frame
    indices (taken over the shorter video). Frame indices are printed above the first row.
    """
    videos = [np.asarray(frames)] if second is None else [np.asarray(frames), np.asarray(second)]
    T = min(len(v) for v in videos)
    if T == 0:
        raise ValueError("empty video")
    idx = np.unique(np.linspace(0, T - 1, min(n, T)).round().astype(int))
    h, w = videos[0].shape[1:3]
    cell = min(1.3, 9.0 / len(idx))  # inches per frame: the strip stays <= ~9 in (900 px) wide
    plt = _pyplot()
    fig, axes = plt.subplots(
        len(videos), len(idx), figsize=(cell * len(idx) * w / max(h, w) + 0.4, cell * len(videos) + 0.3),
        squeeze=False,
    )  # fmt: skip
    for r, video in enumerate(videos):
        for c, i in enumerate(idx):
            ax = axes[r, c]
            ax.imshow(_as_rgb(video[i]), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t={i}", fontsize=8)
            if c == 0 and len(videos) > 1:
                ax.set_ylabel(labels[r], fontsize=9)
    fig.tight_layout(pad=0.2)
    return _save(fig, path)
