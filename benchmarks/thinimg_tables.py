"""THInImg (Zhao et al.) tables 1, 2 and 3 and the speed of hide/reveal: our numbers beside the paper's.

    python -m benchmarks.thinimg_tables [--pairs 12] [--threads 1] [--tables 1,2,3,speed] [--out DIR]
    python -m benchmarks.thinimg_tables --tables keys --models single,80s,nested   (those models' key rows)

Every pair is hidden with the shipped weights, the container written as an 8-bit PNG, read back, and revealed
from the file; the speech comes back through the default vocoder (hybrid: codecs/vocoder.py) and, for table 1,
also through Griffin-Lim alone (rows `... griffin-lim`). Test data is
never trained on: held-out espeak-ng voices (train/data.split_voices) at random lengths 1-10 s (PESQ needs
about a second; the paper draws 0-10 s) and the bundled speech assets (speech_1-4, speech_long cut to 10 s);
covers are 160 x 160 crops of the astronaut portrait (kept out of training; assets/face160.png is one).
The paper's speech is LJ Speech / CMU-ARCTIC and its faces FFHQ, with a WaveNet vocoder.

* table 1, mel row: container PSNR/SSIM from the PNG; PESQ-WB and STOI of the revealed speech, and of the
  original mel through the same vocoder (`*_ceiling`: the decompressor's own limit, so the hiding loss
  and the vocoder loss are apart); PSNR of the revealed hidden tensor from the PNG and from the float container;
  for the pairs hidden in the bundled face160.png, the paper's PIQE column: `video_piqe`, the mean PIQE of every
  third decoded frame of the talking head (crossteg.talkinghead; the paper: MakeItTalk) of the saved container
  saying the revealed speech, beside `container_piqe`, the container's own.
* table 1 on real recorded speech (`--tables 1r`): the mel rows for clips strung from prompts of two recorded
  speakers never trained on (train/data.RECORDED_HELD_OUT: asterisk's fr_CA voice, 16 kHz G.722, and
  alsa-utils' test voice; `apt-get install asterisk-core-sounds-fr-g722 alsa-utils`).
* table 1, raw and STFT rows (`--tables 1f`): each format's own model (thinimg-raw-10s, thinimg-stft-10s) where
  shipped, on the same pairs, revealed through the format's own inversion; and each format's codec-only
  ceiling.
* table 2 (longer speech per image, c = 4/8/16): each shipped thinimg-mel-20s/40s/80s model on held-out voices
  at random 1-S s; lengths without a model get the paper's numbers and an empty row.
* table 3 (nested, two levels): our nested model covers 0-10 s per level (the paper's shortest row is 0-20 s).
* keys: for every shipped model, how often reveal refuses a wrong key (and the most confident wrong read), the
  least confident right-key read it accepts, and how often a one-pass hide is refused as unrevealable.
* speed: seconds to hide and to reveal 10 s of speech on this machine (best of 2).

Every table is measured twice on the same pairs: with the paper's hide, E1's one pass (`refine=0`), and in rows
marked "refinement (ours)" with the CLI's default hide, which refines the container through the fixed revealing
network(s) (methods/thinimg.py).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from crossteg import media, metrics
from crossteg.codecs import mel
from crossteg.errors import CapacityError, CrossTegError, KeyError_
from crossteg.evaluate import assets_dir
from crossteg.media import Audio, Image
from crossteg.media.audio import fit_length
from crossteg.methods import get_method
from crossteg.methods import thinimg as T
from crossteg.methods.base import WEIGHTS_DIR
from crossteg.results import Results, Row, merged_command

COMMAND = "python -m benchmarks.thinimg_tables"
KEY, KEY2 = "thinimg-tables", "thinimg-tables level 2"
PAPER_T1 = {"mel": (41.50, 0.979, 3.639), "raw": (41.50, 0.979, 1.855), "stft": (55.94, 0.999, 1.697)}  # LJ Speech
CMU_NOTE = "paper CMU-ARCTIC row: {} / {} / PESQ {}"
PAPER_T1_CMU = {"mel": (44.66, 0.989, 3.215), "raw": (38.08, 0.965, 2.026), "stft": (53.20, 0.998, 2.132)}
PAPER_T2 = {20: ((39.72, 0.970, 3.370), (40.44, 0.976, 3.107)), 40: ((30.85, 0.895, 3.111), (37.00, 0.954, 2.880)),
            80: ((28.25, 0.811, 2.482), (30.03, 0.893, 2.382))}  # table 2: LJ Speech, CMU-ARCTIC
PAPER_T3_20S = (39.60, 0.967, 3.521, 3.414)  # table 3, 0-20 s: PSNR, SSIM, PESQ first and second level
ONE_PASS = {"refine": 0}  # the paper's hide: E1's one pass (hide-time refinement, ours, has rows of its own)
REFINED = f" + {T.REFINE_STEPS}-step refinement (ours)"  # suffix of the rows hidden with the CLI's default
HIDES = (("", ONE_PASS), (REFINED, {}))  # (row suffix, thinimg options): each table is measured both ways
PAPER_PIQE = 46.59  # table 1, mel row, LJ Speech: PIQE of the talking-head frames (MakeItTalk); CMU-ARCTIC 46.23


def faces(count: int) -> list[Image]:
    """160 x 160 astronaut crops (held out of training): the bundled face160.png first."""
    import skimage.data
    from skimage.transform import resize

    out = [media.load_image(assets_dir() / "face160.png")]
    face = skimage.data.astronaut().astype(np.float32) / 255
    rng = np.random.default_rng(7)
    while len(out) < count:
        side = int(rng.integers(150, 330))
        y, x = int(rng.integers(0, 512 - side)), int(rng.integers(0, 512 - side))
        crop = resize(face[y:y + side, x:x + side], (160, 160), anti_aliasing=True).astype(np.float32)
        out.append(Image.from_uint8(np.round(crop * 255).astype(np.uint8)))
    return out


def speech_sets(pairs: int) -> dict[str, list[Audio]]:
    """Held-out voices (random 1-10 s) and the bundled speech."""
    from crossteg.train import data

    _, voices = data.split_voices()
    rng = np.random.default_rng(2026)
    held = [Audio(c, mel.SAMPLE_RATE) for c in data.speech_clips(rng, pairs, 1.0, 10.0, voice_pool=voices)]
    bundled = [media.load_audio(assets_dir() / f"speech_{k}.wav", mel.SAMPLE_RATE, mono=True) for k in range(1, 5)]
    long = media.load_audio(assets_dir() / "speech_long.wav", mel.SAMPLE_RATE, mono=True)
    bundled.append(Audio(long.samples[:, :10 * mel.SAMPLE_RATE], mel.SAMPLE_RATE))
    return {"held-out voices": held, "bundled speech": bundled}


def recorded_set(pairs: int) -> dict[str, list[Audio]]:
    """Clips of 1-10 s strung from the held-out recorded speakers' prompts."""
    from crossteg.train import data

    rng = np.random.default_rng(2026)
    clips = data.speech_clips(rng, pairs, 1.0, 10.0, voice_pool=data.held_out_voices("recorded"),
                              engine="recorded")
    return {"recorded voices": [Audio(c, mel.SAMPLE_RATE) for c in clips]}


