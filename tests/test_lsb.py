"""lsb: exact keyed round trips through real PNG and WAV files, and its failure modes."""

import os

import numpy as np
import pytest
import soundfile as sf
from PIL import Image as PILImage

from crossteg import media
from crossteg.errors import CapacityError, KeyError_, UsageError
from crossteg.media import Audio, Image
from crossteg.media.payload import Payload
from crossteg.methods import get_method
from crossteg.methods.base import Capacity

rng = np.random.default_rng(0)


@pytest.fixture
def image_cover() -> Image:
    return Image.from_uint8(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8))


@pytest.fixture
def audio_cover() -> Audio:
    return Audio.from_int16(rng.integers(-20000, 20000, (2, 16000), dtype=np.int16), 16000)


def test_capacity_counts_one_bit_per_value(image_cover, audio_cover):
    lsb = get_method("lsb")
    assert lsb.capacity(image_cover).amount == 64 * 80 * 3 // 8 - 33
    assert lsb.capacity(audio_cover).amount == 2 * 16000 // 8 - 33
    assert lsb.capacity(image_cover).unit == "bytes"


def test_png_round_trip_is_exact_and_survives_pillow_resave(tmp_path, image_cover):
    lsb = get_method("lsb")
    secret = Payload(os.urandom(int(lsb.capacity(image_cover).amount) - 4), ".bin")
    stego = lsb.hide(image_cover, secret, key="k")
    diff = np.abs(stego.to_uint8().astype(int) - image_cover.to_uint8().astype(int))
    assert diff.max() == 1 and 0.3 < diff.mean() < 0.7  # only LSBs change, about half of them
    path = media.save(stego, tmp_path / "stego.png")
    with PILImage.open(path) as img:
        img.save(tmp_path / "resaved.png", optimize=True)
    for p in (path, tmp_path / "resaved.png"):
        assert lsb.reveal(media.load(p), key="k") == secret


def test_wav_round_trip_is_exact_and_survives_soundfile_resave(tmp_path, audio_cover):
    lsb = get_method("lsb")
    secret = Payload(b"speech or anything else" * 50, ".txt")
    path = media.save(lsb.hide(audio_cover, secret, key=b"\x00key"), tmp_path / "stego.wav")
    data, rate = sf.read(path, dtype="int16")
    sf.write(tmp_path / "resaved.wav", data, rate, subtype="PCM_16")
    for p in (path, tmp_path / "resaved.wav"):
        assert lsb.reveal(media.load(p), key=b"\x00key") == secret


def test_media_secret_round_trips_losslessly(image_cover):
    lsb = get_method("lsb")
    speech = Audio.from_int16(rng.integers(-300, 300, (1, 600), dtype=np.int16), 16000)
    revealed = lsb.reveal(lsb.hide(image_cover, speech, key="k"), key="k").decode()
    np.testing.assert_array_equal(revealed.to_int16(), speech.to_int16())
    assert revealed.sample_rate == 16000


def test_wrong_key_and_clean_cover_are_reported(image_cover):
    lsb = get_method("lsb")
    stego = lsb.hide(image_cover, b"top secret", key="right")
    with pytest.raises(KeyError_, match="wrong key"):
        lsb.reveal(stego, key="wrong")
    with pytest.raises(KeyError_):
        lsb.reveal(stego)  # no key is a key too: the empty passphrase
    with pytest.raises(KeyError_):
        lsb.reveal(image_cover, key="right")


def test_scattering_depends_on_key(image_cover):
    lsb = get_method("lsb")
    a = lsb.hide(image_cover, b"x" * 100, key="a").to_uint8() != image_cover.to_uint8()
    b = lsb.hide(image_cover, b"x" * 100, key="b").to_uint8() != image_cover.to_uint8()
    assert not np.array_equal(a, b)


def test_over_capacity_names_capacity_and_size(image_cover):
    lsb = get_method("lsb")
    cap = int(lsb.capacity(image_cover).amount)
    with pytest.raises(CapacityError, match=f"{cap + 1} bytes.*{cap} bytes"):
        lsb.hide(image_cover, os.urandom(cap + 1), key="k")
    lsb.hide(image_cover, os.urandom(cap), key="k")  # exactly full fits


def test_refuses_other_cover_modalities():
    lsb = get_method("lsb")
    clip = media.Video(np.zeros((2, 8, 8, 3), np.float32), fps=8.0)
    with pytest.raises(UsageError, match="hides in image or audio"):
        lsb.hide(clip, b"x", key="k")


def test_mono_stego_converted_to_stereo_still_reveals(tmp_path):
    lsb = get_method("lsb")
    mono = Audio.from_int16(rng.integers(-20000, 20000, (1, 16000), dtype=np.int16), 16000)
    secret = Payload(b"written twice by a converter" * 20, ".txt")
    path = media.save(lsb.hide(mono, secret, key="k"), tmp_path / "stego.wav")
    data, rate = sf.read(path, dtype="int16")
    sf.write(tmp_path / "stereo.wav", np.stack([data, data], axis=1), rate, subtype="PCM_16")
    stereo = media.load(tmp_path / "stereo.wav")
    assert stereo.samples.shape == (2, 16000)
    assert lsb.reveal(stereo, key="k") == secret
    with pytest.raises(KeyError_):
        lsb.reveal(stereo, key="other")
    different = Audio(np.stack([stereo.samples[0], -stereo.samples[1]]), rate)  # not a copy: no second reading
    with pytest.raises(KeyError_):
        lsb.reveal(different, key="k")


def test_capacity_amounts_read_as_english():
    assert str(Capacity(2, "secrets")) == "2 secrets"
    assert str(Capacity(1, "paper-size secrets")) == "1 paper-size secret"
    assert Capacity(21287, "bytes").quantity(1) == "1 byte"
    assert Capacity(326.91, "s of speech").quantity(1) == "1 s of speech"
    assert Capacity(5967, "bytes").quantity(4000078) == "4000078 bytes"  # not 4.00008e+06
    assert Capacity(10.04, "s of speech").quantity(0.25) == "0.25 s of speech"
    with pytest.raises(CapacityError, match=r"^secret is 8 bytes but this cover holds at most 1 byte with lsb$"):
        get_method("lsb").check_fits(Audio.from_int16(np.zeros((1, 272), np.int16), 16000), b"8 bytes!")
