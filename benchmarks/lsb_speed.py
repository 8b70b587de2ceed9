"""LSB baseline: hide/reveal throughput, stego quality and payload density at full capacity.

    python -m benchmarks.lsb_speed [--repeats 5] [--out benchmarks/results]

No paper reports these for LSB; they are the reference row the learned methods are compared against.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import skimage.data

from crossteg import keys, media, metrics
from crossteg.evaluate import assets_dir
from crossteg.media import Audio, Image
from crossteg.methods import get_method
from crossteg.results import Results, Row

COMMAND = "python -m benchmarks.lsb_speed"


def _timed(fn, repeats: int, cold_key: bool = False) -> tuple[float, object]:
    """Median seconds of `repeats` calls; `cold_key` re-stretches the key each time, as one CLI call does."""
    times, result = [], None
    for _ in range(repeats):
        if cold_key:
            keys._stretch.cache_clear()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure(setting: str, cover: Image | Audio, repeats: int, workdir: Path) -> list[Row]:
    """Rows for one cover filled to capacity with random bytes, revealed from the saved file."""
    lsb = get_method("lsb")
    payload = os.urandom(int(lsb.capacity(cover).amount))
    hide_cold, _ = _timed(lambda: lsb.hide(cover, payload, "bench"), repeats, cold_key=True)
    hide_s, stego = _timed(lambda: lsb.hide(cover, payload, "bench"), repeats)
    path = media.save(stego, workdir / f"stego{lsb.stego_suffix(cover)}", force=True)
    loaded = media.load(path)
    reveal_cold, _ = _timed(lambda: lsb.reveal(loaded, "bench"), repeats, cold_key=True)
    reveal_s, revealed = _timed(lambda: lsb.reveal(loaded, "bench"), repeats)
    megabytes = len(payload) / 1e6
    if isinstance(cover, Image):
        quality = [Row(setting, "container_psnr", metrics.psnr(cover.pixels, loaded.pixels)),
                   Row(setting, "container_ssim", metrics.ssim(cover.pixels, loaded.pixels))]
        density = Row(setting, "bits_per_pixel", 8 * len(payload) / (cover.width * cover.height))
    else:
        quality = [Row(setting, "container_snr", metrics.snr(cover.samples, loaded.samples))]
        density = Row(setting, "bits_per_sample", 8 * len(payload) / cover.samples.size)
    return [*quality, density,
            Row(setting, "hide_seconds", hide_cold, n=repeats, note="median, in memory, incl. scrypt key stretching"),
            Row(setting, "reveal_seconds", reveal_cold, n=repeats, note="median, in memory, incl. scrypt"),
            Row(setting, "hide_mb_per_second", megabytes / hide_s, n=repeats, note="embedding only (key cached)"),
            Row(setting, "reveal_mb_per_second", megabytes / reveal_s, n=repeats, note="extraction only (key cached)"),
            Row(setting, "secret_exact", float(revealed.data == payload),
                note=f"{len(payload)} random bytes, revealed from the saved file")]


def main(argv: list[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    covers = {
        "png 512x512 natural image full capacity": Image.from_uint8(skimage.data.astronaut()),
        "png 384x384 face full capacity": media.load(assets_dir() / "face.png"),
        "wav 10.7 s 16 kHz mono full capacity": media.load(assets_dir() / "speech_long.wav"),
    }
    results = Results("lsb-speed", "lsb", COMMAND)
    with tempfile.TemporaryDirectory() as tmp:
        for setting, cover in covers.items():
            results.rows += measure(setting, cover, args.repeats, Path(tmp))
    results.write(args.out / "lsb-speed.json")
    print(results.to_markdown())
    return results


if __name__ == "__main__":
    main()
