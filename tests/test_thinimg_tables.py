"""The thinimg benchmarks: the tables' merge (re-measuring some tables, or some of Table 2's lengths, keeps the
other rows) and the noise benchmark's scoring."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.thinimg_noise import noisy_scores
from benchmarks.thinimg_tables import KEY, merged

from crossteg import media
from crossteg.methods import get_method

SETTINGS = ["table1 mel 0-10s held-out voices", "table1 mel 0-10s recorded voices griffin-lim",
            "table1 stft 0-10s codec only", "table2 mel 0-20s",
            "table2 mel 0-40s", "table2 mel 0-80s", "table2 mel 0-80s + 30-step refinement (ours)",
            "table3 nested 0-10s", "keys thinimg-mel-10s", "keys thinimg-mel-80s",
            "keys thinimg-nested-10s (both levels)", "speed 10s speech 160px"]


def kept(tmp_path: Path, tables: list[str], lengths: tuple[int, ...] = (20, 40, 80),
         models: tuple[str, ...] = ()) -> list[str]:
    path = tmp_path / "thinimg-tables.json"
    rows = [{"setting": s, "metric": "container_psnr", "ours": 1.0} for s in SETTINGS]
    path.write_text(json.dumps({"command": "earlier", "rows": rows}))
    results = merged(path, "now", tables, lengths, models)
    assert results.command == "earlier && now"
    return [r.setting for r in results.rows]


def test_one_length_of_table_2_is_replaced_and_the_others_kept(tmp_path: Path) -> None:
    assert kept(tmp_path, ["2"], (80,)) == [s for s in SETTINGS if not s.startswith("table2 mel 0-80s")]
    assert kept(tmp_path, ["2"], (40,)) == [s for s in SETTINGS if s != "table2 mel 0-40s"]


def test_whole_tables_are_replaced(tmp_path: Path) -> None:
    assert kept(tmp_path, ["2"]) == [s for s in SETTINGS if not s.startswith("table2")]
    assert kept(tmp_path, ["1", "speed"]) == SETTINGS[1:11]
    assert kept(tmp_path, ["1r"]) == [s for s in SETTINGS if s != SETTINGS[1]]
    assert kept(tmp_path, ["1f", "3"], (80,)) == [s for s in SETTINGS if s not in (SETTINGS[2], SETTINGS[7])]


def test_the_keys_rows_of_some_models_are_replaced_and_the_others_kept(tmp_path: Path) -> None:
    keys = [s for s in SETTINGS if s.startswith("keys ")]
    assert kept(tmp_path, ["keys"]) == [s for s in SETTINGS if s not in keys]
    assert kept(tmp_path, ["keys"], models=("80s", "nested")) == [s for s in SETTINGS if s not in keys[1:]]
    assert kept(tmp_path, ["keys", "3"], models=("single",)) == [s for s in SETTINGS if s not in (keys[0], SETTINGS[7])]


def test_the_noise_benchmark_reveals_a_noisy_copy_and_records_the_warning(tmp_path: Path, assets: Path) -> None:
    """benchmarks.thinimg_noise: the clean PNG reveals without a warning; its copy with noise of std 2 (written
    beside it) reveals worse, with the warning that the pixels changed, or is refused."""
    method = get_method("thinimg", refine=2)
    speech = media.load_audio(assets / "speech_1.wav", 16000, mono=True)
    saved = media.save(method.hide(media.load_image(assets / "face160.png"), speech, KEY), tmp_path / "c.png")
    clean, noisy = (noisy_scores(method, saved, speech, sigma, tmp_path) for sigma in (0, 2))
    assert clean["reveal_ok"] == 1 and clean["reveal_warned"] == 0 and clean["secret_stoi"] > 0.8
    assert (tmp_path / "c-noise2.png").exists()
    assert noisy["reveal_warned"] == 1 or noisy["reveal_ok"] == 0
    assert noisy["secret_stoi"] < clean["secret_stoi"] - 0.05
