"""`crossteg train ditas`: one loop for the DITAS variants and the two Table 1 baselines (deepsteg, stft).

    photo crops (N x 3 x P x P) ─┐
                                 ├─ net.hide (16-bit rounding straight-through) ─> containers, S_i, R_i
    speech tiles (N x t x T x 4096, random keyed-style row scrambles) ─┘
    loss = sum_i MSE(container_i, cover_i) + lambda * MSE(R_i, S_i)                 (DITAS eq. 4-6, lambda 0.8)

Data: secret crops from `train.data.photos()` minus the two held-out photos (coffee, chelsea: the natural images
of the benchmark; astronaut, the face, is never in the pool); covers from espeak-ng speech of the training
voices (`split_voices`), random 4096-sample segments at random gains. Paper settings (sec. 3.1): 64 x 64
patches, batch 16, Adam 1e-4 divided by 3 every 20 of 200 epochs. Here, for a CPU budget of minutes, the
defaults are 128 x 128 crops (2 x 2 tile mosaics, the fully convolutional use) in batches of 2 (the same pixels
per step as 8 of the paper's patches), Adam 1e-3 divided by 3 at each third of the steps, and small widths.
Checkpoints every minute to --checkpoint; rerun the command with --resume and a larger --steps (a total) to
continue (from the checkpoint, else from the shipped weights and their card; the learning rate is the one given
now).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossteg.errors import UsageError
from crossteg.media.files import atomic_path, atomic_write_bytes
from crossteg.methods.ditas import (
    LAMBDA,
    MODEL_RATE,
    PRE,
    STAGES,
    TILE,
    TILE_SAMPLES,
    VARIANTS,
    Carrier,
    NetConfig,
    build,
    row_scramble,
    save_net,
)
from crossteg.train import data
from crossteg.train.loop import Interrupt, TrainingBar, log, positive
from crossteg.train.resume import add_path_options, default_checkpoint, restore, resume_optimiser, save_checkpoint

HELD_OUT_PHOTOS = ("coffee", "chelsea")
CARD_DATA = {"secrets": "random crops (scale 0.5-1, flips) of scikit-image's bundled photos (public domain / CC0 / "
                        "BSD), coffee and chelsea held out for evaluation, astronaut (the evaluation face) never used",
             "covers": "espeak-ng speech of the training voices (train.data.split_voices, 15 % of 288 voices held "
                       "out), 16 kHz, random 4096-sample segments at gains 0.3-1; espeak-ng output is not covered "
                       "by its GPL", "license": "weights MIT (crossteg's own trainer); data as above"}


def card_data(recorded: int) -> dict[str, str]:
    """CARD_DATA, with the recorded speech a run added to its covers."""
    if not recorded:
        return CARD_DATA
    notes = data.extra_speech_notes(0, recorded, "3-8 s")
    return {**CARD_DATA, "covers": CARD_DATA["covers"] + notes["data"],
            "license": CARD_DATA["license"] + notes["license"]}


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="crossteg train ditas", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", default="M-ED", choices=VARIANTS)
    p.add_argument("--baseline", choices=("deepsteg", "stft"), help="train a Table 1 baseline instead")
    p.add_argument("--pre", default="raw", choices=PRE, help="DITAS audio pre-processing")
    p.add_argument("--stages", type=int, default=STAGES, help="t (default 5; 10 for the stage-count curve)")
    p.add_argument("--width", type=int, default=32, help="kernels per layer (paper: 64)")
    p.add_argument("--blocks", type=int, default=1, help="residual blocks per sub-network")
    p.add_argument("--patch", type=int, default=128, help="secret crop side, a multiple of 64 (paper: 64)")
    p.add_argument("--batch", type=int, default=2, help="crops per step (paper: 16 patches of 64)")
    p.add_argument("--steps", type=positive(int), default=1000,
                   help="Adam steps in all: a --resume run goes on up to this count (default 1000)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam rate, divided by 3 at each third of the steps")
    p.add_argument("--lam", type=float, default=LAMBDA, help="revealing-loss weight (paper: 0.8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--clips", type=int, default=80, help="speech clips (3-8 s) in the cover pool")
    p.add_argument("--recorded-clips", type=int, default=0, help="clips (3-8 s) strung from recorded prompts of "
                   "real speakers (train/data.RECORDED_VOICES) added to the cover pool")
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint, else from the weights (and card) under --out")
    add_path_options(p)
    return p.parse_args(argv)


def config_of(args: argparse.Namespace) -> NetConfig:
    if args.baseline:
        return NetConfig(args.baseline, "M-ED", args.stages, "raw" if args.baseline == "deepsteg" else "mag",
                         args.width, args.blocks)
    return NetConfig("ditas", args.variant, args.stages, args.pre, args.width, args.blocks)


def weights_stem(config: NetConfig) -> str:
    if config.kind != "ditas":  # Table 1 baselines at t = 5; other stage counts (deepsteg-video: 1) get a suffix
        return config.kind if config.stages == STAGES else f"{config.kind}-t{config.stages}"
    return f"ditas-{config.variant}{'-stft' if config.view == 'stft' else ''}{'-t10' if config.stages > 5 else ''}"


def training_photos() -> list[np.ndarray]:
    """data.photos() minus the held-out photos (matched by content)."""
    import skimage.data

    held = [data._as_rgb(np.asarray(getattr(skimage.data, n)())) for n in HELD_OUT_PHOTOS]
    return [p for p in data.photos() if not any(p.shape == h.shape and np.array_equal(p, h) for h in held)]


def speech_pool(count: int, seed: int, recorded: int = 0) -> np.ndarray:
    """Concatenated training-voice speech (float32, 16 kHz), then `recorded` clips of recorded speakers."""
    train_voices, _ = data.split_voices()
    rng = np.random.default_rng([seed, 7])
    clips = list(data.speech_clips(rng, count, 3.0, 8.0, MODEL_RATE, train_voices))
    clips += data.speech_clips(np.random.default_rng([seed, 8]), recorded, 3.0, 8.0, MODEL_RATE, engine="recorded")
    return np.concatenate(clips)


def batch(args: argparse.Namespace, photos: list[np.ndarray], pool: np.ndarray, rng: np.random.Generator,
          tiles: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(secrets N x 3 x P x P, cover tiles N x t x T x 4096)."""
    crops = data.random_crops(photos, args.patch, args.batch, rng)
    starts = rng.integers(0, len(pool) - TILE_SAMPLES, (args.batch, args.stages, tiles))
    audio = pool[starts[..., None] + np.arange(TILE_SAMPLES)]
    audio = audio * rng.uniform(0.3, 1.0, (args.batch, args.stages, tiles, 1))
    return torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(audio.astype(np.float32))


