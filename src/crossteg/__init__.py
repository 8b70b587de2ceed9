"""crossteg: cross-modal steganography behind one interface.

    import crossteg
    m = crossteg.get_method("lsb")                  # crossteg.list_methods() for all
    stego = m.hide(cover, secret, key="passphrase")  # cover/secret: crossteg.media objects (media.load(path))
    secret2 = m.reveal(stego, key="passphrase")

Importing crossteg is cheap: methods (and torch) load when first asked for.
"""

from __future__ import annotations

from typing import Any

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
