"""Payload: the bytes of a secret file, for methods that hide any file (lsb) rather than one modality."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class Payload:
    """A secret as bytes plus the suffix of the file it came from (".wav", ".png", ... or "")."""

    data: bytes
    suffix: str = ""
    modality: ClassVar[str] = "bytes"

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Payload:
        """The exact bytes of a file."""
        return cls(Path(path).read_bytes(), Path(path).suffix.lower())

    @classmethod
    def from_media(cls, obj: Any) -> Payload:
        """A media object serialised losslessly and compactly (see `crossteg.media.encode`)."""
        from crossteg.media import encode

        return cls(*encode(obj))

    def decode(self) -> Any:
        """The media object these bytes hold (MediaError if they are not a media file)."""
        from crossteg.media import decode

        return decode(self.data, self.suffix)
