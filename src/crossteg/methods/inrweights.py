"""Deep cross-modal steganography using neural representations (Han et al., ICASSP 2023): a video, audio or
3-D shape secret is fitted by an INR whose variable weight matrices ARE the R, G, B channels of the container.

    key ──keys.py──> pre-defined weights W_p (the paper's init statistics) + header positions
    cover (N x N) + sealed header at keyed pixels ──> start pixels P (the header's values held)
    secret ──coords -> values──> Adam on P: L_s(f(Q(P), W_p)) + beta * L_c(Q(P), cover)   (eq. 4)
                                 Q = 8-bit rounding, straight-through gradient (QAT, eq. 3, 5)
    round(255 P) ──> container.png (an ordinary 8-bit RGB PNG; N < 128: the header then goes in keyed LSBs)
                     a cover of over 9/8 N^2 pixels keeps its size: P are its N^2 most textured pixels
    reveal: container.png + key ─> header ─> W_v = w_min + pixel/255 (w_max - w_min) ─> f ─> secret

Base networks (paper sec. 3.1, width N = 512, the container's side): video and audio use a SIREN with four
hidden layers (six linear maps W0..W5, omega_0 = 30) whose W1, W2, W3 are variable; shapes use IGR with six
hidden layers (eight linear maps W0..W7, softplus, geometric init, skip before W4) whose W1, W2, W4 are
variable. Every other weight and every bias is pre-defined and fixed. Pixel value p of channel c stands for
the weight w_min_c + p / 255 (w_max_c - w_min_c) (paper sec. 2.2).

Our choices where the paper is silent, and deviations (measured effects beside the constants below and in
benchmarks/results/inrweights-tables.md):
* Pre-defined weights are drawn from the key (numpy PCG64 streams of keys.py) with the paper's networks'
  init statistics; the paper shares fixed ones. Without the key the container is just an image. One change
  of statistics: the fixed last SIREN map is drawn from U(+-sqrt(6/n)) instead of SIREN's U(+-sqrt(6/n)/30),
  because a map that is never trained outputs at most sum |w| at that scale, ~0.9 at width 512 (0.46 at 32),
  too little to reach black and white in [-1, 1].
* Weight (i, j) of a variable matrix is not pixel (i, j): each channel's pixels are dealt to the matrix's
  positions in a key-derived order (`scatter`, our extension; `scatter=False` is the paper's layout). A photo
  read as a matrix is nearly low-rank (a few large singular values), so in the paper's layout a cover-like
  matrix squeezes the signal through a few directions; dealt in a keyed order the same pixel values make a
  matrix with i.i.d.-like entries, full rank like a random init. It is what lets shapes through (IGR, 512
  wide, face.png, 150 steps, the squared-error SDF loss of then: IoU 0.26 -> 0.85, container 24.8 -> 31.4 dB;
  0.92 / 34.0 dB at the default 300 steps) and helps the SIRENs too (default steps,
  benchmarks/results/inrweights-tables.md at the video range of then, 1x: video secret 20.9 -> 24.3 dB, container
  27.6 -> 32.6 dB; audio at beta 0.01 21.6 -> 29.5 dB SNR, container 25.3 -> 29.9 dB); without the key the
  weights' order is unknown.
* [w_min_c, w_max_c] (not given in the paper) spans 2 RANGE_FACTOR[modality] times the weights' init bound,
  for video scaled by the cover channel's contrast (UNIFORM_STD) so that every cover makes weights of one spread,
  and puts the cover channel's mean at weight 0, so the cover's average brightness does not act as a large
  constant weight; the six numbers travel in the header. The variable weights are optimised in pixel
  units (P in [0, 1]), so the paper's learning rates (1e-3, 1e-4 for shapes) apply to pixels: 1e-3 moves
  a pixel ~0.26 levels per step.
* beta (not given in the paper) is BETA per modality. L_s is the mean squared error over the fitted points
  (eq. 1 up to a constant); L_c is eq. 2's sum in pixel units divided by the width, so one beta holds at
  every width (the secret's gradient per pixel falls about like 1/width).
* Everything reveal needs besides the key and the pixels (modality, the secret's layout, the six range
  numbers, the layout and plane offsets of the weights) is a small authenticated, encrypted header
  (codecs/frame.py) of ~2300 bits at key-derived pixel values: a wrong key is reported, not guessed. Ours:
  from width 128 up each bit is dither-modulated into one or more values (`header_copies`; lattice step
  HEADER_STEP) sealed into the cover before the fit and held through it, so the header outlives pixel noise
  that the fitted weights themselves shrug off; smaller containers get it in least-significant bits after the
  fit (hence MIN_WIDTH). The width (architecture size) is the container's side. The header's distance from
  its lattice also measures how much the pixels (the weights) changed since hiding: reveal warns above
  ALTERED_LEVELS (`read_header`, `warn_if_altered`).
* A cover of N x N pixels is the container as it is. A larger one keeps its size (ours, `kept_layout`): the
  variable weights are the R, G, B values of N x N of its pixels, every other pixel stays the cover's, and the
  PNG looks like the photo it came from, not a square thumbnail of it. The pixels are keyed ones of the photo's
  most textured tiles (24 px), whose map is sealed into the photo like the header, so that reveal reads where
  they are: changes hide in detail rather than in flat sky. Covers of under about
  9/8 N^2 pixels (and all with the option resize=True) are resized (not cropped) to N x N, as the paper resizes
  its ImageNet covers to 512 x 512; the option width=0 uses a square cover's own side instead (a 384 x 384 cover
  gives a 384-wide network). Reveal tries the image as a square container, then the places its tile map names: the
  header authenticates the one that holds it.
* Secrets are fitted at their own size up to the paper's (16 x 128 x 128 video, 100 000 samples at 22 050 Hz;
  larger ones are refused with CapacityError); audio is resampled to 22 050 Hz, its time axis spans
  +-100 per second (AUDIO_SPAN_PER_SECOND) and its samples are fitted scaled to RMS AUDIO_RMS (the gain is in
  the header); shapes are revealed by marching cubes on a SHAPE_GRID^3 grid.
* Each step fits a random sample of the secret's coordinates (BATCH) instead of the whole signal: a full
  16 x 128 x 128 video through a 512-wide SIREN is ~2 TFLOP per step (estimate), a minute per step here.
  Shapes use supervised signed distances plus an eikonal term (codecs/inr.py) instead of IGR's surface loss,
  the distances clamped to +-SDF_CLAMP as DeepSDF's loss is (L1), so the fit spends itself near the surface.
* IGR's fixed first map gets keyed biases that offset its planes from the origin by up to PLANE_OFFSET (nn/igr.py;
  `planes=0` is IGR's zero biases). With zero biases the paper's IGR can only hold insides that are star-shaped
  about the centre, whatever its variable weights: parts off the star (a bunny's ears) melt into the body. The
  offset range travels in the header. (A cow's legs are still lost with the offsets: see PLANE_OFFSET.)
* quality "fast" runs FAST_STEPS with a cosine-decayed rate (FAST_LR); "paper" the paper's steps and rates,
  constant.
* Speed (ours; the fitted function is the paper's): the fit runs with the pixels in their weights' order, the keyed
  deal applied once and not at every step (identical result; a 400-step video fit 44 -> 39 s), and where the CPU
  multiplies bfloat16 in hardware (AMX, AVX512-BF16: nn/precision.py; option `bf16`) the hidden maps multiply in
  bfloat16 for the first nine tenths of the steps and in float32, as reveal reads them, for the last
  (FLOAT32_FINISH): 1.5-1.7x faster at the same steps, within 0.1 dB (measured beside FAST_STEPS).
"""

from __future__ import annotations

