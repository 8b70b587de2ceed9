"""Steganalysis: classical detectors on real lsb stegos, the detector trainer, shipped cards, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from crossteg import media
from crossteg.errors import UsageError, WeightsError
from crossteg.methods import get_method
from crossteg.methods.base import WEIGHTS_DIR
from crossteg.steganalysis import analyze, detection_accuracy, detection_auc, detector_names
from crossteg.steganalysis import classical as C


def lsb_stego(cover, fraction: float):
    """`cover` with a random payload filling `fraction` of lsb's capacity, as lsb writes it."""
    lsb = get_method("lsb")
    payload = os.urandom(int(fraction * lsb.capacity(cover).amount))
    return lsb.hide(cover, payload, key="steganalysis-test")


@pytest.fixture(scope="module")
def face(assets: Path):
    return media.load(assets / "face.png")


@pytest.fixture(scope="module")
def speech(assets: Path):
    return media.load(assets / "speech_long.wav")


def estimates(obj) -> dict[str, C.Estimate]:
    values = obj.to_uint8() if obj.modality == "image" else obj.to_int16()
    lines = C.image_lines(values) if obj.modality == "image" else C.audio_lines(values)
    return {"chi-square": C.chi_square(values), "rs": C.rs_analysis(lines), "spa": C.sample_pair_analysis(lines)}


@pytest.mark.parametrize("name", ["face", "speech"])
def test_classical_detectors_flag_full_lsb_and_pass_clean(name: str, request: pytest.FixtureRequest) -> None:
    cover = request.getfixturevalue(name)
    # each stego's bits are fresh random (random payload, random nonce): the rate estimate of one full audio
    # embedding ranges 0.88-1.0 (measured over 15), so the rate is judged on the mean of 5 independent stegos
    clean, fulls = estimates(cover), [estimates(lsb_stego(cover, 1.0)) for _ in range(5)]
    for detector in ("chi-square", "rs", "spa"):
        assert clean[detector].probability < 0.2, (detector, clean[detector])
        for full in fulls:
            assert full[detector].probability > 0.9, (detector, full[detector])
    for detector in ("rs", "spa"):
        mean_rate = float(np.mean([full[detector].rate for full in fulls]))
        assert mean_rate == pytest.approx(1.0, abs=0.1)  # ~100 % of values carry message bits
        assert clean[detector].rate == pytest.approx(0.0, abs=0.1)


def test_rs_and_spa_estimate_a_partial_rate(face) -> None:
    found = estimates(lsb_stego(face, 0.4))
    assert found["rs"].rate == pytest.approx(0.4, abs=0.06)
    assert found["spa"].rate == pytest.approx(0.4, abs=0.06)
    assert found["chi-square"].probability < 0.5  # the chi-square attack needs near-full embedding


def test_a_small_image_needs_a_higher_rate_to_be_called_a_stego(face) -> None:
    """RS/SPA's thresholds hold at 128x128; a 32x32 crop's estimates spread 4x as wide, so its threshold is 4x."""
    assert C.rate_threshold("image", 128 * 128 * 3) == C.rate_threshold("image", 512 * 512 * 3) == 0.15
    assert C.rate_threshold("image", 32 * 32 * 3) == pytest.approx(0.6)
    assert C.rate_threshold("audio", 4000) == pytest.approx(0.6)
    small = media.Image(face.pixels[40:72, 60:92])
    stego = lsb_stego(small, 1.0)
    verdicts = {d.detector: d for d in analyze(stego, ["rs", "spa"])}
    assert all(v.probability > 0.5 for v in verdicts.values()), verdicts  # full embedding is still called one
    lines = C.image_lines(stego.to_uint8())
    for name, estimate in (("rs", C.rs_analysis), ("spa", C.sample_pair_analysis)):  # the crop's own threshold
        assert verdicts[name].probability == estimate(lines, 0.6).probability != estimate(lines).probability


def test_chi_square_is_inconclusive_on_a_smooth_audio_histogram(assets: Path) -> None:
    loud = media.load(assets / "speech_2.wav")  # no digital silence: values spread thinly over 16 bits
    for obj in (loud, lsb_stego(loud, 1.0)):
        e = C.chi_square(obj.to_int16())
        assert e.probability == 0.5 and e.note.startswith("inconclusive")


