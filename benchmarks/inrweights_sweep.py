"""Small-scale design sweeps behind inrweights' choices (weight range, beta, audio time axis, QAT at a wide range,
where the pixels start).

    python -m benchmarks.inrweights_sweep [--runs NAME,...] [--threads 1] [--merge]

Each run fits one secret with inrweights.train at a reduced width (128 for video and audio, 64 for shapes,
300 / 200 / 150 steps) so that a run takes a minute or two: video = clip.mp4 at 16 x 32 x 32 (the paper's
ratio of secret values to variable weights at width 128), audio = 5000 samples of speech_long.wav at
22 050 Hz (or of the clip a run names), shape = mesh.ply; covers photo.png (video, audio) and a smooth
synthetic image (shape). Numbers are measured on 8-bit rounded pixels.
Results: benchmarks/results/inrweights-sweep.{json,md}.
"""

from __future__ import annotations

import argparse
import math
import time
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
from crossteg.results import Results, Row, previous_rows

COMMAND = "python -m benchmarks.inrweights_sweep"
FULL_BATCH = 1 << 30  # every point of the secret in every step (the paper)
# name: (modality, width, steps, range factor, beta, lr, qat, audio span per second[, points per step (0 = the
# default)[, start[, audio clip (default speech_long.wav)]]])
# start: "cover" = the pixels start at the cover; "noise" = at uniform noise, i.e. the variable weights start
# at SIREN's own uniform initialisation over [w_min, w_max] (the paper: weights trained from "an initialized state")
RUNS: dict[str, tuple] = {
    "video range 0.5": ("video", 128, 300, 0.5, 0.01, 5e-3, True, 0),
    "video range 1": ("video", 128, 300, 1.0, 0.01, 5e-3, True, 0),
    "video range 3 beta 0.1": ("video", 128, 300, 3.0, 0.1, 5e-3, True, 0),
    "video beta 0.1": ("video", 128, 300, 1.0, 0.1, 5e-3, True, 0),
    "video beta 1": ("video", 128, 300, 1.0, 1.0, 5e-3, True, 0),
    "video beta 0.001": ("video", 128, 300, 1.0, 0.001, 5e-3, True, 0),
    "video beta 0.0001": ("video", 128, 300, 1.0, 0.0001, 5e-3, True, 0),
    "video full batch": ("video", 128, 300, 1.0, 0.01, 5e-3, True, 0, FULL_BATCH),
    "video 1200 steps": ("video", 128, 1200, 1.0, 0.01, 5e-3, True, 0),
    "video full batch 1200 steps": ("video", 128, 1200, 1.0, 0.01, 5e-3, True, 0, FULL_BATCH),
    "video range 30 1200 steps": ("video", 128, 1200, 30.0, 0.01, 5e-3, True, 0),
    "video range 30 QAT": ("video", 128, 300, 30.0, 0.01, 5e-3, True, 0),
    "video range 30 no-QAT": ("video", 128, 300, 30.0, 0.01, 5e-3, False, 0),
    "audio span 22/s": ("audio", 128, 200, 1.0, 0.01, 5e-3, True, 22.05),
    "audio span 100/s": ("audio", 128, 200, 1.0, 0.01, 5e-3, True, 100.0),
    "audio span 264/s": ("audio", 128, 200, 1.0, 0.01, 5e-3, True, 264.6),
    "video start noise": ("video", 128, 300, 1.0, 0.01, 5e-3, True, 0, 0, "noise"),
    "video start noise beta 0.1": ("video", 128, 300, 1.0, 0.1, 5e-3, True, 0, 0, "noise"),
    "audio range 1.5": ("audio", 128, 200, 1.5, 0.01, 5e-3, True, 100.0),
    "audio range 2": ("audio", 128, 200, 2.0, 0.01, 5e-3, True, 100.0),
    "audio range 2.5": ("audio", 128, 200, 2.5, 0.01, 5e-3, True, 100.0),
    "audio range 1 speech_3": ("audio", 128, 200, 1.0, 0.01, 5e-3, True, 100.0, 0, "cover", "speech_3.wav"),
    "audio range 2 speech_3": ("audio", 128, 200, 2.0, 0.01, 5e-3, True, 100.0, 0, "cover", "speech_3.wav"),
    "audio start noise": ("audio", 128, 200, 1.0, 0.01, 5e-3, True, 100.0, 0, "noise"),
    "audio start noise beta 0.1": ("audio", 128, 200, 1.0, 0.1, 5e-3, True, 100.0, 0, "noise"),
    "shape range 1 lr 1e-3": ("shape", 64, 150, 1.0, 0.01, 1e-3, True, 0),
    "shape range 0.3 lr 1e-2": ("shape", 64, 150, 0.3, 0.01, 1e-2, True, 0),
    "shape range 0.3 lr 1e-2 beta 0.1": ("shape", 64, 150, 0.3, 0.1, 1e-2, True, 0),
}