import json
import math
import warnings
import zlib
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from crossteg import keys
from crossteg.codecs import frame
from crossteg.codecs.inr import Signal, loss_db, loss_for, render, to_signal
from crossteg.errors import CapacityError, KeyError_, MediaError, UsageError
from crossteg.media import Audio, Image, Shape, Video
from crossteg.media.audio import conformed
from crossteg.methods.base import Capacity, Method, Progress, no_progress, register, video_fit
from crossteg.nn import igr, precision, siren

WIDTH = 512  # paper sec. 3.1: covers resized to 512 x 512, so the variable matrices are 512 x 512
SIREN_LAYERS = 5  # paper sec. 3.1: four hidden layers, six layers in total -> five sine layers, six maps
IGR_LAYERS = 6  # paper sec. 3.1: six hidden layers, eight layers in total
VARIABLE = {"siren": (1, 2, 3), "igr": (1, 2, 4)}  # paper sec. 3.1: {W1, W2, W3} and {W1, W2, W4} are R, G, B
ARCH = {"video": "siren", "audio": "siren", "shape": "igr"}
PAPER_STEPS = {"video": 5000, "audio": 20_000, "shape": 5000}  # paper sec. 3.1
PAPER_LR = {"video": 1e-3, "audio": 1e-3, "shape": 1e-4}  # paper sec. 3.1 (Adam)
# ours: a CLI hide in a few minutes on 2 CPU cores. Audio (width 512, 100 000 samples of speech_long.wav, one
# core): 400 steps -> 8.7 dB SNR (2 min), 1000 -> 22.1 dB (5 min), cover 26.4 / 25.5 dB. Shape (width 512, keyed
# order, face.png): 150 steps -> IoU 0.85 / cover 31.4 dB (1.2 min), 300 -> 0.93 / 33.9 dB (2.3 min). Raised when
# bfloat16 products made a step 1.5-1.7x faster (see `train`), for about the float32 hide's time on this machine
# (one-off script, benchmark cases, 2 threads, from the PNG, secret / cover): video 400 steps float32 25.92 / 32.40
# dB in 39 s, 400 bfloat16 25.92 / 32.40 dB in 24 s, 800 bfloat16 26.48 / 33.11 dB in 46 s; audio (at its former
# rate 5e-3, see FAST_LR) 1000 float32 25.47 dB SNR / 33.29 dB in 101 s, 1000 bfloat16 25.37 / 33.26 in 60 s, 1700
# bfloat16 25.52 / 34.66 in 99 s;
# Stanford Bunny 300 float32 IoU 0.921 / 35.76 dB in 60 s, 300 bfloat16 0.918 / 35.70 in 39 s, 450 bfloat16
# 0.936 / 35.50 in 55 s. Where bfloat16 is not native (the fit then runs in float32), a default hide takes 1.5-2x
# longer than before
FAST_STEPS = {"video": 800, "audio": 1700, "shape": 450}
# ours, cosine-decayed to 5% (fewer steps than the paper). Video at 800 steps (one-off script, secret / cover PSNR):
# 3e-3 -> 26.33 / 33.59 dB, 5e-3 -> 26.48 / 33.11, 8e-3 -> 26.46 / 32.22. Audio at 1700 steps (same, photo.png;
# SNR / PSNR / SSIM): 5e-3 (its rate before) -> 25.51 / 34.64 / 0.838, 2e-3 -> 26.19 / 37.34 / 0.899, 1e-3 (the
# paper's) -> 26.46 / 37.49 / 0.900, 5e-4 -> 26.26 / 37.27 / 0.895
FAST_LR = {"video": 5e-3, "audio": 1e-3, "shape": 1e-2}
BATCH = {"video": 4096, "audio": 4096, "shape": 2048}  # ours: coordinates sampled per step (see docstring)
# ours (not given in the paper): weight of the cover loss, eq. 4. benchmarks/inrweights_sweep.py (width 128,
# video 16x32x32, 300 steps): beta 0.01 -> cover 27.8 dB / secret 24.7 dB, 0.1 -> 32.6 / 22.8, 1 -> 41.3 / 18.7;
# IGR in the paper's layout (width 64, 150 steps): 0.01 -> cover 19.3 dB / IoU 0.30, 0.1 -> 22.2 / 0.25; in the
# keyed order (sweep, width 512, 300 steps, face.png): 0.01 -> 32.9 dB / 0.91, 0.03 -> 36.1 / 0.83. Audio in the
# keyed order (one-off script, width 512, 100 000 samples of speech_long.wav in photo.png, 1000 steps, from the PNG):
# 0.01 -> cover 29.9 dB / SSIM 0.67, secret 29.5 dB SNR; 0.03 -> 33.4 / 0.80, 25.7 dB; 0.1 -> 37.2 / 0.90, 20.5 dB
# (paper 23.3 / 0.71, 17.9 dB): 0.03 keeps both well above the paper's. Video below 0.01 buys little (one-off
# script, width 512, 400 steps, clip.mp4 16x128x128 in face.png, from the PNG): 0.01 -> cover 32.6 dB / secret
# 24.3 dB (benchmark row), 0.003 -> 30.8 / 24.7, 0.001 -> 30.2 / 24.8, 0.0003 -> 30.0 / 24.8: the cover term is not
# what holds the video back
BETA = {"video": 0.01, "audio": 0.03, "shape": 0.01}
# ours (not in the paper): (w_max - w_min) / 2 in init bounds. Same sweep: SIREN 0.5 -> cover 26.4 dB / secret
# 23.0 dB, 1 -> 27.8 / 24.7, 3 (beta 0.1) -> 29.1 / 21.2 (1 with beta 0.1: 32.6 / 22.8), 30 -> nothing learnt
# (7.6 dB, with or without QAT); IGR 0.3 (lr 1e-2) -> IoU 0.30, 1 (lr 1e-3) -> 0.09. Audio needs wider weights
# than video (width 128, 5000 samples, 200 steps, cover / secret SNR dB): range 1 -> 30.3 / 9.4, 1.5 -> 32.0 / 16.9,
# 2 -> 31.9 / 22.2, 2.5 -> 31.8 / 22.6; on speech_3.wav 1 -> 5.7, 2 -> 15.8 (and on a synthetic music clip, measured
# once outside the sweep, 9.1 -> 20.1). Starting the pixels at noise (the weights at SIREN's init) instead of at
# the cover: secret 15.4 dB but cover 8.5 dB at range 1 (video: 24.5 dB at cover 9.5 dB). Shapes in the keyed
# order (sweep, width 512, 300 steps, beta 0.01, face.png): 0.5 -> cover 33.1 dB / IoU 0.89, 0.67 -> 32.9 /
# 0.91, 1 -> 27.9 / 0.93; the paper's layout (0.3, beta 0.1) -> 25.3 / 0.25 (0.67: a cover pixel's spread, std
# ~0.25, then gives IGR's init std)
# Video at full size (one-off script, clip.mp4 16x128x128 in face.png, width 512, the default 400 steps, from the
# 8-bit container, cover / secret PSNR dB; the width-128 sweep above favoured 1): 1 -> 32.59 / 24.39 (benchmark
# row), 1.25 -> 32.48 / 25.89, 1.5 -> 31.65 / 26.16 (at lr 3.3e-3: 32.69 / 25.74), 2 -> 27.82 / 21.11 (at lr 2.5e-3:
# 31.98 / 20.14): a cliff past 1.5, so 1.25, which also moved two photos of other contrast (scaled as below) from
# 31.82 / 24.94 to 33.40 / 26.56 dB (Storm.jpg) and from 31.97 / 25.17 to 32.78 / 26.57 dB (Dune.jpg)
RANGE_FACTOR = {"video": 1.25, "audio": 2.0, "shape": 0.67}
# ours: a video's channel ranges are also scaled by UNIFORM_STD / the std of its cover pixels (SPREAD_GAIN), so the
# weights a cover makes spread alike whatever its contrast: at RANGE_FACTOR 1 a SIREN's weights start with its init's
# std (face.png, std 0.28-0.29 per channel, is nearly unchanged). A dark or hazy photo's pixels otherwise make weights
# of too small a spread (one-off script, clip.mp4 16x128x128 in 1920x1280 mate backgrounds resized to 512, 400
# steps, RANGE_FACTOR 1, cover / secret PSNR dB): Storm.jpg (std 0.17-0.23) 32.53 / 22.30 -> 31.82 / 24.94,
# Dune.jpg (0.12-0.34) 32.12 / 22.05 -> 31.97 / 25.17. Video only: a wider range is a noisier one (benchmark's
# Storm.jpg container, kept size, RANGE_FACTOR 1: its video 36.2 / 30.3 dB from the clean reveal after pixel noise
# of std 1 / 2; face.png unscaled 39.8 / 34.0), and audio pays (the 256-wide audio test of tests/test_inrweights.py,
# a synthetic cover of std 0.1-0.3: SNR of the reveal after pixel noise of std 2 against the clean reveal 17.3 dB
# unscaled, 6.6 dB with gains up to 2, 3.2 dB up to 3); shapes' RANGE_FACTOR already assumes a cover's spread (std
# ~0.25)
UNIFORM_STD = 1 / math.sqrt(12)  # the std of pixels spread evenly over [0, 1]
# the gain's bounds per modality (a flat cover's pixels, std -> 0, would ask for any range: kept to what was measured)
SPREAD_GAIN = {"video": (1 / 3, 3.0), "audio": (1.0, 1.0), "shape": (1.0, 1.0)}
# ours: a kept container's textured pixels can be darker and flatter than the photo (Storm.jpg: std 0.13-0.17 against
# 0.17-0.23), which narrowed speech's weights (not contrast-scaled): 23.4 dB SNR at keyed random places, 17.4 at
# the textured ones; their ranges are widened by the photo's std / theirs, within these bounds
KEPT_GAIN = (1.0, 3.0)
# ours: the fixed last SIREN map is drawn from U(+-sqrt(6/n)) (unit output variance), not SIREN's U(+-sqrt(6/n)/w0):
# fixed at that scale it can output at most ~0.9 at 512 wide (0.46 at 32), too little for [-1, 1] targets. Measured
# (one-off script, video in face.png, width 512, 400 steps): gain 4 / 10 / 30 -> secret 23.2 / 23.9 / 24.4 dB. The
# fixed output map is also most of the gap to a free SIREN: every weight of this network trainable reaches 25.1 dB
# from its init with gain 30, 27.6 dB with gain 1; W1-W3 alone as free floats 25.1-26.4 dB (lr 5e-5 to 2e-4, the
# best), so the 8-bit pixels and the cover loss cost 1-2 dB. Coordinate spans (t or x, y scaled 0.5-3) moved it
# by at most 0.2 dB (x, y 3: -1.1 dB)
OUTPUT_GAIN = siren.W0
VIDEO_SIZE = (16, 128, 128)  # paper sec. 3.1: DAVIS videos, 16 frames at 128 x 128
AUDIO_RATE, AUDIO_SAMPLES = 22_050, 100_000  # paper sec. 3.1: GTZAN crops of 100 000 samples at 22 050 Hz
# ours: audio time coordinates span +-100 per second of audio (codecs/inr.py's AUDIO_SPAN for any length would
# squeeze 4.5 s into +-100, too slow a time axis for the fixed first layer). Sweep (width 128, 5000 samples,
# 200 steps): +-22 per second (that squeeze) -> 4.0 dB SNR, +-100 -> 9.4 dB, +-265 -> 5.2 dB
AUDIO_SPAN_PER_SECOND = 100.0
# ours: audio is fitted scaled to this RMS (the gain travels in the header; reveal divides it out). The fixed
# output map puts out noise of RMS ~0.8 before any training, which speech at RMS ~0.1 must first cancel. Sweep at
# full scale (width 512, 100 000 samples of speech_long.wav, 200 steps): RMS 0.1 (as recorded) -> -5.4 dB SNR,
# 0.25 -> 0.6, 0.5 -> 3.0, 1 -> 2.7 dB (also subtracting the untrained output's mean, 0.46, gained nothing: 2.7 dB
# at RMS 0.5, measured once outside the sweep). At the default 1000 steps: speech_3.wav (2.4 s) as recorded 18.0 dB,
# at RMS 0.5 29.5 dB
AUDIO_RMS = 0.5
MAX_AUDIO_GAIN = 1000.0  # a silent clip (RMS < 5e-4) is not blown up into noise
# ours: shapes fit DeepSDF's clamped L1 distance loss (codecs/inr.loss_for) instead of the squared error of unclamped
# distances, whose far-away points dominate (one-off script, width 512, 300 steps, beta 0.01, face.png, IoU on a
# 64^3 grid / Chamfer over the largest extent / cover PSNR): CGAL's cow 0.68 / 0.023 / 29.4 dB -> 0.84 / 0.015 /
# 33.4 dB, its Stanford Bunny 0.78 / 0.023 / 34.1 dB -> 0.89 / 0.022 / 34.9 dB; clamp 0.03 on the bunny 0.85. Lower
# beta buys little shape for much cover (cow, clamped: beta 0.005 -> 0.86 / 31.1 dB, 0.002 -> 0.88 / 28.6 dB), and
# 1000 steps reach 0.87. Thin parts (legs, ears) melted into the body: see PLANE_OFFSET below
SDF_CLAMP = 0.1
# ours: IGR's first-layer planes offset from the origin by U(+-PLANE_OFFSET) (nn/igr.py: with zero biases every inside
# the network can hold is star-shaped about the centre). One-off script, width 512, 300 steps, face.png, IoU on a 64^3
# grid / Chamfer over the largest extent / container PSNR: CGAL's Stanford Bunny 0.89 / 0.022 / 34.8 dB (planes 0)
# -> 0.92 / 0.010 / 35.6 dB at 0.3 (0.45: 0.92 / 0.010 / 35.7 dB; 0.6: 0.91 / 0.011 / 35.8 dB), and an ear comes back;
# CGAL's cow 0.86 / 0.014 / 34.5 dB -> 0.89 / 0.012 / 37.1 dB at 0.3 (0.6: 0.88 / 0.012 / 36.8 dB), legs still missing.
# At the paper's 5000 steps the bunny reaches 0.95 / 0.008 / 38.5 dB with both ears (0.92 / 0.013 / 37.5 dB at 0).
# Wider offsets raise the start (the cover's pixels as weights: E softplus(z + b) grows with the spread of b): with
# face.png its inside is 15 / 12 / 6 / 0 % of the box at 0 / 0.3 / 0.6 / 0.9, and a start with no inside gets no
# gradient from the clamped loss (the cow lost its surface at 0.9, the bunny at 1.3). A straight-through gradient
# past the clamp (tried, not kept) cost ~1 dB of container for no better IoU (bunny 0.92, cow 0.79 at 0.3).
PLANE_OFFSET = 0.3
MAX_PLANE_OFFSET = 0.6
SHAPE_GRID = 64  # ours: marching-cubes grid of a revealed shape (a 512-wide IGR costs ~4 MFLOP per point)
MIN_WIDTH = 32  # the sealed header (~260 bytes, one bit per pixel value) needs 3 x 27 x 27 values
# ours: the network widths a container that keeps its cover's size may have (its tile map names the one it has)
KEPT_WIDTHS = range(MIN_WIDTH, WIDTH + 1, 32)
# ours: where a container that keeps its cover's size puts its weights (`kept_layout`): at keyed pixels of the
# photo's most textured tiles of KEPT_TILE x KEPT_TILE blocks of ANCHOR_STEP^2 pixels (24 px; a block's texture is
# the spread of R + G + B over the 3 x 3 grid pixels around its corner); the map of those tiles is sealed into the
# photo at keyed values as the header is (encrypted, authenticated, dither-modulated in copies: `seal_tiles`) and
# no weight goes where it is, so reveal reads the places instead of re-deriving them, and finds them after whatever
# the header outlives. Measured by a Xu-Net trained on each layout's kept containers (crossteg train detector
# --method inrweights -O steps=100 -O width=32 -O batch=1024, its card's other settings; benchmarks.steganalysis
# --pairs 60 [--detectors DIR], held-out accuracy / AUC; +-0.05 from run to run): these tiles 0.84-0.87 / 0.88-0.90
# (two runs); tiles of 4 blocks 0.85 / 0.88 (one-off, the map not sealed); keyed random pixels of the whole photo
# (2026-12-07's places=random, session 49's layout) 0.93 / 0.99, with specks in flat sky; textured places ranked
# per block from grid pixels that hiding left alone, re-ranked at reveal (2026-12-07, window 3 blocks) 0.83 / 0.83,
# but lost to pixel noise of std 1: the ranking reorders and one flip moves every later weight (reading 0.1 % / 1 %
# of a container's weight pixels from wrong places cost its video 2.1 / 7.7 dB; one-off). Video in a 1920x1280 photo
# (benchmarks.inrweights_tables, videophoto): after noise of std 1 / 2 these tiles read 29.4 / 23.7 dB from the
# clean reveal, random places 31.2 / 25.5, the resized whole container 31.3 / 25.5, ranked places refused.
ANCHOR_STEP, KEPT_TILE = 3, 8
TILE_SIDE = ANCHOR_STEP * KEPT_TILE  # pixels
TILES_AAD = b"crossteg-inrweights-tiles-v1"
# ours: the header's bits dither-modulated with this lattice step (8-bit levels), each in copies spread over the
# pixels, one copy per HEADER_VALUES_PER_COPY values up to HEADER_COPIES (width 512: 7 copies, 2 % of the values;
# 256: 4; 128: 1; 64 and less: the LSBs). Measured on random pixels (frame.embed/extract, 20 keys, a 280-byte
# header): step 20 x 7 copies reads after Gaussian noise of std 2 and 2.5 levels every time (RMS change over all
# pixels 0.90 levels); 16 x 9 failed 10 of 20 at 2.5 (0.81), 16 x 7 2 of 20 at 2 (0.71); 20 x 4 at width 256
# reads after std 2 (RMS 1.36), 20 x 1 at width 128 after std 1, not 2. LSBs fail at std 1. A video in face.png
# (width 512) loses nothing to noise of std 1 (revealed frames within 39.8 dB of the clean reveal) and little to
# std 2 (34.0 dB). Held through the fit (_robust_start) the header cost the video 0.02 dB (24.29 -> 24.27 dB, the
# tables' hide) and speech_3.wav nothing (28.6 -> 28.8 dB SNR); sealed after the fit it cost them 0.08 and 14 dB.
# JPEG, even at quality 95 (RMS 5.5 levels with 4:2:0 chroma), leaves 11 dB: only noise-like changes are worth it.
HEADER_STEP, HEADER_COPIES, HEADER_VALUES_PER_COPY = 20, 7, 48_000
# ours: reveal warns when the header's pixel values sit further than this (RMS, 8-bit levels) from their lattice
# points (frame.lattice_noise): 0.29 in an untouched container (rounding); Gaussian noise of std 0.5 / 1 / 2 levels
# read 0.64 / 1.08 / 2.04, a bicubic resize to 1024 and back 2.66. What such changes cost (one-off script, speech_3.wav
# in face.png, width 512, 200 steps; SNR against the untouched container's reveal): 18.0 / 12.8 / 7.2 dB, resized
# 2.5 dB; video loses little to std 2 (34 dB of its clean reveal, above), shapes little to std 1. ImageMagick edits
# of a saved video container (150 steps): gamma 1.02 / saturation 102 % / unsharp 0x0.5 / blur 0x0.3 read 0.82 /
# 0.74 / 1.80 / 1.25 levels (all warned), the video 40.5 / 37.4 / 24.9 / 27.3 dB from its clean reveal; brightness
# +5 levels moves every value a quarter of the header's step: the header is lost (refused, exit 4).
ALTERED_LEVELS = 0.45
HEADER_AAD = b"crossteg-inrweights-v1"
FORMAT = 2  # 2: a shape's header names its plane offsets ("planes"); version 1 still reads (no offsets)
READABLE_FORMATS = (1, FORMAT)


