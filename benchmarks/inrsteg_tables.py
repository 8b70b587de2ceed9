"""INRSteg (Song et al., ECCV 2024) tables 1, 2, 3, 5 and 7 and a wrong-key attack: our numbers beside the paper's.

    python -m benchmarks.inrsteg_tables [--quick] [--threads 2] [--out benchmarks/results]

Every case runs INRSteg.hide in its fast mode (inrsteg.FAST_LR with warm-up and warm restarts, stopping when a
fit reaches the method's TARGETS: 40 dB PSNR image, 32 dB SNR audio, 35 dB PSNR video, a shape's inside at
0.98 IoU) with the paper's stego SIREN (256 wide x 6 hidden layers, secrets 256/N wide), every fit capped
(Config: 1000 steps, 2000 for audio, 300 for a shape secret; the method's own caps are 2000-4000) so that the
whole table fits in about 30-45 minutes of this 2-core CPU; media are small for the same reason (128x128
images, 0.5 s of speech (1 s in table 1), 8 frames of 48x48 video; the paper used ImageNet images, VoxCeleb2
clips and full-length signals).
The stego INR is saved to .safetensors, reloaded, revealed with the key, and the cover rendered from it;
every number below is measured on those renderings (float, no 8-bit rounding) against the input files.

* table 1: speech (1 s of speech_2.wav) and video (clip.mp4) hidden together in an image;
* table 2: one secret of each modality (image, audio, video, shape) in a cover of each modality;
* table 3: image in image, all of the paper's metrics (the paper's DeepSteg/DeepMIH rows are quoted in notes);
* table 5: 2, 3 and 4 images in one image;
* table 7: the table-2 image secrets' stego networks stored as fp32, fp16 and int8 (INRSteg precision=...);
* wrong key: what an attacker who knows the layout gets when undoing the permutation with a wrong key.
`--to-cap CASES --merge` re-runs chosen cases as `crossteg hide inrsteg -O target=99` does: every image, audio
and video fit to the method's own cap (2100 steps, 4000 for audio) unless it levels off, the nearest this CPU
comes to the paper's 100 000 steps; those rows are tagged "(-O target=99)" and sit beside the fast-mode rows.
Metric scales: RMSE, MAE and APD of images/videos on the 0-255 scale; audio MAE is mean |error| x 100
(metrics.ae(scale=100): the paper's audio MAE only fits that scale, see metrics.ae).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import skimage.data
import skimage.transform
import torch
from PIL import Image as PILImage

from crossteg import keys, media, metrics
from crossteg.codecs import frame
from crossteg.codecs.inr import render, to_signal
from crossteg.errors import KeyError_
from crossteg.evaluate import assets_dir
from crossteg.media import INR, Audio, Image, Shape, Video
from crossteg.methods import inrsteg
from crossteg.methods.inrsteg import TARGETS, INRSteg
from crossteg.results import Results, Row, previous_rows

COMMAND = "python -m benchmarks.inrsteg_tables"
KEY, WRONG_KEY = "inrsteg-tables", "not-the-right-key"
RATE = 16_000


@dataclass(frozen=True)
class Config:
    """Sizes of the media and networks, and the step caps."""

    image: int = 128  # side of every image (covers and secrets)
    audio: int = 8_000  # samples (16 kHz) of audio covers and secrets in tables 2 and 7
    table1_audio: int = 16_000  # samples of table 1's secret speech
    frames: int = 8  # video frames (covers and secrets)
    video: int = 48  # side of video frames
    steps: int = 1000  # cap on every image and video fit (fast mode stops earlier at its targets)
    audio_steps: int = 2000  # cap on audio fits (an audio cover around a secret can plateau for hundreds of steps)
    shape_steps: int = 300  # cap on the fit of a shape secret (it stops earlier at TARGETS['shape'])
    hidden: int = 256
    layers: int = 6
    quick: bool = False
    target: float | None = None  # INRSteg(target=...): replaces fast mode's stopping quality (dB)

    def describe(self) -> str:
        net = f"stego SIREN {self.hidden}x{self.layers}"
        if self.target is not None:
            return (f"{net}; fast mode with -O target={self.target:g}: every image, audio and video fit runs to the "
                    f"method's own cap ({self.steps} steps, audio {self.audio_steps}) unless a cosine cycle of the "
                    f"rate ends less than 0.5 dB above the previous one; a shape secret still stops at 0.98 IoU")
        return (f"{net}; fast mode, fits capped at {self.steps} steps (audio {self.audio_steps}, shape secret "
                f"{self.shape_steps})")


FULL = Config()
# the paper's effort, approached: what `crossteg hide inrsteg -O target=99` does (fast mode's own step caps)
TO_CAP = replace(FULL, steps=inrsteg.FAST_MAX_STEPS["image"], audio_steps=inrsteg.FAST_MAX_STEPS["audio"],
                 shape_steps=inrsteg.FAST_MAX_STEPS["shape"], target=99.0)
TO_CAP_TAG = " (-O target=99)"
QUICK = Config(image=24, audio=1_500, table1_audio=2_000, frames=3, video=12, steps=60, audio_steps=60,
               shape_steps=30, hidden=64, layers=3, quick=True)

# ---- the paper's numbers -------------------------------------------------------------------------------------
TABLE1 = {"secret_audio_snr": 37.558, "secret_audio_mae": 0.314, "secret_video_psnr": 41.448,
          "secret_video_apd": 1.349, "container_psnr": 39.258, "container_rmse": 2.948}
COVER_METRICS = {"image": ("container_psnr", "container_rmse"), "audio": ("container_snr", "container_mae"),
                 "video": ("container_psnr", "container_apd")}
TABLE2 = {  # secret -> cover -> (first, second) cover metric of COVER_METRICS[cover]
    "image": {"image": (62.34, 0.204), "audio": (32.63, 0.599), "video": (35.26, 3.315)},
    "audio": {"image": (63.16, 0.179), "audio": (41.42, 0.268), "video": (34.69, 3.574)},
    "video": {"image": (56.18, 0.408), "audio": (27.20, 0.931), "video": (41.26, 1.532)},
    "shape": {"image": (92.95, 0.000), "audio": (23.12, 1.403), "video": (38.54, 2.244)},
}
TABLE3 = {"container_mae": 0.153, "container_psnr": 62.34, "container_ssim": 0.999, "container_rmse": 0.204,
          "secret_mae": 1.084, "secret_psnr": 45.84, "secret_ssim": 0.988, "secret_rmse": 1.326}
TABLE3_OTHERS = ("paper's other rows (MAE/PSNR/SSIM/RMSE, not run here): DeepSteg cover "
                 "2.576/37.48/0.947/3.417, secret 3.570/33.34/0.957/3.57; DeepMIH cover 2.839/36.05/0.932/4.276, "
                 "secret 3.604/32.97/0.9550/5.746")
TABLE5 = {3: {"container_psnr": 62.31, "container_rmse": 0.204, "secret_psnr": 43.67, "secret_rmse": 1.642},
          4: {"container_psnr": 62.58, "container_rmse": 0.153, "secret_psnr": 41.86, "secret_rmse": 2.059}}
TABLE7_PRE = {"secret_psnr": None, "secret_rmse": 2.5245, "secret_ssim": 0.9821, "secret_mae": 1.7085}
TABLE7_POST = {"image": {"secret_psnr": 33.7483, "secret_rmse": 5.2375, "secret_ssim": 0.9554, "secret_mae": 3.519},
               "audio": {"secret_psnr": 33.5438, "secret_rmse": 5.3623, "secret_ssim": 0.9529, "secret_mae": 3.723},
               "video": {"secret_psnr": 33.8276, "secret_rmse": 5.1899, "secret_ssim": 0.9583, "secret_mae": 3.417}}
PRECISION_LABEL = {"fp32": "fp32 (pre-Q)", "fp16": "fp16", "int8": "int8 quantisation"}


# ---- data --------------------------------------------------------------------------------------------------------
def _square(rgb: np.ndarray, side: int) -> Image:
    """The centre square of an RGB uint8 array, Lanczos-resized to side x side."""
    h, w = rgb.shape[:2]
    s = min(h, w)
    crop = rgb[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s, :3]
    return Image.from_uint8(np.asarray(PILImage.fromarray(crop).resize((side, side), PILImage.Resampling.LANCZOS)))


def _asset_rgb(name: str) -> np.ndarray:
    with PILImage.open(assets_dir() / name) as img:
        return np.asarray(img.convert("RGB"))


def _video(frames: np.ndarray, side: int, fps: float) -> Video:
    """Frames resized (anti-aliased) to side x side and rounded to 8 bits, as a video file holds them."""
    small = skimage.transform.resize(frames, (len(frames), side, side, 3), anti_aliasing=True)
    return Video(np.round(np.clip(small, 0, 1) * 255).astype(np.float32) / 255, fps)


def build_data(cfg: Config, folder: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Every cover and secret, written to files in `folder` and read back; and a description of each."""
    n = cfg.image
    clip = media.load(assets_dir() / "clip.mp4")
    assert isinstance(clip, Video)
    made: dict[str, tuple[Any, str, str]] = {
        "cover_image": (_square(_asset_rgb("photo.png"), n), "png", f"photo.png {n}x{n}"),
        "face": (_square(_asset_rgb("face.png"), n), "png", f"face.png {n}x{n}"),
        "astronaut": (_square(skimage.data.astronaut(), n), "png", f"skimage astronaut {n}x{n}"),
        "chelsea": (_square(skimage.data.chelsea(), n), "png", f"skimage chelsea {n}x{n}"),
        "rocket": (_square(skimage.data.rocket(), n), "png", f"skimage rocket {n}x{n}"),
        "cover_video": (_video(clip.frames[:cfg.frames], cfg.video, clip.fps), "npz",
                        f"clip.mp4 frames 0-{cfg.frames - 1} at {cfg.video}x{cfg.video}"),
        "secret_video": (_video(clip.frames[-cfg.frames:, :, ::-1], cfg.video, clip.fps), "npz",
                         f"clip.mp4 last {cfg.frames} frames mirrored, {cfg.video}x{cfg.video}"),
        "shape": (media.load(assets_dir() / "mesh.ply"), "ply", "mesh.ply (torus, 1152 vertices)"),
    }
    for name, asset, samples in (("cover_audio", "speech_long.wav", cfg.audio),
                                 ("secret_audio", "speech_1.wav", cfg.audio),
                                 ("table1_audio", "speech_2.wav", cfg.table1_audio)):
        speech = media.load(assets_dir() / asset)
        assert isinstance(speech, Audio) and speech.sample_rate == RATE
        made[name] = (Audio(speech.samples[:, :samples], RATE), "wav",
                      f"{asset} first {samples} samples ({samples / RATE:g} s, 16 kHz)")
    data, described = {}, {}
    for name, (obj, ext, text) in made.items():
        data[name] = media.load(media.save(obj, folder / f"{name}.{ext}", force=True))
        described[name] = text
    return data, described


