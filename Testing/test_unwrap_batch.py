"""The unwrap through the whole batch (issue 13): measured while converting, written as files,
drawn in the well's picture, placed in the scene — proven on the dipping-bed phantom with
the core found by the CT log's section finder and the axis it fits, and read back by Slicer's
own MRML (slicer-core).
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Tuple

import numpy as np
import pytest
from conftest import convert_tree, require
from CoreBatchLoaderLib.analysis.unwrap import ANGLE_KEY, FIRST_ROW_KEY, RADIUS_KEY
from CoreBatchLoaderLib.analysis.unwrap_finish import MISSING_HU
from CoreBatchLoaderLib.batch.run import BatchOptions, BatchResult, run_batch
from CoreBatchLoaderLib.convert import ConvertOptions
from CoreBatchLoaderLib.nrrd.reader import read_header, read_slice
from CoreBatchLoaderLib.synthetic.dipping_beds import write_dipping_bed_core
from CoreBatchLoaderLib.well.layout import read_layout
from CoreBatchLoaderLib.well.options import SceneOptions
from test_report import decode_png
from test_unwrap import DIP_TOLERANCE_DEG, DIRECTION_TOLERANCE_DEG, angle_difference, read_dip

TOP_M = 1234.5
CORE_M = 0.05  # 100 slices of 0.5 mm
BEDS = {"core_a": dict(dip_deg=35.0, dip_direction_deg=250.0, tilt_deg=4.0),
        "core_b": dict(dip_deg=20.0, dip_direction_deg=60.0, tilt_deg=3.0, tilt_azimuth_deg=150.0, seed=3)}


def build(root: Path, scene: bool = False, flip: bool = False, **options: object) -> BatchResult:
    truths = {}
    for number, (name, beds) in enumerate(sorted(BEDS.items()), start=1):
        _, truths[name] = write_dipping_bed_core(root / "in" / name, flip=flip, series_number=number,
                                                 **beds)  # type: ignore[arg-type]
    depths = SceneOptions(start_depth_m=TOP_M, core_length_m=CORE_M, flip_all=flip, build_scene=scene,
                          memory_budget=10 ** 9, well_name="W-13") if scene or flip else SceneOptions()
    result = convert_tree(root / "in", root / "out", scene=depths, **options)
    assert result.exit_code == 0, [(r.name, r.error, r.warnings) for r in result.records]
    result.truths = truths  # type: ignore[attr-defined]
    return result


@pytest.fixture(scope="module")
def well(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, BatchResult]:
    root = tmp_path_factory.mktemp("unwrap-well")
    return root / "out", build(root, scene=True, flip=True)


@pytest.mark.parametrize("flip", [False, True])
def test_the_sinusoid_of_each_cores_unwrap_gives_back_its_dip(tmp_path: Path, flip: bool) -> None:
    result = build(tmp_path, flip=flip)
    for record in result.records:
        header = read_header(tmp_path / "out" / record.unwrap)
        radius_mm = float(header.key_values[RADIUS_KEY])
        dip, direction = read_dip(read_slice(header, 0), header.spacing[1], radius_mm)
        truth = BEDS[record.name]
        assert abs(dip - truth["dip_deg"]) <= DIP_TOLERANCE_DEG, record.name
        assert angle_difference(direction, truth["dip_direction_deg"]) <= DIRECTION_TOLERANCE_DEG, record.name


def test_the_unwrap_file_says_its_radius_convention_and_depth(well: Tuple[Path, BatchResult]) -> None:
    out, result = well
    for record in result.records:
        header = read_header(out / record.unwrap)
        columns, rows, _ = header.sizes
        radius_mm = float(header.key_values[RADIUS_KEY])
        assert radius_mm == pytest.approx(0.9 * result.truths[record.name].core_radius_mm, abs=0.25)
        assert header.spacing[0] * columns == pytest.approx(2 * math.pi * radius_mm)  # mm of arc per column
        assert header.spacing[0] == pytest.approx(0.5, rel=0.01)  # about a pixel of arc
        assert (rows, header.spacing[1]) == (100, 0.5)  # one row per slice, the slice spacing
        assert "+i" in header.key_values[ANGLE_KEY] and "+j" in header.key_values[ANGLE_KEY]
        first_row = TOP_M + (0.0 if record.name == "core_a" else CORE_M) + 0.00025
        assert float(header.key_values[FIRST_ROW_KEY]) == pytest.approx(first_row, abs=1e-9)
        assert header.type == "short"  # the core's own output type (int16)


def test_no_unwrap_writes_no_unwrap(tmp_path: Path) -> None:
    write_dipping_bed_core(tmp_path / "in" / "core")
    result = run_batch(tmp_path / "in", tmp_path / "out", BatchOptions(
        convert=ConvertOptions(durable=False, unwrap_radius=None), workers=1))
    assert result.records[0].unwrap is None and not (tmp_path / "out" / "unwrap").exists()


def test_a_radius_in_millimetres_is_the_radius_unwrapped(tmp_path: Path) -> None:
    write_dipping_bed_core(tmp_path / "in" / "core")
    result = run_batch(tmp_path / "in", tmp_path / "out", BatchOptions(
        convert=ConvertOptions(durable=False, unwrap_radius="15mm"), workers=1))
    header = read_header(tmp_path / "out" / result.records[0].unwrap)
    assert float(header.key_values[RADIUS_KEY]) == 15.0


def test_the_well_unwrap_shares_the_strips_depth_scale(well: Tuple[Path, BatchResult]) -> None:
    out, result = well
    strip_info, strip = decode_png((out / "well_strip.png").read_bytes())
    unwrap_info, unwrap = decode_png((out / "well_unwrap.png").read_bytes())
    assert result.well is not None and result.well.unwrap_strip == out / "well_unwrap.png"

    def core_rows(picture: np.ndarray) -> np.ndarray:
        """Rows where the picture shows rock grey (not white paper, not black air)."""
        grey = picture.astype(int)
        rock = (grey[..., 0] == grey[..., 2]) & (grey[..., 0] > 120) & (grey[..., 0] < 250)
        return np.nonzero(rock.sum(axis=1) > 20)[0]

    layout = read_layout(out)
    interval = slice(layout.strip_rows[0], layout.strip_rows[0] + layout.strip_rows[1])  # not the legend's ramp
    assert strip_info["height"] == unwrap_info["height"] == layout.strip_rows[2]
    strip_rows, unwrap_rows = core_rows(strip[interval]), core_rows(unwrap[interval])
    assert abs(strip_rows[0] - unwrap_rows[0]) <= 3 and abs(strip_rows[-1] - unwrap_rows[-1]) <= 3


def test_slicer_reads_each_unwrap_at_its_depth_beside_the_cores(well: Tuple[Path, BatchResult]) -> None:
    from test_well_scene import ijk_to_ras, load, voxels

    out, result = well
    scene, nodes = load(out / "scene.mrml")
    for n, record in enumerate(sorted(result.records, key=lambda r: r.name)):
        node = nodes["%s unwrap" % record.name]
        assert node.GetImageData() is not None
        matrix = ijk_to_ras(node)
        top_s = -1000.0 * (TOP_M + n * CORE_M)
        row_mm = 0.5
        assert matrix[2, 3] == pytest.approx(top_s - row_mm / 2.0, abs=1e-3)  # row 0: the core's top
        assert matrix[2, 1] == pytest.approx(-row_mm)  # rows go down
        core_bounds = [0.0] * 6
        nodes[record.name].GetRASBounds(core_bounds)
        assert matrix[0, 3] > core_bounds[1]  # beside the core, to its right
        stored = read_slice(read_header(out / record.unwrap), 0)
        assert np.array_equal(voxels(node)[0], stored)
        assert (stored != MISSING_HU).mean() > 0.97
    del scene


def test_the_report_shows_each_unwrap_and_the_well_unwrap(well: Tuple[Path, BatchResult]) -> None:
    out, result = well
    page = (out / "report.html").read_text(encoding="utf-8")
    for record in result.records:
        assert 'class="unwrap" src="unwrap/%s_unwrap.png"' % record.name in page
        assert (out / "unwrap" / ("%s_unwrap.png" % record.name)).is_file()
    assert 'src="well_unwrap.png"' in page


def test_chromium_renders_the_report_with_its_unwrap_images(well: Tuple[Path, BatchResult], tmp_path: Path) -> None:
    from test_report_browser import CHROMIUM, CHROMIUM_MISSING, body_attributes, run_chromium

    require(CHROMIUM, CHROMIUM_MISSING)
    out, _ = well
    done = run_chromium(tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom",
                        (out / "report.html").as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    attributes = body_attributes(done.stdout)
    # two thumbnails, two unwraps, the well strip, the CT log track and the well unwrap
    assert (attributes.get("data-images-loaded"), attributes.get("data-images-total")) == ("7", "7")
    assert '<img src="well_unwrap.png"' in done.stdout


def test_a_rerun_skips_unwrapped_cores_and_redoes_a_core_whose_unwrap_is_gone(tmp_path: Path) -> None:
    write_dipping_bed_core(tmp_path / "in" / "core")
    first = convert_tree(tmp_path / "in", tmp_path / "out")
    unwrap = tmp_path / "out" / first.records[0].unwrap
    assert [r.status for r in convert_tree(tmp_path / "in", tmp_path / "out").records] == ["skipped"]
    unwrap.unlink()
    again = convert_tree(tmp_path / "in", tmp_path / "out")
    assert [r.status for r in again.records] == ["converted"] and unwrap.is_file()


def test_an_unwrap_file_the_batch_did_not_write_is_left_alone_unless_overwrite(tmp_path: Path) -> None:
    write_dipping_bed_core(tmp_path / "in" / "core")
    foreign = tmp_path / "out" / "unwrap" / "core_unwrap.nrrd"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"someone else's picture")
    result = convert_tree(tmp_path / "in", tmp_path / "out")
    record = result.records[0]
    assert record.status == "converted" and record.unwrap is None
    assert foreign.read_bytes() == b"someone else's picture"
    assert any("core_unwrap.nrrd exists and was not written by this batch" in w for w in record.warnings)
    again = convert_tree(tmp_path / "in", tmp_path / "out", overwrite=True)
    assert again.records[0].unwrap == "unwrap/core_unwrap.nrrd"
    assert read_header(foreign).key_values[RADIUS_KEY]


def test_the_batch_result_lists_the_unwrap_files_for_the_console(well: Tuple[Path, BatchResult]) -> None:
    out, result = well
    files = result.unwrap_files()
    assert files == {"core_a": out / "unwrap" / "core_a_unwrap.nrrd", "core_b": out / "unwrap" / "core_b_unwrap.nrrd",
                     "well": out / "well_unwrap.png"}
    assert all(path.is_file() for path in files.values())


def test_a_core_with_rubble_caps_foam_and_a_gap_unwraps_where_it_is_whole(tmp_path: Path) -> None:
    """The CT log's phantom (sections carried over 10 mm between searches): rows are sampled
    wherever the core is whole, also in slices whose section was carried from an earlier one
    (the centre follows the axis fitted so far); rubble costs at most its own rows."""
    from CoreBatchLoaderLib.synthetic.phantoms import CorePhantom, write_phantom

    rubble = tuple(range(25, 35))
    write_phantom(tmp_path / "in" / "core", CorePhantom(
        slices=60, tilt_deg=3.0, centre_mm=(4.0, -3.0), liner="plastic", touching=True, rubble=rubble,
        foam=(0, 1), caps=(58, 59), missing=(45,)))
    record = convert_tree(tmp_path / "in", tmp_path / "out").records[0]
    unwrap = read_slice(read_header(tmp_path / "out" / record.unwrap), 0)
    whole = list(range(6, 19)) + list(range(38, 43)) + list(range(49, 55))
    assert (unwrap[whole] != MISSING_HU).all()
    assert 1800 < unwrap[whole].mean() < 2200  # the phantom's rock, not its liner
    firsts = [int(re.search(r"first k = (\d+)", w).group(1)) for w in record.warnings if w.startswith("unwrap:")]
    assert all(rubble[0] - 5 <= k <= rubble[-1] for k in firsts), record.warnings  # only about the rubble


@pytest.mark.parametrize("end, lead_mm, end_mm", [("air", 16.0, 0.0), ("rounded", 6.0, 12.0), ("cap", 14.0, 8.0)])
def test_a_scan_starting_before_the_core_unwraps_at_the_full_cores_radius(tmp_path: Path, end: str, lead_mm: float,
                                                                          end_mm: float) -> None:
    """Real scans start in air, an end cap or a partial end before the full core: the radius
    comes from full cross-sections, not from the first slices where the core was found (their
    small partial sections, carried over 10 mm, once made it 7–14 mm: the unwrap sampled the
    core's inside and every dip read from it, tan δ = amplitude / r, was wrong)."""
    _, truth = write_dipping_bed_core(tmp_path / "in" / "core", slices=160, dip_deg=30.0, dip_direction_deg=200.0,
                                      tilt_deg=3.0, lead_mm=lead_mm, end=end, end_mm=end_mm)
    result = convert_tree(tmp_path / "in", tmp_path / "out")
    record = result.records[0]
    assert record.status == "converted", (record.error, record.warnings)
    header = read_header(tmp_path / "out" / record.unwrap)
    radius_mm = float(header.key_values[RADIUS_KEY])
    assert radius_mm == pytest.approx(0.9 * truth.core_radius_mm, abs=0.25)
    rows = int(round(lead_mm + end_mm)) * 2 + 10  # the bed lies in the full core, below the end
    dip, direction = read_dip(read_slice(header, 0)[rows:], header.spacing[1], radius_mm)
    assert abs(dip - truth.dip_deg) <= DIP_TOLERANCE_DEG
    assert angle_difference(direction, truth.dip_direction_deg) <= DIRECTION_TOLERANCE_DEG
