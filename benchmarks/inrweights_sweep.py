"""Small-scale design sweeps behind inrweights' choices (weight range, beta, audio time axis, QAT at a wide range,
where the pixels start).

    python -m benchmarks.inrweights_sweep [--runs NAME,...] [--threads 1] [--merge]

Each run fits one secret with inrweights.train at a reduced width (128 for video and audio, 64 for shapes,
300 / 200 / 150 steps) so that a run takes a minute or two: video = clip.mp4 at 16 x 32 x 32 (the paper's
ratio of secret values to variable weights at width 128), audio = 5000 samples of speech_long.wav at
22 050 Hz (or of the clip a run names), shape = mesh.ply; covers photo.png (video, audio) and a smooth
synthetic image (shape). The "audio full scale" runs use the paper's size instead (width 512, the first
100 000 samples) and vary the level the audio is fitted at (inrweights.AUDIO_RMS), 1-5 minutes each; the
"shape full scale" runs fit mesh.ply at width 512 with face.png as the cover (about 2.5 minutes each). Runs
named "scatter" deal the pixels to the weights in inrweights' keyed order; the others use the paper's layout.
Numbers are measured on 8-bit rounded pixels.
Results: benchmarks/results/inrweights-sweep.{json,md}.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import skimage.transform
import torch

from crossteg import keys, media, metrics
from crossteg.codecs.inr import render, to_signal
from crossteg.evaluate import assets_dir
from crossteg.media import Audio, Video
from crossteg.methods import inrweights as W
from crossteg.results import Results, Row, merged_command, previous_rows

COMMAND = "python -m benchmarks.inrweights_sweep"
FULL_BATCH = 1 << 30  # every point of the secret in every step (the paper)


@dataclass(frozen=True)
class Run:
    """One fit: the knobs a run sets, the rest at the sweep's defaults."""

    modality: str
    width: int
    steps: int
    factor: float = 1.0  # range factor
    beta: float = 0.01
    lr: float = 5e-3
    qat: bool = True
    span: float = 100.0  # audio time axis per second
    batch: int = 0  # points per step (0 = inrweights' default)
    # "cover" = the pixels start at the cover; "noise" = at uniform noise, i.e. the variable weights start at
    # SIREN's own uniform initialisation over [w_min, w_max] (the paper: weights trained from "an initialized state")
    start: str = "cover"
    clip: str = "speech_long.wav"  # audio secret
    samples: int = 5000  # audio samples (at 22 050 Hz, from 20 000 on; the paper's 100 000 from the start)
    rms: float = 0.0  # audio fitted scaled to this RMS (0 = as recorded)
    scatter: bool = False  # pixels dealt to weight positions in a keyed order (inrweights.base_net)
    cover: str = ""  # a bundled photo resized to the width (default: photo.png, or a smooth image for shapes)


