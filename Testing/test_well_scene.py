"""The whole well in one scene, proven with Slicer's own MRML (slicer-core): every scene is written
by the batch, then opened in a fresh vtkMRMLScene (SetURL + Import) the way Slicer opens a file,
and what Slicer loaded is compared with the depth table and with the converted cores.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pytest
from conftest import convert_tree, require_module
from CoreBatchLoaderLib.batch.run import BatchResult
from CoreBatchLoaderLib.files import record_written
from CoreBatchLoaderLib.synthetic import write_well
from CoreBatchLoaderLib.well.layout import read_layout
from CoreBatchLoaderLib.well.options import SceneOptions
from CoreBatchLoaderLib.well.placement import block_padding
from slicer_oracle import load_volume_like_slicer
from test_placement import brute_block_mean

slicer = require_module("slicer", "slicer-core")
import vtk  # noqa: E402  (comes with slicer-core)
from CoreBatchLoaderLib.mrml import well as well_scene  # noqa: E402
from vtk.util.numpy_support import vtk_to_numpy  # noqa: E402

TOP_M = 2450.123456  # millions of mm: MRML would keep 6 digits of it
SLICES, ROWS, COLUMNS = 10, 12, 10  # 10 slices of 1 mm: 10 mm cores
# Out of folder order, with a 5 mm gap above core_004 and core_002 scanned bottom to top.
DEPTHS = "core,top,bottom,flip\n" + "".join("%s,%r,%r,%s\n" % row for row in [
    ("core_003", TOP_M + 0.020, TOP_M + 0.030, ""),
    ("core_001", TOP_M, TOP_M + 0.010, ""),
    ("core_004", TOP_M + 0.035, TOP_M + 0.045, ""),
    ("core_002", TOP_M + 0.010, TOP_M + 0.020, "yes"),
])
ORDER = ["core_001", "core_002", "core_003", "core_004"]
CORE_BYTES = SLICES * ROWS * COLUMNS * 2  # int16


def build_well(root: Path, budget: Optional[int] = None, **convert: object) -> BatchResult:
    write_well(root / "well", cores=4, slices=SLICES, rows=ROWS, columns=COLUMNS)
    (root / "depths.csv").write_text(DEPTHS)
    result = convert_tree(root / "well", root / "out", scene=SceneOptions(
        depths_file=root / "depths.csv", build_scene=True, memory_budget=budget or 10 ** 9, well_name="W-7"),
        **convert)
    assert result.exit_code == 0 and result.well is not None and result.well.error is None, result.well
    return result


def open_scene(path: Path) -> object:
    scene = slicer.vtkMRMLScene()
    scene.SetURL(str(path))
    assert scene.Import(), "Slicer could not import %s" % path
    return scene


def load(path: Path) -> Tuple[object, Dict[str, object]]:
    """The scene (keep it: its nodes die with it) and its volumes by name."""
    scene = open_scene(path)
    return scene, volumes(scene)


def volumes(scene: object) -> Dict[str, object]:
    nodes = [scene.GetNthNodeByClass(n, "vtkMRMLScalarVolumeNode")
             for n in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode"))]
    return {node.GetName(): node for node in nodes}


def s_range(node: object) -> Tuple[float, float]:
    bounds = [0.0] * 6
    node.GetRASBounds(bounds)
    return bounds[4], bounds[5]


def ijk_to_ras(node: object) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def voxels(node: object) -> np.ndarray:
    image = node.GetImageData()
    i, j, k = image.GetDimensions()
    return vtk_to_numpy(image.GetPointData().GetScalars()).reshape(k, j, i)


def folder_children(scene: object, name: str) -> List[str]:
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    folder = sh.GetItemChildWithName(sh.GetSceneItemID(), name)
    assert folder != sh.GetInvalidItemID(), "no folder %r" % name
    ids = vtk.vtkIdList()
    sh.GetItemChildren(folder, ids)
    return [sh.GetItemName(ids.GetId(n)) for n in range(ids.GetNumberOfIds())]


@pytest.fixture(scope="module")
def full_well(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("full")
    build_well(root)
    return root / "out"


@pytest.fixture(scope="module")
def proxy_well(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Room for about a quarter of the cores' voxels: every core becomes a proxy."""
    root = tmp_path_factory.mktemp("proxy")
    build_well(root, budget=CORE_BYTES)
    return root / "out"


