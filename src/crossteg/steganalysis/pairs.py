"""Cover/stego pairs for training and evaluating detectors, made by the method itself and read back from files.

    offline source (skimage photo, bundled speech, espeak-ng, recorded prompts, synthetic signal)
      ─> random crop / rescale / gain ─> cover ─save─> cover.png|.wav ─load─┐
      ─> method.hide(cover, payload, random key) ─save─> stego.png|.wav ─load┴─> Pair(cover, stego, source)

Sources are split once, by name, into training and held-out ones (`Source.held_out`): no source, nor any file
derived from it, is on both sides. Nothing is downloaded.

What an attacker compares (`attacker_view`): the stego file is written as the method writes it (its
`stego_subtype()`, e.g. flowhide's float32 WAV). When the stego audio has another rate or more channels than
the cover (flowhide: a 22.05 kHz stereo file, stego channel + cover channel, from a 16 kHz mono cover), the
attacker has no 16 kHz original to look at: what they see is a speech file at the stego's rate. So the cover
side of the pair is the cover resampled to that rate (the same resampler the method used) and written in the
same subtype, and the stego side is the stego channel that departs most from it (flowhide's channel 0; its
channel 1 *is* the resampled cover). Both halves are then mono, same rate, same length, same sample format.
A stego INR (inrsteg) is seen as the image or audio it renders, written as PNG/WAV: INRSteg's Table 4 compares
those renderings with the original covers.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from crossteg import media
from crossteg.errors import CapacityError
from crossteg.evaluate import assets_dir, samples_by_modality
from crossteg.fitting import fits
from crossteg.media import Audio, Image
from crossteg.methods.base import Method
from crossteg.train import data

PAYLOADS = (0.4, 1.0)  # fractions of lsb capacity filled with random bytes (byte-hiding methods)
SAMPLE_RATE = 16000
MEDIA_SUFFIX = {"image": ".png", "audio": ".wav"}  # how covers (and rendered stegos) are written
SKIMAGE_LICENSE = "scikit-image 0.26 sample data; public domain or CC0 per skimage/data/_fetchers.py docstrings"
BUNDLED_LICENSE = "crossteg bundled assets, see crossteg/assets/SOURCES.md (public domain / CC0)"


@dataclass(frozen=True)
class Source:
    """One origin of covers; every cover cut from it lands on the same side of the train/held-out split."""

    name: str
    modality: str
    held_out: bool
    load: Callable[[], Any]  # -> Image or Audio
    license: str


def _skimage(name: str, grey: bool) -> Callable[[], Image]:
    def load() -> Image:
        import skimage.data

        arr = getattr(skimage.data, name)()
        if grey:  # pseudo-colour: three one-pixel-shifted views, correlated like real colour channels
            arr = np.stack([arr[:-1, :-1], arr[:-1, 1:], arr[1:, :-1]], axis=-1)
        return Image.from_uint8(arr[..., :3])

    return load


def _asset(name: str) -> Callable[[], Any]:
    return lambda: media.load(assets_dir() / name)


_COLOUR = {"astronaut": True, "coffee": True, "rocket": True, "chelsea": False, "hubble_deep_field": False,
           "immunohistochemistry": False, "retina": False}  # name -> held out
_GREY = {"camera": True, "gravel": True, "brick": False, "cell": False, "clock": False, "coins": False,
         "grass": False, "text": False}
_SPEECH = {"speech_1.wav": False, "speech_2.wav": False, "speech_3.wav": True, "speech_4.wav": True,
           "speech_long.wav": True}
VOICES = ("en-us", "en-gb", "en+f2", "en-us+m3", "en-gb+f4", "en+m7", "en-us+f5", "en-gb-scotland")
TEXTS = ("The quick brown fox jumps over the lazy dog near the river bank.",
         "Please call me back when you have read the report on the new budget.",
         "A small boat drifted slowly past the lighthouse as the sun went down.",
         "Numbers like three hundred and forty two are hard to hear in noise.",
         "She sells sea shells by the sea shore every summer morning.",
         "Turn left at the second traffic light, then keep going straight ahead.")  # fmt: skip
SYNTHETIC_COUNT = 24
RECORDED_RUNS, PROMPTS_PER_RUN = 12, 4  # clips per recorded speaker, prompts strung into each
RECORDED_LICENSE = ("asterisk-core-sounds recordings: CC-BY-SA-3.0 (en, es, it), CC-BY-3.0 (ru), see "
                    "/usr/share/doc/asterisk-core-sounds-*/copyright")


def image_sources() -> list[Source]:
    """skimage photos (colour, and grey ones as pseudo-colour) plus the bundled images derived from them."""
    sources = [Source(n, "image", h, _skimage(n, False), SKIMAGE_LICENSE) for n, h in _COLOUR.items()]
    sources += [Source(n, "image", h, _skimage(n, True), SKIMAGE_LICENSE) for n, h in _GREY.items()]
    # face.png is cut from astronaut, photo.png from coffee: both held out with their originals
    sources += [Source(f"astronaut/{n}", "image", True, _asset(n), BUNDLED_LICENSE) for n in ("face.png",)]
    sources += [Source("coffee/photo.png", "image", True, _asset("photo.png"), BUNDLED_LICENSE)]
    return sources


def audio_sources(espeak: bool = True, recorded: bool = True) -> list[Source]:
    """Bundled speech, espeak-ng sentences and recorded speakers' prompts (each when installed), synthetic
    tones/noise; every 4th of a kind is held out."""
    sources = [Source(n, "audio", h, _asset(n), BUNDLED_LICENSE) for n, h in _SPEECH.items()]
    if espeak and shutil.which("espeak-ng"):
        for i, (voice, text) in enumerate((v, t) for v in VOICES for t in TEXTS):
            sources.append(Source(f"espeak {voice} #{TEXTS.index(text)}", "audio", i % 4 == 0,
                                  _espeak(voice, text), "synthesised with espeak-ng by crossteg, CC0"))
    if recorded:  # the speakers the other models trained on; RECORDED_HELD_OUT stays apart for benchmarks
        for voice in data.RECORDED_VOICES:
            sources += [Source(f"{voice} prompts #{i}", "audio", i % 4 == 0, load, RECORDED_LICENSE)
                        for i, load in enumerate(recorded_runs(voice, RECORDED_RUNS))]
    sources += [Source(f"synthetic #{i}", "audio", i % 4 == 0, _synthetic(i), "generated by crossteg, CC0")
                for i in range(SYNTHETIC_COUNT)]
    return sources


def sources_for(modality: str, held_out: bool, espeak: bool = True, recorded: bool = True) -> list[Source]:
    everything = image_sources() if modality == "image" else audio_sources(espeak, recorded)
    return [s for s in everything if s.held_out == held_out]


def recorded_runs(voice: str, count: int, per_run: int = PROMPTS_PER_RUN) -> list[Callable[[], Audio]]:
    """Loaders of up to `count` 16 kHz clips, each `per_run` consecutive recorded prompts of `voice` (train/data),
    the runs spread evenly over the speaker's prompts; [] when its package is not installed."""
    if not data.recorded_files(voice):
        return []
    prompts = data.recorded_prompts(voice, SAMPLE_RATE)
    runs = [prompts[i:i + per_run] for i in range(0, len(prompts), per_run)]
    chosen = [np.concatenate(run)[None] for run in runs[::max(1, len(runs) // count)][:count]]
    return [partial(Audio, clip, SAMPLE_RATE) for clip in chosen]


@cache
def _espeak_clip(voice: str, text: str) -> Audio:
    with tempfile.TemporaryDirectory(prefix="crossteg-espeak-") as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text], check=True,
                       capture_output=True, timeout=60)
        return media.load_audio(wav, sample_rate=SAMPLE_RATE, mono=True)


def _espeak(voice: str, text: str) -> Callable[[], Audio]:
    return lambda: _espeak_clip(voice, text)


def _synthetic(seed: int) -> Callable[[], Audio]:
    """Tones with vibrato and tremolo, a chirp or coloured noise, over a noise floor of -100 to -50 dBFS."""

    def load() -> Audio:
        rng = np.random.default_rng([7, seed])
        t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
        kind = seed % 3
        if kind == 0:  # harmonic tone, vibrato and tremolo
            f0 = rng.uniform(110, 440) * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(3, 7) * t))
            phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
            x = sum(rng.uniform(0.1, 1) / k * np.sin(k * phase) for k in range(1, 8))
            x = x * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t))
        elif kind == 1:  # linear chirp
            f_start, f_end = rng.uniform(100, 1000), rng.uniform(1000, 7000)
            x = np.sin(2 * np.pi * (f_start * t + (f_end - f_start) * t ** 2 / (2 * t[-1])))
        else:  # low-pass (one-pole) filtered noise
            a = rng.uniform(0.5, 0.98)
            from scipy.signal import lfilter

            x = lfilter([1 - a], [1, -a], rng.standard_normal(t.size))
        x = 0.9 * np.asarray(x) / np.max(np.abs(x))
        x = x + 10 ** (rng.uniform(-100, -50) / 20) * rng.standard_normal(t.size)
        return Audio(x.astype(np.float32), SAMPLE_RATE)

    return load


