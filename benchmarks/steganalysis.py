"""Steganalysis: detection accuracy and AUC of every detector on held-out cover/stego pairs of every method.

    python -m benchmarks.steganalysis [--pairs 120] [--seed 2026] [--methods lsb] [--out benchmarks/results]

Pairs are made by each method from held-out sources only (never seen by the shipped learned detectors), written
as PNG/WAV and read back. 50 % accuracy / 0.5 AUC means undetectable. Rows per payload; for RS and SPA also the
mean absolute error of the estimated embedding rate.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from crossteg.methods import get_method, method_ids
from crossteg.results import Results, Row
from crossteg.steganalysis import default_detectors, detection_accuracy, detection_auc
from crossteg.steganalysis.detectors import stego_modalities
from crossteg.steganalysis.pairs import Pair, make_pairs, sources_for

COMMAND = "python -m benchmarks.steganalysis"


def score(pairs: list[Pair], modality: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """detector name -> (labels, probabilities, estimated rates or NaN), covers first then stegos."""
    detectors = default_detectors(modality)
    found: dict[str, list[tuple[int, float, float]]] = {d.name: [] for d in detectors}
    for pair in pairs:
        for label, obj in ((0, pair.cover), (1, pair.stego)):
            for detector in detectors:
                d = detector.detect(obj)
                found[detector.name].append((label, d.probability, np.nan if d.rate is None else d.rate))
    return {name: tuple(np.array(column) for column in zip(*rows, strict=True)) for name, rows in found.items()}


def rows_for(method_id: str, modality: str, pairs: list[Pair], note: str) -> list[Row]:
    rows = []
    for payload in dict.fromkeys(p.payload for p in pairs):
        chosen = [p for p in pairs if p.payload == payload]
        true_rate = float(payload.rstrip("%")) / 100 if payload.endswith("%") else None
        for name, (labels, probabilities, rates) in score(chosen, modality).items():
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


def held_out_pairs(method_id: str, modality: str, count: int, seed: int, budget: float) -> list[Pair]:
    """Up to `count` pairs from the held-out sources, stopping early after `budget` seconds (slow methods)."""
    rng = np.random.default_rng([seed, len(modality)])
    pairs: list[Pair] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="crossteg-steganalysis-") as tmp:
        for pair in make_pairs(get_method(method_id), sources_for(modality, held_out=True), count, rng, Path(tmp)):
            pairs.append(pair)
            if time.perf_counter() - start > budget:
                break
    return pairs


def main(argv: list[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=120, help="held-out pairs per method and modality")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--budget", type=float, default=900.0, help="seconds of pair making per method and "
                                                                    "modality before stopping early")
    parser.add_argument("--methods", default=",".join(method_ids()), help="comma-separated method ids")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    results = Results("steganalysis", "all", COMMAND + (f" --pairs {args.pairs}" if args.pairs != 120 else ""))
    for method_id in args.methods.split(","):
        method = get_method(method_id)
        for modality in (m for m in method.cover if m in ("image", "audio")):
            if modality not in stego_modalities(method):
                ext = method.stego_ext[method.cover.index(modality)]
                note = f"not measured: the stego is a {ext} file, not an {modality} file the detectors examine"
                results.rows.append(Row(f"{method_id} {modality}", "detection_accuracy", None, n=0, note=note,
                                        method=method_id))
                print(f"{method_id} {modality}: skipped ({note})", flush=True)
                continue
            print(f"{method_id} {modality}: {args.pairs} held-out pairs", flush=True)
            pairs = held_out_pairs(method_id, modality, args.pairs, args.seed, args.budget)
            sources = len({p.source for p in pairs})
            shape = "128x128 PNG crops" if modality == "image" else "1 s 16 kHz WAV clips"
            note = f"{sources} held-out sources, {shape}, from the saved files"
            for row in rows_for(method_id, modality, pairs, note):
                row.method = method_id
                results.rows.append(row)
    results.write(args.out / "steganalysis.json")
    print(results.to_markdown())
    return results


if __name__ == "__main__":
    main()
