"""The oracle: our NRRD, loaded by Slicer's storage node, is the volume Slicer's DICOM reader gives.

Slicer's side is real (slicer-core): the DICOM files are read as the DICOM scalar-volume plugin
reads them (sorted by position, GDCM), our output is loaded with vtkMRMLVolumeArchetypeStorageNode.
Same voxel values (types may differ: Slicer widens some data to int32, we do not) and the same
IJK-to-RAS within 1e-4 mm.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import by_name, convert_tree
from CoreBatchLoaderLib.synthetic import write_core_series
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian, RLELossless
from realdata import chest_ct_files, pydicom_test_file
from slicer_oracle import assert_same_world_image, load_volume_like_slicer, read_dicom_like_slicer

VARIANTS = {
    "signed_int16": dict(),
    "unsigned_12bit_hu": dict(signed=False, bits_stored=12, intercept=-1024.0),
    "unsigned_16bit_hu_slicer_widens": dict(signed=False, bits_stored=16, intercept=-1024.0),
    "implicit_vr": dict(transfer_syntax=ImplicitVRLittleEndian),
    "big_endian": dict(transfer_syntax=ExplicitVRBigEndian),
    "rle": dict(transfer_syntax=RLELossless),
    "deflated": dict(transfer_syntax=DeflatedExplicitVRLittleEndian),
    "oblique": dict(row_direction=(0.6, 0.8, 0.0), column_direction=(0.0, 0.0, -1.0)),
    "oblique_both": dict(row_direction=(0.8, 0.0, 0.6), column_direction=(0.0, 1.0, 0.0), slice_spacing=0.7),
    "shuffled": dict(shuffle_names=True),
    "reversed": dict(reverse_positions=True),
    "uint8": dict(signed=False, bits_allocated=8),
    "anisotropic": dict(pixel_spacing=(0.3, 0.7), slice_spacing=2.5, rows=30, columns=18),
    "far_below_ground": dict(origin=(-66.5, 120.25, -2450123.456)),
    # Slicer reads this as float64, we write float32 (half the file): equal here because the values
    # are exact in float32; for other slopes they agree to float32 rounding.
    "fractional_rescale_float32": dict(slope=0.5, intercept=-1024.25),
    "per_slice_rescale": dict(per_slice_rescale=True, slope=1.0, intercept=-1000.0),
}


def assert_matches_slicer(dicom_files, nrrd_path: Path) -> None:
    assert_same_world_image(load_volume_like_slicer(nrrd_path), read_dicom_like_slicer(dicom_files),
                            names=("our NRRD in Slicer", "Slicer's DICOM reader"))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_nrrd_loads_in_slicer_as_the_dicom_series_does(tmp_path: Path, variant: str) -> None:
    series = write_core_series(tmp_path / "in" / "core", **VARIANTS[variant])
    record = by_name(convert_tree(tmp_path / "in", tmp_path / "out"))["core"]
    assert record.status == "converted", record.error
    assert_matches_slicer(series.files, tmp_path / "out" / record.output)


def test_gzip_nrrd_loads_in_slicer_as_the_dicom_series_does(tmp_path: Path, gzip_library: str) -> None:
    series = write_core_series(tmp_path / "in" / "core", signed=False, bits_stored=12, intercept=-1024.0)
    convert_tree(tmp_path / "in", tmp_path / "out", compress=True)
    assert_matches_slicer(series.files, tmp_path / "out" / "core.nrrd")


def test_multiframe_enhanced_ct_matches_slicer(tmp_path: Path) -> None:
    series = write_core_series(tmp_path / "in" / "core", multiframe=True)
    record = by_name(convert_tree(tmp_path / "in", tmp_path / "out"))["core"]
    assert_matches_slicer(series.files, tmp_path / "out" / record.output)


NHDR_VARIANTS = {name: VARIANTS[name] for name in ("signed_int16", "shuffled", "reversed")}
# 8-bit, 15 × 15: odd pixel data gets a pad byte at the end of each file (PS3.5 7.1.1), so the
# pixels do not end the file and "byte skip: -1" would read them one byte off.
NHDR_VARIANTS["uint8_odd_size_padded"] = dict(signed=False, bits_allocated=8, rows=15, columns=15)


@pytest.mark.parametrize("variant", sorted(NHDR_VARIANTS))
def test_zero_copy_nhdr_loads_in_slicer_as_the_dicom_series_does(tmp_path: Path, variant: str) -> None:
    series = write_core_series(tmp_path / "in" / "core", **NHDR_VARIANTS[variant])
    record = by_name(convert_tree(tmp_path / "in", tmp_path / "out", output_format="nhdr"))["core"]
    assert record.output == "core.nhdr"
    assert_matches_slicer(series.files, tmp_path / "out" / "core.nhdr")


@pytest.mark.parametrize("output_format", ["nrrd", "nhdr"])
def test_a_folder_named_in_portuguese_converts_and_loads_in_slicer(tmp_path: Path, output_format: str) -> None:
    """Non-ASCII folder names reach the NRRD header (the source key/value; the file list of a
    .nhdr) as UTF-8; Slicer's reader and ours must both find the data and the thumbnail drawn."""
    series = write_core_series(tmp_path / "Poço 7" / "testemunho nº 3", **VARIANTS["signed_int16"])
    record = convert_tree(tmp_path / "Poço 7", tmp_path / "out", output_format=output_format).records[0]
    assert record.status == "converted" and record.output.endswith("." + output_format), record.error
    assert_matches_slicer(series.files, tmp_path / "out" / record.output)
    assert (tmp_path / "out" / "thumbnails" / (Path(record.output).stem + ".png")).exists()


