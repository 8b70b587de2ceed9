"""Talking head (THInImg's decoder G, papers/thinimg.txt sec. 3.1): lip sync, frame quality and speed.

    python -m benchmarks.talkinghead [--piqe-stride 3] [--out benchmarks/results]

Each setting renders the bundled face saying bundled speech with `crossteg.talkinghead.speak`, writes the mp4
(H.264 crf 17 + AAC) and decodes it again; everything below is measured on the decoded file:

* lip_audio_correlation: Pearson correlation, over frames, of the mouth opening *measured on the decoded
  frames* (MediaPipe face mesh run afresh on each frame: inner-lip gap / mouth width) with the audio energy
  of the same frame (dB, floored 60 dB under the loudest frame). A sanity figure: the paper reports none.
* mouth_control_audio_correlation: the same for the opening the rig is asked for (before any rendering).
* lip_audio_lag_frames: the frame lag that maximises that correlation (0 = in sync; positive = lips late).
* video_piqe: mean PIQE of the decoded frames (every `--piqe-stride`-th), lower is better; the paper's
  Tab. 2 figure for MakeItTalk videos from 160x160 faces is beside it, and the still face's own PIQE is in
  the row `face_piqe` (what a perfect warp of it would score).
* frames_piqe: the same on the frames as rendered (before H.264), to tell the warp's cost from the codec's.
* sampling rows: frames_piqe and render_fps with bilinear, bicubic (the default) and Lanczos sampling.
* real_time_factor: wall-clock seconds of rendering + mp4 writing per second of video on this shared CPU
  (after the one-off MediaPipe start-up, reported as `startup_seconds`); render_fps likewise; and
  cpu_seconds_per_video_second, the CPU time (ours + ffmpeg's), which depends less on the machine's load.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from crossteg import media, metrics
from crossteg.evaluate import assets_dir
from crossteg.media import Audio, Image
from crossteg.results import Results, Row
from crossteg.talkinghead import FPS, animate, features, landmarks
from crossteg.talkinghead.warp import SAMPLING

COMMAND = "python -m benchmarks.talkinghead"
PAPER_PIQE = 46.68  # Tab. 2, LJ Speech 0~20s, extracted video (MakeItTalk on 160x160 FFHQ faces)
FLOOR_DB = 60.0


def lip_sync(video_frames: np.ndarray, speech: Audio) -> tuple[float, int, int]:
    """(correlation at lag 0, best lag in frames within +-3, frames where a face was found)."""
    opening = np.array([np.nan if (m := landmarks.detect(f)) is None else m.opening() for f in video_frames])
    mono = speech.mono()
    energy = features.energy_db(mono.samples[0], mono.sample_rate, FPS, len(video_frames))
    energy = np.maximum(energy, energy.max() - FLOOR_DB)
    ok = np.isfinite(opening)

    def corr(lag: int) -> float:
        o, e = np.roll(opening, -lag), energy  # lag > 0: the lips move `lag` frames after the sound
        keep = np.roll(ok, -lag)
        keep[max(0, len(keep) - lag):] = False
        keep[:max(0, -lag)] = False
        return float(np.corrcoef(o[keep], e[keep])[0, 1])

    lags = range(-3, 4)
    best = max(lags, key=corr)
    return corr(0), best, int(ok.sum())


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children (the ffmpeg encoder)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def measure(setting: str, face: Image, speech: Audio, stride: int, workdir: Path) -> list[Row]:
    """Rows for one face and one speech clip, measured on the written and re-read mp4."""
    start, cpu0 = time.perf_counter(), _cpu()
    video, drive = animate(face, speech)
    render_s, render_cpu = time.perf_counter() - start, _cpu() - cpu0
    path = workdir / "talk.mp4"
    media.save(video, path, force=True)
    total_s, total_cpu = time.perf_counter() - start, _cpu() - cpu0
    decoded = media.load(path)
    corr, lag, found = lip_sync(decoded.frames, speech)
    seconds = video.duration
    sync_note = f"mouth measured by face mesh on {found}/{decoded.num_frames} decoded frames vs frame energy (dB)"
    every = f"1 in {stride} frames"
    energy = np.maximum(drive["energy_db"], drive["energy_db"].max() - FLOOR_DB)
    control = float(np.corrcoef(drive["open"], energy)[0, 1])
    return [
        Row(setting, "lip_audio_correlation", corr, n=found, note=sync_note),
        Row(setting, "mouth_control_audio_correlation", control, n=video.num_frames,
            note="the rig's opening control vs frame energy: what the rendered mouth is asked to do"),
        Row(setting, "lip_audio_lag_frames", lag, higher_is_better=False, n=found, note="argmax over -3..3"),
        Row(setting, "video_piqe", metrics.video_piqe(decoded.frames[::stride]), PAPER_PIQE,
            n=len(decoded.frames[::stride]), note=f"{every} of the decoded mp4; paper: MakeItTalk, Tab. 2 LJ 0~20s"),
        Row(setting, "frames_piqe", metrics.video_piqe(video.frames[::stride]), higher_is_better=False,
            n=len(video.frames[::stride]), note=f"{every} as rendered, before H.264 (crf 17)"),
        Row(setting, "face_piqe", metrics.piqe(face.pixels), higher_is_better=False, note="the still face image"),
        Row(setting, "real_time_factor", total_s / seconds, n=video.num_frames,
            note=f"wall clock: render {render_s:.1f} s + mp4 {total_s - render_s:.1f} s for {seconds:.2f} s of video "
                 f"on the shared CPU (see load_average_1min)"),
        Row(setting, "cpu_seconds_per_video_second", total_cpu / seconds, higher_is_better=False, n=video.num_frames,
            note=f"CPU time, less sensitive to load: render {render_cpu:.1f} s + mp4 {total_cpu - render_cpu:.1f} s"),
        Row(setting, "render_fps", video.num_frames / render_s, n=video.num_frames, note="wall clock"),
        Row(setting, "duration_error_seconds", abs(decoded.audio.duration - speech.duration) if decoded.audio else None,
            note="sound track of the mp4 vs the speech"),
    ]


def sampling_rows(face: Image, speech: Audio, stride: int) -> list[Row]:
    """Frame PIQE (before H.264) and render time for each interpolation of the warp, on the first 3 s."""
    clip = Audio(speech.samples[:, : 3 * speech.sample_rate], speech.sample_rate)
    rows = []
    for sampling in SAMPLING:
        start = time.perf_counter()
        video, _ = animate(face, clip, sampling=sampling)
        seconds = time.perf_counter() - start
        setting = f"sampling {sampling}, face image {face.width}x{face.height}, 3 s speech"
        rows += [Row(setting, "frames_piqe", metrics.video_piqe(video.frames[::stride]), higher_is_better=False,
                     n=len(video.frames[::stride]), note="as rendered, before H.264"),
                 Row(setting, "render_fps", video.num_frames / seconds, n=video.num_frames, note="wall clock")]
    return rows


def main(argv: list[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--piqe-stride", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    import cv2

    cv2.setNumThreads(1)  # the machine is shared; the numbers are for one core's worth of OpenCV
    assets = assets_dir()
    load0 = os.getloadavg()[0]
    start = time.perf_counter()
    landmarks.detect(media.load(assets / "face160.png").pixels)
    startup = time.perf_counter() - start
    speech_long = media.load(assets / "speech_long.wav")
    cases = {
        "face image 160x160, 10.7 s speech": (assets / "face160.png", speech_long),
        "face image 384x384, 10.7 s speech": (assets / "face.png", speech_long),
    }
    results = Results("talkinghead", "talkinghead", COMMAND)
    results.rows.append(Row("MediaPipe face mesh start-up", "startup_seconds", startup, note="once per process"))
    with tempfile.TemporaryDirectory() as tmp:
        for setting, (face_path, speech) in cases.items():
            results.rows += measure(setting, media.load(face_path), speech, args.piqe_stride, Path(tmp))
        for i in range(1, 5):  # four short clips, four espeak-ng voices
            speech = media.load(assets / f"speech_{i}.wav")
            rows = measure(f"face image 160x160, speech_{i} ({speech.duration:.1f} s)", media.load(
                assets / "face160.png"), speech, args.piqe_stride, Path(tmp))
            results.rows += [r for r in rows if r.metric in ("lip_audio_correlation", "lip_audio_lag_frames")]
        results.rows += sampling_rows(media.load(assets / "face160.png"), speech_long, args.piqe_stride)
    results.rows.append(Row("machine load", "load_average_1min", os.getloadavg()[0], higher_is_better=False,
                            note=f"at the end of the run (at the start: {load0:.1f}); the CPU is shared by others"))
    results.write(args.out / "talkinghead.json")
    print(results.to_markdown())
    return results


if __name__ == "__main__":
    main()
