"""ditas, deepsteg, stft: residual bookkeeping, 16-bit WAV round trips, partial loss, capacity, keys, training."""

import json
import re

import numpy as np
import pytest
import torch

from conftest import run_cli
from crossteg import keys, media
from crossteg.codecs import dither
from crossteg.errors import CapacityError, KeyError_, MediaError, UsageError
from crossteg.media import Audio, Image
from crossteg.methods import ditas as D
from crossteg.methods import get_method
from crossteg.methods.base import WEIGHTS_DIR
from crossteg.metrics import psnr
from crossteg.robustness.audio import gain

rng = np.random.default_rng(0)


def tiny(tmp_path, kind="ditas", variant="M-ED", view="raw", stages=3):
    torch.manual_seed(0)
    config = D.NetConfig(kind, variant, stages, view, width=8, blocks=1)
    path = tmp_path / f"{kind}-{variant}-{view}.safetensors"
    D.save_net(D.build(config), config, path)
    return path


def noise_cover(seconds: float, rate: int = 16_000, channels: int = 1) -> Audio:
    return Audio((0.1 * rng.standard_normal((channels, int(seconds * rate)))).astype(np.float32), rate)


def photo(h: int = 64, w: int = 64) -> Image:
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    return Image(np.stack([x, y, 0.5 + 0.4 * np.sin(7 * x * y)], -1).astype(np.float32))


def test_stage_residuals_add_up():
    """S_i = S_0 - (R_1 + ... + R_{i-1}) in hiding, and reveal sums the same R_i from the containers."""
    for variant in D.VARIANTS:
        net = D.build(D.NetConfig("ditas", variant, 3, "raw", 4, 1))
        secret, covers = torch.rand(1, 3, 128, 64), 0.1 * torch.randn(1, 3, 2, 4096)
        carrier = D.Carrier("raw", 2, 1, *D.row_scramble(None, (1, 3, 2), rng))
        with torch.no_grad():
            out = net.hide(secret, carrier.encode(covers), lambda v, i, c=carrier: c.requantize(v, i), 3)
            total = net.reveal(torch.stack(out["views"], 1), torch.ones(1, 3, 1, 128, 64), 3)
        assert out["views"][0].shape == (1, 1, 128, 64) and out["audio"][0].shape == (1, 2, 4096)
        for i in range(3):
            assert torch.allclose(out["targets"][i], secret - sum(out["reveals"][:i]), atol=1e-6)
        assert torch.allclose(total, sum(out["reveals"]), atol=1e-5)
        if variant == "S":
            assert len(net.hiders) == 1


@pytest.mark.parametrize("view", ["raw", "stft", "mag"])
def test_carrier_views_invert(view):
    audio = 0.2 * torch.randn(1, 2, 4, 4096)
    carrier = D.Carrier(view, 2, 2, *D.row_scramble(keys.derive("k", "ditas"), (1, 2, 4)))
    mosaic = carrier.encode(audio)
    assert mosaic.shape == (1, 2, 2 if view == "stft" else 1, 128, 128)
    back = carrier.decode(mosaic[:, 1], 1)
    assert torch.allclose(back, audio[:, 1], atol=1e-4 if view != "raw" else 0)


@pytest.mark.parametrize("kind,variant,view", [("ditas", "M-ED", "raw"), ("ditas", "S", "stft"),
                                               ("deepsteg", "M-ED", "raw"), ("stft", "M-ED", "mag")])
def test_hide_reveal_through_16_bit_wav(tmp_path, kind, variant, view):
    weights = tiny(tmp_path, kind, variant, view)
    options = {"variant": variant, "pre": view} if kind == "ditas" else {}
    method = get_method(kind, stages=3, weights=str(weights), **options)
    cover, secret = noise_cover(3.7), photo(70, 100)  # 2 x 2 tiles x 3 stages: 3.59 s
    stego = method.hide(cover, secret, "key")
    path = media.save(stego, tmp_path / "stego.wav")
    loaded = media.load(path)
    assert np.array_equal(loaded.to_int16(), stego.to_int16())  # an ordinary 16-bit file holds it exactly
    revealed = method.reveal(loaded, "key")
    assert revealed.pixels.shape == (70, 100, 3)
    assert np.array_equal(revealed.pixels, method.reveal(stego, "key").pixels)
    assert loaded.sample_rate == 16_000 and np.abs(loaded.samples - cover.samples).max() > 1e-3
    with pytest.raises(KeyError_):
        method.reveal(loaded, "wrong key")


