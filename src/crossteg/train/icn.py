"""`crossteg train icn [--continuous] [--resume]`: train flowhide's recurrent image codec (Toderici et al. 2017).

    photo crops (train/data.photos, astronaut kept out) ─ ICN, K iterations ─ loss = sum_k mean |r_k| ─ Adam
    every --eval-minutes: held-out astronaut crops -> PSNR / MS-SSIM at K = 4, checkpoint, weights + card
    at the end (binary codec): bit importance w_j = E[MS-SSIM(I, I_hat) - MS-SSIM(I, I_hat_j)] (flowhide sec. 4.3)

The paper trains on COCO; no COCO is installable here, so this trains on augmented crops of scikit-image's photos
(a far smaller and less varied set: stated in the card), with `--desktop-photos` also the photographs among Debian's
desktop wallpapers. By default a crop spans half to all of a photo's short side, shrunk to --crop: denser detail
than a video frame's patches; `--zoom Z` takes crop..Z x crop of the photo's own pixels instead, the scale the
codec meets in frames (Toderici et al. train on 32x32 patches of their photos). `--resume` continues from the
checkpoint or, when there is none, from the shipped weights. CUDA is used when present. The bundled clip.mp4 is
evaluation data: never used here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossteg.codecs.icn import BITS, DEFAULT_ITERATIONS, ICN, MAX_ITERATIONS, ICNConfig
from crossteg.media.files import atomic_path, atomic_write_bytes
from crossteg.metrics import ms_ssim, psnr
from crossteg.train import data
from crossteg.train.loop import Clock, cosine_rate, log, positive
from crossteg.train.resume import add_path_options, default_checkpoint, restore, resume_optimiser, save_checkpoint

LR = 3e-3  # ours: 5e-4 (flowhide sec. 5.1, for its baselines) barely moves in CPU minutes (measured)
IMPORTANCE_CROPS = 8  # 64x64 training crops that bit importance is measured on
NAMES = {False: "icn-binary", True: "icn-continuous"}
EVALUATION_PHOTOS = ("chelsea",)  # assets/clip.mp4 pans over chelsea: kept out of training


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="crossteg train icn", description=__doc__.split("\n")[0])
    p.add_argument("--continuous", action="store_true", help="tanh bottleneck variant (flowhide sec. 5.1)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint or the shipped weights")
    p.add_argument("--minutes", type=positive(float), default=15.0, help="wall-clock budget (default 15)")
    p.add_argument("--steps", type=positive(int), default=None, help="stop after this many steps in total")
    p.add_argument("--width", type=int, default=8, help="layer width scale (Toderici et al.: 64)")
    p.add_argument("--unbounded", action="store_true",
                   help="linear decoder output instead of tanh / 2 (how icn weights were trained before the option)")
    p.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS, help="K during training")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--crop", type=int, default=32, help="training crop side (multiple of 16)")
    p.add_argument("--zoom", type=float, default=0.0,
                   help="crops of crop..zoom x crop source pixels, resized to crop (frames at their own scale; "
                        "default 0: 0.5-1 of each photo's short side)")
    p.add_argument("--desktop-photos", action="store_true",
                   help="add the photographs among Debian's desktop wallpapers (train/data.DESKTOP_PHOTOS) and "
                        "evaluate on two held-out ones as well")
    p.add_argument("--lr", type=float, default=LR)
    p.add_argument("--decay", action="store_true",
                   help="cosine decay of the rate from --lr to --lr / 20 over this run (its --minutes or --steps)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--eval-minutes", type=float, default=3.0)
    add_path_options(p)
    return p.parse_args(argv)


def training_photos() -> list[np.ndarray]:
    """train/data.photos() without chelsea: the bundled evaluation clip (assets/clip.mp4) is made from it."""
    import skimage.data

    out: list[np.ndarray] = []
    for name in data.PHOTO_NAMES:
        if name in EVALUATION_PHOTOS:
            continue
        loaded = getattr(skimage.data, name)()
        out.extend(data._as_rgb(np.asarray(a)) for a in (loaded[:2] if isinstance(loaded, tuple) else (loaded,)))
    return out


def held_out(size: int = 64, count: int = 6) -> torch.Tensor:
    """Evaluation crops of astronaut (never in the training pool): count x 3 x size x size."""
    import skimage.data

    rng = np.random.default_rng(123)
    crops = data.random_crops([data._as_rgb(skimage.data.astronaut())], size, count, rng)
    return torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous()


def held_out_frames(size: int = 128, count: int = 8) -> torch.Tensor:
    """Crops at the photos' own scale of the held-out wallpapers (data.DESKTOP_HELD_OUT), as video frames show
    a scene: 2 * count x 3 x size x size."""
    rng = np.random.default_rng(5)
    photos = [data.desktop_photo(Path(path)) for path in data.DESKTOP_HELD_OUT]
    crops = np.concatenate([data.random_crops([photo], size, count, rng, zoom=1.0) for photo in photos])
    return torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def evaluate(model: ICN, images: torch.Tensor, iterations: int = DEFAULT_ITERATIONS) -> dict[str, float]:
    """Held-out PSNR and MS-SSIM of the K-iteration reconstruction (deterministic binarisation)."""
    model.eval()
    _, recon, _ = model(images, iterations)
    model.train()
    ref = images.permute(0, 2, 3, 1).cpu().numpy()
    out = recon.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    return {f"psnr_k{iterations}": round(psnr(ref, out), 3), f"msssim_k{iterations}": round(ms_ssim(ref, out), 4)}


@torch.no_grad()
def bit_importance(model: ICN, images: torch.Tensor, iterations: int) -> list[float]:
    """w_j for the K x 32 bits of a patch (flowhide sec. 4.3): MS-SSIM drop when bit j of every patch flips,
    normalised to [0, 1] (the paper's fig. 4b)."""
    model.eval()
    codes, _, _ = model(images, iterations)
    base = torch.stack(codes, 1).permute(0, 1, 3, 4, 2)  # B x K x h x w x 32, +-1
    ref = images.permute(0, 2, 3, 1).cpu().numpy()

    def score(code: torch.Tensor) -> float:
        return ms_ssim(ref, model.decode(code).permute(0, 2, 3, 1).cpu().numpy())

    clean = score(base)
    drops = []
    for j in range(iterations * BITS):
        flipped = base.clone()
        flipped[:, j // BITS, :, :, j % BITS] *= -1
        drops.append(clean - score(flipped))
    w = np.maximum(np.array(drops), 0.0)
    return [round(float(v), 6) for v in w / max(float(w.max()), 1e-12)]


def data_card(args: argparse.Namespace) -> dict[str, str]:
    """The card's account of the training and held-out images for these options."""
    scale = (f"crop {args.crop}-{round(args.crop * args.zoom)} source pixels" if args.zoom >= 1
             else "scale 0.5-1 of the short side")
    card = {"images": f"random augmented {args.crop}x{args.crop} crops ({scale}, flips) of scikit-image's bundled "
                      "photos (train/data.photos less chelsea, whose pan is the evaluation clip; astronaut left out)",
            "held_out": "6 random 64x64 crops of scikit-image astronaut (curve metrics psnr_k4, msssim_k4)",
            "license": "scikit-image sample data (public domain / CC0 / BSD)"}
    if args.desktop_photos:
        packages = " and ".join(package for package, _, _ in data.DESKTOP_PHOTOS)
        card["images"] += (f", and the {sum(len(names) for _, _, names in data.DESKTOP_PHOTOS)} photographs among "
                           f"the desktop wallpapers of Debian's {packages} (train/data.DESKTOP_PHOTOS, short side "
                           f"scaled to at most {data.DESKTOP_SHORT_SIDE})")
        card["held_out"] += ("; 8 random 128x128 crops at their own scale of each of two held-out wallpapers, "
                             "Plasma's Path and MATE's Storm (curve metrics *_frames)")
        card["license"] += f"; the wallpapers: GPL-2+ ({packages}, see /usr/share/doc/<package>/copyright; used " \
                           "for training, not shipped)"
    return card


def save_all(model: ICN, optimiser: torch.optim.Optimizer, state: dict[str, Any], args: argparse.Namespace,
             checkpoint: Path, importance: dict[str, list[float]] | None) -> None:
    """Checkpoint (to resume) and the shippable weights + card."""
    from safetensors.torch import save_file

    save_checkpoint(checkpoint, model.state_dict(), optimiser, state)
    name = NAMES[args.continuous]
    weights = args.out / f"{name}.safetensors"
    with atomic_path(weights) as tmp:
        save_file({k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    card_path = args.out / f"{name}.json"
    if importance is None and card_path.exists():  # keep the last measured importance until re-measured
        importance = json.loads(card_path.read_text()).get("bit_importance")
    card = {
        "name": name, "component": "icn", "method": "flowhide",
        "paper": "Toderici et al., Full Resolution Image Compression with Recurrent Neural Networks, CVPR 2017 "
                 "(as used by Yang et al., Hiding Video in Audio via Reversible Generative Models, ICCV 2019)",
        "architecture": model.config.to_dict(),
        "weights": weights.name, "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "bytes": weights.stat().st_size,
        "data": data_card(args),
        "training": {"command": f"crossteg train icn{' --continuous' if args.continuous else ''}"
                                f"{' --unbounded' if args.unbounded else ''} --width "
                                f"{args.width} --iterations {args.iterations} --batch {args.batch} --crop "
                                f"{args.crop}{f' --zoom {args.zoom:g}' if args.zoom else ''}"
                                f"{' --desktop-photos' * args.desktop_photos} --lr {args.lr:g}"
                                f"{' --decay' * args.decay} --seed {args.seed} --minutes {args.minutes:g} [--resume]",
                     "optimizer": "Adam", "lr": args.lr, "loss": "sum over iterations of mean |r_k| (L1)",
                     "steps": state["step"], "seconds": round(state["seconds"], 1), "seed": args.seed,
                     "device": state.get("device", "cpu"), "threads": torch.get_num_threads()},
        "deviations": f"width {args.width} (paper 64), CPU minutes instead of 40 epochs of COCO, scikit-image "
                      f"photos{' and wallpaper photographs' * args.desktop_photos} instead of COCO, "
                      f"{args.crop}x{args.crop} crops; ConvLSTM init with open gates and "
                      "amplifying weights (codecs/icn.py ConvLSTM.reset_parameters: with PyTorch's default the "
                      "decoder ignored the code for hundreds of steps)"
                      + ("" if model.config.bounded else "; linear decoder output (--unbounded)"),
        "metrics": state["curve"][-1] if state["curve"] else {},
        "curve": state["curve"],
        "license": "weights: CC0 (trained by crossteg from the data above)",
    }
    if importance is not None:
        card["bit_importance"] = importance
        card["bit_importance_note"] = ("w_j, MS-SSIM drop when bit j (iteration j // 32, channel j % 32) of every "
                                       f"patch flips, normalised to [0, 1]; {IMPORTANCE_CROPS} training-photo crops "
                                       "of 64x64, at the training crops' scale")
    atomic_write_bytes(card_path, (json.dumps(card, indent=2) + "\n").encode())


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # weight init and binarisation noise; nothing keyed
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = ICN(ICNConfig(width=args.width, continuous=args.continuous, bounded=not args.unbounded))
    checkpoint = args.checkpoint or default_checkpoint(args.out, NAMES[args.continuous])
    state, opt_state = restore(model, checkpoint, args.out / f"{NAMES[args.continuous]}.safetensors", args.resume)
    model.to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    resume_optimiser(optimiser, opt_state)
    state["device"] = "cpu" if device.type == "cpu" else torch.cuda.get_device_name(device)
    rng = np.random.default_rng([args.seed, state["step"]])
    photos = training_photos() + (data.desktop_photos() if args.desktop_photos else [])
    evaluation = held_out().to(device)
    frames = held_out_frames().to(device) if args.desktop_photos else None
    log(f"training {NAMES[args.continuous]} on {device} from step {state['step']}: "
        f"{sum(p.numel() for p in model.parameters())} parameters")
    clock, pool = Clock(state, args.minutes, args.steps, args.eval_minutes, 20, log), torch.empty(0)
    with clock:
        while not clock.done:
            if state["step"] % 50 == 0 or len(pool) == 0:  # fresh crops every 50 steps
                fresh = data.random_crops(photos, args.crop, args.batch * 50, rng, args.zoom)
                pool = torch.from_numpy(fresh).permute(0, 3, 1, 2)
            idx = torch.from_numpy(rng.integers(len(pool), size=args.batch))
            _, _, loss = model(pool[idx].contiguous().to(device), args.iterations)
            for group in optimiser.param_groups:
                group["lr"] = cosine_rate(args.lr, clock.progress) if args.decay else args.lr
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if clock.tick({"loss": loss.item()}):
                scores = evaluate(model, evaluation)
                if frames is not None:
                    scores.update({f"{k}_frames": v for k, v in evaluate(model, frames).items()})
                point = clock.record(scores)
                importance = None
                if clock.done and not args.continuous:
                    crops = torch.from_numpy(data.random_crops(photos, 64, IMPORTANCE_CROPS, np.random.default_rng(7),
                                                               args.zoom))  # at the scale the codec was trained for
                    crops = crops.permute(0, 3, 1, 2).contiguous().to(device)
                    importance = {str(k): bit_importance(model, crops, k) for k in (DEFAULT_ITERATIONS, MAX_ITERATIONS)}
                save_all(model, optimiser, state, args, checkpoint, importance)
                log(f"eval step {state['step']}: {point} (saved)")
