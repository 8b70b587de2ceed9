"""flowhide: how often the header of a float32 stego survives a re-save as 16-bit PCM (what most converters write).

    python -m benchmarks.flowhide_header [--hides 20] [--out benchmarks/results]

Each hide draws fresh filler bits (`flowhide.filler_rng`), so whether the 7 copies of every header bit survive the
16-bit rounding varies from hide to hide. Per hide of the bundled clip in the bundled speech, saved as a 16-bit WAV
and read back: the paper's plain majority vote (sec. 4.3) against ours (the vote weighted by the slots' 16-bit
flip rates, then the 8 least certain bits tried flipped until the CRC holds: `flowhide.read_header`).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from crossteg import keys, media
from crossteg.codecs import bits as B
from crossteg.evaluate import assets_dir
from crossteg.methods import flowhide as FH
from crossteg.methods import get_method
from crossteg.results import Results, Row

COMMAND = "python -m benchmarks.flowhide_header"
KEY = "bench"


def header_reads(stego: media.Audio, parts: FH.Parts, material: keys.KeyMaterial) -> tuple[bool, bool]:
    """(plain majority reads the header, ours reads it) from a stego file's samples."""
    n = stego.frames - stego.frames % parts.waveglow.config.n_group
    order = B.positions(material, n)
    floats = FH.analyse(parts.waveglow, stego.samples[0, :n], stego.samples[-1, :n])[order][:FH.HEADER_FLOATS]
    erased = FH.erased_floats(stego.samples[0, :n], parts.waveglow.config.n_group)[order][:FH.HEADER_FLOATS]
    votes = B.unplan_bits(FH._header_plan(), B.decode(floats, FH.HEADER_SLOTS), erased)[0]
    plain = FH.parse_header(B.whiten(material, "header", votes)) is not None
    flips = np.asarray(parts.flips["pcm16"])[list(FH.HEADER_SLOTS)]
    return plain, FH.read_header(material, floats, erased, flips) is not None


def main(argv: list[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hides", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    cover, clip = media.load(assets_dir() / "speech_long.wav"), media.load(assets_dir() / "clip.mp4")
    method = get_method("flowhide")
    material = keys.derive(KEY, method.id)
    reads = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.hides):
            stego = media.save(method.hide(cover, clip, KEY), Path(tmp) / "stego.wav", force=True, subtype="PCM_16")
            reads.append(header_reads(media.load(stego), method.parts, material))
            print(f"hide {i + 1}/{args.hides}: plain {reads[-1][0]}, ours {reads[-1][1]}", flush=True)
    setting = "float32 stego re-saved as 16-bit PCM"
    note = f"{args.hides} hides of clip.mp4 in speech_long.wav, each with fresh filler bits"
    results = Results("flowhide-header", "flowhide", f"{COMMAND} --hides {args.hides}")
    for column, how in enumerate(("plain majority (paper)", "weighted vote + list decoding (ours)")):
        rate = float(np.mean([r[column] for r in reads]))
        results.rows.append(Row(f"{setting}, {how}", "header_read_rate", rate, higher_is_better=True, n=args.hides,
                                note=note))
    results.write(args.out / "flowhide-header.json")
    print(results.to_markdown())
    return results


if __name__ == "__main__":
    main()
