"""inrsteg: placement, keyed permutation, the sealed layout header, and real round trips through files."""

import json

import numpy as np
import pytest
import torch

from conftest import run_cli
from crossteg import keys, media
from crossteg.codecs.inr import AUDIO_SPAN, loss_for, render, to_signal, volume_iou
from crossteg.errors import CapacityError, KeyError_, MediaError, UsageError
from crossteg.media import Audio, Image, Shape, Video
from crossteg.methods import get_method
from crossteg.methods import inrsteg as I
from crossteg.metrics import psnr, snr
from crossteg.nn.siren import Siren, SirenConfig
from crossteg.robustness import ATTACKS

TINY = {"hidden": 32, "layers": 3, "steps": 60}
rng = np.random.default_rng(0)


def smooth_image(h: int = 24, w: int = 24) -> Image:
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    return Image(np.stack([x, y, 0.5 + 0.3 * np.sin(6 * x * y)], -1).astype(np.float32))


def tone(n: int = 2000, rate: int = 8000) -> Audio:
    t = np.arange(n) / rate
    return Audio((0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[None], rate)


def fresh_stego(slots, hidden=32, layers=3):
    g = torch.Generator().manual_seed(1)
    stego = Siren(SirenConfig(2, 3, hidden, layers), g)
    frozen = [(torch.zeros_like(w, dtype=torch.bool), torch.zeros_like(b, dtype=torch.bool))
              for w, b in zip(stego.weights, stego.biases, strict=True)]
    secrets = [Siren(s.config(), g) for s in slots]
    for slot, secret in zip(slots, secrets, strict=True):
        I.place(stego, secret, slot, frozen)
    return stego, secrets, frozen


@pytest.mark.parametrize("modalities", [["audio"], ["audio", "video"], ["shape", "image", "audio", "video"]])
def test_placement_is_exact_and_blocks_do_not_overlap(modalities):
    slots = I.plan("image", modalities, 32, 3)
    stego, secrets, frozen = fresh_stego(slots)
    points = torch.rand(50, 3) * 2 - 1
    for slot, secret in zip(slots, secrets, strict=True):
        x = points[:, : I.IO_DIMS[slot.modality][0]]
        assert torch.equal(I.extract(stego, slot)(x), secret(x))
    owned = sum(int(w.sum()) for w, _ in frozen)
    assert owned == sum(sum(s.weights[j].numel() for j in range(len(s.weights))) for s in secrets)  # disjoint


def test_wider_inputs_and_outputs_lose_a_layer():
    audio_cover = I.plan("audio", ["video"], 32, 4)[0]  # video (3 in, 3 out) in audio (1 in, 1 out)
    assert (audio_cover.offset, audio_cover.layers) == (1, 2)
    assert I.plan("video", ["audio"], 32, 4)[0].layers == 4
    with pytest.raises(CapacityError):
        I.plan("image", ["image"] * 4, 8, 3)


def test_every_hidden_layer_is_permuted_and_undone_exactly_by_the_key():
    slots = I.plan("image", ["audio"], 32, 3)
    stego, _, _ = fresh_stego(slots)
    before = {k: v.clone() for k, v in stego.state().items()}
    x = torch.rand(100, 2) * 2 - 1
    out = stego(x)
    material = keys.derive("key", "inrsteg")
    I.permute(stego, material)
    for j in range(3):  # the reference code never permuted its last hidden layer
        assert not torch.equal(stego.weights[j], before[f"layers.{j}.weight"]), f"hidden layer {j} not permuted"
    assert torch.allclose(stego(x), out, atol=1e-6)  # same function
    I.permute(stego, keys.derive("other", "inrsteg"), inverse=True)
    assert not torch.equal(stego.weights[1], before["layers.1.weight"])
    I.permute(stego, keys.derive("other", "inrsteg"))
    I.permute(stego, material, inverse=True)
    assert all(torch.equal(stego.state()[k], v) for k, v in before.items())


def test_representations_round_trip():
    image = smooth_image()
    assert to_signal(image).coords.shape == (24 * 24, 2)
    clip = Video(np.stack([smooth_image().pixels] * 3), fps=8.0)
    assert to_signal(clip).coords.shape == (3 * 24 * 24, 3)
    sig = to_signal(tone())
    assert float(sig.coords.abs().max()) == pytest.approx(AUDIO_SPAN) and sig.targets.shape == (2000, 1)
    # a model that returns its target exactly renders the original back
    model = Siren(SirenConfig(2, 3, 8, 1))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    blank = render(model, "image", {"height": 4, "width": 5})
    assert blank.pixels.shape == (4, 5, 3) and np.allclose(blank.pixels, 0.5)


def test_clamped_sdf_loss_ignores_agreeing_far_points_only():
    """With a clamp, two distances beyond it on the same side cost nothing; near the surface the error counts."""
    plain, clamped = loss_for("shape"), loss_for("shape", 0.1)
    x = torch.tensor([[0.9, 0.0, 0.0]])

    def value(loss, model, points, targets) -> float:
        return float(loss(model, points, targets).detach())

    def offset(c: float):
        return lambda p: p.norm(dim=1, keepdim=True) - 0.2 + c  # an exact SDF (|grad| = 1) shifted by c

    far = torch.tensor([[0.7]])  # the point's true distance; the model says 0.5
    assert value(plain, offset(-0.2), x, far) == pytest.approx(0.04, abs=1e-6)
    assert value(clamped, offset(-0.2), x, far) == pytest.approx(0.0, abs=1e-6)
    near = torch.tensor([[0.65, 0.0, 0.0]])  # true distance 0.03, the model says 0.45 -> clamped to 0.1
    assert value(clamped, offset(0.0), near, torch.tensor([[0.03]])) == pytest.approx(0.07, abs=1e-6)
    assert value(clamped, offset(0.0), near, torch.tensor([[-0.05]])) == pytest.approx(0.15, abs=1e-6)


def test_rendered_shape_is_closed_and_inside_its_box():
    """An SDF that is also negative around a grid corner (what a SIREN may extrapolate outside the normalised
    shape's box) renders to the closed sphere alone, not to an open fragment at the corner."""
    import trimesh

    def sdf(x: torch.Tensor) -> torch.Tensor:
        corner = (x - 1.0).norm(dim=1) - 0.05  # a blob around the grid's corner (1, 1, 1)
        return torch.minimum(x.norm(dim=1) - 0.5, corner).unsqueeze(1)

    mesh = render(sdf, "shape", {"resolution": 96, "scale": 1.0, "center": [0.0, 0.0, 0.0]})
    assert trimesh.Trimesh(mesh.vertices, mesh.faces).is_watertight
    assert np.abs(mesh.vertices).max() < 0.52  # the sphere of radius 0.5 only


@pytest.mark.parametrize("count", [1, 2])  # the reference code lost the secret when hiding only one
def test_hide_reveal_through_file(tmp_path, count):
    method = get_method("inrsteg", **TINY)
    cover, audio, image = smooth_image(), tone(), smooth_image(16, 16)
    fitted = []
    original_place = I.place
    I.place = lambda stego, secret, slot, frozen: (fitted.append(secret), original_place(stego, secret, slot, frozen))
    try:
        stego = method.hide(cover, [audio, image][:count], key="pw")
    finally:
        I.place = original_place
    path = media.save(stego, tmp_path / "stego.safetensors")
    assert "layout" in media.load(path).metadata and "audio" not in str(media.load(path).metadata)  # nothing in clear
    revealed = method.reveal(media.load(path), key="pw")  # the file and the key alone
    assert [r.modality for r in revealed] == ["audio", "image"][:count]
    # lossless in INR terms: the revealed secret is what its INR rendered before hiding
    want_audio = render(fitted[0], "audio", {"samples": 2000, "sample_rate": 8000}).samples
    assert snr(want_audio, revealed[0].samples) > 60
    if count == 2:
        want_image = render(fitted[1], "image", {"height": 16, "width": 16}).pixels
        assert psnr(want_image, revealed[1].pixels) > 60
    assert method.render_cover(media.load(path)).pixels.shape == cover.pixels.shape
    with pytest.raises(KeyError_):
        method.reveal(media.load(path), key="wrong")


def test_shape_secret_in_audio_cover(tmp_path, assets):
    method = get_method("inrsteg", hidden=32, layers=3, steps=30)
    shape = media.load(assets / "mesh.ply")
    stego = method.hide(tone(), shape, key="k")
    (mesh,) = method.reveal(media.load(media.save(stego, tmp_path / "s.safetensors")), key="k")
    assert isinstance(mesh, Shape) and len(mesh.faces) > 0


def test_shape_fit_stops_at_its_iou_target(assets, monkeypatch):
    shape = media.load(assets / "mesh.ply")
    signal = to_signal(shape)
    truth = dict(zip(map(tuple, signal.coords.tolist()), signal.targets[:, 0].tolist(), strict=True))

    def exact(x: torch.Tensor) -> torch.Tensor:  # the signal's own SDF at its points, or its opposite
        return torch.tensor([[truth[tuple(p)]] for p in x.tolist()])

    assert volume_iou(signal, exact) == 1.0 and volume_iou(signal, lambda x: -exact(x)) == 0.0
    monkeypatch.setitem(I.TARGETS, "shape", 0.3)  # a 32-wide net gets there in ~450 steps
    method, shown = get_method("inrsteg", hidden=32, layers=3), []
    model = Siren(I.plan("image", ["shape"], 32, 3)[0].config(), torch.Generator().manual_seed(0))
    method._fit(model, signal, "shape", lambda label, step, total, note="": shown.append(note))
    steps = int(shown[-1].split()[2])  # "done in N steps"
    assert steps % I.SHAPE_CHECK_EVERY == 0 and steps < I.FAST_MAX_STEPS["shape"]
    assert I.quality(signal, model) >= 0.3 and any(note.startswith("IoU") for note in shown)


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_quantised_files_still_reveal(tmp_path, precision):
    method = get_method("inrsteg", precision=precision, **TINY)
    stego = method.hide(smooth_image(), tone(), key="k")
    path = media.save(stego, tmp_path / "s.safetensors")
    loaded = media.load(path)
    first_two = ("layers.0.weight", "layers.1.weight")
    later = {v.dtype for k, v in loaded.tensors.items() if k.endswith(".weight") and k not in first_two}
    assert later == {np.dtype(np.float16 if precision == "fp16" else np.int8)}
    assert loaded.tensors["layers.1.weight"].dtype == np.float16  # int8 keeps the first hidden layer in fp16
    (audio,) = method.reveal(loaded, key="k")
    assert audio.frames == 2000


def test_secrets_reveal_after_model_tools_change_the_weights(tmp_path):
    """The LSB header dies with any change to the stored values; the sign header carries the layout through."""
    method = get_method("inrsteg", hidden=96, layers=3, steps=60)  # the smallest size whose pool holds the header
    stego = method.hide(smooth_image(), smooth_image(16, 16), key="k")
    path = media.save(stego, tmp_path / "s.safetensors")
    (clean,) = method.reveal(media.load(path), key="k")
    model, _ = I._network(media.load(path))
    I.permute(model, keys.derive("k", "inrsteg"), inverse=True)
    assert I.read_sign_header(model, keys.derive("k", "inrsteg")) == I.frame.extract(  # the fit left it intact
        I._carrier(stego.tensors), keys.derive("k", "inrsteg"), I.HEADER_AAD)
    for name in ("weights-fp16", "prune-10", "weight-noise-0.001", "metadata-stripped"):
        attacked = tmp_path / f"{name}.safetensors"
        ATTACKS[name].apply(path, attacked)
        if name != "metadata-stripped":  # the exact copy is gone (stripping the metadata keeps it)
            with pytest.raises(KeyError_):
                I.frame.extract(I._carrier(media.load(attacked).tensors), keys.derive("k", "inrsteg"), I.HEADER_AAD)
        (image,) = method.reveal(media.load(attacked), key="k")
        assert psnr(clean.pixels, image.pixels) > (15 if name == "prune-10" else 30)
        with pytest.raises(KeyError_):
            method.reveal(media.load(attacked), key="wrong")
    with pytest.raises(MediaError):  # the cover's size was in the metadata
        method.render_cover(media.load(tmp_path / "metadata-stripped.safetensors"))
    tiny = get_method("inrsteg", **TINY)  # too small for the sign header: the LSB copy alone, as before
    assert not I.write_sign_header(*fresh_stego(I.plan("image", ["audio"], 32, 3))[::2], keys.derive("k", "x"),
                                   b"x" * 100, torch.Generator())
    assert tiny.reveal(tiny.hide(smooth_image(), tone(), key="k"), key="k")[0].frames == 2000


def test_bad_inputs():
    method = get_method("inrsteg", **TINY)
    with pytest.raises(CapacityError):
        method.hide(smooth_image(), [tone()] * 5, key="k")
    with pytest.raises(UsageError):
        method.hide(tone().samples, tone(), key="k")
    with pytest.raises(UsageError):
        get_method("inrsteg", precision="int4")


def test_cli_round_trip_with_render(tmp_path, assets):
    cover, secret = tmp_path / "cover.png", tmp_path / "secret.wav"
    media.save(smooth_image(), cover)
    media.save(tone(), secret)
    stego = tmp_path / "stego.safetensors"
    hidden = run_cli("hide", "inrsteg", "-c", cover, "-s", secret, "-s", cover, "-o", stego, "-k", "pw",
                     "--precision", "fp16", "--steps", "100")
    assert hidden.returncode == 0, hidden.stderr
    outs = tmp_path / "out"
    outs.mkdir()
    revealed = run_cli("reveal", "inrsteg", stego, "-o", outs, "-k", "pw", "--render", tmp_path / "cover_r.png")
    assert revealed.returncode == 0, revealed.stderr
    assert (outs / "secret_1.wav").exists() and (outs / "secret_2.png").exists()
    assert media.load(tmp_path / "cover_r.png").pixels.shape == (24, 24, 3)
    wrong = run_cli("reveal", "inrsteg", stego, "-o", outs / "x.wav", "-k", "nope")
    assert wrong.returncode == 4 and "wrong key" in wrong.stderr
    made = run_cli("reveal", "inrsteg", stego, "-o", tmp_path / "new" / "dir", "-k", "pw")  # a folder to make
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in (tmp_path / "new" / "dir").iterdir()) == ["secret_1.wav", "secret_2.png"]
    too_few = run_cli("reveal", "inrsteg", stego, "-o", tmp_path / "one.wav", "-k", "pw")
    assert too_few.returncode == 2 and "2 secret" in too_few.stderr
    half = tmp_path / "half"  # the second output cannot hold an image: checked before the first is written
    wrong_kind = run_cli("reveal", "inrsteg", stego, "-o", half / "a.wav", "-o", half / "b.wav", "-k", "pw")
    assert wrong_kind.returncode == 2 and "cannot save image as '.wav'" in wrong_kind.stderr
    twice = run_cli("reveal", "inrsteg", stego, "-o", half / "a.wav", "-o", half / "a.wav", "-k", "pw")
    assert twice.returncode == 2 and "given twice" in twice.stderr
    assert not half.exists() or list(half.iterdir()) == []


