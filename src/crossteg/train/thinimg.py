"""`crossteg train thinimg [--nested] [--resume]`: train THInImg's embedding-revealing module(s) (sec. 3.4).

    photo crops (train/data.photos) ─────────────────────────────────────┐
    espeak-ng speech, training voices, 0-S s ──mel──stitch──shuffle──> A_s ─ E ──> I_c ──8-bit──> reverse
    loss = 32 |I_c - I|^2 + 1 |I_iR - I|^2 + 32 |A_sR - A_s|^2    (eq. 10-13; nested: sum over layers, eq. 14)

The reverse pass reveals from the container clipped and rounded as a PNG stores it (round_8bit: rounding
straight-through, clipping with its true gradient); |I_c - I| is taken on the network's float output.

Adam at 2e-4 (sec. 4.3; no schedule given: ours is a constant rate after a warm-up, `--decay` adds a cosine
decay to 1/20 of it over a resumed run, to settle a model at the end of its budget). Every sample gets a
random tile shuffle (what a random key does at hide time).
Deviations for the CPU budget, stated in the card: Haar-DWT inputs, subnet width 16, and training on random
`--crop` x `--crop` windows of the 160 x 160 image and hidden tensor (the network is fully convolutional; two
64 x 64 crops cost a third of one full sample, so more steps in the same time); evaluation is on full
160 x 160 pairs. The nested model starts its first layer from the single-layer weights when present.

`--loudness` (ours, not the paper's): the speech terms (|A_sR - A_s|^2, and the nested model's |A_s1 - A_s| whose
error is level 1's speech) weigh each mel value by the loudness weights hide-time refinement uses
(thinimg.loudness_weights: 0.1 + its level, mean 1), rescaled to the paper's term's size at every step, so the
network spends its precision where speech is heard at the paper's balance of container and speech;
evaluations then score the revealed tensor by the same weighted error ("levelN_loud_psnr"). The shipped nested
weights' last 75 CPU-minutes used it (their card: table 3 refined PESQ-WB 1.89 / 2.21 -> 2.01 / 2.23); the 10 s
weights do not. Measured (2026-12-06, resumed from the shipped weights, one core): 10 s model, 37 CPU-minutes at lr
4e-5: held-out evaluations 39.6-40.3 dB container (from 40.54), 37.8-38.7 dB tensor (38.10), 36.3-36.9 dB weighted
(36.08); at its best (step 66158) on the first 8 clips of table 1's held-out voices / recorded speakers, PESQ-WB
from the PNG one pass 2.63 -> 2.70 / 2.78 -> 2.87, but with the default refinement (which weighs the same way) 2.75
-> 2.77 / 3.27 -> 3.05 (the 7 speech clips 3.32 -> 3.33; the eighth, line noise since left out of the recorded
set, 2.91 -> 1.08), at a container 0.7 dB lower: no gain where it counts. Without the
rescaling the weighted terms raised lambda_A in effect (the loud bins err most) and the container fell 1.1 dB in
1500 steps.

Resumable: a checkpoint (model, optimiser, step, curve) is written at every `--eval-minutes` evaluation that
beats the best so far, together with the weights and card under `--out`; `--resume` continues from the
checkpoint, or from the shipped weights when there is none. CUDA is used when present.
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

from crossteg.codecs import mel
from crossteg.media.files import atomic_path, atomic_write_bytes
from crossteg.methods import thinimg as T
from crossteg.metrics import psnr
from crossteg.nn.coupling import CouplingConfig, CouplingNet, round_8bit
from crossteg.train import data
from crossteg.train.loop import Clock, cosine_rate, log, positive
from crossteg.train.resume import (
    add_path_options,
    default_checkpoint,
    load_checkpoint,
    resume_optimiser,
    save_checkpoint,
)
from crossteg.train.resume import restore as resume_restore

LAMBDA_C, LAMBDA_I, LAMBDA_A = 32.0, 1.0, 32.0  # sec. 3.4
LR = 2e-4  # sec. 4.3
LOUDNESS_NOTE = ("; --loudness (ours): the speech terms weigh each mel value's squared error by "
                 "thinimg.loudness_weights (0.1 + its level, mean 1), rescaled to the plain term's size")
NOISE_NOTE = ("; --noise {:g} (ours): revealed from the 8-bit container plus Gaussian noise of a random std in "
              "[0, {:g}] 8-bit levels per sample, rounded again")
EVAL_NOISE = 1.0  # std (8-bit levels) of the noise that noise-trained runs' evaluations reveal through as well
STUCK_AFTER = 50  # skipped steps in a row that send training back to its best checkpoint


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="crossteg train thinimg", description=__doc__.split("\n")[0])
    p.add_argument("--nested", action="store_true", help="train the two-layer nested model (sec. 3.3)")
    p.add_argument("--freeze-first", action="store_true", help="nested: keep the first layer as initialised "
                   "(from the single-layer weights) and train the second through it")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint or the shipped weights")
    p.add_argument("--minutes", type=positive(float), default=60.0, help="wall-clock training budget (default 60)")
    p.add_argument("--steps", type=positive(int), default=None, help="stop after this many steps in total")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--crop", type=int, default=64, help="training window side (160 = whole samples)")
    p.add_argument("--width", type=int, default=16, help="residual-dense subnet width")
    p.add_argument("--blocks", type=int, default=8)
    p.add_argument("--no-dwt", action="store_true", help="full-resolution branches (paper) instead of Haar")
    p.add_argument("--format", default="mel", choices=sorted(mel.FORMATS))
    p.add_argument("--seconds", type=int, default=10, choices=(10, 20, 40, 80),
                   help="speech range 0-S s per 160 x 160 tile: the hidden tensor gets the channels that hold it "
                        "(sec. 4.5, Table 2: c grows with the length; mel c = 2, 4, 8, 16)")
    p.add_argument("--lr", type=float, default=LR)
    p.add_argument("--beta1", type=float, default=0.9, help="Adam's first-moment decay (HiNet, the reference "
                   "design: 0.5)")
    p.add_argument("--beta2", type=float, default=0.999, help="Adam's second-moment decay")
    p.add_argument("--eps", type=float, default=1e-8, help="Adam's epsilon (HiNet: 1e-6)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="Adam weight decay (HiNet: 1e-5)")
    p.add_argument("--clamp", type=float, default=CouplingConfig.clamp,
                   help="ES range [e^-clamp, e^clamp] for a fresh model (a resumed one keeps its card's)")
    p.add_argument("--warmup", type=int, default=200,
                   help="steps of linear learning-rate warm-up at the start of every run (resumes too)")
    p.add_argument("--decay", action="store_true",
                   help="cosine decay of the rate from --lr to --lr / 20 over this run (its --minutes, or --steps "
                        "where those run out first): to settle a resumed model at the end of its training")
    p.add_argument("--clips", type=int, default=300, help="speech clips synthesised for the training pool")
    p.add_argument("--recorded-clips", type=int, default=0,
                   help="clips strung from recorded prompts of real speakers (train/data.RECORDED_VOICES) added")
    p.add_argument("--festival-clips", type=int, default=0,
                   help="festival clips (its diphone voices of recorded speakers) added to the espeak-ng ones")
    p.add_argument("--loudness", action="store_true", help="ours: weigh each mel value's speech error by its "
                   "loudness, as hide-time refinement does (thinimg.loudness_weights), instead of the paper's MSE")
    p.add_argument("--noise", type=float, default=0.0, help="ours: reveal in training from the 8-bit container "
                   "plus Gaussian noise of a random std in [0, NOISE] 8-bit levels per sample, rounded again (pixels "
                   "moved by dithering, filters or colour conversions); 0: the paper's training")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--eval-minutes", type=float, default=5.0, help="evaluate + checkpoint this often")
    add_path_options(p)
    return p.parse_args(argv)


# Data ---------------------------------------------------------------------------------------------------


class Pool:
    """Training speech (training voices only) and photos; draws randomly shuffled hidden tensors and crops."""

    def __init__(self, args: argparse.Namespace, layout: mel.Layout) -> None:
        self.rng = np.random.default_rng(args.seed)
        self.layout = layout
        train_voices, _ = data.split_voices()
        log(f"synthesising {args.clips} speech clips from {len(train_voices)} training voices ...")
        clips = list(data.speech_clips(self.rng, args.clips, 0.25, layout.max_seconds, voice_pool=train_voices))
        if args.festival_clips:  # its own generator: the espeak-ng pool stays what it was without them
            log(f"synthesising {args.festival_clips} festival clips ...")
            clips += data.speech_clips(np.random.default_rng([args.seed, 2]), args.festival_clips, 0.25,
                                       layout.max_seconds, engine="festival")
        if args.recorded_clips:
            log(f"stringing {args.recorded_clips} clips of recorded speech ...")
            clips += data.speech_clips(np.random.default_rng([args.seed, 3]), args.recorded_clips, 0.25,
                                       layout.max_seconds, engine="recorded")
        self.features = [(mel.features_of(clip, layout.fmt), len(clip)) for clip in clips]
        self.pyramid = scale_pyramid(data.photos())

    def hidden(self) -> np.ndarray:
        """One hidden tensor: a random clip cut to a random length in 0-S s, stitched, randomly shuffled, and
        below it (channels c..2c) its loudness weights (thinimg.loudness_weights). The cut is made on the clip's
        precomputed features (the last frame or two see past the cut)."""
        features, length = self.features[int(self.rng.integers(len(self.features)))]
        n = int(self.rng.uniform(0.0, 1.0) * min(length, self.layout.max_samples))
        fmt = self.layout.fmt
        keep = 1 + n // mel.HOP if fmt == "mel" else (-(-n // mel.STFT_HOP) if fmt == "stft" else n)
        tensor = mel.stitch(features[..., :keep], n, self.layout)
        n_t = T.n_tiles(tensor.shape)
        shuffle = self.rng.permutation(n_t), self.rng.integers(0, 2, n_t)
        shuffled = T.scramble(tensor, *shuffle)
        return np.concatenate([shuffled, T.loudness_weights(shuffled[None], shuffle, self.layout)[0]])

    def image(self, side: int) -> np.ndarray:
        """A random side x side crop (3 x side x side) of a random photo at a random scale, maybe mirrored."""
        photo = self.pyramid[int(self.rng.integers(len(self.pyramid)))]
        y = int(self.rng.integers(photo.shape[0] - side + 1))
        x = int(self.rng.integers(photo.shape[1] - side + 1))
        crop = photo[y:y + side, x:x + side]
        return (crop[:, ::-1] if self.rng.random() < 0.5 else crop).transpose(2, 0, 1)

    def batch(self, size: int, crop: int, secrets: int
              ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """(images B x 3 x crop x crop, [hidden B x c x crop x crop] * secrets, their loudness weights alike):
        each tensor and its weights cropped at the same place."""
        images = np.stack([self.image(min(crop, mel.SIDE)) for _ in range(size)]).astype(np.float32)
        both = [_crop(torch.from_numpy(np.stack([self.hidden() for _ in range(size)])), crop, self.rng)
                for _ in range(secrets)]
        c = self.layout.channels
        return torch.from_numpy(images), [b[:, :c] for b in both], [b[:, c:] for b in both]


def scale_pyramid(photos: list[np.ndarray]) -> list[np.ndarray]:
    """Each photo resized so its short side is 160, 220 and 320 pixels: a 160 crop of these covers 1/2 to all
    of the short side, as data.random_crops does, without resizing at every step."""
    from skimage.transform import resize

    out = []
    for photo in photos:
        for short in (160, 220, 320):
            scale = short / min(photo.shape[:2])
            shape = (max(short, round(photo.shape[0] * scale)), max(short, round(photo.shape[1] * scale)))
            out.append(resize(photo, shape, anti_aliasing=scale < 1, preserve_range=True).astype(np.float32))
    return out


def _crop(x: torch.Tensor, crop: int, rng: np.random.Generator) -> torch.Tensor:
    if crop >= x.shape[-1]:
        return x
    y, z = (int(rng.integers(0, (x.shape[-1] - crop) // 2 + 1)) * 2 for _ in range(2))
    return x[..., y:y + crop, z:z + crop].contiguous()


def held_out(layout: mel.Layout, pairs: int = 4
             ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """Fixed evaluation pairs, never trained on: astronaut face crops (kept out of data.photos) and held-out
    voices at 2.5-S s; hidden tensors with fixed shuffles. Returns images, hidden per layer, and their
    loudness weights per layer."""
    import skimage.data
    from skimage.transform import resize

    rng = np.random.default_rng(1234)
    face = skimage.data.astronaut().astype(np.float32) / 255
    boxes = [(8, 118, 216), (0, 100, 260), (30, 140, 180), (0, 60, 320)][:pairs]
    images = np.stack([resize(face[y:y + s, x:x + s], (mel.SIDE, mel.SIDE), anti_aliasing=True)
                       for y, x, s in boxes]).transpose(0, 3, 1, 2).astype(np.float32)
    _, voices = data.split_voices()
    hidden, weights = [], []
    for level in range(2):
        lengths = np.linspace(2.5, layout.max_seconds, pairs)[::1 if level == 0 else -1]
        tensors, loud = [], []
        for k, clip in enumerate(data.speech_clips(rng, pairs, 2.5, layout.max_seconds, voice_pool=voices)):
            tensor = mel.compress(clip[:int(lengths[k] * mel.SAMPLE_RATE)], layout)
            n_t = T.n_tiles(tensor.shape)
            shuffle = rng.permutation(n_t), rng.integers(0, 2, n_t)
            tensors.append(T.scramble(tensor, *shuffle))
            loud.append(T.loudness_weights(tensors[-1][None], shuffle, layout)[0])
        hidden.append(torch.from_numpy(np.stack(tensors)))
        weights.append(torch.from_numpy(np.stack(loud)))
    return torch.from_numpy(images), hidden, weights


# Model, loss, evaluation --------------------------------------------------------------------------------


def kept(container: torch.Tensor, noise: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """What the saved PNG holds of `container` (round_8bit); with `noise` > 0 (--noise), then Gaussian noise of a
    random std in [0, noise] 8-bit levels per sample added and rounded again (as round_8bit: rounding straight
    through, clipping with its true gradient)."""
    png = round_8bit(container)
    if noise <= 0:
        return png
    std = torch.rand(len(png), 1, 1, 1, generator=generator, device=png.device) * (noise / 255)
    return round_8bit(png + std * torch.randn(png.shape, generator=generator, device=png.device))


def forward(layers: list[CouplingNet], image: torch.Tensor, hidden: list[torch.Tensor],
            loudness: list[torch.Tensor] | None = None, noise: float = 0.0
            ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The training loss (eq. 13, summed over layers as eq. 14) and its parts, through 8-bit rounding (and
    `noise`, see `kept`). `loudness`: per-level weights of the speech terms (--loudness), else the paper's plain
    squared error."""
    def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:  # eq. 10-12: squared L2 per sample, mean over N
        return ((a - b) ** 2).sum() / a.shape[0]

    def speech_mse(a: torch.Tensor, b: torch.Tensor, level: int) -> torch.Tensor:
        """A speech term: the paper's, or with loudness weights its error spread by loudness at the paper's size
        (the loudest bins err most, so the weighted sum alone would raise lambda_A about 1.6x: measured, the
        container fell 1.1 dB in 1500 steps)."""
        plain = mse(a, b)
        if loudness is None:
            return plain
        weighted = (loudness[level] * (a - b) ** 2).sum() / a.shape[0]
        return weighted * (plain / weighted.clamp_min(1e-12)).detach()

    parts: dict[str, torch.Tensor] = {}
    secret = hidden[0]
    if len(layers) == 2:  # sec. 3.3: A_s1 = E2(A_s2, A_c); the first speech is E2's cover
        secret, _ = layers[1](hidden[0], hidden[1])
    container = layers[0](image, secret)[0]  # I_c of eq. 10, as the network outputs it
    image_r, secret_r = layers[0].reverse(kept(container, noise))  # revealed from what a PNG keeps of it
    parts["c1"], parts["i1"] = mse(container, image), mse(image_r, image)
    parts["a1"] = speech_mse(secret_r, secret, 0)
    loss = LAMBDA_C * parts["c1"] + LAMBDA_I * parts["i1"] + LAMBDA_A * parts["a1"]
    if len(layers) == 2:
        cover_r, secret2_r = layers[1].reverse(secret_r)
        parts["c2"], parts["i2"] = speech_mse(secret, hidden[0], 0), mse(cover_r, hidden[0])
        parts["a2"] = speech_mse(secret2_r, hidden[1], 1)
        loss = loss + LAMBDA_C * parts["c2"] + LAMBDA_I * parts["i2"] + LAMBDA_A * parts["a2"]
    return loss, parts


