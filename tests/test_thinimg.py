"""thinimg: the coupling network's exact inverse, keyed shuffles, weights loading, and real round trips through
8-bit PNG files with the shipped weights (single layer and nested levels)."""

import json
import re
import warnings

import numpy as np
import pytest
import torch

from conftest import run_cli
from crossteg import media
from crossteg.codecs import mel
from crossteg.errors import CapacityError, KeyError_, UsageError, WeightsError
from crossteg.media import Audio, Image
from crossteg.methods import get_method
from crossteg.methods import thinimg as T
from crossteg.metrics import psnr, stoi
from crossteg.nn.coupling import CouplingConfig, CouplingNet, haar, inverse_haar, round_8bit
from crossteg.robustness import ATTACKS
from crossteg.train import thinimg as trainer


def randomised(net: CouplingNet) -> CouplingNet:
    """A network whose subnets all do something (the shipped init zeroes their last convolutions)."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.1)
    return net


@pytest.mark.parametrize("dwt", [True, False])
def test_reveal_inverts_embed_to_float_precision(dwt):
    net = randomised(CouplingNet(CouplingConfig(3, 2, blocks=3, width=4, dwt=dwt)).double())
    image, secret = torch.rand(2, 3, 16, 16, dtype=torch.double), torch.rand(2, 2, 16, 16, dtype=torch.double)
    container, lost = net(image, secret)
    assert (container - image).abs().max() > 1e-2  # the blocks are not the identity
    image_r, secret_r = net.reverse(container, lost)
    assert (image_r - image).abs().max() < 1e-10 and (secret_r - secret).abs().max() < 1e-10


def test_haar_is_orthonormal_and_exact():
    x = torch.rand(1, 3, 8, 8, dtype=torch.double)
    y = haar(x)
    assert y.shape == (1, 12, 4, 4) and torch.allclose((y ** 2).sum(), (x ** 2).sum())
    assert torch.allclose(inverse_haar(y), x, atol=1e-12)


def test_8bit_rounding_is_straight_through_and_clipping_is_not():
    x = torch.tensor([-0.2, 0.3, 0.50001, 1.3], requires_grad=True)
    y = round_8bit(x)
    assert torch.equal(y.detach() * 255, torch.round(y.detach() * 255)) and y.min() >= 0 and y.max() <= 1
    y.sum().backward()
    assert torch.equal(x.grad, torch.tensor([0.0, 1.0, 1.0, 0.0]))  # clipped values cannot move the file


def test_scramble_is_keyed_and_invertible():
    tensor = np.random.default_rng(0).random((2, 160, 160)).astype(np.float32)
    perm, flips = T.level_shuffle("k", 1, tensor.shape)
    shuffled = T.scramble(tensor, perm, flips)
    np.testing.assert_allclose(T.unscramble(shuffled, perm, flips), tensor, atol=1e-6)  # 1 - (1 - x)
    other = T.level_shuffle("k", 2, tensor.shape)  # another level of the same passphrase differs
    assert not np.array_equal(other[0], perm)
    wrong = T.unscramble(shuffled, *T.level_shuffle("not k", 1, tensor.shape))
    assert abs(np.corrcoef(wrong.ravel(), tensor.ravel())[0, 1]) < 0.05


def test_a_wrong_key_is_refused_on_a_mostly_padded_tensor(assets):
    """A short clip in a 40 s tensor: a wrong key's inverted padding tiles can mimic a header's Manchester pairs,
    but the padding after the length it reads is not empty."""
    speech = media.load_audio(assets / "speech_1.wav", mel.SAMPLE_RATE, mono=True).samples[0]
    layout = mel.Layout("mel", 8)
    hidden = T.scramble(mel.compress(speech, layout), *T.level_shuffle("k", 1, layout.shape))
    for key in ("k", *(f"wrong {j}" for j in range(8))):
        tensor = T.unscramble(hidden, *T.level_shuffle(key, 1, layout.shape))
        _, total, confidence = mel.unstitch(tensor, layout)
        read = T.HeaderRead(confidence, total, None, plausible=0 < total <= layout.max_samples,
                            padding=T.padding_level(mel.padding(tensor, layout, total)))
        assert read.accepted == (key == "k"), (key, confidence, read.padding)
        if key != "k" and read.padding is not None:
            assert read.padding > 0.3  # half the padding tiles come back inverted


def test_a_read_is_accepted_on_a_lower_confidence_only_with_quiet_padding():
    def read(confidence, padding, plausible=True):
        return T.HeaderRead(confidence, 16000, None, plausible, padding).accepted

    assert read(0.95, None) and read(0.95, 0.01) and not read(0.95, 0.5)  # padding contradicts the header
    assert read(0.5, 0.01) and not read(0.5, None) and not read(0.3, 0.01)
    assert not read(0.95, 0.01, plausible=False)


def tiny_weights(folder, nested=False, seconds=10, fmt="mel"):
    """Tiny untrained weights + card written by the trainer's own save function."""
    args = trainer.parse(["--out", str(folder), "--width", "4", "--blocks", "2", "--seconds", str(seconds),
                          "--format", fmt] + (["--nested"] if nested else []))
    layers = T.build_layers(CouplingConfig(3, mel.channels_for(seconds, fmt), 2, 4), nested)
    optimiser = torch.optim.Adam([p for n in layers for p in n.parameters()])
    state = {"step": 0, "seconds": 0.0, "curve": [], "device": "cpu"}
    trainer.save_all(layers, optimiser, state, args, folder / "tiny.ckpt")
    return layers


