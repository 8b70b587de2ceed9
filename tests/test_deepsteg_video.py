"""deepsteg-video, flowhide's ConvNet baseline: frames stacked into DITAS's image-in-audio machinery."""

import numpy as np
import pytest
import torch

from conftest import run_cli
from crossteg import media
from crossteg.errors import CapacityError, KeyError_, UsageError
from crossteg.media import Audio, Image, Video
from crossteg.methods import ditas as D
from crossteg.methods import get_method
from crossteg.methods.base import WEIGHTS_DIR
from crossteg.metrics import psnr

rng = np.random.default_rng(3)


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    config = D.NetConfig("stft", "M-ED", 1, "mag", width=8, blocks=1)
    path = tmp_path / "stft-t1.safetensors"
    D.save_net(D.build(config), config, path)
    return path


def clip(frames: int = 3, h: int = 70, w: int = 100) -> Video:
    t, y, x = np.mgrid[0:frames, 0:h, 0:w] / max(h, w)
    return Video(np.stack([x + 0 * t, y, 0.5 + 0.4 * np.sin(7 * x * y + t)], -1).astype(np.float32) % 1, 12.5)


def cover(seconds: float) -> Audio:
    return Audio((0.1 * rng.standard_normal((1, int(seconds * 16_000)))).astype(np.float32), 16_000)


def test_video_round_trip_through_16_bit_wav(tmp_path, weights):
    method = get_method("deepsteg-video", weights=str(weights))
    secret = clip()  # 3 frames padded to 128 rows: 6 x 2 tiles = 12 subsequences, 3.59 s with the headers
    stego = method.hide(cover(3.7), secret, "k")
    loaded = media.load(media.save(stego, tmp_path / "s.wav"))
    revealed = method.reveal(loaded, "k")
    assert isinstance(revealed, Video) and revealed.frames.shape == (3, 70, 100, 3) and revealed.fps == 12.5
    assert np.array_equal(revealed.frames, method.reveal(stego, "k").frames)  # the file holds it exactly
    with pytest.raises(KeyError_):
        method.reveal(loaded, "other")


def test_capacity_error_and_wrong_secret(weights):
    method = get_method("deepsteg-video", weights=str(weights))
    with pytest.raises(CapacityError, match=r"3-frame 100x70 video .* needs at least 3\.\d\d s of audio.*"
                                            r"it holds the first 1 frame at this size"):
        method.hide(cover(2.0), clip(), "k")
    with pytest.raises(CapacityError, match=r"it holds 1 frame downscaled to \d+x\d+"):
        method.hide(cover(0.8), clip(), "k")
    with pytest.raises(UsageError, match="hides video"):
        method.hide(cover(4.0), Image(np.zeros((64, 64, 3), np.float32)), "k")


def test_cli_hides_an_mp4_and_reveals_one(tmp_path, weights):
    media.save(cover(3.7), tmp_path / "c.wav")
    media.save(clip(), tmp_path / "clip.mp4")
    option = ["-O", f"weights={weights}"]
    hidden = run_cli("hide", "deepsteg-video", "--cover", tmp_path / "c.wav", "--secret", tmp_path / "clip.mp4",
                     "-o", tmp_path / "s.wav", "--key", "k", *option)
    assert hidden.returncode == 0, hidden.stderr
    shown = run_cli("reveal", "deepsteg-video", tmp_path / "s.wav", "-o", tmp_path / "r.mp4", "--key", "k", *option)
    assert shown.returncode == 0, shown.stderr
    back = media.load(tmp_path / "r.mp4")
    assert isinstance(back, Video) and back.frames.shape[:3] == (3, 70, 100)


@pytest.mark.skipif(not (WEIGHTS_DIR / "stft-t1.safetensors").exists(), reason="shipped weights not built")
def test_shipped_weights_reveal_frames(assets):
    frames = media.load(assets / "clip.mp4").frames[:2, :128, :128]
    secret = Video(frames, 25.0)
    method = get_method("deepsteg-video")
    stego = method.hide(media.load(assets / "speech_long.wav"), secret, "key")
    good = method.reveal(stego, "key").frames
    assert psnr(frames, good) > 15
