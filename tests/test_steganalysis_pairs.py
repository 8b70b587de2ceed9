"""Steganalysis pairs as an attacker sees them (flowhide's 22.05 kHz stereo stego), trainer method options,
the most suspect channel of a file, and the benchmark's --merge."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import write_g722
from crossteg.errors import CapacityError
from crossteg.media import Audio, Image
from crossteg.methods import get_method
from crossteg.steganalysis.pairs import attacker_view, make_pairs, sources_for

REPO = Path(__file__).resolve().parents[1]


def test_attacker_view_leaves_pairs_of_one_format_alone() -> None:
    image = Image(np.zeros((8, 8, 3), np.float32))
    audio = Audio(np.zeros((1, 100), np.float32), 16000)
    assert attacker_view(image, image) == (image, image)
    assert attacker_view(audio, audio) == (audio, audio)


def test_attacker_view_resamples_the_cover_and_keeps_the_stego_channel() -> None:
    rng = np.random.default_rng(0)
    cover = Audio((0.3 * rng.standard_normal((1, 16000))).astype(np.float32), 16000)
    resampled = cover.resample(22050).samples[0]
    stego_channel = resampled + 0.01 * rng.standard_normal(resampled.size).astype(np.float32)
    stego = Audio(np.stack([stego_channel, resampled])[:, :22048], 22050)  # (stego, cover), whole groups
    seen_cover, seen_stego = attacker_view(cover, stego)
    assert seen_cover.sample_rate == seen_stego.sample_rate == 22050
    assert seen_cover.channels == seen_stego.channels == 1 and seen_cover.frames == seen_stego.frames == 22048
    np.testing.assert_array_equal(seen_stego.samples[0], stego_channel[:22048])
    np.testing.assert_array_equal(seen_cover.samples[0], resampled[:22048])


def test_predict_scores_the_most_suspect_window_of_a_large_image(one_torch_thread, monkeypatch) -> None:
    """With `window`, a large image scores as its most suspect whole window (of a grid centred on the image, as
    thinimg's tiles are) or the whole image, whichever is higher; thinimg's detector uses it (its clips fill only
    the tiles they need). The windows reach past the centre the whole-image pass is cropped to."""
    import torch

    from crossteg.steganalysis import learned
    from crossteg.steganalysis.learned import predict

    class Brightness(torch.nn.Module):  # a stand-in detector whose logit is an image's mean brightness
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (20 * x.mean(dim=(1, 2, 3)) - 10)[:, None]

    pixels = np.full((70, 100, 3), 0.3, np.float32)  # windows of 32: rows 3-66, columns 2-97
    pixels[35:67, 66:98] = 0.9  # one bright whole window; the bright strips at the edges are in no window
    pixels[:, 98:] = pixels[:3] = 1.0
    whole = predict(Brightness(), Image(pixels))
    scanned = predict(Brightness(), Image(pixels), window=32)
    assert scanned == pytest.approx(1 / (1 + np.exp(-(20 * 0.9 - 10))), abs=1e-5) and scanned > whole
    assert predict(Brightness(), Image(pixels[:20, :20]), window=32) == predict(Brightness(), Image(pixels[:20, :20]))
    monkeypatch.setattr(learned, "MAX_IMAGE_SIDE", 48)  # the whole-image pass sees the centre only
    corner = np.full((100, 100, 3), 0.3, np.float32)
    corner[2:34, 2:34] = 0.9  # the first window of the grid, outside that centre
    assert predict(Brightness(), Image(corner), window=32) == pytest.approx(scanned, abs=1e-5)
    assert get_method("thinimg").local_embedding and not get_method("lsb").local_embedding


@pytest.mark.slow
def test_flowhide_pairs_have_matching_rate_channels_and_format(one_torch_thread, tmp_path: Path) -> None:
    sources = sources_for("audio", held_out=False, espeak=False)[:1]
    pair = next(make_pairs(get_method("flowhide"), sources, 1, np.random.default_rng(0), tmp_path, length=8000))
    cover, stego = pair.cover, pair.stego
    assert (cover.sample_rate, cover.channels) == (stego.sample_rate, stego.channels) == (22050, 1)
    assert cover.frames == stego.frames
    on_grid = np.array_equal(np.round(stego.samples * 32768) / 32768, stego.samples)
    assert not on_grid  # flowhide's stego is a float32 WAV, and the cover is compared in the same format
    assert float(np.abs(stego.samples - cover.samples).max()) > 1e-3  # the generated channel, not the copy


@pytest.mark.slow
def test_tiny_detector_trains_on_flowhide_pairs(one_torch_thread, tmp_path: Path) -> None:
    from crossteg.steganalysis.learned import load_detector, predict
    from crossteg.train.detector import main

    main(["--method", "flowhide", "--steps", "2", "--pairs", "2", "--held-out", "1", "--batch", "2",
          "--crop", "16", "--length", "8000", "--log-every", "1", "--no-espeak", "--out", str(tmp_path)])
    card = json.loads((tmp_path / "detector-flowhide-audio.json").read_text())
    assert card["data"]["examined"].startswith("22050 Hz mono float32")
    assert card["data"]["pairs"] == {"size": 128, "length": 8000, "options": {}}
    model, _ = load_detector("flowhide", "audio", tmp_path)
    assert 0.0 <= predict(model, Audio(np.zeros((2, 4096), np.float32), 22050)) <= 1.0


def test_tiny_inrweights_detector_records_its_method_options(one_torch_thread, tmp_path: Path) -> None:
    from crossteg.train.detector import main

    main(["--method", "inrweights", "-O", "steps=2", "-O", "width=0", "-O", "batch=64", "--steps", "2",
          "--pairs", "2", "--held-out", "1", "--batch", "2", "--size", "64", "--crop", "32", "--log-every", "1",
          "--out", str(tmp_path)])
    card = json.loads((tmp_path / "detector-inrweights-image.json").read_text())
    assert card["data"]["pairs"]["options"] == {"steps": 2, "width": 0, "batch": 64}
    assert "-O steps=2 -O width=0 -O batch=64" in card["training"]["command"]
    assert card["data"]["examined"].startswith("64x64 RGB")


def test_inrsteg_pairs_are_the_rendered_images_beside_their_covers(one_torch_thread, tmp_path: Path) -> None:
    """A stego INR is examined as the PNG it renders (INRSteg Table 4), next to the original cover's PNG."""
    from crossteg.steganalysis.detectors import stego_modalities

    method = get_method("inrsteg", hidden=32, layers=3, steps=5)
    assert stego_modalities(method) == ("image", "audio")
    sources = sources_for("image", held_out=False)[:1]
    pair = next(make_pairs(method, sources, 1, np.random.default_rng(0), tmp_path, size=32))
    assert isinstance(pair.cover, Image) and isinstance(pair.stego, Image)
    assert pair.cover.pixels.shape == pair.stego.pixels.shape == (32, 32, 3)
    assert not np.array_equal(pair.cover.to_uint8(), pair.stego.to_uint8())  # 5 steps of fit: not the cover
    assert (tmp_path / "00000-stego.safetensors").is_file() and (tmp_path / "00000-stego-rendered.png").is_file()


def test_predict_scores_the_most_suspect_channel(one_torch_thread) -> None:
    import torch

    from crossteg.steganalysis.learned import AudioCNNConfig, build, predict

    torch.manual_seed(0)
    model = build(AudioCNNConfig()).eval()
    rng = np.random.default_rng(1)
    channels = [(0.1 * rng.standard_normal(4096)).astype(np.float32), np.zeros(4096, np.float32)]
    single = [predict(model, Audio(c[None], 16000)) for c in channels]
    assert predict(model, Audio(np.stack(channels), 16000)) == pytest.approx(max(single), abs=1e-6)


@pytest.mark.slow
def test_benchmark_merge_keeps_the_other_methods_rows(tmp_path: Path) -> None:
    kept = {"setting": "other image", "metric": "detection_accuracy", "ours": 0.5, "n": 4, "method": "other"}
    stale = {"setting": "lsb image", "metric": "detection_accuracy", "ours": 0.1, "n": 4, "method": "lsb"}
    (tmp_path / "steganalysis.json").write_text(json.dumps({"command": "earlier run", "rows": [kept, stale]}))
    result = subprocess.run([sys.executable, "-m", "benchmarks.steganalysis", "--methods", "lsb", "--pairs", "2",
                             "--merge", "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "steganalysis.json").read_text())
    rows = data["rows"]
    assert [r for r in rows if r["method"] == "other"][0]["ours"] == 0.5
    lsb = [r for r in rows if r["method"] == "lsb"]
    assert lsb and all(r["ours"] != 0.1 for r in lsb)  # re-measured, the stale row replaced
    assert {"lsb image 100% payload spa", "lsb audio 40% payload rs"} <= {r["setting"] for r in lsb}
    assert data["command"].startswith("earlier run; then ") and "--merge" in data["command"]
    assert (tmp_path / "steganalysis.md").is_file()


@pytest.mark.slow
def test_benchmark_takes_detectors_trained_elsewhere(one_torch_thread, tmp_path: Path) -> None:
    """--detectors DIR: the learned detector and its card's pair settings (here 32 px crops) come from DIR, the
    rows go to --name's file, and the command says both."""
    from crossteg.train.detector import main

    detectors = tmp_path / "detectors"
    main(["--method", "lsb", "--modality", "image", "--steps", "2", "--pairs", "4", "--held-out", "2", "--batch",
          "2", "--size", "32", "--crop", "16", "--log-every", "1", "--out", str(detectors)])
    result = subprocess.run([sys.executable, "-m", "benchmarks.steganalysis", "--methods", "lsb", "--pairs", "2",
                             "--detectors", str(detectors), "--name", "elsewhere", "--out", str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "elsewhere.json").read_text())
    image = [r for r in data["rows"] if r["setting"].startswith("lsb image")]
    assert {r["setting"] for r in image} >= {"lsb image 40% payload cnn-lsb", "lsb image 40% payload rs"}
    assert all("32x32 PNG crops" in r["note"] for r in image if r["metric"] == "detection_accuracy")
    assert not [r for r in data["rows"] if r["setting"].endswith("cnn-lsb") and "audio" in r["setting"]]
    assert f"--detectors {detectors} --name elsewhere" in data["command"]
    assert not (tmp_path / "steganalysis.json").exists()


def test_a_cover_the_method_refuses_gives_no_pair_and_a_warning(tmp_path: Path, monkeypatch) -> None:
    """thinimg refuses a container it cannot read back (CapacityError): that cover is passed over, not a crash."""
    method = get_method("lsb")
    calls = {"n": 0}
    hide = method.hide

    def refuse_every_other(cover, secret, key=None):
        calls["n"] += 1
        if calls["n"] % 2:
            raise CapacityError("refused")
        return hide(cover, secret, key=key)

    monkeypatch.setattr(method, "hide", refuse_every_other)
    sources = sources_for("image", held_out=True)[:1]
    with pytest.warns(UserWarning, match="lsb refused a cover from"):
        pairs = list(make_pairs(method, sources, 4, np.random.default_rng(0), tmp_path, size=32))
    assert calls["n"] == 4 and len(pairs) == 2


def test_recorded_speakers_prompts_join_the_audio_sources(one_torch_thread, tmp_path: Path, monkeypatch) -> None:
    """A stand-in asterisk tree holding one training speaker's G.722 prompts: runs of four prompts become audio
    sources (every 4th held out), a tiny lsb detector trains on one and its card names the recordings' licence;
    the speaker's absence, or --no-recorded, leaves them out."""
    from crossteg.train import data
    from crossteg.train.detector import main

    monkeypatch.setattr(data, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(data, "ASTERISK_SOUNDS", tmp_path / "sounds")
    assert not [s for s in sources_for("audio", held_out=False, espeak=False) if "prompts" in s.name]
    voice = tmp_path / "sounds" / "en_US_f_Allison"
    voice.mkdir(parents=True)
    for i in range(8):
        write_g722(voice / f"{i}.g722", f"sine=frequency={200 + 100 * i}:duration=0.5:sample_rate=16000")
    recorded = [s for held_out in (False, True) for s in sources_for("audio", held_out, espeak=False)
                if "prompts" in s.name]
    assert [(s.name, s.held_out) for s in recorded] == [("en_US_f_Allison prompts #1", False),
                                                        ("en_US_f_Allison prompts #0", True)]
    clip = recorded[0].load()
    assert (clip.sample_rate, clip.frames) == (16000, 4 * 8000)
    assert abs(int(np.argmax(np.abs(np.fft.rfft(clip.samples[0, :8000])))) / 0.5 - 600) <= 4  # prompt 4: 600 Hz
    assert not [s for s in sources_for("audio", False, espeak=False, recorded=False) if "prompts" in s.name]

    main(["--method", "lsb", "--modality", "audio", "--steps", "2", "--pairs", "6", "--held-out", "2", "--batch",
          "2", "--crop", "16", "--length", "8000", "--log-every", "1", "--no-espeak", "--out", str(tmp_path)])
    card = json.loads((tmp_path / "detector-lsb-audio.json").read_text())
    assert "en_US_f_Allison prompts #1" in card["data"]["train_sources"]
    assert "CC-BY-SA-3.0" in card["data"]["license"] and "--no-recorded" not in card["training"]["command"]


@pytest.mark.slow
def test_rates_benchmark_scores_converted_covers_and_skips_without_them(one_torch_thread, tmp_path: Path,
                                                                         monkeypatch) -> None:
    """benchmarks/steganalysis_rates on a stand-in fr_CA speaker (real G.722 prompts): 44.1 kHz stereo 16-bit
    covers and their stft stegos, scored as they are and converted, two rows each; without the speaker it writes
    nothing and says so."""
    from benchmarks import steganalysis_rates

    from crossteg.train import data

    monkeypatch.setattr(data, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(data, "ASTERISK_SOUNDS", tmp_path / "sounds")
    out = tmp_path / "results"
    assert steganalysis_rates.main(["--methods", "stft", "--out", str(out)]).rows == [] and not out.exists()
    voice = tmp_path / "sounds" / "fr_CA_f_June"
    voice.mkdir(parents=True)
    for i in range(8):
        write_g722(voice / f"{i}.g722", f"anoisesrc=duration=1:sample_rate=16000:amplitude=0.{i + 1}:seed={i}")
    cover = steganalysis_rates.stereo_cover(Audio(np.full((1, 160), 0.25, np.float32), 16000), 44100)
    assert (cover.sample_rate, cover.channels, cover.frames) == (44100, 2, 441)
    results = steganalysis_rates.main(["--methods", "stft", "--out", str(out)])
    assert [(r.setting, r.metric, r.n) for r in results.rows] == [
        ("stft audio as the 44.1 kHz file is cnn-stft", "detection_accuracy", 4),
        ("stft audio as the 44.1 kHz file is cnn-stft", "detection_auc", 4),
        ("stft audio converted to 16 kHz (crossteg steganalyze) cnn-stft", "detection_accuracy", 4),
        ("stft audio converted to 16 kHz (crossteg steganalyze) cnn-stft", "detection_auc", 4)]
    assert all(0.0 <= r.ours <= 1.0 for r in results.rows)
    assert json.loads((out / "steganalysis-rates.json").read_text())["rows"]