def test_a_resumed_run_keeps_the_cards_lineage(tmp_path):
    layers = tiny_weights(tmp_path)
    card_path = tmp_path / f"{T.SINGLE}.json"
    card = json.loads(card_path.read_text())
    card.update(init="from an earlier run", history="two runs before this one")
    card_path.write_text(json.dumps(card))
    args = trainer.parse(["--out", str(tmp_path), "--width", "4", "--blocks", "2", "--resume"])
    optimiser = torch.optim.Adam([p for n in layers for p in n.parameters()])
    state = {"step": 3, "seconds": 1.0, "curve": [], "device": "cpu"}
    trainer.save_all(layers, optimiser, state, args, tmp_path / "tiny.ckpt")
    saved = json.loads(card_path.read_text())
    assert saved["history"] == "two runs before this one" and saved["init"] == "from an earlier run"
    assert saved["training"]["steps"] == 3


def test_weights_load_strictly_and_are_checked(tmp_path):
    layers = tiny_weights(tmp_path)
    model = T.load_model(T.SINGLE, tmp_path)
    assert model.layout == mel.Layout() and model.layers[0].config == layers[0].config
    card = json.loads((tmp_path / f"{T.SINGLE}.json").read_text())
    card["sha256"] = "0" * 64
    (tmp_path / f"{T.SINGLE}.json").write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="sha256"):
        T.load_model(T.SINGLE, tmp_path)
    with pytest.raises(WeightsError, match="crossteg train thinimg --nested"):
        T.load_model(T.NESTED, tmp_path)
    with pytest.raises(WeightsError, match="run `crossteg train thinimg --noise 1 --resume` to make them"):
        get_method("thinimg", model="robust", weights_dir=str(tmp_path)).hide(
            Image(np.full((160, 160, 3), 0.5, np.float32)), Audio(np.zeros(16000, np.float32), 16000))


def test_capacity_error_says_the_maximum_seconds(tmp_path, assets):
    tiny_weights(tmp_path)
    method = get_method("thinimg", weights_dir=str(tmp_path))
    face = media.load(assets / "face160.png")
    assert method.capacity(face).amount == 10.04
    assert method.capacity(media.load(assets / "face.png")).amount == 40.19  # 2 x 2 tiles of 160 x 160
    with pytest.raises(CapacityError, match=r"at most 10\.04 s"):
        method.hide(face, media.load(assets / "speech_long.wav"))
    with pytest.raises(UsageError):
        method.hide(face, [media.load(assets / "speech_1.wav")] * 3)
    with pytest.raises(UsageError, match="at least 160x160"):
        method.capacity(Image(np.zeros((100, 300, 3), np.float32)))


def test_a_clip_too_long_for_the_10s_model_goes_to_a_longer_one(tmp_path, assets):
    """Table 2's longer single-layer models: auto hides with the 10 s model whenever the clip fits the cover's
    tiles with it, else with the shortest longer model shipped; two clips stay with the nested model."""
    tiny_weights(tmp_path)
    tiny_weights(tmp_path, seconds=20)
    assert T.load_model("thinimg-mel-20s", tmp_path).layout == mel.Layout("mel", 4)
    method = get_method("thinimg", weights_dir=str(tmp_path))
    face160, face = media.load(assets / "face160.png"), media.load(assets / "face.png")
    speech = media.load(assets / "speech_long.wav")  # 10.66 s
    assert method.capacity(face160).amount == 20.28 and method.capacity(face160, 2).amount == 10.04
    two = method.capacity_for(face160, [speech, speech])  # what hide checks and the CLI reports for two clips
    assert (two.amount, two.unit) == (10.04, "s of speech per level") and method.capacity(face160).unit == "s of speech"
    assert method._choose(1, [speech]) == "thinimg-mel-20s"
    assert method._choose(4, [speech]) == T.SINGLE  # two 10 s tiles of the larger cover hold it
    assert method._choose(1, [speech, speech]) == T.NESTED
    with pytest.raises(CapacityError,
                       match="with the thinimg-mel-20s model: read back from the 8-bit pixels at level 1"):
        method.hide(face160, speech)  # it went to the 20 s model, whose untrained container would not reveal
    with pytest.raises(CapacityError, match=r"at most 10\.04 s"):
        get_method("thinimg", weights_dir=str(tmp_path), model="single").hide(face160, speech)
    forced = get_method("thinimg", weights_dir=str(tmp_path), model="20s")
    assert forced._choose(4, [speech]) == "thinimg-mel-20s"
    with pytest.raises(UsageError, match="nested"):
        forced.hide(face, [speech, speech])
    with pytest.raises(UsageError, match="only one clip"):  # a level-2 key with no level 2 is a mistake
        get_method("thinimg", weights_dir=str(tmp_path), level2_key="two").hide(face, speech)
    assert get_method("thinimg", weights_dir=str(tmp_path)).capacity(face).amount == 81.15  # 4 tiles x 20.29


@pytest.mark.parametrize("fmt", ["raw", "stft"])
def test_the_other_formats_models_hide_and_reveal_only_when_asked_for(tmp_path, assets, fmt):
    """Table 1's raw and STFT formats: -O model=raw|stft hides with that format's weights and reveals through
    its own inversion (no vocoder); the default stays the mel. Tiny untrained weights cannot carry a secret
    through a PNG (hide refuses to write a container reveal would refuse), so the codec path is checked through
    the ceiling (the same layout, no hiding)."""
    tiny_weights(tmp_path)
    tiny_weights(tmp_path, fmt=fmt)
    assert T.load_model(f"thinimg-{fmt}-10s", tmp_path).layout == mel.Layout(fmt, mel.FORMATS[fmt])
    speech = media.load(assets / "speech_1.wav")
    chosen = get_method("thinimg", weights_dir=str(tmp_path), model=fmt)
    assert chosen._choose(1, [speech]) == f"thinimg-{fmt}-10s"
    assert get_method("thinimg", weights_dir=str(tmp_path))._choose(1, [speech]) == T.SINGLE
    with pytest.raises(CapacityError,
                       match=f"with the thinimg-{fmt}-10s model: read back from the 8-bit pixels at level 1"):
        chosen.hide(media.load(assets / "face160.png"), speech, "k")  # untrained (the shipped weights: next test)
    reference = chosen.decompressor_reference(speech)  # compressed in this format and inverted by its own codec
    assert reference.frames == speech.frames and revealed_quality(speech, reference) > 0.9


