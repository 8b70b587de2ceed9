"""Regenerate the tiny bundled samples in ``src/crossteg/assets/``.

Run from the repository root::

    .venv/bin/python scripts/make_assets.py

What it needs
-------------
* Python packages (all in the project's dependencies): numpy, scipy, soundfile, pillow, scikit-image,
  imageio-ffmpeg (bundles its own ffmpeg binary), trimesh.
* One system tool, **espeak-ng**, for the speech clips only (``apt-get install espeak-ng``). It is needed to
  *generate* the WAV files, never at test or run time: the generated files are committed.

The output is deterministic for a given espeak-ng / scikit-image / x264 version (no randomness is used).
``SOURCES.md`` in the assets folder states origin, command and licence of every file and is written by
this script too, so it never drifts from what was made.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "src" / "crossteg" / "assets"

SPEECH_RATE = 16_000  # Hz; THInImg / DITAS speech is 16 kHz mono
ESPEAK_SPEED = 150  # words per minute (espeak-ng -s)
PEAK = 0.9  # peak normalisation target
MARGIN_S = 0.08  # silence kept before and after the speech after trimming

# Square crop (x0, y0, side) of skimage.data.astronaut() (512x512) framing Eileen Collins' face:
# hair top to collar, nose near the horizontal centre.
FACE_CROP = (118, 8, 216)

SHORT_SPEECH_S = 0.5  # speech_short.wav: the start of speech_1.wav
SMALL_SIDE = 64  # face64.png and the frames of clip_short.mp4
SHORT_CLIP_FRAMES = 4  # clip_short.mp4: the first frames of clip.mp4

# (file, espeak-ng voice, sentence); each clip must come out 2.0-3.0 s long and stay under FLAC_MAX bytes
# as 16-bit FLAC, so that the LSB demo can hide any of them in face.png (384*384*3 bits = 55296 bytes).
FLAC_MAX = 50_000
SPEECH = [
    ("speech_1.wav", "en-us", "Hidden words travel in plain sight."),
    ("speech_2.wav", "en+f3", "We will meet again after the storm."),
    ("speech_3.wav", "en-gb+m3", "The secret hides inside the picture."),
    ("speech_4.wav", "en-us+f2", "Every photo can carry a voice."),
]
SPEECH_LONG = (
    "speech_long.wav",
    "en-us",
    "Steganography hides one message inside another. "
    "A face can carry a voice, and a song can carry a picture. "
    "Only the person with the key can bring the secret back.",
)


def _require_espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        sys.exit(
            "make_assets.py: espeak-ng not found on PATH; it is needed to synthesise the speech clips.\n"
            "Install it with `apt-get install espeak-ng` (Debian/Ubuntu) or `brew install espeak-ng`."
        )
    return exe


def _save_png(arr: np.ndarray, name: str) -> None:
    from PIL import Image

    Image.fromarray(arr.astype(np.uint8), "RGB").save(ASSETS / name, optimize=True)


def _square_resize(arr: np.ndarray, box: tuple[int, int, int], size: int) -> np.ndarray:
    from PIL import Image

    x0, y0, side = box
    crop = arr[y0 : y0 + side, x0 : x0 + side]  # side x side x 3
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.Resampling.LANCZOS))


def make_images() -> None:
    from skimage import data

    astro = data.astronaut()  # 512 x 512 x 3 uint8
    _save_png(_square_resize(astro, FACE_CROP, 384), "face.png")
    _save_png(_square_resize(astro, FACE_CROP, 160), "face160.png")

    coffee = data.coffee()  # 400 x 600 x 3 uint8
    h, w = coffee.shape[:2]
    side = min(h, w)
    _save_png(_square_resize(coffee, ((w - side) // 2, (h - side) // 2, side), 256), "photo.png")


def _synthesise(exe: str, voice: str, text: str) -> np.ndarray:
    """espeak-ng -> float64 mono at SPEECH_RATE, trimmed and peak-normalised."""
    import soundfile as sf
    from scipy.signal import resample_poly

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "tts.wav"
        subprocess.run([exe, "-v", voice, "-s", str(ESPEAK_SPEED), "-w", str(wav), text], check=True)
        x, sr = sf.read(wav, dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    g = np.gcd(sr, SPEECH_RATE)
    x = resample_poly(x, SPEECH_RATE // g, sr // g)
    # trim: first/last 10 ms frame whose peak exceeds -40 dB of the clip peak, plus a small margin
    hop = SPEECH_RATE // 100
    frames = np.abs(x[: len(x) // hop * hop]).reshape(-1, hop).max(axis=1)
    loud = np.flatnonzero(frames > 0.01 * frames.max())
    margin = int(MARGIN_S * SPEECH_RATE)
    start = max(0, loud[0] * hop - margin)
    stop = min(len(x), (loud[-1] + 1) * hop + margin)
    x = x[start:stop]
    return PEAK * x / np.abs(x).max()


def make_speech() -> None:
    import soundfile as sf

    exe = _require_espeak()
    for name, voice, text in SPEECH:
        x = _synthesise(exe, voice, text)
        dur = len(x) / SPEECH_RATE
        if not 2.0 <= dur <= 3.0:
            sys.exit(f"make_assets.py: {name} is {dur:.2f} s, outside 2.0-3.0 s; shorten/lengthen its text")
        sf.write(ASSETS / name, x, SPEECH_RATE, subtype="PCM_16")
        flac = io.BytesIO()
        sf.write(flac, sf.read(ASSETS / name)[0], SPEECH_RATE, format="FLAC", subtype="PCM_16")
        if len(flac.getvalue()) > FLAC_MAX:
            size = len(flac.getvalue())
            sys.exit(f"make_assets.py: {name} is {size} bytes as FLAC (> {FLAC_MAX}); shorten its text")
    name, voice, text = SPEECH_LONG
    sf.write(ASSETS / name, _synthesise(exe, voice, text), SPEECH_RATE, subtype="PCM_16")


def make_video(n_frames: int = 16, size: int = 128, fps: int = 8) -> None:
    """A slow diagonal pan with a gentle zoom-in over skimage's chelsea (300 x 451)."""
    import imageio_ffmpeg
    from PIL import Image
    from skimage import data

    cat = Image.fromarray(data.chelsea())
    writer = imageio_ffmpeg.write_frames(
        str(ASSETS / "clip.mp4"),
        (size, size),
        fps=fps,
        codec="libx264",
        pix_fmt_out="yuv420p",
        quality=None,
        macro_block_size=16,
        output_params=["-crf", "12", "-preset", "slow", "-threads", "1",
                       "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1"],
    )  # fmt: skip
    writer.send(None)
    for t in np.linspace(0.0, 1.0, n_frames):
        side = 260.0 - 60.0 * t  # zoom in from 260 px to 200 px of the source
        cx, cy = 190.0 + 60.0 * t, 150.0 - 10.0 * t  # pan right, slightly up
        box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
        frame = cat.transform((size, size), Image.Transform.EXTENT, box, Image.Resampling.BICUBIC)
        writer.send(np.ascontiguousarray(np.asarray(frame, dtype=np.uint8)))
    writer.close()


