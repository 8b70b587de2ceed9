"""Video: float32 T x H x W x 3 frames in [0, 1], a frame rate and an optional sound track.

Containers (mp4, mov, mkv, avi, webm, gif) are read and written by the ffmpeg binary that ships with
imageio-ffmpeg; a folder of frame images and a lossless `.npz` are read and written without it.
"""

from __future__ import annotations

import io
import itertools
import logging
import os
import tempfile
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from crossteg.errors import MediaError
from crossteg.media import _ffmpeg
from crossteg.media import image as _image
from crossteg.media.audio import Audio, decode_with_ffmpeg, fit_length, save_audio
from crossteg.media.files import atomic_path

EXTS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".3gp", ".3g2", ".gif", ".npz"})
_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".gif": "gif"}  # H.264 but gif
WRITE_EXTS = frozenset(_MUXERS) | {".npz"}
FOLDER_FPS = 25.0  # a frame folder carries no rate; 25 fps is ffmpeg's own default for image sequences
_CRF = 17  # x264 constant rate factor: 17 is visually lossless (x264 docs), small enough for secrets
# frames are held as float32; a clip past this is far beyond what any method hides (inrsteg's 2 M pixels per
# channel is the most) and would only exhaust memory (4 s of a phone's 1080p at 60 fps is 6 GB)
MAX_BYTES = 2 * 2**30


@dataclass
class Video:
    """Moving pictures: `frames` is float32 T x H x W x 3 in [0, 1], `fps` frames per second."""

    frames: np.ndarray
    fps: float
    audio: Audio | None = None
    modality: ClassVar[str] = "video"

    def __post_init__(self) -> None:
        f = np.asarray(self.frames)
        if np.issubdtype(f.dtype, np.integer):
            raise ValueError("Video frames must be floats in [0, 1]; divide uint8 frames by 255")
        if f.ndim != 4 or f.shape[3] != 3:
            raise ValueError(f"Video frames must be T x H x W x 3, got shape {f.shape}")
        self.frames = np.ascontiguousarray(f, dtype=np.float32)
        self.fps = float(self.fps)
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def duration(self) -> float:
        """Length in seconds (frames / fps)."""
        return self.num_frames / self.fps

    def to_uint8(self) -> np.ndarray:
        """T x H x W x 3 uint8 = round(clip(x, 0, 1) * 255), as for images."""
        return frame_uint8(self.frames)


def _reason(exc: Exception) -> str:
    """The last line of an error; imageio-ffmpeg puts ffmpeg's own complaint there."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _float_bytes(count: int, height: int, width: int) -> int:
    """The memory `count` RGB frames of width x height take as float32."""
    return count * height * width * 3 * 4


def _check_size(path: Path, count: int, height: int, width: int, known: bool = True) -> None:
    """MediaError when `count` frames of width x height would not fit in MAX_BYTES as floats (`known`: the
    count is the whole clip's, else a lower bound), saying how to make the clip fit."""
    need = _float_bytes(count, height, width)
    if need > MAX_BYTES:
        raise MediaError(f"{path} is too large to read: {'' if known else 'over '}{count} frames of {width}x{height} "
                         f"need {need / 2**30:.1f} GB in memory (at most {MAX_BYTES / 2**30:g} GB), far more than any "
                         "method hides (a few million pixels per channel at most): hide a shorter, smaller clip, e.g. "
                         "its first 2 s at 240 px high")


def _load_container(path: Path, max_frames: int | None) -> Video:
    import imageio_ffmpeg

    # ffmpeg turns a phone's rotated video upright, and imageio-ffmpeg logs a warning that the frame size it
    # reads differs from the stored one: expected, and noise on a --quiet terminal
    logging.getLogger("imageio_ffmpeg").setLevel(logging.ERROR)
    frames = []
    try:
        # imageio-ffmpeg closes its pipes only when it stops ffmpeg itself; those of an ffmpeg that ran to the end
        # are closed by the garbage collector, which warns of unclosed files (ResourceWarning): noise, not a leak
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            # each frame once, as stored: a phone's variable-rate video read at a constant rate came back with
            # repeated frames (30 frames of 1.33 s as 41), labelled with its average rate (1.91 s)
            gen = imageio_ffmpeg.read_frames(_ffmpeg.source(path), output_params=["-fps_mode", "passthrough"])
            meta = next(gen)
            w, h = meta["size"]
            for raw in gen:
                frames.append(np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3))
                if max_frames is not None and len(frames) >= max_frames:
                    break
                if _float_bytes(len(frames) + 1, h, w) > MAX_BYTES:  # before the next frame, and at most once
                    whole = round(float(meta.get("duration") or 0) * float(meta.get("fps") or 0))
                    gen.close()
                    _check_size(path, max(whole, len(frames) + 1), h, w, known=whole > len(frames))
            gen.close()
    except (OSError, RuntimeError, StopIteration, KeyError, ValueError) as exc:
        raise MediaError(f"cannot read video {path}: {_reason(exc)}") from exc
    if not frames:
        raise MediaError(f"cannot read video {path}: it has no frames")
    fps = float(meta.get("fps") or 0) or FOLDER_FPS  # the average rate: a variable-rate video keeps its length
    announced = round(float(meta.get("duration") or 0) * fps)
    if max_frames is None and len(frames) < 0.9 * announced - 1:
        warnings.warn(f"{path.name} announces {announced} frames but only {len(frames)} could be read (is it cut "
                      "short?): those are used", stacklevel=3)
    video = Video(np.stack(frames).astype(np.float32) / np.float32(255.0), fps)
    if path.suffix.lower() != ".gif":
        video.audio = decode_with_ffmpeg(path)
        if video.audio is not None and max_frames is not None:  # keep sound and pictures the same length
            keep = int(round(video.duration * video.audio.sample_rate))
            video.audio = Audio(video.audio.samples[:, :keep], video.audio.sample_rate)
    return video


