"""inrweights: base networks, QAT rounding, keyed weights, the sealed header, and real round trips through PNGs."""

import dataclasses
import json
import math
import warnings

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from conftest import run_cli
from crossteg import keys, media, metrics
from crossteg.codecs import frame
from crossteg.codecs.inr import render, to_signal
from crossteg.errors import CapacityError, KeyError_, MediaError, UsageError
from crossteg.evaluate import run_case
from crossteg.media import Audio, Image, Video
from crossteg.methods import get_method
from crossteg.methods import inrweights as W
from crossteg.nn import igr, siren
from crossteg.robustness import ATTACKS

TINY = {"width": 64, "steps": 150}


pytestmark = [pytest.mark.usefixtures("one_torch_thread"),  # tiny networks: one thread is fastest
              # the tests' small covers are resized to the network's width, which hide says (video_stego checks it)
              pytest.mark.filterwarnings("ignore:the container is .* cover is resized:UserWarning")]


def cover_image(h: int = 40, w: int = 24) -> Image:
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    return Image(np.stack([x, y, 0.5 + 0.3 * np.sin(6 * x * y)], -1).astype(np.float32))


def small_video(t: int = 4, side: int = 8) -> Video:
    f, y, x = np.mgrid[0:t, 0:side, 0:side] / side
    frames = np.stack([0.5 + 0.4 * np.sin(3 * x + f), y, 0.5 + 0.3 * np.cos(2 * y * x)], -1)
    return Video(frames.astype(np.float32), 8.0)


def tone(n: int = 800, rate: int = 8000, amplitude: float = 0.5) -> Audio:
    t = np.arange(n) / rate
    return Audio((amplitude * np.sin(2 * np.pi * 150 * t)).astype(np.float32)[None], rate)


def test_siren_apply_matches_the_module_and_keyed_init_has_siren_statistics():
    config = siren.SirenConfig(3, 3, 64, 5)
    model = siren.Siren(config, torch.Generator().manual_seed(0))
    x = torch.rand(20, 3) * 2 - 1
    assert torch.equal(siren.apply(x, list(model.weights), list(model.biases)), model(x))
    weights, _ = siren.init_arrays(config, np.random.default_rng(0))
    bound = math.sqrt(6 / 64) / siren.W0
    assert float(weights[2].abs().max()) <= bound and float(weights[2].std()) > 0.5 * bound / math.sqrt(3)
    again, _ = siren.init_arrays(config, np.random.default_rng(0))
    assert all(torch.equal(a, b) for a, b in zip(weights, again, strict=True))


def test_igr_geometric_init_starts_near_the_unit_sphere_and_keeps_square_variable_maps():
    config = igr.IGRConfig(3, 256, 6)
    shapes = config.shapes()
    assert len(shapes) == 8 and shapes[3] == (256 - 3, 256)  # W3 feeds the skip: not square, so not variable
    assert all(shapes[j] == (256, 256) for j in W.VARIABLE["igr"])
    weights, biases = igr.init_arrays(config, np.random.default_rng(1))
    x = torch.rand(500, 3) * 2 - 1
    f = igr.apply(x, weights, biases, config).squeeze(1)
    assert np.corrcoef(f.numpy(), x.norm(dim=1).numpy())[0, 1] > 0.75  # grows with the distance from the centre
    assert float(igr.apply(torch.zeros(1, 3), weights, biases, config)) < -0.4  # the centre is inside