def test_every_core_spans_its_depth_interval_after_reopening_the_scene(full_well: Path) -> None:
    _, loaded = load(full_well / "scene.mrml")
    for line in DEPTHS.splitlines()[1:]:
        name, top, bottom, _ = line.split(",")
        bottom_s, top_s = s_range(loaded[name])
        assert abs(top_s - -1000 * float(top)) <= 1.0, name  # one voxel: 1 mm
        assert abs(bottom_s - -1000 * float(bottom)) <= 1.0, name
        assert loaded[name].GetImageData().GetDimensions() == (COLUMNS, ROWS, SLICES)


def test_depths_of_millions_of_millimetres_survive_the_scene_to_a_hundredth_of_a_millimetre(full_well: Path) -> None:
    text = (full_well / "scene.mrml").read_text()
    assert "-2.45012e+06" in text  # MRML itself keeps 6 digits: the precision comes from the NRRD header
    scene, loaded = load(full_well / "scene.mrml")
    core = loaded["core_001"]
    assert abs(s_range(core)[1] - -2450123.456) < 0.01
    assert abs(ijk_to_ras(core)[2, 3] - (-2450123.456 - 0.5)) < 0.01  # first slice centre: half a slice down
    assert core.GetAttribute("CoreBatchLoader.top_m") == repr(TOP_M)


def test_the_well_folder_lists_the_overview_then_the_cores_sorted_by_depth(full_well: Path) -> None:
    assert folder_children(open_scene(full_well / "scene.mrml"), "W-7") == ["W-7 overview"] + ORDER


def test_the_overview_spans_the_whole_cored_interval(full_well: Path) -> None:
    scene, loaded = load(full_well / "scene.mrml")
    overview = loaded["W-7 overview"]
    bottom_s, top_s = s_range(overview)
    voxel = float(np.linalg.norm(ijk_to_ras(overview)[:3, 2]))
    assert abs(top_s - -1000 * TOP_M) < 0.01
    assert -1000 * (TOP_M + 0.045) - voxel < bottom_s <= -1000 * (TOP_M + 0.045) + 1e-6
    assert overview.GetImageData().GetDimensions()[2] * voxel >= 45.0 - 1e-6


@pytest.mark.parametrize("compress", [False, True])
def test_placed_headers_show_the_converted_voxels_without_copying_them(tmp_path: Path, compress: bool) -> None:
    result = build_well(tmp_path, compress=compress)
    for record in result.records:
        placed = tmp_path / "out" / "scene" / (record.name + ".nhdr")
        assert placed.stat().st_size < 2000  # a header, not a copy
        converted, _ = load_volume_like_slicer(tmp_path / "out" / record.output)
        shown, matrix = load_volume_like_slicer(placed)
        np.testing.assert_array_equal(shown, converted)  # same indices: the frame is right-handed
        assert np.linalg.det(matrix[:3, :3]) > 0


def test_a_flipped_core_has_its_last_slice_at_its_top_depth(full_well: Path) -> None:
    _, loaded = load(full_well / "scene.mrml")
    for name, flipped in (("core_001", False), ("core_002", True)):
        matrix = ijk_to_ras(loaded[name])
        top_slice = SLICES - 1 if flipped else 0
        assert (matrix @ [0, 0, top_slice, 1])[2] == pytest.approx(s_range(loaded[name])[1] - 0.5, abs=1e-6)
        converted, _ = load_volume_like_slicer(full_well / (name + ".nrrd"))
        np.testing.assert_array_equal(voxels(loaded[name]), converted)


def test_every_volume_shares_one_grey_rock_ct_window(full_well: Path) -> None:
    scene, loaded = load(full_well / "scene.mrml")
    for name, node in loaded.items():
        display = node.GetDisplayNode()
        assert (display.GetWindow(), display.GetLevel()) == (4000.0, 1000.0), name
        assert display.GetColorNodeID() == "vtkMRMLColorTableNodeGrey"