def speech_scores(original: Audio, revealed: Audio, prefix: str = "secret") -> dict[str, float]:
    a = original.samples[0]
    b = fit_length(revealed.samples[0], len(a))
    return {f"{prefix}_pesq": metrics.pesq_wb(a, b, mel.SAMPLE_RATE),
            f"{prefix}_stoi": metrics.stoi(a, b, mel.SAMPLE_RATE)}


def intruder_stoi(original: Audio, revealed: Audio) -> float:
    """STOI of what a wrong key reveals (0 when it reveals (almost) nothing: no PESQ of silence)."""
    n = min(original.frames, revealed.frames)
    if n < 4000 or not revealed.samples[0, :n].any():
        return 0.0
    return metrics.stoi(original.samples[0, :n], revealed.samples[0, :n], mel.SAMPLE_RATE)


def level2_with_level1_key(method: T.THInImg, saved: Image, second: Audio) -> dict[str, float]:
    """What the holder of level 1 gets at level 2: refused (KeyError_), or the STOI of what came out."""
    try:
        intruder = method.reveal(saved, KEY, level=2)
    except KeyError_:
        return {"level2_refused_with_level1_key": 1.0, "secret_level2_stoi_with_level1_key": 0.0}
    return {"level2_refused_with_level1_key": 0.0,
            "secret_level2_stoi_with_level1_key": intruder_stoi(second, intruder)}


