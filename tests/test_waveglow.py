"""nn/waveglow.py: exact audio <-> latent inverse (every early output kept) and the published parameter layout."""

import numpy as np
import pytest
import torch

from crossteg.nn.waveglow import (
    WaveGlow,
    WaveGlowConfig,
    WNConfig,
    load_published,
    mel_basis,
    mel_spectrogram,
    nll_loss,
    small_config,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny networks: one thread is fastest


TINY = WaveGlowConfig(n_flows=4, n_early_every=2, n_early_size=2, wn=WNConfig(2, 8, 3), upsample_kernel=256)


def random_flow(config: WaveGlowConfig, seed: int = 0) -> WaveGlow:
    """A flow whose couplings are not the identity (the published init zeroes their last layer)."""
    g = torch.Generator().manual_seed(seed)
    model = WaveGlow(config, g)
    with torch.no_grad():
        for wn in model.WN:
            wn.end.weight.normal_(0, 0.1, generator=g)
            wn.end.bias.normal_(0, 0.1, generator=g)
    return model.eval()


@pytest.mark.parametrize("config", [TINY, small_config(8, 2, 8)])
def test_inverse_of_forward_is_exact_and_keeps_every_latent_value(config):
    model = random_flow(config)
    audio = 0.3 * torch.randn(1, 2048, generator=torch.Generator().manual_seed(1))
    mel = mel_spectrogram(audio)
    with torch.no_grad():
        z, _, _ = model(audio, mel)
        assert z.numel() == audio.numel()  # early outputs are part of the latent, not resampled
        np.testing.assert_allclose(model.inverse(z, mel).numpy(), audio.numpy(), atol=1e-5)
        z2 = torch.empty_like(z).uniform_(0.5, 0.75) * torch.sign(torch.randn_like(z))
        again, _, _ = model(model.inverse(z2, mel), mel)
        np.testing.assert_allclose(again.numpy(), z2.numpy(), atol=1e-5)
        early = z2.clone()
        early[:, :2] += 0.01  # a change in the first early output changes the audio
        assert (model.inverse(early, mel) - model.inverse(z2, mel)).abs().max() > 1e-4


def test_nll_is_finite_and_trains_downhill():
    model = WaveGlow(TINY, torch.Generator().manual_seed(0))
    audio = 0.1 * torch.randn(2, 2048, generator=torch.Generator().manual_seed(2))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    losses = []
    for _ in range(5):
        z, log_s, log_det = model(audio, mel_spectrogram(audio))
        loss = nll_loss(z, log_s, log_det)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def published_layout(config: WaveGlowConfig, legacy_cond: bool = False) -> dict[str, torch.Tensor]:
    """A randomly initialised state dict named and shaped as NVIDIA's glow.py writes it (weight_norm convs),
    built from the published code's rules, not from our module."""
    g = torch.Generator().manual_seed(3)

    def t(*shape):
        return torch.randn(*shape, generator=g) * 0.05

    n_mel, c, layers, k = config.n_mel_channels, config.wn.n_channels, config.wn.n_layers, config.wn.kernel_size
    state = {"upsample.weight": t(n_mel, n_mel, config.upsample_kernel), "upsample.bias": t(n_mel)}
    remaining = config.n_group
    for f in range(config.n_flows):
        if f % config.n_early_every == 0 and f > 0:
            remaining -= config.n_early_size
        half = remaining // 2
        rotation = torch.linalg.qr(torch.randn(remaining, remaining, generator=g))[0]
        state[f"convinv.{f}.conv.weight"] = rotation[..., None]

        def wn(name, cout, cin, kernel=1, f=f):
            state[f"WN.{f}.{name}.weight_g"] = t(cout, 1, 1).abs() + 0.5
            state[f"WN.{f}.{name}.weight_v"] = t(cout, cin, kernel)
            state[f"WN.{f}.{name}.bias"] = t(cout)

        wn("start", c, half)
        state[f"WN.{f}.end.weight"], state[f"WN.{f}.end.bias"] = t(2 * half, c, 1), t(2 * half)
        if legacy_cond:
            for i in range(layers):
                wn(f"cond_layers.{i}", 2 * c, n_mel * config.n_group)
        else:
            wn("cond_layer", 2 * c * layers, n_mel * config.n_group)
        for i in range(layers):
            wn(f"in_layers.{i}", 2 * c, c, k)
            wn(f"res_skip_layers.{i}", 2 * c if i < layers - 1 else c, c)
    return state


@pytest.mark.parametrize("legacy", [False, True])
def test_a_checkpoint_in_the_published_layout_loads_strictly(legacy):
    config = WaveGlowConfig(n_flows=12, wn=WNConfig(3, 8, 3), upsample_kernel=1024)  # published structure, thin
    state = published_layout(config, legacy)
    model = WaveGlow(config)
    load_published(model, state)
    if not legacy:
        assert set(model.state_dict()) == set(state)
        assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    else:  # per-layer conditioning convolutions are stacked into the single one
        merged = model.WN[0].cond_layer.weight_v
        assert torch.equal(merged[: 2 * 8], state["WN.0.cond_layers.0.weight_v"])
    audio = 0.2 * torch.randn(1, 1024, generator=torch.Generator().manual_seed(4))
    mel = mel_spectrogram(audio)
    with torch.no_grad():
        z, _, _ = model(audio, mel)
        np.testing.assert_allclose(model.inverse(z, mel).numpy(), audio.numpy(), atol=1e-4)
    with pytest.raises(RuntimeError):  # strict: a missing tensor is an error
        load_published(WaveGlow(config), {k: v for k, v in state.items() if not k.startswith("upsample")})


def test_weight_norm_matches_its_definition():
    model = WaveGlow(TINY)
    conv = model.WN[0].in_layers[0]
    w = conv.weight()
    norms = w.flatten(1).norm(dim=1)
    np.testing.assert_allclose(norms.detach().numpy(), conv.weight_g.flatten().detach().numpy(), rtol=1e-5)


def test_mel_matches_the_published_frame_count():
    audio = torch.zeros(1, 22050)
    mel = mel_spectrogram(audio)
    assert mel.shape == (1, 80, 22050 // 256 + 1)
    assert torch.allclose(mel, torch.full_like(mel, float(np.log(1e-5))))  # silence hits the log floor


def test_mel_filters_match_librosa():
    import librosa

    expected = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=80, fmin=0.0, fmax=8000.0)
    np.testing.assert_allclose(mel_basis().numpy(), expected, atol=1e-6)
