"""flowhide (Yang et al., ICCV 2019): table 1, fig. 4, file precision, cover fidelity, 480p and speed.

    python -m benchmarks.flowhide_tables [--threads 1] [--steps table1,convnet,...] [--merge] [--out DIR]

Everything runs the shipped components (icn-binary, waveglow-small: see their cards) through real files:
hide -> stereo WAV (float32 unless stated) -> load -> reveal. Secret: the bundled clip.mp4 (16 frames of
128x128; the paper: DAVIS cropped to 128x128); cover: the bundled speech_1.wav (espeak-ng; the paper: LJ Speech).
* table 1: PSNR / MS-SSIM of the revealed frames and audio samples per one-second video (30 fps, as the paper's
  13440 = 30 x 448) for our greedy encoding (with the encoder's bits, the paper's one pass and the default hide, and
  with our refined bits, -O refine=50), the naive encoding (one pass), the ICN alone (the ceiling of both, one pass and
  refined), the continuous bottleneck (icn-continuous), and the ConvNet baseline (method deepsteg-video, 16-bit WAV at
  16 kHz: its samples are counted at 16 kHz, the paper's at 22.05 kHz, so compare the seconds);
* mono mode (our extension): the stego channel alone, its own mel; fidelity, flip rates and hiding time;
* fig. 4: per-slot flip rates (float32, 24-bit, 16-bit WAV) on this cover, and the ICN bit importance from its
  card, plotted to flowhide-fig4.png;
* file precision: the PCM-robust mode from a 16-bit WAV, and the float mode wrongly saved as 16-bit;
* cover fidelity: SNR and PESQ-WB (16 kHz) of the stego channel against the cover channel;
* 480p: audio needed for one second of 848x480 video (30 fps) at K = 4 and 8, and the fidelity of 3 frames;
* speed: seconds to hide / reveal one second (30 frames) of 128x128 video on this CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from crossteg import media, metrics
from crossteg.codecs import bits as B
from crossteg.codecs.icn import REFINE_STEPS, decode_frames, encode_frames, refine_codes
from crossteg.evaluate import assets_dir
from crossteg.media import Audio, Video
from crossteg.methods import flowhide as FH
from crossteg.methods.base import WEIGHTS_DIR
from crossteg.nn.waveglow import SAMPLE_RATE
from crossteg.results import Results, Row, merged_command, previous_rows

COMMAND = "python -m benchmarks.flowhide_tables"
KEY = "flowhide-tables"
FPS = 30  # the paper's "samples per one-second video" counts 30 frames (13440 = 30 x 448)
PAPER_T1 = {"ours": (25.4318, 0.9648, 13440), "naive": (11.5683, 0.4690, 13680),
            "continuous": (23.2836, 0.9384, 30720), "convnet": (21.6270, 0.9049, 330750)}  # table 1
PAPER_MEAN_FLIP = 0.1328  # sec. 4.3: average flip rate of the 20 slots
STEPS = ("table1", "convnet", "precision", "cover", "mono", "speed", "480p", "fig4")


def run(method: FH.FlowHide, cover: Audio, video: Video, subtype: str, workdir: Path) -> tuple[Video, Audio, dict]:
    """hide -> WAV of `subtype` -> load -> reveal; (revealed, stego as loaded, timings)."""
    start = time.perf_counter()
    stego = method.hide(cover, video, KEY)
    hide = time.perf_counter() - start
    path = media.save(stego, workdir / "stego.wav", force=True, subtype=subtype)
    loaded = media.load(path)
    start = time.perf_counter()
    revealed = method.reveal(loaded, KEY)
    return revealed, loaded, {"hide_seconds": hide, "reveal_seconds": time.perf_counter() - start}


def fidelity(ref: Video, out: Video) -> tuple[float, float]:
    return metrics.psnr(ref.frames, out.frames), metrics.ms_ssim(ref.frames, out.frames)


def per_second(method: FH.FlowHide, height: int = 128, width: int = 128) -> int:
    """Audio samples (latent values) for one second of video at 30 fps, payload only (as the paper counts)."""
    plan = FH.make_plan(method.parts, method.iterations, method.encoding, method.pcm, height, width)
    return FH.payload_floats(plan, method.encoding, FPS, height, width)


def table1(parts: FH.Parts, cover: Audio, video: Video, workdir: Path) -> list[Row]:
    rows = []
    frames = torch.from_numpy(video.frames)
    codes = encode_frames(parts.icn, frames)
    plan = FH.make_plan(parts, FH.DEFAULT_ITERATIONS, "optimised", False, video.height, video.width)
    errors = torch.from_numpy(FH.code_bit_errors(parts, plan, False, *codes.shape[1:4]))
    refined = refine_codes(parts.icn, frames, codes, bit_errors=errors)  # as hide with -O refine refines them
    for setting, bits in (("table1 ICN alone (no hiding)", codes),
                          ("table1 ICN alone, refined bits (no hiding)", refined)):
        p, s = fidelity(video, Video(decode_frames(parts.icn, bits, video.height, video.width).numpy(), video.fps))
        rows += [Row(setting, "secret_psnr", p, note="ceiling of the encoding rows with these bits"),
                 Row(setting, "secret_msssim", s)]
    for label, setting, options in (
            ("ours", "table1 ours encoding", {"encoding": "optimised", "refine": REFINE_STEPS}),
            ("ours", "table1 ours encoding, one pass", {"encoding": "optimised", "refine": 0}),
            ("naive", "table1 naive encoding", {"encoding": "naive", "refine": 0})):
        method = FH.FlowHide(**options).with_parts(parts)
        revealed, _, _ = run(method, cover, video, "FLOAT", workdir)
        p, s = fidelity(video, revealed)
        paper = PAPER_T1[label]
        samples = per_second(method)
        bits = (f"our refined bits (-O refine={method.refine})" if method.refine else
                "the encoder's bits (the paper's hide)")
        rows += [Row(setting, "secret_psnr", p, paper[0], note=f"float32 WAV, clip.mp4 in speech_1.wav, {bits}"),
                 Row(setting, "secret_msssim", s, paper[1]),
                 Row(setting, "samples_per_video_second", samples, paper[2], higher_is_better=False,
                     note=f"{samples / SAMPLE_RATE:.2f} s at 22.05 kHz; +{FH.HEADER_FLOATS} header values per file")]
    return rows + continuous_rows(parts, cover, video, workdir)


def convnet_rows(video: Video, workdir: Path) -> list[Row]:
    """Sec. 5.1 ConvNet baseline: deepsteg-video (STFT-magnitude Baluja networks, one frame per 4 x 4096
    samples at 16 kHz) from a 16-bit WAV; the cover is speech_long.wav repeated to hold all 16 frames."""
    from crossteg.methods import get_method

    method, paper, setting = get_method("deepsteg-video"), PAPER_T1["convnet"], "table1 convnet"
    speech = media.load(assets_dir() / "speech_long.wav")
    assert isinstance(speech, Audio)
    cover = Audio(np.tile(speech.samples, (1, 2)), speech.sample_rate)
    start = time.perf_counter()
    stego = method.hide(cover, video, KEY)
    hide = time.perf_counter() - start
    revealed = method.reveal(media.load(media.save(stego, workdir / "convnet.wav", force=True)), KEY)
    p, s = fidelity(video, revealed)
    samples = FPS * int(method.secret_size(Video(video.frames[:1], FPS)))  # 16 kHz samples per frame x 30
    return [Row(setting, "secret_psnr", p, paper[0], note="deepsteg-video, 16-bit WAV, clip.mp4 in speech_long x2"),
            Row(setting, "secret_msssim", s, paper[1]),
            Row(setting, "samples_per_video_second", samples, paper[2], higher_is_better=False,
                note=f"at 16 kHz: {samples / 16_000:.2f} s (paper: 15.00 s at 22.05 kHz)"),
            Row(setting, "hide_seconds", hide, note=f"{video.num_frames} frames")]


def mono_rows(parts: FH.Parts, cover: Audio, video: Video, workdir: Path) -> list[Row]:
    """Mono mode: one channel whose own mel conditions the flow (fixed-point passes until it settles)."""
    rows = []
    for label, options, subtype in (("mono mode, float32 WAV", {}, "FLOAT"),
                                    ("mono + pcm-robust mode, 16-bit WAV", {"pcm": True}, "PCM_16")):
        method = FH.FlowHide(mono=True, refine=REFINE_STEPS, **options).with_parts(parts)
        revealed, loaded, times = run(method, cover, video, subtype, workdir)
        p, s = fidelity(video, revealed)
        clean = cover.mono().resample(SAMPLE_RATE).samples[0, :loaded.frames]
        rows += [Row(label, "secret_psnr", p, note=f"fixed-point passes until a pass moves the stego by less than "
                                                   f"{FH.MONO_TOLERANCE:g} of its RMS; -O refine={REFINE_STEPS}"),
                 Row(label, "secret_msssim", s),
                 Row(label, "container_snr", metrics.snr(clean, loaded.samples[0]), note="stego vs the cover"),
                 Row(label, "hide_seconds", times["hide_seconds"]),
                 Row(label, "reveal_seconds", times["reveal_seconds"])]
    mono = cover.mono().resample(SAMPLE_RATE).samples[0]
    n = len(mono) - len(mono) % parts.waveglow.config.n_group
    latent = B.encode(np.random.default_rng(1).integers(0, 2, (n, len(B.SLOTS))))
    start = FH.synthesise(parts.waveglow, latent, mono[:n])

    def mean_flips(x: np.ndarray) -> float:  # the 20 slots' mean flip rate of a stego read back with its own mel
        return float(B.flip_rates(latent, FH.analyse(parts.waveglow, x, x))[list(B.SLOTS)].mean())

    x, done = start, 0
    for passes in (0, 4, 8, 12, 16, 24, 32):
        for _ in range(passes - done):
            x = FH.synthesise(parts.waveglow, latent, x)
        done = passes
        rows.append(Row(f"mono mode flip rate after {passes} passes", "flip_rate_mean_20_slots", mean_flips(x),
                        higher_is_better=False, note="in memory (float32); stereo file: see fig4a float32"))
    x, passes = FH.mono_fixed_point(parts.waveglow, latent, start)
    rows.append(Row("mono mode flip rate where hiding stops", "flip_rate_mean_20_slots", mean_flips(x),
                    higher_is_better=False, note=f"after {passes} passes, in memory (float32)"))
    return rows


def continuous_rows(parts: FH.Parts, cover: Audio, video: Video, workdir: Path) -> list[Row]:
    """Sec. 5.1 continuous bottleneck: the tanh code (K x h x w x 4 floats) is the latent itself."""
    from safetensors.torch import load_file

    from crossteg.codecs.icn import ICN, ICNConfig

    weights = WEIGHTS_DIR / "icn-continuous.safetensors"
    paper, setting = PAPER_T1["continuous"], "table1 continuous bottleneck"
    if not weights.exists():
        return [Row(setting, m, None, v, note="continuous-bottleneck ICN not trained in this session")
                for m, v in zip(("secret_psnr", "secret_msssim"), paper[:2], strict=True)]
    card = json.loads(weights.with_suffix(".json").read_text())
    icn = ICN(ICNConfig(**card["architecture"]))
    icn.load_state_dict(load_file(str(weights)), strict=True)
    codes = encode_frames(icn, torch.from_numpy(video.frames)).numpy()  # T x K x h x w x 4, floats in (-1, 1)
    mono = cover.mono().resample(SAMPLE_RATE).samples[0]
    n = len(mono) - len(mono) % parts.waveglow.config.n_group
    latent = B.encode(np.random.default_rng(0).integers(0, 2, (n, len(B.SLOTS))))  # filler as in flowhide
    latent[:codes.size] = codes.reshape(-1)
    stego = np.stack([FH.synthesise(parts.waveglow, latent, mono[:n]), mono[:n]])
    path = media.save(Audio(stego, SAMPLE_RATE), workdir / "continuous.wav", force=True, subtype="FLOAT")
    loaded = media.load(path).samples
    received = FH.analyse(parts.waveglow, loaded[0], loaded[1])[:codes.size].reshape(codes.shape)
    frames = decode_frames(icn, torch.from_numpy(np.ascontiguousarray(received)), video.height, video.width)
    p, s = fidelity(video, Video(frames.numpy(), video.fps))
    samples = FPS * int(np.prod(codes.shape[1:]))
    return [Row(setting, "secret_psnr", p, paper[0], note="float32 WAV; no key, no header (a baseline)"),
            Row(setting, "secret_msssim", s, paper[1]),
            Row(setting, "samples_per_video_second", samples, paper[2], higher_is_better=False)]


def flip_rows(parts: FH.Parts, cover: Audio) -> tuple[list[Row], dict[str, np.ndarray]]:
    mono = cover.mono().resample(SAMPLE_RATE).samples[0]
    rows, measured = [], {}
    for precision in FH.PRECISIONS:
        rates = FH.flip_rates_through_file(parts.waveglow, mono, precision, seed=1)
        measured[precision] = rates
        slot_rates = rates[list(B.SLOTS)]
        rows.append(Row(f"fig4a flip rate {precision} WAV", "flip_rate_mean_20_slots", float(slot_rates.mean()),
                        PAPER_MEAN_FLIP if precision == "float32" else None, higher_is_better=False,
                        n=len(mono) - len(mono) % 8,
                        note="paper: float arithmetic only, no file; ours: the flow in float64, through the WAV file"))
        rows += [Row(f"fig4a flip rate {precision} WAV", f"flip_rate_beta_{i}", float(rates[i]),
                     higher_is_better=False) for i in B.SLOTS]
    return rows, measured


def precision_rows(parts: FH.Parts, cover: Audio, video: Video, workdir: Path) -> list[Row]:
    rows = []
    slots = ", ".join(f"b{i}" for i in parts.pcm_slots())
    for setting, refine in (("pcm-robust mode, 16-bit WAV", REFINE_STEPS),
                            ("pcm-robust mode, 16-bit WAV, one pass", 0)):
        pcm = FH.FlowHide(pcm=True, refine=refine).with_parts(parts)
        revealed, _, _ = run(pcm, cover, video, "PCM_16", workdir)
        p, s = fidelity(video, revealed)
        rows += [Row(setting, "secret_psnr", p, note=f"slots {slots}"), Row(setting, "secret_msssim", s),
                 Row(setting, "samples_per_video_second", per_second(pcm), higher_is_better=False)]
    float_mode = FH.FlowHide().with_parts(parts)
    revealed, _, _ = run(float_mode, cover, video, "PCM_16", workdir)
    p, s = fidelity(video, revealed)
    rows += [Row("float mode saved as 16-bit WAV (misuse)", "secret_psnr", p),
             Row("float mode saved as 16-bit WAV (misuse)", "secret_msssim", s)]
    revealed, _, _ = run(float_mode, cover, video, "PCM_24", workdir)
    p, s = fidelity(video, revealed)
    rows += [Row("float mode saved as 24-bit WAV", "secret_psnr", p),
             Row("float mode saved as 24-bit WAV", "secret_msssim", s)]
    return rows


def cover_rows(parts: FH.Parts, cover: Audio, video: Video, workdir: Path) -> list[Row]:
    """Stego channel vs cover channel for the bundled cover and, where installed, 12 s of real recorded speech
    (train/data.RECORDED_HELD_OUT); the secret's fidelity beside them."""
    from crossteg.errors import CrossTegError
    from crossteg.train import data

    covers = {"speech_1.wav": cover}
    try:
        clip = next(data.speech_clips(np.random.default_rng(5), 1, 12.0, 12.0, SAMPLE_RATE,
                                      data.held_out_voices("recorded"), "recorded"))
        covers["12 s of held-out recorded speech"] = Audio(clip[None], SAMPLE_RATE)
    except CrossTegError as error:
        print(f"cover fidelity on recorded speech skipped: {error}", flush=True)
    rows = []
    for name, audio in covers.items():
        revealed, loaded, _ = run(FH.FlowHide(refine=REFINE_STEPS).with_parts(parts), audio, video, "FLOAT", workdir)
        stego_ch, cover_ch = loaded.samples[0], loaded.samples[1]
        c16 = at_16k(cover_ch)
        setting = f"cover fidelity: stego channel vs cover ({name})"
        psnr, msssim = fidelity(video, revealed)
        rows += [Row(setting, "container_snr", metrics.snr(cover_ch, stego_ch), note="paper: user study only"),
                 *speech_rows(setting, c16, at_16k(stego_ch), "paper: 95 % of listeners heard no difference"),
                 Row(setting, "secret_psnr", psnr,
                     note=f"the bundled clip, float32 stereo WAV, -O refine={REFINE_STEPS}"),
                 Row(setting, "secret_msssim", msssim),
                 *speech_rows(f"WaveGlow's own sample from the cover's mel, no hiding ({name})", c16,
                              at_16k(sample_from_mel(parts, cover_ch)), "Gaussian latent, sigma 0.7: the vocoding "
                              "alone, the ceiling of the stego rows")]
    return rows


