"""Run every benchmark module in this folder (`make bench`), or the ones named: python -m benchmarks.run lsb_speed"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def benchmark_names() -> list[str]:
    """Modules of this package that define main(argv)."""
    here = Path(__file__).resolve().parent
    names = [m.name for m in pkgutil.iter_modules([str(here)]) if m.name not in ("run", "common")]
    return sorted(n for n in names if hasattr(importlib.import_module(f"benchmarks.{n}"), "main"))


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or benchmark_names()
    for name in names:
        print(f"== {name}", flush=True)
        importlib.import_module(f"benchmarks.{name}").main([])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