def test_reveal_matches_what_hiding_computed(tmp_path, monkeypatch):
    """The residual chain in hide() used the 16-bit containers, so the file reveals exactly C_t."""
    method = get_method("ditas", variant="M-D", stages=3, weights=str(tiny(tmp_path, variant="M-D")), refine=0)
    seen = {}
    original = D.DitasNet.hide

    def spy(self, *args):
        out = original(self, *args)
        seen["total"] = sum(out["reveals"])[0].clamp(0, 1).permute(1, 2, 0).numpy()
        return out

    monkeypatch.setattr(D.DitasNet, "hide", spy)
    stego = media.load(media.save(method.hide(noise_cover(1.4), photo(), "k"), tmp_path / "s.wav"))
    assert np.allclose(method.reveal(stego, "k").pixels, seen["total"], atol=1e-5)


def test_refinement_reveals_better_from_the_file_without_a_larger_change(tmp_path):
    """Hide-time refinement (ours) lowers the reveal error of the saved 16-bit WAV; each hidden tile changes by no
    more (in mean square) than the networks' one pass changed it."""
    torch.manual_seed(0)
    config = D.NetConfig("ditas", "M-ED", 2, "raw", width=8, blocks=1)
    net = D.build(config)
    with torch.no_grad():  # untrained revealers that start at mid-grey, so the reveal error has a gradient to follow
        for revealer in net.revealers:
            revealer.tail.bias.fill_(0.25)
    weights = tmp_path / "tiny.safetensors"
    D.save_net(net, config, weights)
    cover, secret = noise_cover(1.4), photo()
    results = {}
    for steps in (0, 100):
        method = get_method("ditas", stages=2, weights=str(weights), refine=steps)
        stego = media.load(media.save(method.hide(cover, secret, "k"), tmp_path / f"s{steps}.wav"))
        material = keys.derive("k", "ditas")
        layout = D.Layout(64, 64, 2, D.open_header(stego.samples[0], material, b"ditas", "ditas")[6], D.GUARD)
        slots = layout.slots(material)
        change = D.read_tiles(stego.samples[0], layout, slots)[0] - D.read_tiles(cover.samples[0], layout, slots)[0]
        results[steps] = (psnr(secret.pixels, method.reveal(stego, "k").pixels), np.mean(change**2, -1))
    (one_pass, budget), (refined, power) = results[0], results[100]
    assert refined > one_pass + 0.3
    assert np.all(power <= budget * 1.01 + 2 / D.PCM**2)


def test_refined_change_stays_below_the_band_that_resamplers_keep(tmp_path):
    """With refinement, each hidden tile's change has no spectrum above `band` (what resamplers keep) but the 16-bit
    rounding's; `band=0` keeps the whole band."""
    weights = str(tiny(tmp_path, stages=2))
    cover = noise_cover(1.4)
    for band, above in ((6000, lambda energy: energy < 1e-7), (0, lambda energy: energy > 1e-3)):
        method = get_method("ditas", stages=2, weights=weights, refine=10, band=band)
        stego = method.hide(cover, photo(), "k")
        material = keys.derive("k", "ditas")
        layout = D.Layout(64, 64, 2, D.open_header(stego.samples[0], material, b"ditas", "ditas")[6], D.GUARD)
        change = (D.read_tiles(stego.samples[0], layout, layout.slots(material))[0]
                  - D.read_tiles(cover.samples[0], layout, layout.slots(material))[0])
        spectrum = np.abs(np.fft.rfft(change, axis=-1)) ** 2
        high = np.fft.rfftfreq(D.TILE_SAMPLES, 1 / D.MODEL_RATE) > 6100
        assert above(spectrum[..., high].sum() / spectrum.sum())
    with pytest.raises(UsageError, match="band"):
        get_method("ditas", band=9000)


def test_any_rate_and_channels(tmp_path):
    method = get_method("ditas", stages=2, weights=str(tiny(tmp_path, stages=2)))
    cover = noise_cover(1.4, 44_100, 2)
    stego = media.load(media.save(method.hide(cover, photo(), "k"), tmp_path / "s.wav"))
    assert (stego.sample_rate, stego.channels, stego.frames) == (44_100, 2, cover.frames)
    at_16k = method.reveal(media.load(media.save(method.hide(cover.resample(16_000), photo(), "k"),
                                                 tmp_path / "s16.wav")), "k")
    assert psnr(method.reveal(stego, "k").pixels, at_16k.pixels) > 25  # resampling the change costs little