# ---- metrics -----------------------------------------------------------------------------------------------------
def _normalise(shape: Shape, reference: Shape) -> Shape:
    """`shape` mapped by the transform that puts `reference` in [-0.9, 0.9]^3 (Shape.normalized)."""
    lo, hi = reference.vertices.min(0), reference.vertices.max(0)
    half = float((hi - lo).max()) / 2
    return Shape((shape.vertices - (lo + hi) / 2) * (0.9 / half), shape.faces)


def fidelity(ref: Any, test: Any, prefix: str, full: bool = False) -> dict[str, float | str]:
    """The paper's metrics for one modality (`full`: all four image metrics); a str value is a failure note."""
    if isinstance(ref, Image):
        out = {"psnr": metrics.psnr(ref.pixels, test.pixels), "rmse": metrics.rmse(ref.pixels, test.pixels)}
        if full:
            out |= {"ssim": metrics.ssim(ref.pixels, test.pixels), "mae": metrics.mae(ref.pixels, test.pixels, 255)}
    elif isinstance(ref, Audio):
        out = {"snr": metrics.snr(ref.samples, test.samples), "mae": metrics.ae(ref.samples, test.samples, 100)}
        if full:
            out["si_snr"] = metrics.si_snr(ref.samples, test.samples)
    elif isinstance(ref, Video):
        out = {"psnr": metrics.psnr(ref.frames, test.frames), "apd": metrics.apd(ref.frames, test.frames)}
    elif isinstance(ref, Shape):
        a, b = _normalise(ref, ref), _normalise(test, ref)
        out = {}
        try:
            out["chamfer"] = metrics.chamfer(metrics.surface_points((a.vertices, a.faces), 20_000),
                                             metrics.surface_points((b.vertices, b.faces), 20_000))
            out["iou"] = metrics.iou((a.vertices, a.faces), (b.vertices, b.faces), n=50_000)
        except ValueError as err:
            out.setdefault("chamfer", f"not measurable: {err}")
            out["iou"] = f"not measurable: {err}"
    else:
        raise TypeError(type(ref).__name__)
    return {f"{prefix}_{k}": v for k, v in out.items()}