def ceiling(speech: Audio, fmt: str = "mel") -> dict[str, float]:
    """The codec of format `fmt` alone (its own inversion, Griffin-Lim for the mel)."""
    layout = mel.Layout(fmt, mel.FORMATS[fmt])
    back = Audio(mel.decompress(mel.compress(speech.samples[0], layout), layout), mel.SAMPLE_RATE)
    return {k + "_ceiling": v for k, v in speech_scores(speech, back).items()}


def vocoder_scores(method: T.THInImg, speech: Audio, revealed: Audio) -> dict[str, float]:
    """Revealed speech and the vocoder's ceiling (the original mel through the same vocoder)."""
    return {**speech_scores(speech, revealed),
            **{k + "_ceiling": v for k, v in speech_scores(speech, method.decompressor_reference(speech)).items()}}


def round_trip(method: T.THInImg, cover: Image, speech: Audio, path: Path
               ) -> tuple[Image, Audio, dict[str, float]]:
    """Hide, save the PNG, read it back, reveal: (the saved container, the revealed speech, their scores)."""
    saved = media.load_image(media.save(method.hide(cover, speech, KEY), path, force=True))
    revealed = method.reveal(saved, KEY)
    return saved, revealed, {"container_psnr": metrics.psnr(cover.pixels, saved.pixels),
                             "container_ssim": metrics.ssim(cover.pixels, saved.pixels),
                             **vocoder_scores(method, speech, revealed),
                             "secret_length_exact": float(revealed.frames == speech.frames)}


def talking_head_piqe(container: Image, revealed: Audio, path: Path, stride: int = 3) -> dict[str, float]:
    """The paper's PIQE column: the talking head of the saved container saying the revealed speech, written as
    mp4 and decoded again; mean PIQE of every `stride`-th decoded frame, and of the container itself."""
    from crossteg.talkinghead import speak

    media.save(speak(container, revealed), path, force=True)
    frames = media.load(path).frames[::stride]
    return {"video_piqe": metrics.video_piqe(frames), "container_piqe": metrics.piqe(container.pixels)}


def tensor_psnr(method: T.THInImg, cover: Image, speech: Audio, saved: Image) -> dict[str, float]:
    """PSNR of the revealed (shuffled) hidden tensor against the one hidden: the one pass's float container vs the
    saved PNG."""
    model = method._load(T.SINGLE)
    hidden = torch.from_numpy(method._tensors(T.speech_samples(speech), T.level_shuffle(KEY, 1, model.layout.shape),
                                               model.layout, 1))
    with torch.no_grad():
        container = model.layers[0](torch.from_numpy(T.tiles_of(cover)), hidden)[0]
        from_float = model.layers[0].reverse(container)[1].clamp(0, 1).numpy()
    from_png = method._revealed(model, T.tiles_of(saved), 1)
    return {"secret_tensor_psnr_float": metrics.psnr(hidden.numpy(), from_float),
            "secret_tensor_psnr_png": metrics.psnr(hidden.numpy(), from_png)}


def hide_note(method: T.THInImg) -> str:
    """How `method` hides: the paper's one pass, or refined (the CLI's default)."""
    if not method.refine:
        return "the paper's one-pass hide"
    return f"the CLI's default hide: the one pass refined {method.refine} steps through the revealing network (ours)"


def mean_rows(setting: str, scores: list[dict[str, float]], paper: dict[str, float], note: str,
              paper_note: str = "") -> list[Row]:
    """One row per metric: the mean over the pairs; `paper_note` is added where the paper has a number."""
    names = list(dict.fromkeys(k for s in scores for k in s))
    return [Row(setting, k, float(np.mean([s[k] for s in scores if k in s])), paper.get(k),
                n=sum(k in s for s in scores), note=note + (paper_note if k in paper else "")) for k in names]


