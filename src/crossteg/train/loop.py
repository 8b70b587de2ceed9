"""The bookkeeping every timed trainer (icn, waveglow, vocoder, thinimg) shares: steps and seconds carried
across resumes, the --minutes / --steps stop, logged running means, and when an evaluation is due."""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

Number = TypeVar("Number", int, float)


def positive(kind: Callable[[str], Number]) -> Callable[[str], Number]:
    """An argparse `type` reading `kind` (int or float) that refuses zero and less: a run of no steps or no
    minutes would only write untrained weights over the ones in --out."""

    def parse(text: str) -> Number:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
        return value

    parse.__name__ = getattr(kind, "__name__", "number")  # argparse names the type in its "invalid" message
    return parse


class Clock:
    """Counts a run's steps into `state` ("step", "seconds", "curve": resumable) and says when to evaluate.

    A run stops after `minutes` of its own wall clock or at `steps` in total (whichever comes first); an
    evaluation is due every `eval_minutes` and on the last step. Each `log_every` steps the mean of every
    logged term since the last line is printed through `log` (over the steps that reported it: a skipped step
    has no gradient norm, and counting it as 0 would understate the mean)."""

    def __init__(self, state: dict[str, Any], minutes: float, steps: int | None, eval_minutes: float,
                 log_every: int, log: Callable[[str], None] = print) -> None:
        self.state, self.minutes, self.steps, self.eval_minutes = state, minutes, steps, eval_minutes
        self.log_every, self.log = log_every, log
        self.base = state["seconds"]
        self.start = self.last_eval = time.perf_counter()
        self.running: dict[str, tuple[float, int]] = {}  # name -> (sum, count) since the last line
        self.done = steps is not None and state["step"] >= steps
        self.first_step = state["step"]

    @property
    def elapsed(self) -> float:
        """Seconds since this run started (evaluations included)."""
        return time.perf_counter() - self.start

    @property
    def progress(self) -> float:
        """Fraction of this run's budget spent: its minutes, or its steps where those run out first."""
        spent = self.elapsed / max(self.minutes * 60, 1.0)
        if self.steps is not None and self.steps > self.first_step:
            spent = max(spent, (self.state["step"] - self.first_step) / (self.steps - self.first_step))
        return min(1.0, spent)

    def tick(self, terms: dict[str, float], extra: str = "") -> bool:
        """Count one finished step with its loss terms; True when an evaluation is due (always on the last)."""
        self.state["step"] += 1
        self.state["seconds"] = self.base + self.elapsed
        for name, value in terms.items():
            total, count = self.running.get(name, (0.0, 0))
            self.running[name] = (total + value, count + 1)
        self.done = self.elapsed > self.minutes * 60 or (self.steps is not None and self.state["step"] >= self.steps)
        if self.state["step"] % self.log_every == 0:
            means = " ".join(f"{k} {total / count:.4g}" for k, (total, count) in self.running.items())
            self.log(f"step {self.state['step']} {means}{extra} {self.elapsed:.0f}s")
            self.running = {}
        return self.done or time.perf_counter() - self.last_eval > self.eval_minutes * 60

    def record(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """Append an evaluation to the curve (with step and seconds); the next one is due eval_minutes later."""
        point = {"step": self.state["step"], "seconds": round(self.state["seconds"], 1), **metrics}
        self.state["curve"].append(point)
        self.last_eval = time.perf_counter()
        return point


def cosine_rate(lr: float, progress: float, floor: float = 1 / 20) -> float:
    """Cosine decay from `lr` at progress 0 to `lr * floor` at progress 1."""
    return lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0))))
