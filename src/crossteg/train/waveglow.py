"""`crossteg train waveglow [--resume] [--flip-rates-only]`: train flowhide's small WaveGlow on speech.

    speech at 22.05 kHz ─ random segments ─ WaveGlow(audio, log-mel) ─> z, log s, log det
    loss = (sum z^2 / 2 - sum log s - sum log|det W|) / numel          (WaveGlow's negative log-likelihood, sigma 1)
    every --eval-minutes: held-out voices -> NLL (and held-out recorded speakers' when trained on recordings);
                          checkpoint; weights + card
    at the end: per-slot flip rates of the full hide -> WAV -> reveal path for float32, 24-bit and 16-bit files
                (flowhide sec. 4.3, measured on held-out voices; the method's bit assignment reads them)

The paper uses NVIDIA's WaveGlow trained on LJ Speech (12 flows x 8 layers x 256/512 channels, days on GPUs).
Neither the checkpoint nor LJ Speech is installable here, so this trains `nn.waveglow.small_config()` on espeak-ng
voices (training voices), optionally with festival's diphone voices and recorded prompts (train/data.py); the
flow is exactly invertible whatever its training, so training only changes how much the stego channel sounds like
the cover. `--resume` continues from the checkpoint or the shipped weights. CUDA is used when present.
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

from crossteg.errors import UsageError
from crossteg.media.files import atomic_path, atomic_write_bytes
from crossteg.nn.waveglow import SAMPLE_RATE, WaveGlow, WaveGlowConfig, mel_spectrogram, nll_loss, small_config
from crossteg.train import data
from crossteg.train.loop import Clock, log, positive
from crossteg.train.resume import add_path_options, default_checkpoint, restore, resume_optimiser, save_checkpoint

NAME = "waveglow-small"
LR = 1e-4  # WaveGlow paper sec. 3: Adam, learning rate 1e-4 (we default higher for minutes of CPU)
SEGMENT = 16_000  # WaveGlow config.json: segment_length (we default shorter on CPU)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="crossteg train waveglow", description=__doc__.split("\n")[0])
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint or the shipped weights")
    p.add_argument("--flip-rates-only", action="store_true", help="re-measure the card's flip rates, no training")
    p.add_argument("--minutes", type=positive(float), default=15.0)
    p.add_argument("--steps", type=positive(int), default=None)
    p.add_argument("--channels", type=int, default=32, help="WN channels (published 256)")
    p.add_argument("--layers", type=int, default=4, help="WN layers (published 8)")
    p.add_argument("--flows", type=int, default=8, help="flows (published 12)")
    p.add_argument("--segment", type=int, default=4096, help=f"training segment in samples (published {SEGMENT})")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--clips", type=int, default=80, help="training clips synthesised (1-4 s each)")
    p.add_argument("--festival-clips", type=int, default=0, help="festival clips added (its diphone voices)")
    p.add_argument("--recorded-clips", type=int, default=0, help="clips strung from recorded prompts added "
                   "(RECORDED_VOICES, see train/data.py)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--eval-minutes", type=float, default=3.0)
    add_path_options(p)
    return p.parse_args(argv)


def clips(count: int, voices: list[str] | None, seed: int | list[int], min_s: float = 1.0, max_s: float = 4.0,
          engine: str = "espeak-ng") -> list[np.ndarray]:
    """Speech clips at WaveGlow's rate from `voices` of `engine` (its default pool when None; cached)."""
    rng = np.random.default_rng(seed)
    return list(data.speech_clips(rng, count, min_s, max_s, SAMPLE_RATE, voices, engine=engine))


def batch(pool: list[np.ndarray], size: int, segment: int, rng: np.random.Generator) -> torch.Tensor:
    """size random segments (B x segment), zero-padded when a clip is shorter."""
    return torch.from_numpy(data.random_segments(pool, size, segment, rng))


@torch.no_grad()
def held_out_nll(model: WaveGlow, audio: torch.Tensor) -> float:
    model.eval()
    z, log_s, log_det = model(audio, mel_spectrogram(audio))
    model.train()
    return round(float(nll_loss(z, log_s, log_det)), 4)


