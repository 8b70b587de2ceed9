"""The bookkeeping every timed trainer (icn, waveglow, vocoder, thinimg) shares: steps and seconds carried
across resumes, the --minutes / --steps stop, logged running means, when an evaluation is due, a progress bar on
a terminal, and Ctrl-C as a request to stop and save (ditas uses the last two on its own step count)."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, TypeVar

Number = TypeVar("Number", int, float)
show_bar = True  # `crossteg --quiet train` turns the bar off (run_trainer)


def log(message: str) -> None:
    """A trainer's log line, on stdout at once (a run is often followed in a log file)."""
    print(message, flush=True)


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


class Interrupt:
    """Ctrl-C as a request to stop: inside `with Interrupt() as stop:` the first Ctrl-C sets `stop.requested`
    (the run finishes its step and saves as it does at its end), and leaving the block then raises
    KeyboardInterrupt (the CLI says "interrupted", exit 130); a second Ctrl-C stops at once, saving nothing more.
    Not installed off the main thread or where SIGINT is ignored (a background job keeps ignoring it)."""

    def __init__(self) -> None:
        self.requested = False
        self.previous: Any = None

    def __enter__(self) -> Interrupt:
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) not in (signal.SIG_IGN, None):
            self.previous = signal.signal(signal.SIGINT, self._request)
        return self

    def _request(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self.previous)
        print("Ctrl-C: stopping after this step and saving (Ctrl-C again stops at once, saving nothing more)",
              file=sys.stderr, flush=True)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        if self.requested and kind is None:
            raise KeyboardInterrupt


class TrainingBar:
    """A transient progress bar on stderr while a run trains (fraction of its budget, its step, its last logged
    means); shown only on a terminal, so a run followed in a log file gets its log lines alone. Log lines printed
    to the same terminal meanwhile appear above it."""

    def __init__(self, description: str) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        self.progress = Progress(TextColumn(description, markup=False), BarColumn(),
                                 TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                                 TextColumn("{task.fields[detail]}", markup=False), console=console,
                                 transient=True, disable=not (show_bar and console.is_terminal),
                                 redirect_stdout=sys.stdout.isatty())  # a log file keeps its lines
        self.task = self.progress.add_task(description, total=1.0, detail="")

    def __enter__(self) -> TrainingBar:
        self.progress.start()
        return self

    def update(self, fraction: float, detail: str) -> None:
        self.progress.update(self.task, completed=fraction, detail=detail)

    def __exit__(self, *_: object) -> None:
        self.progress.stop()


class Clock:
    """Counts a run's steps into `state` ("step", "seconds", "curve": resumable) and says when to evaluate.

    A run stops after `minutes` of its own wall clock or at `steps` in total (whichever comes first); an
    evaluation is due every `eval_minutes` and on the last step. Each `log_every` steps the mean of every
    logged term since the last line is printed through `log` (over the steps that reported it: a skipped step
    has no gradient norm, and counting it as 0 would understate the mean).

    Used as `with Clock(...) as clock:` around the loop, it shows a progress bar and turns Ctrl-C into a stop
    like the --minutes one (the last step evaluates and saves); the block then ends in KeyboardInterrupt."""

    def __init__(self, state: dict[str, Any], minutes: float, steps: int | None, eval_minutes: float,
                 log_every: int, log: Callable[[str], None] = print) -> None:
        self.state, self.minutes, self.steps, self.eval_minutes = state, minutes, steps, eval_minutes
        self.log_every, self.log = log_every, log
        self.base = state["seconds"]
        self.start = self.last_eval = time.perf_counter()
        self.running: dict[str, tuple[float, int]] = {}  # name -> (sum, count) since the last line
        self.done = steps is not None and state["step"] >= steps
        self.first_step = state["step"]
        self.interrupt, self.bar, self.detail = Interrupt(), TrainingBar("training"), ""

    def __enter__(self) -> Clock:
        self.interrupt.__enter__()
        self.bar.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.bar.__exit__()
        if self.interrupt.requested and kind is None:
            self.log(f"stopped by Ctrl-C at step {self.state['step']}; --resume continues from what was saved")
        self.interrupt.__exit__(kind, error, trace)

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
        self.done = (self.elapsed > self.minutes * 60 or self.interrupt.requested
                     or (self.steps is not None and self.state["step"] >= self.steps))
        if self.state["step"] % self.log_every == 0:
            means = " ".join(f"{k} {total / count:.4g}" for k, (total, count) in self.running.items())
            self.log(f"step {self.state['step']} {means}{extra} {self.elapsed:.0f}s")
            self.detail = f"step {self.state['step']} {means}"
            self.running = {}
        self.bar.update(self.progress, self.detail)
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