def test_a_diverging_fit_returns_to_its_best_weights():
    """A loss that turns non-finite mid-fit (a numerical blow-up) would poison every weight through Adam;
    the guard goes back to the best weights with a lower rate and the fit carries on improving."""
    from crossteg.nn import siren as S

    signal, seen = to_signal(smooth_image()), []

    def blowing_up(model, coords, targets):
        seen.append(len(seen))
        loss = S.mse_loss(model, coords, targets)
        return loss * float("nan") if 40 <= len(seen) < 43 else loss

    model = Siren(SirenConfig(2, 3, 32, 3), torch.Generator().manual_seed(0))
    losses = []
    S.fit(model, signal.coords, signal.targets, S.FitSchedule(steps=80, lr=1e-3), loss_fn=blowing_up,
          progress=lambda step, loss: losses.append(loss))
    with torch.no_grad():
        final = float(torch.mean((model(signal.coords) - signal.targets) ** 2))
    assert all(np.isfinite(p.detach().numpy()).all() for p in model.parameters())
    assert final < min(losses[:35])  # recovered, and kept improving after the blow-up


def test_a_full_batch_fit_in_chunks_takes_the_steps_of_one_pass(monkeypatch):
    """Full-batch steps are taken a chunk of points at a time (bounded memory for long audio): the chunks'
    weighted gradients are the one-pass gradient, so the fit is the same up to float rounding."""
    from crossteg.nn import siren as S

    signal, fitted, losses = to_signal(smooth_image()), [], []
    for chunk in (len(signal.coords), 100):  # one pass; several chunks, the last one short
        monkeypatch.setattr(S, "CHUNK", chunk)
        model = Siren(SirenConfig(2, 3, 16, 2), torch.Generator().manual_seed(0))
        seen: list[float] = []
        S.fit(model, signal.coords, signal.targets, S.FitSchedule(steps=20, lr=1e-3),
              progress=lambda step, loss, seen=seen: seen.append(loss))
        fitted.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
        losses.append(seen)
    assert len(signal.coords) > 100 and len(signal.coords) % 100 and seen[-1] < 0.9 * seen[0]  # it learns
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)
    torch.testing.assert_close(fitted[1], fitted[0], rtol=1e-3, atol=1e-5)


