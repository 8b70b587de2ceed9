"""The inrsteg benchmark's --to-cap re-runs: chosen cases fitted with -O target=99, tagged, beside the kept rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks import inrsteg_tables as tables


def test_to_cap_rows_are_tagged_and_sit_beside_the_fast_mode_rows(tmp_path: Path) -> None:
    path = tmp_path / "inrsteg-tables-quick.json"
    earlier = {"setting": "table2 image in image", "metric": "container_psnr", "ours": 1.0}
    path.write_text(json.dumps({"command": "earlier", "rows": [earlier]}))
    results = tables.main(["--quick", "--threads", "1", "--to-cap", "image-image", "--merge", "--out",
                           str(tmp_path)])
    settings = {row.setting for row in results.rows}
    assert settings == {"table2 image in image", "table2 image in image (-O target=99)",
                        "table3 image in image (-O target=99)"}
    kept = [row for row in results.rows if row.setting == "table2 image in image"]
    assert [row.ours for row in kept] == [1.0]  # the fast-mode row is not overwritten
    fitted = [row for row in results.rows if row.setting.endswith("(-O target=99)")]
    assert all("-O target=99" in row.note for row in fitted)
    psnr = next(row.ours for row in fitted if row.metric == "container_psnr")
    assert psnr is not None and psnr > 15  # a real fit of the cover, measured from the saved file
    written = json.loads(path.read_text())
    assert {row["setting"] for row in written["rows"]} == settings and "--to-cap image-image" in written["command"]


def test_to_cap_needs_merge_and_known_cases(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        tables.main(["--quick", "--to-cap", "image-image", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        tables.main(["--quick", "--to-cap", "image-in-nothing", "--merge", "--out", str(tmp_path)])