# Covers ---------------------------------------------------------------------------------------------------

def image_cover(source: Image, size: int, rng: np.random.Generator) -> Image:
    """A size x size crop: native pixels half the time, else a larger crop Lanczos-downscaled; random rot/flip."""
    from PIL import Image as PILImage

    arr = source.to_uint8()
    h, w = arr.shape[:2]
    side = size if rng.random() < 0.5 else int(rng.integers(size, max(size, min(h, w)) + 1))
    side = min(side, h, w)
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = arr[top:top + side, left:left + side]
    if side != size:
        crop = np.asarray(PILImage.fromarray(crop).resize((size, size), PILImage.Resampling.LANCZOS))
    crop = np.rot90(crop, int(rng.integers(4)))
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return Image.from_uint8(np.ascontiguousarray(crop))


def audio_cover(source: Audio, length: int, rng: np.random.Generator) -> Audio:
    """`length` frames of the first channel at a random offset; native samples or a random gain (re-quantised)."""
    x = source.samples[0]
    if x.size < length:
        x = np.tile(x, -(-length // x.size))
    start = int(rng.integers(0, x.size - length + 1))
    clip = x[start:start + length].astype(np.float64)
    if rng.random() < 0.7:  # the level of real recordings varies; native 16-bit values the rest of the time
        clip = clip * rng.uniform(0.25, 1.0) * 0.9 / max(float(np.abs(clip).max()), 1e-6)
    return Audio.from_int16(np.clip(np.round(clip * 32768), -32768, 32767).astype(np.int16), source.sample_rate)


# Pairs ----------------------------------------------------------------------------------------------------

@dataclass
class Pair:
    cover: Any  # Image or Audio, as read back from its file
    stego: Any
    source: str
    payload: str  # "40%", "100%" (byte-hiding methods) or "typical"


def _secret(method: Method, cover: Any, fraction: float, rng: np.random.Generator) -> Any:
    """Random bytes filling `fraction` of the capacity, or the first bundled sample of a secret modality that fits."""
    if method.hides_bytes:
        return rng.bytes(max(1, int(fraction * method.capacity(cover).amount)))
    bundled = samples_by_modality(None)
    for modality in method.secret:
        for path in bundled.get(modality, []):
            if fits(method, secret := media.load(path), cover):
                return secret
    raise CapacityError(f"no bundled secret fits a cover of {method.id}")


def fitting_length(method: Method, length: int, limit: int = 32) -> int:
    """`length` (16 kHz frames), or the shortest longer clip, in whole seconds more, that a bundled secret fits
    in: a method whose capacity shrank since its detector was trained still gets pairs like the card's."""
    if method.hides_bytes:
        return length
    for extra in range(limit + 1):
        cover = Audio(np.zeros((1, length + extra * SAMPLE_RATE), np.float32), SAMPLE_RATE)
        try:
            _secret(method, cover, 1.0, np.random.default_rng(0))
        except CapacityError:
            continue
        return length + extra * SAMPLE_RATE
    raise CapacityError(f"no bundled secret fits {method.id} in {length / SAMPLE_RATE + limit:g} s of audio")


def attacker_view(cover: Any, stego: Any) -> tuple[Any, Any]:
    """The cover and the stego as a detector compares them: same rate, one channel each, same length.

    Images and audio stegos of the cover's own rate and channels are returned unchanged. Otherwise the cover
    is resampled to the stego's rate and the stego channel farthest (mean squared) from it is kept: the one
    carrying the secret in a file that holds the clean cover beside it (flowhide, paper sec. 4.1).
    """
    if cover.modality != "audio" or (stego.sample_rate == cover.sample_rate and stego.channels == cover.channels):
        return cover, stego
    seen = cover.mono().resample(stego.sample_rate).samples[0]
    n = min(seen.size, stego.frames)
    distance = ((stego.samples[:, :n] - seen[None, :n]) ** 2).mean(axis=1)
    channel = int(np.argmax(distance))
    return Audio(seen[None, :n].copy(), stego.sample_rate), Audio(stego.samples[channel:channel + 1, :n].copy(),
                                                                     stego.sample_rate)


def _save_read(obj: Any, path: Path, subtype: str | None) -> Any:
    """Write `obj` (audio in `subtype` when given) and read back what the file holds."""
    options = {"subtype": subtype} if subtype and obj.modality == "audio" else {}
    return media.load(media.save(obj, path, force=True, **options))


def make_pairs(method: Method, sources: list[Source], count: int, rng: np.random.Generator, workdir: Path,
               size: int = 128, length: int = SAMPLE_RATE) -> Iterator[Pair]:
    """Up to `count` pairs, sources taken in turn, each with every payload of PAYLOADS; files written under
    `workdir` (the stego in the method's own file format) and read back, then brought to `attacker_view`. A cover
    the method refuses (CapacityError) gives no pair, with a warning."""
    loaded: dict[str, Any] = {}
    payloads = PAYLOADS if method.hides_bytes else (None,)
    subtype = method.stego_subtype()
    for i in range(count):
        source = sources[(i // len(payloads)) % len(sources)]
        if source.name not in loaded:
            loaded[source.name] = source.load()
        original = loaded[source.name]
        cover = image_cover(original, size, rng) if source.modality == "image" else audio_cover(original, length, rng)
        fraction = payloads[i % len(payloads)]
        secret = _secret(method, cover, fraction or 1.0, rng)
        try:
            stego = method.hide(cover, secret, key=rng.bytes(16).hex())
        except CapacityError as refused:  # e.g. thinimg refusing a container it could not read back: no pair
            warnings.warn(f"{method.id} refused a cover from {source.name}: {refused}", stacklevel=2)
            continue
        suffix = MEDIA_SUFFIX[cover.modality]
        cover = _save_read(cover, workdir / f"{i:05d}-cover{suffix}", None)
        stego = _save_read(stego, workdir / f"{i:05d}-stego{method.stego_suffix(cover)}", subtype)
        seen = method.render_cover(stego)
        if seen is not stego:  # an INR is published as the media it renders, written as an ordinary file
            stego = _save_read(seen, workdir / f"{i:05d}-stego-rendered{suffix}", subtype)
        seen_cover, seen_stego = attacker_view(cover, stego)
        if seen_cover is not cover:  # resampled: written as the stego's format, as the stego file holds it
            seen_cover = _save_read(seen_cover, workdir / f"{i:05d}-cover-seen{suffix}", subtype)
        label = "typical" if fraction is None else f"{round(100 * fraction)}%"
        yield Pair(seen_cover, seen_stego, source.name, label)
