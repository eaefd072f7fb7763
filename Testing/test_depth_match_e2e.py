"""Cores on log depth end to end (issue 21): DICOM cores cut from a logged formation → convert
with the driller's depths → depth-match against the wireline → convert again with
depth_match/depths_log.csv: the cores placed at log depth, nothing converted again."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import require_module
from logged_output import FEET, write_wireline

from CoreBatchLoaderLib.analysis.ct_log import DEPTH_COLUMN, read_log_csv
from CoreBatchLoaderLib.analysis.unwrap import FIRST_ROW_KEY
from CoreBatchLoaderLib.batch.run import BatchOptions, BatchResult, run_batch
from CoreBatchLoaderLib.cli import main
from CoreBatchLoaderLib.convert import ConvertOptions
from CoreBatchLoaderLib.depth_match.names import DEPTHS_NAME, FOLDER, PICTURE_NAME, SHIFTS_NAME
from CoreBatchLoaderLib.nrrd.reader import read_header
from CoreBatchLoaderLib.synthetic.logged_well import logged_well
from CoreBatchLoaderLib.synthetic.phantoms import CorePhantom, Layer, write_phantom
from CoreBatchLoaderLib.well.options import SceneOptions

lasio = require_module("lasio", "lasio")
SLICE_MM = 5.0


def write_cores(root: Path):
    """Ten ~1 m cores of the formation as CT series (5 mm slices, small sections), the driller's
    depth table (in feet), the wireline; the truth."""
    well = logged_well(seed=1, cores=10, slice_mm=SLICE_MM, lost_run=(0, 0), featureless=None, gapped=None)
    base = CorePhantom(rows=40, columns=40, pixel_spacing=(1.5, 1.5), slice_spacing=SLICE_MM, diameter_mm=45.0,
                       noise_hu=20.0)
    lines = ["Core,Top (ft),Bottom (ft)"]  # the driller's depths in feet, as a lab writes them
    for n, core in enumerate(well.cores):
        rho = (core.hu - well.hu_at_zero) / well.hu_per_unit  # the CT's own numbers, noise left to the phantom
        layers = tuple(Layer(SLICE_MM, float(np.round(well.hu_per_unit * r + well.hu_at_zero))) for r in rho)
        write_phantom(root / "in" / core.name, replace(base, slices=len(core.hu), layers=layers, seed=n + 1))
        lines.append("%s,%.6f,%.6f" % (core.name, core.top_m / FEET, core.bottom_m / FEET))
    (root / "driller.csv").write_text("\n".join(lines) + "\n")
    write_wireline(root / "wireline.las", well)
    return well


def no_conversion(core: object, output_dir: Path, options: object) -> object:
    raise AssertionError("converted %s again" % getattr(core, "name", core))


def convert(root: Path, table: Path, **batch: object) -> BatchResult:
    options = BatchOptions(convert=ConvertOptions(durable=False), workers=1, scene=SceneOptions(
        depths_file=table, build_scene=True, memory_budget=10 ** 9, well_name="Synthetic 1"))
    return run_batch(root / "in", root / "out", options, **batch)


@pytest.fixture(scope="module")
def well_on_log_depth(tmp_path_factory: pytest.TempPathFactory):
    """Converted at the driller's depths with a scene, matched, converted again at log depth (any
    core converted again would fail that run)."""
    pytest.importorskip("slicer")
    root = tmp_path_factory.mktemp("e2e")
    well = write_cores(root)
    first = convert(root, root / "driller.csv")
    assert first.exit_code == 0, [r.error for r in first.records]
    assert main(["depth-match", str(root / "out"), "--log", str(root / "wireline.las"), "--curve", "RHOB",
                 "--no-fsync", "--quiet"]) == 0
    volumes = {p.name: p.stat().st_mtime_ns for p in (root / "out").glob("*.nrrd")}
    applied = convert(root, root / "out" / FOLDER / DEPTHS_NAME, converter=no_conversion)
    assert applied.exit_code == 0, [r.error for r in applied.records]
    assert {p.name: p.stat().st_mtime_ns for p in (root / "out").glob("*.nrrd")} == volumes
    return well, root, applied


def test_converted_dicom_cores_are_matched_to_the_wireline(well_on_log_depth) -> None:
    well, root, _ = well_on_log_depth
    rows = (root / "out" / FOLDER / SHIFTS_NAME).read_text().splitlines()[1:]
    shifts = {row.split(",")[0]: float(row.split(",")[3]) for row in rows}
    assert sorted(shifts) == [c.name for c in well.cores]
    for core in well.cores:
        assert abs(shifts[core.name] - core.shift_m) <= 0.15, (core.name, shifts[core.name], core.shift_m)
    assert (root / "out" / FOLDER / DEPTHS_NAME).is_file()


def test_applying_the_shifts_converts_nothing(well_on_log_depth) -> None:
    _, _, applied = well_on_log_depth
    assert {r.status for r in applied.records} == {"skipped"}


def test_slicer_reads_the_shifted_scenes_volumes_at_their_log_depths(well_on_log_depth) -> None:
    from test_well_ct_log import slice_depths_in_scene
    well, root, _ = well_on_log_depth
    rows = (root / "out" / FOLDER / SHIFTS_NAME).read_text().splitlines()[1:]
    log_tops = {row.split(",")[0]: float(row.split(",")[4]) for row in rows}
    in_scene = {name: depths for name, depths in slice_depths_in_scene(root / "out").items()
                if not name.endswith(" unwrap")}  # the cores (their unwraps beside them)
    assert sorted(in_scene) == sorted(log_tops)
    for name, depths in in_scene.items():
        assert depths[0] == pytest.approx(log_tops[name] + SLICE_MM / 2000.0, abs=1e-6)  # slice 0: the top
    truth = {c.name: c for c in well.cores}
    for name, depths in in_scene.items():  # at the true log depth, to the matcher's accuracy
        assert abs(depths[0] - (truth[name].top_m + truth[name].shift_m + SLICE_MM / 2000.0)) <= 0.15


def test_the_log_the_las_and_the_report_are_at_log_depth(well_on_log_depth) -> None:
    _, root, applied = well_on_log_depth
    rows = (root / "out" / FOLDER / SHIFTS_NAME).read_text().splitlines()[1:]
    log_tops = {row.split(",")[0]: float(row.split(",")[4]) for row in rows}
    las = lasio.read(str(root / "out" / "well_ct_log.las"))
    tops = {p.descr[:-len(" top")]: p.value for p in las.params if p.mnemonic.startswith("TOP")}
    assert tops == pytest.approx(log_tops, abs=1e-4)
    first, values, _, _ = read_log_csv(root / "out" / "logs" / "core_001.csv")
    assert first == DEPTH_COLUMN and values[0] == pytest.approx(log_tops["core_001"] + SLICE_MM / 2000.0, abs=1e-6)
    unwrap = read_header(root / "out" / "unwrap" / "core_001_unwrap.nrrd")
    assert float(unwrap.key_values[FIRST_ROW_KEY]) == pytest.approx(log_tops["core_001"] + SLICE_MM / 2000.0)
    report = applied.report.read_text()
    assert "%s/%s" % (FOLDER, PICTURE_NAME) in report and "Cores on log depth" in report
