"""File-level hide and reveal shared by the CLI, the demo and eval: load, check, run, save atomically."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

from crossteg import media
from crossteg.errors import CapacityError, KeyError_, UsageError
from crossteg.fitting import fits, fitted_secret
from crossteg.keys import Key
from crossteg.media.files import atomic_write_bytes, check_output
from crossteg.media.payload import Payload
from crossteg.methods.base import Method, Progress, get_method, no_progress


def load_cover(method: Method, path: Path) -> Any:
    """The cover at `path`, refused unless its modality is one `method` hides in."""
    cover = media.load(path)
    if cover.modality not in method.cover:
        raise UsageError(f"{path} is {cover.modality}; {method.id} hides in {' or '.join(method.cover)}")
    return cover


def load_stego(method: Method, path: Path) -> Any:
    """The stego file at `path`, refused unless it is of a kind `method` writes."""
    stego = media.load(path)
    if stego.modality not in method.stego_modalities():
        raise UsageError(f"{path} is {stego.modality}; {method.id} stego files are "
                         f"{' or '.join(method.stego_modalities())}")
    if stego.modality == "image" and ".png" in method.stego_ext and media.image.is_jpeg(path):
        warnings.warn(f"{path.name} is a JPEG: {method.id} hides in the exact pixels of the PNG it writes, so expect "
                      "the secret degraded, or not found", stacklevel=2)
    return stego


def load_secret(method: Method, path: Path) -> Any:
    """The secret at `path`: its exact bytes for byte-hiding methods, else a media object of an allowed modality."""
    if method.hides_bytes:
        if not path.is_file():
            raise UsageError(f"no such file: {path}")
        return Payload.from_file(path)
    secret = media.load(path)
    if secret.modality not in method.secret:
        raise UsageError(f"{path} is {secret.modality}; {method.id} hides {' or '.join(method.secret)}")
    if isinstance(secret, media.Video) and secret.audio is not None:
        warnings.warn(f"{path.name} has sound: {method.id} hides a video's pictures, and its sound is left out",
                      stacklevel=2)
    if isinstance(secret, media.Shape) and not secret.is_closed:
        warnings.warn(f"{path.name} is an open surface (it has holes or loose edges): {method.id} represents the "
                      "inside of a closed shape, so what comes back is closed", stacklevel=2)
    return secret


def hide_files(method_id: str, cover_path: Path, secret_paths: list[Path], output: Path, *, key: Key = None,
               quality: str = "fast", float32: bool = False, fit: bool = False, force: bool = False,
               progress: Progress = no_progress, **options: Any) -> dict[str, Any]:
    """Hide the secret file(s) in the cover file and write the stego file; return a summary. `float32` writes a
    float WAV, and tells a method with that option (ditas) to hide for one (no 16-bit rounding). `fit` makes a
    secret too large for the cover fit (fitting.fitted_secret), with a warning that says how."""
    if float32 and "float32" in get_method(method_id).options():
        options["float32"] = True
    method = get_method(method_id, quality=quality, **options)
    if not 1 <= len(secret_paths) <= method.max_secrets:
        raise UsageError(f"{method.id} takes {method.max_secrets} secret(s) at most, got {len(secret_paths)}")
    inputs = [cover_path, *secret_paths]
    check_output(output, inputs, force)
    cover = load_cover(method, cover_path)
    expected = method.stego_suffix(cover)
    if output.suffix.lower() != expected:
        raise UsageError(f"{method.id} stego of {cover.modality} must be written as {expected}, not {output.name}")
    secrets = [load_secret(method, p) for p in secret_paths]
    if fit:
        secrets = [_fitted(method, s, cover, p) for s, p in zip(secrets, secret_paths, strict=True)]
    secret = secrets[0] if method.max_secrets == 1 else secrets
    start = time.perf_counter()
    try:
        stego = method.hide(cover, secret, key, progress=progress)
    except CapacityError as error:
        if fit or not all(fits(method, s, cover) or fitted_secret(method, s, cover)[1] for s in secrets):
            raise
        raise CapacityError(f"{error} (--fit makes it fit)") from None
    seconds = time.perf_counter() - start
    media.save(stego, output, force=force, inputs=inputs, **save_options(method, stego, float32))
    capacity, used = method.capacity_for(cover, secret), method.secret_size(secret)
    return {"method": method.id, "stego": str(output), "capacity": capacity.amount, "unit": capacity.unit,
            "secret_size": used, "hide_seconds": round(seconds, 3),
            "message": f"hid {capacity.quantity(used)} ({_percent(used / max(capacity.amount, 1e-9))} of "
                       f"{capacity}) in {cover_path.name} -> {output}"}


def _fitted(method: Method, secret: Any, cover: Any, path: Path) -> Any:
    """The secret made to fit the cover, warning how (fitting.fitted_secret)."""
    fitted, note = fitted_secret(method, secret, cover)
    if note:
        warnings.warn(f"{path.name}: {note}", stacklevel=3)
    return fitted


def _percent(fraction: float) -> str:
    """A share for people: "37%", and two significant digits below 1% ("0.24%", not "0%")."""
    return f"{100 * fraction:.0f}%" if fraction >= 0.01 else f"{100 * fraction:.2g}%"


def save_options(method: Method, stego: Any, float32: bool = False) -> dict[str, Any]:
    """media.save options for a stego: float WAV on request or where the method needs it (flowhide)."""
    subtype = "FLOAT" if float32 else method.stego_subtype()
    return {"subtype": subtype} if subtype and getattr(stego, "modality", None) == "audio" else {}


def write_secret(secret: Any, output: Path, inputs: list[Path], force: bool = False) -> Path:
    """Write a revealed secret: a Payload as its exact bytes (or converted when OUTPUT asks another format)."""
    check_output(output, inputs, force)
    if isinstance(secret, Payload):
        if _kept_as_bytes(secret, output):
            atomic_write_bytes(output, secret.data)
            return output
        secret = secret.decode()
    return media.save(secret, output, force=force, inputs=inputs)


def _kept_as_bytes(secret: Payload, output: Path) -> bool:
    """Whether a byte payload is written as it is: unless OUTPUT names another media format than its own."""
    wanted = output.suffix.lower()
    return not secret.suffix or wanted == secret.suffix or wanted not in media.ALL_EXTS


def reveal_file(method_id: str, stego_path: Path, outputs: list[Path], *, key: Key = None, level: int = 1,
                force: bool = False, render: Path | None = None, video: Path | None = None,
                face_check: bool = True, progress: Progress = no_progress, **options: Any) -> dict[str, Any]:
    """Reveal the secret(s) in a stego file and write them to `outputs` (one per secret, or one folder);
    `options` configure the method as in hide_files (e.g. allow_missing for ditas). With `video`, also write a
    talking-head video of the stego image's face saying the revealed speech (no face: MediaError before
    anything is written, unless face_check is off and the centre is animated)."""
    method = get_method(method_id, **options)
    if not 1 <= level <= method.levels:
        raise UsageError(f"{method.id} has access level{'s 1..' if method.levels > 1 else ' '}{method.levels} only")
    for path in [*outputs, *([render] if render else []), *([video] if video else [])]:
        if not path.is_dir():
            check_output(path, [stego_path], force)
            named = path.suffix and path in outputs  # no suffix: perhaps the folder for several secrets
            if named and not method.hides_bytes and media.suffix_modality(path) not in method.secret:
                raise UsageError(f"{method.id} reveals {' or '.join(method.secret)}, which cannot be written as "
                                 f"'{path.suffix}' ({path})")
            if not (method.hides_bytes and path in outputs):  # a file's bytes go back under any name (.m4a too)
                media.check_writable(path)
    if render is not None and not method.stego:
        raise UsageError(f"{method.id} has nothing to render: its stego file is the cover itself")
    stego = load_stego(method, stego_path)
    if video is not None:
        check_talking_head_output(video)
    if video is not None and not (stego.modality == "image" and "audio" in method.secret):
        raise UsageError("--video needs an image stego (the face) that carries speech")
    if video is not None:
        from crossteg.talkinghead.landmarks import find_landmarks

        find_landmarks(stego.pixels, face_check=face_check, name=stego_path.name)  # no face: fail before writing
    start = time.perf_counter()
    revealed = _reveal(method, stego, stego_path, key, level, progress)
    seconds = time.perf_counter() - start
    secrets = revealed if isinstance(revealed, list) else [revealed]
    paths = _secret_paths(secrets, outputs)
    _check_outputs(secrets, paths, [p for p in (render, video) if p is not None])
    if video is not None:  # first: the long, memory-hungry part fails before any secret is written
        from crossteg.talkinghead import speak_to_file

        speech = next((s for s in map(_as_media, secrets) if getattr(s, "modality", None) == "audio"), None)
        if speech is None:
            raise UsageError(f"{stego_path.name} revealed no speech to animate with --video")
        speak_to_file(stego, speech, video, progress, face_check=face_check, name=str(stego_path))
    for secret, path in zip(secrets, paths, strict=True):
        write_secret(secret, path, [stego_path], force)
    if render is not None:
        media.save(method.render_cover(stego), render, force=force, inputs=[stego_path])
    if video is not None:
        paths.append(video)
    rendered = {"cover": str(render)} if render is not None else {}
    return {"method": method.id, "secrets": [str(p) for p in paths], "reveal_seconds": round(seconds, 3),
            **rendered, "message": f"revealed {stego_path.name} -> {', '.join(str(p) for p in paths)}"
                                   + (f"; the cover it represents -> {render}" if render is not None else "")}


def _reveal(method: Method, stego: Any, path: Path, key: Key, level: int, progress: Progress) -> Any:
    """`method.reveal`, and for an image whose EXIF orientation a tool added without turning the pixels (reading
    turns them), again from the pixels as stored."""
    try:
        return method.reveal(stego, key, level=level, progress=progress)
    except KeyError_:
        if stego.modality != "image" or not media.image.exif_rotated(path):
            raise
        return method.reveal(media.image.load_image(path, upright=False), key, level=level, progress=progress)


def _check_outputs(secrets: list[Any], paths: list[Path], others: list[Path]) -> None:
    """Before anything is written: no path given twice, and each secret writable in its path's format (a file
    of several secrets is never left half-written by its second output's wrong suffix)."""
    every = [p.resolve() for p in [*paths, *others]]
    twice = next((p for p in every if every.count(p) > 1), None)
    if twice is not None:
        raise UsageError(f"output {twice} is given twice")
    for secret, path in zip(secrets, paths, strict=True):
        if isinstance(secret, Payload) and not _kept_as_bytes(secret, path):
            media.check_save_as(media.modality_of(Path(f"secret{secret.suffix}")), path)
            media.check_writable(path)
        elif not isinstance(secret, Payload):
            media.check_save_as(secret.modality, path)


