"""Each figure function writes a valid, non-trivial, compact PNG."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from crossteg import figures


def _check_png(path, min_size=(200, 100)):
    assert path.exists()
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size[0] >= min_size[0] and im.size[1] >= min_size[1]
        arr = np.asarray(im.convert("RGB"))
    assert arr.std() > 1.0  # something was drawn
    assert path.stat().st_size < 200_000


def test_image_comparison(tmp_path):
    rng = np.random.default_rng(0)
    cover = rng.random((32, 48, 3), dtype=np.float32)
    stego = np.clip(cover + rng.normal(0, 0.01, cover.shape), 0, 1)
    out = figures.image_comparison(cover, stego, tmp_path / "sub" / "img.png")
    assert out == tmp_path / "sub" / "img.png"
    _check_png(out, (400, 100))


def test_image_comparison_shape_mismatch(tmp_path):
    with pytest.raises(ValueError):
        figures.image_comparison(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)), tmp_path / "x.png")


def test_audio_comparison(tmp_path):
    sr = 16_000
    t = np.arange(int(0.5 * sr)) / sr
    secret = 0.5 * np.sin(2 * np.pi * 440 * t) * np.exp(-3 * t)
    revealed = secret[:-100] + np.random.default_rng(1).normal(0, 0.01, len(secret) - 100)
    out = figures.audio_comparison(secret, revealed, sr, tmp_path / "audio.png")
    _check_png(out, (400, 250))


@pytest.mark.parametrize("with_second", [False, True])
def test_frame_strip(tmp_path, with_second):
    rng = np.random.default_rng(2)
    video = rng.random((10, 16, 24, 3), dtype=np.float32)
    second = (video * 255).astype(np.uint8) if with_second else None
    out = figures.frame_strip(video, tmp_path / "strip.png", n=4, second=second)
    _check_png(out, (300, 60))
    if with_second:
        one = figures.frame_strip(video, tmp_path / "one.png", n=4)
        with Image.open(out) as im_two, Image.open(one) as im:
            assert im_two.size[1] > im.size[1]