def test_a_fit_that_falls_back_to_its_first_loss_counts_as_diverged():
    """A fit at 20 dB that collapses to a near-constant output (0 dB: 98x its best, under DIVERGED_RATIO) is
    caught by the COLLAPSED rule; ordinary spikes of a few x are not."""
    from crossteg.nn import siren as S

    model = Siren(SirenConfig(1, 1, 8, 2), torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters())
    guard = S._DivergenceGuard(model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0))
    assert all(guard.healthy(loss) for loss in np.geomspace(1.0, 0.01, 60))  # learned 20 dB
    assert all(guard.healthy(0.05) for _ in range(10))  # a 5x spike is fine
    verdicts = [guard.healthy(0.98) for _ in range(40)]
    assert not all(verdicts) and max(0.98 / guard.best, 1) < S.DIVERGED_RATIO  # caught by COLLAPSED alone


def test_warm_restarts_decay_then_restart_with_a_doubled_period(monkeypatch):
    """FitSchedule(period=P): cosine from lr to the floor over P steps, then again over 2P, 4P ... from half the
    previous peak each time, and the fit's optimiser really follows it."""
    from crossteg.nn import siren as S

    schedule = S.FitSchedule(steps=1000, lr=1e-3, final_fraction=0.1, period=10)
    factors = [schedule.lr_factor(s) for s in range(200)]
    assert factors[0] == 1.0 and factors[10] == 0.5 and factors[30] == 0.25  # restarts at 10, 10 + 20, 30 + 40
    assert factors[9] < 0.15 and factors[29] < 0.15 and factors[20] == pytest.approx(0.3)
    assert factors[150] == pytest.approx(0.1) and max(factors[150:]) == pytest.approx(0.1)  # peaks end at the floor
    assert S.FitSchedule(steps=100, final_fraction=0.1).lr_factor(100) == pytest.approx(0.1)  # one cycle
    assert [s for s in range(1, 200) if schedule.cycle_end(s)] == [10, 30, 70, 150]  # the steps at each floor
    assert [s for s in range(1, 200) if S.FitSchedule(steps=100).cycle_end(s)] == [100]

    signal = to_signal(smooth_image())
    model = Siren(SirenConfig(2, 3, 16, 2), torch.Generator().manual_seed(0))
    rates = []
    original_step = torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    S.fit(model, signal.coords, signal.targets, S.FitSchedule(steps=15, lr=1e-3, final_fraction=0.1, period=10))
    assert rates[10] == pytest.approx(5e-4) and rates[9] < 1.5e-4