def table1(folder: Path, sets: dict[str, list[Audio]], covers: list[Image]) -> list[Row]:
    method = get_method("thinimg", model="single", **ONE_PASS)
    griffin_lim = get_method("thinimg", model="single", vocoder="griffin-lim", **ONE_PASS)
    refined = get_method("thinimg", model="single")
    assert isinstance(method, T.THInImg) and isinstance(griffin_lim, T.THInImg) and isinstance(refined, T.THInImg)
    psnr_, ssim_, pesq_ = PAPER_T1["mel"]
    paper = {"container_psnr": psnr_, "container_ssim": ssim_, "secret_pesq": pesq_}
    rows = []
    for name, clips in sets.items():
        scores, gl_scores, piqe_scores, refined_scores = [], [], [], []
        for k, speech in enumerate(clips):
            cover = covers[k % len(covers)]
            saved, revealed, score = round_trip(method, cover, speech, folder / f"t1-{k}.png")
            scores.append({**score, **tensor_psnr(method, cover, speech, saved)})
            if k % len(covers) == 0:  # the bundled face160.png: a whole frontal face for the face mesh
                piqe_scores.append(talking_head_piqe(saved, revealed, folder / f"t1-{k}.mp4"))
            gl_scores.append(vocoder_scores(griffin_lim, speech, griffin_lim.reveal(saved, KEY)))
            refined_png, _, score = round_trip(refined, cover, speech, folder / f"t1r-{k}.png")
            tensor = tensor_psnr(refined, cover, speech, refined_png)["secret_tensor_psnr_png"]
            refined_scores.append({**score, "secret_tensor_psnr_png": tensor})
            print(f"  table1 {name} {k}: {scores[-1]} griffin-lim {gl_scores[-1]} {piqe_scores[-1:]} "
                  f"refined {refined_scores[-1]}", flush=True)
        note = f"{name}, from saved PNG, {method.vocoder} vocoder (the default)"
        paper_note = "; paper: LJ Speech, WaveNet vocoder; " + CMU_NOTE.format(*PAPER_T1_CMU["mel"])
        rows += mean_rows(f"table1 mel 0-10s {name}", scores, paper, f"{note}, {hide_note(method)}", paper_note)
        rows += mean_rows(f"table1 mel 0-10s {name}{REFINED}", refined_scores, paper,
                          f"{note}, {hide_note(refined)}, the same pairs", paper_note)
        rows += mean_rows(f"table1 mel 0-10s {name} griffin-lim", gl_scores, {"secret_pesq": pesq_},
                          f"{name}, the same PNGs revealed through Griffin-Lim (64 iterations)", paper_note)
        rows += mean_rows(f"table1 mel 0-10s {name} talking head", piqe_scores, {"video_piqe": PAPER_PIQE},
                          f"{name} in face160.png: talking head (crossteg.talkinghead) of the saved container saying "
                          f"the revealed speech, mp4 decoded, 1 in 3 frames", "; paper: MakeItTalk, LJ Speech "
                          "(CMU-ARCTIC 46.23)")
    return rows


def table1_formats(folder: Path, sets: dict[str, list[Audio]], covers: list[Image]) -> list[Row]:
    """Table 1's raw and STFT rows: each format's own single-layer model where shipped (hidden, saved, revealed
    through the format's own inversion), and always the format's codec-only ceiling."""
    rows = []
    for fmt, name in T.OTHER_FORMATS.items():
        psnr_, ssim_, pesq_ = PAPER_T1[fmt]
        paper_note = "; paper: LJ Speech; " + CMU_NOTE.format(*PAPER_T1_CMU[fmt])
        if (T.WEIGHTS_DIR / f"{name}.safetensors").exists():
            for suffix, options in HIDES:
                method = get_method("thinimg", model=fmt, **options)
                assert isinstance(method, T.THInImg)
                for set_name, clips in sets.items():
                    scores = [round_trip(method, covers[k % len(covers)], speech, folder / f"t1{fmt}-{k}.png")[2]
                              for k, speech in enumerate(clips)]
                    print(f"  table1 {fmt}{suffix} {set_name}: {scores}", flush=True)
                    rows += mean_rows(f"table1 {fmt} 0-10s {set_name}{suffix}", scores,
                                      {"container_psnr": psnr_, "container_ssim": ssim_, "secret_pesq": pesq_},
                                      f"{set_name}, from saved PNG, {name} (the format's own inversion), "
                                      f"{hide_note(method)}", paper_note)
        else:
            rows.append(Row(f"table1 {fmt} 0-10s", "container_psnr", None, psnr_, note="no model trained for this "
                            f"format (`crossteg train thinimg --format {fmt}` trains one)"))
        scores = [ceiling(s, fmt) for s in sets["bundled speech"]]
        rows += mean_rows(f"table1 {fmt} 0-10s codec only", scores, {}, "codec only (no hiding), bundled speech; "
                          f"paper PESQ {pesq_} (LJ), {PAPER_T1_CMU[fmt][2]} (CMU)")
    return rows


