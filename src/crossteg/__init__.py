"""crossteg: cross-modal steganography behind one interface.

    import crossteg
    m = crossteg.get_method("lsb")                  # crossteg.list_methods() for all
    stego = m.hide(cover, secret, key="passphrase")  # cover/secret: crossteg.media objects (media.load(path))
    secret2 = m.reveal(stego, key="passphrase")

Importing crossteg is cheap: methods (and torch) load when first asked for.
"""

from __future__ import annotations

import os
from typing import Any

# Torch's OpenMP workers (GNU libgomp, read when torch loads) spin ~300 000 times at every barrier before sleeping.
# With all cores given to torch and one of them busy with another program, each barrier then waits on a thread that
# is not running: measured on 2 cores beside one busy process, a 64 px ditas hide took 52-93 s with 2 threads
# against 1.3 s with one, and 2.3 s with this spin count (idle machine: 0.93 s default, 1.1 s with it); an inrweights
# video fit 20.7 s -> 8.8 s loaded, 5.2 -> 5.4 s idle. A value the user set is kept.
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

__version__ = "0.1.0"
__all__ = ["get_method", "hide", "list_methods", "reveal"]


def get_method(method_id: str, **config: Any) -> Any:
    """The method registered as `method_id` (see `list_methods`)."""
    from crossteg.methods.base import get_method as _get

    return _get(method_id, **config)


def list_methods() -> list[Any]:
    """One instance of every registered method."""
    from crossteg.methods.base import list_methods as _list

    return _list()


def hide(method_id: str, cover: Any, secret: Any, key: str | bytes | None = None) -> Any:
    """Hide `secret` in `cover` with the method `method_id`; returns the stego media object."""
    return get_method(method_id).hide(cover, secret, key)


def reveal(method_id: str, stego: Any, key: str | bytes | None = None, level: int = 1) -> Any:
    """Reveal the secret that `method_id` hid in `stego`."""
    return get_method(method_id).reveal(stego, key, level=level)