def test_igr_plane_offsets_break_the_star_shape_of_zero_biases():
    """With zero biases (softplus ~ ReLU) f(t x) + radius ~ t (f(x) + radius): every inside is star-shaped about
    the origin. Offset first-layer planes break that, and leave every weight as it was."""
    config = igr.IGRConfig(3, 128, 6)
    x = torch.rand(300, 3, generator=torch.Generator().manual_seed(0)) * 1.6 - 0.8
    x = x[x.norm(dim=1) > 0.3]

    def homogeneity_error(plane_offset: float) -> float:
        weights, biases = igr.init_arrays(config, np.random.default_rng(2), plane_offset)
        g = lambda p: igr.apply(p, weights, biases, config).squeeze(1) + igr.RADIUS_INIT  # noqa: E731
        return float(torch.mean(torch.abs(g(2 * x) - 2 * g(x))) / torch.mean(torch.abs(2 * g(x))))

    assert homogeneity_error(0.0) < 0.03
    assert homogeneity_error(0.6) > 4 * homogeneity_error(0.0)
    plain_w, plain_b = igr.init_arrays(config, np.random.default_rng(2))
    offset_w, offset_b = igr.init_arrays(config, np.random.default_rng(2), 0.6)
    assert all(torch.equal(a, b) for a, b in zip(plain_w, offset_w, strict=True))
    distance = -offset_b[0] / plain_w[0].norm(dim=1)  # each plane's signed distance from the origin
    assert float(distance.abs().max()) <= 0.6 + 1e-5 and float(distance.std()) > 0.25
    assert float(plain_b[0].abs().max()) == 0
    assert all(torch.equal(a, b) for a, b in zip(plain_b[1:], offset_b[1:], strict=True))


def test_header_names_the_plane_offsets_and_older_headers_mean_none():
    material = keys.derive("k", "inrweights")
    header = {"modality": "shape", "ranges": [[-0.1, 0.1]] * 3, "scatter": True, "planes": 0.5}
    offset = W.header_net(header, 64, material)
    older = W.header_net({k: v for k, v in header.items() if k != "planes"}, 64, material)
    assert float(offset.biases[0].abs().max()) > 0 and float(older.biases[0].abs().max()) == 0
    assert all(torch.equal(a, b) for a, b in zip(offset.weights, older.weights, strict=True))
    with pytest.raises(UsageError, match="planes"):
        get_method("inrweights", planes=2)
    container = np.random.default_rng(0).integers(0, 256, (64, 64, 3)).astype(np.uint8)
    version1 = {"v": 1, "modality": "shape", "ranges": [[-0.1, 0.1]] * 3, "layout": {}, "scatter": True}
    assert W.unseal(W.seal(container, material, version1)[0], material) == version1
    with pytest.raises(MediaError, match="incompatible version"):  # a later format is refused, not misread
        W.unseal(W.seal(container, material, {**version1, "v": W.FORMAT + 1})[0], material)