def table2_setting(seconds: int) -> str:
    """The setting of Table 2's rows for `seconds` of speech per image."""
    return f"table2 mel 0-{seconds}s"


def table2(folder: Path, pairs: int, covers: list[Image], lengths: tuple[int, ...] = tuple(PAPER_T2)) -> list[Row]:
    """Single-layer models for longer speech per 160 x 160 image (`lengths` in s): held-out voices at 1-S s."""
    from crossteg.train import data

    _, voices = data.split_voices()
    rows = []
    for seconds in lengths:
        lj, cmu = PAPER_T2[seconds]
        name = T.LONGER[f"{seconds}s"]
        paper = {"container_psnr": lj[0], "container_ssim": lj[1], "secret_pesq": lj[2]}
        paper_note = "; paper: LJ Speech, WaveNet vocoder; " + CMU_NOTE.format(*cmu)
        if not (WEIGHTS_DIR / f"{name}.safetensors").exists():
            rows += [Row(table2_setting(seconds), k, None, v, note="no model trained for this length on the CPU "
                         f"budget (`crossteg train thinimg --seconds {seconds}` trains one)" + paper_note)
                     for k, v in paper.items()]
            continue
        rng = np.random.default_rng(2027 + seconds)
        clips = [Audio(c, mel.SAMPLE_RATE) for c in data.speech_clips(rng, pairs, 1.0, seconds, voice_pool=voices)]
        for suffix, options in HIDES:
            method = get_method("thinimg", model=f"{seconds}s", **options)
            assert isinstance(method, T.THInImg)
            scores, refused = [], 0
            for k, speech in enumerate(clips):
                cover = covers[k % len(covers)]
                try:
                    scores.append(round_trip(method, cover, speech, folder / f"t2-{k}.png")[2])
                except CapacityError as error:  # hide's own check: this container would not reveal
                    refused += 1
                    print(f"  table2 {seconds}s{suffix} {k}: refused: {error}", flush=True)
                    continue
                print(f"  table2 {seconds}s{suffix} {k}: {scores[-1]}", flush=True)
            note = (f"{name} (c = {method._load(name).layout.channels}), held-out voices at 1-{seconds} s, one "
                    f"160 x 160 face each, from saved PNG, {method.vocoder} vocoder, {hide_note(method)}")
            rows += mean_rows(table2_setting(seconds) + suffix, scores, paper, note, paper_note)
            rows.append(Row(table2_setting(seconds) + suffix, "hide_refused", refused / len(clips), n=len(clips),
                            higher_is_better=False, note="fraction of clips whose container's length header would "
                            "not read back (hide refuses them: exit 3); the other rows average the rest"))
    return rows


def table3(folder: Path, clips: list[Audio], covers: list[Image]) -> list[Row]:
    rows = []
    for suffix, options in HIDES:
        method = get_method("thinimg", model="nested", level2_key=KEY2, **options)
        assert isinstance(method, T.THInImg)
        rows += table3_rows(method, suffix, folder, clips, covers)
    return rows