@dataclass
class BaseNet:
    """The shared base network: pre-defined weights from the key, variable ones supplied as pixels."""

    modality: str
    width: int
    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    ranges: list[tuple[float, float]]  # (w_min, w_max) of the R, G, B channels
    scatter: list[torch.Tensor] | None = None  # per channel: weight k sits at pixel scatter[c][k] (None: at k)

    @property
    def arch(self) -> str:
        return ARCH[self.modality]

    def all_weights(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        """Every weight matrix, the variable ones read from pixels (3 x N x N, in [0, 1])."""
        weights = list(self.weights)
        for c, j in enumerate(VARIABLE[self.arch]):
            lo, hi = self.ranges[c]
            channel = pixels[c] if self.scatter is None else pixels[c].reshape(-1)[self.scatter[c]].view_as(pixels[c])
            weights[j] = lo + channel * (hi - lo)  # paper sec. 2.2: [0, 255] <-> [w_min, w_max]
        return weights

    def forward(self, x: torch.Tensor, pixels: torch.Tensor, fast: bool = False) -> torch.Tensor:
        """x: points x in -> points x out, with the variable weights read from pixels (3 x N x N, in [0, 1]);
        `fast`: the hidden maps multiply in bfloat16 (nn/precision.py; fitting only)."""
        weights = self.all_weights(pixels)
        if self.arch == "igr":
            return igr.apply(x, weights, self.biases, igr_config(self.width), fast)
        return siren.apply(x, weights, self.biases, fast=fast)

    def bound(self, pixels: torch.Tensor, fast: bool = False):
        """The network as a one-argument function (what codecs.inr.render and the losses call)."""
        return lambda x: self.forward(x, pixels, fast)

    def to_weight_order(self, planes: torch.Tensor) -> torch.Tensor:
        """3 x N x N planes with each channel's pixels in its weights' order (the keyed deal undone)."""
        if self.scatter is None:
            return planes
        return torch.stack([p.reshape(-1)[o].view_as(p) for p, o in zip(planes, self.scatter, strict=True)])

    def to_pixel_order(self, planes: torch.Tensor) -> torch.Tensor:
        """The inverse of `to_weight_order`."""
        if self.scatter is None:
            return planes
        out = torch.empty_like(planes)
        for c, order in enumerate(self.scatter):
            out[c].view(-1)[order] = planes[c].reshape(-1)
        return out


def igr_config(width: int) -> igr.IGRConfig:
    return igr.IGRConfig(3, width, IGR_LAYERS)


def siren_config(modality: str, width: int) -> siren.SirenConfig:
    i, o = {"video": (3, 3), "audio": (1, 1)}[modality]
    return siren.SirenConfig(i, o, width, SIREN_LAYERS)


def base_net(modality: str, width: int, material: keys.KeyMaterial, ranges: list[tuple[float, float]],
             scatter: bool = True, plane_offset: float = 0.0) -> BaseNet:
    """The base network for `modality`, its pre-defined weights drawn from the key (our extension); with
    `scatter` each channel's pixels are dealt to the weight matrix's positions in a keyed order (our extension);
    `plane_offset` offsets IGR's first-layer planes from the origin (nn/igr.py, our extension)."""
    rng = material.rng(f"inrweights/predefined/{ARCH[modality]}/{modality}/{width}")
    if ARCH[modality] == "igr":
        weights, biases = igr.init_arrays(igr_config(width), rng, plane_offset)
    else:
        weights, biases = siren.init_arrays(siren_config(modality, width), rng, output_gain=OUTPUT_GAIN)
    order = None
    if scatter:
        deal = material.rng(f"inrweights/scatter/{width}")
        order = [torch.from_numpy(deal.permutation(width * width)) for _ in VARIABLE[ARCH[modality]]]
    return BaseNet(modality, width, weights, biases, ranges, order)


def header_net(header: dict[str, Any], width: int, material: keys.KeyMaterial) -> BaseNet:
    """The base network a container's header describes; entries added since format 1 default to the network
    of the containers written before them (the paper's layout, planes through the origin)."""
    ranges = [(float(lo), float(hi)) for lo, hi in header["ranges"]]
    return base_net(header["modality"], width, material, ranges, bool(header.get("scatter", False)),
                    float(header.get("planes", 0.0)))


def init_bound(arch: str, width: int) -> float:
    """The scale of the variable weights at initialisation: SIREN's uniform bound sqrt(6/n)/omega_0, and three
    standard deviations of IGR's geometric init N(0, sqrt(2)/sqrt(n))."""
    return math.sqrt(6 / width) / siren.W0 if arch == "siren" else 3 * math.sqrt(2 / width)


def weight_ranges(cover: np.ndarray, modality: str, width: int, photo: np.ndarray | None = None
                  ) -> list[tuple[float, float]]:
    """(w_min, w_max) per channel: width 2 RANGE_FACTOR x init bound (for video x UNIFORM_STD / the channel's pixel
    std, within SPREAD_GAIN), the channel's mean pixel at weight 0. `photo`: the image whose pixels `cover` was
    picked from (a kept container's textured pixels); speech and shapes then get ranges widened by the photo's std /
    the picked pixels' (within KEPT_GAIN), so that picking does not narrow their weights' spread."""
    span = 2 * RANGE_FACTOR[modality] * init_bound(ARCH[modality], width)
    pixels = cover.reshape(-1, 3)
    stds = pixels.std(0)
    picked = np.ones(3) if photo is None or modality == "video" else photo.reshape(-1, 3).std(0) / np.maximum(
        stds, 1e-6)
    ranges = []
    for mean, std, ratio in zip(pixels.mean(0), stds, picked, strict=True):
        gain = np.clip(UNIFORM_STD / max(float(std), 1e-6), *SPREAD_GAIN[modality]) * np.clip(ratio, *KEPT_GAIN)
        ranges.append((-span * float(gain * mean), span * float(gain * (1 - mean))))
    return ranges


# ours: with bfloat16 products (Schedule.fast) the last tenth of the steps multiply in float32, as reveal does, so
# that the pixels settle for the network reveal reads. Bfloat16 to the end costs (one-off script, benchmark cases,
# from the PNG): audio 1000 steps 24.74 dB SNR against float32's 25.47 (25.37 with this finish), the Stanford Bunny
# 300 steps IoU 0.910 against 0.921 (0.918); video 400 steps none (25.91 / 25.92 / 25.92 dB)
FLOAT32_FINISH = 0.1


def quantise(pixels: torch.Tensor) -> torch.Tensor:
    """8-bit rounding (eq. 3) with a straight-through gradient (eq. 5): forward rounds, backward is identity."""
    return pixels + (torch.round(pixels * 255) / 255 - pixels).detach()


@dataclass(frozen=True)
class Schedule:
    """Adam on the pixels: steps, rate, cosine decay to `final_fraction`, points per step, cover weight; `fast`:
    bfloat16 products in the hidden maps (nn/precision.py)."""

    steps: int
    lr: float
    final_fraction: float
    batch: int
    beta: float = BETA["video"]
    qat: bool = True
    fast: bool = False


def train(net: BaseNet, signal: Signal, cover: torch.Tensor, schedule: Schedule, *, progress: Progress = no_progress,
          seed: int = 0, start: torch.Tensor | None = None, frozen: torch.Tensor | None = None) -> torch.Tensor:
    """Optimise the pixels (3 x N x N, starting at `start`, by default the cover) for eq. 4; returns them in
    [0, 1] (float). Pixels where the boolean mask `frozen` is set keep their start values."""
    start = cover if start is None else start
    # ours: every step but the network's reads the pixels one by one (the cover loss is a sum over them, rounding,
    # clamping, freezing and Adam are per pixel), so the fit runs with the pixels in the weights' order and deals
    # them back once at the end, instead of dealing them at every step (a gather forward, a scatter backward)
    dealt, net = net, replace(net, scatter=None)
    cover, start = dealt.to_weight_order(cover), dealt.to_weight_order(start)
    frozen = None if frozen is None else dealt.to_weight_order(frozen)
    pixels = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([pixels], lr=schedule.lr)
    decay = lambda s: schedule.final_fraction + (1 - schedule.final_fraction) * 0.5 * (  # noqa: E731
        1 + math.cos(math.pi * s / max(1, schedule.steps)))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, decay)
    loss_s = loss_for(signal.modality, SDF_CLAMP)
    generator = torch.Generator().manual_seed(seed)  # point sampling only; keys never seed torch
    smooth = None
    for step in range(1, schedule.steps + 1):
        coords, targets = signal.coords, signal.targets
        if schedule.batch < len(coords):
            idx = torch.randint(len(coords), (schedule.batch,), generator=generator)
            coords, targets = coords[idx], targets[idx]
        q = quantise(pixels) if schedule.qat else pixels
        fast = schedule.fast and step <= schedule.steps * (1 - FLOAT32_FINISH)
        secret_loss = loss_s(net.bound(q, fast), coords, targets)
        # eq. 2 (a sum) in pixel units, divided by the width: the secret's gradient per pixel falls about like
        # 1/width, so this keeps one beta about right at every width
        cover_loss = torch.sum((q - cover) ** 2) / cover.shape[-1]
        loss = secret_loss + schedule.beta * cover_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            pixels.clamp_(0, 1)  # the PNG holds [0, 255] only
            if frozen is not None:
                pixels[frozen] = start[frozen]
        value = float(secret_loss.detach())
        smooth = value if smooth is None else 0.9 * smooth + 0.1 * value  # batch losses are noisy: show a mean
        progress("hiding (fitting the secret in the pixels)", step, schedule.steps,
                 _detail(signal, smooth, float(cover_loss.detach()) * cover.shape[-1] / cover.numel()))
    return dealt.to_pixel_order(pixels.detach())


