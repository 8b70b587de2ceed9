"""The ffmpeg binary bundled with imageio-ffmpeg (never a system ffmpeg), run as a checked subprocess."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def source(path: str | os.PathLike) -> str:
    """An input name ffmpeg cannot mistake for an option or a protocol (names with ':' or a leading '-')."""
    return f"file:{Path(path).absolute()}"


def run(args: list[str], data: bytes | None = None) -> tuple[int, str]:
    """Run `ffmpeg -v error ARGS`, feeding `data` to stdin if given; returns (exit status, error text)."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-v", "error", "-y"]
    if data is None:
        cmd.append("-nostdin")
    proc = subprocess.run(cmd + args, input=data, capture_output=True)
    return proc.returncode, proc.stderr.decode("utf-8", errors="replace")


def last_error(status: int, stderr: str) -> str:
    """The last line ffmpeg printed, which names the problem."""
    lines = stderr.strip().splitlines()
    return lines[-1] if lines else f"ffmpeg exited with status {status}"
