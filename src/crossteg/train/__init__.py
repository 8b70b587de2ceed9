"""Training entry points behind `crossteg train TARGET [options]`.

Each trainer is a module in this package with `main(argv: list[str]) -> None` (argparse inside), registered in
TRAINERS under the target name. Nothing outside `crossteg train` imports this package, so start-up stays fast.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from crossteg.errors import UsageError

# target -> module under crossteg.train
TRAINERS: dict[str, str] = {"detector": "detector", "thinimg": "thinimg", "ditas": "ditas", "vocoder": "vocoder",
                            "icn": "icn", "waveglow": "waveglow"}
BASELINES = ("deepsteg", "stft")  # trained by the ditas loop (--baseline)
# generated training speech and checkpoints; $XDG_CACHE_HOME moves it, as it does other tools' caches
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "crossteg"


def run_trainer(target: str, argv: list[str], bar: bool = True) -> None:
    """Run the trainer registered for `target` with its own command-line options (a progress bar on a terminal
    unless not `bar`)."""
    from crossteg.train import loop

    loop.show_bar = bar
    if target in BASELINES:
        raise UsageError(f"{target} is a DITAS baseline: crossteg train ditas --baseline {target}")
    if target not in TRAINERS:
        known = ", ".join(sorted(TRAINERS)) or "none yet"
        raise UsageError(f"nothing to train called {target!r}; trainable: {known}")
    importlib.import_module(f"crossteg.train.{TRAINERS[target]}").main(argv)
