"""Training data helpers: photo pool and crops (speech synthesis needs espeak-ng, exercised by trainers)."""

import os
import sys

import numpy as np
import pytest

from conftest import write_g722
from crossteg.errors import CrossTegError
from crossteg.train import data


def test_photos_exclude_the_evaluation_face_and_crops_are_augmented():
    pool = data.photos()
    assert len(pool) >= 15 and all(p.ndim == 3 and p.shape[2] == 3 and p.dtype == np.float32 for p in pool)
    import skimage.data

    astronaut = skimage.data.astronaut().astype(np.float32) / 255
    assert not any(p.shape == astronaut.shape and np.allclose(p, astronaut) for p in pool)
    crops = data.random_crops(pool, 48, 6, np.random.default_rng(1))
    assert crops.shape == (6, 48, 48, 3) and crops.min() >= 0 and crops.max() <= 1
    assert len({c.tobytes() for c in crops}) == 6


def test_zoomed_crops_keep_the_photos_own_scale():
    checker = np.repeat((np.indices((256, 256)).sum(0) % 2).astype(np.float32)[..., None], 3, axis=2)
    native = data.random_crops([checker], 32, 4, np.random.default_rng(0), zoom=1.0)
    assert set(np.unique(native)) == {0.0, 1.0}, "zoom 1: the photo's own pixels, not resampled"
    shrunk = data.random_crops([checker], 32, 4, np.random.default_rng(0))
    assert shrunk.std() < 0.1, "default: 0.5-1 of the short side (128-256 px) shrunk to 32, the pattern averaged"
    zoomed = data.random_crops([checker], 32, 4, np.random.default_rng(0), zoom=2.0)
    assert zoomed.shape == (4, 32, 32, 3) and shrunk.std() < zoomed.std() < native.std(), "zoom 2: 32-64 px"


