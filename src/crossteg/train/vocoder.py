"""`crossteg train vocoder [--resume]`: train the iSTFT neural vocoder (codecs/vocoder.py) on synthetic speech.

    espeak-ng speech (training voices, 16 kHz) ─ random 8192-sample segments x random gain ─> x
    mel(x) (+ small noise) ─ Vocoder ─> log|S|, phase ─ iSTFT ─> y
    loss = L1(log|S|, log|STFT x|) + spectral convergence(|S|)       magnitude
         + aw(phase - arg STFT x) + aw(group delay) + aw(inst. freq.) anti-wrapping phase losses (APNet)
         + sum over FFT 512/1024/2048 of spectral convergence + log-|STFT| L1 (y vs x)
         + L1(log mel y, log mel x)
    every --eval-minutes: PESQ-WB / STOI of held-out voices; checkpoint; weights + card
    learning rate: cosine decay from --lr to --lr / 20 over this run's --minutes (or --steps, where those run out first)

No GAN: its discriminators would double the CPU cost per step. CUDA is used when present; `--resume` continues
from the checkpoint or the shipped weights.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossteg.codecs import mel as melcodec
from crossteg.codecs.vocoder import WEIGHTS_DIR, WEIGHTS_NAME, Vocoder, VocoderConfig, vocode
from crossteg.media.files import atomic_path, atomic_write_bytes
from crossteg.train import data
from crossteg.train.loop import Clock, cosine_rate
from crossteg.train.resume import restore, resume_optimiser, save_checkpoint

RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))  # multi-resolution STFT loss (Yamamoto et al. 2020 style)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="crossteg train vocoder", description=__doc__.split("\n")[0])
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint or the shipped weights")
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--dim", type=int, default=192)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--segment", type=int, default=8192, help="training segment in samples")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--clips", type=int, default=500, help="training clips synthesised (1-4 s each)")
    p.add_argument("--recorded-clips", type=int, default=0,
                   help="clips strung from recorded prompts of real speakers (train/data.RECORDED_VOICES) added")
    p.add_argument("--festival-clips", type=int, default=0,
                   help="festival clips (1-4 s, its diphone voices of recorded speakers) added to the espeak-ng ones")
    p.add_argument("--eval-clips", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--eval-minutes", type=float, default=5.0)
    p.add_argument("--checkpoint", type=Path, default=None, help=f"default: ~/.cache/crossteg/{WEIGHTS_NAME}.ckpt")
    p.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    return p.parse_args(argv)


def log(message: str) -> None:
    print(message, flush=True)


class Losses(torch.nn.Module):
    """The training loss terms (see the module docstring), on B x T speech."""

    mel_basis: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
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

    def forward(self, model: Vocoder, x: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        target = self.stft(x)
        log_mag, phase = model.spectrum(mel)
        y = model.synthesize(log_mag, phase, x.shape[-1])
        true_phase = target.angle()
        magnitude = target.abs()
        convergence = torch.linalg.norm(log_mag.exp() - magnitude) / torch.linalg.norm(magnitude).clamp(min=1e-5)
        terms = {"mag": (log_mag - magnitude.clamp(min=1e-5).log()).abs().mean() + convergence,
                 "phase": _anti_wrap(phase - true_phase)
                 + _anti_wrap(torch.diff(phase, dim=1) - torch.diff(true_phase, dim=1))
                 + _anti_wrap(torch.diff(phase, dim=2) - torch.diff(true_phase, dim=2)),
                 "stft": sum((self.resolution_loss(x, y, n, h) for n, h in RESOLUTIONS), torch.zeros(())),
                 "mel": (self.mel_log(y) - self.mel_log(x)).abs().mean()}
        terms["total"] = terms["mag"] + terms["phase"] + terms["stft"] + terms["mel"]
        return terms

    def mel_log(self, x: torch.Tensor) -> torch.Tensor:
        return (self.mel_basis @ self.stft(x).abs()).clamp(min=1e-5).log()

    def resolution_loss(self, x: torch.Tensor, y: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
        """Spectral convergence + log-magnitude L1 at one STFT resolution."""
        a, b = self.stft(x, n_fft, hop).abs(), self.stft(y, n_fft, hop).abs()
        convergence = torch.linalg.norm(a - b) / torch.linalg.norm(a).clamp(min=1e-5)
        return convergence + (a.clamp(min=1e-5).log() - b.clamp(min=1e-5).log()).abs().mean()


def _anti_wrap(delta: torch.Tensor) -> torch.Tensor:
    """Mean |delta| after wrapping to [-pi, pi] (APNet's anti-wrapping function)."""
    return (delta - 2 * math.pi * torch.round(delta / (2 * math.pi))).abs().mean()


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
             checkpoint: Path) -> None:
    """Checkpoint (model + optimiser + curve), then the safetensors weights and their JSON card."""
    from safetensors.torch import save_file

    save_checkpoint(checkpoint, model.state_dict(), optimiser, state)
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
                                + festival["flag"] + f"--seed {args.seed} --minutes {args.minutes:g} [--resume]",
                     "optimizer": "AdamW (betas 0.8, 0.99), cosine decay per run",
                     "loss": "log-magnitude L1 + anti-wrapping phase (IP, GD, IF) + multi-resolution STFT "
                             "(512/1024/2048) + log-mel L1; no GAN",
                     "steps": state["step"], "seconds": round(state["seconds"], 1), "seed": args.seed,
                     "device": state.get("device", "cpu"), "threads": torch.get_num_threads()},
        "deviations": "the paper's WaveNet (sample-by-sample, GPU-days of training, far slower than real time on "
                      "CPU) is replaced by a frame-rate ConvNeXt network predicting the 1024/256 STFT "
                      "(magnitude and phase) for an inverse FFT: one pass per 256 samples; trained for CPU-minutes "
                      "without adversarial losses on espeak-ng voices" + festival["deviation"],
        "metrics": state["curve"][-1] if state["curve"] else {},
        "curve": state["curve"],
        "license": "weights: CC0 (trained by crossteg from the data above)",
    }


