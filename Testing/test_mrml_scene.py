"""Add to scene, for real: converted cores loaded into an MRML scene by slicer-core's own classes.

slicer-core is Slicer's MRML library without the application: the same vtkMRMLScene,
vtkMRMLVolumeArchetypeStorageNode and vtkMRMLSubjectHierarchyNode the module uses inside Slicer.
"""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import nrrd
import numpy as np
import pytest
from conftest import ROOT, convert_tree, require_module
from CoreBatchLoaderLib.batch.run import BatchResult
from CoreBatchLoaderLib.mrml import cores as mrml_scene
from CoreBatchLoaderLib.record import CoreRecord
from CoreBatchLoaderLib.synthetic import write_core_series, write_well

slicer = require_module("slicer", "slicer-core")
import vtk  # noqa: E402  (vtk comes with slicer-core)
from vtk.util.numpy_support import vtk_to_numpy  # noqa: E402

OBLIQUE_ROW = (math.cos(0.3), math.sin(0.3), 0.0)
OBLIQUE_COLUMN = (-math.sin(0.3) * math.cos(0.2), math.cos(0.3) * math.cos(0.2), math.sin(0.2))


def converted_well(tmp_path: Path, cores: int = 3, **options: object) -> BatchResult:
    write_well(tmp_path / "well", cores=cores, slices=7, **options)
    result = convert_tree(tmp_path / "well", tmp_path / "out")
    assert [r.status for r in result.records] == ["converted"] * cores
    return result


def add_all(scene: object, out: Path, records: List[CoreRecord], folder_name: str = "well") -> Dict[str, str]:
    folder = mrml_scene.batch_folder(scene, folder_name)
    return {r.name: mrml_scene.add_core(scene, out, r, folder) for r in records}


def voxels(node: object) -> np.ndarray:
    image = node.GetImageData()
    i, j, k = image.GetDimensions()
    return vtk_to_numpy(image.GetPointData().GetScalars()).reshape(k, j, i)


def ijk_to_ras(node: object) -> np.ndarray:
    import vtk
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def expected_ijk_to_ras(record: CoreRecord) -> np.ndarray:
    """The manifest's LPS geometry (NRRD "space directions" as columns) flipped to RAS."""
    lps = np.eye(4)
    lps[:3, :3] = np.array(record.directions_lps).T
    lps[:3, 3] = record.origin_lps
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def folder_children(scene: object, name: str) -> Dict[str, str]:
    """Names and node IDs of the items under the top-level folder ``name``."""
    sh = mrml_scene.subject_hierarchy(scene)
    folder = sh.GetItemChildWithName(sh.GetSceneItemID(), name)
    assert folder != sh.GetInvalidItemID(), "no folder %r" % name
    ids = vtk.vtkIdList()
    sh.GetItemChildren(folder, ids)
    items = [ids.GetId(n) for n in range(ids.GetNumberOfIds())]
    return {sh.GetItemName(item): sh.GetItemDataNode(item).GetID() for item in items}


def test_every_converted_core_is_in_the_batch_folder_under_its_name(tmp_path: Path) -> None:
    result = converted_well(tmp_path)
    scene = slicer.vtkMRMLScene()
    node_ids = add_all(scene, tmp_path / "out", result.records)
    assert folder_children(scene, "well") == node_ids
    assert sorted(node_ids) == ["core_001", "core_002", "core_003"]
    for name, node_id in node_ids.items():
        node = scene.GetNodeByID(node_id)
        assert node.IsA("vtkMRMLScalarVolumeNode") and node.GetName() == name


def test_each_node_holds_exactly_the_voxels_of_its_nrrd(tmp_path: Path) -> None:
    result = converted_well(tmp_path, signed=False, bits_stored=12, intercept=-1024.0)
    scene = slicer.vtkMRMLScene()
    node_ids = add_all(scene, tmp_path / "out", result.records)
    for record in result.records:
        data, header = nrrd.read(str(tmp_path / "out" / record.output), index_order="C")
        loaded = voxels(scene.GetNodeByID(node_ids[record.name]))
        assert loaded.dtype == data.dtype == np.dtype(record.type)
        np.testing.assert_array_equal(loaded, data)


@pytest.mark.parametrize("orientation", ["axial", "oblique"])
def test_ijk_to_ras_is_the_manifest_lps_geometry_with_x_and_y_flipped(tmp_path: Path, orientation: str) -> None:
    options = {"row_direction": OBLIQUE_ROW, "column_direction": OBLIQUE_COLUMN} if orientation == "oblique" else {}
    result = converted_well(tmp_path, cores=2, origin=(-2450123.456, 812.25, -1500000.125), **options)
    scene = slicer.vtkMRMLScene()
    node_ids = add_all(scene, tmp_path / "out", result.records)
    for record in result.records:
        np.testing.assert_allclose(ijk_to_ras(scene.GetNodeByID(node_ids[record.name])),
                                   expected_ijk_to_ras(record), rtol=0, atol=1e-9)


