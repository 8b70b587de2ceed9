"""Training data made on this machine: synthetic speech from many espeak-ng voices, and photo crops.

Nothing is downloaded. Speech comes from `espeak-ng` (GPL-3 program; its output is not covered by the GPL),
installed with `apt-get install espeak-ng` (Debian); photos are the colour and greyscale images that ship inside
scikit-image (public domain / CC0 / BSD, see skimage.data's docs) plus any folder the caller adds. `astronaut` is
left out on purpose: the bundled evaluation face (assets/face.png) is a crop of it, and the evaluation set is
kept apart from training data.

A second synthesiser, `flite` (`apt-get install flite`, BSD-style licence), gives speech no model was trained on:
its voices kal16 (diphones of a recorded speaker) and awb, rms, slt (statistical models of three CMU ARCTIC
speakers, the corpus of THInImg's second dataset) are a check that what was learnt from espeak-ng's formant
voices carries over to other speech (`engine="flite"`); it is never used for training.

Recorded speech, for training and for the check on real voices: Debian's `asterisk-core-sounds-*-g722`
packages hold ~570 telephone-menu prompts each, read by professional speakers and stored as 16 kHz G.722
(CC-BY-SA-3.0, Russian CC-BY-3.0; see /usr/share/doc/asterisk-core-sounds-*/copyright): Allison Smith (US
English and Mexican Spanish), Carlo Flora (Italian), the IvrvoiceRU speaker (Russian) are RECORDED_VOICES for
training; June Wallack (Canadian French) and alsa-utils' channel-test voice (`speaker-test`'s eight phrases,
/usr/share/sounds/alsa, GPL-2 package) are RECORDED_HELD_OUT, never trained on.

Generated clips are cached under `~/.cache/crossteg/speech/` (`$XDG_CACHE_HOME/crossteg/speech/` where that is
set; by engine, voice, text and rate), so a resumed training run reuses them.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import soundfile as sf

from crossteg.errors import CrossTegError
from crossteg.media.audio import load_audio, resample
from crossteg.train import CACHE as TRAINING_CACHE

SPEECH_RATE = 16_000
CACHE = TRAINING_CACHE / "speech"

# espeak-ng languages with clear Latin-script phonetics and a spread of variants (male/female/characters):
# a voice is "<language>+<variant>", giving 12 x 24 = 288 distinct voices.
LANGUAGES = ("en-us", "en-gb", "en-gb-scotland", "en-029", "de", "fr-fr", "es", "it", "nl", "pt", "pl", "sv")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "croak", "klatt", "klatt2",
            "klatt3", "whisperf", "Andy", "Annie", "Denis", "Gene", "Jacky", "Mr serious", "Storm")
_WORD_TEXT = ("time person year way day thing man world life hand part child eye woman place work week case point "
         "number group problem fact water voice picture secret morning river garden window letter story music "
         "city light paper mountain answer silence table friend market summer winter evening station bridge "
         "carry bring leave hold follow remember open close listen whisper travel hide find keep send write "
         "quick quiet bright dark early late small large green golden careful simple strange gentle hidden "
         "always never often together tomorrow tonight under over behind across between inside")
WORDS = tuple(_WORD_TEXT.split())

# flite's English voices at 16 kHz: kal16 (diphone), awb, rms, slt (clustergen models of CMU ARCTIC speakers)
FLITE_VOICES = ("kal16", "awb", "rms", "slt")
# festival voices (Debian festvox-* packages): diphone voices cut from recordings of real speakers (English,
# Italian, Czech, Finnish), a cluster-unit selection voice (Russian) and two HTS voices (US English, Catalan);
# each speaks our English word lists with its own language's phones, which is what a vocoder needs: more voices
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts", "lp_diphone", "pc_diphone", "czech_dita",
                   "czech_machac", "czech_ph", "suo_fi_lj_diphone", "hy_fi_mv_diphone", "msu_ru_nsh_clunits",
                   "upc_ca_ona_hts")
FESTIVAL_PACKAGES = ("festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts festvox-italp16k "
                     "festvox-itapc16k festvox-czech-dita festvox-czech-machac festvox-czech-ph festvox-suopuhe-lj "
                     "festvox-suopuhe-mv festvox-ru festvox-ca-ona-hts")

# recorded speakers: (asterisk sounds directory or "alsa", the Debian package that installs it)
RECORDED_VOICES = {"en_US_f_Allison": "asterisk-core-sounds-en-g722",
                   "es_MX_f_Allison": "asterisk-core-sounds-es-g722",
                   "it_IT_m_Carlo": "asterisk-core-sounds-it-g722",
                   "ru_RU_f_IvrvoiceRU": "asterisk-core-sounds-ru-g722"}
RECORDED_HELD_OUT = {"fr_CA_f_June": "asterisk-core-sounds-fr-g722", "alsa": "alsa-utils"}
# asterisk's silence/1..10 prompts are 1-10 s of line noise at -80 dBFS, which peak normalisation turned into loud
# white noise among the speech (found in table 1r: a held-out "speech" clip at a constant -12 dB, whose PESQ-WB swung
# 1.1-2.9 with the refinement's step count): recordings whose peak is below this are not speech, and left out
MIN_RECORDING_PEAK = 0.01  # -40 dBFS
ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds")
ALSA_SOUNDS = Path("/usr/share/sounds/alsa")

# photographs among Debian's desktop wallpapers (the drawn and abstract ones left out), for codecs that see video
# frames at their own scale: (package, its folder, the photos' names); GPL-2+ (see /usr/share/doc/<package>/copyright)
DESKTOP_PHOTOS = (("plasma-workspace-wallpapers", Path("/usr/share/wallpapers"),
                   ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey",
                    "Kite", "OneStandsOut", "Volna", "summer_1am")),
                  ("mate-backgrounds", Path("/usr/share/backgrounds/mate/nature"),
                   ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops",
                    "TwoWings", "Wood", "YellowFlower")))
DESKTOP_HELD_OUT = ("/usr/share/wallpapers/Path", "/usr/share/backgrounds/mate/nature/Storm.jpg")  # never trained on
DESKTOP_SHORT_SIDE = 1080  # larger wallpapers are scaled down to a 1080p frame's height

PHOTO_NAMES = ("chelsea", "coffee", "hubble_deep_field", "immunohistochemistry", "retina", "rocket",
               "stereo_motorcycle", "colorwheel", "brick", "camera", "grass", "gravel", "moon", "coins", "clock",
               "page", "text")


def voices() -> list[str]:
    """Every espeak-ng voice string this module synthesises with."""
    return [f"{lang}+{variant}" for lang in LANGUAGES for variant in VARIANTS]


def sentence(rng: np.random.Generator, words: int) -> str:
    """A random sequence of common English words (prosody and phonemes vary; meaning does not matter)."""
    return " ".join(rng.choice(WORDS, size=words)).capitalize() + "."


def synthesize(text: str, voice: str, speed: int = 160, pitch: int = 50, rate: int = SPEECH_RATE) -> np.ndarray:
    """Mono float32 speech of `text` by espeak-ng voice `voice`, resampled to `rate`, peak ~0.9 (cached)."""

    def run() -> tuple[np.ndarray, int]:
        wav = subprocess.run([_program("espeak-ng"), "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout",
                              text], capture_output=True, check=True).stdout
        return sf.read(io.BytesIO(wav), dtype="float32")

    return _cached(f"{text}|{voice}|{speed}|{pitch}|{rate}", run, rate)


def synthesize_flite(text: str, voice: str, stretch: float = 1.0, rate: int = SPEECH_RATE) -> np.ndarray:
    """Mono float32 speech of `text` by flite voice `voice`, durations stretched by `stretch`, resampled to
    `rate`, peak ~0.9 (cached)."""

    def run() -> tuple[np.ndarray, int]:
        with tempfile.TemporaryDirectory(prefix="crossteg-flite-") as tmp:
            out = Path(tmp) / "speech.wav"
            subprocess.run([_program("flite"), "-voice", voice, "--setf", f"duration_stretch={stretch:.3f}",
                            "-t", text, "-o", str(out)], capture_output=True, check=True)
            return sf.read(out, dtype="float32")

    return _cached(f"flite|{text}|{voice}|{stretch:.3f}|{rate}", run, rate)


def synthesize_festival(text: str, voice: str, stretch: float = 1.0, rate: int = SPEECH_RATE) -> np.ndarray:
    """Mono float32 speech of `text` by festival voice `voice` (FESTIVAL_VOICES), durations stretched by
    `stretch`, resampled to `rate`, peak ~0.9 (cached)."""

    def run() -> tuple[np.ndarray, int]:
        with tempfile.TemporaryDirectory(prefix="crossteg-festival-") as tmp:
            (Path(tmp) / "text.txt").write_text(text)
            out = Path(tmp) / "speech.wav"
            subprocess.run([_program("text2wave", FESTIVAL_PACKAGES), "-eval", f"(voice_{voice})", "-eval",
                            f"(Parameter.set 'Duration_Stretch {stretch:.3f})", str(Path(tmp) / "text.txt"), "-o",
                            str(out)], capture_output=True, check=True)
            if not out.exists():  # text2wave exits 0 without a file when the voice is not installed
                raise CrossTegError(f"festival has no voice {voice}: run `apt-get install {FESTIVAL_PACKAGES}` "
                                    "(Debian) first")
            return sf.read(out, dtype="float32")

    return _cached(f"festival|{text}|{voice}|{stretch:.3f}|{rate}", run, rate)


def _program(name: str, packages: str | None = None) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise CrossTegError(f"this speech data needs {name}: run `apt-get install {packages or name}` (Debian) "
                            "first")
    return exe


def _cached(key: str, run: Callable[[], tuple[np.ndarray, int]], rate: int) -> np.ndarray:
    """The speech `run` synthesises, resampled to `rate` and normalised to peak 0.9; cached on disk by `key`."""
    cached = CACHE / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.wav"
    if cached.exists():
        return sf.read(cached, dtype="float32")[0]
    samples, source_rate = run()
    samples = _peak_normalised(resample(samples[None, :], source_rate, rate)[0])
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp.wav")  # per process: two trainers may synthesise one clip
    sf.write(tmp, samples, rate, subtype="FLOAT")
    tmp.replace(cached)
    return samples


def recorded_prompts(voice: str, rate: int = SPEECH_RATE) -> list[np.ndarray]:
    """Every recording of speaker `voice` (RECORDED_VOICES or RECORDED_HELD_OUT), in file-name order, mono float32
    at `rate`, each normalised to peak 0.9; decoded once and cached."""
    files = recorded_files(voice)
    if not files:
        package = {**RECORDED_VOICES, **RECORDED_HELD_OUT}[voice]
        raise CrossTegError(f"recorded speech of {voice} needs `apt-get install {package}` (Debian) first")
    cached = CACHE / f"recorded-{voice}-{len(files)}-{rate}-peak{MIN_RECORDING_PEAK:g}.npz"
    if cached.exists():
        with np.load(cached) as archive:
            return [archive[f"arr_{i}"] for i in range(len(archive.files))]
    prompts = [p for p in (_recording(f, rate) for f in files) if p is not None]
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, *prompts)  # stored as arr_0, arr_1, ...
    tmp.replace(cached)
    return prompts


def recorded_files(voice: str) -> list[Path]:
    """The recordings of speaker `voice` installed on this machine, sorted by path; [] when none are."""
    folder = ALSA_SOUNDS if voice == "alsa" else ASTERISK_SOUNDS / voice
    return sorted(f for f in folder.rglob("*.wav" if voice == "alsa" else "*.g722") if f.stem != "Noise")


def held_out_voices(engine: str = "espeak-ng") -> list[str]:
    """The voice pool of speakers no model trained on: split_voices' held-out espeak-ng voices, or the
    RECORDED_HELD_OUT speakers (`engine="recorded"`)."""
    return list(RECORDED_HELD_OUT) if engine == "recorded" else split_voices()[1]


def _recording(path: Path, rate: int) -> np.ndarray | None:
    """A recording (WAV, or raw G.722 that ffmpeg recognises by its extension) mono at `rate`, peak 0.9; None
    when shorter than 0.1 s (some prompt files are empty) or quieter than MIN_RECORDING_PEAK (silence prompts)."""
    samples = load_audio(path, rate, mono=True).samples[0]
    if len(samples) < rate // 10 or float(np.abs(samples).max()) < MIN_RECORDING_PEAK:
        return None
    return _peak_normalised(samples)


def _peak_normalised(samples: np.ndarray) -> np.ndarray:
    return (0.9 * samples / max(float(np.abs(samples).max()), 1e-6)).astype(np.float32)


# a card's words for each extra speech source: (data, license, flag, deviation); {n} clips of {lengths}
_EXTRA_SPEECH = {
    "festival": (" and {n} festival clips of {lengths} (its 12 FESTIVAL_VOICES: diphone voices of recorded speakers, "
                 "random tempo)",
                 "; festival output (its voices are BSD-style, GPL-2+ or LGPL-2.1+ licensed, see "
                 "/usr/share/doc/festvox-*/copyright; their output is not covered by them)",
                 "--festival-clips {n} ", " and festival's (its diphone voices are cut from recordings)"),
    "recorded": (" and {n} clips of {lengths} strung from recorded prompts of RECORDED_VOICES (asterisk-core-sounds "
                 "en/es (Allison Smith), it (Carlo Flora), ru: 16 kHz G.722)",
                 "; asterisk-core-sounds recordings: CC-BY-SA-3.0 (en, es, it), CC-BY-3.0 (ru), see "
                 "/usr/share/doc/asterisk-core-sounds-*/copyright (used for training, not shipped)",
                 "--recorded-clips {n} ", " and recorded prompts of 3 professional speakers in 4 languages (not LJ "
                 "Speech / CMU-ARCTIC: neither is installable here)")}


def extra_speech_notes(festival: int, recorded: int, lengths: str) -> dict[str, str]:
    """A weights card's words for the `festival` festival clips and `recorded` clips of RECORDED_VOICES (each of
    `lengths`) a run trained on besides espeak-ng's; all but the deviation's are empty when it had none."""
    notes = dict.fromkeys(("data", "license", "flag", "deviation"), "")
    for source, n in (("festival", festival), ("recorded", recorded)):
        if n:
            for field, words in zip(notes, _EXTRA_SPEECH[source], strict=True):
                notes[field] += words.format(n=n, lengths=lengths)
    if not recorded:
        notes["deviation"] += " (no recorded speech was used in this run)"
    return notes


def speech_clips(rng: np.random.Generator, count: int, min_seconds: float = 0.5, max_seconds: float = 10.0,
                 rate: int = SPEECH_RATE, voice_pool: list[str] | None = None,
                 engine: str = "espeak-ng") -> Iterator[np.ndarray]:
    """`count` clips of random voices, speeds and pitches, lengths uniform in [min, max] seconds (cut or
    built from several sentences); `engine="flite"` speaks with flite's FLITE_VOICES, "festival" with its
    FESTIVAL_VOICES, at random tempos; "recorded" strings random prompts of one speaker of `voice_pool`
    (RECORDED_VOICES by default)."""
    for _ in range(count):
        length = int(rng.uniform(min_seconds, max_seconds) * rate)
        say = _speaker(rng, engine, voice_pool, rate)
        parts: list[np.ndarray] = []
        while sum(len(p) for p in parts) < length:
            parts.append(say(sentence(rng, int(rng.integers(4, 14)))))
            parts.append(np.zeros(int(rng.uniform(0.05, 0.4) * rate), np.float32))
        yield np.concatenate(parts)[:length].astype(np.float32)


def _speaker(rng: np.random.Generator, engine: str, voice_pool: list[str] | None,
             rate: int) -> Callable[[str], np.ndarray]:
    """text -> speech of one random voice of `engine` (espeak-ng: from `voice_pool`, all voices by default)."""
    if engine == "flite":
        return partial(synthesize_flite, voice=str(rng.choice(FLITE_VOICES)), stretch=float(rng.uniform(0.8, 1.25)),
                       rate=rate)
    if engine == "recorded":  # the text is not spoken: a random prompt of one recorded speaker instead
        prompts = recorded_prompts(str(rng.choice(voice_pool or list(RECORDED_VOICES))), rate)
        return lambda _text: prompts[int(rng.integers(len(prompts)))]
    if engine == "festival":
        return partial(synthesize_festival, voice=str(rng.choice(FESTIVAL_VOICES)),
                       stretch=float(rng.uniform(0.8, 1.25)), rate=rate)
    if engine != "espeak-ng":
        raise ValueError(f"engine must be espeak-ng, flite, festival or recorded, not {engine!r}")
    voice = str(rng.choice(voice_pool or voices()))
    speed, pitch = int(rng.integers(120, 200)), int(rng.integers(20, 80))
    return partial(synthesize, voice=voice, speed=speed, pitch=pitch, rate=rate)


def random_segments(pool: list[np.ndarray], size: int, segment: int, rng: np.random.Generator,
                    gains: tuple[float, float] | None = None) -> np.ndarray:
    """`size` x `segment` float32 pieces of random clips at random offsets (zero-padded when a clip is shorter),
    each scaled by a gain drawn uniformly from `gains` when given."""
    out = np.zeros((size, segment), np.float32)
    for i in range(size):
        clip = pool[int(rng.integers(len(pool)))]
        start = int(rng.integers(max(1, len(clip) - segment + 1)))
        piece = clip[start:start + segment]
        out[i, :len(piece)] = piece if gains is None else piece * rng.uniform(*gains)
    return out


def split_voices(held_out: float = 0.15, seed: int = 0) -> tuple[list[str], list[str]]:
    """(training voices, held-out voices): whole voices are held out, so evaluation speakers are unseen."""
    pool = voices()
    order = np.random.default_rng(seed).permutation(len(pool))
    cut = int(len(pool) * held_out)
    return [pool[i] for i in order[cut:]], [pool[i] for i in order[:cut]]


def photos(extra_dirs: tuple[Path, ...] = ()) -> list[np.ndarray]:
    """Training photos as float32 HxWx3 in [0, 1]: scikit-image's bundled images (greyscale ones as grey RGB;
    both views of the stereo pair) and every PNG/JPEG under `extra_dirs`."""
    import skimage.data
    from PIL import Image as PILImage

    out: list[np.ndarray] = []
    for name in PHOTO_NAMES:
        data = getattr(skimage.data, name)()
        for array in data[:2] if isinstance(data, tuple) else (data,):
            out.append(_as_rgb(np.asarray(array)))
    for folder in extra_dirs:
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
                out.append(_as_rgb(np.asarray(PILImage.open(path).convert("RGB"))))
    return out


def desktop_photos() -> list[np.ndarray]:
    """DESKTOP_PHOTOS as float32 HxWx3 in [0, 1], short side at most DESKTOP_SHORT_SIDE; CrossTegError naming the
    Debian packages to install when they are missing."""
    missing = [package for package, folder, _ in DESKTOP_PHOTOS if not folder.is_dir()]
    if missing:
        raise CrossTegError(f"desktop photos need the Debian packages {' '.join(missing)}: "
                            f"apt-get install {' '.join(missing)}")
    return [desktop_photo(folder / name) for _, folder, names in DESKTOP_PHOTOS for name in names]


def desktop_photo(path: Path) -> np.ndarray:
    """One wallpaper: a file, or a Plasma wallpaper folder (its landscape image nearest 1920 px wide; of two as
    near, the taller)."""
    from PIL import Image as PILImage

    if path.is_dir():
        sizes = {f: tuple(map(int, f.stem.split("x"))) for f in (path / "contents" / "images").iterdir()
                 if f.stem.count("x") == 1}
        landscape = [f for f, (w, h) in sizes.items() if w > h] or list(sizes)
        path = min(landscape, key=lambda f: (abs(sizes[f][0] - 1920), -sizes[f][1]))
    elif not path.suffix:
        path = next(path.parent.glob(path.name + ".*"))
    image = PILImage.open(path).convert("RGB")
    scale = DESKTOP_SHORT_SIDE / min(image.size)
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), PILImage.Resampling.LANCZOS)
    return _as_rgb(np.asarray(image))


def _as_rgb(array: np.ndarray) -> np.ndarray:
    image = array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else max(float(array.max()), 1.0))
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def random_crops(images: list[np.ndarray], size: int, count: int, rng: np.random.Generator,
                 zoom: float = 0.0) -> np.ndarray:
    """`count` augmented crops (N x size x size x 3): random image, flips, each crop's side 0.5-1 of the image's
    short side, or with `zoom` >= 1 between size and zoom x size of the image's own pixels (frames at their scale)."""
    from skimage.transform import resize

    crops = np.empty((count, size, size, 3), np.float32)
    zoomed = zoom >= 1  # else the crop's side is 0.5-1 of the short side
    for k in range(count):
        image = images[int(rng.integers(len(images)))]
        short = min(image.shape[:2])
        side = int(size * rng.uniform(1.0, zoom)) if zoomed else max(size // 2, int(short * rng.uniform(0.5, 1.0)))
        side = min(side, short)
        y = int(rng.integers(image.shape[0] - side + 1))
        x = int(rng.integers(image.shape[1] - side + 1))
        crop = image[y:y + side, x:x + side]
        factor = side // size
        if factor >= 2:  # box-average by the whole factor first: anti-aliasing a 512 -> 16 px resize directly
            whole = side // factor * factor  # blurs with a ~100-tap Gaussian, 0.15 s a crop (measured)
            crop = crop[:whole, :whole].reshape(whole // factor, factor, whole // factor, factor, 3).mean((1, 3))
        if crop.shape[0] != size:
            crop = resize(crop, (size, size), anti_aliasing=crop.shape[0] > size, preserve_range=True)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crops[k] = crop
    return crops