RUNS: dict[str, Run] = {
    "video range 0.5": Run("video", 128, 300, factor=0.5),
    "video range 1": Run("video", 128, 300),
    "video range 3 beta 0.1": Run("video", 128, 300, factor=3.0, beta=0.1),
    "video beta 0.1": Run("video", 128, 300, beta=0.1),
    "video beta 1": Run("video", 128, 300, beta=1.0),
    "video beta 0.001": Run("video", 128, 300, beta=0.001),
    "video beta 0.0001": Run("video", 128, 300, beta=0.0001),
    "video full batch": Run("video", 128, 300, batch=FULL_BATCH),
    "video 1200 steps": Run("video", 128, 1200),
    "video full batch 1200 steps": Run("video", 128, 1200, batch=FULL_BATCH),
    "video range 30 1200 steps": Run("video", 128, 1200, factor=30.0),
    "video range 30 QAT": Run("video", 128, 300, factor=30.0),
    "video range 30 no-QAT": Run("video", 128, 300, factor=30.0, qat=False),
    "audio span 22/s": Run("audio", 128, 200, span=22.05),
    "audio span 100/s": Run("audio", 128, 200),
    "audio span 264/s": Run("audio", 128, 200, span=264.6),
    "video start noise": Run("video", 128, 300, start="noise"),
    "video start noise beta 0.1": Run("video", 128, 300, beta=0.1, start="noise"),
    "audio range 1.5": Run("audio", 128, 200, factor=1.5),
    "audio range 2": Run("audio", 128, 200, factor=2.0),
    "audio range 2.5": Run("audio", 128, 200, factor=2.5),
    "audio range 1 speech_3": Run("audio", 128, 200, clip="speech_3.wav"),
    "audio range 2 speech_3": Run("audio", 128, 200, factor=2.0, clip="speech_3.wav"),
    "audio start noise": Run("audio", 128, 200, start="noise"),
    "audio start noise beta 0.1": Run("audio", 128, 200, beta=0.1, start="noise"),
    "shape range 1 lr 1e-3": Run("shape", 64, 150, lr=1e-3),
    "shape range 0.3 lr 1e-2": Run("shape", 64, 150, factor=0.3, lr=1e-2),
    "shape range 0.3 lr 1e-2 beta 0.1": Run("shape", 64, 150, factor=0.3, beta=0.1, lr=1e-2),
    "video scatter": Run("video", 128, 300, scatter=True),
    "audio range 2 scatter": Run("audio", 128, 200, factor=2.0, scatter=True),
    "shape range 0.67 lr 1e-2 beta 0.01 scatter": Run("shape", 64, 150, factor=0.67, lr=1e-2, scatter=True),
    # shapes at the paper's scale (width 512, face.png): the keyed order's range and beta, and the paper's layout
    **{f"shape full scale range {f:g} scatter": Run("shape", 512, 300, factor=f, lr=1e-2, scatter=True,
                                                    cover="face.png") for f in (0.5, 0.67, 1.0)},
    "shape full scale range 0.67 beta 0.03 scatter": Run("shape", 512, 300, factor=0.67, beta=0.03, lr=1e-2,
                                                         scatter=True, cover="face.png"),
    "shape full scale range 0.3 beta 0.1 paper layout": Run("shape", 512, 300, factor=0.3, beta=0.1, lr=1e-2,
                                                            cover="face.png"),
    # the paper's scale (width 512, 100 000 samples): the level audio is fitted at (inrweights.AUDIO_RMS)
    "audio full scale as recorded": Run("audio", 512, 200, factor=2.0, samples=100_000),
    **{f"audio full scale rms {r:g}": Run("audio", 512, 200, factor=2.0, samples=100_000, rms=r)
       for r in (0.25, 0.5, 1.0)},
    "audio full scale rms 0.5 400 steps": Run("audio", 512, 400, factor=2.0, samples=100_000, rms=0.5),
    "audio full scale rms 0.5 1000 steps": Run("audio", 512, 1000, factor=2.0, samples=100_000, rms=0.5),
    "audio full scale rms 0.5 400 steps range 3": Run("audio", 512, 400, factor=3.0, samples=100_000, rms=0.5),
    "audio full scale rms 0.5 400 steps span 50/s": Run("audio", 512, 400, factor=2.0, span=50.0, samples=100_000,
                                                        rms=0.5),
    "audio full scale rms 0.5 400 steps span 200/s": Run("audio", 512, 400, factor=2.0, span=200.0, samples=100_000,
                                                         rms=0.5),
    "audio full scale as recorded 1000 steps speech_3": Run("audio", 512, 1000, factor=2.0, samples=100_000,
                                                            clip="speech_3.wav"),
    "audio full scale rms 0.5 1000 steps speech_3": Run("audio", 512, 1000, factor=2.0, samples=100_000, rms=0.5,
                                                        clip="speech_3.wav"),
}


def secret_for(run: Run) -> Any:
    if run.modality == "video":
        clip = media.load(assets_dir() / "clip.mp4")
        side = run.width // 4
        frames = skimage.transform.resize(clip.frames, (16, side, side, 3), anti_aliasing=True)
        return Video(frames.astype(np.float32), clip.fps)
    if run.modality == "audio":
        speech = media.load(assets_dir() / run.clip).mono().resample(W.AUDIO_RATE)
        first = 0 if run.samples >= W.AUDIO_SAMPLES else 20_000
        return Audio(speech.samples[:, first:first + run.samples], W.AUDIO_RATE)
    return media.load(assets_dir() / "mesh.ply")


