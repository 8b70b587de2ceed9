"""Steganalysis: detection accuracy and AUC of the detectors on held-out cover/stego pairs of every method.

    python -m benchmarks.steganalysis [--pairs 120] [--seed 2026] [--methods lsb,...] [--merge] [--sources installed]
                                      [--detectors DIR] [--name NAME]
                                      [--out benchmarks/results]

Pairs are made by each method from held-out sources only (never seen by the shipped learned detectors), written
as PNG/WAV and read back, and compared as an attacker sees them (steganalysis/pairs.py `attacker_view`). Each
method's pairs are made the way its learned detector's were (crop size, clip length and method options from
the detector card's `data.pairs`). Per method: the classical detectors (chi-square, RS, SPA: attacks on LSB
replacement, run on every image/audio stego as a check of what they see) and the method's own learned
detector `cnn-<method>`. 50 % accuracy / 0.5 AUC means undetectable. Rows per payload; for RS and SPA on
byte-hiding methods also the mean absolute error of the estimated embedding rate. For inrsteg, whose stegos are
seen as the media their INRs render, the same stegos are also scored against the covers' own INR renderings
("vs plain-INR covers"): a detector of INR renderings scores 50 % there, a detector of secrets does not.
`--merge` keeps the rows of the methods not named in `--methods` from the existing results file.
`--sources installed` makes the pairs instead from files outside every training set, where Debian installed them
(desktop wallpapers; the recorded prompts of asterisk's fr_CA speaker), into steganalysis-installed.json: do the
detectors hold on real photos and recorded speech?
`--detectors DIR` takes the learned detectors (and so the pair settings) from a folder `crossteg train detector
--out DIR` wrote, e.g. one trained on stegos of other method options; `--name` names its results file.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crossteg import media
from crossteg.methods import get_method, method_ids
from crossteg.methods.base import WEIGHTS_DIR
from crossteg.results import Results, Row, merged_command, previous_rows
from crossteg.steganalysis import detection_accuracy, detection_auc
from crossteg.steganalysis.detectors import CLASSICAL, Detector, learned_detector, renders_stego, stego_modalities
from crossteg.steganalysis.learned import on_16bit_grid
from crossteg.steganalysis.pairs import (
    MEDIA_SUFFIX,
    SAMPLE_RATE,
    Pair,
    Source,
    fitting_length,
    make_pairs,
    recorded_runs,
    sources_for,
)

COMMAND = "python -m benchmarks.steganalysis"
# inrsteg Table 4 (XuNet / SiaStegNet on its image-to-image stegos): 50.00 % for INRSteg; no other paper of ours
# reports detection numbers for its own method
FLOAT_NOTE = "; classical detectors see the float samples rounded to 16 bits"


@dataclass(frozen=True)
class PairSettings:
    """How a method's pairs are made: image crop side, audio clip length (16 kHz frames), method options."""

    size: int = 128
    length: int = SAMPLE_RATE
    options: dict[str, Any] = field(default_factory=dict)


def pair_settings(method_id: str, modality: str, weights_dir: Path = WEIGHTS_DIR) -> PairSettings:
    """The settings the learned detector's card records (`data.pairs`), else the defaults."""
    card = weights_dir / f"detector-{method_id}-{modality}.json"
    if not card.is_file():
        return PairSettings()
    pairs = json.loads(card.read_text()).get("data", {}).get("pairs", {})
    return PairSettings(int(pairs.get("size", 128)), int(pairs.get("length", SAMPLE_RATE)),
                        dict(pairs.get("options", {})))


def detectors_for(method_id: str, modality: str, weights_dir: Path = WEIGHTS_DIR) -> list[Detector]:
    """The classical detectors, then the method's own learned detector when its weights are in `weights_dir`."""
    learned = learned_detector(method_id, weights_dir)
    return [*CLASSICAL, *([learned] if learned.available(modality) else [])]


