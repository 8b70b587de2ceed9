"""Robustness sweep: does each method's secret come back after the stego file is re-encoded, resized, noised?

    python -m benchmarks.robustness [--methods lsb,...] [--attacks all] [--option METHOD:KEY=VALUE] [--name NAME]
                                    [--merge] [--out benchmarks/results]

For every registered method and every cover x secret modality it hides, one case on the bundled assets:
the largest bundled cover of that modality (the most capacity) and the largest bundled secret of that
modality that fits in it (or, when none fits, the smallest, which records the capacity error). The bundled
set has small secrets for small carriers such as LSB in a 16-bit WAV, or deepsteg-video (speech_short.wav,
face64.png, clip_short.mp4; derived from the others by scripts/make_assets.py). Each case runs through
`crossteg eval`'s own `run_case` with every registered attack; the table keeps `reveal_ok` (1 = revealed, 0 =
failed cleanly, the note says why) and the secret fidelity after each attack, and a summary row per method and
attack: the fraction of cases revealed. No paper reports these numbers for LSB; paper methods add their rows as
they land. Methods that can reveal from damaged files (an `allow_missing` option, e.g. ditas) are run with it
on, as a user holding a damaged file would (`--allow-missing`). `--name` files a sweep of one method with other
options under a name of its own (e.g. inrweights-kept: `--option inrweights:width=256`, so that the container keeps
face.png's size).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from crossteg.errors import CrossTegError
from crossteg.evaluate import fits, run_case, samples_by_modality
from crossteg.methods import get_method
from crossteg.methods.base import MODALITIES, Method, method_config, method_ids, parse_options
from crossteg.pipeline import load_cover, load_secret
from crossteg.results import Results, Row, merged_command, previous_rows
from crossteg.robustness import select

COMMAND = "python -m benchmarks.robustness"


def fits_file(method: Method, cover: object, secret_path: Path) -> bool:
    """Whether the secret in `secret_path` can be read and fits in `cover`."""
    try:
        return fits(method, load_secret(method, secret_path), cover)
    except CrossTegError:
        return False


def robustness_cases(method: Method, samples: dict[str, list[Path]],
                     covers: set[str] | None = None) -> list[tuple[Path, Path]]:
    """Per cover x secret modality (covers: only these cover modalities): the largest cover, and the largest
    distinct secret that fits it."""
    cases = []
    for cover_modality in method.cover:
        if not samples.get(cover_modality) or (covers and cover_modality not in covers):
            continue
        cover_path = max(samples[cover_modality], key=lambda p: p.stat().st_size)
        cover = load_cover(method, cover_path)
        for secret_modality in method.secret:
            secrets = sorted((p for p in samples.get(secret_modality, []) if p != cover_path),
                             key=lambda p: p.stat().st_size)
            if secrets:
                fitting = [p for p in secrets if fits_file(method, cover, p)]
                cases.append((cover_path, fitting[-1] if fitting else secrets[0]))
    return cases


def method_options(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """{method: {option: value}} from METHOD:KEY=VALUE strings, each value typed as the method declares it."""
    options: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        method_id, _, option = pair.partition(":")
        options.setdefault(method_id, {}).update(method_config(method_id, **parse_options([option])))
    return options


def summary(method_id: str, rows: list[Row]) -> list[Row]:
    """Per attack: the fraction of this method's cases whose secret came back."""
    by_attack: dict[str, list[float]] = {}
    for row in rows:
        if row.metric == "reveal_ok" and row.ours is not None:
            attack = row.setting.split(" after ")[1] if " after " in row.setting else "none"
            by_attack.setdefault(attack, []).append(float(row.ours))
    return [Row(f"all cases after {attack}" if attack != "none" else "all cases, no attack", "reveal_ok",
                sum(v) / len(v), n=len(v), note="fraction of cases revealed", method=method_id)
            for attack, v in by_attack.items()]


def main(argv: list[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="all", help="comma-separated method ids, or all")
    parser.add_argument("--attacks", default="all", help="comma-separated attack names, or all")
    parser.add_argument("--merge", action="store_true", help="keep the other methods' rows of the existing file")
    parser.add_argument("--option", action="append", default=[], metavar="METHOD:KEY=VALUE",
                        help="a method option for this sweep, e.g. inrsteg:steps=300 (repeatable; noted in each row)")
    parser.add_argument("--covers", default="all",
                        help="comma-separated cover modalities to sweep (image: skips long audio-cover fits), or all")
    parser.add_argument("--name", help="the rows' method column for this sweep of one method (default its id), "
                        "so that a sweep with other --option values keeps its own rows, e.g. inrweights-kept")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    ids = method_ids() if args.methods == "all" else args.methods.split(",")
    if args.name and len(ids) != 1:
        parser.error("--name names the rows of one method: give --methods ID")
    names = {method_id: args.name or method_id for method_id in ids}
    options = method_options(args.option)
    attacks = select(args.attacks)
    covers = None if args.covers == "all" else set(args.covers.split(","))
    if covers and not covers <= set(MODALITIES):  # a typo would sweep nothing and write an empty result
        parser.error(f"--covers takes {', '.join(MODALITIES)} or all, not {args.covers}")
    results = Results("robustness", "all" if args.methods == "all" or args.merge else args.methods, COMMAND)
    if args.merge and (args.out / "robustness.json").exists():  # re-measure some methods, keep the others
        kept, previous = previous_rows(args.out / "robustness.json", lambda row: row.method not in names.values())
        results.rows += kept
        # the earlier commands stay: each merge says which rows it re-measured
        extra = "".join(f" --option {o}" for o in args.option) + (f" --covers {args.covers}" if covers else "") + (
            f" --name {args.name}" if args.name else "")
        results.command = merged_command(previous, f"{COMMAND} --methods {','.join(ids)}{extra} --merge")
    details: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="crossteg-robustness-") as tmp:
        samples = samples_by_modality(None)
        for method_id in ids:
            lenient = {"allow_missing": True} if "allow_missing" in get_method(method_id).options() else {}
            method = get_method(method_id, **lenient, **options.get(method_id, {}))
            rows = []
            for cover_path, secret_path in robustness_cases(method, samples, covers):
                workdir = Path(tmp) / "work"
                workdir.mkdir(exist_ok=True)
                rows += [r for r in run_case(method, cover_path, secret_path, attacks, workdir)
                         if r.metric == "reveal_ok" or r.metric.startswith("secret_")]
            sweep_notes = ([f"options {options[method_id]}"] if options.get(method_id) else []) + (
                [f"cover modalities {args.covers} only"] if covers else [])
            for row in rows:
                row.method = names[method_id]
                row.note = "; ".join(filter(None, [row.note, *sweep_notes]))
            results.rows += summary(names[method_id], rows)
            details += rows
    results.rows += details
    results.write(args.out / "robustness.json")
    print(results.to_markdown())
    return results


if __name__ == "__main__":
    main()
