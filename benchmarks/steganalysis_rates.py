"""Do the audio detectors find a stego whose file is at another rate than the one its method embeds at?

A user's recording is often 44.1 or 48 kHz stereo; ditas, deepsteg and stft make their change at 16 kHz and add
it, resampled, to every channel of the cover (methods/ditas.py). Covers: the recorded fr_CA runs no detector was
trained on (`steganalysis.installed_sources`), converted to RATE Hz stereo 16-bit WAV (second channel at 0.8 gain);
stegos: the bundled photo, downscaled to fit (`fitting.fitted_secret`), hidden by the method's default hide with a
key per file, written and read back. Each file is scored by the method's learned detector as the file is
(`learned.predict`), and as `crossteg steganalyze` scores it: converted to the method's `embedding_rate`.

    python -m benchmarks.steganalysis_rates [--methods ditas,deepsteg,stft] [--rate 44100]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.steganalysis import INSTALLED_NOTE, installed_sources
from crossteg import media
from crossteg.evaluate import assets_dir
from crossteg.fitting import fitted_secret
from crossteg.methods import get_method
from crossteg.results import Results, Row
from crossteg.steganalysis import detection_accuracy, detection_auc
from crossteg.steganalysis.detectors import learned_detector
from crossteg.steganalysis.learned import at_rate, load_detector, predict

COMMAND = "python -m benchmarks.steganalysis_rates"
SECOND_CHANNEL_GAIN = 0.8


def stereo_cover(mono: media.Audio, rate: int) -> media.Audio:
    """A 16 kHz mono run as a RATE Hz stereo 16-bit recording, as an audio converter writes it."""
    stereo = media.Audio(np.concatenate([mono.samples, SECOND_CHANNEL_GAIN * mono.samples]), mono.sample_rate)
    return at_rate(media.Audio.from_int16(stereo.to_int16(), mono.sample_rate), rate)


def measure(method_id: str, rate: int, folder: Path) -> list[Row]:
    """Accuracy and AUC of the method's detector on every cover and its stego, as the files are and as
    `crossteg steganalyze` converts them."""
    method, secret = get_method(method_id), media.load(assets_dir() / "photo.png")
    model, _ = load_detector(method_id, "audio")
    detector = learned_detector(method_id)
    labels, as_is, converted = [], [], []
    for i, source in enumerate(installed_sources("audio")):
        cover = media.load(media.save(stereo_cover(source.load(), rate), folder / f"{method_id}-{i}-cover.wav"))
        fitted, _ = fitted_secret(method, secret, cover)
        stego = media.load(media.save(method.hide(cover, fitted, key=f"rates-{i}"), folder / f"{method_id}-{i}.wav"))
        for obj, label in ((cover, 0), (stego, 1)):
            labels.append(label)
            as_is.append(predict(model, obj))
            converted.append(detector.detect(obj).probability)
        print(f"{method_id} {i}: cover {as_is[-2]:.3f} / {converted[-2]:.3f}, stego {as_is[-1]:.3f} / "
              f"{converted[-1]:.3f} (as the file is / at {method.embedding_rate} Hz)", flush=True)
    y, n = np.array(labels), len(labels)
    note = (f"{n // 2} {INSTALLED_NOTE['audio']}, as {rate / 1000:g} kHz stereo 16-bit WAV covers; the bundled "
            "photo fitted, default hide, from the saved files")
    rows = []
    for how, scores in ((f"as the {rate / 1000:g} kHz file is", as_is),
                        (f"converted to {method.embedding_rate / 1000:g} kHz (crossteg steganalyze)", converted)):
        setting = f"{method_id} audio {how} cnn-{method_id}"
        rows += [Row(setting, "detection_accuracy", detection_accuracy(y, np.array(scores)), n=n, note=note,
                     method=method_id),
                 Row(setting, "detection_auc", detection_auc(y, np.array(scores)), n=n, note=note,
                     method=method_id)]
    return rows


def main(argv: list[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="ditas,deepsteg,stft", help="comma-separated method ids")
    parser.add_argument("--rate", type=int, default=44100, help="the covers' sample rate (default 44100)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    command = COMMAND + (f" --methods {args.methods}" if args.methods != "ditas,deepsteg,stft" else "") + (
        f" --rate {args.rate}" if args.rate != 44100 else "")
    results = Results("steganalysis-rates", "all", command)
    if not installed_sources("audio"):  # `make bench` goes on; the committed results stay as they are
        print(f"skipped: no {INSTALLED_NOTE['audio']} on this machine (apt-get install asterisk-core-sounds-fr-g722)")
        return results
    with tempfile.TemporaryDirectory(prefix="crossteg-rates-") as tmp:
        for method_id in args.methods.split(","):
            results.rows += measure(method_id, args.rate, Path(tmp))
    results.write(args.out / "steganalysis-rates.json")
    print(results.to_markdown())
    return results


if __name__ == "__main__":
    main()