def test_train_smoke_two_steps(tmp_path, monkeypatch, capsys):
    """The trainer runs end to end (nested, tiny, two steps, no espeak or festival: synthetic tones stand in)."""
    tone = (0.5 * np.sin(np.arange(40_000) * 0.05)).astype(np.float32)
    engines: list[str] = []

    def tones(rng, n, *args, engine="espeak-ng", **kwargs):
        engines.extend([engine] * n)
        return (tone[:int(rng.integers(8000, 40000))] for _ in range(n))

    monkeypatch.setattr(trainer.data, "speech_clips", tones)
    photo = np.random.default_rng(0).random((170, 200, 3)).astype(np.float32)
    monkeypatch.setattr(trainer.data, "photos", lambda: [photo, photo[::-1]])
    trainer.main(["--nested", "--steps", "2", "--batch", "1", "--crop", "32", "--width", "4", "--blocks", "2",
                  "--clips", "2", "--out", str(tmp_path), "--checkpoint", str(tmp_path / "c.ckpt")])
    card = json.loads((tmp_path / f"{T.NESTED}.json").read_text())
    assert card["training"]["steps"] == 2 and card["curve"][-1]["container_psnr"] > 10
    assert T.load_model(T.NESTED, tmp_path).layers[1].config.image_channels == 2
    trainer.main(["--nested", "--resume", "--steps", "3", "--batch", "1", "--crop", "32", "--width", "4",
                  "--blocks", "2", "--clips", "2", "--festival-clips", "1", "--recorded-clips", "2", "--decay",
                  "--out", str(tmp_path), "--checkpoint", str(tmp_path / "c.ckpt")])
    assert engines.count("festival") == 1 and engines.count("recorded") == 2  # the resumed run's pool grew
    log = capsys.readouterr().out
    assert "from step 2:" in log and "eval step 3:" in log  # resumed where it stopped
    saved = json.loads((tmp_path / f"{T.NESTED}.json").read_text())
    better = "(better)" in log.split("eval step 3:")[1]
    assert saved["training"]["steps"] == (3 if better else 2)  # saved only if it beat step 2
    assert ("--festival-clips 1 " in saved["training"]["command"]) == better  # the card says what it saw
    assert ("1 festival clips" in saved["data"]["speech"]) == better
    assert ("--recorded-clips 2 " in saved["training"]["command"]) == better
    assert (" --decay " in saved["training"]["command"]) == better
    assert ("2 clips of 0.25-10 s strung from recorded prompts" in saved["data"]["speech"]) == better


