"""Applying a depth match (issue 21 item 5): a rerun of ``convert`` whose depth table only moves
the cores (``depth_match/depths_log.csv``) converts nothing and reads no DICOM — the batch's
fingerprint holds the flips, not the intervals — yet every depth-dependent output says the new
depths: the unwraps' headers, the CT logs' depth column, the well LAS, the well's pictures and
the scene, as a fresh conversion at those depths writes them."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest

from CoreBatchLoaderLib.analysis.unwrap import FIRST_ROW_KEY
from CoreBatchLoaderLib.batch.run import BatchOptions, BatchResult, run_batch
from CoreBatchLoaderLib.convert import ConvertOptions
from CoreBatchLoaderLib.nrrd.reader import read_header
from CoreBatchLoaderLib.synthetic.phantoms import CorePhantom, Layer, well_of_phantoms
from CoreBatchLoaderLib.well.options import SceneOptions

lasio = pytest.importorskip("lasio")
pytest.importorskip("slicer")

PHANTOMS = [CorePhantom(rows=64, columns=64, slices=40, diameter_mm=24.0, layers=(Layer(10, 2500.0), Layer(100, 1200.0))),
            CorePhantom(rows=64, columns=64, slices=40, diameter_mm=24.0, layers=(Layer(25, 600.0), Layer(100, 1800.0)))]
DRILLER = "core,top,bottom,flip\ncore_001,2450.00,2450.04,\ncore_002,2450.05,2450.09,\n"
LOG = "core,top,bottom,flip\ncore_001,2450.70,2450.74,\ncore_002,2451.10,2451.14,\n"  # moved, not flipped


def no_conversion(core: object, output_dir: Path, options: object) -> object:
    raise AssertionError("converted %s again" % getattr(core, "name", core))


def convert(root: Path, table: Optional[str], out: str = "out", converter: object = None) -> BatchResult:
    scene = SceneOptions()
    if table is not None:
        (root / ("%s.csv" % out)).write_text(table)
        scene = SceneOptions(depths_file=root / ("%s.csv" % out), build_scene=True, memory_budget=10 ** 9)
    return run_batch(root / "in", root / out, BatchOptions(convert=ConvertOptions(durable=False), workers=1,
                                                           scene=scene), converter=converter)


def stamps(out: Path) -> dict:
    return {p.name: p.stat().st_mtime_ns for p in out.glob("*.nrrd")}


@pytest.mark.parametrize("first", [DRILLER, None], ids=["driller's depths", "no depths"])
def test_moving_cores_converts_nothing_and_gives_what_a_fresh_run_gives(tmp_path: Path, first: Optional[str]) -> None:
    well_of_phantoms(tmp_path / "in", PHANTOMS)
    assert convert(tmp_path, first).exit_code == 0
    volumes = stamps(tmp_path / "out")
    rerun = convert(tmp_path, LOG, converter=no_conversion)  # any core converted again fails the run
    assert rerun.exit_code == 0 and [r.status for r in rerun.records] == ["skipped", "skipped"]
    assert stamps(tmp_path / "out") == volumes  # no volume written again
    fresh = convert(tmp_path, LOG, out="fresh")
    for name in ("unwrap/core_001_unwrap.nrrd", "unwrap/core_002_unwrap.nrrd", "logs/core_001.csv",
                 "logs/core_002.csv", "well_ct_log.csv", "well_strip.png", "well_unwrap.png",
                 "unwrap/core_001_unwrap.png", "thumbnails/core_001.png", "thumbnails/core_002.png"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name
    assert read_header(tmp_path / "out" / "unwrap" / "core_002_unwrap.nrrd").key_values[FIRST_ROW_KEY] == \
        repr(2451.10 + 0.0005)
    las = lasio.read(str(tmp_path / "out" / "well_ct_log.las"))  # the LAS at the new depths (its DATE aside)
    assert [p.value for p in las.params if p.mnemonic.startswith("TOP")] == [2450.70, 2451.10]


def test_a_rerun_without_depths_takes_the_depth_out_of_the_unwraps(tmp_path: Path) -> None:
    well_of_phantoms(tmp_path / "in", PHANTOMS)
    assert convert(tmp_path, DRILLER).exit_code == 0
    rerun = convert(tmp_path, None, converter=no_conversion)
    assert [r.status for r in rerun.records] == ["skipped", "skipped"]
    fresh = convert(tmp_path, None, out="fresh")
    assert fresh.exit_code == 0
    for name in ("unwrap/core_001_unwrap.nrrd", "unwrap/core_002_unwrap.nrrd", "thumbnails/core_001.png"):
        assert name.endswith(".png") or FIRST_ROW_KEY not in read_header(tmp_path / "out" / name).key_values
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name
