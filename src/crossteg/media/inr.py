"""INR: a neural representation stored as a `.safetensors` file (tensors + string metadata, no pickle).

Kept free of torch: tensors are numpy arrays; methods build their networks from them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from crossteg.errors import MediaError
from crossteg.media.files import atomic_path

EXTS = frozenset({".safetensors"})


@dataclass
class INR:
    """Named weight arrays plus metadata (architecture, what the network represents)."""

    tensors: dict[str, np.ndarray]
    metadata: dict[str, str] = field(default_factory=dict)
    modality: ClassVar[str] = "inr"

    @property
    def parameters(self) -> int:
        """Number of stored values."""
        return sum(int(t.size) for t in self.tensors.values())


def load_inr(path: str | os.PathLike) -> INR:
    """Read a .safetensors file; MediaError when it is not one."""
    from safetensors import safe_open

    try:
        with safe_open(os.fspath(path), framework="np") as f:
            return INR({name: f.get_tensor(name) for name in f.keys()}, dict(f.metadata() or {}))  # noqa: SIM118
    except Exception as err:  # safetensors raises several types for a damaged header
        raise MediaError(f"cannot read {path} as a .safetensors network: {err}") from None


def save_inr(inr: INR, path: str | os.PathLike) -> None:
    """Write a .safetensors file atomically."""
    from safetensors.numpy import save_file

    with atomic_path(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in inr.tensors.items()}, os.fspath(tmp), metadata=inr.metadata)
