"""Distortions applied to a stego *file* the way a user's tools would, named so eval can sweep them.

Each attack reads a file and writes a new one; `crossteg eval --attacks` picks them by name. This module
holds the lossless re-saves every method must survive; the robustness issue adds lossy ones here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crossteg.errors import UsageError


@dataclass(frozen=True)
class Attack:
    """A named file-to-file distortion for stego files with one of `suffixes`."""

    name: str
    suffixes: tuple[str, ...]
    apply: Callable[[Path, Path], None]
    description: str


def _png_resave(src: Path, dst: Path) -> None:
    from PIL import Image as PILImage

    with PILImage.open(src) as img:
        PILImage.frombytes(img.mode, img.size, img.tobytes()).save(dst, format="PNG", optimize=True)  # no metadata


def _wav_resave(src: Path, dst: Path) -> None:
    import soundfile as sf

    data, rate = sf.read(src, dtype="int16", always_2d=True)
    sf.write(dst, data, rate, subtype="PCM_16")


ATTACKS: dict[str, Attack] = {a.name: a for a in (
    Attack("png-resave", (".png",), _png_resave, "re-saved by Pillow, metadata stripped, optimised"),
    Attack("wav-resave", (".wav",), _wav_resave, "re-written as 16-bit PCM by soundfile"),
)}


def select(names: str) -> list[Attack]:
    """Attacks named in a comma-separated list; 'all' for every one, 'none' or '' for none."""
    if names in ("", "none"):
        return []
    if names == "all":
        return list(ATTACKS.values())
    unknown = [n for n in names.split(",") if n not in ATTACKS]
    if unknown:
        raise UsageError(f"unknown attack(s) {', '.join(unknown)}; available: {', '.join(ATTACKS)}")
    return [ATTACKS[n] for n in names.split(",")]