# ---- running a case -----------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """One hide, saved, reloaded and revealed."""

    cover: Any
    secrets: list[Any]
    stego: INR  # as reloaded from the .safetensors file
    shown: Any  # the cover rendered from the file
    revealed: list[Any]
    seconds: float
    steps: dict[str, int] = field(default_factory=dict)
    caps: dict[str, int] = field(default_factory=dict)

    def steps_note(self) -> str:
        def one(label: str, n: int) -> str:
            capped = n >= self.caps.get(label, n + 1) and "shape" not in label
            return f"{label}: {n} steps" + (" (hit its cap before the fast-mode target)" if capped else "")
        return ", ".join(one(label, n) for label, n in self.steps.items())


class CappedINRSteg(INRSteg):
    """INRSteg (fast mode) with a step cap per modality (Config.steps, audio_steps, shape_steps)."""

    def __init__(self, cfg: Config) -> None:
        super().__init__(hidden=cfg.hidden, layers=cfg.layers, steps=cfg.steps, target=cfg.target)
        self.cfg = cfg

    def _schedule(self, modality: str, cover: bool = False):
        self.steps = {"shape": self.cfg.shape_steps, "audio": self.cfg.audio_steps}.get(modality, self.cfg.steps)
        return super()._schedule(modality, cover)


