"""Recurrent image compression network (ICN) of Toderici et al., CVPR 2017, as used by flowhide (sec. 3.1).

    r_0 = I - 0.5
    for k = 1..K:   b_k = binarise(E(r_{k-1}, g_{k-1}))            32 bits per 16 x 16 patch per iteration
                    r_k = r_{k-1} - D(b_k, h_{k-1})                  additive reconstruction
    I_hat = 0.5 + sum_k D(b_k)             training loss: sum_k mean |r_k| (L1 on every residual)

    E: conv 3x3/2 ─ ConvLSTM 3x3/2 ─ ConvLSTM 3x3/2 ─ ConvLSTM 3x3/2 ─ conv 1x1 ─ tanh ─ sign    (H/16 x W/16 x 32)
    D: conv 1x1 ─ ConvLSTM ─ d2s ─ ConvLSTM ─ d2s ─ ConvLSTM ─ d2s ─ ConvLSTM ─ d2s ─ conv 1x1  (H x W x 3)

Channel widths follow Toderici et al. table 1 scaled by `width / 64` (paper: width 64, i.e. encoder 64-256-512-512,
decoder 512-512-256-128); the CPU-trained weights shipped here use a smaller width (see the card). Frames of any
size are padded (edge replication) to a multiple of 16 and cropped back. Training binarises stochastically
(P(+1) = (1 + x) / 2, straight-through gradient); inference takes the sign. The "continuous bottleneck" variant
of flowhide sec. 5.1 replaces sign by tanh and uses 4 channels per iteration (a float code, not bits).

Beyond the paper (ours): `refine_codes` improves the encoder's bits of each frame at hide time by optimising them
through the fixed decoder (the decoder, the format and reveal are unchanged; see its docstring).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from crossteg.methods.base import Progress, no_progress

PATCH = 16  # flowhide sec. 4.3: one code vector per 16 x 16 patch (four stride-2 stages)
BITS = 32  # flowhide sec. 4.1: 32 bits per patch per iteration
CONTINUOUS_CHANNELS = 4  # flowhide sec. 5.1: continuous code of shape (K, H/16, W/16, 4)
DEFAULT_ITERATIONS = 4  # flowhide sec. 3.1: K = 4
MAX_ITERATIONS = 8  # flowhide fig. 7: K = 8 for the high-resolution video


@dataclass(frozen=True)
class ICNConfig:
    """Size of an ICN: `width` scales every layer (Toderici et al.: 64); `continuous` is the tanh variant;
    `bounded` ends the decoder in tanh / 2 (a residual estimate in the image's range, as public
    reimplementations of Toderici et al. do; weights trained before it existed have it off)."""

    width: int = 64
    bits: int = BITS
    continuous: bool = False
    bounded: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


class ConvLSTM(nn.Module):
    """A convolutional LSTM cell: gates from conv(x) + conv(h); state (h, c) at the output's resolution."""

    def __init__(self, cin: int, hidden: int, kernel: int = 3, stride: int = 1, hidden_kernel: int = 1) -> None:
        super().__init__()
        self.hidden = hidden
        self.conv_x = nn.Conv2d(cin, 4 * hidden, kernel, stride, kernel // 2)
        self.conv_h = nn.Conv2d(hidden, 4 * hidden, hidden_kernel, 1, hidden_kernel // 2, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Open gates and amplifying weights: with PyTorch's default init each cell passes ~0.15 of its input's
        variation on (half-open gates times a shrinking conv), so through the encoder's three and the decoder's
        four cells the reconstruction ignored the code (1e-8 of it) and training sat at the mean image: ~450
        steps for the binary codec, for good for the continuous one (measured; 13 dB even overfitting 8 crops).
        Weights N(0, (2 / sqrt(fan_in))^2) and input/forget/output gate biases of +2 keep the code's influence
        (0.03) and it learns from the start."""
        for conv in (self.conv_x, self.conv_h):
            nn.init.normal_(conv.weight, 0.0, 2.0 / conv.weight[0].numel() ** 0.5)
        bias = self.conv_x.bias
        assert bias is not None
        with torch.no_grad():
            bias.zero_()
            bias[:3 * self.hidden] = 2.0  # gates i, f, o (chunk order in forward)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        gates = self.conv_x(x)
        if state is None:
            zeros = gates.new_zeros(gates.shape[0], self.hidden, *gates.shape[2:])
            state = (zeros, zeros)
        h, c = state
        i, f, o, g = (gates + self.conv_h(h)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


def _binarise(x: torch.Tensor, stochastic: bool) -> torch.Tensor:
    """+-1 from x in (-1, 1): stochastic in training (Toderici et al. 2016 sec. 2.1), straight-through gradient."""
    plus = torch.rand_like(x) < (1 + x) / 2 if stochastic else x >= 0  # P(+1) = (1 + x) / 2; else sign, 0 -> +1
    target = torch.where(plus, 1.0, -1.0)
    return x + (target - x).detach()


class Encoder(nn.Module):
    """r (B x 3 x H x W) -> pre-binarisation code in (-1, 1) (B x bits x H/16 x W/16), with recurrent state."""

    def __init__(self, config: ICNConfig) -> None:
        super().__init__()
        w = config.width
        self.conv = nn.Conv2d(3, w, 3, 2, 1)
        self.rnn1 = ConvLSTM(w, 4 * w, 3, 2, 1)
        self.rnn2 = ConvLSTM(4 * w, 8 * w, 3, 2, 1)
        self.rnn3 = ConvLSTM(8 * w, 8 * w, 3, 2, 1)
        out = CONTINUOUS_CHANNELS if config.continuous else config.bits
        self.bottleneck = nn.Conv2d(8 * w, out, 1)
        # pre-binarisation values spread over (-1, 1) from the start, so the first bits carry the image rather
        # than coin flips (P(+1) = (1 + x) / 2): with the default init a binary ICN sat at the mean image for
        # 1150 steps; with this it left it within 600 (measured, width 8, lr 1e-3)
        nn.init.normal_(self.bottleneck.weight, 0.0, 4.0 / (8 * w) ** 0.5)

    def forward(self, r: torch.Tensor, state: list | None) -> tuple[torch.Tensor, list]:
        state = state or [None, None, None]
        x = self.conv(r)
        x, s1 = self.rnn1(x, state[0])
        x, s2 = self.rnn2(x, state[1])
        x, s3 = self.rnn3(x, state[2])
        return torch.tanh(self.bottleneck(x)), [s1, s2, s3]


class Decoder(nn.Module):
    """Code (B x bits x h x w) -> residual estimate (B x 3 x 16h x 16w), with recurrent state."""

    def __init__(self, config: ICNConfig) -> None:
        super().__init__()
        w = config.width
        cin = CONTINUOUS_CHANNELS if config.continuous else config.bits
        self.conv = nn.Conv2d(cin, 8 * w, 1)
        self.rnn1 = ConvLSTM(8 * w, 8 * w, 3, 1, 1)
        self.rnn2 = ConvLSTM(2 * w, 8 * w, 3, 1, 1)
        self.rnn3 = ConvLSTM(2 * w, 4 * w, 3, 1, 3)
        self.rnn4 = ConvLSTM(w, 2 * w, 3, 1, 3)
        self.out = nn.Conv2d(w // 2, 3, 1)
        self.bounded = config.bounded

    def forward(self, b: torch.Tensor, state: list | None) -> tuple[torch.Tensor, list]:
        state = state or [None, None, None, None]
        x = self.conv(b)
        new = []
        for rnn, s in zip((self.rnn1, self.rnn2, self.rnn3, self.rnn4), state, strict=True):
            x, s_new = rnn(x, s)
            new.append(s_new)
            x = F.pixel_shuffle(x, 2)  # depth-to-space: channels / 4, resolution x 2
        out = self.out(x)
        return (torch.tanh(out) / 2 if self.bounded else out), new


class ICN(nn.Module):
    """Encoder + binariser + decoder, run for K iterations on residuals."""

    def __init__(self, config: ICNConfig = ICNConfig()) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    def forward(self, images: torch.Tensor, iterations: int = DEFAULT_ITERATIONS
                ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """Images B x 3 x H x W in [0, 1] (H, W multiples of 16) -> (codes per iteration, reconstruction,
        loss = sum over iterations of mean |r_k|). Training mode binarises stochastically."""
        x = images - 0.5
        residual, recon = x, torch.zeros_like(x)
        enc_state = dec_state = None
        codes, loss = [], images.new_zeros(())
        for _ in range(iterations):
            code, enc_state = self.encoder(residual, enc_state)
            if not self.config.continuous:
                code = _binarise(code, stochastic=self.training)
            out, dec_state = self.decoder(code, dec_state)
            recon = recon + out
            residual = x - recon
            loss = loss + residual.abs().mean()
            codes.append(code)
        return codes, recon + 0.5, loss

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes B x K x h x w x C (bits as 0/1 or +-1, or the continuous floats) -> images B x 3 x 16h x 16w."""
        if not self.config.continuous:
            codes = torch.where(codes > 0, 1.0, -1.0)
        return self.reconstruct(codes.float().permute(0, 1, 4, 2, 3))

    def reconstruct(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes B x K x C x h x w (+-1, relaxed bits in [-1, 1], or continuous) -> images B x 3 x 16h x 16w in
        [0, 1]: the sum of the K iterations' decoder outputs (differentiable, for refine_codes)."""
        recon, state = None, None
        for k in range(codes.shape[1]):
            out, state = self.decoder(codes[:, k], state)
            recon = out if recon is None else recon + out
        assert recon is not None, "need at least one iteration"
        return (recon + 0.5).clamp(0, 1)


def pad_to_patch(images: torch.Tensor) -> torch.Tensor:
    """B x 3 x H x W -> padded (edge replication) to multiples of 16."""
    h, w = images.shape[2:]
    ph, pw = -h % PATCH, -w % PATCH
    return F.pad(images, (0, pw, 0, ph), mode="replicate") if ph or pw else images


@torch.no_grad()
def encode_frames(model: ICN, frames: torch.Tensor, iterations: int = DEFAULT_ITERATIONS,
                  batch: int = 8) -> torch.Tensor:
    """Frames T x H x W x 3 in [0, 1] -> codes T x K x ceil(H/16) x ceil(W/16) x C: uint8 0/1 bits, or floats
    in (-1, 1) for the continuous variant."""
    model.eval()
    out = []
    for start in range(0, len(frames), batch):
        x = pad_to_patch(frames[start:start + batch].permute(0, 3, 1, 2).float())
        codes, _, _ = model(x, iterations)
        stacked = torch.stack(codes, 1).permute(0, 1, 3, 4, 2)  # B x K x h x w x C
        out.append(stacked if model.config.continuous else (stacked > 0).to(torch.uint8))
    return torch.cat(out)


@torch.no_grad()
def decode_frames(model: ICN, codes: torch.Tensor, height: int, width: int, batch: int = 8) -> torch.Tensor:
    """Codes T x K x h x w x C -> frames T x height x width x 3 in [0, 1] (padding cropped away)."""
    model.eval()
    out = []
    for start in range(0, len(codes), batch):
        images = model.decode(codes[start:start + batch])
        out.append(images[:, :, :height, :width].permute(0, 2, 3, 1))
    return torch.cat(out)


# ours: hide-time refinement of the bits. Measured on clip.mp4's first 16 frames (128x128, K = 4, the shipped codec,
# no channel): PSNR 25.00 -> 25.72 dB / MS-SSIM 0.904 -> 0.924 after 50 steps, 25.89 / 0.929 after 100, 26.01 /
# 0.934 after 200 (a linear schedule); plain straight-through steps (sign forward) flipped no bit in 50 steps at any
# rate tried. What it gives through flowhide's file: methods/flowhide.py.
REFINE_STEPS = 50
REFINE_LR = 0.1
TAU_START, TAU_END = 1.0, 0.05  # relaxation temperature, lowered geometrically over the steps
CHECK_EVERY = 10  # steps between decodes of the hard bits (each costs about a step)
CHECK_FLIPS = 4  # with bit_errors: the channel's flips drawn this many times to score the hard bits
REFINE_PIXELS = 16 * 128 * 128  # frames refined together: about 1 GB of activations at the shipped width


def refine_codes(model: ICN, frames: torch.Tensor, codes: torch.Tensor, steps: int = REFINE_STEPS,
                 progress: Progress = no_progress, bit_errors: torch.Tensor | None = None) -> torch.Tensor:
    """The encoder's bits `codes` (T x K x h x w x C, 0/1) of `frames` (T x H x W x 3 in [0, 1]) moved to lower each
    frame's squared error after decoding; returns the best bits seen per frame, the encoder's own included, so no
    frame gets worse. The encoder decides each iteration's bits greedily, on the residual left so far; here all K
    iterations' bits are decided together: each bit is relaxed to tanh(u / tau) (u starts at +-1 from the encoder's
    bit), Adam lowers the decoded frame's squared error while tau falls from 1 to 0.05, and the signs of u are the
    new bits. Ours, after the annealed relaxations used to fine-tune a learned codec's latents at encoding time
    (Yang et al., NeurIPS 2020).

    `bit_errors` (K x h x w x C, or broadcastable to it): each bit's probability of reading back wrong after the
    channel. Given, the error minimised (and the one that picks the best bits) is the decoded frame's after random
    flips at those rates, so the bits do not come to lean on bits the channel loses."""
    if model.config.continuous:
        raise ValueError("refine_codes takes binary codes")
    height, width = frames.shape[1:3]
    per_batch = max(1, REFINE_PIXELS // (height * width))
    odds = None if bit_errors is None else torch.as_tensor(bit_errors, dtype=torch.float32).permute(0, 3, 1, 2)
    out, total = [], len(frames) * steps
    for start in range(0, len(frames), per_batch):
        def step_done(k: int, start: int = start) -> None:
            progress("refining the bits", start * steps + k * min(per_batch, len(frames) - start), total)

        out.append(_refine_batch(model, frames[start:start + per_batch], codes[start:start + per_batch], steps,
                                 odds, step_done))
    progress("refining the bits", total, total)
    return torch.cat(out)


def _refine_batch(model: ICN, frames: torch.Tensor, codes: torch.Tensor, steps: int, odds: torch.Tensor | None,
                  step_done: Callable[[int], None]) -> torch.Tensor:
    """refine_codes for frames that are optimised together; `odds`: flip probabilities K x C x h x w or None."""
    model.eval()
    height, width = frames.shape[1:3]
    target = frames.permute(0, 3, 1, 2).float()
    start_bits = codes.float().permute(0, 1, 4, 2, 3) * 2 - 1  # B x K x C x h x w in +-1
    rng = torch.Generator().manual_seed(0)  # the same flips for the same input: hide is repeatable

    def channel() -> torch.Tensor:  # +-1 per bit: -1 where the channel flips it
        if odds is None:
            return torch.ones(())
        return 1 - 2 * (torch.rand(start_bits.shape, generator=rng) < odds).float()

    def errors(bits: torch.Tensor) -> torch.Tensor:  # bits B x K x C x h x w in [-1, 1] -> per-frame MSE
        return (model.reconstruct(bits)[:, :, :height, :width] - target).pow(2).mean((1, 2, 3))

    checks = [channel() for _ in range(1 if odds is None else CHECK_FLIPS)]  # fixed: candidates compared alike

    def checked(bits: torch.Tensor) -> torch.Tensor:
        return torch.stack([errors(bits * flips) for flips in checks]).mean(0)

    with torch.no_grad():
        best, best_bits = checked(start_bits), start_bits.clone()
    u = start_bits.clone().requires_grad_(True)
    opt = torch.optim.Adam([u], lr=REFINE_LR)
    for k in range(steps):
        tau = TAU_START * (TAU_END / TAU_START) ** (k / max(1, steps - 1))
        loss = errors(torch.tanh(u / tau) * channel()).sum()
        (u.grad,) = torch.autograd.grad(loss, [u])  # the decoder's weights stay
        opt.step()
        step_done(k + 1)
        if (k + 1) % CHECK_EVERY and k + 1 < steps:
            continue
        with torch.no_grad():
            hard = torch.where(u >= 0, 1.0, -1.0)
            error = checked(hard)
            better = error < best
            best = torch.where(better, error, best)
            best_bits[better] = hard[better]
    return (best_bits > 0).to(torch.uint8).permute(0, 1, 3, 4, 2)