@pytest.mark.parametrize("orientation", ["axial", "oblique"])
def test_describing_a_loaded_node_gives_back_the_engines_manifest_record(tmp_path: Path, orientation: str) -> None:
    # What the DICOMLib route writes into the manifest for a node Slicer loaded.
    options = {"row_direction": OBLIQUE_ROW, "column_direction": OBLIQUE_COLUMN} if orientation == "oblique" else {}
    result = converted_well(tmp_path, cores=1, signed=False, bits_stored=12, intercept=-1024.0, **options)
    record = result.records[0]
    scene = slicer.vtkMRMLScene()
    node = mrml_scene.load_volume(scene, tmp_path / "out" / record.output)
    described = CoreRecord(name=record.name, source=record.source)
    mrml_scene.describe_volume(described, node)
    assert (described.dimensions, described.type, described.bytes) == (record.dimensions, record.type, record.bytes)
    np.testing.assert_allclose(described.spacing, record.spacing, rtol=0, atol=1e-12)
    np.testing.assert_allclose(described.origin_lps, record.origin_lps, rtol=0, atol=1e-9)
    np.testing.assert_allclose(described.directions_lps, record.directions_lps, rtol=0, atol=1e-12)


def test_a_detached_nhdr_output_loads_to_the_same_voxels_as_the_dicom_values(tmp_path: Path) -> None:
    series = write_core_series(tmp_path / "well" / "core", slices=5)
    result = convert_tree(tmp_path / "well", tmp_path / "out", output_format="nhdr")
    record = result.records[0]
    assert record.output == "core.nhdr"
    scene = slicer.vtkMRMLScene()
    node = scene.GetNodeByID(add_all(scene, tmp_path / "out", [record])["core"])
    np.testing.assert_array_equal(voxels(node), series.stored)
    np.testing.assert_allclose(ijk_to_ras(node), expected_ijk_to_ras(record), rtol=0, atol=1e-9)


def test_the_display_window_spans_air_and_rock_and_is_not_automatic(tmp_path: Path) -> None:
    result = converted_well(tmp_path, cores=1, rows=48, columns=48)
    scene = slicer.vtkMRMLScene()
    node = scene.GetNodeByID(add_all(scene, tmp_path / "out", result.records)["core_001"])
    display = node.GetScalarVolumeDisplayNode()
    assert display is not None and not display.GetAutoWindowLevel()
    assert display.GetWindowLevelMin() <= -900 and display.GetWindowLevelMax() >= 1500  # air … rock


def test_the_grey_colour_table_is_used_when_the_scene_has_it(tmp_path: Path) -> None:
    result = converted_well(tmp_path, cores=1)
    scene = slicer.vtkMRMLScene()
    colors = slicer.vtkMRMLColorLogic()  # what Slicer's Colors module does at start-up
    colors.SetMRMLScene(scene)
    colors.AddDefaultColorNodes()
    node = scene.GetNodeByID(add_all(scene, tmp_path / "out", result.records)["core_001"])
    assert node.GetDisplayNode().GetColorNodeID() == "vtkMRMLColorTableNodeGrey"
    colors.SetMRMLScene(None)


def test_the_storage_node_points_at_the_output_file(tmp_path: Path) -> None:
    result = converted_well(tmp_path, cores=1)
    scene = slicer.vtkMRMLScene()
    node = scene.GetNodeByID(add_all(scene, tmp_path / "out", result.records)["core_001"])
    assert Path(node.GetStorageNode().GetFileName()) == tmp_path / "out" / "core_001.nrrd"


def test_a_second_batch_gets_its_own_folder(tmp_path: Path) -> None:
    result = converted_well(tmp_path, cores=2)
    scene = slicer.vtkMRMLScene()
    first = add_all(scene, tmp_path / "out", result.records, "well")
    second = add_all(scene, tmp_path / "out", result.records, "well")
    sh = mrml_scene.subject_hierarchy(scene)
    ids = vtk.vtkIdList()
    sh.GetItemChildren(sh.GetSceneItemID(), ids)
    folders = [sh.GetItemName(ids.GetId(n)) for n in range(ids.GetNumberOfIds())]
    assert len(folders) == 2 and folders[0] == "well" and folders[1] != "well"
    assert set(first.values()).isdisjoint(second.values())


