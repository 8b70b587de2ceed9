"""Typed media containers and the one place file formats are handled.

`load(path)` / `save(obj, path)` pick the format from the extension; `encode` / `decode` turn a media object
into compact lossless bytes (and back) so it can be hidden as a payload. Heavy libraries (trimesh, soxr,
imageio-ffmpeg, scikit-image) are imported only when a function needs them, so importing this is cheap.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from crossteg.errors import MediaError
from crossteg.media import _ffmpeg
from crossteg.media import audio as _audio
from crossteg.media import image as _image
from crossteg.media import inr as _inr
from crossteg.media import shape as _shape
from crossteg.media import video as _video
from crossteg.media.audio import Audio, load_audio, save_audio
from crossteg.media.files import check_output
from crossteg.media.image import Image, load_image, save_image
from crossteg.media.inr import INR, load_inr, save_inr
from crossteg.media.shape import Shape, load_shape, mesh_from_sdf, save_shape
from crossteg.media.video import Video, load_video, save_video

__all__ = [
    "ALL_EXTS", "AUDIO_EXTS", "IMAGE_EXTS", "SHAPE_EXTS", "VIDEO_EXTS",
    "INR_EXTS", "Audio", "INR", "Image", "Media", "Shape", "Video",
    "check_writable", "decode", "encode", "load", "load_audio", "load_image", "load_shape", "load_video",
    "check_save_as", "mesh_from_sdf", "modality_of", "save", "save_audio", "save_image", "save_shape", "save_video",
]  # fmt: skip

Media = Image | Audio | Video | Shape | INR

IMAGE_EXTS: frozenset[str] = _image.EXTS
AUDIO_EXTS: frozenset[str] = _audio.EXTS
VIDEO_EXTS: frozenset[str] = _video.EXTS  # an animated .gif is a video (all its frames), a still one an image
SHAPE_EXTS: frozenset[str] = _shape.EXTS
AV_CONTAINERS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".3gp", ".3g2"})  # audio when it has no pictures
INR_EXTS: frozenset[str] = _inr.EXTS  # a network (inrsteg's stego INR)
ALL_EXTS: frozenset[str] = IMAGE_EXTS | AUDIO_EXTS | VIDEO_EXTS | SHAPE_EXTS | INR_EXTS
_WRITE_EXTS = {"image": _image.WRITE_EXTS, "audio": _audio.WRITE_EXTS, "video": _video.WRITE_EXTS,
               "shape": _shape.WRITE_EXTS, "inr": _inr.EXTS}  # fmt: skip

_BY_EXT = {ext: m for m, exts in (("image", IMAGE_EXTS), ("audio", AUDIO_EXTS), ("video", VIDEO_EXTS),
                                  ("shape", SHAPE_EXTS), ("inr", INR_EXTS)) for ext in exts}  # fmt: skip
_LOADERS: dict[str, Callable[..., Media]] = {
    "image": load_image, "audio": load_audio, "video": load_video, "shape": load_shape, "inr": load_inr}
_SAVERS: dict[str, Callable[..., None]] = {
    "image": save_image, "audio": save_audio, "video": save_video, "shape": save_shape, "inr": save_inr}


def modality_of(path: str | os.PathLike) -> str:
    """The modality a path holds, from its extension: image, audio, video or shape; a folder is a video."""
    p = Path(path)
    if p.is_dir():
        return "video"
    modality = suffix_modality(p)
    if modality == "video" and p.suffix.lower() == ".gif" and _still_gif(p):
        return "image"
    if modality == "video" and p.suffix.lower() in AV_CONTAINERS and p.is_file() and _sound_only(p):
        return "audio"
    if modality is None:
        known = " ".join(sorted(_BY_EXT))
        raise MediaError(f"cannot tell what kind of media {p} is from '{p.suffix}' (known: {known})")
    return modality


def suffix_modality(path: str | os.PathLike) -> str | None:
    """The modality a path's suffix names (None for an unknown one); unlike `modality_of`, nothing is opened."""
    return _BY_EXT.get(Path(path).suffix.lower())


def check_writable(path: str | os.PathLike) -> None:
    """Refuse (MediaError) a path whose suffix names a media format that can be read but not written, e.g.
    .m4a, so a command fails before its work rather than after it; other suffixes (a folder, raw bytes) pass."""
    p = Path(path)
    modality = suffix_modality(p)
    if modality is not None and p.suffix.lower() not in _WRITE_EXTS[modality]:
        raise MediaError(f"cannot write {modality} as '{p.suffix}' (use {', '.join(sorted(_WRITE_EXTS[modality]))})")


