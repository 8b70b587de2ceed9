"""`crossteg eval --all -o report/`: one report across methods, as Markdown and as offline HTML.

Per method: the quick suite's cases with pictures (cover | stego | amplified difference; secret | revealed as
images, waveforms + spectrograms or frame strips), the secret's fidelity after each attack on the stego file, what
the steganalysis detectors say of the stego file and of its cover, timings, and the committed benchmark rows with
the paper's number beside ours (`benchmarks/results/`, present in a clone of the repository).

Every case is a cell cached under `report/cache/` by a hash of everything it depends on (method id, options,
source file and weights; the input files' bytes; the attacks; the crossteg version), so an interrupted run
resumes where it stopped and an unchanged cell is never recomputed.
"""

from __future__ import annotations

import hashlib
import html
import json
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import crossteg
from crossteg import figures
from crossteg.errors import CrossTegError, UsageError
from crossteg.evaluate import quick_cases, run_case, samples_by_modality, skipped_note
from crossteg.media.files import atomic_write_bytes
from crossteg.media.payload import Payload
from crossteg.methods.base import WEIGHTS_DIR, Method, Progress, get_method, method_ids, no_progress
from crossteg.results import Results, Row, source_fingerprint
from crossteg.robustness import Attack, select

BENCHMARK_RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
Block = tuple[Any, ...]  # ("h2", text) | ("p", text) | ("table", header, rows) | ("img", path, alt)


# ---- cells ----------------------------------------------------------------------------------------------------

def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cell_key(method: Method, options: dict[str, Any], cover: Path, secret: Path, attacks: list[Attack]) -> str:
    """A hash of everything a cell's result depends on (the evaluation's own code as well as the method's)."""
    weights = [_sha((WEIGHTS_DIR / w).read_bytes()) for w in method.weights if (WEIGHTS_DIR / w).exists()]
    parts = {"version": crossteg.__version__, "method": method.id, "options": options, "weights": weights,
             "source": source_fingerprint(type(method), run_cell), "cover": _sha(cover.read_bytes()),
             "secret": _sha(secret.read_bytes()), "attacks": [a.name for a in attacks]}
    return _sha(json.dumps(parts, sort_keys=True, default=str).encode())[:24]


def run_cell(method: Method, cover: Path, secret: Path, attacks: list[Attack], figdir: Path,
             progress: Progress = no_progress) -> dict[str, Any]:
    """One quick-suite case: its rows (incl. steganalysis of the stego file) and the pictures drawn of it."""
    keep: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="crossteg-report-") as tmp:
        rows = run_case(method, cover, secret, attacks, Path(tmp), progress, keep=keep)
        setting = rows[0].setting
        pictures = draw(keep, figdir, f"{method.id}-{secret.stem}-in-{cover.stem}") if "seen" in keep else []
        rows += detection_rows(keep, setting)
    for row in rows:
        row.method = method.id
    return {"rows": [asdict(r) for r in rows], "figures": pictures}


def draw(keep: dict[str, Any], figdir: Path, stem: str) -> list[list[str]]:
    """[path, caption] of a container picture (cover vs what is seen of the stego) and a secret picture."""
    out = []
    container = _compare(keep["cover"], keep["seen"], figdir / f"{stem}-container.png", ("cover", "stego"))
    if container:
        out.append([str(container), "cover | stego"])
    secret, revealed = keep["secret"], keep.get("revealed")
    if isinstance(secret, Payload):
        secret, revealed = secret.decode(), revealed.decode() if isinstance(revealed, Payload) else None
    if revealed is not None:
        picture = _compare(secret, revealed, figdir / f"{stem}-secret.png", ("secret", "revealed"))
        if picture:
            out.append([str(picture), "secret | revealed"])
    return out


