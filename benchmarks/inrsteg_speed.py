"""INRSteg hide time on this CPU: 1 s of speech in a 128x128 image, ours vs the authors' procedure, same run.

    python -m benchmarks.inrsteg_speed [--threads 2] [--repeats 2] [--quick] [--out benchmarks/results]

Row `speed 1s speech 128px` / `hide_seconds`: wall time of the whole hide (secret INR fit, cover fit around
the frozen secret, keyed permutation, sealing the header) until the secret reaches SNR >= 30 dB and the cover
PSNR >= 35 dB (the issue's thresholds), with the paper-size networks (stego SIREN 256 x 6, secret 128 x 6).
Secret: the first 16000 samples (1 s, 16 kHz) of speech_long.wav; cover: face.png resized to 128x128.

* ours: INRSteg's fast-mode schedules (Adam with warm-up and cosine warm restarts at the method's per-modality
  rates, its step caps and batches, quality checked every 5 steps once the training loss says the threshold is
  near) stopping at the issue's thresholds instead of the method's own stricter TARGETS;
* paper (`paper` column): the authors' procedure measured in the same run: Adam 1e-4 constant, full batch,
  the same networks and initialisation, stopping at the same thresholds (checked every 25 steps), capped at
  `--ref-secret-steps` / `--ref-cover-steps`; if a cap is hit the time at the cap is reported and the note
  says so.
Both go through INRSteg.hide itself (only the fit schedule and stopping rule differ), and the reached
quality is measured from the saved .safetensors file revealed with the key.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

from crossteg import keys, media, metrics
from crossteg.codecs.inr import Signal, loss_for
from crossteg.evaluate import assets_dir
from crossteg.media import Audio, Image
from crossteg.methods.inrsteg import (
    CHECK_EVERY,
    FAST_PERIOD,
    FAST_WARMUP,
    GATE_DB,
    HIDDEN,
    LAYERS,
    PAPER_LR,
    INRSteg,
    quality,
)
from crossteg.nn.siren import FitSchedule, Siren, fit
from crossteg.results import Results, Row

COMMAND = "python -m benchmarks.inrsteg_speed"
SETTING = "speed 1s speech 128px"
KEY = "inrsteg-speed"
THRESHOLDS = {"audio": 30.0, "image": 35.0}  # issue 4: secret SNR >= 30 dB, cover PSNR >= 35 dB
REF_CHECK_EVERY = 25


class TimedINRSteg(INRSteg):
    """INRSteg whose fits stop at THRESHOLDS under a given schedule; records the steps and seconds of each fit."""

    def __init__(self, reference: bool, secret_cap: int, cover_cap: int, **options) -> None:
        super().__init__(quality="fast", **options)
        self.reference, self.caps = reference, {"secret": secret_cap, "cover": cover_cap}
        self.log: dict[str, dict[str, float]] = {}

    def schedule_for(self, modality: str, role: str) -> FitSchedule:
        if self.reference:  # the authors' configuration: Adam 1e-4, no decay, full batch
            return FitSchedule(self.caps[role], PAPER_LR, final_fraction=1.0, batch=None,
                               check_every=REF_CHECK_EVERY)
        return self._schedule(modality, cover=role == "cover")  # ours: exactly the method's fast-mode schedule

    def _fit(self, model: Siren, signal: Signal, label: str, progress, frozen=None) -> None:
        role = "secret" if frozen is None else "cover"
        schedule = self.schedule_for(signal.modality, role)
        target = THRESHOLDS[signal.modality]
        start = time.perf_counter()
        steps = fit(model, signal.coords, signal.targets, schedule, loss_fn=loss_for(signal.modality),
                    frozen=frozen, good_enough=lambda m: quality(signal, m) >= target)
        reached = quality(signal, model)
        self.log[role] = {"steps": steps, "cap": schedule.steps, "seconds": time.perf_counter() - start,
                          "reached": reached, "lr": schedule.lr}


def load_inputs(samples: int, side: int) -> tuple[Image, Audio]:
    """face.png resized to side x side (Lanczos) and the first `samples` of speech_long.wav."""
    with PILImage.open(assets_dir() / "face.png") as face:
        cover = Image.from_uint8(np.asarray(face.convert("RGB").resize((side, side), PILImage.Resampling.LANCZOS)))
    speech = media.load(assets_dir() / "speech_long.wav")
    assert isinstance(speech, Audio)
    return cover, Audio(speech.samples[:, :samples], speech.sample_rate)


def run(method: TimedINRSteg, cover: Image, secret: Audio, workdir: Path, name: str) -> dict[str, float]:
    """Hide (timed), save, reload, reveal: seconds, steps and the quality measured from the file."""
    keys._stretch.cache_clear()  # a cold hide, as one CLI call: the scrypt key stretching is included
    start, cpu = time.perf_counter(), time.process_time()
    stego = method.hide(cover, secret, KEY)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    path = media.save(stego, workdir / f"{name}.safetensors", force=True)
    loaded = media.load(path)
    revealed = method.reveal(loaded, KEY)[0]
    shown = method.render_cover(loaded)
    return {"seconds": seconds, "cpu_seconds": cpu, "secret_snr": metrics.snr(secret.samples, revealed.samples),
            "container_psnr": metrics.psnr(cover.pixels, shown.pixels),
            **{f"{role}_{k}": v for role, log in method.log.items() for k, v in log.items()}}


def _capped(got: dict[str, float]) -> list[str]:
    """The fits that ran to their cap without reaching their threshold."""
    return [role for role in ("secret", "cover") if got[f"{role}_steps"] >= got[f"{role}_cap"]
            and got[f"{role}_reached"] < THRESHOLDS["audio" if role == "secret" else "image"]]


def main(argv: list[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (this machine has 2 cores)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each procedure, alternating")
    parser.add_argument("--ref-secret-steps", type=int, default=1500, help="cap of the reference secret fit")
    parser.add_argument("--ref-cover-steps", type=int, default=600, help="cap of the reference cover fit")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny networks and inputs (not the row)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    samples, side, hidden, layers = (2000, 32, 64, 3) if args.quick else (16000, 128, HIDDEN, LAYERS)
    cover, secret = load_inputs(samples, side)
    ours = TimedINRSteg(False, 0, 0, hidden=hidden, layers=layers, steps=200 if args.quick else None)
    ref = TimedINRSteg(True, args.ref_secret_steps, args.ref_cover_steps, hidden=hidden, layers=layers)
    runs: dict[str, list[dict[str, float]]] = {"ours": [], "reference": []}
    loads = []
    with tempfile.TemporaryDirectory(prefix="inrsteg-speed-") as tmp:
        for _ in range(args.repeats):  # alternating, so that a change in the machine's load hits both alike
            for name, method in (("ours", ours), ("reference", ref)):
                runs[name].append(run(method, cover, secret, Path(tmp), name))
                loads.append(os.getloadavg()[0])
                print(f"{name}: {runs[name][-1]}", flush=True)
    # the fastest run of each: the one least disturbed by the other jobs on this shared machine
    got, paper = (min(runs[name], key=lambda r: r["seconds"]) for name in ("ours", "reference"))
    n = args.repeats

    def each(name: str, key: str, fmt: str = ".1f") -> str:
        return "/".join(f"{r[key]:{fmt}}" for r in runs[name])

    size = f"{samples} samples of speech_long.wav (16 kHz) in face.png at {side}x{side}"
    nets = f"stego SIREN {hidden}x{layers}, secret {hidden // 2}x{layers}"
    capped, ours_capped = _capped(paper), _capped(got)
    ref_note = ("paper = the authors' procedure (Adam 1e-4 constant, full batch) timed in the same run, capped at "
                f"{args.ref_secret_steps} secret / {args.ref_cover_steps} cover steps")
    ref_note += (f"; the reference hit its cap in the {' and '.join(capped)} fit without reaching the threshold, "
                 "so its time is the time at the cap (a lower bound)" if capped else "; reached both thresholds")
    ours_note = (f"ours = fast mode (Adam {ours.log['secret']['lr']:g} secret / {ours.log['cover']['lr']:g} cover, "
                 f"warm-up {FAST_WARMUP['audio']} / {FAST_WARMUP['image']} steps, cosine restarts every "
                 f"{FAST_PERIOD} x 2^k steps; quality checked every "
                 f"{CHECK_EVERY} steps once the loss implies it is within {GATE_DB:g} dB) "
                 "stopping at secret SNR >= 30 dB / cover PSNR >= 35 dB")
    if ours_capped:
        ours_note += f" (hit its cap in the {' and '.join(ours_capped)} fit before the threshold)"
    common = (f"{size}; {nets}; torch {args.threads} threads; fastest of {n} alternating runs of each (all runs: "
              f"ours {each('ours', 'seconds')} s, reference {each('reference', 'seconds')} s); the machine was "
              f"shared with other jobs (1-min load average {min(loads):.1f}-{max(loads):.1f} after the runs)")
    results = Results("inrsteg-speed", "inrsteg", COMMAND + (" --quick" if args.quick else ""))
    results.rows += [
        Row(SETTING, "hide_seconds", got["seconds"], paper["seconds"], n=n,
            note=f"wall time of the whole INRSteg.hide (secret fit, cover fit, permutation, sealing, scrypt); "
                 f"{ours_note}; {ref_note}; {common}"),
        Row(SETTING, "hide_cpu_seconds", got["cpu_seconds"], paper["cpu_seconds"], n=n,
            note=f"CPU time (all threads) of the same runs (all runs: ours {each('ours', 'cpu_seconds')} s, "
                 f"reference {each('reference', 'cpu_seconds')} s)"),
        Row(SETTING, "secret_fit_seconds", got["secret_seconds"], paper["secret_seconds"], n=n,
            note="wall time, part of hide_seconds"),
        Row(SETTING, "cover_fit_seconds", got["cover_seconds"], paper["cover_seconds"], n=n,
            note="wall time, part of hide_seconds"),
        Row(SETTING, "secret_steps", got["secret_steps"], paper["secret_steps"], higher_is_better=False,
            note=f"Adam steps of the secret (audio) INR fit (all runs: ours {each('ours', 'secret_steps', '.0f')}, "
                 f"reference {each('reference', 'secret_steps', '.0f')}; INRSteg draws fresh random initial "
                 f"weights for every hide); caps: ours {got['secret_cap']:.0f} (fast mode), reference "
                 f"{args.ref_secret_steps}"),
        Row(SETTING, "cover_steps", got["cover_steps"], paper["cover_steps"], higher_is_better=False,
            note=f"Adam steps of the cover fit around the frozen secret (all runs: ours "
                 f"{each('ours', 'cover_steps', '.0f')}, reference {each('reference', 'cover_steps', '.0f')}); "
                 f"caps: ours {got['cover_cap']:.0f}, reference {args.ref_cover_steps}"),
        Row(SETTING, "secret_snr", got["secret_snr"], paper["secret_snr"],
            note="dB, revealed with the key from the saved .safetensors file (threshold 30 dB)"),
        Row(SETTING, "container_psnr", got["container_psnr"], paper["container_psnr"],
            note="dB, cover rendered from the saved .safetensors file (threshold 35 dB)"),
    ]
    if args.quick:
        for row in results.rows:
            row.note = "QUICK SMOKE RUN (tiny networks), not the benchmark; " + row.note
    results.write(args.out / ("inrsteg-speed-quick.json" if args.quick else "inrsteg-speed.json"))
    print(results.to_markdown())
    return results


if __name__ == "__main__":
    main()