def test_loudness_training_weighs_speech_errors_where_its_weights_say(tmp_path, monkeypatch, capsys):
    """--loudness: each hidden tensor comes with its weights cropped at the same place; they redirect the speech
    terms' gradients at the terms' unchanged size; the run scores and records the weighted PSNR (a resumed one
    scores its start first), and its card says so."""
    tone = (0.5 * np.sin(np.arange(40_000) * 0.05)).astype(np.float32)
    monkeypatch.setattr(trainer.data, "speech_clips",
                        lambda rng, n, *a, **k: (tone[:20_000 + 500 * i] for i in range(n)))
    photo = np.random.default_rng(0).random((170, 200, 3)).astype(np.float32)
    monkeypatch.setattr(trainer.data, "photos", lambda: [photo])
    layout = mel.Layout("mel", 2)
    real = T.loudness_weights
    monkeypatch.setattr(T, "loudness_weights", lambda tensors, shuffle, layout: 2 * tensors + 5)  # recognisable
    _, hidden, weights = trainer.Pool(trainer.parse(["--clips", "3"]), layout).batch(2, 32, 2)
    for h, w in zip(hidden, weights, strict=True):
        assert h.shape == w.shape == (2, 2, 32, 32)
        torch.testing.assert_close(w, 2 * h + 5)
    monkeypatch.setattr(T, "loudness_weights", real)

    layers = T.build_layers(CouplingConfig(3, 2, 2, 4), nested=True)
    image, pair = torch.rand(1, 3, 32, 32), [h[:1] for h in hidden]

    def run(loudness: list[torch.Tensor] | None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The loss parts and the gradient of the loss over every parameter."""
        loss, parts = trainer.forward(layers, image, pair, loudness)
        grads = torch.autograd.grad(loss, [p for net in layers for p in net.parameters()], allow_unused=True)
        return parts, torch.cat([g.flatten() for g in grads if g is not None])

    plain, plain_gradient = run(None)
    ones, ones_gradient = run([torch.ones(1, 2, 32, 32)] * 2)
    weighed, weighed_gradient = run([torch.rand(1, 2, 32, 32) ** 4 for _ in range(2)])
    for part in plain:  # the terms keep the paper's size; only where their gradient points changes
        torch.testing.assert_close(ones[part], plain[part])
        torch.testing.assert_close(weighed[part], plain[part])
    torch.testing.assert_close(ones_gradient, plain_gradient)
    assert not torch.allclose(weighed_gradient, plain_gradient, rtol=1e-2)

    trainer.main(["--loudness", "--steps", "2", "--batch", "1", "--crop", "32", "--width", "4", "--blocks", "2",
                  "--clips", "2", "--out", str(tmp_path), "--checkpoint", str(tmp_path / "c.ckpt")])
    card = json.loads((tmp_path / f"{T.SINGLE}.json").read_text())
    assert "--loudness" in card["training"]["command"] and "--loudness (ours)" in card["training"]["losses"]
    assert card["curve"][-1]["level1_loud_psnr"] > 0
    assert "starting weights score" not in capsys.readouterr().out  # a fresh run has nothing to score first
    loud = card["curve"][-1].pop("level1_loud_psnr")  # as the shipped weights' curves are: scored before the run
    (tmp_path / f"{T.SINGLE}.json").write_text(json.dumps(card))
    (tmp_path / "c.ckpt").unlink()
    trainer.main(["--loudness", "--resume", "--steps", "3", "--batch", "1", "--crop", "32", "--width", "4",
                  "--blocks", "2", "--clips", "2", "--out", str(tmp_path), "--checkpoint", str(tmp_path / "c.ckpt")])
    start = card["curve"][-1]["container_psnr"] + loud  # the weights at step 2, scored by the weighted PSNR
    scored = re.search(r"starting weights score ([0-9.]+)", capsys.readouterr().out)
    assert scored and float(scored.group(1)) == pytest.approx(start, abs=2e-3)  # the curve's values are rounded


def test_noise_training_reveals_through_noisy_pixels_and_scores_them(tmp_path, monkeypatch, capsys):
    """--noise: the reveal sees the rounded container plus per-sample noise, rounded again, gradients straight
    through; evaluations add the PSNR revealed through noise of std 1 and score it; the run writes the robust
    weights, whose card says so; resumed with no robust weights yet, it fine-tunes the plain model and scores that
    start its own way first."""
    x = torch.rand(64, 3, 16, 16, requires_grad=True)
    torch.testing.assert_close(trainer.kept(x), round_8bit(x))
    noisy = trainer.kept(x, 2.0, torch.Generator().manual_seed(0))
    moved = (noisy - round_8bit(x)).detach() * 255
    assert torch.allclose(moved, moved.round(), atol=1e-3) and 0 < moved.abs().mean() < 2  # 8-bit steps, std <= 2
    assert moved.flatten(1).std(1).max() > 1 and moved.flatten(1).std(1).min() < 0.5  # a random std per sample
    noisy.sum().backward()  # straight through, except where the noise pushed a pixel past 0 or 1 (clipped)
    assert set(x.grad.unique().tolist()) == {0.0, 1.0} and (x.grad == 1).float().mean() > 0.99

    tone = (0.5 * np.sin(np.arange(40_000) * 0.05)).astype(np.float32)
    monkeypatch.setattr(trainer.data, "speech_clips",
                        lambda rng, n, *a, **k: (tone[:20_000 + 500 * i] for i in range(n)))
    photo = np.random.default_rng(0).random((170, 200, 3)).astype(np.float32)
    monkeypatch.setattr(trainer.data, "photos", lambda: [photo])
    tiny = ["--steps", "2", "--batch", "1", "--crop", "32", "--width", "4", "--blocks", "2", "--clips", "2",
            "--out", str(tmp_path)]
    trainer.main(["--noise", "2", *tiny, "--checkpoint", str(tmp_path / "a.ckpt")])
    assert not (tmp_path / f"{T.SINGLE}.json").exists()
    card = json.loads((tmp_path / f"{T.ROBUST}.json").read_text())
    assert card["name"] == T.ROBUST and card["weights"] == f"{T.ROBUST}.safetensors"
    assert "--noise 2 " in card["training"]["command"] and "--noise 2 (ours)" in card["training"]["losses"]
    last = card["curve"][-1]
    assert last["level1_noisy_psnr"] > 0 and trainer.Guard.kinds(last) == {"noisy_psnr"}
    assert trainer.Guard.score(last) == pytest.approx(
        last["container_psnr"] + (last["level1_tensor_psnr"] + last["level1_noisy_psnr"]) / 2)
    assert "starting weights score" not in capsys.readouterr().out  # a fresh run has nothing to score first

    for path in tmp_path.glob(f"{T.ROBUST}.*"):
        path.unlink()
    trainer.main([*tiny, "--checkpoint", str(tmp_path / "b.ckpt")])  # the plain model, 2 steps
    trainer.main(["--noise", "2", "--resume", *tiny[:1], "3", *tiny[2:], "--checkpoint", str(tmp_path / "c.ckpt")])
    log = capsys.readouterr().out
    assert f"resumed from shipped {tmp_path / T.SINGLE}.safetensors at step 2" in log
    assert "from step 2:" in log and re.search(r"starting weights score [0-9.]+ \(container \+ revealed: noisy_psnr\)",
                                              log)


# Round trips with the shipped weights -------------------------------------------------------------------


@pytest.fixture(scope="module")
def clips(assets):
    long = media.load_audio(assets / "speech_long.wav")
    return [media.load_audio(assets / "speech_1.wav"), Audio(long.samples[:, :int(6.3 * 16000)], 16000)]


def revealed_quality(original: Audio, revealed: Audio) -> float:
    """STOI over the common length; 0 when almost nothing came back (a wrong key may decode a ~0 length)."""
    n = min(original.frames, revealed.frames)
    if n < 4000:
        return 0.0
    return stoi(original.samples[0, :n], revealed.samples[0, :n], 16000)


def test_hide_reveal_through_a_png_carries_each_length(tmp_path, assets, clips):
    method = get_method("thinimg")
    face = media.load(assets / "face160.png")
    for k, clip in enumerate(clips):
        path = media.save(method.hide(face, clip, "key"), tmp_path / f"c{k}.png")
        stego = media.load(path)
        assert (stego.height, stego.width) == (160, 160)
        assert psnr(face.pixels, stego.pixels) > 20
        revealed = method.reveal(stego, "key")
        assert revealed.sample_rate == 16000 and revealed.frames == clip.frames  # the exact length came back
        assert revealed_quality(clip, revealed) > 0.45  # Griffin-Lim from the original mel: ~0.95
        with pytest.raises(KeyError_, match="no thinimg speech at level 1 for this key"):
            method.reveal(stego, "wrong key")  # its length header reads with confidence < 0.6, not vocoded noise


def test_reveal_warns_when_the_containers_pixels_changed_since_hiding(tmp_path, assets, clips):
    """The length header is a pilot: read back from noisy pixels it errs as the speech does, and reveal says so."""
    method = get_method("thinimg")
    saved = media.save(method.hide(media.load(assets / "face160.png"), clips[1], "key"), tmp_path / "c.png")
    ATTACKS["gaussian-noise-2"].apply(saved, tmp_path / "noisy.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an untouched container reveals without a word
        clean = method.reveal(media.load(saved), "key")
    with pytest.warns(UserWarning, match=r"pixels have changed since hiding .* header reads back at \d+\.\d dB"):
        noisy = method.reveal(media.load(tmp_path / "noisy.png"), "key")
    assert noisy.frames == clean.frames  # still revealed, but worse, as the warning says
    assert revealed_quality(clips[1], noisy) < revealed_quality(clips[1], clean) - 0.05
    tiles = method._tiles(media.load(saved))
    read = method._locate(tiles, "key", 1)
    model = read.model
    assert model.card["name"] == T.SINGLE
    pilot = T.header_psnr(method._clip_tensors(tiles, "key", 1, read), model.layout, read.total)
    assert pilot >= model.card["metrics"]["level1_clean_header_psnr"] - 1
    ideal = mel.compress(T.speech_samples(clips[1]), model.layout)
    assert T.header_psnr([ideal], model.layout, read.total) > 100  # the header `stitch` wrote reads exactly


def test_refinement_weighs_the_length_header_by_its_share():
    """The header's 960 values carry HEADER_SHARE of refinement's loss, wherever the key's shuffle put them."""
    layout = mel.Layout("mel", 16)
    perm, flips = T.level_shuffle("k", 1, layout.shape)
    no_flips = np.zeros_like(flips)
    weights = T.header_weights(layout, perm)
    mask = mel.header_mask(layout)
    placed = T.unscramble(weights, perm, no_flips)
    assert weights.mean() == pytest.approx(1.0) and weights.min() > 0
    assert placed[mask].sum() / placed.sum() == pytest.approx(T.HEADER_SHARE)

    class Identity:  # a revealing layer that returns the container itself as the hidden tensor
        reverse = staticmethod(lambda x: (x, x))

    target = torch.rand(1, *layout.shape)
    for region, heavier in ((mask, True), (~mask, False)):  # the same error on the header, then on the rest
        off = target + 0.1 * torch.from_numpy(T.scramble(region.astype(np.float32), perm, no_flips))
        weighted = T.reveal_error([Identity()], [target], off, [torch.from_numpy(weights)])
        assert (weighted > T.reveal_error([Identity()], [target], off)) == heavier


def test_refinement_weighs_a_mel_values_error_by_its_loudness():
    """A loud value's error counts more than a quiet one's, wherever the key's shuffle (and flips) put them; the
    header's values weigh the mean; formats other than the mel weigh every value alike."""
    layout = mel.Layout("mel", 2)
    shuffle = T.level_shuffle("k", 1, layout.shape)
    speech = np.random.default_rng(0).uniform(0, 1, layout.shape).astype(np.float32)
    hidden = T.scramble(speech, *shuffle)[None]
    weights = T.loudness_weights(hidden, shuffle, layout)
    placed = T.unscramble(weights[0], shuffle[0], np.zeros_like(shuffle[1]))
    mask = mel.header_mask(layout)
    assert weights.shape == hidden.shape and weights.mean() == pytest.approx(1.0)
    np.testing.assert_allclose(placed[~mask] / (T.LOUDNESS_FLOOR + speech[~mask]),
                               placed[~mask][0] / (T.LOUDNESS_FLOOR + speech[~mask][0]), rtol=1e-5)
    np.testing.assert_allclose(placed[mask], placed[~mask].mean(), rtol=1e-5)
    for fmt in ("raw", "stft"):
        other = mel.Layout(fmt, mel.FORMATS[fmt])
        np.testing.assert_array_equal(T.loudness_weights(np.zeros((1, *other.shape), np.float32),
                                                         T.level_shuffle("k", 1, other.shape), other), 1.0)


def test_refinement_reveals_the_hidden_tensor_better_from_the_png_without_a_larger_change(tmp_path, assets, clips):
    """Hide-time refinement (ours): the tensor read back from the saved PNG is closer to the one hidden, and the
    container is changed from the cover no more (mean square) than by the network's one pass."""
    face = media.load(assets / "face160.png")
    model = T.load_model(T.SINGLE)
    hidden = T.THInImg()._tensors(T.speech_samples(clips[0]), T.level_shuffle("key", 1, model.layout.shape),
                                  model.layout, 1)
    results = {}
    for steps in (0, 15):
        method = get_method("thinimg", model="single", refine=steps)
        stego = media.load(media.save(method.hide(face, clips[0], "key"), tmp_path / f"c{steps}.png"))
        revealed = method._revealed(model, T.tiles_of(stego), 1)
        results[steps] = (psnr(hidden, revealed), np.mean((stego.pixels - face.pixels) ** 2))
        assert method.reveal(stego, "key").frames == clips[0].frames
    (one_pass, budget), (refined, change) = results[0], results[15]
    assert refined > one_pass + 1  # measured +2.9 dB with the default 30 steps (4 held-out clips)
    assert change <= budget * 1.05  # the budget holds before rounding; rounding adds about the same to both
    with pytest.raises(UsageError, match="refine"):
        get_method("thinimg", refine=-1)


def test_a_misread_header_is_refined_again_with_the_header_weighted(tmp_path, assets, clips, monkeypatch):
    """Where plain refinement leaves the length header misread, hide refines the one pass again with the header
    weighted (HEADER_SHARE) and keeps that container if it reads back; where that fails too, it refuses."""
    face = media.load(assets / "face160.png")
    method = get_method("thinimg", model="single", refine=2)
    weighted, checked = [], []
    refined = method._refined
    monkeypatch.setattr(method, "_refined", lambda *a: weighted.append(a[4]) or refined(*a))
    real_check = method._unrevealable

    def first_misread(container, key, lengths):  # the first container is judged misread, as an 80 s model's was
        checked.append(real_check(container, key, lengths))
        return "at level 1, its length header reads 912161, not 387873" if len(checked) == 1 else checked[-1]

    monkeypatch.setattr(method, "_unrevealable", first_misread)
    stego = media.load(media.save(method.hide(face, clips[0], "key"), tmp_path / "c.png"))
    layout = T.load_model(T.SINGLE).layout
    shuffle = T.level_shuffle("key", 1, layout.shape)
    hidden = T.THInImg()._tensors(T.speech_samples(clips[0]), shuffle, layout, 1)
    loud = T.loudness_weights(hidden, shuffle, layout)
    assert len(weighted) == 2 and checked == [None, None]
    np.testing.assert_allclose(weighted[0][0].numpy(), loud, rtol=1e-6)  # by loudness, then times the header's
    np.testing.assert_allclose(weighted[1][0].numpy(), loud * T.header_weights(layout, shuffle[0]), rtol=1e-6)
    assert method.reveal(stego, "key").frames == clips[0].frames
    monkeypatch.setattr(method, "_unrevealable", lambda *a: "at level 1, its length header reads 5, not 7")
    with pytest.raises(CapacityError, match="reads 5, not 7; hide shorter speech"):
        method.hide(face, clips[0], "key")


def test_a_quiet_recording_is_hidden_at_the_training_level(tmp_path, assets, clips):
    """Speech is peak-normalised before compression: a clip at 1/100 of the level hides like the original."""
    silence = Audio(np.zeros(8000, np.float32), 16000)
    np.testing.assert_array_equal(T.speech_samples(silence), silence.samples[0])
    quiet = Audio(clips[0].samples * 0.01, clips[0].sample_rate)
    assert np.abs(T.speech_samples(quiet)).max() == pytest.approx(T.SPEECH_PEAK, rel=1e-5)
    method = get_method("thinimg")
    face = media.load(assets / "face160.png")
    loud = media.load(media.save(method.hide(face, clips[0], "key"), tmp_path / "loud.png"))
    with pytest.warns(UserWarning, match=r"training level: the clip comes back (39|40|41) dB louder than it was"):
        soft = media.load(media.save(method.hide(face, quiet, "key"), tmp_path / "soft.png"))
    assert np.abs(loud.to_uint8().astype(int) - soft.to_uint8()).max() <= 1  # float rounding at most
    assert revealed_quality(clips[0], method.reveal(soft, "key")) > 0.45


def test_stereo_speech_at_another_rate_is_hidden_mono_at_16_khz_with_a_warning(assets, clips):
    """The mel works at 16 kHz mono: a stereo 22.05 kHz clip is converted, says so, and comes back at 16 kHz."""
    stereo = Audio(np.repeat(clips[0].resample(22050).samples, 2, axis=0), 22050)
    method = get_method("thinimg")
    with pytest.warns(UserWarning, match="^thinimg reveals the speech mixed from 2 channels to mono and resampled "
                                         "from 22050 Hz to 16000 Hz$"):
        stego = method.hide(media.load(assets / "face160.png"), stereo, "key")
    revealed = method.reveal(stego, "key")
    assert (revealed.channels, revealed.sample_rate) == (1, 16000)
    assert abs(revealed.frames - clips[0].frames) <= 1


def test_the_shipped_20s_model_takes_a_clip_one_tile_of_the_10s_model_cannot_hold(tmp_path, assets):
    """speech_long (10.66 s) in a single 160 x 160 tile: auto hides with thinimg-mel-20s, and reveal, which is
    not told the model, finds it from the PNG with the exact length."""
    method = get_method("thinimg")
    face, speech = media.load(assets / "face160.png"), media.load(assets / "speech_long.wav")
    assert method._choose(1, [speech]) == "thinimg-mel-20s"
    stego = media.load(media.save(method.hide(face, speech, "key"), tmp_path / "c.png"))
    assert psnr(face.pixels, stego.pixels) > 25
    revealed = method.reveal(stego, "key")
    assert revealed.frames == speech.frames and revealed_quality(speech, revealed) > 0.45


@pytest.mark.parametrize("fmt", ["stft", "raw"])
def test_the_shipped_other_format_models_carry_speech_through_a_png(tmp_path, assets, clips, fmt):
    """-O model=stft|raw with the shipped weights (Table 1's rows: STOI 0.60 / 0.74 on held-out voices)."""
    method = get_method("thinimg", model=fmt)
    path = media.save(method.hide(media.load(assets / "face160.png"), clips[0], "key"), tmp_path / "c.png")
    revealed = method.reveal(media.load(path), "key")
    assert revealed.frames == clips[0].frames and revealed_quality(clips[0], revealed) > 0.5  # 0.82 / 0.62
    with pytest.raises(KeyError_):
        method.reveal(media.load(path), "wrong key")


def test_a_larger_cover_is_tiled_and_keeps_its_size(tmp_path, assets):
    method = get_method("thinimg")
    face, speech = media.load(assets / "face.png"), media.load(assets / "speech_long.wav")  # 10.66 s: 2 tiles
    stego = media.load(media.save(method.hide(face, speech, "key"), tmp_path / "c.png"))
    assert (stego.height, stego.width) == (384, 384)
    untouched = np.ones((384, 384), bool)
    for y, x in T.tile_corners(384, 384)[:2]:  # the speech needs two tiles; the other two and the margins
        untouched[y:y + 160, x:x + 160] = False
    assert untouched.sum() == 384 ** 2 - 2 * 160 ** 2
    np.testing.assert_array_equal(stego.to_uint8()[untouched], face.to_uint8()[untouched])
    assert not np.array_equal(stego.to_uint8(), face.to_uint8())
    revealed = method.reveal(stego, "key")
    assert revealed.frames == speech.frames and revealed_quality(speech, revealed) > 0.3


def test_nested_levels_have_their_own_keys(tmp_path, assets, clips):
    method = get_method("thinimg", level2_key="second key")
    path = media.save(method.hide(media.load(assets / "face160.png"), clips, "first key"), tmp_path / "n.png")
    stego = media.load(path)
    first = method.reveal(stego, "first key", level=1)
    second = method.reveal(stego, "second key", level=2)
    assert first.frames == clips[0].frames and second.frames == clips[1].frames
    assert revealed_quality(clips[1], second) > 0.3
    with pytest.raises(KeyError_, match="level 2"):  # holding level 1 gives nothing of level 2
        method.reveal(stego, "first key", level=2)


def test_reveal_reads_each_container_with_the_model_that_wrote_it(tmp_path, assets, clips):
    """Every model is tried at reveal and the best-scoring accepted read wins: a two-tile container of the single
    model (whose header the nested model once read more confidently than the writer, speech lost: PESQ 1.12 for
    2.82) and a nested one's level 1 each go to their writer."""
    face, long = media.load(assets / "face.png"), media.load(assets / "speech_long.wav")
    reader = get_method("thinimg")
    for option, secret in (("single", long), ("nested", clips)):
        path = media.save(get_method("thinimg", model=option, refine=2).hide(face, secret, "k"), tmp_path / "c.png",
                          force=True)
        read = reader._locate(T.tiles_of(media.load(path)), "k", 1)
        assert read.accepted and read.model.card["name"] == (T.SINGLE if option == "single" else T.NESTED)
    rival = T.HeaderRead(1.0, 5, read.model, plausible=True, padding=0.11)  # as confident, louder padding
    assert T.HeaderRead(0.998, 5, read.model, plausible=True, padding=0.002).score > rival.score


def test_the_robust_model_is_found_by_reveal_and_gives_more_back_from_a_noisy_copy(tmp_path, assets, clips):
    """-O model=robust (the 10 s model fine-tuned with --noise): the default reader finds that model in its
    container, and after the suite's noise of std 1 more of the speech comes back than from the 10 s model's
    container after the same noise (STOI over held-out clips: 0.87 against 0.79, benchmarks/thinimg_noise)."""
    face, reader = media.load(assets / "face160.png"), get_method("thinimg")
    found = {}
    for option, name in (("single", T.SINGLE), ("robust", T.ROBUST)):
        path = media.save(get_method("thinimg", model=option, refine=2).hide(face, clips[1], "k"),
                          tmp_path / f"{option}.png")
        assert reader._locate(T.tiles_of(media.load(path)), "k", 1).model.card["name"] == name
        ATTACKS["gaussian-noise-1"].apply(path, tmp_path / f"{option}-noisy.png")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the pixels changed since hiding: said, and meant
            found[option] = revealed_quality(clips[1], reader.reveal(media.load(tmp_path / f"{option}-noisy.png"), "k"))
    assert found["robust"] > found["single"] + 0.03


def test_a_wrong_key_or_a_jpeg_copy_is_refused_on_the_command_line_and_nothing_is_written(tmp_path, assets):
    """Without the right key and an intact PNG the length header reads with low confidence (a JPEG-95 copy:
    0.14, measured): exit 4 and one line, where before an empty WAV or a large photo's worth of noise came out."""
    stego = tmp_path / "c.png"
    assert run_cli("hide", "thinimg", "--cover", assets / "face.png", "--secret", assets / "speech_1.wav", "-o", stego,
                   "--key", "right").returncode == 0
    jpeg = tmp_path / "c.jpg"
    media.save(media.load(stego), jpeg)  # quality 95
    for source, key in ((stego, "wrong"), (jpeg, "right")):
        result = run_cli("reveal", "thinimg", source, "--key", key, "-o", tmp_path / "s.wav")
        assert result.returncode == 4 and "no thinimg speech at level 1" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not (tmp_path / "s.wav").exists()
    assert run_cli("reveal", "thinimg", stego, "--key", "right", "-o", tmp_path / "s.wav").returncode == 0


def test_cli_hides_two_levels_and_reveals_the_second(tmp_path, assets):
    out = tmp_path / "c.png"
    result = run_cli("hide", "thinimg", "--cover", assets / "face160.png", "--secret", assets / "speech_2.wav",
                     "--secret", assets / "speech_3.wav", "-o", out, "--key", "one", "-O", "level2_key=two")
    assert result.returncode == 0, result.stderr
    result = run_cli("reveal", "thinimg", out, "--level", "2", "--key", "two", "-o", tmp_path / "b.wav")
    assert result.returncode == 0, result.stderr
    assert media.load(tmp_path / "b.wav").frames == media.load(assets / "speech_3.wav").frames
    too_long = run_cli("hide", "thinimg", "--cover", assets / "face160.png", "--secret", assets / "speech_long.wav",
                       "-o", tmp_path / "x.png", "-O", "model=single")  # auto would take the shipped 20 s model
    assert too_long.returncode == 3 and "10.04 s" in too_long.stderr + too_long.stdout



def test_repeated_divergence_keeps_halving_the_rate(tmp_path):
    """Each return to the best checkpoint halves the rate in use, not the checkpoint's own rate."""
    net = CouplingNet(CouplingConfig(3, 2, blocks=1, width=4))
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-4)
    torch.save({"model": {f"layer1.{k}": v for k, v in net.state_dict().items()},
                "optimiser": optimiser.state_dict(), "state": {"step": 7}}, tmp_path / "best.ckpt")
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)  # the diverged weights
    rate = trainer.back_to_best([net], optimiser, tmp_path / "best.ckpt", 2e-4)
    rate = trainer.back_to_best([net], optimiser, tmp_path / "best.ckpt", rate)
    assert rate == pytest.approx(5e-5) and optimiser.param_groups[0]["lr"] == pytest.approx(5e-5)
    saved = torch.load(tmp_path / "best.ckpt", weights_only=False)["model"]
    assert all(torch.equal(v, saved[f"layer1.{k}"]) for k, v in net.state_dict().items())