def hide_case(cfg: Config, cover: Any, secrets: list[Any], path: Path) -> Outcome:
    method = CappedINRSteg(cfg)
    calls: dict[str, list[int]] = {}
    start = time.perf_counter()
    stego = method.hide(cover, secrets, KEY, progress=lambda label, done, total, detail="": calls.setdefault(
        label, []).append(int(done)))
    seconds = time.perf_counter() - start
    loaded = media.load(media.save(stego, path, force=True))
    revealed = method.reveal(loaded, KEY)
    short = {label: label.split(" INR")[0].split(" around")[0] for label in calls}
    steps = {short[label]: (v[-2] if len(v) > 1 else v[-1]) for label, v in calls.items()}
    caps = {short[label]: v[-1] for label, v in calls.items()}  # the last progress call reports the cap
    return Outcome(cover, secrets, loaded, method.render_cover(loaded), revealed, seconds, steps, caps)


def header_slots(stego: INR, key: str = KEY) -> list[inrsteg.Slot]:
    """The secrets' layout sealed in the stego file (read with the right key: the attacker 'knows the layout')."""
    material = keys.derive(key, "inrsteg")
    carrier = inrsteg._carrier(stego.tensors)  # the stored weights' raw bits, as reveal reads them
    return [inrsteg.Slot(**s) for s in json.loads(frame.extract(carrier, material, inrsteg.HEADER_AAD))]


