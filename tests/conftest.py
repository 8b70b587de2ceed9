"""Shared fixtures: bundled assets and a way to run the real `crossteg` command as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crossteg.evaluate import assets_dir


@pytest.fixture(scope="session")
def assets() -> Path:
    return assets_dir()


def run_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python -m crossteg ARGS` and capture its output (never raises on a non-zero exit)."""
    return subprocess.run([sys.executable, "-m", "crossteg", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def write_g722(path: Path, source: str, volume: float = 1.0) -> Path:
    """A raw G.722 file, as asterisk's sound packages hold them, encoded by the bundled ffmpeg from an lavfi
    `source` at 16 kHz (e.g. "sine=frequency=220:duration=1:sample_rate=16000")."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", source, "-af",
                    f"volume={volume}", "-c:a", "g722", "-f", "g722", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module of tiny networks (faster, and far faster on a loaded machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