def test_audio_cover_fits_warm_up_like_audio_secrets():
    """An audio cover fit started at the full rate can sit at 0 dB SNR for its whole cap (measured in
    inrsteg_tables); cover fits ramp up with their modality's warm-up, at the cover rate."""
    method = I.INRSteg()
    audio_cover, audio_secret = method._schedule("audio", cover=True), method._schedule("audio")
    assert audio_cover.lr == I.COVER_LR and audio_cover.warmup == audio_secret.warmup > 0
    assert audio_cover.lr_factor(0) <= 1 / audio_cover.warmup and audio_cover.lr_factor(audio_cover.warmup) > 0.95
    assert method._schedule("image", cover=True).lr_factor(0) == 1.0  # image covers gained nothing from it


def test_plain_rendering_is_the_cover_through_an_inr_without_secrets():
    """The steganalysis baseline: the cover fitted alone by a network of the stego's size, rendered."""
    cover = smooth_image()
    plain = I.INRSteg(hidden=32, layers=3, steps=150).plain_rendering(cover)
    assert isinstance(plain, Image) and plain.pixels.shape == cover.pixels.shape
    assert 20 < psnr(cover.pixels, plain.pixels) < 100  # a fit, not a copy


def test_fast_mode_refuses_long_audio_and_audio_rate_makes_it_fit():
    """Full-batch fits of long clips take hours on a CPU: fast mode says so up front and names the ways out;
    -O audio_rate resamples secrets (and covers) before fitting, and reveal renders at that rate."""
    long_tone = tone(5 * 16000, 16000)  # 80 000 samples
    with pytest.raises(CapacityError, match=r"80000 samples.*--steps N.*--quality paper"):
        I.INRSteg(hidden=32, layers=3).hide(smooth_image(), long_tone)
    with pytest.raises(CapacityError, match=r"audio cover"):
        I.INRSteg(hidden=32, layers=3).plain_rendering(long_tone)
    method = I.INRSteg(hidden=32, layers=3, audio_rate=8000)
    assert method._prepared(long_tone, "secret").samples.shape == (1, 40000)  # fits now
    short = tone(4000, 16000)
    stego = I.INRSteg(**TINY, audio_rate=8000).hide(smooth_image(), short, "k")
    (revealed,) = I.INRSteg(**TINY).reveal(stego, "k")
    assert revealed.sample_rate == 8000 and revealed.samples.shape == (1, 2000)
    with pytest.raises(UsageError, match="audio_rate"):
        I.INRSteg(audio_rate=5)