def _detail(signal: Signal, secret_loss: float, cover_loss: float) -> str:
    cover_db = f"cover {10 * math.log10(1 / max(cover_loss, 1e-12)):.1f} dB"
    if signal.modality == "shape":
        return f"SDF loss {secret_loss:.2e}, {cover_db}"
    unit = "SNR" if signal.modality == "audio" else "PSNR"
    return f"secret {unit} ~{loss_db(signal, secret_loss):.1f} dB, {cover_db}"


def audio_gain(samples: torch.Tensor, level: float = AUDIO_RMS) -> float:
    """The factor that brings audio samples to RMS `level` (at most MAX_AUDIO_GAIN)."""
    rms = float(torch.sqrt(torch.mean(samples.double() ** 2)))
    return min(MAX_AUDIO_GAIN, level / max(rms, 1e-12))


def prepare_secret(secret: Any) -> Any:
    """The secret as it is fitted: audio mono at 22 050 Hz (paper sec. 3.1); video and shapes as given."""
    if isinstance(secret, Audio):
        return conformed(secret, AUDIO_RATE, "inrweights reveals the audio")
    if isinstance(secret, Video | Shape):
        return secret
    raise UsageError(f"inrweights hides video, audio or a 3-D shape, not {type(secret).__name__}")


def _planes(pixels: np.ndarray) -> torch.Tensor:
    """N x N x 3 -> the 3 x N x N tensor the network's variable weights are read from."""
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