def make_small_secrets() -> None:
    """Small secrets derived from the files above, written by crossteg's own writers: a few seconds of cover under
    deepsteg, stft or deepsteg-video, or a 16-bit WAV under LSB, hold a 64x64 image or 4 small frames, not
    face.png or clip.mp4, so `crossteg eval`, the report and the robustness sweep need these to show them at work."""
    from PIL import Image

    from crossteg import media

    speech = media.load(ASSETS / "speech_1.wav")
    media.save(media.Audio(speech.samples[:, : int(SHORT_SPEECH_S * speech.sample_rate)], speech.sample_rate),
               ASSETS / "speech_short.wav", force=True)

    def small(frame: np.ndarray) -> np.ndarray:
        side = (SMALL_SIDE, SMALL_SIDE)
        return np.asarray(Image.fromarray(frame).convert("RGB").resize(side, Image.Resampling.LANCZOS))

    with Image.open(ASSETS / "face160.png") as face:
        media.save(media.Image.from_uint8(small(np.asarray(face))), ASSETS / f"face{SMALL_SIDE}.png", force=True)
    clip = media.load(ASSETS / "clip.mp4")
    frames = np.stack([small(f) for f in (clip.frames[:SHORT_CLIP_FRAMES] * 255).round().astype(np.uint8)])
    media.save(media.Video(frames.astype(np.float32) / 255, clip.fps), ASSETS / "clip_short.mp4", force=True)


def make_mesh() -> None:
    import trimesh

    mesh = trimesh.creation.torus(major_radius=1.0, minor_radius=0.35, major_sections=48, minor_sections=24)
    assert mesh.is_watertight and len(mesh.faces) < 3000
    mesh.export(ASSETS / "mesh.ply", file_type="ply", encoding="binary")


