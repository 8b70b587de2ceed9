"""The ffmpeg binary bundled with imageio-ffmpeg (never a system ffmpeg), run as a checked subprocess."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path


def source(path: str | os.PathLike) -> str:
    """An input name ffmpeg cannot mistake for an option or a protocol (names with ':' or a leading '-')."""
    return f"file:{Path(path).absolute()}"


def _command() -> list[str]:
    """The bundled ffmpeg, quiet but for errors, overwriting its output."""
    import imageio_ffmpeg

    return [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-v", "error", "-y"]


def run(args: list[str], data: bytes | Iterable[bytes] | None = None) -> tuple[int, str]:
    """Run `ffmpeg -v error ARGS`, feeding `data` to stdin if given (bytes, or chunks written as they come, so a
    long video need not be held whole); returns (exit status, error text)."""
    cmd = _command()
    if data is None:
        cmd.append("-nostdin")
    if data is None or isinstance(data, bytes):
        proc = subprocess.run(cmd + args, input=data, capture_output=True)
        return proc.returncode, proc.stderr.decode("utf-8", errors="replace")
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: ffmpeg can never block on a full one
        streaming = subprocess.Popen(cmd + args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
        assert streaming.stdin is not None
        try:
            for chunk in data:
                streaming.stdin.write(chunk)
        except BrokenPipeError:
            pass  # ffmpeg stopped reading: its status and message say why
        except BaseException:  # the producer failed or was interrupted: no half-encoded file is kept going
            streaming.kill()
            streaming.wait()
            raise
        with contextlib.suppress(BrokenPipeError):
            streaming.stdin.close()
        status = streaming.wait()
        errors.seek(0)
        return status, errors.read().decode("utf-8", errors="replace")


def first_picture(path: str | os.PathLike, pix_fmt: str) -> bytes | None:
    """The first picture of the file at `path` as raw `pix_fmt` pixels, or None where ffmpeg cannot decode it."""
    proc = subprocess.run(_command() + ["-nostdin", "-i", source(path), "-frames:v", "1", "-f", "rawvideo",
                                        "-pix_fmt", pix_fmt, "-"], capture_output=True)
    return proc.stdout if proc.returncode == 0 else None


def has_stream(path: str | os.PathLike, kind: str) -> bool:
    """Whether ffmpeg decodes a stream of `kind` ("v" video, "a" audio) from the start of the file at `path`."""
    status, _ = run(["-i", source(path), "-map", f"0:{kind}:0", "-t", "0.05", "-f", "null", "-"])
    return status == 0


def last_error(status: int, stderr: str) -> str:
    """The last line ffmpeg printed, which names the problem."""
    lines = stderr.strip().splitlines()
    return lines[-1] if lines else f"ffmpeg exited with status {status}"