def check_save_as(modality: str, path: str | os.PathLike) -> None:
    """Refuse (MediaError) saving `modality` to `path` when its suffix names another kind of file."""
    p = Path(path)
    if suffix_modality(p) != modality:
        raise MediaError(f"cannot save {modality} as '{p.suffix}' ({p}; use "
                         f"{', '.join(sorted(_WRITE_EXTS[modality]))})")


def _sound_only(path: Path) -> bool:
    """Whether a file in a container that holds sound, pictures or both (a voice note as .webm or .3gp, an
    audio-only .mp4) has sound and no pictures."""
    return not _ffmpeg.has_stream(path, "v") and _ffmpeg.has_stream(path, "a")


def _still_gif(path: Path) -> bool:
    """Whether `path` is a readable GIF of one frame (a still image; an animated GIF is a video)."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(path) as gif:
            return getattr(gif, "n_frames", 1) == 1
    except OSError:  # missing or unreadable: the video reader reports it
        return False


def load(path: str | os.PathLike, modality: str | None = None) -> Media:
    """Read a media file (or frame folder); with `modality`, refuse a file of another kind."""
    p = Path(path)
    if not p.exists():
        raise MediaError(f"no such file: {p}")
    if modality is not None and modality not in _LOADERS:
        raise ValueError(f"unknown modality {modality!r} (one of {', '.join(_LOADERS)})")
    if p.is_file() and p.stat().st_size == 0:  # each reader has its own puzzling words for it
        raise MediaError(f"{p} is empty (0 bytes)")
    found = modality_of(p)
    if modality is not None and found != modality:
        raise MediaError(f"{p} is {found}, expected {modality}")
    return _LOADERS[found](p)


def save(
    obj: Media,
    path: str | os.PathLike,
    *,
    force: bool = False,
    inputs: Iterable[str | os.PathLike] = (),
    **options: Any,
) -> Path:
    """Write `obj` in the format its extension names, atomically; refuses to overwrite an input (ever) or
    an existing file (without `force`). `options` go to the writer, e.g. subtype="FLOAT" for audio."""
    out = check_output(path, inputs, force)
    modality = getattr(obj, "modality", None)
    if modality not in _SAVERS:
        raise TypeError(f"cannot save a {type(obj).__name__}; expected Image, Audio, Video or Shape")
    check_save_as(modality, out)
    _SAVERS[modality](obj, out, **options)
    return out


def encode(obj: Media) -> tuple[bytes, str]:
    """Compact lossless bytes and their suffix: PNG for images; FLAC if the samples are exactly 16-bit, else
    float32 WAV, for audio; compressed npz (uint8 frames, fps, sound) for video; binary PLY for shapes."""
    import soundfile as sf
    from PIL import Image as PILImage

    buf = io.BytesIO()
    if isinstance(obj, Image):
        PILImage.fromarray(obj.to_uint8()).save(buf, format="PNG")
        return buf.getvalue(), ".png"
    if isinstance(obj, Audio):
        if obj.is_16bit and obj.channels <= 8:  # FLAC holds at most 8 channels
            sf.write(buf, obj.to_int16().T, obj.sample_rate, subtype="PCM_16", format="FLAC")
            return buf.getvalue(), ".flac"
        sf.write(buf, obj.samples.T, obj.sample_rate, subtype="FLOAT", format="WAV")
        return buf.getvalue(), ".wav"
    if isinstance(obj, Video):
        return _video.npz_bytes(obj), ".npz"
    if isinstance(obj, Shape):
        return _shape.shape_bytes(obj, "ply"), ".ply"
    raise TypeError(f"cannot encode a {type(obj).__name__}; expected Image, Audio, Video or Shape")


def decode(data: bytes, suffix: str) -> Media:
    """The media object held in `data`, a file of type `suffix` (inverse of `encode`, any loadable suffix)."""
    suffix = suffix.lower() if suffix.startswith(".") else f".{suffix.lower()}"
    modality = _BY_EXT.get(suffix)
    if modality is None:
        raise MediaError(f"cannot decode media of type '{suffix}'")
    with tempfile.TemporaryDirectory(prefix="crossteg-") as tmp:
        path = Path(tmp) / f"media{suffix}"
        path.write_bytes(data)
        try:
            return _LOADERS[modality](path)
        except MediaError as exc:  # say what failed without naming the temporary file
            reason = exc.__cause__ or str(exc).rsplit(": ", 1)[-1]
            raise MediaError(f"cannot decode {modality} data ({suffix}): {reason}") from exc
