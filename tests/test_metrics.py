"""metrics/: each metric checked against an independent computation or a documented reference value."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from crossteg import metrics as M

RNG = np.random.default_rng


def test_import_is_light():
    heavy = ["torch", "pytorch_msssim", "skimage", "trimesh", "pesq", "pystoi", "pypiqe", "cv2"]
    heavy.append("scipy.spatial")
    code = f"import sys, crossteg.metrics; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_constant_error_known_values():
    ref = RNG(0).uniform(0.0, 0.9, (16, 16, 3))
    test = ref + 0.1
    assert M.mse(ref, test) == pytest.approx(0.01)
    assert M.psnr(ref, test) == pytest.approx(20.0)
    assert M.psnr(ref * 255, test * 255, data_range=255.0) == pytest.approx(20.0)
    assert M.rmse(ref, test) == pytest.approx(25.5)
    assert M.apd(ref, test) == pytest.approx(25.5)
    assert M.mae(ref, test) == pytest.approx(0.1)
    assert M.mae(ref, test, scale=255.0) == pytest.approx(25.5)


def test_pixel_metrics_match_numpy_formulas():
    rng = RNG(1)
    ref, test = rng.random((4, 12, 10, 3)), rng.random((4, 12, 10, 3))
    d = ref - test
    assert M.mse(ref, test) == pytest.approx((d**2).sum() / d.size)
    assert M.psnr(ref, test) == pytest.approx(-10 * np.log10((d**2).mean()))
    assert M.rmse(ref, test, scale=1.0) == pytest.approx(np.sqrt((d**2).mean()))
    assert M.apd(ref, test) == pytest.approx(np.abs(255 * ref - 255 * test).mean())
    assert M.mae(ref, test) == pytest.approx(np.abs(d).mean())
    assert M.psnr(ref, ref) == float("inf")
    with pytest.raises(ValueError, match="shape"):
        M.mse(ref, test[:2])


def test_video_psnr_uses_one_mse_over_all_frames():
    ref = np.zeros((2, 8, 8, 3))
    test = ref.copy()
    test[0] += 0.1  # frame errors 0.01 and 0 -> global MSE 0.005
    assert M.psnr(ref, test) == pytest.approx(10 * np.log10(1 / 0.005))


def _ssim_reference(x: np.ndarray, y: np.ndarray, win: int = 7) -> float:
    """Wang et al. 2004 with a win x win uniform window and sample covariance, mean over interior windows."""
    from numpy.lib.stride_tricks import sliding_window_view

    c1, c2 = 0.01**2, 0.03**2
    px, py = sliding_window_view(x, (win, win)), sliding_window_view(y, (win, win))
    mx, my = px.mean(axis=(-1, -2)), py.mean(axis=(-1, -2))
    n = win * win
    vx = ((px - mx[..., None, None]) ** 2).sum(axis=(-1, -2)) / (n - 1)
    vy = ((py - my[..., None, None]) ** 2).sum(axis=(-1, -2)) / (n - 1)
    cxy = ((px - mx[..., None, None]) * (py - my[..., None, None])).sum(axis=(-1, -2)) / (n - 1)
    s = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s.mean())


def test_ssim_against_definitions():
    a, b = 0.3, 0.6  # constant images: every window has zero variance -> luminance term only
    expected = (2 * a * b + 0.01**2) / (a**2 + b**2 + 0.01**2)
    assert M.ssim(np.full((32, 32), a), np.full((32, 32), b)) == pytest.approx(expected)
    rng = RNG(2)
    x = rng.random((24, 20))
    y = np.clip(x + 0.1 * rng.standard_normal(x.shape), 0, 1)
    assert M.ssim(x, y) == pytest.approx(_ssim_reference(x, y), abs=1e-9)
    assert M.ssim(x, x) == pytest.approx(1.0)
    rgb_x, rgb_y = rng.random((20, 20, 3)), rng.random((20, 20, 3))
    per_channel = np.mean([_ssim_reference(rgb_x[..., c], rgb_y[..., c]) for c in range(3)])
    assert M.ssim(rgb_x, rgb_y) == pytest.approx(per_channel, abs=1e-9)
    video = np.stack([rgb_x, rgb_y])
    assert M.ssim(video, video[::-1]) == pytest.approx(per_channel, abs=1e-9)  # mean over 2 equal frames


def test_ms_ssim_matches_pytorch_msssim_and_skimage():
    import torch
    from pytorch_msssim import ms_ssim as lib
    from skimage.metrics import structural_similarity

    rng = RNG(3)
    x = rng.random((176, 168, 3))
    y = np.clip(x + 0.05 * rng.standard_normal(x.shape), 0, 1)
    tx, ty = (torch.from_numpy(a.transpose(2, 0, 1)[None].copy()) for a in (x, y))
    assert M.ms_ssim(x, y) == pytest.approx(float(lib(tx, ty, data_range=1.0)), abs=1e-9)
    # one scale = SSIM with an 11-tap Gaussian window (sigma 1.5), population covariance
    kw = dict(data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    gauss = structural_similarity(x[:48, :48], y[:48, :48], **kw)
    assert M.ms_ssim(x[:48, :48], y[:48, :48], levels=1) == pytest.approx(gauss, abs=1e-6)
    with pytest.raises(ValueError, match="scales"):
        M.ms_ssim(x[:48, :48], y[:48, :48], levels=4)
    assert M.ms_ssim_levels(161) == 5 and M.ms_ssim_levels(160) == 4  # pytorch_msssim needs > 160 for 5
    assert M.ms_ssim_levels(64) == 3 and M.ms_ssim_levels(11) == 1


@pytest.mark.parametrize("side", [200, 64, 16, 7])
def test_ms_ssim_identity_and_noise_order(side):
    rng = RNG(4)
    x = rng.random((side, side, 3)) * 0.5 + 0.25
    assert M.ms_ssim(x, x) == pytest.approx(1.0, abs=1e-6)
    noisy = [np.clip(x + s * rng.standard_normal(x.shape), 0, 1) for s in (0.02, 0.1, 0.3)]
    scores = [M.ms_ssim(x, n) for n in noisy]
    assert 1.0 > scores[0] > scores[1] > scores[2]


def test_piqe_order_and_bgr_convention():
    from pypiqe import piqe as raw_piqe
    from skimage import data

    astronaut = data.astronaut()[:192, 128:320] / 255.0
    noisy = np.clip(astronaut + 0.2 * RNG(5).standard_normal(astronaut.shape), 0, 1)
    clean_score = M.piqe(astronaut)
    assert 0 <= clean_score < M.piqe(noisy) <= 100
    u8 = np.round(astronaut * 255).astype(np.uint8)
    assert clean_score == pytest.approx(raw_piqe(np.ascontiguousarray(u8[..., ::-1]))[0])
    assert clean_score != pytest.approx(raw_piqe(u8)[0])  # feeding RGB as-is would change the score
    video = np.stack([astronaut, noisy])
    assert M.video_piqe(video) == pytest.approx((clean_score + M.piqe(noisy)) / 2)


def test_snr_known_values_and_trimming():
    ref = RNG(6).uniform(-0.5, 0.5, 1000)
    assert M.snr(ref, 0.9 * ref) == pytest.approx(20.0)  # noise = 0.1 ref -> power ratio 100
    test = ref + 0.01 * RNG(7).standard_normal(1000)
    expected = 10 * np.log10(np.sum(ref**2) / np.sum((ref - test) ** 2))
    assert M.snr(ref, np.concatenate([test, np.ones(50)])) == pytest.approx(expected)
    assert M.snr(ref, ref) == float("inf")
    stereo = np.stack([ref, -ref])
    assert M.snr(stereo, 0.9 * stereo) == pytest.approx(20.0)


def test_si_snr_against_projection():
    rng = RNG(8)
    ref = rng.standard_normal(4000) * 0.2 + 0.05
    test = 0.5 * ref + 0.02 * rng.standard_normal(4000)
    r, t = ref - ref.mean(), test - test.mean()
    coef = np.linalg.lstsq(r[:, None], t, rcond=None)[0][0]  # best scaling of r towards t
    expected = 10 * np.log10(np.sum((coef * r) ** 2) / np.sum((coef * r - t) ** 2))
    assert M.si_snr(ref, test) == pytest.approx(expected, abs=1e-9)
    assert M.si_snr(ref, 3.0 * ref) > 100  # scale invariant
    assert M.snr(ref, 3.0 * ref) < 0


def test_ae_definition():
    rng = RNG(9)
    ref, test = rng.uniform(-0.5, 0.5, 500), rng.uniform(-0.5, 0.5, 500)
    assert M.ae(ref, test) == pytest.approx(np.abs(ref - test).mean())
    assert M.ae(ref, test, scale=100.0) == pytest.approx(100 * np.abs(ref - test).mean())
    peak = np.abs(ref).max()
    assert M.ae(ref, test, peak_normalize=True) == pytest.approx(np.abs(ref / peak - test / peak).mean())


def _vowel(sr: int = 16000, seconds: float = 3.0) -> np.ndarray:
    """Harmonic vowel-like signal: gliding 120 Hz pitch, formant-ish tilt, three syllables with pauses."""
    t = np.arange(int(sr * seconds)) / sr
    f0 = 120 + 15 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    tilt = [(1.0 / h) * (1 + 0.5 * np.cos(2 * np.pi * h * 120 / 700)) for h in range(1, 30)]
    x = sum(a * np.sin(h * phase) for h, a in enumerate(tilt, start=1))
    env = np.zeros_like(t)
    for start, end in [(0.2, 0.9), (1.2, 1.9), (2.2, 2.8)]:
        m = (t >= start) & (t < end)
        env[m] = np.sin(np.pi * (t[m] - start) / (end - start)) ** 0.5
    x = x * env
    return 0.5 * x / np.abs(x).max()


def test_pesq_wb():
    x = _vowel()
    assert M.pesq_wb(x, x, 16000) == pytest.approx(M.PESQ_WB_MAX, abs=0.05)
    noisy = x + 0.003 * RNG(10).standard_normal(x.size)
    assert 1.0 < M.pesq_wb(x, noisy, 16000) < 4.0
    x22 = M.resample(x, 16000, 22050)
    assert M.pesq_wb(x22, x22, 22050) == pytest.approx(M.PESQ_WB_MAX, abs=0.05)
    with pytest.raises(ValueError, match="not all zeros"):
        M.pesq_wb(np.zeros(48000), np.zeros(48000), 16000)
    with pytest.raises(ValueError, match="too short"):
        M.pesq_wb(x[4000:5000], x[4000:5000], 16000)
    with pytest.raises(ValueError, match="1-D"):
        M.pesq_wb(np.stack([x, x]), np.stack([x, x]), 16000)


def test_stoi():
    x = _vowel()
    noise = RNG(11).standard_normal(x.size)
    assert M.stoi(x, x, 16000) == pytest.approx(1.0, abs=1e-6)
    light, heavy = M.stoi(x, x + 0.01 * noise, 16000), M.stoi(x, x + 0.1 * noise, 16000)
    assert 1.0 > light > heavy
    assert M.stoi(x, x + 0.1 * noise, 16000, extended=True) < 1.0


def test_chamfer():
    grid = np.stack(np.meshgrid(*[np.arange(5) * 0.1] * 3, indexing="ij"), -1).reshape(-1, 3)
    shift = np.array([0.01, 0.02, 0.0])
    assert M.chamfer(grid, grid) == 0.0
    assert M.chamfer(grid, grid + shift) == pytest.approx(np.linalg.norm(shift))
    rng = RNG(12)
    a, b = rng.random((50, 3)), rng.random((70, 3))
    d = np.linalg.norm(a[:, None] - b[None], axis=-1)  # brute-force distance matrix
    assert M.chamfer(a, b) == pytest.approx(0.5 * (d.min(1).mean() + d.min(0).mean()))


def test_iou_meshes_and_surface_points():
    import trimesh

    cube = trimesh.creation.box(extents=(1, 1, 1))
    assert M.iou(cube, cube) == 1.0
    for offset in ([0.5, 0, 0], [0, 0, 0.5]):  # half-overlapping unit cubes: 0.5 / 1.5
        moved = cube.copy()
        moved.apply_translation(offset)
        assert M.iou(cube, (moved.vertices, moved.faces)) == pytest.approx(1 / 3, abs=0.02)
    sphere = trimesh.creation.icosphere(subdivisions=4)  # radius 1
    d = 0.4
    lens = np.pi * (4 + d) * (2 - d) ** 2 / 12  # intersection of two unit balls d apart
    other = sphere.copy()
    other.apply_translation([0.0, d * 0.6, d * 0.8])
    assert M.iou(sphere, other) == pytest.approx(lens / (2 * 4 / 3 * np.pi - lens), abs=0.015)
    open_box = trimesh.Trimesh(cube.vertices, cube.faces[:-2])
    with pytest.raises(ValueError, match="watertight"):
        M.iou(open_box, cube)
    pts = M.surface_points(cube, n=2000, seed=0)
    assert pts.shape == (2000, 3)
    assert np.allclose(np.abs(pts).max(axis=1), 0.5)


def test_iou_occupancy_exact():
    a = np.zeros((4, 4, 4), bool)
    b = np.zeros((4, 4, 4), bool)
    a[:2] = True  # 32 cells
    b[1:3] = True  # 32 cells, 16 shared
    assert M.iou_occupancy(a, b) == pytest.approx(16 / 48)
    assert M.iou_occupancy(a, a) == 1.0
    assert M.iou_occupancy(a, ~a) == 0.0
    with pytest.raises(ValueError):
        M.iou_occupancy(np.zeros((2, 2)), np.zeros((2, 2)))
