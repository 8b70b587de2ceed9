"""`crossteg train vocoder [--resume]`: train the iSTFT neural vocoder (codecs/vocoder.py) on synthetic speech.

    espeak-ng speech (training voices, 16 kHz) ─ random 8192-sample segments x random gain ─> x
    mel(x) (+ small noise) ─ Vocoder ─> log|S|, phase ─ iSTFT ─> y
    loss = L1(log|S|, log|STFT x|) + spectral convergence(|S|)       magnitude
         + aw(phase - arg STFT x) + aw(group delay) + aw(inst. freq.) anti-wrapping phase losses (APNet; with
           --phase-weight magnitude each bin's error weighs its true magnitude)
         + sum over FFT 512/1024/2048 of spectral convergence + log-|STFT| L1 (y vs x)
         + L1(log mel y, log mel x)
    with --adversarial W > 0: + W x (least-squares GAN + 2 x feature matching) of multi-period and multi-resolution
    discriminators (nn/discriminators.py, HiFi-GAN's losses) on --adversarial-batch of the segments; they take a
    step of their own before each of the vocoder's (same rate and optimiser settings)
    every --eval-minutes: PESQ-WB / STOI of held-out voices; checkpoint; weights + card
    learning rate: cosine decay from --lr to --lr / 20 over this run's --minutes (or --steps, where those run out first)

The adversarial terms are off by default (the shipped network was first trained without them). On this CPU
our first discriminators (32-channel resolutions, all 16 segments) made a step 30 times slower (4 s); narrowed
and judging 4 segments, about 4 times (0.58 s).
HiFi-GAN weighs its mel L1 45 against adversarial 1 + feature matching 2; our reconstruction loss sums four
terms, so W is its own knob (we used 0.2: the GAN part then starts near a fifth of the reconstruction). CUDA is
used when present; `--resume` continues from the checkpoint (discriminators included) or the shipped weights
(fresh discriminators).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossteg.codecs import mel as melcodec
from crossteg.codecs.vocoder import WEIGHTS_NAME, Vocoder, VocoderConfig, vocode
from crossteg.media.files import atomic_path, atomic_write_bytes
from crossteg.nn import discriminators as gan
from crossteg.train import data
from crossteg.train.loop import Clock, cosine_rate, log, positive
from crossteg.train.resume import (
    add_path_options,
    checkpoint_extra,
    default_checkpoint,
    restore,
    resume_optimiser,
    save_checkpoint,
)

RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))  # multi-resolution STFT loss (Yamamoto et al. 2020 style)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="crossteg train vocoder", description=__doc__.split("\n")[0])
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint or the shipped weights")
    p.add_argument("--minutes", type=positive(float), default=60.0)
    p.add_argument("--steps", type=positive(int), default=None)
    p.add_argument("--dim", type=int, default=192)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--segment", type=int, default=8192, help="training segment in samples")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--phase-weight", choices=("even", "magnitude"), default="even",
                   help="how the phase errors of the STFT bins are averaged: evenly (APNet) or weighted by the "
                        "true magnitude (ours: a silent bin's phase is noise nothing can predict)")
    p.add_argument("--adversarial", type=float, default=0.0,
                   help="weight of the GAN terms (adversarial + 2 x feature matching) against the reconstruction "
                        "loss; 0 (default) trains without discriminators")
    p.add_argument("--adversarial-batch", type=int, default=4,
                   help="how many of each batch's segments the discriminators judge (CPU cost)")
    p.add_argument("--clips", type=int, default=500, help="training clips synthesised (1-4 s each)")
    p.add_argument("--recorded-clips", type=int, default=0,
                   help="clips strung from recorded prompts of real speakers (train/data.RECORDED_VOICES) added")
    p.add_argument("--festival-clips", type=int, default=0,
                   help="festival clips (1-4 s, its diphone voices of recorded speakers) added to the espeak-ng ones")
    p.add_argument("--eval-clips", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--eval-minutes", type=float, default=5.0)
    add_path_options(p)
    return p.parse_args(argv)


class Losses(torch.nn.Module):
    """The training loss terms (see the module docstring), on B x T speech."""

    mel_basis: torch.Tensor

    def __init__(self, magnitude_weighted: bool = False) -> None:
        super().__init__()
        self.magnitude_weighted = magnitude_weighted
        basis = melcodec._mel_basis()[0]
        self.register_buffer("mel_basis", torch.from_numpy(basis), persistent=False)
        for n_fft, _ in RESOLUTIONS:
            self.register_buffer(f"window{n_fft}", torch.hann_window(n_fft), persistent=False)

    def stft(self, x: torch.Tensor, n_fft: int = melcodec.N_FFT, hop: int = melcodec.HOP) -> torch.Tensor:
        """B x (n_fft/2 + 1) x F complex, centred with zero padding (as codecs/mel.stft)."""
        return torch.stft(x, n_fft, hop, window=getattr(self, f"window{n_fft}"), center=True, pad_mode="constant",
                          return_complex=True)

    def mel(self, spec: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel in [0, 1] (codecs/mel.mel_spectrogram's formula) from a 1024/256 STFT."""
        db = 20.0 * torch.log10((self.mel_basis @ spec.abs()).clamp(min=1e-5)) - melcodec.REF_DB
        return ((db - melcodec.MIN_DB) / -melcodec.MIN_DB).clamp(0.0, 1.0)

    def forward(self, model: Vocoder, x: torch.Tensor,
                mel: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """(the loss terms with their sum "total", the vocoder's speech y) for speech x and its mel."""
        target = self.stft(x)
        log_mag, phase = model.spectrum(mel)
        y = model.synthesize(log_mag, phase, x.shape[-1])
        true_phase = target.angle()
        magnitude = target.abs()
        convergence = torch.linalg.norm(log_mag.exp() - magnitude) / torch.linalg.norm(magnitude).clamp(min=1e-5)
        terms = {"mag": (log_mag - magnitude.clamp(min=1e-5).log()).abs().mean() + convergence,
                 "phase": self.phase_loss(phase, true_phase, magnitude),
                 "stft": sum((self.resolution_loss(x, y, n, h) for n, h in RESOLUTIONS), torch.zeros(())),
                 "mel": (self.mel_log(y) - self.mel_log(x)).abs().mean()}
        terms["total"] = terms["mag"] + terms["phase"] + terms["stft"] + terms["mel"]
        return terms, y

    def phase_loss(self, phase: torch.Tensor, true_phase: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
        """APNet's instantaneous phase, group delay and instantaneous frequency errors, anti-wrapped; averaged
        evenly, or (magnitude_weighted) weighted by the true magnitude (of both bins, for the differences)."""
        weight = magnitude if self.magnitude_weighted else None
        total = _anti_wrap(phase - true_phase, weight)
        for dim in (1, 2):
            pair = None if weight is None else (weight.narrow(dim, 0, weight.shape[dim] - 1)
                                                * weight.narrow(dim, 1, weight.shape[dim] - 1)).sqrt()
            total = total + _anti_wrap(torch.diff(phase, dim=dim) - torch.diff(true_phase, dim=dim), pair)
        return total

    def mel_log(self, x: torch.Tensor) -> torch.Tensor:
        return (self.mel_basis @ self.stft(x).abs()).clamp(min=1e-5).log()

    def resolution_loss(self, x: torch.Tensor, y: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
        """Spectral convergence + log-magnitude L1 at one STFT resolution."""
        a, b = self.stft(x, n_fft, hop).abs(), self.stft(y, n_fft, hop).abs()
        convergence = torch.linalg.norm(a - b) / torch.linalg.norm(a).clamp(min=1e-5)
        return convergence + (a.clamp(min=1e-5).log() - b.clamp(min=1e-5).log()).abs().mean()


def _anti_wrap(delta: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean |delta| after wrapping to [-pi, pi] (APNet's anti-wrapping function), or its `weight`ed mean."""
    wrapped = (delta - 2 * math.pi * torch.round(delta / (2 * math.pi))).abs()
    if weight is None:
        return wrapped.mean()
    return (wrapped * weight).sum() / weight.sum().clamp(min=1e-8)


def batch(pool: list[np.ndarray], size: int, segment: int, rng: np.random.Generator) -> torch.Tensor:
    """size random segments (B x segment), at random gains 0.2-1, zero-padded when a clip is shorter."""
    return torch.from_numpy(data.random_segments(pool, size, segment, rng, (0.2, 1.0)))


def evaluate(model: Vocoder, held: list[np.ndarray]) -> dict[str, float]:
    """Mean PESQ-WB and STOI of the neural and hybrid vocoders on held-out clips' clean mels."""
    from crossteg.metrics.audio import pesq_wb, stoi

    model.eval()
    scores: dict[str, list[float]] = {}
    for clip in held:
        features = melcodec.mel_spectrogram(clip)
        for kind, prefix in (("neural", "held_out"), ("hybrid", "held_out_hybrid")):
            out = vocode(features, len(clip), kind, model=model)
            scores.setdefault(f"{prefix}_pesq_wb", []).append(pesq_wb(clip, out, melcodec.SAMPLE_RATE))
            scores.setdefault(f"{prefix}_stoi", []).append(stoi(clip, out, melcodec.SAMPLE_RATE))
    model.train()
    return {k: round(float(np.mean(v)), 4) for k, v in scores.items()}


def save_all(model: Vocoder, optimiser: torch.optim.Optimizer, state: dict[str, Any], args: argparse.Namespace,
             checkpoint: Path, adversary: Adversary | None = None) -> None:
    """Checkpoint (model + optimiser + curve, the adversary's state), then the safetensors weights and their card."""
    from safetensors.torch import save_file

    save_checkpoint(checkpoint, model.state_dict(), optimiser, state, adversary.state() if adversary else None)
    weights = args.out / f"{WEIGHTS_NAME}.safetensors"
    with atomic_path(weights) as tmp:
        save_file({k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    card_path = weights.with_suffix(".json")
    card = card_for(model, state, args, weights)
    if card_path.exists():  # keep what the benchmark measured and the notes written into the card
        kept = {k: v for k, v in json.loads(card_path.read_text()).items() if k in ("benchmark", "notes")}
        card = {**card, **kept}
    atomic_write_bytes(card_path, (json.dumps(card, indent=2) + "\n").encode())


def card_for(model: Vocoder, state: dict[str, Any], args: argparse.Namespace, weights: Path) -> dict[str, Any]:
    """The weights card: architecture, data, training, deviations from the paper, held-out metrics."""
    festival = data.extra_speech_notes(args.festival_clips, args.recorded_clips, "1-4 s")
    adversarial = (f" + {args.adversarial:g} x (least-squares adversarial + 2 x feature matching) of HiFi-GAN's "
                   "multi-period and UnivNet's multi-resolution discriminators, narrowed (nn/discriminators.py)"
                   if args.adversarial > 0 else "; no GAN")
    return {
        "name": WEIGHTS_NAME, "component": "vocoder", "method": "thinimg",
        "paper": "Zhao et al., THInImg (sec. 4.3: WaveNet vocoder, 16 kHz, FFT 1024, hop 256, 80 mel bands); "
                 "architecture after Siuzdak, Vocos (2023) with the parallel phase estimation of Ai & Ling, "
                 "APNet (2023)",
        "architecture": model.config.to_dict(), "sample_rate": melcodec.SAMPLE_RATE, "n_fft": melcodec.N_FFT,
        "hop": melcodec.HOP, "n_mels": melcodec.N_MELS,
        "parameters": sum(p.numel() for p in model.parameters()),
        "weights": weights.name, "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "bytes": weights.stat().st_size,
        "data": {"speech": f"{args.clips} espeak-ng clips of 1-4 s (train/data.speech_clips at 16 kHz, random "
                           "speed and pitch) from the training voices of train/data.split_voices (245 of 288 "
                           "voices)" + festival["data"] + "; random 8192-sample segments at random gain 0.2-1",
                 "held_out": f"{args.eval_clips} clips of 3 s from held-out voices (curve); the benchmark uses "
                             "20 other held-out clips",
                 "license": "espeak-ng output (not covered by espeak-ng's GPL-3; generated by crossteg, CC0)"
                            + festival["license"]},
        "training": {"command": f"crossteg train vocoder --dim {args.dim} --layers {args.layers} --segment "
                                f"{args.segment} --batch {args.batch} --lr {args.lr:g} --clips {args.clips} "
                                + festival["flag"]
                                + ("--phase-weight magnitude " if args.phase_weight == "magnitude" else "")
                                + (f"--adversarial {args.adversarial:g} --adversarial-batch {args.adversarial_batch} "
                                   if args.adversarial > 0 else "")
                                + f"--seed {args.seed} --minutes {args.minutes:g} [--resume]",
                     "optimizer": "AdamW (betas 0.8, 0.99), cosine decay per run",
                     "loss": "log-magnitude L1 + anti-wrapping phase (IP, GD, IF"
                             + (", weighted by the true magnitude" if args.phase_weight == "magnitude" else "")
                             + ") + multi-resolution STFT "
                             "(512/1024/2048) + log-mel L1" + adversarial,
                     "steps": state["step"], "seconds": round(state["seconds"], 1), "seed": args.seed,
                     "device": state.get("device", "cpu"), "threads": torch.get_num_threads()},
        "deviations": "the paper's WaveNet (sample-by-sample, GPU-days of training, far slower than real time on "
                      "CPU) is replaced by a frame-rate ConvNeXt network predicting the 1024/256 STFT "
                      "(magnitude and phase) for an inverse FFT: one pass per 256 samples; trained for CPU-hours "
                      + ("with narrowed discriminators" if args.adversarial > 0 else "without adversarial losses")
                      + " on espeak-ng voices" + festival["deviation"],
        "metrics": state["curve"][-1] if state["curve"] else {},
        "curve": state["curve"],
        "license": "weights: CC0 (trained by crossteg from the data above)",
    }


@dataclass
class Adversary:
    """The discriminators, their optimiser, and the weight W of their terms in the vocoder's loss."""

    critics: gan.Discriminators
    optimiser: torch.optim.Optimizer
    weight: float
    batch: int  # segments judged per step: the first of each batch (segments are drawn at random)

    def judge(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """One discriminator step on real and (detached) generated speech, then the generator's terms "adv"
        and "fm" against the stepped discriminators ("disc": the discriminators' loss, for the log)."""
        real, fake = real[:self.batch], fake[:self.batch]
        disc = gan.discriminator_loss(self.critics(real), self.critics(fake.detach()))
        self.optimiser.zero_grad()
        disc.backward()
        self.optimiser.step()
        self.critics.requires_grad_(False)  # the generator's gradient passes through, none is kept for them
        with torch.no_grad():
            real_judged = self.critics(real)
        fake_judged = self.critics(fake)
        self.critics.requires_grad_(True)
        return {"disc": disc.detach(), "adv": gan.generator_loss(fake_judged),
                "fm": gan.feature_loss(real_judged, fake_judged)}

    def state(self) -> dict[str, Any]:
        return {"critics": self.critics.state_dict(), "optimiser": self.optimiser.state_dict()}


def step_once(model: Vocoder, losses: Losses, optimiser: torch.optim.Optimizer, audio: torch.Tensor,
              rng: np.random.Generator, adversary: Adversary | None = None) -> dict[str, float]:
    """One optimisation step on a batch of speech (after the discriminators' own, with an adversary); returns
    the loss terms ("total": the reconstruction loss, without the adversarial terms)."""
    with torch.no_grad():
        mel = losses.mel(losses.stft(audio))
        noise = torch.from_numpy(rng.uniform(0.0, 0.005, (len(audio), 1, 1)).astype(np.float32)).to(mel.device)
        mel = (mel + noise * torch.randn_like(mel)).clamp(0.0, 1.0)  # revealed mels carry small errors
    terms, speech = losses(model, audio, mel)
    loss = terms["total"]
    if adversary is not None:
        terms.update(adversary.judge(audio, speech))
        loss = loss + adversary.weight * (terms["adv"] + 2.0 * terms["fm"])
    optimiser.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    optimiser.step()
    return {k: float(v.detach()) for k, v in terms.items()}


def make_adversary(args: argparse.Namespace, checkpoint: Path, device: torch.device) -> Adversary | None:
    """The discriminators with --adversarial > 0 (from the checkpoint when resuming one that has them)."""
    if args.adversarial <= 0:
        return None
    critics = gan.Discriminators().to(device)
    adversary = Adversary(critics, torch.optim.AdamW(critics.parameters(), lr=args.lr, betas=(0.8, 0.99)),
                          args.adversarial, args.adversarial_batch)
    saved = checkpoint_extra(checkpoint) if args.resume else None
    if saved is not None and "critics" in saved:
        critics.load_state_dict(saved["critics"])
        resume_optimiser(adversary.optimiser, saved["optimiser"])
        log(f"discriminators resumed from {checkpoint}")
    return adversary


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # weight init only; nothing keyed
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = Vocoder(VocoderConfig(dim=args.dim, layers=args.layers))
    checkpoint = args.checkpoint or default_checkpoint(args.out, WEIGHTS_NAME)
    state, opt_state = restore(model, checkpoint, args.out / f"{WEIGHTS_NAME}.safetensors", args.resume)
    train_voices, held_voices = data.split_voices()
    held = list(data.speech_clips(np.random.default_rng(args.seed + 1), args.eval_clips, 3.0, 3.0,
                                  voice_pool=held_voices))
    pool = list(data.speech_clips(np.random.default_rng(args.seed), args.clips, 1.0, 4.0, voice_pool=train_voices))
    pool += data.speech_clips(np.random.default_rng([args.seed, 2]), args.festival_clips, 1.0, 4.0, engine="festival")
    pool += data.speech_clips(np.random.default_rng([args.seed, 3]), args.recorded_clips, 1.0, 4.0, engine="recorded")
    model.to(device).train()
    losses = Losses(args.phase_weight == "magnitude").to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.8, 0.99))
    resume_optimiser(optimiser, opt_state)
    adversary = make_adversary(args, checkpoint, device)
    state["device"] = "cpu" if device.type == "cpu" else torch.cuda.get_device_name(device)
    rng = np.random.default_rng([args.seed, state["step"]])
    log(f"training {WEIGHTS_NAME} on {device} from step {state['step']}: "
        f"{sum(p.numel() for p in model.parameters())} parameters, {len(pool)} clips")
    with Clock(state, args.minutes, args.steps, args.eval_minutes, 50, log) as clock:
        while not clock.done:
            for group in optimiser.param_groups + (adversary.optimiser.param_groups if adversary else []):
                group["lr"] = cosine_rate(args.lr, clock.progress)  # to --lr / 20 over the run
            terms = step_once(model, losses, optimiser, batch(pool, args.batch, args.segment, rng).to(device), rng,
                              adversary)
            if clock.tick(terms, f" lr {optimiser.param_groups[0]['lr']:.2e}"):
                model.cpu()
                point = clock.record(evaluate(model, held))
                model.to(device)
                save_all(model, optimiser, state, args, checkpoint, adversary)
                log(f"eval step {state['step']}: {point} (saved)")