@torch.no_grad()
def evaluate(layers: list[CouplingNet], images: torch.Tensor, hidden: list[torch.Tensor],
             loudness: list[torch.Tensor] | None = None, noisy: bool = False) -> dict[str, float]:
    """Held-out container PSNR (8-bit) and revealed hidden-tensor PSNR per level; with `loudness` (the levels'
    weights) also that PSNR from the loudness-weighted squared error ("levelN_loud_psnr"); if `noisy`, also the
    first level's PSNR revealed from the container plus seeded noise of std EVAL_NOISE ("level1_noisy_psnr")."""
    for net in layers:
        net.eval()
    device = next(layers[0].parameters()).device
    images, hidden = images.to(device), [h.to(device) for h in hidden]
    secret = layers[1](hidden[0], hidden[1])[0] if len(layers) == 2 else hidden[0]
    container = round_8bit(layers[0](images, secret)[0])  # what the PNG keeps, as training reveals from
    revealed = [layers[0].reverse(container)[1]]
    if len(layers) == 2:
        revealed.append(layers[1].reverse(revealed[0])[1])
    out = {"container_psnr": psnr(images.cpu().numpy(), container.cpu().numpy())}
    for level, r in enumerate(revealed):
        truth, got = hidden[level].cpu().numpy(), r.clamp(0, 1).cpu().numpy()
        out[f"level{level + 1}_tensor_psnr"] = psnr(truth, got)
        if loudness is not None:
            error = float(np.mean(loudness[level].numpy() * (truth - got).astype(np.float64) ** 2))
            out[f"level{level + 1}_loud_psnr"] = float(-10 * np.log10(error))
    if noisy:
        seeded = torch.Generator(device).manual_seed(0)
        noise = EVAL_NOISE / 255 * torch.randn(container.shape, generator=seeded, device=device)
        got = layers[0].reverse(round_8bit(container + noise))[1].clamp(0, 1).cpu().numpy()
        out["level1_noisy_psnr"] = psnr(hidden[0].cpu().numpy(), got)
    for net in layers:
        net.train()
    return {k: round(v, 3) for k, v in out.items()}