def score(pairs: list[Pair], detectors: list[Detector]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """detector name -> (labels, probabilities, estimated rates or NaN), covers and stegos interleaved."""
    found: dict[str, list[tuple[int, float, float]]] = {d.name: [] for d in detectors}
    for pair in pairs:
        for label, obj in ((0, pair.cover), (1, pair.stego)):
            for detector in detectors:
                d = detector.detect(obj)
                found[detector.name].append((label, d.probability, np.nan if d.rate is None else d.rate))
    return {name: tuple(np.array(column) for column in zip(*rows, strict=True)) for name, rows in found.items()}


def rows_for(method_id: str, modality: str, pairs: list[Pair], note: str, detectors: list[Detector]) -> list[Row]:
    """Accuracy and AUC per payload and detector (and RS/SPA rate error for byte payloads)."""
    rows = []
    for payload in dict.fromkeys(p.payload for p in pairs):
        chosen = [p for p in pairs if p.payload == payload]
        true_rate = float(payload.rstrip("%")) / 100 if payload.endswith("%") else None
        for name, (labels, probabilities, rates) in score(chosen, detectors).items():
            setting = f"{method_id} {modality} {payload} payload {name}"
            n = len(labels)
            rows += [Row(setting, "detection_accuracy", detection_accuracy(labels, probabilities), n=n, note=note),
                     Row(setting, "detection_auc", detection_auc(labels, probabilities), n=n, note=note)]
            if true_rate is not None and not np.isnan(rates).all():
                truth = np.where(labels == 1, true_rate, 0.0)
                measured = ~np.isnan(rates)
                rows.append(Row(setting, "rate_mae", float(np.abs(rates - truth)[measured].mean()),
                                n=int(measured.sum()), note="estimated vs true fraction of values carrying bits"))
    return rows


WALLPAPERS, BACKGROUNDS = Path("/usr/share/wallpapers"), Path("/usr/share/backgrounds")
INSTALLED_SPEAKER = "fr_CA_f_June"  # train/data.RECORDED_HELD_OUT: no model trained on this speaker
PROMPTS_PER_SOURCE, SPEECH_SOURCES = 4, 10
INSTALLED_NOTE = {"image": "installed wallpapers (plasma-workspace-wallpapers, mate-backgrounds)",
                  "audio": f"runs of recorded prompts by asterisk's fr_CA speaker ({PROMPTS_PER_SOURCE} each)"}


def installed_sources(modality: str) -> list[Source]:
    """Sources outside every detector's training set: one picture per installed plasma wallpaper (its largest) and
    every mate background; or SPEECH_SOURCES runs of PROMPTS_PER_SOURCE recorded fr_CA prompts. Empty if absent."""
    if modality == "audio":
        return [Source(f"fr_CA prompts #{i}", "audio", True, load, "asterisk-core-sounds-fr")
                for i, load in enumerate(recorded_runs(INSTALLED_SPEAKER, SPEECH_SOURCES, PROMPTS_PER_SOURCE))]
    per_wallpaper = (_pictures(folder) for folder in sorted(WALLPAPERS.glob("*")))
    pictures = [max(found, key=lambda f: f.stat().st_size) for found in per_wallpaper if found]
    pictures += _pictures(BACKGROUNDS)
    return [Source(str(f), "image", True, lambda f=f: media.load(f), "installed wallpaper") for f in pictures]


def _pictures(folder: Path) -> list[Path]:
    return sorted(f for f in folder.rglob("*") if f.suffix.lower() in (".jpg", ".png") and f.is_file())


def held_out_pairs(method_id: str, modality: str, settings: PairSettings, count: int, seed: int, budget: float,
                   sources: list[Source] | None = None) -> list[Pair]:
    """Up to `count` pairs made as `settings` say from the held-out sources (or `sources`), stopping early after
    `budget` seconds."""
    method = get_method(method_id, **settings.options)
    length = fitting_length(method, settings.length) if modality == "audio" else settings.length
    rng = np.random.default_rng([seed, len(modality)])
    pairs: list[Pair] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="crossteg-steganalysis-") as tmp:
        for pair in make_pairs(method, sources or sources_for(modality, held_out=True), count, rng, Path(tmp),
                               settings.size, length):
            pairs.append(pair)
            if time.perf_counter() - start > budget:
                break
    return pairs


def describe(method_id: str, modality: str, settings: PairSettings, pairs: list[Pair],
             origin: str = "held-out sources") -> str:
    """The note of a method's rows: sources, what each file is, the method options used."""
    sources = f"{len({p.source for p in pairs})} {origin}"
    options = settings.options
    extra = f", {method_id} options {', '.join(f'{k}={v}' for k, v in options.items())}" if options else ""
    if modality == "image":
        side = pairs[0].stego.pixels.shape[0]
        return f"{sources}, {side}x{side} PNG crops{extra}, from the saved files"
    stego = pairs[0].stego
    float_file = not on_16bit_grid(stego)
    kind = "float32" if float_file else "16-bit"
    shape = f"{round(stego.frames / stego.sample_rate, 2):g} s {stego.sample_rate / 1000:g} kHz {kind} WAV clips"
    view = " (the stego channel vs the cover at its rate)" if stego.sample_rate != SAMPLE_RATE else ""
    trained = settings.length
    if modality == "audio" and stego.sample_rate == SAMPLE_RATE and stego.frames != trained:
        view += f" (detector trained on {trained / SAMPLE_RATE:g} s clips; the bundled secret needs longer now)"
    return f"{sources}, {shape}{view}{extra}, from the saved files" + (FLOAT_NOTE * float_file)


def not_measured(method_id: str, modality: str, note: str) -> Row:
    return Row(f"{method_id} {modality}", "detection_accuracy", None, n=0, note=f"not measured: {note}",
               method=method_id)