def test_accuracy_and_auc() -> None:
    labels = np.array([0, 0, 1, 1])
    assert detection_auc(labels, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert detection_auc(labels, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert detection_auc(labels, np.full(4, 0.5)) == 0.5
    assert detection_auc(labels, np.array([0.1, 0.6, 0.6, 0.9])) == pytest.approx(0.875)
    assert detection_accuracy(labels, np.array([0.1, 0.6, 0.4, 0.9])) == 0.5


def test_registry_has_a_learned_detector_per_method() -> None:
    names = detector_names()
    assert names[:3] == ["chi-square", "rs", "spa"]
    assert "cnn-lsb" in names
    with pytest.raises(UsageError, match="unknown detector"):
        analyze(media.Image(np.zeros((8, 8, 3), np.float32)), ["nope"])


def test_missing_weights_say_how_to_train(face, tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="crossteg train detector --method lsb"):
        analyze(face, ["cnn-lsb"], weights_dir=tmp_path)


@pytest.mark.parametrize("modality", ["image", "audio"])
def test_tiny_detector_trains_and_loads(modality: str, tmp_path: Path) -> None:
    from crossteg.steganalysis.learned import load_detector, predict, sha256_file
    from crossteg.train.detector import main

    main(["--method", "lsb", "--modality", modality, "--steps", "3", "--pairs", "4", "--held-out", "2",
          "--batch", "2", "--size", "64", "--crop", "32", "--length", "4096", "--log-every", "2",
          "--no-espeak", "--out", str(tmp_path)])
    card = json.loads((tmp_path / f"detector-lsb-{modality}.json").read_text())
    weights = tmp_path / card["weights"]
    assert weights.stat().st_size < 2_000_000
    assert card["sha256"] == sha256_file(weights)
    assert card["training"]["steps"] == 3 and card["training"]["seed"] == 0
    assert {"held_out_accuracy", "held_out_auc"} <= set(card["metrics"])
    assert not set(card["data"]["train_sources"]) & set(card["data"]["held_out_sources"])
    model, _ = load_detector("lsb", modality, tmp_path)
    sample = media.Image(np.random.default_rng(0).random((40, 48, 3), np.float32)) if modality == "image" \
        else media.Audio(np.zeros((2, 5000), np.float32), 16000)
    assert 0.0 <= predict(model, sample) <= 1.0
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(WeightsError, match="sha256"):
        load_detector("lsb", modality, tmp_path)


def test_audio_detectors_look_at_the_rate_the_method_embeds_at(assets: Path) -> None:
    """ditas makes its change at 16 kHz whatever the cover's rate: its detector scores a 48 kHz stereo file as the
    16 kHz file a converter makes of it (every channel, 16-bit values kept 16-bit); lsb's bits are the file's own
    samples, so its detector scores the file as it is."""
    from crossteg.steganalysis.learned import at_rate, on_16bit_grid

    speech = media.load(assets / "speech_1.wav")
    stereo = media.Audio(np.concatenate([speech.samples, 0.5 * speech.samples]), speech.sample_rate)
    wide = at_rate(media.Audio.from_int16(stereo.to_int16(), 16000), 48000)
    assert (wide.sample_rate, wide.channels, wide.frames) == (48000, 2, 3 * speech.frames) and on_16bit_grid(wide)
    narrow = at_rate(wide, 16000)
    assert (narrow.sample_rate, narrow.channels) == (16000, 2) and on_16bit_grid(narrow)
    assert not on_16bit_grid(at_rate(media.Audio(speech.samples * np.float32(0.3001), 16000), 22050))
    assert at_rate(speech, 16000) is speech

    def probability(obj: media.Audio, name: str) -> float:
        return analyze(obj, [name])[0].probability

    assert probability(wide, "cnn-ditas") == probability(narrow, "cnn-ditas")
    assert probability(wide, "cnn-lsb") != probability(narrow, "cnn-lsb")


@pytest.mark.parametrize("card", sorted(WEIGHTS_DIR.glob("detector-*.json")), ids=lambda p: p.stem)
def test_shipped_detector_cards_match_their_weights(card: Path) -> None:
    from crossteg.steganalysis.learned import load_detector

    info = json.loads(card.read_text())
    _, loaded = load_detector(info["method"], info["modality"])  # checks sha256, loads strictly
    assert loaded["metrics"]["held_out_auc"] >= 0.5
    assert (WEIGHTS_DIR / info["weights"]).stat().st_size < 2_000_000


def test_cli_steganalyze_png_and_wav(face, assets: Path, tmp_path: Path) -> None:
    stego = media.save(lsb_stego(face, 1.0), tmp_path / "stego.png")
    result = run_cli("steganalyze", assets / "face.png", stego, assets / "speech_1.wav", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    by_file: dict[str, dict[str, float]] = {}
    for row in rows:
        by_file.setdefault(Path(row["file"]).name, {})[row["detector"]] = row["probability"]
    assert {"chi-square", "rs", "spa"} <= set(by_file["speech_1.wav"])
    assert by_file["stego.png"]["chi-square"] > 0.9 and by_file["face.png"]["chi-square"] < 0.1
    assert by_file["stego.png"]["rs"] > 0.9 and by_file["face.png"]["rs"] < 0.5
    table = run_cli("steganalyze", stego, "--detector", "rs,chi-square")
    assert table.returncode == 0 and "rs" in table.stdout and "spa" not in table.stdout
    video = run_cli("steganalyze", assets / "clip.mp4", stego, "--json", "-d", "chi-square")
    assert video.returncode == 2 and "clip.mp4 is video" in video.stderr  # named, and the other file still read
    assert [Path(r["file"]).name for r in json.loads(video.stdout)] == ["stego.png"]


def test_cli_steganalyze_missing_file_is_one_line(tmp_path: Path) -> None:
    result = run_cli("steganalyze", tmp_path / "nope.png")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no such file" in result.stderr
