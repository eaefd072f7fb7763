"""The whole-well files without Slicer: streaming reads, the overview, the well strip, the options.

What Slicer makes of these files is checked in test_well_scene.py.
"""
from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np
import pytest
from conftest import convert_tree
from CoreBatchLoaderLib.batch.well_steps import SceneSetupError, add_length_warnings, check_options
from CoreBatchLoaderLib.dicom.discover import find_core_folders
from CoreBatchLoaderLib.nrrd.reader import iter_slices, read_header
from CoreBatchLoaderLib.record import CoreRecord
from CoreBatchLoaderLib.synthetic import write_well
from CoreBatchLoaderLib.well.options import SceneOptions
from CoreBatchLoaderLib.well.overview import Overview, overview_grid
from CoreBatchLoaderLib.well.placement import depth_to_s, place_core
from CoreBatchLoaderLib.report.figure import number_label, ticks
from CoreBatchLoaderLib.well.strip import GAP_HATCH, WellStrip


@pytest.mark.parametrize("compress", [False, True])
def test_iter_slices_streams_every_slice_in_order(tmp_path: Path, compress: bool) -> None:
    series = write_well(tmp_path / "well", cores=1, slices=9)[0]
    record = convert_tree(tmp_path / "well", tmp_path / "out", compress=compress).records[0]
    slices = list(iter_slices(tmp_path / "out" / record.output))
    np.testing.assert_array_equal(np.stack(slices), series.values)


def test_iter_slices_reads_dicom_backed_headers(tmp_path: Path) -> None:
    series = write_well(tmp_path / "well", cores=1, slices=5)[0]
    record = convert_tree(tmp_path / "well", tmp_path / "out", output_format="nhdr").records[0]
    assert record.output.endswith(".nhdr")
    np.testing.assert_array_equal(np.stack(list(iter_slices(tmp_path / "out" / record.output))), series.values)


def test_the_overview_grid_starts_at_the_top_edge_and_covers_the_interval() -> None:
    cores = [place_core((40, 40, 300), (0.5, 0.5, 1.0), 1000.0), place_core((40, 40, 300), (0.5, 0.5, 1.0), 1000.5)]
    grid = overview_grid(cores, depth_to_s(1000.0), depth_to_s(1000.8), max_voxels=2000)
    voxel = grid.spacing[0]
    bottom, top = grid.s_range()
    assert top == pytest.approx(-1000000.0, abs=1e-6)
    assert -1000800.0 - voxel < bottom <= -1000800.0
    assert np.prod(grid.sizes) <= 2000 and grid.spacing == pytest.approx((voxel,) * 3)
    assert float(np.ptp(grid.ras_bounds()[0])) >= 20.0  # as wide as a core


def test_overview_voxels_are_block_means_of_the_core_voxels(tmp_path: Path) -> None:
    core = place_core((4, 4, 8), (1.0, 1.0, 1.0), 10.0)
    overview = Overview(overview_grid([core], depth_to_s(10.0), depth_to_s(10.008), max_voxels=16))
    assert overview.grid.sizes == (2, 2, 4)  # 2 mm voxels: 2 × 2 × 2 core voxels each
    layers = overview.core(core)
    for k in range(8):
        layers.add(np.full((4, 4), k, dtype=np.int16))
    layers.finish()
    means = [float(plane.mean()) for plane in iter_slices(overview.write(tmp_path / "o.nrrd", "float32"))]
    assert means == [0.5, 2.5, 4.5, 6.5]