def test_a_fit_that_levels_off_below_its_target_stops_at_the_end_of_a_cycle(monkeypatch):
    """Noise in an 8-wide network never reaches 40 dB: fast mode stops at the first cycle end that gains less
    than PLATEAU_DB over the previous one, and says so, instead of running to the cap."""
    monkeypatch.setattr(I, "FAST_PERIOD", 10)  # cycles end at steps 10, 30, 70, 150, 310, 630 ...
    noise = Image(np.random.default_rng(1).random((16, 16, 3)).astype(np.float32))
    signal, method, shown = to_signal(noise), get_method("inrsteg", hidden=8, layers=2), []
    model = Siren(SirenConfig(2, 3, 8, 2), torch.Generator().manual_seed(0))
    method._fit(model, signal, "noise", lambda label, step, total, note="": shown.append(note))
    steps = int(shown[-1].split()[2])  # "done in N steps, levelled off at PSNR ~x dB"
    assert steps in (30, 70, 150, 310, 630, 1270) and "levelled off" in shown[-1]
    assert I.quality(signal, model) < I.TARGETS["image"]


def test_the_target_option_sets_where_fast_fits_stop():
    signal, steps = to_signal(smooth_image()), {}
    for target in (15.0, 30.0):
        shown: list[str] = []
        model = Siren(SirenConfig(2, 3, 32, 2), torch.Generator().manual_seed(0))
        get_method("inrsteg", hidden=32, layers=2, target=target)._fit(
            model, signal, "image", lambda label, step, total, note="", out=shown: out.append(note))
        steps[target] = int(shown[-1].split()[2])  # "done in N steps"
        assert I.quality(signal, model) >= target
    assert steps[15.0] < steps[30.0] < I.FAST_MAX_STEPS["image"]