SOURCES_HEAD = """\
# Bundled assets: sources and licences

Tiny samples for `crossteg demo` and the tests. All files are regenerated by
`.venv/bin/python scripts/make_assets.py` (needs espeak-ng for the speech clips; see the script's docstring).

| file | origin | how it was made | licence |
|---|---|---|---|
"""
SKIMAGE_NOTE = "per scikit-image's `skimage/data/_fetchers.py` docstrings"
SOURCES_NOTE = """
Speech clips are synthesised with espeak-ng {espeak} (`espeak-ng -v VOICE -s {speed} -w out.wav "TEXT"`),
resampled to {rate} Hz mono with `scipy.signal.resample_poly`, trimmed to {margin} s of silence either side
(threshold -40 dB of the peak), peak-normalised to {peak} and written as 16-bit PCM WAV. espeak-ng is
GPL-3.0, but its synthesised audio output is not covered by that licence; these clips are generated by us
and released CC0.
"""


def _source_rows() -> list[tuple[str, str, str, str]]:
    """(file, origin, how it was made, licence) for every asset."""
    import skimage
    import soundfile as sf
    import trimesh

    x0, y0, side = FACE_CROP
    crop = f"square crop x={x0}..{x0 + side}, y={y0}..{y0 + side} of the 512x512 image"
    rows = [
        ("face.png",
         "`skimage.data.astronaut()`: NASA portrait of astronaut Eileen Collins (NASA Great Images, "
         f"via scikit-image {skimage.__version__})",
         f"{crop}, Lanczos resize to 384x384, 8-bit RGB PNG",
         f'public domain (NASA; "no known copyright restrictions", {SKIMAGE_NOTE})'),
        ("face160.png", "same as face.png", "same crop, resized to 160x160 (THInImg container size)",
         "public domain (NASA)"),
        ("photo.png",
         "`skimage.data.coffee()`: coffee cup, photo by Rachel Michetti, courtesy of Pikolo Espresso Bar",
         "centre square crop 400x400 of the 400x600 image, Lanczos resize to 256x256, 8-bit RGB PNG",
         f'CC0 ("No copyright restrictions. CC0 by the photographer", {SKIMAGE_NOTE})'),
    ]  # fmt: skip
    for name, voice, text in [*SPEECH, SPEECH_LONG]:
        dur = sf.info(ASSETS / name).duration
        how = f"{dur:.2f} s, {SPEECH_RATE} Hz mono, 16-bit PCM (see below)"
        origin = f'espeak-ng synthesis, voice `{voice}`, text "{text}"'
        rows.append((name, origin, how, "generated by us, CC0"))
    faces = len(trimesh.load(ASSETS / "mesh.ply").faces)
    rows += [
        ("clip.mp4", "`skimage.data.chelsea()`: Chelsea the cat, photo by Stefan van der Walt",
         "16 frames, 128x128, 8 fps: slow pan and zoom (bicubic resampling of a moving window), "
         "H.264 (libx264, yuv420p, crf 12) via imageio-ffmpeg",
         f"source photo CC0 ({SKIMAGE_NOTE}); the clip is generated by us, CC0"),
        ("speech_short.wav", "speech_1.wav", f"its first {SHORT_SPEECH_S} s, 16-bit PCM", "generated by us, CC0"),
        (f"face{SMALL_SIDE}.png", "face160.png", f"Lanczos resize to {SMALL_SIDE}x{SMALL_SIDE}, 8-bit RGB PNG",
         "public domain (NASA)"),
        ("clip_short.mp4", "clip.mp4", f"its first {SHORT_CLIP_FRAMES} frames, Lanczos resize to "
         f"{SMALL_SIDE}x{SMALL_SIDE}, written by crossteg's video writer", "as clip.mp4: CC0"),
        ("mesh.ply", "procedural",
         "`trimesh.creation.torus(major_radius=1.0, minor_radius=0.35, major_sections=48, "
         f"minor_sections=24)`: watertight, {faces} faces, binary PLY",
         "generated by us, CC0"),
    ]  # fmt: skip
    return rows


def _espeak_version() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        return "(unknown version)"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    return out.split("Data at")[0].replace("eSpeak NG text-to-speech:", "").strip()


def write_sources() -> None:
    table = "".join("| " + " | ".join(row) + " |\n" for row in _source_rows())
    note = SOURCES_NOTE.format(espeak=_espeak_version(), speed=ESPEAK_SPEED, rate=SPEECH_RATE,
                               margin=MARGIN_S, peak=PEAK)  # fmt: skip
    (ASSETS / "SOURCES.md").write_text(SOURCES_HEAD + table + note)


def main() -> None:
    _require_espeak()
    ASSETS.mkdir(parents=True, exist_ok=True)
    make_images()
    make_speech()
    make_video()
    make_small_secrets()
    make_mesh()
    write_sources()
    total = 0
    for p in sorted(ASSETS.iterdir()):
        if p.is_file():
            total += p.stat().st_size
            print(f"{p.name:18s} {p.stat().st_size / 1024:8.1f} kB")
    print(f"{'total':18s} {total / 1024:8.1f} kB")


if __name__ == "__main__":
    main()