def save_all(model: WaveGlow, optimiser: torch.optim.Optimizer | None, state: dict[str, Any],
             args: argparse.Namespace, checkpoint: Path, flips: dict[str, Any] | None) -> None:
    from safetensors.torch import save_file

    if optimiser is not None:
        save_checkpoint(checkpoint, model.state_dict(), optimiser, state)
    weights = args.out / f"{NAME}.safetensors"
    with atomic_path(weights) as tmp:
        save_file({k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    card_path = args.out / f"{NAME}.json"
    extra = data.extra_speech_notes(args.festival_clips, args.recorded_clips, "1-4 s")
    if flips is None and card_path.exists():
        flips = json.loads(card_path.read_text()).get("flip_rates")
    card = {
        "name": NAME, "component": "waveglow", "method": "flowhide",
        "paper": "Prenger, Valle, Catanzaro, WaveGlow: A Flow-based Generative Network for Speech Synthesis, "
                 "ICASSP 2019 (as used by Yang et al., ICCV 2019)",
        "architecture": model.config.to_dict(), "sample_rate": SAMPLE_RATE,
        "weights": weights.name, "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "bytes": weights.stat().st_size,
        "data": {"speech": f"{args.clips} espeak-ng clips of 1-4 s (train/data.speech_clips at 22.05 kHz) from the "
                           "training voices of train/data.split_voices (245 of 288 voices)" + extra["data"],
                 "held_out": "4 clips of held-out voices (curve NLL and flip rates)" + (
                     "; 4 clips of the held-out recorded speakers (held_out_nll_recorded)" if args.recorded_clips
                     else ""),
                 "license": "espeak-ng output (not covered by espeak-ng's GPL-3; generated by crossteg, CC0)"
                            + extra["license"]},
        "training": {"command": f"crossteg train waveglow --channels {args.channels} --layers {args.layers} "
                                f"--flows {args.flows} --segment {args.segment} --batch {args.batch} --lr "
                                f"{args.lr:g} --clips {args.clips} " + extra["flag"] + f"--seed {args.seed} --minutes "
                                f"{args.minutes:g} [--resume]",
                     "optimizer": "Adam", "lr": args.lr, "loss": "WaveGlow NLL, sigma 1", "steps": state["step"],
                     "seconds": round(state["seconds"], 1), "seed": args.seed,
                     "device": state.get("device", "cpu"), "threads": torch.get_num_threads()},
        "deviations": f"{args.flows} flows x {args.layers} WN layers x {args.channels} channels and an upsampler "
                      "with kernel 256 (published 12 x 8 x 256/512, kernel 1024); minutes of training on "
                      "espeak-ng voices" + extra["deviation"] + " instead of days on LJ Speech",
        "metrics": state["curve"][-1] if state["curve"] else {},
        "curve": state["curve"],
        "license": "weights: CC0 (trained by crossteg from the data above)",
    }
    if flips is not None:
        card["flip_rates"] = flips
    atomic_write_bytes(card_path, (json.dumps(card, indent=2) + "\n").encode())


def measure_flips(model: WaveGlow, covers: list[np.ndarray]) -> dict[str, Any]:
    """Per-slot flip rates (the 20 slots, then all 32 positions) for each file precision."""
    from crossteg.methods.flowhide import PRECISIONS, flip_rates_through_file

    out: dict[str, Any] = {"note": "fraction of latent values whose bit flips after hide -> WAV file -> reveal; "
                                   "random payload bits, held-out espeak-ng voices as covers"}
    for precision in PRECISIONS:
        rates = np.mean([flip_rates_through_file(model, cover, precision) for cover in covers], axis=0)
        out[precision] = [round(float(r), 6) for r in rates]
        log(f"flip rates {precision}: " + " ".join(f"{r:.3f}" for r in rates))
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # weight init only; nothing keyed
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config: WaveGlowConfig = small_config(args.channels, args.layers, args.flows)
    model = WaveGlow(config)
    checkpoint = args.checkpoint or default_checkpoint(args.out, NAME)
    state, opt_state = restore(model, checkpoint, args.out / f"{NAME}.safetensors", args.resume or args.flip_rates_only)
    train_voices, held_voices = data.split_voices()
    held = clips(4, held_voices, args.seed + 1, 1.0, 1.0)
    if args.flip_rates_only:
        if state["step"] == 0:  # restore found nothing: the rates of an untrained flow would replace the card
            raise UsageError(f"--flip-rates-only measures trained weights, and there are none: no {checkpoint}, no "
                             f"{args.out / NAME}.safetensors")
        save_all(model, None, state, args, checkpoint, measure_flips(model, held))
        return
    model.to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    resume_optimiser(optimiser, opt_state)
    state["device"] = "cpu" if device.type == "cpu" else torch.cuda.get_device_name(device)
    pool = clips(args.clips, train_voices, args.seed)
    pool += clips(args.festival_clips, None, [args.seed, 2], engine="festival")
    pool += clips(args.recorded_clips, None, [args.seed, 3], engine="recorded")
    held_sets = {"held_out_nll": held}
    if args.recorded_clips:
        held_sets["held_out_nll_recorded"] = clips(4, data.held_out_voices("recorded"), args.seed + 1, 1.0, 1.0,
                                                   engine="recorded")
    held_audio = {name: torch.from_numpy(np.stack([c[:8192] for c in s])).to(device) for name, s in held_sets.items()}
    rng = np.random.default_rng([args.seed, state["step"]])
    log(f"training {NAME} on {device} from step {state['step']}: {sum(p.numel() for p in model.parameters())} "
        f"parameters, {len(pool)} clips")
    with Clock(state, args.minutes, args.steps, args.eval_minutes, 20, log) as clock:
        while not clock.done:
            audio = batch(pool, args.batch, args.segment, rng).to(device)
            z, log_s, log_det = model(audio, mel_spectrogram(audio))
            loss = nll_loss(z, log_s, log_det)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)  # exp(log s) can spike early
            optimiser.step()
            if clock.tick({"nll": loss.item()}):
                point = clock.record({name: held_out_nll(model, audio) for name, audio in held_audio.items()})
                save_all(model, optimiser, state, args, checkpoint, None)
                log(f"eval step {state['step']}: {point} (saved)")
        model.cpu().eval()
        save_all(model, optimiser, state, args, checkpoint, measure_flips(model, held))
