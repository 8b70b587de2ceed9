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
        """The exact bytes of a file; MediaError for a .gltf whose data lies in files beside it (they would not
        be hidden with it, and what comes back could not be read)."""
        data, suffix = Path(path).read_bytes(), Path(path).suffix.lower()
        if suffix == ".gltf" and (beside := _files_beside(data)):
            from crossteg.errors import MediaError

            raise MediaError(f"{Path(path).name} keeps its data in other files ({', '.join(beside)}), which would "
                             "not be hidden with it: hide it as one .glb file")
        return cls(data, suffix)

    @classmethod
    def from_media(cls, obj: Any) -> Payload:
        """A media object serialised losslessly and compactly (see `crossteg.media.encode`)."""
        from crossteg.media import encode

        return cls(*encode(obj))

    def decode(self) -> Any:
        """The media object these bytes hold (MediaError if they are not a media file)."""
        from crossteg.media import decode

        return decode(self.data, self.suffix)


def _files_beside(gltf: bytes) -> list[str]:
    """The files a glTF (JSON) names for its buffers and images, other than data embedded as data: URIs."""
    import json

    try:
        document = json.loads(gltf)
    except ValueError:
        return []  # not JSON: hidden as the bytes it is
    entries = [*document.get("buffers", []), *document.get("images", [])] if isinstance(document, dict) else []
    uris = [entry.get("uri") for entry in entries if isinstance(entry, dict)]
    return [uri for uri in uris if isinstance(uri, str) and not uri.startswith("data:")]
