"""The pictures read alone (issue 20 item 1): axes, legends and names drawn with Pillow, the
unwrap picture's pixel ↔ (depth, azimuth) mapping, and one line when Pillow is missing."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from CoreBatchLoaderLib.analysis.unwrap import FIRST_ROW_KEY, RADIUS_KEY
from CoreBatchLoaderLib.nrrd.writer import KEY_PREFIX, write_image_2d
from CoreBatchLoaderLib.record import CoreRecord
from CoreBatchLoaderLib.report import figure
from CoreBatchLoaderLib.report.page import _unwrap_picture
from CoreBatchLoaderLib.report.unwrap_picture import draw_unwrap, read_unwrap_view, unwrap_picture
from test_report import decode_png

ROWS, COLUMNS, ROW_MM, ARC_MM = 400, 360, 0.5, 0.5  # 200 mm of core, 180 mm round
TOP_M = 2450.25


def marked_unwrap(path: Path, depth: bool = True) -> Path:
    """An unwrap of rock (1500 HU) with a dark row 60 mm below the top and a bright column at 90°."""
    image = np.full((ROWS, COLUMNS), 1500, np.int16)
    image[119:121] = -1000  # rows 119, 120: centres 59.75 and 60.25 mm below the top
    image[:, 89:91] = 3000  # columns 89, 90: 89.5° and 90.5°
    keys = {KEY_PREFIX + "core": "core_007", RADIUS_KEY: "28.6"}
    if depth:
        keys[FIRST_ROW_KEY] = repr(TOP_M + ROW_MM / 2000.0)
    return write_image_2d(path, [image], (COLUMNS, ROWS), np.dtype(np.int16), (ARC_MM, ROW_MM), keys, durable=False)


def test_the_unwrap_views_mapping_lands_on_the_features_at_their_depth_and_azimuth(tmp_path: Path) -> None:
    view = read_unwrap_view(marked_unwrap(tmp_path / "u.nrrd"))
    sheet = draw_unwrap(view)
    _, pixels = decode_png(sheet.save(tmp_path / "u.png").read_bytes())
    assert view.top_depth_m == pytest.approx(TOP_M) and view.core == "core_007"
    x, y = view.xy_of_depth(TOP_M + 0.060, 90.0)
    assert pixels[int(y), int(x) + 40, 0] < 10  # on the dark row, away from the bright column
    assert pixels[int(y) + 40, int(x), 0] > 245  # on the bright column, below the row
    assert pixels[int(y) + 40, int(x) + 40, 0] == figure.PALETTE[round(2500 / 4000 * 254)][0]  # rock between
    distance, azimuth = view.at(x, y)
    assert (distance, azimuth) == (pytest.approx(60.0), pytest.approx(90.0))
    assert view.xy(0.0, 360.0) == (view.left, view.top)  # the top-left corner, the azimuth wrapped


def test_an_overlay_draws_in_the_views_coordinates(tmp_path: Path) -> None:
    def sinusoid(sheet: figure.Sheet, view) -> None:  # a plane dipping 30° toward 180°
        azimuth = np.arange(0.0, 361.0, 2.0)
        x, y = view.xy(100.0 - 28.6 * np.tan(np.radians(30.0)) * np.cos(np.radians(azimuth - 180.0)), azimuth)
        sheet.line(list(zip(x, y)), fill=figure.ACCENT, width=2)

    path = unwrap_picture(marked_unwrap(tmp_path / "u.nrrd"), tmp_path / "u.png", overlay=sinusoid)
    view = read_unwrap_view(tmp_path / "u.nrrd")
    draw_unwrap(view)
    _, pixels = decode_png(path.read_bytes())
    deepest = view.xy(100.0 + 28.6 * np.tan(np.radians(30.0)), 180.0)
    assert tuple(pixels[int(round(deepest[1])), int(round(deepest[0]))]) == figure.ACCENT_RGB


def test_without_depth_the_unwraps_axis_counts_mm_from_the_top(tmp_path: Path) -> None:
    view = read_unwrap_view(marked_unwrap(tmp_path / "u.nrrd", depth=False))
    assert view.top_depth_m is None
    with pytest.raises(ValueError, match="no depth"):
        view.xy_of_depth(TOP_M, 0.0)
    draw_unwrap(view)
    assert view.at(*view.xy(60.0, 90.0)) == (pytest.approx(60.0), pytest.approx(90.0))


def test_labels_are_drawn_in_the_case_they_are_given() -> None:
    lower, upper = figure.Sheet(120, 30), figure.Sheet(120, 30)
    lower.text(4, 4, "core_001")
    upper.text(4, 4, "CORE_001")
    assert (np.asarray(lower.image) < 200).any() and not np.array_equal(np.asarray(lower.image), np.asarray(upper.image))


def test_a_number_laid_out_from_glyphs_reads_as_pillows_own_layout() -> None:
    """Depth labels are composed from cached glyphs (speed): within a pixel of Pillow's layout."""
    from PIL import Image, ImageDraw
    for text in ("2450.05", "-1000", "360°"):
        mask = np.asarray(figure._ink(text, figure.LABEL_PX)[0], dtype=float)
        face = figure.font(figure.LABEL_PX)
        left, top, right, bottom = face.getbbox(text)
        reference = Image.new("L", (right - left, bottom - top), 0)
        ImageDraw.Draw(reference).text((-left, -top), text, fill=255, font=face)
        expected = np.asarray(reference, dtype=float)
        assert abs(mask.shape[1] - expected.shape[1]) <= 1 and abs(mask.shape[0] - expected.shape[0]) <= 1
        width = min(mask.shape[1], expected.shape[1])
        height = min(mask.shape[0], expected.shape[0])
        assert abs(mask[:height, :width].sum() - expected[:height, :width].sum()) < 0.1 * expected.sum()


