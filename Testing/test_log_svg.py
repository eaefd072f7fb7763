"""The per-core CT-log profile (report/log_svg.py) on the shortest logs a batch can give."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from CoreBatchLoaderLib.analysis.ct_log import DEPTH_COLUMN, DISTANCE_COLUMN, STATISTIC_CURVES, STATISTICS
from CoreBatchLoaderLib.report.log_svg import core_profile


def write_log(path: Path, first_column: str, rows: list) -> Path:
    lines = [",".join([first_column, "K"] + list(STATISTICS))]
    for k, (first, mean) in enumerate(rows):
        values = dict(CTMEAN="%.2f" % mean, CTMED="%.2f" % mean, CTSTD="30.00", CTP10="%.2f" % (mean - 40),
                      CTP90="%.2f" % (mean + 40), VOIDFR="0.0000", DIAM="100.00")
        lines.append(",".join([repr(first), str(k)] + [values.get(c.mnemonic, "") for c in STATISTIC_CURVES]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("first_column, rows", [
    (DISTANCE_COLUMN, [(0.0, 2000.0)]),             # a core of one slice, its centre at the top
    (DEPTH_COLUMN, [(2450.0005, 2000.0)]),          # the same core placed at depth
    (DEPTH_COLUMN, [(0.0005, 1900.0), (0.0015, 2100.0)]),  # a core cored from the surface
])
def test_a_profile_of_the_shortest_logs_has_only_finite_coordinates(tmp_path: Path, first_column: str,
                                                                    rows: list) -> None:
    svg = core_profile(write_log(tmp_path / "core.csv", first_column, rows), tmp_path / "core.svg", "core")
    assert svg is not None
    text = svg.read_text(encoding="utf-8")
    assert not re.search(r"\b(nan|inf)\b", text, re.I)
    assert "<polyline" in text or "<polygon" in text  # the log is drawn, not only the frame
