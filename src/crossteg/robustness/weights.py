"""Attacks on a stego network file (`.safetensors`), each `fn(src, dst, **strength)`: what model tools do.

Sharing a network invites the same treatment as sharing a photo: it is converted to half precision to halve
its size, magnitude-pruned, fine-tuned a little, or loaded and re-saved by a framework that keeps the tensors
and drops the metadata. Each attack reads the tensors, changes them as that tool would, and writes a fresh
`.safetensors` file; tensor names, shapes and (unless stated) metadata are kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crossteg.media.inr import INR, load_inr, save_inr
from crossteg.robustness.common import SEED, NotApplicable


def _floats(inr: INR) -> list[str]:
    """Names of the float32 tensors (an int8 tensor and its float scale are left alone by these tools)."""
    return [n for n, t in inr.tensors.items() if t.dtype == np.float32 and not n.endswith(".scale")]


def half_precision(src: Path, dst: Path) -> None:
    """Every float32 tensor stored as float16 (`model.half()` and save)."""
    inr = load_inr(src)
    names = _floats(inr)
    if not names:
        raise NotApplicable("no float32 tensors to convert")
    tensors = {**inr.tensors, **{n: inr.tensors[n].astype(np.float16) for n in names}}
    save_inr(INR(tensors, inr.metadata), dst)


def prune(src: Path, dst: Path, percent: float) -> None:
    """The `percent`% smallest-magnitude entries of each float weight matrix set to zero (biases kept)."""
    inr = load_inr(src)
    tensors = dict(inr.tensors)
    for name in _floats(inr):
        value = tensors[name]
        if value.ndim == 2:
            cut = np.percentile(np.abs(value), percent)
            tensors[name] = np.where(np.abs(value) <= cut, np.float32(0), value).astype(np.float32)
    save_inr(INR(tensors, inr.metadata), dst)


def weight_noise(src: Path, dst: Path, relative: float) -> None:
    """Seeded Gaussian noise of `relative` times each float tensor's standard deviation (a light fine-tune)."""
    inr = load_inr(src)
    rng = np.random.Generator(np.random.PCG64(SEED))
    tensors = dict(inr.tensors)
    for name in _floats(inr):
        value = tensors[name]
        noise = rng.standard_normal(value.shape) * (relative * float(value.std()))
        tensors[name] = (value + noise).astype(np.float32)
    save_inr(INR(tensors, inr.metadata), dst)


def strip_metadata(src: Path, dst: Path) -> None:
    """The same tensors re-saved with no metadata (a framework's load-state-dict-and-save)."""
    inr = load_inr(src)
    if not inr.metadata:
        raise NotApplicable("the file has no metadata")
    save_inr(INR(inr.tensors, {}), dst)