def test_a_core_replayed_at_another_depth_gives_the_overview_a_core_read_there_gives(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    voxels = rng.integers(-1000, 3000, size=(30, 6, 6)).astype(np.int16)
    here, there = place_core((6, 6, 30), (0.7, 0.7, 0.9), 5.0), place_core((6, 6, 30), (0.7, 0.7, 0.9), 5.0137)
    grid = overview_grid([there], depth_to_s(5.0137), depth_to_s(5.0137 + 0.027), max_voxels=200)
    kept = Overview(grid).core(here)  # the first build, at another depth: what it keeps
    for plane in voxels:
        kept.add(plane)
    sums, lows = kept.finish()
    read, replayed = Overview(grid), Overview(grid)
    layers = read.core(there)
    for plane in voxels:
        layers.add(plane)
    layers.finish()
    replayed.core(there).replay(sums, lows)
    assert read.write(tmp_path / "read.nrrd", "int16").read_bytes() == \
        replayed.write(tmp_path / "replayed.nrrd", "int16").read_bytes()
    assert len({int(z) for z in read.bins(there)[1]}) > 1 and replayed.minimum == float(voxels.min())


def test_overview_gaps_hold_the_darkest_value_of_the_cores(tmp_path: Path) -> None:
    first = place_core((2, 2, 4), (1.0, 1.0, 1.0), 1.0)  # 1.000–1.004 m
    second = place_core((2, 2, 4), (1.0, 1.0, 1.0), 1.008)  # gap 1.004–1.008 m
    overview = Overview(overview_grid([first, second], depth_to_s(1.0), depth_to_s(1.012), max_voxels=10 ** 6))
    for placed, value in ((first, 500), (second, 700)):
        layers = overview.core(placed)
        for k in range(4):
            plane = np.full((2, 2), value, dtype=np.int16)
            if placed is first and k == 0:
                plane[0, 0] = -1000
            layers.add(plane)
        layers.finish()
    planes = list(iter_slices(overview.write(tmp_path / "overview.nrrd", "int16")))
    assert [int(p.max()) for p in planes] == [500] * 4 + [-1000] * 4 + [700] * 4
    assert int(planes[0].min()) == -1000


def test_tick_steps_are_1_2_or_5_times_a_power_of_ten_and_at_least_the_spacing_apart() -> None:
    assert ticks(2450.0, 2450.7, 1400, 48)[0] == 0.05  # 48 px × 0.5 mm = 24 mm → 50 mm
    assert ticks(0.0, 100.0, 100, 40) == (50.0, [0.0, 50.0, 100.0])
    assert ticks(1.0, 1.009, 100, 40)[0] == 0.005
    assert [number_label(2450.5, 0.5), number_label(2450.0, 10.0), number_label(2450.125, 0.005)] == \
        ["2450.5", "2450", "2450.125"]
    assert number_label(-1000.0, 1000.0) == "-1000" and number_label(-1000.0, 1000.0, "\u2212") == "\u22121000"


def test_the_well_strip_draws_each_core_at_its_depth_and_hatches_the_gaps() -> None:
    first = place_core((10, 10, 100), (1.0, 1.0, 1.0), 2.0)  # 2.0–2.1 m
    second = place_core((10, 10, 100), (1.0, 1.0, 1.0), 2.2)  # gap 2.1–2.2 m, core 2.2–2.3 m
    strip = WellStrip(depth_to_s(2.0), depth_to_s(2.3), 10.0, height=300)  # 1 mm per px
    for placed, value in ((first, 0.0), (second, 2000.0)):
        section = strip.core(placed is first and "A" or "B", placed, flip=False)
        for _ in range(100):
            section.add(np.full((10, 10), value, dtype=np.float32))
        section.finish()
    assert np.all(strip.values[0:100][:, strip.width // 2] == 0.0)
    assert np.all(np.isnan(strip.values[100:200]))
    assert np.all(strip.values[200:300][:, strip.width // 2] == 2000.0)
    picture = strip.render().pixels()
    assert (picture[strip.top_px + 100:strip.top_px + 200] == GAP_HATCH).any()


def test_a_flipped_core_is_drawn_with_its_last_slice_on_top() -> None:
    placed = place_core((4, 4, 50), (1.0, 1.0, 1.0), 1.0, flip=True)
    strip = WellStrip(depth_to_s(1.0), depth_to_s(1.05), 4.0, height=50)
    section = strip.core("A", placed, flip=True)
    for k in range(50):
        section.add(np.full((4, 4), k, dtype=np.float32))
    section.finish()
    assert strip.values[0, strip.width // 2] == 49 and strip.values[-1, strip.width // 2] == 0


def names(tmp_path: Path, cores: int = 3) -> list:
    write_well(tmp_path / "well", cores=cores, slices=3)
    return find_core_folders(tmp_path / "well")


@pytest.mark.parametrize("options, message", [
    (SceneOptions(build_scene=True), "--scene places cores at their depths"),
    (SceneOptions(start_depth_m=10.0), "--start-depth and --core-length go together"),
    (SceneOptions(depths_file=Path("d.txt"), start_depth_m=1.0, core_length_m=1.0), "either --depths or"),
    (SceneOptions(start_depth_m=10.0, core_length_m=0.0), "--core-length must be positive"),
])
def test_contradictory_depth_options_are_refused_before_converting(tmp_path: Path, options: SceneOptions,
                                                                   message: str) -> None:
    with pytest.raises(SceneSetupError, match=message):
        check_options(options, names(tmp_path))


def test_flip_all_flips_every_core_and_a_csv_row_can_flip_one(tmp_path: Path) -> None:
    folders = names(tmp_path)
    table = tmp_path / "d.csv"
    table.write_text("core,top,bottom,flip\ncore_002,1.003,1.006,yes\ncore_001,1.0,1.003,\ncore_003,1.006,1.009,\n")
    depths = check_options(SceneOptions(depths_file=table), folders)
    assert [depths[n].flip for n in ("core_001", "core_002", "core_003")] == [False, True, False]
    depths = check_options(SceneOptions(start_depth_m=1.0, core_length_m=0.003, flip_all=True), folders)
    assert all(d.flip for d in depths.values())


def test_the_depth_unit_applies_to_the_start_depth_and_core_length_and_to_the_table(tmp_path: Path) -> None:
    folders = names(tmp_path)
    depths = check_options(SceneOptions(start_depth_m=8000.0, core_length_m=3.0, depth_unit="ft"), folders)
    assert depths["core_003"].top_m == pytest.approx(8006 * 0.3048) and depths["core_003"].bottom_m == pytest.approx(
        8009 * 0.3048)
    table = tmp_path / "d.csv"
    table.write_text("core,top,bottom\ncore_001,100,101\ncore_002,101,102\ncore_003,102,103\n")
    depths = check_options(SceneOptions(depths_file=table, depth_unit="ft"), folders)
    assert depths["core_002"].top_m == pytest.approx(101 * 0.3048)


def test_a_scan_much_longer_than_its_interval_gets_one_warning_even_when_resumed(tmp_path: Path) -> None:
    folders = names(tmp_path, cores=1)
    depths = check_options(SceneOptions(start_depth_m=1.0, core_length_m=0.5), folders)
    records: List[CoreRecord] = [CoreRecord(name="core_001", source="x", status="converted", dimensions=[2, 2, 1000],
                                            spacing=[1.0, 1.0, 1.0])]
    add_length_warnings(records, depths)
    add_length_warnings(records, depths)
    assert len(records[0].warnings) == 1 and "scanned length 1000 mm" in records[0].warnings[0]


def test_placed_headers_state_the_depth_in_full(tmp_path: Path) -> None:
    from CoreBatchLoaderLib.well.layout import write_placed_header
    write_well(tmp_path / "well", cores=1, slices=4)
    record = convert_tree(tmp_path / "well", tmp_path / "out").records[0]
    source = read_header(tmp_path / "out" / record.output)
    grid = place_core(source.sizes, source.spacing, 2450.123456789)
    (tmp_path / "out" / "scene").mkdir()
    target = write_placed_header(tmp_path / "out" / "scene" / "c.nhdr", source, grid,
                                 {"corebatchloader_top_m": repr(2450.123456789)})
    text = target.read_text()
    assert "corebatchloader_top_m:=2450.123456789\n" in text
    assert "space origin: (%r,%r,%r)" % grid.origin_lps in text
    assert text.endswith("line skip: %d\ndata file: ../%s\n" % (
        (tmp_path / "out" / record.output).read_bytes()[:source.data_offset].count(b"\n"), record.output))
