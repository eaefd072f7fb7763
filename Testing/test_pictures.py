"""The pictures read alone (issue 20 item 1): axes, legends and names drawn with Pillow, the
unwrap picture's pixel ↔ (depth, azimuth) mapping, and one line when Pillow is missing."""
from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import require_module
from CoreBatchLoaderLib.analysis.unwrap import FIRST_ROW_KEY, RADIUS_KEY
from CoreBatchLoaderLib.nrrd.writer import KEY_PREFIX, write_image_2d
from CoreBatchLoaderLib.record import CoreRecord
from CoreBatchLoaderLib.report import figure
from CoreBatchLoaderLib.report.log_svg import core_profile
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


# --- every picture and SVG of the demo well (issue 20: "done when") ---------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make demo``'s well: ``corebatchloader sample`` then ``convert --start-depth 2450
    --core-length 0.12 --scene --well-name "Demo well"``, as the Makefile runs them."""
    root = tmp_path_factory.mktemp("demo")
    for args in (("sample", root / "demo-well", "--cores", "6"),
                 ("convert", root / "demo-well", root / "out", "--start-depth", "2450", "--core-length", "0.12",
                  "--scene", "--well-name", "Demo well", "--quiet")):
        run = subprocess.run([sys.executable, "-m", "CoreBatchLoaderLib.cli", *map(str, args)], capture_output=True,
                             text=True, timeout=600)
        assert run.returncode == 0, run.stderr
    return root / "out"


def pictures(out: Path) -> list:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))


def test_the_demo_makes_every_picture_the_docs_describe(demo: Path) -> None:
    cores = ["core_%03d" % n for n in range(1, 7)]
    assert pictures(demo) == sorted(["thumbnails/%s.png" % c for c in cores] + ["unwrap/%s_unwrap.png" % c for c in cores]
                                    + ["well_strip.png", "well_unwrap.png"])
    assert sorted(p.relative_to(demo).as_posix() for p in demo.rglob("*.svg")) == ["well_ct_log.svg"]


def grey(path: Path) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.int16)


def legend_ramp(pixels: np.ndarray) -> tuple:
    """(row, first column, last column) of the grey legend: a run of ≥ 150 px rising from black to white."""
    for y in range(pixels.shape[0]):
        row = pixels[y]
        blacks = np.flatnonzero(row == 0)
        for x0 in blacks:
            x1 = x0 + 150
            if x1 < row.size and (np.diff(row[x0:x1]) >= 0).all():
                end = x1
                while end + 1 < row.size and row[end + 1] >= row[end]:
                    end += 1
                steps = np.diff(row[x0:end + 1])
                if row[end] == 255 and steps.max() <= 3 and len(set(row[x0:end + 1].tolist())) >= 150:
                    return y, int(x0), int(end)  # a linear ramp over every grey, not an image's edge
    raise AssertionError("no grey legend (a ramp from black to white)")


def vertical_axis_with_ticks(pixels: np.ndarray) -> tuple:
    """(column, ticks): the longest run of dark pixels down one column (the depth axis) and the
    rows where a tick leaves it to the left."""
    dark = pixels < 90
    best = (0, 0, 0)
    for x in range(pixels.shape[1] // 2):
        column = np.concatenate([[0], dark[:, x].astype(np.int8), [0]])
        edges = np.diff(column)
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        if starts.size:
            longest = int((stops - starts).max())
            if longest > best[0]:
                n = int(np.argmax(stops - starts))
                best = (longest, x, int(starts[n]))
    length, x, top = best
    ticks = [y for y in range(top, top + length) if dark[y, x - 4:x].all() and not dark[y - 3:y + 4, x - 4].all()]
    return x, length, ticks


@pytest.mark.parametrize("name", ["thumbnails/core_001.png", "thumbnails/core_004.png", "unwrap/core_001_unwrap.png",
                                  "unwrap/core_006_unwrap.png", "well_strip.png", "well_unwrap.png"])
def test_each_demo_picture_carries_its_depth_axis_and_grey_legend(demo: Path, name: str) -> None:
    pixels = grey(demo / name)
    height, width = pixels.shape
    assert width >= 300 and height >= 400, (width, height)
    x, length, ticks = vertical_axis_with_ticks(pixels)
    assert length >= 0.5 * height and len(ticks) >= 5, (x, length, ticks)  # depth axis with ≥ 5 ticks
    assert (pixels[ticks[0] - 8:ticks[0] + 8, :x - 8] < 128).any()  # a label left of a tick
    y, x0, x1 = legend_ramp(pixels)
    assert (pixels[y + 10:y + 60, x0 - 20:x1 + 20] < 100).sum() > 50  # the ramp's tick labels
    assert (pixels[max(0, y - 40):y - 4, x0:x1] < 128).any()  # its title (the window) above it


@pytest.mark.parametrize("name", ["unwrap/core_002_unwrap.png", "well_unwrap.png"])
def test_each_demo_unwrap_has_an_azimuth_scale_of_13_ticks(demo: Path, name: str) -> None:
    pixels = grey(demo / name)
    dark = pixels < 90
    ink = figure.PALETTE[figure.INK][0]

    def longest_run(y: int) -> np.ndarray:  # the longest unbroken run in the ink's grey along row y
        found = np.flatnonzero(pixels[y] == ink)
        runs = np.split(found, np.flatnonzero(np.diff(found) > 1) + 1) if found.size else [found]
        return max(runs, key=len)

    def line(y: int) -> bool:  # ≥ 150 px long, white above (beside the ticks): a scale's line
        run = longest_run(y)
        return run.size >= 150 and (pixels[y - 8, run] > 200).mean() > 0.9

    axis = next(y for y in range(8, pixels.shape[0] // 3) if line(y))
    run = longest_run(axis)
    ticks = np.flatnonzero(dark[axis - 3, run[0]:run[-1] + 1]) + run[0]
    groups = np.split(ticks, np.flatnonzero(np.diff(ticks) > 2) + 1)
    assert len(groups) == 13, [g.tolist() for g in groups]  # 0°, 30° … 360°
    centres = np.array([g.mean() for g in groups])
    np.testing.assert_allclose(np.diff(centres), np.diff(centres).mean(), atol=1.5)  # evenly spaced


@pytest.mark.parametrize("name, title, size", [("thumbnails/core_003.png", "core_003", figure.TITLE_PX),
                                               ("unwrap/core_005_unwrap.png", "core_005", figure.TITLE_PX),
                                               ("well_strip.png", "Demo well", 26)])
def test_the_demo_pictures_names_keep_the_files_case(demo: Path, name: str, title: str, size: int) -> None:
    """The picture's title starts with the name as the files spell it: its pixels are those of
    the name drawn in the picture's font, not of the upper-case name."""
    pixels = grey(demo / name)

    def drawn(text: str) -> np.ndarray:
        sheet = figure.Sheet(pixels.shape[1], 60)
        sheet.text(10 if name.startswith(("thumb", "unwrap")) else 14, 10 if name.startswith(("thumb", "unwrap"))
                   else 14, text, size)
        return figure.PALETTE[np.asarray(sheet.image)][..., 0].astype(np.int16)

    expected, upper = drawn(title), drawn(title.upper())
    ink = np.flatnonzero((expected < 128).any(axis=0))
    ink_rows = np.flatnonzero((expected < 128).any(axis=1))
    box = (slice(0, ink_rows[-1] + 2), slice(0, ink[-1] - 5))  # the name (a title may go on after it)
    assert np.abs(pixels[box] - expected[box]).mean() < 2.0
    assert np.abs(pixels[box] - upper[box]).mean() > 10.0


