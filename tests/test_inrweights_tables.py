"""The inrweights benchmark's noise check of a photo's containers: revealed or refused after pixel noise, scored
against the clean reveal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchmarks import inrweights_tables as tables

from crossteg import media
from crossteg.media import Image, Video
from crossteg.methods.inrweights import INRWeights

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def photo(side: int) -> Image:
    y, x = np.mgrid[0:side, 0:side] / side
    rng = np.random.default_rng(0)
    return Image(np.clip(np.stack([x, y, 0.5 + 0.2 * np.sin(9 * x * y)], -1) + rng.normal(0, 0.05, (side, side, 3)),
                         0, 1).astype(np.float32))


@pytest.mark.parametrize(("side", "width", "readable"), [(288, 256, True), (64, 64, False)])
def test_noise_scores_reveal_a_noise_proof_container_and_record_a_refused_one(tmp_path: Path, side: int, width: int,
                                                                               readable: bool) -> None:
    """A 288 px photo kept at its size at width 256 (the header and the tile map in 4 dither copies) is found after
    noise of std 1 and 2, the secret scored against the clean reveal, worse after more noise; a 64 px container
    (its header in the LSBs) is not (0, no score)."""
    method = INRWeights(width=width, steps=5)
    frames = np.random.default_rng(1).random((2, 8, 8, 3)).astype(np.float32)
    path = media.save(method.hide(photo(side), Video(frames, 8.0), tables.KEY), tmp_path / "c.png")
    revealed = method.reveal(media.load(path), tables.KEY)
    scores = tables.noise_scores(method, path, revealed, tmp_path)
    assert scores["noise1_revealed"] == scores["noise2_revealed"] == float(readable)
    if readable:
        assert 15 < scores["noise2_vs_clean_secret_psnr"] < scores["noise1_vs_clean_secret_psnr"]
    else:
        assert set(scores) == {"noise1_revealed", "noise2_revealed"}