def test_a_video_too_large_to_render_is_refused_with_what_fits():
    big = Video(np.zeros((40, 270, 480, 3), np.float32), 25)  # 5.2 M pixels per channel
    with pytest.raises(CapacityError, match=r"2097152 pixels per channel; its first 16 frames fit at this size$"):
        I.INRSteg(hidden=32, layers=3).hide(smooth_image(), big)
    huge = Video(np.zeros((20, 720, 1280, 3), np.float32), 25)
    with pytest.raises(CapacityError, match=r"video cover .* first 2 frames fit at this size, or 16 frames "
                                            r"downscaled to 482x271$"):
        I.INRSteg(hidden=32, layers=3).plain_rendering(huge)
    with pytest.raises(CapacityError, match=r"1 frame downscaled to 1448x1448$"):
        I.INRSteg(hidden=32, layers=3).hide(smooth_image(), Video(np.zeros((1, 2000, 2000, 3), np.float32), 25))


def test_silent_audio_as_secret_and_as_cover():
    silence = Audio(np.zeros((1, 2000), np.float32), 16000)
    method = I.INRSteg(hidden=32, layers=3, steps=40)
    (revealed,) = method.reveal(method.hide(smooth_image(), silence, "k", progress=lambda *args: None), "k")
    assert np.abs(revealed.samples).max() < 0.05
    stego = method.hide(silence, smooth_image(), "k", progress=lambda *args: None)
    assert isinstance(method.reveal(stego, "k")[0], Image)


