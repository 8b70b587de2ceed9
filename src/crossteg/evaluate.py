"""`crossteg eval`: hide -> save a real file -> (attack) -> reload -> reveal, for every method and sample.

Rows follow the results shape of SPEC ("Measuring"), one metric per row, so reports compare mechanically.
The quick suite takes one bundled (or user-given) sample per modality; no code here branches on a method id.
Every reveal gives a `reveal_ok` row (1, or 0 with the reason: a reveal that fails after an attack is a result,
not a crash); attacks that would not change a stego (`NotApplicable`) are skipped.
"""

from __future__ import annotations

import itertools
import math
import tempfile
import time
import warnings
from importlib.resources import files
from pathlib import Path
from typing import Any

from crossteg import media, metrics
from crossteg.errors import CapacityError, CrossTegError, KeyError_, MediaError, UsageError
from crossteg.fitting import fits, fitted_secret
from crossteg.media.audio import fit_length
from crossteg.media.files import check_output
from crossteg.media.payload import Payload
from crossteg.methods.base import Method, Progress, get_method, method_ids, no_progress
from crossteg.pipeline import load_cover, load_secret, save_options
from crossteg.results import Results, Row
from crossteg.robustness import Attack, NotApplicable, select

EVAL_KEY = "crossteg-eval"


def assets_dir() -> Path:
    """The bundled sample folder."""
    return Path(str(files("crossteg") / "assets"))


def samples_by_modality(folder: Path | None) -> dict[str, list[Path]]:
    """Media files in `folder` (default: the bundled assets), grouped by modality, sorted by name."""
    folder = folder or assets_dir()
    if not folder.is_dir():
        raise UsageError(f"--data {folder} is not a folder")
    groups: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in media.ALL_EXTS:
            groups.setdefault(media.modality_of(path), []).append(path)
    return groups


def container_metrics(cover: Any, stego: Any) -> dict[str, float]:
    """How far the stego is from the cover (the paper's container_* metrics)."""
    if cover.modality in ("image", "video"):
        a, b = (cover.pixels, stego.pixels) if cover.modality == "image" else (cover.frames, stego.frames)
        return {"container_psnr": metrics.psnr(a, b), "container_ssim": metrics.ssim(a, b)}
    return {"container_snr": metrics.snr(cover.samples.reshape(-1), stego.samples.reshape(-1))}


def secret_metrics(original: Any, revealed: Any) -> dict[str, float]:
    """How close the revealed secret is to the original (the paper's secret_* metrics)."""
    scores: dict[str, float] = {}
    if isinstance(original, Payload):
        scores["secret_exact"] = float(isinstance(revealed, Payload) and revealed.data == original.data)
        original, revealed = original.decode(), revealed.decode()
    if original.modality in ("image", "video"):
        a, b = (original.pixels, revealed.pixels) if original.modality == "image" else (original.frames,
                                                                                         revealed.frames)
        scores |= {"secret_psnr": metrics.psnr(a, b), "secret_ssim": metrics.ssim(a, b)}
    elif original.modality == "audio":
        a = original.mono().samples[0]  # what a reveal did not return (a misread length) counts as silence
        b = fit_length(revealed.mono().resample(original.sample_rate).samples[0], len(a))
        scores["secret_snr"] = metrics.snr(a, b)
        if original.duration >= 1.0:
            if b.any():  # PESQ is undefined on silence (it finds no utterance); SNR and STOI say enough
                scores["secret_pesq"] = metrics.pesq_wb(a, b, original.sample_rate)
            scores["secret_stoi"] = metrics.stoi(a, b, original.sample_rate)
    elif original.modality == "shape":
        scores["secret_chamfer"] = metrics.chamfer(original.sample_surface(5000)[0],
                                                   revealed.sample_surface(5000)[0])
    return scores