def svg_texts(svg: str) -> list:
    import xml.etree.ElementTree as ElementTree
    root = ElementTree.fromstring(svg)
    return [t for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_the_demo_svgs_name_the_well_their_tracks_units_and_depth(demo: Path) -> None:
    svg = (demo / "well_ct_log.svg").read_text(encoding="utf-8")
    texts = ["".join(t.itertext()) for t in svg_texts(svg)]
    assert "Demo well: CT log" in texts  # visible, in the case given, not only in <title>
    assert "depth (m)" in texts and "CT mean, P10–P90 (HU)" in texts and "Ø (mm)" in texts
    depths = [float(t) for t in texts if re.fullmatch(r"2450\.\d+", t)]
    assert len(depths) >= 5 and depths == sorted(depths)


@pytest.mark.parametrize("track", ["well", "profile"])
def test_no_two_texts_of_the_demo_svgs_overlap(demo: Path, tmp_path: Path, track: str) -> None:
    """Each text's box estimated from its font size (0.6 em a character, 0.75 em high) and anchor;
    the well's track and a core's profile (narrow tracks, small type)."""
    path = demo / "well_ct_log.svg" if track == "well" else core_profile(
        demo / "logs" / "core_001.csv", tmp_path / "core_001.svg", "core_001", durable=False)
    svg = path.read_text(encoding="utf-8")
    root_size = float(re.search(r"font-size:(\d+)px", svg).group(1))
    boxes = []
    for t in svg_texts(svg):
        text = "".join(t.itertext())
        size = float(t.get("font-size") or root_size)
        width, x, y = 0.6 * size * len(text), float(t.get("x")), float(t.get("y"))
        x0 = x - {"start": 0.0, "middle": width / 2, "end": width}[t.get("text-anchor") or "start"]
        y0 = y - 0.75 * size / 2 if t.get("dominant-baseline") == "middle" else y - 0.75 * size
        boxes.append((text, x0, y0, x0 + width, y0 + 0.75 * size))
    for n, a in enumerate(boxes):
        for b in boxes[n + 1:]:
            assert a[3] <= b[1] or b[3] <= a[1] or a[4] <= b[2] or b[4] <= a[2], "%r overlaps %r" % (a[0], b[0])


def test_a_strict_svg_renderer_draws_every_svg_of_the_demo_and_a_cores_profile(demo: Path, tmp_path: Path) -> None:
    """cairosvg refuses what browsers forgive (``width="100%%"`` did it); the demo has depths, so
    its cores' profiles (drawn without depths) are drawn here from its logs."""
    cairosvg = require_module("cairosvg", "cairosvg (and the system's libcairo2)")
    from PIL import Image
    profile = core_profile(demo / "logs" / "core_001.csv", tmp_path / "core_001.svg", "core_001", durable=False)
    assert profile is not None and "core_001: CT log" in ["".join(t.itertext()) for t in svg_texts(profile.read_text())]
    for path in sorted(demo.rglob("*.svg")) + [profile]:
        png = cairosvg.svg2png(bytestring=path.read_bytes())
        with Image.open(io.BytesIO(png)) as image:
            pixels = np.asarray(image.convert("L"))
        assert (pixels < 128).mean() > 0.005, path  # text and lines drawn, not an empty page
