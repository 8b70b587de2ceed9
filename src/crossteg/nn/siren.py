"""SIREN (Sitzmann et al. 2020): an MLP with sine activations that represents a signal as a function.

    x ─ sin(w0·(W0 x + b0)) ─ ... ─ sin(w0·(W_{n-1} · + b_{n-1})) ─ W_n · (+ b_n) ─> y

`layers` counts the n sine (hidden) layers; there are n + 1 linear maps. Weights live in plain tensors
(`weights[j]`, `biases[j]`) so that methods can place, freeze and permute blocks of them (inrsteg) or treat
them as pixels (inrweights). `fit` is the shared full-batch / sampled Adam loop with optional gradient masks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from crossteg.nn import precision

W0 = 30.0  # SIREN paper sec. 3.2: omega_0 = 30 for the first and hidden layers


@dataclass(frozen=True)
class SirenConfig:
    """Shape of a SIREN: inputs, outputs, hidden width, number of sine layers, and whether the last map has a bias."""

    in_features: int
    out_features: int
    hidden: int
    layers: int
    w0: float = W0
    output_bias: bool = True

    def shapes(self) -> list[tuple[int, int]]:
        """(out, in) of each of the layers + 1 linear maps."""
        dims = [self.in_features] + [self.hidden] * self.layers + [self.out_features]
        return [(dims[j + 1], dims[j]) for j in range(self.layers + 1)]


class Siren(nn.Module):
    """A SIREN with the paper's initialisation (sec. 3.2 and supplement 1.5)."""

    def __init__(self, config: SirenConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for j, (fan_out, fan_in) in enumerate(config.shapes()):
            # first layer U(-1/n, 1/n); later layers U(-sqrt(6/n)/w0, sqrt(6/n)/w0) so pre-activations stay ~U(-1,1)
            bound = 1.0 / fan_in if j == 0 else math.sqrt(6.0 / fan_in) / config.w0
            weight = (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound
            bias = (torch.rand(fan_out, generator=generator) * 2 - 1) / math.sqrt(fan_in)  # PyTorch Linear default
            is_output = j == config.layers
            self.weights.append(nn.Parameter(weight))
            self.biases.append(nn.Parameter(bias if not is_output or config.output_bias else torch.zeros(fan_out),
                                            requires_grad=not is_output or config.output_bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: points x in_features -> points x out_features."""
        return apply(x, list(self.weights), list(self.biases), self.config.w0)

    def state(self) -> dict[str, torch.Tensor]:
        """Weights as a flat name -> tensor dict (detached copies), the layout written to .safetensors."""
        out = {}
        for j, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            out[f"layers.{j}.weight"] = weight.detach().clone()
            out[f"layers.{j}.bias"] = bias.detach().clone()
        return out

    def load_state(self, tensors: dict[str, torch.Tensor]) -> Siren:
        """Load tensors written by `state` (strict: every name and shape must match)."""
        expected = {k: v.shape for k, v in self.state().items()}
        got = {k: v.shape for k, v in tensors.items()}
        if expected != got:
            raise ValueError(f"SIREN tensors do not match the architecture: expected {expected}, got {got}")
        with torch.no_grad():
            for j in range(len(self.weights)):
                self.weights[j].copy_(tensors[f"layers.{j}.weight"])
                self.biases[j].copy_(tensors[f"layers.{j}.bias"])
        return self


Loss = Callable[[Siren, torch.Tensor, torch.Tensor], torch.Tensor]


def mse_loss(model: Siren, coords: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The reconstruction loss of INRSteg eq. 2 (mean instead of sum: same minimiser, lr independent of size)."""
    return torch.mean((model(coords) - targets) ** 2)


CHUNK = 65_536  # points per forward/backward pass of a fitting step (a 256 x 256 image's in one)
DIVERGED_RATIO = 100.0  # smoothed loss this far above its best: blown up (SIREN fits spike 4-10x and recover;
# a 4x rule fired 4 times in one ordinary INRSteg cover fit, measured)
COLLAPSED = 0.5  # ... or back above this fraction of the first loss after having learned 10 dB: the output has
# fallen to a near-constant (a 20 dB fit at 0 dB is 98x its best, under the ratio; measured)
MAX_RECOVERIES = 4  # each halves the rate: down to 1/16


@dataclass(frozen=True)
class FitSchedule:
    """Adam with a cosine decay from `lr` to `lr * final_fraction`, `steps` at most, stopping at `target`.

    With `period`, the decay runs over `period` steps and then restarts over twice as many (SGDR), each restart
    from `restart_decay` times the previous peak: a fit that stops early still gets the end of a decay, a long
    one is not left crawling at the floor, and a restart does not throw a good fit away (a 3 s speech secret at
    20 dB SNR after 300 steps fell to 0 dB for good when the rate jumped back to the full 8e-4, measured).
    `warmup` steps ramp the rate up linearly first: a fresh SIREN at a high rate can lock into a near-constant
    output it never leaves (audio at 1e-3 without warm-up: 0 dB after 300 steps, measured)."""

    steps: int
    lr: float = 1e-4
    final_fraction: float = 0.05
    batch: int | None = None  # points per step; None = full batch
    check_every: int = 25
    period: int | None = None  # first cosine cycle (steps); None = one cycle over `steps`
    warmup: int = 0  # steps of linear warm-up
    restart_decay: float = 0.5  # peak of each warm restart relative to the previous one

    def lr_factor(self, step: int) -> float:
        """The multiple of `lr` used at `step` (0-based)."""
        ramp = min(1.0, (step + 1) / self.warmup) if self.warmup else 1.0
        period, peak = self.period or max(1, self.steps), 1.0
        while step >= period and self.period:
            step, period, peak = step - period, 2 * period, max(self.final_fraction, peak * self.restart_decay)
        floor = self.final_fraction
        return ramp * (floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * step / period)))

    def cycle_end(self, steps_done: int) -> bool:
        """Whether `steps_done` steps end a cosine cycle, with the rate at its floor (SGDR: after P, 3P, 7P ...)."""
        end = length = self.period or max(1, self.steps)
        while end < steps_done and self.period:
            length *= 2
            end += length
        return end == steps_done


def fit(model: Siren, coords: torch.Tensor, targets: torch.Tensor, schedule: FitSchedule, *,
        loss_fn: Loss = mse_loss, frozen: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        good_enough: Callable[[Siren], bool] | None = None,
        progress: Callable[[int, float], None] | None = None, seed: int = 0) -> int:
    """Optimise `model` to map coords -> targets; return the steps taken.

    `frozen` lists (weight_mask, bias_mask) per layer, True where a parameter must keep its value exactly
    (INRSteg's masked update, sec. 3.3): their gradients are zeroed and their values restored after each step.
    `good_enough(model)` is checked every `check_every` steps to stop early; `progress(step, loss)` reports.
    A fit that diverges (a non-finite loss, the smoothed loss DIVERGED_RATIO x above its best, or back near its
    first loss after it had learned: COLLAPSED) goes back to its best weights with half the learning rate and
    fresh Adam moments, at most MAX_RECOVERIES times; after that it stops at its best weights (it never ends in a
    blown-up state).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=schedule.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule.lr_factor)
    keep = _snapshot(model, frozen)
    generator = torch.Generator().manual_seed(seed)  # point sampling only; keys never use torch RNGs
    guard = _DivergenceGuard(model, optimizer, scheduler)
    step = 0
    for step in range(1, schedule.steps + 1):
        optimizer.zero_grad(set_to_none=False)
        if schedule.batch and schedule.batch < len(coords):
            idx = torch.randint(len(coords), (schedule.batch,), generator=generator)
            loss = _backward(loss_fn, model, coords[idx], targets[idx])
        else:
            loss = _backward(loss_fn, model, coords, targets)
        if not guard.healthy(loss):
            if not guard.recover():
                break
            continue
        _zero_frozen_grads(model, frozen)
        optimizer.step()
        scheduler.step()
        _restore(model, frozen, keep)
        if progress is not None:
            progress(step, loss)
        if good_enough is not None and step % schedule.check_every == 0 and good_enough(model):
            break
    return step


def _backward(loss_fn: Loss, model: Siren, coords: torch.Tensor, targets: torch.Tensor) -> float:
    """The loss over all points, its gradient accumulated a chunk of CHUNK points at a time: every loss here is
    a mean over points, so the chunks' means weighted by their share give the same gradient as one pass, in the
    memory of one chunk (a full-batch fit of 60 s of audio took 7.3 GB in one pass)."""
    total, count = 0.0, len(coords)
    for start in range(0, count, CHUNK):
        part = loss_fn(model, coords[start:start + CHUNK], targets[start:start + CHUNK])
        share = min(CHUNK, count - start) / count
        (part * share).backward()
        total += float(part.detach()) * share
    return total


class _DivergenceGuard:
    """Watches a fit for a loss that turns non-finite or blows up (a SIREN at too high a rate: sin of large
    pre-activations turns its output into noise); keeps the weights at the best smoothed loss to go back to."""

    def __init__(self, model: Siren, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LambdaLR) -> None:
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.average, self.best, self.first, self.recoveries = math.nan, math.inf, math.nan, 0
        self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def healthy(self, loss: float) -> bool:
        if not math.isfinite(loss):
            return False
        self.average = loss if math.isnan(self.average) else 0.9 * self.average + 0.1 * loss
        self.first = loss if math.isnan(self.first) else self.first
        if self.average < self.best:
            self.best = self.average
            for name, value in self.model.state_dict().items():
                self.best_state[name].copy_(value)
        collapsed = self.best < self.first / 10 and self.average > COLLAPSED * self.first
        return self.average <= DIVERGED_RATIO * self.best and not collapsed

    def recover(self) -> bool:
        """Best weights back, half the rate, fresh moments; False when out of recoveries (weights still reset)."""
        self.model.load_state_dict(self.best_state)
        self.average = self.best
        if self.recoveries == MAX_RECOVERIES:
            return False
        self.recoveries += 1
        self.optimizer.state.clear()
        self.scheduler.base_lrs = [lr / 2 for lr in self.scheduler.base_lrs]
        for group in self.optimizer.param_groups:
            group["lr"] /= 2
        return True


def _snapshot(model: Siren, frozen: list[tuple[torch.Tensor, torch.Tensor]] | None) -> list[tuple[torch.Tensor, ...]]:
    if not frozen:
        return []
    return [(w.detach().clone(), b.detach().clone()) for w, b in zip(model.weights, model.biases, strict=True)]


def _zero_frozen_grads(model: Siren, frozen: list[tuple[torch.Tensor, torch.Tensor]] | None) -> None:
    if not frozen:
        return
    for (wmask, bmask), weight, bias in zip(frozen, model.weights, model.biases, strict=True):
        if weight.grad is not None:
            weight.grad[wmask] = 0
        if bias.grad is not None:
            bias.grad[bmask] = 0


def _restore(model: Siren, frozen: list[tuple[torch.Tensor, torch.Tensor]] | None,
             keep: list[tuple[torch.Tensor, ...]]) -> None:
    if not frozen:
        return
    with torch.no_grad():
        for (wmask, bmask), (w_keep, b_keep), weight, bias in zip(frozen, keep, model.weights, model.biases,
                                                                 strict=True):
            weight[wmask] = w_keep[wmask]
            bias[bmask] = b_keep[bmask]


def init_arrays(config: SirenConfig, rng: np.random.Generator,
                output_gain: float = 1.0) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Weights (out x in) and biases with `Siren`'s initialisation statistics, drawn from a numpy generator;
    `output_gain` scales the last map's bound (a network whose last map stays fixed needs a larger one).

    For networks whose weights are derived from a key (inrweights): keyed streams come from keys.py (numpy
    PCG64), never from torch's generator, so the same key gives the same weights on every machine.
    """
    weights, biases = [], []
    for j, (fan_out, fan_in) in enumerate(config.shapes()):
        bound = 1.0 / fan_in if j == 0 else math.sqrt(6.0 / fan_in) / config.w0  # as in Siren.__init__
        bound *= output_gain if j == config.layers else 1.0
        weights.append(torch.from_numpy(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)))
        has_bias = j < config.layers or config.output_bias
        bias = rng.uniform(-1, 1, fan_out) / math.sqrt(fan_in) if has_bias else np.zeros(fan_out)
        biases.append(torch.from_numpy(bias.astype(np.float32)))
    return weights, biases


def apply(x: torch.Tensor, weights: list[torch.Tensor], biases: list[torch.Tensor], w0: float = W0,
          fast: bool = False) -> torch.Tensor:
    """The SIREN function with weights given from outside (points x in -> points x out), same maths as `Siren`.

    Lets a method build some weight matrices from other tensors (inrweights: from the container's pixels) and
    keep gradients flowing to those tensors. `fast`: the hidden (width x width) maps multiply in bfloat16
    (nn/precision.py); the first map, whose coordinates w0 scales up, and the last stay float32."""
    for j, (weight, bias) in enumerate(zip(weights[:-1], biases[:-1], strict=True)):
        # sin(w0 (W x + b)) as sin((w0 W) x + w0 b): the same function and gradients, but w0 scales the small
        # weights instead of the points x width activations (forward and backward): a fit step 20-25% faster
        x = torch.sin(precision.addmm(bias * w0, x, (weight * w0).t(), fast and j > 0))
    return torch.addmm(biases[-1], x, weights[-1].t())