def step_once(model: Vocoder, losses: Losses, optimiser: torch.optim.Optimizer, audio: torch.Tensor,
              rng: np.random.Generator) -> dict[str, float]:
    """One optimisation step on a batch of speech; returns the loss terms."""
    with torch.no_grad():
        mel = losses.mel(losses.stft(audio))
        noise = torch.from_numpy(rng.uniform(0.0, 0.005, (len(audio), 1, 1)).astype(np.float32)).to(mel.device)
        mel = (mel + noise * torch.randn_like(mel)).clamp(0.0, 1.0)  # revealed mels carry small errors
    terms = losses(model, audio, mel)
    optimiser.zero_grad()
    terms["total"].backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    optimiser.step()
    return {k: float(v.detach()) for k, v in terms.items()}


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # weight init only; nothing keyed
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = Vocoder(VocoderConfig(dim=args.dim, layers=args.layers))
    checkpoint = args.checkpoint or Path.home() / ".cache" / "crossteg" / f"{WEIGHTS_NAME}.ckpt"
    state, opt_state = restore(model, checkpoint, args.out / f"{WEIGHTS_NAME}.safetensors", args.resume)
    train_voices, held_voices = data.split_voices()
    held = list(data.speech_clips(np.random.default_rng(args.seed + 1), args.eval_clips, 3.0, 3.0,
                                  voice_pool=held_voices))
    pool = list(data.speech_clips(np.random.default_rng(args.seed), args.clips, 1.0, 4.0, voice_pool=train_voices))
    pool += data.speech_clips(np.random.default_rng([args.seed, 2]), args.festival_clips, 1.0, 4.0, engine="festival")
    pool += data.speech_clips(np.random.default_rng([args.seed, 3]), args.recorded_clips, 1.0, 4.0, engine="recorded")
    model.to(device).train()
    losses = Losses().to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.8, 0.99))
    resume_optimiser(optimiser, opt_state)
    state["device"] = "cpu" if device.type == "cpu" else torch.cuda.get_device_name(device)
    rng = np.random.default_rng([args.seed, state["step"]])
    log(f"training {WEIGHTS_NAME} on {device} from step {state['step']}: "
        f"{sum(p.numel() for p in model.parameters())} parameters, {len(pool)} clips")
    clock = Clock(state, args.minutes, args.steps, args.eval_minutes, 50, log)
    while not clock.done:
        for group in optimiser.param_groups:
            group["lr"] = cosine_rate(args.lr, clock.progress)  # to --lr / 20 over the run
        terms = step_once(model, losses, optimiser, batch(pool, args.batch, args.segment, rng).to(device), rng)
        if clock.tick(terms, f" lr {optimiser.param_groups[0]['lr']:.2e}"):
            model.cpu()
            point = clock.record(evaluate(model, held))
            model.to(device)
            save_all(model, optimiser, state, args, checkpoint)
            log(f"eval step {state['step']}: {point} (saved)")