def test_desktop_photo_takes_a_landscape_size_near_1080p_and_missing_packages_are_named(tmp_path, monkeypatch):
    from PIL import Image

    images = tmp_path / "Wall" / "contents" / "images"
    images.mkdir(parents=True)
    for w, h in ((1080, 1920), (1600, 900), (2560, 1440)):
        Image.fromarray(np.full((h, w, 3), w // 20, np.uint8)).save(images / f"{w}x{h}.png")
    photo = data.desktop_photo(tmp_path / "Wall")
    assert photo.shape == (900, 1600, 3) and abs(float(photo.mean()) - 80 / 255) < 1e-6
    for w, h in ((1920, 1080), (1920, 1200)):
        Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(images / f"{w}x{h}.png")
    assert data.desktop_photo(tmp_path / "Wall").shape == (1080, 1728, 3), "1920 wide, the taller, scaled to 1080"
    Image.fromarray(np.zeros((1440, 2560, 3), np.uint8)).save(tmp_path / "Big.jpg")
    assert data.desktop_photo(tmp_path / "Big").shape == (1080, 1920, 3), "extension found, scaled to 1080p"
    monkeypatch.setattr(data, "DESKTOP_PHOTOS", (("some-wallpapers", tmp_path / "absent", ("Wall",)),))
    with pytest.raises(CrossTegError, match="apt-get install some-wallpapers"):
        data.desktop_photos()


def test_held_out_voices_are_disjoint_from_training_voices():
    train, held = data.split_voices()
    assert set(train).isdisjoint(held) and len(train) + len(held) == len(data.voices())


def test_speech_is_cached_resampled_and_normalised_and_a_missing_synthesiser_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "CACHE", tmp_path)
    calls = []

    def run():
        calls.append(1)
        return (0.1 * np.sin(np.arange(8000) * 0.3)).astype(np.float32), 8000

    first = data._cached("key", run, 16000)
    again = data._cached("key", run, 16000)
    assert len(calls) == 1 and np.array_equal(first, again)  # the second read is the cached file
    assert len(first) == 16000 and abs(float(np.abs(first).max()) - 0.9) < 0.01
    monkeypatch.setattr(data.shutil, "which", lambda name: None)
    with pytest.raises(CrossTegError, match="apt-get install flite"):
        data.synthesize_flite("Hello there.", "slt")
    with pytest.raises(CrossTegError, match="apt-get install festival festvox-kallpc16k"):
        data.synthesize_festival("Hello there.", "kal_diphone")
    with pytest.raises(ValueError, match="espeak-ng, flite, festival or recorded"):
        next(data.speech_clips(np.random.default_rng(0), 1, engine="mbrola"))


def test_festival_is_driven_through_text2wave(tmp_path, monkeypatch):
    """A stand-in text2wave (festival is not needed for the tests) records its arguments and writes a tone; like
    festival's, it exits 0 and writes nothing for a voice that is not installed, which is named as such."""
    monkeypatch.setattr(data, "CACHE", tmp_path / "cache")
    fake = tmp_path / "text2wave"
    fake.write_text(f"#!{sys.executable}\n"
                    "import sys, numpy, soundfile\n"
                    "args = sys.argv[1:]\n"
                    f"open({str(tmp_path / 'args.txt')!r}, 'w').write(repr(args) + open(args[4]).read())\n"
                    "if '(voice_missing_diphone)' not in args:\n"
                    "    tone = 0.2 * numpy.sin(numpy.arange(32000) * 0.1)\n"
                    "    soundfile.write(args[args.index('-o') + 1], tone, 32000)\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    speech = data.synthesize_festival("Hello there.", "ked_diphone", stretch=1.1)
    called = (tmp_path / "args.txt").read_text()
    assert "(voice_ked_diphone)" in called and "Duration_Stretch 1.100" in called and called.endswith("Hello there.")
    assert len(speech) == 16000 and abs(float(np.abs(speech).max()) - 0.9) < 0.01  # 2 s at 32 kHz -> 16 kHz
    clips = list(data.speech_clips(np.random.default_rng(0), 2, 1.0, 1.5, engine="festival"))
    assert all(16000 <= len(c) <= 24000 for c in clips)
    with pytest.raises(CrossTegError, match="festival has no voice missing_diphone: run `apt-get install festival "):
        data.synthesize_festival("Hello there.", "missing_diphone")


def test_recorded_prompts_are_decoded_from_g722_cached_and_strung_into_clips(tmp_path, monkeypatch):
    """Real G.722 files (encoded by the bundled ffmpeg) in a stand-in asterisk sounds tree, one in a sub-folder,
    one empty and one of line noise (as asterisk's silence prompts): decoded at 16 kHz, normalised, the empty and the
    silent one dropped, read back from the cache."""
    monkeypatch.setattr(data, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(data, "ASTERISK_SOUNDS", tmp_path / "sounds")
    voice = tmp_path / "sounds" / "it_IT_m_Carlo"
    (voice / "digits").mkdir(parents=True)
    (voice / "silence").mkdir()
    for name, seconds, hz, gain in (("hello", 1.0, 220, 1), ("digits/1", 0.5, 330, 1), ("silence/2", 2.0, 440, 0.002)):
        write_g722(voice / f"{name}.g722", f"sine=frequency={hz}:duration={seconds}:sample_rate=16000", gain)
    (voice / "empty.g722").write_bytes(b"")
    prompts = data.recorded_prompts("it_IT_m_Carlo")
    assert sorted(len(p) for p in prompts) == [8000, 16000]
    assert all(p.dtype == np.float32 and abs(float(np.abs(p).max()) - 0.9) < 1e-3 for p in prompts)
    spectrum = np.abs(np.fft.rfft(max(prompts, key=len)))
    assert abs(int(np.argmax(spectrum)) - 220) <= 2  # 1 s at 16 kHz: bin = Hz
    monkeypatch.setattr(data, "_recording", None)  # a second read must not decode again
    assert [len(p) for p in data.recorded_prompts("it_IT_m_Carlo")] == [len(p) for p in prompts]  # from the cache
    clips = list(data.speech_clips(np.random.default_rng(0), 3, 2.0, 3.0, voice_pool=["it_IT_m_Carlo"],
                                   engine="recorded"))
    assert all(2 * 16000 <= len(c) <= 3 * 16000 and np.abs(c).max() > 0.5 for c in clips)
    with pytest.raises(CrossTegError, match="apt-get install asterisk-core-sounds-ru-g722"):
        data.recorded_prompts("ru_RU_f_IvrvoiceRU")
