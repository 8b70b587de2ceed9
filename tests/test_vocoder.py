"""codecs/vocoder.py and its trainer: shapes, a few training steps, Griffin-Lim's floor, the shipped network."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from crossteg import media, metrics
from crossteg.codecs import mel
from crossteg.codecs import vocoder as V
from crossteg.errors import UsageError, WeightsError
from crossteg.nn import discriminators as gan
from crossteg.train import vocoder as trainer
from crossteg.train.resume import checkpoint_extra

TINY = V.VocoderConfig(dim=16, layers=1, expand=2)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def speech(assets) -> np.ndarray:
    return media.load_audio(assets / "speech_1.wav", mel.SAMPLE_RATE, mono=True).samples[0]


def test_forward_gives_the_asked_length():
    model = V.build(TINY).eval()
    features = np.random.default_rng(0).random((mel.N_MELS, 21)).astype(np.float32)
    with torch.no_grad():
        assert model(torch.from_numpy(features)[None]).shape == (1, 20 * mel.HOP)
    for kind in ("neural", "hybrid"):
        out = V.vocode(features, 5000, kind, model=model)
        assert out.shape == (5000,) and out.dtype == np.float32 and np.isfinite(out).all()
    assert V.vocode(features[:, :0], 0, "neural", model=model).shape == (0,)


def test_unknown_vocoder_and_missing_weights_say_what_to_do(tmp_path):
    with pytest.raises(UsageError, match="griffin-lim"):
        V.resolve("wavenet")
    with pytest.raises(WeightsError, match="crossteg train vocoder"):
        V.load(tmp_path)
    assert V.resolve("auto") == (V.DEFAULT if V.available() else "griffin-lim")


@pytest.mark.parametrize("magnitude_weighted", [False, True])
def test_loss_drops_over_a_few_steps(speech, magnitude_weighted):
    torch.manual_seed(0)
    model, losses = V.build(TINY), trainer.Losses(magnitude_weighted)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    audio = torch.from_numpy(np.stack([speech[:4096], speech[8000:12096]]))
    rng = np.random.default_rng(0)
    totals = [trainer.step_once(model, losses, optimiser, audio, rng)["total"] for _ in range(8)]
    assert np.isfinite(totals).all() and totals[-1] < 0.95 * totals[0]


def test_magnitude_weighted_phase_error_ignores_silent_bins():
    true = torch.zeros(1, 4, 3)
    magnitude = torch.tensor([1.0, 1.0, 0.0, 0.0])[None, :, None].expand(1, 4, 3)
    wrong_where_silent = true.clone()
    wrong_where_silent[:, 2:] = 2.0  # phase off only in the two silent bins
    assert trainer.Losses(True).phase_loss(wrong_where_silent, true, magnitude) == pytest.approx(0.0, abs=1e-6)
    assert trainer.Losses(False).phase_loss(wrong_where_silent, true, magnitude) > 0.5
    assert trainer.Losses(True).phase_loss(true + 1.0, true, magnitude) == pytest.approx(1.0)  # whole-frame shift: IP


def test_discriminators_learn_to_tell_speech_from_the_untrained_vocoder(speech):
    """A few adversarial steps: the discriminators' loss falls, the generator's terms are finite, and the
    adversarial term alone sends a gradient to the vocoder."""
    torch.manual_seed(0)
    model, losses = V.build(TINY), trainer.Losses()
    critics = gan.Discriminators()
    assert len(critics(torch.zeros(1, 4096))) == len(gan.PERIODS) + len(gan.RESOLUTIONS)
    adversary = trainer.Adversary(critics, torch.optim.AdamW(critics.parameters(), lr=1e-3), 0.2, 1)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    audio = torch.from_numpy(np.stack([speech[:4096], speech[8000:12096]]))
    rng = np.random.default_rng(0)
    steps = [trainer.step_once(model, losses, optimiser, audio, rng, adversary) for _ in range(6)]
    assert all(np.isfinite(list(terms.values())).all() for terms in steps)
    assert steps[-1]["disc"] < steps[0]["disc"]
    _, speech_out = losses(model, audio, losses.mel(losses.stft(audio)))
    model.zero_grad()
    adversary.judge(audio, speech_out)["adv"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_training_writes_weights_and_card_and_resumes(tmp_path, monkeypatch, speech, capsys):
    """The trainer end to end (tiny, no espeak: the bundled clip stands in for the synthetic voices)."""
    monkeypatch.setattr(trainer.data, "speech_clips", lambda rng, n, *a, **k: (speech for _ in range(n)))
    common = ["--dim", "16", "--layers", "1", "--batch", "2", "--segment", "2048", "--clips", "2", "--eval-clips",
              "1", "--out", str(tmp_path), "--checkpoint", str(tmp_path / "c.ckpt")]
    trainer.main(["--steps", "2", *common])
    card = json.loads((tmp_path / f"{V.WEIGHTS_NAME}.json").read_text())
    assert card["training"]["steps"] == 2 and card["architecture"]["dim"] == 16
    assert "held_out_pesq_wb" in card["metrics"]
    assert V.load(tmp_path).config.layers == 1
    trainer.main(["--resume", "--steps", "3", *common])
    assert json.loads((tmp_path / f"{V.WEIGHTS_NAME}.json").read_text())["training"]["steps"] == 3
    assert checkpoint_extra(tmp_path / "c.ckpt") is None
    adversarial = ["--adversarial", "0.2", "--adversarial-batch", "1"]
    trainer.main(["--resume", "--steps", "4", *adversarial, *common])
    card = json.loads((tmp_path / f"{V.WEIGHTS_NAME}.json").read_text())
    assert card["training"]["steps"] == 4 and "--adversarial 0.2" in card["training"]["command"]
    assert "adversarial" in card["training"]["loss"]
    critics = checkpoint_extra(tmp_path / "c.ckpt")["critics"]
    capsys.readouterr()
    trainer.main(["--resume", "--steps", "5", *adversarial, *common])  # the discriminators go on from there
    assert "discriminators resumed" in capsys.readouterr().out
    later = checkpoint_extra(tmp_path / "c.ckpt")["critics"]
    assert critics.keys() == later.keys() and any(not torch.equal(critics[k], later[k]) for k in critics)


def test_griffin_lim_pesq_is_above_a_floor(speech):
    out = V.vocode(mel.mel_spectrogram(speech), len(speech), "griffin-lim")
    assert len(out) == len(speech)
    assert metrics.pesq_wb(speech, out, mel.SAMPLE_RATE) > 2.0


def _envelope(x: np.ndarray) -> np.ndarray:
    frames = x[:len(x) // mel.HOP * mel.HOP].reshape(-1, mel.HOP)
    return np.log10((frames ** 2).mean(axis=1) + 1e-8)


@pytest.mark.skipif(not V.available(), reason="neural vocoder weights not shipped")
def test_shipped_network_speaks_the_input(speech):
    out = V.vocode(mel.mel_spectrogram(speech), len(speech), "neural")
    assert len(out) == len(speech) and np.abs(out).max() <= 0.9 + 1e-6
    assert np.corrcoef(_envelope(speech), _envelope(out))[0, 1] > 0.9
    assert metrics.stoi(speech, out, mel.SAMPLE_RATE) > 0.8
    assert metrics.pesq_wb(speech, out, mel.SAMPLE_RATE) > 2.0