def test_the_legend_shows_the_window_as_a_ramp_with_its_ends_labelled() -> None:
    sheet = figure.Sheet(400, 80)
    bottom = sheet.legend(20, 5, 300, (-1000.0, 3000.0), True)
    pixels = np.asarray(sheet.image)
    ramp_rows = [y for y in range(80) if pixels[y, 20] == 0 and pixels[y, 319] == 254]
    assert ramp_rows, "no ramp from black to white"
    ramp = pixels[ramp_rows[0], 20:320].astype(int)
    assert (np.diff(ramp) >= 0).all() and ramp[0] == 0 and ramp[-1] == 254
    assert (pixels[ramp_rows[-1] + 2:bottom, :] < 128).any()  # tick labels under the ramp
    assert "HU" in figure.window_title((-1000.0, 3000.0), True)
    assert "not HU" in figure.window_title((20200.0, 59800.0), False)


def test_a_scale_bar_is_a_round_length_that_fits() -> None:
    assert [figure.largest_nice(v) for v in (0.9, 7.0, 19.9, 20.0, 48.0, 120.0)] == [0.5, 5.0, 10.0, 20.0, 20.0, 100.0]
    sheet = figure.Sheet(200, 30)
    sheet.scale_bar(10, 15, 4.0, 100)  # 4 px a mm, at most 100 px: 20 mm = 80 px
    row = np.asarray(sheet.image)[15, :]
    assert (row[10:90] == figure.INK).all() and not (row[90:95] == figure.INK).any() and row[9] == figure.WHITE


def test_without_pillow_a_picture_is_one_line_naming_pip_install_pillow(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    marked_unwrap(tmp_path / "unwrap" / "core_007_unwrap.nrrd") if (tmp_path / "unwrap").mkdir() is None else None
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL raises ImportError
    record = CoreRecord(name="core_007", source="/x", status="converted", unwrap="unwrap/core_007_unwrap.nrrd")
    relative, warning = _unwrap_picture(tmp_path, record)
    assert relative is None and "pip install Pillow" in warning and "\n" not in warning
    assert not (tmp_path / "unwrap" / "core_007_unwrap.png").exists()