def reveal_rows(method: Method, path: Path, secret: Any, label: str, *, attacked: bool,
                progress: Progress = no_progress, keep: dict[str, Any] | None = None) -> list[Row]:
    """`reveal_ok` 1 and the secret's fidelity, or `reveal_ok` 0 with the reason when reveal fails cleanly
    (CrossTegError). After an attack even a crash is recorded (as such) rather than ending the eval.
    `keep`, when given, receives the revealed secret under "revealed" (for the report's pictures)."""
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as said:  # e.g. that the container changed since hiding
            warnings.simplefilter("always")
            revealed = method.reveal(media.load(path), EVAL_KEY, progress=progress)
    except CrossTegError as error:
        return [Row(label, "reveal_ok", 0.0, note=f"reveal failed: {error}")]
    except Exception as error:
        if not attacked:
            raise
        return [Row(label, "reveal_ok", 0.0, note=f"reveal crashed (not a clean failure): "
                                                  f"{type(error).__name__}: {error}")]
    seconds = time.perf_counter() - start
    if isinstance(revealed, list):  # methods that hide several secrets reveal a list; eval hides one
        revealed = revealed[0]
    if keep is not None:
        keep["revealed"] = revealed
    note = "; ".join(f"reveal warned: {w.message}" for w in said if issubclass(w.category, UserWarning))
    rows = [Row(label, "reveal_ok", 1.0, note=note)] + ([] if attacked else [Row(label, "reveal_seconds", seconds)])
    try:
        scores = secret_metrics(secret, revealed)
    except CrossTegError as error:  # e.g. revealed bytes that are no longer a readable media file
        return [*rows, Row(label, "secret_readable", 0.0, note=str(error))]
    return rows + [Row(label, k, v, note="from saved file") for k, v in scores.items()]


def run_case(method: Method, cover_path: Path, secret_path: Path, attacks: list[Attack], workdir: Path,
             progress: Progress = no_progress, keep: dict[str, Any] | None = None) -> list[Row]:
    """All rows for one cover/secret pair: container quality, timings, secret fidelity per attack, wrong key.
    `keep`, when given, receives cover, secret, stego path, what the world sees of it ("seen") and the secret
    revealed from the unattacked file ("revealed"), for pictures."""
    setting = f"quick {secret_path.name} in {cover_path.name}"
    cover, secret = load_cover(method, cover_path), load_secret(method, secret_path)
    secret, fitted_note = fitted_secret(method, secret, cover)
    rows = _case_rows(method, cover, secret, setting, attacks, workdir, progress, keep)
    for row in rows if fitted_note else ():
        row.note = f"{fitted_note}; {row.note}" if row.note else fitted_note
    return rows


def _case_rows(method: Method, cover: Any, secret: Any, setting: str, attacks: list[Attack], workdir: Path,
               progress: Progress, keep: dict[str, Any] | None) -> list[Row]:
    try:
        start = time.perf_counter()
        stego = method.hide(cover, secret, EVAL_KEY, progress=progress)
        hide_seconds = time.perf_counter() - start
    except CapacityError as error:
        return [Row(setting, "secret_exact" if method.hides_bytes else "secret_psnr", math.nan, note=str(error))]
    stego_path = media.save(stego, workdir / f"stego{method.stego_suffix(cover)}", force=True,
                            **save_options(method, stego))
    seen = method.render_cover(media.load(stego_path))  # what the world sees of the stego file
    reference = method.container_reference(cover)
    if keep is not None:
        keep.update(cover=reference, secret=secret, stego_path=stego_path, seen=seen)
    rows = [Row(setting, k, v, note="from saved file") for k, v in container_metrics(reference, seen).items()]
    rows.append(Row(setting, "hide_seconds", hide_seconds))
    for attack in [None, *[a for a in attacks if stego_path.suffix.lower() in a.suffixes]]:
        path, label = stego_path, setting
        if attack is not None:
            path, label = workdir / f"attacked-{attack.name}{stego_path.suffix}", f"{setting} after {attack.name}"
            try:
                attack.apply(stego_path, path)
            except NotApplicable:  # e.g. resampling to the rate the stego already has
                continue
            except CrossTegError as error:
                rows.append(Row(label, "reveal_ok", None, note=f"attack failed: {error}"))
                continue
        rows += reveal_rows(method, path, secret, label, attacked=attack is not None, progress=progress,
                            keep=keep if attack is None else None)
    try:
        method.reveal(media.load(stego_path), EVAL_KEY + "-wrong")
        rows.append(Row(setting, "wrong_key_rejected", 0.0, note="wrong key revealed something (noise)"))
    except KeyError_:
        rows.append(Row(setting, "wrong_key_rejected", 1.0, note="wrong key reported as such"))
    return rows