# Checkpoints, weights and card --------------------------------------------------------------------------


def plain_name(args: argparse.Namespace) -> str:
    return f"thinimg-{'nested' if args.nested else args.format}-{args.seconds}s"


def weights_name(args: argparse.Namespace) -> str:
    """The weights a run writes: a --noise run's are the plain model's name + "-robust" (thinimg.ROBUST)."""
    return plain_name(args) + ("-robust" if args.noise else "")


def start_name(args: argparse.Namespace) -> str:
    """The shipped weights a resumed run without a checkpoint starts from: its own, except that a --noise run with
    no robust weights under --out yet fine-tunes the plain model."""
    if args.noise and not (args.out / f"{weights_name(args)}.safetensors").exists():
        return plain_name(args)
    return weights_name(args)


def single_name(args: argparse.Namespace) -> str:
    """The single-layer mel weights a nested model of this length starts its first layer from."""
    return f"thinimg-mel-{args.seconds}s"


def save_all(layers: list[CouplingNet], optimiser: torch.optim.Optimizer, state: dict[str, Any],
             args: argparse.Namespace, checkpoint: Path) -> None:
    """Checkpoint (to resume) and the shippable weights + card."""
    from safetensors.torch import save_file

    save_checkpoint(checkpoint, T.state_dict(layers), optimiser, state)
    name = weights_name(args)
    weights = args.out / f"{name}.safetensors"
    with atomic_path(weights) as tmp:
        save_file({k: v.float() for k, v in T.state_dict(layers).items()}, str(tmp))
    card = make_card(name, weights, layers, state, args)
    card_path = args.out / f"{name}.json"
    if args.resume and card_path.exists():  # hand-written lineage of the weights resumed from stays with them
        old = json.loads(card_path.read_text())
        card.update({k: old[k] for k in ("init", "history") if k in old})
    atomic_write_bytes(card_path, (json.dumps(card, indent=2) + "\n").encode())