def test_core_attributes_carry_depths_source_spacing_and_proxy_factor(full_well: Path) -> None:
    scene, loaded = load(full_well / "scene.mrml")
    core = loaded["core_002"]
    attributes = {key: core.GetAttribute("CoreBatchLoader." + key)
                  for key in ("top_m", "bottom_m", "flip", "source", "spacing_mm", "proxy_factor")}
    assert attributes == {"top_m": repr(TOP_M + 0.010), "bottom_m": repr(TOP_M + 0.020), "flip": "1",
                          "source": str((full_well.parent / "well" / "core_002").resolve()),
                          "spacing_mm": "0.4 0.5 1.0", "proxy_factor": "1"}


def test_proxies_keep_the_scene_within_its_memory_budget_with_the_smallest_factor(proxy_well: Path) -> None:
    layout = read_layout(proxy_well)
    _, loaded = load(proxy_well / "scene.mrml")
    held = sum(node.GetImageData().GetPointData().GetScalars().GetNumberOfValues() * 2 for node in loaded.values())
    assert held <= CORE_BYTES and layout.factor == 2  # full cores: 4 × the budget; halved: 4/8 of it
    for name in ORDER:
        assert loaded[name].GetStorageNode().GetFileName().endswith("scene/%s_proxy.nrrd" % name)
        assert loaded[name].GetImageData().GetDimensions() == (COLUMNS // 2, ROWS // 2, SLICES // 2)


def test_a_proxy_is_the_block_mean_of_its_core_in_the_same_place(proxy_well: Path) -> None:
    _, loaded = load(proxy_well / "scene.mrml")
    for name, flip in (("core_001", False), ("core_002", True)):
        full, full_matrix = load_volume_like_slicer(proxy_well / "scene" / (name + ".nhdr"))
        expected = np.rint(brute_block_mean(full, 2, block_padding((COLUMNS, ROWS, SLICES), 2, flip)))
        np.testing.assert_array_equal(voxels(loaded[name]), expected)
        # block (0, 0, 0) sits at the mean of its eight voxels' centres
        centre = np.mean([full_matrix @ [i, j, k, 1] for i in (0, 1) for j in (0, 1) for k in (0, 1)], axis=0)
        np.testing.assert_allclose(ijk_to_ras(loaded[name])[:, 3], centre, atol=1e-6)
        assert abs(s_range(loaded[name])[1] - s_range_of(full_matrix)) < 1e-6  # the top stays at the depth


def s_range_of(matrix: np.ndarray) -> float:
    """Top S edge of a full core of SLICES slices."""
    return max((matrix @ [0, 0, k, 1])[2] for k in (-0.5, SLICES - 0.5))


def test_swap_to_full_resolution_replaces_a_proxy_in_place(proxy_well: Path) -> None:
    scene = open_scene(proxy_well / "scene.mrml")
    node = volumes(scene)["core_003"]
    node_id, top = node.GetID(), s_range(node)[1]
    assert well_scene.swap_to_full_resolution(scene, node)
    assert node.GetImageData().GetDimensions() == (COLUMNS, ROWS, SLICES)
    converted, _ = load_volume_like_slicer(proxy_well / "core_003.nrrd")
    np.testing.assert_array_equal(voxels(node), converted)
    assert scene.GetNodeByID(node_id) is node and abs(s_range(node)[1] - top) < 1e-6
    assert folder_children(scene, "W-7") == ["W-7 overview"] + ORDER
    assert not well_scene.swap_to_full_resolution(scene, node)  # already full


def test_the_output_folder_can_move_with_its_scene(tmp_path: Path) -> None:
    build_well(tmp_path)
    moved = tmp_path / "elsewhere" / "well-7-nrrd"
    shutil.move(str(tmp_path / "out"), str(moved))
    shutil.rmtree(tmp_path / "well")
    _, loaded = load(moved / "scene.mrml")
    assert len(loaded) == 5 and all(node.GetImageData() is not None for node in loaded.values())
    assert str(moved) in loaded["core_001"].GetStorageNode().GetFileName()


def test_a_rerun_with_more_memory_shows_full_cores_and_removes_the_proxies(tmp_path: Path) -> None:
    build_well(tmp_path, budget=CORE_BYTES)
    assert (tmp_path / "out" / "scene" / "core_001_proxy.nrrd").exists()
    result = convert_tree(tmp_path / "well", tmp_path / "out", scene=SceneOptions(
        depths_file=tmp_path / "depths.csv", build_scene=True, memory_budget=10 ** 9, well_name="W-7"))
    assert [r.status for r in result.records] == ["skipped"] * 4 and result.well.layout.factor == 1
    assert not list((tmp_path / "out" / "scene").glob("*_proxy.nrrd"))
    _, loaded = load(tmp_path / "out" / "scene.mrml")
    assert loaded["core_001"].GetImageData().GetDimensions() == (COLUMNS, ROWS, SLICES)


def test_dicom_backed_cores_are_placed_over_their_dicom_files(tmp_path: Path) -> None:
    result = build_well(tmp_path, output_format="nhdr")
    assert all(r.output.endswith(".nhdr") for r in result.records)
    _, loaded = load(tmp_path / "out" / "scene.mrml")
    for record in result.records:
        converted, _ = load_volume_like_slicer(tmp_path / "out" / record.output)
        np.testing.assert_array_equal(voxels(loaded[record.name]), converted)


def slicer_like_scene() -> Tuple[object, list]:
    """A scene with the view nodes Slicer's layout and slice logics create at start-up."""
    scene = slicer.vtkMRMLScene()
    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
    layout = slicer.vtkMRMLLayoutLogic()
    layout.SetMRMLScene(scene)
    logics = [layout]
    for n in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceNode")):
        logic = slicer.vtkMRMLSliceLogic()
        logic.SetMRMLScene(scene)
        logic.SetSliceNode(scene.GetNthNodeByClass(n, "vtkMRMLSliceNode"))
        logics.append(logic)
    return scene, logics


def test_opening_the_scene_points_slicers_slice_views_at_the_well(full_well: Path) -> None:
    scene, keep_alive = slicer_like_scene()
    assert scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode") == 3
    scene.SetURL(str(full_well / "scene.mrml"))
    assert scene.Import()
    overview = volumes(scene)["W-7 overview"]
    assert scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode") == 3  # merged, not added
    for name in ("Red", "Yellow", "Green"):
        composite = scene.GetSingletonNode(name, "vtkMRMLSliceCompositeNode")
        assert composite.GetBackgroundVolumeID() == overview.GetID(), name
        view = scene.GetSingletonNode(name, "vtkMRMLSliceNode")
        centre_s = view.GetSliceToRAS().GetElement(2, 3)
        assert -1000 * (TOP_M + 0.045) < centre_s < -1000 * TOP_M, name
    assert scene.GetSingletonNode("Green", "vtkMRMLSliceNode").GetFieldOfView()[1] >= 45.0


def test_add_well_loads_the_same_well_into_a_live_scene(proxy_well: Path) -> None:
    """What "add to scene" does inside Slicer: the nodes of scene.mrml, read at once."""
    scene = slicer.vtkMRMLScene()
    nodes = well_scene.add_well(scene, proxy_well, read_layout(proxy_well), load_data=True)
    assert list(nodes.cores) == ORDER and folder_children(scene, "W-7") == ["W-7 overview"] + ORDER
    _, reopened = load(proxy_well / "scene.mrml")
    for name, node_id in list(nodes.cores.items()) + [("W-7 overview", nodes.overview)]:
        node = scene.GetNodeByID(node_id)
        np.testing.assert_array_equal(voxels(node), voxels(reopened[name]))
        np.testing.assert_allclose(ijk_to_ras(node), ijk_to_ras(reopened[name]), atol=1e-6)


def test_a_core_whose_output_is_gone_is_left_out_with_a_warning(tmp_path: Path) -> None:
    build_well(tmp_path)
    (tmp_path / "out" / "core_003.nrrd").unlink()
    (tmp_path / "out" / "core_003.nrrd").write_text("not an NRRD")
    # damaged where its size and time cannot tell (bit rot): the rerun keeps it (one that can tell
    # is converted again: test_hostile_use), and the scene leaves it out
    record_written(tmp_path / "out" / "core_003.nrrd")
    result = convert_tree(tmp_path / "well", tmp_path / "out", scene=SceneOptions(
        depths_file=tmp_path / "depths.csv", build_scene=True, well_name="W-7"))
    assert result.well.error is None
    assert any(w.startswith("core_003 is not in the scene: ") for w in result.well.layout.warnings)
    scene = open_scene(tmp_path / "out" / "scene.mrml")
    assert folder_children(scene, "W-7") == ["W-7 overview", "core_001", "core_002", "core_004"]
