"""Applying a depth match (issue 21 item 5): a rerun of ``convert`` whose depth table only moves
the cores (``depth_match/depths_log.csv``) converts nothing and reads no DICOM — the batch's
fingerprint holds the flips, not the intervals — yet every depth-dependent output says the new
depths: the unwraps' headers, the CT logs' depth column, the well LAS, the well's pictures and
the scene, as a fresh conversion at those depths writes them — the scene without reading a
volume again (each core's overview sums and strip section kept from the first build)."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pytest
from conftest import scene_volume_nodes

from CoreBatchLoaderLib.analysis.unwrap import FIRST_ROW_KEY
from CoreBatchLoaderLib.batch.run import BatchOptions, BatchResult, run_batch
from CoreBatchLoaderLib.convert import ConvertOptions
from CoreBatchLoaderLib.files import written_by_batch
from CoreBatchLoaderLib.nrrd.reader import read_header
from CoreBatchLoaderLib.synthetic.phantoms import CorePhantom, Layer, well_of_phantoms
from CoreBatchLoaderLib.well.layout import PROXY_SUFFIX, read_layout
from CoreBatchLoaderLib.well.options import SceneOptions

lasio = pytest.importorskip("lasio")
pytest.importorskip("slicer")

PHANTOMS = [CorePhantom(rows=64, columns=64, slices=40, diameter_mm=24.0, layers=(Layer(10, 2500.0), Layer(100, 1200.0))),
            CorePhantom(rows=64, columns=64, slices=40, diameter_mm=24.0, layers=(Layer(25, 600.0), Layer(100, 1800.0)))]
DRILLER = "core,top,bottom,flip\ncore_001,2450.00,2450.04,\ncore_002,2450.05,2450.09,\n"
LOG = "core,top,bottom,flip\ncore_001,2450.70,2450.74,\ncore_002,2451.10,2451.14,\n"  # moved, not flipped
SHIFTED = "core,top,bottom,flip\ncore_001,2450.50,2450.54,\ncore_002,2450.90,2450.94,\n"  # LOG's interval, higher


def no_conversion(core: object, output_dir: Path, options: object) -> object:
    raise AssertionError("converted %s again" % getattr(core, "name", core))


def convert(root: Path, table: Optional[str], out: str = "out", converter: object = None,
            budget: int = 10 ** 9) -> BatchResult:
    scene = SceneOptions()
    if table is not None:
        (root / ("%s.csv" % out)).write_text(table)
        scene = SceneOptions(depths_file=root / ("%s.csv" % out), build_scene=True, memory_budget=budget)
    return run_batch(root / "in", root / out, BatchOptions(convert=ConvertOptions(durable=False), workers=1,
                                                           scene=scene), converter=converter)


def stamps(out: Path) -> dict:
    return {p.name: p.stat().st_mtime_ns for p in out.glob("*.nrrd")}


def volumes_read(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """The names of the files the scene's layout streams voxels from, from now on."""
    import CoreBatchLoaderLib.well.layout as layout
    read: List[str] = []
    real = layout.iter_slices

    def iter_slices(source: object) -> object:
        read.append(Path(getattr(source, "path", source)).name)
        return real(source)  # type: ignore[arg-type]
    monkeypatch.setattr(layout, "iter_slices", iter_slices)
    return read


def scene_volumes(out: Path) -> Dict[str, Tuple[Optional[str], np.ndarray, List[float]]]:
    """Every volume of ``out/scene.mrml`` as slicer-core loads it: name → (its top_m attribute,
    voxels, IJK-to-RAS)."""
    from vtk.util.numpy_support import vtk_to_numpy
    found = {}
    for node, matrix in scene_volume_nodes(out):
        assert node.GetImageData() is not None, node.GetName()
        found[node.GetName()] = (node.GetAttribute("CoreBatchLoader.top_m"),
                                 vtk_to_numpy(node.GetImageData().GetPointData().GetScalars()).copy(),
                                 [matrix.GetElement(i, j) for i in range(4) for j in range(4)])
    return found


@pytest.mark.parametrize("first, budget, reads", [
    (DRILLER, 10 ** 9, False), (None, 10 ** 9, True),  # no scene before: nothing kept to place
    (SHIFTED, 300_000, False),  # proxies: their voxels copied under a new header
    (DRILLER, 300_000, True)],  # the overview's voxel size follows the well's length, here 0.09 m → 0.44 m
    ids=["driller's depths", "no depths", "proxies", "proxies, overview voxels changed"])
def test_moving_cores_converts_nothing_and_gives_what_a_fresh_run_gives(tmp_path: Path, first: Optional[str],
                                                                        budget: int, reads: bool,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    well_of_phantoms(tmp_path / "in", PHANTOMS)
    assert convert(tmp_path, first, budget=budget).exit_code == 0
    volumes = stamps(tmp_path / "out")
    read = volumes_read(monkeypatch)
    rerun = convert(tmp_path, LOG, converter=no_conversion, budget=budget)  # any core converted again fails
    assert rerun.exit_code == 0 and [r.status for r in rerun.records] == ["skipped", "skipped"]
    assert stamps(tmp_path / "out") == volumes  # no volume written again
    # the scene's parts kept by the first build: no volume read again (proxies: their own voxels)
    assert [name for name in read if not name.endswith(PROXY_SUFFIX)] == \
        (["core_001.nrrd", "core_002.nrrd"] if reads else [])
    fresh = convert(tmp_path, LOG, out="fresh", budget=budget)
    layout = read_layout(tmp_path / "out")
    assert [c.factor for c in layout.cores] == [1 if budget > 10 ** 6 else 2] * 2
    scene_files = ["scene/overview.nrrd"] + [f for c in layout.cores for f in (c.file, c.full_file, c.unwrap_file)]
    for name in scene_files:
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name
    assert written_by_batch(tmp_path / "out" / "scene" / "core_002_parts.npz")
    moved, made = scene_volumes(tmp_path / "out"), scene_volumes(tmp_path / "fresh")
    assert sorted(moved) == sorted(made) and {"core_001", "core_002"} < set(moved)  # the unwraps too
    assert [name for name in moved if name.endswith("overview")]
    for name, (top, voxels, matrix) in moved.items():
        assert top == made[name][0] and np.array_equal(voxels, made[name][1]) and matrix == made[name][2], name
    assert (moved["core_001"][0], moved["core_002"][0]) == ("2450.7", "2451.1")
    fresh_layout = read_layout(tmp_path / "fresh")
    assert [asdict(c) for c in layout.cores] == [asdict(c) for c in fresh_layout.cores]
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