def _load_folder(path: Path, max_frames: int | None) -> Video:
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in _image.EXTS)[:max_frames]
    if not files:
        raise MediaError(f"cannot read video {path}: the folder holds no frame images")
    first = _image.load_image(files[0]).pixels
    _check_size(path, len(files), first.shape[0], first.shape[1])
    frames = [first] + [_image.load_image(p).pixels for p in files[1:]]
    if len({f.shape for f in frames}) != 1:
        raise MediaError(f"cannot read video {path}: the frame images differ in size")
    return Video(np.stack(frames), FOLDER_FPS)


def _load_npz(path: Path, max_frames: int | None) -> Video:
    """Keys: frames (T x H x W x 3, uint8 or float32), fps, and optionally audio (C x T, int16 or float32)
    with audio_rate."""
    try:
        with np.load(path, allow_pickle=False) as z:
            frames, fps = z["frames"][:max_frames], float(z["fps"])
            if frames.ndim == 4:
                _check_size(path, frames.shape[0], frames.shape[1], frames.shape[2])
            if frames.dtype == np.uint8:
                frames = frames.astype(np.float32) / np.float32(255.0)
            video = Video(frames, fps)
            if "audio" in z:
                samples, rate = z["audio"], int(z["audio_rate"])
                is_pcm = samples.dtype == np.int16
                video.audio = Audio.from_int16(samples, rate) if is_pcm else Audio(samples, rate)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise MediaError(f"cannot read video {path}: {exc}") from exc
    return video


def load_video(path: str | os.PathLike, max_frames: int | None = None) -> Video:
    """Read a video file (any container ffmpeg reads, or .npz) or a folder of frame images sorted by name."""
    p = Path(path)
    if not p.exists():
        raise MediaError(f"no such file: {p}")
    if p.is_dir():
        return _load_folder(p, max_frames)
    if p.suffix.lower() == ".npz":
        return _load_npz(p, max_frames)
    return _load_container(p, max_frames)


def npz_bytes(video: Video) -> bytes:
    """Lossless compressed npz: uint8 frames, fps, and the sound (int16 when exact, else float32) if any."""
    return _npz_bytes(video.to_uint8(), video.fps, video.audio)


def _npz_bytes(frames: np.ndarray, fps: float, audio: Audio | None) -> bytes:
    arrays: dict[str, Any] = {"frames": frames, "fps": np.float64(fps)}
    if audio is not None:
        arrays["audio"] = audio.to_int16() if audio.is_16bit else audio.samples
        arrays["audio_rate"] = np.int64(audio.sample_rate)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def frame_uint8(frame: np.ndarray) -> np.ndarray:
    """Float frame(s) in [0, 1] -> uint8: round(clip(x, 0, 1) * 255)."""
    return np.round(np.clip(frame, 0.0, 1.0) * 255.0).astype(np.uint8)


