"""The `crossteg` command: parses arguments, calls the library, prints. Exit codes: 0 ok, 1 other,
2 usage or bad input, 3 capacity exceeded, 4 wrong key or no secret found."""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console

from crossteg.errors import CrossTegError, UsageError

app = typer.Typer(
    name="crossteg",
    help="Cross-modal steganography: hide speech in a face photo, an image in audio, anything in a network.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(width=None if sys.stdout.isatty() else 160)  # piped: tables and lines not squeezed to 80 columns
err = Console(stderr=True, soft_wrap=True)  # an error stays on one line however long
state = {"quiet": False}

KeyOpt = Annotated[str | None, typer.Option("--key", "-k", help="Passphrase (default: none, anyone can reveal).")]
KeyFileOpt = Annotated[Path | None, typer.Option("--key-file", help="Use the bytes of this file as the key.")]
ForceOpt = Annotated[bool, typer.Option("--force", "-f", help="Replace an existing output file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON result.")]
OptionOpt = Annotated[list[str] | None, typer.Option(
    "--option", "-O", help="Method option KEY=VALUE, repeatable (e.g. -O variant=M-E, -O qat=false); "
                           "`crossteg methods --json` lists each method's options.")]


@app.callback()
def _root(quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or chatter.")] = False) -> None:
    state["quiet"] = quiet


@contextmanager
def progress_bar() -> Iterator[Any]:
    """A rich progress display fed by the library's progress(description, completed, total) callbacks."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if state["quiet"]:
        yield lambda *_: None
        return
    tasks: dict[str, Any] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), TextColumn("{task.fields[detail]}"), console=err, transient=True) as bar:

        def update(description: str, completed: float, total: float, detail: str = "") -> None:
            if description not in tasks:
                tasks[description] = bar.add_task(description, total=total, detail="")
            bar.update(tasks[description], completed=completed, total=total)
            if detail:
                bar.update(tasks[description], detail=detail)

        yield update


def say(message: str) -> None:
    """Print a human-readable line unless --quiet."""
    if not state["quiet"]:
        out.print(message, highlight=False)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def method_options(pairs: list[str] | None, command: Any, **flags: Any) -> dict[str, Any]:
    """The `-O KEY=VALUE` method options with the flags that set one (--steps ...) merged in. A name given both
    ways, or one `command` (hide_files, reveal_file) takes itself (-O key=, -O level=), is refused."""
    import inspect

    from crossteg.methods.base import parse_options

    options: dict[str, Any] = parse_options(pairs)
    taken = sorted(set(options) & set(inspect.signature(command).parameters))
    if taken:
        raise UsageError(f"-O {taken[0]}: {taken[0]} is set by the command's own option "
                         f"(--{taken[0].replace('_', '-')}), not by -O")
    for name, value in flags.items():
        if value is not None and name in options:
            raise UsageError(f"--{name.replace('_', '-')} and -O {name} both given: give one")
        if value is not None:
            options[name] = value
    return options


def resolve_key(key: str | None, key_file: Path | None) -> bytes:
    from crossteg.keys import passphrase_bytes

    return passphrase_bytes(key, key_file)


@app.command()
def methods(as_json: JsonOpt = False) -> None:
    """List the methods: what each hides, in what, the stego file type, and whether its weights are shipped."""
    from crossteg.methods import list_methods

    infos = [m.info() for m in list_methods()]
    if as_json:
        emit_json(infos)
        return
    from rich.table import Table

    table = Table("id", "secret", "cover", "stego", "weights", "method")
    for i in infos:
        table.add_row(i["id"], ", ".join(i["secret"]), ", ".join(i["cover"]), ", ".join(i["stego_ext"]),
                      "yes" if i["weights"] else "no", i["title"])
    out.print(table)


@app.command()
def hide(
    method: Annotated[str, typer.Argument(help="Method id (see `crossteg methods`).")],
    cover: Annotated[Path, typer.Option("--cover", "-c", help="Cover file (image or audio, per method).")],
    secret: Annotated[list[Path], typer.Option("--secret", "-s", help="Secret file; repeat for methods "
                                                                      "that take several.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Stego file to write.")],
    key: KeyOpt = None,
    key_file: KeyFileOpt = None,
    quality: Annotated[str, typer.Option(help="fast | paper (step counts of the paper, where it applies).")] = "fast",
    float32: Annotated[bool, typer.Option("--float32", help="Write a float32 WAV instead of 16-bit PCM.")] = False,
    fit: Annotated[bool, typer.Option("--fit", help="Make a secret too large for the cover fit: speech trimmed, a "
                                                    "video cut to its first frames and downscaled, a picture "
                                                    "downscaled (a warning says how).")] = False,
    precision: Annotated[str | None, typer.Option(help="inrsteg: stored weights fp32 | fp16 | int8.")] = None,
    steps: Annotated[int | None, typer.Option(help="Cap on optimisation steps per fit (fitting methods).")] = None,
    option: OptionOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Hide SECRET in COVER with METHOD and write the stego file."""
    from crossteg.pipeline import hide_files

    if quality not in ("fast", "paper"):
        raise UsageError(f"--quality must be fast or paper, not {quality}")
    options = method_options(option, hide_files, precision=precision, steps=steps)
    with progress_bar() as progress:
        summary = hide_files(method, cover, secret, output, key=resolve_key(key, key_file), quality=quality,
                             float32=float32, fit=fit, force=force, progress=progress, **options)
    emit_json(summary) if as_json else say(summary["message"])


@app.command()
def reveal(
    method: Annotated[str, typer.Argument(help="Method id (see `crossteg methods`).")],
    stego: Annotated[Path, typer.Argument(help="Stego file written by `crossteg hide`.")],
    output: Annotated[list[Path], typer.Option("--output", "-o", help="Where to write the revealed secret; repeat "
                                                                      "for several secrets, or give a folder.")],
    key: KeyOpt = None,
    key_file: KeyFileOpt = None,
    level: Annotated[int, typer.Option(help="Access level for nested methods (1 or 2).")] = 1,
    render: Annotated[Path | None, typer.Option(help="inrsteg: also write the cover the stego INR represents.")] = None,
    allow_missing: Annotated[bool, typer.Option(
        "--allow-missing", help="ditas: reconstruct from the stages whose audio is intact.")] = False,
    video: Annotated[Path | None, typer.Option(
        help="Speech in a face image: also write a talking-head video (.mp4) of the face saying it.")] = None,
    no_face_check: Annotated[bool, typer.Option(
        "--no-face-check", help="--video: if no face is found, animate the centre of the image instead of failing."
    )] = False,
    option: OptionOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Reveal the secret in STEGO and write it to OUTPUT (its format follows OUTPUT's extension)."""
    from crossteg.pipeline import reveal_file

    options = method_options(option, reveal_file, allow_missing=True if allow_missing else None)
    with progress_bar() as progress:
        summary = reveal_file(method, stego, output, key=resolve_key(key, key_file), level=level, force=force,
                              render=render, video=video, face_check=not no_face_check, progress=progress,
                              **options)
    emit_json(summary) if as_json else say(summary["message"])


@app.command("eval")
def evaluate(
    method: Annotated[str | None, typer.Argument(help="Method id; or use --all.")] = None,
    all_methods: Annotated[bool, typer.Option("--all", help="Evaluate every registered method.")] = False,
    suite: Annotated[str, typer.Option(help="quick (bundled samples) | paper (paper settings, slow).")] = "quick",
    attacks: Annotated[str | None, typer.Option(help="Comma-separated attacks on the stego file, 'all' or 'none' "
                                                     "(default: none for a .json output, all for a report).")] = None,
    data: Annotated[Path | None, typer.Option(help="Folder of your own images/speech/video/meshes (a secret too "
                                                   "large for the covers is trimmed or downscaled to fit, and the "
                                                   "results say so).")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="A .json file for the results alone, or a folder "
                                                                "for the full report (index.md, index.html, "
                                                                "pictures; resumable).")] = Path("eval.json"),
    force: ForceOpt = True,
    as_json: JsonOpt = False,
) -> None:
    """Hide, save, reload and reveal the sample data with each method and report the papers' metrics.

    JSON by default; with -o FOLDER, a report with pictures, robustness, steganalysis and the benchmarks."""
    if (method is None) == (not all_methods):
        raise UsageError("name one METHOD or pass --all")
    chosen = None if all_methods else method
    with progress_bar() as progress:
        if output.suffix.lower() == ".json":
            from crossteg.evaluate import run_eval

            report = run_eval(chosen, suite=suite, attacks=attacks or "none", data=data, output=output,
                              force=force, progress=progress)
        else:
            from crossteg.report import run_report

            if suite != "quick":
                raise UsageError("only --suite quick is available in eval; paper tables are reproduced by "
                                 "benchmarks/")
            report = run_report(chosen, attacks=attacks or "all", data=data, output=output, progress=progress)
    emit_json(report) if as_json else say(report["message"])


@app.command()
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the demo's files.")] = Path("demo-out"),
) -> None:
    """Hide the bundled speech in the bundled face, reveal it, and write a report with pictures and metrics."""
    from crossteg.demo import run_demo

    with progress_bar() as progress:
        report = run_demo(output, progress=progress)
    say(f"demo written: {report}")


@app.command()
def steganalyze(
    files: Annotated[list[Path], typer.Argument(help="Image (PNG...) or audio (WAV...) files to examine.")],
    detector: Annotated[list[str] | None, typer.Option(
        "--detector", "-d", help="Detector name (repeat or comma-separate): chi-square, rs, spa, cnn-<method>. "
                                 "Default: every one available for the file's modality.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Probability that each FILE carries a secret, per detector (classical LSB attacks and trained CNNs)."""
    from crossteg.steganalysis import analyze_file

    names = [n.strip() for d in detector or [] for n in d.split(",") if n.strip()] or None
    for path in files:
        if not path.is_file():
            raise UsageError(f"no such file: {path}")
    rows: list[dict[str, Any]] = []
    failures: list[CrossTegError] = []  # a file that cannot be examined does not hide the others' results
    with progress_bar() as progress:
        for done, path in enumerate(files):
            progress("steganalysis", done, len(files))
            try:
                rows += [{"file": str(path), "detector": d.detector, "probability": round(d.probability, 4),
                          "rate": None if d.rate is None else round(d.rate, 4), "note": d.note}
                         for d in analyze_file(path, names)]
            except CrossTegError as failure:
                failures.append(failure)
        progress("steganalysis", len(files), len(files))
    emit_json(rows) if as_json else _print_steganalysis(rows)
    for unread in failures:
        err.print(f"error: {unread}", highlight=False, markup=False)
    if failures:
        raise typer.Exit(failures[0].exit_code)


def _print_steganalysis(rows: list[dict[str, Any]]) -> None:
    """One table per file: each detector's probability, estimated embedding rate and note."""
    from rich.markup import escape
    from rich.table import Table

    for path in dict.fromkeys(r["file"] for r in rows):
        out.print(f"[bold]{escape(path)}[/bold]", highlight=False)
        table = Table("detector", "P(secret)", "est. rate", "note")
        for r in (r for r in rows if r["file"] == path):
            table.add_row(r["detector"], f"{r['probability']:.3f}",
                          "" if r["rate"] is None else f"{round(100 * r['rate'])}%", r["note"])
        out.print(table)


@app.command()
def speak(
    face: Annotated[Path, typer.Argument(help="Face image (PNG, JPEG...): a frontal portrait.")],
    speech: Annotated[Path, typer.Argument(help="Speech (WAV, FLAC, MP3...).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Video to write (.mp4: H.264 + AAC).")],
    no_face_check: Annotated[bool, typer.Option(
        "--no-face-check", help="If no face is found, animate the centre of the image instead of failing.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the blinks and head motion.")] = 0,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Talking-head video of FACE saying SPEECH: 25 fps, the face's resolution, the speech as its sound."""
    from crossteg import media
    from crossteg.pipeline import check_talking_head_output
    from crossteg.talkinghead import FPS, speak_to_file

    image, sound = cast(media.Image, media.load(face, "image")), cast(media.Audio, media.load(speech, "audio"))
    media.files.check_output(output, [face, speech], force)  # fail before rendering, not after
    check_talking_head_output(output)
    with progress_bar() as progress:
        frames = speak_to_file(image, sound, output, progress, face_check=not no_face_check, seed=seed,
                               name=str(face))
    summary: dict[str, Any] = {
        "output": str(output), "frames": frames, "fps": FPS, "width": image.width, "height": image.height,
        "seconds": round(frames / FPS, 3),
        "message": f"talking head written: {output} ({frames} frames, {image.width}x{image.height}, "
                   f"{FPS:g} fps, {frames / FPS:.2f} s)"}
    emit_json(summary) if as_json else say(summary["message"])


@app.command(add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(
        help="What to train: thinimg, ditas (--baseline deepsteg|stft for its baselines), vocoder, icn, waveglow, "
             "detector.")],
) -> None:
    """Train (reproduce) shipped weights; options after TARGET go to its trainer (`crossteg train TARGET --help`)."""
    from crossteg.train import TRAINERS, run_trainer

    if target in ("-h", "--help"):  # --help after TARGET belongs to the trainer, so this command parses its own
        out.print(ctx.get_help())
        say(f"trainable: {', '.join(sorted(TRAINERS)) or 'none yet'}")
        return
    run_trainer(target, list(ctx.args), bar=not state["quiet"])


def main() -> None:
    """Entry point: one clear line on stderr and the SPEC exit code for every error, no traceback; warnings
    (a method's advice) as one line too."""
    warnings.formatwarning = lambda message, *_args, **_kwargs: f"warning: {message}\n"
    try:
        typer.main.get_command(app)(prog_name="crossteg")
    except CrossTegError as error:
        err.print(f"error: {error}", highlight=False, markup=False)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except SystemExit as leaving:  # typer turns Ctrl-C into a silent exit 130
        if leaving.code == 130:
            err.print("interrupted")
        raise
    except Exception as error:  # a bug, not bad input: still one line unless asked for the traceback
        if os.environ.get("CROSSTEG_DEBUG"):
            raise
        err.print(f"error: unexpected {type(error).__name__}: {error} (CROSSTEG_DEBUG=1 shows the traceback)",
                  highlight=False, markup=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
