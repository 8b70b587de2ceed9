"""The contract every method implements, and the one registry the CLI, cards, eval and tests read.

    cover ──┐
            ├─ Method.hide(cover, secret, key) ──> stego (same modality as cover, saved as an ordinary file)
    secret ─┘
    stego ──── Method.reveal(stego, key, level) ──> secret

A method is one module in `crossteg/methods/` whose class is decorated with `@register`; the registry finds
every such module on first use, so adding a method is adding a file.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from crossteg.errors import CapacityError, UsageError
from crossteg.keys import Key

Progress = Callable[..., None]
"""progress(description, completed, total, detail=""): called by long-running methods; the CLI draws a bar,
with `detail` (e.g. the metric reached so far) beside it."""

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
MODALITIES = ("image", "audio", "video", "shape")


def no_progress(description: str, completed: float, total: float, detail: str = "") -> None:
    """The default progress callback: ignores everything."""


@dataclass(frozen=True)
class Capacity:
    """How much secret fits in a cover, in the secret's own units (bytes, seconds of speech, frames...)."""

    amount: float
    unit: str

    def __str__(self) -> str:
        return self.quantity(self.amount)

    def quantity(self, amount: float) -> str:
        """`amount` in this unit, for people: "2 secrets", "1 secret" (a plural unit's s dropped for one),
        "4000078 bytes", "10.04 seconds" (never in powers of ten)."""
        number = f"{amount:.0f}" if float(amount).is_integer() else f"{amount:.3f}".rstrip("0").rstrip(".")
        return f"{number} {self.unit.removesuffix('s') if amount == 1 else self.unit}"