def test_quantise_rounds_forward_and_passes_gradients_straight_through():
    p = torch.tensor([0.1, 0.5001, 0.9999], requires_grad=True)
    q = W.quantise(p)
    assert torch.allclose(q * 255, torch.round(q * 255))
    (q * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.equal(p.grad, torch.tensor([1.0, 2.0, 3.0]))


def test_weight_ranges_put_each_channel_mean_at_zero_and_give_every_contrast_one_spread():
    rng = np.random.default_rng(0)
    span = 2 * W.RANGE_FACTOR["video"] * W.init_bound("siren", 16)
    for low, high in ((0.2, 0.6), (0.0, 1.0), (0.45, 0.55)):  # a hazy cover, an even one, a nearly flat one
        pixels = rng.uniform(low, high, (16, 16, 3)).astype(np.float32)
        ranges = W.weight_ranges(pixels, "video", 16)
        for (lo, hi), m, std in zip(ranges, pixels.reshape(-1, 3).mean(0), pixels.reshape(-1, 3).std(0), strict=True):
            assert abs(lo + m * (hi - lo)) < 1e-7
            weights_std = (hi - lo) * std  # the spread of the weights these pixels make
            expected = span * W.UNIFORM_STD if high - low > 0.2 else span * std * W.SPREAD_GAIN["video"][1]
            assert math.isclose(weights_std, expected, rel_tol=1e-5), (low, high)
        lo, hi = W.weight_ranges(pixels, "audio", 16)[0]  # audio keeps its plain range: a wider one is noisier
        assert math.isclose(hi - lo, 2 * W.RANGE_FACTOR["audio"] * W.init_bound("siren", 16), rel_tol=1e-6)


def test_picked_pixels_flatter_than_their_photo_get_the_photos_spread_for_speech_and_shapes():
    """A kept container's textured pixels can be flatter than the photo they were picked from: speech and shapes
    (not contrast-scaled) get ranges widened by the photo's std / theirs, so the weights spread as the photo's
    pixels would; video (contrast-scaled already) and picked pixels as wide as the photo's are left as they are."""
    rng = np.random.default_rng(1)
    photo = rng.uniform(0.0, 1.0, (32, 32, 3)).astype(np.float32)
    flat = (0.4 + 0.5 * (photo[:16] - 0.5)).astype(np.float32)  # half the photo's std
    for modality in ("audio", "shape"):
        plain = W.weight_ranges(flat, modality, 16)
        widened = W.weight_ranges(flat, modality, 16, photo)
        for (lo, hi), (wlo, whi), std in zip(plain, widened, photo.reshape(-1, 3).std(0) /
                                             flat.reshape(-1, 3).std(0), strict=True):
            assert math.isclose((whi - wlo) / (hi - lo), std, rel_tol=1e-5) and 1.8 < std < 2.2
        assert np.allclose(W.weight_ranges(photo[:16], modality, 16, photo[16:]),
                           W.weight_ranges(photo[:16], modality, 16), rtol=0.1)
    assert W.weight_ranges(flat, "video", 16, photo) == W.weight_ranges(flat, "video", 16)


@pytest.fixture(scope="module")
def video_stego(one_torch_thread):
    """One tiny video hidden with the key "pw" (shared: hiding is the slow part)."""
    with pytest.warns(UserWarning, match="the container is 64x64: the 24x40 cover is resized to it"):
        return small_video(), get_method("inrweights", **TINY).hide(cover_image(), small_video(), "pw")


def test_video_round_trip_through_png_and_pillow_rewrite(tmp_path, video_stego):
    method = get_method("inrweights", **TINY)
    secret, stego = video_stego
    assert stego.pixels.shape == (64, 64, 3)  # a 40 x 24 cover is resized to the network's width
    path = media.save(stego, tmp_path / "c.png")
    loaded = media.load(path)
    assert np.array_equal(loaded.to_uint8(), stego.to_uint8())
    revealed = method.reveal(loaded, "pw")
    assert revealed.frames.shape == secret.frames.shape and revealed.fps == secret.fps
    good = metrics.psnr(secret.frames, revealed.frames)
    flat = metrics.psnr(secret.frames, np.full_like(secret.frames, secret.frames.mean()))
    assert good > flat + 6, (good, flat)
    resized = W.prepare_cover(cover_image(), 64)
    assert metrics.psnr(resized, loaded.pixels) > 20  # still looks like the cover
    PILImage.open(path).save(tmp_path / "pillow.png", optimize=True)  # another writer, same pixels
    again = method.reveal(media.load(tmp_path / "pillow.png"), "pw")
    assert np.array_equal(again.frames, revealed.frames)
    with pytest.raises(KeyError_):
        method.reveal(loaded, "wrong")


def test_eval_compares_the_container_with_the_resized_cover(tmp_path):
    """`crossteg eval` and the robustness sweep measure the container against the cover as hide resized it (a
    384 px cover in the default 512 px container crashed the container metrics)."""
    method = get_method("inrweights", width=64, steps=20)
    media.save(cover_image(), tmp_path / "cover.png")
    media.save(small_video(), tmp_path / "secret.npz")
    assert method.container_reference(cover_image()).pixels.shape == (64, 64, 3)
    keep: dict = {}
    rows = run_case(method, tmp_path / "cover.png", tmp_path / "secret.npz", [ATTACKS["png-resave"]],
                    tmp_path / "work", keep=keep)
    psnr = {r.metric: r.ours for r in rows if r.setting.endswith("in cover.png")}["container_psnr"]
    assert psnr > 20 and keep["cover"].pixels.shape == keep["seen"].pixels.shape == (64, 64, 3)
    assert [r.ours for r in rows if r.metric == "reveal_ok"] == [1.0, 1.0]


@pytest.mark.parametrize("size", [(72, 90), (96, 96)])  # a photo-shaped cover, and a square one wider than 64
def test_a_larger_cover_keeps_its_size_with_the_weights_at_keyed_pixels(tmp_path, size):
    """Ours: a cover of over 9/8 width^2 pixels is not resized: the container is the cover at its own size, only
    width^2 keyed pixels changed, and reveal finds them (after trying a square image as a whole container)."""
    method, cover = get_method("inrweights", **TINY), cover_image(*size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is resized, so nothing to warn about
        stego = method.hide(cover, small_video(), "pw")
    loaded = media.load(media.save(stego, tmp_path / "c.png"))
    assert loaded.pixels.shape == cover.pixels.shape == method.container_reference(cover).pixels.shape
    changed = (loaded.to_uint8() != cover.to_uint8()).any(-1)
    material = keys.derive("pw", "inrweights")
    held = np.zeros(changed.size, bool)
    held[W.read_tiles(loaded.to_uint8(), material)[2]] = True  # the tile map's pixels
    held[W.kept_layout(cover.to_uint8(), 64, material)[1]] = True
    assert changed.sum() > 0.5 * 64 * 64 and not changed.reshape(-1)[~held].any()
    assert metrics.psnr(cover.pixels, loaded.pixels) > 25
    secret = small_video()
    revealed = method.reveal(loaded, "pw")
    flat = metrics.psnr(secret.frames, np.full_like(secret.frames, secret.frames.mean()))
    assert metrics.psnr(secret.frames, revealed.frames) > flat + 6
    with pytest.raises(KeyError_):
        method.reveal(loaded, "wrong")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the paper's container, on request: no warning about resizing
        assert get_method("inrweights", **TINY, resize=True).hide(cover, secret, "pw").pixels.shape == (64, 64, 3)
    with pytest.warns(UserWarning, match=r"resized to it.*keeps its size with widths 32, 64, \.\.\., 512"):
        get_method("inrweights", width=48, steps=2).hide(cover, secret, "pw")  # no kept size at this width
    with pytest.warns(UserWarning, match=r"resized to it.*-O width=64 keeps this one's"):  # too few pixels for 96
        get_method("inrweights", width=96, steps=2).hide(cover_image(72, 90), secret, "pw")


def test_kept_places_are_in_the_textured_tiles_whose_sealed_map_reveal_reads():
    """Ours: the weights go to keyed pixels of the most textured tiles, never where the tile map is sealed; reveal
    reads the map (and the width) back from the image, whatever hiding wrote to every other pixel, only with the
    key; the square container's order is keyed, not by texture."""
    rng = np.random.default_rng(0)
    image = np.full((96, 240, 3), 120, np.uint8)
    image[:, 120:] = rng.integers(0, 256, (96, 120, 3))  # the right half textured: 20 of its 40 tiles
    material = keys.derive("pw", "inrweights")
    sealed, places = W.kept_layout(image, 64, material)
    side, tiles, held = W.read_tiles(sealed, material)
    assert side == 64 and np.array_equal(tiles[:40], W.kept_tiles(image, 64))
    assert set(np.flatnonzero((sealed != image).any(-1))) <= set(held)  # the map changed only its own pixels
    x = places % 240
    assert len(places) == len(set(places)) == 64 * 64 and (x >= 120).all() and not set(places) & set(held)
    assert sorted(places) != list(places)  # keyed order
    rewritten = sealed.copy()
    rewritten.reshape(-1, 3)[places] = rng.integers(0, 256, (len(places), 3))
    again = W.read_tiles(rewritten, material)
    assert again[0] == side and np.array_equal(again[1], tiles) and np.array_equal(again[2], held)
    assert np.array_equal(W.tiled_places(96, 240, tiles[:40], held, side, material), places)
    with pytest.raises(KeyError_):
        W.read_tiles(sealed, keys.derive("other", "inrweights"))


def test_a_kept_container_outlives_pixel_noise(tmp_path):
    """Ours: a kept container's places are read from its sealed tile map, so reveal finds them after pixel noise
    (the map's and the header's 4 dither copies at width 256 hold), and the secret degrades as in a whole container;
    only the weights' and the map's pixels changed."""
    cover, secret, material = cover_image(288, 288), small_video(), keys.derive("pw", "inrweights")
    method = get_method("inrweights", width=256, steps=30)
    clean = media.save(method.hide(cover, secret, "pw"), tmp_path / "clean.png")
    changed = (media.load(clean).to_uint8() != cover.to_uint8()).any(-1).reshape(-1)
    held = np.zeros(changed.size, bool)
    held[W.kept_layout(cover.to_uint8(), 256, material)[1]] = True
    held[W.read_tiles(media.load(clean).to_uint8(), material)[2]] = True  # the tile map's pixels
    assert changed.sum() > 0.5 * 256 * 256 and not changed[~held].any()
    ATTACKS["gaussian-noise-1"].apply(clean, tmp_path / "noisy.png")
    revealed = get_method("inrweights").reveal(media.load(clean), "pw")
    with pytest.warns(UserWarning, match="pixels have changed since hiding"):
        noisy = get_method("inrweights").reveal(media.load(tmp_path / "noisy.png"), "pw")
    assert metrics.psnr(revealed.frames, noisy.frames) > 20
    flat = metrics.psnr(secret.frames, np.full_like(secret.frames, secret.frames.mean()))
    assert metrics.psnr(secret.frames, revealed.frames) > flat + 3


def test_wrong_key_predefined_weights_give_a_bad_secret(video_stego):
    secret, stego = video_stego
    header = W.unseal(stego.to_uint8(), keys.derive("pw", "inrweights"))
    pixels = torch.from_numpy(stego.to_uint8().transpose(2, 0, 1).copy()).float() / 255
    scores = {}
    for key in ("pw", "an attacker's guess"):
        net = W.base_net("video", 64, keys.derive(key, "inrweights"), [tuple(r) for r in header["ranges"]])
        scores[key] = metrics.psnr(secret.frames, render(net.bound(pixels), "video", header["layout"]).frames)
    assert scores["pw"] > scores["an attacker's guess"] + 6, scores


def test_keyed_order_makes_a_cover_a_full_rank_matrix_and_follows_the_key():
    pixels = torch.from_numpy(W.prepare_cover(cover_image(), 64).transpose(2, 0, 1).copy())
    ranges = W.weight_ranges(pixels.numpy().transpose(1, 2, 0), "shape", 64)

    def variable(net: W.BaseNet) -> torch.Tensor:  # the first variable matrix, as the network reads it
        return net.all_weights(pixels)[W.VARIABLE["igr"][0]]

    def stable_rank(m: torch.Tensor) -> float:  # ||M||_F^2 / ||M||_2^2: about 1 for a smooth picture
        return float(m.norm() ** 2 / torch.linalg.matrix_norm(m, ord=2) ** 2)

    material = keys.derive("k", "inrweights")
    paper = variable(W.base_net("shape", 64, material, ranges, scatter=False))
    dealt = variable(W.base_net("shape", 64, material, ranges))
    assert torch.equal(torch.sort(paper.ravel()).values, torch.sort(dealt.ravel()).values)  # same weights ...
    assert stable_rank(dealt) > 5 * stable_rank(paper)  # ... in a keyed order: no longer nearly rank one
    other = variable(W.base_net("shape", 64, keys.derive("other", "inrweights"), ranges))
    assert not torch.equal(dealt, other)


def test_paper_layout_round_trip_and_the_header_names_the_layout(tmp_path):
    method = get_method("inrweights", scatter=False, **TINY)
    stego = media.load(media.save(method.hide(cover_image(), small_video(), "pw"), tmp_path / "c.png"))
    assert W.unseal(stego.to_uint8(), keys.derive("pw", "inrweights"))["scatter"] is False
    revealed = get_method("inrweights").reveal(stego, "pw")  # the reader's own option does not matter
    secret = small_video()
    flat = metrics.psnr(secret.frames, np.full_like(secret.frames, secret.frames.mean()))
    assert metrics.psnr(secret.frames, revealed.frames) > flat + 6


def test_the_fit_reads_the_same_network_from_pixels_in_the_weights_order():
    pixels = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(1))
    ranges = W.weight_ranges(pixels.numpy().transpose(1, 2, 0), "video", 64)
    net = W.base_net("video", 64, keys.derive("k", "inrweights"), ranges)
    ordered = net.to_weight_order(pixels)
    assert not torch.equal(ordered, pixels) and torch.equal(net.to_pixel_order(ordered), pixels)
    x = torch.rand(50, 3) * 2 - 1
    plain = dataclasses.replace(net, scatter=None)  # what train fits: no deal at every step
    assert torch.equal(plain.forward(x, ordered), net.forward(x, pixels))


@pytest.mark.parametrize("fast", [False, True])  # float32 or bfloat16 products while fitting; read in float32
def test_qat_fits_the_rounded_pixels(fast):
    signal = to_signal(small_video())
    cover = torch.from_numpy(cover_image(64, 64).pixels.transpose(2, 0, 1).copy())
    ranges = W.weight_ranges(cover.numpy().transpose(1, 2, 0), "video", 64)
    net = W.base_net("video", 64, keys.derive("k", "inrweights"), ranges)

    def error(pixels: torch.Tensor) -> float:
        with torch.no_grad():
            out = net.forward(signal.coords, torch.round(pixels * 255) / 255)
        return float(torch.mean((out - signal.targets) ** 2))

    fitted = W.train(net, signal, cover, W.Schedule(100, 5e-3, 0.05, 512, fast=fast))
    assert float((fitted - cover).abs().max()) > 1 / 255  # the pixels moved
    assert error(fitted) < error(cover) / 4  # and the 8-bit pixels carry the secret


@pytest.mark.parametrize("amplitude", [0.5, 0.02])  # a loud and a quiet (-37 dBFS) tone: fitted at AUDIO_RMS
def test_audio_is_resampled_to_22050_and_revealed_at_its_level(tmp_path, amplitude):
    method = get_method("inrweights", width=64, steps=400)  # audio needs more steps than the tiny video
    secret = tone(amplitude=amplitude)
    with pytest.warns(UserWarning, match="inrweights reveals the audio resampled from 8000 Hz to 22050 Hz"):
        stego = method.hide(cover_image(32, 32), secret, None)
    revealed = method.reveal(media.load(media.save(stego, tmp_path / "c.png")), None)
    assert revealed.sample_rate == W.AUDIO_RATE and revealed.frames == round(800 * W.AUDIO_RATE / 8000)
    reference = secret.resample(W.AUDIO_RATE).samples[0]
    assert metrics.snr(reference, revealed.samples[0]) > 6
    level = np.sqrt(np.mean(revealed.samples[0] ** 2) / np.mean(reference**2))
    assert 0.7 < level < 1.4


def test_shape_secret_gives_a_mesh(tmp_path, assets):
    method = get_method("inrweights", width=32, steps=20)
    shape = media.load(assets / "mesh.ply")
    stego = media.load(media.save(method.hide(cover_image(32, 32), shape, "k"), tmp_path / "c.png"))
    assert W.unseal(stego.to_uint8(), keys.derive("k", "inrweights"))["planes"] == W.PLANE_OFFSET
    revealed = method.reveal(stego, "k")
    assert len(revealed.faces) > 100
    lo, hi = shape.vertices.min(0), shape.vertices.max(0)
    half = (hi - lo).max() / 2 / 0.9  # the SDF grid spans the secret's box plus a margin, in the secret's frame
    assert np.all(revealed.vertices >= (lo + hi) / 2 - half - 1e-4)
    assert np.all(revealed.vertices <= (lo + hi) / 2 + half + 1e-4)


def test_bad_inputs():
    method = get_method("inrweights", **TINY)
    with pytest.raises(CapacityError, match="16 frames of 128x128"):
        method.hide(cover_image(), Video(np.zeros((17, 128, 128, 3), np.float32), 8), "k")
    with pytest.raises(CapacityError, match="is 20 frames of 480x270 .* it fits as 16 frames of 170x96"):  # aspect kept
        method.hide(cover_image(), Video(np.zeros((20, 270, 480, 3), np.float32), 25), "k")
    with pytest.raises(CapacityError, match="100000"):
        method.hide(cover_image(), Audio(np.zeros((1, 80_000), np.float32), 16_000), "k")
    with pytest.raises(UsageError):
        method.hide(tone(), small_video(), "k")
    with pytest.raises(UsageError):
        method.hide(cover_image(), cover_image(), "k")
    with pytest.raises(MediaError, match="square"):
        method.reveal(cover_image(), "k")
    with pytest.raises(KeyError_):
        method.reveal(cover_image(32, 32), "k")  # an ordinary image: no header
    with pytest.raises(UsageError):
        get_method("inrweights", width=16)  # too small for the header


def test_cli_round_trip(tmp_path):
    cover, secret = tmp_path / "cover.png", tmp_path / "secret.mp4"
    media.save(cover_image(), cover)
    media.save(small_video(8, 16), secret)
    stego = tmp_path / "c.png"
    hidden = run_cli("hide", "inrweights", "--cover", cover, "--secret", secret, "-o", stego, "-k", "pw",
                     "-O", "width=32", "-O", "steps=10")
    assert hidden.returncode == 0, hidden.stderr
    assert media.load(stego).pixels.shape == (32, 32, 3)
    revealed = run_cli("reveal", "inrweights", stego, "-o", tmp_path / "out.mp4", "-k", "pw")
    assert revealed.returncode == 0, revealed.stderr
    assert media.load(tmp_path / "out.mp4").frames.shape == (8, 16, 16, 3)
    wrong = run_cli("reveal", "inrweights", stego, "-o", tmp_path / "x.mp4", "-k", "nope")
    assert wrong.returncode == 4
    bad = run_cli("hide", "inrweights", "--cover", secret, "--secret", cover, "-o", tmp_path / "d.png")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_silent_audio_hides_and_reveals_as_silence():
    """A silent clip has no level to scale to and no SNR to show: it still hides (the progress detail does not
    divide by its zero power) and comes back near silent (the gain is capped, so the fit's residue is not blown up)."""
    method = get_method("inrweights", width=32, steps=5)
    stego = method.hide(cover_image(32, 32), Audio(np.zeros((1, 2000), np.float32), W.AUDIO_RATE), "k",
                        progress=lambda *args: None)
    assert np.abs(method.reveal(stego, "k").samples).max() < 0.01


def test_stereo_audio_at_another_rate_is_hidden_mono_at_22050_hz_with_a_warning():
    """The paper's audio INR is mono at 22 050 Hz: a stereo 16 kHz clip is converted, says so, and comes back so."""
    t = np.arange(1600) / 16_000
    clip = Audio(np.stack([np.sin(2 * np.pi * 150 * t), np.zeros_like(t)]).astype(np.float32) * 0.5, 16_000)
    method = get_method("inrweights", width=32, steps=5)
    with pytest.warns(UserWarning, match="mixed from 2 channels to mono and resampled from 16000 Hz to 22050 Hz"):
        stego = method.hide(cover_image(32, 32), clip, "k", progress=lambda *args: None)
    revealed = method.reveal(stego, "k")
    assert (revealed.channels, revealed.sample_rate, revealed.frames) == (1, W.AUDIO_RATE, 2205)


@pytest.mark.parametrize("width", [256, 512])
def test_header_of_a_large_container_survives_pixel_noise_and_old_lsb_headers_still_read(width):
    """From width 256 up the header's bits are dither-modulated copies (frame.embed with a step): they read
    after Gaussian noise of std 2 levels, which LSBs do not survive; containers written with the LSB header read."""
    material = keys.derive("k", "inrweights")
    header = {"v": W.FORMAT, "modality": "video", "ranges": [[-0.004, 0.003]] * 3, "scatter": True,
              "layout": {"frames": 16, "height": 128, "width": 128, "fps": 8.0}}
    rng = np.random.default_rng(width)
    container = rng.integers(0, 256, (width, width, 3)).astype(np.uint8)
    assert W.header_copies(container.size) >= 2
    sealed, held = W.seal(container, material, header)
    frame_bytes = len(json.dumps(header, separators=(",", ":"))) + frame.OVERHEAD
    assert held.sum() == 8 * frame_bytes * W.header_copies(container.size)  # every copy of every bit
    assert not np.any((sealed != container) & ~held)  # only the values it names
    changed = sealed.astype(int) - container
    assert np.sqrt(np.mean(changed**2)) < 2.0  # small beside the fit's own change of the cover
    noisy = np.clip(np.round(sealed + rng.normal(0, 2.0, sealed.shape)), 0, 255).astype(np.uint8)
    assert W.unseal(noisy, material) == header
    # how far the header's values sit from their lattice points measures the change: rounding alone (uniform,
    # RMS 1 / sqrt(12)), then the noise's std
    copies = W.header_copies(container.size)
    assert frame.lattice_noise(sealed, material, frame_bytes, W.HEADER_STEP, copies) == pytest.approx(0.289, abs=0.02)
    assert W.pixel_change(sealed, material) == pytest.approx(0.289, abs=0.02)
    assert W.pixel_change(noisy, material) == pytest.approx(2.0, abs=0.15)
    assert W.pixel_change(sealed, keys.derive("other", "inrweights")) is None
    with pytest.raises(KeyError_):
        W.unseal(noisy, keys.derive("other", "inrweights"))
    old = frame.embed(container.reshape(-1), material, frame.seal(material, json.dumps(header).encode(),
                                                                   W.HEADER_AAD)).reshape(container.shape)
    assert W.unseal(old, material) == header
    old_noisy = np.clip(np.round(old + rng.normal(0, 2.0, old.shape)), 0, 255).astype(np.uint8)
    with pytest.raises(KeyError_):
        W.unseal(old_noisy, material)


def test_secret_reveals_after_pixel_noise_from_a_256_wide_container(tmp_path):
    method = get_method("inrweights", width=256, steps=120)  # audio's rate is the paper's 1e-3: 60 steps reach 24 dB
    secret = tone(400, 8000)
    with pytest.warns(UserWarning, match="resampled from 8000 Hz to 22050 Hz"):
        stego = media.save(method.hide(cover_image(), secret, "k"), tmp_path / "c.png")
    ATTACKS["gaussian-noise-2"].apply(stego, tmp_path / "n.png")
    assert not np.array_equal(media.load(tmp_path / "n.png").to_uint8(), media.load(stego).to_uint8())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an untouched container reveals without a word
        clean = method.reveal(media.load(stego), "k").samples[0]
    with pytest.warns(UserWarning, match=r"pixels have changed since hiding .* 2\.\d\d levels RMS"):
        noisy = method.reveal(media.load(tmp_path / "n.png"), "k").samples[0]  # the change read from the header
    # the header's values were held during the fit (29.7 dB here; sealed after the fit they cost it 9 dB at the
    # rate of then)
    assert metrics.snr(secret.resample(W.AUDIO_RATE).samples[0], clean) > 25
    assert metrics.snr(clean, noisy) > 10  # the weights are the noisy pixels: the secret moves a little