def quick_cases(method: Method, samples: dict[str, list[Path]],
                skipped: dict[Path, str] | None = None) -> list[tuple[Path, Path]]:
    """Pairs that give every cover modality and every secret modality of `method` at least one case: the i-th
    secret modality goes into the i-th cover modality (cycling): its first secret (by name) that fits a cover, in
    the first cover (by name) it fits in; where none fits, the first secret in the first cover it can be made to
    fit (run_case does), else the first of each.
    Files that cannot be read are passed over, with the reason in `skipped` (a user's folder may hold a few)."""
    skipped = {} if skipped is None else skipped

    def readable(load: Any, path: Path) -> Any:
        try:
            return load(method, path)
        except MediaError as error:
            skipped[path] = str(error)
            return None

    covers = [m for m in method.cover if samples.get(m)]
    secrets = [m for m in method.secret if samples.get(m)]
    cases = []
    for i in range(max(len(covers), len(secrets)) if covers and secrets else 0):
        cover_files, secret_files = samples[covers[i % len(covers)]], samples[secrets[i % len(secrets)]]
        loaded = [(c, x) for c in cover_files if (x := readable(load_cover, c)) is not None]
        first = [c for c, _ in loaded[:1]]
        ordered = sorted(secret_files, key=lambda s: s in first)  # not the first cover, if there is another secret
        candidates = ((s, x) for s in ordered if (x := readable(load_secret, s)) is not None)  # read as needed
        first_secret = next(candidates, None)
        if first_secret is None or not loaded:
            continue
        fitting = ((c, s) for s, x in itertools.chain([first_secret], candidates)
                   for c, cover in loaded if c != s and fits(method, x, cover))
        made_to_fit = ((c, first_secret[0]) for c, cover in loaded
                       if c != first_secret[0] and fitted_secret(method, first_secret[1], cover)[1])
        cases.append(next(fitting, None) or next(made_to_fit, None) or (loaded[0][0], first_secret[0]))
    return cases


def skipped_note(skipped: dict[Path, str]) -> str:
    """' (skipped N unreadable file(s): ...)' for a run's message, or nothing."""
    if not skipped:
        return ""
    return f" (skipped {len(skipped)} unreadable file(s): " + "; ".join(skipped.values()) + ")"


def run_eval(method_id: str | None, *, suite: str = "quick", attacks: str = "none", data: Path | None = None,
             output: Path = Path("eval.json"), force: bool = False,
             progress: Progress = no_progress) -> dict[str, Any]:
    """Evaluate one method (or all, when `method_id` is None) and write the JSON report to `output`."""
    if suite != "quick":
        raise UsageError("only --suite quick is available in eval; paper tables are reproduced by benchmarks/")
    check_output(output, force=force)
    chosen, samples = select(attacks), samples_by_modality(data)
    ids = [method_id] if method_id else method_ids()
    methods = [get_method(i, **get_method(i).quick_options) for i in ids]
    skipped: dict[Path, str] = {}
    cases = [(m, c, s) for m in methods for c, s in quick_cases(m, samples, skipped)]
    results = Results(f"eval-{suite}", method_id or "all",
                      f"crossteg eval {method_id or '--all'} --suite {suite} --attacks {attacks}")
    with tempfile.TemporaryDirectory(prefix="crossteg-eval-") as tmp:
        for done, (method, cover_path, secret_path) in enumerate(cases):
            progress("evaluating", done, len(cases))
            for row in run_case(method, cover_path, secret_path, chosen, Path(tmp)):
                row.method = method.id
                results.rows.append(row)
        progress("evaluating", len(cases), len(cases))
    results.write(output, markdown=False)
    failed = sum(r.failed for r in results.rows)
    message = f"{len(results.rows)} results for {len(cases)} case(s) of {', '.join(ids)} -> {output}"
    message += skipped_note(skipped)
    return results.to_dict() | {"message": message + (f" ({failed} not measurable, see notes)" if failed else "")}
