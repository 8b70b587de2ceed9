"""DITAS (Cui et al., ICME 2020) Table 1, the stage-count curve (Fig. 4), partial loss, cover quality, speed.

    python -m benchmarks.ditas_tables [--quick] [--out benchmarks/results]
    python -m benchmarks.ditas_tables --stages      (Fig. 4: t = 1..10 on the t = 10 model -> ditas-stages.json)
    python -m benchmarks.ditas_tables --recorded    (the default model in real recorded speech; merged)
    python -m benchmarks.ditas_tables --speed       (the speed rows alone, merged: for a quiet machine)
    python -m benchmarks.ditas_tables --rates       (44.1 kHz covers, stegos converted to 48 kHz; merged)

Every number comes from a real file: the stego is written as a 16-bit PCM WAV (and, for the float rows, a
float32 WAV hidden without rounding), read back and revealed with the key. Secrets: 256 x 256 natural images
held out of training (skimage coffee = assets/photo.png, and a centre crop of skimage chelsea) and the face
(assets/face.png, the astronaut, never in training), resized to 256 x 256. Covers: 22 s of espeak-ng speech from
voices held out of training (train.data.split_voices), two per secret. The paper used VOC2012/ImageNet/Set14/
LIVE1 and CelebA secrets in TIMIT covers; it does not say at what scale its container MSE is computed: ours is
on the [-1, 1] samples of the hidden subsequences, the scale the networks are trained on.
`--recorded` measures the default model in 22 s covers strung from prompts of two recorded speakers never
trained on (train.data.RECORDED_HELD_OUT: needs `apt-get install asterisk-core-sounds-fr-g722 alsa-utils`): the
rows "recorded covers ...", one pass and refined, replacing those rows of ditas-tables.json and keeping the rest.
`--rates` measures the CLI's default hide (refined, its change below `band` Hz) against the same with the whole
band (`band=0`) where the change must cross a resampler: in Table 1's covers resampled to 44.1 kHz (hide resamples
the change to the cover's rate, reveal the file back to 16 kHz), and from 16 kHz stegos converted to 48 kHz (soxr)
before reveal: the rows "rates ...".
Table 1, the float rows and the stage curve use the paper's one-pass hide (`refine=0`); the rows marked "(ours)"
use the CLI's default, with hide-time refinement of the containers (methods/ditas.py).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import skimage.data
import skimage.transform

from crossteg import keys, media, metrics
from crossteg.errors import KeyError_
from crossteg.evaluate import assets_dir
from crossteg.media import Audio, Image
from crossteg.methods import ditas as D
from crossteg.methods import get_method
from crossteg.methods.base import WEIGHTS_DIR
from crossteg.results import Results, Row, merged_command, previous_rows

COMMAND = "python -m benchmarks.ditas_tables"
KEY = "ditas-tables"
SIDE = 256
# DITAS Table 1: (container MSE, PSNR, SSIM, MS-SSIM) for natural images -> TIMIT and face images -> TIMIT
PAPER = {
    "deepsteg": ((2.7669e-3, 31.40, 0.8624, 0.9576), (2.2258e-3, 31.44, 0.8196, 0.9380)),
    "stft": ((1.3495e-3, 33.68, 0.8893, 0.9671), (9.8872e-4, 33.59, 0.8420, 0.9574)),
    "S": ((1.2144e-3, 27.84, 0.8691, 0.9685), (1.1033e-3, 28.05, 0.7682, 0.9340)),
    "M": ((1.9249e-3, 37.09, 0.9444, 0.9925), (2.1313e-3, 36.12, 0.8898, 0.9807)),
    "M-E": ((9.3864e-4, 37.84, 0.9482, 0.9934), (9.9386e-4, 36.52, 0.8906, 0.9847)),
    "M-D": ((1.6904e-3, 38.42, 0.9581, 0.9935), (1.7932e-3, 37.65, 0.9036, 0.9883)),
    "M-ED": ((9.8471e-4, 38.39, 0.9597, 0.9944), (1.0582e-3, 37.69, 0.9054, 0.9900)),
}
ONE_PASS = {"refine": 0}  # the paper's hide: the networks' one pass (refinement, ours, has rows of its own)
# the CLI's default model (methods.ditas.default_pre): its row name (as ROWS names it) and weights
_VARIANT, _VIEW = D.Ditas().header_fields()
DEFAULT = f"{_VARIANT} STFT pre" if _VIEW == "stft" else _VARIANT
DEFAULT_WEIGHTS = D.Ditas().weights_name(_VARIANT, _VIEW, D.STAGES).removesuffix(".safetensors")
ROWS = {"deepsteg": ("deepsteg", {}), "stft": ("stft", {}),
        **{v: ("ditas", {"variant": v, "pre": "raw", **ONE_PASS}) for v in D.VARIANTS},
        "M-ED STFT pre": ("ditas", {"variant": "M-ED", "pre": "stft", **ONE_PASS})}  # sec. 3.1: "slightly better"
METRICS = ("container_mse", "secret_psnr", "secret_ssim", "secret_msssim")


def square(pixels: np.ndarray) -> Image:
    """Centre square crop resized to SIDE x SIDE."""
    h, w = pixels.shape[:2]
    s = min(h, w)
    crop = pixels[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return Image(skimage.transform.resize(crop, (SIDE, SIDE), anti_aliasing=True).astype(np.float32))


def secrets() -> dict[str, list[Image]]:
    chelsea = skimage.data.chelsea().astype(np.float32) / 255
    return {"natural image": [square(media.load(assets_dir() / "photo.png").pixels), square(chelsea)],
            "face image": [square(media.load(assets_dir() / "face.png").pixels)]}


def covers(count: int, seconds: float, engine: str = "espeak-ng") -> list[Audio]:
    """Held-out espeak-ng voices, or the held-out recorded speakers (`engine="recorded"`)."""
    from crossteg.train import data

    rng = np.random.default_rng(2020)
    clips = data.speech_clips(rng, count, seconds, seconds, D.MODEL_RATE, data.held_out_voices(engine), engine)
    return [Audio(c, D.MODEL_RATE) for c in clips]


def hidden_mse(method: Any, cover: Audio, stego: Audio) -> float:
    """Container MSE over the hidden subsequences (the paper's T~_i vs T_i), at the model rate."""
    material = keys.derive(KEY, method.id)
    fields = D.open_header(stego.mono().resample(D.MODEL_RATE).samples[0], material, method.id.encode(), method.id)
    layout = D.Layout(fields[4], fields[5], fields[2], fields[6], D.GUARD)
    a, _ = D.read_tiles(cover.mono().samples[0], layout, layout.slots(material))
    b, _ = D.read_tiles(stego.mono().samples[0], layout, layout.slots(material))
    return float(np.mean((a - b) ** 2))


def round_trip(method: Any, cover: Audio, secret: Image, folder: Path, float32: bool = False) -> dict[str, float]:
    """Hide, write the WAV (16-bit, or float32), read it back, reveal: the paper's metrics plus timings."""
    start = time.perf_counter()
    stego = method.hide(cover, secret, KEY)
    hide_s = time.perf_counter() - start
    path = media.save(stego, folder / "stego.wav", force=True, **({"subtype": "FLOAT"} if float32 else {}))
    loaded = media.load(path)
    start = time.perf_counter()
    revealed = method.reveal(loaded, KEY)
    reveal_s = time.perf_counter() - start
    a, b = secret.pixels, revealed.pixels
    return {"container_mse": hidden_mse(method, cover, loaded), "secret_psnr": metrics.psnr(a, b),
            "secret_ssim": metrics.ssim(a, b), "secret_msssim": metrics.ms_ssim(a, b),
            "container_snr": metrics.snr(cover.samples[0], loaded.samples[0]),
            "hide_seconds": hide_s, "reveal_seconds": reveal_s, "_stego": loaded, "_revealed": b}  # type: ignore


def mean_rows(setting: str, runs: list[dict[str, Any]], paper: tuple[float, ...] | None, note: str,
              names: tuple[str, ...] = METRICS) -> list[Row]:
    out = []
    for k, name in enumerate(names):
        value = float(np.mean([r[name] for r in runs]))
        out.append(Row(setting, name, value, paper[k] if paper and k < len(paper) else None, n=len(runs), note=note))
    return out


def table1(sets: dict[str, list[Image]], pool: list[Audio], folder: Path, results: Results) -> None:
    for row, (method_id, options) in ROWS.items():
        name = weights_stem(method_id, options)
        if not (WEIGHTS_DIR / f"{name}.safetensors").exists():
            results.rows.append(Row(f"table1 {row}", "secret_psnr", None, note=f"no weights {name}"))
            continue
        method = get_method(method_id, **options)
        steps = _steps(name)
        for k, (setting, images) in enumerate(sets.items()):
            runs = [round_trip(method, c, s, folder) for s in images for c in pool[:2]]
            label = f"table1 {setting} {'DITAS-' + row if method_id == 'ditas' else row}"
            results.rows += mean_rows(label, runs, PAPER[row][k] if row in PAPER else None,
                                      f"16-bit WAV; {steps} training steps")
            results.rows.append(Row(label, "container_snr", float(np.mean([r["container_snr"] for r in runs])),
                                    n=len(runs), note="whole file, dB"))


def weights_stem(method_id: str, options: dict[str, str]) -> str:
    """The shipped weights' name for a Table 1 row (the file name without .safetensors)."""
    if method_id != "ditas":
        return method_id
    return f"ditas-{options['variant']}{'-stft' if options.get('pre') == 'stft' else ''}"


def _steps(name: str) -> str:
    import json

    card = WEIGHTS_DIR / f"{name}.json"
    return str(json.loads(card.read_text())["training"]["steps"]) if card.exists() else "?"


def refine_rows(sets: dict[str, list[Image]], pool: list[Audio], folder: Path, results: Results) -> None:
    """Ours: the default model (M-ED, STFT pre) with hide-time refinement (the CLI's default) on Table 1's secrets
    and covers, and its cost."""
    method = get_method("ditas")
    for setting, images in sets.items():
        runs = [round_trip(method, c, s, folder) for s in images for c in pool[:2]]
        label = f"table1 {setting} DITAS-{DEFAULT} + {method.refine}-step refinement (ours)"
        results.rows += mean_rows(label, runs, PAPER["M-ED"][list(sets).index(setting)],
                                  f"16-bit WAV; {_steps(DEFAULT_WEIGHTS)} training steps; the CLI's default")
        results.rows += mean_rows(label, runs, None, "whole file, dB", ("container_snr",))
        results.rows.append(Row(label, "container_pesq", cover_pesq(runs, [c for _ in images for c in pool[:2]]),
                                n=len(runs), note="PESQ-WB, stego vs cover (16 kHz)"))
        results.rows += mean_rows(label, runs, None, "seconds on this CPU, 256x256 image, t=5", ("hide_seconds",))
    results.rows += partial_loss_rows(method, pool[0], sets["natural image"][0], folder, " (refined)")


def cover_pesq(runs: list[dict[str, Any]], covers: list[Audio]) -> float:
    return float(np.mean([metrics.pesq_wb(c.samples[0], r["_stego"].samples[0], D.MODEL_RATE)
                          for r, c in zip(runs, covers, strict=True)]))


def default_rows(sets: dict[str, list[Image]], pool: list[Audio], folder: Path, results: Results) -> None:
    """The default model, one pass: float vs 16-bit, PESQ, speed, stage-count curve, partial loss, seams, wrong key."""
    natural = sets["natural image"]
    method, floats = get_method("ditas", **ONE_PASS), get_method("ditas", float32=True, **ONE_PASS)
    for label, m, f32 in (("16-bit WAV", method, False), ("float32 WAV, no rounding", floats, True)):
        runs = [round_trip(m, c, s, folder, float32=f32) for s in natural for c in pool[:2]]
        results.rows += mean_rows(f"natural image {DEFAULT} {label}", runs, None, "",
                                  ("secret_psnr", "container_mse"))
        if not f32:
            results.rows.append(Row(f"natural image {DEFAULT} cover quality", "container_pesq",
                                    cover_pesq(runs, [c for _ in natural for c in pool[:2]]),
                                    n=len(runs), note="PESQ-WB, stego vs cover (16 kHz)"))
            results.rows += mean_rows(f"natural image {DEFAULT} cover quality", runs, None, "dB, whole file",
                                      ("container_snr",))
            results.rows += seam_rows(runs, [s for s in natural for _ in pool[:2]])
    results.rows += speed_rows(natural[0], pool[0], folder)
    for t in range(1, D.STAGES + 1):
        runs = [round_trip(get_method("ditas", stages=t, **ONE_PASS), c, s, folder) for s in natural for c in pool[:2]]
        results.rows += mean_rows(f"stage count t={t}", runs, None, f"first t stages of the t=5 {DEFAULT} model",
                                  ("container_mse", "secret_psnr"))
    results.rows += partial_loss_rows(method, pool[0], natural[0], folder)
    stego = method.hide(pool[0], natural[0], KEY)
    try:
        method.reveal(stego, KEY + "-wrong")
        results.rows.append(Row("wrong key", "wrong_key_rejected", 0.0))
    except KeyError_:
        results.rows.append(Row("wrong key", "wrong_key_rejected", 1.0, note="sealed header fails to open"))
    results.rows.append(Row("wrong key", "secret_psnr", wrong_layout_psnr(method, stego, natural[0]), n=1,
                            note="attacker who bypasses the header: wrong slots and row scrambles"))


def seam_rows(runs: list[dict[str, Any]], images: list[Image]) -> list[Row]:
    """PSNR within 2 px of the internal 64-px tile borders vs everywhere else (no seams: about equal)."""
    near = np.zeros((SIDE, SIDE), bool)
    for b in range(D.TILE, SIDE, D.TILE):
        near[b - 2:b + 2], near[:, b - 2:b + 2] = True, True
    values: dict[bool, list[float]] = {True: [], False: []}
    for r, s in zip(runs, images, strict=True):
        for where in (True, False):
            err = np.mean((r["_revealed"][near == where] - s.pixels[near == where]) ** 2)
            values[where].append(10 * np.log10(1 / max(err, 1e-12)))
    return [Row(f"natural image {DEFAULT} tile borders", "secret_psnr", float(np.mean(values[True])), n=len(runs),
                note="within 2 px of 64-px tile borders"),
            Row(f"natural image {DEFAULT} tile interiors", "secret_psnr", float(np.mean(values[False])), n=len(runs),
                note="farther than 2 px from tile borders")]


def partial_loss_rows(method: Any, cover: Audio, secret: Image, folder: Path, suffix: str = "") -> list[Row]:
    """Zero the audio of one stage (or the last j stages) and reveal with allow_missing."""
    stego = method.hide(cover, secret, KEY)
    material = keys.derive(KEY, "ditas")
    fields = D.open_header(stego.samples[0], material, b"ditas", "ditas")
    layout = D.Layout(SIDE, SIDE, D.STAGES, fields[6], D.GUARD)
    slots = layout.slots(material)
    lenient, rows = get_method("ditas", allow_missing=True), []
    cases = [(f"partial loss stage {k + 1} zeroed", [k]) for k in range(D.STAGES)]
    cases += [(f"partial loss last {j} stages zeroed", list(range(D.STAGES - j, D.STAGES))) for j in range(1, 5)]
    for label, lost in [("partial loss none", []), *cases]:
        pcm = stego.to_int16()
        for k in lost:
            for slot in slots[k]:
                start = layout.first + slot * D.TILE_SAMPLES
                pcm[:, start:start + D.TILE_SAMPLES] = 0
        path = media.save(Audio.from_int16(pcm, D.MODEL_RATE), folder / "lost.wav", force=True)
        revealed = lenient.reveal(media.load(path), KEY)
        rows.append(Row(label + suffix, "secret_psnr", metrics.psnr(secret.pixels, revealed.pixels), n=1,
                        note=f"{len(lost) * len(slots[0])} of {slots.size} segments zeroed, --allow-missing"))
    return rows


def wrong_layout_psnr(method: Any, stego: Audio, secret: Image) -> float:
    right, wrong = keys.derive(KEY, "ditas"), keys.derive("not-the-key", "ditas")
    fields = D.open_header(stego.samples[0], right, b"ditas", "ditas")
    layout = D.Layout(SIDE, SIDE, D.STAGES, fields[6], D.GUARD)
    tiles, present = D.read_tiles(stego.samples[0], layout, layout.slots(wrong))
    variant, view = method.header_fields()
    image = method.reveal_tiles(method.net(variant, view, D.STAGES), view, tiles, present, layout, wrong)
    return metrics.psnr(secret.pixels, image)


def stage_curve(sets: dict[str, list[Image]], pool: list[Audio], folder: Path, results: Results) -> None:
    """Paper Fig. 4 on the t = 10 M-ED model: container MSE and PSNR vs t = 1..10 (128 x 128 secrets, so that
    ten stages fit the 22 s covers)."""
    small = [Image(skimage.transform.resize(s.pixels, (128, 128), anti_aliasing=True).astype(np.float32))
             for s in sets["natural image"]]
    steps = _steps("ditas-M-ED-t10")
    for t in range(1, D.MAX_STAGES + 1):
        runs = [round_trip(get_method("ditas", stages=t, weights=str(WEIGHTS_DIR / "ditas-M-ED-t10.safetensors"),
                                      **ONE_PASS),
                           c, s, folder) for s in small for c in pool[:2]]
        results.rows += mean_rows(f"stage count t={t} (t=10 model)", runs, None,
                                  f"first t stages of the t=10 M-ED model ({steps} steps), 128x128 natural images",
                                  ("container_mse", "secret_psnr"))


def update_cards(results: Results) -> None:
    """Write the Table 1 numbers measured from files into each weights card's metrics (held-out data)."""
    import json

    for row, (method_id, options) in ROWS.items():
        name = weights_stem(method_id, options)
        card_path = WEIGHTS_DIR / f"{name}.json"
        label = f"DITAS-{row}" if method_id == "ditas" else row
        measured = {f"{r.setting.removeprefix('table1 ').replace(' ' + label, '')} {r.metric}": r.ours
                    for r in results.rows if r.setting.startswith("table1 ") and r.setting.endswith(" " + label)}
        if card_path.exists() and measured:
            card = json.loads(card_path.read_text())
            card["metrics"]["held_out"] = measured
            card["metrics"]["held_out_note"] = (f"{COMMAND}: 256x256 held-out secrets, held-out voices, 16-bit WAV, "
                                                "the paper's one-pass hide")
            refined = {f"{r.setting.removeprefix('table1 ').split(' DITAS-')[0]} {r.metric}": r.ours
                       for r in results.rows if r.setting.startswith("table1 ") and r.setting.endswith("(ours)")}
            if name == DEFAULT_WEIGHTS and refined:
                card["metrics"]["held_out_refined"] = refined  # the CLI's default hide (refinement, ours)
            card_path.write_text(json.dumps(card, indent=2) + "\n")


RECORDED = "recorded covers"
SPEED = "speed "
RATES = "rates "


def both_hides() -> tuple[tuple[str, Any], ...]:
    """(row suffix, method): the paper's one pass, and the CLI's default with refinement."""
    return ("", get_method("ditas", **ONE_PASS)), (f" + {D.REFINE_STEPS}-step refinement", get_method("ditas"))


def speed_rows(secret: Image, cover: Audio, folder: Path) -> list[Row]:
    """Seconds to hide and reveal a 256x256 image, one pass and refined (fastest of 2)."""
    rows = []
    for label, m in both_hides():
        speed = [round_trip(m, cover, secret, folder) for _ in range(2)]
        for name in ("hide_seconds", "reveal_seconds"):
            rows.append(Row(f"{SPEED}256x256 image t=5{label}", name, min(r[name] for r in speed), n=2,
                            note="fastest of 2 on this CPU, includes scrypt and file-free hide/reveal"))
    return rows


def recorded_rows(sets: dict[str, list[Image]], folder: Path) -> list[Row]:
    """The default model, one pass and refined, every secret in two 22 s covers of held-out recorded speakers."""
    pool, rows = covers(2, 22.0, engine="recorded"), []
    note = "16-bit WAV; covers: 22 s strung from prompts of two recorded speakers never trained on"
    for suffix, method in both_hides():
        for name, images in sets.items():
            runs = [round_trip(method, c, s, folder) for s in images for c in pool]
            setting = f"{RECORDED} {name} {DEFAULT}{suffix}"
            rows += mean_rows(setting, runs, None, note, ("secret_psnr", "secret_ssim", "container_mse"))
            rows.append(Row(setting, "container_pesq", cover_pesq(runs, [c for _ in images for c in pool]),
                            n=len(runs), note="PESQ-WB, stego vs cover (16 kHz)"))
    return rows


def rate_rows(sets: dict[str, list[Image]], folder: Path) -> list[Row]:
    """The CLI's default (refined, change below `band`) and the same with the whole band, where the change must
    cross a resampler: covers at 44.1 kHz, and 16 kHz stegos converted to 48 kHz before reveal."""
    pool, rows = covers(2, 22.0), []
    for band in (D.REFINE_BAND_HZ, 0.0):
        method, label = get_method("ditas", band=band), f"band {band:g} Hz" if band else "whole band"
        for name, images in sets.items():
            pairs = [(c, s) for s in images for c in pool]
            at44 = [round_trip(method, c.resample(44_100), s, folder) for c, s in pairs]
            rows += mean_rows(f"{RATES}{name} 44.1 kHz covers, {label}", at44, None,
                              "16-bit WAV at 44.1 kHz: Table 1's covers resampled", ("secret_psnr", "secret_ssim"))
            converted = []
            for c, s in pairs:
                path = media.save(method.hide(c, s, KEY).resample(48_000), folder / "s48.wav", force=True)
                converted.append({"secret_psnr": metrics.psnr(s.pixels, method.reveal(media.load(path), KEY).pixels)})
            rows += mean_rows(f"{RATES}{name} 16 kHz stegos converted to 48 kHz, {label}", converted, None,
                              "soxr high quality, 16-bit WAV", ("secret_psnr",))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one natural image, one cover (a smoke run)")
    parser.add_argument("--stages", action="store_true", help="only the t = 1..10 curve (ditas-stages.json)")
    parser.add_argument("--speed", action="store_true", help="only the speed rows, merged into ditas-tables.json")
    parser.add_argument("--recorded", action="store_true", help="only the rows in covers of recorded speech, "
                        "merged into ditas-tables.json")
    parser.add_argument("--rates", action="store_true", help="only the rows where the change crosses a resampler, "
                        "merged into ditas-tables.json")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    sets = secrets()
    partial = {RECORDED: (args.recorded, " --recorded", lambda folder: recorded_rows(sets, folder)),
               SPEED: (args.speed, " --speed",
                       lambda folder: speed_rows(sets["natural image"][0], covers(1, 22.0)[0], folder)),
               RATES: (args.rates, " --rates", lambda folder: rate_rows(sets, folder))}
    for prefix, (wanted, flag, measure) in partial.items():  # re-measure those rows only, keep the rest
        if not wanted:
            continue
        path = args.out / "ditas-tables.json"
        kept, previous = previous_rows(path, lambda row, prefix=prefix: not row.setting.startswith(prefix))
        results = Results("ditas-tables", "ditas", merged_command(previous, COMMAND + flag, " && "))
        with tempfile.TemporaryDirectory(prefix="ditas-bench-") as tmp:
            results.rows = kept + measure(Path(tmp))
        print(results.to_markdown())
        print(f"wrote {results.write(path)}")
        return
    if args.quick:
        sets = {k: v[:1] for k, v in sets.items()}
    pool = covers(2, 22.0)
    if args.stages:
        curve = Results("ditas-stages", "ditas", COMMAND + " --stages")
        with tempfile.TemporaryDirectory(prefix="ditas-bench-") as tmp:
            stage_curve(sets, pool, Path(tmp), curve)
        print(curve.to_markdown())
        print(f"wrote {curve.write(args.out / 'ditas-stages.json')}")
        return
    results = Results("ditas-tables", "ditas", COMMAND + (" --quick" if args.quick else ""))
    with tempfile.TemporaryDirectory(prefix="ditas-bench-") as tmp:
        table1(sets, pool, Path(tmp), results)
        refine_rows(sets, pool, Path(tmp), results)
        default_rows(sets, pool, Path(tmp), results)
    path = results.write(args.out / "ditas-tables.json")
    if not args.quick:
        update_cards(results)
    print(results.to_markdown())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