def _compare(a: Any, b: Any, path: Path, labels: tuple[str, str]) -> Path | None:
    """A side-by-side figure of two objects of one modality, or None when there is no picture to draw."""
    modality = getattr(a, "modality", None)
    if modality != getattr(b, "modality", None):
        return None
    if modality == "image" and a.pixels.shape == b.pixels.shape:
        return figures.image_comparison(a.pixels, b.pixels, path, titles=(*labels, "|difference| x10"))
    if modality == "audio":
        b = b.mono().resample(a.sample_rate)
        return figures.audio_comparison(a.mono().samples[0], b.samples[0], a.sample_rate, path, titles=labels)
    if modality == "video":
        return figures.frame_strip(a.frames, path, second=b.frames, labels=labels)
    return None  # shapes: the Chamfer/IoU rows say it


def detection_rows(keep: dict[str, Any], setting: str) -> list[Row]:
    """Each default detector's probability for the stego file as seen, with the cover's own as reference."""
    from crossteg.steganalysis import analyze

    seen, cover = keep.get("seen"), keep.get("cover")
    if getattr(seen, "modality", None) not in ("image", "audio"):
        return []
    try:
        on_cover = {d.detector: d.probability for d in analyze(cover)}
        return [Row(f"{setting} steganalysis", f"p_stego {d.detector}", d.probability, higher_is_better=False,
                    note=f"the cover itself: {on_cover.get(d.detector, float('nan')):.3f}") for d in analyze(seen)]
    except CrossTegError as error:  # e.g. a learned detector whose weights are not shipped
        return [Row(f"{setting} steganalysis", "p_stego", None, note=str(error))]


def cached_cell(path: Path, output: Path) -> dict[str, Any] | None:
    """The cell stored at `path`, or None when it is missing or its pictures (relative to `output`) are gone."""
    if not path.exists():
        return None
    cell: dict[str, Any] = json.loads(path.read_text())
    return cell if all((output / p).exists() for p, _ in cell["figures"]) else None


# ---- the report -------------------------------------------------------------------------------------------------

def run_report(method_id: str | None, *, attacks: str = "all", data: Path | None = None, output: Path = Path("report"),
               force: bool = False, progress: Progress = no_progress) -> dict[str, Any]:
    """Evaluate one method or all (None) into the folder `output`: index.md, index.html, results.json, figures."""
    if output.exists() and not output.is_dir():
        raise UsageError(f"{output} exists and is not a folder")
    (output / "cache").mkdir(parents=True, exist_ok=True)
    chosen, samples = select(attacks), samples_by_modality(data)
    ids = [method_id] if method_id else method_ids()
    skipped: dict[Path, str] = {}  # unreadable file -> why
    plan = []
    for i in ids:
        options = get_method(i).quick_options
        method = get_method(i, **options)
        plan += [(method, options, c, s) for c, s in quick_cases(method, samples, skipped)]
    cells: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    reused = 0
    for done, (method, options, cover, secret) in enumerate(plan):
        progress("report", done, len(plan), f"{method.id}: {secret.name} in {cover.name}")
        path = output / "cache" / f"{cell_key(method, options, cover, secret, chosen)}.json"
        cell = cached_cell(path, output)
        reused += cell is not None
        if cell is None:
            cell = run_cell(method, cover, secret, chosen, output / "figures")
            cell["figures"] = [[Path(p).relative_to(output).as_posix(), c] for p, c in cell["figures"]]
            atomic_write_bytes(path, json.dumps(cell, indent=1).encode())
        cells[method.id].append(cell)
    progress("report", len(plan), len(plan))
    rows = [Row(**r) for cs in cells.values() for c in cs for r in c["rows"]]
    results = Results("report", method_id or "all", f"crossteg eval {method_id or '--all'} --attacks {attacks}",
                      rows)
    results.write(output / "results.json", markdown=False)
    blocks = document(ids, cells, attacks)
    atomic_write_bytes(output / "index.md", to_markdown(blocks).encode())
    atomic_write_bytes(output / "index.html", to_html(blocks).encode())
    message = (f"report of {len(plan)} case(s) of {', '.join(ids)} ({reused} from the cache) -> "
               f"{output / 'index.md'}, {output / 'index.html'}") + skipped_note(skipped)
    return results.to_dict() | {"message": message}