def make_card(name: str, weights: Path, layers: list[CouplingNet], state: dict[str, Any],
              args: argparse.Namespace) -> dict[str, Any]:
    config = layers[0].config
    festival = data.extra_speech_notes(args.festival_clips, args.recorded_clips, f"0.25-{args.seconds} s")
    nested = " --nested" + (" --freeze-first" if args.freeze_first else "") if args.nested else ""
    command = (f"crossteg train thinimg{nested} --batch {args.batch} --crop {args.crop}"
               f" --width {args.width} --blocks {args.blocks}{' --no-dwt' if args.no_dwt else ''}"
               f" --format {args.format} --seconds {args.seconds} --lr {args.lr:g} --beta1 {args.beta1:g}"
               f" --beta2 {args.beta2:g} --eps {args.eps:g} --weight-decay {args.weight_decay:g}"
               f" --clamp {config.clamp:g} --warmup {args.warmup}{' --decay' * args.decay} --clips {args.clips}"
               f" {festival['flag']}{'--loudness ' * args.loudness}{f'--noise {args.noise:g} ' if args.noise else ''}"
               f"--seed {args.seed} --minutes {args.minutes:g}"
               " [--resume]")
    return {
        "name": name, "method": "thinimg",
        "paper": "Zhao, Li, Ning, Jiang: THInImg: Cross-modal Steganography for Presenting Talking Heads in Images",
        "architecture": {"coupling": config.to_dict(), "nested": len(layers) == 2, "format": args.format,
                         "image_size": mel.SIDE, "tile": T.TILE},
        "weights": weights.name, "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "bytes": weights.stat().st_size,
        "data": {
            "images": "random augmented 160x160 crops (scale 0.5-1, flips) of scikit-image's bundled photos "
                      "(train/data.photos; astronaut left out) - no face dataset: FFHQ is not in any registry",
            "speech": f"{args.clips} espeak-ng clips (train/data.speech_clips) from the training voices of "
                      "train/data.split_voices (245 of 288; the other 43 held out), cut to random lengths "
                      f"0-{args.seconds} s" + festival["data"],
            "held_out": f"4 astronaut face crops x held-out voices at 2.5-{args.seconds} s (curve metrics)",
            "license": "scikit-image sample data (public domain / CC0 / BSD); espeak-ng output (not covered by "
                       "espeak-ng's GPL-3, generated by crossteg, CC0)" + festival["license"]},
        "training": {"command": command, "optimizer": "Adam", "lr": args.lr, "betas": [args.beta1, args.beta2],
                     "eps": args.eps, "weight_decay": args.weight_decay,
                     "losses": "lambda_C = lambda_A = 32, lambda_I = 1 (sec. 3.4); reveal from the container "
                               "clipped and rounded to 8 bits (rounding straight-through, clipping with its true "
                               "gradient)" + (LOUDNESS_NOTE if args.loudness else "")
                               + (NOISE_NOTE.format(args.noise, args.noise) if args.noise else ""),
                     "batch": args.batch, "crop": args.crop, "steps": state["step"],
                     "seconds": round(state["seconds"], 1), "seed": args.seed, "device": state["device"],
                     "threads": torch.get_num_threads()},
        "deviations": "Haar-DWT inputs, subnet width 16 (paper: full resolution, width unstated), training on "
                      "64x64 crops, CPU minutes instead of 100 GPU epochs, synthetic speech and non-face photos "
                      "instead of LJ Speech/CMU-ARCTIC and FFHQ",
        **({"init": f"first layer from {single_name(args)}.safetensors (the single-layer weights)"
                    + (", kept frozen" if args.freeze_first else "") + "; second layer fresh"}
           if len(layers) == 2 else {}),
        "metrics": state["curve"][-1] if state["curve"] else {},
        "metrics_note": "held-out container PSNR (dB, 8-bit) and PSNR of the revealed hidden tensor (dB); "
                        "PESQ/STOI are in benchmarks/results/thinimg-*.json",
        "curve": state["curve"],
        "license": "weights: CC0 (trained by crossteg from the data above)",
    }