def reseal(stego: INR, cover: Any, precision: str) -> INR:
    """The fp32 stego network stored at another precision: what hide(precision=...) writes for the same fit
    (the fit does not depend on the precision; only the sealing does)."""
    model, _ = inrsteg._network(stego)
    method = INRSteg(precision=precision)
    return method._seal(model, to_signal(cover), header_slots(stego), keys.derive(KEY, "inrsteg"))


def attacker_reveal(stego: INR, wrong_key: str | None) -> list[Any]:
    """Secrets cut out with the true layout after undoing the permutation with `wrong_key` (None: not undone)."""
    model, _ = inrsteg._network(stego)
    if wrong_key is not None:
        inrsteg.permute(model, keys.derive(wrong_key, "inrsteg"), inverse=True)
    return [render(inrsteg.extract(model, s), s.modality, s.layout) for s in header_slots(stego)]


def occupancy_iou(stego: INR, shape: Shape, index: int = 0, n: int = 64) -> float:
    """IoU of inside (SDF < 0) on an n^3 grid over [-1, 1]^3 (normalised coordinates): the revealed secret SDF
    network (cut out with the right key) against the original mesh's signed distance."""
    model, _ = inrsteg._network(stego)
    inrsteg.permute(model, keys.derive(KEY, "inrsteg"), inverse=True)
    secret = inrsteg.extract(model, header_slots(stego)[index])
    axis = np.linspace(-1, 1, n, dtype=np.float32)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    with torch.no_grad():
        test = torch.cat([secret(torch.from_numpy(grid[k:k + 65536])) for k in range(0, len(grid), 65536)])
    return metrics.iou_occupancy(shape.normalized().sdf(grid) < 0, test.numpy().ravel() < 0)


def rows_from(setting: str, values: dict[str, float | str], paper: dict[str, float | None], note: str) -> list[Row]:
    rows = []
    for metric, value in values.items():
        better = False if metric.endswith("_kilobytes") else None
        if isinstance(value, str):
            rows.append(Row(setting, metric, None, paper.get(metric), better, note=f"{value}; {note}"))
        else:
            rows.append(Row(setting, metric, value, paper.get(metric), better, note=note))
    return rows