class Method(ABC):
    """A steganographic method: hides secrets of `secret` modalities in covers of `cover` modalities."""

    id: ClassVar[str]
    title: ClassVar[str]
    paper: ClassVar[str] = ""
    secret: ClassVar[tuple[str, ...]]
    cover: ClassVar[tuple[str, ...]]
    stego: ClassVar[tuple[str, ...]] = ()  # modality of the stego file when it is not the cover's (e.g. "inr")
    stego_ext: ClassVar[tuple[str, ...]]  # suffixes a stego file may be written as, in `cover` order
    weights: ClassVar[tuple[str, ...]] = ()  # files under crossteg/weights/ the method needs
    levels: ClassVar[int] = 1  # nested access levels (reveal --level)
    max_secrets: ClassVar[int] = 1  # hide() takes a list when > 1
    hides_bytes: ClassVar[bool] = False  # True: the secret is any file's bytes (a Payload), not one modality
    quick_options: ClassVar[dict[str, Any]] = {}  # constructor options for `crossteg eval --suite quick`
    # steganalysis: the secret may fill only part of a large stego image (tiles), so its learned detector
    # also scores windows of the size it was trained on and reports the most suspect
    local_embedding: ClassVar[bool] = False
    # steganalysis: the rate an audio stego's change is made at whatever the cover's (ditas: 16 kHz, the stego being
    # the cover plus the change resampled to its rate); its learned detector looks at other rates resampled to it
    embedding_rate: ClassVar[int | None] = None

    def __init__(self, quality: str = "fast") -> None:
        self.quality = quality  # "fast" stops early on a target metric; "paper" uses the paper's step counts

    @abstractmethod
    def capacity(self, cover: Any) -> Capacity:
        """How much secret `cover` can carry."""

    @abstractmethod
    def secret_size(self, secret: Any) -> float:
        """The size of `secret` in the unit of `capacity()`."""

    @abstractmethod
    def hide(self, cover: Any, secret: Any, key: Key = None, *, progress: Progress = no_progress) -> Any:
        """Return the stego object: the cover's modality, carrying `secret`."""

    @abstractmethod
    def reveal(self, stego: Any, key: Key = None, *, level: int = 1, progress: Progress = no_progress) -> Any:
        """Recover the secret from `stego`; a wrong key raises KeyError_ or yields noise, never crashes."""

    # Shared behaviour -----------------------------------------------------------------------------------

    def capacity_for(self, cover: Any, secret: Any) -> Capacity:
        """The capacity that applies to hiding `secret` (as passed to `hide`) in `cover`."""
        return self.capacity(cover)

    def check_fits(self, cover: Any, secret: Any) -> None:
        """Raise CapacityError, saying capacity and size, when `secret` does not fit in `cover`."""
        self.check_size(self.capacity_for(cover, secret), self.secret_size(secret))

    def check_size(self, cap: Capacity, size: float) -> None:
        """Raise CapacityError when `size` is over `cap`, saying both."""
        if size > cap.amount:
            raise CapacityError(f"secret is {cap.quantity(size)} but this cover holds at most {cap} with {self.id}")

    def check_cover(self, cover: Any) -> None:
        """Raise UsageError when the cover's modality is not one this method hides in."""
        modality = getattr(cover, "modality", type(cover).__name__)
        if modality not in self.cover:
            raise UsageError(f"{self.id} hides in {' or '.join(self.cover)}, not in {modality}")

    def render_cover(self, stego: Any) -> Any:
        """What the world sees of a stego object, comparable with the cover (the stego itself, for most)."""
        return stego

    def container_reference(self, cover: Any) -> Any:
        """What the stego of `cover` should look like: the cover itself, for most; a method that resizes its
        cover (inrweights) compares its container with the resized cover."""
        return cover

    def stego_modalities(self) -> tuple[str, ...]:
        """Modalities a stego file of this method can have."""
        return self.stego or self.cover

    def stego_subtype(self) -> str | None:
        """The audio file subtype the stego must be written with (e.g. "FLOAT"), or None for the default
        16-bit PCM; `--float32` asks for float either way."""
        return None

    def stego_suffix(self, cover: Any) -> str:
        """The file suffix the stego of `cover` must be saved with."""
        return self.stego_ext[self.cover.index(cover.modality)]

    def weights_present(self) -> bool:
        """True when every weight file the method needs is shipped."""
        return all((WEIGHTS_DIR / name).exists() for name in self.weights)

    @classmethod
    def options(cls) -> list[str]:
        """Names of the constructor options (`crossteg hide/reveal -O NAME=VALUE`), besides quality."""
        params = inspect.signature(cls.__init__).parameters.items()
        return [name for name, p in params if name not in ("self", "quality")
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    @classmethod
    def info(cls) -> dict[str, Any]:
        """What `crossteg methods --json` prints for this method."""
        return {
            "id": cls.id,
            "title": cls.title,
            "paper": cls.paper,
            "secret": list(cls.secret),
            "cover": list(cls.cover),
            "stego_ext": list(dict.fromkeys(cls.stego_ext)),
            "levels": cls.levels,
            "max_secrets": cls.max_secrets,
            "weights": cls().weights_present(),
            "options": cls.options(),
        }


_REGISTRY: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make `cls` reachable as `get_method(cls.id)`."""
    if cls.id in _REGISTRY and _REGISTRY[cls.id] is not cls:
        raise RuntimeError(f"method id {cls.id!r} registered twice")
    _REGISTRY[cls.id] = cls
    return cls


def _discover() -> None:
    package = importlib.import_module("crossteg.methods")
    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "base" and not module.name.startswith("_"):
            importlib.import_module(f"crossteg.methods.{module.name}")


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """KEY=VALUE strings -> {KEY: VALUE text}; `get_method` reads each text as its option's declared type."""
    options: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--option takes KEY=VALUE, not {pair!r}")
        options[name.strip().replace("-", "_")] = text.strip()
    return options


TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def typed_option(method_id: str, name: str, value: Any, hint: Any) -> Any:
    """`value` as the type option `name` is declared with (`hint`): text from `-O NAME=VALUE` converted, and a
    value of the wrong kind (a typo, "2.5" for a count, "maybe" for a yes/no) refused with a UsageError."""
    kinds = typing.get_args(hint) or (hint,)
    kind = next((k for k in kinds if k is not type(None)), None)
    if type(None) in kinds and (value is None or str(value).lower() == "none"):
        return None
    if kind is bool:
        if isinstance(value, bool) or str(value).lower() in TRUE + FALSE:
            return value if isinstance(value, bool) else str(value).lower() in TRUE
        raise UsageError(f"{method_id} option {name} is true or false, not {value!r}")
    if kind in (int, float):
        number = None if isinstance(value, bool) else _number(value)
        if number is None or not math.isfinite(number) or (kind is int and not float(number).is_integer()):
            what = "a whole number" if kind is int else "a number"
            raise UsageError(f"{method_id} option {name} takes {what}, not {value!r}")
        return kind(number)
    return str(value) if kind is str else value


def _number(value: Any) -> float | int | None:
    if isinstance(value, int | float):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return float(value)
        except (TypeError, ValueError):
            return None


def method_ids() -> list[str]:
    """All registered method ids, sorted."""
    _discover()
    return sorted(_REGISTRY)


def get_method(method_id: str, **config: Any) -> Method:
    """The method registered as `method_id`, built with `config`; unknown ids get a UsageError listing all."""
    typed = method_config(method_id, **config)  # first: it finds the registered methods
    return _REGISTRY[method_id](**typed)


def method_config(method_id: str, **config: Any) -> dict[str, Any]:
    """`config` as `method_id`'s constructor takes it: an unknown method or option refused (UsageError), and each
    value typed as its option is declared (`typed_option`: `-O` gives text)."""
    ids = method_ids()
    if method_id not in _REGISTRY:
        raise UsageError(f"unknown method {method_id!r}; available: {', '.join(ids)}")
    cls = _REGISTRY[method_id]
    accepted = inspect.signature(cls.__init__).parameters
    unknown = [name for name in config if name not in accepted]
    if unknown:
        raise UsageError(f"{method_id} has no option {', '.join(unknown)}")
    hints = typing.get_type_hints(cls.__init__)
    return {name: typed_option(method_id, name, value, hints.get(name, Any)) for name, value in config.items()}


def list_methods() -> list[Method]:
    """One instance of every registered method."""
    return [get_method(i) for i in method_ids()]


def smaller_sizes(height: int, width: int, top: int) -> Iterator[tuple[int, int]]:
    """(height, width) of the same aspect with the long side `top`, `top` - 1, ... 1: the sizes a capacity error
    tries, largest first, for the first that fits."""
    long, short = max(height, width), min(height, width)
    for side in range(top, 0, -1):
        other = max(1, side * short // long)
        yield (side, other) if height >= width else (other, side)


def video_fit(frames: int, height: int, width: int, pixels: float, most_frames: int = 16) -> tuple[int, int, int]:
    """(frames, width, height) of a video cut to at most `most_frames` frames and downscaled, keeping its aspect,
    so that it has at most `pixels` pixels per channel (never upscaled): what a capacity error suggests."""
    kept = min(frames, most_frames)
    scale = min(1.0, math.sqrt(pixels / (kept * height * width)))
    return kept, max(1, int(width * scale)), max(1, int(height * scale))
