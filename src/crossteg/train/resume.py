"""Training checkpoints, written and read in one place: where a resumed run starts (its checkpoint, else the
shipped weights and their card, else step 0), and how its optimiser state is taken back."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from crossteg.errors import UsageError
from crossteg.media.files import atomic_path
from crossteg.methods.base import WEIGHTS_DIR
from crossteg.train import CACHE

CHECKPOINTS = CACHE / "checkpoints"


def add_path_options(parser: argparse.ArgumentParser) -> None:
    """--checkpoint and --out, as every trainer with a checkpoint takes them."""
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help=f"checkpoint file (default: one per weights name and --out folder, under {CHECKPOINTS})")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR,
                        help="folder for the weights and their card (default: the shipped weights' folder)")


def default_checkpoint(out: Path, name: str) -> Path:
    """Where a run writing <out>/<name>.safetensors keeps its checkpoint unless told: one per output folder
    (a hash of its absolute path), so two runs into different folders never resume each other's state."""
    folder = hashlib.sha256(str(out.expanduser().resolve()).encode()).hexdigest()[:10]
    return CHECKPOINTS / f"{name}-{folder}.ckpt"


def save_checkpoint(checkpoint: Path, model_state: dict[str, torch.Tensor], optimiser: torch.optim.Optimizer,
                    state: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    """Write (atomically) what `restore` reads back: weights, optimiser state, training state; and `extra`
    (what else a trainer must carry over, e.g. its discriminators) for `checkpoint_extra`."""
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(checkpoint) as tmp:
        torch.save({"model": model_state, "optimiser": optimiser.state_dict(), "state": state,
                    **({"extra": extra} if extra is not None else {})}, tmp)


def load_checkpoint(checkpoint: Path) -> dict[str, Any]:
    """A checkpoint `save_checkpoint` wrote; UsageError naming the file when it is not one (truncated, another
    kind of file), since training cannot go on from it."""
    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch.load raises whatever unpickling a foreign file raises
        raise UsageError(f"cannot read checkpoint {checkpoint} ({type(exc).__name__}): delete it, or name another "
                         "with --checkpoint") from exc
    if not isinstance(saved, dict) or not {"model", "optimiser", "state"} <= saved.keys():
        raise UsageError(f"{checkpoint} is not a crossteg training checkpoint: delete it, or name another with "
                         "--checkpoint")
    return saved


def writable_folder(folder: Path, what: str) -> None:
    """Create `folder` now, so that a run that could not save its `what` fails before it trains, not after."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write {what} to {folder}: {exc.strerror or exc}") from exc
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {what} to {folder}: permission denied")


def checkpoint_extra(checkpoint: Path) -> dict[str, Any] | None:
    """The `extra` a checkpoint was saved with, or None (no checkpoint, or none saved)."""
    if not checkpoint.exists():
        return None
    return load_checkpoint(checkpoint).get("extra")


def restore(model: torch.nn.Module, checkpoint: Path, shipped: Path,
            resume: bool) -> tuple[dict[str, Any], dict | None]:
    """(training state with step, seconds and curve; optimiser state or None) for `model`, loaded in place.

    With `resume`, the checkpoint (weights, optimiser, state) wins; without one, the shipped safetensors file
    and the step count, time, curve and earlier resumptions ("resumed_at") of its card (a fresh optimiser).
    Otherwise a fresh start. First, the folders of both are created: a run that could not save fails before it
    trains."""
    writable_folder(shipped.parent, "weights")
    writable_folder(checkpoint.parent, "checkpoints")
    fresh: dict[str, Any] = {"step": 0, "seconds": 0.0, "curve": []}
    if resume and checkpoint.exists():
        saved = load_checkpoint(checkpoint)
        _load_weights(model, saved["model"], checkpoint)
        print(f"resumed from {checkpoint} at step {saved['state']['step']}", flush=True)
        return saved["state"], saved["optimiser"]
    if resume and shipped.exists():
        from safetensors.torch import load_file

        try:
            weights = load_file(str(shipped))
        except Exception as exc:  # safetensors' own error for a truncated or foreign file
            raise UsageError(f"cannot read weights {shipped} to resume from ({type(exc).__name__})") from exc
        _load_weights(model, weights, shipped)
        card = json.loads(shipped.with_suffix(".json").read_text())
        print(f"resumed from shipped {shipped} at step {card['training']['steps']}", flush=True)
        return {**fresh, "step": card["training"]["steps"], "seconds": card["training"]["seconds"],
                "curve": card["curve"], "resumed_at": list(card["training"].get("resumed_at_steps", []))}, None
    if resume:
        print(f"nothing to resume (no {checkpoint}, no {shipped}): starting at step 0", flush=True)
    return fresh, None


def _load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], source: Path) -> None:
    """`weights` into `model`; UsageError when they are another architecture's (other widths, layers)."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        mismatch = str(exc).strip().splitlines()[-1].strip() if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{source} holds another architecture than these options build ({mismatch}): resume with "
                         "the options it was trained with, or name another --checkpoint / --out") from exc


def resume_optimiser(optimiser: torch.optim.Optimizer, saved: dict | None) -> None:
    """Load a checkpoint's optimiser state (moments, step counts) but keep the hyper-parameters the optimiser
    was built with (rate, betas, eps, weight decay): a resumed run takes the settings asked for now (to steady
    or speed it), not the checkpoint's."""
    if saved is None:
        return
    settings = [{k: v for k, v in group.items() if k != "params"} for group in optimiser.param_groups]
    optimiser.load_state_dict(saved)
    for group, setting in zip(optimiser.param_groups, settings, strict=True):
        group.update(setting)