def table3_rows(method: T.THInImg, suffix: str, folder: Path, clips: list[Audio], covers: list[Image]) -> list[Row]:
    """Table 3 with `method`: pairs of clips, one per level, each pair in one face."""
    scores = []
    for k in range(0, len(clips) - 1, 2):
        first, second = clips[k], clips[k + 1]
        cover = covers[k % len(covers)]
        stego = method.hide(cover, [first, second], KEY)
        saved = media.load_image(media.save(stego, folder / f"t3-{k}.png", force=True))
        level1, level2 = method.reveal(saved, KEY, level=1), method.reveal(saved, KEY2, level=2)
        intruder = level2_with_level1_key(method, saved, second)
        scores.append({"container_psnr": metrics.psnr(cover.pixels, saved.pixels),
                       "container_ssim": metrics.ssim(cover.pixels, saved.pixels),
                       **speech_scores(first, level1, "secret_level1"),
                       **speech_scores(second, level2, "secret_level2"),
                       **intruder})
        print(f"  table3{suffix} {k}: {scores[-1]}", flush=True)
    psnr_, ssim_, p1, p2 = PAPER_T3_20S
    note = (f"held-out voices, 0-10 s per level, from saved PNG, {method.vocoder} vocoder; paper's shortest nested "
            f"row is 0-20 s: "
            f"{psnr_} / {ssim_} / PESQ {p1} and {p2}; {hide_note(method)}")
    rows = mean_rows(f"table3 nested 0-10s{suffix}", scores, {}, note)
    for row in rows:
        if row.metric == "secret_level2_stoi_with_level1_key":
            row.higher_is_better = False
    return rows


def speed(folder: Path, covers: list[Image]) -> list[Row]:
    long = media.load_audio(assets_dir() / "speech_long.wav")
    speech = Audio(long.samples[:, :10 * mel.SAMPLE_RATE], mel.SAMPLE_RATE)
    rows = []
    for suffix, options in HIDES:
        method = get_method("thinimg", model="single", **options)
        assert isinstance(method, T.THInImg)
        hide_s, reveal_s = [], []
        for _ in range(2):
            start = time.perf_counter()
            stego = method.hide(covers[0], speech, KEY)
            hide_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            method.reveal(stego, KEY)
            reveal_s.append(time.perf_counter() - start)
        note = f"best of 2, {torch.get_num_threads()} torch thread(s); reveal includes the {method.vocoder} vocoder"
        rows += [Row(f"speed 10s speech 160px{suffix}", "hide_seconds", min(hide_s), note=note),
                 Row(f"speed 10s speech 160px{suffix}", "reveal_seconds", min(reveal_s), note=note)]
    return rows


def key_models() -> list[tuple[str, str, int]]:
    """(weights name, the model option that forces it, seconds per tile) of every thinimg model, shipped or not."""
    return [(T.SINGLE, "single", 10), *((v, k, int(k[:-1])) for k, v in T.LONGER.items()),
            *((v, k, 10) for k, v in T.OTHER_FORMATS.items()), (T.ROBUST, "robust", 10), (T.NESTED, "nested", 10)]