def stacked(layers: list[CouplingNet]) -> torch.nn.ModuleDict:
    """The layers as one module whose state dict is T.state_dict's (layer1., layer2. ...)."""
    return torch.nn.ModuleDict({f"layer{k + 1}": net for k, net in enumerate(layers)})


def restore(layers: list[CouplingNet], args: argparse.Namespace, checkpoint: Path
            ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(training state, optimiser state) from the checkpoint, the shipped weights (train.resume.restore; a --noise
    run with no robust weights yet fine-tunes the plain ones), or for a fresh nested model the single-layer weights
    as its first layer."""
    state, optimiser_state = resume_restore(stacked(layers), checkpoint, args.out / f"{start_name(args)}.safetensors",
                                            args.resume)
    single = args.out / f"{single_name(args)}.safetensors"
    if state["step"] == 0 and args.nested and single.exists():
        from safetensors.torch import load_file

        stacked(layers[:1]).load_state_dict({n: v for n, v in load_file(str(single)).items()
                                             if n.startswith("layer1.")})
        log(f"nested: first layer starts from {single}")
    return state, optimiser_state


def resumed_clamp(args: argparse.Namespace) -> float:
    """The ES clamp the starting weights were trained with: the card's when resuming, the single-layer card's for
    a fresh nested model (its first layer starts from those weights), else --clamp."""
    own = args.out / f"{start_name(args)}.json"
    if args.resume and own.exists():
        card = own
    elif args.nested:
        card = args.out / f"{single_name(args)}.json"
    else:
        return args.clamp
    if not card.exists():
        return args.clamp
    return float(json.loads(card.read_text())["architecture"]["coupling"].get("clamp", args.clamp))


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # weight init and nothing keyed
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    layout = mel.Layout(args.format, mel.channels_for(args.seconds, args.format))
    config = CouplingConfig(3, layout.channels, args.blocks, args.width, not args.no_dwt, resumed_clamp(args))
    layers = T.build_layers(config, args.nested)
    checkpoint = args.checkpoint or default_checkpoint(args.out, weights_name(args))
    state, optimiser_state = restore(layers, args, checkpoint)
    for net in layers:
        net.to(device).train()
    trained = layers[1:] if args.nested and args.freeze_first else layers
    for net in layers:
        net.requires_grad_(any(net is t for t in trained))
    params = [p for net in trained for p in net.parameters()]
    optimiser = torch.optim.Adam(params, lr=args.lr, betas=(args.beta1, args.beta2), eps=args.eps,
                                 weight_decay=args.weight_decay)
    resume_optimiser(optimiser, optimiser_state)
    state["device"] = str(device) if device.type == "cpu" else torch.cuda.get_device_name(device)
    pool = Pool(args, layout)
    images, hidden, weights = held_out(layout)
    loudness = weights if args.loudness else None
    noisy = args.noise > 0

    def measure() -> dict[str, float]:
        return evaluate(layers, images, hidden, loudness, noisy)

    secrets = len(layers)
    if not (args.resume and checkpoint.exists()):  # where this run starts is its first best to return to (a
        # fresh run that broke before its first evaluation once skipped every step after: nothing to go back to)
        save_checkpoint(checkpoint, T.state_dict(layers), optimiser, state)
    guard, clock = Guard(state["curve"]), Clock(state, args.minutes, args.steps, args.eval_minutes, 10, log)
    kinds = {k for k, on in (("loud_psnr", loudness is not None), ("noisy_psnr", noisy)) if on}  # what it measures
    if state["curve"] and kinds != Guard.kinds(state["curve"][-1]):  # the start, scored as this run scores
        guard.best = Guard.score(measure())
        log(f"starting weights score {guard.best:.3f} (container + revealed: {', '.join(sorted(kinds)) or 'plain'})")
    log(f"training {weights_name(args)} on {device} from step {state['step']}: "
        f"{sum(p.numel() for p in params)} parameters")
    first, rate = state["step"], args.lr  # rate: --lr, halved by each back_to_best
    with clock:
        while not clock.done:
            # fresh Adam moments take full-size steps: ramp the rate up over --warmup steps (again after going back
            # to the best checkpoint, whose moments may be fresh too: a run's first one is); --decay then lowers it
            ramp = min(1.0, (state["step"] - first + 1) / args.warmup) if args.warmup else 1.0
            decay = cosine_rate(1.0, clock.progress) if args.decay else 1.0
            for group in optimiser.param_groups:
                group["lr"] = rate * ramp * decay
            image, hid, loud = pool.batch(args.batch, args.crop, secrets)
            loss, parts = forward(layers, image.to(device), [h.to(device) for h in hid],
                                  [w.to(device) for w in loud] if args.loudness else None, args.noise)
            optimiser.zero_grad()
            terms = {"loss": loss.item(), **{k: v.item() for k, v in parts.items()}}
            if guard.accept(loss.item()):
                loss.backward()
                norm = torch.nn.utils.clip_grad_norm_(params, 10.0)  # an INN's exp scaling can spike early on
                terms["grad"] = norm.item()
                if guard.accept(norm.item(), "gradient norm"):
                    optimiser.step()
            if guard.stuck:  # the checkpoint exists: every run writes its starting point first
                rate, first = back_to_best(layers, optimiser, checkpoint, rate), state["step"]
                guard.restart()
            if clock.tick(terms, f" lr {optimiser.param_groups[0]['lr']:.2e}"):
                metrics = measure()
                clock.record(metrics)
                verdict = guard.judge(metrics)
                if verdict == "better":
                    save_all(layers, optimiser, state, args, checkpoint)
                elif verdict == "diverged":
                    rate, first = back_to_best(layers, optimiser, checkpoint, rate), state["step"]
                log(f"eval step {state['step']}: {metrics}  ({verdict})")


class Guard:
    """Keeps training on its feet: skips steps whose loss or gradient norm spikes (> 20x its running mean, or
    not finite), and judges each evaluation: "better" (saved), "worse" (not saved), or "diverged" (3 dB below
    the best: the caller returns to the best checkpoint at half the learning rate). The nested model at lr 2e-4
    fell from 24 to 9 dB container PSNR between two evaluations before this existed (measured). The gradient
    check came later: steps whose gradient norm is hundreds of times the usual arrive with unremarkable losses
    (a fresh 20 s run: 7e7 against ~2e5 as it began to break; the resumed 10 s and 20 s runs skipped 29 and 26
    such steps). It did not save that 20 s run on its own: the cause there was the gradient through the 8-bit
    clip (see round_8bit)."""

    def __init__(self, curve: list[dict[str, float]] | None = None) -> None:
        """`curve`: a resumed run's evaluations; its last one scored the weights it starts from, and a later
        evaluation must beat that before it is saved (a resume that degrades must not overwrite them)."""
        self.means: dict[str, float] = {}  # running mean of each watched quantity
        self.best = self.score(curve[-1]) if curve else -float("inf")
        self.in_a_row: dict[str, int] = {}  # steps skipped in a row, per watched quantity

    def accept(self, value: float, name: str = "loss") -> bool:
        """False (skip the step) when `value` is not finite or over 20x the running mean of `name`."""
        mean = self.means.get(name)
        if not np.isfinite(value) or (mean is not None and value > 20 * mean):
            log(f"  skipped a step: {name} {value:.3g} against a running mean of {mean}")
            self.in_a_row[name] = self.in_a_row.get(name, 0) + 1
            return False
        self.means[name] = value if mean is None else 0.98 * mean + 0.02 * value
        self.in_a_row[name] = 0
        return True

    def restart(self) -> None:
        """Forget the loss and gradient history (after going back to the best checkpoint)."""
        self.in_a_row, self.means = {}, {}

    @property
    def skipped(self) -> int:
        """The longest run of skips in a row of any watched quantity. Counted apart: an ordinary loss must not
        reset a run of refused gradients (a resumed nested run whose weights broke during its warm-up had its
        every gradient refused, yet never counted as stuck, as each step's loss passed; measured)."""
        return max(self.in_a_row.values(), default=0)

    @property
    def stuck(self) -> bool:
        """Every step of a while skipped: the weights themselves are broken (skipping only stops them moving;
        a resumed run once skipped 2400 steps in a row before the next evaluation, measured)."""
        return self.skipped >= STUCK_AFTER

    @staticmethod
    def kinds(metrics: dict[str, float]) -> set[str]:
        """The revealed-PSNR kinds an evaluation measured beyond the plain one: "loud_psnr", "noisy_psnr"."""
        return {kind for kind in ("loud_psnr", "noisy_psnr") if any(k.endswith(kind) for k in metrics)}

    @staticmethod
    def score(metrics: dict[str, float]) -> float:
        """Container PSNR + the worst level's revealed PSNR (the loudness-weighted one where measured), averaged
        with the revealed PSNR through noise where that was measured (--noise)."""
        kind = "loud_psnr" if "loud_psnr" in Guard.kinds(metrics) else "tensor_psnr"
        revealed = min(v for k, v in metrics.items() if k.endswith(kind))
        if "noisy_psnr" in Guard.kinds(metrics):
            revealed = (revealed + metrics["level1_noisy_psnr"]) / 2
        return metrics["container_psnr"] + revealed

    def judge(self, metrics: dict[str, float]) -> str:
        score = self.score(metrics)
        if score >= self.best:
            self.best = score
            return "better"
        return "diverged" if score < self.best - 3 else "worse"


def back_to_best(layers: list[CouplingNet], optimiser: torch.optim.Optimizer, checkpoint: Path, rate: float) -> float:
    """Reload the best checkpoint's weights and optimiser; returns the run's base rate halved (so repeated
    divergences keep lowering it: the checkpoint's own rate would give the same rate every time)."""
    saved = load_checkpoint(checkpoint)
    stacked(layers).load_state_dict(saved["model"])  # copies onto the layers' device
    resume_optimiser(optimiser, saved["optimiser"])  # the checkpoint's moments, this run's settings
    for group in optimiser.param_groups:
        group["lr"] = rate / 2  # the loop rescales it (warm-up, decay) from the returned rate next step
    log(f"  diverged: back to the best checkpoint (step {saved['state']['step']}), base lr {rate / 2:g}")
    return rate / 2