def test_a_cover_below_16k_gives_a_16k_stego(tmp_path):
    """At 8 kHz the change's band would be cut: the stego is the cover at 16 kHz plus the change, with a warning."""
    method = get_method("ditas", stages=2, weights=str(tiny(tmp_path, stages=2)))
    cover = noise_cover(1.4, 8000)
    with pytest.warns(UserWarning, match="16000 Hz"):
        stego = media.load(media.save(method.hide(cover, photo(), "k"), tmp_path / "s.wav"))
    assert (stego.sample_rate, stego.frames) == (16_000, 2 * cover.frames)
    at_16k = media.load(media.save(method.hide(cover.resample(16_000), photo(), "k"), tmp_path / "s16.wav"))
    assert np.array_equal(method.reveal(stego, "k").pixels, method.reveal(at_16k, "k").pixels)
    media.save(cover, tmp_path / "c8.wav")
    media.save(photo(), tmp_path / "p.png")
    cli = run_cli("hide", "ditas", "--cover", tmp_path / "c8.wav", "--secret", tmp_path / "p.png", "-o",
                  tmp_path / "cli.wav", "--key", "k", "-O", "stages=2", "-O", f"weights={method.weights_path}")
    assert cli.returncode == 0, cli.stderr
    assert "warning: the cover is at 8000 Hz: the stego is written at 16000 Hz" in cli.stderr  # one line, no source
    assert "UserWarning" not in cli.stderr and media.load(tmp_path / "cli.wav").sample_rate == 16_000


def test_partial_loss_keeps_intact_stages(tmp_path):
    method = get_method("ditas", variant="M", stages=3, weights=str(tiny(tmp_path, variant="M")))
    stego = method.hide(noise_cover(1.4), photo(), "k")
    material = keys.derive("k", "ditas")
    fields = D.open_header(stego.samples[0], material, b"ditas", "ditas")
    layout = D.Layout(64, 64, 3, fields[6], D.GUARD)
    slots = layout.slots(material)
    pcm = stego.to_int16()
    start = layout.first + slots[1, 0] * D.TILE_SAMPLES
    pcm[:, start:start + D.TILE_SAMPLES] = 0  # stage 2's segment lost
    damaged = media.load(media.save(Audio.from_int16(pcm, 16_000), tmp_path / "lost.wav"))
    with pytest.raises(MediaError, match="allow-missing"):
        method.reveal(damaged, "k")
    partial = get_method("ditas", variant="M", stages=3, weights=str(tiny(tmp_path, variant="M")),
                         allow_missing=True).reveal(damaged, "k")
    tiles, present = D.read_tiles(stego.samples[0], layout, slots)
    expected = method.reveal_tiles(method.net("M", "raw", 3), "raw", tiles, present & ~(np.arange(3) == 1)[:, None],
                                   layout, material)
    assert np.allclose(partial.pixels, expected, atol=1e-5)  # stages 1 and 3 exactly as hidden
    assert not np.allclose(partial.pixels, method.reveal(stego, "k").pixels, atol=1e-3)


@pytest.mark.parametrize("rate, lead, cut", [(16_000, 160, 1500), (44_100, 448, 4001)])
def test_a_file_whose_start_was_padded_or_cut_is_read_where_it_was_written(tmp_path, monkeypatch, rate, lead, cut):
    """Leading silence added, or the start trimmed before the first slot (an editor's cut), at the file's rate:
    reveal re-times the file from the back copy of the header and the length it records (version 4), to a fraction
    of a 16 kHz sample at 44.1 kHz. Read where it lies instead, every stage reveals something else."""
    method = get_method("ditas", variant="M", stages=3, weights=str(tiny(tmp_path, variant="M")))
    stego = media.load(media.save(method.hide(noise_cover(2.0, rate), photo(), "k"), tmp_path / "s.wav"))
    intact = method.reveal(stego, "k").pixels
    padded = np.concatenate([np.zeros((1, lead), np.float32), stego.samples], 1)
    for name, samples in (("padded", padded), ("cut", stego.samples[:, cut:])):
        moved = media.load(media.save(Audio(samples, rate), tmp_path / f"{name}.wav"))
        assert psnr(intact, method.reveal(moved, "k").pixels) > (99 if rate == 16_000 else 35), name
        with monkeypatch.context() as patch:
            patch.setattr(D, "realign", lambda mono16, *args: mono16)
            assert psnr(intact, method.reveal(moved, "k").pixels) < 30, name
    cut_both = media.load(media.save(Audio(padded[:, :-lead], rate), tmp_path / "both.wav"))
    with pytest.raises(KeyError_, match="or one cut at both ends"):
        method.reveal(cut_both, "k")


