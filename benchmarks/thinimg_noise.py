"""THInImg containers under pixel noise (ours, beyond the paper): the speech revealed after the PNG is noised.

    python -m benchmarks.thinimg_noise [--pairs 8] [--sigmas 0.5,1,2] [--models single,robust] [--out DIR]

Each pair of benchmarks.thinimg_tables (held-out espeak-ng voices at 1-10 s in 160 x 160 astronaut crops, the
bundled face160.png first; and, where installed, as many clips strung from prompts of the two recorded speakers no
model trained on, as its table 1r) is hidden by each model with the CLI's default hide (refinement on), saved as
an 8-bit PNG, and revealed from the file itself and from copies with seeded Gaussian noise of std sigma 8-bit
levels added (robustness.image.gaussian_noise, the robustness suite's attack: what dithering, filters or a colour
conversion leave of a picture). Rows per model, set and sigma: PESQ-WB and STOI of the revealed speech (a refused
copy scores 1.0 / 0.0: nothing came back), the fraction revealed and the fraction whose reveal warned that the
pixels changed since hiding (thinimg.warn_if_degraded); per model and set, the clean container's PSNR.
Models: `single` (thinimg-mel-10s, the paper's training) and `robust` (thinimg-mel-10s-robust, the same network
fine-tuned with `crossteg train thinimg --noise`), where shipped.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from benchmarks.thinimg_tables import KEY, faces, recorded_set, speech_scores, speech_sets
from crossteg import media, metrics
from crossteg.errors import CrossTegError, KeyError_
from crossteg.media import Audio, Image
from crossteg.methods import get_method
from crossteg.methods import thinimg as T
from crossteg.methods.base import WEIGHTS_DIR
from crossteg.results import Results, Row
from crossteg.robustness.image import gaussian_noise

COMMAND = "python -m benchmarks.thinimg_noise"
MODELS = {"single": T.SINGLE, "robust": T.ROBUST}
REFUSED = {"secret_pesq": 1.0, "secret_stoi": 0.0}  # PESQ's floor and no intelligibility: nothing came back


def noisy_scores(method: T.THInImg, saved: Path, speech: Audio, sigma: float, folder: Path) -> dict[str, float]:
    """Scores of the speech revealed from `saved` with noise of std `sigma` (0: the file itself) added."""
    path = saved
    if sigma:
        path = folder / f"{saved.stem}-noise{sigma:g}.png"
        gaussian_noise(saved, path, sigma)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        try:
            revealed = method.reveal(media.load_image(path), KEY)
        except KeyError_:
            return {**REFUSED, "reveal_ok": 0.0, "reveal_warned": 0.0}
    warned = any("pixels have changed" in str(w.message) for w in said)
    return {**speech_scores(speech, revealed), "reveal_ok": 1.0, "reveal_warned": float(warned)}


def measure(option: str, label: str, clips: list[Audio], covers: list[Image], sigmas: list[float], folder: Path
            ) -> list[Row]:
    """Rows of one model over every pair of the set `label` and every sigma."""
    method = get_method("thinimg", model=option)
    scores: dict[float, list[dict[str, float]]] = {s: [] for s in [0.0, *sigmas]}
    container = []
    for k, (speech, cover) in enumerate(zip(clips, covers, strict=True)):
        saved = media.save(method.hide(cover, speech, KEY), folder / f"{option}-{label[:4]}-{k}.png", force=True)
        container.append(metrics.psnr(cover.pixels, media.load_image(saved).pixels))
        for sigma, found in scores.items():
            found.append(noisy_scores(method, saved, speech, sigma, folder))
        pesq = ", ".join(f"sigma {s:g} PESQ {v[-1]['secret_pesq']:.2f}" for s, v in scores.items())
        print(f"{option} {label} {k}: {pesq}", flush=True)
    note = (f"{MODELS[option]}, {label} in astronaut crops, the CLI's default hide, from the saved PNG; "
            "noise: robustness.image.gaussian_noise (seeded), a refused copy scores PESQ 1 / STOI 0")
    rows = [Row(f"noise {option} {label} clean", "container_psnr", float(np.mean(container)), n=len(clips),
                note=note)]
    for sigma, found in scores.items():
        setting = f"noise {option} {label} " + (f"sigma {sigma:g}" if sigma else "clean")
        rows += [Row(setting, metric, float(np.mean([f[metric] for f in found])), n=len(found), note=note)
                 for metric in ("secret_pesq", "secret_stoi", "reveal_ok")]
        rows.append(Row(setting, "reveal_warned", float(np.mean([f["reveal_warned"] for f in found])),
                        higher_is_better=bool(sigma), n=len(found), note=note))  # right on a noisy copy only
    return rows


def main(argv: list[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--sigmas", default="0.5,1,2", help="noise std in 8-bit levels, comma-separated")
    parser.add_argument("--models", default="single,robust", help=f"of {', '.join(MODELS)}, where shipped")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    if any(m not in MODELS for m in args.models.split(",")):
        parser.error(f"--models takes {', '.join(MODELS)}")
    torch.set_num_threads(args.threads)
    sigmas = [float(s) for s in args.sigmas.split(",") if s]
    options = [m for m in args.models.split(",") if (WEIGHTS_DIR / f"{MODELS[m]}.safetensors").exists()]
    command = f"{COMMAND} --pairs {args.pairs} --sigmas {args.sigmas} --models {','.join(options)}"
    results = Results("thinimg-noise", "thinimg", command)
    sets = {"held-out voices": speech_sets(args.pairs)["held-out voices"]}
    try:
        sets.update(recorded_set(args.pairs))
    except CrossTegError as error:  # the Debian packages are missing: the synthetic voices alone
        print(f"no recorded speakers: {error}", flush=True)
    covers = faces(args.pairs)
    with tempfile.TemporaryDirectory(prefix="crossteg-thinimg-noise-") as tmp:
        for option in options:
            for label, clips in sets.items():
                results.rows += measure(option, label, clips, covers, sigmas, Path(tmp))
    results.write(args.out / "thinimg-noise.json")
    print(results.to_markdown())
    return results


if __name__ == "__main__":
    main()
