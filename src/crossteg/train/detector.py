"""`crossteg train detector --method M`: train the learned steganalyser for M's stegos and ship it with a card.

    held-out sources ─make_pairs─> eval pairs ───────────────────────────────────┐
    training sources ─make_pairs─> cover/stego PNG|WAV pairs ─> Xu-Net | 1-D CNN ─Adam─> weights ─> accuracy, AUC
                                                                                          └─> detector-M-<modality>
                                                                                              .safetensors + .json

Pairs are made by the method itself (random payloads of 40 % and 100 % of capacity with a random key per pair
for byte-hiding methods like lsb), written as real files and read back, so the detector sees what a file holds.
Each minibatch holds both halves of its pairs (the pair constraint usual in steganalysis training). Method
options (`-O steps=100`, as for `crossteg hide`) make cheaper stegos for methods that fit a network per hide;
they, the crop size and the clip length are written to the card (`data.pairs`) so the benchmark makes its
held-out pairs the same way. Audio that is not on the 16-bit grid (flowhide's float32 WAV) is kept in float.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossteg.media.files import atomic_path, atomic_write_bytes
from crossteg.methods.base import WEIGHTS_DIR, get_method
from crossteg.steganalysis import detection_accuracy, detection_auc
from crossteg.steganalysis.detectors import renders_stego, stego_modalities
from crossteg.steganalysis.learned import (
    build,
    config_to_dict,
    default_config,
    on_16bit_grid,
    sha256_file,
    weights_name,
)
from crossteg.steganalysis.pairs import PAYLOADS, Pair, Source, make_pairs, sources_for
from crossteg.train.loop import log, positive
from crossteg.train.resume import writable_folder

AUGMENT = {"image": "random crop, half of them Lanczos-downscaled, random rotation/flip",
           "audio": "random 1-channel crop, 70 % of them at a random gain and re-quantised"}
METRICS_NOTE = "held-out pairs (by source, see data), accuracy at probability 0.5, AUC; no model selection on them"
LICENSE = "MIT (weights trained by crossteg's own trainer on the data described in data, not shipped)"
RENDERED = " (the media each stego INR renders, against the original cover: INRSteg Table 4)"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="crossteg train detector", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", required=True, help="method whose stegos the detector learns (e.g. lsb)")
    parser.add_argument("--option", "-O", action="append", metavar="KEY=VALUE",
                        help="method option for the hides, repeatable (e.g. -O steps=100 -O width=0)")
    parser.add_argument("--modality", choices=("image", "audio"), action="append",
                        help="cover modality (repeatable; default: every one the method hides in)")
    parser.add_argument("--steps", type=positive(int), default=3000, help="Adam steps (default 3000)")
    parser.add_argument("--pairs", type=positive(int), default=900, help="training cover/stego pairs (default 900)")
    parser.add_argument("--held-out", type=positive(int), default=None, help="held-out pairs (default pairs / 3)")
    parser.add_argument("--batch", type=int, default=16, help="pairs per minibatch (default 16)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--size", type=int, default=128, help="image crop side in pixels (default 128)")
    parser.add_argument("--length", type=int, default=16000, help="audio clip length in frames (default 16000)")
    parser.add_argument("--crop", type=int, default=64, help="train on random crops: images of this side "
                                                             "(default 64), audio of 64x this many frames "
                                                             "(default 4096); held-out files are scored whole")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice; "
                                                                  "1 is fastest on a busy machine)")
    parser.add_argument("--log-every", type=int, default=250, help="progress line every N steps")
    parser.add_argument("--no-espeak", action="store_true", help="audio: no espeak-ng sources")
    parser.add_argument("--no-recorded", action="store_true", help="audio: no recorded speakers' prompts "
                                                                   "(asterisk-core-sounds-*, when installed)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="folder for weights + card "
                                                                      "(default: crossteg/weights)")
    return parser.parse_args(argv)


def collect(pairs: list[Pair]) -> tuple[torch.Tensor, torch.Tensor]:
    """Covers and stegos as tensors of the values the files hold: N x 3 x H x W uint8 (images), N x 1 x T
    int16 (16-bit audio) or float32 (audio off the 16-bit grid, e.g. float32 WAV)."""
    objects = [obj for p in pairs for obj in (p.cover, p.stego)]
    pcm = objects[0].modality == "audio" and all(on_16bit_grid(obj) for obj in objects)

    def values(obj: Any) -> np.ndarray:
        if obj.modality == "image":
            return obj.to_uint8().transpose(2, 0, 1)
        return obj.to_int16()[:1] if pcm else obj.samples[:1].astype(np.float32)

    covers = torch.from_numpy(np.stack([values(p.cover) for p in pairs]))
    stegos = torch.from_numpy(np.stack([values(p.stego) for p in pairs]))
    return covers, stegos


def as_float(x: torch.Tensor) -> torch.Tensor:
    """Carrier values -> the float range the models take: [0, 1] images, [-1, 1] audio (float kept as is)."""
    if x.dtype.is_floating_point:
        return x
    return x.float() / (255.0 if x.dtype == torch.uint8 else 32768.0)


def method_options(args: argparse.Namespace) -> dict[str, Any]:
    """The `-O KEY=VALUE` method options, values typed as `crossteg hide` types them."""
    from crossteg.methods.base import method_config, parse_options

    return method_config(args.method, **parse_options(args.option))


def augment(x: torch.Tensor, crop: int, generator: torch.Generator) -> torch.Tensor:
    """One random crop and rotation/flip (images) or crop and time reversal (audio) for a batch of pairs."""
    def start(size: int, wanted: int) -> int:
        return int(torch.randint(max(1, size - wanted + 1), (1,), generator=generator))

    if x.dim() == 4:
        top, left = start(x.shape[2], crop), start(x.shape[3], crop)
        x = x[:, :, top:top + crop, left:left + crop]
        x = torch.rot90(x, int(torch.randint(4, (1,), generator=generator)), dims=(2, 3))
        return x.flip(3) if torch.rand(1, generator=generator) < 0.5 else x
    frames = crop * 64
    first = start(x.shape[2], frames)
    x = x[:, :, first:first + frames]
    return x.flip(2) if torch.rand(1, generator=generator) < 0.5 else x


@torch.no_grad()
def scores(model: torch.nn.Module, x: torch.Tensor, batch: int = 64) -> np.ndarray:
    """Probabilities of carrying a secret for every example in x (eval mode)."""
    model.eval()
    out = [torch.sigmoid(model(as_float(x[i:i + batch]))) for i in range(0, len(x), batch)]
    return torch.cat(out).numpy()


def evaluate(model: torch.nn.Module, covers: torch.Tensor, stegos: torch.Tensor,
             payloads: list[str]) -> dict[str, float]:
    """Accuracy (threshold 0.5) and AUC on pairs, overall and per payload."""
    p_cover, p_stego = scores(model, covers), scores(model, stegos)
    metrics = {}
    for label in ["all", *dict.fromkeys(payloads)]:
        keep = np.array([label in ("all", p) for p in payloads])
        y = np.r_[np.zeros(keep.sum()), np.ones(keep.sum())]
        s = np.r_[p_cover[keep], p_stego[keep]]
        suffix = "" if label == "all" else f"_{label.rstrip('%')}"
        metrics[f"held_out_accuracy{suffix}"] = round(detection_accuracy(y, s), 4)
        metrics[f"held_out_auc{suffix}"] = round(detection_auc(y, s), 4)
    return metrics


def make_set(method_id: str, sources: list[Source], held_out: bool, count: int, args: argparse.Namespace,
             workdir: Path) -> list[Pair]:
    """`count` pairs from the training or the held-out `sources`, written under `workdir` and read back."""
    rng = np.random.default_rng([args.seed, int(held_out)])
    folder = workdir / ("held-out" if held_out else "train")
    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    method = get_method(method_id, **method_options(args))
    for i, pair in enumerate(make_pairs(method, sources, count, rng, folder, args.size, args.length)):
        pairs.append(pair)
        if (i + 1) % max(1, count // 4) == 0 or i + 1 == count:
            log(f"  {'held-out' if held_out else 'training'} pairs: {i + 1}/{count}")
    return pairs


def fit(model: torch.nn.Module, covers: torch.Tensor, stegos: torch.Tensor, args: argparse.Namespace,
        monitor: Callable[[], str]) -> None:
    """Adam on minibatches of `args.batch` whole pairs; a progress line (with `monitor()`) every log_every steps."""
    generator = torch.Generator().manual_seed(args.seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, args.steps))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    labels = torch.cat([torch.zeros(args.batch), torch.ones(args.batch)])  # covers first, then their stegos
    start, running, correct = time.perf_counter(), 0.0, 0.0
    for step in range(1, args.steps + 1):
        model.train()
        idx = torch.randint(len(covers), (args.batch,), generator=generator)
        x = augment(as_float(torch.cat([covers[idx], stegos[idx]])), args.crop, generator)
        logits = model(x)
        loss = loss_fn(logits, labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        running += loss.item()
        correct += float(((logits > 0).float() == labels).float().mean())
        if step % args.log_every == 0 or step == args.steps:
            n = step % args.log_every or args.log_every
            log(f"  step {step}/{args.steps}  loss {running / n:.4f}  train acc {correct / n:.3f}  {monitor()}  "
                f"{time.perf_counter() - start:.0f}s")
            running, correct = 0.0, 0.0


def train_modality(method_id: str, modality: str, args: argparse.Namespace) -> dict[str, Any]:
    """Make the pairs, train, evaluate on held-out pairs, write weights + card; return the card."""
    held_count = args.held_out if args.held_out is not None else max(4, args.pairs // 3)
    log(f"detector for {method_id} {modality}: {args.pairs} training pairs, {held_count} held-out pairs")
    start = time.perf_counter()
    listed = {held_out: sources_for(modality, held_out, espeak=not args.no_espeak, recorded=not args.no_recorded)
              for held_out in (False, True)}
    with tempfile.TemporaryDirectory(prefix="crossteg-detector-") as tmp:
        train = make_set(method_id, listed[False], False, args.pairs, args, Path(tmp))
        held = make_set(method_id, listed[True], True, held_count, args, Path(tmp))
    data_seconds = time.perf_counter() - start
    train_sources, held_sources = sorted({p.source for p in train}), sorted({p.source for p in held})
    used = {*train_sources, *held_sources}
    licences = dict.fromkeys(s.license for s in listed[False] + listed[True] if s.name in used)
    (covers, stegos), (held_covers, held_stegos) = collect(train), collect(held)
    held_payloads = [p.payload for p in held]
    examined = describe(train[0].stego, covers)
    del train, held

    torch.manual_seed(args.seed)  # weight init only; keys never come from torch's generator
    config = default_config(modality)
    model = build(config)

    def monitor() -> str:  # shown only: no step or model is chosen by its held-out score
        m = evaluate(model, held_covers, held_stegos, held_payloads)
        return f"held-out acc {m['held_out_accuracy']:.3f} auc {m['held_out_auc']:.3f}"

    start = time.perf_counter()
    fit(model, covers, stegos, args, monitor)
    train_seconds = time.perf_counter() - start
    metrics = evaluate(model, held_covers, held_stegos, held_payloads)
    details = {"license": "the data is not shipped; its sources' licences: " + "; ".join(licences),
               "train_pairs": len(covers), "held_out_pairs": len(held_covers), "data_seconds": round(data_seconds, 1),
               "train_seconds": round(train_seconds, 1), "train_sources": train_sources,
               "held_out_sources": held_sources, "examined": examined}
    return save(model, config, method_id, modality, args, metrics, details)


def describe(obj: Any, values: torch.Tensor) -> str:
    """What the detector examines of each file, e.g. "22050 Hz mono float32, 44096 samples"."""
    if obj.modality == "image":
        return f"{values.shape[3]}x{values.shape[2]} RGB, 8 bits per value"
    kind = "float32" if values.dtype.is_floating_point else "16-bit"
    return f"{obj.sample_rate} Hz mono {kind}, {values.shape[2]} samples"


def save(model: torch.nn.Module, config: Any, method_id: str, modality: str, args: argparse.Namespace,
         metrics: dict[str, float], details: dict[str, Any]) -> dict[str, Any]:
    """Write <out>/detector-<method>-<modality>.safetensors and its JSON card atomically."""
    from safetensors.torch import save_file

    stem = weights_name(method_id, modality)
    weights_path = args.out / f"{stem}.safetensors"
    with atomic_path(weights_path) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    method = get_method(method_id, **method_options(args))
    payload = (f"random bytes filling {', '.join(f'{round(100 * p)}%' for p in PAYLOADS)} of capacity "
               "(alternating), random key per pair") if method.hides_bytes else "bundled sample secrets"
    shape = f"{args.size}x{args.size} RGB PNG" if modality == "image" else f"{args.length}-frame 16 kHz mono 16-bit WAV"
    pairs = {"size": args.size, "length": args.length, "options": method_options(args)}
    card = {
        "name": stem, "detector": f"cnn-{method_id}", "method": method_id, "modality": modality,
        "architecture": config_to_dict(config),
        "paper": ("Xu, Wu & Shi, Structural Design of CNNs for Steganalysis, IEEE SPL 2016" if modality == "image"
                  else "Chen, Luo & Li, Audio Steganalysis with CNN, IH&MMSec 2017 (residual filter)"),
        "weights": weights_path.name, "sha256": sha256_file(weights_path), "bytes": weights_path.stat().st_size,
        "data": {"covers": f"{shape} covers cut from the sources below ({AUGMENT[modality]})",
                 "stegos": f"made with {method_id}.hide{_options_text(pairs['options'])}: {payload}; covers and "
                           f"stegos{RENDERED * renders_stego(method)} written as files and read back, compared as "
                           "an attacker sees them (steganalysis/pairs.py attacker_view)",
                 "pairs": pairs,
                 "split": "by source: no source (or file derived from it) in both training and held-out sets",
                 **details},
        "training": {"command": "crossteg train detector " + " ".join(_argv(args, modality)),
                     "optimizer": "Adam, cosine-decayed learning rate", "lr": args.lr, "steps": args.steps,
                     "batch_pairs": args.batch, "seed": args.seed, "device": "cpu",
                     "threads": torch.get_num_threads()},
        "metrics": metrics, "metrics_note": METRICS_NOTE,
        "license": LICENSE,
    }
    atomic_write_bytes(args.out / f"{stem}.json", (json.dumps(card, indent=2) + "\n").encode())
    log(f"wrote {weights_path} ({card['bytes']} bytes) and {stem}.json: held-out accuracy "
        f"{metrics['held_out_accuracy']:.3f}, AUC {metrics['held_out_auc']:.3f}")
    return card


def _options_text(options: dict[str, Any]) -> str:
    return f" ({', '.join(f'{k}={v}' for k, v in options.items())})" if options else ""


def _argv(args: argparse.Namespace, modality: str) -> list[str]:
    """The options that reproduce this modality's weights (the output folder left out)."""
    parts = [f"--method {args.method}", f"--modality {modality}",
             f"--steps {args.steps}", f"--pairs {args.pairs}", f"--batch {args.batch}", f"--lr {args.lr:g}",
             f"--size {args.size}", f"--length {args.length}", f"--crop {args.crop}", f"--seed {args.seed}"]
    if args.held_out is not None:
        parts.append(f"--held-out {args.held_out}")
    parts += [f"-O {option}" for option in args.option or []]
    return parts + (["--no-espeak"] if args.no_espeak else []) + (["--no-recorded"] if args.no_recorded else [])


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    method = get_method(args.method, **method_options(args))
    possible = stego_modalities(method)
    modalities = args.modality or list(possible)
    if not modalities or any(m not in possible for m in modalities):
        from crossteg.errors import UsageError

        raise UsageError(f"{method.id} writes no {' or '.join(args.modality or ['image', 'audio'])} stego files "
                         f"(its stegos are {', '.join(dict.fromkeys(method.stego_ext))}); detectors examine "
                         "image and audio files")
    writable_folder(args.out, "weights")  # before the pairs are made and the detector trained
    if args.threads:
        torch.set_num_threads(args.threads)
    for modality in modalities:
        train_modality(method.id, modality, args)