def skip_reason(method: Any, modality: str, weights_dir: Path = WEIGHTS_DIR) -> str | None:
    """Why `method`'s stegos in `modality` covers are not measured, or None when they are."""
    if modality not in stego_modalities(method):
        ext = method.stego_ext[method.cover.index(modality)]
        return f"the stego is a {ext} file, not an {modality} file the detectors examine"
    if renders_stego(method) and not learned_detector(method.id, weights_dir).available(modality):
        return (f"no learned detector trained on the {modality} its stego INRs render (each pair is a fit: "
                f"`crossteg train detector --method {method.id} --modality {modality}` trains one)")
    return None


def measure(method_id: str, args: argparse.Namespace) -> list[Row]:
    """Every row of one method: per cover modality, measured or the reason it is not."""
    method = get_method(method_id)
    rows = []
    for modality in (m for m in method.cover if m in ("image", "audio")):
        sources = installed_sources(modality) if args.sources == "installed" else None
        reason = skip_reason(method, modality, args.detectors) or (
            f"no {INSTALLED_NOTE[modality]} on this machine" if sources == [] else None)
        if reason:
            rows.append(not_measured(method_id, modality, reason))
            print(f"{method_id} {modality}: skipped ({reason})", flush=True)
            continue
        print(f"{method_id} {modality}: {args.pairs} {args.sources} pairs", flush=True)
        settings = pair_settings(method_id, modality, args.detectors)
        detectors = detectors_for(method_id, modality, args.detectors)
        pairs = held_out_pairs(method_id, modality, settings, args.pairs, args.seed, args.budget, sources)
        note = describe(method_id, modality, settings, pairs,
                        INSTALLED_NOTE[modality] if sources else "held-out sources")
        plain = plain_inr_rows(method_id, modality, settings, pairs, note, detectors)
        for row in rows_for(method_id, modality, pairs, note, detectors) + plain:
            row.method = method_id
            rows.append(row)
    return rows


def plain_inr_rows(method_id: str, modality: str, settings: PairSettings, pairs: list[Pair], note: str,
                   detectors: list[Detector]) -> list[Row]:
    """For a method whose stegos are INR renderings: the same stegos against the covers' own INR renderings (an
    INR of the same size fitted to each cover with no secret, written as the same file type): does a detector
    see the secret, or only that the file was rendered by an INR?"""
    method = get_method(method_id, **settings.options)
    if not hasattr(method, "plain_rendering"):
        return []
    with tempfile.TemporaryDirectory(prefix="crossteg-plain-inr-") as tmp:
        plain = []
        for i, pair in enumerate(pairs):
            rendering = method.plain_rendering(pair.cover)
            plain.append(Pair(media.load(media.save(rendering, Path(tmp) / f"{i}{MEDIA_SUFFIX[modality]}")),
                              pair.stego, pair.source, pair.payload))
    note = f"{note}; covers replaced by their own INR renderings (no secret, same network size and fit schedule)"
    rows = rows_for(method_id, modality, plain, note, detectors)
    for row in rows:
        row.setting += " vs plain-INR covers"
    return rows


def main(argv: list[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=120, help="held-out pairs per method and modality")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--budget", type=float, default=900.0, help="seconds of pair making per method and "
                                                                    "modality before stopping early")
    parser.add_argument("--methods", default="all", help="comma-separated method ids (default all)")
    parser.add_argument("--merge", action="store_true", help="keep the other methods' rows of the existing file")
    parser.add_argument("--sources", choices=("held-out", "installed"), default="held-out",
                        help="the held-out sources, or installed wallpapers / recorded speech (another file)")
    parser.add_argument("--detectors", type=Path, default=WEIGHTS_DIR,
                        help="folder of the learned detectors' weights and cards (default: the shipped ones), e.g. "
                             "one `crossteg train detector --out DIR` wrote with other method options")
    parser.add_argument("--name", help="results file name (default steganalysis[-installed])")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    ids = method_ids() if args.methods == "all" else args.methods.split(",")
    command = COMMAND + (f" --pairs {args.pairs}" if args.pairs != 120 else "") + (
        f" --budget {args.budget:g}" if args.budget != 900.0 else "") + (
        " --sources installed" if args.sources == "installed" else "")
    if args.detectors != WEIGHTS_DIR:
        command += f" --detectors {args.detectors}"
    name = args.name or "steganalysis" + ("-installed" if args.sources == "installed" else "")
    if args.name:
        command += f" --name {args.name}"
    results = Results(name, "all", command)
    if args.merge:  # re-measure the named methods, keep the others' rows and say how each part was made
        rows, previous = previous_rows(args.out / f"{name}.json", lambda row: row.method not in ids)
        results.rows += rows
        results.command = merged_command(previous, f"{command} --methods {','.join(ids)} --merge")
    for method_id in ids:
        results.rows += measure(method_id, args)
    results.rows.sort(key=lambda r: r.method or "")  # stable: each method's rows stay in their order
    results.write(args.out / f"{name}.json")
    print(results.to_markdown())
    return results


if __name__ == "__main__":
    main()
