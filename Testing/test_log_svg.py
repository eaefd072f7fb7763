"""The CT-log tracks (report/log_svg.py): the per-core profile on the shortest logs a batch can
give, and what a reader takes from a track — the value plotted at a depth — read back the way a
person reads it, from the picture's own depth ticks and CT-number scale (:func:`plotted_mean`)."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import List, Tuple

import numpy as np
import pytest

from CoreBatchLoaderLib.analysis.ct_log import DEPTH_COLUMN, DISTANCE_COLUMN, STATISTIC_CURVES, STATISTICS
from CoreBatchLoaderLib.report.log_svg import core_profile

SVG = "{http://www.w3.org/2000/svg}"


def _number(text: str) -> object:
    try:
        return float(text.strip().replace("\u2212", "-"))
    except ValueError:
        return None


def plotted_mean(svg: str, depth_m: float) -> float:
    """The CT mean the track draws at ``depth_m``, read as a person reads the picture: the depth
    ticks (the column of numbers down the side) give the row of a depth, the CT track's frame and
    the numbers at its two ends give the CT number of a column, and the curve drawn in the colour
    of its name ("CT mean") is followed to that row."""
    root = ElementTree.fromstring(svg)
    texts = [(t, "".join(t.itertext())) for t in root.iter(SVG + "text")]
    numbers = [(float(t.get("x")), float(t.get("y")), _number(text)) for t, text in texts if _number(text) is not None]
    columns: dict = {}
    for x, y, value in numbers:
        columns.setdefault(x, []).append((y, value))
    ticks = max(columns.values(), key=lambda c: len({y for y, _ in c}))
    assert len({y for y, _ in ticks}) >= 2, "no depth scale: %s" % ticks
    slope, offset = np.polyfit([v for _, v in ticks], [y for y, _ in ticks], 1)
    row = slope * depth_m + offset
    frame = next(r for r in root.iter(SVG + "rect") if r.get("fill") == "none" and r.get("stroke"))
    left, width = float(frame.get("x")), float(frame.get("width"))
    [low] = [v for x, y, v in numbers if x == left]
    [high] = [v for x, y, v in numbers if x == left + width]
    colour = next(t.get("fill") for t, text in texts if text.startswith("CT mean"))
    for line in root.iter(SVG + "polyline"):
        if line.get("stroke") != colour:
            continue
        points = np.array([[float(v) for v in pair.split(",")] for pair in line.get("points").split()])
        if points[:, 1].min() <= row <= points[:, 1].max():
            x = np.interp(row, points[:, 1], points[:, 0])
            return low + (x - left) / width * (high - low)
    raise AssertionError("no CT mean drawn at %g m (row %.1f)" % (depth_m, row))


def hu_per_pixel(svg: str) -> float:
    """The CT numbers one pixel of the CT track spans (the reading's resolution)."""
    root = ElementTree.fromstring(svg)
    frame = next(r for r in root.iter(SVG + "rect") if r.get("fill") == "none" and r.get("stroke"))
    left, width = float(frame.get("x")), float(frame.get("width"))
    ends = [_number("".join(t.itertext())) for t in root.iter(SVG + "text") if float(t.get("x")) in (left, left + width)]
    return abs(ends[1] - ends[0]) / width


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
    top = min(first for first, _ in rows)
    for first, mean in rows:  # each value drawn at its place along the core (metres from its top)
        along_m = first / 1000.0 if first_column == DISTANCE_COLUMN else first - top
        assert plotted_mean(text, along_m) == pytest.approx(mean, abs=2 * hu_per_pixel(text))


def test_a_profile_draws_each_value_at_its_depth(tmp_path: Path) -> None:
    """Two layers, 1500 HU in the core's first 20 mm and 2500 HU below, read back from the picture
    at 10 mm and 30 mm.  Catches: the curve drawn from another column (P10/P90: ±40 HU here), upside
    down or shifted along the depth axis (the layers swap), a wrong CT-number scale."""
    rows: List[Tuple[float, float]] = [(k + 0.5, 1500.0 if k < 20 else 2500.0) for k in range(40)]
    svg = core_profile(write_log(tmp_path / "core.csv", DISTANCE_COLUMN, rows), tmp_path / "core.svg", "core")
    text = svg.read_text(encoding="utf-8")
    tolerance = 2 * hu_per_pixel(text)
    assert tolerance < 40
    assert plotted_mean(text, 0.010) == pytest.approx(1500.0, abs=tolerance)
    assert plotted_mean(text, 0.030) == pytest.approx(2500.0, abs=tolerance)