# ---- the tables -----------------------------------------------------------------------------------------------------
class Tables:
    """Runs the cases and collects the rows, writing the results after every case."""

    def __init__(self, cfg: Config, folder: Path, out: Path, command: str, tag: str = "") -> None:
        self.cfg, self.folder, self.out, self.tag = cfg, folder, out, tag
        self.data, self.described = build_data(cfg, folder)
        self.results = Results("inrsteg-tables", "inrsteg", command)
        self.kept: list[Row] = []  # rows of a previous run (--merge)
        self.measured: list[Row] = []
        self.outcomes: dict[str, Outcome] = {}
        self.started = time.perf_counter()

    def note(self, cover: str, secrets: list[str], outcome: Outcome, extra: str = "") -> str:
        parts = [f"cover {self.described[cover]}", "secret " + " + ".join(self.described[s] for s in secrets),
                 self.cfg.describe(), outcome.steps_note(), f"hide {outcome.seconds:.0f} s",
                 "measured from the saved .safetensors file (reloaded, revealed with the key, rendered in float)"]
        return "; ".join(p for p in (extra, *parts) if p)

    def case(self, name: str, cover: str, secrets: list[str]) -> Outcome:
        print(f"[{time.perf_counter() - self.started:6.0f} s] {name} ...", flush=True)
        path = self.folder / f"{name.replace(' ', '_').replace('+', '_')}.safetensors"
        outcome = hide_case(self.cfg, self.data[cover], [self.data[s] for s in secrets], path)
        self.outcomes[name] = outcome
        print(f"[{time.perf_counter() - self.started:6.0f} s]   {outcome.steps_note()}; {outcome.seconds:.0f} s",
              flush=True)
        return outcome

    def add(self, rows: list[Row]) -> None:
        """Append `rows` (their settings tagged) and save; rows kept from a previous run (--merge) give way to
        re-measured settings."""
        self.measured += [replace(row, setting=row.setting + self.tag) for row in rows]
        fresh = {r.setting for r in self.measured}
        self.results.rows = [r for r in self.kept if r.setting not in fresh] + self.measured
        self.results.write(self.out)

    def table1(self) -> None:
        setting, secrets = "table1 audio+video in image", ["table1_audio", "secret_video"]
        o = self.case(setting, "cover_image", secrets)
        values = (fidelity(o.secrets[0], o.revealed[0], "secret_audio", full=True)
                  | fidelity(o.secrets[1], o.revealed[1], "secret_video") | fidelity(o.cover, o.shown, "container"))
        note = self.note("cover_image", secrets, o, "audio MAE = mean |error| x 100 (metrics.ae scale=100); "
                         "secret_audio_si_snr is the SI-SNR the authors' test script computes; video APD and "
                         "cover RMSE on the 0-255 scale; paper: VoxCeleb2 clips in ImageNet images")
        self.add(rows_from(setting, values, TABLE1, note))
        self.add(self.timing(setting, o))
        for precision in ("fp16", "int8"):  # no paper number: its table 7 stores image secrets only
            path = self.folder / f"table1_{precision}.safetensors"
            loaded = media.load(media.save(reseal(o.stego, o.cover, precision), path, force=True))
            method = INRSteg()
            audio, video = method.reveal(loaded, KEY)
            values = {"secret_audio_snr": fidelity(o.secrets[0], audio, "s")["s_snr"],
                      "secret_video_psnr": fidelity(o.secrets[1], video, "s")["s_psnr"],
                      "container_psnr": fidelity(o.cover, method.render_cover(loaded), "c")["c_psnr"]}
            self.add(rows_from(f"precision {precision} audio+video in image", values, {}, self.note(
                "cover_image", secrets, o, f"the table-1 stego network re-sealed by INRSteg's {precision} storage "
                f"(what hide(precision='{precision}') writes for this fit); no paper number")))

    def table2(self, secret: str, cover: str) -> Outcome:
        setting = f"table2 {secret} in {cover}"
        secret_key = {"image": "face", "audio": "secret_audio", "video": "secret_video", "shape": "shape"}[secret]
        o = self.case(setting, f"cover_{cover}", [secret_key])
        first, second = COVER_METRICS[cover]
        paper = dict(zip((first, second), TABLE2[secret][cover], strict=True))
        cover_values = fidelity(o.cover, o.shown, "container")
        values = {m: cover_values[m] for m in (first, second)}
        values |= fidelity(o.secrets[0], o.revealed[0], "secret", full=secret == "image")
        scales = {"image": "RMSE 0-255", "video": "APD 0-255",
                  "audio": "audio MAE = mean |error| x 100; audio cover fits ramp their rate up over 20 "
                           "steps (started at the full rate, one in three sat near 0 dB SNR for hundreds of "
                           "steps)"}[cover]
        shape = ("; shape metrics on meshes normalised by the original's box into [-0.9, 0.9]^3 "
                 "(Chamfer-L1 of 20k surface points, IoU of 50k points)") if secret == "shape" else ""
        if secret == "shape" and isinstance(values.get("secret_iou"), str):
            values["secret_iou"] = occupancy_iou(o.stego, o.secrets[0])
            shape += ("; the revealed mesh is not watertight, so its IoU is that of the revealed SDF network's "
                      "inside on a 64^3 grid against the original's")
        note = self.note(f"cover_{cover}", [secret_key], o,
                         f"{scales}; secret rows have no paper number (its appendix E){shape}")
        self.add(rows_from(setting, values, paper, note) + self.timing(setting, o))
        return o

    def timing(self, setting: str, o: Outcome) -> list[Row]:
        return [Row(setting, "hide_seconds", o.seconds, note=f"wall time of INRSteg.hide on this shared 2-core CPU, "
                    f"{self.cfg.describe()}; {o.steps_note()}")]

    def table3(self, o: Outcome) -> None:
        setting = "table3 image in image"
        values = fidelity(o.cover, o.shown, "container", full=True) | fidelity(o.secrets[0], o.revealed[0], "secret",
                                                                                 full=True)
        note = self.note("cover_image", ["face"], o, "the table-2 image-in-image hide; MAE/RMSE on the 0-255 "
                         "scale; paper row INRSteg; " + TABLE3_OTHERS)
        self.add(rows_from(setting, values, TABLE3, note))

    def table5(self, count: int) -> None:
        setting = f"table5 {count} images"
        secrets = ["face", "astronaut", "chelsea", "rocket"][:count]
        o = self.case(setting, "cover_image", secrets)
        each = [fidelity(s, r, "secret") for s, r in zip(o.secrets, o.revealed, strict=True)]
        values = fidelity(o.cover, o.shown, "container") | {
            k: float(np.mean([e[k] for e in each])) for k in ("secret_psnr", "secret_rmse")}
        per = ", ".join(f"{e['secret_psnr']:.2f}" for e in each)
        widths = "/".join(str(slot.hidden) for slot in header_slots(o.stego))
        note = self.note("cover_image", secrets, o, f"secret values are means over the {count} secrets "
                         f"(PSNR each: {per}); secrets {widths} wide; "
                         "RMSE 0-255" + ("" if count in TABLE5 else "; the paper's 2-image numbers (appendix F) "
                                         "are not in our copy"))
        self.add(rows_from(setting, values, TABLE5.get(count, {}), note) + self.timing(setting, o))

    def table7(self, cover: str, o: Outcome) -> None:
        """The image secret of `o` (table 2 image in `cover`) with its stego network stored at each precision."""
        for precision in ("fp32", "fp16", "int8"):
            stego = o.stego if precision == "fp32" else reseal(o.stego, o.cover, precision)
            path = self.folder / f"table7_{cover}_{precision}.safetensors"
            loaded = media.load(media.save(stego, path, force=True))
            method = INRSteg()
            revealed = method.reveal(loaded, KEY)[0]
            values = fidelity(o.secrets[0], revealed, "secret", full=True)
            first = COVER_METRICS[cover][0]
            values[first] = fidelity(o.cover, method.render_cover(loaded), "container")[first]
            values["stego_kilobytes"] = path.stat().st_size / 1024
            paper = TABLE7_PRE if precision == "fp32" else TABLE7_POST[cover] if precision == "int8" else {}
            how = ("as hidden" if precision == "fp32" else "the same fitted network re-sealed by INRSteg's "
                   f"{precision} storage (what hide(precision='{precision}') writes for this fit)")
            pre = "; the paper's Pre-Q PSNR cell is unreadable in our copy (its RMSE 2.5245 means 40.09 dB)" if (
                precision == "fp32") else ""
            note = self.note(f"cover_{cover}", ["face"], o, f"stego weights {how}; secret MAE/RMSE 0-255; the "
                             f"container and size rows have no paper number{pre}")
            self.add(rows_from(f"table7 {PRECISION_LABEL[precision]} {cover} cover", values, paper, note))

    def wrong_key(self, o: Outcome, what: str) -> None:
        try:
            INRSteg().reveal(o.stego, WRONG_KEY)
            refused, why = 0.0, "reveal with a wrong key returned something"
        except KeyError_ as err:
            refused, why = 1.0, f"INRSteg.reveal with a wrong key raises KeyError_ ({err})"
        rows = [Row("wrong key", "reveal_refused", refused, note=f"{what}; {why}")]
        right = {k: v for s, r, p in zip(o.secrets, o.revealed, self._prefixes(o), strict=True)
                 for k, v in fidelity(s, r, p).items()}
        for setting, key in (("wrong key", WRONG_KEY), ("no key (stored order)", None)):
            got = attacker_reveal(o.stego, key)
            values = {k: v for s, r, p in zip(o.secrets, got, self._prefixes(o), strict=True)
                      for k, v in fidelity(s, r, p).items()}
            how = ("permutation undone with a wrong key's permutations" if key else "permutation not undone")
            for metric, value in values.items():
                rows.append(Row(setting, metric, value, note=f"{what}; attacker knows the true layout (read with the "
                                f"right key), {how}, secret blocks cut out and rendered; with the right key: "
                                f"{right[metric]:.2f}; from the saved .safetensors file"))
        self.add(rows)

    @staticmethod
    def _prefixes(o: Outcome) -> list[str]:
        if len(o.secrets) == 1:
            return ["secret"]
        return [f"secret_{s.modality}" for s in o.secrets]