def cover_for(modality: str, width: int, name: str = "") -> np.ndarray:
    """The named bundled photo, else photo.png (a smooth synthetic image for shapes), resized to the width."""
    if modality == "shape" and not name:
        y, x = np.mgrid[0:width, 0:width] / width
        return np.stack([x, y, 0.5 + 0.3 * np.sin(6 * x * y)], -1).astype(np.float32)
    return W.prepare_cover(media.load(assets_dir() / (name or "photo.png")), width)


def run(name: str) -> list[Row]:
    spec = RUNS[name]
    batch = spec.batch or W.BATCH[spec.modality]
    secret = secret_for(spec)
    cover = cover_for(spec.modality, spec.width, spec.cover)
    audio = spec.modality == "audio"
    signal = to_signal(secret, audio_span=spec.span * secret.duration if audio else None)
    gain = W.audio_gain(signal.targets, spec.rms) if audio and spec.rms else 1.0
    signal.targets = signal.targets * gain  # SNR, measured below on the scaled signal, does not change with gain
    saved = W.RANGE_FACTOR[spec.modality]
    W.RANGE_FACTOR[spec.modality] = spec.factor
    try:
        net = W.base_net(spec.modality, spec.width, keys.derive("sweep", "inrweights"),
                         W.weight_ranges(cover, spec.modality, spec.width), scatter=spec.scatter)
    finally:
        W.RANGE_FACTOR[spec.modality] = saved
    target = torch.from_numpy(np.ascontiguousarray(cover.transpose(2, 0, 1)))
    start = torch.rand(target.shape, generator=torch.Generator().manual_seed(0)) if spec.start == "noise" else None
    began = time.perf_counter()
    fitted = W.train(net, signal, target, W.Schedule(spec.steps, spec.lr, 0.05, batch, spec.beta, spec.qat),
                     start=start)
    seconds = time.perf_counter() - began
    pixels = torch.round(fitted * 255) / 255
    points = "all" if batch >= len(signal.coords) else batch
    note = (f"width {spec.width}, {spec.steps} steps of {points} points, range factor {spec.factor}, beta {spec.beta}, "
            f"lr {spec.lr}, qat {spec.qat}, start {spec.start}, scatter {spec.scatter}")
    if spec.cover:
        note += f", cover {spec.cover}"
    if audio:
        note += f", clip {spec.clip}, {secret.frames} samples, " + (f"RMS {spec.rms}" if spec.rms else "as recorded")
    rows = [Row(name, "container_psnr", metrics.psnr(cover, pixels.numpy().transpose(1, 2, 0)), note=note),
            Row(name, "hide_seconds", seconds, note=note)]
    if spec.modality == "shape":
        axis = torch.linspace(-1, 1, W.SHAPE_GRID)
        points = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
        with torch.no_grad():
            inside = net.forward(points, pixels).numpy().ravel() < 0
        truth = secret.normalized().sdf(points.numpy()) < 0
        return [*rows, Row(name, "secret_iou", metrics.iou_occupancy(truth, inside), note=note)]
    if audio:  # unclipped: the scaled signal may leave [-1, 1]
        with torch.no_grad():
            out = torch.cat([net.forward(c, pixels) for c in signal.coords.split(8192)])
        return [*rows, Row(name, "secret_snr", metrics.snr(signal.targets.numpy().ravel(), out.numpy().ravel()),
                           note=note)]
    revealed = render(net.bound(pixels), spec.modality, signal.layout)
    return [*rows, Row(name, "secret_psnr", metrics.psnr(secret.frames, revealed.frames), note=note)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=",".join(RUNS), help="comma-separated names of " + "; ".join(RUNS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--merge", action="store_true", help="keep the existing file's rows of the other runs")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    command = f"{COMMAND} --runs '{args.runs}'"
    results = Results("inrweights-sweep", "inrweights", command)
    if args.merge:  # the named runs replace their old rows; the other runs' rows stay
        names = args.runs.split(",")
        results.rows, previous = previous_rows(args.out / "inrweights-sweep.json", lambda row: row.setting not in names)
        results.command = merged_command(previous, f"{command} --merge") if previous else command
    for name in args.runs.split(","):
        results.rows += run(name)
        print(results.rows[-1], flush=True)
        results.write(args.out / "inrweights-sweep.json")  # after each run: a stopped sweep keeps what it measured
    print(results.to_markdown())
    assert not any(math.isnan(r.ours or 0.0) for r in results.rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