def secret_for(modality: str, side: int, clip: str = "speech_long.wav") -> Any:
    if modality == "video":
        clip = media.load(assets_dir() / "clip.mp4")
        frames = skimage.transform.resize(clip.frames, (16, side, side, 3), anti_aliasing=True)
        return Video(frames.astype(np.float32), clip.fps)
    if modality == "audio":
        speech = media.load(assets_dir() / clip).mono().resample(W.AUDIO_RATE)
        return Audio(speech.samples[:, 20_000:25_000], W.AUDIO_RATE)
    return media.load(assets_dir() / "mesh.ply")


def cover_for(modality: str, width: int) -> np.ndarray:
    if modality == "shape":
        y, x = np.mgrid[0:width, 0:width] / width
        return np.stack([x, y, 0.5 + 0.3 * np.sin(6 * x * y)], -1).astype(np.float32)
    return W.prepare_cover(media.load(assets_dir() / "photo.png"), width)


def run(name: str) -> list[Row]:
    modality, width, steps, factor, beta, lr, qat, span, *extra = RUNS[name]
    batch = extra[0] if extra and extra[0] else W.BATCH[modality]
    begin = extra[1] if len(extra) > 1 else "cover"
    clip = extra[2] if len(extra) > 2 else "speech_long.wav"
    secret = secret_for(modality, width // 4, clip)
    cover = cover_for(modality, width)
    signal = to_signal(secret, audio_span=span * secret.duration if modality == "audio" else None)
    saved = W.RANGE_FACTOR[modality]
    W.RANGE_FACTOR[modality] = factor
    try:
        net = W.base_net(modality, width, keys.derive("sweep", "inrweights"), W.weight_ranges(cover, modality, width))
    finally:
        W.RANGE_FACTOR[modality] = saved
    target = torch.from_numpy(np.ascontiguousarray(cover.transpose(2, 0, 1)))
    start = torch.rand(target.shape, generator=torch.Generator().manual_seed(0)) if begin == "noise" else None
    began = time.perf_counter()
    fitted = W.train(net, signal, target, W.Schedule(steps, lr, 0.05, batch, beta, qat), start=start)
    seconds = time.perf_counter() - began
    pixels = torch.round(fitted * 255) / 255
    points = "all" if batch >= len(signal.coords) else batch
    note = (f"width {width}, {steps} steps of {points} points, range factor {factor}, beta {beta}, lr {lr}, "
            f"qat {qat}, start {begin}" + (f", clip {clip}" if modality == "audio" else ""))
    rows = [Row(name, "container_psnr", metrics.psnr(cover, pixels.numpy().transpose(1, 2, 0)), note=note),
            Row(name, "hide_seconds", seconds, note=note)]
    if modality == "shape":
        axis = torch.linspace(-1, 1, W.SHAPE_GRID)
        points = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
        with torch.no_grad():
            inside = net.forward(points, pixels).numpy().ravel() < 0
        truth = secret.normalized().sdf(points.numpy()) < 0
        return [*rows, Row(name, "secret_iou", metrics.iou_occupancy(truth, inside), note=note)]
    revealed = render(net.bound(pixels), modality, signal.layout)
    if modality == "audio":
        return [*rows, Row(name, "secret_snr", metrics.snr(secret.samples[0], revealed.samples[0]), note=note)]
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
        results.command = f"{previous}; then {command} --merge" if previous else command
    for name in args.runs.split(","):
        results.rows += run(name)
        print(results.rows[-1], flush=True)
        results.write(args.out / "inrweights-sweep.json")  # after each run: a stopped sweep keeps what it measured
    print(results.to_markdown())
    assert not any(math.isnan(r.ours or 0.0) for r in results.rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
