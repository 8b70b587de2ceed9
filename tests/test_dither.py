"""Spread-transform dither modulation: exact without noise, tolerant of noise, keyed, band-limited."""

import numpy as np

from crossteg import keys
from crossteg.codecs import dither

RATE, STEP = 16_000, 0.3
rng = np.random.default_rng(7)


def marked(message: bytes, material: keys.KeyMaterial, associated: bytes = b"") -> tuple[np.ndarray, np.ndarray]:
    region = (0.2 * rng.standard_normal(4096)).astype(np.float32)
    bits = dither.message_bits(material, "t", message, associated)
    return region, region + dither.embed(region, bits, material, "t", STEP, RATE)


def test_round_trip_exact_and_keyed():
    material = keys.derive("k", "test")
    _, stego = marked(b"header!!", material, b"ditas")
    soft = dither.soft_bits(stego, 96, material, "t", STEP, RATE)
    assert np.abs(soft).min() > 0.99  # every projection sits on its lattice
    assert dither.read_message(soft, material, "t", b"ditas") == b"header!!"
    assert dither.read_message(soft, material, "t", b"other") is None  # bound to the associated data
    wrong = keys.derive("other", "test")
    assert dither.read_message(dither.soft_bits(stego, 96, wrong, "t", STEP, RATE), wrong, "t", b"ditas") is None


def test_survives_noise_below_a_quarter_step_and_change_is_small_and_in_band():
    material = keys.derive("k", "test")
    cover, stego = marked(b"12345678", material)
    noisy = stego + (0.02 * rng.standard_normal(stego.size)).astype(np.float32)  # projection noise ~ step / 15
    assert dither.read_message(dither.soft_bits(noisy, 96, material, "t", STEP, RATE), material, "t") == b"12345678"
    change = stego - cover
    assert np.sqrt(np.mean(change**2)) < 0.02  # -34 dBFS at most for 96 bits in 4096 samples
    spectrum = np.abs(np.fft.rfft(change)) ** 2
    hz = np.fft.rfftfreq(change.size, 1 / RATE)
    assert spectrum[(hz < 150) | (hz > 4100)].sum() < 1e-6 * spectrum.sum()


def test_unmarked_audio_reads_as_nothing():
    material = keys.derive("k", "test")
    plain = (0.2 * rng.standard_normal(4096)).astype(np.float32)
    assert dither.read_message(dither.soft_bits(plain, 96, material, "t", STEP, RATE), material, "t") is None
