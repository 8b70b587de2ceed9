"""Safe file writing shared by every writer: outputs are checked first and written atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from crossteg.errors import UsageError


def check_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), force: bool = False) -> Path:
    """Refuse an output that is one of the inputs (never, even with force) or that exists without force."""
    out = Path(path)
    for inp in inputs:
        if out.resolve() == Path(inp).resolve():
            raise UsageError(f"output {out} is one of the inputs; inputs are never overwritten")
    if out.is_dir():  # --force would not help
        raise UsageError(f"output {out} is a directory")
    if out.exists() and not force:
        raise UsageError(f"output {out} already exists (use --force to replace it)")
    _check_folder(out)
    return out


def _check_folder(out: Path) -> None:
    """Refuse, before the work that fills it, an output that its folder cannot take: a file where a folder must
    be, or no permission to write there (folders still missing are made when it is written)."""
    folder = out.absolute().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"cannot write {out}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {out}: no permission to write in {folder}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix); rename it into place only if the body succeeds."""
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=f".tmp{out.suffix}", dir=out.parent)
    except OSError as exc:  # its own words, not the temporary file's name
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _new_file_mode())  # mkstemp makes 0600 files; outputs get the usual umask permissions
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _new_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write bytes to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
