"""Tests of the synthetic core-series generator (CoreBatchLoaderLib.synthetic).

Every test writes a small series, reads it back with pydicom only, and checks
it against the ground truth the generator returns.  The reference reader here
(:func:`read_back`) is deliberately independent of the generator: it orders
slices by ImagePositionPatient projected on the normal of
ImageOrientationPatient, as a correct loader must.
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "CoreBatchLoader"))

from CoreBatchLoaderLib.synthetic import SyntheticSeries, write_core_series, write_well

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"

# Small sizes keep the suite fast.
SMALL = dict(rows=10, columns=8, slices=5)


# ---------------------------------------------------------------------------
# Reference reader
# ---------------------------------------------------------------------------


def floats(values) -> np.ndarray:
    """DS values as a float64 array."""
    return np.array([float(v) for v in values], dtype=np.float64)


def normal_of(iop) -> np.ndarray:
    """Slice normal from ImageOrientationPatient."""
    iop = floats(iop)
    return np.cross(iop[:3], iop[3:])


def read_files(folder: Path) -> List[pydicom.Dataset]:
    """All DICOM files of a folder, in file-name order."""
    return [pydicom.dcmread(p) for p in sorted(folder.iterdir())]


def slices_of(ds: pydicom.Dataset) -> List[Dict]:
    """Per-slice records (position, orientation, rescale, pixels) of one file."""
    if ds.SOPClassUID == ENHANCED_CT_IMAGE_STORAGE:
        shared = ds.SharedFunctionalGroupsSequence[0]
        iop = shared.PlaneOrientationSequence[0].ImageOrientationPatient
        spacing = shared.PixelMeasuresSequence[0].PixelSpacing
        frames = ds.pixel_array.reshape(int(ds.NumberOfFrames), ds.Rows, ds.Columns)
        records = []
        for group, frame in zip(ds.PerFrameFunctionalGroupsSequence, frames):
            rescale = (
                group.PixelValueTransformationSequence[0]
                if "PixelValueTransformationSequence" in group
                else shared.PixelValueTransformationSequence[0]
            )
            records.append(
                dict(
                    ipp=floats(group.PlanePositionSequence[0].ImagePositionPatient),
                    iop=floats(iop),
                    spacing=floats(spacing),
                    slope=float(rescale.RescaleSlope),
                    intercept=float(rescale.RescaleIntercept),
                    pixels=frame,
                    sop=ds.SOPInstanceUID,
                )
            )
        return records
    return [
        dict(
            ipp=floats(ds.ImagePositionPatient),
            iop=floats(ds.ImageOrientationPatient),
            spacing=floats(ds.PixelSpacing),
            slope=float(ds.RescaleSlope),
            intercept=float(ds.RescaleIntercept),
            pixels=ds.pixel_array,
            sop=ds.SOPInstanceUID,
        )
    ]


def read_back(folder: Path) -> Tuple[np.ndarray, np.ndarray, List[Dict]]:
    """Stored and rescaled volume ordered along the normal, duplicates dropped."""
    records = [r for ds in read_files(folder) for r in slices_of(ds)]
    normal = normal_of(records[0]["iop"])
    records.sort(key=lambda r: float(np.dot(r["ipp"], normal)))
    unique: List[Dict] = []
    for record in records:
        if unique and np.allclose(unique[-1]["ipp"], record["ipp"], atol=1e-6):
            assert np.array_equal(unique[-1]["pixels"], record["pixels"])
            continue
        unique.append(record)
    stored = np.stack([r["pixels"] for r in unique])
    values = np.stack([r["pixels"] * r["slope"] + r["intercept"] for r in unique])
    return stored, values, unique


def projections(records: List[Dict]) -> np.ndarray:
    """Positions of the records projected on their normal."""
    normal = normal_of(records[0]["iop"])
    return np.array([float(np.dot(r["ipp"], normal)) for r in records])


def assert_matches_ground_truth(series: SyntheticSeries) -> List[Dict]:
    """The files read back give exactly the volume and geometry promised."""
    stored, values, records = read_back(series.folder)
    assert stored.dtype == series.stored.dtype
    np.testing.assert_array_equal(stored, series.stored)
    np.testing.assert_allclose(values, series.values, rtol=0, atol=1e-9)
    assert series.values.dtype == np.float64

    np.testing.assert_allclose(records[0]["ipp"], series.origin_lps, atol=1e-9)
    iop, (row_spacing, column_spacing) = records[0]["iop"], records[0]["spacing"]
    np.testing.assert_allclose(series.directions_lps[:, 0], iop[:3] * column_spacing, atol=1e-9)
    np.testing.assert_allclose(series.directions_lps[:, 1], iop[3:] * row_spacing, atol=1e-9)
    k_step = series.directions_lps[:, 2]
    for record in records:
        offset = record["ipp"] - np.asarray(series.origin_lps)
        steps = float(np.dot(offset, k_step)) / float(np.dot(k_step, k_step))
        assert abs(steps - round(steps)) < 1e-6, "slice off the k grid"
        np.testing.assert_allclose(offset, round(steps) * k_step, atol=1e-6)
    assert np.all(np.diff(projections(records)) > 0)
    return records


def file_projections(series: SyntheticSeries) -> List[float]:
    """Projection on the normal of each file in ``series.files`` (single-frame)."""
    result = []
    for path in series.files:
        ds = pydicom.dcmread(path)
        result.append(float(np.dot(floats(ds.ImagePositionPatient), normal_of(ds.ImageOrientationPatient))))
    return result


# ---------------------------------------------------------------------------
# Default series
# ---------------------------------------------------------------------------


def test_default_series_reads_back_as_the_promised_volume_and_geometry(tmp_path):
    series = write_core_series(tmp_path)

    assert series.stored.shape == (12, 24, 20)
    assert series.stored.dtype == np.int16
    assert len(series.files) == 12
    assert_matches_ground_truth(series)
    assert series.origin_lps == (-10.0, -20.0, 30.0)
    np.testing.assert_allclose(
        series.directions_lps, [[0.4, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 1.0]]
    )
    assert file_projections(series) == [30.0 + k for k in range(12)]


def test_default_files_are_ct_part10_files_with_all_required_tags(tmp_path):
    series = write_core_series(tmp_path, **SMALL)
    datasets = [pydicom.dcmread(p) for p in series.files]
    with open(series.files[0], "rb") as f:
        assert f.read(132)[128:] == b"DICM"

    for k, ds in enumerate(datasets):
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.file_meta.MediaStorageSOPClassUID == CT_IMAGE_STORAGE
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.SOPClassUID == CT_IMAGE_STORAGE
        assert ds.Modality == "CT"
        assert ds.SeriesInstanceUID == series.series_uid
        assert ds.InstanceNumber == k + 1
        assert [ds.Rows, ds.Columns] == [10, 8]
        assert ds.SamplesPerPixel == 1
        assert ds.PhotometricInterpretation == "MONOCHROME2"
        assert [ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation] == [16, 16, 15, 1]
        assert [float(v) for v in ds.PixelSpacing] == [0.5, 0.4]
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert float(ds.SliceThickness) == 1.0
        assert ds.RescaleType == "HU"
        assert float(ds.RescaleSlope) == 1.0 and float(ds.RescaleIntercept) == 0.0
        assert "WindowCenter" in ds and "WindowWidth" in ds
    assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)
    assert len({ds.StudyInstanceUID for ds in datasets}) == 1
    assert len({ds.FrameOfReferenceUID for ds in datasets}) == 1
    assert [p.name for p in series.files] == [f"IM{n:04d}.dcm" for n in range(1, 6)]


def test_every_slice_carries_its_index_in_pixel_0_0_and_its_own_pattern(tmp_path):
    series = write_core_series(tmp_path, **SMALL)

    assert list(series.stored[:, 0, 0]) == [0, 1, 2, 3, 4]
    for a, b in zip(series.stored[:-1], series.stored[1:]):
        assert np.count_nonzero(a != b) > 10


def test_rock_content_is_a_disc_of_rock_in_air(tmp_path):
    series = write_core_series(tmp_path, rows=24, columns=20, slices=3)

    for k, values in enumerate(series.values):
        assert values[0, -1] == -1000.0 and values[-1, 0] == -1000.0  # corners are air
        centre = values[9:15, 7:13]
        assert np.all((centre >= 1500) & (centre <= 2800))
    layer_means = [v[9:15, 7:13].mean() for v in series.values]
    assert len(set(np.round(layer_means))) == 3  # layering changes along the core


def test_plain_ramp_content_without_rock_still_marks_slices(tmp_path):
    series = write_core_series(tmp_path, rock=False, **SMALL)

    assert_matches_ground_truth(series)
    assert list(series.stored[:, 0, 0]) == [0, 1, 2, 3, 4]
    assert not np.any(series.values == -1000.0)


def test_same_arguments_write_byte_identical_files(tmp_path):
    first = write_core_series(tmp_path / "a", seed=3, **SMALL)
    second = write_core_series(tmp_path / "b", seed=3, **SMALL)
    other_seed = write_core_series(tmp_path / "c", seed=4, **SMALL)

    for a, b in zip(first.files, second.files):
        assert a.read_bytes() == b.read_bytes()
    assert first.series_uid == second.series_uid != other_seed.series_uid
    assert not np.array_equal(first.stored, other_seed.stored)


# ---------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------


def test_oblique_slices_step_along_the_cross_product_of_the_orientation(tmp_path):
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    row = (c, s, 0.0)
    column = (0.0, 0.0, -1.0)  # sagittal-ish, tilted
    series = write_core_series(
        tmp_path, row_direction=row, column_direction=column, slice_spacing=0.8,
        pixel_spacing=(0.25, 0.3), origin=(5.0, -7.5, 12.0), **SMALL
    )

    records = assert_matches_ground_truth(series)
    normal = np.cross(row, column)
    np.testing.assert_allclose(series.directions_lps[:, 0], np.array(row) * 0.3, atol=1e-9)
    np.testing.assert_allclose(series.directions_lps[:, 1], np.array(column) * 0.25, atol=1e-9)
    np.testing.assert_allclose(series.directions_lps[:, 2], normal * 0.8, atol=1e-9)
    np.testing.assert_allclose(np.diff(projections(records)), 0.8, atol=1e-9)
    np.testing.assert_allclose(records[3]["ipp"], np.array([5.0, -7.5, 12.0]) + 3 * 0.8 * normal, atol=1e-9)
    for path in series.files:
        for value in pydicom.dcmread(path)["ImagePositionPatient"].value:
            assert len(str(value)) <= 16


def test_slice_thickness_can_differ_from_slice_spacing(tmp_path):
    series = write_core_series(tmp_path, slice_spacing=0.5, slice_thickness=0.625, **SMALL)

    records = assert_matches_ground_truth(series)
    assert float(pydicom.dcmread(series.files[0]).SliceThickness) == 0.625
    np.testing.assert_allclose(np.diff(projections(records)), 0.5)


# ---------------------------------------------------------------------------
# Pixel formats and rescale
# ---------------------------------------------------------------------------


def test_unsigned_12_bit_with_intercept_keeps_values_within_12_bits(tmp_path):
    series = write_core_series(tmp_path, signed=False, bits_stored=12, intercept=-1024.0, **SMALL)

    assert_matches_ground_truth(series)
    assert series.stored.dtype == np.uint16
    assert series.stored.max() <= 4095
    assert series.stored[0, 0, -1] == 24  # air: 24 - 1024 = -1000
    assert series.values[0, 0, -1] == -1000.0
    rock = series.stored[:, 4:6, 3:5]
    assert rock.min() >= 2524 and rock.max() <= 3824
    ds = pydicom.dcmread(series.files[0])
    assert [ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation] == [16, 12, 11, 0]
    assert float(ds.RescaleIntercept) == -1024.0
    raw = np.frombuffer(ds.PixelData, dtype="<u2")
    assert not np.any(raw >> 12), "bits above BitsStored must stay clear"


def test_eight_bit_unsigned_values_are_clipped_to_the_byte_range(tmp_path):
    series = write_core_series(tmp_path, signed=False, bits_allocated=8, **SMALL)

    assert_matches_ground_truth(series)
    assert series.stored.dtype == np.uint8
    assert list(series.stored[:, 0, 0]) == [0, 1, 2, 3, 4]
    assert series.stored[0, 4, 4] == 255  # rock saturates


def test_per_slice_rescale_gives_each_file_its_own_slope_and_intercept(tmp_path):
    series = write_core_series(tmp_path, per_slice_rescale=True, slope=2.0, intercept=-1000.0, **SMALL)

    assert_matches_ground_truth(series)
    rescales = [
        (float(ds.RescaleSlope), float(ds.RescaleIntercept))
        for ds in (pydicom.dcmread(p) for p in series.files)
    ]
    assert rescales == [(2.0 * (1 + 0.5 * k), -1000.0 - 4.0 * k) for k in range(5)]
    for k, (slope, intercept) in enumerate(rescales):
        np.testing.assert_array_equal(series.values[k], series.stored[k] * slope + intercept)
    # Still plausible HU after rescaling although the stored values differ.
    assert np.all(np.abs(series.values[:, 0, -1] - (-1000.0)) <= 2.0 * (1 + 0.5 * 4))


# ---------------------------------------------------------------------------
# Transfer syntaxes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "syntax",
    [ImplicitVRLittleEndian, ExplicitVRBigEndian, RLELossless, DeflatedExplicitVRLittleEndian],
    ids=["implicit", "big-endian", "rle", "deflated"],
)
def test_each_transfer_syntax_reads_back_the_same_volume(tmp_path, syntax):
    series = write_core_series(tmp_path / "series", transfer_syntax=syntax, **SMALL)
    reference = write_core_series(tmp_path / "reference", **SMALL)

    assert_matches_ground_truth(series)
    np.testing.assert_array_equal(series.stored, reference.stored)
    for path in series.files:
        assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == syntax


def test_implicit_vr_files_are_encoded_implicitly(tmp_path):
    series = write_core_series(tmp_path, transfer_syntax=ImplicitVRLittleEndian, **SMALL)

    ds = pydicom.dcmread(series.files[0])
    assert ds.original_encoding == (True, True)
    raw = series.files[0].read_bytes()
    sop_class_tag = raw.index(b"\x08\x00\x16\x00", 132 + 12 + ds.file_meta.FileMetaInformationGroupLength)
    assert raw[sop_class_tag + 4:sop_class_tag + 6] != b"UI"  # no VR after the tag
    np.testing.assert_array_equal(ds.pixel_array, series.stored[0])


def test_big_endian_files_store_pixels_most_significant_byte_first(tmp_path):
    series = write_core_series(tmp_path, transfer_syntax=ExplicitVRBigEndian, **SMALL)

    ds = pydicom.dcmread(series.files[2])
    assert ds.original_encoding == (False, False)
    assert ds.PixelData == series.stored[2].astype(">i2").tobytes()
    np.testing.assert_array_equal(ds.pixel_array, series.stored[2])


def test_rle_files_hold_encapsulated_pixel_data(tmp_path):
    series = write_core_series(tmp_path, transfer_syntax=RLELossless, **SMALL)

    ds = pydicom.dcmread(series.files[0])
    assert ds.file_meta.TransferSyntaxUID.is_compressed
    assert ds.PixelData[:4] == b"\xfe\xff\x00\xe0"  # basic offset table item
    assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID


def test_deflated_files_hide_the_dataset_behind_zlib(tmp_path):
    series = write_core_series(tmp_path, transfer_syntax=DeflatedExplicitVRLittleEndian, **SMALL)

    ds = pydicom.dcmread(series.files[0])
    raw = series.files[0].read_bytes()
    assert series.series_uid.encode() not in raw
    meta_end = 132 + 12 + ds.file_meta.FileMetaInformationGroupLength
    inflated = zlib.decompress(raw[meta_end:], -zlib.MAX_WBITS)
    assert series.series_uid.encode() in inflated


# ---------------------------------------------------------------------------
# Multi-frame
# ---------------------------------------------------------------------------


def test_multiframe_writes_one_enhanced_ct_file_with_functional_groups(tmp_path):
    series = write_core_series(tmp_path, multiframe=True, slope=0.5, intercept=-1024.0, **SMALL)

    assert len(series.files) == 1 and len(list(tmp_path.iterdir())) == 1
    assert_matches_ground_truth(series)
    ds = pydicom.dcmread(series.files[0])
    assert ds.SOPClassUID == ENHANCED_CT_IMAGE_STORAGE
    assert ds.file_meta.MediaStorageSOPClassUID == ENHANCED_CT_IMAGE_STORAGE
    assert int(ds.NumberOfFrames) == 5
    assert ds.pixel_array.shape == (5, 10, 8)
    shared = ds.SharedFunctionalGroupsSequence[0]
    measures = shared.PixelMeasuresSequence[0]
    assert [float(v) for v in measures.PixelSpacing] == [0.5, 0.4]
    assert float(measures.SliceThickness) == 1.0
    transform = shared.PixelValueTransformationSequence[0]
    assert (float(transform.RescaleSlope), float(transform.RescaleIntercept)) == (0.5, -1024.0)
    assert transform.RescaleType == "HU"
    frames = ds.PerFrameFunctionalGroupsSequence
    z = [float(f.PlanePositionSequence[0].ImagePositionPatient[2]) for f in frames]
    assert z == [30.0, 31.0, 32.0, 33.0, 34.0]
    assert [f.FrameContentSequence[0].InStackPositionNumber for f in frames] == [1, 2, 3, 4, 5]
    assert "ImagePositionPatient" not in ds


def test_multiframe_per_slice_rescale_and_reversed_frames_live_in_per_frame_groups(tmp_path):
    series = write_core_series(
        tmp_path, multiframe=True, per_slice_rescale=True, reverse_positions=True,
        transfer_syntax=RLELossless, **SMALL
    )

    assert_matches_ground_truth(series)
    ds = pydicom.dcmread(series.files[0])
    assert "PixelValueTransformationSequence" not in ds.SharedFunctionalGroupsSequence[0]
    frames = ds.PerFrameFunctionalGroupsSequence
    slopes = [float(f.PixelValueTransformationSequence[0].RescaleSlope) for f in frames]
    assert slopes == [3.0, 2.5, 2.0, 1.5, 1.0]
    np.testing.assert_array_equal(ds.pixel_array[0], series.stored[-1])


# ---------------------------------------------------------------------------
# File order, gaps and duplicates
# ---------------------------------------------------------------------------


def test_shuffled_names_hide_the_order_only_positions_give_it(tmp_path):
    series = write_core_series(tmp_path, shuffle_names=True, seed=5, rows=6, columns=6, slices=8)

    assert_matches_ground_truth(series)
    by_name = read_files(tmp_path)
    name_order = [float(ds.ImagePositionPatient[2]) for ds in by_name]
    assert name_order != sorted(name_order)
    by_instance = sorted(by_name, key=lambda ds: ds.InstanceNumber)
    assert [float(ds.ImagePositionPatient[2]) for ds in by_instance] == name_order
    assert file_projections(series) == sorted(file_projections(series))
    assert sorted(p.name for p in series.files) == [f"IM{n:04d}.dcm" for n in range(1, 9)]


def test_reversed_positions_make_the_first_file_the_highest_slice(tmp_path):
    series = write_core_series(tmp_path, reverse_positions=True, **SMALL)

    assert_matches_ground_truth(series)
    by_name = read_files(tmp_path)
    assert [float(ds.ImagePositionPatient[2]) for ds in by_name] == [34.0, 33.0, 32.0, 31.0, 30.0]
    assert [ds.InstanceNumber for ds in by_name] == [1, 2, 3, 4, 5]
    assert [p.name for p in series.files] == [f"IM{n:04d}.dcm" for n in (5, 4, 3, 2, 1)]
    assert series.origin_lps == (-10.0, -20.0, 30.0)
    assert list(series.stored[:, 0, 0]) == [0, 1, 2, 3, 4]


def test_missing_slices_leave_a_gap_and_are_absent_from_the_truth(tmp_path):
    series = write_core_series(tmp_path, slices=6, rows=6, columns=6, missing=(0, 3))

    records = assert_matches_ground_truth(series)
    assert len(series.files) == 4 and len(list(tmp_path.iterdir())) == 4
    assert series.stored.shape == (4, 6, 6)
    assert list(series.stored[:, 0, 0]) == [1, 2, 4, 5]
    assert series.origin_lps == (-10.0, -20.0, 31.0)
    np.testing.assert_allclose(np.diff(projections(records)), [1.0, 2.0, 1.0])
    np.testing.assert_allclose(series.directions_lps[:, 2], [0.0, 0.0, 1.0])


def test_duplicated_slices_get_a_second_file_at_the_same_position(tmp_path):
    series = write_core_series(tmp_path, slices=4, rows=6, columns=6, duplicate=(2,))

    assert_matches_ground_truth(series)
    assert series.stored.shape == (4, 6, 6)
    assert len(series.files) == 5
    datasets = [pydicom.dcmread(p) for p in series.files]
    assert [float(ds.ImagePositionPatient[2]) for ds in datasets] == [30.0, 31.0, 32.0, 32.0, 33.0]
    original, copy = datasets[2], datasets[3]
    assert original.SOPInstanceUID != copy.SOPInstanceUID
    assert original.InstanceNumber != copy.InstanceNumber
    np.testing.assert_array_equal(original.pixel_array, copy.pixel_array)
    assert len({ds.SOPInstanceUID for ds in datasets}) == 5


@pytest.mark.parametrize(
    "options",
    [
        dict(row_direction=(1.0, 0.0, 0.0), column_direction=(0.6, 0.8, 0.0)),
        dict(row_direction=(2.0, 0.0, 0.0)),
        dict(missing=(7,)),
        dict(missing=(1,), duplicate=(1,)),
        dict(missing=(0, 1, 2, 3, 4)),
        dict(multiframe=True, shuffle_names=True),
        dict(bits_allocated=12),
        dict(transfer_syntax="1.2.840.10008.1.2.4.50"),
    ],
    ids=["not-orthogonal", "not-unit", "missing-out-of-range", "missing-and-duplicate",
         "nothing-written", "multiframe-shuffled", "bits-allocated-12", "jpeg"],
)
def test_inconsistent_options_are_rejected(tmp_path, options):
    with pytest.raises(ValueError):
        write_core_series(tmp_path, **{**SMALL, **options})


# ---------------------------------------------------------------------------
# Well
# ---------------------------------------------------------------------------


def test_well_cores_follow_each_other_down_the_well_as_separate_series(tmp_path):
    cores = write_well(tmp_path, cores=3, slices=4, rows=6, columns=6, slice_spacing=0.5, seed=2)

    assert [c.folder.name for c in cores] == ["core_001", "core_002", "core_003"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["core_001", "core_002", "core_003"]
    for core in cores:
        assert_matches_ground_truth(core)
    assert len({c.series_uid for c in cores}) == 3
    first = [pydicom.dcmread(c.files[0]) for c in cores]
    assert [ds.SeriesNumber for ds in first] == [1, 2, 3]
    assert len({ds.StudyInstanceUID for ds in first}) == 1
    assert len({ds.FrameOfReferenceUID for ds in first}) == 1
    assert [c.origin_lps for c in cores] == [(-10.0, -20.0, 30.0), (-10.0, -20.0, 28.0), (-10.0, -20.0, 26.0)]
    assert not np.array_equal(cores[0].stored, cores[1].stored)


def test_well_forwards_options_to_every_core(tmp_path):
    cores = write_well(tmp_path, cores=2, slices=3, rows=6, columns=6,
                       transfer_syntax=RLELossless, signed=False, bits_stored=12, intercept=-1024.0)

    for core in cores:
        assert_matches_ground_truth(core)
        ds = pydicom.dcmread(core.files[0])
        assert ds.file_meta.TransferSyntaxUID == RLELossless
        assert ds.BitsStored == 12