def test_a_resumed_run_must_beat_the_weights_it_starts_from():
    """The last evaluation of a resumed curve is the bar: a degraded first evaluation is not saved over it."""
    guard = trainer.Guard([{"container_psnr": 34.0, "level1_tensor_psnr": 30.0}])
    assert guard.judge({"container_psnr": 33.5, "level1_tensor_psnr": 30.0}) == "worse"
    assert guard.judge({"container_psnr": 4.6, "level1_tensor_psnr": 4.5}) == "diverged"
    assert guard.judge({"container_psnr": 34.5, "level1_tensor_psnr": 30.0}) == "better"
    assert trainer.Guard().judge({"container_psnr": 4.6, "level1_tensor_psnr": 4.5}) == "better"  # a fresh run


def test_a_run_of_skipped_steps_means_the_weights_are_broken():
    """Isolated spikes are skipped; STUCK_AFTER skips in a row send training back to its best checkpoint."""
    guard = trainer.Guard()
    assert guard.accept(1.0)
    for _ in range(trainer.STUCK_AFTER - 1):
        assert not guard.accept(float("nan"))
    assert not guard.stuck
    assert guard.accept(1.1) and guard.skipped == 0  # one good step resets the count
    for _ in range(trainer.STUCK_AFTER):
        guard.accept(100.0)
    assert guard.stuck