def document(ids: list[str], cells: dict[str, list[dict[str, Any]]], attacks: str) -> list[Block]:
    """The report as blocks: a summary across methods, then one section per method."""
    blocks: list[Block] = [
        ("h1", "crossteg evaluation report"),
        ("p", f"crossteg {crossteg.__version__}; quick suite on the bundled samples (or --data); every number is "
              f"measured from the saved stego file, reloaded; attacks: {attacks}. Paper numbers come from the "
              f"committed benchmark results (benchmarks/results/), run with their own commands."),
        ("h2", "Summary"),
        ("table", ["method", "case", "container", "secret", "hide s", "reveal s", "revealed after attacks", "note"],
         [summary_row(m, c) for m in ids for c in cells[m]]),
    ]
    for method_id in ids:
        blocks += method_section(get_method(method_id), cells[method_id])
    return blocks


def _value(rows: list[Row], setting: str, prefix: str) -> Row | None:
    return next((r for r in rows if r.setting == setting and r.metric.startswith(prefix)), None)


def _fmt(row: Row | None) -> str:
    if row is None:
        return ""
    if row.ours is None:
        return "∞" if row.note.startswith("identical") else "—"
    return f"{row.metric.split('_', 1)[-1]} {row.ours:.4g}"


def summary_row(method_id: str, cell: dict[str, Any]) -> list[str]:
    rows = [Row(**r) for r in cell["rows"]]
    setting = rows[0].setting
    attacked = [r for r in rows if r.setting.startswith(f"{setting} after ") and r.metric == "reveal_ok"]
    survived = f"{sum(r.ours or 0 for r in attacked):.0f}/{len(attacked)}" if attacked else "not attacked"
    hide, reveal = _value(rows, setting, "hide_seconds"), _value(rows, setting, "reveal_seconds")
    container = _value(rows, setting, "container_")
    note = "" if container else rows[0].note  # a case that did not run (e.g. over capacity) says why
    return [method_id, setting.removeprefix("quick "), _fmt(container), _fmt(_value(rows, setting, "secret_")),
            _fmt(hide).removeprefix("seconds "), _fmt(reveal).removeprefix("seconds "),
            survived if container else "", note]


def method_section(method: Method, cells: list[dict[str, Any]]) -> list[Block]:
    """One method: its cases (pictures, fidelity, robustness, steganalysis) and its committed benchmarks."""
    blocks: list[Block] = [("h2", f"{method.id}: {method.title}"),
                           ("p", f"{method.paper or 'baseline'}; hides {', '.join(method.secret)} in "
                                 f"{', '.join(method.cover)}.")]
    if not cells:
        blocks.append(("p", "No case: the sample folder has no cover/secret pair for this method."))
    for cell in cells:
        rows = [Row(**r) for r in cell["rows"]]
        setting = rows[0].setting
        blocks.append(("h3", setting.removeprefix("quick ")))
        blocks += [("img", p, caption) for p, caption in cell["figures"]]
        blocks.append(("table", ["metric", "value", "note"],
                       [[r.metric, _number(r), r.note] for r in rows if r.setting == setting]))
        attacked = [r for r in rows if r.setting.startswith(f"{setting} after ")]
        if attacked:
            blocks.append(("p", "Robustness: the stego file after each attack, then revealed."))
            blocks.append(("table", ["attack", "metric", "value", "note"],
                           [[r.setting.split(" after ", 1)[1], r.metric, _number(r), r.note] for r in attacked]))
        detected = [r for r in rows if r.setting == f"{setting} steganalysis"]
        if detected:
            blocks.append(("p", "Steganalysis of this stego file (probability that it carries a secret)."))
            blocks.append(("table", ["detector", "P(stego)", "note"],
                           [[r.metric.removeprefix("p_stego "), _number(r), r.note] for r in detected]))
    blocks += benchmark_blocks(method.id)
    return blocks


def _number(row: Row) -> str:
    if row.ours is None:
        return "∞" if row.note.startswith("identical") else "—"
    return f"{row.ours:.4g}"


def belongs(name: str, method_id: str) -> bool:
    """Whether rows filed under `name` are `method_id`'s: its own, or a named sweep of it with other options
    (`benchmarks.robustness --name inrweights-kept`), but not another registered method (deepsteg-video)."""
    return name == method_id or (name.startswith(f"{method_id}-") and name not in method_ids())