def at_16k(samples: np.ndarray) -> np.ndarray:
    """Mono samples at WaveGlow's rate -> 16 kHz in [-1, 1] (PESQ-WB and STOI's rate)."""
    return np.clip(Audio(samples[None], SAMPLE_RATE).resample(16_000).samples[0], -1, 1)


def speech_rows(setting: str, reference: np.ndarray, test: np.ndarray, note: str) -> list[Row]:
    """PESQ-WB and STOI of `test` against `reference` (both 16 kHz)."""
    n = min(len(reference), len(test))
    return [Row(setting, "container_pesq", metrics.pesq_wb(reference[:n], test[:n], 16_000),
                note=f"PESQ-WB at 16 kHz; {note}"),
            Row(setting, "container_stoi", metrics.stoi(reference[:n], test[:n], 16_000))]


@torch.no_grad()
def sample_from_mel(parts: FH.Parts, samples: np.ndarray, sigma: float = 0.7) -> np.ndarray:
    """WaveGlow's audio for `samples`' log-mel from a seeded Gaussian latent (no bits hidden)."""
    z = torch.randn((1, parts.waveglow.config.n_group, len(samples) // parts.waveglow.config.n_group),
                    generator=torch.Generator().manual_seed(0)) * sigma
    return FH.synthesise(parts.waveglow, z.numpy().reshape(-1), np.ascontiguousarray(samples, np.float32))


def pan(image: np.ndarray, frames: int, height: int, width: int) -> Video:
    """A slow pan over `image` (resized to cover height x width with room to move)."""
    from skimage.transform import resize

    scale = max(height / image.shape[0], (width + 4 * frames) / image.shape[1])
    big = resize(image, (math.ceil(image.shape[0] * scale), math.ceil(image.shape[1] * scale)), anti_aliasing=True)
    return Video(np.stack([big[:height, 4 * t:4 * t + width] for t in range(frames)]).astype(np.float32), FPS)


def hd_rows(parts: FH.Parts, workdir: Path) -> list[Row]:
    import skimage.data

    rows = []
    for k in (4, 8):
        samples = per_second(FH.FlowHide(iterations=k).with_parts(parts), 480, 848)
        rows.append(Row(f"480p K={k}", "seconds_of_audio_per_video_second", samples / SAMPLE_RATE,
                        10.0 if k == 4 else 20.0, higher_is_better=False,
                        note="848x480 at 30 fps; paper: 10 s for K = 4, twice that for K = 8"))
    video = pan(skimage.data.astronaut().astype(np.float32) / 255, 3, 480, 848)  # astronaut: never trained on
    cover = media.load(assets_dir() / "speech_long.wav")
    for refine, label in ((0, "one pass (the default)"), (REFINE_STEPS, f"-O refine={REFINE_STEPS}")):
        revealed, _, times = run(FH.FlowHide(refine=refine).with_parts(parts), cover, video, "FLOAT", workdir)
        p, s = fidelity(video, revealed)
        setting = "480p K=4 (3 frames, astronaut pan, speech_long.wav)" + (", refined bits" if refine else "")
        rows += [Row(setting, "secret_psnr", p, note=label),
                 Row(setting, "secret_msssim", s, 0.96, note="paper: MS-SSIM > 0.96 (DAVIS 480p)"),
                 Row(setting, "hide_seconds", times["hide_seconds"])]
    return rows


def speed_rows(parts: FH.Parts, cover: Audio, video: Video, workdir: Path) -> list[Row]:
    second = Video(np.concatenate([video.frames, video.frames])[:FPS], FPS)  # 30 frames = 1 s at 30 fps
    rows = []
    for refine, label in ((REFINE_STEPS, f"refined bits (-O refine={REFINE_STEPS})"), (0, "one pass")):
        _, _, times = run(FH.FlowHide(refine=refine).with_parts(parts), cover, second, "FLOAT", workdir)
        setting = f"speed 1s 128x128 video (30 frames) in {cover.duration:.1f} s speech" + ("" if refine else
                                                                                           ", one pass")
        rows += [Row(setting, "hide_seconds", times["hide_seconds"], note=f"{label}; incl. scrypt key stretching"),
                 Row(setting, "reveal_seconds", times["reveal_seconds"])]
    return rows


def plot(measured: dict[str, np.ndarray], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    card = json.loads((WEIGHTS_DIR / f"{FH.ICN_NAME}.json").read_text())
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    for precision, rates in measured.items():
        axes[0].plot(range(32), rates, marker=".", label=precision)
    axes[0].set(xlabel="bit position i (beta_i)", ylabel="flip rate", title="(a) flip rate per position",
                yscale="symlog", ylim=(0, 0.6))
    axes[0].axvspan(21.5, 30.5, color="grey", alpha=0.2, label="fixed bits")
    axes[0].legend(fontsize=8)
    w = card.get("bit_importance", {}).get("4", [])
    axes[1].bar(range(1, len(w) + 1), w)
    axes[1].set(xlabel="bit j (K = 4)", ylabel="importance (normalised)", title="(b) ICN bit importance")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", default="all", help=f"comma-separated, of: {', '.join(STEPS)}")
    parser.add_argument("--merge", action="store_true", help="keep the existing file's rows of the other steps")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    steps = list(STEPS) if args.steps == "all" else args.steps.split(",")
    parts = FH.load_parts()
    cover = media.load(assets_dir() / "speech_1.wav")
    video = media.load(assets_dir() / "clip.mp4")
    results = Results("flowhide-tables", "flowhide", COMMAND)
    measured: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="crossteg-flowhide-bench-") as tmp:
        work = Path(tmp)
        jobs = {"table1": lambda: table1(parts, cover, video, work), "convnet": lambda: convnet_rows(video, work),
                "precision": lambda: precision_rows(parts, cover, video, work),
                "cover": lambda: cover_rows(parts, cover, video, work),
                "mono": lambda: mono_rows(parts, cover, video, work),
                "speed": lambda: speed_rows(parts, cover, video, work), "480p": lambda: hd_rows(parts, work)}
        for name in steps:
            start = time.perf_counter()
            if name == "fig4":
                rows, measured = flip_rows(parts, cover)
            else:
                rows = jobs[name]()
            results.rows += rows
            print(f"{name}: {time.perf_counter() - start:.0f}s", flush=True)
    out = args.out / "flowhide-tables.json"
    if args.merge and out.exists():  # re-measured settings replace their old rows; the rest stay
        fresh = {r.setting for r in results.rows}
        kept, previous = previous_rows(out, lambda row: row.setting not in fresh)
        results.rows = kept + results.rows
        results.command = merged_command(previous, f"{COMMAND} --steps {','.join(steps)} --merge")
    results.write(out)
    if measured:
        plot(measured, args.out / "flowhide-fig4.png")
    print(results.to_markdown())


if __name__ == "__main__":
    main()