def step_loss(net: Any, secrets: torch.Tensor, covers: torch.Tensor, args: argparse.Namespace,
              rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, float]]:
    """DITAS eq. 4 on one batch, with 16-bit rounding straight-through; also container MSE and secret PSNR."""
    side = args.patch // TILE
    carrier = Carrier(net.config.view, side, side, *row_scramble(None, tuple(covers.shape[:3]), rng))
    out = net.hide(secrets, carrier.encode(covers), lambda v, i: carrier.requantize(v, i, "ste"), args.stages)
    hiding = sum(torch.mean((a - covers[:, i]) ** 2) for i, a in enumerate(out["audio"]))
    revealing = sum(torch.mean((r - s) ** 2) for r, s in zip(out["reveals"], out["targets"], strict=True))
    loss = hiding + args.lam * revealing
    with torch.no_grad():
        container = float(torch.mean((torch.stack(out["audio"], 1) - covers) ** 2))
        total = sum(out["reveals"]).clamp(0, 1)  # type: ignore[union-attr]
        psnr = float(10 * torch.log10(1 / torch.mean((total - secrets) ** 2).clamp_min(1e-12)))
    return loss, {"loss": loss.item(), "container_mse": container, "secret_psnr": psnr}  # type: ignore[union-attr]


def train(args: argparse.Namespace, stop: Interrupt | None = None) -> dict[str, Any]:
    """Run (or resume) training to --steps, or until `stop` is requested (Ctrl-C); returns the final state with
    the curve."""
    config = config_of(args)
    name = weights_stem(config)
    ckpt = args.checkpoint or default_checkpoint(args.out, name)
    torch.manual_seed(args.seed)  # initial weights only; keyed things never use torch's generator
    net = build(config)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    state, saved_opt = restore(net, ckpt, args.out / f"{name}.safetensors", args.resume)
    resume_optimiser(opt, saved_opt)
    state.setdefault("rng", np.random.default_rng([args.seed, state["step"]]))  # shipped weights carry no rng
    if state["step"]:  # earlier resumptions come with the checkpoint or the shipped card (restore)
        state.setdefault("resumed_at", []).append(state["step"])
    log(f"{name}: {sum(p.numel() for p in net.parameters())} parameters, {config}")
    photos, pool = training_photos(), speech_pool(args.clips, args.seed, args.recorded_clips)
    log(f"data: {len(photos)} photos, {len(pool) / MODEL_RATE:.0f} s of speech")
    rng, tiles, running = state["rng"], (args.patch // TILE) ** 2, []
    last_save = time.perf_counter()
    with TrainingBar(name) as bar:
        while state["step"] < args.steps and not (stop and stop.requested):
            for group in opt.param_groups:  # paper: divided by 3 at fixed intervals
                group["lr"] = args.lr / 3 ** (3 * state["step"] // max(args.steps, 1))
            start = time.perf_counter()
            secrets, covers = batch(args, photos, pool, rng, tiles)
            loss, metrics = step_loss(net, secrets, covers, args, rng)
            opt.zero_grad()
            loss.backward()
            opt.step()
            state["step"] += 1
            state["seconds"] += time.perf_counter() - start
            running.append(metrics)
            last = state["step"] == args.steps or bool(stop and stop.requested)
            if state["step"] % args.log_every == 0 or last:
                mean = {k: float(np.mean([m[k] for m in running])) for k in running[0]}
                state["curve"].append({"step": state["step"], "seconds": round(state["seconds"], 1),
                                       **{k: round(v, 6) for k, v in mean.items()}})
                line = (f"step {state['step']}/{args.steps} loss {mean['loss']:.5f} container mse "
                        f"{mean['container_mse']:.2e} secret psnr {mean['secret_psnr']:.2f} dB")
                log(f"  {line}  {state['seconds']:.0f}s")
                bar.update(state["step"] / args.steps, line)
                running = []
            if time.perf_counter() - last_save > 60 or last:
                save_checkpoint(ckpt, net.state_dict(), opt, state)
                last_save = time.perf_counter()
    return {"net": net, "config": config, "name": name, "state": state}


def write(result: dict[str, Any], args: argparse.Namespace, argv: list[str]) -> Path:
    """Weights + card (metrics are the training curve's last point; the benchmark measures files)."""
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{result['name']}.safetensors"
    with atomic_path(path) as tmp:
        save_net(result["net"], result["config"], tmp)
    state, config = result["state"], result["config"]
    card = {"name": result["name"], "method": "ditas" if config.kind == "ditas" else config.kind,
            "weights": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "bytes": path.stat().st_size, "architecture": config.__dict__,
            "parameters": sum(p.numel() for p in result["net"].parameters()),
            "data": card_data(args.recorded_clips),
            "training": {"command": "crossteg train ditas " + " ".join(argv), "steps": state["step"],
                         "seconds": round(state["seconds"], 1), "batch": args.batch, "patch": args.patch,
                         "lr": args.lr, "lr_schedule": "divided by 3 at each third of the steps", "lambda": args.lam,
                         "seed": args.seed, "device": "cpu", "threads": torch.get_num_threads(),
                         "quantization": "16-bit rounding of the container, straight-through",
                         "resumed_at_steps": state.get("resumed_at", [])},
            "metrics": {"train_last": state["curve"][-1] if state["curve"] else {},
                        "note": "training-batch values (float secret, 16-bit container); file-level numbers in "
                                "benchmarks/results/ditas-tables.md"},
            "deviations": f"CPU budget: width {config.width} and {config.blocks} residual block(s) per sub-network "
                          f"(paper: 64 kernels, block count not given); {state['step']} Adam steps of {args.batch} "
                          f"{args.patch}x{args.patch} crop(s) (paper: 200 epochs of VOC2012, batch 16 patches of "
                          "64, lr 1e-4 /3 every 20 epochs); secrets from scikit-image photos, covers espeak-ng "
                          "speech (paper: VOC2012 + LJ Speech/TIMIT); keyed row permutation/sign of each audio "
                          "tensor and keyed slots (see methods/ditas.py). File-level quality: "
                          "benchmarks/results/ditas-tables.md",
            "curve": state["curve"]}
    atomic_write_bytes(path.with_suffix(".json"), (json.dumps(card, indent=2) + "\n").encode())
    log(f"wrote {path} ({card['bytes']} bytes) and {path.with_suffix('.json').name}")
    return path


def command(args: argparse.Namespace) -> list[str]:
    """The options that reproduce a weights file (output folder and checkpoint left out)."""
    kind = [f"--baseline {args.baseline}"] if args.baseline else [f"--variant {args.variant}", f"--pre {args.pre}"]
    recorded = [f"--recorded-clips {args.recorded_clips}"] if args.recorded_clips else []
    settings = [f"--{k} {getattr(args, k)}" for k in ("stages", "width", "blocks", "patch", "batch", "steps", "lr",
                                                      "lam", "seed", "clips")]
    return ["--resume"] * args.resume + kind + settings + recorded


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.patch % TILE or args.patch < TILE:
        raise UsageError(f"--patch must be a multiple of {TILE}, not {args.patch}")
    torch.set_num_threads(args.threads)
    with Interrupt() as stop:  # Ctrl-C: the weights and card as trained so far, then exit 130
        write(train(args, stop), args, command(args))
        if stop.requested:
            log("stopped by Ctrl-C; --resume continues from what was saved")