def test_an_idle_stage_over_digital_silence_still_reads_as_present(tmp_path, monkeypatch):
    """A stage that hides (almost) nothing, over a cover of digital silence, would round to a silent segment that
    reveal takes for lost audio; hide keeps such segments present (D.KEEP_ALIVE), so the file reveals as is."""
    method = get_method("ditas", variant="M", stages=3, weights=str(tiny(tmp_path, variant="M")), refine=0)
    original = D.DitasNet.hide

    def idle_last_stage(self, *args):
        out = original(self, *args)
        out["audio"][-1] = torch.zeros_like(out["audio"][-1])  # the cover's own (silent) samples: nothing hidden
        return out

    monkeypatch.setattr(D.DitasNet, "hide", idle_last_stage)
    silent = Audio(np.zeros((1, 28_000), np.float32), 16_000)
    stego = media.load(media.save(method.hide(silent, photo(), "k"), tmp_path / "s.wav"))
    material = keys.derive("k", "ditas")
    layout = D.Layout(64, 64, 3, D.open_header(stego.samples[0], material, b"ditas", "ditas")[6], D.GUARD)
    tiles, present = D.read_tiles(stego.samples[0], layout, layout.slots(material))
    assert present.all()
    assert np.abs(tiles[-1]).max() <= 5 / D.PCM  # the keep-alive tone alone: -78 dBFS
    assert method.reveal(stego, "k").pixels.shape == (64, 64, 3)


def test_a_change_of_volume_since_hiding_is_undone(tmp_path, monkeypatch):
    """Version 3 (ours): the header's lattice follows the file's level and reveal scales stage 1's audio back to
    the RMS the header records, so the networks read a file whose volume changed (-6 dB, +2 dB) as hidden."""
    method = get_method("ditas", stages=2, weights=str(tiny(tmp_path, stages=2)))
    path = media.save(method.hide(noise_cover(1.4), photo(), "k"), tmp_path / "s.wav")
    seen = []
    original = D.Ditas.reveal_tiles

    def spy(self, net, view, tiles, *rest):  # the audio tiles the revealing networks get
        seen.append(tiles.copy())
        return original(self, net, view, tiles, *rest)

    monkeypatch.setattr(D.Ditas, "reveal_tiles", spy)
    as_hidden = method.reveal(media.load(path), "k").pixels
    for db in (-6, 2):
        gain(path, tmp_path / f"{db}.wav", db)
        assert method.reveal(media.load(tmp_path / f"{db}.wav"), "k").pixels.shape == as_hidden.shape
        error = np.abs(seen[-1] - seen[0]).max()  # the level's half float (2^-11) and 16-bit rounding only,
        assert error < 2 / D.PCM + 5e-4 * np.abs(seen[0]).max() < 0.05 * np.abs(seen[0]).max()  # not the 2 or 6 dB


def test_header_reads_where_the_level_misleads_and_from_version_2(tmp_path):
    """The body of the file 10 dB quieter than its header regions: the lattice step from its loudness is 3x too
    small and reveal finds it by STEP_SEARCH. A version-2 header (fixed step, no volume) still reads."""
    method = get_method("ditas", stages=2, weights=str(tiny(tmp_path, stages=2)))
    mono = method.hide(noise_cover(1.4), photo(), "k").samples[0]
    material = keys.derive("k", "ditas")
    fields = D.open_header(mono, material, b"ditas", "ditas")
    body = slice(D.HEADER_SAMPLES, len(mono) - D.HEADER_SAMPLES)
    quieter = mono.copy()
    quieter[body] *= 10 ** (-10 / 20)
    assert D.loudness(quieter) < D.loudness(mono) / 3
    assert D.open_header(quieter, material, b"ditas", "ditas") == fields
    cover = noise_cover(1.4).samples[0]
    old = (2, D.VARIANTS.index("M-ED"), 2, 0, 64, 64, 9)
    bits = dither.message_bits(material, "ditas/header", D.header_struct(2).pack(*old), b"ditas")
    for part in (slice(0, D.HEADER_SAMPLES), slice(len(cover) - D.HEADER_SAMPLES, len(cover))):
        cover[part] += dither.embed(cover[part], bits, material, "ditas/header", D.HEADER_STEP, D.MODEL_RATE)
    assert D.open_header(cover, material, b"ditas", "ditas") == (*old, 0.0)