def anchor_spread(image: np.ndarray) -> np.ndarray:
    """Per ANCHOR_STEP^2 block of an H x W x 3 uint8 image, the spread (max - min) of R + G + B over the 3 x 3 anchors
    around its own (one anchor at each block's corner): the blocks' texture, int64."""
    anchors = np.pad(image[::ANCHOR_STEP, ::ANCHOR_STEP].astype(np.int64).sum(-1), 1, mode="edge")
    rows, cols = anchors.shape[0] - 2, anchors.shape[1] - 2
    around = np.stack([anchors[dy:dy + rows, dx:dx + cols] for dy in range(3) for dx in range(3)])
    return around.max(0) - around.min(0)


def kept_places(order: np.ndarray, side: int, material: keys.KeyMaterial) -> np.ndarray:
    """The first side^2 pixels of `order` that hold a side-wide network's weights, in the keyed order of the square
    container's pixels (not by texture: a textured weight matrix would be a structured one)."""
    return order[: side * side][material.permutation(f"inrweights/kept/{side}", side * side)]


def tile_grid(height: int, width: int) -> tuple[int, int]:
    """Rows and columns of the TILE_SIDE tiles (KEPT_TILE^2 blocks) over a height x width image, edge tiles partial."""
    return -(-height // TILE_SIDE), -(-width // TILE_SIDE)


def tile_of(height: int, width: int) -> np.ndarray:
    """The tile (raster order of `tile_grid`) of each pixel of a height x width image."""
    y, x = np.divmod(np.arange(height * width), width)
    return (y // TILE_SIDE) * tile_grid(height, width)[1] + x // TILE_SIDE


def kept_tiles(image: np.ndarray, side: int) -> np.ndarray:
    """Which tiles of an H x W x 3 uint8 image hold a side-wide network's weights (bool per tile, raster order): the
    most textured (`anchor_spread` summed per tile; ties in raster order) until they hold side^2 pixels beside the
    most that the sealed tile map can take (`tile_map_room`)."""
    spread, (h, w) = anchor_spread(image), image.shape[:2]
    rows, cols = tile_grid(h, w)
    padded = np.zeros((rows * KEPT_TILE, cols * KEPT_TILE), np.int64)
    padded[: spread.shape[0], : spread.shape[1]] = spread
    texture = padded.reshape(rows, KEPT_TILE, cols, KEPT_TILE).sum((1, 3)).reshape(-1)
    order, chosen = np.argsort(-texture, kind="stable"), np.zeros(rows * cols, bool)
    pixels = np.cumsum(np.bincount(tile_of(h, w), minlength=rows * cols)[order])
    chosen[order[: int(np.searchsorted(pixels, side * side + tile_map_room(h, w))) + 1]] = True
    return chosen


def tile_map_room(height: int, width: int) -> int:
    """The most pixel values (so pixels) the sealed tile map of a height x width image may take: one bit per tile,
    the width, zlib's worst case and the frame's overhead, in each of the header's copies."""
    packed = -(-math.prod(tile_grid(height, width)) // 8)
    stored = 2 + packed + 5 * -(-packed // 16384) + 6  # zlib's worst case: stored blocks
    return 8 * (stored + frame.OVERHEAD) * lattice(height * width * 3)[1]


def _tiles_key(material: keys.KeyMaterial) -> keys.KeyMaterial:
    return keys.KeyMaterial(material.derive("inrweights/tiles"))


def seal_tiles(image: np.ndarray, tiles: np.ndarray, side: int,
               material: keys.KeyMaterial) -> tuple[np.ndarray, np.ndarray]:
    """The H x W x 3 uint8 image with the tile map and the network's width sealed at keyed values (dither copies as
    the header's, or its LSBs), and the flat indices of the pixels that hold them (no weight goes there)."""
    plaintext = side.to_bytes(2, "big") + zlib.compress(np.packbits(tiles).tobytes(), 9)
    sealed, held = sealed_in(image, _tiles_key(material), plaintext, TILES_AAD)
    return sealed, np.flatnonzero(held.any(-1))


def read_tiles(image: np.ndarray, material: keys.KeyMaterial) -> tuple[int, np.ndarray, np.ndarray]:
    """The width, tile map and tile-map pixels `seal_tiles` sealed into `image`; KeyError_ where it sealed none for
    this key."""
    key, (step, copies) = _tiles_key(material), lattice(image.size)
    plain = frame.extract(image.reshape(-1), key, TILES_AAD, "inrweights tile map", step, copies)
    tiles = np.unpackbits(np.frombuffer(zlib.decompress(plain[2:]), np.uint8)).astype(bool)
    held = frame.positions(key, image.size, len(plain) + frame.OVERHEAD, copies) // 3
    return int.from_bytes(plain[:2], "big"), tiles, np.unique(held)


def tiled_places(height: int, width: int, tiles: np.ndarray, held: np.ndarray, side: int,
                 material: keys.KeyMaterial) -> np.ndarray:
    """The textured layout's side^2 places (`kept_places` order): keyed pixels of the chosen tiles, not those that
    hold the tile map."""
    order = material.permutation(f"inrweights/tiles/{height}x{width}", height * width)
    usable = tiles[tile_of(height, width)]
    usable[held] = False
    return kept_places(order[usable[order]], side, material)


def kept_layout(image: np.ndarray, side: int, material: keys.KeyMaterial) -> tuple[np.ndarray, np.ndarray]:
    """For a container kept at the H x W x 3 uint8 cover's size: the cover with the tile map sealed in, which the
    container is written into, and the side^2 places of its weights."""
    (h, w), tiles = image.shape[:2], kept_tiles(image, side)
    sealed, held = seal_tiles(image, tiles, side, material)
    return sealed, tiled_places(h, w, tiles, held, side, material)


def kept_capacity(height: int, width: int) -> int:
    """How many pixels of a height x width image may hold weights: 8/9 of them (all but one per ANCHOR_STEP^2
    block), so that a photo keeps its size only where much of it stays the photo's (and the tile map has room)."""
    return height * width - -(-height // ANCHOR_STEP) * -(-width // ANCHOR_STEP)


def kept_widths(height: int, width: int) -> list[int]:
    """The widths in KEPT_WIDTHS whose side^2 weights a height x width image can hold at its size (never its own
    side: a square cover of the network's width is the container itself)."""
    return [side for side in KEPT_WIDTHS if side * side <= kept_capacity(height, width)]


def gathered(image: np.ndarray, places: np.ndarray) -> np.ndarray:
    """The side x side x 3 square container held at `places` (side^2 flat pixel indices) of an H x W x 3 image."""
    side = math.isqrt(len(places))
    return image.reshape(-1, 3)[places].reshape(side, side, 3)


def scattered(image: np.ndarray, places: np.ndarray, square: np.ndarray) -> np.ndarray:
    """A copy of the H x W x 3 `image` with the square container's pixels written back to `places`."""
    out = image.copy()
    out.reshape(-1, 3)[places] = square.reshape(-1, 3)
    return out


def located(image: np.ndarray, material: keys.KeyMaterial) -> tuple[np.ndarray, dict[str, Any], float | None]:
    """The square container (uint8) that `image` is or holds for this key, its header and its pixel change
    (`read_header`): the image itself where it is square, else (or where that holds no header for the key) the places
    its sealed tile map names (`read_tiles`), when it keeps its cover's size. KeyError_ when neither holds a
    header."""
    h, w = image.shape[:2]
    error: KeyError_ | None = None
    if h == w >= MIN_WIDTH:
        try:
            return image, *read_header(image, material)
        except KeyError_ as exc:
            error = exc
    if not kept_widths(h, w):
        raise error or MediaError(f"a {w}x{h} image is no inrweights container: it is square (the network's width, "
                                  f"at least {MIN_WIDTH}) or holds over 9/8 x {MIN_WIDTH}x{MIN_WIDTH} pixels")
    side, tiles, held = read_tiles(image, material)
    square = gathered(image, tiled_places(h, w, tiles, held, side, material))
    return square, *read_header(square, material)


def prepare_cover(cover: Image, width: int) -> np.ndarray:
    """The cover's pixels resized to width x width (paper sec. 3.1 resizes covers to 512 x 512), float32."""
    pixels = cover.pixels
    if pixels.shape[:2] != (width, width):
        import skimage.transform

        pixels = skimage.transform.resize(pixels, (width, width, 3), anti_aliasing=True, order=3)
    return np.clip(pixels, 0, 1).astype(np.float32)


@register
class INRWeights(Method):
    """Hide a video, audio or 3-D shape in an image whose R, G, B channels are weight matrices of its INR."""

    id = "inrweights"
    title = "Cross-modal steganography with the container image as INR weights"
    paper = "inrweights"
    secret = ("video", "audio", "shape")
    cover = ("image",)
    stego_ext = (".png",)
    quick_options = {"steps": 20, "width": 0}  # quick eval: a few steps, a network as wide as the square cover

    def __init__(self, quality: str = "fast", qat: bool = True, steps: int | None = None, width: int = WIDTH,
                 beta: float | None = None, batch: int | None = None, scatter: bool = True,
                 planes: float = PLANE_OFFSET, resize: bool = False, bf16: bool | None = None) -> None:
        """`qat=False` is the paper's no-QAT ablation; `steps` caps the fit; `width` is the network's width, the
        container's side (paper 512; 0 = a square cover's own side); a larger cover keeps its size, the weights at
        keyed pixels of its most textured tiles (`kept_layout`), unless
        `resize` (the paper's container: every cover resized to width x width) or the width is not in KEPT_WIDTHS;
        `beta` weighs the cover loss (default BETA per modality); `batch` the coordinates fitted per step;
        `scatter=False` lays the weights out as the paper does (weight (i, j) at pixel (i, j)) instead of in a keyed
        order; `planes` is the range of the shape network's first-layer plane offsets (0: IGR's zero biases, the
        paper's base network); `bf16` multiplies the hidden maps in bfloat16 while fitting (nn/precision.py; default:
        where the CPU does so natively; reveal always reads the network in float32)."""
        super().__init__(quality)
        if quality not in ("fast", "paper"):
            raise UsageError(f"quality must be fast or paper, not {quality}")
        if width != 0 and width < MIN_WIDTH:
            raise UsageError(f"width must be 0 (the cover's side) or at least {MIN_WIDTH}, not {width}")
        if steps is not None and steps < 1:
            raise UsageError(f"steps must be at least 1, not {steps}")
        if not 0 <= planes <= MAX_PLANE_OFFSET:
            raise UsageError(f"planes must be between 0 and {MAX_PLANE_OFFSET} (wider offsets can leave the fit's "
                             f"start without an inside, and the fit without a surface), not {planes}")
        self.qat, self.steps, self.width, self.beta, self.batch = bool(qat), steps, int(width), beta, batch
        self.scatter, self.planes, self.resize = bool(scatter), float(planes), bool(resize)
        self.bf16 = precision.native_bf16() if bf16 is None else bool(bf16)

    def capacity(self, cover: Any) -> Capacity:
        """One secret of the paper's size: 16 x 128 x 128 video, 100 000 audio samples at 22 050 Hz, a shape."""
        self.check_cover(cover)
        return Capacity(1.0, "paper-size secrets")

    def secret_size(self, secret: Any) -> float:
        """The secret's size relative to the paper's (video pixels, audio samples at 22 050 Hz; a shape is 1)."""
        if isinstance(secret, Video):
            return secret.frames.shape[0] * secret.frames.shape[1] * secret.frames.shape[2] / math.prod(VIDEO_SIZE)
        if isinstance(secret, Audio):
            return math.ceil(secret.frames * AUDIO_RATE / secret.sample_rate) / AUDIO_SAMPLES
        return 1.0

    def check_fits(self, cover: Any, secret: Any) -> None:
        """CapacityError naming the secret's size and the capacity in the secret's own units."""
        self.check_cover(cover)
        size = self.secret_size(secret)
        if size <= 1.0:
            return
        if isinstance(secret, Video):
            t, h, w = secret.frames.shape[:3]
            frames, fit_w, fit_h = video_fit(t, h, w, math.prod(VIDEO_SIZE), VIDEO_SIZE[0])
            raise CapacityError(f"secret video is {t} frames of {w}x{h} ({t * h * w} pixels per channel) but "
                                f"inrweights holds at most {math.prod(VIDEO_SIZE)} (16 frames of 128x128): it fits as "
                                f"{frames} frames of {fit_w}x{fit_h}")
        samples = round(size * AUDIO_SAMPLES)
        raise CapacityError(f"secret audio is {samples} samples at {AUDIO_RATE} Hz "
                            f"({samples / AUDIO_RATE:.2f} s) but inrweights holds at most "
                            f"{AUDIO_SAMPLES} ({AUDIO_SAMPLES / AUDIO_RATE:.2f} s): trim it")

    def container_reference(self, cover: Any) -> Image:
        """The cover itself where the container keeps its size, else the cover resized to the container's side,
        as hide resizes it."""
        width = self._width(cover)
        return cover if self._keeps_size(cover, width) else Image(prepare_cover(cover, width))

    def _width(self, cover: Image) -> int:
        if self.width:
            return self.width
        h, w = cover.pixels.shape[:2]
        return h if h == w and h >= MIN_WIDTH else WIDTH

    def _keeps_size(self, cover: Image, width: int) -> bool:
        """Whether the container is the cover at its own size with the weights at its textured pixels (ours): for covers
        of about 9/8 width^2 pixels or more (`kept_capacity`) in the keyed layout, unless resize was asked."""
        return not self.resize and self.scatter and width in kept_widths(cover.height, cover.width)

    def _schedule(self, modality: str) -> Schedule:
        batch = self.batch or BATCH[modality]
        beta = BETA[modality] if self.beta is None else float(self.beta)
        if self.quality == "paper":
            steps = min(PAPER_STEPS[modality], self.steps or PAPER_STEPS[modality])
            return Schedule(steps, PAPER_LR[modality], 1.0, batch, beta, self.qat, self.bf16)
        steps = self.steps or FAST_STEPS[modality]
        return Schedule(steps, FAST_LR[modality], 0.05, batch, beta, self.qat, self.bf16)

    def hide(self, cover: Any, secret: Any, key: keys.Key = None, *, progress: Progress = no_progress) -> Image:
        """Fit the secret with the container's pixels as variable weights, around the sealed header (or seal it
        into their LSBs after the fit, in a small container)."""
        self.check_cover(cover)
        self.check_fits(cover, secret)  # before prepare_secret's warnings: a refused secret is not resampled
        secret = prepare_secret(secret)
        width, material = self._width(cover), keys.derive(key, self.id)
        cover8 = cover.to_uint8()
        places = None
        if self._keeps_size(cover, width):
            cover8, places = kept_layout(cover8, width, material)
            pixels = np.clip(gathered(cover.pixels, places), 0, 1).astype(np.float32)
        else:
            if (cover.height, cover.width) != (width, width) and not self.resize:  # the paper's, not what users expect
                keeps = (f"a cover of over 9/8 x {width}x{width} pixels keeps its size" if width in KEPT_WIDTHS else
                         f"a larger cover keeps its size with widths {KEPT_WIDTHS[0]}, {KEPT_WIDTHS[1]}, ..., "
                         f"{KEPT_WIDTHS[-1]}")
                fitting = kept_widths(cover.height, cover.width)
                if fitting and self.scatter:
                    keeps += f"; -O width={fitting[-1]} keeps this one's"
                warnings.warn(f"the container is {width}x{width}: the {cover.width}x{cover.height} cover is resized "
                              f"to it, as the paper's covers are ({keeps}; -O width=0 keeps a square cover's own "
                              "size)", stacklevel=2)
            pixels = prepare_cover(cover, width)
        span = AUDIO_SPAN_PER_SECOND * secret.duration if isinstance(secret, Audio) else None
        signal = to_signal(secret, audio_span=span)
        if signal.modality == "shape":
            signal.layout["resolution"] = SHAPE_GRID
        if signal.modality == "audio":
            gain = audio_gain(signal.targets)
            signal.targets, signal.layout["gain"] = signal.targets * gain, gain
        header = {"v": FORMAT, "modality": signal.modality, "ranges": weight_ranges(
            pixels, signal.modality, width, None if places is None else cover.pixels),
                  "layout": signal.layout, "scatter": self.scatter}
        if signal.modality == "shape":
            header["planes"] = self.planes
        net = header_net(header, width, material)
        start, held = _robust_start(pixels, material, header)
        fitted = train(net, signal, _planes(pixels), self._schedule(signal.modality), progress=progress,
                       start=_planes(start), frozen=None if held is None else _planes(held))
        container = np.round(fitted.numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
        if held is None:
            container = seal(container, material, header)[0]
        return Image.from_uint8(container if places is None else scattered(cover8, places, container))

    def reveal(self, stego: Any, key: keys.Key = None, *, level: int = 1, progress: Progress = no_progress) -> Any:
        """Read the header with the key, rebuild the base network from the pixels, render the secret."""
        if not isinstance(stego, Image):
            raise MediaError("an inrweights container is a PNG image")
        model, header, change = revealed_model(stego.to_uint8(), keys.derive(key, self.id))
        warn_if_altered(change)
        progress("revealing (rendering the INR)", 0, 1)
        out = render(model, header["modality"], header["layout"])
        progress("revealing (rendering the INR)", 1, 1)
        return out


def revealed_model(image: np.ndarray, material: keys.KeyMaterial):
    """The secret's network rebuilt from the pixels and sealed header of the container in `image` (`located`), as a
    one-argument function of the coordinates (what codecs.inr.render calls); with the header and its pixel change
    (`read_header`)."""
    container, header, change = located(image, material)
    net = header_net(header, len(container), material)
    pixels = _planes(container).float() / 255
    gain = float(header["layout"].get("gain", 1.0))  # audio was fitted scaled by this (AUDIO_RMS)
    return (lambda x: net.forward(x, pixels) / gain), header, change


def header_copies(values: int) -> int:
    """Copies of each header bit in a container of `values` pixel values (0: one bit in each LSB instead)."""
    return min(HEADER_COPIES, values // HEADER_VALUES_PER_COPY)


def lattice(values: int) -> tuple[int, int]:
    """The frame.embed step and copies of a header or tile map in a carrier of `values` pixel values: dither copies
    (`header_copies`) where it is large enough, else one bit in each LSB (step 0)."""
    copies = header_copies(values)
    return (HEADER_STEP, copies) if copies else (0, 1)


def sealed_in(carrier: np.ndarray, material: keys.KeyMaterial, plaintext: bytes,
              associated: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 carrier with `plaintext` sealed (encrypted, authenticated) at keyed values (codecs/frame.py, as
    `lattice` says), and a boolean mask (the carrier's shape) of the values that hold it."""
    sealed, (step, copies) = frame.seal(material, plaintext, associated), lattice(carrier.size)
    values = frame.embed(carrier.reshape(-1), material, sealed, step, copies)
    held = np.zeros(carrier.size, bool)
    held[frame.positions(material, carrier.size, len(sealed), copies)] = True
    return values.reshape(carrier.shape), held.reshape(carrier.shape)


def seal(container: np.ndarray, material: keys.KeyMaterial, header: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 container with the header sealed at keyed pixel values (`sealed_in`), and the mask of the values
    that hold it."""
    return sealed_in(container, material, json.dumps(header, separators=(",", ":")).encode(), HEADER_AAD)


def _robust_start(pixels: np.ndarray, material: keys.KeyMaterial,
                  header: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """Start pixels (N x N x 3 in [0, 1]) and the mask of those to hold during the fit: where the robust header
    is used, it is sealed into the cover first and its values are held, so the fit works around them (sealed
    after the fit, its changes cost an audio secret 14 dB of SNR: 28.6 -> 14.6 dB for speech_3.wav at width 512);
    LSB headers are sealed after the fit (mask None)."""
    if not header_copies(pixels.size):
        return pixels, None
    sealed, held = seal(np.round(pixels * 255).astype(np.uint8), material, header)
    return np.where(held, sealed / 255, pixels).astype(np.float32), held


def _sealed_header(values: np.ndarray, material: keys.KeyMaterial) -> tuple[bytes, float | None]:
    """The header's plaintext, and the RMS change (8-bit levels) of the values that hold it since it was sealed:
    about 0.3 in an untouched container (the rounding to integers), about the std of noise added since; None where
    the header is in the LSBs (containers under 128 pixels wide, or written before the robust header)."""
    copies = header_copies(values.size)
    if copies:
        try:
            plaintext = frame.extract(values, material, HEADER_AAD, "inrweights header", HEADER_STEP, copies)
        except KeyError_:
            pass  # written before the robust header: it is in the LSBs
        else:
            frame_bytes = len(plaintext) + frame.OVERHEAD
            return plaintext, frame.lattice_noise(values, material, frame_bytes, HEADER_STEP, copies)
    return frame.extract(values, material, HEADER_AAD, "inrweights header"), None


def read_header(container: np.ndarray, material: keys.KeyMaterial) -> tuple[dict[str, Any], float | None]:
    """The header sealed by `seal` (or, in a large container, by a version that kept it in the LSBs) and how much
    its pixel values changed since (`_sealed_header`); KeyError_ for a wrong key or an image that is no
    inrweights container."""
    plaintext, change = _sealed_header(container.reshape(-1), material)
    header = json.loads(plaintext)
    if header.get("v") not in READABLE_FORMATS or header.get("modality") not in ARCH:
        raise MediaError("this inrweights container was written by an incompatible version")
    return dict(header), change


def unseal(container: np.ndarray, material: keys.KeyMaterial) -> dict[str, Any]:
    """The header alone (read_header)."""
    return read_header(container, material)[0]


def pixel_change(container: np.ndarray, material: keys.KeyMaterial) -> float | None:
    """How much the header's pixel values changed since it was sealed (`_sealed_header`); None also for a wrong
    key."""
    try:
        return _sealed_header(container.reshape(-1), material)[1]
    except KeyError_:
        return None


def warn_if_altered(change: float | None) -> None:
    """Warn when the pixels changed since hiding by more than ALTERED_LEVELS (the weights changed with them)."""
    if change is not None and change > ALTERED_LEVELS:
        warnings.warn(f"the container's pixels have changed since hiding (noise, lossy re-saving, resizing or "
                      f"editing: {change:.2f} levels RMS where an untouched container reads 0.3): the weights changed "
                      "with them, so the revealed secret is degraded (audio and shapes most)", stacklevel=3)
