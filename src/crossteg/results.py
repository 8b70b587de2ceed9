"""The one results shape of SPEC ("Measuring"), shared by `crossteg eval` and every benchmark."""

from __future__ import annotations

import ast
import datetime
import hashlib
import importlib.util
import inspect
import json
import math
import os
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crossteg.media.files import atomic_write_bytes

IDENTICAL = "identical (infinite)"
LOWER_IS_BETTER = ("_seconds", "_chamfer", "_mse", "_mae", "_apd", "_rmse", "_ae", "_piqe", "detection_accuracy",
                   "detection_auc", "real_time_factor")


def source_fingerprint(*roots: Any) -> str:
    """A hash of the source of the crossteg modules defining `roots` (modules, classes, functions) and of every
    crossteg module their source imports, transitively (imports inside functions included): what a cached result
    computed with them depends on."""
    todo = [root.__name__ if inspect.ismodule(root) else root.__module__ for root in roots]
    files: dict[str, str] = {}
    while todo:
        name = todo.pop()
        if name in files or not name.startswith("crossteg"):
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):  # "from crossteg.x import CONSTANT" names no module
            spec = None
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        files[name] = spec.origin
        todo.extend(_imported_names(Path(spec.origin).read_text()))
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + Path(files[name]).read_bytes())
    return digest.hexdigest()[:16]


def _imported_names(source: str) -> set[str]:
    """Every absolute name an `import` or `from ... import` of `source` mentions (a.b, and a.b.c for each c)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def machine() -> str:
    """A short description of this machine for results files."""
    return f"{os.cpu_count()}-core {platform.machine()} CPU"


@dataclass
class Row:
    """One measured number, with the paper's number for the same setting when there is one."""

    setting: str
    metric: str
    ours: float | None
    paper: float | None = None
    higher_is_better: bool | None = None
    n: int = 1
    note: str = ""
    method: str | None = None  # set only in multi-method reports

    def __post_init__(self) -> None:
        if self.higher_is_better is None:
            self.higher_is_better = not self.metric.endswith(LOWER_IS_BETTER)
        if self.ours is not None:
            value = float(self.ours)
            if math.isinf(value):  # JSON has no infinity: identical signals give infinite PSNR/SNR
                self.ours, self.note = None, IDENTICAL + (f"; {self.note}" if self.note else "")
            else:
                self.ours = None if math.isnan(value) else round(value, 4)

    @property
    def failed(self) -> bool:
        """True when nothing could be measured (the note says why)."""
        return self.ours is None and not self.note.startswith(IDENTICAL)


@dataclass
class Results:
    """A results file: `benchmarks/results/<benchmark>.json` or an eval report."""

    benchmark: str
    method: str
    command: str
    rows: list[Row] = field(default_factory=list)
    date: str = field(default_factory=lambda: datetime.date.today().isoformat())
    machine: str = field(default_factory=machine)

    def to_dict(self) -> dict[str, Any]:
        rows = [{k: v for k, v in asdict(r).items() if k != "method" or v is not None} for r in self.rows]
        return {"benchmark": self.benchmark, "method": self.method, "date": self.date, "machine": self.machine,
                "command": self.command, "rows": rows}

    def to_markdown(self) -> str:
        """A table with the paper's number beside ours."""
        multi = any(r.method for r in self.rows)
        head = ("| method " if multi else "") + "| setting | metric | ours | paper | n | note |"
        lines = [f"# {self.benchmark} ({self.method})", "", f"`{self.command}` on {self.machine}, {self.date}.",
                  "", head, "|" + "---|" * (head.count("|") - 1)]
        for r in self.rows:
            ours = "—" if r.ours is None else f"{r.ours:g}"
            paper = "" if r.paper is None else f"{r.paper:g}"
            arrow = "↑" if r.higher_is_better else "↓"
            lines.append(("| " + (r.method or "") + " " if multi else "")
                         + f"| {r.setting} | {r.metric} {arrow} | {ours} | {paper} | {r.n} | {r.note} |")
        return "\n".join(lines) + "\n"

    def write(self, path: Path, markdown: bool = True) -> Path:
        """Write JSON (strict: no NaN/inf) atomically, and the Markdown table beside it."""
        atomic_write_bytes(path, (json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n").encode())
        if markdown:
            atomic_write_bytes(path.with_suffix(".md"), self.to_markdown().encode())
        return path


def merged_command(previous: str, command: str, joiner: str = "; then ") -> str:
    """A merged results file's command: the earlier ones, each once, then `command` (moved to the end when it was
    run before), so that the file says how each of its rows was measured without growing with every rerun."""
    earlier = [c for c in previous.split(joiner) if c and c != command]
    return joiner.join([*dict.fromkeys(earlier), command])


def previous_rows(path: Path, keep: Callable[[Row], bool]) -> tuple[list[Row], str]:
    """For a benchmark's --merge: the rows of the existing results file at `path` that `keep` accepts (those
    the new run does not re-measure), and that file's command; nothing when there is no file yet."""
    if not path.exists():
        return [], ""
    data = json.loads(path.read_text())
    return [row for row in (Row(**r) for r in data["rows"]) if keep(row)], str(data.get("command", ""))