def _image_in_image(t: Tables) -> None:
    t.table3(t.table2("image", "image"))


def _table2(secret: str, cover: str) -> Callable[[Tables], Any]:
    return lambda t: t.table2(secret, cover)


def _table5(count: int) -> Callable[[Tables], Any]:
    return lambda t: t.table5(count)


TO_CAP_CASES: dict[str, Callable[[Tables], Any]] = {
    "image-image": _image_in_image, "table1": Tables.table1, "table5-3": _table5(3), "table5-4": _table5(4),
    **{f"{s}-{c}": _table2(s, c) for s in ("audio", "video", "shape") for c in ("image", "audio", "video")}}


def main(argv: list[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run (tiny networks and media, < 2 min)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--steps", type=int, help="override the step cap of image and video fits")
    parser.add_argument("--only", choices=("precision",), help="precision: re-measure only table 7 and table 1 "
                        "(with its fp16/int8 rows)")
    parser.add_argument("--to-cap", metavar="CASES", help="re-run the named cases (comma-separated: "
                        f"{', '.join(TO_CAP_CASES)}) with -O target=99, as rows tagged '{TO_CAP_TAG.strip()}' "
                        "(about 20-40 min each on one core); needs --merge")
    parser.add_argument("--merge", action="store_true", help="keep the existing file's other rows")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    if (args.only or args.to_cap) and not args.merge:
        parser.error("--only and --to-cap re-measure part of the tables: add --merge to keep the rest")
    cases = args.to_cap.split(",") if args.to_cap else []
    if unknown := [c for c in cases if c not in TO_CAP_CASES]:
        parser.error(f"unknown --to-cap case(s) {', '.join(unknown)} (choose from {', '.join(TO_CAP_CASES)})")
    torch.set_num_threads(args.threads)
    cfg = QUICK if args.quick else FULL
    if cases:
        cfg = replace(QUICK, target=TO_CAP.target) if args.quick else TO_CAP
    if args.steps:
        cfg = replace(cfg, steps=args.steps)
    command = COMMAND + (" --quick" if args.quick else "") + (f" --threads {args.threads}")
    out = args.out / ("inrsteg-tables-quick.json" if args.quick else "inrsteg-tables.json")
    print(f"targets {TARGETS}; {cfg}", flush=True)
    with tempfile.TemporaryDirectory(prefix="inrsteg-tables-") as tmp:
        t = Tables(cfg, Path(tmp), out, command, TO_CAP_TAG if cases else "")
        if args.merge and out.exists():
            t.kept, _ = previous_rows(out, lambda row: True)
            part = f"--to-cap {args.to_cap}" if cases else f"--only {args.only}"
            t.results.command = f"{command} ({part} --merge over the previous run)"
        if cases:
            for case in cases:
                TO_CAP_CASES[case](t)
            return t.results
        image_in_image = t.table2("image", "image")
        if args.only == "precision":
            t.table7("image", image_in_image)
            t.table1()
            for cover in ("audio", "video"):
                t.table7(cover, t.table2("image", cover))
            t.results.write(out)
            return t.results
        t.table3(image_in_image)
        t.table7("image", image_in_image)
        t.wrong_key(image_in_image, "table-2 image in image")
        t.table1()
        t.wrong_key(t.outcomes["table1 audio+video in image"], "table-1 audio+video in image")
        for cover in ("audio", "video"):
            t.table7(cover, t.table2("image", cover))
        for secret in ("audio", "video", "shape"):
            for cover in ("image", "audio", "video"):
                t.table2(secret, cover)
        for count in (2, 3, 4):
            t.table5(count)
        print(f"total {time.perf_counter() - t.started:.0f} s", flush=True)
    t.results.write(out)
    print(t.results.to_markdown())
    return t.results


if __name__ == "__main__":
    main()
