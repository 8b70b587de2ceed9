"""Robustness attacks: each changes the stego file as its name says, keeps it a valid file of the same format,
never touches its input; `select` parses attack lists; eval records failed reveals as rows."""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image as PILImage

from crossteg import media, metrics
from crossteg.errors import UsageError
from crossteg.evaluate import run_eval, secret_metrics
from crossteg.media import INR, Audio, Image
from crossteg.nn.siren import Siren, SirenConfig
from crossteg.robustness import ATTACKS, SWEEPS, NotApplicable, select
from crossteg.robustness.audio import CODECS, encoders

RATE = 22050


@pytest.fixture(scope="module")
def stegos(tmp_path_factory, assets) -> dict[str, Path]:
    """A PNG (the bundled 160x160 face) and a 1 s stereo 22.05 kHz 16-bit WAV with no exact zeros."""
    folder = tmp_path_factory.mktemp("stegos")
    png = folder / "stego.png"
    shutil.copy(assets / "face160.png", png)
    t = np.arange(RATE) / RATE
    noise = np.random.default_rng(1).normal(0, 0.05, (2, RATE))
    tones = 0.3 * np.sin(2 * np.pi * np.array([[440.0], [660.0]]) * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    samples = tones + noise
    samples = np.where(np.abs(samples) < 1e-3, 1e-3, samples)  # no sample rounds to 0 in 16 bits
    media.save(Audio(samples.astype(np.float32), RATE), folder / "stego.wav")
    net = Siren(SirenConfig(2, 3, 32, 2), torch.Generator().manual_seed(0))
    media.save(INR({k: v.numpy() for k, v in net.state().items()}, {"format": "test"}), folder / "stego.safetensors")
    return {".png": png, ".wav": folder / "stego.wav", ".safetensors": folder / "stego.safetensors"}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def attacked(name: str, stegos: dict[str, Path], tmp_path: Path) -> tuple[Any, Any]:
    """(original, attacked) media for attack `name`, after checking the generic contract."""
    attack = ATTACKS[name]
    (suffix,) = attack.suffixes
    src, dst = stegos[suffix], tmp_path / f"out{suffix}"
    before = digest(src)
    attack.apply(src, dst)
    assert digest(src) == before, "the input file must never change"
    assert sorted(p.name for p in tmp_path.iterdir()) == [dst.name], "no temporary file left behind"
    original: Any = media.load(src)
    result: Any = media.load(dst)
    assert result.modality == original.modality
    if isinstance(original, Image):
        assert result.pixels.shape == original.pixels.shape
        assert PILImage.open(dst).format == "PNG"
    elif isinstance(original, INR):
        assert {k: v.shape for k, v in result.tensors.items()} == {k: v.shape for k, v in original.tensors.items()}
    else:
        assert (result.sample_rate, result.channels) == (original.sample_rate, original.channels)
        assert abs(result.frames - original.frames) <= 0.06 * original.sample_rate
        assert sf.info(str(dst)).format == "WAV"
    return original, result


def test_registry_names_and_codecs():
    expected = {"png-resave", "jpeg-95", "jpeg-90", "jpeg-75", "resize-down-up", "resize-up-down",
                "gaussian-noise-1", "gaussian-noise-2", "crop-10", "wav-resave", "wav-24bit", "resample-16000",
                "resample-22050", "resample-44100", "noise-40db", "noise-30db", "gain-6db", "gain+3db",
                "silence-start-50ms", "cut-start-50ms", "segment-loss-10", "segment-loss-25", "weights-fp16",
                "prune-10", "weight-noise-0.001", "metadata-stripped"}
    assert expected <= set(ATTACKS)
    for name, attack in ATTACKS.items():
        assert attack.suffixes in ((".png",), (".wav",), (".safetensors",)) and attack.description
        assert name == attack.name
    for sweep in SWEEPS:  # a codec sweep is registered exactly when the bundled ffmpeg has its encoder
        registered = [a.name in ATTACKS for a in sweep.attacks()]
        assert all(registered) == (sweep.requires is None or sweep.requires in encoders())
        assert all(registered) or not any(registered)
    assert {"libmp3lame", "aac", "libopus"} <= encoders(), "imageio-ffmpeg's binary ships these encoders"
    assert {"mp3-128", "mp3-64", "aac-128", "opus-64"} <= set(ATTACKS)
    assert set(CODECS) == {"mp3", "aac", "opus"}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_keeps_format_and_input(name, stegos, tmp_path):
    if name == "resample-22050":  # the fixture is already at 22.05 kHz: nothing to do, nothing written
        with pytest.raises(NotApplicable):
            ATTACKS[name].apply(stegos[".wav"], tmp_path / "out.wav")
        assert not list(tmp_path.iterdir())
        return
    original, result = attacked(name, stegos, tmp_path)
    if isinstance(original, Audio) and name not in ("wav-resave", "wav-24bit"):
        assert sf.info(str(tmp_path / "out.wav")).subtype == "PCM_16", "the input's sample type is kept"


def test_lossless_resaves(stegos, tmp_path):
    for name in ("png-resave", "wav-resave", "wav-24bit"):
        for leftover in tmp_path.iterdir():
            leftover.unlink()
        original, result = attacked(name, stegos, tmp_path)
        if isinstance(original, Image):
            assert np.array_equal(original.to_uint8(), result.to_uint8())
        else:
            assert np.array_equal(original.to_int16(), result.to_int16())
    assert sf.info(str(tmp_path / "out.wav")).subtype == "PCM_24"


def image_pair(name: str, stegos: dict[str, Path], tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    original, result = attacked(name, stegos, tmp_path / name)
    return original.to_uint8().astype(float), result.to_uint8().astype(float)


def test_jpeg_quality_orders_distortion(stegos, tmp_path):
    psnrs = []
    for quality in (95, 90, 75):
        a, b = image_pair(f"jpeg-{quality}", stegos, tmp_path)
        assert np.mean(a != b) > 0.3, "JPEG changes most values"
        psnrs.append(metrics.psnr(a / 255, b / 255))
    assert 30 < psnrs[2] < psnrs[1] < psnrs[0] < 50, psnrs


@pytest.mark.parametrize("sigma", [1, 2])
def test_gaussian_noise_has_its_sigma(sigma, stegos, tmp_path):
    a, b = image_pair(f"gaussian-noise-{sigma}", stegos, tmp_path)
    assert abs(np.std(b - a) - math.sqrt(sigma**2 + 1 / 12)) < 0.1  # plus rounding to 8 bits


def test_resize_and_crop(stegos, tmp_path):
    for name in ("resize-down-up", "resize-up-down"):
        a, b = image_pair(name, stegos, tmp_path)
        assert 25 < metrics.psnr(a / 255, b / 255) < 60 and not np.array_equal(a, b)
    a, b = image_pair("crop-10", stegos, tmp_path)
    zoom = np.asarray(PILImage.fromarray(a[8:152, 8:152].astype(np.uint8)).resize((160, 160), PILImage.BICUBIC))
    assert np.abs(b - zoom).mean() < 1.0, "crop-10 is the centre 90% resized back"


def audio_pair(name: str, stegos: dict[str, Path], tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    original, result = attacked(name, stegos, tmp_path / name)
    return original.samples.astype(float), result.samples.astype(float)


def snr_db(a: np.ndarray, b: np.ndarray) -> float:
    n = min(a.shape[1], b.shape[1])
    return float(10 * np.log10(np.sum(a[:, :n] ** 2) / np.sum((a[:, :n] - b[:, :n]) ** 2)))


@pytest.mark.parametrize("snr", [40, 30])
def test_white_noise_snr(snr, stegos, tmp_path):
    a, b = audio_pair(f"noise-{snr}db", stegos, tmp_path)
    assert abs(snr_db(a, b) - snr) < 1


@pytest.mark.parametrize("db", [-6, 3])
def test_gain_scales_every_sample_and_clips(db, stegos, tmp_path):
    a, b = audio_pair(f"gain{db:+d}db", stegos, tmp_path)
    expected = np.clip(a * 10 ** (db / 20), -1, 1)
    assert np.abs(b - expected).max() <= 1 / 32768  # one 16-bit step of rounding
    assert (np.abs(b).max() >= 32767 / 32768) == (np.abs(a).max() * 10 ** (db / 20) >= 1)


def test_the_start_is_padded_with_silence_or_cut_away(stegos, tmp_path):
    a, padded = audio_pair("silence-start-50ms", stegos, tmp_path)
    lead = round(RATE * 0.05)
    assert padded.shape == (2, RATE + lead) and not padded[:, :lead].any()
    assert np.array_equal(padded[:, lead:], a)
    _, cut = audio_pair("cut-start-50ms", stegos, tmp_path)
    assert np.array_equal(cut, a[:, lead:])


@pytest.mark.parametrize("percent", [10, 25])
def test_segment_loss_zeros_four_segments(percent, stegos, tmp_path):
    a, b = audio_pair(f"segment-loss-{percent}", stegos, tmp_path)
    zero = (b == 0).all(axis=0)
    assert not (a == 0).any() and zero.sum() == round(RATE * percent / 100)
    assert np.array_equal(a[:, ~zero], b[:, ~zero]), "only the lost segments change"
    assert len(re.findall("1+", "".join("1" if z else "0" for z in zero))) == 4


def test_weight_attacks(stegos, tmp_path):
    original = media.load(stegos[".safetensors"]).tensors
    out = {}
    for name in ("weights-fp16", "prune-10", "weight-noise-0.001", "metadata-stripped"):
        ATTACKS[name].apply(stegos[".safetensors"], tmp_path / f"{name}.safetensors")
        out[name] = media.load(tmp_path / f"{name}.safetensors")
    assert {v.dtype for v in out["weights-fp16"].tensors.values()} == {np.dtype(np.float16)}
    for k, v in original.items():
        np.testing.assert_allclose(out["weights-fp16"].tensors[k], v, rtol=1e-3, atol=1e-4)
        pruned = out["prune-10"].tensors[k]
        if v.ndim == 2:  # matrices lose their smallest tenth; biases are kept
            assert (pruned == 0).mean() == pytest.approx(0.1, abs=0.02)
            assert np.abs(pruned[pruned != 0]).min() >= np.abs(v[pruned == 0]).max()
        else:
            np.testing.assert_array_equal(pruned, v)
        change = out["weight-noise-0.001"].tensors[k] - v
        assert 0 < change.std() <= 0.002 * v.std()
        np.testing.assert_array_equal(out["metadata-stripped"].tensors[k], v)
    assert out["prune-10"].metadata == {"format": "test"} and out["metadata-stripped"].metadata == {}
    with pytest.raises(NotApplicable):  # nothing left to strip
        ATTACKS["metadata-stripped"].apply(tmp_path / "metadata-stripped.safetensors", tmp_path / "again.safetensors")


@pytest.mark.parametrize("name", ["resample-16000", "resample-44100"])
def test_resample_round_trip(name, stegos, tmp_path):
    a, b = audio_pair(name, stegos, tmp_path)
    assert a.shape == b.shape and not np.array_equal(a, b)
    assert snr_db(a, b) > 10  # a 16 kHz stop loses the fixture's white noise above 8 kHz


@pytest.mark.parametrize("name", [n for n in ("mp3-128", "mp3-64", "aac-128", "opus-64") if n in ATTACKS])
def test_codec_round_trip(name, stegos, tmp_path):
    a, b = audio_pair(name, stegos, tmp_path)  # duration within 60 ms, rate and channels kept (checked there)
    assert not np.array_equal(a, b) and 3 < snr_db(a, b) < 60, snr_db(a, b)


def test_random_attacks_are_deterministic(stegos, tmp_path):
    for name, suffix in (("gaussian-noise-1", ".png"), ("noise-30db", ".wav"), ("segment-loss-10", ".wav")):
        ATTACKS[name].apply(stegos[suffix], tmp_path / f"1{suffix}")
        ATTACKS[name].apply(stegos[suffix], tmp_path / f"2{suffix}")
        assert digest(tmp_path / f"1{suffix}") == digest(tmp_path / f"2{suffix}")


def test_attack_refuses_to_overwrite_its_input(stegos, tmp_path):
    src = tmp_path / "in.png"
    shutil.copy(stegos[".png"], src)
    before = digest(src)
    with pytest.raises(UsageError, match="input"):
        ATTACKS["jpeg-75"].apply(src, src)
    assert digest(src) == before
    with pytest.raises(UsageError, match="no such file"):
        ATTACKS["jpeg-75"].apply(tmp_path / "missing.png", tmp_path / "out.png")


def test_select():
    assert select("none") == [] and select("") == []
    assert [a.name for a in select("all")] == list(ATTACKS)
    assert [a.name for a in select("jpeg-75, wav-resave,jpeg-75")] == ["jpeg-75", "wav-resave"]
    with pytest.raises(UsageError, match="unknown attack.*jpeg-7.*available"):
        select("jpeg-7,png-resave")


def test_a_revealed_clip_of_the_wrong_length_is_scored_against_the_whole_original():
    """A reveal that misreads its length (after an attack) returns too little, even nothing: the missing part
    counts as silence, so the scores are low and defined instead of an error or a flattering partial match."""
    rng = np.random.default_rng(0)
    original = Audio(rng.normal(0, 0.1, 32000).astype(np.float32), 16000)
    half = Audio(original.samples[:, :16000], 16000)
    assert secret_metrics(original, half)["secret_snr"] == pytest.approx(10 * math.log10(2), abs=0.1)
    empty = secret_metrics(original, Audio(np.zeros((1, 0), np.float32), 16000))
    assert empty["secret_snr"] == 0.0 and empty["secret_stoi"] < 0.1 and "secret_pesq" not in empty
    assert secret_metrics(original, original)["secret_snr"] == math.inf


def test_eval_records_every_attack_and_failures(assets, tmp_path):
    """lsb survives the lossless re-saves and fails cleanly (reveal_ok 0, reason noted) after the others."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(assets / "face160.png", data / "a_cover.png")
    shutil.copy(assets / "speech_1.wav", data / "a_cover.wav")
    media.save(Image(np.full((8, 8, 3), 0.5, np.float32)), data / "b_secret.png")
    media.save(Audio(np.zeros(800, np.float32), 16000), data / "b_secret.wav")
    output = tmp_path / "eval.json"
    run_eval("lsb", attacks="all", data=data, output=output)
    rows = json.loads(output.read_text())["rows"]
    ok = {r["setting"]: r for r in rows if r["metric"] == "reveal_ok"}
    for suffix, case in ((".png", "b_secret.png in a_cover.png"), (".wav", "b_secret.wav in a_cover.wav")):
        assert ok[f"quick {case}"]["ours"] == 1.0
        applicable = [a.name for a in ATTACKS.values() if suffix in a.suffixes and a.name != "resample-16000"]
        for name in applicable:
            row = ok[f"quick {case} after {name}"]
            lossless = name in ("png-resave", "wav-resave", "wav-24bit")
            assert row["ours"] == (1.0 if lossless else 0.0), row
            assert lossless or "wrong key, or no lsb secret" in row["note"]
        assert not any("resample-16000" in s for s in ok), "a 16 kHz stego is not resampled to 16 kHz"
    exact = [r for r in rows if r["metric"] == "secret_exact" and r["ours"] is not None]
    assert exact and all(r["ours"] == 1.0 for r in exact)


def test_eval_passes_over_unreadable_files_and_names_them(assets, tmp_path):
    """A user's folder may hold a broken file; the others are still evaluated, and the message says which."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "0_broken.png").write_bytes(b"not a picture")  # first by name: the cover the run would pick
    (data / "0_broken.wav").write_bytes(b"not a sound")
    shutil.copy(assets / "face160.png", data / "a_cover.png")
    shutil.copy(assets / "speech_1.wav", data / "a_cover.wav")
    result = run_eval("lsb", data=data, output=tmp_path / "eval.json")
    cases = {r["setting"] for r in result["rows"] if r["metric"] == "reveal_ok"}
    assert cases == {"quick 0_broken.png in a_cover.png", "quick 0_broken.wav in a_cover.wav"}  # lsb hides bytes
    assert "skipped 2 unreadable file(s)" in result["message"] and "0_broken.wav" in result["message"]


@pytest.mark.parametrize(("name", "bits"), [("wav-resave", 16), ("wav-24bit", 24)])
def test_pcm_resaves_quantise_a_float_stego(name, bits, stegos, tmp_path):
    original = media.load(stegos[".wav"])
    src = media.save(Audio(original.samples * 0.9 + 1e-6, RATE), tmp_path / "float.wav", subtype="FLOAT")
    ATTACKS[name].apply(src, tmp_path / "out.wav")
    result = media.load(tmp_path / "out.wav")
    error = np.abs(result.samples - media.load(src).samples).max()
    assert 0 < error <= 0.5 / 2 ** (bits - 1) + 1e-9, "rounded to the nearest PCM step, full scale kept"


def test_benchmark_method_options():
    from benchmarks.robustness import method_options

    parsed = method_options(["inrsteg:steps=300", "inrsteg:precision=fp16", "inrweights:width=256"])
    assert parsed == {"inrsteg": {"steps": 300, "precision": "fp16"}, "inrweights": {"width": 256}}


def test_benchmark_keeps_a_named_sweep_beside_the_method_rows(tmp_path):
    """`--name` files one method's sweep (e.g. with other --option values) under its own name: a later sweep of the
    method itself, merged, keeps those rows, and each merge says how its rows were made."""
    from benchmarks.robustness import main

    sweep = ["--methods", "lsb", "--attacks", "png-resave", "--covers", "image", "--out", str(tmp_path)]
    main(sweep)
    named = main([*sweep, "--name", "lsb-again", "--merge"])
    again = main([*sweep, "--merge"])
    assert {r.method for r in named.rows} == {r.method for r in again.rows} == {"lsb", "lsb-again"}
    assert sorted(r.setting for r in again.rows if r.method == "lsb-again") == sorted(
        r.setting for r in again.rows if r.method == "lsb") and "--name lsb-again --merge" in again.command
    with pytest.raises(SystemExit):
        main(["--methods", "lsb,thinimg", "--name", "both", "--out", str(tmp_path)])