def check_talking_head_output(path: Path) -> None:
    """Refuse, before any work, a talking-head output that is not a video format with sound (GIF has none)."""
    media.check_writable(path)
    if media.modality_of(path) != "video" or path.suffix.lower() == ".gif":
        raise UsageError(f"cannot write a talking head as '{path.suffix}' (use .mp4, .m4v, .mov, .mkv or .npz)")


def _as_media(secret: Any) -> Any:
    """A revealed secret as a media object: byte payloads of a media file decoded, anything else as it is."""
    if isinstance(secret, Payload) and secret.suffix in media.ALL_EXTS:
        return secret.decode()
    return secret


DEFAULT_SUFFIX = {"image": ".png", "audio": ".wav", "video": ".mp4", "shape": ".ply"}


def _secret_paths(secrets: list[Any], outputs: list[Path]) -> list[Path]:
    """One output per secret: the given files, or numbered files in a single given folder (made if it does not
    exist and has no file suffix, for a file of several secrets)."""
    if len(outputs) == 1 and len(secrets) > 1 and not outputs[0].suffix and not outputs[0].exists():
        outputs[0].mkdir(parents=True)
    if len(outputs) == 1 and outputs[0].is_dir():
        return [outputs[0] / f"secret_{k + 1}{DEFAULT_SUFFIX.get(getattr(s, 'modality', ''), _payload_suffix(s))}"
                for k, s in enumerate(secrets)]
    if len(outputs) != len(secrets):
        kinds = ", ".join(getattr(s, "modality", "file") for s in secrets)
        raise UsageError(f"this file holds {len(secrets)} secret(s) ({kinds}); give -o once per secret or a folder")
    return outputs


def _payload_suffix(secret: Any) -> str:
    """The suffix of a byte payload (or .bin)."""
    return getattr(secret, "suffix", "") or ".bin"