def test_real_chest_ct_matches_slicer(tmp_path: Path) -> None:
    files = chest_ct_files()
    for path in files:
        shutil.copy(path, tmp_path / path.name)
    record = by_name(convert_tree(tmp_path, tmp_path.parent / "chest-out"))[tmp_path.name]
    assert record.status == "converted" and record.dimensions == [512, 512, 64]
    assert record.type == "int16"
    assert_matches_slicer(files, tmp_path.parent / "chest-out" / record.output)


def test_real_chest_ct_compressed_loads_in_slicer_with_the_same_voxels(tmp_path: Path, gzip_library: str) -> None:
    """The deflate --compress picks (isal, or zlib without it) writes plain gzip that Slicer's
    storage node inflates to the voxels Slicer's DICOM reader gives."""
    from CoreBatchLoaderLib.nrrd.deflate import gzip_compressor
    assert type(gzip_compressor()).__module__ == {"isal": "isal_zlib", "zlib": "zlib"}[gzip_library]
    files = chest_ct_files()
    record = convert_tree(files[0].parent, tmp_path / "out", compress=True).records[0]
    assert record.status == "converted", record.error
    assert b"encoding: gzip" in (tmp_path / "out" / record.output).read_bytes()[:600]
    assert_matches_slicer(files, tmp_path / "out" / record.output)


def test_gappy_real_series_puts_each_slice_where_slicer_puts_it_alone(tmp_path: Path) -> None:
    """pydicom's 77654033/CT2: 4 real CT slices, 202.5 mm gap after the first.

    Slicer's reader closes the gap up (its spacing becomes 68 mm); we fill it at the true
    position, so each file's slice must sit exactly where Slicer places that file read alone.
    """
    import numpy as np
    folder = pydicom_test_file("77654033/CT2")
    shutil.copytree(folder, tmp_path / "CT2")
    record = by_name(convert_tree(tmp_path, tmp_path.parent / "ct2-out"))["CT2"]
    assert record.status == "converted" and any("missing slices" in w for w in record.warnings)
    voxels, ijk_to_ras = load_volume_like_slicer(tmp_path.parent / "ct2-out" / record.output)
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        alone, alone_ijk_to_ras = read_dicom_like_slicer([path])
        origin = alone_ijk_to_ras[:3, 3]
        k = np.linalg.solve(ijk_to_ras[:3, :3], origin - ijk_to_ras[:3, 3])
        assert np.allclose(k[:2], 0, atol=1e-4) and abs(k[2] - round(k[2])) < 1e-3, k
        assert np.array_equal(voxels[int(round(k[2]))], alone[0])