def _even(frame: np.ndarray) -> np.ndarray:
    """A uint8 frame padded (edge pixels repeated) to even height and width, which yuv420p needs."""
    pad = ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0))
    return np.ascontiguousarray(np.pad(frame, pad, mode="edge"))


def _fit_audio(audio: Audio, seconds: float) -> Audio:
    """Trim or zero-pad sound to the pictures' length, so muxing needs no -shortest (it can drop frames)."""
    return Audio(fit_length(audio.samples, int(round(seconds * audio.sample_rate))), audio.sample_rate)


def _write_ffmpeg(frames: Iterator[np.ndarray], size: tuple[int, int], fps: float, seconds: float,
                  audio: Audio | None, tmp: Path, suffix: str, workdir: str) -> None:
    """Pipe raw RGB frames into the bundled ffmpeg as they come, muxing the sound (as AAC) from a float WAV."""
    h, w = size if suffix == ".gif" else (size[0] + size[0] % 2, size[1] + size[1] % 2)
    rate = str(Fraction(fps).limit_denominator(100_000))
    inputs = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", rate, "-i", "-"]
    if suffix == ".gif":  # a palette computed from the clip itself looks far better than the fixed one
        outputs = ["-vf", "split[a][b];[a]palettegen[p];[b][p]paletteuse", "-c:v", "gif"]
    else:
        outputs = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(_CRF)]
        if audio is not None:
            wav = Path(workdir) / "sound.wav"
            save_audio(_fit_audio(audio, seconds), wav, subtype="FLOAT")
            inputs += ["-i", str(wav)]
            outputs += ["-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "192k"]
    args = [*inputs, *outputs, "-f", _MUXERS[suffix], str(tmp)]
    chunks = (frame.tobytes() if suffix == ".gif" else _even(frame).tobytes() for frame in frames)
    status, stderr = _ffmpeg.run(args, data=chunks)
    if status != 0:
        raise RuntimeError(_ffmpeg.last_error(status, stderr))


def save_video(video: Video, path: str | os.PathLike) -> None:
    """Write .mp4/.mov/.mkv (H.264 crf 17, yuv420p, odd sizes padded by one edge pixel; sound as AAC),
    .gif, or lossless .npz (uint8 frames + fps + sound). Atomic: nothing is left behind on failure."""
    save_frames((frame_uint8(f) for f in video.frames), video.num_frames, video.fps, path, audio=video.audio)


def save_frames(frames: Iterable[np.ndarray], count: int, fps: float, path: str | os.PathLike,
                audio: Audio | None = None) -> None:
    """`save_video` for `count` uint8 H x W x 3 frames written as they come: a long video (a talking head of a
    large photo) is never held whole in memory, except for .npz, whose frames are stored in one array."""
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in WRITE_EXTS:
        raise MediaError(f"cannot write a video as '{out.suffix}' (use {', '.join(sorted(WRITE_EXTS))})")
    frames = iter(frames)
    first = next(frames, None) if count else None
    if first is None:
        raise MediaError(f"cannot write video {out}: it has no frames")
    if suffix not in (".gif", ".npz") and (first.shape[0] % 2 or first.shape[1] % 2):
        warnings.warn(f"{out.name}: H.264 needs an even size, so the {first.shape[1]}x{first.shape[0]} frames are "
                      "padded by one edge pixel (.npz keeps the exact size)", stacklevel=2)
    try:
        with atomic_path(out) as tmp, tempfile.TemporaryDirectory(prefix="crossteg-") as workdir:
            if suffix == ".npz":
                tmp.write_bytes(_npz_bytes(np.stack([first, *frames]), fps, audio))
            else:
                _write_ffmpeg(itertools.chain([first], frames), first.shape[:2], fps, count / fps, audio, tmp,
                              suffix, workdir)
    except (OSError, RuntimeError) as exc:
        raise MediaError(f"cannot write video {out}: {_reason(exc)}") from exc