def test_an_attacker_who_knows_the_layout_but_not_the_key_cuts_out_noise(tmp_path):
    """Issue 4: without the key the stego INR reveals nothing usable, even to one told where the secret sits."""
    method = get_method("inrsteg", **TINY)
    stego = media.load(media.save(method.hide(smooth_image(), tone(), key="pw"), tmp_path / "s.safetensors"))
    (right,) = method.reveal(stego, key="pw")
    material = keys.derive("pw", "inrsteg")  # read the sealed layout with the right key: the attacker's gift
    slots = [I.Slot(**s) for s in json.loads(I.frame.extract(I._carrier(stego.tensors), material, I.HEADER_AAD))]
    for wrong in (None, "wrong", "pw "):  # permutation left as stored, or undone with a wrong key's
        model, _ = I._network(stego)
        if wrong is not None:
            I.permute(model, keys.derive(wrong, "inrsteg"), inverse=True)
        (slot,) = slots
        cut = render(I.extract(model, slot), slot.modality, slot.layout)
        assert snr(right.samples, cut.samples) < 3, wrong
    model, _ = I._network(stego)
    I.permute(model, material, inverse=True)  # and the right key's permutation gives the secret back exactly
    assert snr(right.samples, render(I.extract(model, slots[0]), "audio", slots[0].layout).samples) > 60