def test_capacity_error_states_minimum_duration(tmp_path):
    method = get_method("ditas", weights=str(tiny(tmp_path, stages=5)))
    with pytest.raises(CapacityError, match=r"needs at least 1\.\d\d s of audio"):
        method.hide(noise_cover(1.0), photo(), "k")
    assert method.capacity(noise_cover(1.9)).amount == 4096


def test_capacity_error_names_a_size_that_fits(tmp_path):
    method = get_method("ditas", weights=str(tiny(tmp_path, stages=5)))
    cover, big = noise_cover(6.0), Image(np.zeros((400, 600, 3), np.float32))
    with pytest.raises(CapacityError, match=r"downscale the image to \d+x\d+") as raised:
        method.check_fits(cover, big)
    width, height = map(int, re.search(r"to (\d+)x(\d+)", str(raised.value)).groups())
    assert abs(width / height - 1.5) < 0.05 and width > 64  # same aspect, not needlessly small
    method.check_fits(cover, Image(np.zeros((height, width, 3), np.float32)))  # fits
    assert D.largest_fit(400, 600, 100) is None  # not even one tile
    assert D.largest_fit(384, 384, 7 * 4096) == (128, 128)  # whole tiles, not a pixel less


@pytest.mark.skipif(not (WEIGHTS_DIR / "ditas-M-ED-stft.safetensors").exists(), reason="shipped weights not built")
def test_shipped_weights_reveal_and_wrong_layout_is_noise(assets):
    method = get_method("ditas")
    secret = Image(media.load(assets / "photo.png").pixels[64:192, 64:192])
    stego = method.hide(media.load(assets / "speech_long.wav"), secret, "key")
    good = method.reveal(stego, "key").pixels
    material, wrong = keys.derive("key", "ditas"), keys.derive("other", "ditas")
    fields = D.open_header(stego.samples[0], material, b"ditas", "ditas")
    layout = D.Layout(128, 128, 5, fields[6], D.GUARD)
    tiles, present = D.read_tiles(stego.samples[0], layout, layout.slots(wrong))
    variant, view = method.header_fields()
    noise = method.reveal_tiles(method.net(variant, view, 5), view, tiles, present, layout, wrong)
    assert psnr(secret.pixels, good) > psnr(secret.pixels, noise) + 8


def test_default_pre_is_stft_where_a_model_has_it_else_raw_or_the_files_own(tmp_path):
    assert get_method("ditas").header_fields() == ("M-ED", "stft")
    assert get_method("ditas", stages=7).header_fields() == ("M-ED", "raw")  # t = 10 model: raw only
    assert get_method("ditas", variant="M-D").header_fields() == ("M-D", "raw")
    assert get_method("ditas", pre="raw").header_fields() == ("M-ED", "raw")
    for view in ("raw", "stft"):
        assert get_method("ditas", weights=str(tiny(tmp_path, view=view))).header_fields() == ("M-ED", view)


def test_cli_round_trip_with_allow_missing(tmp_path):
    weights = tiny(tmp_path, stages=2)
    method = get_method("ditas", stages=2, weights=str(weights))
    stego = method.hide(noise_cover(1.4), photo(), "k")
    pcm = stego.to_int16()
    pcm[:, 4200:18000] = 0  # everything but the two header regions lost
    media.save(Audio.from_int16(pcm, 16_000), tmp_path / "cut.wav")
    with pytest.raises(MediaError, match="allow-missing"):  # exit code 2
        method.reveal(media.load(tmp_path / "cut.wav"), "k")
    ok = run_cli("reveal", "ditas", tmp_path / "cut.wav", "-o", tmp_path / "r.png", "--key", "k", "--allow-missing",
                 "-O", f"weights={weights}")
    assert ok.returncode == 0, ok.stderr
    assert media.load(tmp_path / "r.png").pixels.shape == (64, 64, 3)