def test_a_gradient_spike_is_skipped_even_when_the_loss_is_ordinary():
    """Loss and gradient norm each have their own running mean; a gradient 350x the usual is refused."""
    guard = trainer.Guard()
    for _ in range(5):
        assert guard.accept(4000.0) and guard.accept(2e5, "gradient norm")
    assert guard.accept(4500.0)  # an unremarkable loss ...
    assert not guard.accept(7e7, "gradient norm")  # ... whose gradient spikes
    assert guard.skipped == 1
    assert guard.accept(3e5, "gradient norm")  # judged against gradient norms, not against losses
    guard.restart()
    assert guard.accept(7e7, "gradient norm")  # after a restart there is no history to compare with


def test_refused_gradients_count_as_stuck_even_when_every_loss_passes():
    """Broken weights can give ordinary losses and gradients far over the usual: a run of refused gradients
    must send training back to its best checkpoint, whatever the losses do in between."""
    guard = trainer.Guard()
    assert guard.accept(140.0) and guard.accept(7e3, "gradient norm")
    for _ in range(trainer.STUCK_AFTER):
        assert guard.accept(150.0)  # the loss looks ordinary ...
        assert not guard.accept(1.4e6, "gradient norm")  # ... its gradient never is
    assert guard.stuck
    guard.restart()
    assert not guard.stuck and guard.skipped == 0


def test_a_fresh_nested_model_takes_the_single_layer_clamp(tmp_path):
    """The nested model's first layer starts from the single-layer weights, so it must use their ES clamp."""
    args = trainer.parse(["--out", str(tmp_path), "--width", "4", "--blocks", "2", "--clamp", "1.5"])
    layers = T.build_layers(CouplingConfig(3, 2, 2, 4, clamp=1.5), False)
    state = {"step": 0, "seconds": 0.0, "curve": [], "device": "cpu"}
    trainer.save_all(layers, torch.optim.Adam(layers[0].parameters()), state, args, tmp_path / "c.ckpt")
    assert trainer.resumed_clamp(trainer.parse(["--out", str(tmp_path), "--nested"])) == 1.5
    assert trainer.resumed_clamp(trainer.parse(["--out", str(tmp_path), "--clamp", "0.5"])) == 0.5  # fresh single
    assert trainer.resumed_clamp(trainer.parse(["--out", str(tmp_path), "--resume"])) == 1.5