def test_a_failed_core_is_refused_with_its_name(tmp_path: Path) -> None:
    scene = slicer.vtkMRMLScene()
    folder = mrml_scene.batch_folder(scene)
    failed = CoreRecord(name="bad", source=str(tmp_path), status="failed", error="duplicate slice position")
    with pytest.raises(mrml_scene.SceneLoadError, match="bad"):
        mrml_scene.add_core(scene, tmp_path, failed, folder)


def test_an_unreadable_file_raises_and_leaves_no_node_behind(tmp_path: Path) -> None:
    (tmp_path / "broken.nrrd").write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 4 4\n\n")
    scene = slicer.vtkMRMLScene()
    before = scene.GetNumberOfNodes()
    with pytest.raises(mrml_scene.SceneLoadError, match="broken.nrrd"):
        mrml_scene.load_volume(scene, tmp_path / "broken.nrrd")
    assert scene.GetNumberOfNodes() == before


def dicom_style_volume(scene: object, path: Path) -> tuple:
    """A volume under patient and study items, as Slicer's DICOM plugin leaves it."""
    node = mrml_scene.load_volume(scene, path, "7: CT series")
    sh = mrml_scene.subject_hierarchy(scene)
    patient = sh.CreateSubjectItem(sh.GetSceneItemID(), "CORE")
    study = sh.CreateStudyItem(patient, "study")
    sh.CreateItem(study, node)
    return node, patient, study


def test_adopting_a_dicom_loaded_node_moves_it_into_the_folder_and_drops_the_empty_patient(tmp_path: Path) -> None:
    converted_well(tmp_path, cores=1)
    scene = slicer.vtkMRMLScene()
    node, patient, study = dicom_style_volume(scene, tmp_path / "out" / "core_001.nrrd")
    folder = mrml_scene.batch_folder(scene, "well")
    final = tmp_path / "out" / "core_001.nrrd"
    assert mrml_scene.adopt_volume(scene, node, "core_001", final, folder) == node.GetID()
    assert folder_children(scene, "well") == {"core_001": node.GetID()}
    assert Path(node.GetStorageNode().GetFileName()) == final
    sh = mrml_scene.subject_hierarchy(scene)
    assert sh.GetItemName(patient) == "" and sh.GetItemName(study) == ""  # both removed


def test_removing_a_volume_removes_its_display_and_storage_nodes_and_empty_dicom_items(tmp_path: Path) -> None:
    converted_well(tmp_path, cores=1)
    scene = slicer.vtkMRMLScene()
    mrml_scene.subject_hierarchy(scene)
    before = scene.GetNumberOfNodes()
    node, patient, _ = dicom_style_volume(scene, tmp_path / "out" / "core_001.nrrd")
    sh = mrml_scene.subject_hierarchy(scene)
    other = sh.CreateSubjectItem(sh.GetSceneItemID(), "someone else's, empty")
    mrml_scene.remove_volume(scene, node)
    assert scene.GetNumberOfNodes() == before
    assert sh.GetItemName(patient) == ""
    assert sh.GetItemName(other) == "someone else's, empty"  # only what the removal emptied goes


def test_the_module_imports_without_slicer() -> None:
    code = ("import sys; sys.modules['slicer'] = None; sys.modules['vtk'] = None; "
            "sys.path.insert(0, %r); import CoreBatchLoaderLib.mrml.cores" % str(ROOT / "CoreBatchLoader"))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def test_cores_from_the_child_process_join_the_scene_as_their_folders_finish(tmp_path: Path) -> None:
    # The panel's add-to-scene path: the batch runs as a child process (sys.executable standing
    # for PythonSlicer), each finished folder's records go to the adder, nodes appear in the folder.
    from CoreBatchLoaderLib.batch.run import BatchOptions
    from CoreBatchLoaderLib.slicer_process import ChildBatch

    write_well(tmp_path / "well", cores=3, slices=5)
    scene, node_ids = slicer.vtkMRMLScene(), {}
    adder = mrml_scene.BatchSceneAdder(scene, tmp_path / "well-nrrd", node_ids)
    batch = ChildBatch.start(tmp_path / "well", tmp_path / "well-nrrd", BatchOptions(workers=2), python=sys.executable)
    arrived = []
    while not batch.done:
        for progress in batch.poll(timeout=0.1):
            adder.add(progress.records)
            arrived.append(sorted(node_ids))
    records = batch.result().records
    assert arrived[-1] == ["core_001", "core_002", "core_003"] and len(arrived) == 3
    assert folder_children(scene, "well-nrrd") == node_ids
    for record in records:
        node = scene.GetNodeByID(node_ids[record.name])
        np.testing.assert_allclose(ijk_to_ras(node), expected_ijk_to_ras(record), atol=1e-6)