def benchmark_rows(method_id: str, folder: Path = BENCHMARK_RESULTS) -> list[tuple[str, dict[str, Any]]]:
    """(benchmark name, row) of every committed results row that belongs to `method_id` (`belongs`)."""
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = json.loads(path.read_text())
        found += [(data["benchmark"], r) for r in data["rows"] if belongs(r.get("method", data["method"]), method_id)]
    return found


def benchmark_blocks(method_id: str, folder: Path = BENCHMARK_RESULTS) -> list[Block]:
    """The committed rows with a paper number (ours beside the paper's), and the detection rows."""
    rows = benchmark_rows(method_id, folder)
    if not rows:
        return [("p", "No committed benchmark results for this method (benchmarks/results/ is in a clone).")]
    paper = [[b, r["setting"], r["metric"], _plain(r["ours"]), _plain(r["paper"])] for b, r in rows
             if r["paper"] is not None]
    detect = [[r["setting"], r["metric"], _plain(r["ours"]), str(r["n"]), r["note"]] for b, r in rows
              if r["metric"].startswith("detection_")]
    robust = [[_sweep(r, method_id) + r["setting"].removeprefix("all cases "), r["metric"], _plain(r["ours"]),
               str(r["n"]), r["note"]] for b, r in rows if b == "robustness" and r["setting"].startswith("all cases")]
    blocks: list[Block] = []
    if robust:
        blocks += [("p", "Robustness benchmark over all its cases (committed results):"),
                   ("table", ["attack", "metric", "ours", "n", "note"], robust)]
    if paper:
        blocks += [("p", "Benchmarks beside the paper (committed results; each file names its command):"),
                   ("table", ["benchmark", "setting", "metric", "ours", "paper"], paper)]
    if detect:
        blocks += [("p", "Learned and classical detectors on held-out cover/stego pairs (50% = undetectable):"),
                   ("table", ["setting", "metric", "ours", "n", "note"], detect)]
    others = len(rows) - len(paper) - len(detect) - len(robust)
    if others:
        blocks.append(("p", f"{others} further benchmark rows without a paper number: see benchmarks/results/."))
    return blocks


def _sweep(row: dict[str, Any], method_id: str) -> str:
    """"NAME: " for a row of a named sweep (`belongs`), else nothing."""
    return "" if row.get("method", method_id) == method_id else f"{row['method']}: "


def _plain(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


# ---- rendering ---------------------------------------------------------------------------------------------------

def to_markdown(blocks: list[Block]) -> str:
    """Blocks -> Markdown (tables escape '|')."""
    lines: list[str] = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2", "h3"):
            lines += [f"{'#' * int(kind[1])} {rest[0]}", ""]
        elif kind == "p":
            lines += [rest[0], ""]
        elif kind == "img":
            lines += [f"![{rest[1]}]({rest[0]})", ""]
        elif kind == "table":
            header, rows = rest
            cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows] + [""]
    return "\n".join(lines)


STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:.9em}"
         "td,th{border:1px solid #ccc;padding:.25em .5em;vertical-align:top}th{background:#f2f2f2}"
         "img{max-width:100%;display:block;margin:.3em 0}figcaption{font-size:.85em;color:#555}")


def to_html(blocks: list[Block]) -> str:
    """Blocks -> one self-contained HTML page (pictures are the relative PNG files beside it)."""
    esc = html.escape
    body: list[str] = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2", "h3", "p"):
            body.append(f"<{kind}>{esc(rest[0])}</{kind}>")
        elif kind == "img":
            body.append(f'<figure><img src="{esc(rest[0])}" alt="{esc(rest[1])}">'
                        f"<figcaption>{esc(rest[1])}</figcaption></figure>")
        elif kind == "table":
            header, rows = rest
            head = "".join(f"<th>{esc(str(h))}</th>" for h in header)
            cells = "".join("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>" for row in rows)
            body.append(f"<table><tr>{head}</tr>{cells}</table>")
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>crossteg report</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
