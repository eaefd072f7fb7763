"""Cores on log depth end to end (issue 21): DICOM cores cut from a logged formation → convert
with the driller's depths → depth-match against the wireline → convert again with
depth_match/depths_log.csv: the cores placed at log depth, nothing converted again."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from logged_output import FEET, write_wireline

from CoreBatchLoaderLib.batch.run import BatchOptions, run_batch
from CoreBatchLoaderLib.cli import main
from CoreBatchLoaderLib.convert import ConvertOptions
from CoreBatchLoaderLib.depth_match.names import DEPTHS_NAME, FOLDER, SHIFTS_NAME
from CoreBatchLoaderLib.synthetic.logged_well import logged_well
from CoreBatchLoaderLib.synthetic.phantoms import CorePhantom, Layer, write_phantom
from CoreBatchLoaderLib.well.options import SceneOptions

lasio = pytest.importorskip("lasio")
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


@pytest.fixture(scope="module")
def well_on_log_depth(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("e2e")
    well = write_cores(root)
    options = BatchOptions(convert=ConvertOptions(durable=False), workers=1,
                           scene=SceneOptions(depths_file=root / "driller.csv", well_name="Synthetic 1"))
    first = run_batch(root / "in", root / "out", options)
    assert first.exit_code == 0, [r.error for r in first.records]
    assert main(["depth-match", str(root / "out"), "--log", str(root / "wireline.las"), "--curve", "RHOB",
                 "--no-fsync", "--quiet"]) == 0
    return well, root, first


def test_converted_dicom_cores_are_matched_to_the_wireline(well_on_log_depth) -> None:
    well, root, _ = well_on_log_depth
    rows = (root / "out" / FOLDER / SHIFTS_NAME).read_text().splitlines()[1:]
    shifts = {row.split(",")[0]: float(row.split(",")[3]) for row in rows}
    assert sorted(shifts) == [c.name for c in well.cores]
    for core in well.cores:
        assert abs(shifts[core.name] - core.shift_m) <= 0.15, (core.name, shifts[core.name], core.shift_m)
    assert (root / "out" / FOLDER / DEPTHS_NAME).is_file()