def key_checks(folder: Path, covers: list[Image], pairs: int, wrong: int = 6,
               only: tuple[str, ...] = ()) -> list[Row]:
    """Keys against every shipped model's containers (the paper's one-pass hide, saved PNG, held-out voices at
    1-S s for an S-second model), read as the CLI's reveal reads them (model auto: every model tried): the fraction
    of clips hide refuses because the right key's read would not be accepted; of the others, the fraction whose
    right-key read is accepted with the exact length, the fraction read with the model that wrote it, and their
    lowest confidence; of `wrong` wrong keys' reads the
    fraction reveal refuses (KeyError_: not HeaderRead.accepted) and the highest confidence. `only`: the model
    options (single, 20s, ..., nested) to measure, default all."""
    from crossteg.train import data

    _, voices = data.split_voices()
    rows = []
    for name, option, seconds in key_models():
        if (only and option not in only) or not (WEIGHTS_DIR / f"{name}.safetensors").exists():
            continue
        method = get_method("thinimg", model=option, **ONE_PASS)
        assert isinstance(method, T.THInImg)
        rng = np.random.default_rng(2100 + seconds)
        clips = [Audio(c, mel.SAMPLE_RATE) for c in data.speech_clips(rng, pairs, 1.0, seconds, voice_pool=voices)]
        levels = (1, 2) if name == T.NESTED else (1,)
        refused, right, reads = 0, [], []
        pilots: dict[int, list[float]] = {level: [] for level in levels}
        reader = method if option in T.OTHER_FORMATS else get_method("thinimg")  # raw, stft: named at reveal too
        assert isinstance(reader, T.THInImg)
        for k in range(0, len(clips) - len(levels) + 1, len(levels)):
            secret = clips[k:k + len(levels)]
            try:
                stego = method.hide(covers[k % len(covers)], secret if len(secret) == 2 else secret[0], KEY)
            except CapacityError:
                refused += 1
                continue
            tiles = reader._tiles(media.load_image(media.save(stego, folder / f"keys-{k}.png", force=True)))
            for level, clip in zip(levels, secret, strict=True):
                read = reader._locate(tiles, KEY, level)
                right.append((read.accepted and read.total == len(T.speech_samples(clip)), read.confidence,
                              read.model.card["name"] == name))
                pilots[level].append(T.header_psnr(reader._clip_tensors(tiles, KEY, level, read), read.model.layout,
                                                   read.total))
                for j in range(wrong):
                    read = reader._locate(tiles, f"wrong key {j}", level)
                    reads.append((read.accepted, read.confidence))
        setting = f"keys {name}" + (" (both levels)" if len(levels) == 2 else "")
        note = f"{len(reads)} wrong-key reads of {len(right)} containers' levels; the 1-{seconds} s clips"
        rows += [Row(setting, "hide_refused", refused / (len(clips) // len(levels)), higher_is_better=False,
                     n=len(clips) // len(levels), note="one-pass hide refused: its container would not reveal"),
                 Row(setting, "right_key_revealed", float(np.mean([a for a, _, _ in right])) if right else None,
                     n=len(right), note=note + "; accepted with the exact length"),
                 Row(setting, "right_key_writer_model", float(np.mean([w for _, _, w in right])) if right else None,
                     n=len(right), note=note + "; read with the model that wrote it"),
                 Row(setting, "right_key_min_confidence", min((c for _, c, _ in right), default=None), n=len(right),
                     note=note),
                 Row(setting, "wrong_key_refused", float(np.mean([not a for a, _ in reads])) if reads else None,
                     n=len(reads), note=note),
                 Row(setting, "wrong_key_max_confidence", max((c for _, c in reads), default=None),
                     higher_is_better=False, n=len(reads), note=note)]
        for level, values in pilots.items():
            rows.append(Row(setting, f"level{level}_clean_header_psnr", min(values, default=None), n=len(values),
                            note=note + "; the lowest; written to the card: reveal warns thinimg.DEGRADED_DB below it"))
        print(f"  keys {name}: {rows[-6 - len(pilots):]}", flush=True)
        if all(pilots.values()):
            record_clean_header(name, {level: min(values) for level, values in pilots.items()})
    return rows


def record_clean_header(name: str, lowest: dict[int, float]) -> None:
    """Write each level's lowest clean header PSNR into model `name`'s weights card (metrics), where reveal reads
    it (thinimg.warn_if_degraded); the card's sha256 covers the weights only."""
    import json

    path = WEIGHTS_DIR / f"{name}.json"
    card = json.loads(path.read_text())
    card.setdefault("metrics", {}).update({f"level{level}_clean_header_psnr": round(value, 2)
                                           for level, value in lowest.items()})
    card["metrics_note"] = card.get("metrics_note", "").split(" levelN_clean_header_psnr")[0].rstrip(";") + (
        "; levelN_clean_header_psnr: the lowest PSNR (dB) of the length header revealed from untouched one-pass PNG "
        f"containers ({COMMAND} --tables keys); reveal warns thinimg.DEGRADED_DB below it.")
    path.write_text(json.dumps(card, indent=2) + "\n")


TABLES = ("1", "1r", "1f", "2", "3", "keys", "speed")  # 1r: table 1 on recorded speech; 1f: its raw and STFT rows
# the settings' prefixes of each table's rows (table 2's rows are told apart by length: see merged)
PREFIXES = {"1": ("table1 mel 0-10s held-out voices", "table1 mel 0-10s bundled speech"),
            "1r": ("table1 mel 0-10s recorded voices",), "1f": ("table1 raw ", "table1 stft "), "3": ("table3 ",),
            "keys": ("keys ",),
            "speed": ("speed ",)}


def merged(path: Path, command: str, tables: list[str], lengths: tuple[int, ...] = tuple(PAPER_T2),
           models: tuple[str, ...] = ()) -> Results:
    """The results file at `path` with the rows of `tables` (table 2: of `lengths`; keys: of `models`, default
    all) removed: re-measured now."""
    results = Results("thinimg-tables", "thinimg", command)
    if path.exists():
        import json

        old = json.loads(path.read_text())
        prefixes = tuple(p for t in tables for p in PREFIXES.get(t, ()) if not (t == "keys" and models))
        if "keys" in tables and models:  # "keys NAME" and "keys NAME (both levels)"
            prefixes += tuple(f"keys {name}" for name, option, _ in key_models() if option in models)
        table2 = {table2_setting(s) for s in lengths} if "2" in tables else set()
        results.rows = [Row(**r) for r in old["rows"]
                        if not r["setting"].startswith(prefixes) and r["setting"].split(" + ")[0] not in table2]
        results.command = merged_command(old["command"], command, " && ")
    return results


def main(argv: list[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=12, help="held-out voice clips (default 12)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--tables", default=",".join(TABLES), help="comma-separated subset of 1,1r,1f,2,3,keys,speed "
                        "(1r: table 1 on recorded speech, 1f: table 1's raw and STFT rows); rows of the others are "
                        "kept from the results file")
    parser.add_argument("--seconds", default=",".join(map(str, PAPER_T2)),
                        help="table 2's lengths to re-measure (default all: 20,40,80); the others' rows are kept")
    parser.add_argument("--models", default="", help="the keys table's models to re-measure (of single, 20s, "
                        "40s, 80s, raw, stft, nested; default all); the others' rows are kept")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    tables = args.tables.split(",")
    models = tuple(m for m in args.models.split(",") if m)
    if any(m not in {option for _, option, _ in key_models()} for m in models):
        parser.error("--models takes " + ", ".join(option for _, option, _ in key_models()))
    if any(t not in TABLES for t in tables):
        parser.error(f"--tables takes {', '.join(TABLES)}")
    lengths = tuple(int(s) for s in args.seconds.split(","))
    if any(s not in PAPER_T2 for s in lengths):
        parser.error(f"--seconds takes {', '.join(map(str, PAPER_T2))}")
    torch.set_num_threads(args.threads)
    command = f"{COMMAND} --pairs {args.pairs} --threads {args.threads} --tables {args.tables}"
    if "2" in tables and lengths != tuple(PAPER_T2):
        command += f" --seconds {args.seconds}"
    if "keys" in tables and models:
        command += f" --models {args.models}"
    recorded: dict[str, list[Audio]] = {}
    if "1r" in tables:
        try:
            recorded = recorded_set(args.pairs)
        except CrossTegError as error:  # the Debian packages are missing: the earlier rows are kept
            print(f"skipping table 1 on recorded speech: {error}", flush=True)
            tables.remove("1r")
    path = args.out / "thinimg-tables.json"
    results = merged(path, command, tables, lengths, models)
    sets, covers = speech_sets(args.pairs), faces(6)
    with tempfile.TemporaryDirectory(prefix="thinimg-bench-") as tmp:
        if "1" in tables:
            results.rows += table1(Path(tmp), sets, covers)
        if recorded:
            results.rows += table1(Path(tmp), recorded, covers)
        if "1f" in tables:
            results.rows += table1_formats(Path(tmp), sets, covers)
        if "2" in tables:
            results.rows += table2(Path(tmp), args.pairs, covers, lengths)
        if "3" in tables:
            results.rows += table3(Path(tmp), sets["held-out voices"], covers)
        if "keys" in tables:
            results.rows += key_checks(Path(tmp), covers, args.pairs, only=models)
        if "speed" in tables:
            results.rows += speed(Path(tmp), covers)
    order = {"table1": 0, "table2": 1, "table3": 2, "keys": 3, "speed": 4}
    length = {table2_setting(s): s for s in PAPER_T2}
    # stable: keeps each table's order, table 2's rows by length
    results.rows.sort(key=lambda r: (order.get(r.setting.split()[0], 3), length.get(r.setting.split(" + ")[0], 0)))
    args.out.mkdir(parents=True, exist_ok=True)
    results.write(path)
    print(results.to_markdown())
    return results


if __name__ == "__main__":
    main()
