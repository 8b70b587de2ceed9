"""Vocoders for THInImg's decompressor (papers/thinimg.txt sec. 3.2, 4.3): Griffin-Lim vs the trained network.

    python -m benchmarks.vocoder [--clips 20] [--reveal-clips 6] [--out benchmarks/results]

* Rows under method `vocoder`: PESQ-WB and STOI of each vocoder (griffin-lim, neural, hybrid) on the *original*
  mel (codecs/mel.mel_spectrogram) of held-out espeak-ng voices (train/data.split_voices: never used in training),
  clips of 2-8 s; and the real-time factor (vocoding seconds per second of speech, one CPU thread, wall clock on
  the shared 2-core CPU; lower is better, < 1 is faster than real time).
* Rows under method `thinimg`: the same metrics on speech revealed from a saved container PNG (face160.png,
  single model) with each vocoder, beside the paper's Tab. 1 PESQ (LJ Speech, WaveNet vocoder).
* The same rows for speech of another synthesiser, flite (train/data.FLITE_VOICES; needs `apt-get install
  flite`): no model here was trained on it, so these rows tell whether what the vocoder and the hiding network
  learnt from espeak-ng's and festival's voices carries over (`--flite-clips 0` leaves them out).
* And for real recorded speech of speakers never trained on (train/data.RECORDED_HELD_OUT: asterisk's Canadian
  French prompts and alsa-utils' test voice; needs `apt-get install asterisk-core-sounds-fr-g722 alsa-utils`,
  `--recorded-clips 0` leaves them out).
* Diagnostic rows (`... (diagnostic)`, not vocoders: each reads the clip's own STFT) that say where the network
  loses: its magnitude under the clip's true phase, and the true magnitude under the hybrid's Griffin-Lim
  iterations started from the network's phase (`--no-diagnostics` leaves them out).
The held-out mean PESQ-WB, STOI and real-time factor are also written into the vocoder's weights card.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from crossteg import media, metrics
from crossteg.codecs import mel
from crossteg.codecs import vocoder as V
from crossteg.errors import CrossTegError
from crossteg.evaluate import assets_dir
from crossteg.media import Audio
from crossteg.methods import get_method
from crossteg.results import Results, Row

COMMAND = "python -m benchmarks.vocoder"
KINDS = ("griffin-lim", "neural", "hybrid")
PAPER_PESQ = 3.639  # Tab. 1, LJ Speech, mel format: recovered speech through the container, WaveNet vocoder
KEY = "vocoder-benchmark"


def held_out_clips(count: int, seed: int = 2027, engine: str = "espeak-ng") -> list[np.ndarray]:
    """`count` clips of 2-8 s of held-out espeak-ng voices (not the trainer's curve clips: another seed), of
    flite's voices (`engine="flite"`) or of the held-out recorded speakers (`engine="recorded"`)."""
    from crossteg.train import data

    return list(data.speech_clips(np.random.default_rng(seed), count, 2.0, 8.0, voice_pool=data.held_out_voices(engine),
                                  engine=engine))


HELD_OUT = "held-out voices"
FLITE = "flite voices"
RECORDED = "recorded voices"
NOTES = {HELD_OUT: "voices never used in training",
         FLITE: "flite's kal16, awb, rms, slt: another synthesiser, never used in training",
         RECORDED: "real recorded speech of two speakers never used in training: asterisk's fr_CA prompts (June "
                   "Wallack, 16 kHz G.722) and alsa-utils' test voice"}


def scores(reference: np.ndarray, test: np.ndarray) -> dict[str, float]:
    return {"secret_pesq": metrics.pesq_wb(reference, test, mel.SAMPLE_RATE),
            "secret_stoi": metrics.stoi(reference, test, mel.SAMPLE_RATE)}


def original_mel_rows(clips: list[np.ndarray], label: str = HELD_OUT) -> tuple[list[Row], dict[str, dict[str, float]]]:
    """Rows per vocoder on the clean mel of each clip (of the set `label`), and the means per vocoder."""
    rows, means = [], {}
    seconds = sum(len(c) for c in clips) / mel.SAMPLE_RATE
    for kind in KINDS:
        measured, spent = [], 0.0
        for clip in clips:
            features = mel.mel_spectrogram(clip)
            start = time.perf_counter()
            out = V.vocode(features, len(clip), kind)
            spent += time.perf_counter() - start
            measured.append(scores(clip, out))
        setting = f"{label}, original mel, {kind}"
        note = f"{len(clips)} clips of 2-8 s ({seconds:.0f} s), {NOTES[label]}"
        pesq = float(np.mean([m["secret_pesq"] for m in measured]))
        stoi = float(np.mean([m["secret_stoi"] for m in measured]))
        rows += [Row(setting, "secret_pesq", pesq, n=len(clips), note=note + "; PESQ-WB at 16 kHz; issue 7's "
                     f"goal 3.6 (the paper's Tab. 1 recovered speech, WaveNet, {PAPER_PESQ})", method="vocoder"),
                 Row(setting, "secret_stoi", stoi, n=len(clips), note=note, method="vocoder"),
                 Row(setting, "real_time_factor", spent / seconds, n=len(clips),
                     note=f"wall clock, 1 thread, {spent:.2f} s for {seconds:.0f} s of speech on the shared CPU",
                     method="vocoder")]
        means[kind] = {"pesq_wb": round(pesq, 3), "stoi": round(stoi, 4), "real_time_factor": round(spent / seconds, 4)}
        print(f"  {kind}: {means[kind]}", flush=True)
    return rows, means


def diagnostic_rows(clips: list[np.ndarray], label: str = HELD_OUT) -> list[Row]:
    """PESQ-WB of the network's magnitude with each clip's true phase, and of the true magnitude with the phase
    the hybrid's Griffin-Lim finds from the network's: which half of the spectrum holds the vocoder back."""
    model = V.load()
    found: dict[str, list[float]] = {"neural magnitude, true phase": [], "true magnitude, the hybrid's Griffin-Lim": []}
    for clip in clips:
        true = mel.stft(clip)
        magnitude, phase = V.neural_spectrum(mel.mel_spectrogram(clip)[:, :true.shape[1]], model)
        rebuilt = (mel.istft(magnitude * np.exp(1j * np.angle(true)), len(clip)),
                   V.refine_phase(np.abs(true), phase, len(clip)))
        for values, out in zip(found.values(), rebuilt, strict=True):
            values.append(metrics.pesq_wb(clip, np.clip(out, -1.0, 1.0), mel.SAMPLE_RATE))
    note = f"{len(clips)} clips, {NOTES[label]}; reads the clip's own STFT: a bound, not a vocoder"
    return [Row(f"{label}, {name} (diagnostic)", "secret_pesq", float(np.mean(values)), n=len(clips), note=note,
                method="vocoder") for name, values in found.items()]


def revealed_rows(clips: list[np.ndarray], folder: Path, label: str = HELD_OUT) -> list[Row]:
    """Rows (method thinimg) for speech revealed from a saved container with each vocoder."""
    cover = media.load_image(assets_dir() / "face160.png")
    hider = get_method("thinimg", model="single")
    measured: dict[str, list[dict[str, float]]] = {k: [] for k in KINDS}
    for k, clip in enumerate(clips):
        speech = Audio(clip[:int(10 * mel.SAMPLE_RATE)], mel.SAMPLE_RATE)
        saved = media.load_image(media.save(hider.hide(cover, speech, KEY), folder / f"c{k}.png", force=True))
        for kind in KINDS:
            revealed = get_method("thinimg", model="single", vocoder=kind).reveal(saved, KEY).samples[0]
            measured[kind].append(scores(speech.samples[0], _fit(revealed, speech.frames)))
    rows = []
    for kind, values in measured.items():
        setting = f"table1 mel 0-10s {label}, {kind} vocoder"
        note = f"{len(clips)} clips ({NOTES[label]}) hidden in face160.png, revealed from the saved PNG"
        rows += [Row(setting, "secret_pesq", float(np.mean([v["secret_pesq"] for v in values])), PAPER_PESQ,
                     n=len(clips), note=note + "; paper: LJ Speech, WaveNet vocoder", method="thinimg"),
                 Row(setting, "secret_stoi", float(np.mean([v["secret_stoi"] for v in values])), n=len(clips),
                     note=note, method="thinimg")]
    return rows


def _fit(samples: np.ndarray, length: int) -> np.ndarray:
    out = np.zeros(length, np.float32)
    out[:min(length, len(samples))] = samples[:length]
    return out


def update_card(means: dict[str, dict[str, float]], count: int,
                recorded: dict[str, dict[str, float]] | None = None) -> None:
    """Write the held-out means (and the recorded speakers' PESQ-WB / STOI) into the vocoder's weights card (its
    sha256 covers the weights only)."""
    path = V.weights_path().with_suffix(".json")
    if not path.exists():
        return
    card = json.loads(path.read_text())
    card["benchmark"] = {"command": COMMAND, "held_out_clips": count, "note": "original mel of held-out voices; "
                         "real-time factor: 1 thread, shared 2-core CPU", **means}
    if recorded:
        card["benchmark"]["recorded_held_out"] = {kind: {m: v[m] for m in ("pesq_wb", "stoi")}
                                                  for kind, v in recorded.items()}
    path.write_text(json.dumps(card, indent=2) + "\n")


def main(argv: list[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--reveal-clips", type=int, default=6)
    parser.add_argument("--flite-clips", type=int, default=12, help="clips of flite's voices (0: none)")
    parser.add_argument("--recorded-clips", type=int, default=12,
                        help="clips of the held-out recorded speakers (0: none)")
    parser.add_argument("--no-diagnostics", action="store_true", help="leave out the diagnostic rows")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    load0 = os.getloadavg()[0]
    sets = {HELD_OUT: held_out_clips(args.clips)}
    if args.flite_clips:
        sets[FLITE] = held_out_clips(args.flite_clips, engine="flite")
    if args.recorded_clips:
        try:
            sets[RECORDED] = held_out_clips(args.recorded_clips, engine="recorded")
        except CrossTegError as error:  # the Debian packages are missing: the other rows still stand
            print(f"skipping the recorded voices: {error}", flush=True)
    results = Results("vocoder", "vocoder", COMMAND)
    means: dict[str, dict[str, dict[str, float]]] = {}
    for label, clips in sets.items():
        rows, measured = original_mel_rows(clips, label)
        results.rows += rows
        means[label] = measured
        if not args.no_diagnostics and V.available():
            results.rows += diagnostic_rows(clips, label)
    if args.reveal_clips:
        with tempfile.TemporaryDirectory() as tmp:
            for label, clips in sets.items():
                results.rows += revealed_rows(clips[:args.reveal_clips], Path(tmp), label)
    results.rows.append(Row("machine load", "load_average_1min", os.getloadavg()[0], higher_is_better=False,
                            note=f"at the end of the run (at the start: {load0:.1f}); the CPU is shared by others",
                            method="vocoder"))
    results.write(args.out / "vocoder.json")
    update_card(means[HELD_OUT], len(sets[HELD_OUT]), means.get(RECORDED))
    print(results.to_markdown())
    return results


if __name__ == "__main__":
    main()