def test_training_steps_write_loadable_weights(tmp_path, monkeypatch):
    from crossteg.train import ditas as T

    pools = []

    def pool(count: int, seed: int, recorded: int = 0) -> np.ndarray:
        pools.append(recorded)
        return (0.1 * rng.standard_normal(60_000)).astype(np.float32)

    monkeypatch.setattr(T, "speech_pool", pool)
    T.main(["--baseline", "deepsteg", "--stages", "2", "--width", "4", "--steps", "3", "--log-every", "1",
            "--checkpoint", str(tmp_path / "c.pt"), "--out", str(tmp_path)])
    card = (tmp_path / "deepsteg-t2.json").read_text()  # baselines at t != 5 are named by t
    assert '"steps": 3' in card and "sha256" in card
    method = get_method("deepsteg", stages=2, weights=str(tmp_path / "deepsteg-t2.safetensors"))
    assert method.reveal(method.hide(noise_cover(1.2), photo(), "k"), "k").pixels.shape == (64, 64, 3)
    (tmp_path / "c.pt").unlink()  # --resume without a checkpoint continues from the written weights and card
    assert "recorded" not in card
    T.main(["--baseline", "deepsteg", "--stages", "2", "--width", "4", "--steps", "5", "--log-every", "1",
            "--checkpoint", str(tmp_path / "c.pt"), "--out", str(tmp_path), "--resume", "--recorded-clips", "2"])
    resumed = json.loads((tmp_path / "deepsteg-t2.json").read_text())
    assert [point["step"] for point in resumed["curve"]] == [1, 2, 3, 4, 5]
    assert pools == [0, 2] and resumed["training"]["command"].endswith("--recorded-clips 2")
    assert "2 clips of 3-8 s strung from recorded prompts" in resumed["data"]["covers"]
    assert resumed["training"]["command"].startswith("crossteg train ditas --resume ")
    (tmp_path / "c.pt").unlink()  # a second resumption from the weights keeps the card's first one
    T.main(["--baseline", "deepsteg", "--stages", "2", "--width", "4", "--steps", "6", "--log-every", "1",
            "--checkpoint", str(tmp_path / "c.pt"), "--out", str(tmp_path), "--resume"])
    assert json.loads((tmp_path / "deepsteg-t2.json").read_text())["training"]["resumed_at_steps"] == [3, 5]


def test_float32_option_skips_rounding_and_still_reveals(tmp_path):
    weights = str(tiny(tmp_path, stages=2))
    floats = get_method("ditas", stages=2, weights=weights, float32=True)
    stego = floats.hide(noise_cover(1.2), photo(), "k")
    assert not np.array_equal(stego.samples, Audio.from_int16(stego.to_int16(), 16_000).samples)  # not on the grid
    loaded = media.load(media.save(stego, tmp_path / "f.wav", subtype="FLOAT"))
    assert np.array_equal(loaded.samples, stego.samples)
    assert floats.reveal(loaded, "k").pixels.shape == (64, 64, 3)


@pytest.mark.parametrize("attack", ["mp3-64", "aac-128", "noise-30db", "resample-22050", "segment-loss-25"])
def test_header_survives_lossy_audio(tmp_path, attack):
    """The dither-modulated header outlives what destroys LSBs: codecs, noise, resampling, a lost end."""
    from crossteg.robustness import ATTACKS

    if attack not in ATTACKS:
        pytest.skip(f"{attack}: encoder not in this ffmpeg")
    method = get_method("ditas", stages=2, weights=str(tiny(tmp_path, stages=2)))
    speechlike = noise_cover(2.0, 44_100, 2)
    speechlike.samples[:, :20_000] *= 0.05  # a quiet start, then loud: both kinds of region
    media.save(method.hide(speechlike, photo(), "k"), tmp_path / "s.wav")
    ATTACKS[attack].apply(tmp_path / "s.wav", tmp_path / "a.wav")
    attacked = media.load(tmp_path / "a.wav").mono().resample(D.MODEL_RATE).samples[0]
    fields = D.open_header(attacked, keys.derive("k", "ditas"), b"ditas", "ditas")
    assert fields[:3] == (D.VERSION, D.VARIANTS.index("M-ED"), 2) and fields[4:6] == (64, 64)
    with pytest.raises(KeyError_):
        D.open_header(attacked, keys.derive("other", "ditas"), b"ditas", "ditas")
